//! The final summary a person reads, rendered to a String from the aggregate (tests read it
//! without a terminal): the sections `--final-status-level` and `--failure-output` ask for,
//! then the problems and the verdict.

mod problems;
mod profile;
mod verdict;

use super::aggregate::Aggregate;
use super::annotations::annotations;
use super::details::{file_counts, file_details};
use super::status_level::{expected_words, slow_threshold, StatusLevel, DEFAULT_SLOW_AFTER};
use super::style::Styles;
use super::totals::Totals;
use super::words::status_label;
use crate::events::{ExampleStatus, FileError, FileReport, FileStatus};
use crate::framework::{selection, Framework};
use crate::plural::plural;
use std::fmt::Write;

/// How much the final summary says (`--final-status-level`, `--failure-output`).
#[derive(Clone, Copy, Debug)]
pub struct Final {
    pub level: StatusLevel,
    /// The failing files' details again, before the rerun lines.
    pub details: bool,
    /// `--success-output final`: the output of the passing files that printed any.
    pub success_output: bool,
    /// What makes a file SLOW (`--slow-timeout`).
    pub slow_after: std::time::Duration,
    /// `--verbose-rerun-command`: each batch with a failure, as a command that reruns it.
    pub batches: bool,
    /// `--github-annotations`: each failure as a workflow command, before the summary.
    pub annotations: bool,
    /// `--no-capture`: the output was shown as it came; the failures' details do not repeat it,
    /// and `--success-output final` has none to show.
    pub streamed: bool,
}

impl Default for Final {
    fn default() -> Final {
        Final { level: StatusLevel::Fail, details: false, success_output: false, slow_after: DEFAULT_SLOW_AFTER, batches: false, annotations: false, streamed: false }
    }
}

pub fn render(framework: Framework, agg: &Aggregate, totals: &Totals, styles: &Styles, what: Final) -> String {
    // The annotations first: GitHub hides them in the log, and the verdict stays the last line.
    let mut out = if what.annotations { annotations(agg) } else { String::new() };
    let rule = styles.dim.apply_to("─".repeat(60));
    let _ = writeln!(out, "{rule}");
    if what.level.shows_every_file() {
        every_file(&mut out, agg, styles);
    }
    if what.level.shows_pending() {
        pending(&mut out, framework, agg, styles);
    }
    if what.level.shows_slow() {
        slow_files(&mut out, agg, styles, what.slow_after);
    }
    if what.level.shows_failures() {
        profile::profile(&mut out, agg, styles);
    }
    if what.success_output && !what.streamed {
        success_output(&mut out, agg, styles);
    }
    if what.details {
        details(&mut out, agg, styles, what.streamed);
    }
    if what.level.shows_failures() {
        examples(&mut out, framework, agg, styles);
        problems::problems(&mut out, agg, styles);
    }
    if what.batches {
        failing_batches(&mut out, framework, agg, styles);
    }
    seeds(&mut out, agg, what.batches);
    if what.level.shows_failures() {
        problems::slot_use(&mut out, agg, styles);
    }
    verdict::final_lines(&mut out, agg, totals, styles);
    out
}

/// The random order's seeds, when batches had one: the one seed, or how many there were over
/// how many batches (each runner that draws its own — `config.order = :random` in a helper, a
/// fork server's children sharing theirs — need not give each batch a seed of its own).
fn seeds(out: &mut String, agg: &Aggregate, listed: bool) {
    let mut seeds: Vec<u64> = agg.batches.iter().filter_map(|b| b.seed).collect();
    let batches = seeds.len();
    seeds.sort_unstable();
    seeds.dedup();
    match seeds.as_slice() {
        [] => {}
        [seed] => {
            let _ = writeln!(out, "Randomized with seed {seed} (`-- --seed {seed}` runs every batch in the same order)");
        }
        many => {
            let how = if listed { "each batch's is above" } else { "--verbose-rerun-command lists each batch's" };
            let over = plural(batches, "batch", "batches");
            let _ = writeln!(out, "Randomized with {} different seeds over {over} ({how}; the JSON report has them all)", many.len());
        }
    }
}

/// `--verbose-rerun-command`: every batch that had a failing or errored file, as the command
/// that runs its files again in one process, in the same order, with the same seed.
fn failing_batches(out: &mut String, framework: Framework, agg: &Aggregate, styles: &Styles) {
    let failing: std::collections::HashSet<&str> =
        agg.files.iter().filter(|f| f.status() != FileStatus::Passed).map(|f| f.path.as_str()).collect();
    let batches: Vec<_> = agg
        .batches
        .iter()
        .filter(|b| b.arguments.iter().any(|a| failing.contains(selection::file_of(a))))
        .collect();
    if batches.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", styles.bold.apply_to("Batches with failures, as they ran (rerun one to reproduce an order-dependent failure):"));
    for b in batches {
        let place = b.slot.name();
        let seed = b.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
        let _ = writeln!(out, "  {}", styles.dim.apply_to(format!("{place}{seed}:")));
        let _ = writeln!(out, "    {}", framework.batch_command(&b.arguments, b.seed));
    }
    out.push('\n');
}

/// `--final-status-level pass`: every file, with its time and counts.
fn every_file(out: &mut String, agg: &Aggregate, styles: &Styles) {
    let _ = writeln!(out, "{}", styles.bold.apply_to("Files:"));
    for f in &agg.files {
        let label = styles.of_status(f.status()).apply_to(status_label(f.status()));
        let what = match &f.error {
            Some(e) => e.kind().to_string(),
            None => file_counts(f),
        };
        let _ = writeln!(out, "  {label:<5} [{:>7.2}s] {} {}", f.seconds, f.path, styles.dim.apply_to(format!("({what})")));
    }
    out.push('\n');
}

/// `--final-status-level pending`: the pending examples, with why when the framework said.
fn pending(out: &mut String, framework: Framework, agg: &Aggregate, styles: &Styles) {
    let pending: Vec<_> = agg.files.iter().flat_map(|f| f.examples.iter()).filter(|e| e.status == ExampleStatus::Pending).collect();
    if pending.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", styles.bold.apply_to("Pending examples:"));
    for ex in pending {
        let _ = write!(out, "{}", styles.pending.apply_to(framework.rerun_line_with(agg.runner_command.as_deref(), &ex.location, &ex.description)));
        match ex.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(why) => {
                let _ = writeln!(out, " {}", styles.dim.apply_to(format!("({})", why.lines().next().unwrap_or(""))));
            }
            None => out.push('\n'),
        }
    }
    out.push('\n');
}

/// `--final-status-level slow`: the files that ran longer than expected (SLOW in the display).
fn slow_files(out: &mut String, agg: &Aggregate, styles: &Styles, slow_after: std::time::Duration) {
    let mut slow: Vec<_> = agg.files.iter().filter(|f| f.seconds > slow_threshold(f.expected_seconds, slow_after)).collect();
    if slow.is_empty() {
        return;
    }
    slow.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let _ = writeln!(out, "{}", styles.bold.apply_to("Slow files (longer than expected):"));
    for f in slow {
        let expected = expected_words(f.expected_seconds, agg.estimated_by_size.contains(&f.path));
        let _ = writeln!(out, "  {} [{:>7.2}s] {} {}", styles.pending.apply_to("SLOW"), f.seconds, f.path, styles.dim.apply_to(format!("({expected})")));
    }
    out.push('\n');
}

/// `--success-output final`: what each passing file printed, under its heading.
fn success_output(out: &mut String, agg: &Aggregate, styles: &Styles) {
    let printed: Vec<_> = agg.files.iter().filter(|f| f.status() == FileStatus::Passed && !f.output.trim().is_empty()).collect();
    if printed.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", styles.bold.apply_to("Output of passing files:"));
    for f in printed {
        out.push_str(&file_details(f, styles, false));
    }
    out.push('\n');
}

/// `--failure-output final`: each failing file's details, as printed when it finished.
fn details(out: &mut String, agg: &Aggregate, styles: &Styles, streamed: bool) {
    // Files not run for a reason others share are said once, under "did not run cleanly".
    let mut reasons: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for f in &agg.files {
        if let Some(FileError::NotRun(why)) = &f.error {
            *reasons.entry(why.as_str()).or_default() += 1;
        }
    }
    let shared = |f: &FileReport| matches!(&f.error, Some(FileError::NotRun(why)) if reasons[why.as_str()] > 1);
    let failing: Vec<_> = agg.files.iter().filter(|f| f.status() != FileStatus::Passed && !shared(f)).collect();
    if failing.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", styles.bold.apply_to("Failures:"));
    for f in failing {
        out.push_str(&file_details(f, styles, streamed));
    }
    out.push('\n');
}

/// The quarantined examples that failed (they do not fail the run), and those whose last runs
/// all passed: they are ready to leave the quarantine.
fn quarantined(out: &mut String, framework: Framework, agg: &Aggregate, styles: &Styles) {
    let failed: Vec<_> = agg.files.iter().flat_map(|f| f.examples.iter().filter(|e| agg.quarantine.excuses(f, e))).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "{}", styles.bold.apply_to("Quarantined examples (failed; they do not fail the run):"));
        for ex in &failed {
            let line = framework.rerun_line_with(agg.runner_command.as_deref(), &ex.location, &ex.description);
            let _ = writeln!(out, "{} {line}", styles.pending.apply_to("QUARANTINED"));
        }
        out.push('\n');
    }
    if !agg.ready_to_leave.is_empty() {
        let runs = crate::plural::plural(agg.quarantine.passes_to_leave, "run", "runs");
        let _ = writeln!(out, "{}", styles.bold.apply_to(format!("Ready to leave the quarantine (passed its last {runs}):")));
        for location in &agg.ready_to_leave {
            let _ = writeln!(out, "{} {location}", styles.pass.apply_to("READY"));
        }
        out.push('\n');
    }
}

/// The rerun lines of failed examples, and the flaky ones.
fn examples(out: &mut String, framework: Framework, agg: &Aggregate, styles: &Styles) {
    let failed: Vec<_> = agg
        .files
        .iter()
        .flat_map(|f| f.examples.iter().filter(|e| e.status == ExampleStatus::Failed && !agg.quarantine.excuses(f, e)))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "{}", styles.bold.apply_to("Failed examples:"));
        for ex in &failed {
            let line = styles.fail.apply_to(framework.rerun_line_with(agg.runner_command.as_deref(), &ex.location, &ex.description));
            match ex.earlier_failures.len() {
                0 => {
                    let _ = writeln!(out, "{line}");
                }
                earlier => {
                    let _ = writeln!(out, "{line} {}", styles.dim.apply_to(format!("(failed {0} of {0} tries)", earlier + 1)));
                }
            }
        }
        out.push('\n');
    }
    quarantined(out, framework, agg, styles);
    let flaky: Vec<_> = agg.files.iter().flat_map(|f| f.examples.iter()).filter(|e| e.is_flaky()).collect();
    if !flaky.is_empty() {
        let _ = writeln!(out, "{}", styles.bold.apply_to("Flaky examples (failed, then passed on a retry):"));
        for ex in &flaky {
            let tries = ex.earlier_failures.len() + 1;
            let line = framework.rerun_line_with(agg.runner_command.as_deref(), &ex.location, &ex.description);
            let _ = writeln!(out, "{} {}", styles.pending.apply_to(line), styles.dim.apply_to(format!("(passed on try {tries})")));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{FileError, FileReport, Stop};
    use crate::report::annotations::annotations;
    use crate::report::totals::{NoTests, Verdict};
    use crate::events::{ExampleResult, SlotInfo};
    use std::sync::Arc;

    fn ex(status: ExampleStatus, line: u32) -> ExampleResult {
        ExampleResult {
            description: format!("thing {line}"),
            location: format!("./spec/a_spec.rb:{line}"),
            line: Some(line),
            status,
            seconds: 0.1,
            message: (status == ExampleStatus::Failed).then(|| "expected: 2\n     got: 1".to_string()),
            backtrace: vec!["./spec/a_spec.rb:3".into()],
            id: None,
            earlier_failures: Vec::new(),
        }
    }

    fn agg() -> Aggregate {
        let slot = SlotInfo { id: 1, host: Arc::from("local"), host_slot: 1 };
        let mut agg = Aggregate { total_files: 2, slots: vec![slot.clone()], wall_seconds: 2.0, ..Default::default() };
        agg.busy.insert(1, 1.5);
        agg.files.push(FileReport {
            path: "spec/a_spec.rb".into(),
            slot: Some(slot.clone()),
            seconds: 0.3,
            expected_seconds: 0.3,
            examples: vec![ex(ExampleStatus::Passed, 1), ex(ExampleStatus::Failed, 12), ex(ExampleStatus::Pending, 20)],
            error: None,
            output: "hello\n".into(),
        });
        agg.files.push(FileReport {
            path: "spec/bad_spec.rb".into(),
            slot: Some(slot),
            seconds: 0.0,
            expected_seconds: 0.1,
            examples: vec![],
            error: Some(FileError::Load("An error occurred while loading ./spec/bad_spec.rb.\nSyntaxError".into())),
            output: String::new(),
        });
        agg
    }

    #[test]
    fn totals_and_exit_code() {
        let a = agg();
        let t = Totals::of(&a);
        assert_eq!((t.files, t.examples, t.failures, t.pending, t.errors_outside_examples, t.errored_files), (2, 3, 1, 1, 1, 1));
        assert_eq!(t.verdict(), Verdict::Failed);
        let mut clean = Aggregate { total_files: 1, ..Default::default() };
        clean.files.push(FileReport { error: None, examples: vec![ex(ExampleStatus::Passed, 1)], ..a.files[0].clone() });
        assert_eq!(Totals::of(&clean).verdict(), Verdict::Passed);
        clean.total_files = 2; // a selected file with no result is never green
        assert_eq!(Totals::of(&clean).verdict(), Verdict::Failed);
        clean.stopped = Some(Stop::Interrupted);
        assert_eq!(Totals::of(&clean).verdict(), Verdict::Interrupted);
    }

    #[test]
    fn merged_coverage_is_shown_and_its_failed_checks_fail_a_clean_run() {
        let a = agg();
        let mut clean = Aggregate { total_files: 1, slots: a.slots.clone(), wall_seconds: 1.0, ..Default::default() };
        clean.files.push(FileReport { error: None, examples: vec![ex(ExampleStatus::Passed, 1)], ..a.files[0].clone() });
        let loc = "Coverage report generated for RSpec to /p/coverage. 72 / 77 LOC (93.51%) covered.".to_string();
        clean.coverage = Some(crate::events::CoverageReport { batches: 3, lines: vec![loc.clone()], ..Default::default() });
        let text = render(Framework::RSpec, &clean, &Totals::of(&clean), &Styles::new(false), Final::default());
        assert!(text.contains(&format!("Coverage (SimpleCov, merged from 3 batches):\n  {loc}\nPASSED")), "{text}");
        assert_eq!(Totals::of(&clean).verdict(), Verdict::Passed);

        let below = "Line coverage (93.50%) is below the expected minimum coverage (99.00%).".to_string();
        clean.coverage = Some(crate::events::CoverageReport {
            batches: 1,
            lines: vec![loc, below.clone()],
            failed: Some("SimpleCov's checks on the merged coverage failed (its process exited with status 2)".into()),
            warnings: Vec::new(),
        });
        let text = render(Framework::RSpec, &clean, &Totals::of(&clean), &Styles::new(false), Final::default());
        assert!(text.contains("merged from 1 batch):"), "{text}");
        assert!(text.contains(&format!("  {below}\nerror: coverage: SimpleCov's checks")), "{text}");
        assert!(text.contains("FAILED ["), "{text}");
        assert_eq!(Totals::of(&clean).verdict(), Verdict::Failed);
    }

    #[test]
    fn summary_text() {
        let a = agg();
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), Final::default());
        let expected = "\
────────────────────────────────────────────────────────────
Failed examples:
rspec ./spec/a_spec.rb:12 # thing 12

Files that did not run cleanly:
  spec/bad_spec.rb (load error): An error occurred while loading ./spec/bad_spec.rb.

Slots: 1 busy 1.5s of 2.0s (75% efficiency)
  local#1 1.5s
FAILED [   2.00s] 2 files on 1 slot: 3 examples, 1 failure, 1 pending, 1 error occurred outside of examples
";
        assert_eq!(text, expected);
    }

    #[test]
    fn details_show_message_backtrace_and_output() {
        let a = agg();
        let text = file_details(&a.files[0], &Styles::new(false), false);
        assert_eq!(
            text,
            "--- spec/a_spec.rb (local slot 1)\n  1) thing 12\n     expected: 2\n          got: 1\n     # ./spec/a_spec.rb:3\n  output:\n  | hello\n"
        );
        // `--no-capture`: the output is on the screen already; where, instead of it again.
        let streamed = file_details(&a.files[0], &Styles::new(false), true);
        assert!(streamed.ends_with("     # ./spec/a_spec.rb:3\n  output: shown above as it came, on the lines of `local/1`\n"), "{streamed}");
    }

    /// Every section of the summary at once: `--final-status-level all`, `--failure-output
    /// final`, `--verbose-rerun-command`, a stopped run with a lost host.
    fn everything() -> Aggregate {
        let mut a = agg();
        let other = SlotInfo { id: 2, host: Arc::from("box"), host_slot: 2 };
        a.total_files = 7;
        a.slots.push(other.clone());
        a.wall_seconds = 50.0;
        a.files[0].examples[2].message = Some("  not yet\nsecond line".into());
        let mut flaky = ex(ExampleStatus::Passed, 30);
        flaky.earlier_failures = vec!["boom".into(), "boom again".into()];
        a.files[0].examples.push(flaky);
        a.files.push(FileReport {
            path: "spec/slow_spec.rb".into(),
            slot: Some(other.clone()),
            seconds: 40.0,
            expected_seconds: 2.0,
            examples: vec![ex(ExampleStatus::Passed, 1)],
            error: None,
            output: String::new(),
        });
        a.files.push(FileReport {
            path: "spec/slower_spec.rb".into(),
            slot: Some(other.clone()),
            seconds: 45.0,
            expected_seconds: 10.0,
            examples: vec![ex(ExampleStatus::Passed, 1), ex(ExampleStatus::Pending, 2)],
            error: None,
            output: String::new(),
        });
        a.files.push(FileReport {
            path: "spec/crash_spec.rb".into(),
            slot: None,
            seconds: 1.0,
            expected_seconds: 1.0,
            examples: vec![],
            error: Some(FileError::Crashed("\n  the runner process was killed by signal 9\nits output".into())),
            output: "last words\n".into(),
        });
        a.files.push(FileReport {
            path: "spec/never_spec.rb".into(),
            slot: None,
            seconds: 0.0,
            expected_seconds: 0.0,
            examples: vec![],
            error: Some(FileError::NotRun("its host left".into())),
            output: String::new(),
        });
        a.run_output = vec!["DEPRECATION: old".into(), "second line".into()];
        let error = |m: &str| crate::report::BatchError { slot: None, message: m.into(), output: String::new() };
        a.batch_errors = vec![error("before(:suite) failed\n"), error("other"), error("before(:suite) failed\n")];
        a.batches = vec![
            crate::report::BatchRecord { slot: a.slots[0].clone(), arguments: vec!["spec/a_spec.rb[1:2]".into(), "spec/ok_spec.rb".into()], seed: Some(9), seconds: 1.0 },
            crate::report::BatchRecord { slot: other.clone(), arguments: vec!["spec/slow_spec.rb".into()], seed: Some(7), seconds: 40.0 },
            crate::report::BatchRecord { slot: other, arguments: vec!["spec/slower_spec.rb".into()], seed: Some(9), seconds: 45.0 },
        ];
        a.lost_hosts = vec![("far".into(), "no answer for 30s".into())];
        a.stopped = Some(Stop::FailFast { failures: 2 });
        a.unwritten = vec!["could not write `out/report.json`: no such directory".into()];
        a
    }

    #[test]
    fn every_section_of_the_summary() {
        let a = everything();
        let totals = Totals::of(&a);
        assert_eq!(
            (totals.files, totals.files_run, totals.examples, totals.failures, totals.pending, totals.flaky),
            (7, 5, 7, 1, 2, 1)
        );
        assert_eq!((totals.errors_outside_examples, totals.errored_files, totals.unreported_files, totals.unwritten_reports), (5, 3, 1, 1));
        let all = Final { level: StatusLevel::All, details: true, success_output: false, slow_after: std::time::Duration::from_secs(10), batches: true, annotations: false, streamed: false };
        let text = render(Framework::RSpec, &a, &totals, &Styles::new(false), all);
        let expected = "\
────────────────────────────────────────────────────────────
Files:
  FAIL  [   0.30s] spec/a_spec.rb (4 examples, 1 failure, 1 pending)
  ERROR [   0.00s] spec/bad_spec.rb (load error)
  PASS  [  40.00s] spec/slow_spec.rb (1 example)
  PASS  [  45.00s] spec/slower_spec.rb (2 examples, 1 pending)
  ERROR [   1.00s] spec/crash_spec.rb (crashed)
  ERROR [   0.00s] spec/never_spec.rb (not run)

Pending examples:
rspec ./spec/a_spec.rb:20 # thing 20 (not yet)
rspec ./spec/a_spec.rb:2 # thing 2

Slow files (longer than expected):
  SLOW [  45.00s] spec/slower_spec.rb (expected 10.0s)
  SLOW [  40.00s] spec/slow_spec.rb (expected 2.0s)

Failures:
--- spec/a_spec.rb (local slot 1)
  1) thing 12
     expected: 2
          got: 1
     # ./spec/a_spec.rb:3
  output:
  | hello
--- spec/bad_spec.rb (local slot 1)
  load error: An error occurred while loading ./spec/bad_spec.rb.
    SyntaxError
--- spec/crash_spec.rb
  crashed: 
      the runner process was killed by signal 9
    its output
  output:
  | last words
--- spec/never_spec.rb
  not run: its host left

Failed examples:
rspec ./spec/a_spec.rb:12 # thing 12

Flaky examples (failed, then passed on a retry):
rspec ./spec/a_spec.rb:30 # thing 30 (passed on try 3)

Files that did not run cleanly:
  spec/bad_spec.rb (load error): An error occurred while loading ./spec/bad_spec.rb.
  spec/crash_spec.rb (crashed): the runner process was killed by signal 9
  spec/never_spec.rb (not run): its host left

Printed outside of files (each text once):
  DEPRECATION: old
  second line

Errors outside examples:
  before(:suite) failed (2 batches)
  other

Batches with failures, as they ran (rerun one to reproduce an order-dependent failure):
  local/1, seed 9:
    rspec --seed 9 'spec/a_spec.rb[1:2]' spec/ok_spec.rb

Randomized with 2 different seeds over 3 batches (each batch's is above; the JSON report has them all)
Slots: 2 busy 1.5s of 100.0s (2% efficiency)
  local#1 1.5s, box#2 0.0s
warning: host `far` left the run: no answer for 30s
Stopped by --fail-fast at 2 failures after 50.0s: 6 of 7 files finished
error: could not write `out/report.json`: no such directory
FAILED [  50.00s] 7 files on 2 slots: 7 examples, 1 failure, 2 pending, 1 flaky, 5 errors occurred outside of examples
";
        assert_eq!(text, expected);
    }

    #[test]
    fn planned_files_that_ran_no_example_follow_no_tests() {
        let mut a = Aggregate { total_files: 1, no_tests: NoTests::Fail, selection: Some("`spec/a_spec.rb[9:9]`".into()), ..Default::default() };
        a.files.push(FileReport { path: "spec/a_spec.rb".into(), slot: None, seconds: 0.1, expected_seconds: 0.1, examples: vec![], error: None, output: String::new() });
        let text = |a: &Aggregate| render(Framework::RSpec, a, &Totals::of(a), &Styles::default(), Final::default());
        assert_eq!(Totals::of(&a).verdict(), Verdict::NoTests);
        assert!(text(&a).contains("error: no tests to run: `spec/a_spec.rb[9:9]` planned 1 file but ran no example"), "{}", text(&a));
        assert!(text(&a).contains("NO TESTS ["), "{}", text(&a));
        a.no_tests = NoTests::Warn;
        assert_eq!(Totals::of(&a).verdict(), Verdict::Passed);
        assert!(text(&a).contains("warning: no tests to run: `spec/a_spec.rb[9:9]` planned 1 file"), "{}", text(&a));
        a.no_tests = NoTests::Pass;
        assert_eq!(Totals::of(&a).verdict(), Verdict::Passed);
        assert!(!text(&a).contains("no tests to run"));
        // A failure is a failure first; a share given no file is not "no tests".
        a.no_tests = NoTests::Fail;
        a.files[0].error = Some(FileError::Load("boom".into()));
        assert_eq!(Totals::of(&a).verdict(), Verdict::Failed);
        let empty_share = Aggregate { total_files: 0, no_tests: NoTests::Fail, ..Default::default() };
        assert_eq!(Totals::of(&empty_share).verdict(), Verdict::Passed);
    }

    #[test]
    fn a_file_is_slow_past_its_threshold_not_at_it() {
        // As the display's SLOW: longer than max(3 × expected, --slow-timeout).
        let mut a = agg();
        a.files[0].seconds = 10.0;
        a.files[0].expected_seconds = 1.0;
        a.files[1].seconds = 10.5;
        a.files[1].expected_seconds = 3.0;
        let slow = Final { level: StatusLevel::Slow, ..Final::default() };
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), slow);
        assert!(text.contains("Slow files (longer than expected):\n  SLOW [  10.50s] spec/bad_spec.rb (expected 3.0s)\n\n"), "{text}");
        assert!(!text.contains("SLOW [  10.00s]"), "{text}");
    }

    #[test]
    fn a_slow_file_estimated_from_its_size_says_so() {
        let mut a = agg();
        a.files[1].seconds = 12.0;
        a.files[1].expected_seconds = 2.9;
        a.estimated_by_size.insert("spec/bad_spec.rb".into());
        let slow = Final { level: StatusLevel::Slow, ..Final::default() };
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), slow);
        assert!(text.contains("  SLOW [  12.00s] spec/bad_spec.rb (estimated 2.9s from its size)\n"), "{text}");
    }

    #[test]
    fn annotations_escape_what_a_workflow_command_reads() {
        let mut a = agg();
        a.files[0].examples[1].description = "a, b: 100%".into();
        a.files[0].examples[1].message = Some("\x1b[31mexpected: 2\x1b[0m\r\n     got: 1\n".into());
        assert_eq!(
            annotations(&a),
            "::error file=spec/a_spec.rb,line=12,title=a%2C b%3A 100%25::expected: 2%0D%0A     got: 1\n\
             ::error file=spec/bad_spec.rb,title=load error::An error occurred while loading ./spec/bad_spec.rb.\n"
        );
    }

    #[test]
    fn a_stopped_runs_summary_names_the_files_it_cut_short() {
        let mut a = agg();
        a.total_files = 4;
        a.stopped = Some(Stop::Interrupted);
        a.planned = ["spec/a_spec.rb", "spec/bad_spec.rb", "spec/long_spec.rb", "spec/never_spec.rb"].map(String::from).to_vec();
        // Running at the stop: one cut short, one that still finished.
        a.stopped_while_running = vec![("spec/long_spec.rb".into(), "local/2".into()), ("spec/a_spec.rb".into(), "local/1".into())];
        a.add_unfinished();
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), Final::default());
        assert!(text.contains("\nStopped while running: spec/long_spec.rb (local/2)\nNot run (2 files): spec/long_spec.rb and 1 more\n"), "{text}");
    }

    #[test]
    fn slots_that_were_never_busy_give_no_percentage() {
        // The runner could not start: a few milliseconds of batches, a few of wall time.
        let mut a = agg();
        a.slots.push(SlotInfo { id: 2, host: Arc::from("local"), host_slot: 2 });
        a.wall_seconds = 0.02;
        a.busy = [(1, 0.004), (2, 0.006)].into();
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), Final::default());
        assert!(text.contains("\nSlots: 2, none busy\nFAILED ["), "{text}");
        assert!(!text.contains("efficiency") && !text.contains("local#1"), "{text}");
    }

    #[test]
    fn merged_slots_are_listed_once_each_under_their_share() {
        let mut a = agg();
        a.slots = (1..=4).map(|id| SlotInfo { id, host: Arc::from("local"), host_slot: (id - 1) % 2 + 1 }).collect();
        a.busy = [(1, 20.4), (2, 11.7), (3, 19.3), (4, 18.0)].into();
        a.slot_source = [(1, "share 1/2"), (2, "share 1/2"), (3, "share 2/2"), (4, "share 2/2")].map(|(id, s)| (id, s.to_string())).into();
        a.wall_seconds = 21.0;
        let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), Final::default());
        assert!(
            text.contains("Slots: 4 busy 69.4s of 84.0s (83% efficiency)\n  share 1/2: local#1 20.4s, local#2 11.7s\n  share 2/2: local#1 19.3s, local#2 18.0s\n"),
            "{text}"
        );
    }

    #[test]
    fn no_slot_line_without_slots_or_without_a_wall_time() {
        // `report merge` knows no wall time; a run that started no slot has none to show.
        for (slots, wall) in [(true, 0.0), (false, 3.0)] {
            let mut a = agg();
            a.wall_seconds = wall;
            if !slots {
                a.slots.clear();
            }
            let text = render(Framework::RSpec, &a, &Totals::of(&a), &Styles::new(false), Final::default());
            assert!(!text.contains("Slots:") && !text.contains("efficiency"), "{text}");
            assert!(text.contains("FAILED ["), "{text}");
        }
    }

    #[test]
    fn a_clean_run_says_only_what_there_is_and_a_missing_result_is_an_error() {
        let a = agg();
        let mut clean = Aggregate { total_files: 1, slots: a.slots.clone(), wall_seconds: 1.0, ..Default::default() };
        clean.files.push(FileReport { error: None, examples: vec![ex(ExampleStatus::Passed, 1)], ..a.files[0].clone() });
        let text = render(Framework::RSpec, &clean, &Totals::of(&clean), &Styles::new(false), Final::default());
        assert!(text.ends_with("\nPASSED [   1.00s] 1 file on 1 slot: 1 example, 0 failures\n"), "{text}");
        assert!(!text.contains("error"), "{text}");

        // Not stopped, yet a selected file has no result: said, and never green.
        clean.total_files = 3;
        let text = render(Framework::RSpec, &clean, &Totals::of(&clean), &Styles::new(false), Final::default());
        assert!(text.ends_with("\nerror: 2 of 3 files have no result\nFAILED [   1.00s] 3 files on 1 slot: 1 example, 0 failures\n"), "{text}");
    }
}
