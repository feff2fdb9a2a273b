//! Everything a person or a tool reads about a run, built from events alone: the live display,
//! the final summary, the JSON report, the JUnit file and the runtime history.

mod display;
pub mod examples_log;
pub mod hosts;
mod json;
mod junit;
pub mod merge;
mod runtime_log;
mod summary;
pub mod sync;

pub use summary::Totals;

use crate::events::{ExampleStatus, FileReport, RunEvent, SlotInfo, Stop};
use crate::framework::Framework;
use display::Display;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct ReportConfig {
    pub framework: Framework,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Where the runtime history is merged after the run; None: nowhere (`report merge`).
    pub runtime_log: Option<PathBuf>,
    /// Where the examples of long files are recorded (`examples_log`), and the project root.
    pub examples_log: Option<(PathBuf, PathBuf)>,
    /// `--flaky-fails`: an example that passed only on a retry fails the run.
    pub flaky_fails: bool,
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
    pub files: Vec<FileReport>,
    pub batch_errors: Vec<BatchError>,
    /// Busy seconds per slot id.
    pub busy: BTreeMap<usize, f64>,
    pub wall_seconds: f64,
    pub stopped: Option<Stop>,
    pub flaky_fails: bool,
    pub warnings: Vec<String>,
    /// Hosts that left the run, with why.
    pub lost_hosts: Vec<(String, String)>,
}

pub struct Reporter {
    config: ReportConfig,
    agg: Aggregate,
    display: Display,
}

impl Reporter {
    pub fn new(config: ReportConfig) -> Reporter {
        let agg = Aggregate { flaky_fails: config.flaky_fails, ..Aggregate::default() };
        Reporter { display: Display::new(config.framework), config, agg }
    }

    pub fn warn(&mut self, message: &str) {
        self.display.warn(message);
        self.agg.warnings.push(message.to_string());
    }

    /// A signal stopped the run before any batch ran, while it was `doing` something: say so,
    /// with what had been done (`done`, a line each), after what was running there was stopped.
    pub fn interrupted_before_run(&mut self, doing: &str, done: &[String]) {
        self.display.line(&format!("interrupted while {doing}: no test ran; what was running there was stopped"));
        for line in done {
            self.display.line(&format!("  {line}"));
        }
    }

    /// The run is stopping early; say why while the batches wind down.
    pub fn stopping(&mut self, why: Stop) {
        let text = match why {
            Stop::Interrupted => "interrupted: stopping the running batches (Ctrl-C again to stop at once)".to_string(),
            Stop::FailFast { failures } => {
                format!("fail-fast: {failures} failure(s) reached, stopping the running batches")
            }
            Stop::Timeout { seconds } => format!("timeout: the run's limit of {seconds:.0}s passed, stopping the running batches"),
        };
        self.display.line(&text);
    }

    /// `handle` for an event the caller is done with: a file's report is kept, not copied.
    pub fn record(&mut self, event: RunEvent) {
        match event {
            RunEvent::FileFinished(report) => {
                self.display.file_finished(&report);
                self.agg.files.push(*report);
            }
            event => self.handle(&event),
        }
    }

    pub fn handle(&mut self, event: &RunEvent) {
        self.display.event(event);
        match event {
            RunEvent::RunStarted { files, slots, expected_seconds, .. } => {
                self.agg.total_files = *files;
                self.agg.slots = slots.clone();
                self.agg.expected_seconds = *expected_seconds;
                for s in slots {
                    self.agg.busy.insert(s.id, 0.0);
                }
            }
            RunEvent::FileFinished(report) => self.agg.files.push((**report).clone()),
            RunEvent::ErrorOutsideExamples { slot, message, output } => self.agg.batch_errors.push(BatchError {
                slot: self.agg.slots.iter().find(|s| s.id == *slot).cloned(),
                message: message.clone(),
                output: output.clone(),
            }),
            RunEvent::BatchFinished { slot, seconds } => *self.agg.busy.entry(*slot).or_default() += seconds,
            RunEvent::RunFinished { wall_seconds, stopped } => {
                self.agg.wall_seconds = *wall_seconds;
                self.agg.stopped = *stopped;
            }
            RunEvent::HostLost { host, reason } => {
                let message = format!("host `{host}` left the run: {reason}; its unfinished files run elsewhere");
                self.warn(&message);
                self.agg.lost_hosts.push((host.to_string(), reason.clone()));
            }
            RunEvent::BatchStarted { .. }
            | RunEvent::ExampleFinished { .. }
            | RunEvent::FileRequeued { .. }
            | RunEvent::FileRetrying { .. } => {}
        }
    }

    /// Prints the summary and writes the report files. The totals decide the exit code.
    pub fn finish(mut self) -> Totals {
        // Paths are unique (pieces of a split file are one entry by now).
        self.agg.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let totals = Totals::of(&self.agg);
        let write = |what: &str, path: &PathBuf, render: &dyn Fn(&mut ReportFile) -> std::io::Result<()>| {
            if let Err(err) = write_file(path, render) {
                self.display.warn(&format!("failed to write the {what} to {}: {err}", path.display()));
            }
        };
        let framework = self.config.framework;
        if let Some(path) = &self.config.report_json {
            write("JSON report", path, &|out| json::write(framework, &self.agg, &totals, out));
        }
        if let Some(path) = &self.config.junit {
            write("JUnit report", path, &|out| junit::write(framework, &self.agg, out));
        }
        let updates = runtime_log::updates(&self.agg);
        if let (false, Some(path)) = (updates.is_empty(), self.config.runtime_log.clone()) {
            let text = runtime_log::merged(&path, updates);
            write("runtime log", &path, &|out| std::io::Write::write_all(out, text.as_bytes()));
        }
        if let Some((path, root)) = self.config.examples_log.clone() {
            if let Some(text) = examples_log::merged(&path, &root, &self.agg) {
                write("examples log", &path, &|out| std::io::Write::write_all(out, text.as_bytes()));
            }
        }
        self.display.finish(&summary::render(self.config.framework, &self.agg, &totals, self.display.styles()));
        totals
    }
}

/// `testbot report merge`: the runs of several JSON reports as one — summary printed, JSON and
/// JUnit written as for a run. The totals decide the exit code.
pub fn merge_reports(
    paths: &[PathBuf],
    report_json: Option<PathBuf>,
    junit: Option<PathBuf>,
    flaky_fails: bool,
) -> Result<Totals, merge::MergeError> {
    let (framework, mut agg) = merge::merge(paths)?;
    agg.flaky_fails = flaky_fails;
    let display = Display::new(framework);
    for warning in &agg.warnings {
        display.warn(warning);
    }
    let config = ReportConfig { framework, report_json, junit, runtime_log: None, examples_log: None, flaky_fails };
    Ok(Reporter { config, agg, display }.finish())
}

/// A report file being written: buffered, and a concrete type so that the renderers' many
/// small writes are inlined copies into the buffer, not calls through `dyn Write`.
type ReportFile = std::io::BufWriter<tempfile::NamedTempFile>;

/// Atomically: a reader (or a crash) never sees half a file. `render` writes it, buffered.
fn write_file(path: &PathBuf, render: &dyn Fn(&mut ReportFile) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let tmp = tempfile::NamedTempFile::new_in(&dir)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, tmp);
    render(&mut out)?;
    out.flush()?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) fn count(files: &[FileReport], status: ExampleStatus) -> usize {
    files.iter().map(|f| f.count(status)).sum()
}

/// `testbot hosts` prints its table here, like every other report.
pub fn print_hosts(checks: &[crate::run::remote::HostCheck]) {
    print!("{}", hosts::render(checks));
}

/// `testbot exec`: each place's output, its lines prefixed with the place, then one line each
/// for the places where it failed.
pub fn print_exec(outcomes: &[crate::run::exec::ExecOutcome]) {
    print!("{}", exec_text(outcomes));
}

fn exec_text(outcomes: &[crate::run::exec::ExecOutcome]) -> String {
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

/// What `testbot init` found and wrote.
pub fn print_init(summary: &str) {
    print!("{summary}");
}

/// `testbot sync` prints its lines here.
pub fn print_sync(reports: &[crate::run::remote::SyncReport]) {
    print!("{}", sync::render(reports));
}
