//! Everything a person or a tool reads about a run, built from events alone: the live display,
//! the final summary, the JSON report, the JUnit file and the runtime history.

mod display;
pub mod hosts;
mod json;
mod junit;
mod runtime_log;
mod summary;
pub mod sync;

pub use summary::Totals;

use crate::events::{ExampleStatus, FileReport, RunEvent, SlotInfo};
use crate::framework::Framework;
use display::Display;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct ReportConfig {
    pub framework: Framework,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub runtime_log: PathBuf,
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
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

pub struct Reporter {
    config: ReportConfig,
    agg: Aggregate,
    display: Display,
}

impl Reporter {
    pub fn new(config: ReportConfig) -> Reporter {
        Reporter { display: Display::new(config.framework), config, agg: Aggregate::default() }
    }

    pub fn warn(&mut self, message: &str) {
        self.display.warn(message);
        self.agg.warnings.push(message.to_string());
    }

    pub fn interrupted(&mut self) {
        self.display.line("interrupted: stopping the running batches (Ctrl-C again to stop at once)");
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
            RunEvent::RunFinished { wall_seconds, interrupted } => {
                self.agg.wall_seconds = *wall_seconds;
                self.agg.interrupted = *interrupted;
            }
            RunEvent::BatchStarted { .. } | RunEvent::ExampleFinished { .. } | RunEvent::FileRequeued { .. } => {}
        }
    }

    /// Prints the summary and writes the report files. The totals decide the exit code.
    pub fn finish(mut self) -> Totals {
        self.agg.files.sort_by(|a, b| a.path.cmp(&b.path));
        let totals = Totals::of(&self.agg);
        let write = |what: &str, path: &PathBuf, text: Result<String, String>| {
            let result = text.and_then(|t| write_file(path, &t).map_err(|e| e.to_string()));
            if let Err(err) = result {
                self.display.warn(&format!("failed to write the {what} to {}: {err}", path.display()));
            }
        };
        if let Some(path) = &self.config.report_json {
            write("JSON report", path, Ok(json::render(self.config.framework, &self.agg, &totals)));
        }
        if let Some(path) = &self.config.junit {
            write("JUnit report", path, junit::render(self.config.framework, &self.agg));
        }
        let updates = runtime_log::updates(&self.agg);
        if !updates.is_empty() {
            let path = self.config.runtime_log.clone();
            write("runtime log", &path, Ok(runtime_log::merged(&path, updates)));
        }
        self.display.finish(&summary::render(self.config.framework, &self.agg, &totals, self.display.styles()));
        totals
    }
}

/// Atomically: a reader (or a crash) never sees half a file.
fn write_file(path: &PathBuf, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(text.as_bytes())?;
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

/// `testbot sync` prints its lines here.
pub fn print_sync(reports: &[crate::run::remote::SyncReport]) {
    print!("{}", sync::render(reports));
}
