//! One batch's bookkeeping: turns the runner's output into events, and decides at its end what
//! each file's result is — final, or back to the queue. No I/O here, so every case is unit-tested.


mod captured;
mod check;

pub use captured::Captured;
use check::Counts;
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent, SlotInfo};
use crate::framework::protocol::{Event, LostPart, Piece};
use crate::schedule::Job;
use crate::ssh::ExitInfo;
use std::collections::HashMap;

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
    /// Whose failure sent it back: only its own counts against its bound on starts.
    pub blame: Blame,
    pub reason: String,
    pub discarded_examples: usize,
    /// Its host failed, not it: the host's reason is said once, with the host (no RETRY line).
    pub quiet: bool,
    pub output: String,
}

/// Whose failure sent a file back to the queue. Only a failure that may be the file's own is
/// charged to it (its start counts against its bound); a file sent back because of another
/// file, or because the machinery under it went away, was never given a fair start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// It crashed or hung its runner itself (its crash or timeout counter says so).
    Own,
    /// Its batch's runner died before reaching it, with no file to blame: it may be its doing,
    /// so it counts towards the limit of requeues too.
    Unknown,
    /// Another file in its batch failed (did not load, crashed, hung) before it ran.
    OtherFile,
    /// Its host, the host's fork server, its batch's keeper or client went away: an exit status
    /// the framework never produced.
    Infrastructure,
}

impl Blame {
    /// Whether the start it had counts against the file's bound on starts.
    pub fn charged(self) -> bool {
        matches!(self, Blame::Own | Blame::Unknown)
    }
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
    /// The batch's client said what went away under it: its exit status is not the framework's.
    lost: Option<(LostPart, String)>,
    /// The batch's client said its child ended (and it ends the same way).
    child_ended: bool,
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
            lost: None,
            child_ended: false,
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

    /// The slot it runs on.
    pub fn slot(&self) -> &SlotInfo {
        &self.slot
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
                // Past a mark whose event has not come yet (the output pipe read first, as
                // a forked runner's burst often is): it waits for that event, even the first.
                if q == 0 {
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
            Event::PreloadReady | Event::ForkReady => {}
            Event::Start { seed, .. } => {
                self.started = true;
                if let Some(seed) = seed {
                    events.push(RunEvent::BatchSeed { slot: self.slot.id, seed });
                }
            }
            Event::ExampleStarted { file: f, description: d, location: loc } => {
                let i = self.file(&f);
                self.files[i].started = true;
                self.example = Some((d, loc));
            }
            Event::File { file: f } => {
                let i = self.file(&f);
                self.files[i].started = true;
                self.current = Some(i);
                let job = &self.files[i].job;
                events.push(RunEvent::FileStarted { slot: self.slot.id, path: job.path.clone(), expected_seconds: job.expected_seconds });
                self.marked(mark, events);
            }
            Event::Example { file: f, status: s, description: d, location: loc, line: l, seconds: t, message: m, backtrace: bt, id } => {
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
            Event::FileDone { file: f, seconds: t } => {
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
            Event::LoadError { file: f, message: m } => {
                let path = normalize(&f);
                if self.index.contains_key(&path) {
                    self.load_errors.push((path, m));
                } else {
                    // Not a file of this batch (a helper it required): an error outside examples.
                    self.other_errors.push(m.trim().to_string());
                }
            }
            Event::Message { message: m, error: true } => self.other_errors.push(m.trim().to_string()),
            Event::Message { message: m, error: false } => {
                if !m.trim().is_empty() {
                    self.messages.push(m.trim_end().to_string());
                }
            }
            Event::Done { examples, failures, pending, errors_outside } => {
                self.done = Some(Counts { examples, failures, pending, errors_outside })
            }
            Event::Lost { what, message: m } => self.lost = Some((what, m)),
            Event::ChildEnded => self.child_ended = true,
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
            self.finish_stopped(&mut end);
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
                    end.requeue.push(self.requeue(i, false, Blame::Infrastructure, reason));
                }
            }
            return end;
        }
        let culprit = self.blame_culprit(exit, ending, &mut end);
        let unreported = self.settle_the_rest(exit, ending, culprit, !load_errors.is_empty(), &mut end);
        let output = self.batch_output.render();
        for message in &self.other_errors {
            end.events.push(RunEvent::ErrorOutsideExamples { slot: self.slot.id, message: message.clone(), output: output.clone() });
        }
        let timed_out = matches!(ending, Ending::TimedOut { .. });
        let mismatch = self.done.and_then(|done| self.cross_check(done, exit, timed_out, &unreported, &load_errors, &mut end));
        for i in unreported {
            let seconds = self.files[i].examples.iter().fold(0.0, |acc, e| acc + e.seconds);
            let counts = mismatch.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
            let why = format!("the runner {exit} without reporting this file as done{counts}: an example ended its process, or its results were lost");
            self.files[i].finished = true;
            let event = self.report(i, seconds, Some(FileError::Crashed(why)));
            end.events.push(event);
        }
        self.run_output(output, &mut end);
        end
    }

    /// The batch's client said how its child ended (a client killed from outside did not).
    pub fn child_ended(&self) -> bool {
        self.child_ended
    }

    /// The batch's client was killed from outside (`why`): nothing the framework did.
    pub fn client_killed(&mut self, why: String) {
        self.lost = Some((LostPart::Keeper, why));
    }

    /// What went away under the batch, as its client said (None: nothing did).
    pub fn lost_under(&self) -> Option<(LostPart, &str)> {
        self.lost.as_ref().map(|(what, m)| (*what, m.as_str()))
    }

    /// The batch ended through no doing of the framework's (its server or keeper went away): what
    /// the framework reported done keeps its result (and a load error is its own); the rest is
    /// not proven and goes back to the queue, uncharged. The exit status is not the framework's
    /// and says nothing.
    pub fn finish_lost(mut self) -> BatchEnd {
        let mut end = BatchEnd::default();
        self.flush_marks(&mut end.events);
        let load_errors = std::mem::take(&mut self.load_errors);
        for (path, message) in &load_errors {
            let i = self.file(path);
            if !self.files[i].finished {
                self.files[i].finished = true;
                let event = self.report(i, 0.0, Some(FileError::Load(message.trim().to_string())));
                end.events.push(event);
            }
        }
        let why = self.lost.as_ref().map_or_else(String::new, |(_, m)| m.clone());
        for i in 0..self.files.len() {
            if !self.files[i].finished {
                let reason = format!("not finished: {why}");
                end.requeue.push(self.requeue(i, false, Blame::Infrastructure, reason));
            }
        }
        end
    }

    /// Stopped by the run: what finished keeps its results; the rest did not run. A file stopped
    /// in the middle keeps the failures it had (they may be what stopped the run: fail-fast).
    fn finish_stopped(&mut self, end: &mut BatchEnd) {
        if let Some(i) = self.running() {
            if self.files[i].examples.iter().any(|e| e.status == ExampleStatus::Failed) {
                let ran_seconds = self.files[i].examples.iter().fold(0.0, |acc, e| acc + e.seconds);
                self.files[i].finished = true;
                let event = self.report(i, ran_seconds, None);
                end.events.push(event);
            }
        }
    }

    /// A crash or a hang is blamed on the file running (or the only one), named with the
    /// example it was in; returns that file.
    fn blame_culprit(&mut self, exit: ExitInfo, ending: Ending, end: &mut BatchEnd) -> Option<usize> {
        let crashed = self.done.is_none();
        let timed_out = matches!(ending, Ending::TimedOut { .. });
        if !crashed && !timed_out {
            return None;
        }
        let any_started = self.files.iter().any(|f| f.started);
        let culprit = self.running().or((!any_started && self.files.len() == 1 && !self.files[0].finished).then_some(0))?;
        let during = match &self.example {
            Some((description, location)) if self.files[culprit].started => format!(" in `{description}` ({location})"),
            _ => String::new(),
        };
        if let Ending::TimedOut { seconds } = ending {
            let what = format!("ran past its time limit of {seconds:.0}s{during} and was killed");
            self.blame(culprit, end, FailureKind::Timeout { seconds }, what);
        } else {
            let what = if self.files[culprit].started {
                format!("the runner process {exit} while running this file{during}")
            } else {
                format!("the runner process {exit} before running any example")
            };
            self.blame(culprit, end, FailureKind::Crash, what);
        }
        Some(culprit)
    }

    /// The files not settled yet: back to the queue, or (the runner finished without their
    /// end) returned as unreported.
    fn settle_the_rest(&mut self, exit: ExitInfo, ending: Ending, culprit: Option<usize>, load_errors: bool, end: &mut BatchEnd) -> Vec<usize> {
        let crashed = self.done.is_none();
        let timed_out = matches!(ending, Ending::TimedOut { .. });
        let any_started = self.files.iter().any(|f| f.started);
        let mut unreported = Vec::new();
        for i in 0..self.files.len() {
            if self.files[i].finished || Some(i) == culprit {
                continue;
            }
            if !crashed && !timed_out {
                if load_errors && !self.files[i].started {
                    // RSpec runs nothing once a file fails to load; these files are blameless,
                    // and go back to run alone: batched again with another file that fails to
                    // load they would reach their start limit without ever running.
                    end.requeue.push(self.requeue(i, true, Blame::OtherFile, "not run: another file in its batch failed to load".into()));
                } else {
                    // The runner finished, but never said this file was done: its results cannot
                    // be trusted to be whole.
                    unreported.push(i);
                }
            } else if let Some(c) = culprit {
                let reason = format!("not run: its batch stopped at {}", self.files[c].job.path);
                end.requeue.push(self.requeue(i, false, Blame::OtherFile, reason));
            } else {
                // Never reached, and no file to blame: isolate everyone if nothing started at all.
                let reason = if timed_out {
                    "not run: its batch's runner sat past its time limit before reaching it".to_string()
                } else {
                    format!("not run: its batch's runner process {exit} before reaching it")
                };
                end.requeue.push(self.requeue(i, !any_started, Blame::Unknown, reason));
            }
        }
        unreported
    }

    /// What the runner printed outside files, and what the framework said outside examples,
    /// when no error carries it already: the reporter shows it once, in the summary.
    fn run_output(&mut self, output: String, end: &mut BatchEnd) {
        let carried = end.events.iter().any(|e| match e {
            RunEvent::ErrorOutsideExamples { .. } => true,
            RunEvent::FileFinished(report) => matches!(report.error, Some(FileError::Load(_) | FileError::Crashed(_))),
            _ => false,
        });
        if carried || self.done.is_none() {
            return;
        }
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
            let mut requeue = self.requeue(i, true, Blame::Own, reason);
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

    fn requeue(&mut self, i: usize, alone: bool, blame: Blame, reason: String) -> Requeue {
        let file = &mut self.files[i];
        file.finished = true;
        file.reported = true;
        let mut output = std::mem::take(&mut file.output);
        output.append(&self.batch_output);
        Requeue {
            job: file.job.clone(),
            alone,
            blame,
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
            let mut requeue = self.requeue(i, false, Blame::Infrastructure, format!("not run: its host `{host}` could not start a test runner"));
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


#[cfg(test)]
mod tests;
