//! One cause gives one message (issue 31 item 2), with the real binary and real Ruby: a Gemfile
//! that does not resolve on a 346-file suite is one block, not a block per file; the files of a
//! batch that one file's load error sent back are one RETRY line; `testbot init` writes no
//! active `bundler = true` when the bundle does not resolve, and says what to run.
//!
//! The suites are generated into the fixture's copy (rspec_empty, emptied): 346 files are not
//! committed.

mod common;

use common::*;
use std::fs;
use std::process::Command;

/// A Gemfile naming a gem no machine has: `bundle exec` cannot start the runner.
const UNRESOLVABLE_GEMFILE: &str = "source \"https://rubygems.org\"\ngem \"rspec\"\ngem \"testbot_no_such_gem_anywhere\", \"9.9.9\"\n";

/// An empty RSpec project with `files` spec files of two passing examples each.
fn suite(files: usize) -> (Project, Vec<String>) {
    let p = Project::new("rspec_empty");
    fs::remove_dir_all(p.path("spec")).unwrap();
    fs::remove_file(p.path(".rspec")).unwrap();
    let paths: Vec<String> = (1..=files).map(|i| format!("spec/f{i:03}_spec.rb")).collect();
    for (i, path) in paths.iter().enumerate() {
        p.write(path, &format!("RSpec.describe \"f{i}\" do\n  it(\"one\") {{ expect(1).to eq 1 }}\n  it(\"two\") {{ expect(2).to eq 2 }}\nend\n"));
    }
    (p, paths)
}

/// Lines of what testbot printed, stdout and stderr.
fn lines(run: &Run) -> usize {
    run.stdout.lines().count() + run.stderr.lines().count()
}

#[test]
fn a_gemfile_that_does_not_resolve_is_one_block_not_a_block_per_file() {
    let (p, paths) = suite(346);
    p.write("Gemfile", UNRESOLVABLE_GEMFILE);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    // Never 0: no file ran.
    run.assert_exit(1);
    let out = run.combined();
    assert!(lines(&run) <= 40, "{} lines, at most 40 expected:\n{}", lines(&run), run.dump());
    run.assert_stdout_contains("346 files not run: no host was left to run it (local left the run)");
    run.assert_stdout_contains("346 files (not run): no host was left to run it (local left the run)");
    assert!(out.contains("no host is left to run its unfinished files"), "{}", run.dump());
    assert!(!out.contains("run elsewhere"), "no other host is there: {}", run.dump());
    // The cause is said (in the warning of the host that left).
    assert!(out.contains("testbot_no_such_gem_anywhere"), "{}", run.dump());
    run.assert_stdout_contains("FAILED");
    // The JSON report lists every file, each with its reason; the totals are the whole plan.
    let rows = report.json["files"].as_array().unwrap();
    assert_eq!(rows.len(), 346, "each file once");
    let mut listed: Vec<String> = rows.iter().map(|r| r["path"].as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, paths);
    for row in rows {
        assert_eq!(row["status"], "errored", "{row}");
        assert_eq!(row["error"], "no host was left to run it (local left the run)", "{row}");
    }
    assert_eq!(report.totals().files, 346);
    assert_eq!(report.totals().examples, 0);
    assert_eq!(report.json["passed"], false);
}

#[test]
fn a_file_that_fails_to_load_sends_its_batch_back_in_one_retry_line() {
    let (p, paths) = suite(35);
    // The biggest file is handed out first: its batch mates have not started when it fails.
    let bad = "spec/f001_spec.rb";
    p.write(bad, &format!("{}RSpec.describe \"bad\" do\n  it(\"x\") {{ expect(1).to eq 1\nend\n", "# padding\n".repeat(200)));
    let report_path = p.fresh_path("report", "json");
    // Fresh processes: RSpec runs nothing of a batch once one of its files fails to load.
    let (run, report) = p.testbot(["-n", "1", "--no-fork"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    let retries: Vec<&str> = run.stdout.lines().filter(|l| l.contains("RETRY")).collect();
    assert_eq!(retries.len(), 1, "one RETRY line for the batch:\n{}", run.dump());
    assert!(retries[0].contains("files of one batch run again"), "{}", retries[0]);
    assert!(retries[0].contains("another file in its batch failed to load"), "{}", retries[0]);
    // The totals are serial RSpec's: the good files' examples, the bad file's load error.
    let good: Vec<&str> = paths.iter().map(String::as_str).filter(|f| *f != bad).collect();
    let serial_good = p.serial_rspec(&good);
    let serial_bad = p.serial_rspec(&[bad]);
    let totals = report.totals();
    assert_eq!(totals.examples, serial_good.counts.examples + serial_bad.counts.examples, "{}", run.dump());
    assert_eq!(totals.failures, serial_good.counts.failures + serial_bad.counts.failures);
    assert_eq!(totals.errors_outside_examples, serial_good.errors_outside_examples + serial_bad.errors_outside_examples);
    assert_eq!(report.file(bad).status, "errored");
    assert!(good.iter().all(|f| report.file(f).status == "passed"), "{:#}", report.json["files"]);
}

#[test]
fn init_writes_no_active_bundler_when_the_bundle_does_not_resolve_and_says_what_to_run() {
    let (p, _) = suite(2);
    p.write("Gemfile", UNRESOLVABLE_GEMFILE);
    let mut cmd = Command::new(TESTBOT);
    cmd.arg("init").current_dir(&p.root);
    scrub_env(&mut cmd);
    let run = run_with_timeout(cmd, "testbot init", TESTBOT_TIMEOUT);
    run.assert_exit(0);
    let toml = fs::read_to_string(p.path("testbot.toml")).unwrap();
    assert!(
        !toml.lines().any(|l| l.split('#').next().unwrap().trim().starts_with("bundler")),
        "an active bundler key:\n{toml}"
    );
    assert!(toml.contains("# bundler = true\n"), "{toml}");
    assert!(toml.contains("run `bundle install` first"), "{toml}");
    run.assert_stdout_contains("run `bundle install` before testbot");
    // It wrote no Gemfile.lock (`bundle check --dry-run`).
    assert!(!p.path("Gemfile.lock").exists());
}
