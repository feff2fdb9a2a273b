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
    finished: bool,
    examples: Vec<ExampleResult>,
    output: Captured,
}

/// A file the batch gives back to the queue.
#[derive(Debug)]
pub struct Requeue {
    pub job: Job,
    /// Run it in a batch of its own next time.
    pub alone: bool,
    pub reason: String,
    pub discarded_examples: usize,
    pub output: String,
}

#[derive(Debug, Default)]
pub struct BatchEnd {
    pub events: Vec<RunEvent>,
    pub requeue: Vec<Requeue>,
}

pub struct BatchTracker {
    slot: SlotInfo,
    files: Vec<FileState>,
    index: HashMap<String, usize>,
    current: Option<usize>,
    /// What was printed outside any file: while loading, in suite hooks, after the last file.
    batch_output: Captured,
    load_errors: Vec<(String, String)>,
    started: bool,
    done: Option<(u64, u64)>, // (failures, errors outside examples) as the runner counted them
    other_errors: Vec<String>,
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
                FileState { job, started: false, finished: false, examples: Vec::new(), output: Captured::default() }
            })
            .collect();
        BatchTracker {
            slot,
            files,
            index,
            current: None,
            batch_output: Captured::default(),
            load_errors: Vec::new(),
            started: false,
            done: None,
            other_errors: Vec::new(),
        }
    }

    /// The state of `path`, adding it when the runner reports a file it was not given.
    fn file(&mut self, path: &str) -> usize {
        let path = normalize(path);
        if let Some(&i) = self.index.get(&path) {
            return i;
        }
        let i = self.files.len();
        self.index.insert(path.clone(), i);
        let job = Job { path, expected_seconds: 0.0, requeued: 0, alone: false };
        self.files.push(FileState { job, started: false, finished: false, examples: Vec::new(), output: Captured::default() });
        i
    }

    /// The runner has loaded the files and begun running examples.
    pub fn has_started(&self) -> bool {
        self.started
    }

    pub fn piece(&mut self, piece: Piece, events: &mut Vec<RunEvent>) {
        match piece {
            Piece::Output(line) => match self.current {
                Some(i) => self.files[i].output.push_line(&line),
                None => self.batch_output.push_line(&line),
            },
            Piece::Event(event) => self.event(event, events),
        }
    }

    fn event(&mut self, event: Event, events: &mut Vec<RunEvent>) {
        match event {
            Event::Start { .. } => self.started = true,
            Event::File { f } => {
                let i = self.file(&f);
                self.files[i].started = true;
                self.current = Some(i);
            }
            Event::Example { f, s, d, loc, l, t, m, bt } => {
                let i = self.file(&f);
                let status: ExampleStatus = s.into();
                self.files[i].started = true;
                self.files[i].examples.push(ExampleResult {
                    description: d,
                    location: loc,
                    line: l,
                    status,
                    seconds: t,
                    message: m,
                    backtrace: bt,
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
                    events.push(self.report(i, t, None));
                }
            }
            Event::LoadError { f, m } => {
                let path = normalize(&f);
                self.load_errors.push((path, m));
            }
            Event::Message { m } => {
                if m.trim_start().starts_with("An error occurred") {
                    self.other_errors.push(m.trim().to_string());
                }
            }
            Event::Done { failures, errors_outside, .. } => self.done = Some((failures, errors_outside)),
        }
    }

    fn report(&mut self, i: usize, seconds: f64, error: Option<FileError>) -> RunEvent {
        let file = &mut self.files[i];
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

    /// The process ended (`killed`: by us, on interrupt). Everything not final yet is settled here.
    pub fn finish(mut self, exit: ExitInfo, killed: bool) -> BatchEnd {
        let mut end = BatchEnd::default();
        if killed {
            // Interrupted: what finished keeps its results; the rest did not run.
            return end;
        }
        let load_errors = std::mem::take(&mut self.load_errors);
        for (path, message) in &load_errors {
            let i = self.file(path);
            self.files[i].finished = true;
            let event = self.report(i, 0.0, Some(FileError::Load(message.trim().to_string())));
            end.events.push(event);
        }
        let crashed = self.done.is_none();
        let any_started = self.files.iter().any(|f| f.started);
        let batch_len = self.files.len();
        for i in 0..self.files.len() {
            if self.files[i].finished {
                continue;
            }
            let file = &self.files[i];
            let ran_seconds = file.examples.iter().fold(0.0, |acc, e| acc + e.seconds);
            if !crashed {
                if !load_errors.is_empty() && !file.started {
                    // RSpec runs nothing once a file fails to load; these files are blameless.
                    end.requeue.push(self.requeue(i, false, "not run: another file in its batch failed to load".into()));
                } else {
                    // The runner finished normally (a file with no examples, or examples filtered out).
                    let event = self.report(i, ran_seconds, None);
                    end.events.push(event);
                }
            } else if file.started {
                let why = format!("the runner process {exit} while running this file");
                let event = self.report(i, ran_seconds, Some(FileError::Crashed(why)));
                end.events.push(event);
            } else if !any_started && batch_len == 1 {
                let why = format!("the runner process {exit} before running any example");
                let event = self.report(i, 0.0, Some(FileError::Crashed(why)));
                end.events.push(event);
            } else {
                // Never reached. If nothing at all started, the culprit is unknown: isolate everyone.
                let reason = format!("not run: its batch's runner process {exit} before reaching it");
                end.requeue.push(self.requeue(i, !any_started, reason));
            }
        }
        let output = self.batch_output.render();
        for message in &self.other_errors {
            end.events.push(RunEvent::ErrorOutsideExamples { slot: self.slot.id, message: message.clone(), output: output.clone() });
        }
        if let Some((failures, errors_outside)) = self.done {
            let explained = (load_errors.len() + self.other_errors.len()) as u64;
            if errors_outside > explained {
                end.events.push(RunEvent::ErrorOutsideExamples {
                    slot: self.slot.id,
                    message: format!("the runner reported {} error(s) outside of examples", errors_outside - explained),
                    output: output.clone(),
                });
            }
            if !exit.success() && failures == 0 && errors_outside == 0 {
                end.events.push(RunEvent::ErrorOutsideExamples {
                    slot: self.slot.id,
                    message: format!("the runner {exit} although none of its examples failed"),
                    output,
                });
            }
        }
        end
    }

    fn requeue(&mut self, i: usize, alone: bool, reason: String) -> Requeue {
        let file = &mut self.files[i];
        let mut output = std::mem::take(&mut file.output);
        output.append(&self.batch_output);
        Requeue {
            job: file.job.clone(),
            alone,
            reason,
            discarded_examples: std::mem::take(&mut file.examples).len(),
            output: output.render(),
        }
    }

    /// The runner could not even be started: every file errors with the reason.
    pub fn spawn_failed(mut self, reason: &str) -> BatchEnd {
        let mut end = BatchEnd::default();
        for i in 0..self.files.len() {
            let event = self.report(i, 0.0, Some(FileError::NotRun(reason.to_string())));
            end.events.push(event);
        }
        end
    }
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
        paths.iter().map(|p| Job { path: p.to_string(), expected_seconds: 1.0, requeued: 0, alone: false }).collect()
    }

    fn ex(f: &str, s: ExampleStatusWire) -> Piece {
        Piece::Event(Event::Example { f: f.into(), s, d: "d".into(), loc: format!("{f}:1"), l: Some(1), t: 0.1, m: None, bt: vec![] })
    }

    fn ev(e: Event) -> Piece {
        Piece::Event(e)
    }

    fn out(s: &str) -> Piece {
        Piece::Output(s.into())
    }

    fn done() -> Piece {
        ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 0 })
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
                ev(Event::Done { examples: 2, failures: 1, pending: 0, errors_outside: 0 }),
            ],
        );
        let live = finished(&events);
        assert_eq!(live, vec![
            ("spec/a_spec.rb".into(), 1, None, "from a\n".into()),
            ("spec/b_spec.rb".into(), 1, None, "".into()),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, false);
        assert_eq!(finished(&end.events), vec![("spec/empty_spec.rb".into(), 0, None, "".into())]);
        assert!(end.requeue.is_empty());
        assert_eq!(end.events.len(), 1, "a failing run may exit 1: {:?}", end.events);
    }

    #[test]
    fn load_error_errors_that_file_and_requeues_the_others() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/bad_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::LoadError { f: "./spec/bad_spec.rb".into(), m: "SyntaxError".into() }),
            ev(Event::Start { count: 0 }),
            ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1 }),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, false);
        assert_eq!(finished(&end.events), vec![("spec/bad_spec.rb".into(), 0, Some("load error"), "".into())]);
        assert_eq!(end.requeue.len(), 1);
        assert_eq!(end.requeue[0].job.path, "spec/a_spec.rb");
        assert!(!end.requeue[0].alone);
        assert_eq!(end.events.len(), 1, "the load error explains the error outside examples");
    }

    #[test]
    fn crash_errors_the_running_file_and_requeues_the_unstarted() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/kill_spec.rb", "spec/c_spec.rb"]));
        feed(&mut t, vec![
            ev(Event::Start { count: 5 }),
            ev(Event::File { f: "./spec/a_spec.rb".into() }),
            ex("./spec/a_spec.rb", ExampleStatusWire::Passed),
            ev(Event::FileDone { f: "./spec/a_spec.rb".into(), t: 0.1 }),
            ev(Event::File { f: "./spec/kill_spec.rb".into() }),
            ex("./spec/kill_spec.rb", ExampleStatusWire::Passed),
            out("about to die"),
        ]);
        let end = t.finish(CRASH, false);
        let f = finished(&end.events);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "spec/kill_spec.rb");
        assert_eq!(f[0].1, 1);
        assert_eq!(f[0].2, Some("crashed"));
        assert!(f[0].3.contains("about to die"));
        match &end.events[0] {
            RunEvent::FileFinished(r) => assert!(r.error.as_ref().unwrap().message().contains("killed by signal 9 (SIGKILL)")),
            other => panic!("{other:?}"),
        }
        assert_eq!(end.requeue.iter().map(|r| r.job.path.as_str()).collect::<Vec<_>>(), ["spec/c_spec.rb"]);
        assert!(!end.requeue[0].alone);
    }

    #[test]
    fn death_before_any_file_isolates_the_batch() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb", "spec/b_spec.rb"]));
        feed(&mut t, vec![out("boom at load")]);
        let end = t.finish(ExitInfo { code: Some(3), signal: None }, false);
        assert!(end.events.is_empty());
        assert_eq!(end.requeue.len(), 2);
        assert!(end.requeue.iter().all(|r| r.alone));
        assert!(end.requeue[0].output.contains("boom at load"));
        assert!(end.requeue[0].reason.contains("exited with status 3"));

        let mut alone = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
        feed(&mut alone, vec![out("boom at load")]);
        let end = alone.finish(ExitInfo { code: Some(3), signal: None }, false);
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
            done(),
            out("Coverage too low"),
        ]);
        let end = t.finish(ExitInfo { code: Some(2), signal: None }, false);
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
            ev(Event::Message { m: "\nAn error occurred in a `before(:suite)` hook.\nRuntimeError".into() }),
            ev(Event::Start { count: 0 }),
            ev(Event::Done { examples: 0, failures: 0, pending: 0, errors_outside: 1 }),
        ]);
        let end = t.finish(ExitInfo { code: Some(1), signal: None }, false);
        let errors: Vec<_> = end.events.iter().filter(|e| matches!(e, RunEvent::ErrorOutsideExamples { .. })).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(finished(&end.events).len(), 1, "the file itself ran (with 0 examples)");
        let _ = OK;
    }

    #[test]
    fn interrupted_batches_settle_nothing() {
        let mut t = BatchTracker::new(slot(), jobs(&["spec/a_spec.rb"]));
        feed(&mut t, vec![ev(Event::Start { count: 1 })]);
        let end = t.finish(CRASH, true);
        assert!(end.events.is_empty() && end.requeue.is_empty());
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
