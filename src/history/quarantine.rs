//! `[project] quarantine`: which examples' failures do not fail the run. An entry names one
//! example as a run takes it (`spec/a_spec.rb:12`, `spec/a_spec.rb[1:2]`), read by
//! `framework::selection` as the failures log's lines are.

use crate::events::{ExampleResult, ExampleStatus, FileReport};
use crate::framework::selection::{self, Only};

/// The quarantined examples, and the clean runs in a row that let one leave.
#[derive(Clone, Debug, Default)]
pub struct Quarantine {
    entries: Vec<(String, Only)>,
    /// `[project] quarantine_passes`.
    pub passes_to_leave: usize,
}

impl Quarantine {
    /// The project's quarantine as testbot.toml sets it (`[project] quarantine` and
    /// `quarantine_passes`): the one place a run, a `--queue` job and the report build it from.
    pub fn of(project: &crate::inventory::ProjectSettings) -> Quarantine {
        Quarantine::new(&project.quarantine, project.quarantine_passes)
    }

    /// From testbot.toml's entries (checked there: each names one example).
    pub fn new(entries: &[String], passes_to_leave: usize) -> Quarantine {
        let entries = entries
            .iter()
            .filter_map(|e| selection::split(e.trim_start_matches("./")))
            .map(|(file, part)| (file.to_string(), part))
            .collect();
        Quarantine { entries, passes_to_leave }
    }

    /// More entries (`report merge`: the examples each report marks quarantined).
    pub fn extend(&mut self, entries: &[String]) {
        self.entries.extend(Quarantine::new(entries, 0).entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the example `ex` of the file at `path` is quarantined: by its id, else its line.
    pub fn holds(&self, path: &str, ex: &ExampleResult) -> bool {
        let path = path.trim_start_matches("./");
        self.entries.iter().any(|(file, part)| {
            file == path
                && (ex.id.as_ref().is_some_and(|id| part.ids.contains(id)) || ex.line.is_some_and(|line| part.lines.contains(&line)))
        })
    }

    /// Whether `ex` failed and is quarantined: its failure does not fail the run.
    pub fn excuses(&self, file: &FileReport, ex: &ExampleResult) -> bool {
        ex.status == ExampleStatus::Failed && self.holds(&file.path, ex)
    }

    /// The quarantined failures of `files`.
    pub fn failures(&self, files: &[FileReport]) -> usize {
        files.iter().map(|f| f.examples.iter().filter(|e| self.excuses(f, e)).count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: Option<&str>, line: Option<u32>, status: ExampleStatus) -> ExampleResult {
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

    #[test]
    fn entries_match_examples_by_id_or_line_in_their_file() {
        let q = Quarantine::new(&["spec/a_spec.rb:12".into(), "./spec/b_spec.rb[1:2]".into()], 5);
        assert!(q.holds("spec/a_spec.rb", &ex(Some("1:1"), Some(12), ExampleStatus::Passed)));
        assert!(!q.holds("spec/a_spec.rb", &ex(Some("1:1"), Some(13), ExampleStatus::Passed)));
        assert!(q.holds("spec/b_spec.rb", &ex(Some("1:2"), Some(40), ExampleStatus::Passed)));
        assert!(q.holds("./spec/b_spec.rb", &ex(Some("1:2"), None, ExampleStatus::Passed)));
        // Same id, another file; an id that only starts the same.
        assert!(!q.holds("spec/c_spec.rb", &ex(Some("1:2"), Some(12), ExampleStatus::Passed)));
        assert!(!q.holds("spec/b_spec.rb", &ex(Some("1:2:1"), None, ExampleStatus::Passed)));
        // Only a failure is excused.
        let file = |examples| FileReport { path: "spec/a_spec.rb".into(), slot: None, seconds: 0.0, expected_seconds: 0.0, examples, error: None, output: String::new() };
        let f = file(vec![ex(None, Some(12), ExampleStatus::Failed), ex(None, Some(3), ExampleStatus::Failed), ex(None, Some(12), ExampleStatus::Pending)]);
        assert_eq!(q.failures(std::slice::from_ref(&f)), 1);
    }
}
