//! End-to-end runs of the real `testbot` binary on local slots against the minitest,
//! Test::Unit and Cucumber fixture projects (each copied to a tempdir), compared with the
//! framework's own serial run (tests/common/frameworks.rs).
//!
//! Serial totals of the fixtures without their load-error file (Ruby 3.1, Debian 12's
//! minitest 5.17, test-unit 3.5.7, cucumber 2.4), also hard-coded below as a second check:
//!
//! | fixture          | files | examples | failures | pending | the load-error file             |
//! |------------------|------:|---------:|---------:|--------:|---------------------------------|
//! | minitest_basic   |     8 |       15 |        2 |       1 | test/broken_test.rb (NameError) |
//! | test_unit_basic  |     7 |       13 |        2 |       2 | test/broken_test.rb (NameError) |
//! | cucumber_basic   |     6 |       11 |        3 |       2 | features/broken.feature (Gherkin) |
//!
//! A serial run that includes the load-error file runs nothing (or stops at it); testbot errors
//! that file alone and runs the others, so its totals equal the serial run of the others, plus
//! one error outside examples.

mod common;

use common::frameworks::*;
use common::*;
use std::collections::BTreeSet;
use std::fs;

const MINITEST_FILES: &[&str] = &[
    "test/broken_test.rb",
    "test/empty_test.rb",
    "test/error_test.rb",
    "test/math_test.rb",
    "test/models/test_user.rb",
    "test/passing_test.rb",
    "test/skip_test.rb",
    "test/spec_style_test.rb",
];

const TEST_UNIT_FILES: &[&str] = &[
    "test/broken_test.rb",
    "test/empty_test.rb",
    "test/error_test.rb",
    "test/math_test.rb",
    "test/passing_test.rb",
    "test/pending_test.rb",
    "test/unit/test_nested.rb",
];

const CUCUMBER_FILES: &[&str] = &[
    "features/broken.feature",
    "features/empty.feature",
    "features/failing.feature",
    "features/nested/outline.feature",
    "features/passing.feature",
    "features/pending.feature",
];

fn without<'a>(files: &[&'a str], bad: &str) -> Vec<&'a str> {
    files.iter().copied().filter(|f| *f != bad).collect()
}

/// What every framework's run must show: the framework, exactly the selected files, totals equal
/// to the serial run of the good files plus one load error, that file errored, exit 1.
#[track_caller]
fn assert_matches_serial(run: &Run, report: &Report, framework: &str, files: &[&str], broken: &str, serial: &SerialRun) {
    run.assert_exit(1);
    report.assert_consistent_as(framework);
    assert_eq!(report.file_paths(), sorted(files), "files[]\n{}", run.dump());
    let t = report.totals();
    assert_eq!(t.counts(), serial.counts, "totals vs the serial run\n{}\n--- serial ---\n{}", run.dump(), serial.run.dump());
    assert_eq!(t.errors_outside_examples, 1, "the load error\n{}", run.dump());
    let bad = report.file(broken);
    assert_eq!((bad.status.as_str(), bad.examples), ("errored", 0), "{bad:?}");
    run.assert_output_contains(&format!("An error occurred while loading ./{broken}"));
}

#[test]
fn minitest_run_matches_serial_minitest() {
    let p = Project::new("minitest_basic");
    let serial = serial_minitest(&p, &without(MINITEST_FILES, "test/broken_test.rb"));
    assert_eq!(serial.counts, counts(15, 2, 1), "{}", serial.run.dump());
    assert_eq!(serial.exit_code, Some(1));

    let out = p.out_dir("tmpdirs");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    assert_matches_serial(&run, &report, "minitest", MINITEST_FILES, "test/broken_test.rb", &serial);
    assert_eq!(report.totals(), totals(8, 15, 2, 1, 1));
    // No console reporter of minitest's, nor one a plugin put in its place, prints into the run.
    for noise in ["Run options:", "# Running:", "runs/s", "0 runs,"] {
        assert!(!run.combined().contains(noise), "{noise:?} in the output\n{}", run.dump());
    }

    // Per file: tests land in the file that defines them, minitest/spec ones included.
    for (path, want) in [
        ("test/passing_test.rb", counts(3, 0, 0)),
        ("test/math_test.rb", counts(2, 1, 0)),
        ("test/error_test.rb", counts(2, 1, 0)),
        ("test/skip_test.rb", counts(2, 0, 1)),
        ("test/spec_style_test.rb", counts(3, 0, 0)),
        ("test/models/test_user.rb", counts(3, 0, 0)),
        ("test/empty_test.rb", counts(0, 0, 0)),
    ] {
        assert_eq!(report.file(path).counts(), want, "{path}");
    }
    assert!(!report.file_paths().iter().any(|f| f.ends_with("test_helper.rb") || f.ends_with("support_helper.rb")));

    let failures: BTreeSet<(String, u64, String)> =
        report.failures().into_iter().map(|f| (f.path, f.line, f.description)).collect();
    assert_eq!(
        failures,
        BTreeSet::from([
            ("test/error_test.rb".to_string(), 4, "ErrorTest#test_raises".to_string()),
            ("test/math_test.rb".to_string(), 8, "MathTest#test_adds_wrongly".to_string()),
        ])
    );
    let math = report.failures().into_iter().find(|f| f.path == "test/math_test.rb").unwrap();
    assert!(math.message.contains("Expected: 2") && math.message.contains("Actual: 1"), "{}", math.message);
    run.assert_stdout_contains("RuntimeError: boom from error_test");
    run.assert_stdout_contains("ruby -Itest test/math_test.rb -n 'MathTest#test_adds_wrongly'");
    run.assert_stdout_contains("ruby -Itest test/error_test.rb -n 'ErrorTest#test_raises'");
    // No minitest progress dots or summary leak into the output.
    assert!(!run.stdout.contains("runs,") && !run.stdout.contains("Run options"), "{}", run.dump());

    // The test that writes into Dir.tmpdir ran in a slot of its own TMPDIR, not in /tmp.
    let recorded = read_json_dir(&out);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let r = &recorded[0];
    let slot = r["slot"].as_str().unwrap();
    assert_eq!(r["tmpdir"], r["TMPDIR"], "{r}");
    assert!(r["tmpdir"].as_str().unwrap().ends_with(&format!("/tmp/slot-{slot}")), "{r}");
    assert!(!p.path(".testbot").exists() && !p.path("tmp/slot-1").exists(), "local slots' temp dirs stay out of the project");
}

#[test]
fn test_unit_run_matches_serial_test_unit() {
    let p = Project::new("test_unit_basic");
    let serial = serial_test_unit(&p, &without(TEST_UNIT_FILES, "test/broken_test.rb"));
    assert_eq!(serial.counts, counts(13, 2, 2), "{}", serial.run.dump());

    let out = p.out_dir("tmpdirs");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    assert_matches_serial(&run, &report, "test-unit", TEST_UNIT_FILES, "test/broken_test.rb", &serial);
    assert_eq!(report.totals(), totals(7, 13, 2, 2, 1));
    for (path, want) in [
        ("test/passing_test.rb", counts(3, 0, 0)),
        ("test/math_test.rb", counts(2, 1, 0)),
        ("test/error_test.rb", counts(2, 1, 0)),
        ("test/pending_test.rb", counts(3, 0, 2)),
        ("test/unit/test_nested.rb", counts(3, 0, 0)),
        ("test/empty_test.rb", counts(0, 0, 0)),
    ] {
        assert_eq!(report.file(path).counts(), want, "{path}");
    }
    let failures: BTreeSet<(String, u64, String)> =
        report.failures().into_iter().map(|f| (f.path, f.line, f.description)).collect();
    assert_eq!(
        failures,
        BTreeSet::from([
            ("test/error_test.rb".to_string(), 4, "ErrorTest#test_raises".to_string()),
            ("test/math_test.rb".to_string(), 8, "MathTest#test_adds_wrongly".to_string()),
        ])
    );
    run.assert_stdout_contains("<2> expected but was");
    run.assert_stdout_contains("ruby -Itest test/math_test.rb -n 'MathTest#test_adds_wrongly'");
    let recorded = read_json_dir(&out);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let slot = recorded[0]["slot"].as_str().unwrap();
    assert!(recorded[0]["tmpdir"].as_str().unwrap().ends_with(&format!("/tmp/slot-{slot}")), "{}", recorded[0]);
}

#[test]
fn cucumber_run_matches_serial_cucumber() {
    let p = Project::new("cucumber_basic");
    let serial = serial_cucumber(&p, &without(CUCUMBER_FILES, "features/broken.feature"));
    assert_eq!(serial.counts, counts(11, 3, 2), "{}", serial.run.dump());
    assert_eq!(serial.exit_code, Some(1));

    let out = p.out_dir("tmpdirs");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2"])
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    assert_matches_serial(&run, &report, "cucumber", CUCUMBER_FILES, "features/broken.feature", &serial);
    assert_eq!(report.totals(), totals(6, 11, 3, 2, 1));
    for (path, want) in [
        ("features/passing.feature", counts(2, 0, 0)),
        ("features/failing.feature", counts(3, 2, 0)),
        ("features/pending.feature", counts(3, 0, 2)),
        ("features/nested/outline.feature", counts(3, 1, 0)),
        ("features/empty.feature", counts(0, 0, 0)),
    ] {
        assert_eq!(report.file(path).counts(), want, "{path}");
    }
    run.assert_output_contains("Gherkin could not parse it");
    // Rerun lines exactly as cucumber's own "Failing Scenarios" list prints them.
    for line in serial.run.stdout.lines().filter(|l| l.starts_with("cucumber features/")) {
        run.assert_stdout_contains(line.trim());
    }
    run.assert_stdout_contains("cucumber features/failing.feature:8 # Scenario: adds wrongly");
    run.assert_stdout_contains("expected 5, got 2 (RuntimeError)");
    let recorded = read_json_dir(&out);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let slot = recorded[0]["slot"].as_str().unwrap();
    assert!(recorded[0]["tmpdir"].as_str().unwrap().ends_with(&format!("/tmp/slot-{slot}")), "{}", recorded[0]);
}

#[test]
fn a_test_that_kills_its_runner_errors_its_file_and_the_rest_still_count() {
    let p = Project::new("minitest_basic");
    fs::remove_file(p.path("test/broken_test.rb")).unwrap();
    p.write(
        "test/zz_kill_test.rb",
        "require \"test_helper\"\n\nclass KillTest < Minitest::Test\n  def test_dies\n    Process.kill(\"KILL\", Process.pid)\n  end\nend\n",
    );
    let good = without(MINITEST_FILES, "test/broken_test.rb");
    let serial = serial_minitest(&p, &good);
    let report_path = p.fresh_path("report", "json");
    // One slot, large batches: the killer shares a process with other files.
    let (run, report) = p.testbot(["-n", "1"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as("minitest");
    let killed = report.file("test/zz_kill_test.rb");
    assert_eq!(killed.status, "errored", "{killed:?}\n{}", run.dump());
    assert_eq!(report.totals().counts(), serial.counts, "{}", run.dump());
    assert_eq!(report.totals().files, good.len() as u64 + 1);
}

#[test]
fn several_frameworks_need_a_choice_and_minitest_folders_match_spec_files() {
    let p = Project::new("minitest_basic");
    p.write(
        "spec/calc_spec.rb",
        "require \"minitest/autorun\"\n\ndescribe \"Calc\" do\n  it \"adds\" do\n    _(1 + 1).must_equal 2\n  end\n\n  it \"subtracts\" do\n    _(2 - 1).must_equal 1\n  end\nend\n",
    );
    // spec/ holds minitest specs (detection reads the files): one minitest suite, both folders.
    let run = p.testbot(["list"]).run();
    run.assert_exit(0);
    assert!(run.stdout.contains("\tspec/calc_spec.rb\n") && run.stdout.contains("\ttest/math_test.rb\n"), "{}", run.dump());

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", "--framework", "minitest", "spec"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    report.assert_consistent_as("minitest");
    assert_eq!(report.file_paths(), ["spec/calc_spec.rb"]);
    assert_eq!(report.totals(), totals(1, 2, 0, 0, 0));

    // An RSpec spec/ beside minitest's test/: two frameworks, a choice to make.
    std::fs::remove_file(p.path("spec/calc_spec.rb")).unwrap();
    p.write("spec/thing_spec.rb", "RSpec.describe \"Thing\" do\n  it(\"works\") { expect(1).to eq(1) }\nend\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains("it has several: rspec (spec/), minitest (test/ uses minitest); choose one");
    run.assert_output_contains("--framework NAME");
}

#[test]
fn init_writes_a_config_the_run_obeys_and_never_overwrites_it() {
    let p = Project::new("test_unit_basic");
    let run = p.testbot(["init"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("framework: test-unit (test/ uses Test::Unit)");
    run.assert_stdout_contains("bundler: no (no Gemfile)");
    let written = fs::read_to_string(p.path("testbot.toml")).unwrap();
    assert!(written.contains("framework = \"test-unit\"\n"), "{written}");

    let again = p.testbot(["init"]).run();
    again.assert_exit(2);
    again.assert_output_contains("already exists");
    assert_eq!(fs::read_to_string(p.path("testbot.toml")).unwrap(), written);

    // The written file is valid, and names the framework the run uses.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", "test/math_test.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as("test-unit");
    assert_eq!(report.totals(), totals(1, 2, 1, 0, 0));
}

#[test]
fn serial_summary_lines_parse() {
    let l = "15 runs, 16 assertions, 1 failures, 1 errors, 1 skips";
    assert_eq!((number_before(l, "runs"), number_before(l, "errors"), number_before(l, "nope")), (15, 1, 0));
    let c = "11 scenarios (3 failed, 1 undefined, 1 pending, 6 passed)";
    assert_eq!((number_before(c, "scenarios"), number_before(c, "failed"), number_before(c, "passed")), (11, 3, 6));
}

#[test]
fn ci_has_the_minitest_plugins_a_rails_machine_has() {
    // script/test installs Rails' and SimpleCov's minitest plugins so that the test above runs
    // with them, as on a Rails developer's machine; without them it would prove less.
    if std::env::var_os("CI").is_none() {
        return;
    }
    let out = std::process::Command::new("ruby")
        .args(["-e", "puts Gem.find_files('minitest/*_plugin.rb')"])
        .output()
        .expect("ruby runs");
    let plugins = String::from_utf8_lossy(&out.stdout);
    for plugin in ["minitest/rails_plugin.rb", "minitest/simplecov_plugin.rb"] {
        assert!(plugins.contains(plugin), "{plugin} is not installed: {plugins}");
    }
}
