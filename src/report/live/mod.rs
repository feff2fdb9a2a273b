//! The live display: everything printed while the run goes on. On a terminal: a status area
//! under the lines, redrawn in place — the bar with an ETA from the files' expected times, and
//! the files running now (slot, for how long, SLOW past their expected time) — fitted to the
//! terminal's width and cleared when the run stops. Otherwise (stderr not a terminal,
//! `TERM=dumb`, or CI set) plain lines, with a heartbeat that says what still runs. What the
//! terminal allows is decided in `term`; the display writes to the [`Screen`] it is given.

mod area;
mod lines;
mod setup;
mod shown;

use super::status_level::{FailureOutput, StatusLevel};
use super::style::Styles;
use super::term;
use crate::events::{ExampleStatus, FileReport, RunEvent, SlotInfo};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often the status area is redrawn (and the plain lines' SLOW and heartbeat checked).
const TICK: Duration = Duration::from_millis(200);

/// What the live display shows, from the command line (`DisplayOptions`' share of it).
#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// `--status-level`; None: `retry` on a terminal (the status area shows the rest), `pass`
    /// in plain lines.
    pub status_level: Option<StatusLevel>,
    pub failure_output: FailureOutput,
    /// When a passing file's output is printed (`--success-output`): `immediate` here.
    pub success_output: FailureOutput,
    /// `--format documentation`: a line per example under each file's line.
    pub documentation: bool,
    /// What makes a file SLOW (`--slow-timeout`).
    pub slow_after: Duration,
    /// Plain lines: how often the heartbeat says what still runs; None: never.
    pub heartbeat: Option<Duration>,
    /// `--no-capture`: the output was shown as it came; a failure's details do not repeat it.
    pub streamed: bool,
}

/// Where the display writes, and what it may do there.
pub struct Screen {
    /// Draw the status area (a terminal that redraws): else plain lines.
    pub bar: bool,
    pub colours: bool,
    /// The lines and the summary (stdout).
    pub out: Box<dyn Write + Send>,
    /// Warnings and the status area (stderr).
    pub err: Box<dyn Write + Send>,
}

impl Screen {
    /// The process's stdout and stderr, as `term` finds them.
    pub fn terminal() -> Screen {
        Screen { bar: term::interactive(), colours: term::stdout_colours(), out: Box::new(term::Stdout), err: Box::new(term::Stderr) }
    }
}

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
    screen: Screen,
    /// No more drawing: the run is stopping (Ctrl-C) or over.
    quiet: bool,
    styles: Styles,
    options: LiveOptions,
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
    estimated_by_size: HashSet<String>,
    /// Expected and actual seconds of the finished files: how the run keeps to its plan.
    expected_done: f64,
    seconds_done: f64,
    /// Lines of the status area on the screen now.
    drawn: usize,
    next_heartbeat: Option<Instant>,
    /// The first random-order seed a batch reported.
    seed: Option<u64>,
    /// Failures (failed examples and errored files) in the file reports shown so far.
    failures_shown: usize,
    /// `fail-fast: N failure(s) reached`, held until the failures that caused it are on the
    /// screen: the dispatcher counts a failed example as it happens, before its file's block.
    fail_fast_line: Option<(usize, String)>,
    /// `[project] quarantine`: a file whose only failures are quarantined says QUARANTINED.
    quarantine: super::quarantine::Quarantine,
    /// Lines of one cause held while more of it come (`say_held`), and when the last came.
    held: Option<Held>,
    held_at: Instant,
}

/// Lines of one cause, held while more of the same come: one line says them all.
enum Held {
    /// Files not run for one reason (the first one's report), how many, and the count of files
    /// done at the last.
    NotRun { first: FileReport, count: usize, done: usize },
    /// Files of a batch sent back to the queue for one reason (another file of it did not load).
    Retry { first: String, reason: String, count: usize },
}

impl Display {
    pub fn new(options: LiveOptions, screen: Screen) -> Display {
        Display { live: Arc::new(Mutex::new(Live::new(options, screen))), ticker: None }
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The examples whose failures the file lines call quarantined.
    pub fn set_quarantine(&self, quarantine: super::quarantine::Quarantine) {
        self.live().quarantine = quarantine;
    }

    /// The colours the summary is printed in: the display's.
    pub fn styles(&self) -> Styles {
        self.live().styles.clone()
    }

    /// `warning: …` on stderr, above the status area.
    pub fn warn(&self, message: &str) {
        self.live().warn(message);
    }

    pub fn event(&mut self, event: &RunEvent) {
        let start = matches!(event, RunEvent::RunStarted { .. });
        self.live().event(event);
        if start && self.ticker.is_none() {
            self.start_ticker();
        }
    }

    /// `event` for a file's report (the reporter keeps the report itself).
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

    fn stop_ticker(&mut self) {
        if let Some((tx, thread)) = self.ticker.take() {
            drop(tx);
            let _ = thread.join();
        }
    }

    /// The status area goes for good, and the summary is printed.
    pub fn finish(&mut self, summary: &str) {
        self.stop_ticker();
        let mut live = self.live();
        live.say_held();
        live.clear();
        live.quiet = true;
        live.print(summary);
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop_ticker();
        self.live().clear();
    }
}

impl Live {
    fn new(options: LiveOptions, screen: Screen) -> Live {
        let level = StatusLevel::live(options.status_level, screen.bar);
        Live {
            styles: Styles::new(screen.colours),
            quarantine: super::quarantine::Quarantine::default(),
            screen,
            quiet: false,
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
            estimated_by_size: HashSet::new(),
            expected_done: 0.0,
            seconds_done: 0.0,
            drawn: 0,
            next_heartbeat: None,
            seed: None,
            failures_shown: 0,
            fail_fast_line: None,
            held: None,
            held_at: Instant::now(),
        }
    }

    fn event(&mut self, event: &RunEvent) {
        if !matches!(event, RunEvent::FileRequeued { .. } | RunEvent::FileFinished(_)) {
            self.say_held();
        }
        match event {
            RunEvent::RunStarted { framework, files, slots, expected_seconds, estimated_by_size, .. } => {
                self.files_total = *files;
                self.estimated_by_size = estimated_by_size.iter().cloned().collect();
                self.expected_total = *expected_seconds;
                self.start(slots);
                self.run_started(framework, *files);
            }
            RunEvent::FileStarted { slot, path, expected_seconds } => {
                let guessed = self.estimated_by_size.contains(path);
                let running = Running { path: path.clone(), expected: *expected_seconds, guessed, since: Instant::now(), slow_said: false };
                self.running.insert(*slot, running);
            }
            RunEvent::ExampleFinished { status, .. } => {
                self.examples += 1;
                self.failures += usize::from(*status == ExampleStatus::Failed);
            }
            RunEvent::FileRequeued { path, reason, discarded_examples } => self.requeued(path, reason, *discarded_examples),
            RunEvent::FileRetrying { path, failed, attempt, failures } => self.retrying(path, *failed, *attempt, failures),
            RunEvent::FileFinished(report) => self.file_finished(report),
            RunEvent::ErrorOutsideExamples { message, output, .. } => self.error_outside_examples(message, output),
            RunEvent::BatchStarted { slot, files, .. } => {
                tracing::debug!(slot = slot.id, host = %slot.host, files = files.len(), "batch started: {}", files.join(" "));
            }
            RunEvent::BatchSeed { slot, seed } => self.seed(*slot, *seed),
            RunEvent::Output { slot, line } => self.output_line(*slot, line),
            RunEvent::Setup(phase) => self.setup(phase),
            RunEvent::HostJoined { slots } => self.host_joined(slots),
            RunEvent::BatchFinished { slot, .. } => {
                self.running.remove(slot);
            }
            RunEvent::Stopping(why) => self.stopping(*why),
            RunEvent::InterruptedBeforeRun { doing, done } => self.interrupted_before_run(doing, done),
            RunEvent::RunFinished { .. } => self.say_fail_fast(true),
            // Warnings come worded, through `warn`; the summary shows the rest.
            RunEvent::Coverage(_) | RunEvent::Impact { .. } | RunEvent::HostLost { .. } | RunEvent::RunOutput { .. } | RunEvent::Warning(_) | RunEvent::ProfileAsked { .. } => {}
        }
    }

    fn start(&mut self, slots: &[SlotInfo]) {
        self.slots = slots.to_vec();
        self.slot_width = slots.iter().map(|s| s.name().chars().count()).max().unwrap_or(0);
        let now = Instant::now();
        self.started = Some(now);
        self.next_heartbeat = self.options.heartbeat.filter(|d| !d.is_zero()).map(|d| now + d);
    }

    /// `text` on stdout as it may reach a terminal (`term::safe`).
    fn print(&mut self, text: &str) {
        let _ = self.screen.out.write_all(term::safe(text).as_bytes());
    }

    /// A line on stdout, above the status area when there is one.
    fn line(&mut self, text: &str) {
        self.say_held();
        let text = format!("{}\n", text.strip_suffix('\n').unwrap_or(text));
        self.clear();
        self.print(&text);
        self.draw();
    }

    fn warn(&mut self, message: &str) {
        self.say_held();
        let text = format!("{} {message}\n", self.styles.pending.apply_to("warning:"));
        self.clear();
        let _ = self.screen.err.write_all(term::safe(&text).as_bytes());
        self.draw();
    }

    /// Draws the status area on stderr (a terminal), leaving the cursor at the start of the line
    /// under it: what the terminal echoes there (`^C`) does not wrap a full line, which would
    /// leave `clear` a line short. `clear` takes it all away.
    fn draw(&mut self) {
        if !self.screen.bar || self.quiet || self.started.is_none() {
            return;
        }
        let (rows, cols) = console::Term::stderr().size_checked().unwrap_or((24, 80));
        // One column short of the edge: a line that reaches it wraps on some terminals.
        let width = (cols as usize).saturating_sub(1).max(20);
        let lines = self.area(Instant::now(), width, rows as usize);
        self.drawn = lines.len();
        let mut text = lines.join("\n");
        text.push('\n');
        let _ = self.screen.err.write_all(term::safe(&text).as_bytes());
    }

    /// The status area taken away (testbot's own cursor control, written as it is).
    fn clear(&mut self) {
        if self.drawn == 0 {
            return;
        }
        let _ = self.screen.err.write_all(format!("\r\x1b[{}A\x1b[J", self.drawn).as_bytes());
        self.drawn = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ExampleResult, FileError, Stop};

    /// A `Vec<u8>` the display writes to and the test reads back.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn slot(id: usize, host: &str) -> SlotInfo {
        SlotInfo { id, host: Arc::from(host), host_slot: 1 }
    }

    fn report(path: &str, status: ExampleStatus, slot: SlotInfo) -> FileReport {
        let example = ExampleResult {
            description: "adds".into(),
            location: format!("./{path}:2"),
            line: Some(2),
            status,
            seconds: 0.25,
            message: (status == ExampleStatus::Failed).then(|| "expected: 2\n     got: 1".to_string()),
            backtrace: vec![format!("./{path}:3")],
            id: None,
            earlier_failures: Vec::new(),
        };
        FileReport { path: path.into(), slot: Some(slot), seconds: 0.25, expected_seconds: 0.2, examples: vec![example], error: None, output: String::new() }
    }

    /// The setup phases, a line each as they come (before the run's first line, with no status
    /// area drawn), a host that joins later, a slot's hook and the runners' lines (`--no-capture`)
    /// after the slot that printed them.
    #[test]
    fn setup_phases_a_joining_host_and_streamed_output_are_lines_of_their_own() {
        use crate::events::Setup;
        let out = Written::default();
        let screen = Screen { bar: false, colours: false, out: Box::new(out.clone()), err: Box::new(Written::default()) };
        let options = LiveOptions { status_level: None, failure_output: FailureOutput::Immediate, success_output: FailureOutput::Never, documentation: false, slow_after: Duration::from_secs(10), heartbeat: None, streamed: false };
        let mut display = Display::new(options, screen);
        display.event(&RunEvent::Setup(Setup::Connecting { hosts: vec!["ci-1".into(), "ci-2".into()] }));
        display.event(&RunEvent::Setup(Setup::Connected { host: "ci-1".into(), slots: 4 }));
        display.event(&RunEvent::Setup(Setup::Synced { host: "ci-1".into(), checked: false }));
        display.event(&RunEvent::Setup(Setup::HostHook { host: "ci-1".into() }));
        let started = RunEvent::RunStarted { framework: "rspec", files: 1, planned: vec!["spec/a_spec.rb".into()], slots: vec![slot(1, "ci-1")], expected_seconds: 0.1, estimated_by_size: Vec::new(), partition: None };
        display.event(&started);
        display.event(&RunEvent::HostJoined { slots: vec![SlotInfo { id: 2, host: Arc::from("ci-2"), host_slot: 1 }, SlotInfo { id: 3, host: Arc::from("ci-2"), host_slot: 2 }] });
        display.event(&RunEvent::Setup(Setup::SlotHook { slot: 3 }));
        display.event(&RunEvent::Output { slot: 3, line: "hello".into() });
        assert_eq!(
            out.text(),
            "\
testbot: connecting to 2 hosts (ci-1, ci-2)
testbot: ci-1: connected (4 slots), syncing the project
testbot: ci-1: synced, ready
testbot: ci-1: running the before_run hook
testbot: running 1 file on 1 slot (ci-1 ×1) with rspec
testbot: ci-2 joined the run (2 slots)
testbot: ci-2/2: running the before_slot hook before its first batch
ci-2/2 | hello
"
        );
    }

    /// Plain lines (no terminal), default levels: the run's first line, the seed, a line per
    /// file with a failure's details, the held fail-fast line after the failure it counts,
    /// warnings on the other writer, and the summary last.
    #[test]
    fn plain_lines_go_to_the_writers_it_is_given() {
        let (out, err) = (Written::default(), Written::default());
        let screen = Screen { bar: false, colours: false, out: Box::new(out.clone()), err: Box::new(err.clone()) };
        let options = LiveOptions { status_level: None, failure_output: FailureOutput::Immediate, success_output: FailureOutput::Never, documentation: false, slow_after: Duration::from_secs(10), heartbeat: None, streamed: false };
        let mut display = Display::new(options, screen);
        let (local, far) = (slot(1, "local"), slot(2, "box"));
        let planned = vec!["spec/a_spec.rb".to_string(), "spec/b_spec.rb".to_string(), "spec/c_spec.rb".to_string()];
        display.event(&RunEvent::RunStarted {
            framework: "rspec",
            files: 3,
            planned,
            slots: vec![local.clone(), far.clone()],
            expected_seconds: 0.6,
            estimated_by_size: Vec::new(),
            partition: None,
        });
        display.event(&RunEvent::BatchSeed { slot: 2, seed: 42 });
        display.event(&RunEvent::ExampleFinished { slot: 1, status: ExampleStatus::Failed });
        display.event(&RunEvent::Stopping(Stop::FailFast { failures: 1 }));
        display.file_finished(&report("spec/a_spec.rb", ExampleStatus::Passed, far));
        display.event(&RunEvent::FileFinished(Box::new(report("spec/b_spec.rb", ExampleStatus::Failed, local))));
        display.warn("host `far` left the run: gone");
        let mut not_run = report("spec/c_spec.rb", ExampleStatus::Passed, slot(1, "local"));
        (not_run.examples, not_run.slot, not_run.error) = (Vec::new(), None, Some(FileError::NotRun("fail-fast".into())));
        display.file_finished(&not_run);
        display.finish("SUMMARY\n");
        assert_eq!(
            out.text(),
            "\
testbot: running 3 files on 2 slots (local ×1, box ×1) with rspec
testbot: random order, seed 42 (box/1's batch)
    PASS [   0.25s] (1/3) spec/a_spec.rb (1 example)
    FAIL [   0.25s] (2/3) spec/b_spec.rb (1 example, 1 failure)
--- spec/b_spec.rb (local slot 1)
  1) adds
     expected: 2
          got: 1
     # ./spec/b_spec.rb:3
fail-fast: 1 failure(s) reached, stopping the running batches
   ERROR [   0.25s] (3/3) spec/c_spec.rb (not run)
--- spec/c_spec.rb
  not run: fail-fast
SUMMARY
"
        );
        assert_eq!(err.text(), "warning: host `far` left the run: gone\n");
    }

    /// Lines of one cause come one after another: one line says them, with the count. A file
    /// not run for a reason of its own keeps its block.
    #[test]
    fn files_sent_back_or_not_run_for_one_reason_are_one_line() {
        let (out, err) = (Written::default(), Written::default());
        let screen = Screen { bar: false, colours: false, out: Box::new(out.clone()), err: Box::new(err.clone()) };
        let options = LiveOptions { status_level: None, failure_output: FailureOutput::Immediate, success_output: FailureOutput::Never, documentation: false, slow_after: Duration::from_secs(10), heartbeat: None, streamed: false };
        let mut display = Display::new(options, screen);
        let planned: Vec<String> = ["a", "b", "c", "d"].iter().map(|f| format!("spec/{f}_spec.rb")).collect();
        let slots = vec![slot(1, "local")];
        display.event(&RunEvent::RunStarted { framework: "rspec", files: 4, planned: planned.clone(), slots, expected_seconds: 0.0, estimated_by_size: Vec::new(), partition: None });
        for path in &planned[..3] {
            let reason = "not run: another file in its batch failed to load".to_string();
            display.event(&RunEvent::FileRequeued { path: path.clone(), reason, discarded_examples: 0 });
        }
        let not_run = |path: &str, why: &str| FileReport::not_run(path.to_string(), why.to_string());
        for path in &planned[..3] {
            display.file_finished(&not_run(path, "no host was left to run it (local left the run)"));
        }
        display.file_finished(&not_run("spec/d_spec.rb", "fail-fast"));
        display.finish("SUMMARY\n");
        assert_eq!(
            out.text(),
            "\
testbot: running 4 files on 1 slot (local ×1) with rspec
   RETRY 3 files of one batch run again (spec/a_spec.rb and 2 more): not run: another file in its batch failed to load
   ERROR [   0.00s] (3/4) 3 files not run: no host was left to run it (local left the run) (spec/a_spec.rb and 2 more)
   ERROR [   0.00s] (4/4) spec/d_spec.rb (not run)
--- spec/d_spec.rb
  not run: fail-fast
SUMMARY
"
        );
    }
}
