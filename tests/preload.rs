//! `--preload`: a server per slot loads the suite's helper once and forks a child per batch.
//! Checked on the rspec_preload fixture, whose helper records every load and every
//! `before(:suite)` in the project's tmp/ (see its spec_helper.rb): totals as serial rspec,
//! the helper loaded once per slot, a helper that raises said once, a crash still a crash,
//! nothing left running after Ctrl-C — locally and over real sshd hosts.
//!
//! Serial `rspec` totals of the fixture (8 files): 18 examples, 1 failure, 1 pending.

mod common;

use common::sshd::Testbed;
use common::*;
use std::fs;
use std::time::{Duration, Instant};

const FILES: usize = 8;

fn lines(p: &Project, rel: &str) -> Vec<String> {
    fs::read_to_string(p.path(rel)).unwrap_or_default().lines().map(str::to_string).collect()
}


#[test]
fn preload_matches_serial_rspec_and_loads_the_helper_once_per_slot() {
    let p = Project::new("rspec_preload");
    let serial = p.serial_rspec(&[]);
    assert_eq!(serial.counts, counts(18, 1, 1));
    fs::remove_dir_all(p.path("tmp")).unwrap();

    // Without --preload every batch loads the helper (and runs before(:suite)) itself.
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    let batches = lines(&p, "tmp/suite-hooks.txt").len();
    assert_eq!(lines(&p, "tmp/helper-loads.txt").len(), batches, "{}", run.dump());
    assert!(batches > 2, "the queue gives 2 slots more than 2 batches of 8 files: {batches}\n{}", run.dump());
    let plain = report.totals();
    fs::remove_dir_all(p.path("tmp")).unwrap();

    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "--preload"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(FILES as u64, 18, 1, 1, 0), "{}", run.dump());
    assert_eq!(report.totals(), plain);
    assert_eq!(report.totals().counts(), serial.counts);
    let per_file = serial.per_file();
    for row in report.files() {
        assert_eq!(row.counts(), per_file[&row.path], "{}", row.path);
    }
    run.assert_stdout_contains("rspec ./spec/file_3_spec.rb:10 # File 3 fails");
    // The helper ran once in each slot's server, with that slot's environment…
    let mut loads: Vec<String> = lines(&p, "tmp/helper-loads.txt").iter().map(|l| l.split_once(' ').unwrap().1.to_string()).collect();
    loads.sort();
    assert_eq!(loads, ["\"\"", "\"2\""], "{}", run.dump());
    // …and before(:suite) once in every batch's child, none of them the server.
    let hooks = lines(&p, "tmp/suite-hooks.txt");
    assert!(hooks.len() > 2, "{hooks:?}");
    let servers: Vec<String> = lines(&p, "tmp/helper-loads.txt").iter().map(|l| l.split(' ').next().unwrap().to_string()).collect();
    for hook in &hooks {
        assert!(!servers.contains(&hook.split(' ').next().unwrap().to_string()), "before(:suite) ran in a server: {hooks:?}");
    }
}

#[test]
fn preload_from_testbot_toml() {
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", "[project]\npreload = true\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "spec/file_1_spec.rb", "spec/file_2_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(2, 4, 0, 0, 0));
    assert!(lines(&p, "tmp/helper-loads.txt").len() <= 2);
}

#[test]
fn a_helper_that_raises_is_one_clear_error() {
    let p = Project::new("rspec_preload");
    let run = p.testbot(["-n", "2", "--preload"]).env("PRELOAD_FIXTURE_RAISE", "1").run();
    run.assert_exit(1);
    let out = run.combined();
    run.assert_output_contains("error: the suite's helper did not load for `--preload`, so nothing ran");
    run.assert_output_contains("on local: its preload server (loading the suite's helper) exited with status 1:");
    assert_eq!(out.matches("An error occurred while loading spec_helper.").count(), 1, "{}", run.dump());
    assert_eq!(out.matches("RuntimeError: helper boom: the database is not there").count(), 1, "{}", run.dump());
    assert!(out.contains("spec/spec_helper.rb:"), "the backtrace points at the helper\n{}", run.dump());
    assert!(!out.contains("file_1_spec"), "no file is reported one by one\n{}", run.dump());
    assert!(lines(&p, "tmp/suite-hooks.txt").is_empty());
}

#[test]
fn preload_is_a_usage_error_where_it_cannot_work() {
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", "[project]\ncommand = \"bin/rspec\"\n");
    let run = p.testbot(["--preload"]).run();
    run.assert_exit(2);
    run.assert_output_contains("`--preload` starts the runner inside its own Ruby process and cannot use `[project] command` (`bin/rspec`)");
    // One Project at a time (each holds the test binary's lock).
    drop(p);
    let p = Project::new("cucumber_basic");
    let run = p.testbot(["--preload"]).run();
    run.assert_exit(2);
    run.assert_output_contains("`--preload` supports RSpec, minitest and Test::Unit; run this cucumber suite without it");
}

#[test]
fn a_batch_that_kills_itself_is_still_a_crash_of_its_file() {
    let p = Project::new("rspec_crash");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "--preload"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals().files, 4);
    let row = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/killer_spec.rb").unwrap().clone();
    assert_eq!(row["status"], "errored");
    let error = row["error"].as_str().unwrap();
    assert!(error.contains("killed by signal 9") && error.contains("the second time"), "{error}");
    assert_eq!(run.combined().matches("retrying it once on another slot").count(), 1, "{}", run.dump());
    run.assert_stdout_contains("about to die");
    assert_eq!(report.file("spec/first_spec.rb").counts(), counts(2, 0, 0));
    assert_eq!(report.file("spec/second_spec.rb").counts(), counts(3, 0, 0));
    assert_eq!(report.file("spec/third_spec.rb").counts(), counts(4, 0, 1));
}


#[test]
fn ctrl_c_leaves_no_server_client_or_child_behind() {
    let p = Project::new("rspec_preload");
    p.write(
        "spec/hang_spec.rb",
        "RSpec.describe \"Hang\" do\n  it \"waits\" do\n    File.write(File.expand_path(\"../tmp/hang.pid\", __dir__), Process.pid.to_s)\n    600.times { sleep 0.1 }\n  end\nend\n",
    );
    let mark = format!("{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let (running, child) = start_hanging_preload_run(&p, &mark);
    let _cleanup = KillOnDrop(child);
    // testbot, two servers, the hanging batch's client and its child (at least).
    let before = marked_processes(&mark);
    assert!(before.len() >= 5, "{before:#?}");
    // The servers, and the batch children forked from them (they keep the server's command
    // line); the other slot may be running a batch too.
    assert!(before.iter().filter(|(_, cmd)| cmd.contains("testbot_preload.rb")).count() >= 3, "{before:#?}");
    // The batch's client, on this machine testbot's own binary.
    assert!(before.iter().any(|(_, cmd)| cmd.contains(" __batch-client ") && cmd.contains(".sock preload ")), "{before:#?}");
    assert!(before.iter().any(|(pid, _)| *pid == child), "{before:#?}");
    running.signal("INT");
    let run = running.finish(Duration::from_secs(20));
    run.assert_exit(130);
    let gone = wait_until(Duration::from_secs(5), || marked_processes(&mark).is_empty());
    assert!(gone, "left running after Ctrl-C: {:#?}\n{}", marked_processes(&mark), run.dump());
}

#[test]
fn preload_over_ssh_gives_exact_totals_and_leaves_nothing_on_the_host() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--preload"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(FILES as u64, 18, 1, 1, 0), "{}", run.dump());
    assert!(report.files().iter().all(|f| f.host == "host1"));
    let out = bed.ssh(0, "cat .cache/testbot/project-*/tmp/helper-loads.txt; echo; cat .cache/testbot/project-*/tmp/suite-hooks.txt");
    let text = String::from_utf8_lossy(&out.stdout);
    let (loads, hooks) = text.split_once("\n\n").unwrap_or((&text, ""));
    assert_eq!(loads.lines().count(), 2, "the helper loaded once per slot on the host: {text}");
    assert!(hooks.lines().count() > 2, "{text}");
    let clean = wait_until(Duration::from_secs(5), || bed.user_processes(0).iter().all(|(_, cmd)| cmd.starts_with("sshd")));
    assert!(clean, "processes left on the host: {:?}", bed.user_processes(0));
}
