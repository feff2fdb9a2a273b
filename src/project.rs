//! The project on this machine: its framework, the files to run, and how to start its runner.

use crate::framework::files::{file_pattern, literal_prefix, relative, walk, FoundFile, NOT_TEST_FILES};
use crate::framework::{selection, Framework, RunnerConfig, Undetected};
use crate::inventory::{Inventory, Slots};
use crate::schedule::Group;
use globset::{Glob, GlobMatcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use crate::framework::selection::Only;

/// What the command line says about the project (`cli` turns its arguments into this).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Files and folders to run; empty: the framework's pattern.
    pub paths: Vec<String>,
    /// Arguments for the framework (after `--`).
    pub runner_args: Vec<String>,
    /// `-n`: slots on this machine.
    pub local_slots: Option<usize>,
    /// `--runtime-log`.
    pub runtime_log: Option<PathBuf>,
    /// `--framework`.
    pub framework: Option<String>,
    pub no_bundler: bool,
    pub preload: bool,
    /// `--no-fork`.
    pub no_fork: bool,
    pub first_is_1: bool,
    /// `--only-failures`: run what the last run recorded as failed instead of `paths`.
    pub only_failures: bool,
    /// `--exclude`: globs of files (or folders) never run, with `[project] exclude`.
    pub exclude: Vec<String>,
    /// `--isolate`: globs of files (or folders) that run alone, with `[project] isolate`.
    pub isolate: Vec<String>,
    /// `--changed [REF]`: only what a change since REF can break ("": since the map's commit).
    pub changed: Option<String>,
    /// `--record-impact`, with `[impact] record`.
    pub record_impact: bool,
    /// `--in-order`: the files in the order of `paths`, not sorted.
    pub in_order: bool,
}

/// Why the project cannot be run as asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no spec files matched {what} in {}\n  hint: pass files or folders (`testbot spec/models`), or set `pattern` under [project] in testbot.toml", root.display())]
    EmptySelection { what: String, root: PathBuf },
    #[error("no such file or directory: `{0}`")]
    MissingPath(String),
    #[error("could not tell which test framework {} uses: {reason}\n  hint: pass `--framework NAME` (rspec, minitest, test-unit or cucumber), or set `framework` under [project] in testbot.toml", root.display())]
    Framework { root: PathBuf, reason: String },
    /// The selection or the options cannot work (a bad pattern, a path outside the project).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Preload(#[from] crate::framework::PreloadUnsupported),
    /// `--only-failures` after a run that recorded none: not an error, nothing to do.
    #[error("the last run recorded no failures ({}): nothing to rerun", path.display())]
    NothingToRerun { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpecFile {
    /// Relative to the project root, `/`-separated, no leading `./`.
    pub path: String,
    pub size: u64,
    /// Only these examples of it (RSpec); None: the whole file.
    pub only: Option<Only>,
}

impl From<FoundFile> for SpecFile {
    fn from(found: FoundFile) -> SpecFile {
        SpecFile { path: found.path, size: found.size, only: None }
    }
}

#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub framework: Framework,
    pub files: Vec<SpecFile>,
    pub runner: RunnerConfig,
    /// `[project] env`, given to every runner process.
    pub env: Vec<(String, String)>,
    pub local_slots: usize,
    pub first_is_1: bool,
    pub runtime_log: PathBuf,
    /// Load the suite's helper once per slot and fork each batch from it (`--preload`).
    pub preload: bool,
    /// Fork each batch from one server per host that has loaded the framework's core (off with
    /// `--no-fork`, `[project] fork = false`, or a `[project] command`).
    pub fork: bool,
    /// The files that may not share a runner with just any file (`[project] isolate`,
    /// `--isolate`, `[[project.group]]`), by path; the others are `Group::Ungrouped`.
    pub groups: HashMap<String, Group>,
    /// Record each file's impact (`--record-impact`, `[impact] record`): Coverage in the runners.
    pub record_impact: bool,
}

impl Project {
    pub fn resolve(root: &Path, inventory: &Inventory, args: &Options) -> Result<Project, Error> {
        let framework = choose_framework(root, inventory, args)?;
        let (pattern, folder_pattern) = match &inventory.project.pattern {
            Some(p) => (p.clone(), file_pattern(p).to_string()),
            None => {
                let pattern = framework.project_pattern(root).unwrap_or(framework.default_pattern());
                (pattern.to_string(), framework.default_folder_pattern().to_string())
            }
        };
        let paths = if args.only_failures {
            if !args.paths.is_empty() {
                return Err(Error::Usage("`--only-failures` runs what the last run recorded; give it no paths".into()));
            }
            let log = crate::history::failures::path(&runtime_log(root, args, framework), framework);
            crate::history::failures::load(&log, root).ok_or(Error::NothingToRerun { path: log })?
        } else {
            args.paths.clone()
        };
        let files = select(root, &paths, &pattern, &folder_pattern)?;
        let excluded: Vec<&String> = inventory.project.exclude.iter().chain(&args.exclude).collect();
        let mut files = exclude(files, &excluded)?;
        if args.in_order {
            in_given_order(&mut files, &paths);
        }
        if let (false, Some(f)) = (framework.runs_parts_of_files(), files.iter().find(|f| f.only.is_some())) {
            return Err(Error::Usage(format!(
                "`{}` with lines or example ids: that selects examples in RSpec only\n  hint: for {}, name the test after `--` (minitest and Test::Unit: `-- -n NAME`; Cucumber: `features/a.feature:12` runs with `--` as cucumber's own argument)",
                f.path,
                framework.name()
            )));
        }
        let isolated: Vec<&String> = inventory.project.isolate.iter().chain(&args.isolate).collect();
        let groups = group(&files, &isolated, &inventory.project.groups)?;
        let mut project = Project::with_files(root, inventory, args, framework, files);
        project.groups = groups;
        if project.preload {
            framework.preload_support(&project.runner)?;
        }
        Ok(project)
    }

    /// The project as `testbot exec` needs it: where it is and how it is shipped, no test files.
    pub fn without_files(root: &Path, inventory: &Inventory, args: &Options) -> Project {
        let framework = choose_framework(root, inventory, args).unwrap_or(Framework::RSpec);
        Project::with_files(root, inventory, args, framework, Vec::new())
    }

    fn with_files(root: &Path, inventory: &Inventory, args: &Options, framework: Framework, files: Vec<SpecFile>) -> Project {
        let bundler = inventory.project.bundler
            && !args.no_bundler
            && (root.join("Gemfile").is_file() || root.join("gems.rb").is_file());
        let runner = RunnerConfig {
            command: inventory.project.command.clone(),
            bundler,
            runner_args: framework.runner_args(root, &args.runner_args),
        };
        let cores = inventory.invocation.cores;
        let local_slots = match (args.local_slots, inventory.local.slots) {
            (Some(n), _) => n,
            (None, Some(Slots::Count(n))) => n,
            (None, Some(Slots::Auto)) => cores,
            (None, None) if inventory.hosts.is_empty() => cores,
            (None, None) => 0,
        };
        let runtime_log = runtime_log(root, args, framework);
        Project {
            root: root.to_path_buf(),
            framework,
            files,
            runner,
            env: inventory.project.env.clone(),
            local_slots,
            first_is_1: args.first_is_1,
            runtime_log,
            preload: args.preload || inventory.project.preload,
            fork: !args.no_fork && inventory.project.fork && inventory.project.command.is_none(),
            groups: HashMap::new(),
            record_impact: args.record_impact || inventory.impact.record,
        }
    }

    /// Which files `path` may share a runner process with.
    pub fn group_of(&self, path: &str) -> Group {
        self.groups.get(path).copied().unwrap_or_default()
    }

    /// Where the examples of long files are recorded for the example split, beside the runtime
    /// log; only frameworks whose examples have ids (RSpec).
    pub fn examples_log(&self) -> Option<PathBuf> {
        self.framework
            .runs_parts_of_files()
            .then(|| self.runtime_log.with_file_name(format!("testbot-examples-{}.json", self.framework.name())))
    }

    /// The files testbot itself writes into the project after a run (the runtime log, the
    /// examples log, the last failures, the flaky record), which the hosts never read: the sync leaves them out,
    /// or every run would find a host out of date by them.
    pub fn own_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.runtime_log.clone(), crate::history::failures::path(&self.runtime_log, self.framework), self.impact_map()];
        files.extend(self.examples_log());
        files.push(crate::history::flaky::path(&self.runtime_log, self.framework));
        files
    }

    /// The impact map (`--record-impact`, read by `--changed`), beside the runtime log.
    pub fn impact_map(&self) -> PathBuf {
        crate::history::impact::path(&self.runtime_log, self.framework.name())
    }

    /// parallel_tests' runtime log, read when testbot has none of its own yet.
    pub fn parallel_tests_runtime_log(&self) -> PathBuf {
        self.root.join("tmp").join(format!("parallel_runtime_{}.log", self.framework.parallel_tests_name()))
    }
}

/// `--runtime-log`, or `tmp/testbot-runtime-<framework>.log` in the project.
fn runtime_log(root: &Path, args: &Options, framework: Framework) -> PathBuf {
    args.runtime_log.clone().unwrap_or_else(|| root.join("tmp").join(format!("testbot-runtime-{}.log", framework.name())))
}

fn choose_framework(root: &Path, inventory: &Inventory, args: &Options) -> Result<Framework, Error> {
    let named = args.framework.as_deref().or(inventory.project.framework.as_deref());
    if let Some(name) = named {
        return Framework::from_name(name).ok_or_else(|| {
            Error::Usage(format!(
                "framework `{name}` is not supported by this version of testbot (supported: {})",
                Framework::names().join(", ")
            ))
        });
    }
    Ok(crate::framework::detect(root)?)
}

impl From<Undetected> for Error {
    fn from(undetected: Undetected) -> Error {
        Error::Framework { root: undetected.root, reason: undetected.reason }
    }
}

/// The files to run: PATHs (files as given, folders searched for `folder_pattern`, a file-name
/// glob), or the whole pattern when no PATH is given. Sorted, without duplicates.
pub fn select(root: &Path, paths: &[String], pattern: &str, folder_pattern: &str) -> Result<Vec<SpecFile>, Error> {
    let mut found: Vec<SpecFile> = Vec::new();
    if paths.is_empty() {
        let matcher = glob(pattern)?;
        let base = literal_prefix(pattern);
        let mut is_test_file = |rel: &str| matcher.is_match(rel) && !NOT_TEST_FILES.contains(&file_pattern(rel));
        found.extend(walk(root, &root.join(&base), &mut is_test_file, None).into_iter().map(SpecFile::from));
    } else {
        let file_glob = glob(folder_pattern)?;
        for given in paths {
            found.extend(given_path(root, given, &file_glob, folder_pattern)?);
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|later, kept| {
        let same = later.path == kept.path;
        if same {
            kept.only = Only::merge(kept.only.take(), later.only.take());
        }
        same
    });
    // The runners read their files from a command line and events name them on one line each:
    // a name with a line break in it cannot be run faithfully. Said before anything runs.
    if let Some(bad) = found.iter().find(|f| f.path.contains(['\n', '\r'])) {
        return Err(Error::Usage(format!(
            "the test file {:?} has a line break in its name, which its framework cannot be given\n  hint: rename it, or leave it out of the selection",
            bad.path
        )));
    }
    if found.is_empty() {
        let what = if paths.is_empty() { format!("`{pattern}`") } else { format!("`{folder_pattern}` under {}", paths.join(", ")) };
        return Err(Error::EmptySelection { what, root: root.to_path_buf() });
    }
    Ok(found)
}

/// `--in-order`: the files in the order of the PATHs that name them (a folder's files, sorted,
/// where the folder stands).
fn in_given_order(files: &mut [SpecFile], paths: &[String]) {
    let bases: Vec<&str> = paths.iter().map(|p| selection::file_of(p).trim_start_matches("./").trim_end_matches('/')).collect();
    let at = |path: &str| bases.iter().position(|b| path == *b || path.strip_prefix(b).is_some_and(|rest| rest.starts_with('/')));
    files.sort_by_key(|f| at(&f.path).unwrap_or(usize::MAX));
}

fn glob(pattern: &str) -> Result<GlobMatcher, Error> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::Usage(format!("invalid file pattern `{pattern}`: {e}")))
}

/// The test files one PATH names: a folder's files whose names match `file_glob`, or the file
/// (with the part of it a rerun line pasted back names: `spec/a_spec.rb:12`, `spec/a_spec.rb[1:1]`).
fn given_path(root: &Path, given: &String, file_glob: &GlobMatcher, folder_pattern: &str) -> Result<Vec<SpecFile>, Error> {
    let (path, only) = match selection::split(given) {
        Some((base, only)) if !root.join(given).exists() => (base, Some(only)),
        _ => (given.as_str(), None),
    };
    let full = root.join(path);
    let meta = std::fs::metadata(&full).map_err(|_| Error::MissingPath(given.clone()))?;
    if meta.is_dir() && only.is_some() {
        return Err(Error::Usage(format!("`{given}`: lines and example ids select examples of a file, not of a folder")));
    }
    if meta.is_dir() {
        let mut is_test_file = |rel: &str| {
            let name = file_pattern(rel);
            file_glob.is_match(name) && !NOT_TEST_FILES.contains(&name)
        };
        return Ok(walk(root, &full, &mut is_test_file, None).into_iter().map(SpecFile::from).collect());
    }
    let path = relative(root, &full).ok_or_else(|| Error::Usage(format!("`{given}` is outside the project at {}", root.display())))?;
    // A helper or a README given by mistake would "pass" with 0 examples.
    let name = file_pattern(&path);
    if !file_glob.is_match(name) || NOT_TEST_FILES.contains(&name) {
        return Err(Error::Usage(format!(
            "`{given}` is not a test file: its name does not match `{folder_pattern}`\n  hint: give test files or folders; for other names set `pattern` under [project] in testbot.toml"
        )));
    }
    Ok(vec![SpecFile { path, size: meta.len(), only }])
}

/// The files that none of the `excluded` globs matches. A glob matches a file's path from the
/// project root, or a folder above it (`spec/features` leaves out everything under it). Leaving
/// out every file is an error, as an empty selection is.
fn exclude(files: Vec<SpecFile>, excluded: &[&String]) -> Result<Vec<SpecFile>, Error> {
    if excluded.is_empty() {
        return Ok(files);
    }
    let set = glob_set(excluded, "exclude")?;
    let before = files.len();
    let kept: Vec<SpecFile> = files.into_iter().filter(|f| !set.is_match(&f.path)).collect();
    if kept.is_empty() {
        let globs: Vec<String> = excluded.iter().map(|g| format!("`{g}`")).collect();
        return Err(Error::Usage(format!(
            "every selected file ({before}) is excluded by {}
  hint: `--exclude` and `[project] exclude` in testbot.toml leave files out",
            globs.join(", ")
        )));
    }
    Ok(kept)
}

/// A glob set as `--exclude` reads globs: a file's path from the project root, or a folder
/// above it (`spec/model` holds everything under it).
fn glob_set<S: AsRef<str>>(globs: &[S], what: &str) -> Result<globset::GlobSet, Error> {
    let mut set = globset::GlobSetBuilder::new();
    for given in globs {
        let given = given.as_ref();
        let glob = given.trim_start_matches("./").trim_end_matches('/');
        for g in [glob.to_string(), format!("{glob}/**")] {
            set.add(Glob::new(&g).map_err(|e| Error::Usage(format!("invalid {what} pattern `{given}`: {}", e.kind())))?);
        }
    }
    set.build().map_err(|e| Error::Usage(format!("invalid {what} patterns: {e}")))
}

/// The group of each file that has one: isolated first (`isolate` wins over a group), then the
/// first `[[project.group]]` whose globs match it.
fn group(files: &[SpecFile], isolated: &[&String], groups: &[Vec<String>]) -> Result<HashMap<String, Group>, Error> {
    let isolated = glob_set(isolated, "isolate")?;
    let groups = groups.iter().map(|g| glob_set(g, "[[project.group]] files")).collect::<Result<Vec<_>, _>>()?;
    let mut out = HashMap::new();
    for f in files {
        let group = if isolated.is_match(&f.path) {
            Some(Group::Isolated)
        } else {
            groups.iter().position(|g| g.is_match(&f.path)).map(Group::Named)
        };
        if let Some(group) = group {
            out.insert(f.path.clone(), group);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_keeps_the_order_of_the_paths_with_a_folders_files_where_it_stands() {
        let dir = tree(&["spec/a_spec.rb", "spec/b_spec.rb", "spec/m/x_spec.rb", "spec/m/y_spec.rb", "spec/z_spec.rb"]);
        let given: Vec<String> = ["spec/z_spec.rb", "spec/m/", "./spec/b_spec.rb[1:2]", "spec/a_spec.rb:3"].map(String::from).to_vec();
        let mut found = select(dir.path(), &given, "spec/**/*_spec.rb", "*_spec.rb").unwrap();
        in_given_order(&mut found, &given);
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["spec/z_spec.rb", "spec/m/x_spec.rb", "spec/m/y_spec.rb", "spec/b_spec.rb", "spec/a_spec.rb"]);
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        dir
    }

    fn paths(found: &[SpecFile]) -> Vec<&str> {
        found.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn default_pattern_walks_spec() {
        let dir = tree(&["spec/a_spec.rb", "spec/m/b c_spec.rb", "spec/helper.rb", "spec/.hidden/x_spec.rb", "lib/z_spec.rb"]);
        let found = select(dir.path(), &[], "spec/**/*_spec.rb", "*_spec.rb").unwrap();
        assert_eq!(paths(&found), ["spec/a_spec.rb", "spec/m/b c_spec.rb"]);
    }

    #[test]
    fn given_files_and_folders() {
        let dir = tree(&["spec/a_spec.rb", "spec/m/b_spec.rb", "spec/m/helper.rb", "spec/other.rb"]);
        let given = vec!["spec/m".to_string(), "./spec/a_spec.rb".to_string(), "spec/m/b_spec.rb".to_string()];
        let found = select(dir.path(), &given, "spec/**/*_spec.rb", "*_spec.rb").unwrap();
        assert_eq!(paths(&found), ["spec/a_spec.rb", "spec/m/b_spec.rb"]);
        // A file that is not a spec, named by mistake, would pass with 0 examples: refused.
        let err = select(dir.path(), &["./spec/other.rb".to_string()], "spec/**/*_spec.rb", "*_spec.rb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`./spec/other.rb` is not a test file: its name does not match `*_spec.rb`\n  hint: give test files or folders; for other names set `pattern` under [project] in testbot.toml"
        );
    }

    #[test]
    fn missing_and_empty_are_errors() {
        let dir = tree(&["spec/helper.rb"]);
        let err = select(dir.path(), &["spec/nope_spec.rb".into()], "spec/**/*_spec.rb", "*_spec.rb").unwrap_err();
        assert_eq!(err.to_string(), "no such file or directory: `spec/nope_spec.rb`");
        let err = select(dir.path(), &[], "spec/**/*_spec.rb", "*_spec.rb").unwrap_err();
        assert!(err.to_string().starts_with("no spec files matched `spec/**/*_spec.rb` in "), "{err}");
    }

    #[test]
    fn test_patterns_skip_the_helper_and_folders_use_the_folder_pattern() {
        let dir = tree(&["test/test_helper.rb", "test/a_test.rb", "test/m/test_b.rb", "test/c_spec.rb", "test/helper.rb"]);
        let f = Framework::Minitest;
        let found = select(dir.path(), &[], f.default_pattern(), f.default_folder_pattern()).unwrap();
        assert_eq!(paths(&found), ["test/a_test.rb", "test/m/test_b.rb"]);
        let found = select(dir.path(), &["test".into()], f.default_pattern(), f.default_folder_pattern()).unwrap();
        assert_eq!(paths(&found), ["test/a_test.rb", "test/c_spec.rb", "test/m/test_b.rb"]);
        let f = Framework::TestUnit;
        let found = select(dir.path(), &["test".into()], f.default_pattern(), f.default_folder_pattern()).unwrap();
        assert_eq!(paths(&found), ["test/a_test.rb", "test/m/test_b.rb"]);
        // Named explicitly, the helper is still no test file (it would pass with 0 tests).
        assert!(select(dir.path(), &["test/test_helper.rb".into()], f.default_pattern(), f.default_folder_pattern()).is_err());
    }

}
