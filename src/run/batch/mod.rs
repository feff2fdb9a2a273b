//! One batch's bookkeeping: turns the runner's output into events, and decides at its end what
//! each file's result is — final, or back to the queue. No I/O here, so every case is unit-tested.


mod captured;
mod check;
mod finish;
mod marks;

pub use captured::Captured;
use check::Counts;
use marks::Marks;
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent, SlotInfo};
use crate::framework::protocol::{Event, LostPart};
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
    /// The runner said (in its `done`) that it stores its coverage result on its host.
    pub coverage: bool,
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

/// How a batch's process ended: its exit status, and what the run did to it.
#[derive(Clone, Copy)]
struct ProcessEnd {
    exit: ExitInfo,
    ending: Ending,
}

impl ProcessEnd {
    fn timed_out(self) -> bool {
        matches!(self.ending, Ending::TimedOut { .. })
    }
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
    /// The runner said it stores its coverage result (SimpleCov runs in it).
    coverage: bool,
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
            coverage: false,
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

    /// The runner said, with its closing counts, that it stores its coverage result on its host
    /// at its exit: only such a host is asked for results at the end of the run.
    pub fn stores_coverage(&self) -> bool {
        self.coverage
    }

    /// The runner got as far as loading testbot's formatter (or runner script).
    pub fn runner_started(&self) -> bool {
        self.hello
    }

    fn event(&mut self, event: Event, mark: Option<u64>, events: &mut Vec<RunEvent>) {
        match event {
            Event::Hello => self.hello = true,
            Event::PreloadReady | Event::ForkReady => {}
            Event::Start { seed, .. } => {
                self.started = true;
                events.extend(seed.map(|seed| RunEvent::BatchSeed { slot: self.slot.id, seed }));
            }
            Event::Profile { count } => events.push(RunEvent::ProfileAsked { examples: count as usize }),
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
                let result = ExampleResult {
                    description: d,
                    location: loc,
                    line: l,
                    status: s.into(),
                    seconds: t,
                    message: m,
                    backtrace: bt,
                    id,
                    earlier_failures: Vec::new(),
                };
                self.example_finished(i, result, events);
            }
            Event::FileDone { file: f, seconds: t } => {
                let i = self.file(&f);
                if self.current == Some(i) {
                    self.current = None;
                }
                self.file_ended(i, t, mark, events);
            }
            Event::LoadError { file: f, message: m } => self.load_error(&f, m),
            Event::Message { message: m, error: true } => self.other_errors.push(m.trim().to_string()),
            Event::Message { message: m, error: false } => {
                if !m.trim().is_empty() {
                    self.messages.push(m.trim_end().to_string());
                }
            }
            Event::Done { examples, failures, pending, errors_outside, coverage } => {
                self.done = Some(Counts { examples, failures, pending, errors_outside });
                self.coverage |= coverage;
            }
            Event::Lost { what, message: m } => self.lost = Some((what, m)),
            Event::ChildEnded => self.child_ended = true,
            Event::Impact { file, paths, ruby } => events.push(self.impact(file, paths, ruby)),
        }
    }

    /// `--record-impact`: what file `file` (None: no file) ran, named as the run names the file.
    fn impact(&mut self, file: Option<String>, paths: Vec<String>, ruby: Option<String>) -> RunEvent {
        let path = file.map(|f| {
            let i = self.file(&f);
            self.files[i].job.path.clone()
        });
        RunEvent::Impact { path, files: paths, ruby }
    }

    /// An example of file `i` finished: counted (to hold against the runner's own counts) and
    /// kept for the file's report.
    fn example_finished(&mut self, i: usize, result: ExampleResult, events: &mut Vec<RunEvent>) {
        let status = result.status;
        self.files[i].started = true;
        self.example = None;
        self.seen.examples += 1;
        match status {
            ExampleStatus::Failed => self.seen.failures += 1,
            ExampleStatus::Pending => self.seen.pending += 1,
            ExampleStatus::Passed => {}
        }
        self.files[i].examples.push(result);
        events.push(RunEvent::ExampleFinished { slot: self.slot.id, status });
    }

    /// A file did not load: its error, or (not a file of this batch: a helper it required) an
    /// error outside examples.
    fn load_error(&mut self, f: &str, m: String) {
        let path = normalize(f);
        if self.index.contains_key(&path) {
            self.load_errors.push((path, m));
        } else {
            self.other_errors.push(m.trim().to_string());
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

}


#[cfg(test)]
mod tests;
