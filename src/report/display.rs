//! The live display. On a terminal: a status area under the lines, redrawn in place — the bar
//! with an ETA from the files' expected times, and the files running now (slot, for how long,
//! SLOW past their expected time) — fitted to the terminal's width and cleared when the run
//! stops. Otherwise (stderr not a terminal, `TERM=dumb`, or CI set) plain lines, with a
//! heartbeat that says what still runs. What the terminal allows is decided in `term`.

use super::summary::{file_counts, file_details, Styles};
use super::term;
use super::words::{plural, status_label};
use crate::decimal::Fixed;
use crate::events::{ExampleStatus, FileReport, FileStatus, RunEvent, SlotInfo};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How much is printed: during the run (`--status-level`) or in the final summary
/// (`--final-status-level`). Each level prints what the ones before it print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
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

/// When a failing file's details (messages, backtraces, output) are printed, as nextest's
/// `--failure-output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
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
}

impl Default for DisplayOptions {
    fn default() -> Self {
        DisplayOptions {
            status_level: None,
            final_status_level: StatusLevel::Fail,
            failure_output: FailureOutput::Immediate,
            slow_after: DEFAULT_SLOW_AFTER,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            verbose_rerun: false,
            annotations: false,
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

/// How often the status area is redrawn (and the plain lines' SLOW and heartbeat checked).
const TICK: Duration = Duration::from_millis(200);
/// At most this many failed examples are listed under a `TRY n FAIL` line.
const MAX_TRY_FAILURES: usize = 5;
/// At most this many running files are listed under the bar.
const MAX_RUNNING_LINES: usize = 8;

pub struct Display {
    live: Arc<Mutex<Live>>,
    /// The thread that redraws the status area and beats the heartbeat; dropping the sender
    /// ends it.
    ticker: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// A file running on a slot now.
struct Running {
    path: String,
    expected: f64,
    /// The expected time is a guess from the file's size (no runtime history).
    guessed: bool,
    since: Instant,
    /// Said SLOW already (plain lines).
    slow_said: bool,
}

struct Live {
    /// Whether the status area is drawn (a terminal): else plain lines.
    bar: bool,
    /// No more drawing: the run is stopping (Ctrl-C) or over.
    quiet: bool,
    styles: Styles,
    options: DisplayOptions,
    level: StatusLevel,
    /// When the run proper started (`RunStarted`); nothing is drawn before.
    started: Option<Instant>,
    slots: Vec<SlotInfo>,
    /// `host/slot`, as wide as the widest.
    slot_width: usize,
    running: BTreeMap<usize, Running>,
    files_total: usize,
    files_done: usize,
    examples: usize,
    failures: usize,
    expected_total: f64,
    /// Files whose expected time is a guess from their size (`RunStarted`).
    estimated_by_size: std::collections::HashSet<String>,
    /// Expected and actual seconds of the finished files: how the run keeps to its plan.
    expected_done: f64,
    seconds_done: f64,
    /// Lines of the status area on the screen now.
    drawn: usize,
    next_heartbeat: Option<Instant>,
    /// The first random-order seed a batch reported.
    seed: Option<u64>,
}

impl Display {
    pub fn new(options: DisplayOptions) -> Display {
        let bar = term::interactive();
        let colors = term::stdout_colours();
        let live = Live::new(options, bar, colors);
        Display { live: Arc::new(Mutex::new(live)), ticker: None }
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn styles(&self) -> Styles {
        self.live().styles.clone()
    }

    pub fn final_status_level(&self) -> StatusLevel {
        self.live().options.final_status_level
    }

    pub fn failure_output(&self) -> FailureOutput {
        self.live().options.failure_output
    }

    pub fn slow_after(&self) -> Duration {
        self.live().options.slow_after
    }

    pub fn verbose_rerun(&self) -> bool {
        self.live().options.verbose_rerun
    }

    pub fn annotations(&self) -> bool {
        self.live().options.annotations
    }

    /// A line on stdout, above the status area when there is one.
    pub fn line(&self, text: &str) {
        self.live().line(text);
    }

    pub fn warn(&self, message: &str) {
        let mut live = self.live();
        let text = format!("{} {message}\n", live.styles.pending.apply_to("warning:"));
        live.clear();
        term::err(&text);
        live.draw();
    }

    pub fn event(&mut self, event: &RunEvent) {
        let start = matches!(event, RunEvent::RunStarted { .. });
        self.live().event(event);
        if start && self.ticker.is_none() {
            self.start_ticker();
        }
    }

    pub fn file_finished(&mut self, report: &FileReport) {
        self.live().file_finished(report);
    }

    fn start_ticker(&mut self) {
        let (tx, rx) = mpsc::channel::<()>();
        let live = self.live.clone();
        let thread = std::thread::Builder::new().name("testbot-display".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                live.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).tick();
            }
        });
        // Without the thread the display still works, only not between events.
        if let Ok(thread) = thread {
            self.ticker = Some((tx, thread));
        }
    }

    pub fn finish(&mut self, summary: &str) {
        if let Some((tx, thread)) = self.ticker.take() {
            drop(tx);
            let _ = thread.join();
        }
        let mut live = self.live();
        live.clear();
        live.quiet = true;
        term::out(summary);
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.ticker.take() {
            drop(tx);
            let _ = thread.join();
        }
        self.live().clear();
    }
}

impl Live {
    fn new(options: DisplayOptions, bar: bool, colors: bool) -> Live {
        let level = options.status_level.unwrap_or(if bar { StatusLevel::Retry } else { StatusLevel::Pass });
        Live {
            bar,
            quiet: false,
            styles: Styles::new(colors),
            options,
            level,
            started: None,
            slots: Vec::new(),
            slot_width: 0,
            running: BTreeMap::new(),
            files_total: 0,
            files_done: 0,
            examples: 0,
            failures: 0,
            expected_total: 0.0,
            estimated_by_size: Default::default(),
            expected_done: 0.0,
            seconds_done: 0.0,
            drawn: 0,
            next_heartbeat: None,
            seed: None,
        }
    }

    fn line(&mut self, text: &str) {
        let text = format!("{}\n", text.strip_suffix('\n').unwrap_or(text));
        self.clear();
        term::out(&text);
        self.draw();
    }

    fn event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { framework, files, slots, expected_seconds, estimated_by_size, .. } => {
                self.files_total = *files;
                self.estimated_by_size = estimated_by_size.iter().cloned().collect();
                self.expected_total = *expected_seconds;
                self.slots = slots.clone();
                self.slot_width = slots.iter().map(|s| s.name().chars().count()).max().unwrap_or(0);
                let now = Instant::now();
                self.started = Some(now);
                self.next_heartbeat = self.options.heartbeat.filter(|d| !d.is_zero()).map(|d| now + d);
                let mut hosts: Vec<(String, usize)> = Vec::new();
                for s in slots {
                    match hosts.iter_mut().find(|(h, _)| **h == *s.host) {
                        Some((_, n)) => *n += 1,
                        None => hosts.push((s.host.to_string(), 1)),
                    }
                }
                let hosts: Vec<String> = hosts.iter().map(|(h, n)| format!("{h} ×{n}")).collect();
                let text = format!(
                    "{} running {} on {} ({}) with {framework}",
                    self.styles.bold.apply_to("testbot:"),
                    plural(*files, "file", "files"),
                    plural(slots.len(), "slot", "slots"),
                    hosts.join(", ")
                );
                self.line(&text);
            }
            RunEvent::FileStarted { slot, path, expected_seconds } => {
                let guessed = self.estimated_by_size.contains(path);
                let running = Running { path: path.clone(), expected: *expected_seconds, guessed, since: Instant::now(), slow_said: false };
                self.running.insert(*slot, running);
            }
            RunEvent::ExampleFinished { status, .. } => {
                self.examples += 1;
                if *status == ExampleStatus::Failed {
                    self.failures += 1;
                }
            }
            RunEvent::FileRequeued { path, reason, discarded_examples } => {
                self.examples = self.examples.saturating_sub(*discarded_examples);
                self.running.retain(|_, r| r.path != *path);
                if self.level >= StatusLevel::Retry {
                    let text = format!("{} {path}: {reason}", self.styles.pending.apply_to(format!("{:>8}", "RETRY")));
                    self.line(&text);
                }
            }
            RunEvent::FileRetrying { path, failed, attempt, failures } => {
                // Their next try counts again.
                self.examples = self.examples.saturating_sub(*failed);
                self.failures = self.failures.saturating_sub(*failed);
                if self.level >= StatusLevel::Retry {
                    let what = if *failed == 1 { "failed example" } else { "failed examples" };
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
            }
            RunEvent::FileFinished(report) => self.file_finished(report),
            RunEvent::ErrorOutsideExamples { message, output, .. } => {
                if self.level >= StatusLevel::Fail {
                    let mut text = format!("{} {}", self.styles.fail.apply_to(format!("{:>8}", "ERROR")), message.trim());
                    if !output.trim().is_empty() {
                        text.push_str(&format!("\n  {}\n", self.styles.dim.apply_to("output:")));
                        for l in output.trim_end().lines() {
                            text.push_str(&format!("  | {l}\n"));
                        }
                    }
                    self.line(&text);
                }
            }
            RunEvent::BatchStarted { slot, files, .. } => {
                tracing::debug!(slot = slot.id, host = %slot.host, files = files.len(), "batch started: {}", files.join(" "));
            }
            // Random order: the first seed is said as the run goes (the summary has them all).
            RunEvent::BatchSeed { slot, seed } => {
                if self.seed.is_none() {
                    self.seed = Some(*seed);
                    let place = self.slots.iter().find(|s| s.id == *slot).map(SlotInfo::name).unwrap_or_default();
                    let text = format!("{} random order, seed {seed} ({place}'s batch)", self.styles.bold.apply_to("testbot:"));
                    self.line(&text);
                }
            }
            RunEvent::BatchFinished { slot, .. } => {
                self.running.remove(slot);
            }
            // Ctrl-C (or fail-fast, or the timeout): the status area goes, and the lines that
            // follow (what is stopped, the summary) are not drawn over.
            RunEvent::Stopping(_) => {
                self.clear();
                self.quiet = true;
            }
            // The reporter says these; the summary shows what runners printed outside files.
            RunEvent::RunFinished { .. }
            | RunEvent::Coverage(_)
            | RunEvent::HostLost { .. }
            | RunEvent::RunOutput { .. }
            | RunEvent::Warning(_)
            | RunEvent::InterruptedBeforeRun { .. } => {}
        }
    }

    fn file_finished(&mut self, report: &FileReport) {
        self.files_done += 1;
        self.expected_done += report.expected_seconds;
        self.seconds_done += report.seconds;
        if let Some(slot) = &report.slot {
            if self.running.get(&slot.id).is_some_and(|r| r.path == report.path) {
                self.running.remove(&slot.id);
            }
        }
        let status = report.status();
        let shown = match status {
            FileStatus::Passed => self.level >= StatusLevel::Pass,
            FileStatus::Failed | FileStatus::Errored => self.level >= StatusLevel::Fail,
        };
        let pending = if self.level >= StatusLevel::Pending { report.count(ExampleStatus::Pending) } else { 0 };
        if !shown && pending == 0 {
            return;
        }
        let label = self.styles.of_status(status).apply_to(format!("{:>8}", status_label(status)));
        let what = match &report.error {
            Some(e) => e.kind().to_string(),
            None => file_counts(report),
        };
        let flaky = report.flaky();
        let what = if flaky > 0 { format!("{what}, {flaky} flaky") } else { what };
        let what = match tries_failed(report) {
            Some(tries) => format!("{what}, failed {tries} of {tries} tries"),
            None => what,
        };
        // One line for every file of a run: built in one go (20,000 files, docs/benchmarks.md).
        let mut head = String::with_capacity(report.path.len() + what.len() + 48);
        let _ = write!(head, "{label} [{:>7}s] ", Fixed::new(report.seconds, 2));
        if !self.bar {
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
        if status != FileStatus::Passed && self.options.failure_output.immediate() {
            let details = file_details(report, &self.styles);
            self.line(&format!("{head}\n{details}"));
        } else {
            self.line(&head);
        }
    }

    /// Every `TICK`: the status area redrawn (the running files' times move), or in plain
    /// lines the files that just turned SLOW and the heartbeat.
    fn tick(&mut self) {
        if self.quiet || self.started.is_none() {
            return;
        }
        if self.bar {
            self.clear();
            self.draw();
            return;
        }
        let now = Instant::now();
        if self.level >= StatusLevel::Slow {
            let slow_after = self.options.slow_after;
            let mut newly: Vec<String> = Vec::new();
            for (slot, r) in self.running.iter_mut() {
                let seconds = now.duration_since(r.since).as_secs_f64();
                let threshold = slow_threshold(r.expected, slow_after);
                if !r.slow_said && seconds > threshold {
                    r.slow_said = true;
                    let place = self.slots.iter().find(|s| s.id == *slot).map(SlotInfo::name).unwrap_or_default();
                    newly.push(format!(
                        "{} [>{:>6}s] {} ({place}, {})",
                        self.styles.pending.apply_to(format!("{:>8}", "SLOW")),
                        Fixed::new(threshold, 1),
                        r.path,
                        expected_words(r.expected, r.guessed),
                    ));
                }
            }
            for text in newly {
                self.line(&text);
            }
        }
        if let (Some(at), Some(period)) = (self.next_heartbeat, self.options.heartbeat) {
            if now >= at {
                self.next_heartbeat = Some(now + period);
                let text = self.heartbeat(now);
                self.line(&text);
            }
        }
    }

    /// The plain lines' heartbeat: how far the run is, and what runs now, for how long.
    fn heartbeat(&self, now: Instant) -> String {
        let elapsed = self.started.map_or(0.0, |s| now.duration_since(s).as_secs_f64());
        let mut text = format!(
            "{} [{:>7}s] {}/{} files done, {} running{}",
            self.styles.bold.apply_to(format!("{:>8}", "RUNNING")),
            Fixed::new(elapsed, 1),
            self.files_done,
            self.files_total,
            self.running.len(),
            if self.running.is_empty() { "" } else { ":" }
        );
        for line in self.running_lines(now, usize::MAX) {
            let _ = write!(text, "\n{:>8} {line}", "");
        }
        text
    }

    /// A line per running file, longest running first: `local/2   12s spec/a_spec.rb SLOW`,
    /// the path cut from its left to fit `width` columns.
    fn running_lines(&self, now: Instant, width: usize) -> Vec<String> {
        let mut running: Vec<(&usize, &Running)> = self.running.iter().collect();
        running.sort_by_key(|(_, r)| r.since);
        let slow_after = self.options.slow_after;
        running
            .iter()
            .map(|(slot, r)| {
                let seconds = now.duration_since(r.since).as_secs_f64();
                let place = self.slots.iter().find(|s| s.id == **slot).map(SlotInfo::name).unwrap_or_default();
                let head = format!("{place:<w$} {:>6}", clock(seconds), w = self.slot_width);
                let slow = seconds > slow_threshold(r.expected, slow_after);
                let tail = if slow { " SLOW" } else { "" };
                let room = width.saturating_sub(head.chars().count() + 1 + tail.len());
                let path = fit_left(&r.path, room);
                let tail = if slow { format!(" {}", self.styles.fail.apply_to("SLOW")) } else { String::new() };
                format!("{head} {path}{tail}")
            })
            .collect()
    }

    /// The status area's lines, each fitted to `width` columns.
    fn area(&self, now: Instant, width: usize, rows: usize) -> Vec<String> {
        let Some(started) = self.started else { return Vec::new() };
        let elapsed = now.duration_since(started).as_secs_f64();
        let mut tail = format!(" {}/{} files · {}", self.files_done.min(self.files_total), self.files_total, plural(self.examples, "example", "examples"));
        let mut plain_tail = tail.clone();
        if self.failures > 0 {
            let failures = plural(self.failures, "failure", "failures");
            plain_tail.push_str(&format!(" · {failures}"));
            tail.push_str(&format!(" · {}", self.styles.fail.apply_to(failures)));
        }
        let eta = eta(self.eta_input(now));
        let eta = format!(" · ETA {}", clock(eta));
        plain_tail.push_str(&eta);
        tail.push_str(&eta);
        let head = format!("{:>6}", clock(elapsed));
        // The bar takes what is left, up to 30 columns; under 10 it goes.
        let room = width.saturating_sub(head.chars().count() + 3 + console::measure_text_width(&plain_tail));
        let bar_width = room.min(30);
        let mut first = if bar_width >= 10 {
            let filled = (bar_width * self.files_done.min(self.files_total)).checked_div(self.files_total).unwrap_or(0);
            let bar: String = if filled == bar_width {
                "=".repeat(bar_width)
            } else {
                format!("{}>{}", "=".repeat(filled), " ".repeat(bar_width - filled - 1))
            };
            format!("{} [{}]{tail}", self.styles.dim.apply_to(head), self.styles.pass.apply_to(bar))
        } else {
            format!("{}{tail}", self.styles.dim.apply_to(head))
        };
        first = console::truncate_str(&first, width, "").into_owned();
        let mut lines = vec![first];
        let most = MAX_RUNNING_LINES.min(rows.saturating_sub(2) / 2);
        let running = self.running_lines(now, width.saturating_sub(2));
        let shown = if running.len() > most { most.saturating_sub(1) } else { running.len() };
        for line in &running[..shown] {
            lines.push(console::truncate_str(&format!("  {line}"), width, "").into_owned());
        }
        if shown < running.len() {
            let more = format!("  … and {} more running", running.len() - shown);
            lines.push(console::truncate_str(&more, width, "").into_owned());
        }
        lines
    }

    fn eta_input(&self, now: Instant) -> EtaInput {
        let running: Vec<(f64, f64)> = self.running.values().map(|r| (r.expected, now.duration_since(r.since).as_secs_f64())).collect();
        let started: f64 = running.iter().map(|(e, _)| e).sum();
        EtaInput {
            slots: self.slots.len(),
            queued: (self.expected_total - self.expected_done - started).max(0.0),
            running,
            pace: if self.expected_done > 0.0 && self.seconds_done > 0.0 { self.seconds_done / self.expected_done } else { 1.0 },
        }
    }

    /// Draws the status area on stderr (a terminal), leaving the cursor at the start of the line
    /// under it: what the terminal echoes there (`^C`) does not wrap a full line, which would
    /// leave `clear` a line short. `clear` takes it all away.
    fn draw(&mut self) {
        if !self.bar || self.quiet || self.started.is_none() {
            return;
        }
        let (rows, cols) = console::Term::stderr().size_checked().unwrap_or((24, 80));
        // One column short of the edge: a line that reaches it wraps on some terminals.
        let width = (cols as usize).saturating_sub(1).max(20);
        let lines = self.area(Instant::now(), width, rows as usize);
        self.drawn = lines.len();
        let mut text = lines.join("\n");
        text.push('\n');
        term::err(&text);
    }

    fn clear(&mut self) {
        if self.drawn == 0 {
            return;
        }
        term::err_control(&format!("\r\x1b[{}A\x1b[J", self.drawn));
        self.drawn = 0;
    }
}

/// What the ETA is computed from.
#[derive(Debug)]
struct EtaInput {
    slots: usize,
    /// Expected seconds of the files not started.
    queued: f64,
    /// (expected, elapsed) seconds of each running file.
    running: Vec<(f64, f64)>,
    /// Actual over expected seconds of the finished files (1 before any).
    pace: f64,
}

/// A running file is expected to need at least this share of what it has run so far: one past
/// its expected time has no time "left" by its estimate, yet it still runs, and the longer it
/// runs the longer it is likely to go on (the ETA grows with it instead of sitting at `0s`).
const OVERRUN_SHARE: f64 = 0.5;

/// Seconds left: the work left (the queue, and what the running files have left of their
/// expected time — or, past it, `OVERRUN_SHARE` of how long they have run), at the pace the
/// finished files kept, spread over the slots — but never less than the longest running file
/// still needs.
fn eta(input: EtaInput) -> f64 {
    let pace = input.pace.clamp(0.2, 5.0);
    let left: Vec<f64> =
        input.running.iter().map(|(expected, elapsed)| (expected * pace - elapsed).max(elapsed * OVERRUN_SHARE)).collect();
    let longest = left.iter().copied().fold(0.0, f64::max);
    let work = input.queued * pace + left.iter().sum::<f64>();
    (work / input.slots.max(1) as f64).max(longest)
}

/// How many tries a file's failed examples failed, when they were retried (`--retries`): each
/// failed every try it had.
pub fn tries_failed(report: &FileReport) -> Option<usize> {
    report
        .examples
        .iter()
        .filter(|e| e.status == ExampleStatus::Failed && !e.earlier_failures.is_empty())
        .map(|e| e.earlier_failures.len() + 1)
        .max()
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

/// `7s`, `2m05s`, `1h02m`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `text` in at most `width` columns, cut from its left (`…els/user_spec.rb`): a path's end
/// says the most.
fn fit_left(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep: String = text.chars().skip(n - (width - 1)).collect();
    format!("…{keep}")
}


#[cfg(test)]
mod tests {
    use super::*;

    fn live(slots: usize) -> Live {
        let mut live = Live::new(DisplayOptions::default(), true, false);
        live.slots = (1..=slots).map(|i| SlotInfo { id: i, host: Arc::from("local"), host_slot: i }).collect();
        live.slot_width = 7;
        live
    }

    #[test]
    fn the_eta_comes_from_the_work_left_not_the_files_done() {
        // 1 s into a run of 14 s of expected work on 2 slots, nothing finished: 6 s left.
        let e = eta(EtaInput { slots: 2, queued: 10.0, running: vec![(2.0, 1.0), (2.0, 1.0)], pace: 1.0 });
        assert_eq!(e, 6.0);
        // One long file holds the end, whatever the queue says.
        let e = eta(EtaInput { slots: 4, queued: 0.0, running: vec![(30.0, 10.0), (1.0, 0.5)], pace: 1.0 });
        assert_eq!(e, 20.0);
        // Files have run twice as long as expected: so will the rest.
        let e = eta(EtaInput { slots: 1, queued: 3.0, running: vec![], pace: 2.0 });
        assert_eq!(e, 6.0);
        // A file past its time still runs: it is expected to need half as long again as it
        // has run, so the ETA grows with it, never `0s`.
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(1.0, 9.0)], pace: 1.0 }), 4.5);
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(1.0, 20.0)], pace: 1.0 }), 10.0);
        // Until then the estimate rules.
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(10.0, 4.0)], pace: 1.0 }), 6.0);
    }

    #[test]
    fn a_file_is_slow_after_three_times_its_time_or_the_floor() {
        assert_eq!(slow_threshold(1.0, Duration::from_secs(10)), 10.0);
        assert_eq!(slow_threshold(20.0, Duration::from_secs(10)), 60.0);
        assert_eq!(slow_threshold(0.0, Duration::from_secs(1)), 1.0);
    }

    #[test]
    fn clocks_and_paths_fit() {
        assert_eq!(clock(7.4), "7s");
        assert_eq!(clock(125.0), "2m05s");
        assert_eq!(clock(3720.0), "1h02m");
        assert_eq!(fit_left("spec/models/user_spec.rb", 12), "…ser_spec.rb");
        assert_eq!(fit_left("spec/a_spec.rb", 40), "spec/a_spec.rb");
    }

    #[test]
    fn the_status_area_fits_any_width_and_lists_what_runs() {
        let mut live = live(3);
        let start = Instant::now();
        live.started = Some(start);
        live.files_total = 23;
        live.files_done = 21;
        live.examples = 1234;
        live.failures = 2;
        live.expected_total = 40.0;
        live.expected_done = 30.0;
        live.seconds_done = 30.0;
        let long = "spec/models/a_very_long_folder_name/and_another_one/the_file_that_hangs_spec.rb";
        live.running.insert(1, Running { path: long.into(), expected: 1.0, guessed: false, since: start, slow_said: false });
        live.running.insert(3, Running { path: "spec/b_spec.rb".into(), expected: 8.0, guessed: false, since: start + Duration::from_secs(10), slow_said: false });
        let now = start + Duration::from_secs(12);
        for width in [20, 40, 59, 79, 89, 120] {
            let lines = live.area(now, width, 24);
            assert_eq!(lines.len(), 3, "{lines:?}");
            for line in &lines {
                assert!(console::measure_text_width(line) <= width, "{width}: {line:?}");
            }
        }
        let lines = live.area(now, 89, 24);
        assert_eq!(lines[0], "   12s [===========================>  ] 21/23 files · 1234 examples · 2 failures · ETA 6s");
        assert_eq!(lines[1], format!("  local/1    12s …{} SLOW", &long[long.len() - 66..]));
        assert_eq!(console::measure_text_width(&lines[1]), 89);
        assert_eq!(lines[2], "  local/3     2s spec/b_spec.rb");
        // Few rows: the rest is counted, not listed.
        let lines = live.area(now, 89, 5);
        assert_eq!(lines[1..], ["  … and 2 more running".to_string()]);
    }

    #[test]
    fn nothing_is_drawn_before_the_run_starts() {
        let live = live(2);
        assert!(live.area(Instant::now(), 80, 24).is_empty());
    }
}
