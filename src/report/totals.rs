//! The totals that decide the exit code: counted from the aggregate, judged once.

use super::aggregate::{count, Aggregate};
use crate::events::{ExampleStatus, FileError, Stop};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    pub files: usize,
    pub files_run: usize,
    pub examples: usize,
    /// Failed examples, not counting the quarantined ones.
    pub failures: usize,
    /// Failed examples that `[project] quarantine` names: they do not fail the run.
    pub quarantined: usize,
    pub pending: usize,
    pub errors_outside_examples: usize,
    pub errored_files: usize,
    /// Selected files with no final report (only after a stop).
    pub unreported_files: usize,
    /// Examples that failed, then passed on a retry.
    pub flaky: usize,
    /// Flaky examples fail the run (`--flaky-fails`).
    pub flaky_fails: bool,
    pub interrupted: bool,
    /// Report files (`--report-json`, `--junit`) that could not be written.
    pub unwritten_reports: usize,
    /// The merged coverage failed its checks (SimpleCov's `minimum_coverage`, …).
    pub coverage_failed: bool,
    /// `report merge`: reports whose runs failed by their own rules.
    pub failed_reports: usize,
    /// What a run of planned files that ran no example is (`--no-tests`).
    pub no_tests: NoTests,
}

/// `--no-tests`: what a run is whose selection planned files but ran no example (nextest's
/// flag of the same name). A `--partition` share given no files is not such a run: it passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoTests {
    /// Passes, saying nothing (also what `report merge` does: each share judged its own).
    #[default]
    Pass,
    /// Passes, with a warning.
    Warn,
    /// Fails: exit 4, "no tests to run" (the default of a run).
    Fail,
}

impl Totals {
    pub fn of(agg: &Aggregate) -> Totals {
        // A file that did not load, crashed its runner or hung is an error outside its examples,
        // as a load error is in RSpec's own count.
        let load_errors = agg
            .files
            .iter()
            .filter(|f| matches!(f.error, Some(FileError::Load(_) | FileError::Crashed(_) | FileError::TimedOut(_))))
            .count();
        let quarantined = agg.quarantine.failures(&agg.files);
        Totals {
            files: agg.total_files,
            files_run: agg.files.iter().filter(|f| !matches!(f.error, Some(FileError::NotRun(_)))).count(),
            examples: agg.files.iter().map(|f| f.examples.len()).sum(),
            failures: count(&agg.files, ExampleStatus::Failed) - quarantined,
            quarantined,
            pending: count(&agg.files, ExampleStatus::Pending),
            errors_outside_examples: load_errors + agg.batch_errors.len(),
            errored_files: agg.files.iter().filter(|f| f.error.is_some()).count(),
            unreported_files: agg.total_files.saturating_sub(agg.files.len()),
            flaky: agg.files.iter().map(|f| f.flaky()).sum(),
            flaky_fails: agg.flaky_fails,
            interrupted: agg.stopped == Some(Stop::Interrupted),
            unwritten_reports: agg.unwritten.len(),
            coverage_failed: agg.coverage.as_ref().is_some_and(|c| c.failed.is_some()),
            failed_reports: agg.failed_reports.len(),
            no_tests: agg.no_tests,
        }
    }

    /// Never a false green: anything short of every file running cleanly is a failure.
    pub fn verdict(&self) -> Verdict {
        if self.interrupted {
            Verdict::Interrupted
        } else if self.failures > 0
            || self.errors_outside_examples > 0
            || self.errored_files > 0
            || self.unreported_files > 0
            || self.unwritten_reports > 0
            || self.coverage_failed
            || self.failed_reports > 0
            || (self.flaky_fails && self.flaky > 0)
        {
            Verdict::Failed
        } else if self.ran_nothing() && self.no_tests == NoTests::Fail {
            Verdict::NoTests
        } else {
            Verdict::Passed
        }
    }

    /// Files were planned and every one ran cleanly, yet no example ran.
    pub fn ran_nothing(&self) -> bool {
        self.files > 0 && self.examples == 0
    }
}

/// What a run's totals say; `errors` maps it to the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Interrupted,
    /// Planned files ran cleanly but no example ran (`--no-tests=fail`).
    NoTests,
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_fails_on_each_cause_alone() {
        let clean = Totals {
            files: 3,
            files_run: 3,
            examples: 5,
            failures: 0,
            quarantined: 0,
            pending: 1,
            errors_outside_examples: 0,
            errored_files: 0,
            unreported_files: 0,
            flaky: 0,
            flaky_fails: false,
            interrupted: false,
            unwritten_reports: 0,
            coverage_failed: false,
            failed_reports: 0,
            no_tests: NoTests::Fail,
        };
        assert_eq!(clean.verdict(), Verdict::Passed);
        type Cause = (&'static str, fn(&mut Totals));
        let causes: [Cause; 7] = [
            ("a failure", |t| t.failures = 1),
            ("an error outside examples", |t| t.errors_outside_examples = 1),
            ("an errored file", |t| t.errored_files = 1),
            ("a file with no result", |t| t.unreported_files = 1),
            ("a report not written", |t| t.unwritten_reports = 1),
            ("coverage's checks", |t| t.coverage_failed = true),
            ("a flaky example under --flaky-fails", |t| (t.flaky, t.flaky_fails) = (1, true)),
        ];
        for (cause, set) in causes {
            let mut t = clean.clone();
            set(&mut t);
            assert_eq!(t.verdict(), Verdict::Failed, "{cause}");
            t.interrupted = true;
            assert_eq!(t.verdict(), Verdict::Interrupted, "{cause}, then Ctrl-C");
        }
        // A flaky example passes the run unless --flaky-fails; --flaky-fails alone changes nothing.
        assert_eq!(Totals { flaky: 2, ..clean.clone() }.verdict(), Verdict::Passed);
        // A quarantined failure passes the run; any other cause still fails it.
        assert_eq!(Totals { quarantined: 1, ..clean.clone() }.verdict(), Verdict::Passed);
        assert_eq!(Totals { quarantined: 1, failures: 1, ..clean.clone() }.verdict(), Verdict::Failed);
        assert_eq!(Totals { quarantined: 1, errored_files: 1, ..clean.clone() }.verdict(), Verdict::Failed);
        assert_eq!(Totals { flaky_fails: true, ..clean.clone() }.verdict(), Verdict::Passed);
        assert_eq!(Totals { interrupted: true, ..clean }.verdict(), Verdict::Interrupted);
    }
}
