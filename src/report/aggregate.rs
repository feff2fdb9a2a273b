//! The run's facts — totals' inputs, files, failures, slots, batches, warnings — folded from
//! its events in one place. The summary, JSON and JUnit reports and the histories read the
//! [`Aggregate`] at the end; nothing here prints.

use crate::events::{CoverageReport, ExampleStatus, FileReport, RunEvent, SlotInfo, Stop};
use crate::schedule::partition::Share;
use super::NoTests;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    pub estimated_by_size: HashSet<String>,
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
    /// The run's median boot (`RunEvent::RunFinished`), for the runtime history.
    pub boot_seconds: Option<f64>,
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
    pub coverage: Option<CoverageReport>,
    /// Every batch, in the order they ended: which files ran together, in which order, with
    /// which seed.
    pub batches: Vec<BatchRecord>,
    /// `--profile N` given to the runners: the summary lists the run's N slowest examples and files.
    pub profile: Option<usize>,
    /// `[project] command`: what the rerun lines start with instead of the framework's runner.
    pub runner_command: Option<String>,
    /// `--record-impact`: what each file ran, and the boot set.
    pub impact: crate::history::impact::Recorded,
    /// `[project] quarantine`: examples whose failures do not fail the run.
    pub quarantine: super::quarantine::Quarantine,
    /// Quarantined examples whose last runs (`quarantine_passes` of them) all passed cleanly,
    /// as the flaky record has them after this run.
    pub ready_to_leave: Vec<String>,
    /// `--changed`: what was selected, and why.
    pub changed: Option<crate::history::impact::select::Selection>,
}

impl Aggregate {
    /// A stopped run's planned files that have no report: each is reported as not run, with
    /// why, so that every planned file is in the reports exactly once.
    pub(crate) fn add_unfinished(&mut self) {
        let Some(stop) = self.stopped else { return };
        if self.files.len() >= self.planned.len() {
            return;
        }
        let reported: HashSet<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let unfinished: Vec<String> = self.planned.iter().filter(|p| !reported.contains(p.as_str())).cloned().collect();
        let why = unfinished_reason(stop);
        self.files.extend(unfinished.into_iter().map(|path| FileReport::not_run(path, why.clone())));
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
pub struct BatchRecord {
    pub slot: SlotInfo,
    /// The runner's arguments for its files, in order (`spec/a_spec.rb`, `spec/b_spec.rb[1:2]`).
    pub arguments: Vec<String>,
    /// The seed of its random order, when it had one.
    pub seed: Option<u64>,
    pub seconds: f64,
}

/// Every example of `status` in `files`.
pub(crate) fn count(files: &[FileReport], status: ExampleStatus) -> usize {
    files.iter().map(|f| f.count(status)).sum()
}

/// Folds the events into the [`Aggregate`], with what it keeps while the run goes on.
#[derive(Default)]
pub struct Aggregator {
    agg: Aggregate,
    /// The lines in `agg.run_output`.
    run_output_seen: HashSet<String>,
    /// The batch running on each slot (by id).
    batches: HashMap<usize, BatchRecord>,
    /// The file running on each slot (by id), from `FileStarted`.
    running: BTreeMap<usize, String>,
}

impl Aggregator {
    /// Folding starts from `agg`: the run's settings (a run), or what merged reports said.
    pub fn new(agg: Aggregate) -> Aggregator {
        Aggregator { agg, ..Aggregator::default() }
    }

    pub fn fold(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { files, planned, slots, expected_seconds, partition, estimated_by_size, .. } => {
                self.agg.total_files = *files;
                self.agg.estimated_by_size = estimated_by_size.iter().cloned().collect();
                self.agg.planned = planned.clone();
                self.agg.partition = partition.clone();
                self.agg.slots = slots.clone();
                self.agg.expected_seconds = *expected_seconds;
                self.agg.busy.extend(slots.iter().map(|s| (s.id, 0.0)));
            }
            RunEvent::FileFinished(report) => self.file_finished((**report).clone()),
            RunEvent::ErrorOutsideExamples { slot, message, output } => self.agg.batch_errors.push(BatchError {
                slot: self.agg.slots.iter().find(|s| s.id == *slot).cloned(),
                message: message.clone(),
                output: output.clone(),
            }),
            RunEvent::BatchStarted { slot, arguments, .. } => self.batch_started(slot, arguments),
            RunEvent::BatchSeed { slot, seed } => {
                if let Some(batch) = self.batches.get_mut(slot) {
                    batch.seed = Some(*seed);
                }
            }
            RunEvent::HostJoined { slots } => {
                self.agg.slots.extend(slots.iter().cloned());
                self.agg.busy.extend(slots.iter().map(|s| (s.id, 0.0)));
            }
            RunEvent::ProfileAsked { examples } => self.agg.profile = self.agg.profile.max(Some(*examples)),
            RunEvent::BatchFinished { slot, seconds } => self.batch_finished(*slot, *seconds),
            RunEvent::RunOutput { text, .. } => self.run_output(text),
            RunEvent::Coverage(report) => self.agg.coverage = Some(report.clone()),
            RunEvent::Impact { path, files, ruby } => self.agg.impact.add(path.as_deref(), files, ruby.as_deref()),
            RunEvent::Stopping(_) => self.stopping(),
            RunEvent::RunFinished { wall_seconds, stopped, boot_seconds } => {
                self.agg.wall_seconds = *wall_seconds;
                self.agg.boot_seconds = *boot_seconds;
                self.agg.stopped = *stopped;
            }
            RunEvent::HostLost { host, reason, .. } => self.agg.lost_hosts.push((host.to_string(), reason.clone())),
            RunEvent::FileStarted { slot, path, .. } => {
                self.running.insert(*slot, path.clone());
            }
            RunEvent::FileRequeued { path, .. } => self.running.retain(|_, p| p != path),
            // Warnings come worded, through `warning`; the rest is live progress only.
            RunEvent::Warning(_)
            | RunEvent::InterruptedBeforeRun { .. }
            | RunEvent::ExampleFinished { .. }
            | RunEvent::Output { .. }
            | RunEvent::Setup(_)
            | RunEvent::FileRetrying { .. } => {}
        }
    }

    /// A file's final report, kept (not copied).
    pub fn file_finished(&mut self, report: FileReport) {
        self.running.retain(|_, path| *path != report.path);
        self.agg.files.push(report);
    }

    /// A warning, as it was shown.
    pub fn warning(&mut self, message: &str) {
        self.agg.warnings.push(message.to_string());
    }

    /// A host that takes no part in the run: named again at the end of the summary.
    pub fn left_out(&mut self, host: &str) {
        self.agg.left_out_hosts.push(host.to_string());
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

    /// The facts of the whole run: batches a stop left without an end, the planned files it
    /// left unfinished (as not run), the files in path order.
    pub fn finish(mut self) -> Aggregate {
        let mut unended: Vec<BatchRecord> = self.batches.drain().map(|(_, b)| b).collect();
        unended.sort_by_key(|b| b.slot.id);
        self.agg.batches.extend(unended);
        self.agg.add_unfinished();
        // A run that takes its files as it goes (one job of a `--queue` build) plans none up
        // front: its total is the files it reported. (Every other run's files are its plan's.)
        self.agg.total_files = self.agg.total_files.max(self.agg.files.len());
        // Paths are unique (pieces of a split file are one entry by now).
        self.agg.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        self.agg
    }

    fn batch_started(&mut self, slot: &SlotInfo, arguments: &[String]) {
        let batch = BatchRecord { slot: slot.clone(), arguments: arguments.to_vec(), seed: None, seconds: 0.0 };
        if let Some(unended) = self.batches.insert(slot.id, batch) {
            self.agg.batches.push(unended);
        }
    }

    fn batch_finished(&mut self, slot: usize, seconds: f64) {
        self.running.remove(&slot);
        *self.agg.busy.entry(slot).or_default() += seconds;
        if let Some(batch) = self.batches.remove(&slot) {
            self.agg.batches.push(BatchRecord { seconds, ..batch });
        }
    }

    /// Each distinct line once, a blank line between texts.
    fn run_output(&mut self, text: &str) {
        let out = &mut self.agg.run_output;
        for line in text.lines().map(str::trim_end) {
            if line.is_empty() {
                if out.last().is_some_and(|l| !l.is_empty()) {
                    out.push(String::new());
                }
            } else if self.run_output_seen.insert(line.to_string()) {
                out.push(line.to_string());
            }
        }
        if out.last().is_some_and(|l| !l.is_empty()) {
            out.push(String::new());
        }
    }

    /// The files running when the run began to stop, each with its slot (the first stop only).
    fn stopping(&mut self) {
        if !self.agg.stopped_while_running.is_empty() {
            return;
        }
        let place = |slot: &usize| self.agg.slots.iter().find(|s| s.id == *slot).map(SlotInfo::name);
        self.agg.stopped_while_running = self.running.iter().map(|(slot, path)| (path.clone(), place(slot).unwrap_or_default())).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The facts the summary and the reports read, folded from a stopped run's events: each
    /// batch with its seed and time (one the stop left unended too), the file each slot was
    /// running at the stop, runners' text once per line, a host left out by its warning.
    #[test]
    fn the_aggregator_folds_events_into_the_runs_facts() {
        let slot = |id: usize| SlotInfo { id, host: Arc::from("local"), host_slot: id };
        let file = |path: &str| RunEvent::FileStarted { slot: 1, path: path.into(), expected_seconds: 1.0 };
        let mut aggregator = Aggregator::new(Aggregate::default());
        let events = [
            RunEvent::RunStarted {
                framework: "rspec",
                files: 3,
                planned: ["spec/a_spec.rb", "spec/b_spec.rb", "spec/c_spec.rb"].map(String::from).to_vec(),
                slots: vec![slot(1), slot(2)],
                expected_seconds: 3.0,
                estimated_by_size: Vec::new(),
                partition: None,
            },
            RunEvent::BatchStarted { slot: slot(1), files: vec!["spec/a_spec.rb".into()], arguments: vec!["spec/a_spec.rb".into()] },
            RunEvent::BatchSeed { slot: 1, seed: 7 },
            RunEvent::BatchStarted { slot: slot(2), files: vec!["spec/b_spec.rb".into()], arguments: vec!["spec/b_spec.rb[1:1]".into()] },
            file("spec/a_spec.rb"),
            RunEvent::RunOutput { slot: 1, text: "DEPRECATION: old\n".into() },
            RunEvent::RunOutput { slot: 2, text: "DEPRECATION: old\nmore\n".into() },
            RunEvent::BatchFinished { slot: 1, seconds: 1.5 },
            RunEvent::FileStarted { slot: 2, path: "spec/b_spec.rb".into(), expected_seconds: 1.0 },
            RunEvent::Stopping(Stop::Interrupted),
            RunEvent::RunFinished { wall_seconds: 2.0, stopped: Some(Stop::Interrupted), boot_seconds: None },
        ];
        for event in &events {
            aggregator.fold(event);
        }
        aggregator.left_out("far");
        let agg = aggregator.finish();
        let batches: Vec<(usize, Option<u64>, f64)> = agg.batches.iter().map(|b| (b.slot.id, b.seed, b.seconds)).collect();
        assert_eq!(batches, [(1, Some(7), 1.5), (2, None, 0.0)]);
        assert_eq!(agg.busy, [(1, 1.5), (2, 0.0)].into());
        assert_eq!(agg.stopped_while_running, [("spec/b_spec.rb".to_string(), "local/2".to_string())]);
        assert_eq!(agg.run_output, ["DEPRECATION: old", "", "more", ""]);
        assert_eq!(agg.left_out_hosts, ["far"]);
        // Planned, never reported: not run, in path order.
        let files: Vec<(&str, &str)> = agg.files.iter().map(|f| (f.path.as_str(), f.error.as_ref().unwrap().kind())).collect();
        assert_eq!(files, [("spec/a_spec.rb", "not run"), ("spec/b_spec.rb", "not run"), ("spec/c_spec.rb", "not run")]);
    }
}
