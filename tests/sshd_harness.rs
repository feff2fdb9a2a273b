//! The sshd test bed (tests/common/sshd.rs) checked with the system OpenSSH
//! client: hosts log in as their own users, the client files work, crash and
//! hang behave like a real broken host, and nothing outlives a `Testbed`.
//!
//! Needs root and openssh-server/openssh-client, like every test that uses
//! the test bed.

// Included by path so this file does not depend on tests/common/mod.rs
// declaring the module.
#[path = "common/sshd.rs"]
mod sshd;

use sshd::{output_with_timeout, processes_of_uid, user_exists, Testbed, SSH_TIMEOUT};
use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Exit code, stdout and stderr, all exact.
#[track_caller]
fn assert_output(out: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(out.status.code(), Some(code), "exit code\n{}", show(out));
    assert_eq!(text(&out.stdout), stdout, "stdout\n{}", show(out));
    assert_eq!(text(&out.stderr), stderr, "stderr\n{}", show(out));
}

/// Plain `ssh` with a chosen key and known_hosts (no test bed defaults).
fn ssh_with(key: &Path, known_hosts: &Path, port: u16, user: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-i"])
        .arg(key)
        .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(extra)
        .arg("-p")
        .arg(port.to_string())
        .arg("-l")
        .arg(user)
        .arg("127.0.0.1")
        .env_remove("SSH_AUTH_SOCK");
    cmd
}

/// `ssh-keygen -lf`: "BITS SHA256:… comment (TYPE)".
fn fingerprint(pub_key: &Path) -> (String, String, String) {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let line = text(&out.stdout);
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[0].to_string(),
        f[1].to_string(),
        f[f.len() - 1].to_string(),
    )
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child this test started, killed by pid if the test fails first.
struct ChildGuard(Child);

impl ChildGuard {
    fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn has_process(procs: &[(u32, String)], cmdline: &str) -> bool {
    procs.iter().any(|(_, c)| c == cmdline)
}

/// Pids of zombie processes of `uid` (the test bed itself ignores zombies;
/// these tests check that it leaves none).
fn zombies_of_uid(uid: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        if field("State:").as_deref() == Some("Z") && field("Uid:") == Some(uid.to_string()) {
            zombies.push(pid);
        }
    }
    zombies
}

// ---------------------------------------------------------------------------

#[test]
fn hosts_run_commands_as_their_own_users() {
    let tb = Testbed::start(3);
    let hosts = tb.hosts();
    assert_eq!(hosts.len(), 3);

    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["host1", "host2", "host3"]);
    let mut users: Vec<&str> = hosts.iter().map(|h| h.user.as_str()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 3, "every host has its own user");
    let mut ports: Vec<u16> = hosts.iter().map(|h| h.port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3, "every host has its own port");

    for (i, h) in hosts.iter().enumerate() {
        let pid = std::process::id();
        assert!(
            h.user.starts_with(&format!("tbt{pid}t")) && h.user.len() <= 32,
            "user name {:?}",
            h.user
        );
        assert!(
            h.home.starts_with(tb.dir()),
            "home {:?} is in the test bed dir",
            h.home
        );
        // A fresh host runs exactly one process: its listening sshd.
        let procs = tb.user_processes(i);
        assert_eq!(procs.len(), 1, "{}: {procs:?}", h.name);
        assert_eq!(procs[0].0, h.pid, "{}: {procs:?}", h.name);
        assert!(procs[0].1.starts_with("sshd: "), "{}: {procs:?}", h.name);

        assert_output(&tb.ssh(i, "id -un"), 0, &format!("{}\n", h.user), "");
        assert_output(&tb.ssh(i, "id -u"), 0, &format!("{}\n", h.uid), "");
        assert_output(
            &tb.ssh(i, "echo $HOME"),
            0,
            &format!("{}\n", h.home.display()),
            "",
        );
        assert_output(&tb.ssh(i, "exit 7"), 7, "", "");
        // Each host is its own PID namespace, with sshd as its PID 1.
        assert_output(&tb.ssh(i, "cat /proc/1/comm"), 0, "sshd\n", "");
        // The home is the user's, writable, and has no remote dir yet.
        assert_output(
            &tb.ssh(i, "test ! -e work && mkdir work && cd work && pwd"),
            0,
            &format!("{}/work\n", h.home.display()),
            "",
        );
    }
}

#[test]
fn ssh_config_aliases_reach_every_host() {
    let tb = Testbed::start(3);
    let config = fs::read_to_string(tb.ssh_config()).unwrap();
    for h in tb.hosts() {
        let block = format!(
            "Host {}\n    HostName 127.0.0.1\n    Port {}\n    User {}\n    IdentityFile {}\n",
            h.name,
            h.port,
            h.user,
            tb.client_key().display()
        );
        assert!(config.contains(&block), "missing {block:?} in\n{config}");
        assert!(config.contains(&format!(
            "UserKnownHostsFile {}\n",
            tb.known_hosts().display()
        )));
    }

    let mut cmd = Command::new("ssh");
    cmd.arg("-F").arg(tb.ssh_config()).args(["host2", "true"]);
    assert_output(&output_with_timeout(cmd, SSH_TIMEOUT), 0, "", "");

    for h in tb.hosts() {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(tb.ssh_config())
            .args([h.name.as_str(), "id -un"]);
        assert_output(
            &output_with_timeout(cmd, SSH_TIMEOUT),
            0,
            &format!("{}\n", h.user),
            "",
        );
    }
}

#[test]
fn rsa_client_key_authenticates_with_rsa_sha2() {
    let tb = Testbed::start(1);
    let h = &tb.hosts()[0];
    let (bits, fp, kind) = fingerprint(&tb.rsa_client_key().with_extension("pub"));
    assert_eq!((bits.as_str(), kind.as_str()), ("3072", "(RSA)"));

    let mut cmd = ssh_with(
        tb.rsa_client_key(),
        tb.known_hosts(),
        h.port,
        &h.user,
        &["-o", "PubkeyAcceptedAlgorithms=rsa-sha2-512,rsa-sha2-256"],
    );
    cmd.args(["--", "id -un"]);
    assert_output(
        &output_with_timeout(cmd, SSH_TIMEOUT),
        0,
        &format!("{}\n", h.user),
        "",
    );
    let log = h.log();
    let accepted = format!("Accepted publickey for {} from 127.0.0.1 port ", h.user);
    let rsa_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&accepted) && l.trim_end().ends_with(&format!(" ssh2: RSA {fp}")))
        .collect();
    assert_eq!(rsa_lines.len(), 1, "one RSA login in the sshd log:\n{log}");

    // And the ed25519 key is the one Testbed::ssh uses.
    assert_output(&tb.ssh(0, "true"), 0, "", "");
    let (_, ed_fp, ed_kind) = fingerprint(&tb.client_key().with_extension("pub"));
    assert_eq!(ed_kind, "(ED25519)");
    assert!(
        h.log().lines().any(|l| {
            l.contains(&accepted) && l.trim_end().ends_with(&format!(" ssh2: ED25519 {ed_fp}"))
        }),
        "no ed25519 login in the sshd log:\n{}",
        h.log()
    );
}

#[test]
fn known_hosts_pins_each_hosts_own_ed25519_key() {
    let tb = Testbed::start(2);
    let known = fs::read_to_string(tb.known_hosts()).unwrap();
    let expected: String = tb
        .hosts()
        .iter()
        .map(|h| {
            let key = fs::read_to_string(&h.host_key_pub).unwrap();
            let f: Vec<&str> = key.split_whitespace().collect();
            assert_eq!(f[0], "ssh-ed25519");
            format!("[127.0.0.1]:{} {} {}\n", h.port, f[0], f[1])
        })
        .collect();
    assert_eq!(known, expected);
    let (a, b) = (&tb.hosts()[0], &tb.hosts()[1]);
    assert_ne!(
        fs::read_to_string(&a.host_key_pub)
            .unwrap()
            .split_whitespace()
            .nth(1),
        fs::read_to_string(&b.host_key_pub)
            .unwrap()
            .split_whitespace()
            .nth(1),
        "hosts have distinct host keys"
    );

    // host1's key listed for host2's port: strict checking refuses host2.
    let wrong = tb.dir().join("known_hosts.wrong");
    let a_key = known
        .lines()
        .next()
        .unwrap()
        .split_once(' ')
        .unwrap()
        .1
        .to_string();
    fs::write(&wrong, format!("[127.0.0.1]:{} {a_key}\n", b.port)).unwrap();
    let mut cmd = ssh_with(tb.client_key(), &wrong, b.port, &b.user, &[]);
    cmd.args(["--", "true"]);
    let out = output_with_timeout(cmd, SSH_TIMEOUT);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("Host key verification failed."),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        show(&out)
    );

    // An unknown host is refused too.
    let empty = tb.dir().join("known_hosts.empty");
    fs::write(&empty, "").unwrap();
    let mut cmd = ssh_with(tb.client_key(), &empty, a.port, &a.user, &[]);
    cmd.args(["--", "true"]);
    let out = output_with_timeout(cmd, SSH_TIMEOUT);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert_eq!(
        text(&out.stderr).replace('\r', ""),
        format!(
            "No ED25519 host key is known for [127.0.0.1]:{} and you have requested strict \
             checking.\nHost key verification failed.\n",
            a.port
        ),
        "{}",
        show(&out)
    );
    assert_eq!(
        fs::read_to_string(&empty).unwrap(),
        "",
        "strict checking added nothing"
    );
    assert_eq!(
        fs::read_to_string(tb.known_hosts()).unwrap(),
        known,
        "known_hosts unchanged"
    );
}

#[test]
fn inventory_toml_describes_every_host() {
    let tb = Testbed::start(2);
    let inventory = tb.inventory_toml(3);
    let value: toml::Value =
        toml::from_str(&inventory).unwrap_or_else(|e| panic!("{e}\n{inventory}"));
    let table = value.as_table().unwrap();
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(keys, ["host", "ssh"], "{inventory}");

    let hosts = table["host"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for (entry, h) in hosts.iter().zip(tb.hosts()) {
        let mut expected = toml::value::Table::new();
        expected.insert("name".into(), h.name.clone().into());
        expected.insert("address".into(), "127.0.0.1".into());
        expected.insert("port".into(), i64::from(h.port).into());
        expected.insert("user".into(), h.user.clone().into());
        expected.insert("identity".into(), tb.client_key().to_str().unwrap().into());
        expected.insert("slots".into(), 3i64.into());
        assert_eq!(entry.as_table().unwrap(), &expected, "{inventory}");
    }
    let mut ssh = toml::value::Table::new();
    ssh.insert(
        "known_hosts".into(),
        tb.known_hosts().to_str().unwrap().into(),
    );
    ssh.insert("host_key_checking".into(), "strict".into());
    assert_eq!(table["ssh"].as_table().unwrap(), &ssh, "{inventory}");
}

#[test]
fn kill_host_crashes_only_that_host() {
    let tb = Testbed::start(3);
    let crashed = &tb.hosts()[1];

    // A session in progress on the host that crashes.
    let mut session = tb.ssh_command(1, &[], "sleep 300");
    session.stdout(Stdio::null()).stderr(Stdio::null());
    let mut session = ChildGuard(session.spawn().unwrap());
    assert!(
        wait_until(Duration::from_secs(10), || has_process(
            &tb.user_processes(1),
            "sleep 300"
        )),
        "the session never started: {:?}",
        tb.user_processes(1)
    );

    tb.kill_host(1);
    assert_eq!(tb.user_processes(1), vec![]);
    assert_eq!(processes_of_uid(crashed.uid), vec![]);
    assert_eq!(
        zombies_of_uid(crashed.uid),
        vec![],
        "the crash left zombies"
    );
    let status = session.wait_timeout(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(255),
        "the client sees the connection drop"
    );

    let out = tb.ssh(1, "true");
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "ssh: connect to host 127.0.0.1 port {}: Connection refused",
            crashed.port
        ),
        "{}",
        show(&out)
    );

    for i in [0, 2] {
        assert_output(
            &tb.ssh(i, "id -un"),
            0,
            &format!("{}\n", tb.hosts()[i].user),
            "",
        );
    }
}

#[test]
fn stop_host_hangs_it_until_cont_host() {
    let tb = Testbed::start(2);
    let hung = &tb.hosts()[0];
    tb.stop_host(0);
    assert_eq!(
        tb.user_processes(0).len(),
        1,
        "the stopped sshd is still there"
    );

    let out = output_with_timeout(
        tb.ssh_command(0, &["-o", "ConnectTimeout=2"], "true"),
        SSH_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert_eq!(text(&out.stdout), "");
    // TCP connects (the kernel queues it), then no banner ever comes: ssh gives up on its own
    // ConnectTimeout (this message), not on our SSH_TIMEOUT. How long that takes is not asserted:
    // wall time on a loaded 2-core machine is not a property of the test bed.
    assert_eq!(
        text(&out.stderr).replace('\r', ""),
        "Connection timed out during banner exchange\n",
        "{}",
        show(&out)
    );

    // The other host is unaffected.
    assert_output(
        &tb.ssh(1, "id -un"),
        0,
        &format!("{}\n", tb.hosts()[1].user),
        "",
    );

    tb.cont_host(0);
    assert_output(&tb.ssh(0, "id -un"), 0, &format!("{}\n", hung.user), "");

    // A test bed dropped while a host hangs still goes away completely.
    tb.stop_host(1);
    let (user, uid) = (tb.hosts()[1].user.clone(), tb.hosts()[1].uid);
    drop(tb);
    assert!(!user_exists(&user), "{user} survived");
    assert_eq!(processes_of_uid(uid), vec![]);
    assert_eq!(zombies_of_uid(uid), vec![]);
}

#[test]
fn drop_deletes_users_processes_and_files() {
    let tb = Testbed::start(2);
    // A process that outlives its session, as a leaked test worker would.
    assert_output(
        &tb.ssh(0, "sleep 300 </dev/null >/dev/null 2>&1 &"),
        0,
        "",
        "",
    );
    assert!(
        wait_until(Duration::from_secs(10), || has_process(
            &tb.user_processes(0),
            "sleep 300"
        )),
        "{:?}",
        tb.user_processes(0)
    );
    let users: Vec<(String, u32)> = tb.hosts().iter().map(|h| (h.user.clone(), h.uid)).collect();
    let dir = tb.dir().to_path_buf();
    for (user, _) in &users {
        assert!(user_exists(user));
    }

    drop(tb);

    for (user, uid) in &users {
        let out = Command::new("id").arg(user).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(text(&out.stderr).contains("no such user"), "{}", show(&out));
        assert!(!user_exists(user));
        assert_eq!(
            processes_of_uid(*uid),
            vec![],
            "processes of {user} after drop"
        );
        assert_eq!(zombies_of_uid(*uid), vec![], "zombies of {user} after drop");
    }
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn a_panicking_test_still_cleans_up() {
    let mut seen: Option<(String, u32, PathBuf)> = None;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let tb = Testbed::start(1);
        let h = &tb.hosts()[0];
        seen = Some((h.user.clone(), h.uid, tb.dir().to_path_buf()));
        panic!("a failing test (expected by a_panicking_test_still_cleans_up)");
    }));
    assert!(result.is_err());
    let (user, uid, dir) = seen.expect("the test bed started");
    assert!(!user_exists(&user), "{user} survived the panic");
    assert_eq!(processes_of_uid(uid), vec![]);
    assert!(!dir.exists(), "{} survived the panic", dir.display());
}

#[test]
fn two_testbeds_at_once_share_nothing() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Testbed::start(2));
        let b = s.spawn(|| Testbed::start(2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let all: Vec<_> = a.hosts().iter().chain(b.hosts()).collect();
    let mut users: Vec<&str> = all.iter().map(|h| h.user.as_str()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 4);
    let mut ports: Vec<u16> = all.iter().map(|h| h.port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    assert_ne!(a.dir(), b.dir());

    assert_output(
        &a.ssh(0, "id -un"),
        0,
        &format!("{}\n", a.hosts()[0].user),
        "",
    );
    assert_output(
        &b.ssh(1, "id -un"),
        0,
        &format!("{}\n", b.hosts()[1].user),
        "",
    );

    // Each test bed has its own client key: a's is not authorized on b.
    let bh = &b.hosts()[0];
    let mut cmd = ssh_with(a.client_key(), b.known_hosts(), bh.port, &bh.user, &[]);
    cmd.args(["--", "true"]);
    let out = output_with_timeout(cmd, SSH_TIMEOUT);
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("{}@127.0.0.1: Permission denied (publickey).", bh.user),
        "{}",
        show(&out)
    );
}

#[test]
fn leftovers_of_a_dead_test_process_are_cleaned_up() {
    // Started first: this also runs the once-per-process cleanup now, so it
    // cannot race with the leftover made below.
    let tb = Testbed::start(1);

    // A pid that no longer exists stands for a test process that was killed.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    assert!(!Path::new(&format!("/proc/{dead_pid}")).exists());

    let name = format!("tbt{dead_pid}t0h1");
    let tb_dir = tempfile::Builder::new()
        .prefix(&format!("testbot-sshd-{dead_pid}-"))
        .tempdir_in(sshd::testbed_base_dir())
        .unwrap()
        .keep();
    let home = tb_dir.join("host1").join("home");
    fs::create_dir_all(&home).unwrap();
    let gecos = format!("testbot sshd testbed pid={dead_pid} start=1");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("useradd")
            .args(["-M", "-U", "-s", "/bin/sh", "-p", "*", "-c", &gecos, "-d"])
            .arg(&home)
            .arg(&name)
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => break,
            // Another test is adding a user right now.
            Some(1 | 10) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => panic!("useradd {name}: {}", show(&out)),
        }
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(&name).output().unwrap();
        text(&out.stdout).trim().parse().unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    // A process the dead test left running.
    use std::os::unix::process::CommandExt;
    let mut leftover = ChildGuard(
        Command::new("sleep")
            .arg("301")
            .uid(uid)
            .gid(gid)
            .current_dir("/")
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(10), || has_process(
            &processes_of_uid(uid),
            "sleep 301"
        )),
        "{:?}",
        processes_of_uid(uid)
    );

    sshd::cleanup_stale();

    assert!(!user_exists(&name), "{name} was not cleaned up");
    assert_eq!(processes_of_uid(uid), vec![]);
    assert!(leftover.wait_timeout(Duration::from_secs(5)).is_some());
    assert!(!tb_dir.exists(), "{} was not removed", tb_dir.display());

    // A live test bed of this process is left alone.
    assert!(user_exists(&tb.hosts()[0].user));
    assert_output(
        &tb.ssh(0, "id -un"),
        0,
        &format!("{}\n", tb.hosts()[0].user),
        "",
    );
}

#[test]
fn four_hosts_start_and_each_answers_as_its_own_user() {
    // How fast a test bed starts is a benchmark's question (bench/testbed.sh), not a test's.
    let tb = Testbed::start(4);
    assert_eq!(tb.hosts().len(), 4);
    for (i, h) in tb.hosts().iter().enumerate() {
        assert_output(&tb.ssh(i, "id -un"), 0, &format!("{}\n", h.user), "");
    }
}
