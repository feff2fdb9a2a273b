//! A batch's end: every file not final yet is reported or sent back to the queue, and the blame
//! for a crash or a hang goes to the file that had it.

use super::{BatchEnd, BatchTracker, Blame, Ending, ProcessEnd, Requeue};
use crate::events::{ExampleStatus, FileError, RunEvent};
use crate::framework::protocol::LostPart;
use crate::ssh::ExitInfo;

/// Where a file sent back to the queue runs next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    /// In a batch of its own.
    Alone,
    /// In whatever batch the queue gives it.
    AnyBatch,
}

impl BatchTracker {
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
                    end.requeue.push(self.requeue(i, Next::AnyBatch, Blame::Infrastructure, reason));
                }
            }
            return end;
        }
        let process = ProcessEnd { exit, ending };
        let culprit = self.blame_culprit(process, &mut end);
        let unreported = self.settle_the_rest(process, culprit, !load_errors.is_empty(), &mut end);
        let output = self.batch_output.render();
        for message in &self.other_errors {
            end.events.push(RunEvent::ErrorOutsideExamples { slot: self.slot.id, message: message.clone(), output: output.clone() });
        }
        let mismatch = self.cross_check(process, &unreported, load_errors.len(), &mut end);
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
                end.requeue.push(self.requeue(i, Next::AnyBatch, Blame::Infrastructure, reason));
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
    fn blame_culprit(&mut self, process: ProcessEnd, end: &mut BatchEnd) -> Option<usize> {
        let ProcessEnd { exit, ending } = process;
        let crashed = self.done.is_none();
        let timed_out = process.timed_out();
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
    fn settle_the_rest(&mut self, process: ProcessEnd, culprit: Option<usize>, load_errors: bool, end: &mut BatchEnd) -> Vec<usize> {
        let exit = process.exit;
        let crashed = self.done.is_none();
        let timed_out = process.timed_out();
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
                    end.requeue.push(self.requeue(i, Next::Alone, Blame::OtherFile, "not run: another file in its batch failed to load".into()));
                } else {
                    // The runner finished, but never said this file was done: its results cannot
                    // be trusted to be whole.
                    unreported.push(i);
                }
            } else if let Some(c) = culprit {
                let reason = format!("not run: its batch stopped at {}", self.files[c].job.path);
                end.requeue.push(self.requeue(i, Next::AnyBatch, Blame::OtherFile, reason));
            } else {
                // Never reached, and no file to blame: isolate everyone if nothing started at all.
                let reason = if timed_out {
                    "not run: its batch's runner sat past its time limit before reaching it".to_string()
                } else {
                    format!("not run: its batch's runner process {exit} before reaching it")
                };
                let next = if any_started { Next::AnyBatch } else { Next::Alone };
                end.requeue.push(self.requeue(i, next, Blame::Unknown, reason));
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
            let mut requeue = self.requeue(i, Next::Alone, Blame::Own, reason);
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

    fn requeue(&mut self, i: usize, next: Next, blame: Blame, reason: String) -> Requeue {
        let file = &mut self.files[i];
        file.finished = true;
        file.reported = true;
        let mut output = std::mem::take(&mut file.output);
        output.append(&self.batch_output);
        Requeue {
            job: file.job.clone(),
            alone: next == Next::Alone,
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
            let mut requeue = self.requeue(i, Next::AnyBatch, Blame::Infrastructure, format!("not run: its host `{host}` could not start a test runner"));
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
