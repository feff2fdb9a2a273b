//! Hosts shared by several testbot runs (other users, other checkouts): slot leases on the host
//! keep the batches running there at once within its slots.

mod common;

use common::batches::{max_concurrent, write_suite};
use common::sshd::Testbed;
use common::*;
use std::time::Duration;

#[test]
fn two_runs_on_the_same_hosts_never_exceed_their_slots() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    let files = write_suite(&p, 12, 0.4);
    p.write("testbot.toml", &bed.inventory_toml(2));
    // A second checkout of the same project: its own remote dir, the same hosts.
    let other = p.outside("checkout-2");
    copy_tree(&p.root, &other);
    let first_json = p.fresh_path("first", "json");
    let second_json = p.fresh_path("second", "json");
    let first = p.testbot(&files).report_to(&first_json).spawn();
    let busy = || (0..2).all(|i| bed.user_processes(i).iter().any(|(_, c)| c.contains("rspec")));
    assert!(wait_until(Duration::from_secs(30), busy), "the first run never got going on both hosts");
    let second = p.testbot(&files).cwd(&other).report_to(&second_json).spawn();
    let first = first.finish(Duration::from_secs(120));
    let second = second.finish(Duration::from_secs(120));
    first.assert_exit(0);
    second.assert_exit(0);
    second.assert_output_contains("in use by other testbot runs: waiting for one to free up");
    for (run, json) in [(&first, &first_json), (&second, &second_json)] {
        let report = Report::read(json, run);
        assert_eq!(report.totals(), totals(12, 12, 0, 0, 0), "{}", run.dump());
    }
    for i in 0..2 {
        let (most, _) = max_concurrent(&bed, i);
        // Never beyond its slots, and both slots were used.
        assert_eq!(most, 2, "host {i} ran at most {most} runners at once");
    }
}

#[test]
fn a_run_takes_the_free_slots_and_numbers_its_runners_after_them() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_faults");
    let files = write_suite(&p, 6, 0.4);
    // The first run uses one slot (slot 1) of the host; the second asks for two and gets slot 2.
    p.write("testbot.toml", &bed.inventory_toml(1));
    let other = p.outside("checkout-2");
    copy_tree(&p.root, &other);
    std::fs::write(other.join("testbot.toml"), bed.inventory_toml(2)).unwrap();
    let long: Vec<String> = files.iter().cloned().chain(write_suite(&p, 12, 0.4).into_iter().skip(6)).collect();
    let first = p.testbot(&long).spawn();
    let started = || bed.user_processes(0).iter().any(|(_, c)| c.contains("rspec"));
    assert!(wait_until(Duration::from_secs(30), started), "the first run never started");
    let second = p.testbot(&files).cwd(&other).run();
    second.assert_exit(0);
    second.assert_output_contains("host `host1`: 1 of its 2 slots are in use by other testbot runs; running on slots 2");
    first.finish(Duration::from_secs(120)).assert_exit(0);
    let (most, numbers) = max_concurrent(&bed, 0);
    assert!(most <= 2, "{most}");
    // The first run's runners were slot 1 (TEST_ENV_NUMBER ''), the second's slot 2.
    assert_eq!(numbers, ["", "2"]);
}

#[test]
fn a_host_with_no_free_slot_is_left_out_and_a_killed_runs_slots_come_back() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    let files = write_suite(&p, 8, 0.3);
    let both = bed.inventory_toml(2);
    // The first run uses host1 only, with both its slots; the second checkout may use both hosts.
    let (hosts, rest) = both.split_once("[ssh]").unwrap();
    let host2_port = format!("port = {}", bed.hosts()[1].port);
    let host1_only: Vec<&str> = hosts.split("[[host]]").filter(|s| !s.contains(&host2_port)).collect();
    p.write("testbot.toml", &format!("{}[ssh]{rest}", host1_only.join("[[host]]")));
    let other = p.outside("checkout-2");
    copy_tree(&p.root, &other);
    std::fs::write(other.join("testbot.toml"), &both).unwrap();
    let long: Vec<String> = write_suite(&p, 40, 3.0);
    let first = p.testbot(&long).spawn();
    let both_busy = || bed.user_processes(0).iter().filter(|(_, c)| c.contains("rspec")).count() >= 2;
    assert!(wait_until(Duration::from_secs(30), both_busy), "the first run never filled host1");

    let report_path = p.fresh_path("second", "json");
    let (second, report) = p.testbot(&files).cwd(&other).report_to(&report_path).run_with_report();
    second.assert_exit(0);
    second.assert_output_contains("host `host1` is left out of this run: all its 2 slots are in use by other testbot runs");
    assert_eq!(report.totals(), totals(8, 8, 0, 0, 0), "{}", second.dump());
    assert!(report.files().iter().all(|f| f.host == "host2"), "{:#}", report.json["files"]);

    // testbot dies (kill -9): its connection drops, the lease holder on host1 ends with it, and
    // a later run gets every slot.
    first.signal("KILL");
    let _ = first.finish(Duration::from_secs(10));
    let clean = || bed.user_processes(0).iter().all(|(_, cmd)| cmd.starts_with("sshd"));
    assert!(wait_until(Duration::from_secs(20), clean), "left on host1: {:?}", bed.user_processes(0));
    let report_path = p.fresh_path("third", "json");
    let (third, report) = p.testbot(&files).cwd(&other).report_to(&report_path).run_with_report();
    third.assert_exit(0);
    assert!(!third.combined().contains("in use by other testbot runs"), "{}", third.dump());
    let on = |h: &str| report.hosts().iter().find(|x| x.name == h).map(|x| x.slots);
    assert_eq!((on("host1"), on("host2")), (Some(2), Some(2)), "{:#}", report.json["hosts"]);
}

/// Issue 27 item 3: `[project] env` values reach the spec but never any command line on the
/// host, where every user can read them (`ps`, /proc/*/cmdline).
#[test]
fn project_env_values_are_on_no_command_line_another_user_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let bed = Testbed::start(2);
    let (owner, other) = (&bed.hosts()[0], &bed.hosts()[1]);
    let secret = "postgres://app:S3cr3t@db/app";
    // The spec records what it sees and waits for a marker; both users can reach the directory.
    let marks = tempfile::Builder::new().prefix("testbot-env-marks-").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(marks.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = marks.path().display().to_string();
    let p = Project::new("rspec_faults");
    p.write(
        "spec/secret_spec.rb",
        &format!(
            "RSpec.describe 'env' do\n  it 'sees the secret' do\n    File.write('{dir}/seen', ENV['DATABASE_URL'].to_s)\n    \
             sleep 0.05 until File.exist?('{dir}/go')\n    expect(ENV['DATABASE_URL']).to eq('{secret}')\n  end\nend\n"
        ),
    );
    let both = bed.inventory_toml(1);
    let (hosts, rest) = both.split_once("[ssh]").unwrap();
    let owner_only: Vec<&str> = hosts.split("[[host]]").filter(|s| !s.contains(&format!("port = {}", other.port))).collect();
    p.write("testbot.toml", &format!("{}[ssh]{rest}\n[project]\nenv = {{ DATABASE_URL = \"{secret}\" }}\n", owner_only.join("[[host]]")));
    let json = p.fresh_path("secret", "json");
    let run = p.testbot(["spec/secret_spec.rb"]).report_to(&json).spawn();
    let seen = marks.path().join("seen");
    let mut scans = 0;
    let mut leaks = Vec::new();
    while !seen.exists() && scans < 3000 {
        // The owner's processes read straight from /proc, and `ps` run as the other user.
        for (pid, cmd) in bed.user_processes(0) {
            if cmd.contains("S3cr3t") {
                leaks.push(format!("{pid}: {cmd}"));
            }
        }
        scans += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen.exists(), "the spec never started");
    let ps = std::process::Command::new("runuser").args(["-u", &other.user, "--", "ps", "-eo", "args"]).output().unwrap();
    assert!(ps.status.success(), "{}", String::from_utf8_lossy(&ps.stderr));
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let running: Vec<(u32, String)> = bed.user_processes(0);
    assert!(running.iter().any(|(_, c)| c.contains("rspec") || c.contains("testbot")), "no run seen: {running:?}");
    for (pid, cmd) in &running {
        if cmd.contains("S3cr3t") {
            leaks.push(format!("{pid}: {cmd}"));
        }
    }
    std::fs::write(marks.path().join("go"), "").unwrap();
    let run = run.finish(Duration::from_secs(120));
    assert!(leaks.is_empty(), "the secret is on {} command lines of {}: {:?}", leaks.len(), owner.user, &leaks[..leaks.len().min(3)]);
    assert!(!ps.contains("S3cr3t"), "`ps -eo args` as {} shows the secret:\n{ps}", other.user);
    assert!(ps.lines().any(|l| l.contains("rspec") || l.contains("testbot")), "`ps` as the other user saw no run:\n{ps}");
    // The spec itself got the value.
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), secret);
    run.assert_exit(0);
    assert_eq!(Report::read(&json, &run).totals(), totals(1, 1, 0, 0, 0), "{}", run.dump());
}

/// Issue 27 item 5: `testbot hosts` warns about a host with less free space where its copy goes
/// than the copy needs (here a sparse file makes the project larger than the disk).
#[test]
fn testbot_hosts_warns_when_a_host_has_less_free_space_than_the_copy_needs() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(1));
    let run = p.testbot(["hosts"]).run();
    run.assert_exit(0);
    let row = |run: &common::Run| strip_ansi(&run.stdout).lines().find(|l| l.starts_with("host1")).map(str::to_string).unwrap();
    assert!(row(&run).contains(" ok "), "{}", run.dump());
    // 1 TiB that takes no disk here, but would take it all on the host.
    let big = std::fs::File::create(p.path("fixtures.bin")).unwrap();
    big.set_len(1 << 40).unwrap();
    let run = p.testbot(["hosts"]).run();
    run.assert_exit(0);
    assert!(row(&run).contains(" low-space "), "{}", run.dump());
    run.assert_output_contains("host1: warning: ");
    run.assert_output_contains("less than the project's 1024.0 GB; a first sync there would fail");
}
