//! The cross-checks at a batch's end: the framework's own closing counts and exit status
//! against what testbot recorded (docs/verdict.md).

use super::{BatchEnd, BatchTracker, ProcessEnd};
use crate::events::RunEvent;
use crate::plural::plural;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Counts {
    pub(super) examples: u64,
    pub(super) failures: u64,
    pub(super) pending: u64,
    pub(super) errors_outside: u64,
}

impl BatchTracker {
    /// The framework's own closing counts (when it gave them) and exit status against what
    /// testbot recorded: any difference is an error, never a quiet pass. A difference in counts
    /// that files without an end explain is returned for their errors instead. `load_errors`:
    /// how many files did not load.
    pub(super) fn cross_check(&self, process: ProcessEnd, unreported: &[usize], load_errors: usize, end: &mut BatchEnd) -> Option<String> {
        let done = self.done?;
        let exit = process.exit;
        let output = self.batch_output.render();
        let explained = (load_errors + self.other_errors.len()) as u64;
        if done.errors_outside > explained {
            end.events.push(RunEvent::ErrorOutsideExamples {
                slot: self.slot.id,
                message: format!("the runner reported {} error(s) outside of examples", done.errors_outside - explained),
                output: output.clone(),
            });
        }
        let seen = self.seen;
        let mut mismatch = None;
        if (done.examples, done.failures, done.pending) != (seen.examples, seen.failures, seen.pending) {
            let said = format!("the runner reported {}; testbot saw {}", counts_text(done), counts_text(seen));
            if unreported.is_empty() {
                let files: Vec<&str> = self.files.iter().map(|f| f.job.path.as_str()).collect();
                end.events.push(RunEvent::ErrorOutsideExamples {
                    slot: self.slot.id,
                    message: format!("{said} (batch: {})", files.join(", ")),
                    output: output.clone(),
                });
            } else {
                mismatch = Some(said);
            }
        }
        let failed = done.failures > 0 || done.errors_outside > 0 || !unreported.is_empty();
        if !exit.success() && !failed && !process.timed_out() {
            end.events.push(RunEvent::ErrorOutsideExamples {
                slot: self.slot.id,
                message: format!("the runner {exit} although none of its examples failed"),
                output,
            });
        }
        mismatch
    }

}

/// `3 examples, 2 failures, 1 pending`.
fn counts_text(c: Counts) -> String {
    format!("{}, {}, {} pending", plural(c.examples, "example", "examples"), plural(c.failures, "failure", "failures"), c.pending)
}
