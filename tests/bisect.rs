//! `testbot bisect` (issue 34, item 1), with the real binary, RSpec and minitest: a failure's
//! batch replayed from the run's JSON report, halved to the polluting file (in at most
//! ⌈log2 n⌉ + 2 runs) and then to its example, with a printed command that reproduces it; a
//! flaky failure reported as not reproducible; bad input refused with exit 2.
//!
//! Fixtures: rspec_bisect (30 files; file_12's second example sets a global that file_25's first
//! example minds; spec/flaky/flake_spec.rb fails while tmp/flake exists) and minitest_bisect
//! (30 files; file_3's last of four tests by name pollutes, file_8 minds; test/flaky/flake_test.rb
//! fails while tmp/flake exists). The runs that make the reports give the files
//! `--in-order`, so that the polluter and the victim share one batch.

mod common;

use common::*;

const RSPEC_FILES: usize = 30;

fn rspec_files() -> Vec<String> {
    (1..=RSPEC_FILES).map(|n| format!("spec/file_{n:02}_spec.rb")).collect()
}

/// A run of `files` in one batch, in order, writing its JSON report: it fails (the victim).
fn failing_run(p: &Project, files: &[String]) -> std::path::PathBuf {
    let report = p.fresh_path("run", "json");
    let mut args = vec!["--in-order".to_string()];
    args.extend(files.iter().cloned());
    let run = p.testbot(args).report_to(&report).run();
    run.assert_exit(1);
    report
}

/// The runs the file stage took and its bound, from `File stage: N runs of C candidates (at most ⌈log2 C⌉ + 2 = B)`.
fn file_stage(stdout: &str) -> (usize, usize, usize) {
    let line = stdout.lines().find(|l| l.starts_with("File stage: ")).unwrap_or_else(|| panic!("no file stage:\n{stdout}"));
    let words: Vec<&str> = line.split([' ', ')', ';']).collect();
    let runs = words[2].parse().unwrap();
    let candidates = words[5].parse().unwrap();
    let bound = words[words.iter().position(|w| *w == "=").unwrap() + 1].parse().unwrap();
    (runs, candidates, bound)
}

/// The command printed under `Reproduce …:`.
fn reproduce_command(stdout: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("Reproduce "));
    lines.next().unwrap_or_else(|| panic!("no command:\n{stdout}"));
    lines.next().unwrap().trim().to_string()
}

/// The printed command, run by `sh` in the project with this testbot first on the PATH.
fn run_printed(p: &Project, command: &str) -> Run {
    let bin = std::path::Path::new(TESTBOT).parent().unwrap().to_string_lossy().into_owned();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    p.sh(command, &[("PATH".to_string(), path)])
}

/// `testbot bisect --from REPORT` and `more` words.
fn bisect(report: &std::path::Path, more: &[&str]) -> Vec<String> {
    let mut args = vec!["bisect".to_string(), "--from".into(), report.to_string_lossy().into_owned()];
    args.extend(more.iter().map(|m| m.to_string()));
    args
}

fn ceil_log2(n: usize) -> usize {
    (usize::BITS - (n - 1).leading_zeros()) as usize
}

#[test]
fn bisect_finds_the_polluting_file_and_example_of_an_rspec_batch_and_prints_a_command_that_fails() {
    let p = Project::new("rspec_bisect");
    let report = failing_run(&p, &rspec_files());
    let run = p.testbot(bisect(&report, &[])).run();
    run.assert_exit(0);
    run.assert_stdout_contains("Bisecting spec/file_25_spec.rb[1:1] (\"file 25 finds the feature off\")");
    run.assert_stdout_contains("Polluting file: spec/file_12_spec.rb\n");
    run.assert_stdout_contains("Polluting example: spec/file_12_spec.rb[1:2] (\"file 12 turns the feature on for good\")");
    let (runs, candidates, bound) = file_stage(&run.stdout);
    assert_eq!(candidates, 24, "the files before the victim in its batch:\n{}", run.stdout);
    assert_eq!(bound, ceil_log2(candidates) + 2);
    assert!(runs <= bound, "{runs} runs for the file stage:\n{}", run.stdout);
    let command = reproduce_command(&run.stdout);
    assert_eq!(command, "testbot --in-order 'spec/file_12_spec.rb[1:2]' spec/file_25_spec.rb");
    let printed = run_printed(&p, &command);
    assert_eq!(printed.code, Some(1), "{}", printed.dump());
    printed.assert_stdout_contains("rspec ./spec/file_25_spec.rb:3 # file 25 finds the feature off");
    printed.assert_stdout_contains("2 examples, 1 failure");

    // The failure named, by its rerun location, gives the same answer.
    let run = p.testbot(bisect(&report, &["./spec/file_25_spec.rb:3"])).run();
    run.assert_exit(0);
    assert_eq!(reproduce_command(&run.stdout), command);
}

#[test]
fn bisect_replays_a_random_order_with_its_seed_and_the_command_carries_it() {
    let p = Project::new("rspec_bisect");
    let report = p.fresh_path("run", "json");
    let mut args = vec!["--in-order".to_string()];
    args.extend(rspec_files());
    args.extend(["--", "--order", "random", "--seed", "1"].map(String::from));
    let run = p.testbot(args).report_to(&report).run();
    // Whether file_12's group ran before file_25's is the seed's choice; 1 puts it before.
    run.assert_exit(1);
    let run = p.testbot(bisect(&report, &[])).run();
    run.assert_exit(0);
    run.assert_stdout_contains("seed 1; any of the others may have run before it (random order): 29 files");
    run.assert_stdout_contains("Polluting example: spec/file_12_spec.rb[1:2]");
    let (runs, candidates, bound) = file_stage(&run.stdout);
    assert!(candidates == 29 && runs <= bound && bound == ceil_log2(29) + 2, "{}", run.stdout);
    let command = reproduce_command(&run.stdout);
    assert_eq!(command, "testbot --in-order 'spec/file_12_spec.rb[1:2]' spec/file_25_spec.rb -- --seed 1");
    let printed = run_printed(&p, &command);
    assert_eq!(printed.code, Some(1), "{}", printed.dump());
    printed.assert_stdout_contains("rspec ./spec/file_25_spec.rb:3 # file 25 finds the feature off");
}

#[test]
fn bisect_finds_the_polluting_file_and_test_of_a_minitest_batch_and_prints_a_command_that_fails() {
    let p = Project::new("minitest_bisect");
    // All 30 files in one batch, the victim (file_8) last: 29 candidates ran before it.
    let mut files: Vec<String> = (1..=30).filter(|n| *n != 8).map(|n| format!("test/file_{n}_test.rb")).collect();
    files.push("test/file_8_test.rb".into());
    let report = failing_run(&p, &files);
    let run = p.testbot(bisect(&report, &["test/file_8_test.rb:5"])).run();
    run.assert_exit(0);
    run.assert_stdout_contains("Polluting file: test/file_3_test.rb\n");
    let (runs, candidates, bound) = file_stage(&run.stdout);
    assert!(candidates == 29 && bound == ceil_log2(29) + 2 && runs <= bound, "{}", run.stdout);
    // file_3's four tests, halved by name (in name order): one pollutes.
    run.assert_stdout_contains("Examples of test/file_3_test.rb: 4 candidates");
    run.assert_stdout_contains("Polluting example: test/file_3_test.rb:17 (\"File3Test#test_turns_the_feature_on_for_good\")\n");
    let example_runs = run.stdout.lines().filter(|l| l.contains(" (examples): ") || l.contains(" (check): check File3Test#")).count();
    assert!(example_runs <= ceil_log2(4) + 1, "{example_runs} runs for the example stage:\n{}", run.stdout);
    // Confirm 2, files 5 and a check of file_3, tests 2 and a check of the last kept untried.
    run.assert_stdout_contains("File stage: 7 runs of 29 candidates (at most ⌈log2 29⌉ + 2 = 7); 11 runs in all\n");
    let command = reproduce_command(&run.stdout);
    let only = r"'/\A(?:File3Test\#test_turns_the_feature_on_for_good|File8Test\#test_finds_the_feature_off)\z/'";
    assert_eq!(command, format!("testbot --in-order test/file_3_test.rb test/file_8_test.rb -- -n {only}"));
    let printed = run_printed(&p, &command);
    assert_eq!(printed.code, Some(1), "{}", printed.dump());
    printed.assert_stdout_contains("File8Test#test_finds_the_feature_off");
    printed.assert_stdout_contains("2 files on 1 slot: 2 examples, 1 failure");
}

#[test]
fn bisect_says_a_flaky_failure_does_not_reproduce_and_exits_1() {
    let p = Project::new("rspec_bisect");
    p.write("tmp/flake", "");
    let files: Vec<String> = ["spec/file_01_spec.rb", "spec/file_02_spec.rb", "spec/flaky/flake_spec.rb"].map(String::from).into();
    let report = failing_run(&p, &files);
    std::fs::remove_file(p.path("tmp/flake")).unwrap();
    let run = p.testbot(bisect(&report, &[])).run();
    run.assert_exit(1);
    run.assert_stdout_contains("run 1 (confirm): the batch up to it (3 of 3 files) → passes");
    run.assert_stdout_contains("Does not reproduce: it passed in its batch replayed (1 run). It is flaky, not order-dependent");
    assert!(!run.stdout.contains("Reproduce"), "{}", run.stdout);
}

#[test]
fn bisect_says_a_flaky_minitest_failure_does_not_reproduce_and_exits_1() {
    let p = Project::new("minitest_bisect");
    p.write("tmp/flake", "");
    let files: Vec<String> = ["test/file_1_test.rb", "test/file_3_test.rb", "test/flaky/flake_test.rb"].map(String::from).into();
    let report = failing_run(&p, &files);
    std::fs::remove_file(p.path("tmp/flake")).unwrap();
    let run = p.testbot(bisect(&report, &[])).run();
    run.assert_exit(1);
    run.assert_stdout_contains("Bisecting test/flaky/flake_test.rb:5 (\"FlakeTest#test_fails_now_and_then\")");
    run.assert_stdout_contains("run 1 (confirm): the batch up to it (3 of 3 files) → passes");
    run.assert_stdout_contains("Does not reproduce: it passed in its batch replayed (1 run). It is flaky, not order-dependent");
    assert!(!run.stdout.contains("Reproduce"), "{}", run.stdout);
}

#[test]
fn bisect_says_a_failure_that_fails_alone_is_not_order_dependent() {
    let p = Project::new("rspec_bisect");
    p.write("tmp/flake", "");
    let files: Vec<String> = ["spec/file_01_spec.rb", "spec/flaky/flake_spec.rb"].map(String::from).to_vec();
    let report = failing_run(&p, &files);
    let run = p.testbot(bisect(&report, &[])).run();
    run.assert_exit(1);
    run.assert_stdout_contains("run 2 (confirm): spec/flaky/flake_spec.rb alone → fails");
    run.assert_stdout_contains("Not order-dependent: it fails alone too (2 runs)");
}

#[test]
fn bisect_refuses_bad_input_with_exit_2() {
    let p = Project::new("rspec_bisect");
    let report = failing_run(&p, &rspec_files()[11..26]);
    let unknown = p.testbot(bisect(&report, &["spec/file_03_spec.rb:3"])).run();
    unknown.assert_exit(2);
    let listed = "has no failure `spec/file_03_spec.rb:3`; its failures: `spec/file_25_spec.rb[1:1]`";
    assert!(unknown.stderr.contains(listed), "{}", unknown.dump());
    let passing = p.fresh_path("passing", "json");
    p.testbot(["spec/file_01_spec.rb"]).report_to(&passing).run().assert_exit(0);
    let none = p.testbot(bisect(&passing, &[])).run();
    none.assert_exit(2);
    assert!(none.stderr.contains("records no failure: nothing to bisect"), "{}", none.dump());
    let missing = p.testbot(["bisect", "spec/file_25_spec.rb:3"]).run();
    missing.assert_exit(2);
    assert!(missing.stderr.contains("needs the JSON report of the run that failed: `--from FILE`"), "{}", missing.dump());
    let garbage = p.write("tmp/garbage.json", "{\"not\": \"a report\"}");
    let bad = p.testbot(bisect(&garbage, &[])).run();
    bad.assert_exit(2);
    assert!(bad.stderr.contains("is not a testbot JSON report"), "{}", bad.dump());
}
