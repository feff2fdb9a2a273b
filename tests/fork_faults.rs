//! The fork server's machinery misbehaving under a run (issue 26): a fork server killed or
//! stopped, a batch's keeper killed, a spec's background child. Each fault is injected from the
//! test through the processes' own records: every spec file waits at a gate (a file the test
//! creates) and the first one writes the pids of its keeper and server, read from `/proc`. The
//! verdict must be the framework's, the run must end within its limits, and nothing is left.

mod common;

use common::sshd::Testbed;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Waits (up to 60 s) at the gate `DIR/go`; the first file to arrive writes `keeper server
/// child` (its pids) to `DIR/held`. DIR is the project's tmp/ locally, the host user's home on
/// an SSH host.
const GATED: &str = r##"
RSpec.describe "Gated __N__" do
  it "waits at the gate" do
    dir = ENV["TESTBOT_HOST"].to_s.start_with?("host") ? Dir.home : File.expand_path("../tmp", __dir__)
    go = File.join(dir, "go")
    unless File.exist?(go)
      held = File.join(dir, "held")
      unless File.exist?(held)
        keeper = Process.ppid
        server = File.read("/proc/#{keeper}/stat").split(") ").last.split(" ")[1]
        File.write("#{held}.#{Process.pid}", "#{keeper} #{server} #{Process.pid}\n")
        File.rename("#{held}.#{Process.pid}", held) unless File.exist?(held)
      end
      600.times { break if File.exist?(go); sleep 0.05 }
    end
    expect(File.exist?(go)).to be(true)
  end
end
"##;

const FILES: usize = 8;

/// A project of `FILES` gated spec files.
fn gated_project() -> Project {
    let p = Project::new("rspec_empty");
    for i in 0..FILES {
        p.write(&format!("spec/gated_{i}_spec.rb"), &GATED.replace("__N__", &i.to_string()));
    }
    fs::create_dir_all(p.path("tmp")).unwrap();
    p
}

/// `keeper server child`, once the first file holds at the gate in `dir`.
fn held(dir: &Path, running: &Running) -> (u32, u32, u32) {
    let file = dir.join("held");
    if !wait_for_file(&file, Duration::from_secs(60)) {
        running.kill_group();
        panic!("no file reached the gate");
    }
    let text = fs::read_to_string(&file).unwrap();
    let pids: Vec<u32> = text.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (pids[0], pids[1], pids[2])
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) of a process this test's run started (read from its own records).
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill -{sig} {pid}");
}

fn open_gate(dir: &Path) {
    fs::write(dir.join("go"), "").unwrap();
}

fn assert_every_file_passed(report: &Report, run: &Run) {
    assert_eq!(report.file_paths().len(), FILES, "{}", run.dump());
    for path in report.file_paths() {
        let row = report.file(&path);
        assert_eq!((row.status.as_str(), row.examples), ("passed", 1), "{path}\n{}", run.dump());
    }
    report.assert_consistent();
}

/// The run said once that `host`'s fork server was lost and its batches run as fresh processes.
/// Which batch saw it first decides the words: one held at the gate ("went away while the batch
/// ran"), or the other slot's, if it was still reaching the server ("went away before the batch
/// started", "is gone").
fn assert_lost_server(run: &Run, host: &str) {
    let prefix = format!("host `{host}`: the fork server of this host ");
    let combined = run.combined();
    let lines: Vec<&str> = combined.lines().filter(|l| l.contains(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one warning for the lost server\n{}", run.dump());
    let why = lines[0].split_once(&prefix).unwrap().1;
    assert!(
        ["went away while the batch ran", "went away before the batch started", "is gone ("].iter().any(|w| why.starts_with(w)),
        "{why}\n{}",
        run.dump()
    );
    assert!(why.contains("; its batches run as fresh processes"), "{why}\n{}", run.dump());
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    wait_until(limit, || !pid_alive(pid))
}

/// A local two-slot forked run of the gated project (with `env`) whose first held batch meets
/// `fault` (given `keeper server child`, its pids), then the gate opens: the run must pass every
/// file. Returns the run, for what each fault adds.
fn local_fault_passes(env: &[(&str, &str)], fault: impl FnOnce((u32, u32, u32))) -> Run {
    let p = gated_project();
    let tmp = p.path("tmp");
    let report_path = p.fresh_path("report", "json");
    let mut testbot = p.testbot(["-n", "2"]).env("TESTBOT_NO_FORK", "0");
    for (name, value) in env {
        testbot = testbot.env(name, value);
    }
    let running = testbot.report_to(&report_path).spawn();
    fault(held(&tmp, &running));
    open_gate(&tmp);
    let run = running.finish(TESTBOT_TIMEOUT);
    let report = Report::read(&report_path, &run);
    run.assert_exit(0);
    assert_every_file_passed(&report, &run);
    run
}

#[test]
fn a_killed_fork_server_sends_its_host_to_fresh_processes_and_fails_no_file() {
    let mut held_child = 0;
    let run = local_fault_passes(&[], |(_, server, child)| {
        held_child = child;
        signal(server, libc::SIGKILL);
    });
    assert_lost_server(&run, "local");
    assert!(!run.combined().contains("without a result"), "{}", run.dump());
    assert!(gone_within(held_child, Duration::from_secs(10)), "the held child {held_child} still runs");
}

#[test]
fn a_killed_keeper_is_lost_infrastructure_not_a_failure() {
    let mut held_child = 0;
    let run = local_fault_passes(&[], |(keeper, _, child)| {
        held_child = child;
        signal(keeper, libc::SIGKILL);
    });
    assert!(!run.combined().contains("although none of its examples failed"), "{}", run.dump());
    // The batch the keeper kept does not run on unwatched.
    assert!(gone_within(held_child, Duration::from_secs(10)), "the held child {held_child} still runs");
}

#[test]
fn a_killed_batch_client_is_lost_infrastructure_not_a_crash() {
    let mark = format!("client-kill-{}", std::process::id());
    let run = local_fault_passes(&[("PRELOAD_TEST_MARK", &mark)], |_| {
        let clients: Vec<u32> = marked_processes(&mark).into_iter().filter(|(_, cmd)| cmd.contains("__batch-client")).map(|(pid, _)| pid).collect();
        assert!(!clients.is_empty(), "no batch client: {:?}", marked_processes(&mark));
        signal(clients[0], libc::SIGKILL);
    });
    // Not taken for a crash of the file it ran (which would be retried once, then errored).
    assert!(!run.combined().contains("retrying it once on another slot"), "{}", run.dump());
    assert!(wait_until(Duration::from_secs(10), || marked_processes(&mark).is_empty()), "left: {:?}", marked_processes(&mark));
}

#[test]
fn a_stopped_fork_server_is_left_behind_and_its_host_runs_fresh_processes() {
    let mut stopped = None;
    let run = local_fault_passes(&[("TESTBOT_FORK_START_TIMEOUT", "2")], |(_, server, _)| {
        signal(server, libc::SIGSTOP);
        stopped = Some(KillOnDrop(server));
    });
    let server = stopped.as_ref().expect("the server was stopped").0;
    run.assert_output_contains("host `local`: the fork server of this host did not take the batch within 2s; its batches run as fresh processes");
    // The stopped server was ended with the run, stopped as it was.
    assert!(gone_within(server, Duration::from_secs(10)), "the stopped server {server} still runs");
}

/// With a fork server stopped and the default bound on its answer (20 s), the run still stops at
/// `stop` (`--timeout`, or Ctrl-C): the batches waiting on the server gave it none of their
/// descriptors, and a killed batch's output is waited for only so long. Returns the run.
fn a_stopped_server_holds_no_stop(stop: Stop) -> Run {
    let p = gated_project();
    let tmp = p.path("tmp");
    let mark = format!("stopped-server-{}-{:?}", std::process::id(), stop);
    let report_path = p.fresh_path("report", "json");
    let mut args = vec!["-n", "2"];
    if stop == Stop::Timeout {
        args.extend(["--timeout", "12"]);
    }
    let running = p.testbot(args).env("TESTBOT_NO_FORK", "0").env("PRELOAD_TEST_MARK", &mark).report_to(&report_path).spawn();
    let (_, server, child) = held(&tmp, &running);
    signal(server, libc::SIGSTOP);
    let _cont = KillOnDrop(server);
    open_gate(&tmp);
    // The held batch is over and a later one waits on the stopped server (its client is up).
    let waiting = wait_until(Duration::from_secs(60), || {
        !pid_alive(child) && marked_processes(&mark).iter().any(|(_, cmd)| cmd.contains("__batch-client"))
    });
    if !waiting {
        running.kill_group();
        panic!("no batch came to wait on the stopped server");
    }
    if stop == Stop::Interrupt {
        running.signal("INT");
    }
    // Well before the server's 20 s bound on its answer ends what waits on it.
    let run = running.finish(Duration::from_secs(if stop == Stop::Timeout { 40 } else { 15 }));
    let report = Report::read(&report_path, &run);
    assert!(report.file_paths().iter().all(|f| report.file(f).status != "failed"), "{}", run.dump());
    assert!(gone_within(server, Duration::from_secs(10)), "the stopped server {server} still runs");
    assert!(wait_until(Duration::from_secs(10), || marked_processes(&mark).is_empty()), "left: {:?}", marked_processes(&mark));
    run
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Timeout,
    Interrupt,
}

#[test]
fn a_stopped_fork_server_holds_no_timeout() {
    let run = a_stopped_server_holds_no_stop(Stop::Timeout);
    run.assert_exit(1);
    run.assert_output_contains("Stopped by --timeout (12s)");
}

#[test]
fn a_stopped_fork_server_holds_no_ctrl_c() {
    let run = a_stopped_server_holds_no_stop(Stop::Interrupt);
    run.assert_exit(130);
}

#[test]
fn a_spec_s_background_child_ends_with_its_batch_in_fork_mode() {
    let p = Project::new("rspec_empty");
    p.write(
        "spec/spawns_spec.rb",
        r#"
RSpec.describe "Spawns" do
  it "leaves a child running" do
    Dir.mkdir("tmp") unless File.directory?("tmp")
    pid = spawn("sleep", "1236")
    Process.detach(pid)
    File.write("tmp/spawned.pid", pid.to_s)
  end
end
"#,
    );
    p.write("spec/other_spec.rb", "RSpec.describe('other') { it('passes') { sleep 0.5 } }\n");
    let run = p.testbot(["-n", "1"]).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    let pid: u32 = fs::read_to_string(p.path("tmp/spawned.pid")).unwrap().trim().parse().unwrap();
    let _kill = KillOnDrop(pid);
    assert!(gone_within(pid, Duration::from_secs(10)), "the spec's `sleep 1236` ({pid}) outlived its batch\n{}", run.dump());
}

// ---------------------------------------------------------------------------
// Over sshd hosts

#[test]
fn a_spec_s_background_child_ends_with_its_batch_on_a_host() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_empty");
    p.write(
        "spec/spawns_spec.rb",
        r#"
RSpec.describe "Spawns" do
  it "leaves a child running" do
    pid = spawn("sleep", "1236")
    Process.detach(pid)
    File.write(File.join(Dir.home, "spawned.pid"), pid.to_s)
  end
end
"#,
    );
    p.write("spec/other_spec.rb", "RSpec.describe('other') { it('passes') { sleep 0.5 } }\n");
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(1)));
    let run = p.testbot(Vec::<String>::new()).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    // The pid is the host's own (its PID namespace): looked for there.
    let pid = fs::read_to_string(host_gate(&bed, 0).join("spawned.pid")).unwrap().trim().to_string();
    let gone = wait_until(Duration::from_secs(10), || !bed.ssh(0, &format!("kill -0 {pid}")).status.success());
    let _ = bed.ssh(0, &format!("kill -KILL {pid} 2>/dev/null; true"));
    assert!(gone, "the spec's `sleep 1236` ({pid}) outlived its batch on the host\n{}", run.dump());
}

/// The gate's folder on host `i`: its user's home, where the gated files look there.
fn host_gate(bed: &Testbed, i: usize) -> PathBuf {
    bed.hosts()[i].home.clone()
}

/// The gated project on `bed`'s hosts (one slot each, none here), started.
fn ssh_gated_run(bed: &Testbed, extra_env: &[(&str, &str)]) -> (Project, PathBuf, Running) {
    let p = gated_project();
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(1)));
    let report_path = p.fresh_path("report", "json");
    let mut cmd = p.testbot(Vec::<String>::new()).env("TESTBOT_NO_FORK", "0").report_to(&report_path);
    for (k, v) in extra_env {
        cmd = cmd.env(k, *v);
    }
    (p, report_path, cmd.spawn())
}

/// Which host holds at the gate, and its `keeper server child` pids (the host's own).
fn ssh_held(bed: &Testbed, running: &Running) -> (usize, Vec<u32>) {
    let mut found = None;
    let ok = wait_until(Duration::from_secs(60), || {
        found = (0..bed.hosts().len()).find(|&i| host_gate(bed, i).join("held").exists());
        found.is_some()
    });
    if !ok {
        running.kill_group();
        panic!("no file reached the gate on any host");
    }
    let at = found.unwrap();
    let text = fs::read_to_string(host_gate(bed, at).join("held")).unwrap();
    (at, text.split_whitespace().map(|n| n.parse().unwrap()).collect())
}

fn ssh_open_gates(bed: &Testbed) {
    for (i, h) in bed.hosts().iter().enumerate() {
        let go = host_gate(bed, i).join("go");
        fs::write(&go, "").unwrap();
        std::os::unix::fs::chown(&go, Some(h.uid), Some(h.gid)).unwrap();
    }
}

#[test]
fn a_killed_fork_server_on_a_host_fails_no_file() {
    let bed = Testbed::start(2);
    let (_p, report_path, running) = ssh_gated_run(&bed, &[]);
    let (at, pids) = ssh_held(&bed, &running);
    let killed = bed.ssh(at, &format!("kill -KILL {}", pids[1]));
    assert!(killed.status.success(), "{killed:?}");
    ssh_open_gates(&bed);
    let run = running.finish(TESTBOT_TIMEOUT);
    let report = Report::read(&report_path, &run);
    run.assert_exit(0);
    assert_every_file_passed(&report, &run);
    assert_lost_server(&run, &format!("host{}", at + 1));
    assert!(!run.combined().contains("without a result"), "{}", run.dump());
}

#[test]
fn a_stopped_fork_server_on_a_host_is_left_behind() {
    let bed = Testbed::start(2);
    let (_p, report_path, running) = ssh_gated_run(&bed, &[("TESTBOT_FORK_START_TIMEOUT", "2")]);
    let (at, pids) = ssh_held(&bed, &running);
    let stopped = bed.ssh(at, &format!("kill -STOP {}", pids[1]));
    assert!(stopped.status.success(), "{stopped:?}");
    ssh_open_gates(&bed);
    let run = running.finish(TESTBOT_TIMEOUT);
    let _ = bed.ssh(at, &format!("kill -KILL {} 2>/dev/null; true", pids[1]));
    let report = Report::read(&report_path, &run);
    run.assert_exit(0);
    assert_every_file_passed(&report, &run);
    run.assert_output_contains(&format!("host `host{}`: the fork server of this host did not take the batch within 2s", at + 1));
}

// ---------------------------------------------------------------------------
// Batch sessions on sshd hosts (issue 32): one channel and one Ruby client a slot

/// Each file appends `KEEPER PIPE CLIENTS` to ~/sessions.log on its host: its batch's keeper (the
/// fork server's process that forked it, one a batch), what its stdout is (the SSH channel's pipe:
/// one a session) and the pids of the host user's Ruby processes running `testbot_client.rb`. With `HOLD` set in the file, the
/// third file to run writes ~/held and sleeps (once: a file run again after that does not).
const RECORDING: &str = r##"
RSpec.describe "Recording __N__" do
  it "records its session" do
    mine = Dir.glob("/proc/[0-9]*").select { |d| File.stat(d).uid == Process.uid rescue false }
    clients = mine.select do |d|
      args = (File.read("#{d}/cmdline") rescue "").split("\0")
      args.first.to_s.include?("ruby") && args.any? { |a| a.end_with?("/testbot_client.rb") }
    end
    log = File.join(Dir.home, "sessions.log")
    line = [Process.ppid, File.readlink("/proc/self/fd/1"), clients.map { |d| File.basename(d) }.sort.join(",")]
    File.open(log, "a") { |f| f.puts line.join(" ") }
    held = File.join(Dir.home, "held")
    if __HOLD__ && File.readlines(log).size >= 3 && !File.exist?(held)
      File.write(held, Process.pid.to_s)
      sleep 600
    end
  end
end
"##;

/// A project of `files` recording files on `bed`'s one host, one slot, a batch a file.
fn recording_run(bed: &Testbed, files: usize, hold: bool) -> (Project, Running) {
    let p = Project::new("rspec_empty");
    for i in 0..files {
        p.write(&format!("spec/recording_{i}_spec.rb"), &RECORDING.replace("__N__", &i.to_string()).replace("__HOLD__", &hold.to_string()));
    }
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(1)));
    let running = p.testbot(Vec::<String>::new()).env("TESTBOT_NO_FORK", "0").env("TESTBOT_TUNING", "max_batch_files=1").spawn();
    (p, running)
}

/// The records of ~/sessions.log on host 0: (keeper, pipe, clients) a line.
fn session_records(bed: &Testbed) -> Vec<(String, String, String)> {
    let text = fs::read_to_string(host_gate(bed, 0).join("sessions.log")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].to_string(), f.get(2).unwrap_or(&"").to_string())
        })
        .collect()
}

#[test]
fn batches_on_a_host_s_slot_share_one_channel_and_one_ruby_client() {
    let bed = Testbed::start(1);
    let (_p, running) = recording_run(&bed, 5, false);
    let run = running.finish(TESTBOT_TIMEOUT);
    run.assert_exit(0);
    let records = session_records(&bed);
    let distinct = |pick: fn(&(String, String, String)) -> &String| records.iter().map(pick).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(records.len(), 5, "{records:?}\n{}", run.dump());
    assert_eq!(distinct(|r| &r.0).len(), 5, "a batch a file: {records:?}");
    assert!(records.iter().all(|r| r.1.starts_with("pipe:")), "{records:?}");
    assert_eq!(distinct(|r| &r.1).len(), 1, "one channel carried every batch: {records:?}");
    let clients: std::collections::BTreeSet<&str> = records.iter().flat_map(|r| r.2.split(',')).filter(|c| !c.is_empty()).collect();
    assert_eq!(clients.len(), 1, "one Ruby client ran every batch: {records:?}");
    assert!(bed.user_processes(0).iter().all(|(_, cmd)| !cmd.contains("testbot_client.rb")), "{:?}", bed.user_processes(0));
}

/// A recording run of 4 files on `bed`'s host whose third file holds: the run, and the records
/// so far (the held file's last).
fn held_recording_run(bed: &Testbed) -> (Project, Running, Vec<(String, String, String)>) {
    let (p, running) = recording_run(bed, 4, true);
    if !wait_for_file(&host_gate(bed, 0).join("held"), Duration::from_secs(90)) {
        running.kill_group();
        panic!("no file held: {:?}", session_records(bed));
    }
    (p, running, session_records(bed))
}

#[test]
fn killing_testbot_while_a_session_runs_its_third_batch_leaves_nothing_on_the_host() {
    let bed = Testbed::start(1);
    let (_p, running, records) = held_recording_run(&bed);
    running.signal("KILL");
    let clean = || bed.user_processes(0).iter().all(|(_, cmd)| cmd.starts_with("sshd"));
    assert!(wait_until(Duration::from_secs(30), clean), "processes left on the host: {:?}", bed.user_processes(0));
    let _ = running.finish(TESTBOT_TIMEOUT);
    assert_eq!(records.iter().map(|r| &r.1).collect::<std::collections::BTreeSet<_>>().len(), 1, "one session: {records:?}");
}

/// A session's client killed while its batch runs (the batch held in a `sleep 600`): the session
/// says so and ends, the batch with it, and its file runs again on a new session; the run passes
/// without waiting for a timeout (the client used to be the shell's `exec`, which left nothing to
/// say how it ended: the batch waited for an end until `--timeout`).
#[test]
fn a_session_client_killed_mid_batch_ends_its_batch_and_its_file_runs_again() {
    let bed = Testbed::start(1);
    let (_p, running, records) = held_recording_run(&bed);
    let client = records.last().map(|r| r.2.clone()).unwrap_or_default();
    assert!(!client.is_empty() && !client.contains(','), "one session client: {records:?}");
    let killed = bed.ssh(0, &format!("kill -KILL {client}"));
    assert!(killed.status.success(), "{killed:?}");
    let run = running.finish(TESTBOT_TIMEOUT);
    run.assert_exit(0);
    run.assert_output_contains("4 files on 1 slot: 4 examples, 0 failures");
    let after = session_records(&bed);
    assert_eq!(after.len(), 5, "the held file ran again, the others once: {after:?}\n{}", run.dump());
    let clients: std::collections::BTreeSet<&str> = after.iter().map(|r| r.2.as_str()).collect();
    assert!(clients.len() >= 2, "a new session after the killed one: {after:?}");
}
