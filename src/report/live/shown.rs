//! What a run shows of passing files when asked: the runners' output as it comes
//! (`--no-capture`), a passing file's output as it finishes (`--success-output immediate`), and
//! a line per example (`--format documentation`).

use super::Live;
use crate::events::{ExampleStatus, FileReport, FileStatus};
use crate::report::details::file_details;
use std::fmt::Write;

impl Live {
    /// `--no-capture`: `local/1 | what the runner printed`, as it came.
    pub(super) fn output_line(&mut self, slot: usize, line: &str) {
        let name = self.slots.iter().find(|s| s.id == slot).map(|s| s.name()).unwrap_or_default();
        let text = format!("{} {line}", self.styles.dim.apply_to(format_args!("{name:<width$} |", width = self.slot_width)));
        self.line(&text);
    }

    /// `--success-output immediate`: a passing file's output under its heading, if it printed any
    /// (none with `--no-capture`: it was shown as it came).
    pub(super) fn success_output(&self, report: &FileReport) -> Option<String> {
        let wanted = report.status() == FileStatus::Passed && self.options.success_output.immediate() && !self.options.streamed;
        (wanted && !report.output.trim().is_empty()).then(|| file_details(report, &self.styles, false))
    }

    /// `--format documentation`: each example of the file a line, as RSpec's documentation
    /// formatter says it (`(FAILED - 1)`, `(PENDING: why)`), in the order they ran.
    pub(super) fn example_lines(&self, report: &FileReport, out: &mut String) {
        let mut failed = 0;
        for ex in &report.examples {
            let text = match ex.status {
                ExampleStatus::Passed => self.styles.pass.apply_to(ex.description.clone()),
                ExampleStatus::Failed => {
                    failed += 1;
                    self.styles.fail.apply_to(format!("{} (FAILED - {failed})", ex.description))
                }
                ExampleStatus::Pending => {
                    let why = ex.message.as_deref().and_then(|m| m.lines().next()).filter(|m| !m.trim().is_empty()).unwrap_or("No reason given");
                    self.styles.pending.apply_to(format!("{} (PENDING: {why})", ex.description))
                }
            };
            let _ = write!(out, "\n{:9}{text}", "");
        }
    }
}
