//! Results: each file's final report goes to the build's `results` hash when the job has it
//! (the file leaves the job's reservation in the same script, so a file is either reserved or
//! has a result), and `testbot report --queue` reads them back.

use super::pieces::InFlight;
use super::{ttl_seconds, Build, Error};
use crate::events::{FileError, FileReport};
use crate::history::quarantine::Quarantine;
use std::path::Path;
use tokio::sync::mpsc;

/// Stores a file's result and takes it out of the job's reservation. KEYS: results, reserved;
/// ARGV: path, the file's JSON, ttl. Run twice (a reply lost with the connection), it does the same.
const STORE: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('LREM', KEYS[2], 0, ARGV[1])
return 1
"#;

impl Build {
    /// `report` as job `job`'s result of its entry (a file's path, or a piece's), its examples in
    /// `quarantine` marked so (`testbot report --queue` excuses their failures as the job did).
    pub(super) async fn store_result(&self, job: &str, entry: &str, report: &FileReport, quarantine: &Quarantine)
        -> Result<(), Error> {
        let json = crate::report::file_json(report, quarantine).map_err(|e| Error::BadResult { path: report.path.clone(), reason: e.to_string() })?;
        let script = redis::Script::new(STORE);
        let mut invocation = script.key(self.key("results"));
        invocation.key(self.key(&format!("reserved:{job}"))).arg(entry).arg(json).arg(ttl_seconds());
        self.invoke::<i64>("storing a result", &invocation).await?;
        Ok(())
    }

    /// Every result stored so far: its entry and the file's (or piece's) JSON.
    pub async fn results(&self) -> Result<Vec<(String, String)>, Error> {
        let results: std::collections::HashMap<String, String> = self.query("reading the results", redis::cmd("HGETALL").arg(self.key("results"))).await?;
        Ok(results.into_iter().collect())
    }

    /// How many files have a result.
    pub async fn result_count(&self) -> Result<usize, Error> {
        self.query("counting the results", redis::cmd("HLEN").arg(self.key("results"))).await
    }
}

/// A job's results on their way to Redis: `record` (called from the run's events, which are
/// not async) hands each final report to a task that stores it; `finish` waits for them all.
pub struct Recorder {
    tx: mpsc::UnboundedSender<(String, FileReport)>,
    in_flight: InFlight,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Recorder {
    /// `in_flight`: the pieces the job's `Pull` took, whose results these are; `root`: the
    /// project's, where the files are (a long file's examples go to the history with its hash);
    /// `quarantine`: the project's `[project] quarantine`, marked in the results.
    pub fn start(build: &Build, job: &str, in_flight: &InFlight, root: &Path, quarantine: Quarantine) -> Recorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, FileReport)>();
        let (build, job, root) = (build.clone(), job.to_string(), root.to_path_buf());
        let task = tokio::spawn(async move {
            let mut first_error = None;
            while let Some((entry, report)) = rx.recv().await {
                let mut stored = build.store_result(&job, &entry, &report, &quarantine).await;
                // A piece's time is not its file's: the history has whole files only.
                if stored.is_ok() && report.error.is_none() && entry == report.path {
                    let examples = crate::history::examples_log::entry_of(&root, &report);
                    stored = build.remember(&report.path, report.seconds, examples.as_ref()).await;
                }
                if let Err(e) = stored {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        });
        Recorder { tx, in_flight: in_flight.clone(), task }
    }

    /// A file's final report. One that did not run (the job stopped, or lost its hosts) is not
    /// a result: the file stays reserved, and goes back to the build when the job leaves.
    pub fn record(&self, report: &FileReport) {
        if !matches!(report.error, Some(FileError::NotRun(_))) {
            let _ = self.tx.send((self.in_flight.finished(&report.path), report.clone()));
        }
    }

    /// Waits until every result is stored; the first that could not be is the error.
    pub async fn finish(self) -> Result<(), Error> {
        let Recorder { tx, task, .. } = self;
        drop(tx);
        match task.await {
            Ok(stored) => stored,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}
