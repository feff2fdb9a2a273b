//! The `--preload` promises of docs/fork-server-and-preload.md (once the README's), one test each,
//! on the rspec_preload fixture (its helper
//! records every load and every `before(:suite)` in tmp/: see its spec_helper.rb) and on real
//! sshd hosts: which helper the server loads, servers loading one per core at a time, `at_exit`
//! in the forked children, batches that never see each other's state, a timed-out batch, a
//! crash's requeue, a helper that fails on one host, a server that dies mid-run, a lost host,
//! `kill -9` of testbot, and Cucumber refused. Everything is checked from what the servers and
//! children recorded themselves (pids, counters), never from wall time.
//!
//! Serial `rspec` totals of the fixture (8 files): 18 examples, 1 failure, 1 pending.

mod common;

use common::sshd::Testbed;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::Duration;

const FIXTURE: Totals = totals(8, 18, 1, 1, 0);

fn lines(p: &Project, rel: &str) -> Vec<String> {
    fs::read_to_string(p.path(rel)).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The pids (first word) of a record file's lines.
fn pids(p: &Project, rel: &str) -> Vec<u32> {
    lines(p, rel).iter().map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect()
}

fn preload_run(p: &Project, args: &[&str]) -> (Run, Report) {
    let report_path = p.fresh_path("report", "json");
    p.testbot(args.iter().copied()).report_to(&report_path).run_with_report()
}

/// A helper file `spec/NAME.rb` that appends its loader's pid to tmp/NAME.txt, then `more`.
fn recording_helper(p: &Project, name: &str, more: &str) {
    p.write(
        &format!("spec/{name}.rb"),
        &format!(
            "require \"fileutils\"\nFileUtils.mkdir_p(File.expand_path(\"../tmp\", __dir__))\nFile.open(File.expand_path(\"../tmp/{name}.txt\", __dir__), \"a\") {{ |f| f.puts Process.pid }}\n{more}"
        ),
    );
}

fn warnings(report: &Report) -> Vec<String> {
    report.json["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_helper_is_the_requires_else_rails_helper_else_spec_helper() {
    let p = Project::new("rspec_preload");
    // No `.rspec`: nothing is required, so spec/spec_helper.rb is the fallback. The batches
    // never load it themselves; the fixture's files use what it defines.
    fs::remove_file(p.path(".rspec")).unwrap();
    let (run, report) = preload_run(&p, &["-n", "2", "--preload"]);
    run.assert_exit(1);
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    let servers = pids(&p, "tmp/helper-loads.txt");
    assert_eq!(servers.len(), 2, "spec_helper loaded once per slot's server\n{}", run.dump());
    let children = pids(&p, "tmp/suite-hooks.txt");
    assert!(children.len() >= 2 && children.iter().all(|c| !servers.contains(c)), "{servers:?} {children:?}");

    // spec/rails_helper.rb wins over spec_helper.rb.
    fs::remove_dir_all(p.path("tmp")).unwrap();
    recording_helper(&p, "rails_helper", "require \"spec_helper\"\n");
    let (run, report) = preload_run(&p, &["-n", "2", "--preload"]);
    run.assert_exit(1);
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    let rails = pids(&p, "tmp/rails_helper.txt");
    assert_eq!(rails.len(), 2, "rails_helper loaded once per slot's server\n{}", run.dump());
    assert_eq!(sorted_pids(rails), sorted_pids(pids(&p, "tmp/helper-loads.txt")));

    // A `--require` after `--` is the helper: neither fallback is loaded.
    fs::remove_dir_all(p.path("tmp")).unwrap();
    recording_helper(&p, "other_helper", "require \"spec_helper\"\n");
    let (run, report) = preload_run(&p, &["-n", "2", "--preload", "--", "--require", "other_helper"]);
    run.assert_exit(1);
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    let other = pids(&p, "tmp/other_helper.txt");
    assert_eq!(other.len(), 2, "other_helper loaded by the servers only\n{}", run.dump());
    assert_eq!(sorted_pids(other), sorted_pids(pids(&p, "tmp/helper-loads.txt")));
    assert!(lines(&p, "tmp/rails_helper.txt").is_empty(), "rails_helper was loaded too");
}

fn sorted_pids(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// Makes every server's helper load wait (up to 3 s) until another one is loading too, and
/// records in tmp/boots.txt `start PID N` with N the servers loading at that moment.
const GATE_HELPER: &str = r##"require "fileutils"
dir = File.expand_path("../tmp", __dir__)
FileUtils.mkdir_p(dir)
count = File.join(dir, "booting")
bump = lambda do |d|
  File.open(count, File::RDWR | File::CREAT) do |f|
    f.flock(File::LOCK_EX)
    n = f.read.to_i + d
    f.rewind
    f.truncate(0)
    f.write(n.to_s)
    f.flush
    File.open(File.join(dir, "boots.txt"), "a") { |l| l.puts "#{d > 0 ? 'start' : 'ready'} #{Process.pid} #{n}" }
  end
end
bump.(1)
# Company, if the servers are let in together: then they overlap for certain.
30.times { break if File.read(count).to_i > 1; sleep 0.1 }
bump.(-1)
"##;

#[test]
fn servers_load_the_helper_one_per_core_at_a_time() {
    let p = Project::new("rspec_preload");
    p.write("spec/gate_helper.rb", GATE_HELPER);
    // One core (testbot reads its CPU affinity), three slots.
    let report_path = p.fresh_path("report", "json");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", TESTBOT, "-n", "3", "--preload", "--report-json"]).arg(&report_path).args(["--", "--require", "gate_helper"]);
    cmd.current_dir(&p.root);
    scrub_env(&mut cmd);
    let run = Running::spawn(cmd, "taskset -c 0 testbot -n 3 --preload").finish(TESTBOT_TIMEOUT);
    let report = Report::read(&report_path, &run);
    run.assert_exit(1);
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    let boots = lines(&p, "tmp/boots.txt");
    let starts: Vec<(u32, u32)> = boots
        .iter()
        .filter(|l| l.starts_with("start "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[1].parse().unwrap(), w[2].parse().unwrap())
        })
        .collect();
    assert_eq!(starts.len(), 3, "one server a slot: {boots:?}");
    assert_eq!(starts.iter().map(|s| s.0).collect::<BTreeSet<_>>().len(), 3, "{boots:?}");
    assert_eq!(starts.iter().map(|s| s.1).max(), Some(1), "more servers than cores loaded at once: {boots:?}");
}

#[test]
fn at_exit_handlers_run_in_every_forked_child_once() {
    let p = Project::new("rspec_preload");
    p.write(
        "spec/exit_helper.rb",
        "at_exit { File.open(File.expand_path(\"../tmp/at-exit.txt\", __dir__), \"a\") { |f| f.puts Process.pid } }\n",
    );
    let (run, report) = preload_run(&p, &["-n", "2", "--preload", "--", "--require", "exit_helper"]);
    run.assert_exit(1);
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    // One batch child a before(:suite) line; each ran the handler once, and no server did.
    let children = sorted_pids(pids(&p, "tmp/suite-hooks.txt"));
    assert!(children.len() > 2, "{children:?}");
    assert_eq!(sorted_pids(pids(&p, "tmp/at-exit.txt")), children, "{}", run.dump());
}

#[test]
fn a_forked_batch_never_sees_another_batchs_state() {
    let p = Project::new("rspec_preload");
    // Each example records what it finds of a global, an ENV variable and a constant, then sets
    // all three to its own pid: a batch may see its own process's, never another batch's.
    let mut files = Vec::new();
    for i in 0..6 {
        let path = format!("spec/iso_{i}_spec.rb");
        p.write(
            &path,
            &format!(
                "RSpec.describe \"iso {i}\" do\n  it \"starts from the helper's state\" do\n    seen = [$testbot_leak, ENV[\"TESTBOT_LEAK\"], (TestbotLeak if defined?(TestbotLeak))].compact\n    File.open(File.expand_path(\"../tmp/iso.txt\", __dir__), \"a\") {{ |f| f.puts \"#{{Process.pid}} #{{seen.join(' ')}}\" }}\n    $testbot_leak = Process.pid.to_s\n    ENV[\"TESTBOT_LEAK\"] = Process.pid.to_s\n    Object.const_set(:TestbotLeak, Process.pid.to_s) unless defined?(TestbotLeak)\n  end\nend\n"
            ),
        );
        files.push(path);
    }
    // One slot; the isolated file is a batch of its own, so the slot runs at least two.
    let mut args = vec!["-n", "1", "--preload", "--isolate", "spec/iso_0_spec.rb"];
    args.extend(files.iter().map(String::as_str));
    let (run, report) = preload_run(&p, &args);
    let seen = lines(&p, "tmp/iso.txt");
    let batches: BTreeSet<u32> = seen.iter().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
    assert!(batches.len() >= 2, "one slot ran one process: {seen:?}\n{}", run.dump());
    let server = pids(&p, "tmp/helper-loads.txt");
    assert_eq!(server.len(), 1, "one server");
    assert!(!batches.contains(&server[0]), "a batch ran in the server itself: {seen:?}");
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(6, 6, 0, 0, 0), "{}", run.dump());
    assert_eq!(seen.len(), 6, "{seen:?}");
    for line in &seen {
        let mut words = line.split_whitespace();
        let pid = words.next().unwrap();
        assert!(words.all(|w| w == pid), "a batch saw another batch's state: {line} in {seen:?}");
    }
}

#[test]
fn a_timed_out_batch_is_killed_with_its_child_and_retried() {
    let p = Project::new("rspec_preload");
    p.write(
        "spec/hang_spec.rb",
        "RSpec.describe \"Hang\" do\n  it \"hangs\" do\n    File.open(File.expand_path(\"../tmp/hang.txt\", __dir__), \"a\") { |f| f.puts Process.pid }\n    puts \"hanging now\"\n    $stdout.flush\n    600.times { sleep 0.1 }\n  end\nend\n",
    );
    let (run, report) = preload_run(&p, &["-n", "2", "--preload", "--file-timeout", "3"]);
    run.assert_exit(1);
    report.assert_consistent();
    let hang = report.json["files"].as_array().unwrap().iter().find(|f| f["path"] == "spec/hang_spec.rb").unwrap().clone();
    assert_eq!(hang["status"], "errored");
    assert!(hang["error"].as_str().unwrap().contains("ran past its time limit of 3s"), "{hang}");
    assert_eq!(run.combined().matches("retrying it once on another slot").count(), 1, "{}", run.dump());
    // Both tries were children forked from the servers, and both were killed.
    let tries = pids(&p, "tmp/hang.txt");
    assert_eq!(tries.len(), 2, "{tries:?}");
    let servers = pids(&p, "tmp/helper-loads.txt");
    for pid in &tries {
        assert!(!servers.contains(pid));
        assert!(wait_until(Duration::from_secs(5), || !pid_alive(*pid)), "the timed-out child {pid} still runs");
    }
    // The fixture's files ran once each, with their serial totals.
    let others: Totals = report.files().iter().filter(|f| f.path != "spec/hang_spec.rb").fold(totals(0, 0, 0, 0, 0), |t, f| {
        totals(t.files + 1, t.examples + f.examples, t.failures + f.failures, t.pending + f.pending, 0)
    });
    assert_eq!(others, FIXTURE, "{:#}", report.json["files"]);
}

#[test]
fn a_crashed_batch_is_requeued_and_its_file_passes_on_the_retry() {
    let p = Project::new("rspec_preload");
    // Dies (SIGKILL) the first time only; the marker names the child that died.
    p.write(
        "spec/crash_once_spec.rb",
        "RSpec.describe \"Crash once\" do\n  it \"dies the first time\" do\n    marker = File.expand_path(\"../tmp/crashed.txt\", __dir__)\n    unless File.exist?(marker)\n      File.write(marker, Process.pid.to_s)\n      Process.kill(:KILL, Process.pid)\n    end\n    File.open(File.expand_path(\"../tmp/crash-retry.txt\", __dir__), \"a\") { |f| f.puts Process.pid }\n  end\nend\n",
    );
    let (run, report) = preload_run(&p, &["-n", "2", "--preload"]);
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(run.combined().matches("retrying it once on another slot").count(), 1, "{}", run.dump());
    assert_eq!(report.totals(), totals(9, 19, 1, 1, 0), "{}", run.dump());
    assert_eq!(report.file("spec/crash_once_spec.rb").counts(), counts(1, 0, 0));
    assert_ne!(report.file("spec/crash_once_spec.rb").status, "errored");
    let crashed: u32 = fs::read_to_string(p.path("tmp/crashed.txt")).unwrap().parse().unwrap();
    let retried = pids(&p, "tmp/crash-retry.txt");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_ne!(retried[0], crashed, "the retry is a new child");
    assert!(!pids(&p, "tmp/helper-loads.txt").contains(&retried[0]));
    // The fixture's files: once each, with their serial counts.
    for row in report.files().iter().filter(|f| f.path.starts_with("spec/file_")) {
        let n: u64 = if row.path == "spec/file_3_spec.rb" { 1 } else { 0 };
        assert_eq!(row.failures, n, "{}", row.path);
    }
}


const HANG_SPEC: &str = "RSpec.describe \"Hang\" do\n  it \"waits\" do\n    File.open(File.join(ENV.fetch(\"HANG_DIR\") { File.expand_path(\"../tmp\", __dir__) }, \"hang.pid\"), \"a\") { |f| f.puts Process.pid }\n    600.times { sleep 0.1 }\n  end\nend\n";

#[test]
fn kill_9_of_testbot_leaves_no_server_client_or_child_behind() {
    let p = Project::new("rspec_preload");
    p.write("spec/hang_spec.rb", HANG_SPEC);
    let mark = format!("kill9-{}", std::process::id());
    let (running, child) = start_hanging_preload_run(&p, &mark);
    let _cleanup = KillOnDrop(child);
    let before = marked_processes(&mark);
    assert!(before.iter().filter(|(_, cmd)| cmd.contains("testbot_preload.rb")).count() >= 3, "{before:#?}");
    assert!(before.iter().any(|(pid, _)| *pid == child), "{before:#?}");
    let _others: Vec<KillOnDrop> = before.iter().map(|(pid, _)| KillOnDrop(*pid)).collect();
    running.signal("KILL");
    let run = running.finish(Duration::from_secs(10));
    assert_eq!(run.code, None, "killed by a signal");
    let gone = wait_until(Duration::from_secs(10), || marked_processes(&mark).is_empty());
    assert!(gone, "left running after kill -9 of testbot: {:#?}", marked_processes(&mark));
}

#[test]
fn cucumber_is_refused_under_preload() {
    let p = Project::new("cucumber_basic");
    let run = p.testbot(["--preload"]).run();
    run.assert_exit(2);
    run.assert_output_contains("error: `--preload` supports RSpec, minitest and Test::Unit; run this cucumber suite without it");
    assert!(!run.combined().contains("scenario"), "nothing ran\n{}", run.dump());
}

// ---------------------------------------------------------------------------------------------
// Over sshd hosts
// ---------------------------------------------------------------------------------------------

/// Every process of host `i`'s user is an sshd (nothing testbot started is left), within `limit`.
#[track_caller]
fn assert_only_sshd_left(bed: &Testbed, i: usize, limit: Duration) {
    let clean = || bed.user_processes(i).iter().all(|(_, cmd)| cmd.starts_with("sshd"));
    assert!(wait_until(limit, clean), "processes left on host {i}: {:?}", bed.user_processes(i));
}

/// A file on host `i` (under its user's home), as the test (root) reads it.
fn home_file(bed: &Testbed, i: usize, rel: &str) -> String {
    fs::read_to_string(bed.hosts()[i].home.join(rel)).unwrap_or_default()
}

/// The project's tmp/NAME on host `i`.
fn remote_tmp(bed: &Testbed, i: usize, name: &str) -> String {
    let out = bed.ssh(i, &format!("cat .cache/testbot/project-*/tmp/{name} 2>/dev/null; true"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_helper_that_fails_on_one_host_leaves_it_out_and_the_run_goes_on() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", &bed.inventory_toml(2));
    p.write("spec/host_helper.rb", "raise \"helper boom: no database on this host\" if File.exist?(File.join(Dir.home, \"break-helper\"))\n");
    fs::write(bed.hosts()[1].home.join("break-helper"), "").unwrap();
    let (run, report) = preload_run(&p, &["--preload", "--", "--require", "host_helper"]);
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals(), FIXTURE, "{}", run.dump());
    assert!(report.files().iter().all(|f| f.host == "host1"), "{:#}", report.json["files"]);
    let warned = warnings(&report);
    let left: Vec<&String> = warned.iter().filter(|w| w.contains("host `host2` is left out of this run")).collect();
    assert_eq!(left.len(), 1, "{warned:?}");
    assert!(left[0].contains("its preload server (loading the suite's helper) exited with status 1"), "{}", left[0]);
    assert_eq!(run.combined().matches("RuntimeError: helper boom: no database on this host").count(), 1, "{}", run.dump());
    assert!(!warned.iter().any(|w| w.contains("host1")), "{warned:?}");
    // host2 ran nothing, and both hosts are clean.
    assert!(remote_tmp(&bed, 1, "suite-hooks.txt").is_empty());
    for i in 0..2 {
        assert_only_sshd_left(&bed, i, Duration::from_secs(5));
    }
}

/// Holds (up to 60 s) while ~/hold exists on the host it runs on, after writing its server's pid
/// (its parent: a batch is a child forked from the slot's server) to ~/held.
const HOLD_SPEC: &str = "RSpec.describe \"Hold\" do\n  it \"waits while the test acts\" do\n    hold = File.join(Dir.home, \"hold\")\n    if File.exist?(hold)\n      File.write(File.join(Dir.home, \"held.tmp\"), \"#{Process.ppid} #{Process.pid}\\n\")\n      File.rename(File.join(Dir.home, \"held.tmp\"), File.join(Dir.home, \"held\"))\n      600.times { break unless File.exist?(hold); sleep 0.1 }\n    end\n    expect(1).to eq(1)\n  end\nend\n";

/// Waits until the hold spec holds on one of the hosts; returns which, the server's pid and the
/// child's. Removes ~/hold everywhere else first, so a retry elsewhere does not hold.
fn wait_for_hold(bed: &Testbed, hosts: usize, running: &Running) -> (usize, u32, u32) {
    let mut found = None;
    let held = wait_until(Duration::from_secs(60), || {
        found = (0..hosts).find(|&i| !home_file(bed, i, "held").is_empty());
        found.is_some()
    });
    if !held {
        running.kill_group();
        panic!("the hold spec never ran");
    }
    let at = found.unwrap();
    for i in (0..hosts).filter(|&i| i != at) {
        let _ = fs::remove_file(bed.hosts()[i].home.join("hold"));
    }
    let text = home_file(bed, at, "held");
    let mut w = text.split_whitespace().map(|n| n.parse::<u32>().unwrap());
    (at, w.next().unwrap(), w.next().unwrap())
}

#[test]
fn a_server_that_dies_mid_run_takes_its_host_out_and_its_files_run_elsewhere() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_preload");
    // Padded to be the largest file: it is in a slot's first batch.
    p.write("spec/hold_spec.rb", &format!("{HOLD_SPEC}{}", "# padding\n".repeat(2000)));
    // Enough work, each file a group (a batch) of its own, that the held slot has a next batch
    // when its server is gone: the one that finds it gone.
    let slow = common::batches::write_suite(&p, 10, 0.5);
    let groups: String = slow.iter().map(|f| format!("[[project.group]]\nfiles = [\"{f}\"]\n")).collect();
    p.write("testbot.toml", &format!("{groups}{}", bed.inventory_toml(1)));
    for h in bed.hosts() {
        fs::write(h.home.join("hold"), "").unwrap();
        std::os::unix::fs::chown(h.home.join("hold"), Some(h.uid), Some(h.gid)).unwrap();
    }
    let report_path = p.fresh_path("report", "json");
    let running = p.testbot(["--preload"]).report_to(&report_path).spawn();
    let (at, server, child) = wait_for_hold(&bed, 2, &running);
    let name = format!("host{}", at + 1);
    // The pid the server recorded when it loaded the helper.
    let loads = remote_tmp(&bed, at, "helper-loads.txt");
    assert!(loads.lines().any(|l| l.split(' ').next() == Some(&server.to_string())), "{server} not in {loads}");
    // Pids recorded on the host are its own (its PID namespace): killed there, as its user.
    let killed = bed.ssh(at, &format!("kill -KILL {server}"));
    assert!(killed.status.success(), "{killed:?}");
    let _ = fs::remove_file(bed.hosts()[at].home.join("hold"));
    let run = running.finish(TESTBOT_TIMEOUT);
    let report = Report::read(&report_path, &run);
    run.assert_exit(1);
    report.assert_consistent();
    // Every file once, with the serial totals; the held file passed on its retry elsewhere.
    assert_eq!(report.totals(), totals(9 + 10, 19 + 10, 1, 1, 0), "{}", run.dump());
    assert_eq!(report.file_paths().len(), 9 + slow.len());
    assert_eq!(report.file("spec/hold_spec.rb").counts(), counts(1, 0, 0));
    assert_ne!(report.file("spec/hold_spec.rb").host, name);
    run.assert_output_contains(&format!("host `{name}` left the run"));
    // Found gone when the next batch connects, or between its connect and its fork (a race with
    // the server's death: both are the client's words for it).
    let out = run.combined();
    assert!(
        out.contains("the preload server of this slot is gone") || out.contains("the preload server of this slot went away before the batch started"),
        "{}",
        run.dump()
    );
    let alive = |i: usize, pid: u32| bed.ssh(i, &format!("kill -0 {pid}")).status.success();
    assert!(wait_until(Duration::from_secs(5), || !alive(at, child)), "the held child {child} still runs");
    for i in 0..2 {
        assert_only_sshd_left(&bed, i, Duration::from_secs(5));
    }
}

#[test]
fn a_lost_host_under_preload_hands_its_files_to_the_others() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let slow = common::batches::write_suite(&p, 16, 0.5);
    let report_path = p.fresh_path("report", "json");
    let running = p.testbot(["--preload"]).report_to(&report_path).spawn();
    // Batches record themselves in ~/batches.log on their host.
    if !wait_until(Duration::from_secs(60), || !home_file(&bed, 1, "batches.log").is_empty()) {
        running.kill_group();
        panic!("no batch ever ran on host2\n{}", running.finish(Duration::from_secs(5)).dump());
    }
    bed.kill_host(1);
    let run = running.finish(TESTBOT_TIMEOUT);
    let report = Report::read(&report_path, &run);
    run.assert_exit(1);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(8 + 16, 18 + 16, 1, 1, 0), "{}", run.dump());
    let mut expected: Vec<String> = slow.clone();
    expected.extend((1..=8).map(|i| format!("spec/file_{i}_spec.rb")));
    expected.sort();
    assert_eq!(report.file_paths(), expected);
    assert!(warnings(&report).iter().any(|w| w.contains("host `host2` left the run")), "{:?}", warnings(&report));
    assert_only_sshd_left(&bed, 0, Duration::from_secs(5));
}

#[test]
fn kill_9_of_testbot_with_preload_leaves_nothing_on_the_host() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_preload");
    p.write("testbot.toml", &bed.inventory_toml(2));
    p.write("spec/hold_spec.rb", HOLD_SPEC);
    let h = &bed.hosts()[0];
    fs::write(h.home.join("hold"), "").unwrap();
    let running = p.testbot(["--preload"]).spawn();
    let (_, server, child) = wait_for_hold(&bed, 1, &running);
    // The servers, and the held child forked from one of them, run on the host.
    let alive = bed.ssh(0, &format!("kill -0 {server} && kill -0 {child}"));
    assert!(alive.status.success(), "{alive:?}");
    let procs = bed.user_processes(0);
    assert!(procs.iter().filter(|(_, cmd)| cmd.contains("testbot_preload.rb")).count() >= 3, "{procs:?}");
    running.signal("KILL");
    let run = running.finish(Duration::from_secs(10));
    assert_eq!(run.code, None, "killed by a signal");
    // ~/hold is still there: the child would hold for a minute if nothing killed it.
    assert_only_sshd_left(&bed, 0, Duration::from_secs(10));
}
