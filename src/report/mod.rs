//! Everything a person or a tool reads, and the only module that prints.
//!
//! The [`Reporter`] hands each run event to two consumers: the aggregator (`aggregate.rs`)
//! folds events into the run's facts — files, failures, slots, batches, warnings — and prints
//! nothing; the live display (`live/`) prints as the run goes, to the writers it is given. At
//! the end every other output reads the aggregate: totals and verdict (`totals.rs`), JUnit,
//! JSON and histories (`outputs.rs`), and the summary (`summary/`), which the live display
//! prints last. Levels, SLOW, colours, failure details and words sit under both (`status_level`,
//! `style`, `details`, `words`). `merge.rs` reads JSON reports back into one aggregate; the
//! commands without a run print through `command_output.rs`.

mod aggregate;
pub mod bisect;
mod annotations;
mod command_output;
mod details;
mod flaky;
mod impact;
pub mod escapes;
pub mod hosts;
mod json;
mod junit;
mod live;
pub mod merge;
mod outputs;
pub mod past_run;
mod repeat;
mod repeat_json;
mod status_level;
mod style;
mod summary;
pub mod sync;
pub mod term;
mod totals;
mod warning;
mod words;

pub use aggregate::{Aggregate, BatchError, BatchRecord};
pub use json::file_json;
pub use command_output::{print_completions, print_exec, print_hosts, print_init, print_list, print_note, print_sync};
pub use flaky::print_flaky;
pub use impact::{print_changed, print_changed_list};
pub use outputs::{check_output, ImpactOutput, OutputError};
pub use status_level::{DisplayOptions, FailureOutput, StatusLevel};
pub use totals::{NoTests, Totals, Verdict};
pub use repeat::{print_repeat_summary, print_repetition, print_shuffle, Failed, RunResult};
pub use repeat_json::write_repeat_report;

use crate::events::{RunEvent, Warning};
use crate::framework::Framework;
use aggregate::Aggregator;
use crate::history::quarantine;
use live::{Display, LiveOptions, Screen};
use outputs::OutputFiles;
use std::path::PathBuf;
use summary::Final;

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
    /// `--record-impact`: where the impact map goes.
    pub impact_map: Option<outputs::ImpactOutput>,
    /// `--changed`: what it selected, and why.
    pub changed: Option<crate::history::impact::select::Selection>,
    /// Where flaky and quarantined examples are recorded across runs; None: nowhere.
    pub flaky_log: Option<PathBuf>,
    /// `[project] quarantine` and `quarantine_passes`.
    pub quarantine: quarantine::Quarantine,
}

impl DisplayOptions {
    /// The live display's share of the options.
    pub(crate) fn live(&self) -> LiveOptions {
        LiveOptions {
            // A line per example goes under its file's line: documentation shows every file's.
            status_level: self.status_level.or(self.documentation.then_some(StatusLevel::Pass)),
            failure_output: self.failure_output,
            success_output: self.success_output,
            documentation: self.documentation,
            slow_after: self.slow_after,
            heartbeat: self.heartbeat,
            streamed: self.streamed,
        }
    }

    /// The final summary's share of the options.
    pub(crate) fn summary(&self) -> Final {
        Final {
            level: self.final_status_level,
            details: self.failure_output.at_the_end(),
            success_output: self.success_output.at_the_end(),
            slow_after: self.slow_after,
            batches: self.verbose_rerun,
            annotations: self.annotations,
            streamed: self.streamed,
        }
    }
}

/// Hands each event to the aggregator and the live display; at the end, writes the files and
/// has the summary printed.
pub struct Reporter {
    framework: Framework,
    files: OutputFiles,
    aggregator: Aggregator,
    live: Display,
    /// How much the final summary says.
    summary: Final,
}

impl Reporter {
    pub fn new(config: ReportConfig) -> Reporter {
        let agg = Aggregate {
            flaky_fails: config.flaky_fails,
            runner_command: config.runner_command,
            no_tests: config.no_tests,
            selection: config.selection,
            changed: config.changed,
            quarantine: config.quarantine,
            ..Aggregate::default()
        };
        let files = OutputFiles {
            report_json: config.report_json,
            junit: config.junit,
            runtime_log: config.runtime_log,
            examples_log: config.examples_log,
            failures_log: config.failures_log,
            impact_map: config.impact_map,
            flaky_log: config.flaky_log,
        };
        let live = Display::new(config.display.live(), Screen::terminal());
        live.set_quarantine(agg.quarantine.clone());
        Reporter {
            framework: config.framework,
            files,
            aggregator: Aggregator::new(agg),
            live,
            summary: config.display.summary(),
        }
    }

    /// A warning: shown, and kept for the reports.
    fn warn(&mut self, message: &str) {
        self.live.warn(message);
        self.aggregator.warning(message);
    }

    /// The run was stopped before any batch ran: see [`Aggregator::stopped_before_run`].
    pub fn stopped_before_run(&mut self, selected: Vec<String>) {
        self.aggregator.stopped_before_run(selected);
    }

    /// `handle` for an event the caller is done with: a file's report is kept, not copied.
    pub fn record(&mut self, event: RunEvent) {
        match event {
            RunEvent::FileFinished(report) => {
                self.live.file_finished(&report);
                self.aggregator.file_finished(*report);
            }
            event => self.handle(&event),
        }
    }

    pub fn handle(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Warning(warning) => {
                if let Warning::HostLeftOut { host, .. } = warning {
                    self.aggregator.left_out(host);
                }
                self.warn(&warning.to_string())
            }
            event => {
                self.live.event(event);
                self.aggregator.fold(event);
                for message in warnings_carried_by(event) {
                    self.warn(&message);
                }
            }
        }
    }

    /// Writes the report files and prints the summary. The totals decide the exit code: a
    /// report that could not be written fails the run (a CI job must not end green without it).
    pub fn finish(self) -> Totals {
        self.finish_run().0
    }

    /// `finish`, and what failed the run (for `--repeat`'s summary).
    pub fn finish_run(self) -> (Totals, Vec<Failed>) {
        let Reporter { framework, files, aggregator, mut live, summary } = self;
        let mut agg = aggregator.finish();
        let failed = repeat::failed_in(&agg);
        files.write_reports(framework, &mut agg);
        for warning in files.write_histories(framework, &agg).into_iter().chain(files.write_flaky_record(&mut agg)) {
            live.warn(&warning);
        }
        let totals = Totals::of(&agg);
        live.finish(&summary::render(framework, &agg, &totals, &live.styles(), summary));
        (totals, failed)
    }
}

/// The warnings an event other than `Warning` brings, worded: a host that left the run, hosts
/// whose coverage results could not be brought back.
fn warnings_carried_by(event: &RunEvent) -> Vec<String> {
    match event {
        RunEvent::HostLost { host, reason, others_remain } => {
            // Said only when true: with no host left, its files are counted as not run below.
            let then = if *others_remain { "its unfinished files run on the hosts left" } else { "no host is left to run its unfinished files" };
            vec![format!("host `{host}` left the run: {reason}; {then}")]
        }
        RunEvent::Coverage(report) => report.warnings.iter().map(|w| format!("coverage: {w}")).collect(),
        _ => Vec::new(),
    }
}

/// `testbot report merge`: the runs of several JSON reports as one — summary printed, JSON and
/// JUnit written as for a run. The totals decide the exit code.
pub fn merge_json_reports(
    paths: &[PathBuf],
    report_json: Option<PathBuf>,
    junit: Option<PathBuf>,
    runtime_log: Option<PathBuf>,
    flaky_fails: bool,
) -> Result<Totals, merge::MergeError> {
    let (framework, mut agg) = merge::read_runs(paths)?;
    agg.flaky_fails = flaky_fails;
    let files = OutputFiles { report_json, junit, runtime_log, examples_log: None, failures_log: None, impact_map: None, flaky_log: None };
    Ok(report_merged(framework, agg, files))
}

/// What `testbot report --queue` read of a build: the plan's framework and files, each file's
/// result (its JSON), and the jobs' coverage merged (None: they stored none).
pub struct QueueBuild<'a> {
    pub framework: &'a str,
    /// Each planned file and the number of its entries (pieces).
    pub planned: &'a [(String, usize)],
    pub results: Vec<(String, String)>,
    pub coverage: Option<crate::events::CoverageReport>,
}

/// `testbot report --queue`: the results the jobs of a build stored (each file's JSON), as one
/// run: one summary, one JSON report, one JUnit file. A planned file with no result fails it.
pub fn report_queue_build(build: QueueBuild<'_>, report_json: Option<PathBuf>, junit: Option<PathBuf>) -> Result<Totals, merge::MergeError> {
    let (framework, mut agg) = merge::queue_run(build.framework, build.planned, build.results)?;
    agg.coverage = build.coverage;
    let files = OutputFiles { report_json, junit, runtime_log: None, examples_log: None, failures_log: None, impact_map: None, flaky_log: None };
    Ok(report_merged(framework, agg, files))
}

/// Runs read back as one: their warnings, then the summary and the files asked for.
fn report_merged(framework: Framework, agg: Aggregate, files: OutputFiles) -> Totals {
    let options = DisplayOptions::default();
    let live = Display::new(options.live(), Screen::terminal());
    for warning in &agg.warnings {
        live.warn(warning);
    }
    let reporter = Reporter { framework, files, aggregator: Aggregator::new(agg), live, summary: options.summary() };
    reporter.finish()
}
