//! The summary's last lines: why the run stopped early, what fails it besides examples, and the
//! verdict with the counts.

use super::super::aggregate::{unfinished_reason, Aggregate};
use super::super::style::Styles;
use super::super::totals::{NoTests, Totals, Verdict};
use crate::plural::plural;
use crate::events::{CoverageReport, FileError, Stop};
use std::fmt::Write;

/// Why the run stopped early, what else fails it, and the verdict with the counts.
pub(super) fn final_lines(out: &mut String, agg: &Aggregate, totals: &Totals, styles: &Styles) {
    stopped_early(out, agg, totals, styles);
    for why in &agg.unwritten {
        let _ = writeln!(out, "{}: {why}", styles.fail.apply_to("error"));
    }
    if totals.ran_nothing() && totals.verdict() != Verdict::Failed && agg.stopped.is_none() {
        no_tests(out, agg, totals, styles);
    }
    for report in &agg.failed_reports {
        let _ = writeln!(out, "{}: {report} says its run failed (`\"passed\": false`, by its own rules: e.g. --flaky-fails, coverage checks)", styles.fail.apply_to("error"));
    }
    if let Some(coverage) = &agg.coverage {
        coverage_lines(out, coverage, styles);
    }
    let verdict = match totals.verdict() {
        Verdict::Passed => styles.pass.apply_to("PASSED"),
        Verdict::Interrupted => styles.fail.apply_to("INTERRUPTED"),
        Verdict::Failed => styles.fail.apply_to("FAILED"),
        Verdict::NoTests => styles.fail.apply_to("NO TESTS"),
    };
    // `--changed`: the files the impact map left out are said, never silently skipped.
    let skipped = match &agg.changed {
        Some(selection) => format!(" ({} skipped by the impact map)", plural(selection.skipped(), "file", "files")),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{verdict} [{:>7.2}s] {}{skipped} on {}: {}",
        agg.wall_seconds,
        plural(totals.files, "file", "files"),
        plural(agg.slots.len(), "slot", "slots"),
        counts(totals),
    );
}

/// Why the run stopped before its end and how far it got; or, not stopped, the files with no
/// result.
fn stopped_early(out: &mut String, agg: &Aggregate, totals: &Totals, styles: &Styles) {
    // Files a stop left unfinished are in the reports as not run (`add_unfinished`).
    let unfinished = agg.stopped.map(unfinished_reason);
    let left = agg.files.iter().filter(|f| matches!((&f.error, &unfinished), (Some(FileError::NotRun(m)), Some(u)) if m == u)).count();
    let finished = totals.files.saturating_sub(totals.unreported_files).saturating_sub(left);
    if let Some(stop) = agg.stopped {
        let why = match stop {
            Stop::Interrupted => "Interrupted".to_string(),
            Stop::FailFast { failures } => format!("Stopped by --fail-fast at {}", plural(failures, "failure", "failures")),
            Stop::Timeout { seconds } => format!("Stopped by --timeout ({seconds:.0}s)"),
        };
        let _ = writeln!(
            out,
            "{} after {:.1}s: {finished} of {} files finished",
            styles.fail.apply_to(why),
            agg.wall_seconds,
            totals.files
        );
    } else if totals.unreported_files > 0 {
        let _ = writeln!(out, "{}: {} of {} files have no result", styles.fail.apply_to("error"), totals.unreported_files, totals.files);
    }
}

/// Planned files ran cleanly but no example ran: what `--no-tests` makes of it.
fn no_tests(out: &mut String, agg: &Aggregate, totals: &Totals, styles: &Styles) {
    let selection = agg.selection.as_deref().unwrap_or("the selection");
    let files = plural(totals.files, "file", "files");
    match totals.no_tests {
        NoTests::Fail => {
            let _ = writeln!(out, "{}: no tests to run: {selection} planned {files} but ran no example (`--no-tests=warn` or `=pass` accepts that)", styles.fail.apply_to("error"));
        }
        NoTests::Warn => {
            let _ = writeln!(out, "{} no tests to run: {selection} planned {files} but ran no example", styles.pending.apply_to("warning:"));
        }
        NoTests::Pass => {}
    }
}

/// `7 examples, 1 failure, 2 pending, 1 flaky, 5 errors occurred outside of examples`.
fn counts(totals: &Totals) -> String {
    let mut counts = format!(
        "{}, {}",
        plural(totals.examples, "example", "examples"),
        plural(totals.failures, "failure", "failures")
    );
    if totals.pending > 0 {
        counts.push_str(&format!(", {} pending", totals.pending));
    }
    if totals.flaky > 0 {
        counts.push_str(&format!(", {} flaky", totals.flaky));
    }
    if totals.errors_outside_examples > 0 {
        counts.push_str(&format!(
            ", {} outside of examples",
            plural(totals.errors_outside_examples, "error occurred", "errors occurred")
        ));
    }
    counts
}

/// What SimpleCov said of the merged coverage, and why it fails the run if it does.
fn coverage_lines(out: &mut String, coverage: &CoverageReport, styles: &Styles) {
    let from = plural(coverage.batches, "batch", "batches");
    let _ = writeln!(out, "{}", styles.bold.apply_to(format!("Coverage (SimpleCov, merged from {from}):")));
    for line in &coverage.lines {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(why) = &coverage.failed {
        let _ = writeln!(out, "{}: coverage: {}", styles.fail.apply_to("error"), why.trim_end());
    }
}

