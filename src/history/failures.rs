//! The failures record, for `testbot --only-failures`: one selection a line, as a run takes it
//! on its command line. RSpec: each failed example by its id (`spec/a_spec.rb[1:2]`), or its
//! line when it has none; other frameworks: the file. A file that errored runs whole.
//!
//! Like RSpec's `example_status_persistence_file`, a run updates only what it ran: a file it did
//! not run keeps its entries, an example it ran is recorded again with its new status (a pass
//! clears it), and the entries of a spec file that is gone are dropped.

use crate::events::{ExampleResult, ExampleStatus, FileReport};
use crate::framework::selection::{self, Only};
use crate::framework::Framework;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Beside the runtime log: `tmp/testbot-failures-<framework>.txt`.
pub fn path(runtime_log: &Path, framework: Framework) -> PathBuf {
    runtime_log.with_file_name(format!("testbot-failures-{}.txt", framework.name()))
}

/// Whether a failed example is excused: `[project] quarantine` holds it (the file's path, the example).
pub type Excused<'a> = &'a dyn Fn(&str, &ExampleResult) -> bool;

/// The record at `path` after this run: the entries of what the run did not run (in files that
/// still exist under `root`), then the run's own failures. A quarantined failure (`excused`) is
/// not one: it did not fail the run, and it would only hold its file at the front of the next
/// run's plan (failures first) and in `--only-failures`, ahead of the failures that matter.
pub fn merged(path: &Path, root: &Path, files: &[FileReport], framework: Framework, excused: Excused<'_>) -> String {
    let ran: HashMap<&str, &FileReport> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let kept = load(path, root).unwrap_or_default().into_iter().filter(|entry| {
        let entry = Entry::parse(entry);
        ran.get(entry.file).is_none_or(|report| !entry.ran_in(report))
    });
    let mut seen = HashSet::new();
    let lines: Vec<String> = kept.chain(failures(files, framework, excused)).filter(|l| seen.insert(l.clone())).collect();
    lines.into_iter().map(|l| l + "\n").collect()
}

/// One line of the record: its file and the part of it it selects (None: the whole file), read
/// as a run reads it (`framework::selection`).
#[derive(Debug, PartialEq)]
struct Entry<'a> {
    file: &'a str,
    part: Option<Only>,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Entry<'a> {
        match selection::split(line) {
            Some((file, part)) => Entry { file, part: Some(part) },
            None => Entry { file: line, part: None },
        }
    }

    /// Whether this run ran what the entry selects, so that its new result replaces it. A file
    /// that errored is recorded whole again, which covers each of its examples.
    fn ran_in(&self, report: &FileReport) -> bool {
        let Some(part) = self.part.as_ref().filter(|_| report.error.is_none()) else { return true };
        report.examples.iter().any(|e| {
            e.id.as_ref().is_some_and(|id| part.ids.contains(id)) || e.line.is_some_and(|line| part.lines.contains(&line))
        })
    }
}

/// This run's failures, as the record's lines.
fn failures(files: &[FileReport], framework: Framework, excused: Excused<'_>) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for f in files {
        let failed: Vec<_> = f.examples.iter().filter(|e| e.status == ExampleStatus::Failed && !excused(&f.path, e)).collect();
        if f.error.is_some() || (!framework.runs_parts_of_files() && !failed.is_empty()) {
            lines.push(f.path.clone());
            continue;
        }
        for e in failed {
            lines.push(match (&e.id, e.line) {
                (Some(id), _) => format!("{}[{id}]", f.path),
                (None, Some(line)) => format!("{}:{line}", f.path),
                (None, None) => f.path.clone(),
            });
        }
    }
    lines
}

/// The files with an entry in the record (they failed or errored when they last ran).
pub fn failed_files(path: &Path, root: &Path) -> HashSet<String> {
    load(path, root).unwrap_or_default().iter().map(|line| Entry::parse(line).file.to_string()).collect()
}

/// The selections recorded by the last runs in spec files that still exist under `root`; None
/// when there are none (no record, or an empty one).
pub fn load(path: &Path, root: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && root.join(Entry::parse(l).file).is_file())
        .map(str::to_string)
        .collect();
    (!lines.is_empty()).then_some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ExampleResult;

    fn example(status: ExampleStatus, id: Option<&str>, line: Option<u32>) -> ExampleResult {
        ExampleResult {
            description: "d".into(),
            location: "x".into(),
            line,
            status,
            seconds: 0.0,
            message: None,
            backtrace: Vec::new(),
            id: id.map(str::to_string),
            earlier_failures: Vec::new(),
        }
    }

    fn file(path: &str, examples: Vec<ExampleResult>) -> FileReport {
        FileReport { path: path.into(), slot: None, seconds: 0.0, expected_seconds: 0.0, examples, error: None, output: String::new() }
    }

    fn merged_with(old: &str, files: &[FileReport], framework: Framework, existing: &[&str]) -> String {
        let dir = tempfile::tempdir().unwrap();
        for f in existing {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let log = dir.path().join("failures.txt");
        std::fs::write(&log, old).unwrap();
        merged(&log, dir.path(), files, framework, &|_, _| false)
    }

    #[test]
    fn failures_are_recorded_as_a_run_takes_them() {
        let files = vec![
            file("spec/a_spec.rb", vec![example(ExampleStatus::Failed, Some("1:2"), Some(6)), example(ExampleStatus::Passed, Some("1:1"), Some(2))]),
            file("spec/b_spec.rb", vec![example(ExampleStatus::Failed, None, Some(9))]),
            file("spec/c_spec.rb", vec![example(ExampleStatus::Passed, Some("1:1"), Some(2))]),
        ];
        assert_eq!(merged_with("", &files, Framework::RSpec, &[]), "spec/a_spec.rb[1:2]\nspec/b_spec.rb:9\n");
        assert_eq!(merged_with("", &files, Framework::Minitest, &[]), "spec/a_spec.rb\nspec/b_spec.rb\n");
        assert_eq!(merged_with("", &files[2..], Framework::RSpec, &[]), "");
    }

    #[test]
    fn a_run_replaces_only_the_entries_of_what_it_ran() {
        let old = "spec/a_spec.rb[1:2]\nspec/a_spec.rb[1:3]\nspec/b_spec.rb:9\nspec/c_spec.rb\nspec/gone_spec.rb[1:1]\n";
        let existing = ["spec/a_spec.rb", "spec/b_spec.rb", "spec/c_spec.rb"];
        // a's 1:2 now passes (1:3 did not run), b did not run, c ran whole and passes, gone_spec.rb is deleted.
        let files = vec![
            file("spec/a_spec.rb", vec![example(ExampleStatus::Passed, Some("1:2"), Some(6))]),
            file("spec/c_spec.rb", vec![example(ExampleStatus::Passed, Some("1:1"), Some(2))]),
        ];
        assert_eq!(merged_with(old, &files, Framework::RSpec, &existing), "spec/a_spec.rb[1:3]\nspec/b_spec.rb:9\n");
        // A failure that fails again is recorded once; one that errors now is the whole file.
        let again = vec![file("spec/a_spec.rb", vec![example(ExampleStatus::Failed, Some("1:2"), Some(6))])];
        assert_eq!(merged_with(old, &again, Framework::RSpec, &existing), "spec/a_spec.rb[1:3]\nspec/b_spec.rb:9\nspec/c_spec.rb\nspec/a_spec.rb[1:2]\n");
        let mut broken = file("spec/a_spec.rb", Vec::new());
        broken.error = Some(crate::events::FileError::Load("SyntaxError".into()));
        assert_eq!(merged_with(old, &[broken], Framework::RSpec, &existing), "spec/b_spec.rb:9\nspec/c_spec.rb\nspec/a_spec.rb\n");
    }

    #[test]
    fn a_quarantined_failure_is_not_recorded_and_clears_its_old_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("spec")).unwrap();
        std::fs::write(dir.path().join("spec/a_spec.rb"), "").unwrap();
        let log = dir.path().join("failures.txt");
        std::fs::write(&log, "spec/a_spec.rb[1:2]\n").unwrap();
        let files = vec![file(
            "spec/a_spec.rb",
            vec![example(ExampleStatus::Failed, Some("1:2"), Some(6)), example(ExampleStatus::Failed, Some("1:3"), Some(9))],
        )];
        let quarantined = |_: &str, e: &ExampleResult| e.id.as_deref() == Some("1:2");
        assert_eq!(merged(&log, dir.path(), &files, Framework::RSpec, &quarantined), "spec/a_spec.rb[1:3]\n");
        // Minitest records files: one whose only failure is quarantined is not recorded.
        assert_eq!(merged(&log, dir.path(), &files[..1], Framework::Minitest, &|_, _| true), "");
    }

    #[test]
    fn other_frameworks_records_are_files_replaced_when_they_run() {
        let old = "test/a_test.rb\ntest/b_test.rb\n";
        let files = vec![file("test/a_test.rb", vec![example(ExampleStatus::Passed, None, Some(3))])];
        assert_eq!(merged_with(old, &files, Framework::Minitest, &["test/a_test.rb", "test/b_test.rb"]), "test/b_test.rb\n");
    }

    #[test]
    fn entries_parse_into_their_file_and_part() {
        let part = |ids: &[&str], lines: &[u32]| Some(Only { ids: ids.iter().map(|&id| id.into()).collect(), lines: lines.to_vec() });
        assert_eq!(Entry::parse("spec/a_spec.rb[1:2:3]"), Entry { file: "spec/a_spec.rb", part: part(&["1:2:3"], &[]) });
        assert_eq!(Entry::parse("spec/a_spec.rb:12"), Entry { file: "spec/a_spec.rb", part: part(&[], &[12]) });
        assert_eq!(Entry::parse("spec/a:b_spec.rb"), Entry { file: "spec/a:b_spec.rb", part: None });
        // Read as a run reads its command line: every line of `path:12:30`, ids that are ids.
        assert_eq!(Entry::parse("spec/a_spec.rb:12:30"), Entry { file: "spec/a_spec.rb", part: part(&[], &[12, 30]) });
        assert_eq!(Entry::parse("spec/a_spec.rb[x]"), Entry { file: "spec/a_spec.rb[x]", part: None });
    }
}
