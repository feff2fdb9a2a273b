//! The project on this machine: its framework, the files to run, and how to start its runner.

use crate::framework::{file_pattern, Framework, RunnerConfig};
use crate::inventory::{Inventory, Slots};
use crate::schedule::Group;
use globset::{Glob, GlobMatcher};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

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

/// Part of a file to run, as RSpec's rerun lines name it: `spec/a_spec.rb:12:30` (the examples
/// or groups at those lines) or `spec/a_spec.rb[1:2,1:5]` (RSpec's example ids).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Only {
    pub lines: Vec<u32>,
    pub ids: Vec<String>,
}

/// `spec/a_spec.rb:12:30` or `spec/a_spec.rb[1:2,1:5]`: the path and the part of it; None when
/// `given` has no such ending.
fn split_selection(given: &str) -> Option<(&str, Only)> {
    if let Some(inner) = given.strip_suffix(']') {
        let (base, ids) = inner.rsplit_once('[')?;
        let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_string()).filter(|id| !id.is_empty()).collect();
        let valid = !base.is_empty() && !ids.is_empty() && ids.iter().all(|id| id.bytes().all(|b| b.is_ascii_digit() || b == b':'));
        return valid.then(|| (base, Only { lines: Vec::new(), ids }));
    }
    let mut base = given;
    let mut lines = Vec::new();
    while let Some((head, tail)) = base.rsplit_once(':') {
        match tail.parse::<u32>() {
            Ok(line) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                lines.insert(0, line);
                base = head;
            }
            _ => break,
        }
    }
    (!lines.is_empty() && !base.is_empty()).then(|| (base, Only { lines, ids: Vec::new() }))
}

/// The same file named twice: the whole file if either asks for it, else both parts.
fn merge_only(a: Option<Only>, b: Option<Only>) -> Option<Only> {
    let (mut a, b) = (a?, b?);
    for line in b.lines {
        if !a.lines.contains(&line) {
            a.lines.push(line);
        }
    }
    for id in b.ids {
        if !a.ids.contains(&id) {
            a.ids.push(id);
        }
    }
    Some(a)
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
}

impl Project {
    pub fn resolve(root: &Path, inventory: &Inventory, args: &Options) -> Result<Project, Error> {
        let framework = choose_framework(root, inventory, args)?;
        let (pattern, folder_pattern) = match &inventory.project.pattern {
            Some(p) => (p.clone(), file_pattern(p).to_string()),
            None if minitest_pattern(root, framework).is_some() => {
                let pattern = minitest_pattern(root, framework).unwrap_or_default();
                (pattern.to_string(), framework.default_folder_pattern().to_string())
            }
            None => (framework.default_pattern().to_string(), framework.default_folder_pattern().to_string()),
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
        let files = exclude(files, &excluded)?;
        if let (false, Some(f)) = (framework == Framework::RSpec, files.iter().find(|f| f.only.is_some())) {
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
            runner_args: rspec_parallel_options(root, framework, &args.runner_args),
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
        }
    }

    /// Which files `path` may share a runner process with.
    pub fn group_of(&self, path: &str) -> Group {
        self.groups.get(path).copied().unwrap_or_default()
    }

    /// Where the examples of long files are recorded for the example split, beside the runtime
    /// log; only frameworks whose examples have ids (RSpec).
    pub fn examples_log(&self) -> Option<PathBuf> {
        (self.framework == Framework::RSpec)
            .then(|| self.runtime_log.with_file_name(format!("testbot-examples-{}.json", self.framework.name())))
    }

    /// The files testbot itself writes into the project after a run (the runtime log, the
    /// examples log, the last failures), which the hosts never read: the sync leaves them out,
    /// or every run would find a host out of date by them.
    pub fn own_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.runtime_log.clone(), crate::history::failures::path(&self.runtime_log, self.framework)];
        files.extend(self.examples_log());
        files
    }

    /// parallel_tests' runtime log, read when testbot has none of its own yet.
    pub fn parallel_tests_runtime_log(&self) -> PathBuf {
        self.root.join("tmp").join(format!("parallel_runtime_{}.log", self.framework.parallel_tests_name()))
    }
}

/// The runner's arguments: parallel_tests' RSpec options file first, as parallel_rspec passes it
/// (`-O .rspec_parallel`, else `spec/parallel_spec.opts` or `spec/spec.opts`: RSpec then reads
/// it instead of `.rspec`), unless the arguments name an options file of their own.
fn rspec_parallel_options(root: &Path, framework: Framework, runner_args: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    let own = runner_args.iter().any(|a| a == "-O" || a.starts_with("--options") || (a.starts_with("-O") && a.len() > 2));
    if framework == Framework::RSpec && !own {
        if let Some(file) = [".rspec_parallel", "spec/parallel_spec.opts", "spec/spec.opts"].into_iter().find(|f| root.join(f).is_file()) {
            args.extend(["-O".to_string(), file.to_string()]);
        }
    }
    args.extend(runner_args.iter().cloned());
    args
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
                Framework::NAMES.join(", ")
            ))
        });
    }
    detect(root)
}

/// One framework a project's folders point to, and the evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Detected {
    pub framework: Framework,
    /// e.g. `spec/`, `test/ uses minitest`.
    pub evidence: String,
}

/// The framework the project's folders point to: spec/ → RSpec; test/ → minitest or Test::Unit,
/// from what its files require; features/ → Cucumber. A folder counts only when it holds files
/// of the framework's default pattern (a Rails app's leftover test/ with `.keep` files does not).
pub fn detect(root: &Path) -> Result<Framework, Error> {
    let found = detect_all(root)?;
    match found.as_slice() {
        [one] => Ok(one.framework),
        // No test files anywhere: one framework folder still says which (and the run then
        // reports the empty selection).
        [] => match (root.join("spec").is_dir(), root.join("test").is_dir(), root.join("features").is_dir()) {
            (true, false, false) => Ok(Framework::RSpec),
            (false, true, false) => Ok(test_folder_framework(root)?.0),
            (false, false, true) => Ok(Framework::Cucumber),
            _ => Err(Error::Framework { root: root.to_path_buf(), reason: NO_TEST_FILES.to_string() }),
        },
        several => Err(Error::Framework {
            root: root.to_path_buf(),
            reason: format!(
                "it has several: {}; choose one",
                several.iter().map(|d| format!("{} ({})", d.framework.name(), d.evidence)).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

const NO_TEST_FILES: &str = "there are no test files here (spec/**/*_spec.rb, test/**/*_test.rb, features/**/*.feature)";

/// Every framework the project's folders point to, in the order RSpec, test/, Cucumber.
pub fn detect_all(root: &Path) -> Result<Vec<Detected>, Error> {
    // One file is evidence enough: the walk stops there (this runs before every sync and run).
    let has_files = |framework: Framework| -> bool {
        let pattern = framework.default_pattern();
        let Ok(glob) = Glob::new(pattern) else { return false };
        let matcher = glob.compile_matcher();
        let mut found = Vec::new();
        walk(root, &root.join(literal_prefix(pattern)), &mut |rel| matcher.is_match(rel) && !NOT_TEST_FILES.contains(&file_pattern(rel)), &mut found, Some(1));
        !found.is_empty()
    };
    let mut found = Vec::new();
    if has_files(Framework::RSpec) {
        found.push(spec_folder_framework(root));
    }
    if has_files(Framework::Minitest) {
        let (framework, evidence) = test_folder_framework(root)?;
        found.push(Detected { framework, evidence });
    }
    if has_files(Framework::Cucumber) {
        found.push(Detected { framework: Framework::Cucumber, evidence: "features/".to_string() });
    }
    // minitest in spec/ and in test/: one suite, with both folders' evidence.
    if let [a, b, ..] = found.as_mut_slice() {
        if a.framework == b.framework {
            a.evidence = format!("{}, {}", a.evidence, b.evidence);
            found.remove(1);
        }
    }
    Ok(found)
}

/// RSpec, unless the Ruby files under spec/ mention minitest and never RSpec: minitest/spec
/// suites (`require "minitest/autorun"`, `describe … do` with `_(x).must_equal`) live in spec/
/// too.
fn spec_folder_framework(root: &Path) -> Detected {
    const RSPEC: &[&str] = &["RSpec", "rspec"];
    const MINITEST: &[&str] = &["minitest", "Minitest", "MiniTest"];
    let (rspec, minitest) = mentions_in(root, "spec", RSPEC, MINITEST);
    if minitest > 0 && rspec == 0 {
        Detected { framework: Framework::Minitest, evidence: "spec/ holds minitest specs".to_string() }
    } else {
        Detected { framework: Framework::RSpec, evidence: "spec/".to_string() }
    }
}

/// How many of the Ruby files under `folder` (the first 500, their first 64 KiB) mention any of
/// `a`, and any of `b`.
fn mentions_in(root: &Path, folder: &str, a: &[&str], b: &[&str]) -> (usize, usize) {
    const MAX_FILES: usize = 500;
    const MAX_BYTES: usize = 64 * 1024;
    let mut rb = Vec::new();
    walk(root, &root.join(folder), &mut |rel| rel.ends_with(".rb"), &mut rb, None);
    rb.sort_by(|x, y| x.path.cmp(&y.path));
    let (mut in_a, mut in_b) = (0usize, 0usize);
    for file in rb.iter().take(MAX_FILES) {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else { continue };
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BYTES)]);
        in_a += usize::from(a.iter().any(|m| mentions(&text, m)));
        in_b += usize::from(b.iter().any(|m| mentions(&text, m)));
    }
    (in_a, in_b)
}

/// minitest's files when spec/ holds minitest specs (or is the only folder there is): spec/'s
/// too, beside test/'s. None: the framework's default.
fn minitest_pattern(root: &Path, framework: Framework) -> Option<&'static str> {
    if framework != Framework::Minitest || !root.join("spec").is_dir() {
        return None;
    }
    let test = root.join("test").is_dir();
    if test && spec_folder_framework(root).framework != Framework::Minitest {
        return None;
    }
    Some(if test { "{test,spec}/**/{*_test,test_*,*_spec}.rb" } else { "spec/**/{*_spec,*_test,test_*}.rb" })
}

/// minitest or Test::Unit, from what the Ruby files under test/ mention.
fn test_folder_framework(root: &Path) -> Result<(Framework, String), Error> {
    const MINITEST: &[&str] = &[
        "minitest",
        "Minitest",
        "MiniTest",
        "ActiveSupport::TestCase",
        "ActionDispatch::IntegrationTest",
        "ActionDispatch::SystemTestCase",
        "rails/test_help",
    ];
    const TEST_UNIT: &[&str] = &["test/unit", "Test::Unit", "test-unit"];
    const MAX_FILES: usize = 500;
    const MAX_BYTES: usize = 64 * 1024;
    let mut rb = Vec::new();
    walk(root, &root.join("test"), &mut |rel| rel.ends_with(".rb"), &mut rb, None);
    rb.sort_by(|a, b| a.path.cmp(&b.path));
    let (mut minitest, mut test_unit) = (0usize, 0usize);
    for file in rb.iter().take(MAX_FILES) {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else { continue };
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BYTES)]);
        minitest += usize::from(MINITEST.iter().any(|m| mentions(&text, m)));
        test_unit += usize::from(TEST_UNIT.iter().any(|m| mentions(&text, m)));
    }
    match (minitest, test_unit) {
        (0, 0) => Ok((Framework::Minitest, "test/ names no framework; minitest is Ruby's default".to_string())),
        (_, 0) => Ok((Framework::Minitest, "test/ uses minitest".to_string())),
        (0, _) => Ok((Framework::TestUnit, "test/ uses Test::Unit".to_string())),
        (m, t) => Err(Error::Framework {
            root: root.to_path_buf(),
            reason: format!("test/ has {m} file(s) that mention minitest and {t} that mention Test::Unit"),
        }),
    }
}

/// `needle` in `text` as a whole word: `Test::Unit` is not found in `MiniTest::Unit`.
fn mentions(text: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(needle).any(|(at, _)| !word(text[..at].chars().next_back()) && !word(text[at + needle.len()..].chars().next()))
}

/// Found in test/ by `test_*.rb`, but never a test file.
const NOT_TEST_FILES: &[&str] = &["test_helper.rb"];

/// The files to run: PATHs (files as given, folders searched for `folder_pattern`, a file-name
/// glob), or the whole pattern when no PATH is given. Sorted, without duplicates.
pub fn select(root: &Path, paths: &[String], pattern: &str, folder_pattern: &str) -> Result<Vec<SpecFile>, Error> {
    let glob = |p: &str| -> Result<GlobMatcher, Error> {
        Glob::new(p)
            .map(|g| g.compile_matcher())
            .map_err(|e| Error::Usage(format!("invalid file pattern `{p}`: {e}")))
    };
    let mut found: Vec<SpecFile> = Vec::new();
    if paths.is_empty() {
        let matcher = glob(pattern)?;
        let base = literal_prefix(pattern);
        walk(root, &root.join(&base), &mut |rel| matcher.is_match(rel) && !NOT_TEST_FILES.contains(&file_pattern(rel)), &mut found, None);
    } else {
        let file_glob = glob(folder_pattern)?;
        for given in paths {
            // A rerun line pasted back: `spec/a_spec.rb:12` or `spec/a_spec.rb[1:1]`.
            let (path, only) = match split_selection(given) {
                Some((base, only)) if !root.join(given).exists() => (base, Some(only)),
                _ => (given.as_str(), None),
            };
            let full = root.join(path);
            let meta = std::fs::metadata(&full).map_err(|_| Error::MissingPath(given.clone()))?;
            if meta.is_dir() && only.is_some() {
                return Err(Error::Usage(format!("`{given}`: lines and example ids select examples of a file, not of a folder")));
            }
            if meta.is_dir() {
                walk(
                    root,
                    &full,
                    &mut |rel| {
                        let name = file_pattern(rel);
                        file_glob.is_match(name) && !NOT_TEST_FILES.contains(&name)
                    },
                    &mut found,
                    None,
                );
            } else {
                let path = relative(root, &full).ok_or_else(|| {
                    Error::Usage(format!("`{given}` is outside the project at {}", root.display()))
                })?;
                // A helper or a README given by mistake would "pass" with 0 examples.
                let name = file_pattern(&path);
                if !file_glob.is_match(name) || NOT_TEST_FILES.contains(&name) {
                    return Err(Error::Usage(format!(
                        "`{given}` is not a test file: its name does not match `{folder_pattern}`\n  hint: give test files or folders; for other names set `pattern` under [project] in testbot.toml"
                    )));
                }
                found.push(SpecFile { path, size: meta.len(), only });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|later, kept| {
        let same = later.path == kept.path;
        if same {
            kept.only = merge_only(kept.only.take(), later.only.take());
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

/// `spec/**/*_spec.rb` → `spec`: the folder a walk can start from.
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    let parts: Vec<&str> = pattern.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(part);
    }
    prefix
}

/// Adds the files below `dir` that `matches`, stopping once `found` holds `limit` of them.
fn walk(root: &Path, dir: &Path, matches: &mut dyn FnMut(&str) -> bool, found: &mut Vec<SpecFile>, limit: Option<usize>) {
    if !dir.is_dir() {
        return;
    }
    // Spec files are found the way Ruby's Dir.glob finds them: dot-folders skipped, .gitignore not consulted.
    let walker = ignore::WalkBuilder::new(dir).standard_filters(false).hidden(true).build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else { continue };
        if matches(&rel) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(SpecFile { path: rel, size, only: None });
            if limit.is_some_and(|n| found.len() >= n) {
                return;
            }
        }
    }
}

/// `root/spec/./a_spec.rb` → `spec/a_spec.rb`; None when outside the root.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let rel = path.strip_prefix(root).ok()?;
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rspec_parallel_is_passed_as_parallel_rspec_passes_it() {
        let dir = tempfile::tempdir().unwrap();
        let args = |user: &[&str]| rspec_parallel_options(dir.path(), Framework::RSpec, &user.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(args(&["--tag", "x"]), ["--tag", "x"]);
        std::fs::create_dir(dir.path().join("spec")).unwrap();
        std::fs::write(dir.path().join("spec/spec.opts"), "--color\n").unwrap();
        assert_eq!(args(&[]), ["-O", "spec/spec.opts"]);
        std::fs::write(dir.path().join(".rspec_parallel"), "--format progress\n").unwrap();
        assert_eq!(args(&["--tag", "x"]), ["-O", ".rspec_parallel", "--tag", "x"]);
        assert_eq!(args(&["-O", "mine"]), ["-O", "mine"]);
        assert_eq!(args(&["--options=mine"]), ["--options=mine"]);
        assert!(rspec_parallel_options(dir.path(), Framework::Minitest, &[]).is_empty());
    }

    #[test]
    fn rerun_lines_split_into_a_path_and_a_part() {
        let lines = |l: &[u32]| Only { lines: l.to_vec(), ids: Vec::new() };
        assert_eq!(split_selection("spec/a_spec.rb:12"), Some(("spec/a_spec.rb", lines(&[12]))));
        assert_eq!(split_selection("./spec/a_spec.rb:12:30"), Some(("./spec/a_spec.rb", lines(&[12, 30]))));
        assert_eq!(
            split_selection("spec/a_spec.rb[1:2, 1:5]"),
            Some(("spec/a_spec.rb", Only { lines: Vec::new(), ids: vec!["1:2".into(), "1:5".into()] }))
        );
        for plain in ["spec/a_spec.rb", "spec/a:b_spec.rb", ":12", "spec/a_spec.rb[x]", "spec/a_spec.rb[]", "a_spec.rb:"] {
            assert_eq!(split_selection(plain), None, "{plain}");
        }
        assert_eq!(merge_only(Some(lines(&[1])), Some(lines(&[2, 1]))), Some(lines(&[1, 2])));
        assert_eq!(merge_only(Some(lines(&[1])), None), None, "the whole file wins");
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

    #[test]
    fn a_spec_folder_is_minitest_when_its_files_are() {
        let dir = tree(&[]);
        let write = |f: &str, body: &str| {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        };
        write("spec/a_spec.rb", "require \"minitest/autorun\"\ndescribe \"A\" do\nend\n");
        assert_eq!(detect(dir.path()).unwrap(), Framework::Minitest);
        assert_eq!(minitest_pattern(dir.path(), Framework::Minitest), Some("spec/**/{*_spec,*_test,test_*}.rb"));
        // One file that names RSpec (a spec_helper) makes it RSpec's.
        write("spec/spec_helper.rb", "RSpec.configure { |c| c.order = :random }\n");
        assert_eq!(detect(dir.path()).unwrap(), Framework::RSpec);
        assert_eq!(minitest_pattern(dir.path(), Framework::RSpec), None);
        // Bare `describe` with nothing named: RSpec, as before.
        std::fs::remove_file(dir.path().join("spec/spec_helper.rb")).unwrap();
        write("spec/a_spec.rb", "describe \"A\" do\nend\n");
        assert_eq!(detect(dir.path()).unwrap(), Framework::RSpec);
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

    fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (f, text) in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        dir
    }

    #[test]
    fn detects_each_framework_from_its_folder() {
        let rspec = tree(&["spec/a_spec.rb"]);
        assert_eq!(detect(rspec.path()).unwrap(), Framework::RSpec);
        let minitest = tree_with(&[("test/test_helper.rb", "require 'minitest/autorun'"), ("test/a_test.rb", "require 'test_helper'")]);
        assert_eq!(detect(minitest.path()).unwrap(), Framework::Minitest);
        let rails = tree_with(&[("test/models/user_test.rb", "class UserTest < ActiveSupport::TestCase\nend")]);
        assert_eq!(detect(rails.path()).unwrap(), Framework::Minitest);
        let test_unit = tree_with(&[("test/test_a.rb", "require 'test/unit'\nclass A < Test::Unit::TestCase; end")]);
        assert_eq!(detect(test_unit.path()).unwrap(), Framework::TestUnit);
        let old_minitest = tree_with(&[("test/a_test.rb", "class A < MiniTest::Unit::TestCase; end")]);
        assert_eq!(detect(old_minitest.path()).unwrap(), Framework::Minitest);
        let cucumber = tree(&["features/a.feature", "features/step_definitions/s.rb"]);
        assert_eq!(detect(cucumber.path()).unwrap(), Framework::Cucumber);
    }

    #[test]
    fn several_frameworks_or_none_are_named_in_the_error() {
        let both = tree(&["spec/a_spec.rb", "features/a.feature"]);
        let err = detect(both.path()).unwrap_err().to_string();
        assert!(err.contains("it has several: rspec (spec/), cucumber (features/); choose one"), "{err}");
        assert!(err.contains("--framework NAME"), "{err}");
        // A leftover test/ without test files does not count.
        let leftover = tree(&["spec/a_spec.rb", "test/models/.keep", "test/test_helper.rb"]);
        assert_eq!(detect(leftover.path()).unwrap(), Framework::RSpec);
        let mixed = tree_with(&[("test/a_test.rb", "require 'minitest/autorun'"), ("test/b_test.rb", "require 'test/unit'")]);
        let err = detect(mixed.path()).unwrap_err().to_string();
        assert!(err.contains("1 file(s) that mention minitest and 1 that mention Test::Unit"), "{err}");
        let none = tree(&["lib/a.rb"]);
        assert!(detect(none.path()).unwrap_err().to_string().contains("there are no test files here"));
        let empty_spec = tree(&["spec/spec_helper.rb"]);
        assert_eq!(detect(empty_spec.path()).unwrap(), Framework::RSpec, "the empty selection is reported later");
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

    #[test]
    fn prefix_of_pattern() {
        assert_eq!(literal_prefix("spec/**/*_spec.rb"), PathBuf::from("spec"));
        assert_eq!(literal_prefix("test/unit/*_test.rb"), PathBuf::from("test/unit"));
        assert_eq!(literal_prefix("**/*_spec.rb"), PathBuf::new());
    }
}
