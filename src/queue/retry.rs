//! A retried CI job reruns only what failed. A build's jobs share a build id across attempts (a
//! GitHub Actions re-run keeps `GITHUB_RUN_ID` and counts `GITHUB_RUN_ATTEMPT` up), and each
//! attempt has keys of its own (`testbot:{project}:{build}:{attempt}:`). The job that plans
//! attempt N > 1 looks at the latest attempt before it that has a plan: when that one planned
//! the same files, framework and testbot, its passing results become attempt N's results at
//! once (in the planning script, so no job or report sees the plan without them) and only the
//! files that failed or have no result are queued. `testbot report` of attempt N then reads the
//! whole suite: the passing results kept, and the reruns.
//!
//! As in Shopify's ci-queue (`Worker#retry_queue`: the tests of the worker's log that are among
//! the build's failures), what counts is the build's record in Redis, not the job's own.

use super::{Build, Entries, Error, PlanDigest};
use serde::Deserialize;

/// How many attempts back a retry looks for the one before it (attempts count up by one).
const LOOK_BACK: u32 = 10;

/// What a retry reads of a file's stored result.
#[derive(Deserialize)]
struct Verdict {
    #[serde(default)]
    failures: usize,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// The results that passed (no failed example, no error): kept by the next attempt. One that
/// does not read as a file's report is run again.
fn passed(results: Vec<(String, String)>) -> Vec<(String, String)> {
    let passes = |json: &str| {
        serde_json::from_str::<Verdict>(json)
            .is_ok_and(|v| v.failures == 0 && v.error.is_none() && v.status.as_deref().is_none_or(|s| s == "passed"))
    };
    let mut kept: Vec<(String, String)> = results.into_iter().filter(|(_, json)| passes(json)).collect();
    kept.sort();
    kept
}

impl Build {
    /// A retry's plan: the entries of the latest attempt before this one with a plan (a long
    /// file's pieces as they were cut then) and its passing results, kept; None for attempt 1,
    /// and when that attempt planned other than `digest` says (another commit or testbot: this
    /// attempt plans and runs everything).
    pub async fn retried(&self, digest: &PlanDigest) -> Result<Option<Entries>, Error> {
        let earliest = self.attempt.saturating_sub(LOOK_BACK).max(1);
        for attempt in (earliest..self.attempt).rev() {
            let read = redis::cmd("HGET").arg(self.key_of(attempt, "plan")).arg("digest").clone();
            let planned: Option<String> = self.query("reading the previous attempt's plan", &read).await?;
            let Some(planned) = planned else { continue };
            if planned != digest.digest() {
                tracing::info!(attempt, "the previous attempt planned other files: this one runs every file");
                return Ok(None);
            }
            let read = redis::cmd("HGETALL").arg(self.key_of(attempt, "results")).clone();
            let results: Vec<(String, String)> = self.query("reading the previous attempt's results", &read).await?;
            let all = self.entries_of(attempt).await?;
            let planned: std::collections::HashSet<&String> = all.iter().collect();
            let kept = passed(results).into_iter().filter(|(entry, _)| planned.contains(entry)).collect();
            return Ok(Some(Entries { all, kept, from: Some(attempt) }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_passes_are_kept() {
        let results = vec![
            ("spec/b_spec.rb".to_string(), r#"{"path":"spec/b_spec.rb","status":"passed","failures":0,"examples":2}"#.to_string()),
            ("spec/a_spec.rb".to_string(), r#"{"path":"spec/a_spec.rb","status":"failed","failures":1}"#.to_string()),
            ("spec/c_spec.rb".to_string(), r#"{"path":"spec/c_spec.rb","status":"errored","failures":0,"error":"not run: x"}"#.to_string()),
            ("spec/d_spec.rb".to_string(), "not json".to_string()),
            ("spec/e_spec.rb".to_string(), r#"{"path":"spec/e_spec.rb","status":"passed","failures":0,"flaky":1}"#.to_string()),
        ];
        let kept: Vec<String> = passed(results).into_iter().map(|(p, _)| p).collect();
        assert_eq!(kept, ["spec/b_spec.rb", "spec/e_spec.rb"], "a flaky pass passes, as in the run it came from");
    }
}
