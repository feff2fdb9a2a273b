//! One batch's bookkeeping: turns the runner's output into events, and decides at its end what
//! each file's result is — final, or back to the queue. No I/O here, so every case is unit-tested.

use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent, SlotInfo};
use crate::framework::protocol::{Event, Piece};
use crate::schedule::Job;
use crate::ssh::ExitInfo;
use std::collections::HashMap;

/// Output kept per file: the head and the tail, so a runaway printer cannot eat the controller.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    head: String,
    tail: String,
    cut: usize,
}

const HEAD_LIMIT: usize = 16 * 1024;
const TAIL_LIMIT: usize = 48 * 1024;

impl Captured {
    pub fn push_line(&mut self, line: &str) {
        if self.cut == 0 && self.head.len() + line.len() < HEAD_LIMIT {
            self.head.push_str(line);
            self.head.push('\n');
            return;
        }
        self.tail.push_str(line);
        self.tail.push('\n');
        if self.tail.len() > 2 * TAIL_LIMIT {
            let mut drop = self.tail.len() - TAIL_LIMIT;
            while !self.tail.is_char_boundary(drop) {
                drop += 1;
            }
            self.cut += drop;
            self.tail.drain(..drop);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = self.head.clone();
        if self.cut > 0 {
            out.push_str(&format!("[… {} bytes of output left out …]\n", self.cut));
        }
        out.push_str(&self.tail);
        out
    }

    fn append(&mut self, other: &Captured) {
        for line in other.render().lines() {
            self.push_line(line);
        }
    }
}

#[derive(Debug)]
struct FileState {
    job: Job,
    started: bool,
    /// The runner is done with it (its end, a load error, a crash), or it went back to the queue.
    finished: bool,
    /// Its report (or requeue) has been made: output no longer goes to it.
    reported: bool,
    examples: Vec<ExampleResult>,
    output: Captured,
}

/// A file the batch gives back to the queue.
#[derive(Debug)]
pub struct Requeue {
    /// Its counters (crashes, timeouts, the slot to avoid) already updated.
    pub job: Job,
    /// Run it in a batch of its own next time.
    pub alone: bool,
    /// It counts towards the limit of requeues (its batch died, cause unknown); a file whose
    /// host was lost, or that sat behind a file that crashed or hung, is blameless.
    pub counts: bool,
    pub reason: String,
    pub discarded_examples: usize,
    /// Its host failed, not it: the host's reason is said once, with the host (no RETRY line).
    pub quiet: bool,
    pub output: String,
}

#[derive(Debug, Default)]
pub struct BatchEnd {
    pub events: Vec<RunEvent>,
    pub requeue: Vec<Requeue>,
}

/// How a batch's process came to its end, as the run layer saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ending {
    /// It ended by itself (or was killed by someone else).
    Exited,
    /// The run stopped it (Ctrl-C, fail-fast, the run's timeout).
    Stopped,
    /// The run killed it: a file ran (or the runner sat) past its time limit.
    TimedOut { seconds: f64 },
}

pub struct BatchTracker {
    slot: SlotInfo,
    files: Vec<FileState>,
    index: HashMap<String, usize>,
    current: Option<usize>,
    /// What was printed outside any file: while loading, in suite hooks, after the last file.
    batch_output: Captured,
    load_errors: Vec<(String, String)>,
    /// The runner's formatter said hello: the runner itself started.
    hello: bool,
    started: bool,
    /// The runner's own closing counts.
    done: Option<Counts>,
    /// What testbot recorded from the example events, to hold against `done`.
    seen: Counts,
    /// The example the runner is in (from its `ex_start`), for a hang or a crash.
    example: Option<(String, String)>,
    other_errors: Vec<String>,
    /// Text the framework reported outside examples that is not an error (run options, notes).
    messages: Vec<String>,
    /// The marks that say where output belongs (see testbot_events.rb).
    marks: Marks,
}

/// Output and events arrive apart; the runner marks its output where a file starts or ends, and
/// the event that did so carries the mark's number. Output is placed by the last mark before
/// it, not by when it was read: the file that was running after event `q`. Output read before
/// its event is held until the event arrives; a file's report waits until the output has passed
/// the mark of its end. Without marks (a runner that has none, stdout closed), output goes to
/// the file running when it is read.
#[derive(Debug, Default)]
struct Marks {
    /// The file running after marked event `q` is `after[q - 1]`.
    after: Vec<Option<usize>>,
    /// The last mark seen in the output.
    output: u64,
    /// Output past a mark whose event has not arrived yet.
    waiting: Vec<(u64, String)>,
    /// Files done (mark, file, seconds) whose output has not reached that mark yet.
    done: Vec<(u64, usize, f64)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    examples: u64,
    failures: u64,
    pending: u64,
    errors_outside: u64,
}

fn normalize(path: &str) -> String {
    path.strip_prefix("./").unwrap_or(path).to_string()
}

impl BatchTracker {
    pub fn new(slot: SlotInfo, jobs: Vec<Job>) -> BatchTracker {
        let mut index = HashMap::new();
        let files = jobs
            .into_iter()
            .enumerate()
            .map(|(i, job)| {
                index.insert(job.path.clone(), i);
                FileState { job, started: false, finished: false, reported: false, examples: Vec::new(), output: Captured::default() }
            })
            .collect();
        BatchTracker {
            slot,
            files,
            index,
            current: None,
            batch_output: Captured::default(),
            load_errors: Vec::new(),
            hello: false,
            started: false,
            done: None,
            seen: Counts::default(),
            example: None,
            other_errors: Vec::new(),
            messages: Vec::new(),
            marks: Marks::default(),
        }
    }

    /// The state of `path`, adding it when the runner reports a file it was not given.
    fn file(&mut self, path: &str) -> usize {
        // Looked up for every event: no allocation unless the file is new, and no hashing for
        // the file the runner is in (nearly every example's).
        let path = path.strip_prefix("./").unwrap_or(path);
        if let Some(i) = self.current.filter(|&i| self.files[i].job.path == path) {
            return i;
        }
        if let Some(&i) = self.index.get(path) {
            return i;
        }
        let path = normalize(path);
        let i = self.files.len();
        self.index.insert(path.clone(), i);
        let job = Job::new(path, 0.0);
        self.files.push(FileState { job, started: false, finished: false, reported: false, examples: Vec::new(), output: Captured::default() });
        i
    }

    /// The file the runner is in the middle of, if any.
    pub fn current_file(&self) -> Option<&str> {
        self.running().map(|i| self.files[i].job.path.as_str())
    }

    /// What the runner printed outside any file so far.
    pub fn batch_output(&self) -> String {
        self.batch_output.render()
    }

    /// The runner has loaded the files and begun running examples.
    pub fn has_started(&self) -> bool {
        self.started
    }

    /// The runner got as far as loading testbot's formatter (or runner script).
    pub fn runner_started(&self) -> bool {
        self.hello
    }

    pub fn piece(&mut self, piece: Piece, events: &mut Vec<RunEvent>) {
        match piece {
            Piece::Output(line) => {
                let q = self.marks.output;
                if q == 0 || self.marks.after.is_empty() {
                    self.push_output(self.current, &line);
                } else if let Some(&file) = self.marks.after.get(q as usize - 1) {
                    self.push_output(file, &line);
                } else {
                    self.marks.waiting.push((q, line));
                }
            }
            Piece::OutputMark(q) => {
                self.marks.output = self.marks.output.max(q);
                self.settle_marks(events);
            }
            Piece::Event(event) => self.event(event, None, events),
            Piece::Marked(event, q) => self.event(event, Some(q), events),
        }
    }

    fn push_output(&mut self, file: Option<usize>, line: &str) {
        match file {
            Some(i) if !self.files[i].reported => self.files[i].output.push_line(line),
            _ => self.batch_output.push_line(line),
        }
    }

    /// Output held for a mark whose event is here now goes where it belongs; files whose output
    /// has passed their end's mark are reported.
    fn settle_marks(&mut self, events: &mut Vec<RunEvent>) {
        let known = self.marks.after.len() as u64;
        let waiting = std::mem::take(&mut self.marks.waiting);
        for (q, line) in waiting {
            if q <= known {
                self.push_output(self.marks.after[q as usize - 1], &line);
            } else {
                self.marks.waiting.push((q, line));
            }
        }
        let reached = self.marks.output;
        let done = std::mem::take(&mut self.marks.done);
        for (q, i, seconds) in done {
            if q <= reached {
                self.file_done(i, seconds, events);
            } else {
                self.marks.done.push((q, i, seconds));
            }
        }
    }

    fn file_done(&mut self, i: usize, seconds: f64, events: &mut Vec<RunEvent>) {
        if !self.files[i].reported {
            events.push(self.report(i, seconds, None));
        }
    }

    /// A marked event was handled: the file running now is where output after its mark goes.
    fn marked(&mut self, mark: Option<u64>, events: &mut Vec<RunEvent>) {
        let Some(q) = mark else { return };
        let q = q as usize;
        if q == 0 || q <= self.marks.after.len() {
            return;
        }
        // Marks are numbered 1, 2, …; one never seen keeps the file of the one before.
        let last = self.marks.after.last().copied().flatten();
        self.marks.after.resize(q - 1, last);
        self.marks.after.push(self.current);
        self.settle_marks(events);
    }

    /// The stream ended: what waits for a mark goes where it can.
    fn flush_marks(&mut self, events: &mut Vec<RunEvent>) {
        self.marks.output = u64::MAX;
        for (_, line) in std::mem::take(&mut self.marks.waiting) {
            let last = self.marks.after.last().copied().flatten();
            self.push_output(last, &line);
        }
        self.settle_marks(events);
    }

    fn event(&mut self, event: Event, mark: Option<u64>, events: &mut Vec<RunEvent>) {
        match event {
            Event::Hello => self.hello = true,
            Event::PreloadReady => {}
            Event::Start { .. } => self.started = true,
            Event::ExampleStarted { f, d, loc } => {
                let i = self.file(&f);
                self.files[i].started = true;
                self.example = Some((d, loc));
            }
            Event::File { f } => {
                let i = self.file(&f);
                self.files[i].started = true;
                self.current = Some(i);
                self.marked(mark, events);
            }
            Event::Example { f, s, d, loc, l, t, m, bt, id } => {
                let i = self.file(&f);
                let status: ExampleStatus = s.into();
                self.files[i].started = true;
                self.example = None;
                self.seen.examples += 1;
                match status {
                    ExampleStatus::Failed => self.seen.failures += 1,
                    ExampleStatus::Pending => self.seen.pending += 1,
                    ExampleStatus::Passed => {}
                }
                self.files[i].examples.push(ExampleResult {
                    description: d,
                    location: loc,
                    line: l,
                    status,
                    seconds: t,
                    message: m,
                    backtrace: bt,
                    id,
                    earlier_failures: Vec::new(),
                });
                events.push(RunEvent::ExampleFinished { slot: self.slot.id, status });
            }
            Event::FileDone { f, t } => {
                let i = self.file(&f);
                if self.current == Some(i) {
                    self.current = None;
                }
                if !self.files[i].finished {
                    self.files[i].finished = true;
                    match mark {
                        // Its output is not all here yet: reported when it is.
                        Some(q) if self.marks.output < q => self.marks.done.push((q, i, t)),
                        _ => events.push(self.report(i, t, None)),
                    }
                }
                self.marked(mark, events);
            }
            Event::LoadError { f, m } => {
                let path = normalize(&f);
                if self.index.contains_key(&path) {
                    self.load_errors.push((path, m));
                } else {
                    // Not a file of this batch (a helper it required): an error outside examples.
                    self.other_errors.push(m.trim().to_string());
                }
            }
            Event::Message { m, error: true } => self.other_errors.push(m.trim().to_string()),
            Event::Message { m, error: false } => {
                if !m.trim().is_empty() {
                    self.messages.push(m.trim_end().to_string());
                }
            }
            Event::Done { examples, failures, pending, errors_outside } => {
                self.done = Some(Counts { examples, failures, pending, errors_outside })
            }
        }
    }

    fn report(&mut self, i: usize, seconds: f64, error: Option<FileError>) -> RunEvent {
        let file = &mut self.files[i];
        file.reported = true;
        let mut output = std::mem::take(&mut file.output);
        if matches!(error, Some(FileError::Load(_)) | Some(FileError::Crashed(_))) && !self.batch_output.is_empty() {
            output.append(&self.batch_output);
        }
        RunEvent::FileFinished(Box::new(FileReport {
            path: file.job.path.clone(),
            slot: Some(self.slot.clone()),
            seconds,
            expected_seconds: file.job.expected_seconds,
            examples: std::mem::take(&mut file.examples),
            error,
            output: output.render(),
        }))
    }

    /// The file the runner is in the middle of, if any.
    fn running(&self) -> Option<usize> {
        self.current.filter(|&i| !self.files[i].finished)
    }

    /// The process ended. Everything not final yet is settled here: reported, or requeued.
    pub fn finish(mut self, exit: ExitInfo, ending: Ending) -> BatchEnd {
        let mut end = BatchEnd::default();
        self.flush_marks(&mut end.events);
        if ending == Ending::Stopped {
            // What finished keeps its results; the rest did not run. A file stopped in the middle
            // keeps the failures it had (they may be what stopped the run: fail-fast).
            if let Some(i) = self.running() {
                if self.files[i].examples.iter().any(|e| e.status == ExampleStatus::Failed) {
                    let ran_seconds = self.files[i].examples.iter().fold(0.0, |acc, e| acc + e.seconds);
                    self.files[i].finished = true;
                    let event = self.report(i, ran_seconds, None);
                    end.events.push(event);
                }
            }
            return end;
        }
        let load_errors = std::mem::take(&mut self.load_errors);
        for (path, message) in &load_errors {
            let i = self.file(path);
            self.files[i].finished = true;
            let event = self.report(i, 0.0, Some(FileError::Load(message.trim().to_string())));
            end.events.push(event);
        }
        if exit.lost() {
            // The host went away (or stopped answering): nobody's fault here; it runs elsewhere.
            for i in 0..self.files.len() {
                if !self.files[i].finished {
                    let reason = format!("not finished: its host `{}` was lost", self.slot.host);
                    end.requeue.push(self.requeue(i, false, false, reason));
                }
            }
            return end;
        }
        let crashed = self.done.is_none();
        let any_started = self.files.iter().any(|f| f.started);
        let batch_len = self.files.len();
        let timed_out = matches!(ending, Ending::TimedOut { .. });
        // The file to blame for a crash or a hang: the one running, or the only one.
        let culprit = if crashed || timed_out {
            self.running().or((!any_started && batch_len == 1 && !self.files[0].finished).then_some(0))
        } else {
            None
        };
        let during = match (&self.example, culprit) {
            (Some((description, location)), Some(i)) if self.files[i].started => format!(" in `{description}` ({location})"),
            _ => String::new(),
        };
        if let (Ending::TimedOut { seconds }, Some(i)) = (ending, culprit) {
            let what = format!("ran past its time limit of {seconds:.0}s{during} and was killed");
            self.blame(i, &mut end, FailureKind::Timeout { seconds }, what);
        } else if let (true, Some(i)) = (crashed, culprit) {
            let what = if self.files[i].started {
                format!("the runner process {exit} while running this file{during}")
            } else {
                format!("the runner process {exit} before running any example")
            };
            self.blame(i, &mut end, FailureKind::Crash, what);
        }
        let mut unreported = Vec::new();
        for i in 0..self.files.len() {
            if self.files[i].finished || Some(i) == culprit {
                continue;
            }
            if !crashed && !timed_out {
                if !load_errors.is_empty() && !self.files[i].started {
                    // RSpec runs nothing once a file fails to load; these files are blameless.
                    end.requeue.push(self.requeue(i, false, false, "not run: another file in its batch failed to load".into()));
                } else {
                    // The runner finished, but never said this file was done: its results cannot
                    // be trusted to be whole.
                    unreported.push(i);
                }
            } else if culprit.is_some() {
                let reason = format!("not run: its batch stopped at {}", self.files[culprit.expect("checked")].job.path);
                end.requeue.push(self.requeue(i, false, false, reason));
            } else {
                // Never reached, and no file to blame: isolate everyone if nothing started at all.
                let reason = if timed_out {
                    "not run: its batch's runner sat past its time limit before reaching it".to_string()
                } else {
                    format!("not run: its batch's runner process {exit} before reaching it")
                };
                end.requeue.push(self.requeue(i, !any_started, true, reason));
            }
        }
        let output = self.batch_output.render();
        for message in &self.other_errors {
            end.events.push(RunEvent::ErrorOutsideExamples { slot: self.slot.id, message: message.clone(), output: output.clone() });
        }
        let mismatch = self.done.and_then(|done| self.cross_check(done, exit, timed_out, &unreported, &load_errors, &mut end));
        for i in unreported {
            let seconds = self.files[i].examples.iter().fold(0.0, |acc, e| acc + e.seconds);
            let counts = mismatch.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
            let why = format!("the runner {exit} without reporting this file as done{counts}: an example ended its process, or its results were lost");
            self.files[i].finished = true;
            let event = self.report(i, seconds, Some(FileError::Crashed(why)));
            end.events.push(event);
        }
        // What the runner printed outside files, and what the framework said outside examples,
        // when no error above carries it already: the reporter shows it once, in the summary.
        let carried = end.events.iter().any(|e| match e {
            RunEvent::ErrorOutsideExamples { .. } => true,
            RunEvent::FileFinished(report) => matches!(report.error, Some(FileError::Load(_) | FileError::Crashed(_))),
            _ => false,
        });
        if !carried && self.done.is_some() {
            let mut text = std::mem::take(&mut self.messages).join("\n");
            if !self.batch_output.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(output.trim_end());
            }
            if !text.trim().is_empty() {
                end.events.push(RunEvent::RunOutput { slot: self.slot.id, text });
            }
        }
        end
    }

    /// The framework's own closing counts and exit status against what testbot recorded: any
    /// difference is an error, never a quiet pass. A difference in counts that files without an
    /// end explain is returned for their errors instead.
    fn cross_check(
        &self,
        done: Counts,
        exit: ExitInfo,
        timed_out: bool,
        unreported: &[usize],
        load_errors: &[(String, String)],
        end: &mut BatchEnd,
    ) -> Option<String> {
        let output = self.batch_output.render();
        let explained = (load_errors.len() + self.other_errors.len()) as u64;
        if done.errors_outside > explained {
            end.events.push(RunEvent::ErrorOutsideExamples {
                slot: self.slot.id,
                message: format!("the runner reported {} error(s) outside of examples", done.errors_outside - explained),
                output: output.clone(),
            });
        }
        let seen = self.seen;
        let mut mismatch = None;
        if (done.examples, done.failures, done.pending) != (seen.examples, seen.failures, seen.pending) {
            let said = format!("the runner reported {}; testbot saw {}", counts_text(done), counts_text(seen));
            if unreported.is_empty() {
                let files: Vec<&str> = self.files.iter().map(|f| f.job.path.as_str()).collect();
                end.events.push(RunEvent::ErrorOutsideExamples {
                    slot: self.slot.id,
                    message: format!("{said} (batch: {})", files.join(", ")),
                    output: output.clone(),
                });
            } else {
                mismatch = Some(said);
            }
        }
        let failed = done.failures > 0 || done.errors_outside > 0 || !unreported.is_empty();
        if !exit.success() && !failed && !timed_out {
            end.events.push(RunEvent::ErrorOutsideExamples {
                slot: self.slot.id,
                message: format!("the runner {exit} although none of its examples failed"),
                output,
            });
        }
        mismatch
    }

    /// File `i` crashed its runner or hung: the first time it goes back to run alone on another
    /// slot (its partial results dropped); the second time it is reported with its output.
    fn blame(&mut self, i: usize, end: &mut BatchEnd, kind: FailureKind, what: String) {
        let job = &self.files[i].job;
        let before = match kind {
            FailureKind::Crash => job.crashes,
            FailureKind::Timeout { .. } => job.timeouts,
        };
        if before == 0 {
            let reason = format!("{what}; retrying it once on another slot");
            let mut requeue = self.requeue(i, true, false, reason);
            match kind {
                FailureKind::Crash => requeue.job.crashes += 1,
                FailureKind::Timeout { .. } => requeue.job.timeouts += 1,
            }
            requeue.job.avoid_slot = Some(self.slot.id);
            end.requeue.push(requeue);
            return;
        }
        let ran_seconds = match kind {
            FailureKind::Timeout { seconds } => seconds,
            FailureKind::Crash => self.files[i].examples.iter().fold(0.0, |acc, e| acc + e.seconds),
        };
        let what = format!("{what} (the second time: it did the same on another slot before)");
        let error = match kind {
            FailureKind::Crash => FileError::Crashed(what),
            FailureKind::Timeout { .. } => FileError::TimedOut(what),
        };
        self.files[i].finished = true;
        let event = self.report(i, ran_seconds, Some(error));
        end.events.push(event);
    }

    fn requeue(&mut self, i: usize, alone: bool, counts: bool, reason: String) -> Requeue {
        let file = &mut self.files[i];
        file.finished = true;
        file.reported = true;
        let mut output = std::mem::take(&mut file.output);
        output.append(&self.batch_output);
        Requeue {
            job: file.job.clone(),
            alone,
            counts,
            reason,
            discarded_examples: std::mem::take(&mut file.examples).len(),
            output: output.render(),
            quiet: false,
        }
    }

    /// The runner could not even be started there: every file goes back to the queue quietly,
    /// its output dropped (the run layer takes the host out of the run, with the reason).
    pub fn spawn_failed(mut self) -> BatchEnd {
        let mut end = BatchEnd::default();
        for i in 0..self.files.len() {
            let host = self.slot.host.clone();
            let mut requeue = self.requeue(i, false, false, format!("not run: its host `{host}` could not start a test runner"));
            requeue.output.clear();
            requeue.quiet = true;
            end.requeue.push(requeue);
        }
        end
    }
}

#[derive(Clone, Copy)]
enum FailureKind {
    Crash,
    /// Killed after this many seconds.
    Timeout { seconds: f64 },
}

/// `3 examples, 2 failures, 1 pending`.
fn counts_text(c: Counts) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!("{}, {}, {} pending", plural(c.examples, "example", "examples"), plural(c.failures, "failure", "failures"), c.pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::protocol::ExampleStatusWire;
    use std::sync::Arc;

    fn slot() -> SlotInfo {
        SlotInfo { id: 1, host: Arc::from("local"), host_slot: 1 }
    }

    fn jobs(paths: &[&str]) -> Vec<Job> {
        paths.iter().map(|p| Job::new(*p, 1.0)).collect()
    }

    fn ex(f: &str, s: ExampleStatusWire) -> Piece {
        Piece::Event(Event::Example { f: f.into(), s, d: "d".into(), loc: format!("{f}:1"), l: Some(1), t: 0.1, m: None, bt: vec![], id: Some("1:1".into()) })
    }

    fn ev(e: Event) -> Piece {
        Piece::Event(e)
    }

    fn out(s: &str) -> Piece {
        Piece::Output(s.into())
    }

    fn feed(t: &mut BatchTracker, pieces: Vec<Piece>) -> Vec<RunEvent> {
        let mut events = Vec::new();
        for p in pieces {
            t.piece(p, &mut events);
        }
        events
    }

    fn finished(events: &[RunEvent]) -> Vec<(String, usize, Option<&'static str>, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                RunEvent::FileFinished(r) => Some((r.path.clone(), r.examples.len(), r.error.as_ref().map(|e| e.kind()), r.output.clone())),
                _ => None,
            })
            .collect()
    }

    const OK: Option<u32> = Some(0);
    const CRASH: ExitInfo = ExitInfo { code: None, signal: Some(9) };

    #[test]
    fn clean_batch_reports_each_file_with_its_output() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb", "spec/empty_spec.rb"]));
        let events = feed(
            &mut t,
            vec![
                out("loading"),
                ev(Event::Start { count: 2 }),
                ev(Event::File { f: "./spec/a_spec.rb".into() }),
                out("from a"),
                ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
                ev(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.5 }),
                ev(Event::File { f: "./spec/b_spec.rb".into() }),
                ex("./spec/b_spec.rb", ExampleStatusWire::Failed),
                ev(Event::FileDone { f: "./spec/b_spec.rb".into(), t: 0.2 }),
                // A file with no examples is done too.
                ev(Event::FileDone { f: "./spec/empty_spec.rb".into(), t: 0.0 }),
                ev(Event::Done { examples: 2, failures: 1, pending: 0, errors_outside: 0 }),
            ],
        );
        let live = finished(&events);
        assert_eq!(live, vec![
            ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
            ("spec/b_spec.rb".into(), 1, None, "".into()),
            ("spec/empty_spec.rb".into(), 0, None, "".into()),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
        assert!(end.requeue.is_empty());
        // A failing run may exit 1; what it printed outside files is shown once.
        match &end.events[..] {
            [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "loading"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn output_goes_to_the_file_its_marks_say_whatever_order_it_is_read_in() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
        let marked = |e: Event, q: u64| Piece::Marked(e, q);
        let events = feed(
            &mut t,
            vec![
                ev(Event::Hello),
                // Every event first, as when the event pipe is read before the output pipe.
                marked(Event::File { f: "./spec/a_spec.rb".into() }, 1),
                ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
                marked(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.1 }, 2),
                marked(Event::File { f: "./spec/b_spec.rb".into() }, 3),
                ex("./spec/b_spec.rb", ExampleStatusWire::Failed),
                marked(Event::FileDone { f: "./spec/b_spec.rb".into(), t: 0.1 }, 4),
                ev(Event::Done { examples: 2, failures: 1, pending: 0, errors_outside: 0 }),
                out("loading"),
                Piece::OutputMark(1),
                out("from a"),
                Piece::OutputMark(2),
                Piece::OutputMark(3),
                out("from b"),
                Piece::OutputMark(4),
                out("after the run"),
            ],
        );
        assert_eq!(finished(&events), vec![
            ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
            ("spec/b_spec.rb".into(), 1, None, "from b\n".into()),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
        match &end.events[..] {
            [RunEvent::RunOutput { text, .. }] => assert_eq!(text, "loading\nafter the run"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_the_runner_never_finished_is_an_error_not_a_pass() {
        // `$stdout.close` in one file once hid the next file's failures: whatever the cause, a
        // file with no end event after the runner's summary is not a pass.
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::Hello),
            ev(Event::Start { count: 3 }),
            ev(Event::File { f: "./spec/a_spec.rb".into() }),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ev(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.1 }),
            ev(Event::Done { examples: 3, failures: 2, pending: 0, errors_outside: 0 }),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
        assert!(!end.events.iter().any(|e| matches!(e, RunEvent::ErrorOutsideExamples { .. })), "{:?}", end.events);
        let message = end
            .events
            .iter()
            .find_map(|e| match e {
                RunEvent::FileFinished(r) => r.error.as_ref().map(|e| e.message().to_string()),
                _ => None,
            })
            .unwrap();
        assert!(
            message.contains("without reporting this file as done (the runner reported 3 examples, 2 failures, 0 pending; testbot saw 1 example, 0 failures, 0 pending)"),
            "{message}"
        );
        let files = finished(&end.events);
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!((files[0].0.as_str(), files[0].1, files[0].2), ("spec/b_spec.rb", 0, Some("crashed")));
    }

    #[test]
    fn load_error_errors_that_file_and_requeues_the_others() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/bad_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::LoadError { f: "./spec/bad_spec.rb".into(), m: "SyntaxError".into() }),
            ev(Event::Start { count: 0 }),
            ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1 }),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
        assert_eq!(finished(&end.events), vec![("spec/bad_spec.rb".into(), 0, Some("load error"), "".into())]);
        assert_eq!(end.requeue.len(), 1);
        assert_eq!(end.requeue[0].job.path, "spec/a_spec.rb");
        assert!(!end.requeue[0].alone);
        assert_eq!(end.events.len(), 1, "the load error explains the error outside examples");
    }

    fn kill_batch(jobs_: Vec<Job>) -> BatchTracker {
        let mut t = BatchTracker::new(slot(), jobs_);
        feed(&mut t, vec![
            ev(Event::Start { count: 5 }),
            ev(Event::File { f: "./spec/a_spec.rb".into() }),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ev(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.1 }),
            ev(Event::File { f: "./spec/kill_spec.rb".into() }),
            ex("./spec/kill_spec.rb", ExampleStatusWire::Passed),
            out("about to die"),
        ]);
        t
    }

    #[test]
    fn a_first_crash_retries_the_running_file_alone_elsewhere() {
        let t = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]));
        let end = t.finish(CRASH, Ending::Exited);
        assert!(finished(&end.events).is_empty(), "a_spec was reported live; nothing is final yet");
        let paths: Vec<_> = end.requeue.iter().map(|r| (r.job.path.as_str(), r.alone, r.counts)).collect();
        assert_eq!(paths, [("spec/kill_spec.rb", true, false), ("spec/c_spec.rb", false, false)]);
        let retry = &end.requeue[0];
        assert_eq!((retry.job.crashes, retry.job.avoid_slot, retry.discarded_examples), (1, Some(1), 1));
        assert!(retry.reason.contains("killed by signal 9 (SIGKILL)"), "{}", retry.reason);
        assert!(retry.reason.contains("retrying it once on another slot"));
    }

    #[test]
    fn a_second_crash_errors_the_file_with_its_output() {
        let mut js = jobs(&["spec/a_spec.rb", "spec/kill_spec.rb"]);
        js[1].crashes = 1;
        let end = kill_batch(js).finish(CRASH, Ending::Exited);
        let f = finished(&end.events);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].0.as_str(), f[0].1, f[0].2), ("spec/kill_spec.rb", 1, Some("crashed")));
        assert!(f[0].3.contains("about to die"));
        match &end.events[0] {
            RunEvent::FileFinished(r) => assert!(r.error.as_ref().unwrap().message().contains("the second time")),
            other => panic!("{other:?}"),
        }
        assert!(end.requeue.is_empty());
    }

    #[test]
    fn a_hung_file_is_retried_once_then_timed_out() {
        let hang = |timeouts: u32| {
            let mut js = jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]);
            js[1].timeouts = timeouts;
            kill_batch(js).finish(CRASH, Ending::TimedOut { seconds: 3.0 })
        };
        let first = hang(0);
        assert!(first.events.is_empty());
        assert_eq!(first.requeue[0].job.timeouts, 1);
        assert!(first.requeue[0].reason.contains("ran past its time limit of 3s"));
        assert!(first.requeue[1].reason.contains("its batch stopped at spec/kill_spec.rb"));
        let second = hang(1);
        assert_eq!(finished(&second.events)[0].2, Some("timed out"));
        assert_eq!(second.requeue.len(), 1, "c_spec still runs");
    }

    #[test]
    fn a_lost_host_requeues_every_unfinished_file_blamelessly() {
        let end = kill_batch(jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]))
            .finish(ExitInfo { code: None, signal: None }, Ending::Exited);
        assert!(end.events.is_empty());
        let r: Vec<_> = end.requeue.iter().map(|r| (r.job.path.as_str(), r.counts, r.job.crashes)).collect();
        assert_eq!(r, [("spec/kill_spec.rb", false, 0), ("spec/c_spec.rb", false, 0)]);
        assert!(end.requeue[0].reason.contains("its host `local` was lost"));
    }

    #[test]
    fn death_before_any_file_isolates_the_batch() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
        feed(&mut t, vec![out("boom at load")]);
        let end = t.finish(ExitInfo { code: Some(3), signal: None }, Ending::Exited);
        assert!(end.events.is_empty());
        assert_eq!(end.requeue.len(), 2);
        assert!(end.requeue.iter().all(|r| r.alone && r.counts));
        assert!(end.requeue[0].output.contains("boom at load"));
        assert!(end.requeue[0].reason.contains("exited with status 3"));

        // Alone, the file is to blame: one retry elsewhere, then an error.
        let mut js = jobs(&["spec/a_spec.rb"]);
        js[0].crashes = 1;
        let mut alone = BatchTracker::new(slot(), js);
        feed(&mut alone, vec![out("boom at load")]);
        let end = alone.finish(ExitInfo { code: Some(3), signal: None }, Ending::Exited);
        let f = finished(&end.events);
        assert_eq!(f, vec![("spec/a_spec.rb".into(), 0, Some("crashed"), "boom at load\n".into())]);
    }

    #[test]
    fn bad_exit_without_failures_is_an_error_outside_examples() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::Start { count: 1 }),
            ev(Event::File { f: "./spec/a_spec.rb".into() }),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ev(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.1 }),
            ev(Event::Done { examples: 1, failures: 0, pending: 0, errors_outside: 0 }),
            out("Coverage too low"),
        ]);
        let end = t.finish(ExitInfo { code: Some(2), signal: None }, Ending::Exited);
        match &end.events[..] {
            [RunEvent::ErrorOutsideExamples { message, output, .. }] => {
                assert_eq!(message, "the runner exited with status 2 although none of its examples failed");
                assert!(output.contains("Coverage too low"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn suite_hook_errors_are_reported() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::Message { m: "\nAn error occurred in a `before(:suite)` hook.\nRuntimeError".into(), error: true }),
            ev(Event::Start { count: 0 }),
            ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1 }),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, Ending::Exited);
        let errors: Vec<_> = end.events.iter().filter(|e| matches!(e, RunEvent::ErrorOutsideExamples { .. })).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(finished(&end.events).len(), 1, "the file itself ran (with 0 examples)");
        let _ = OK;
    }

    #[test]
    fn interrupted_batches_settle_nothing() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
        feed(&mut t, vec![ev(Event::Start { count: 1 })]);
        let end = t.finish(CRASH, Ending::Stopped);
        assert!(end.events.is_empty() && end.requeue.is_empty());
    }

    #[test]
    fn a_stopped_file_keeps_the_failures_it_had() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::Start { count: 3 }),
            ev(Event::File { f: "./spec/a_spec.rb".into() }),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ex("./spec/a_spec.rb", ExampleStatusWire::Failed),
        ]);
        let end = t.finish(CRASH, Ending::Stopped);
        assert_eq!(finished(&end.events), vec![("spec/a_spec.rb".into(), 2, None, "".into())]);
        assert!(end.requeue.is_empty(), "b_spec did not run: no report");
    }

    #[test]
    fn captured_output_keeps_head_and_tail() {
        let mut c = Captured::default();
        for i in 0..20_000 {
            c.push_line(&format!("line {i:05}"));
        }
        let text = c.render();
        assert!(text.starts_with("line 00000\n"));
        assert!(text.ends_with("line 19999\n"));
        assert!(text.contains("bytes of output left out"));
        assert!(text.len() < HEAD_LIMIT + 2 * TAIL_LIMIT + 100);
    }
}
