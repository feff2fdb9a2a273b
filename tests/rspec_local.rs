//! End-to-end runs of the real `testbot` binary on local slots against the
//! RSpec fixture projects in `tests/fixtures/` (each copied to a tempdir).
//!
//! Serial `rspec --format json` totals of the fixtures (rspec-core 3.12.0,
//! Ruby 3.1), which the tests below also hard-code as a second check:
//!
//! | fixture                                  | examples | failures | pending | errors outside |
//! |------------------------------------------|---------:|---------:|--------:|---------------:|
//! | rspec_basic (7 files)                    |       18 |        2 |       2 |              0 |
//! | rspec_load_error, whole suite (5 files)  |        0 |        0 |       0 |              2 |
//! | rspec_load_error, 3 good files only      |        7 |        0 |       1 |              0 |
//! | rspec_noisy (4 files)                    |       13 |        1 |       1 |              0 |
//! | rspec_crash, 3 files without the killer  |        9 |        0 |       1 |              0 |
//! | rspec_crash, whole suite                 | process SIGKILLed after 4 examples, no JSON |
//! | rspec_env (6 files)                      |       12 |        0 |       0 |              0 |
//! | rspec_bundler (2 files, bundle exec)     |        3 |        0 |       0 |              0 |
//! | rspec_empty (no *_spec.rb)               |        0 |        0 |       0 |              0 |
//!
//! A plain serial rspec run of the load-error suite runs *no* example at all
//! (rspec aborts before running when any file fails to load); testbot must
//! still run the 3 good files. Likewise a serial run of the crash suite dies
//! with the killer file; testbot must still run and count the other 3 files.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// rspec_basic
// ---------------------------------------------------------------------------

#[test]
fn basic_parallel_run_matches_serial_rspec() {
    let p = Project::new("rspec_basic");

    // Serial baseline, computed, plus the numbers recorded when the fixture
    // was written.
    let serial = p.serial_rspec(&[]);
    assert_eq!(serial.counts, counts(18, 2, 2));
    assert_eq!(serial.errors_outside_examples, 0);
    assert_eq!(serial.exit_code, Some(1));

    let report_path = p.fresh_path("report", "json");
    let junit_path = p.fresh_path("junit", "xml");
    let (run, report) = p
        .testbot(["-n", "2"])
        .report_to(&report_path)
        .junit_to(&junit_path)
        .run_with_report();
    run.assert_exit(1);
    report.assert_consistent();

    // Totals: equal to serial rspec's, and to the known numbers.
    let t = report.totals();
    assert_eq!(
        t.counts(),
        serial.counts,
        "totals vs serial rspec\n{}",
        run.dump()
    );
    assert_eq!(t, totals(7, 18, 2, 2, 0));

    // Every spec file exactly once (including the one with no examples and
    // the one with a space in its name), and nothing else (not spec_helper,
    // not spec/support/*).
    assert_eq!(
        report.file_paths(),
        sorted(BASIC_FILES),
        "files[]: {:#}",
        report.json["files"]
    );

    // Per-file counts equal serial rspec's per-file counts.
    let per_file = serial.per_file();
    for path in BASIC_FILES {
        let row = report.file(path);
        let expected = per_file.get(*path).copied().unwrap_or_default();
        assert_eq!(row.counts(), expected, "counts for {path}");
        assert_eq!(row.host, "local", "{row:?}");
        assert!(
            (1..=2).contains(&row.slot),
            "slot of {path} with -n 2: {row:?}"
        );
        let want_status = if expected.failures > 0 {
            "failed"
        } else {
            "passed"
        };
        assert_eq!(row.status, want_status, "status of {path}");
    }
    assert_eq!(report.file("spec/empty_spec.rb").examples, 0);
    assert_eq!(report.file("spec/with space_spec.rb").examples, 1);
    // Includes the shared example defined in spec/support/shared_examples.rb
    // (which rspec's JSON lists under that file_path); no files[] row for it.
    assert_eq!(report.file("spec/nested_spec.rb").examples, 6);
    assert_eq!(report.file("spec/math_spec.rb").status, "failed");
    assert_eq!(report.file("spec/error_spec.rb").status, "failed");

    // Failures: both failing examples, with path, line (of the `it`) and
    // full description exactly as serial rspec reports them.
    let failures = report.failures();
    let got: BTreeSet<(String, u64, String)> = failures
        .iter()
        .map(|f| (f.path.clone(), f.line, f.description.clone()))
        .collect();
    let from_serial: BTreeSet<(String, u64, String)> = serial
        .failed()
        .iter()
        .map(|e| (e.path.clone(), e.line, e.full_description.clone()))
        .collect();
    assert_eq!(
        failures.len(),
        2,
        "failures[]: {:#}",
        report.json["failures"]
    );
    assert_eq!(got, from_serial);
    assert_eq!(
        got,
        BTreeSet::from([
            (
                "spec/error_spec.rb".to_string(),
                8,
                "Errors raises an exception".to_string()
            ),
            (
                "spec/math_spec.rb".to_string(),
                6,
                "Math adds wrongly".to_string()
            ),
        ])
    );
    let math = failures
        .iter()
        .find(|f| f.path == "spec/math_spec.rb")
        .unwrap();
    assert!(
        math.message.contains("expected: 2"),
        "math message: {:?}",
        math.message
    );
    assert!(
        math.message.contains("got: 1"),
        "math message: {:?}",
        math.message
    );
    let boom = failures
        .iter()
        .find(|f| f.path == "spec/error_spec.rb")
        .unwrap();
    assert!(
        boom.message.contains("boom from error_spec"),
        "error message: {:?}",
        boom.message
    );

    // Hosts: just this machine, with the 2 slots asked for.
    let hosts = report.hosts();
    assert_eq!(hosts.len(), 1, "hosts[]: {:#}", report.json["hosts"]);
    assert_eq!(hosts[0].name, "local");
    assert_eq!(hosts[0].slots, 2);
    assert_eq!(hosts[0].files, 7);

    // Human output: descriptions, messages, rerun lines.
    run.assert_stdout_contains("Math adds wrongly");
    run.assert_stdout_contains("Errors raises an exception");
    run.assert_stdout_contains("expected: 2");
    run.assert_stdout_contains("boom from error_spec");
    run.assert_stdout_contains("rspec ./spec/math_spec.rb:6 # Math adds wrongly");
    run.assert_stdout_contains("rspec ./spec/error_spec.rb:8 # Errors raises an exception");
    let rerun_lines = run
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("rspec ./"))
        .count();
    assert_eq!(
        rerun_lines,
        2,
        "one rerun line per failed example\n{}",
        run.dump()
    );

    // JUnit: one testcase per example, one <failure> per failed example,
    // one <skipped> per pending example.
    let xml = fs::read_to_string(&junit_path).expect("junit file written");
    let j = junit_counts(&xml);
    assert!(
        xml.contains("<testsuites"),
        "junit root must be <testsuites>:\n{xml}"
    );
    assert_eq!(j.testcases, 18, "testcases in junit:\n{xml}");
    assert_eq!(j.failures + j.errors, 2, "failures in junit:\n{xml}");
    assert_eq!(j.skipped, 2, "skipped in junit:\n{xml}");
}

#[test]
fn passing_subset_exits_zero() {
    let p = Project::new("rspec_basic");
    let serial = p.serial_rspec(&["spec/passing_spec.rb", "spec/with space_spec.rb"]);
    assert_eq!(serial.counts, counts(4, 0, 0));

    let report_path = p.fresh_path("report", "json");
    // Explicit `run` subcommand and explicit framework, paths as arguments.
    let (run, report) = p
        .testbot([
            "run",
            "spec/passing_spec.rb",
            "spec/with space_spec.rb",
            "-n",
            "2",
            "--framework",
            "rspec",
        ])
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(2, 4, 0, 0, 0));
    assert_eq!(report.totals().counts(), serial.counts);
    assert_eq!(
        report.file_paths(),
        sorted(&["spec/passing_spec.rb", "spec/with space_spec.rb"])
    );
    assert!(report.failures().is_empty());
    for f in report.files() {
        assert_eq!(f.status, "passed", "{f:?}");
    }
    assert!(
        !run.stdout.contains("Math adds wrongly"),
        "ran an unselected file\n{}",
        run.dump()
    );
}

#[test]
fn runner_args_after_double_dash_filter_examples() {
    let p = Project::new("rspec_basic");
    // `-e filterme` matches 3 passing examples in 3 files.
    let serial = p.serial_rspec(&["-e", "filterme"]);
    assert_eq!(serial.counts, counts(3, 0, 0));
    let names: BTreeSet<String> = serial
        .examples
        .iter()
        .map(|e| e.full_description.clone())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "Math subtracts filterme".to_string(),
            "Nested Array when frozen is frozen filterme".to_string(),
            "Passing greets filterme".to_string(),
        ])
    );

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2", "--", "-e", "filterme"])
        .report_to(&report_path)
        .run_with_report();
    // The two failing examples are filtered out, so the run is green.
    run.assert_exit(0);
    report.assert_consistent();
    let t = report.totals();
    assert_eq!(t.counts(), serial.counts, "{}", run.dump());
    assert_eq!(t.counts(), counts(3, 0, 0));
    assert_eq!(t.errors_outside_examples, 0);
    assert_eq!(report.file("spec/math_spec.rb").examples, 1);
    assert_eq!(report.file("spec/nested_spec.rb").examples, 1);
    assert_eq!(report.file("spec/passing_spec.rb").examples, 1);
    assert_eq!(report.file("spec/error_spec.rb").examples, 0);
    assert!(report.failures().is_empty());
}

#[test]
fn runtime_log_has_every_file_and_is_merged_across_runs() {
    let p = Project::new("rspec_basic");
    let log = p.path("tmp/testbot-runtime-rspec.log");
    assert!(!log.exists());

    let run = p.testbot(["-n", "2"]).run();
    run.assert_exit(1);
    let first = read_runtime_log(&log);
    let paths: Vec<String> = {
        let mut v: Vec<String> = first.iter().map(|(p, _)| p.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(
        paths,
        sorted(BASIC_FILES),
        "one line per spec file after run 1: {first:?}"
    );
    for (path, secs) in &first {
        assert!(secs.is_finite() && *secs >= 0.0, "{path}: {secs}");
    }

    // Second run on a subset: its file is updated, the others are kept, and
    // nothing is duplicated.
    let run = p.testbot(["-n", "2", "spec/passing_spec.rb"]).run();
    run.assert_exit(0);
    let second = read_runtime_log(&log);
    let mut paths: Vec<String> = second.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        sorted(BASIC_FILES),
        "merged, one line per file after run 2: {second:?}"
    );
    let before: BTreeMap<_, _> = first.into_iter().collect();
    let after: BTreeMap<_, _> = second.into_iter().collect();
    for path in BASIC_FILES.iter().filter(|p| **p != "spec/passing_spec.rb") {
        assert!(
            (before[*path] - after[*path]).abs() < 1e-3,
            "runtime of {path}, which did not run the second time, changed: {} -> {}",
            before[*path],
            after[*path]
        );
    }
}

#[test]
fn runtime_log_option_moves_the_log() {
    let p = Project::new("rspec_basic");
    let custom = p.fresh_path("runtime", "log");
    let run = p
        .testbot([
            "-n",
            "2",
            "--runtime-log",
            custom.to_str().unwrap(),
            "spec/passing_spec.rb",
            "spec/math_spec.rb",
        ])
        .run();
    run.assert_exit(1);
    let lines = read_runtime_log(&custom);
    let mut paths: Vec<String> = lines.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        sorted(&["spec/math_spec.rb", "spec/passing_spec.rb"])
    );
    assert!(
        !p.path("tmp/testbot-runtime-rspec.log").exists(),
        "with --runtime-log the default log must not be written"
    );
}

#[test]
fn chdir_flag_runs_the_project_from_elsewhere() {
    let p = Project::new("rspec_env");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-C", p.root.to_str().unwrap(), "-n", "2"])
        .cwd(p.outside(""))
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(6, 12, 0, 0, 0));
    assert!(
        p.path("tmp/testbot-runtime-rspec.log").is_file(),
        "runtime log goes in the project"
    );
}

// ---------------------------------------------------------------------------
// rspec_load_error
// ---------------------------------------------------------------------------

#[test]
fn load_errors_mark_files_errored_and_good_files_still_run() {
    let p = Project::new("rspec_load_error");
    let good = [
        "spec/alpha_spec.rb",
        "spec/beta_spec.rb",
        "spec/gamma_spec.rb",
    ];

    let whole = p.serial_rspec(&[]);
    assert_eq!(whole.counts, counts(0, 0, 0));
    assert_eq!(whole.errors_outside_examples, 2);
    let serial = p.serial_rspec(&good);
    assert_eq!(serial.counts, counts(7, 0, 1));

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(1);
    report.assert_consistent();

    let t = report.totals();
    assert_eq!(
        t.counts(),
        serial.counts,
        "the good files' examples are all counted"
    );
    assert_eq!(t, totals(5, 7, 0, 1, 2));
    let per_file = serial.per_file();
    for path in good {
        let row = report.file(path);
        assert_eq!(row.status, "passed", "{row:?}");
        assert_eq!(row.counts(), per_file[path], "{path}");
    }
    assert_eq!(report.file("spec/alpha_spec.rb").examples, 2);
    assert_eq!(report.file("spec/beta_spec.rb").examples, 2);
    assert_eq!(report.file("spec/gamma_spec.rb").examples, 3);
    // Each broken file carries its own reason, in the report and on its ERROR line's section.
    // The summary's line names the cause (issue 31 item 7), not RSpec's "An error occurred".
    let reasons = [
        ("spec/name_error_spec.rb", "NameError:\n  uninitialized constant UndefinedFixtureConstant", "NameError: uninitialized constant UndefinedFixtureConstant"),
        ("spec/syntax_error_spec.rb", "SyntaxError:", "SyntaxError: "),
    ];
    for (path, reason, cause) in reasons {
        let row = report.file(path);
        assert_eq!(row.status, "errored", "{row:?}");
        assert_eq!(row.examples, 0, "{row:?}");
        let error = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == path).unwrap()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(&format!("An error occurred while loading ./{path}.")), "{error}");
        assert!(error.contains(reason), "{path}: {error}");
        run.assert_stdout_contains(&format!(") {path} (load error)\n--- {path} (local slot "));
        run.assert_stdout_contains(&format!("  {path} (load error): {cause}"));
    }
    let syntax = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/syntax_error_spec.rb").unwrap()["error"].to_string();
    assert!(!syntax.contains("UndefinedFixtureConstant"), "each file its own reason: {syntax}");
}

// ---------------------------------------------------------------------------
// rspec_noisy
// ---------------------------------------------------------------------------

#[test]
fn noisy_output_does_not_change_counts() {
    let p = Project::new("rspec_noisy");
    let serial = p.serial_rspec(&[]);
    assert_eq!(serial.counts, counts(13, 1, 1));

    let report_path = p.fresh_path("report", "json");
    let junit_path = p.fresh_path("junit", "xml");
    let (run, report) = p
        .testbot(["-n", "2"])
        .report_to(&report_path)
        .junit_to(&junit_path)
        .run_with_report();
    run.assert_exit(1);
    report.assert_consistent();

    let t = report.totals();
    assert_eq!(
        t.counts(),
        serial.counts,
        "JSON-looking/tagged output changed the counts"
    );
    assert_eq!(t, totals(4, 13, 1, 1, 0));
    assert_eq!(
        report.file("spec/json_lines_spec.rb").counts(),
        counts(3, 0, 0)
    );
    assert_eq!(
        report.file("spec/partial_lines_spec.rb").counts(),
        counts(6, 0, 1)
    );
    assert_eq!(
        report.file("spec/big_output_spec.rb").counts(),
        counts(2, 0, 0)
    );
    assert_eq!(
        report.file("spec/visible_failure_spec.rb").counts(),
        counts(2, 1, 0)
    );
    for f in report.files() {
        let want = if f.path == "spec/visible_failure_spec.rb" {
            "failed"
        } else {
            "passed"
        };
        assert_eq!(f.status, want, "{f:?}");
    }

    // Exactly the one real failure; the fake "failed" lines are not failures.
    let failures = report.failures();
    assert_eq!(
        failures.len(),
        1,
        "failures[]: {:#}",
        report.json["failures"]
    );
    assert_eq!(failures[0].path, "spec/visible_failure_spec.rb");
    assert_eq!(failures[0].line, 7);
    assert_eq!(
        failures[0].description,
        "Visible failure fails after printing"
    );
    assert!(
        failures[0].message.contains("noisy expected"),
        "{:?}",
        failures[0].message
    );

    // What the failing example printed is shown to the user.
    run.assert_stdout_contains(
        "NOISY-FAILURE-OUTPUT: this line was printed by the failing example",
    );
    run.assert_stdout_contains(
        "rspec ./spec/visible_failure_spec.rb:7 # Visible failure fails after printing",
    );

    let xml = fs::read_to_string(&junit_path).expect("junit file written");
    let j = junit_counts(&xml);
    assert_eq!(j.testcases, 13, "testcases in junit");
    assert_eq!(j.failures + j.errors, 1, "failures in junit");
    assert_eq!(j.skipped, 1, "skipped in junit");
    assert!(!xml.contains('\u{0}'), "raw NUL in the JUnit XML");
}

// ---------------------------------------------------------------------------
// rspec_crash
// ---------------------------------------------------------------------------

#[test]
fn crashed_process_marks_its_file_errored_and_others_are_counted() {
    let p = Project::new("rspec_crash");
    let others = [
        "spec/first_spec.rb",
        "spec/second_spec.rb",
        "spec/third_spec.rb",
    ];
    let serial = p.serial_rspec(&others);
    assert_eq!(serial.counts, counts(9, 0, 1));

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(1);
    report.assert_consistent();

    assert_eq!(report.totals().files, 4);
    let killer = report.file("spec/killer_spec.rb");
    assert_eq!(killer.status, "errored", "{killer:?}");
    // Its two passing examples count; the crash is named with the example it died in, twice
    // (once retried), and its output is shown under its own section.
    assert_eq!(killer.counts(), counts(2, 0, 0), "{killer:?}");
    let error = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/killer_spec.rb").unwrap()["error"].as_str().unwrap().to_string();
    assert_eq!(
        error,
        "the runner process was killed by signal 9 (SIGKILL) while running this file in `Killer dies` (./spec/killer_spec.rb:13) (the second time: it did the same on another slot before)"
    );
    run.assert_stdout_contains("RETRY spec/killer_spec.rb: the runner process was killed by signal 9 (SIGKILL)");
    run.assert_stdout_contains(") spec/killer_spec.rb (crashed)\n--- spec/killer_spec.rb (local slot ");
    run.assert_stdout_contains(&format!("  crashed: {error}\n  output:\n  | about to die\n"));

    // The other files ran completely and are counted exactly.
    let per_file = serial.per_file();
    for path in others {
        let row = report.file(path);
        assert_eq!(row.status, "passed", "{row:?}");
        assert_eq!(row.counts(), per_file[path], "{path}");
    }
    assert_eq!(report.file("spec/first_spec.rb").counts(), counts(2, 0, 0));
    assert_eq!(report.file("spec/second_spec.rb").counts(), counts(3, 0, 0));
    assert_eq!(report.file("spec/third_spec.rb").counts(), counts(4, 0, 1));

    assert_eq!(report.totals(), totals(4, 11, 0, 1, 1), "{}", run.dump());
}

// ---------------------------------------------------------------------------
// rspec_env
// ---------------------------------------------------------------------------

/// Run the env fixture and return (report, one record per spec file keyed by
/// spec file basename).
fn env_run(p: &Project, args: &[&str]) -> (Run, Report, BTreeMap<String, Value>) {
    let out = p.out_dir("env-out");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(args.iter().copied())
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(6, 12, 0, 0, 0));
    let mut by_file = BTreeMap::new();
    for rec in read_json_dir(&out) {
        let file = rec["spec_file"].as_str().unwrap().to_string();
        assert!(
            by_file.insert(file.clone(), rec).is_none(),
            "{file} ran more than once"
        );
    }
    let names: Vec<String> = by_file.keys().cloned().collect();
    assert_eq!(
        names,
        sorted(&[
            "five_spec.rb",
            "four_spec.rb",
            "one_spec.rb",
            "six_spec.rb",
            "three_spec.rb",
            "two_spec.rb"
        ]),
        "every spec file recorded its environment once"
    );
    (run, report, by_file)
}

fn env_str(rec: &Value, key: &str) -> String {
    rec[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} was not set in the spec process: {rec}"))
        .to_string()
}

/// Checks shared by the env tests: every record agrees with the report about
/// which slot ran its file, and TEST_ENV_NUMBER follows from the slot.
fn check_env_records(
    report: &Report,
    by_file: &BTreeMap<String, Value>,
    slots: u64,
    first_is_1: bool,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (file, rec) in by_file {
        let ten = env_str(rec, "TEST_ENV_NUMBER");
        let groups = env_str(rec, "PARALLEL_TEST_GROUPS");
        let slot: u64 = env_str(rec, "TESTBOT_SLOT")
            .parse()
            .expect("TESTBOT_SLOT is a number");
        let host = env_str(rec, "TESTBOT_HOST");
        assert_eq!(groups, slots.to_string(), "PARALLEL_TEST_GROUPS in {rec}");
        assert!((1..=slots).contains(&slot), "TESTBOT_SLOT in {rec}");
        assert_eq!(host, "local", "TESTBOT_HOST in {rec}");
        let want_ten = if slot == 1 && !first_is_1 {
            String::new()
        } else {
            slot.to_string()
        };
        assert_eq!(ten, want_ten, "TEST_ENV_NUMBER for slot {slot}: {rec}");
        let row = report.file(&format!("spec/{file}"));
        assert_eq!(row.slot, slot, "report slot vs TESTBOT_SLOT for {file}");
        assert_eq!(row.host, host);
        seen.insert(ten);
    }
    seen
}

#[test]
fn env_vars_two_slots_default_numbering() {
    let p = Project::new("rspec_env");
    let (_run, report, by_file) = env_run(&p, &["-n", "2"]);
    let seen = check_env_records(&report, &by_file, 2, false);
    let allowed = BTreeSet::from([String::new(), "2".to_string()]);
    assert!(
        seen.is_subset(&allowed),
        "TEST_ENV_NUMBER values {seen:?} not within {allowed:?}"
    );
    assert_eq!(report.hosts()[0].slots, 2);
}

#[test]
fn env_vars_two_slots_first_is_1() {
    let p = Project::new("rspec_env");
    let (_run, report, by_file) = env_run(&p, &["-n", "2", "--first-is-1"]);
    let seen = check_env_records(&report, &by_file, 2, true);
    let allowed = BTreeSet::from(["1".to_string(), "2".to_string()]);
    assert!(
        seen.is_subset(&allowed),
        "TEST_ENV_NUMBER values {seen:?} not within {allowed:?}"
    );
}

#[test]
fn env_vars_single_slot() {
    let p = Project::new("rspec_env");
    let (_run, report, by_file) = env_run(&p, &["-n", "1"]);
    let seen = check_env_records(&report, &by_file, 1, false);
    assert_eq!(seen, BTreeSet::from([String::new()]));
    for f in report.files() {
        assert_eq!(f.slot, 1, "{f:?}");
    }
    assert_eq!(report.hosts()[0].slots, 1);
}

// ---------------------------------------------------------------------------
// rspec_bundler
// ---------------------------------------------------------------------------

fn bundler_records(p: &Project, args: &[&str]) -> Vec<Value> {
    let out = p.out_dir("bundler-out");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(args.iter().copied())
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(2, 3, 0, 0, 0));
    assert_eq!(
        report.file_paths(),
        sorted(&["spec/bundled_spec.rb", "spec/plain_spec.rb"])
    );
    let records = read_json_dir(&out);
    assert_eq!(
        records.len(),
        1,
        "spec/bundled_spec.rb ran once: {records:?}"
    );
    records
}

#[test]
fn bundler_project_runs_under_bundle_exec() {
    let p = Project::new("rspec_bundler");
    let lock_before = fs::read_to_string(p.path("Gemfile.lock")).unwrap();
    let records = bundler_records(&p, &["-n", "2"]);
    let rec = &records[0];
    assert_eq!(
        rec["bundler_loaded"],
        Value::Bool(true),
        "not run through bundle exec: {rec}"
    );
    let gemfile = rec["bundle_gemfile"]
        .as_str()
        .expect("BUNDLE_GEMFILE set by bundle exec");
    assert_eq!(
        fs::canonicalize(gemfile).unwrap(),
        fs::canonicalize(p.path("Gemfile")).unwrap(),
        "bundle exec used the project's Gemfile"
    );
    // Offline, nothing to resolve: the lockfile is untouched.
    assert_eq!(
        fs::read_to_string(p.path("Gemfile.lock")).unwrap(),
        lock_before
    );
}

#[test]
fn bundler_project_with_no_bundler_flag() {
    let p = Project::new("rspec_bundler");
    let records = bundler_records(&p, &["-n", "2", "--no-bundler"]);
    let rec = &records[0];
    assert_eq!(
        rec["bundler_loaded"],
        Value::Bool(false),
        "--no-bundler still used bundler: {rec}"
    );
    assert_eq!(rec["bundle_gemfile"], Value::Null, "{rec}");
}

// ---------------------------------------------------------------------------
// rspec_empty
// ---------------------------------------------------------------------------

#[test]
fn empty_selection_is_a_usage_error() {
    let p = Project::new("rspec_empty");
    let serial = p.serial_rspec(&[]);
    assert_eq!(serial.counts, counts(0, 0, 0));

    let run = p.testbot(["-n", "2"]).run();
    run.assert_exit(2);
    let text = run.combined().to_lowercase();
    let said_so = [
        "no spec files",
        "no test files",
        "no files matched",
        "no files found",
        "no matching files",
        "matched no files",
        "nothing to run",
    ]
    .iter()
    .any(|phrase| text.contains(phrase));
    assert!(
        said_so,
        "exit 2 without saying that no spec files matched\n{}",
        run.dump()
    );
}

// ---------------------------------------------------------------------------
// Interrupt
// ---------------------------------------------------------------------------

/// Written into the tempdir copy only (never into tests/fixtures): an example
/// that announces its pid and then waits (in 0.1 s sleeps) for up to 60 s.
const HANG_SPEC: &str = indoc::indoc! {r#"
    RSpec.describe "Hang" do
      it "waits to be interrupted" do
        dir = ENV.fetch("TESTBOT_FIXTURE_OUT_DIR")
        File.write(File.join(dir, "hang.pid.tmp"), Process.pid.to_s)
        File.rename(File.join(dir, "hang.pid.tmp"), File.join(dir, "hang.pid"))
        600.times { sleep 0.1 }
      end
    end
"#};

#[test]
fn sigint_stops_the_run_with_exit_130_and_ends_the_workers() {
    let p = Project::new("rspec_basic");
    p.write("spec/hang_spec.rb", HANG_SPEC);
    let out = p.out_dir("hang-out");
    let pid_file = out.join("hang.pid");

    let running = p
        .testbot(["-n", "2"])
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .spawn();
    if !wait_for_file(&pid_file, Duration::from_secs(60)) {
        running.kill_group();
        panic!(
            "the hanging example never started\n{}",
            running.finish(Duration::from_secs(5)).dump()
        );
    }
    let ruby_pid: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _cleanup = KillOnDrop(ruby_pid);
    assert!(pid_alive(ruby_pid));

    // Like `kill -INT <testbot>`: only testbot itself gets the signal; it has
    // to stop its own workers (rspec alone would finish the current example
    // first, ~60 s).
    running.signal("INT");
    let run = running.finish(Duration::from_secs(20));
    run.assert_exit(130);
    // Its workers are gone too (give the reaper a moment).
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(ruby_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pid_alive(ruby_pid),
        "the rspec worker (pid {ruby_pid}) outlived testbot after SIGINT\n{}",
        run.dump()
    );
}

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

#[test]
fn durations_are_never_negative_not_even_negative_zero() {
    // spec/empty_spec.rb (no examples) is the file most likely to get a
    // duration of (rounded) zero.
    let p = Project::new("rspec_basic");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(1);
    let negative = |x: f64| x.is_sign_negative() || !x.is_finite();
    assert!(!negative(report.wall_seconds()), "wall_seconds");
    for f in report.files() {
        assert!(
            !negative(f.seconds),
            "files[].seconds of {}: {:?}",
            f.path,
            f.seconds
        );
    }
    for h in report.hosts() {
        assert!(!negative(h.busy_seconds), "hosts[].busy_seconds: {h:?}");
    }
    for (path, secs) in read_runtime_log(&p.path("tmp/testbot-runtime-rspec.log")) {
        assert!(!negative(secs), "runtime log seconds of {path}: {secs:?}");
    }
    let log_text = fs::read_to_string(p.path("tmp/testbot-runtime-rspec.log")).unwrap();
    assert!(
        !log_text.contains(":-"),
        "negative number in the runtime log:\n{log_text}"
    );
    assert!(
        !run.stdout.contains("-0.0"),
        "a negative duration is shown to the user\n{}",
        run.dump()
    );
}

/// Issue 27 item 5: a rerun line for a file whose name has shell syntax in it is shell-quoted,
/// and pasted into `sh` it reruns that example.
#[test]
fn a_rerun_line_is_shell_quoted_and_reruns_the_example() {
    let p = Project::new("rspec_basic");
    let name = "spec/fail 'x'_spec.rb";
    p.write(name, "RSpec.describe('quoted') do\n  it('fails') { expect(1).to eq(2) }\nend\n");
    let run = p.testbot(["-n", "1", name]).run();
    run.assert_exit(1);
    let expected = "rspec './spec/fail '\\''x'\\''_spec.rb:2' # quoted fails";
    run.assert_stdout_contains(&format!("Failed examples:\n{expected}\n"));
    let again = std::process::Command::new("sh").arg("-c").arg(expected).current_dir(&p.root).output().unwrap();
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(out.contains("1 example, 1 failure"), "the pasted line did not rerun the example:\n{out}{}", String::from_utf8_lossy(&again.stderr));
}
