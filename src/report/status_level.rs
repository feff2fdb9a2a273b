//! What each output shows: the status levels (`--status-level`, `--final-status-level`), when
//! failure details are printed, and when a file is SLOW — one meaning for the live display
//! and the summary alike.

use crate::decimal::Fixed;
use crate::events::FileStatus;
use std::time::Duration;

/// How much is printed: during the run (`--status-level`) or in the final summary
/// (`--final-status-level`). Each level prints what the ones before it print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusLevel {
    /// Nothing but the run's first line and the summary's verdict.
    None,
    /// Failed and errored files (during the run: with their details).
    #[default]
    Fail,
    /// Files retried or requeued; flaky examples.
    Retry,
    /// Files that ran longer than expected (`SLOW`).
    Slow,
    /// Pending (skipped) examples.
    Pending,
    /// Every file.
    Pass,
    /// Everything.
    All,
}

/// What each level shows, asked in words: the only place levels are compared.
impl StatusLevel {
    /// The live display's level: `--status-level`, else `retry` where the status area shows
    /// the rest (`bar`), `pass` in plain lines.
    pub fn live(given: Option<StatusLevel>, bar: bool) -> StatusLevel {
        given.unwrap_or(if bar { StatusLevel::Retry } else { StatusLevel::Pass })
    }
    /// Failed and errored files, errors outside examples, failed examples.
    pub fn shows_failures(self) -> bool {
        self >= StatusLevel::Fail
    }
    pub fn shows_retries(self) -> bool {
        self >= StatusLevel::Retry
    }
    pub fn shows_slow(self) -> bool {
        self >= StatusLevel::Slow
    }
    pub fn shows_pending(self) -> bool {
        self >= StatusLevel::Pending
    }
    /// Every file, passed ones too.
    pub fn shows_every_file(self) -> bool {
        self >= StatusLevel::Pass
    }
    /// Whether a file of `status` gets its line.
    pub fn shows_file(self, status: FileStatus) -> bool {
        match status {
            FileStatus::Passed => self.shows_every_file(),
            FileStatus::Failed | FileStatus::Errored => self.shows_failures(),
        }
    }
}

/// When a failing file's details (messages, backtraces, output) are printed, as nextest's
/// `--failure-output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureOutput {
    /// As the file finishes.
    #[default]
    Immediate,
    /// In the final summary.
    Final,
    /// Both.
    ImmediateFinal,
    /// Never (the summary's rerun lines only).
    Never,
}

impl FailureOutput {
    pub fn immediate(self) -> bool {
        matches!(self, FailureOutput::Immediate | FailureOutput::ImmediateFinal)
    }
    pub fn at_the_end(self) -> bool {
        matches!(self, FailureOutput::Final | FailureOutput::ImmediateFinal)
    }
}

/// What the display shows, from the command line.
#[derive(Clone, Debug)]
pub struct DisplayOptions {
    /// `--status-level`; None: `retry` on a terminal (the status area shows the rest), `pass`
    /// in plain lines.
    pub status_level: Option<StatusLevel>,
    /// `--final-status-level`.
    pub final_status_level: StatusLevel,
    pub failure_output: FailureOutput,
    /// `--success-output`: when a passing file's output is printed, as nextest's (never by default).
    pub success_output: FailureOutput,
    /// `--format documentation`: a line per example under its file's line.
    pub documentation: bool,
    /// A file is SLOW after this long, or `SLOW_FACTOR` times its expected time if more.
    pub slow_after: Duration,
    /// Plain lines: how often the heartbeat says what still runs; None: never.
    pub heartbeat: Option<Duration>,
    /// `--verbose-rerun-command`: the summary gives the command that reruns each batch with a
    /// failure as it ran.
    pub verbose_rerun: bool,
    /// `--github-annotations`, resolved: before the summary, each failure as a GitHub Actions
    /// workflow command (`::error file=…,line=…::…`).
    pub annotations: bool,
    /// `--no-capture`: the runners' output is printed as it comes, so the failure details and
    /// `--success-output` do not print it again.
    pub streamed: bool,
}

impl Default for DisplayOptions {
    fn default() -> Self {
        DisplayOptions {
            status_level: None,
            final_status_level: StatusLevel::Fail,
            failure_output: FailureOutput::Immediate,
            success_output: FailureOutput::Never,
            documentation: false,
            slow_after: DEFAULT_SLOW_AFTER,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            verbose_rerun: false,
            annotations: false,
            streamed: false,
        }
    }
}

pub const DEFAULT_SLOW_AFTER: Duration = Duration::from_secs(10);
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);
/// A file is SLOW after this many times its expected time (and at least `slow_after`).
pub const SLOW_FACTOR: f64 = 3.0;

/// When a file that is expected to take `expected` seconds is SLOW.
pub fn slow_threshold(expected: f64, slow_after: Duration) -> f64 {
    (expected * SLOW_FACTOR).max(slow_after.as_secs_f64())
}

/// What a SLOW line says the file was expected to take: `expected 2.0s` from its runtime
/// history, `estimated 2.9s from its size` when it has none (a first run).
pub fn expected_words(seconds: f64, guessed: bool) -> String {
    if guessed {
        format!("estimated {}s from its size", Fixed::new(seconds, 1))
    } else {
        format!("expected {}s", Fixed::new(seconds, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_slow_after_three_times_its_time_or_the_floor() {
        assert_eq!(slow_threshold(1.0, Duration::from_secs(10)), 10.0);
        assert_eq!(slow_threshold(20.0, Duration::from_secs(10)), 60.0);
        assert_eq!(slow_threshold(0.0, Duration::from_secs(1)), 1.0);
    }
}
