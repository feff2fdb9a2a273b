//! SimpleCov across batches and hosts (the Ruby half is `framework/testbot_coverage.rb`): each
//! batch stores its own result in this run's directory on its host; at the end of the run the
//! results are brought back, the paths of each host's copy mapped to the project's, and one
//! process on this machine merges them with SimpleCov's own collation, whose checks
//! (`minimum_coverage`, …) then decide the run's verdict as they would a serial run's.

use super::PreparedHost;
use crate::events::CoverageReport;
use crate::framework::RunnerConfig;
use crate::project::Project;
use crate::ssh::{ExitInfo, Host, HostCommand, LocalHost, Process, RunError};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Where a batch stores its result (a directory, relative to the runner's directory or absolute).
pub const DIR_VAR: &str = "TESTBOT_COVERAGE_DIR";
/// Set only in the collating process: the directory of the results to merge.
pub const COLLATE_VAR: &str = "TESTBOT_COVERAGE_COLLATE";
/// Set in the collating process when SimpleCov's checks must not judge the result.
const NO_CHECKS_VAR: &str = "TESTBOT_COVERAGE_NO_CHECKS";
/// The file whose existence tells the merge's process that its results are all there.
const READY_VAR: &str = "TESTBOT_COVERAGE_READY";
/// What SimpleCov's collating process prints before its own lines (testbot_coverage.rb's MARK).
const MARK: &str = "--- testbot: SimpleCov ---";
/// Reading a host's results, and the merge, each get this long.
const LIMIT: Duration = Duration::from_secs(300);

/// The batch environment for coverage and for parallel_tests' API: this run's result directory
/// on the host, and `PARALLEL_PID_FILE` (unless `[project] env` sets one) naming an empty file,
/// so that `ParallelTests.wait_for_other_processes_to_finish` returns at once: testbot does the
/// end-of-run work (the merge) itself, after every batch.
pub fn with_batch_env(mut env: Vec<(String, String)>, support_dir: &str) -> Vec<(String, String)> {
    env.push((DIR_VAR.to_string(), batch_dir(support_dir)));
    if !env.iter().any(|(k, _)| k == "PARALLEL_PID_FILE") {
        env.push(("PARALLEL_PID_FILE".to_string(), "/dev/null".to_string()));
    }
    env
}

/// `<support dir>/coverage/<run>`: a directory of this run's own, so that a run never merges
/// what an earlier one that was killed left behind.
fn batch_dir(support_dir: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        format!("{}-{nanos}", std::process::id())
    });
    let base = support_dir.strip_prefix("./").unwrap_or(support_dir).trim_end_matches('/');
    format!("{base}/coverage/{run}")
}

/// The merge's process, started before the batches end when the suite looks like it uses
/// SimpleCov (`start`): loading the suite's helpers (a Rails app, with `--require rails_helper`)
/// takes seconds, and it waits for its results (`READY_VAR`) while the last batches run.
pub struct Merge {
    /// Holds `results`, `ready` and the runner's support files; removed when dropped.
    scratch: Option<tempfile::TempDir>,
    results: PathBuf,
    ready: PathBuf,
    process: Result<Process, CoverageReport>,
    /// The full dry run (the runner's arguments, a spec file), when `process` is the light one
    /// and it turns out not to start SimpleCov.
    fallback: Option<HostCommand>,
}

impl Merge {
    /// Starts the merge's process; it loads the helpers, then waits until `finish` has stored
    /// every host's results. `checks`: as for `finish`.
    pub async fn start(project: &Project, checks: bool) -> Merge {
        let scratch = tempfile::Builder::new().prefix("testbot-coverage-").tempdir();
        let scratch = match scratch {
            Ok(dir) => dir,
            Err(err) => {
                let failed = CoverageReport::failed(format!("failed to create a temporary directory for the coverage results: {err}"));
                return Merge { scratch: None, results: PathBuf::new(), ready: PathBuf::new(), process: Err(failed), fallback: None };
            }
        };
        let results = scratch.path().join("results");
        let ready = scratch.path().join("ready");
        let _ = std::fs::create_dir_all(&results);
        let (process, fallback) = match collate_commands(project, scratch.path(), &results, &ready, checks) {
            Ok((first, fallback)) => (spawn(first).await, fallback),
            Err(report) => (Err(report), None),
        };
        Merge { scratch: Some(scratch), results, ready, process, fallback }
    }
}

/// Whether the project looks like it measures coverage with SimpleCov (its Gemfile or lock file
/// names it): then the merge starts early (`Merge::start`), else only if results come back.
pub fn likely(project: &Project) -> bool {
    ["Gemfile.lock", "Gemfile", "gems.rb", "gems.locked"].iter().any(|name| {
        std::fs::read_to_string(project.root.join(name)).is_ok_and(|text| text.contains("simplecov"))
    })
}

/// After the batches: brings back the results of `hosts` (those where some batch said it stores
/// one) and merges them (in `early`, when it was started already). None when no batch stored a
/// result (the suite does not use SimpleCov). Hosts whose results could not be read are named in the report's warnings.
/// `checks`: SimpleCov's checks (`minimum_coverage`, …) judge the merged result; without, it is
/// only stored and formatted (a `--partition` share).
pub async fn finish(project: &Project, hosts: &[&PreparedHost], checks: bool, early: Option<Merge>) -> Option<CoverageReport> {
    // As Ruby names the project's files (Dir.pwd: no symlinks), so SimpleCov's root-relative
    // filters match the mapped paths.
    let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    let fetched = futures::future::join_all(hosts.iter().map(|h| fetch(h, &root))).await;
    if early.is_none() && fetched.iter().all(|f| f.as_ref().is_ok_and(Vec::is_empty)) {
        return None;
    }
    let merge = match early {
        Some(merge) => merge,
        None => Merge::start(project, checks).await,
    };
    if let Err(report) = &merge.process {
        return Some(report.clone());
    }
    let mut warnings = Vec::new();
    let mut stored = 0;
    for (host, fetched) in hosts.iter().zip(fetched) {
        match fetched {
            Ok(resultsets) => {
                for (n, resultset) in resultsets.into_iter().enumerate() {
                    let path = merge.results.join(format!("{}-{n}.json", safe_name(host.host.name())));
                    if let Err(err) = std::fs::write(&path, resultset.to_string()) {
                        warnings.push(format!("failed to write {}: {err}", path.display()));
                    } else {
                        stored += 1;
                    }
                }
            }
            Err(why) => warnings.push(format!("host `{}`: its coverage results could not be read: {why}", host.host.name())),
        }
    }
    if stored == 0 && warnings.is_empty() {
        // Dropping the merge kills its process.
        return None;
    }
    let mut report = collate(merge).await;
    report.batches = stored;
    report.warnings = warnings;
    Some(report)
}

/// Results stored elsewhere, each `{"root": R, "resultset": …}` as a batch stores one (the
/// jobs of a `--queue` build, each its batches' merge), merged here as a run's batches are,
/// their paths under R mapped to the project's. None when there are none.
pub async fn merge_stored(project: &Project, stored: &[String], checks: bool) -> Option<CoverageReport> {
    if stored.is_empty() {
        return None;
    }
    let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    let merge = Merge::start(project, checks).await;
    if let Err(report) = &merge.process {
        return Some(report.clone());
    }
    let mut warnings = Vec::new();
    let mut merged = 0;
    for (n, line) in stored.iter().enumerate() {
        let path = merge.results.join(format!("job-{n}.json"));
        match mapped(line, &root).map(|resultset| std::fs::write(&path, resultset.to_string())) {
            Ok(Ok(())) => merged += 1,
            Ok(Err(err)) => warnings.push(format!("failed to write {}: {err}", path.display())),
            Err(why) => warnings.push(format!("a job's coverage could not be read: {why}")),
        }
    }
    let mut report = collate(merge).await;
    report.batches = merged;
    report.warnings = warnings;
    Some(report)
}

/// Why a host's coverage results could not be read.
#[derive(Debug, thiserror::Error)]
enum ResultsError {
    #[error("{}", crate::error_chain::chain(.0))]
    Run(RunError),
    #[error("{exit} ({stderr})")]
    Failed { exit: ExitInfo, stderr: String },
    #[error("a result does not parse: {0}")]
    Parse(serde_json::Error),
    #[error("a result names no root")]
    NoRoot,
    #[error("a result holds no resultset")]
    NoResultset,
}

/// One host's results (each a SimpleCov resultset, paths mapped to `root`), read and removed.
async fn fetch(host: &PreparedHost, root: &Path) -> Result<Vec<Value>, ResultsError> {
    const SCRIPT: &str = r#"d=$1; [ -d "$d" ] || exit 0; for f in "$d"/*.json; do [ -f "$f" ] && cat "$f" && echo; done; rm -rf "$d""#;
    let dir = batch_dir(&host.support_dir);
    let argv = ["sh", "-c", SCRIPT, "testbot", &dir].map(String::from).to_vec();
    let done = host.host.run(HostCommand::new(argv, Vec::new(), host.workdir.clone()), LIMIT).await.map_err(ResultsError::Run)?;
    if !done.exit.success() {
        return Err(ResultsError::Failed { exit: done.exit, stderr: String::from_utf8_lossy(&done.stderr()).trim().to_string() });
    }
    let text = String::from_utf8_lossy(&done.stdout()).into_owned();
    text.lines().filter(|l| !l.trim().is_empty()).map(|line| mapped(line, root)).collect()
}

/// `{"root": R, "resultset": {...}}` (one batch's) → the resultset, every file under R named
/// under `root` instead: the host's copy of the project is the project.
fn mapped(line: &str, root: &Path) -> Result<Value, ResultsError> {
    let stored: Value = serde_json::from_str(line).map_err(ResultsError::Parse)?;
    let from = stored.get("root").and_then(Value::as_str).ok_or(ResultsError::NoRoot)?.trim_end_matches('/').to_string();
    let to = root.to_string_lossy().trim_end_matches('/').to_string();
    let Some(Value::Object(resultset)) = stored.get("resultset").cloned() else {
        return Err(ResultsError::NoResultset);
    };
    let mut out = Map::new();
    for (command, mut data) in resultset {
        if let Some(Value::Object(files)) = data.get_mut("coverage") {
            let renamed: Map<String, Value> = std::mem::take(files)
                .into_iter()
                .map(|(path, lines)| match path.strip_prefix(&from).filter(|rest| rest.starts_with('/')) {
                    Some(rest) => (format!("{to}{rest}"), lines),
                    None => (path, lines),
                })
                .collect();
            *files = renamed;
        }
        out.insert(command, data);
    }
    Ok(Value::Object(out))
}

fn safe_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The merge: a dry run of the framework's runner on this machine, in the project, in which
/// SimpleCov collates `results` (once `ready` exists), stores `coverage/.resultset.json`,
/// formats and checks. First, where the framework has one (RSpec), a light one that loads only
/// what `.rspec` requires and no spec file (SimpleCov is configured before the app loads, so a Rails app need not boot for
/// it), with the full one as the fallback: the runner's arguments (`--require rails_helper`
/// with `--preload`) and one file of the suite, so that its helpers configure SimpleCov as
/// every batch had it.
fn collate_commands(project: &Project, scratch: &Path, results: &Path, ready: &Path, checks: bool) -> Result<(HostCommand, Option<HostCommand>), CoverageReport> {
    let support = scratch.join("support");
    let _ = std::fs::create_dir_all(&support);
    for (name, contents) in project.framework.support_files() {
        if let Err(err) = std::fs::write(support.join(name), contents) {
            return Err(CoverageReport::failed(format!("failed to write the runner's support files for the coverage merge: {err}")));
        }
    }
    let Some(first) = project.files.iter().map(|f| f.path.clone()).min() else {
        return Err(CoverageReport::failed("no file to load SimpleCov's configuration from".to_string()));
    };
    let local = LocalHost::new();
    let mut env = project.env.clone();
    env.extend([
        // The database of the first slot here (it exists: its before_slot hook made it).
        ("TESTBOT_HOST".to_string(), local.name().to_string()),
        ("TEST_ENV_NUMBER".to_string(), if project.first_is_1 { "1".to_string() } else { String::new() }),
        ("PARALLEL_TEST_GROUPS".to_string(), project.local_slots.max(1).to_string()),
        ("PARALLEL_PID_FILE".to_string(), "/dev/null".to_string()),
        (COLLATE_VAR.to_string(), results.to_string_lossy().into_owned()),
        (READY_VAR.to_string(), ready.to_string_lossy().into_owned()),
    ]);
    if !checks {
        env.push((NO_CHECKS_VAR.to_string(), "1".to_string()));
    }
    let support = support.to_string_lossy();
    let workdir = crate::sync::local_workdir(&project.root);
    let mut runner = project.runner.clone();
    runner.runner_args.push("--dry-run".to_string());
    let full = project.framework.command(&runner, &support, &[first]);
    let full = HostCommand::new(full, env.clone(), workdir.clone()).with_events();
    let Some(runner_args) = project.framework.dry_run_without_test_files(&project.runner.runner_args) else {
        return Ok((full, None));
    };
    let light = project.framework.command(&RunnerConfig { runner_args, ..project.runner.clone() }, &support, &[]);
    Ok((HostCommand::new(light, env, workdir).with_events(), Some(full)))
}

async fn spawn(command: HostCommand) -> Result<Process, CoverageReport> {
    LocalHost::new()
        .spawn(command)
        .await
        .map_err(|err| CoverageReport::failed(format!("the coverage merge did not run: {}", crate::error_chain::chain(&err))))
}

/// Lets the merge's process collate what is in its results folder, and reads what it said.
async fn collate(merge: Merge) -> CoverageReport {
    let Merge { scratch, ready, process, fallback, .. } = merge;
    let process = match process {
        Ok(process) => process,
        Err(report) => return report,
    };
    if let Err(err) = std::fs::write(&ready, b"") {
        return CoverageReport::failed(format!("failed to write {}: {err}", ready.display()));
    }
    let mut done = match process.collect("local", LIMIT).await {
        Ok(done) => done,
        Err(err) => return CoverageReport::failed(format!("the coverage merge did not run: {}", crate::error_chain::chain(&err))),
    };
    if let Some(full) = fallback.filter(|_| !String::from_utf8_lossy(&done.combined()).contains(MARK)) {
        // SimpleCov was not started by what `.rspec` requires: the full dry run.
        tracing::debug!("the light coverage merge did not start SimpleCov; the full dry run merges");
        let process = match spawn(full).await {
            Ok(process) => process,
            Err(report) => return report,
        };
        done = match process.collect("local", LIMIT).await {
            Ok(done) => done,
            Err(err) => return CoverageReport::failed(format!("the coverage merge did not run: {}", crate::error_chain::chain(&err))),
        };
    }
    drop(scratch);
    let output = String::from_utf8_lossy(&done.combined()).into_owned();
    let said: Vec<String> = match output.split_once(MARK) {
        Some((_, after)) => after.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).map(String::from).collect(),
        None => Vec::new(),
    };
    let mut report = CoverageReport { lines: said, ..CoverageReport::default() };
    if !done.exit.success() {
        report.failed = Some(if report.lines.is_empty() {
            // It failed before SimpleCov merged anything: show why.
            let tail: Vec<&str> = output.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("the coverage merge {} before merging:\n{}", done.exit, tail.join("\n"))
        } else {
            format!("SimpleCov's checks on the merged coverage failed (its process {})", done.exit)
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_paths_are_mapped_to_the_project_and_others_kept() {
        let line = r#"{"root":"/home/u/.cache/testbot/p1","resultset":{"RSpec":{"coverage":{"/home/u/.cache/testbot/p1/app/a.rb":{"lines":[1,null]},"/home/u/.cache/testbot/p10/x.rb":{"lines":[0]}},"timestamp":5}}}"#;
        let mapped = mapped(line, Path::new("/work/app/")).unwrap();
        let files: Vec<&String> = mapped["RSpec"]["coverage"].as_object().unwrap().keys().collect();
        assert_eq!(files, ["/home/u/.cache/testbot/p10/x.rb", "/work/app/app/a.rb"]);
        assert_eq!(mapped["RSpec"]["timestamp"], 5);
        assert_eq!(mapped["RSpec"]["coverage"]["/work/app/app/a.rb"]["lines"][0], 1);
        assert!(super::mapped("{}", Path::new("/x")).is_err());
    }

    #[test]
    fn batch_env_names_this_runs_directory_and_keeps_a_projects_pid_file() {
        let env = with_batch_env(Vec::new(), "./.testbot/");
        assert!(env[0].1.starts_with(".testbot/coverage/"), "{env:?}");
        assert_eq!(env[0].1, batch_dir(".testbot"));
        assert_eq!(env[1], ("PARALLEL_PID_FILE".to_string(), "/dev/null".to_string()));
        let own = vec![("PARALLEL_PID_FILE".to_string(), "/tmp/p".to_string())];
        assert_eq!(with_batch_env(own, "/s").iter().filter(|(k, _)| k == "PARALLEL_PID_FILE").count(), 1);
    }
}
