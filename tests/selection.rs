//! A rerun line pasted back: `testbot spec/math_spec.rb:6` and `testbot 'spec/math_spec.rb[1:2]'`
//! run just those examples, as `rspec` would (issue 18, item 1).

mod common;

use common::*;

#[test]
fn a_pasted_rerun_line_runs_just_that_example() {
    let p = Project::new("rspec_basic");
    let first = p.testbot(["-n", "2", "spec/math_spec.rb", "spec/passing_spec.rb"]).run();
    first.assert_exit(1);
    first.assert_stdout_contains("rspec ./spec/math_spec.rb:6 # Math adds wrongly");

    // The rerun line's location, pasted back as testbot's argument.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["./spec/math_spec.rb:6"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file_paths(), ["spec/math_spec.rb"], "{}", run.dump());
    assert_eq!(report.totals(), totals(1, 1, 1, 0, 0), "{}", run.dump());
    assert_eq!(report.failures()[0].description, "Math adds wrongly");

    // Two lines, and an example id, of the same file; a line of a passing example.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/math_spec.rb:2:10", "spec/math_spec.rb[1:2]"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals(), totals(1, 3, 1, 0, 0), "{}", run.dump());
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/math_spec.rb:2"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(1, 1, 0, 0, 0), "{}", run.dump());
}

#[test]
fn a_selection_that_cannot_work_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let run = p.testbot(["spec:3"]).run();
    run.assert_exit(2);
    run.assert_output_contains("`spec:3`: lines and example ids select examples of a file, not of a folder");
    let run = p.testbot(["spec/nope_spec.rb:3"]).run();
    run.assert_exit(2);
    run.assert_output_contains("no such file or directory: `spec/nope_spec.rb:3`");
    drop(p);

    let m = Project::new("minitest_basic");
    let run = m.testbot(["test/math_test.rb:5"]).run();
    run.assert_exit(2);
    run.assert_output_contains("`test/math_test.rb` with lines or example ids: that selects examples in RSpec only");
}

#[test]
fn only_failures_reruns_what_the_last_run_recorded() {
    let p = Project::new("rspec_basic");
    let first = p.testbot(["-n", "2"]).run();
    first.assert_exit(1);
    let recorded = std::fs::read_to_string(p.path("tmp/testbot-failures-rspec.txt")).unwrap();
    assert!(recorded.lines().any(|l| l == "spec/math_spec.rb[1:2]"), "{recorded}");

    // Just the failed examples run; every one of them fails again.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--only-failures"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    // rspec_basic fails two examples (math_spec.rb:6, error_spec.rb:8): those two run, no more.
    assert_eq!(report.totals(), totals(2, 2, 2, 0, 0), "{}", run.dump());
    assert!(report.failures().iter().any(|f| f.description == "Math adds wrongly"));

    let run = p.testbot(["--only-failures", "spec/math_spec.rb"]).run();
    run.assert_exit(2);

    // A green run records nothing; then there is nothing to rerun (a run keeps the failures of
    // files it did not run: tests/rerun.rs).
    drop(p);
    let p = Project::new("rspec_basic");
    let green = p.testbot(["spec/passing_spec.rb"]).run();
    green.assert_exit(0);
    let run = p.testbot(["--only-failures"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("the last run recorded no failures");
}

#[test]
fn plain_lines_count_the_files_as_they_finish() {
    // Not a terminal (as in CI): every file's line says how far the run is, `(n/N)`.
    let p = Project::new("rspec_basic");
    let run = p.testbot(["-n", "2", "spec/math_spec.rb", "spec/passing_spec.rb", "spec/pending_spec.rb"]).run();
    run.assert_exit(1);
    let counters: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once("s] (").and_then(|(_, rest)| rest.split_once(')')).map(|(n, _)| n.to_string()))
        .collect();
    assert_eq!(counters, ["1/3", "2/3", "3/3"], "{}", run.dump());
}

#[test]
fn exclude_leaves_files_and_folders_out_of_a_run_and_its_list() {
    let p = Project::new("rspec_basic");
    let listed = |run: &Run| -> Vec<String> { run.stdout.lines().map(|l| l.split_once('\t').unwrap().1.to_string()).collect() };
    // `testbot list` shows what a run would run, with each file's expected seconds.
    let run = p.testbot(["list", "--exclude", "spec/math_spec.rb", "--exclude", "spec/with*"]).run();
    run.assert_exit(0);
    let mut files = listed(&run);
    files.sort();
    assert_eq!(
        files,
        ["spec/empty_spec.rb", "spec/error_spec.rb", "spec/nested_spec.rb", "spec/passing_spec.rb", "spec/pending_spec.rb"],
        "{}",
        run.dump()
    );
    assert!(run.stdout.lines().all(|l| l.split('\t').next().unwrap().parse::<f64>().is_ok()), "{}", run.dump());

    // [project] exclude, a folder glob, and --exclude on top: the run leaves out the two
    // failing files and passes.
    p.write("spec/slow/big_spec.rb", "RSpec.describe 'big' do\n  it('fails') { expect(1).to eq(2) }\nend\n");
    p.write("testbot.toml", "[project]\nexclude = [\"spec/slow\", \"spec/error_spec.rb\"]\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "--exclude", "./spec/math_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(
        report.file_paths(),
        ["spec/empty_spec.rb", "spec/nested_spec.rb", "spec/passing_spec.rb", "spec/pending_spec.rb", "spec/with space_spec.rb"],
        "{}",
        run.dump()
    );

    // Leaving out everything is an error, as an empty selection is.
    let run = p.testbot(["spec/math_spec.rb", "--exclude", "spec/*_spec.rb"]).run();
    run.assert_exit(2);
    run.assert_output_contains("every selected file (1) is excluded by `spec/slow`, `spec/error_spec.rb`, `spec/*_spec.rb`");
}

#[test]
fn a_path_that_is_not_a_test_file_is_an_error_not_a_pass() {
    let p = Project::new("rspec_basic");
    // The suite's helper, or any file whose name is not a spec's, named by mistake.
    for given in ["spec/spec_helper.rb", "spec/support/greeter.rb"] {
        let run = p.testbot(["-n", "1", given]).run();
        run.assert_exit(2);
        run.assert_output_contains(&format!("`{given}` is not a test file: its name does not match `*_spec.rb`"));
        assert!(!run.stdout.contains("PASSED"), "{}", run.dump());
    }
    // With a pattern that names them so, such files are test files.
    p.write("spec/odd_check.rb", "RSpec.describe 'odd' do\n  it('passes') { expect(1).to eq(1) }\nend\n");
    p.write("testbot.toml", "[project]\npattern = \"spec/**/*_check.rb\"\n");
    let run = p.testbot(["-n", "1", "spec/odd_check.rb"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("1 file on 1 slot: 1 example, 0 failures");
}

const MINITEST_SPEC: &str = "require \"minitest/autorun\"\n\ndescribe \"Calc\" do\n  it \"adds\" do\n    _(1 + 1).must_equal 2\n  end\n\n  it \"subtracts wrongly\" do\n    _(3 - 1).must_equal 1\n  end\nend\n";

#[test]
fn a_spec_folder_of_minitest_specs_is_minitest() {
    // minitest_basic's tests moved to spec/ as minitest/spec files: no test/, no RSpec.
    let p = Project::new("minitest_basic");
    std::fs::remove_dir_all(p.path("test")).unwrap();
    p.write("spec/calc_spec.rb", MINITEST_SPEC);
    p.write("spec/words_spec.rb", "require \"minitest/autorun\"\n\ndescribe \"Words\" do\n  it \"upcases\" do\n    _(\"a\".upcase).must_equal \"A\"\n  end\nend\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.framework(), "minitest", "{}", run.dump());
    assert_eq!(report.file_paths(), ["spec/calc_spec.rb", "spec/words_spec.rb"], "{}", run.dump());
    assert_eq!(report.totals(), totals(2, 3, 1, 0, 0), "{}", run.dump());
    run.assert_stdout_contains("ruby -Ispec spec/calc_spec.rb -n 'Calc#test_0002_subtracts wrongly'");
    // Named, minitest with no test/ looks in spec/.
    let run = p.testbot(["-n", "1", "--framework", "minitest"]).run();
    run.assert_exit(1);
    run.assert_stdout_contains("2 files on 1 slot: 3 examples, 1 failure");
    // `testbot init` says what it saw.
    let run = p.testbot(["init"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("framework: minitest (spec/ holds minitest specs)");
}

#[test]
fn the_minitest_rerun_line_uses_the_project_command() {
    let p = Project::new("minitest_basic");
    p.write("testbot.toml", "[project]\ncommand = \"ruby -Itest -Ilib\"\n");
    let run = p.testbot(["-n", "1", "test/math_test.rb"]).run();
    run.assert_exit(1);
    let line = "ruby -Itest -Ilib test/math_test.rb -n 'MathTest#test_adds_wrongly'";
    run.assert_stdout_contains(&format!("{line}\n"));
    // Pasted into a shell, it runs that one test, which fails as it did.
    let out = std::process::Command::new("sh").args(["-c", line]).current_dir(&p.root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("1 runs, 1 assertions, 1 failures, 0 errors"), "{text}");
}
