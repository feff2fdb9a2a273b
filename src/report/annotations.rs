//! `--github-annotations`: each failure as a GitHub Actions workflow command, printed before the
//! summary.

use super::aggregate::Aggregate;
use super::details::cause;
use crate::events::{ExampleStatus, FileError};
use std::collections::HashMap;
use std::fmt::Write;

/// GitHub Actions workflow commands (printed before the summary), one per failed example and per file that did not run
/// cleanly: `::error file=spec/a_spec.rb,line=12,title=Math adds::expected: 2%0A     got: 1`.
/// GitHub shows them on the run's page and on the pull request's lines, and hides the lines in
/// the log. Paths are the project's (relative to the repository root when the project is it).
pub fn annotations(agg: &Aggregate) -> String {
    let mut out = String::new();
    // Files not run for one reason: one annotation with their count, at the first of them.
    let mut not_run: HashMap<&str, usize> = HashMap::new();
    for f in &agg.files {
        if let Some(FileError::NotRun(why)) = &f.error {
            *not_run.entry(why.as_str()).or_default() += 1;
        }
    }
    for f in &agg.files {
        for ex in f.examples.iter().filter(|e| e.status == ExampleStatus::Failed) {
            let line = ex.line.map(|n| format!(",line={n}")).unwrap_or_default();
            let message = ex.message.as_deref().unwrap_or("failed");
            let _ = writeln!(out, "::error file={}{line},title={}::{}", property(&f.path), property(&ex.description), data(message));
        }
        if let Some(FileError::NotRun(why)) = &f.error {
            match not_run.get_mut(why.as_str()) {
                Some(count) if *count > 1 => {
                    let title = format!("{count} files not run");
                    let _ = writeln!(out, "::error title={}::{} (the JSON report lists each)", property(&title), data(why));
                    *count = 0;
                    continue;
                }
                Some(0) => continue,
                _ => {}
            }
        }
        if let Some(error) = &f.error {
            let _ = writeln!(out, "::error file={},title={}::{}", property(&f.path), property(error.kind()), data(&cause(error.message())));
        }
    }
    out
}

/// A workflow command's message: its escapes, and no escape sequences (colour) of its own.
fn data(text: &str) -> String {
    let text = super::escapes::strip(text.trim_end(), super::escapes::Keep::Nothing);
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value (`file=`, `title=`): a message's escapes, and `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

