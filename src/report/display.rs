//! The live display: a progress bar on a terminal (failures printed above it as they happen),
//! plain lines otherwise (stderr not a terminal, `TERM=dumb`, or CI set). What the terminal
//! allows is decided in `term`.

use super::summary::{file_counts, file_details, Styles};
use crate::events::{ExampleStatus, FileReport, FileStatus, RunEvent};
use crate::framework::Framework;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use crate::decimal::Fixed;
use super::term;
use std::fmt::Write;
use std::time::{Duration, Instant};

pub struct Display {
    bar: Option<ProgressBar>,
    styles: Styles,
    started: Instant,
    files_total: usize,
    files_done: usize,
    examples: usize,
    failures: usize,
    expected_total: f64,
    expected_done: f64,
    /// When the bar's text was last set: it draws at most 10 times a second, and at thousands of
    /// events a second formatting its text for each would be most of the display's work.
    bar_updated: Option<Instant>,
}

/// The bar's refresh interval (its draw target's rate).
const BAR_INTERVAL: Duration = Duration::from_millis(100);

impl Display {
    pub fn new(_framework: Framework) -> Display {
        let interactive = term::interactive();
        let colors = term::stdout_colours();
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            let template = if colors {
                "{prefix:>8.dim} [{bar:30.cyan/blue}] {pos}/{len} files {msg}"
            } else {
                "{prefix:>8} [{bar:30}] {pos}/{len} files {msg}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Display {
            bar,
            styles: Styles::new(colors),
            started: Instant::now(),
            files_total: 0,
            files_done: 0,
            examples: 0,
            failures: 0,
            expected_total: 0.0,
            expected_done: 0.0,
            bar_updated: None,
        }
    }

    pub fn styles(&self) -> &Styles {
        &self.styles
    }

    /// A line on stdout, above the bar when there is one.
    pub fn line(&self, text: &str) {
        let text = format!("{}\n", text.strip_suffix('\n').unwrap_or(text));
        match &self.bar {
            Some(bar) => bar.suspend(|| term::out(&text)),
            None => term::out(&text),
        }
    }

    pub fn warn(&self, message: &str) {
        let text = format!("{} {message}\n", self.styles.pending.apply_to("warning:"));
        match &self.bar {
            Some(bar) => bar.suspend(|| term::err(&text)),
            None => term::err(&text),
        }
    }

    pub fn event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { framework, files, slots, expected_seconds, .. } => {
                self.files_total = *files;
                self.expected_total = *expected_seconds;
                let mut hosts: Vec<(String, usize)> = Vec::new();
                for s in slots {
                    match hosts.iter_mut().find(|(h, _)| **h == *s.host) {
                        Some((_, n)) => *n += 1,
                        None => hosts.push((s.host.to_string(), 1)),
                    }
                }
                let hosts: Vec<String> = hosts.iter().map(|(h, n)| format!("{h} ×{n}")).collect();
                self.line(&format!(
                    "{} {} {} on {} ({}) with {framework}",
                    self.styles.bold.apply_to("testbot:"),
                    "running",
                    plural(*files, "file"),
                    plural(slots.len(), "slot"),
                    hosts.join(", ")
                ));
                if let Some(bar) = &self.bar {
                    bar.set_length(*files as u64);
                }
            }
            RunEvent::ExampleFinished { status, .. } => {
                self.examples += 1;
                if *status == ExampleStatus::Failed {
                    self.failures += 1;
                }
            }
            RunEvent::FileRequeued { path, reason, discarded_examples } => {
                self.examples = self.examples.saturating_sub(*discarded_examples);
                self.line(&format!("{} {path}: {reason}", self.styles.pending.apply_to(format!("{:>8}", "RETRY"))));
            }
            RunEvent::FileRetrying { path, failed, attempt } => {
                // Their next try counts again.
                self.examples = self.examples.saturating_sub(*failed);
                self.failures = self.failures.saturating_sub(*failed);
                let what = if *failed == 1 { "failed example" } else { "failed examples" };
                self.line(&format!(
                    "{} {path}: {failed} {what} again (retry {attempt})",
                    self.styles.pending.apply_to(format!("{:>8}", "RERUN"))
                ));
            }
            RunEvent::FileFinished(report) => return self.file_finished(report),
            RunEvent::ErrorOutsideExamples { message, output, .. } => {
                let mut text = format!("{} {}", self.styles.fail.apply_to(format!("{:>8}", "ERROR")), message.trim());
                if !output.trim().is_empty() {
                    text.push_str(&format!("\n  {}\n", self.styles.dim.apply_to("output:")));
                    for l in output.trim_end().lines() {
                        text.push_str(&format!("  | {l}\n"));
                    }
                }
                self.line(&text);
            }
            RunEvent::BatchStarted { slot, files } => {
                tracing::debug!(slot = slot.id, host = %slot.host, files = files.len(), "batch started: {}", files.join(" "));
            }
            // The reporter warns about a lost host.
            // The summary shows what runners printed outside files, once.
            // The reporter says these.
            RunEvent::BatchFinished { .. }
            | RunEvent::RunFinished { .. }
            | RunEvent::Coverage(_)
            | RunEvent::HostLost { .. }
            | RunEvent::RunOutput { .. }
            | RunEvent::Warning(_)
            | RunEvent::Stopping(_)
            | RunEvent::InterruptedBeforeRun { .. } => {}
        }
        self.update_bar();
    }

    pub fn file_finished(&mut self, report: &FileReport) {
        self.files_done += 1;
        self.expected_done += report.expected_seconds;
        let status = report.status();
        let label = match status {
            FileStatus::Passed => self.styles.pass.apply_to("    PASS"),
            FileStatus::Failed => self.styles.fail.apply_to("    FAIL"),
            FileStatus::Errored => self.styles.fail.apply_to("   ERROR"),
        };
        let what = match &report.error {
            Some(e) => e.kind().to_string(),
            None => file_counts(report),
        };
        let flaky = report.flaky();
        let what = if flaky > 0 { format!("{what}, {flaky} flaky") } else { what };
        // One line for every file of a run: built in one go (20,000 files, docs/benchmarks.md).
        let mut head = String::with_capacity(report.path.len() + what.len() + 48);
        let _ = write!(head, "{label} [{:>7}s] ", Fixed::new(report.seconds, 2));
        if self.bar.is_none() {
            // Plain lines (CI logs) say how far the run is, as nextest's `(12/300)` does.
            let width = self.files_total.max(1).ilog10() as usize + 1;
            let _ = write!(head, "({:>width$}/{}) ", self.files_done, self.files_total);
        }
        let _ = write!(head, "{} {}", report.path, self.styles.dim.apply_to(format_args!("({what})")));
        if status != FileStatus::Passed {
            self.line(&format!("{head}\n{}", file_details(report, &self.styles)));
        } else if self.bar.is_none() {
            self.line(&head);
        }
        self.update_bar();
    }

    fn update_bar(&mut self) {
        let Some(bar) = &self.bar else { return };
        let now = Instant::now();
        if self.bar_updated.is_some_and(|at| now.duration_since(at) < BAR_INTERVAL) {
            return;
        }
        self.bar_updated = Some(now);
        // Files a runner reported beyond the selection (examples defined in a helper) never push
        // the bar past its end.
        bar.set_position(self.files_done.min(self.files_total) as u64);
        let elapsed = self.started.elapsed().as_secs_f64();
        bar.set_prefix(format!("{elapsed:.0}s"));
        let eta = if self.expected_done > 0.0 {
            let left = elapsed * (self.expected_total - self.expected_done).max(0.0) / self.expected_done;
            format!(" · ETA {left:.0}s")
        } else {
            String::new()
        };
        let failures = if self.failures > 0 {
            format!(" · {}", self.styles.fail.apply_to(plural(self.failures, "failure")))
        } else {
            String::new()
        };
        bar.set_message(format!("· {}{failures}{eta}", plural(self.examples, "example")));
    }

    pub fn finish(&mut self, summary: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        term::out(summary);
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
