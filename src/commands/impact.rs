//! `--changed` (which files a change can break, from the impact map) and `--record-impact`
//! (where a run merges its map), as a run and `testbot list` need them.

use crate::errors::Error;
use crate::history::impact::{self, git, select::{Rules, Selection}};
use crate::inventory::Inventory;
use crate::project::Project;
use crate::report::ImpactOutput;

/// The files of `project` a change since `reference` can break ("": since the map's commit,
/// else `HEAD`); `project.files` keeps only those. The selection says why.
pub fn select_changed(project: &mut Project, inventory: &Inventory, reference: &str) -> Result<Selection, Error> {
    let map = impact::load(&project.impact_map());
    let since = match (reference, map.as_ref().and_then(|m| m.commit.clone())) {
        ("", Some(commit)) => commit,
        ("", None) => "HEAD".to_string(),
        (given, _) => given.to_string(),
    };
    let changes = git::changes(&project.root, &since)?;
    let digest = git::ruby_description(&project.root).map(|ruby| git::digest(&project.root, &ruby));
    let framework = project.framework;
    let rules = Rules::new(framework.home(), framework.default_folder_pattern(), &inventory.impact.ignore)
        .map_err(|e| Error::Usage(format!("invalid `[impact] ignore` pattern: {e}")))?;
    let files: Vec<String> = project.files.iter().map(|f| f.path.clone()).collect();
    let selection = Selection { since, ..impact::select::select(map.as_ref(), digest.as_deref(), &changes, &files, &rules) };
    let chosen: std::collections::HashSet<&str> = selection.chosen.iter().map(|(f, _)| f.as_str()).collect();
    project.files.retain(|f| chosen.contains(f.path.as_str()));
    Ok(selection)
}

/// `testbot --changed [REF]`: the selection, said before the run; None without `--changed`.
pub fn changed(project: &mut Project, inventory: &Inventory, reference: Option<&str>) -> Result<Option<Selection>, Error> {
    let Some(reference) = reference else { return Ok(None) };
    let selection = select_changed(project, inventory, reference)?;
    crate::report::print_changed(&selection);
    Ok(Some(selection))
}

/// Where a run that records merges its map: the commit now; whether it plans every test file.
pub fn output(project: &Project, whole_suite: bool) -> Option<ImpactOutput> {
    project.record_impact.then(|| ImpactOutput {
        path: project.impact_map(),
        root: project.root.clone(),
        commit: git::head(&project.root),
        whole_suite,
        partly: project.files.iter().filter(|f| f.only.is_some()).map(|f| f.path.clone()).collect(),
    })
}
