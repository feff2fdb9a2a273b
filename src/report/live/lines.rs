//! The lines the live display prints as events come: the run's first line, a line per file
//! (with its failures' details), retries, errors outside examples, the seed, why the run stops.

use super::{Held, Live};
use crate::report::details::{file_counts, file_details};
use crate::plural::plural;
use crate::report::words::status_label;
use crate::decimal::Fixed;
use crate::events::{ExampleStatus, FileError, FileReport, FileStatus, Stop};
use std::time::Instant;
use std::fmt::Write;

/// At most this many failed examples are listed under a `TRY n FAIL` line.
const MAX_TRY_FAILURES: usize = 5;

impl Live {
    /// `testbot: running 12 files on 4 slots (local ×2, box ×2) with rspec`.
    pub(super) fn run_started(&mut self, framework: &str, files: usize) {
        let mut hosts: Vec<(String, usize)> = Vec::new();
        for s in &self.slots {
            match hosts.iter_mut().find(|(h, _)| **h == *s.host) {
                Some((_, n)) => *n += 1,
                None => hosts.push((s.host.to_string(), 1)),
            }
        }
        let hosts: Vec<String> = hosts.iter().map(|(h, n)| format!("{h} ×{n}")).collect();
        let text = format!(
            "{} running {} on {} ({}) with {framework}",
            self.styles.bold.apply_to("testbot:"),
            plural(files, "file", "files"),
            plural(self.slots.len(), "slot", "slots"),
            hosts.join(", ")
        );
        self.line(&text);
    }

    pub(super) fn requeued(&mut self, path: &str, reason: &str, discarded_examples: usize) {
        self.examples = self.examples.saturating_sub(discarded_examples);
        self.running.retain(|_, r| r.path != *path);
        if !self.level.shows_retries() {
            return;
        }
        // The files of one batch sent back for one reason come one after another: one line.
        if let Some(Held::Retry { reason: held, count, .. }) = &mut self.held {
            if held == reason {
                *count += 1;
                self.held_at = Instant::now();
                return;
            }
        }
        self.say_held();
        self.held = Some(Held::Retry { first: path.to_string(), reason: reason.to_string(), count: 1 });
        self.held_at = Instant::now();
    }

    /// A file not run: held while more files come that did not run for the same reason, then
    /// said in one line with their count (the summary says it once more, the JSON lists each).
    fn not_run(&mut self, report: &FileReport, why: &str) {
        if let Some(Held::NotRun { first, count, done }) = &mut self.held {
            if first.error.as_ref().is_some_and(|e| e.message() == why) {
                (*count, *done) = (*count + 1, self.files_done);
                self.held_at = Instant::now();
                return;
            }
        }
        self.say_held();
        self.held = Some(Held::NotRun { first: report.clone(), count: 1, done: self.files_done });
        self.held_at = Instant::now();
    }

    /// The held lines of one cause, said: as they would have been for one file, or one line
    /// with the count for several.
    pub(super) fn say_held(&mut self) {
        match self.held.take() {
            None => {}
            Some(Held::Retry { first, reason, count: 1 }) => {
                let text = format!("{} {first}: {reason}", self.styles.pending.apply_to(format!("{:>8}", "RETRY")));
                self.line(&text);
            }
            Some(Held::Retry { first, reason, count }) => {
                let label = self.styles.pending.apply_to(format!("{:>8}", "RETRY"));
                let text = format!("{label} {count} files of one batch run again ({first} and {} more): {reason}", count - 1);
                self.line(&text);
            }
            Some(Held::NotRun { first, count: 1, done }) => {
                let now = std::mem::replace(&mut self.files_done, done);
                self.file_line(&first);
                self.files_done = now;
            }
            Some(Held::NotRun { first, count, done }) => self.not_run_line(&first, count, done),
        }
    }

    /// `   ERROR [   0.00s] (346/346) 346 files not run: no host was left to run it (…)`.
    fn not_run_line(&mut self, first: &FileReport, count: usize, done: usize) {
        let status = first.status();
        let label = self.styles.of_status(status).apply_to(format!("{:>8}", status_label(status)));
        let mut text = format!("{label} [{:>7}s] ", Fixed::new(0.0, 2));
        if !self.screen.bar {
            let width = self.files_total.max(1).ilog10() as usize + 1;
            let _ = write!(text, "({done:>width$}/{}) ", self.files_total);
        }
        let why = first.error.as_ref().map(|e| e.message()).unwrap_or_default();
        let _ = write!(text, "{count} files not run: {why} {}", self.styles.dim.apply_to(format_args!("({} and {} more)", first.path, count - 1)));
        self.line(&text);
    }

    pub(super) fn retrying(&mut self, path: &str, failed: usize, attempt: u32, failures: &[String]) {
        // Their next try counts again.
        self.examples = self.examples.saturating_sub(failed);
        self.failures = self.failures.saturating_sub(failed);
        if !self.level.shows_retries() {
            return;
        }
        let what = if failed == 1 { "failed example" } else { "failed examples" };
        let mut text = format!(
            "{} {path}: {failed} {what}, trying again",
            self.styles.pending.apply_to(format!("{:>10}", format!("TRY {attempt} FAIL")))
        );
        for failure in failures.iter().take(MAX_TRY_FAILURES) {
            let _ = write!(text, "\n{:>10} {failure}", "");
        }
        if failures.len() > MAX_TRY_FAILURES {
            let _ = write!(text, "\n{:>10} … and {} more", "", failures.len() - MAX_TRY_FAILURES);
        }
        self.line(&text);
    }

    pub(super) fn error_outside_examples(&mut self, message: &str, output: &str) {
        if !self.level.shows_failures() {
            return;
        }
        let mut text = format!("{} {}", self.styles.fail.apply_to(format!("{:>8}", "ERROR")), message.trim());
        if !output.trim().is_empty() {
            text.push_str(&format!("\n  {}\n", self.styles.dim.apply_to("output:")));
            for l in output.trim_end().lines() {
                text.push_str(&format!("  | {l}\n"));
            }
        }
        self.line(&text);
    }

    /// Random order: the first seed is said as the run goes (the summary has them all).
    pub(super) fn seed(&mut self, slot: usize, seed: u64) {
        if self.seed.is_some() {
            return;
        }
        self.seed = Some(seed);
        let place = self.slots.iter().find(|s| s.id == slot).map(|s| s.name()).unwrap_or_default();
        let text = format!("{} random order, seed {seed} ({place}'s batch)", self.styles.bold.apply_to("testbot:"));
        self.line(&text);
    }

    /// A file's report: its line (when the level shows it), then the fail-fast line may follow.
    pub(super) fn file_finished(&mut self, report: &FileReport) {
        self.files_done += 1;
        // A run that takes its files as it goes (a `--queue` job) planned none: its total is
        // what it has so far.
        self.files_total = self.files_total.max(self.files_done);
        self.expected_done += report.expected_seconds;
        self.seconds_done += report.seconds;
        if let Some(slot) = &report.slot {
            if self.running.get(&slot.id).is_some_and(|r| r.path == report.path) {
                self.running.remove(&slot.id);
            }
        }
        match &report.error {
            Some(FileError::NotRun(why)) if self.level.shows_file(report.status()) => self.not_run(report, why),
            _ => self.file_line(report),
        }
        self.failures_shown += report.count(ExampleStatus::Failed) + usize::from(report.error.is_some());
        self.say_fail_fast(false);
    }

    /// `    FAIL [   0.30s] (1/2) spec/a_spec.rb (3 examples, 1 failure)`, its pending
    /// examples and its failures' details, as far as the status level shows them.
    fn file_line(&mut self, report: &FileReport) {
        let status = report.status();
        let shown = self.level.shows_file(status);
        let pending = if self.level.shows_pending() && !self.options.documentation { report.count(ExampleStatus::Pending) } else { 0 };
        let success_output = self.success_output(report);
        if !shown && pending == 0 {
            if let Some(output) = success_output {
                self.line(&output);
            }
            return;
        }
        let quarantined = if self.quarantine.is_empty() { 0 } else { self.quarantine.failures(std::slice::from_ref(report)) };
        let label = match status {
            // Every failure of the file is quarantined: it does not fail the run.
            FileStatus::Failed if quarantined == report.count(ExampleStatus::Failed) => self.styles.pending.apply_to(format!("{:>8}", "QUARANTINED")),
            _ => self.styles.of_status(status).apply_to(format!("{:>8}", status_label(status))),
        };
        // One line for every file of a run: built in one go (20,000 files, docs/benchmarks.md).
        let what = what_of(report, quarantined);
        let mut head = String::with_capacity(report.path.len() + what.len() + 48);
        let _ = write!(head, "{label} [{:>7}s] ", Fixed::new(report.seconds, 2));
        if !self.screen.bar {
            // Plain lines (CI logs) say how far the run is, as nextest's `(12/300)` does.
            let width = self.files_total.max(1).ilog10() as usize + 1;
            let _ = write!(head, "({:>width$}/{}) ", self.files_done, self.files_total);
        }
        let _ = write!(head, "{} {}", report.path, self.styles.dim.apply_to(format_args!("({what})")));
        for ex in report.examples.iter().filter(|e| e.status == ExampleStatus::Pending && pending > 0) {
            let _ = write!(
                head,
                "\n{} {} {}",
                self.styles.pending.apply_to(format!("{:>8}", "PENDING")),
                ex.description,
                self.styles.dim.apply_to(format_args!("({})", ex.location))
            );
        }
        if self.options.documentation && shown {
            self.example_lines(report, &mut head);
        }
        if let Some(output) = success_output {
            head = format!("{head}\n{output}");
        }
        if status != FileStatus::Passed && self.options.failure_output.immediate() {
            let details = file_details(report, &self.styles, self.options.streamed);
            self.line(&format!("{head}\n{details}"));
        } else {
            self.line(&head);
        }
    }

    /// The run is stopping early: the status area goes, and the lines that follow (what is
    /// stopped, the summary) are not drawn over; then why, while the batches wind down.
    pub(super) fn stopping(&mut self, why: Stop) {
        self.clear();
        self.quiet = true;
        let text = match why {
            Stop::Interrupted => "interrupted: stopping the running batches (Ctrl-C again to stop at once)".to_string(),
            Stop::FailFast { failures } => {
                let text = format!("fail-fast: {failures} failure(s) reached, stopping the running batches");
                self.fail_fast_line = Some((failures, text));
                return self.say_fail_fast(false);
            }
            Stop::Timeout { seconds } => format!("timeout: the run's limit of {seconds:.0}s passed, stopping the running batches"),
        };
        self.line(&text);
    }

    /// The held fail-fast line, once the failures that reached it are shown (or `anyway`: the
    /// run is over, or they never will be).
    pub(super) fn say_fail_fast(&mut self, anyway: bool) {
        if let Some((failures, text)) = self.fail_fast_line.take() {
            if anyway || self.failures_shown >= failures {
                self.line(&text);
            } else {
                self.fail_fast_line = Some((failures, text));
            }
        }
    }

    /// A signal stopped the run before any batch ran, while it was `doing` something: say so,
    /// with what had been done (`done`, a line each), after what was running there was stopped.
    pub(super) fn interrupted_before_run(&mut self, doing: &str, done: &[String]) {
        self.line(&format!("interrupted while {doing}: no test ran; what was running there was stopped"));
        for line in done {
            self.line(&format!("  {line}"));
        }
    }
}

/// What a file's line says in brackets: its counts (or its error's kind), flaky examples,
/// failed tries.
fn what_of(report: &FileReport, quarantined: usize) -> String {
    let what = match &report.error {
        Some(e) => e.kind().to_string(),
        None => file_counts(report),
    };
    let flaky = report.flaky();
    let what = if flaky > 0 { format!("{what}, {flaky} flaky") } else { what };
    let what = if quarantined > 0 { format!("{what}, {quarantined} quarantined") } else { what };
    match tries_failed(report) {
        Some(tries) => format!("{what}, failed {tries} of {tries} tries"),
        None => what,
    }
}

/// How many tries a file's failed examples failed, when they were retried (`--retries`): each
/// failed every try it had.
fn tries_failed(report: &FileReport) -> Option<usize> {
    report
        .examples
        .iter()
        .filter(|e| e.status == ExampleStatus::Failed && !e.earlier_failures.is_empty())
        .map(|e| e.earlier_failures.len() + 1)
        .max()
}
