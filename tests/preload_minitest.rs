//! `--preload` for minitest and Test::Unit: a server per slot loads `test/test_helper.rb` (or
//! `test/helper.rb`, or what `-- --require` names) once and forks testbot's runner for each
//! batch. Checked on the minitest_preload and test_unit_preload fixtures, whose helpers record
//! every load, every test, every `Minitest.after_run` and every `at_exit` in the project's tmp/
//! (see their helpers): totals and per-file counts as the framework's serial run, the helper
//! loaded once per slot, every test run once in a batch child forked from its slot's server
//! (never in the server), a helper that raises said once (and its host left out when it raises
//! there only), a timed-out batch killed with what it started — locally and over a real sshd host.
//!
//! Serial totals (`ruby -Itest -e 'require each'`, tests/common/frameworks.rs):
//! minitest_preload 6 files, 13 runs, 1 failure, 1 skip; test_unit_preload 5 files, 11 tests,
//! 1 failure, 1 pending.

mod common;

use common::frameworks::{serial_minitest, serial_test_unit, SerialRun};
use common::sshd::Testbed;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::Duration;

const MINITEST_FILES: &[&str] = &[
    "test/file_1_test.rb",
    "test/file_2_test.rb",
    "test/file_3_test.rb",
    "test/file_4_test.rb",
    "test/file_5_test.rb",
    "test/file_6_test.rb",
];
const TEST_UNIT_FILES: &[&str] = &["test/file_1_test.rb", "test/file_2_test.rb", "test/file_3_test.rb", "test/file_4_test.rb", "test/file_5_test.rb"];

/// A record line of the fixtures' helpers: `<pid> <TEST_ENV_NUMBER inspected> <what>`.
struct Record {
    pid: u32,
    env: String,
    what: String,
}

fn records(p: &Project, rel: &str) -> Vec<Record> {
    fs::read_to_string(p.path(rel))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let pid = parts.next().unwrap().parse().unwrap();
            let env = parts.next().unwrap().to_string();
            Record { pid, env, what: parts.next().unwrap_or_default().to_string() }
        })
        .collect()
}

/// The framework's serial run of all `files`, and of each file alone (its per-file counts).
fn serial(p: &Project, files: &[&str], run: fn(&Project, &[&str]) -> SerialRun) -> (SerialRun, BTreeMap<String, Counts>) {
    let all = run(p, files);
    let per_file = files.iter().map(|f| (f.to_string(), run(p, &[f]).counts)).collect();
    fs::remove_dir_all(p.path("tmp")).unwrap();
    (all, per_file)
}

#[track_caller]
fn assert_matches_serial(run: &Run, report: &Report, framework: &str, serial: &SerialRun, per_file: &BTreeMap<String, Counts>) {
    report.assert_consistent_as(framework);
    assert_eq!(run.code, serial.exit_code, "the verdict is the framework's\n{}\n--- serial ---\n{}", run.dump(), serial.run.dump());
    assert_eq!(report.totals().counts(), serial.counts, "{}", run.dump());
    assert_eq!(report.totals().errors_outside_examples, 0, "{}", run.dump());
    assert_eq!(report.totals().files, per_file.len() as u64);
    for row in report.files() {
        assert_eq!(row.counts(), per_file[&row.path], "{}\n{}", row.path, run.dump());
    }
}

/// What the records say about a `--preload` run on `slots` local slots: the helper loaded once
/// in each slot's server (with that slot's TEST_ENV_NUMBER), every test ran exactly once, in a
/// batch child and never in a server, and `per_batch` (a file of records written once by every
/// process that ran the suite, with its parent's pid) shows each child ran its suite once and
/// was forked from a server. Returns the servers' pids.
#[track_caller]
fn assert_preloaded(p: &Project, run: &Run, slots: usize, examples: usize, per_batch: &str) -> Vec<u32> {
    let loads = records(p, "tmp/helper-loads.txt");
    let mut envs: Vec<&str> = loads.iter().map(|r| r.env.as_str()).collect();
    envs.sort();
    let want: Vec<String> = (1..=slots).map(|n| if n == 1 { "\"\"".to_string() } else { format!("\"{n}\"") }).collect();
    assert_eq!(envs, want, "the helper loaded once in each slot's server\n{}", run.dump());
    let servers: Vec<u32> = loads.iter().map(|r| r.pid).collect();

    let tests = records(p, "tmp/tests.txt");
    let names: BTreeSet<&str> = tests.iter().map(|r| r.what.as_str()).collect();
    assert_eq!((tests.len(), names.len()), (examples, examples), "every test ran exactly once\n{}", run.dump());
    let batches: BTreeSet<u32> = tests.iter().map(|r| r.pid).collect();
    assert!(batches.iter().all(|pid| !servers.contains(pid)), "a test ran in a server: {servers:?}\n{}", run.dump());

    // One record per batch child, written at its end: the suite ran once in each, from its
    // own at_exit, and each child's parent is one of the servers.
    let ends = records(p, per_batch);
    let ended: Vec<u32> = ends.iter().map(|r| r.pid).collect();
    assert_eq!(ended.iter().collect::<BTreeSet<_>>().len(), ended.len(), "a batch ran its suite twice: {per_batch}\n{}", run.dump());
    assert!(batches.iter().all(|pid| ended.contains(pid)), "{batches:?} vs {ended:?}");
    for end in &ends {
        assert!(!servers.contains(&end.pid), "{per_batch} written by a server\n{}", run.dump());
        let parent: u32 = end.what.parse().unwrap();
        assert!(servers.contains(&parent), "batch {} was not forked from a server {servers:?}", end.pid);
    }
    assert!(ends.len() > slots, "the queue gives {slots} slots more batches than slots: {}\n{}", ends.len(), run.dump());
    servers
}

#[track_caller]
fn assert_clean_minitest_output(run: &Run) {
    // No console reporter of minitest's (nor one the installed Rails and SimpleCov plugins put
    // in its place) prints into the run, nor does a second run of the suite at exit.
    for noise in ["Run options:", "# Running:", "runs/s", "0 runs,", "assertions/s"] {
        assert!(!run.combined().contains(noise), "{noise:?} in the output\n{}", run.dump());
    }
}

#[test]
fn minitest_preload_matches_serial_minitest_and_loads_test_helper_once_per_slot() {
    let p = Project::new("minitest_preload");
    let (serial, per_file) = serial(&p, MINITEST_FILES, serial_minitest);
    assert_eq!((serial.counts, serial.exit_code), (counts(13, 1, 1), Some(1)), "{}", serial.run.dump());

    // Without --preload: every batch loads the helper itself.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    assert_matches_serial(&run, &report, "minitest", &serial, &per_file);
    let batches = records(&p, "tmp/after-run.txt").len();
    assert_eq!(records(&p, "tmp/helper-loads.txt").len(), batches, "{}", run.dump());
    fs::remove_dir_all(p.path("tmp")).unwrap();

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "--preload"]).report_to(&report_path).run_with_report();
    assert_matches_serial(&run, &report, "minitest", &serial, &per_file);
    assert_clean_minitest_output(&run);
    run.assert_stdout_contains("ruby -Itest test/file_3_test.rb -n 'File3Test#test_fails'");
    let servers = assert_preloaded(&p, &run, 2, 13, "tmp/after-run.txt");
    // The helper's own at_exit ran once in every batch child, never in a server (nor in the
    // client, which loads nothing of the suite).
    let exits: Vec<u32> = records(&p, "tmp/at-exit.txt").iter().map(|r| r.pid).collect();
    let ends: Vec<u32> = records(&p, "tmp/after-run.txt").iter().map(|r| r.pid).collect();
    assert_eq!(exits.iter().collect::<BTreeSet<_>>(), ends.iter().collect::<BTreeSet<_>>(), "{}", run.dump());
    assert_eq!(exits.len(), ends.len());
    // The servers end with the run.
    for pid in servers {
        assert!(wait_until(Duration::from_secs(10), || !pid_alive(pid)), "server {pid} still runs");
    }

    // All green: exit 0, as serial minitest's.
    fs::remove_dir_all(p.path("tmp")).unwrap();
    let run = p.testbot(["-n", "2", "--preload", "test/file_1_test.rb", "test/file_5_test.rb"]).run();
    run.assert_exit(0);
    assert_eq!(records(&p, "tmp/helper-loads.txt").len(), 2, "{}", run.dump());
}

#[test]
fn test_unit_preload_matches_serial_test_unit_and_finds_test_helper_rb() {
    let p = Project::new("test_unit_preload");
    let (serial, per_file) = serial(&p, TEST_UNIT_FILES, serial_test_unit);
    assert_eq!((serial.counts, serial.exit_code), (counts(11, 1, 1), Some(1)), "{}", serial.run.dump());

    // `[project] preload = true`; the helper is test/helper.rb (there is no test_helper.rb).
    p.write("testbot.toml", "[project]\npreload = true\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    assert_matches_serial(&run, &report, "test-unit", &serial, &per_file);
    assert!(!run.combined().contains("tests/s"), "Test::Unit's console runner printed\n{}", run.dump());
    assert_preloaded(&p, &run, 2, 11, "tmp/at-exit.txt");
}

#[test]
fn the_helper_named_with_require_is_the_one_preloaded() {
    let p = Project::new("minitest_preload");
    let files = ["test/file_1_test.rb", "test/file_3_test.rb", "test/file_5_test.rb"];
    // Without --preload testbot's runner requires it first in every batch, as RSpec would.
    let report_path = p.fresh_path("report", "json");
    let (run, plain) = p.testbot(["-n", "2", files[0], files[1], files[2], "--", "--require", "alt_helper"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(plain.totals(), totals(3, 7, 1, 1, 0), "{}", run.dump());
    let batches = records(&p, "tmp/after-run.txt").len();
    assert_eq!(records(&p, "tmp/alt-loads.txt").len(), batches, "{}", run.dump());
    fs::remove_dir_all(p.path("tmp")).unwrap();

    let report_path = p.fresh_path("report", "json");
    let (run, report) =
        p.testbot(["-n", "2", "--preload", files[0], files[1], files[2], "--", "--require=alt_helper"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals(), plain.totals(), "{}", run.dump());
    let alt = records(&p, "tmp/alt-loads.txt");
    assert_eq!(alt.len(), 2, "alt_helper loaded once per slot, by the servers\n{}", run.dump());
    // test_helper is not preloaded then: every batch child loads it as its files require it.
    let loads = records(&p, "tmp/helper-loads.txt");
    let ends: BTreeSet<u32> = records(&p, "tmp/after-run.txt").iter().map(|r| r.pid).collect();
    assert_eq!(loads.iter().map(|r| r.pid).collect::<BTreeSet<_>>(), ends, "{}", run.dump());
    assert!(alt.iter().all(|r| !ends.contains(&r.pid)));

    // A `--require`d helper that raises fails every file, as it would when each file required
    // it; under --preload it is the servers' one error.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2", files[0], files[1], "--", "--require", "alt_helper"])
        .env("ALT_HELPER_RAISE", "1")
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals(), totals(2, 0, 0, 0, 2), "{}", run.dump());
    for file in &files[..2] {
        assert_eq!(report.file(file).status, "errored", "{}", run.dump());
        run.assert_output_contains(&format!("An error occurred while loading ./{file} (its helper alt_helper, from `--require`, raised)."));
    }
    let run = p.testbot(["-n", "2", "--preload", files[0], files[1], "--", "--require", "alt_helper"]).env("ALT_HELPER_RAISE", "1").run();
    run.assert_exit(1);
    run.assert_output_contains("error: the suite's helper did not load for `--preload`, so nothing ran");
    assert_eq!(run.combined().matches("An error occurred while loading alt_helper.").count(), 1, "{}", run.dump());
}

#[test]
fn a_minitest_helper_that_raises_is_one_clear_error() {
    let p = Project::new("minitest_preload");
    let run = p.testbot(["-n", "2", "--preload"]).env("PRELOAD_FIXTURE_RAISE", "1").run();
    run.assert_exit(1);
    let out = run.combined();
    run.assert_output_contains("error: the suite's helper did not load for `--preload`, so nothing ran");
    run.assert_output_contains("on local: its preload server (loading the suite's helper) exited with status 1:");
    assert_eq!(out.matches("An error occurred while loading test_helper.").count(), 1, "{}", run.dump());
    assert_eq!(out.matches("RuntimeError: helper boom: the database is not there").count(), 1, "{}", run.dump());
    assert!(out.contains("test/test_helper.rb:"), "the backtrace points at the helper\n{}", run.dump());
    assert!(!out.contains("file_1_test"), "no file is reported one by one\n{}", run.dump());
    assert!(records(&p, "tmp/tests.txt").is_empty());
    // The failed server ends without Ruby's exit: minitest/autorun's at_exit, installed before
    // the helper raised, does not run the suite in it.
    assert!(records(&p, "tmp/at-exit.txt").is_empty());
    assert_clean_minitest_output(&run);
}

#[test]
fn a_timed_out_batch_under_preload_is_killed_with_what_it_started() {
    let p = Project::new("minitest_preload");
    p.write(
        "test/hang_test.rb",
        r#"require "test_helper"

class HangTest < Minitest::Test
  def test_hangs
    child = spawn("sleep", "300")
    File.open(File.expand_path("../tmp/hang-pids.txt", __dir__), "a") { |f| f.puts [Process.pid, child].join(" ") }
    sleep
  end
end
"#,
    );
    let report_path = p.fresh_path("report", "json");
    let (run, report) =
        p.testbot(["-n", "2", "--preload", "--file-timeout", "2", "test/hang_test.rb", "test/file_1_test.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as("minitest");
    let hang = report.file("test/hang_test.rb");
    assert_eq!(hang.status, "errored", "{}", run.dump());
    assert_eq!(report.file("test/file_1_test.rb").counts(), counts(2, 0, 0));
    // Both attempts (the first and its retry on another slot): the batch child and the
    // process its test started are gone, as are the servers.
    let pids: Vec<u32> =
        fs::read_to_string(p.path("tmp/hang-pids.txt")).unwrap().split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert_eq!(pids.len(), 4, "{pids:?}\n{}", run.dump());
    let servers: Vec<u32> = records(&p, "tmp/helper-loads.txt").iter().map(|r| r.pid).collect();
    for pid in pids.iter().chain(&servers) {
        assert!(wait_until(Duration::from_secs(10), || !pid_alive(*pid)), "process {pid} still runs ({pids:?}, servers {servers:?})\n{}", run.dump());
    }
}

#[test]
fn preload_over_ssh_gives_serial_totals_for_minitest_and_test_unit_and_leaves_nothing() {
    let bed = Testbed::start(1);
    for (fixture, files, framework, examples, per_batch) in [
        ("minitest_preload", MINITEST_FILES, "minitest", 13, "after-run.txt"),
        ("test_unit_preload", TEST_UNIT_FILES, "test-unit", 11, "at-exit.txt"),
    ] {
        let p = Project::new(fixture);
        let runner: fn(&Project, &[&str]) -> SerialRun = if framework == "minitest" { serial_minitest } else { serial_test_unit };
        let (serial, per_file) = serial(&p, files, runner);
        p.write("testbot.toml", &bed.inventory_toml(2));
        let report_path = p.fresh_path("report", "json");
        let (run, report) = p.testbot(["--preload"]).report_to(&report_path).run_with_report();
        assert_matches_serial(&run, &report, framework, &serial, &per_file);
        assert!(report.files().iter().all(|f| f.host == "host1"), "{}", run.dump());
        let out = bed.ssh(0, &format!("cd .cache/testbot/project-*/tmp && cat helper-loads.txt && echo -- && cat tests.txt && echo -- && cat {per_batch}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let parts: Vec<&str> = text.split("--\n").collect();
        assert_eq!(parts.len(), 3, "{text}\n{}", run.dump());
        let servers: Vec<&str> = parts[0].lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(servers.len(), 2, "the helper loaded once per slot on the host: {text}");
        assert_eq!(parts[1].lines().count(), examples, "every test ran once: {text}");
        assert!(parts[1].lines().all(|l| !servers.contains(&l.split(' ').next().unwrap())), "a test ran in a server: {text}");
        assert!(parts[2].lines().count() > 2, "{text}");
        let clean = wait_until(Duration::from_secs(5), || bed.user_processes(0).iter().all(|(_, cmd)| cmd.starts_with("sshd")));
        assert!(clean, "processes left on the host: {:?}", bed.user_processes(0));
        // The next fixture's copy must not be confused with this one's.
        bed.ssh(0, "rm -rf .cache/testbot/project-*");
        drop(p);
    }

    // A helper that raises on the host only: the host is left out with its error, and the
    // local slot runs every file, with the serial totals.
    let p = Project::new("minitest_preload");
    p.write(
        "testbot.toml",
        &format!("{}\n[project]\nenv = {{ PRELOAD_FIXTURE_RAISE_ON = \"host1\" }}\n\n[local]\nslots = 1\n", bed.inventory_toml(2)),
    );
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--preload"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as("minitest");
    assert_eq!(report.totals(), totals(6, 13, 1, 1, 0), "{}", run.dump());
    assert!(report.files().iter().all(|f| f.host == "local"), "{}", run.dump());
    run.assert_output_contains("host `host1` is left out of this run: its preload server (loading the suite's helper) exited with status 1");
    assert_eq!(run.combined().matches("RuntimeError: helper boom: the database is not there").count(), 1, "{}", run.dump());
    assert_eq!(records(&p, "tmp/helper-loads.txt").len(), 1, "{}", run.dump());
    let clean = wait_until(Duration::from_secs(5), || bed.user_processes(0).iter().all(|(_, cmd)| cmd.starts_with("sshd")));
    assert!(clean, "processes left on the host: {:?}", bed.user_processes(0));
}
