//! Words more than one output uses: a count with its noun, and a file's status label.

use crate::events::FileStatus;

/// `1 file`, `2 files`; `1 batch`, `3 batches`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a file's line says of it: `PASS`, `FAIL`, `ERROR` (the live display, the summary's
/// list of files).
pub fn status_label(status: FileStatus) -> &'static str {
    match status {
        FileStatus::Passed => "PASS",
        FileStatus::Failed => "FAIL",
        FileStatus::Errored => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_takes_the_noun_that_fits() {
        assert_eq!(plural(1, "batch", "batches"), "1 batch");
        assert_eq!(plural(0, "file", "files"), "0 files");
        assert_eq!(plural(2, "error occurred", "errors occurred"), "2 errors occurred");
    }
}
