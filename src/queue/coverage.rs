//! SimpleCov across the jobs of a build: a job that merged its batches' coverage (its
//! `coverage/.resultset.json`, unchecked: a share of the suite) stores it in the attempt's
//! `coverage` hash with the folder it ran in (a retry's plan copies in the attempt before's,
//! whose passing results it keeps: queue/plan.rs), and `testbot report --queue` merges them all as a
//! run merges its batches' (`fleet::coverage::merge_stored`), paths mapped to its own folder.

use super::{ttl_seconds, Build, Error};
use std::path::Path;

impl Build {
    /// Job `job`'s coverage (`{"root": …, "resultset": …}`).
    pub async fn store_coverage(&self, job: &str, stored: &str) -> Result<(), Error> {
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(self.key("coverage")).arg(job).arg(stored).ignore();
        pipe.cmd("EXPIRE").arg(self.key("coverage")).arg(ttl_seconds()).ignore();
        self.pipeline::<()>("storing the coverage", &pipe).await
    }

    /// Every job's coverage stored so far.
    pub async fn coverage(&self) -> Result<Vec<String>, Error> {
        self.query("reading the coverage", redis::cmd("HVALS").arg(self.key("coverage"))).await
    }
}

/// The coverage SimpleCov merged in the job's folder `root` (`coverage/.resultset.json`), as
/// `{"root": ROOT, "resultset": …}` with the folder as Ruby names it; None without the file.
pub fn coverage_in(root: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let text = std::fs::read_to_string(root.join("coverage/.resultset.json")).ok()?;
    let resultset: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(serde_json::json!({ "root": root.to_string_lossy(), "resultset": resultset }).to_string())
}
