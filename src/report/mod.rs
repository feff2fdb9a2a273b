//! Everything a person or a tool reads, and the only module that prints: a run's live display,
//! final summary, JSON report and JUnit file, built from its events alone (the runtime and
//! examples logs are merged by `history` from the same file reports); and the tables of the
//! commands without a run (`hosts`, `sync`, `exec`, `list`, `init`, `report merge`).

mod display;
pub mod escapes;
pub mod hosts;
mod json;
mod junit;
pub mod merge;
mod summary;
pub mod sync;
pub mod term;
mod warning;

pub use display::{DisplayOptions, FailureOutput, StatusLevel};
pub use summary::{NoTests, Totals, Verdict};

use crate::history::{examples_log, runtime_log};
use crate::events::{ExampleStatus, FileReport, RunEvent, SlotInfo, Stop};
use crate::framework::Framework;
use crate::schedule::partition::Share;
use display::Display;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ReportConfig {
    pub framework: Framework,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Where the runtime history is merged after the run; None: nowhere (`--partition`, or
    /// `report merge` without `--runtime-log`).
    pub runtime_log: Option<PathBuf>,
    /// Where the examples of long files are recorded (`examples_log`), and the project root.
    pub examples_log: Option<(PathBuf, PathBuf)>,
    /// `--flaky-fails`: an example that passed only on a retry fails the run.
    pub flaky_fails: bool,
    /// Where the run's failures are kept for `--only-failures`, and the project root; None: nowhere.
    pub failures_log: Option<(PathBuf, PathBuf)>,
    /// What the live display and the summary show.
    pub display: DisplayOptions,
    /// `[project] command`, for the rerun lines.
    pub runner_command: Option<String>,
    /// `--no-tests`, and the selection as the user gave it (for its message).
    pub no_tests: NoTests,
    pub selection: Option<String>,
}

/// An error outside examples that no file owns.
#[derive(Clone, Debug)]
pub struct BatchError {
    pub slot: Option<SlotInfo>,
    pub message: String,
    pub output: String,
}

/// Everything the run said, kept for the end.
#[derive(Debug, Default)]
pub struct Aggregate {
    pub total_files: usize,
    pub slots: Vec<SlotInfo>,
    pub expected_seconds: f64,
    /// Files whose expected time was a guess from their size, not their runtime history.
    pub estimated_by_size: std::collections::HashSet<String>,
    pub files: Vec<FileReport>,
    pub batch_errors: Vec<BatchError>,
    /// Busy seconds per slot id.
    pub busy: BTreeMap<usize, f64>,
    /// The files that were running when the run began to stop, each with its slot
    /// (`local/2`): the summary names those the stop cut short.
    pub stopped_while_running: Vec<(String, String)>,
    /// `report merge`: which report each slot id's figures come from (`share 1/2`, or the
    /// report's path), so that slots of the same name in two reports read apart.
    pub slot_source: BTreeMap<usize, String>,
    pub wall_seconds: f64,
    pub stopped: Option<Stop>,
    pub flaky_fails: bool,
    pub warnings: Vec<String>,
    /// Hosts that left the run, with why.
    pub lost_hosts: Vec<(String, String)>,
    /// Hosts left out of the run before it started (their warning, with why, came first).
    pub left_out_hosts: Vec<String>,
    /// What the runners printed outside files (`RunEvent::RunOutput`), each distinct line once,
    /// in the order first printed: every batch prints RSpec's deprecation summary, each with the
    /// call sites its own files hit.
    pub run_output: Vec<String>,
    /// `--partition K/N`: this share and the whole plan.
    pub partition: Option<Arc<Share>>,
    /// Report files that could not be written, each with why: they fail the run.
    pub unwritten: Vec<String>,
    /// `report merge`: the reports whose runs failed by their own rules (`"passed": false`).
    pub failed_reports: Vec<String>,
    /// Every file the run planned, in the plan's order (`RunStarted`): a stopped run reports
    /// those it did not finish as not run.
    pub planned: Vec<String>,
    /// What a run that ran no example is (`--no-tests`), and its selection as the user gave it.
    pub no_tests: NoTests,
    pub selection: Option<String>,
    /// The merged coverage (SimpleCov), when the suite measures it; its checks can fail the run.
    pub coverage: Option<crate::events::CoverageReport>,
    /// Every batch, in the order they ended: which files ran together, in which order, with
    /// which seed.
    pub batches: Vec<Batch>,
    /// `[project] command`: what the rerun lines start with instead of the framework's runner.
    pub runner_command: Option<String>,
}

impl Aggregate {
    /// A stopped run's planned files that have no report: each is reported as not run, with
    /// why, so that every planned file is in the reports exactly once.
    fn add_unfinished(&mut self) {
        let Some(stop) = self.stopped else { return };
        if self.files.len() >= self.planned.len() {
            return;
        }
        let reported: std::collections::HashSet<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let unfinished: Vec<String> = self.planned.iter().filter(|p| !reported.contains(p.as_str())).cloned().collect();
        let why = unfinished_reason(stop);
        self.files.extend(unfinished.into_iter().map(|path| FileReport {
            path,
            slot: None,
            seconds: 0.0,
            expected_seconds: 0.0,
            examples: Vec::new(),
            error: Some(crate::events::FileError::NotRun(why.clone())),
            output: String::new(),
        }));
    }
}

/// Why a stopped run's unfinished file did not run.
pub(crate) fn unfinished_reason(stop: Stop) -> String {
    match stop {
        Stop::Interrupted => "interrupted: the run was stopped (Ctrl-C or SIGTERM) before this file finished".into(),
        Stop::Timeout { seconds } => format!("timed out: the run's --timeout ({seconds:.0}s) passed before this file finished"),
        Stop::FailFast { .. } => "fail-fast: the run stopped before this file finished".into(),
    }
}

/// One runner process's files, as it was given them.
#[derive(Clone, Debug)]
pub struct Batch {
    pub slot: SlotInfo,
    /// The runner's arguments for its files, in order (`spec/a_spec.rb`, `spec/b_spec.rb[1:2]`).
    pub arguments: Vec<String>,
    /// The seed of its random order, when it had one.
    pub seed: Option<u64>,
    pub seconds: f64,
}

pub struct Reporter {
    config: ReportConfig,
    agg: Aggregate,
    display: Display,
    /// The lines in `agg.run_output`.
    run_output_seen: std::collections::HashSet<String>,
    /// The batch running on each slot (by id).
    batches: std::collections::HashMap<usize, Batch>,
    /// The file running on each slot (by id), from `FileStarted`.
    running: BTreeMap<usize, String>,
    /// Failures (failed examples and errored files) in the file reports so far.
    failures_shown: usize,
    /// `fail-fast: N failure(s) reached`, held until the failures that caused it are on the
    /// screen: the dispatcher counts a failed example as it happens, before its file's block.
    fail_fast_line: Option<(usize, String)>,
}

impl Reporter {
    pub fn new(config: ReportConfig) -> Reporter {
        let agg = Aggregate {
            flaky_fails: config.flaky_fails,
            runner_command: config.runner_command.clone(),
            no_tests: config.no_tests,
            selection: config.selection.clone(),
            ..Aggregate::default()
        };
        Reporter {
            display: Display::new(config.display.clone()),
            config,
            agg,
            run_output_seen: Default::default(),
            batches: Default::default(),
            running: BTreeMap::new(),
            failures_shown: 0,
            fail_fast_line: None,
        }
    }

    fn warn(&mut self, message: &str) {
        self.display.warn(message);
        self.agg.warnings.push(message.to_string());
        // fleet and the dispatcher say so in these words (a Warning, not an event of its own).
        let left_out = message.strip_prefix("host `").and_then(|rest| rest.split_once("` is left out of this run"));
        if let Some((host, _)) = left_out {
            self.agg.left_out_hosts.push(host.to_string());
        }
    }

    /// A signal stopped the run before any batch ran, while it was `doing` something: say so,
    /// with what had been done (`done`, a line each), after what was running there was stopped.
    fn interrupted_before_run(&mut self, doing: &str, done: &[String]) {
        self.display.line(&format!("interrupted while {doing}: no test ran; what was running there was stopped"));
        for line in done {
            self.display.line(&format!("  {line}"));
        }
    }

    /// The run was stopped before any batch ran (while connecting, syncing, leasing, in a hook,
    /// starting servers): its reports still list what it would have run, each as not run. A
    /// run that had planned keeps its plan; one that had not lists `selected` (none for a
    /// `--partition` share: its files are not known before planning).
    pub fn stopped_before_run(&mut self, selected: Vec<String>) {
        self.agg.stopped = Some(Stop::Interrupted);
        if self.agg.planned.is_empty() {
            self.agg.total_files = selected.len();
            self.agg.planned = selected;
        }
    }

    /// The run is stopping early; say why while the batches wind down.
    fn stopping(&mut self, why: Stop) {
        if self.agg.stopped_while_running.is_empty() {
            let place = |slot: &usize| self.agg.slots.iter().find(|s| s.id == *slot).map(|s| format!("{}/{}", s.host, s.host_slot));
            self.agg.stopped_while_running = self.running.iter().map(|(slot, path)| (path.clone(), place(slot).unwrap_or_default())).collect();
        }
        let text = match why {
            Stop::Interrupted => "interrupted: stopping the running batches (Ctrl-C again to stop at once)".to_string(),
            Stop::FailFast { failures } => {
                let text = format!("fail-fast: {failures} failure(s) reached, stopping the running batches");
                self.fail_fast_line = Some((failures, text));
                return self.say_fail_fast(false);
            }
            Stop::Timeout { seconds } => format!("timeout: the run's limit of {seconds:.0}s passed, stopping the running batches"),
        };
        self.display.line(&text);
    }

    /// The held fail-fast line, once the failures that reached it are shown (or `anyway`: the
    /// run is over, or they never will be).
    fn say_fail_fast(&mut self, anyway: bool) {
        if let Some((failures, text)) = self.fail_fast_line.take() {
            if anyway || self.failures_shown >= failures {
                self.display.line(&text);
            } else {
                self.fail_fast_line = Some((failures, text));
            }
        }
    }

    /// A file's report, shown: the fail-fast line may follow it.
    fn shown(&mut self, report: &FileReport) {
        self.failures_shown += report.count(ExampleStatus::Failed) + usize::from(report.error.is_some());
        self.say_fail_fast(false);
    }

    /// `handle` for an event the caller is done with: a file's report is kept, not copied.
    pub fn record(&mut self, event: RunEvent) {
        match event {
            RunEvent::FileFinished(report) => {
                self.display.file_finished(&report);
                self.shown(&report);
                self.running.retain(|_, path| *path != report.path);
                self.agg.files.push(*report);
            }
            event => self.handle(&event),
        }
    }

    pub fn handle(&mut self, event: &RunEvent) {
        self.display.event(event);
        match event {
            RunEvent::Warning(warning) => self.warn(&warning.to_string()),
            RunEvent::Stopping(why) => self.stopping(*why),
            RunEvent::InterruptedBeforeRun { doing, done } => self.interrupted_before_run(doing, done),
            RunEvent::RunStarted { files, planned, slots, expected_seconds, partition, estimated_by_size, .. } => {
                self.agg.total_files = *files;
                self.agg.estimated_by_size = estimated_by_size.iter().cloned().collect();
                self.agg.planned = planned.clone();
                self.agg.partition = partition.clone();
                self.agg.slots = slots.clone();
                self.agg.expected_seconds = *expected_seconds;
                for s in slots {
                    self.agg.busy.insert(s.id, 0.0);
                }
            }
            RunEvent::FileFinished(report) => {
                self.shown(report);
                self.running.retain(|_, path| *path != report.path);
                self.agg.files.push((**report).clone());
            }
            RunEvent::ErrorOutsideExamples { slot, message, output } => self.agg.batch_errors.push(BatchError {
                slot: self.agg.slots.iter().find(|s| s.id == *slot).cloned(),
                message: message.clone(),
                output: output.clone(),
            }),
            RunEvent::BatchFinished { slot, seconds } => {
                self.running.remove(slot);
                *self.agg.busy.entry(*slot).or_default() += seconds;
                if let Some(batch) = self.batches.remove(slot) {
                    self.agg.batches.push(Batch { seconds: *seconds, ..batch });
                }
            }
            RunEvent::BatchStarted { slot, arguments, .. } => {
                let batch = Batch { slot: slot.clone(), arguments: arguments.clone(), seed: None, seconds: 0.0 };
                if let Some(unended) = self.batches.insert(slot.id, batch) {
                    self.agg.batches.push(unended);
                }
            }
            RunEvent::BatchSeed { slot, seed } => {
                if let Some(batch) = self.batches.get_mut(slot) {
                    batch.seed = Some(*seed);
                }
            }
            RunEvent::RunOutput { text, .. } => {
                for line in text.lines().map(str::trim_end) {
                    let out = &mut self.agg.run_output;
                    if line.is_empty() {
                        if out.last().is_some_and(|l| !l.is_empty()) {
                            out.push(String::new());
                        }
                    } else if self.run_output_seen.insert(line.to_string()) {
                        out.push(line.to_string());
                    }
                }
                if self.agg.run_output.last().is_some_and(|l| !l.is_empty()) {
                    self.agg.run_output.push(String::new());
                }
            }
            RunEvent::Coverage(report) => {
                for warning in &report.warnings {
                    self.warn(&format!("coverage: {warning}"));
                }
                self.agg.coverage = Some(report.clone());
            }
            RunEvent::RunFinished { wall_seconds, stopped } => {
                self.say_fail_fast(true);
                self.agg.wall_seconds = *wall_seconds;
                self.agg.stopped = *stopped;
            }
            RunEvent::HostLost { host, reason } => {
                let message = format!("host `{host}` left the run: {reason}; its unfinished files run elsewhere");
                self.warn(&message);
                self.agg.lost_hosts.push((host.to_string(), reason.clone()));
            }
            RunEvent::FileStarted { slot, path, .. } => {
                self.running.insert(*slot, path.clone());
            }
            RunEvent::FileRequeued { path, .. } => self.running.retain(|_, p| p != path),
            RunEvent::ExampleFinished { .. } | RunEvent::FileRetrying { .. } => {}
        }
    }

    /// Writes the report files and prints the summary. The totals decide the exit code: a
    /// report that could not be written fails the run (a CI job must not end green without it).
    pub fn finish(mut self) -> Totals {
        // Batches a stop left without an end.
        let mut unended: Vec<Batch> = self.batches.drain().map(|(_, b)| b).collect();
        unended.sort_by_key(|b| b.slot.id);
        self.agg.batches.extend(unended);
        self.agg.add_unfinished();
        // Paths are unique (pieces of a split file are one entry by now).
        self.agg.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let framework = self.config.framework;
        // JUnit first: a JUnit file that could not be written already counts in the verdict the
        // JSON report states.
        if let Some(path) = &self.config.junit {
            if let Err(err) = write_file(path, &|out| junit::write(framework, &self.agg, out)) {
                self.agg.unwritten.push(format!("failed to write the JUnit report to {}: {err}", path.display()));
            }
        }
        if let Some(path) = &self.config.report_json {
            let totals = Totals::of(&self.agg);
            if let Err(err) = write_file(path, &|out| json::write(framework, &self.agg, &totals, out)) {
                self.agg.unwritten.push(format!("failed to write the JSON report to {}: {err}", path.display()));
            }
        }
        // The histories help the next run plan; failing to keep them is a warning, not a verdict.
        let warn = |what: &str, path: &Path, result: std::io::Result<()>| {
            if let Err(err) = result {
                self.display.warn(&format!("failed to write the {what} to {}: {err}", path.display()));
            }
        };
        let updates = runtime_log::updates(&self.agg.files);
        if let (false, Some(path)) = (updates.is_empty(), self.config.runtime_log.clone()) {
            let text = runtime_log::merged(&path, updates);
            warn("runtime log", &path, write_file(&path, &|out| std::io::Write::write_all(out, text.as_bytes())));
        }
        if let Some((path, root)) = self.config.examples_log.clone() {
            if let Some(text) = examples_log::merged(&path, &root, &self.agg.files) {
                warn("examples log", &path, write_file(&path, &|out| std::io::Write::write_all(out, text.as_bytes())));
            }
        }
        // Not after an interrupted run: what it did not reach would be forgotten.
        if let (Some((path, root)), None | Some(Stop::FailFast { .. } | Stop::Timeout { .. })) = (self.config.failures_log.clone(), self.agg.stopped) {
            let text = crate::history::failures::merged(&path, &root, &self.agg.files, self.config.framework);
            warn("failures log", &path, write_file(&path, &|out| std::io::Write::write_all(out, text.as_bytes())));
        }
        let totals = Totals::of(&self.agg);
        let what = summary::Final {
            level: self.display.final_status_level(),
            details: self.display.failure_output().at_the_end(),
            slow_after: self.display.slow_after(),
            batches: self.display.verbose_rerun(),
        };
        // The annotations first: GitHub hides them in the log, and the verdict stays the last line.
        let mut text = if self.display.annotations() { summary::annotations(&self.agg) } else { String::new() };
        text.push_str(&summary::render(self.config.framework, &self.agg, &totals, &self.display.styles(), what));
        self.display.finish(&text);
        totals
    }
}

/// `testbot report merge`: the runs of several JSON reports as one — summary printed, JSON and
/// JUnit written as for a run. The totals decide the exit code.
pub fn merge_reports(
    paths: &[PathBuf],
    report_json: Option<PathBuf>,
    junit: Option<PathBuf>,
    runtime_log: Option<PathBuf>,
    flaky_fails: bool,
) -> Result<Totals, merge::MergeError> {
    let (framework, mut agg) = merge::merge(paths)?;
    agg.flaky_fails = flaky_fails;
    let display = Display::new(DisplayOptions::default());
    for warning in &agg.warnings {
        display.warn(warning);
    }
    let config = ReportConfig {
        framework,
        report_json,
        junit,
        runtime_log,
        examples_log: None,
        flaky_fails,
        failures_log: None,
        display: DisplayOptions::default(),
        runner_command: None,
        no_tests: NoTests::Pass,
        selection: None,
    };
    let reporter = Reporter {
        config,
        agg,
        display,
        run_output_seen: Default::default(),
        batches: Default::default(),
        running: BTreeMap::new(),
        failures_shown: 0,
        fail_fast_line: None,
    };
    Ok(reporter.finish())
}

/// A report file being written: buffered, and a concrete type so that the renderers' many
/// small writes are inlined copies into the buffer, not calls through `dyn Write`.
type ReportFile = std::io::BufWriter<std::fs::File>;

/// Why `path` cannot take a report (or the runtime log), found before the run starts: a run of
/// an hour must not end green with its report lost.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} to `{}`: {reason}\n  hint: {hint}", path.display())]
pub struct OutputError {
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
    pub hint: String,
}

/// Checks that a file can be written at `path` as [`write_file`] will: it is not a folder, and its
/// folder exists (or can be made, as the write would) and takes a new file. The check writes a
/// file there and removes it — the one check that holds for root too, for whom permission bits
/// stop nothing, and on read-only mounts.
pub fn check_output(what: &'static str, path: &Path) -> Result<(), OutputError> {
    let fail = |reason: String| OutputError {
        what,
        path: path.to_path_buf(),
        reason,
        hint: "give a file in a folder that exists (or can be made) and that you can write to".into(),
    };
    if path.is_dir() {
        let name = match what {
            "the JUnit report" => "junit.xml",
            "the runtime log" => "runtime.log",
            _ => "report.json",
        };
        return Err(OutputError {
            hint: format!("give a file name, e.g. `{}`", path.join(name).display()),
            ..fail("it is a directory".into())
        });
    }
    let dir = folder_of(path);
    if dir.exists() && !dir.is_dir() {
        return Err(fail(format!("`{}` is not a directory", dir.display())));
    }
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("its folder `{}` cannot be created: {e}", dir.display())))?;
    let (probe, file) = create_temp(&dir, path)
        .map_err(|e| fail(format!("its folder `{}` does not take new files: {e}", dir.display())))?;
    drop(file);
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new file beside `path` (`.NAME.testbot-PID-N.tmp`), created as any file is: mode 0666 less
/// the umask (tempfile's 0600 would leave a report that CI's other users cannot read).
fn create_temp(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.testbot-{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Atomically: a reader (or a crash) never sees half a file. `render` writes it, buffered. An
/// error names no temporary file: the caller names the path the user gave.
fn write_file(path: &Path, render: &dyn Fn(&mut ReportFile) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = folder_of(path);
    std::fs::create_dir_all(&dir)?;
    let (temp, file) = create_temp(&dir, path)?;
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        render(&mut out)?;
        out.flush()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The file a runner argument names: `spec/a_spec.rb[1:2]` and `spec/a_spec.rb:12:30` →
/// `spec/a_spec.rb`.
pub(crate) fn batch_file(argument: &str) -> &str {
    if let (Some(open), true) = (argument.find('['), argument.ends_with(']')) {
        return &argument[..open];
    }
    let mut file = argument;
    while let Some((head, tail)) = file.rsplit_once(':') {
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        file = head;
    }
    file
}

pub(crate) fn count(files: &[FileReport], status: ExampleStatus) -> usize {
    files.iter().map(|f| f.count(status)).sum()
}

/// `testbot hosts` prints its table here, like every other report; `copy_bytes` is the size of
/// the project's copy on a host, if known.
pub fn print_hosts(checks: &[crate::fleet::remote::HostCheck], copy_bytes: Option<u64>) {
    term::out(&hosts::render(checks, copy_bytes));
}

/// `testbot exec`: each place's output, its lines prefixed with the place, then one line each
/// for the places where it failed.
pub fn print_exec(outcomes: &[crate::fleet::exec::ExecOutcome]) {
    term::out(&exec_text(outcomes));
}

fn exec_text(outcomes: &[crate::fleet::exec::ExecOutcome]) -> String {
    use std::fmt::Write;
    let width = outcomes.iter().map(|o| o.place.len()).max().unwrap_or(0);
    let mut out = String::new();
    for o in outcomes {
        if let Ok(done) = &o.result {
            for line in done.output.lines() {
                let _ = writeln!(out, "{:<width$} | {line}", o.place);
            }
        }
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Ok(done) => done
                .failure("the command")
                .map(|why| format!("{}: {}", o.place, why.lines().next().unwrap_or("").trim_end_matches(':'))),
            Err(why) => Some(format!("{}: {why}", o.place)),
        })
        .collect();
    if failed.is_empty() {
        let places: Vec<&str> = outcomes.iter().map(|o| o.place.as_str()).collect();
        let _ = writeln!(out, "succeeded on all {}: {}", places.len(), places.join(", "));
    } else {
        let _ = writeln!(out, "failed on {} of {}:", failed.len(), outcomes.len());
        for f in failed {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

/// `testbot list`: the files, one a line: expected seconds, a tab, the path (`cut -f2-`).
pub fn print_list(files: &[crate::schedule::FileEstimate]) {
    term::out(&list_text(files));
}

fn list_text(files: &[crate::schedule::FileEstimate]) -> String {
    files.iter().map(|f| format!("{:.3}\t{}\n", f.seconds, f.path)).collect()
}

/// What `testbot init` found and wrote.
pub fn print_init(summary: &str) {
    term::out(summary);
}

/// A line of a command's own, on stdout (`--only-failures` with nothing to rerun).
pub fn print_note(note: &str) {
    term::out(&format!("testbot: {note}\n"));
}

/// `testbot completions SHELL`: the script, for the shell to source.
pub fn print_completions(script: &str) {
    term::out(script);
}

/// `testbot sync` prints its lines here.
pub fn print_sync(reports: &[crate::fleet::remote::SyncReport]) {
    term::out(&sync::render(reports));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_output_path_must_be_a_file_in_a_folder_that_takes_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_output("the JSON report", dir.path()).unwrap_err();
        let shown = dir.path().display();
        assert_eq!(err.to_string(), format!("cannot write the JSON report to `{shown}`: it is a directory\n  hint: give a file name, e.g. `{shown}/report.json`"));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = check_output("the JUnit report", &file.join("junit.xml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write the JUnit report to `{}/junit.xml`: `{}` is not a directory\n  hint: give a file in a folder that exists (or can be made) and that you can write to",
                file.display(),
                file.display()
            )
        );
        // A folder that is to come is made, as the write would; the probe leaves nothing behind.
        let later = dir.path().join("reports/run.json");
        check_output("the JSON report", &later).unwrap();
        assert_eq!(std::fs::read_dir(later.parent().unwrap()).unwrap().count(), 0);
    }

    #[test]
    fn a_report_is_written_whole_with_the_umask_and_no_temporary_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        write_file(&path, &|out| std::io::Write::write_all(out, b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        // What the umask lets a new file have, as `File::create` gets it.
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
        // A render that fails leaves the old file and no temporary.
        let failed = write_file(&path, &|_| Err(std::io::Error::other("boom")));
        assert_eq!(failed.unwrap_err().to_string(), "boom");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_stopped_runs_unfinished_files_are_each_reported_once_as_not_run() {
        let report = |path: &str| FileReport { path: path.into(), slot: None, seconds: 1.0, expected_seconds: 1.0, examples: vec![], error: None, output: String::new() };
        let planned: Vec<String> = ["spec/a_spec.rb", "spec/b_spec.rb", "spec/c_spec.rb"].map(String::from).to_vec();
        for (stop, kind) in [(Stop::Interrupted, "interrupted"), (Stop::Timeout { seconds: 30.0 }, "timed out")] {
            let mut agg = Aggregate { total_files: 3, planned: planned.clone(), stopped: Some(stop), ..Default::default() };
            agg.files.push(report("spec/b_spec.rb"));
            agg.add_unfinished();
            agg.files.sort_by(|a, b| a.path.cmp(&b.path));
            let files: Vec<(&str, Option<&str>)> = agg.files.iter().map(|f| (f.path.as_str(), f.error.as_ref().map(|e| e.kind()))).collect();
            assert_eq!(files, [("spec/a_spec.rb", Some("not run")), ("spec/b_spec.rb", None), ("spec/c_spec.rb", Some("not run"))]);
            assert!(agg.files[0].error.as_ref().unwrap().message().starts_with(kind), "{:?}", agg.files[0].error);
        }
        // A run that was not stopped has every file already.
        let mut agg = Aggregate { total_files: 3, planned, ..Default::default() };
        agg.add_unfinished();
        assert!(agg.files.is_empty());
    }

    #[test]
    fn a_batch_argument_names_its_file() {
        assert_eq!(batch_file("spec/a_spec.rb"), "spec/a_spec.rb");
        assert_eq!(batch_file("spec/a_spec.rb[1:2,1:3]"), "spec/a_spec.rb");
        assert_eq!(batch_file("spec/a_spec.rb:12:30"), "spec/a_spec.rb");
        assert_eq!(batch_file("spec/a:b_spec.rb"), "spec/a:b_spec.rb");
    }

    #[test]
    fn list_prints_seconds_then_the_path() {
        let files = [
            crate::schedule::FileEstimate { path: "spec/a b_spec.rb".into(), seconds: 1.23456, known: true },
            crate::schedule::FileEstimate { path: "spec/c_spec.rb".into(), seconds: 0.01, known: false },
        ];
        assert_eq!(list_text(&files), "1.235\tspec/a b_spec.rb\n0.010\tspec/c_spec.rb\n");
    }
}
