//! Local runners die with testbot on every OS (issue 33, docs/platforms.md): on Linux the kernel's
//! PR_SET_PDEATHSIG ends the runner; elsewhere (macOS), and here when built with
//! `--features portable-runner` (script/test's third pass), a lifeline — a watchdog leading the
//! runner's process group, reading a pipe only testbot holds — kills the whole group.

mod common;

use common::*;
use std::fs;
use std::time::Duration;

/// Whether this build's local runners hang on a lifeline (src/ssh/lifeline.rs).
const LIFELINE: bool = cfg!(any(not(target_os = "linux"), feature = "portable-runner"));

/// The spec records its own pid and starts a sleeper in its process group that records its pid.
const LONG_SPEC: &str = r#"describe('long') do
  it('waits') do
    tmp = File.expand_path('../tmp', __dir__)
    sleeper = Process.spawn('sleep', '300')
    File.write(File.join(tmp, 'sleeper.pid'), sleeper.to_s)
    File.write(File.join(tmp, 'runner.pid'), Process.pid.to_s)
    sleep 300
  end
end
"#;

fn recorded(p: &Project, name: &str) -> u32 {
    fs::read_to_string(p.path(&format!("tmp/{name}"))).unwrap().trim().parse().unwrap()
}

fn gone(pid: u32) -> bool {
    wait_until(Duration::from_secs(30), || !pid_alive(pid))
}

/// Kills what a broken promise left running, before the test fails.
fn clean_up(pids: &[u32]) {
    for &pid in pids {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

#[test]
fn a_killed_testbot_takes_its_local_runners_and_under_a_lifeline_all_they_started() {
    // Fresh processes (the runner is testbot's own child), then forked batches (the runner is
    // forked by the fork server; testbot's children are the server and the batch's client).
    for fresh in [true, false] {
        let p = Project::new("rspec_faults");
        p.write("spec/long_spec.rb", LONG_SPEC);
        fs::create_dir_all(p.path("tmp")).unwrap();
        // A run of no more files than slots starts no fork server (docs/fork-server-and-preload.md):
        // the forked case runs a second file, so that the slot gets two batches' worth.
        p.write("spec/quick_spec.rb", "describe('quick') { it('passes') { expect(1).to eq(1) } }\n");
        let files: &[&str] = if fresh { &["spec/long_spec.rb"] } else { &["spec/long_spec.rb", "spec/quick_spec.rb"] };
        let mut testbot = p.testbot(["-n", "1"].iter().chain(files).copied());
        if fresh {
            testbot = testbot.env("TESTBOT_NO_FORK", "1");
        }
        let running = testbot.spawn();
        let started = wait_until(Duration::from_secs(60), || p.path("tmp/runner.pid").exists());
        assert!(started, "the runner never started (fresh: {fresh})");
        let (runner, sleeper) = (recorded(&p, "runner.pid"), recorded(&p, "sleeper.pid"));
        assert!(pid_alive(runner) && pid_alive(sleeper));
        running.signal("KILL");
        let runner_gone = gone(runner);
        // The kernel's signal reaches testbot's own child alone: a fresh runner's sleeper stays
        // (a forked batch's goes with it: its keeper kills the batch's group when the client dies).
        let sleeper_must_go = LIFELINE || !fresh;
        let sleeper_gone = !sleeper_must_go || gone(sleeper);
        clean_up(&[runner, sleeper]);
        assert!(runner_gone, "runner {runner} outlived a SIGKILLed testbot (fresh: {fresh}, lifeline: {LIFELINE})");
        assert!(sleeper_gone, "{sleeper}, the runner's child, outlived a killed testbot (fresh: {fresh}, lifeline: {LIFELINE})");
        let _ = running.finish(Duration::from_secs(10));
    }
}
