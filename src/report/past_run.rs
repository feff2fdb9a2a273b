//! `testbot bisect --from FILE`: a past run's JSON report read back for one failure: the failing
//! example, the batch it ran in (its files in order and seed) and the examples of the files that
//! ran with it.

use crate::events::ExampleStatus;
use crate::framework::selection;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct Report {
    framework: String,
    #[serde(default)]
    failures: Vec<Failure>,
    #[serde(default)]
    batches: Vec<Batch>,
    #[serde(default)]
    files: Vec<File>,
    /// A `--repeat`'s own report: its runs' reports are the ones to bisect.
    #[serde(default)]
    repeat: Option<Repeat>,
}

#[derive(Deserialize)]
struct Repeat {
    each: Vec<RepeatRun>,
}

#[derive(Deserialize)]
struct RepeatRun {
    passed: bool,
    report: Option<String>,
}

/// A failed example of the run, as the report gives it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Failure {
    pub path: String,
    pub line: Option<u32>,
    /// What reruns it (`./spec/a_spec.rb:12`).
    pub location: String,
    /// RSpec's example id (`1:2`).
    pub id: Option<String>,
    pub description: String,
}

impl Failure {
    /// As `testbot bisect` names it: `spec/a_spec.rb[1:2]` (RSpec), else its location.
    pub fn name(&self) -> String {
        match &self.id {
            Some(id) => format!("{}[{id}]", self.path),
            None => self.location.trim_start_matches("./").to_string(),
        }
    }

    /// Whether `given` (an id or rerun location as the summary, the report or the failures log
    /// write it) names this failure.
    fn named_by(&self, given: &str) -> bool {
        let given = given.trim().trim_start_matches("./");
        let id = self.id.as_ref().map(|id| format!("{}[{id}]", self.path));
        let line = self.line.map(|l| format!("{}:{l}", self.path));
        given == self.location.trim_start_matches("./") || Some(given) == id.as_deref() || Some(given) == line.as_deref()
    }
}

#[derive(Deserialize)]
struct Batch {
    host: String,
    host_slot: usize,
    #[serde(default)]
    seed: Option<u64>,
    files: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    path: String,
    #[serde(default)]
    results: Option<Vec<RanExample>>,
}

/// An example of a file that ran in the report's run: what the example stage narrows a
/// polluting file to.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RanExample {
    /// RSpec's example id (`1:2`).
    #[serde(default)]
    pub id: Option<String>,
    /// minitest's `Class#test_name`, RSpec's full description.
    pub description: String,
    /// What reruns it (`./spec/a_spec.rb:12`, `test/a_test.rb:9`).
    #[serde(default)]
    pub location: String,
    status: ExampleStatus,
}

/// The failure to bisect and what ran with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub framework: String,
    pub failure: Failure,
    /// `local/2`: where its batch ran.
    pub slot: String,
    pub seed: Option<u64>,
    /// The batch's runner arguments in order, the failing file's among them.
    pub batch: Vec<String>,
    /// The failing file's argument in the batch.
    pub victim: String,
    /// The other arguments of the batch that may have run before it: those before it, or, with a
    /// seed (a random order that mixes the files' groups), all the others.
    pub candidates: Vec<String>,
}

/// Why a report gives nothing to bisect.
#[derive(Debug, thiserror::Error)]
pub enum PastRunError {
    #[error(
        "`testbot bisect` needs the JSON report of the run that failed: `--from FILE`\n  \
         hint: a run writes one with `--report-json FILE` (e.g. `testbot --report-json tmp/run.json`)"
    )]
    NoReport,
    #[error("failed to read the report {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a testbot JSON report (written by `--report-json`): {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("{} records no failure: nothing to bisect\n  hint: give the report of a run with a failing example", path.display())]
    NoFailure { path: PathBuf },
    #[error(
        "{} is the report of a `--repeat`, which records no batch: bisect the report of a run that failed ({failed})",
        path.display()
    )]
    Repeat { path: PathBuf, failed: String },
    #[error(
        "{} has no failure `{given}`; its failures: {known}\n  hint: name one of them as `testbot bisect FAILURE --from FILE`",
        path.display()
    )]
    UnknownFailure { path: PathBuf, given: String, known: String },
    #[error(
        "{} records no batch that ran `{file}` (a report of an older testbot, or of a `report merge`): \
         run it again with --report-json",
        path.display()
    )]
    NoBatch { path: PathBuf, file: String },
}

/// The report at `path` (None: not given), and the failure `given` in it (None: its first).
pub fn target(path: Option<&Path>, given: Option<&str>) -> Result<Target, PastRunError> {
    let path = path.ok_or(PastRunError::NoReport)?;
    let text = std::fs::read_to_string(path).map_err(|source| PastRunError::Read { path: path.to_path_buf(), source })?;
    let report: Report =
        serde_json::from_str(&text).map_err(|e| PastRunError::Parse { path: path.to_path_buf(), reason: e.to_string() })?;
    target_in(report, path, given)
}

fn target_in(report: Report, path: &Path, given: Option<&str>) -> Result<Target, PastRunError> {
    if let Some(repeat) = &report.repeat {
        let failed: Vec<&str> = repeat.each.iter().filter(|r| !r.passed).filter_map(|r| r.report.as_deref()).collect();
        let failed = if failed.is_empty() { "none failed".to_string() } else { failed.join(", ") };
        return Err(PastRunError::Repeat { path: path.to_path_buf(), failed });
    }
    let failure = match given {
        _ if report.failures.is_empty() => return Err(PastRunError::NoFailure { path: path.to_path_buf() }),
        None => report.failures[0].clone(),
        Some(given) => report.failures.iter().find(|f| f.named_by(given)).cloned().ok_or_else(|| PastRunError::UnknownFailure {
            path: path.to_path_buf(),
            given: given.to_string(),
            known: report.failures.iter().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", "),
        })?,
    };
    let ran_it = |b: &&Batch| b.files.iter().any(|a| selection::file_of(a) == failure.path);
    let Some(batch) = report.batches.iter().find(ran_it) else {
        return Err(PastRunError::NoBatch { path: path.to_path_buf(), file: failure.path.clone() });
    };
    let at = batch.files.iter().position(|a| selection::file_of(a) == failure.path).unwrap_or_default();
    let candidates: Vec<String> = match batch.seed {
        Some(_) => batch.files.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, a)| a.clone()).collect(),
        None => batch.files[..at].to_vec(),
    };
    Ok(Target {
        framework: report.framework,
        slot: format!("{}/{}", batch.host, batch.host_slot),
        seed: batch.seed,
        batch: batch.files.clone(),
        victim: batch.files[at].clone(),
        candidates,
        failure,
    })
}

/// The examples of `file` that ran (were not pending) in the report's run, in the order they
/// ran: what the example stage narrows a polluting file to.
pub fn examples_of(path: &Path, file: &str) -> Vec<RanExample> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(report) = serde_json::from_str::<Report>(&text) else { return Vec::new() };
    let Some(results) = report.files.into_iter().find(|f| f.path == file).and_then(|f| f.results) else { return Vec::new() };
    results.into_iter().filter(|e| e.status != ExampleStatus::Pending).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: serde_json::Value) -> Report {
        serde_json::from_value(json).unwrap()
    }

    fn run(failures: serde_json::Value, seed: Option<u64>) -> Report {
        report(serde_json::json!({
            "framework": "rspec",
            "failures": failures,
            "batches": [
                { "host": "local", "host_slot": 1, "files": ["spec/x_spec.rb"] },
                { "host": "local", "host_slot": 2, "seed": seed, "files": ["spec/a_spec.rb", "spec/v_spec.rb", "spec/z_spec.rb[1:1]"] }
            ]
        }))
    }

    fn victim() -> serde_json::Value {
        serde_json::json!([{ "path": "spec/v_spec.rb", "line": 4, "location": "./spec/v_spec.rb:4", "id": "1:1", "description": "reads it" }])
    }

    #[test]
    fn a_failure_is_found_by_its_id_or_location_with_the_files_that_ran_before_it() {
        let path = Path::new("tmp/run.json");
        for given in [None, Some("spec/v_spec.rb[1:1]"), Some("./spec/v_spec.rb[1:1]"), Some("./spec/v_spec.rb:4"), Some("spec/v_spec.rb:4")] {
            let target = target_in(run(victim(), None), path, given).unwrap();
            assert_eq!((target.slot.as_str(), target.victim.as_str()), ("local/2", "spec/v_spec.rb"), "{given:?}");
            assert_eq!(target.candidates, ["spec/a_spec.rb"]);
            assert_eq!(target.failure.name(), "spec/v_spec.rb[1:1]");
        }
        // A random order mixes the files: every other file of the batch may have run before it.
        let target = target_in(run(victim(), Some(7)), path, None).unwrap();
        assert_eq!((target.seed, target.candidates), (Some(7), vec!["spec/a_spec.rb".to_string(), "spec/z_spec.rb[1:1]".into()]));
    }

    #[test]
    fn a_report_without_the_failure_or_any_failure_says_so() {
        let path = Path::new("tmp/run.json");
        let unknown = target_in(run(victim(), None), path, Some("spec/v_spec.rb:9")).unwrap_err().to_string();
        assert!(unknown.starts_with("tmp/run.json has no failure `spec/v_spec.rb:9`; its failures: `spec/v_spec.rb[1:1]`"), "{unknown}");
        let none = target_in(run(serde_json::json!([]), None), path, None).unwrap_err().to_string();
        assert!(none.starts_with("tmp/run.json records no failure"), "{none}");
        let lost = serde_json::json!([{ "path": "spec/q_spec.rb", "line": 1, "location": "./spec/q_spec.rb:1", "id": null, "description": "q" }]);
        assert!(matches!(target_in(run(lost, None), path, None), Err(PastRunError::NoBatch { .. })));
        assert!(matches!(target(None, None), Err(PastRunError::NoReport)));
        let repeat = report(serde_json::json!({
            "framework": "rspec",
            "repeat": { "each": [{ "passed": true, "report": "tmp/r.1.json" }, { "passed": false, "report": "tmp/r.2.json" }] }
        }));
        let refused = target_in(repeat, Path::new("tmp/r.json"), None).unwrap_err().to_string();
        assert!(refused.ends_with("bisect the report of a run that failed (tmp/r.2.json)"), "{refused}");
    }
}
