//! The flaky record (`tmp/testbot-flaky-<framework>.json`): each example that passed on a retry,
//! across runs — how many runs it was flaky in, first and last seen (dates), the host of the last
//! one and its last failure message — and, for quarantined examples, how many runs in a row it
//! has passed on its first try (`testbot flaky`, the quarantine's "ready to leave").
//!
//! Like the failures log, a run updates only what it ran: every entry of an example it did not
//! run is kept as it was.

use crate::events::{ExampleResult, ExampleStatus, FileReport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Beside the runtime log: `tmp/testbot-flaky-<framework>.json`.
pub fn path(runtime_log: &Path, framework: crate::framework::Framework) -> PathBuf {
    runtime_log.with_file_name(format!("testbot-flaky-{}.json", framework.name()))
}

/// The record: its entries by example (`spec/a_spec.rb[1:2]`, or `spec/a_spec.rb:12` for an
/// example with no id), sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub examples: BTreeMap<String, Entry>,
}

/// One example's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// What reruns it (`./spec/a_spec.rb:12`).
    pub location: String,
    pub description: String,
    /// Runs in which it failed and then passed on a retry.
    pub flaky_runs: u32,
    /// The dates (`2026-12-06`, UTC) of its first and last flaky run.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// The host its last flaky run ran on.
    pub host: Option<String>,
    /// The message of its last failure (a flaky run's last failed try, or a failed run).
    pub last_failure: Option<String>,
    /// Runs in a row, up to the last, in which it passed on its first try.
    pub clean_passes: u32,
}

/// What the record calls an example of the file at `path`.
pub fn key(path: &str, ex: &ExampleResult) -> String {
    let path = path.trim_start_matches("./");
    match (&ex.id, ex.line) {
        (Some(id), _) => format!("{path}[{id}]"),
        (None, Some(line)) => format!("{path}:{line}"),
        (None, None) => format!("{path} {}", ex.description),
    }
}

/// The record at `path`; empty when there is none (or it cannot be read as one).
pub fn load(path: &Path) -> Record {
    std::fs::read_to_string(path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

pub fn render(record: &Record) -> String {
    serde_json::to_string_pretty(record).unwrap_or_default() + "\n"
}

impl Record {
    /// This run's examples merged in, on `today`: a flaky one counts a flaky run; one already
    /// recorded, or quarantined (`quarantined`), counts a clean pass or resets it on a failure.
    pub fn merge(&mut self, files: &[FileReport], quarantined: &dyn Fn(&str, &ExampleResult) -> bool, today: &str) {
        for file in files {
            for ex in &file.examples {
                let key = key(&file.path, ex);
                let tracked = ex.is_flaky() || quarantined(&file.path, ex) || self.examples.contains_key(&key);
                if !tracked || ex.status == ExampleStatus::Pending {
                    continue;
                }
                let entry = self.examples.entry(key).or_default();
                entry.location.clone_from(&ex.location);
                entry.description.clone_from(&ex.description);
                match ex.status {
                    ExampleStatus::Passed if ex.is_flaky() => {
                        entry.flaky_runs += 1;
                        entry.first_seen.get_or_insert_with(|| today.to_string());
                        entry.last_seen = Some(today.to_string());
                        entry.host = file.slot.as_ref().map(|s| s.host.to_string());
                        entry.last_failure = ex.earlier_failures.last().cloned();
                        entry.clean_passes = 0;
                    }
                    ExampleStatus::Passed => entry.clean_passes += 1,
                    _ => {
                        entry.last_failure = Some(ex.message.clone().unwrap_or_else(|| "failed".into()));
                        entry.clean_passes = 0;
                    }
                }
            }
        }
    }

    /// The flaky examples, worst first: most flaky runs, then the latest seen, then by name.
    pub fn worst_first(&self) -> Vec<(&String, &Entry)> {
        let mut flaky: Vec<_> = self.examples.iter().filter(|(_, e)| e.flaky_runs > 0).collect();
        flaky.sort_by(|(ka, a), (kb, b)| b.flaky_runs.cmp(&a.flaky_runs).then_with(|| b.last_seen.cmp(&a.last_seen)).then_with(|| ka.cmp(kb)));
        flaky
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::SlotInfo;

    fn ex(id: &str, status: ExampleStatus, earlier: &[&str]) -> ExampleResult {
        ExampleResult {
            description: format!("example {id}"),
            location: format!("./spec/a_spec.rb[{id}]"),
            line: Some(3),
            status,
            seconds: 0.0,
            message: (status == ExampleStatus::Failed).then(|| "boom now".to_string()),
            backtrace: Vec::new(),
            id: Some(id.into()),
            earlier_failures: earlier.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn file(path: &str, examples: Vec<ExampleResult>) -> FileReport {
        let slot = SlotInfo { id: 1, host: "ci-1".into(), host_slot: 1 };
        FileReport { path: path.into(), slot: Some(slot), seconds: 0.0, expected_seconds: 0.0, examples, error: None, output: String::new() }
    }

    #[test]
    fn flaky_runs_are_counted_and_what_did_not_run_is_kept() {
        let none = |_: &str, _: &ExampleResult| false;
        let mut record = Record::default();
        let a = |earlier: &[&str]| file("spec/a_spec.rb", vec![ex("1:1", ExampleStatus::Passed, earlier), ex("1:2", ExampleStatus::Passed, &[])]);
        record.merge(&[a(&["boom 1"]), file("spec/b_spec.rb", vec![ex("1:1", ExampleStatus::Passed, &["b boom"])])], &none, "2026-12-01");
        record.merge(&[a(&["boom 2"])], &none, "2026-12-03");
        assert_eq!(record.examples.len(), 2, "a clean example that was never flaky is not recorded: {record:?}");
        let entry = &record.examples["spec/a_spec.rb[1:1]"];
        assert_eq!((entry.flaky_runs, entry.first_seen.as_deref(), entry.last_seen.as_deref()), (2, Some("2026-12-01"), Some("2026-12-03")));
        assert_eq!((entry.host.as_deref(), entry.last_failure.as_deref()), (Some("ci-1"), Some("boom 2")));
        // b did not run in the second run: kept as it was.
        assert_eq!(record.examples["spec/b_spec.rb[1:1]"].flaky_runs, 1);
        let order: Vec<_> = record.worst_first().into_iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["spec/a_spec.rb[1:1]", "spec/b_spec.rb[1:1]"]);
        // A clean pass counts; a failure resets the count and keeps its message; a run round-trips.
        record.merge(&[a(&[])], &none, "2026-12-04");
        assert_eq!(record.examples["spec/a_spec.rb[1:1]"].clean_passes, 1);
        record.merge(&[file("spec/a_spec.rb", vec![ex("1:1", ExampleStatus::Failed, &[])])], &none, "2026-12-05");
        let entry = &record.examples["spec/a_spec.rb[1:1]"];
        assert_eq!((entry.clean_passes, entry.last_failure.as_deref(), entry.flaky_runs), (0, Some("boom now"), 2));
        assert_eq!(serde_json::from_str::<Record>(&render(&record)).unwrap(), record);
    }

    #[test]
    fn a_quarantined_example_counts_its_clean_passes_from_its_first_run() {
        let quarantined = |path: &str, e: &ExampleResult| path == "spec/a_spec.rb" && e.id.as_deref() == Some("1:2");
        let mut record = Record::default();
        for day in ["2026-12-01", "2026-12-02"] {
            record.merge(&[file("spec/a_spec.rb", vec![ex("1:1", ExampleStatus::Passed, &[]), ex("1:2", ExampleStatus::Passed, &[])])], &quarantined, day);
        }
        assert_eq!(record.examples.keys().collect::<Vec<_>>(), ["spec/a_spec.rb[1:2]"]);
        assert_eq!(record.examples["spec/a_spec.rb[1:2]"].clean_passes, 2);
        assert!(record.worst_first().is_empty(), "never flaky: not listed");
    }
}
