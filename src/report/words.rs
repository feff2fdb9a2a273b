//! Words more than one output uses: a file's status label (a count with its noun is
//! `crate::plural`, which the engine uses too).

use crate::events::FileStatus;

/// What a file's line says of it: `PASS`, `FAIL`, `ERROR` (the live display, the summary's
/// list of files).
pub fn status_label(status: FileStatus) -> &'static str {
    match status {
        FileStatus::Passed => "PASS",
        FileStatus::Failed => "FAIL",
        FileStatus::Errored => "ERROR",
    }
}
