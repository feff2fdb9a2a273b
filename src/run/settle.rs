//! Where file reports go on their way out of the engine: the pieces of a split file are put back
//! together, a file with failed examples waits for their reruns (`--retries`), requeued files
//! go back to the queue, and no file is started more often than its bound.

use super::{Policy, Requeue};
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent};
use crate::schedule::{Batch, Job, Queue};
use std::collections::HashMap;

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
    /// How often each file (each of its pieces counted) was handed to a runner.
    starts: HashMap<String, u32>,
}

/// A file (or each piece of a split file) is handed to a runner at most this many times plus
/// `--retries`: once, once more alone after a crash, a hang or a lost host. Past it the file is
/// reported as not run, whatever sent it back; so a run always ends.
const STARTS_PER_FILE: u32 = 2;

impl<'a> Settle<'a> {
    pub(super) fn new(policy: &'a Policy, jobs: &[Vec<Job>]) -> Settle<'a> {
        let pieces = jobs
            .iter()
            .filter(|f| f.len() > 1)
            .map(|f| (f[0].path.clone(), (f.len() as u32, None)))
            .collect();
        Settle { policy, held: HashMap::new(), pieces, starts: HashMap::new() }
    }

    /// The most times `path` may be handed to a runner.
    fn bound(&self, path: &str) -> u32 {
        let pieces = self.pieces.get(path).map_or(1, |(n, _)| (*n).max(1));
        (STARTS_PER_FILE + self.policy.retries) * pieces
    }

    fn at_bound(&self, path: &str) -> bool {
        self.starts.get(path).copied().unwrap_or(0) >= self.bound(path)
    }

    /// A batch is about to start: counts its files; an error if one would pass its bound, which
    /// `requeues` and retries never allow (a bug if it happens).
    pub(super) fn starting(&mut self, batch: &Batch) -> Result<(), String> {
        for job in &batch.jobs {
            let bound = self.bound(&job.path);
            let starts = self.starts.entry(job.path.clone()).or_default();
            *starts += 1;
            if *starts > bound {
                return Err(format!("`{}` was about to start a {} time (at most {bound} are allowed)", job.path, ordinal(*starts)));
            }
        }
        Ok(())
    }

    /// A report from a batch: final, or held while failed examples run again, or one piece of a
    /// split file. Returns the failures it makes final (for `--fail-fast`).
    pub(super) fn file(&mut self, report: FileReport, queue: &mut Queue, stopping: bool, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let report = match self.pieces.get_mut(&report.path) {
            None => report,
            Some((left, acc)) => {
                *left -= 1;
                let merged = match acc.take() {
                    None => report,
                    Some(earlier) => merge_piece(earlier, report),
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
        if !stopping && report.error.is_none() && !failed.is_empty() && attempt < policy.retries && !self.at_bound(&report.path) {
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
        let counted = if policy.retries == 0 {
            // Failed examples were counted live; only the file's own error is new.
            usize::from(report.error.is_some())
        } else {
            failed.len() + usize::from(report.error.is_some())
        };
        emit(RunEvent::FileFinished(Box::new(report)));
        counted
    }

    /// Files a batch gave back: to the queue again, or reported as not run when they went back
    /// too often. Returns the failures that makes final.
    pub(super) fn requeues(&mut self, requeue: Vec<Requeue>, queue: &mut Queue, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let mut failures = 0;
        for r in requeue {
            if r.counts && r.job.requeued >= MAX_REQUEUES {
                let why = format!("{} ({} times)", r.reason, r.job.requeued + 1);
                failures += self.file(not_run(r.job, why, r.output), queue, false, emit);
            } else if self.at_bound(&r.job.path) {
                let why = format!("{} (it was started {} times without a result; testbot gives up on it)", r.reason, self.starts[&r.job.path]);
                failures += self.file(not_run(r.job, why, r.output), queue, false, emit);
            } else {
                if !r.quiet {
                    emit(RunEvent::FileRequeued {
                        path: r.job.path.clone(),
                        reason: r.reason,
                        discarded_examples: r.discarded_examples,
                    });
                }
                if r.counts {
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

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Two pieces of a split file as one report: all their examples (in file order), their times
/// added up, the first error.
fn merge_piece(mut earlier: FileReport, piece: FileReport) -> FileReport {
    earlier.seconds += piece.seconds;
    earlier.expected_seconds += piece.expected_seconds;
    earlier.examples.extend(piece.examples);
    earlier.examples.sort_by_key(|e| e.line.unwrap_or(u32::MAX));
    if earlier.error.is_none() {
        earlier.error = piece.error;
    }
    if !piece.output.trim().is_empty() {
        earlier.output.push_str(&piece.output);
    }
    earlier
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

