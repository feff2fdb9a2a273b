//! The impact map (`--record-impact`, `[impact] record`): per test file, the project files that
//! ran while it ran, and the boot set (what ran outside every file: helpers, initializers), in
//! `tmp/testbot-impact-<framework>.json`, with the git commit it was made at and a digest of what
//! would make it wrong (the Ruby, `Gemfile.lock`, `.rspec`, testbot.toml). `--changed` selects
//! from it (`select`); `git` reads what changed.

pub mod git;
pub mod select;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The map as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImpactMap {
    /// What a map of another testbot would mean otherwise.
    pub version: u32,
    /// The commit `--changed` compares with by default (None: not a git repository).
    pub commit: Option<String>,
    /// The digest of the Ruby and the files that decide what runs (`git::digest`).
    pub digest: String,
    /// What ran outside every test file.
    pub boot: BTreeSet<String>,
    /// Per test file (as the run names it), the project files that ran while it ran.
    pub files: BTreeMap<String, BTreeSet<String>>,
}

pub const VERSION: u32 = 1;

/// What one run recorded: each file's project files, the boot set, the runners' Ruby.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    pub files: BTreeMap<String, BTreeSet<String>>,
    pub boot: BTreeSet<String>,
    pub ruby: Option<String>,
}

impl Recorded {
    /// One `impact` event: `file` None is the boot set.
    pub fn add(&mut self, file: Option<&str>, paths: &[String], ruby: Option<&str>) {
        match file {
            Some(file) => self.files.entry(file.to_string()).or_default().extend(paths.iter().cloned()),
            None => self.boot.extend(paths.iter().cloned()),
        }
        if let (None, Some(ruby)) = (&self.ruby, ruby) {
            self.ruby = Some(ruby.to_string());
        }
    }
}

/// Where the map of `framework` lives: beside the runtime log.
pub fn path(runtime_log: &Path, framework: &str) -> PathBuf {
    runtime_log.with_file_name(format!("testbot-impact-{framework}.json"))
}

/// The map at `path`, if there is one this testbot reads.
pub fn load(path: &Path) -> Option<ImpactMap> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<ImpactMap>(&text).ok().filter(|m| m.version == VERSION)
}

/// Where the run that recorded stands: its commit and digest, whether it ran every test file,
/// and the files it ran only parts of (their entries grow, they are not replaced).
#[derive(Clone, Debug, Default)]
pub struct Stamp {
    pub commit: Option<String>,
    pub digest: String,
    pub whole_suite: bool,
    pub partly: BTreeSet<String>,
}

/// The map after this run. A run updates only the files it ran (their entries replaced; added
/// to, for files it ran only parts of); the boot set grows. The map's commit moves to this
/// run's only when it ran every file: an older entry compared with a newer commit would miss the
/// changes in between. Another digest: the old entries are dropped (they may be wrong).
pub fn merged(old: Option<ImpactMap>, run: &Recorded, stamp: &Stamp) -> ImpactMap {
    let old = old.filter(|m| m.digest == stamp.digest);
    let mut map = match old {
        Some(old) if !stamp.whole_suite => old,
        Some(old) => ImpactMap { commit: stamp.commit.clone(), ..old },
        None => ImpactMap { version: VERSION, commit: stamp.commit.clone(), digest: stamp.digest.clone(), ..ImpactMap::default() },
    };
    if stamp.whole_suite {
        map.boot.clear();
    }
    map.boot.extend(run.boot.iter().cloned());
    for (file, paths) in &run.files {
        let entry = map.files.entry(file.clone()).or_default();
        if !stamp.partly.contains(file) {
            entry.clear();
        }
        entry.extend(paths.iter().cloned());
    }
    map
}

/// The map as written: JSON, one entry a line for the eye and for diffs.
pub fn render(map: &ImpactMap) -> String {
    let mut text = serde_json::to_string_pretty(map).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn recorded(files: &[(&str, &[&str])], boot: &[&str]) -> Recorded {
        let mut r = Recorded::default();
        for (f, p) in files {
            r.add(Some(f), &p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), None);
        }
        r.add(None, &boot.iter().map(|s| s.to_string()).collect::<Vec<_>>(), Some("ruby 3.1"));
        r
    }

    #[test]
    fn a_partial_run_updates_only_the_files_it_ran_and_keeps_the_maps_commit() {
        let first = merged(
            None,
            &recorded(&[("spec/a_spec.rb", &["lib/a.rb"]), ("spec/b_spec.rb", &["lib/b.rb"])], &["spec/spec_helper.rb"]),
            &Stamp { commit: Some("c1".into()), digest: "d".into(), whole_suite: true, ..Stamp::default() },
        );
        assert_eq!(first.commit.as_deref(), Some("c1"));
        let stamp = Stamp { commit: Some("c2".into()), digest: "d".into(), whole_suite: false, partly: set(&["spec/b_spec.rb"]) };
        let second = merged(Some(first.clone()), &recorded(&[("spec/a_spec.rb", &["lib/c.rb"]), ("spec/b_spec.rb", &["lib/d.rb"])], &[]), &stamp);
        assert_eq!(second.commit.as_deref(), Some("c1"), "a partial run leaves the commit");
        assert_eq!(second.files["spec/a_spec.rb"], set(&["lib/c.rb"]), "replaced");
        assert_eq!(second.files["spec/b_spec.rb"], set(&["lib/b.rb", "lib/d.rb"]), "only parts ran: added to");
        assert_eq!(second.boot, set(&["spec/spec_helper.rb"]));
        // Another digest: the old entries go.
        let third = merged(Some(second), &recorded(&[("spec/a_spec.rb", &["lib/a.rb"])], &[]), &Stamp { digest: "e".into(), ..stamp });
        assert_eq!(third.files.keys().collect::<Vec<_>>(), ["spec/a_spec.rb"]);
        assert_eq!(third.digest, "e");
        assert_eq!(load_back(&third), third);
    }

    fn load_back(map: &ImpactMap) -> ImpactMap {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(&p, render(map)).unwrap();
        load(&p).unwrap()
    }
}
