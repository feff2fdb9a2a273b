//! Pulling: a job's free slots take the build's next files atomically (a Lua script moves them
//! from `pending` into the job's own `reserved:{job}` list), while a heartbeat (`alive:{job}`,
//! refreshed every `HEARTBEAT_EVERY`) says the job is alive. When nothing is pending, a job
//! looks at the others: the files of a job whose heartbeat lapsed (kill -9, a lost runner) go
//! back to `pending`; while a live job still holds files the build is not done.

use super::pieces::{job_of, path_of, InFlight};
use super::{ttl_seconds, Build, Error};
use crate::events::FileReport;
use crate::run::{Source, SourceError, Taken};
use crate::schedule::Job;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;

/// How often a job says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A job not heard of for this long is taken for dead, and its files go to the others.
pub const HEARTBEAT_LAPSES: Duration = Duration::from_secs(10);

/// A file is taken from the build's queue at most this many times (a job that died while
/// running it, twice): past it, it is reported as not run rather than handed to another job
/// (a file that kills its job would kill them all).
pub const TAKES_PER_FILE: i64 = 3;

/// A job whose heartbeat lapsed gives its files back to pending (at its head: they were taken
/// first). KEYS: alive, reserved, pending. Returns the files given back, or minus the number
/// the job, alive, still holds. Run twice, it gives back nothing more.
const RECLAIM: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -redis.call('LLEN', KEYS[2])
end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'LEFT') do
  moved = moved + 1
end
return moved
"#;

/// This job's side of the build's queue: a `run::Source`.
pub struct Pull {
    build: Build,
    job: String,
    /// This job's job for each entry and each file, as it planned them (the build's queue holds
    /// entries only: paths, and pieces' paths with their example ids).
    known: HashMap<String, Job>,
    /// The pieces this job runs (one of a file at a time).
    in_flight: InFlight,
    /// Entries taken too often, reported as not run (written to the build as results too).
    pub(super) given_up: Vec<(String, FileReport)>,
    /// How many takes this job made (each take's number makes it safe to run twice).
    takes: u64,
    /// Each file's seconds in the history the job planned by (Redis's over its own).
    times: Vec<(String, f64)>,
}

/// A job's heartbeat: it beats until dropped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Build {
    /// Joins the build as `job`: its name in the build's job list, and its heartbeat, which
    /// beats until the `Heartbeat` is dropped (when the job leaves, not when it has taken its
    /// last file: the files it runs then are still its own).
    pub async fn join(&self, job: &str) -> Result<Heartbeat, Error> {
        let mut joining = redis::pipe();
        joining
            .cmd("SADD").arg(self.key("jobs")).arg(job).ignore()
            .cmd("EXPIRE").arg(self.key("jobs")).arg(ttl_seconds()).ignore()
            .cmd("SET").arg(self.key(&format!("alive:{job}"))).arg(1).arg("EX").arg(HEARTBEAT_LAPSES.as_secs()).ignore();
        self.pipeline::<()>("joining the build", &joining).await?;
        Ok(Heartbeat(tokio::spawn(beat(self.clone(), self.key(&format!("alive:{job}"))))))
    }

    /// This job's source of files (`job` has joined). `known`: each entry's and file's job
    /// (expected seconds, group, the part asked for), as this job planned it; `in_flight`: the
    /// pieces it takes, shared with its `Recorder`.
    pub fn pull(&self, job: &str, known: HashMap<String, Job>, in_flight: &InFlight) -> Pull {
        Pull { build: self.clone(), job: job.to_string(), known, in_flight: in_flight.clone(), given_up: Vec::new(), takes: 0, times: Vec::new() }
    }

    /// The job is done with the build: what it took and has no result for (it stopped early)
    /// goes back to pending at once, for the other jobs, and its heartbeat is gone.
    pub async fn leave(&self, job: &str) -> Result<(), Error> {
        let script = redis::Script::new(RECLAIM);
        self.query::<()>("leaving the build", redis::cmd("DEL").arg(self.key(&format!("alive:{job}")))).await?;
        let mut invocation = script.key(self.key(&format!("alive:{job}")));
        invocation.key(self.key(&format!("reserved:{job}"))).key(self.key("pending"));
        self.invoke::<i64>("leaving the build", &invocation).await?;
        Ok(())
    }
}

/// Sets the job's heartbeat key every `HEARTBEAT_EVERY` until the job ends (the task is
/// aborted) or Redis is lost (tried again within the patience, as every call is).
async fn beat(build: Build, key: String) {
    let mut set = redis::cmd("SET");
    set.arg(&key).arg(1).arg("EX").arg(HEARTBEAT_LAPSES.as_secs());
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        if let Err(e) = build.query::<()>("beating", &set).await {
            tracing::warn!("the queue's heartbeat stopped: {e}");
            return;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Pull {
    /// Up to `wanted` files, or what the build's state says when there are none.
    async fn next(&mut self, wanted: usize) -> Result<Taken, Error> {
        let jobs = self.reserve(wanted).await?;
        if !jobs.is_empty() {
            return Ok(Taken::Jobs(jobs));
        }
        let (returned, held) = self.reclaim().await?;
        // Taken again even when none came back: a reclaim whose reply was lost (and run again)
        // says 0 for files it did put back.
        let jobs = self.reserve(wanted).await?;
        if !jobs.is_empty() {
            return Ok(Taken::Jobs(jobs));
        }
        Ok(if held > 0 || returned > 0 { Taken::Later } else { Taken::Done })
    }

    /// Moves up to `wanted` files into this job's reservation; a file past its bound on takes
    /// is given up (not run) instead.
    async fn reserve(&mut self, wanted: usize) -> Result<Vec<Job>, Error> {
        self.takes += 1;
        let taken = self.build.take(&self.job, wanted, self.takes, &self.in_flight).await?;
        let mut jobs = Vec::with_capacity(taken.len());
        for (entry, takes) in taken {
            if takes > TAKES_PER_FILE {
                let why = format!("it was taken by {} jobs of the build that ended without its result; testbot gives up on it", takes - 1);
                self.given_up.push((entry.clone(), FileReport::not_run(path_of(&entry).to_string(), why)));
                self.in_flight.finished(path_of(&entry));
                continue;
            }
            jobs.push(job_of(&self.known, &entry));
        }
        if !self.given_up.is_empty() {
            let reports = std::mem::take(&mut self.given_up);
            for (entry, report) in &reports {
                // Not run: no example of it to mark quarantined.
                self.build.store_result(&self.job, entry, report, &Default::default()).await?;
            }
        }
        Ok(jobs)
    }

    /// Every other job's files: given back when its heartbeat lapsed. Returns how many files
    /// came back and how many live jobs still hold.
    async fn reclaim(&self) -> Result<(i64, i64), Error> {
        let b = &self.build;
        let jobs: Vec<String> = b.query("reading the jobs", redis::cmd("SMEMBERS").arg(b.key("jobs"))).await?;
        let script = redis::Script::new(RECLAIM);
        let (mut returned, mut held) = (0, 0);
        for job in jobs.iter().filter(|j| **j != self.job) {
            let mut invocation = script.key(b.key(&format!("alive:{job}")));
            invocation.key(b.key(&format!("reserved:{job}"))).key(b.key("pending"));
            let n: i64 = b.invoke("returning a lapsed job's files", &invocation).await?;
            if n > 0 {
                tracing::info!(job = job.as_str(), files = n, "a job of the build stopped answering: its files go back to the queue");
            }
            if n >= 0 {
                returned += n;
            } else {
                held -= n;
            }
        }
        Ok((returned, held))
    }
}

impl Pull {
    /// Each file's seconds in the history the job planned by, for its files' time limits.
    pub fn with_times(self, times: Vec<(String, f64)>) -> Pull {
        Pull { times, ..self }
    }
}

impl Source for Pull {
    fn take(&mut self, wanted: usize) -> BoxFuture<'_, Result<Taken, SourceError>> {
        Box::pin(async move { self.next(wanted).await.map_err(|e| Box::new(e) as SourceError) })
    }

    fn times(&self) -> Vec<(String, f64)> {
        self.times.clone()
    }
}
