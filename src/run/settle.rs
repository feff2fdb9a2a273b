//! Where file reports go on their way out of the engine: the pieces of a split file are put back
//! together, a file with failed examples waits for their reruns (`--retries`), requeued files
//! go back to the queue, and no file is started more often than its bound.

use super::{Blame, Policy, Requeue};
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent};
use crate::schedule::{Batch, Job, Queue};
use std::collections::HashMap;

/// Where the run is when a report settles: a stopping run retries nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunPhase {
    Running,
    /// Stopping (a signal, fail-fast, the run's timeout), or with nowhere left to run.
    Stopping,
}

impl RunPhase {
    pub(super) fn of(stopped: Option<crate::events::Stop>) -> RunPhase {
        if stopped.is_some() {
            RunPhase::Stopping
        } else {
            RunPhase::Running
        }
    }
}

/// A file that went back to the queue this often is reported as not run instead.
const MAX_REQUEUES: u32 = 2;

/// A file report held back while its failed examples run again (`--retries`).
struct Held {
    report: FileReport,
    attempt: u32,
}

pub(super) fn not_run(job: Job, why: String, output: String) -> FileReport {
    // The summary says "not run" already.
    let why = why.strip_prefix("not run: ").map(str::to_string).unwrap_or(why);
    FileReport {
        path: job.path,
        slot: None,
        seconds: 0.0,
        expected_seconds: job.expected_seconds,
        examples: Vec::new(),
        error: Some(FileError::NotRun(why)),
        output,
    }
}

/// Where file reports go on their way to the reporter: the pieces of a split file are put back
/// together, and a file with failed examples waits for their reruns (`--retries`).
pub(super) struct Settle<'a> {
    policy: &'a Policy,
    held: HashMap<String, Held>,
    /// Split files: pieces still to come, and what the others reported.
    pieces: HashMap<String, (u32, Option<FileReport>)>,
    /// Into how many pieces each split file was cut (kept after its pieces are merged: a rerun
    /// of its failures is bounded by all of them).
    split: HashMap<String, u32>,
    /// How often each file (each of its pieces counted) was handed to a runner and the start
    /// was its own: a start that ended because of another file or lost infrastructure is given
    /// back (`Blame::charged`).
    starts: HashMap<String, u32>,
    /// How often each file was handed to a runner, whatever the start's end.
    handed: HashMap<String, u32>,
}

/// A file (or each piece of a split file) is handed to a runner at most this many times plus
/// `--retries` for starts of its own: once, once more alone after a crash or a hang. Past it
/// the file is reported as not run; so a run always ends.
const STARTS_PER_FILE: u32 = 2;

/// Starts that were not the file's own (another file failed, a host or a fork server went away)
/// are not charged, but they are bounded too: each is some other failure, and those are bounded,
/// yet a run must end whatever goes wrong. Past this many the file is reported as not run.
const HANDOUTS_PER_FILE: u32 = 8;

impl<'a> Settle<'a> {
    pub(super) fn new(policy: &'a Policy, jobs: &[Vec<Job>]) -> Settle<'a> {
        let pieces: HashMap<String, (u32, Option<FileReport>)> = jobs
            .iter()
            .filter(|f| f.len() > 1)
            .map(|f| (f[0].path.clone(), (f.len() as u32, None)))
            .collect();
        let split = pieces.iter().map(|(path, (n, _))| (path.clone(), *n)).collect();
        Settle { policy, held: HashMap::new(), pieces, split, starts: HashMap::new(), handed: HashMap::new() }
    }

    fn pieces_of(&self, path: &str) -> u32 {
        self.split.get(path).copied().unwrap_or(1).max(1)
    }

    /// The most times `path` may be handed to a runner for starts of its own.
    fn bound(&self, path: &str) -> u32 {
        (STARTS_PER_FILE + self.policy.retries) * self.pieces_of(path)
    }

    fn at_bound(&self, path: &str) -> bool {
        self.starts.get(path).copied().unwrap_or(0) >= self.bound(path)
    }

    /// The most times `path` may be handed to a runner at all.
    fn handout_bound(&self, path: &str) -> u32 {
        (HANDOUTS_PER_FILE + self.policy.retries) * self.pieces_of(path)
    }

    fn handed_out(&self, path: &str) -> u32 {
        self.handed.get(path).copied().unwrap_or(0)
    }

    /// A batch is about to start: counts its files' starts. A file that would pass a bound is
    /// reported as not run instead of started (`requeues` and retries never send one back that
    /// far, but the bound is an accounting rule, never a reason to abort the run). Returns what
    /// is left of the batch (None: nothing) and the failures that made final.
    pub(super) fn starting(&mut self, batch: Batch, queue: &mut Queue, emit: &mut (dyn FnMut(RunEvent) + Send)) -> (Option<Batch>, usize) {
        let mut failures = 0;
        let mut jobs = Vec::with_capacity(batch.jobs.len());
        for job in batch.jobs {
            let starts = self.starts.get(&job.path).copied().unwrap_or(0);
            let handed = self.handed_out(&job.path);
            if starts >= self.bound(&job.path) || handed >= self.handout_bound(&job.path) {
                let why = format!("it was handed to a runner {handed} times without a result; testbot gives up on it");
                failures += self.file(not_run(job, why, String::new()), queue, RunPhase::Running, emit);
                continue;
            }
            *self.starts.entry(job.path.clone()).or_default() += 1;
            *self.handed.entry(job.path.clone()).or_default() += 1;
            jobs.push(job);
        }
        ((!jobs.is_empty()).then_some(Batch { jobs }), failures)
    }

    /// A report from a batch: final, or held while failed examples run again, or one piece of a
    /// split file. Returns the failures it makes final (for `--fail-fast`).
    pub(super) fn file(&mut self, report: FileReport, queue: &mut Queue, phase: RunPhase, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let report = match self.pieces.get_mut(&report.path) {
            None => report,
            Some((left, acc)) => {
                *left -= 1;
                let merged = match acc.take() {
                    None => report,
                    Some(earlier) => earlier.join_piece(report),
                };
                if *left > 0 {
                    *acc = Some(merged);
                    return 0;
                }
                self.pieces.remove(&merged.path);
                merged
            }
        };
        let policy = self.policy;
        let (report, attempt) = match self.held.remove(&report.path) {
            Some(earlier) => (merge_retry(earlier.report, report), earlier.attempt),
            None => (report, 0),
        };
        let failed: Vec<&ExampleResult> = report.examples.iter().filter(|e| e.status == ExampleStatus::Failed).collect();
        if phase == RunPhase::Running && report.error.is_none() && !failed.is_empty() && attempt < policy.retries && !self.at_bound(&report.path) {
            let mut job = Job::new(report.path.clone(), failed.iter().fold(0.0, |a, e| a + e.seconds));
            // Without ids for every failed example, the whole file runs again.
            if failed.iter().all(|e| e.id.is_some()) {
                job.examples = failed.iter().filter_map(|e| e.id.clone()).collect();
            }
            job.attempt = attempt + 1;
            let failures = failed.iter().map(|e| try_failure(e)).collect();
            emit(RunEvent::FileRetrying { path: report.path.clone(), failed: failed.len(), attempt: attempt + 1, failures });
            self.held.insert(report.path.clone(), Held { report, attempt: attempt + 1 });
            queue.retry(job);
            return 0;
        }
        let counted = if policy.retries == 0 && policy.quarantine.is_empty() {
            // Failed examples were counted live; only the file's own error is new.
            usize::from(report.error.is_some())
        } else {
            // A quarantined example's failure does not fail the run, nor stop it (`--fail-fast`).
            let excused = failed.iter().filter(|e| policy.quarantine.holds(&report.path, e)).count();
            failed.len() - excused + usize::from(report.error.is_some())
        };
        emit(RunEvent::FileFinished(Box::new(report)));
        counted
    }

    /// Files a batch gave back: to the queue again, or reported as not run when they went back
    /// too often. A file sent back through no failure of its own gets its start back. Returns
    /// the failures that makes final.
    pub(super) fn requeues(&mut self, requeue: Vec<Requeue>, queue: &mut Queue, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let mut failures = 0;
        for r in requeue {
            if !r.blame.charged() {
                if let Some(starts) = self.starts.get_mut(&r.job.path) {
                    *starts = starts.saturating_sub(1);
                }
            }
            if r.blame == Blame::Unknown && r.job.requeued >= MAX_REQUEUES {
                let why = format!("{} ({} times)", r.reason, r.job.requeued + 1);
                failures += self.file(not_run(r.job, why, r.output), queue, RunPhase::Running, emit);
            } else if self.at_bound(&r.job.path) || self.handed_out(&r.job.path) >= self.handout_bound(&r.job.path) {
                let why = format!("{} (it was started {} times without a result; testbot gives up on it)", r.reason, self.handed_out(&r.job.path));
                failures += self.file(not_run(r.job, why, r.output), queue, RunPhase::Running, emit);
            } else {
                if !r.quiet {
                    emit(RunEvent::FileRequeued {
                        path: r.job.path.clone(),
                        reason: r.reason,
                        discarded_examples: r.discarded_examples,
                    });
                }
                if r.blame == Blame::Unknown {
                    queue.requeue(r.job, r.alone);
                } else {
                    let mut job = r.job;
                    job.alone = r.alone;
                    queue.retry(job);
                }
            }
        }
        failures
    }

    /// At the end: retries that never ran leave the failures standing; a split file stopped
    /// half-way is reported only for the failures it had.
    pub(super) fn flush(self, emit: &mut (dyn FnMut(RunEvent) + Send)) {
        let mut left: Vec<FileReport> = self.held.into_values().map(|h| h.report).collect();
        left.extend(
            self.pieces
                .into_values()
                .filter_map(|(_, acc)| acc)
                .filter(|r| r.error.is_some() || r.count(ExampleStatus::Failed) > 0),
        );
        left.sort_by(|a, b| a.path.cmp(&b.path));
        for report in left {
            emit(RunEvent::FileFinished(Box::new(report)));
        }
    }
}

/// A failed example in one line, for the try's line in the display: `adds: expected: 2`.
fn try_failure(example: &ExampleResult) -> String {
    let first = example.message.as_deref().unwrap_or("").lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("Failure/Error:"));
    match first {
        Some(line) => format!("{}: {line}", example.description),
        None => example.description.clone(),
    }
}

/// The earlier report with what a rerun of its failed examples found: an example that passed
/// now is flaky (it keeps its earlier failure); one that failed again keeps failing.
fn merge_retry(mut earlier: FileReport, rerun: FileReport) -> FileReport {
    earlier.seconds += rerun.seconds;
    if rerun.error.is_some() {
        // The rerun itself broke (it crashed, did not load): the failures stand as they were.
        return earlier;
    }
    for ex in earlier.examples.iter_mut().filter(|e| e.status == ExampleStatus::Failed) {
        let same = |r: &&ExampleResult| match (&ex.id, &r.id) {
            (Some(a), Some(b)) => a == b,
            _ => r.location == ex.location && r.description == ex.description,
        };
        if let Some(again) = rerun.examples.iter().find(same) {
            let mut earlier_failures = std::mem::take(&mut ex.earlier_failures);
            earlier_failures.push(ex.message.clone().unwrap_or_else(|| "failed".into()));
            *ex = ExampleResult { earlier_failures, ..again.clone() };
        }
    }
    if !rerun.output.trim().is_empty() {
        earlier.output.push_str(&format!("[rerun of failed examples]\n{}", rerun.output));
    }
    earlier
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Tuning;

    fn sent_back(job: Job, blame: Blame) -> Requeue {
        Requeue { job, alone: false, blame, reason: "not run: x".into(), discarded_examples: 0, quiet: false, output: String::new() }
    }

    /// Starts `path` from the queue once more and gives it back with `blame`; the events said.
    fn start_and_send_back(settle: &mut Settle, queue: &mut Queue, blame: Blame) -> Vec<RunEvent> {
        let mut events = Vec::new();
        let mut emit = |e: RunEvent| events.push(e);
        let Some(batch) = queue.next_batch() else { return events };
        let (batch, _) = settle.starting(batch, queue, &mut emit);
        if let Some(batch) = batch {
            let back = batch.jobs.into_iter().map(|j| sent_back(j, blame)).collect();
            settle.requeues(back, queue, &mut emit);
        }
        events
    }

    fn not_run_reason(events: &[RunEvent]) -> Option<String> {
        events.iter().find_map(|e| match e {
            RunEvent::FileFinished(r) => r.error.as_ref().map(|e| e.message().to_string()),
            _ => None,
        })
    }

    #[test]
    fn starts_ended_by_another_file_are_not_charged_but_still_bounded() {
        let policy = Policy::default();
        let jobs = vec![vec![Job::new("spec/a_spec.rb", 1.0)]];
        let mut settle = Settle::new(&policy, &jobs);
        let mut queue = Queue::with_jobs(jobs.clone(), &[true], &[0], Tuning::default());
        for _ in 0..HANDOUTS_PER_FILE - 1 {
            let events = start_and_send_back(&mut settle, &mut queue, Blame::OtherFile);
            assert_eq!(not_run_reason(&events), None, "sent back by others: still queued");
        }
        let events = start_and_send_back(&mut settle, &mut queue, Blame::Infrastructure);
        let why = not_run_reason(&events).expect("past the bound on handouts: not run, never an abort");
        assert!(why.contains("8 times"), "{why}");
        assert!(queue.is_empty());
    }

    #[test]
    fn its_own_failed_starts_are_charged() {
        let policy = Policy::default();
        let jobs = vec![vec![Job::new("spec/a_spec.rb", 1.0)]];
        let mut settle = Settle::new(&policy, &jobs);
        let mut queue = Queue::with_jobs(jobs.clone(), &[true], &[0], Tuning::default());
        assert_eq!(not_run_reason(&start_and_send_back(&mut settle, &mut queue, Blame::Own)), None);
        let why = not_run_reason(&start_and_send_back(&mut settle, &mut queue, Blame::Own)).expect("two own starts: not run");
        assert!(why.contains("2 times"), "{why}");
    }
}
