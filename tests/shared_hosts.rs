//! Hosts shared by several testbot runs (other users, other checkouts): slot leases on the host
//! keep the batches running there at once within its slots, and another user can neither turn
//! them off nor make one user's runs share a slot (issue 27).

mod common;

use common::batches::{max_concurrent, write_suite};
use common::sshd::{Options, Testbed};
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The first checkout's runners (its `.rspec` requires this; the second's has none): each waits
/// before its suite until `~/release` exists on its host (at most a minute).
const HOLD: &str = r#"
RSpec.configure do |c|
  c.before(:suite) do
    deadline = Time.now + 60
    sleep 0.05 until File.exist?(File.join(Dir.home, "release")) || Time.now > deadline
  end
end
"#;

#[test]
fn two_runs_on_the_same_hosts_never_exceed_their_slots() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_faults");
    let files = write_suite(&p, 12, 0.4);
    p.write("testbot.toml", &bed.inventory_toml(2));
    // A second checkout of the same project: its own remote dir, the same hosts.
    let other = p.outside("checkout-2");
    copy_tree(&p.root, &other);
    // The first run's runners hold their slots until the test releases them (`~/release` on
    // the host), once the second run waits for a slot: however long the second takes to connect
    // and sync under load, the first has not ended (and freed its slots) before it asks.
    p.write("spec/support/hold.rb", HOLD);
    p.write(".rspec", "--require ./spec/support/hold.rb\n");
    let first_json = p.fresh_path("first", "json");
    let second_json = p.fresh_path("second", "json");
    let first = p.testbot(&files).report_to(&first_json).spawn();
    let busy = || (0..2).all(|i| bed.user_processes(i).iter().any(|(_, c)| c.contains("rspec")));
    assert!(wait_until(Duration::from_secs(60), busy), "the first run never got going on both hosts");
    let second = p.testbot(&files).cwd(&other).report_to(&second_json).spawn();
    // Its lease process waiting for a slot (`ruby … -e SCRIPT /tmp KEY 2 wait`) on either host.
    let waiting = || (0..2).any(|i| bed.user_processes(i).iter().any(|(_, c)| c.starts_with("ruby") && c.trim_end().ends_with(" wait")));
    let waited = wait_until(Duration::from_secs(60), waiting);
    for i in 0..2 {
        bed.ssh(i, "touch release");
    }
    assert!(waited, "the second run never waited for a slot: {:?} {:?}", bed.user_processes(0), bed.user_processes(1));
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

/// The lease directories' name for the test bed's (shared) host key: the first 20 letters and
/// digits of its SHA-256 fingerprint.
fn lease_key(bed: &Testbed) -> String {
    let out = std::process::Command::new("ssh-keygen").arg("-lf").arg(&bed.hosts()[0].host_key_pub).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = text.split_whitespace().nth(1).unwrap_or_else(|| panic!("ssh-keygen -lf: {text}"));
    fingerprint.trim_start_matches("SHA256:").chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect()
}

/// Paths a test plants in the machine's /tmp, removed (as root) when it ends, also on failure:
/// later test users may get the same uids.
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => drop(std::fs::remove_dir_all(p)),
                Ok(_) => drop(std::fs::remove_file(p)),
                Err(_) => {}
            }
        }
    }
}

/// Runs `script` on host `i` as its user (the second user's attack), and asserts it worked.
#[track_caller]
fn as_user(bed: &Testbed, i: usize, script: &str) {
    let out = bed.ssh(i, script);
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// What is in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn another_user_can_neither_turn_off_nor_steal_a_users_slot_leases() {
    // Three accounts of one machine (sshds sharing a host key): A and C run testbot, B attacks.
    let bed = Testbed::start_with(3, Options { shared_host_key: true, ..Options::default() });
    let (a, b, c) = (&bed.hosts()[0], &bed.hosts()[1], &bed.hosts()[2]);
    // The machine's lease root as testbot makes it (root's here: other tests share it).
    let root = Path::new("/tmp/testbot-slots");
    if std::fs::create_dir(root).is_ok() {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let key = lease_key(&bed);
    let shared = root.join(&key);
    let own = |uid: u32| PathBuf::from(format!("/tmp/testbot-slots-{uid}"));
    let _planted = Planted(vec![shared.clone(), root.join(format!("{key}.aside")), own(a.uid), own(c.uid)]);
    let p = Project::new("rspec_faults");
    let long = write_suite(&p, 12, 1.0);
    let short: Vec<String> = long[..4].to_vec();
    let checkout = |name: &str, host: usize| {
        let dir = p.outside(name);
        copy_tree(&p.root, &dir);
        std::fs::write(dir.join("testbot.toml"), bed.one_host_toml(host, 2)).unwrap();
        dir
    };
    let (a1, a2, c1) = (checkout("a-1", 0), checkout("a-2", 0), checkout("c-1", 2));

    // B plants C's own lease directory and the machine's as links to C's ~/.ssh. C's run
    // leaves the host out, and writes nothing there.
    let c_ssh = c.home.join(".ssh");
    as_user(&bed, 1, &format!("ln -s {0} {1} && ln -s {0} {2}", c_ssh.display(), own(c.uid).display(), shared.display()));
    let run = p.testbot(&short).cwd(&c1).run();
    run.assert_exit(3);
    run.assert_output_contains(&format!(
        "host `host3` is left out of this run: its slot leases cannot be taken safely: {} is a symlink owned by {} (uid {})",
        own(c.uid).display(),
        b.user,
        b.uid
    ));
    assert_eq!(names(&c_ssh), ["authorized_keys"]);
    // The machine's alone: C's run takes no lock through it (today's main made slot-1.lock and
    // slot-2.lock in C's ~/.ssh) and says why; its own leases keep C's runs apart.
    as_user(&bed, 1, &format!("rm {}", own(c.uid).display()));
    let run = p.testbot(&short).cwd(&c1).run();
    run.assert_exit(0);
    run.assert_output_contains(&format!(
        "host `host3`: other users' testbot runs may use its slots at the same time as this run (your own runs still keep apart): \
         {} is a symlink owned by {} (uid {})",
        shared.display(),
        b.user,
        b.uid
    ));
    assert_eq!(names(&c_ssh), ["authorized_keys"]);

    // B makes the machine's lease directory for A's host key, mode 0755, where A cannot make
    // lock files (today's main then ran A's runs unleased, on the same slots at once).
    as_user(&bed, 1, &format!("rm {0} && mkdir -m 0755 {0}", shared.display()));
    let first_json = p.fresh_path("first", "json");
    let first = p.testbot(&long).cwd(&a1).report_to(&first_json).spawn();
    let busy = || bed.user_processes(0).iter().any(|(_, cmd)| cmd.contains("rspec"));
    if !wait_until(Duration::from_secs(60), busy) {
        first.kill_group();
        panic!("A's first run never started\n{}", first.finish(Duration::from_secs(5)).dump());
    }
    // While it holds its slots, B (the directory's owner) moves it aside: A's second run still
    // finds its slots taken and waits for them.
    as_user(&bed, 1, &format!("mv {} {}.aside", shared.display(), shared.display()));
    let second_json = p.fresh_path("second", "json");
    let second = p.testbot(&short).cwd(&a2).report_to(&second_json).run();
    let first = first.finish(Duration::from_secs(120));
    first.assert_exit(0);
    first.assert_output_contains(&format!(
        "host `host1`: other users' testbot runs may use its slots at the same time as this run (your own runs still keep apart): \
         {} is a directory owned by {} (uid {}) with mode 0755; it must be a directory with the sticky bit",
        shared.display(),
        b.user,
        b.uid
    ));
    second.assert_exit(0);
    second.assert_output_contains("every slot of host1 is in use by other testbot runs: waiting for one to free up");
    assert_eq!(Report::read(&first_json, &first).totals(), totals(12, 12, 0, 0, 0), "{}", first.dump());
    assert_eq!(Report::read(&second_json, &second).totals(), totals(4, 4, 0, 0, 0), "{}", second.dump());
    // From the runners' own log: never more than A's 2 slots at once, numbered "" and "2".
    assert_eq!(max_concurrent(&bed, 0), (2, vec![String::new(), "2".to_string()]));
    // A's own lock files: in A's 0700 directory, A's.
    let mine = own(a.uid).join(&key);
    assert_eq!(names(&mine), ["slot-1.lock", "slot-2.lock"]);
    for path in [own(a.uid), mine.clone(), mine.join("slot-1.lock")] {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.uid(), a.uid, "{}", path.display());
        assert_eq!(meta.mode() & 0o077, 0, "{}", path.display());
    }
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
    p.write("testbot.toml", &format!("{}\n[project]\nenv = {{ DATABASE_URL = \"{secret}\" }}\n", bed.one_host_toml(0, 1)));
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
