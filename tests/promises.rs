//! README promises that once had no test able to fail (issue 19's mutation table): each test
//! here fails when its promise is broken, from what the processes themselves recorded.

mod common;

use common::batches::{max_concurrent, write_suite};
use common::sshd::Testbed;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

fn pids(p: &Project, rel: &str) -> BTreeSet<String> {
    fs::read_to_string(p.path(rel))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn preload_in_testbot_toml_forks_every_batch_from_the_server_that_loaded_the_helper() {
    // `[project] preload = true`: the helper loads in each slot's server, and every batch's
    // `before(:suite)` runs in a child forked from it, never in the process that loaded it.
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", "[project]\npreload = true\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report_path).run_with_report();
    // The fixture has one failing example (tests/preload.rs): 18 examples, 1 failure, 1 pending.
    run.assert_exit(1);
    assert_eq!(report.totals(), totals(8, 18, 1, 1, 0), "{}", run.dump());
    let loads = pids(&p, "tmp/helper-loads.txt");
    let batches = pids(&p, "tmp/suite-hooks.txt");
    assert!(!loads.is_empty() && loads.len() <= 2, "one load per slot's server: {loads:?}");
    assert!(!batches.is_empty(), "{}", run.dump());
    assert!(loads.is_disjoint(&batches), "a batch ran in the process that loaded the helper: loads {loads:?}, batches {batches:?}");
    // One project at a time (each holds the tests' lock).
    drop(p);

    // Without it, each batch loads the helper itself: the same pids.
    let q = Project::new("rspec_preload");
    let run = q.testbot(["-n", "2"]).run();
    run.assert_exit(1);
    assert_eq!(pids(&q, "tmp/helper-loads.txt"), pids(&q, "tmp/suite-hooks.txt"), "{}", run.dump());
}

#[test]
fn a_local_runner_does_not_outlive_a_killed_testbot() {
    // The kernel ends local runners when testbot dies (PR_SET_PDEATHSIG), even by SIGKILL.
    let p = Project::new("rspec_faults");
    p.write(
        "spec/long_spec.rb",
        "describe('long') { it('waits') { File.write(File.expand_path('../tmp/runner.pid', __dir__), Process.pid.to_s); sleep 60 } }\n",
    );
    fs::create_dir_all(p.path("tmp")).unwrap();
    let running = p.testbot(["-n", "1", "spec/long_spec.rb"]).spawn();
    let pid_file = p.path("tmp/runner.pid");
    assert!(wait_until(Duration::from_secs(30), || pid_file.exists()), "the runner never started");
    let runner: u32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(pid_alive(runner));
    running.signal("KILL");
    let gone = wait_until(Duration::from_secs(10), || !pid_alive(runner));
    if !gone {
        // Clean up what the broken promise left before failing.
        unsafe { libc::kill(runner as i32, libc::SIGKILL) };
    }
    assert!(gone, "runner {runner} outlived testbot");
    let _ = running.finish(Duration::from_secs(10));
}

#[test]
fn a_file_may_run_five_times_its_recorded_time_before_it_is_killed() {
    // `--file-timeout 1`, but the runtime history says the file takes 1 s: its limit is 5 s,
    // so a run of 2.5 s is not a hang.
    let p = Project::new("rspec_faults");
    p.write("spec/steady_spec.rb", "describe('steady') { it('takes its time') { sleep 2.5 } }\n");
    fs::create_dir_all(p.path("tmp")).unwrap();
    p.write("tmp/testbot-runtime-rspec.log", "spec/steady_spec.rb:1.0\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", "--file-timeout", "1", "spec/steady_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file("spec/steady_spec.rb").status, "passed", "{}", run.dump());
    assert!(!run.combined().contains("time limit"), "{}", run.dump());

    // With no history it is killed at the floor.
    fs::remove_file(p.path("tmp/testbot-runtime-rspec.log")).unwrap();
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", "--file-timeout", "1", "spec/steady_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file("spec/steady_spec.rb").status, "errored", "{}", run.dump());
    run.assert_output_contains("ran past its time limit of 1s");
}

#[test]
fn slot_leases_off_lets_two_runs_share_a_host_beyond_its_slots() {
    // `[ssh] slot_leases = false`: no run waits for another's slots (with leases, two runs on
    // one 2-slot host never run more than 2 batches at once: tests/shared_hosts.rs).
    let bed = Testbed::start(1);
    let p = Project::new("rspec_faults");
    let files = write_suite(&p, 8, 1.0);
    let toml = bed.inventory_toml(2).replace("[ssh]\n", "[ssh]\nslot_leases = false\n");
    assert!(toml.contains("slot_leases = false"));
    p.write("testbot.toml", &toml);
    let other = p.outside("checkout-2");
    copy_tree(&p.root, &other);
    let first = p.testbot(&files).spawn();
    let busy = || bed.user_processes(0).iter().filter(|(_, c)| c.contains("rspec")).count() >= 2;
    assert!(wait_until(Duration::from_secs(30), busy), "the first run never got going");
    let second = p.testbot(&files).cwd(&other).spawn();
    let first = first.finish(Duration::from_secs(120));
    let second = second.finish(Duration::from_secs(120));
    first.assert_exit(0);
    second.assert_exit(0);
    assert!(!second.combined().contains("in use by other testbot runs"), "{}", second.dump());
    let (most, _) = max_concurrent(&bed, 0);
    assert!(most > 2, "with leases off the two runs overlap beyond 2 slots: at most {most} at once");
}
