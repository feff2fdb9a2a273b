//! Faults: hosts that die or hang mid-run, runners that crash or hang, flaky examples,
//! fail-fast, Ctrl-C and a killed controller — on real sshd hosts (tests/common/sshd.rs) and
//! locally. Every case checks that each file is reported exactly once with exact totals, and
//! that nothing is left running on any host.

mod common;

use common::sshd::Testbed;
use common::*;
use std::time::Duration;

/// `n` files of two examples that each sleep `seconds`: long enough to break a host mid-run.
fn slow_suite(p: &Project, n: usize, seconds: f64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("spec/slow_{i:02}_spec.rb");
            p.write(
                &path,
                &format!(
                    "RSpec.describe \"slow {i}\" do\n  2.times do |k|\n    it(\"waits #{{k}}\") {{ sleep {seconds}; expect(k).to be < 2 }}\n  end\nend\n"
                ),
            );
            path
        })
        .collect()
}


/// `n` files (`spec/rec_NN_spec.rb`) of one example that sleeps `seconds`, each recording in
/// `log` (relative to the runner's home: `Dir.home` over SSH, the project locally when `log` starts
/// with `tmp/`) `start PATH PID` when it begins and `end PATH PID` when it is done: what the runner
/// processes themselves saw, so a test can tell which files were cut short and by which process.
fn recorded_suite(p: &Project, n: usize, seconds: f64, log: &str) -> Vec<String> {
    let at = if log.starts_with("tmp/") { format!("File.expand_path(\"../{log}\", __dir__)") } else { format!("File.join(Dir.home, \"{log}\")") };
    (0..n)
        .map(|i| {
            let path = format!("spec/rec_{i:02}_spec.rb");
            p.write(
                &path,
                &format!(
                    "LOG = {at} unless defined?(LOG)\nRSpec.describe \"rec {i}\" do\n  it(\"waits\") do\n    File.open(LOG, \"a\") {{ |f| f.puts \"start {path} #{{Process.pid}}\" }}\n    sleep {seconds}\n    File.open(LOG, \"a\") {{ |f| f.puts \"end {path} #{{Process.pid}}\" }}\n  end\nend\n"
                ),
            );
            path
        })
        .collect()
}

/// (path, pid) pairs: which runner ran which file.
type Records = Vec<(String, u32)>;

/// The records of `recorded_suite`: (started, ended).
fn records(text: &str) -> (Records, Records) {
    let (mut started, mut ended) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let entry = (parts[1].to_string(), parts[2].parse().unwrap());
        if parts[0] == "start" { started.push(entry) } else { ended.push(entry) }
    }
    (started, ended)
}

/// Files that started and never ended, with the runner that ran them; each of those runners
/// must be gone (killed, not left to finish).
#[track_caller]
fn cut_short(text: &str) -> Records {
    let (started, ended) = records(text);
    let cut: Records = started.into_iter().filter(|s| !ended.contains(s)).collect();
    for (path, pid) in &cut {
        assert!(wait_until(Duration::from_secs(5), || !pid_alive(*pid)), "the runner of {path} ({pid}) is still running");
    }
    cut
}

/// Wait until host `i` runs an rspec process.
#[track_caller]
fn wait_for_rspec(bed: &Testbed, i: usize) {
    let running = || bed.user_processes(i).iter().any(|(_, cmd)| cmd.contains("rspec"));
    assert!(wait_until(Duration::from_secs(30), running), "no rspec ever ran on host {i}: {:?}", bed.user_processes(i));
}

/// Every process of host `i`'s user is an sshd (nothing testbot started is left), within `limit`.
#[track_caller]
fn assert_only_sshd_left(bed: &Testbed, i: usize, limit: Duration) {
    let clean = || bed.user_processes(i).iter().all(|(_, cmd)| cmd.starts_with("sshd"));
    assert!(wait_until(limit, clean), "processes left on host {i}: {:?}", bed.user_processes(i));
}

#[track_caller]
fn assert_each_once(report: &Report, expected: &[String]) {
    let mut expected: Vec<String> = expected.to_vec();
    expected.sort();
    assert_eq!(report.file_paths(), expected, "every file exactly once: {:#}", report.json["files"]);
}

fn warnings(report: &Report) -> Vec<String> {
    report.json["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect()
}

/// With 1 s keepalives, a host that stops answering is lost after about 3 s.
fn fast_keepalive(toml: &str) -> String {
    format!("{toml}server_alive_interval = 1\nserver_alive_count_max = 2\n")
}

#[test]
fn a_host_killed_mid_run_leaves_and_its_files_run_elsewhere() {
    let bed = Testbed::start(3);
    let p = Project::new("rspec_faults");
    let files = slow_suite(&p, 18, 0.3);
    p.write("testbot.toml", &bed.inventory_toml(2));
    let report_path = p.fresh_path("report", "json");
    let running = p.testbot(&files).report_to(&report_path).spawn();
    wait_for_rspec(&bed, 1);
    bed.kill_host(1);
    let run = running.finish(Duration::from_secs(120));
    let report = Report::read(&report_path, &run);
    run.assert_exit(0);
    report.assert_consistent();
    assert_each_once(&report, &files);
    assert_eq!(report.totals(), totals(18, 36, 0, 0, 0), "{}", run.dump());
    let warned = warnings(&report);
    assert!(warned.iter().any(|w| w.contains("host `host2` left the run")), "{warned:?}");
    run.assert_output_contains("host `host2` left the run");
    for i in [0, 2] {
        assert_only_sshd_left(&bed, i, Duration::from_secs(5));
    }
}

#[test]
fn a_stopped_host_is_given_up_and_its_files_run_elsewhere() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    // Each host's runners record in that host's ~/files.log which files they started.
    let files = recorded_suite(&p, 8, 2.0, "files.log");
    p.write("testbot.toml", &fast_keepalive(&bed.inventory_toml(2)));
    let report_path = p.fresh_path("report", "json");
    let running = p.testbot(&files).report_to(&report_path).spawn();
    let host1_log = || String::from_utf8_lossy(&bed.ssh(0, "cat files.log 2>/dev/null").stdout).into_owned();
    assert!(wait_until(Duration::from_secs(60), || host1_log().contains("start ")), "host1 never started a file");
    // Mid-file on host1: its 2 s example has just begun.
    bed.stop_host(0);
    let run = running.finish(Duration::from_secs(90));
    let report = Report::read(&report_path, &run);
    run.assert_exit(0);
    report.assert_consistent();
    assert_each_once(&report, &files);
    assert_eq!(report.totals(), totals(8, 8, 0, 0, 0), "{}", run.dump());
    run.assert_output_contains("host `host1` left the run");
    // Woken up, the host finds its connections gone and the watchdogs end the runners.
    bed.cont_host(0);
    assert_only_sshd_left(&bed, 0, Duration::from_secs(10));
    // A file host1 had started when it stopped ran again, to the end, on host2.
    let (on_host1, _) = records(&host1_log());
    let moved: Vec<&String> = on_host1
        .iter()
        .map(|(path, _)| path)
        .filter(|path| report.file(path).host == "host2")
        .collect();
    assert!(!moved.is_empty(), "no file started on host1 was rerun on host2: host1 {on_host1:?}, report {:#}", report.json["files"]);
    let (_, ended_on_host2) = records(&String::from_utf8_lossy(&bed.ssh(1, "cat files.log").stdout));
    for path in moved {
        assert!(ended_on_host2.iter().any(|(p, _)| p == path), "{path} never finished on host2");
    }
}

#[test]
fn ctrl_c_or_sigterm_stops_every_host_and_leaves_no_process() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    let files = slow_suite(&p, 8, 5.0);
    p.write("testbot.toml", &bed.inventory_toml(2));
    // SIGTERM (a cancelled CI job) does what Ctrl-C does.
    for signal in ["INT", "TERM"] {
        let report_path = p.fresh_path("report", "json");
        let running = p.testbot(&files).report_to(&report_path).spawn();
        wait_for_rspec(&bed, 0);
        wait_for_rspec(&bed, 1);
        running.signal(signal);
        let run = running.finish(Duration::from_secs(30));
        run.assert_exit(130);
        let report = Report::read(&report_path, &run);
        assert_eq!(report.json["stopped"], "interrupted", "{signal}");
        // Every file is in the report once; those the stop cut short as not run (issue 26).
        assert_eq!(report.files().len(), files.len(), "{signal}: {}", run.dump());
        let finished = report.json["files"].as_array().unwrap().iter().filter(|f| f["error_kind"] != "not run").count();
        assert!(finished < files.len(), "{signal}: {}", run.dump());
        run.assert_output_contains("interrupted: stopping the running batches (Ctrl-C again to stop at once)");
        run.assert_stdout_contains("Interrupted after");
        for i in 0..2 {
            assert_only_sshd_left(&bed, i, Duration::from_secs(2));
        }
    }
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    // The first Ctrl-C kills the running batches and waits for them to end; on a host that
    // stopped answering the kills time out and testbot gives up on those commands (warning
    // "the kill command timed out" and "… did not close; giving up on it" after 5 s and 7 s).
    // A second Ctrl-C stops waiting: testbot exits before either.
    let bed = Testbed::start(1);
    let p = Project::new("rspec_faults");
    let files = slow_suite(&p, 4, 5.0);
    p.write("testbot.toml", &bed.inventory_toml(2));
    let running = p.testbot(&files).spawn();
    wait_for_rspec(&bed, 0);
    bed.stop_host(0);
    running.signal("INT");
    // A person's second press (not a timing assertion: either way both are counted).
    std::thread::sleep(Duration::from_secs(1));
    running.signal("INT");
    let run = running.finish(Duration::from_secs(30));
    bed.cont_host(0);
    run.assert_exit(130);
    run.assert_output_contains("interrupted: stopping the running batches (Ctrl-C again to stop at once)");
    for waited in ["the kill command timed out", "giving up on it", "left the run"] {
        assert!(!run.combined().contains(waited), "it waited for the stopped host: {}", run.dump());
    }
    run.assert_stdout_contains("Interrupted after");
    assert_only_sshd_left(&bed, 0, Duration::from_secs(20));
}

#[test]
fn a_killed_controller_leaves_no_process_on_its_hosts() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    let files = slow_suite(&p, 8, 5.0);
    p.write("testbot.toml", &bed.inventory_toml(2));
    let running = p.testbot(&files).spawn();
    wait_for_rspec(&bed, 0);
    wait_for_rspec(&bed, 1);
    running.signal("KILL");
    let run = running.finish(Duration::from_secs(10));
    assert_eq!(run.code, None, "killed by a signal");
    for i in 0..2 {
        assert_only_sshd_left(&bed, i, Duration::from_secs(5));
    }
}

#[test]
fn a_runner_that_kills_itself_is_retried_once_then_errored() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_crash");
    p.write("testbot.toml", &bed.inventory_toml(1));
    let serial = p.serial_rspec(&["spec/first_spec.rb", "spec/second_spec.rb", "spec/third_spec.rb"]);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(Vec::<String>::new()).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    let killer = report.file("spec/killer_spec.rb");
    assert_eq!(killer.status, "errored");
    let row = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/killer_spec.rb").unwrap();
    let error = row["error"].as_str().unwrap();
    assert!(error.contains("killed by signal 9") && error.contains("the second time"), "{error}");
    // Both tries ran on different hosts; the others ran once, with their serial totals.
    assert_eq!(run.combined().matches("retrying it once on another slot").count(), 1, "{}", run.dump());
    let others: u64 = ["spec/first_spec.rb", "spec/second_spec.rb", "spec/third_spec.rb"]
        .iter()
        .map(|f| report.file(f).examples)
        .sum();
    assert_eq!(others, serial.counts.examples);
    assert_eq!(report.totals().files, 4);
    for i in 0..2 {
        assert_only_sshd_left(&bed, i, Duration::from_secs(5));
    }
}

#[test]
fn a_file_that_hangs_is_killed_retried_elsewhere_and_reported_timed_out() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_faults");
    let mut files = slow_suite(&p, 3, 0.1);
    files.push("spec/hang_spec.rb".into());
    p.write("testbot.toml", &bed.inventory_toml(2));
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["--file-timeout".to_string(), "3".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_each_once(&report, &files);
    let hang = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/hang_spec.rb").unwrap().clone();
    assert_eq!(hang["status"], "errored");
    assert!(hang["error"].as_str().unwrap().contains("ran past its time limit of 3s"), "{hang}");
    run.assert_stdout_contains("hanging now");
    run.assert_stdout_contains("retrying it once on another slot");
    // The slow files' 6 examples, and the one the hung file passed on its last try; the hang
    // is an error outside examples.
    assert_eq!(report.totals(), totals(4, 7, 0, 0, 1), "{}", run.dump());
    assert_eq!(hang["examples"], 1);
    assert_only_sshd_left(&bed, 0, Duration::from_secs(5));
}

/// A file whose example fails once another runner has started one of `recorded_suite`'s files
/// (so that runner is mid-file when the failure arrives), `failures` times. Padded to outweigh
/// the other files together, it is a slot's whole first batch (sizes stand in for times
/// without a history).
fn fails_once_others_run(p: &Project, name: &str, failures: usize) -> String {
    let path = format!("spec/{name}_spec.rb");
    p.write(
        &path,
        &format!(
            "{}RSpec.describe \"{name}\" do\n  {failures}.times do |k|\n    it(\"fails #{{k}}\") do\n      log = File.expand_path(\"../tmp/files.log\", __dir__)\n      300.times {{ break if File.exist?(log); sleep 0.1 }}\n      expect(k).to eq(-1)\n    end\n  end\nend\n",
            "# padding\n".repeat(4000)
        ),
    );
    path
}

#[test]
fn fail_fast_stops_dispatching_and_the_running_batches() {
    let p = Project::new("rspec_faults");
    std::fs::create_dir_all(p.path("tmp")).unwrap();
    let mut files = recorded_suite(&p, 10, 5.0, "tmp/files.log");
    files.push(fails_once_others_run(&p, "fails", 1));
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string(), "--fail-fast".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.json["stopped"], "fail-fast");
    assert_eq!(report.totals().failures, 1);
    run.assert_stdout_contains("Stopped by --fail-fast at 1 failure");
    // The other slot's batch was killed mid-file (its runner is gone), and nothing started after.
    let log = std::fs::read_to_string(p.path("tmp/files.log")).unwrap();
    let cut = cut_short(&log);
    assert_eq!(cut.len(), 1, "one file cut short: {log}");
    assert_eq!(records(&log).0.len(), 1, "nothing started after the failure: {log}");
    assert!(report.files().iter().all(|f| f.path != cut[0].0 || f.status != "passed"), "{:#}", report.json["files"]);
}

#[test]
fn fail_fast_n_stops_at_the_nth_failure() {
    // --fail-fast=2: the first failure stops nothing; the second does.
    let p = Project::new("rspec_faults");
    std::fs::create_dir_all(p.path("tmp")).unwrap();
    let mut files = recorded_suite(&p, 10, 5.0, "tmp/files.log");
    files.push(fails_once_others_run(&p, "fails", 2));
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string(), "--fail-fast=2".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.json["stopped"], "fail-fast");
    assert_eq!(report.totals().failures, 2, "{}", run.dump());
    run.assert_stdout_contains("Stopped by --fail-fast at 2 failures");
    let log = std::fs::read_to_string(p.path("tmp/files.log")).unwrap();
    assert_eq!(cut_short(&log).len(), 1, "one file cut short: {log}");
    drop(p);

    // One failure is not enough: the run goes to the end.
    let p = Project::new("rspec_faults");
    std::fs::create_dir_all(p.path("tmp")).unwrap();
    let mut files = recorded_suite(&p, 3, 0.2, "tmp/files.log");
    files.push(fails_once_others_run(&p, "fails", 1));
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string(), "--fail-fast=2".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert!(report.json["stopped"].is_null(), "{}", report.json["stopped"]);
    assert_eq!(report.totals(), totals(4, 4, 1, 0, 0), "{}", run.dump());
    let log = std::fs::read_to_string(p.path("tmp/files.log")).unwrap();
    assert_eq!(records(&log).1.len(), 3, "every file ran to its end: {log}");
}

#[test]
fn retries_make_a_flaky_failure_a_flaky_pass() {
    let p = Project::new("rspec_faults");
    let files = ["spec/flaky_spec.rb", "spec/hang_spec.rb"];
    // Without retries the first run fails.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/flaky_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals(), totals(1, 2, 1, 0, 0));
    let _ = files;

    std::fs::remove_file(p.path("tmp/flaky-ran")).unwrap();
    let report_path = p.fresh_path("report", "json");
    let junit_path = p.fresh_path("junit", "xml");
    let (run, report) = p
        .testbot(["spec/flaky_spec.rb", "--retries", "1"])
        .report_to(&report_path)
        .junit_to(&junit_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(1, 2, 0, 0, 0));
    assert_eq!(report.json["totals"]["flaky"], 1);
    let flaky = report.json["flaky"].as_array().unwrap();
    assert_eq!(flaky.len(), 1);
    assert_eq!(flaky[0]["description"], "Flaky fails the first time only");
    assert!(flaky[0]["message"].as_str().unwrap().contains("expected: false"), "{flaky:?}");
    // The try that failed, with its failure (issue 31 item 7).
    run.assert_stdout_contains("TRY 1 FAIL spec/flaky_spec.rb: 1 failed example, trying again\n           Flaky fails the first time only: expected: false\n");
    run.assert_stdout_contains("Flaky examples");
    run.assert_stdout_contains("1 flaky");
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert_eq!(junit.matches("<flakyFailure").count(), 1, "{junit}");
    assert_eq!(junit_counts(&junit).failures, 0);

    // --flaky-fails: the same pass on a retry fails the run.
    std::fs::remove_file(p.path("tmp/flaky-ran")).unwrap();
    let run = p.testbot(["spec/flaky_spec.rb", "--retries", "1", "--flaky-fails"]).run();
    run.assert_exit(1);
    run.assert_stdout_contains("1 flaky");
}

#[test]
fn a_failure_that_fails_every_retry_stays_a_failure() {
    let p = Project::new("rspec_faults");
    let report_path = p.fresh_path("report", "json");
    let (run, report) =
        p.testbot(["spec/always_fails_spec.rb", "--retries", "2"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(1, 2, 1, 0, 0));
    assert_eq!(report.json["totals"]["flaky"], 0);
    // Each try that failed, with its failure, then the count (issue 31 item 7).
    let tries: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("TRY ")).collect();
    assert_eq!(
        tries,
        ["TRY 1 FAIL spec/always_fails_spec.rb: 1 failed example, trying again", "TRY 2 FAIL spec/always_fails_spec.rb: 1 failed example, trying again"],
        "{}",
        run.dump()
    );
    run.assert_stdout_contains("           Always fails: expected: 2\n");
    run.assert_stdout_contains("] (1/1) spec/always_fails_spec.rb (2 examples, 1 failure, failed 3 of 3 tries)\n");
    run.assert_stdout_contains("rspec ./spec/always_fails_spec.rb:2 # Always fails (failed 3 of 3 tries)\n");
}

#[test]
fn the_run_timeout_stops_the_run_and_fails_it() {
    let p = Project::new("rspec_faults");
    std::fs::create_dir_all(p.path("tmp")).unwrap();
    let files = recorded_suite(&p, 6, 30.0, "tmp/files.log");
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string(), "--timeout".to_string(), "8s".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.json["stopped"], "timeout");
    run.assert_stdout_contains("Stopped by --timeout (8s)");
    // Both slots' batches were killed mid-file (their runners are gone); none ran to the end.
    let log = std::fs::read_to_string(p.path("tmp/files.log")).unwrap();
    let (_, ended) = records(&log);
    assert!(ended.is_empty(), "{log}");
    let cut = cut_short(&log);
    assert_eq!(cut.len(), 2, "one file cut short on each slot: {log}");
    assert_ne!(cut[0].1, cut[1].1, "two runners: {log}");
    assert!(report.files().iter().all(|f| f.status != "passed"), "{:#}", report.json["files"]);
}

#[test]
fn a_runner_that_cannot_be_found_takes_its_host_out_with_the_reason() {
    let p = Project::new("rspec_faults");
    let files = slow_suite(&p, 3, 0.0);
    p.write("testbot.toml", "[project]\ncommand = \"no-such-runner-here\"\n");
    let report_path = p.fresh_path("report", "json");
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string()]);
    let (run, report) = p.testbot(&args).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    run.assert_output_contains("host `local` left the run: its test runner could not start (it exited with status 127 before loading testbot's formatter)");
    run.assert_output_contains("no-such-runner-here: not found");
    let rows = report.json["files"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "each file once: {rows:?}");
    for row in rows {
        assert_eq!(row["status"], "errored");
        assert_eq!(row["error"], "no host was left to run it (local left the run)");
    }
}
