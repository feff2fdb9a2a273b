//! Real OpenSSH `sshd` hosts on 127.0.0.1 for integration tests: a [`Testbed`]
//! creates one throwaway unix user per host and runs an unprivileged sshd as
//! that user on a free loopback port, with client keys, a known_hosts file and
//! an ssh_config to reach them.
//!
//! Needs root (it runs `useradd`) and `/usr/sbin/sshd` (Debian: openssh-server,
//! openssh-client). A `Testbed` owns everything it made: dropping it, also while
//! a failing test unwinds, kills every process of its users, deletes the users
//! and removes its tempdir. Users left by a test process that died without
//! unwinding (SIGKILL, a nextest timeout) are deleted by the next
//! `Testbed::start` on the machine.
//!
//! Each sshd runs as PID 1 of its own PID namespace (`unshare --pid --fork
//! --mount-proc`), so a host sees only its own processes, and the processes a
//! crash orphans are reaped by the namespace, not left as zombies under a
//! machine init that does not reap (as on the dev/CI machines). Zombies are
//! not counted as processes anywhere here.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The OpenSSH server binary (run with an absolute path: sshd re-execs itself).
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long one host may take to listen and answer with its SSH banner.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Testbed::ssh`] lets the client run before killing it.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long killing (or stopping) a user's processes may take. Generous: a process in
/// uninterruptible sleep (state D: paging its binary in on a machine busy with builds) takes
/// the signal only when its read ends, and that took over 5 s here once.
pub const SIGNAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Test users are `tbt<creator pid>t<testbed seq>h<host number>`.
const USER_PREFIX: &str = "tbt";
/// The passwd comment (GECOS) of every test user starts with this and names
/// the creating process by pid and start time, so that a later run can tell a
/// leftover from a live test bed even when the pid has been reused.
const GECOS_MARK: &str = "testbot sshd testbed";
/// Testbed tempdirs are `<tmp>/testbot-sshd-<pid>-XXXXXX`.
const DIR_PREFIX: &str = "testbot-sshd-";
/// Test users always get a uid from useradd's normal range; nothing here ever
/// signals or deletes an account outside it.
const MIN_TEST_UID: u32 = 1000;

static TESTBED_SEQ: AtomicUsize = AtomicUsize::new(0);
/// `useradd`/`userdel` lock /etc/passwd and fail rather than wait: one at a
/// time within this process, with retries against other processes.
static PASSWD_LOCK: Mutex<()> = Mutex::new(());
static STALE_CLEANUP: Once = Once::new();
/// Ports handed out by this process, never handed out twice.
static USED_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// One sshd host: a unix user with its own sshd on 127.0.0.1:`port`.
#[derive(Debug)]
pub struct SshdHost {
    /// "host1", "host2", … (also the alias in [`Testbed::ssh_config`]).
    pub name: String,
    /// The unix user sshd runs as and that clients log in as.
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The user's home, owned by the user. `<home>/work` does not exist yet:
    /// creating the remote dir is the job of the code under test.
    pub home: PathBuf,
    /// The ed25519 host public key (`ssh-ed25519 AAAA… comment`).
    pub host_key_pub: PathBuf,
    /// The RSA host public key (sshd offers both; known_hosts lists only ed25519).
    pub rsa_host_key_pub: PathBuf,
    /// The sshd_config this host runs with.
    pub config: PathBuf,
    /// sshd's log (`-e`: everything it and its per-connection children log).
    pub log_file: PathBuf,
    /// Pid of the listening sshd (as seen from the test; it is PID 1 in its
    /// own namespace).
    pub pid: u32,
    /// sshd's `LogLevel`.
    pub log_level: &'static str,
    /// Where every command this host runs is recorded ([`Options::record_commands`]).
    pub records: Option<PathBuf>,
    /// The `unshare` process the sshd runs under.
    child: Mutex<Option<Child>>,
}

impl SshdHost {
    /// The sshd log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Every command this host has run so far, in the order they came (exec requests, as the
    /// client sent them); needs [`Options::record_commands`].
    pub fn commands(&self) -> Vec<String> {
        let dir = self.records.as_ref().expect("the test bed records commands only with Options::record_commands");
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read the command records")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("cmd-"))
            .collect();
        names.sort_by_key(|n| n.split('-').nth(1).and_then(|t| t.parse::<u128>().ok()).unwrap_or(0));
        names.iter().map(|n| fs::read_to_string(dir.join(n)).unwrap_or_default()).collect()
    }

    /// Forgets the commands recorded so far.
    pub fn clear_commands(&self) {
        for command in fs::read_dir(self.records.as_ref().expect("records")).expect("read the command records").flatten() {
            if command.file_name().to_string_lossy().starts_with("cmd-") {
                let _ = fs::remove_file(command.path());
            }
        }
    }

    /// Every command of this host whose text contains `word` waits before it runs (recorded
    /// already) until [`SshdHost::release`]; needs [`Options::record_commands`].
    pub fn hold(&self, word: &str) {
        assert!(!word.contains('/'), "{word}");
        fs::write(self.records.as_ref().expect("records").join(format!("hold-{word}")), "").expect("write a hold");
    }

    /// The commands held by [`SshdHost::hold`] run.
    pub fn release(&self, word: &str) {
        let _ = fs::remove_file(self.records.as_ref().expect("records").join(format!("hold-{word}")));
    }
}

/// The forced command of a host that records its commands: each in a file of its own (named by
/// when it came), then run as sshd runs it, after waiting while a hold names a word of it. Its
/// shell's pid stays the session's (`exec` both times): the watchdog kills the group `$$`.
const RECORDER: &str = r#"#!/bin/sh
r=RECORDS
printf '%s' "$SSH_ORIGINAL_COMMAND" > "$r/cmd-$(date +%s%N)-$$"
for h in "$r"/hold-*; do
  [ -e "$h" ] || continue
  case $SSH_ORIGINAL_COMMAND in *"${h##*/hold-}"*) while [ -e "$h" ]; do sleep 0.05; done;; esac
done
exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND"
"#;

/// How a [`Testbed`]'s hosts differ from the default ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// sshd's `LogLevel` (default `INFO`); `DEBUG1` logs every channel request
    /// (`session_input_channel_req: session N req exec`), so a test can count
    /// the commands a client ran.
    pub log_level: Option<&'static str>,
    /// Every command a host runs is recorded before it runs (a `ForceCommand` that writes it
    /// down, then runs it with the user's shell): [`SshdHost::commands`], [`SshdHost::hold`].
    pub record_commands: bool,
    /// Every host gets host1's host keys: several users' sshds that are one
    /// machine to a client (the same host key), as when two accounts log in to
    /// one sshd.
    pub shared_host_key: bool,
}

/// A set of sshd hosts and the client-side files to reach them; see the
/// module docs for what dropping it does.
pub struct Testbed {
    hosts: Vec<SshdHost>,
    /// Every user created, in order, even if start() failed before its host
    /// was complete: Drop deletes exactly these.
    users: Vec<String>,
    dir: PathBuf,
    client_key: PathBuf,
    rsa_client_key: PathBuf,
    known_hosts: PathBuf,
    ssh_config: PathBuf,
    tmp: Option<TempDir>,
}

impl Testbed {
    /// Start `n` sshd hosts and wait until each one answers on its port with
    /// an SSH banner. Panics (with sshd's log) if one does not come up.
    pub fn start(n: usize) -> Testbed {
        Testbed::start_with(n, Options::default())
    }

    /// [`Testbed::start`] with [`Options`].
    pub fn start_with(n: usize, options: Options) -> Testbed {
        assert!(n >= 1, "a test bed needs at least one host");
        preflight();
        STALE_CLEANUP.call_once(cleanup_stale);

        let seq = TESTBED_SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{pid}-"))
            .tempdir_in(testbed_base_dir())
            .expect("create the test bed tempdir");
        let dir = tmp.path().to_path_buf();
        let text = dir.to_string_lossy();
        assert!(
            !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == '#'),
            "the test bed tempdir {text:?} must not contain spaces, quotes, backslashes or #: \
             it goes into sshd_config and ssh_config unquoted"
        );
        // The test users must be able to reach their homes inside it.
        set_mode(&dir, 0o755);

        let mut tb = Testbed {
            hosts: Vec::with_capacity(n),
            users: Vec::with_capacity(n),
            client_key: dir.join("id_ed25519"),
            rsa_client_key: dir.join("id_rsa"),
            known_hosts: dir.join("known_hosts"),
            ssh_config: dir.join("ssh_config"),
            dir,
            tmp: Some(tmp),
        };

        // Key generation runs as separate processes while the users are
        // created one by one. ed25519 keys are fresh for every test bed; RSA
        // keys come from a cache (see `RsaKey`).
        let mut keygens = vec![Keygen::spawn(
            "ed25519",
            &tb.client_key,
            "testbot-testbed-client",
        )];
        let mut rsa_keys = vec![(RsaKey::get("client"), tb.rsa_client_key.clone())];
        for k in 1..=n {
            let host_dir = tb.dir.join(format!("host{k}"));
            // An ancestor of the host's home: testbot refuses a remote dir below one that
            // group or others may write (as sshd's StrictModes does), whatever the umask.
            mkdir(&host_dir, 0o755);
            let keys = host_dir.join("keys");
            mkdir(&keys, 0o755);
            mkdir(&host_dir.join("home"), 0o755);
            let comment = format!("testbot-testbed-host{k}");
            keygens.push(Keygen::spawn(
                "ed25519",
                &keys.join("ssh_host_ed25519_key"),
                &comment,
            ));
            rsa_keys.push((
                RsaKey::get(&format!("host{k}")),
                keys.join("ssh_host_rsa_key"),
            ));
        }

        let (creator_pid, creator_start) = (pid, own_start_time());
        for k in 1..=n {
            let name = format!("{USER_PREFIX}{pid}t{seq}h{k}");
            let host_dir = tb.dir.join(format!("host{k}"));
            let home = host_dir.join("home");
            let gecos = format!("{GECOS_MARK} pid={creator_pid} start={creator_start}");
            let (uid, gid) = create_user(&name, &home, &gecos, &mut tb.users);
            let keys = host_dir.join("keys");
            tb.hosts.push(SshdHost {
                name: format!("host{k}"),
                user: name,
                uid,
                gid,
                port: 0,
                home,
                host_key_pub: keys.join("ssh_host_ed25519_key.pub"),
                rsa_host_key_pub: keys.join("ssh_host_rsa_key.pub"),
                config: host_dir.join("sshd_config"),
                log_file: host_dir.join("sshd.log"),
                pid: 0,
                log_level: options.log_level.unwrap_or("INFO"),
                records: options.record_commands.then(|| host_dir.join("commands")),
                child: Mutex::new(None),
            });
        }
        for keygen in keygens {
            keygen.finish();
        }
        for (key, to) in rsa_keys {
            key.finish_and_copy(&to);
        }
        if options.shared_host_key {
            let first = tb.hosts[0].host_key_pub.parent().unwrap().to_path_buf();
            for h in &tb.hosts[1..] {
                let keys = h.host_key_pub.parent().unwrap();
                for entry in fs::read_dir(&first).expect("read host1's key dir") {
                    let from = entry.expect("host key dir entry").path();
                    fs::copy(&from, keys.join(from.file_name().unwrap())).expect("copy host1's host key");
                }
            }
        }

        let authorized = format!(
            "{}\n{}\n",
            read_trimmed(&tb.client_key.with_extension("pub")),
            read_trimmed(&tb.rsa_client_key.with_extension("pub"))
        );
        for h in &tb.hosts {
            let ssh_dir = h.home.join(".ssh");
            mkdir(&ssh_dir, 0o700);
            let ak = ssh_dir.join("authorized_keys");
            fs::write(&ak, &authorized).expect("write authorized_keys");
            set_mode(&ak, 0o600);
            for path in [&h.home, &ssh_dir, &ak] {
                chown(path, h.uid, h.gid);
            }
            if let Some(records) = &h.records {
                mkdir(records, 0o755);
                chown(records, h.uid, h.gid);
                let recorder = records.with_file_name("record-command");
                fs::write(&recorder, RECORDER.replace("RECORDS", &records.to_string_lossy())).expect("write the recorder");
                set_mode(&recorder, 0o755);
            }
            // sshd refuses a private host key that is not its own or that
            // others can read.
            let keys = h.host_key_pub.parent().unwrap();
            for entry in fs::read_dir(keys).expect("read host key dir") {
                chown(&entry.expect("host key dir entry").path(), h.uid, h.gid);
            }
        }

        // Start every sshd at once, each from its own thread.
        let launches: Vec<Launch> = std::thread::scope(|s| {
            let threads: Vec<_> = tb
                .hosts
                .iter()
                .map(|h| s.spawn(move || launch(h)))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("sshd launcher thread panicked"))
                .collect()
        });
        let mut failures = Vec::new();
        for (h, launch) in tb.hosts.iter_mut().zip(launches) {
            h.port = launch.port;
            h.pid = launch.sshd_pid;
            if let Some(child) = launch.child {
                *lock(&h.child) = Some(child);
            }
            if let Err(e) = launch.result {
                failures.push(format!(
                    "{} ({}): {e}\n--- sshd log ---\n{}",
                    h.name,
                    h.user,
                    h.log()
                ));
            }
        }
        if !failures.is_empty() {
            panic!("the sshd test bed did not start:\n{}", failures.join("\n"));
        }

        tb.write_client_files();
        tb
    }

    pub fn hosts(&self) -> &[SshdHost] {
        &self.hosts
    }

    /// The tempdir holding keys, known_hosts, ssh_config, and per host
    /// `hostK/{sshd_config,sshd.log,keys/,home/}`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// ed25519 private key without passphrase, authorized on every host.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// RSA 3072 private key without passphrase, authorized on every host.
    pub fn rsa_client_key(&self) -> &Path {
        &self.rsa_client_key
    }

    /// `[127.0.0.1]:PORT ssh-ed25519 AAAA…`, one line per host, in host order.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// `Host hostK` aliases (HostName 127.0.0.1, Port, User, IdentityFile,
    /// UserKnownHostsFile, strict host key checking, BatchMode).
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// [`Testbed::inventory_toml`] with host `keep`'s (0-based) `[[host]]` entry alone: a run
    /// of that host's user only, as another user of the same machine would configure it.
    pub fn one_host_toml(&self, keep: usize, slots: usize) -> String {
        let all = self.inventory_toml(slots);
        let (hosts, rest) = all.split_once("[ssh]").unwrap();
        let port = format!("port = {}\n", self.hosts[keep].port);
        let kept: Vec<&str> = hosts.split("[[host]]").filter(|s| s.contains(&port)).collect();
        assert_eq!(kept.len(), 1, "{all}");
        format!("[[host]]{}[ssh]{rest}", kept[0])
    }

    /// A testbot inventory: one `[[host]]` per host with `slots_per_host`
    /// slots, and `[ssh]` pointing at [`Testbed::known_hosts`], strict.
    pub fn inventory_toml(&self, slots_per_host: usize) -> String {
        let mut s = String::new();
        for h in &self.hosts {
            writeln!(s, "[[host]]").unwrap();
            writeln!(s, "name = {}", toml_str(&h.name)).unwrap();
            writeln!(s, "address = \"127.0.0.1\"").unwrap();
            writeln!(s, "port = {}", h.port).unwrap();
            writeln!(s, "user = {}", toml_str(&h.user)).unwrap();
            writeln!(
                s,
                "identity = {}",
                toml_str(&self.client_key.to_string_lossy())
            )
            .unwrap();
            writeln!(s, "slots = {slots_per_host}").unwrap();
            writeln!(s).unwrap();
        }
        writeln!(s, "[ssh]").unwrap();
        writeln!(
            s,
            "known_hosts = {}",
            toml_str(&self.known_hosts.to_string_lossy())
        )
        .unwrap();
        writeln!(s, "host_key_checking = \"strict\"").unwrap();
        s
    }

    /// Run `command` on host `host` (0-based) with the system `ssh` client,
    /// the ed25519 client key and strict checking against
    /// [`Testbed::known_hosts`]. Panics if ssh runs longer than [`SSH_TIMEOUT`].
    pub fn ssh(&self, host: usize, command: &str) -> Output {
        output_with_timeout(self.ssh_command(host, &[], command), SSH_TIMEOUT)
    }

    /// The `ssh` command behind [`Testbed::ssh`], not started. `options` go
    /// first, so they win over the defaults (ssh keeps the first value of an
    /// option): e.g. `&["-o", "ConnectTimeout=2"]`.
    pub fn ssh_command(&self, host: usize, options: &[&str], command: &str) -> Command {
        let h = &self.hosts[host];
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg("/dev/null");
        cmd.args(options);
        cmd.arg("-i").arg(&self.client_key);
        for opt in [
            "IdentitiesOnly=yes".to_string(),
            "IdentityAgent=none".to_string(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".to_string(),
            "StrictHostKeyChecking=yes".to_string(),
            // Otherwise ssh may append the RSA host key to known_hosts.
            "UpdateHostKeys=no".to_string(),
            "BatchMode=yes".to_string(),
            "ConnectTimeout=10".to_string(),
            "ControlMaster=no".to_string(),
            "ControlPath=none".to_string(),
            "LogLevel=ERROR".to_string(),
        ] {
            cmd.arg("-o").arg(opt);
        }
        cmd.arg("-p").arg(h.port.to_string());
        cmd.arg("-l").arg(&h.user);
        cmd.arg("127.0.0.1").arg("--").arg(command);
        cmd.env_remove("SSH_AUTH_SOCK");
        cmd.stdin(Stdio::null());
        cmd
    }

    /// A host "crash": SIGKILL every process of the host's user (its sshd and
    /// every session), and wait until none is left.
    pub fn kill_host(&self, host: usize) {
        let h = &self.hosts[host];
        // The user's processes first: killing `unshare` first would orphan
        // the sshd instead of letting it take its namespace down with it.
        if let Err(left) = kill_uid(h.uid, h.gid, SIGNAL_TIMEOUT) {
            panic!(
                "{}: processes of {} survived SIGKILL: {left:?}",
                h.name, h.user
            );
        }
        if let Some(c) = lock(&h.child).take() {
            reap(c);
        }
    }

    /// A host "hang": SIGSTOP every process of the host's user and wait until
    /// all of them are stopped. [`Testbed::cont_host`] resumes them.
    pub fn stop_host(&self, host: usize) {
        let h = &self.hosts[host];
        signal_as_user(h.uid, h.gid, "STOP");
        let deadline = Instant::now() + SIGNAL_TIMEOUT;
        loop {
            let procs = scan_uid(h.uid);
            // A shell that vforked waits in state D until its child execs: a child stopped
            // before its exec holds the parent there, as frozen as if it were stopped itself
            // (no signal moves it to T). Seen twice under load in faults::a_second_ctrl_c…
            let frozen_parent = |p: &Proc| p.state == 'D' && procs.iter().any(|c| c.ppid == p.pid && c.state == 'T');
            let running: Vec<&Proc> = procs.iter().filter(|p| p.state != 'T' && !frozen_parent(p)).collect();
            if running.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: processes of {} did not stop: {running:?}",
                    h.name, h.user
                );
            }
            for p in &running {
                send_signal(p.pid, libc::SIGSTOP);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Resume a host stopped by [`Testbed::stop_host`].
    pub fn cont_host(&self, host: usize) {
        let h = &self.hosts[host];
        let deadline = Instant::now() + SIGNAL_TIMEOUT;
        loop {
            // Stopped processes cannot fork, so signalling the list is enough.
            let procs = scan_uid(h.uid);
            for p in &procs {
                send_signal(p.pid, libc::SIGCONT);
            }
            let stopped: Vec<&Proc> = procs.iter().filter(|p| p.state == 'T').collect();
            if stopped.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: processes of {} did not resume: {stopped:?}",
                    h.name, h.user
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pid and command line of every live process of the host's user, by pid.
    pub fn user_processes(&self, host: usize) -> Vec<(u32, String)> {
        processes_of_uid(self.hosts[host].uid)
    }

    fn write_client_files(&self) {
        let mut known = String::new();
        let mut config =
            String::from("# ssh_config for the testbot sshd test bed: one alias per host.\n");
        for h in &self.hosts {
            let pub_key = read_trimmed(&h.host_key_pub);
            let mut fields = pub_key.split_whitespace();
            let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
            writeln!(known, "[127.0.0.1]:{} {kind} {key}", h.port).unwrap();
            write!(
                config,
                "\nHost {name}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n    \
                 IdentityFile {key}\n    IdentitiesOnly yes\n    IdentityAgent none\n    \
                 UserKnownHostsFile {known}\n    GlobalKnownHostsFile /dev/null\n    \
                 StrictHostKeyChecking yes\n    UpdateHostKeys no\n    BatchMode yes\n",
                name = h.name,
                port = h.port,
                user = h.user,
                key = self.client_key.display(),
                known = self.known_hosts.display(),
            )
            .unwrap();
        }
        fs::write(&self.known_hosts, known).expect("write known_hosts");
        fs::write(&self.ssh_config, config).expect("write ssh_config");
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        for name in &self.users {
            let Some(entry) = passwd_entry(name) else {
                continue;
            };
            if let Err(left) = kill_uid(entry.uid, entry.gid, SIGNAL_TIMEOUT) {
                eprintln!("sshd test bed: processes of {name} survived SIGKILL: {left:?}");
            }
            // A run's directory whose reaper the kill above (or a test's "crash") took along.
            for dir in run_dirs_of(entry.uid) {
                let _ = fs::remove_dir_all(dir);
            }
        }
        for h in &self.hosts {
            if let Some(c) = lock(&h.child).take() {
                reap(c);
            }
        }
        for name in &self.users {
            if let Err(e) = delete_user(name) {
                eprintln!("sshd test bed: {e}");
            }
        }
        if let Some(tmp) = self.tmp.take() {
            let path = tmp.path().to_path_buf();
            if let Err(e) = tmp.close() {
                eprintln!("sshd test bed: cannot remove {}: {e}", path.display());
            }
        }
    }
}

/// Where test bed tempdirs go: the usual temp dir if every component of it
/// is traversable by other users, else /tmp.
pub fn testbed_base_dir() -> PathBuf {
    let base = std::env::temp_dir();
    let base = fs::canonicalize(&base).unwrap_or(base);
    let traversable = base.ancestors().all(|a| {
        fs::metadata(a)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    });
    if traversable {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

/// Pid and command line of every live (not zombie) process whose real,
/// effective or saved uid is `uid`, by pid.
pub fn processes_of_uid(uid: u32) -> Vec<(u32, String)> {
    scan_uid(uid)
        .into_iter()
        .map(|p| (p.pid, p.cmdline))
        .collect()
}

/// Whether /etc/passwd has an entry for `name`.
pub fn user_exists(name: &str) -> bool {
    passwd_entry(name).is_some()
}

/// Delete test users (and their processes and tempdirs) whose creating
/// process is gone. `Testbed::start` runs this once per process.
pub fn cleanup_stale() {
    let _guard = lock(&PASSWD_LOCK);
    for entry in passwd_entries() {
        let Some(creator) = stale_creator(&entry) else {
            continue;
        };
        if creator_alive(creator) {
            continue;
        }
        if let Err(left) = kill_uid(entry.uid, entry.gid, SIGNAL_TIMEOUT) {
            eprintln!(
                "sshd test bed: leftover processes of {} survived SIGKILL: {left:?}",
                entry.name
            );
            continue;
        }
        if let Err(e) = delete_user_locked(&entry.name) {
            eprintln!("sshd test bed: {e}");
            continue;
        }
        // home = <base>/testbot-sshd-<pid>-XXXX/hostK/home
        if let Some(tb_dir) = entry.home.parent().and_then(Path::parent) {
            let is_ours = tb_dir.parent() == Some(testbed_base_dir().as_path())
                && tb_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{DIR_PREFIX}{}-", creator.0)));
            if is_ours {
                let _ = fs::remove_dir_all(tb_dir);
            }
        }
    }
    // A group whose useradd did not complete.
    let users: Vec<String> = passwd_entries().into_iter().map(|e| e.name).collect();
    for group in group_names() {
        let Some(pid) = name_pid(&group) else {
            continue;
        };
        if users.contains(&group) || pid_alive(pid) {
            continue;
        }
        let _ = Command::new("groupdel")
            .arg(&group)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Run `cmd` (stdin from /dev/null) and collect its output; kill it and
/// panic if it runs longer than `timeout`.
pub fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed child");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    if timed_out {
        panic!(
            "{desc} ran longer than {timeout:?} and was killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

// ---------------------------------------------------------------------------
// Starting sshd
// ---------------------------------------------------------------------------

fn preflight() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("the sshd test bed must run as root: it creates a unix user per host");
    }
    for bin in [
        SSHD,
        "/usr/bin/ssh",
        "/usr/bin/ssh-keygen",
        "/usr/bin/unshare",
        "/usr/bin/setpriv",
    ] {
        if !Path::new(bin).exists() {
            panic!(
                "{bin} is missing: the sshd test bed needs Debian's openssh-server, \
                 openssh-client and util-linux (script/install-deps openssh-server openssh-client)"
            );
        }
    }
    // sshd's privilege separation dir; Debian creates it only when the
    // service starts.
    match fs::create_dir("/run/sshd") {
        Ok(()) => set_mode(Path::new("/run/sshd"), 0o755),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => panic!("cannot create /run/sshd: {e}"),
    }
}

struct Launch {
    port: u16,
    /// `unshare`, whose child is the sshd.
    child: Option<Child>,
    sshd_pid: u32,
    result: Result<(), String>,
}

/// Start the host's sshd and wait until it is ready; on a port taken in the
/// meantime by someone else, try another port.
fn launch(h: &SshdHost) -> Launch {
    const ATTEMPTS: usize = 5;
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut launch = Launch {
        port: 0,
        child: None,
        sshd_pid: 0,
        result: Ok(()),
    };
    for attempt in 1..=ATTEMPTS {
        let port = free_port();
        launch.port = port;
        fs::write(&h.config, sshd_config(h, port)).expect("write sshd_config");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&h.log_file)
            .expect("open sshd log");
        // unshare (root) makes the namespace; setpriv drops to the user for
        // sshd, which becomes the namespace's PID 1.
        let spawned = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--", "setpriv"])
            .arg(format!("--reuid={}", h.uid))
            .arg(format!("--regid={}", h.gid))
            .args(["--clear-groups", "--", SSHD, "-D", "-e", "-f"])
            .arg(&h.config)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &h.home)
            .env("USER", &h.user)
            .env("LOGNAME", &h.user)
            .current_dir(&h.home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("dup sshd log")))
            .stderr(Stdio::from(log))
            .spawn();
        let child = match spawned {
            Ok(c) => launch.child.insert(c),
            Err(e) => {
                launch.result = Err(format!("cannot start unshare/setpriv/{SSHD}: {e}"));
                return launch;
            }
        };
        let listening = format!("Server listening on 127.0.0.1 port {port}.");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let log = h.log();
                    if log.contains("Address already in use") && attempt < ATTEMPTS {
                        break; // next attempt, another port
                    }
                    launch.result = Err(format!("sshd exited ({status}) before it was ready"));
                    return launch;
                }
                Ok(None) => {}
                Err(e) => {
                    launch.result = Err(format!("cannot wait for sshd: {e}"));
                    return launch;
                }
            }
            if h.log().contains(&listening) && answers_with_banner(port) {
                match settle(h.uid, child.id(), deadline) {
                    Some(pid) => launch.sshd_pid = pid,
                    None => {
                        launch.result = Err(format!(
                            "sshd answered on port {port}, but its processes are not \
                             just the listener: {:?}",
                            processes_of_uid(h.uid)
                        ))
                    }
                }
                return launch;
            }
            if Instant::now() >= deadline {
                launch.result = Err(format!("not ready on port {port} after {READY_TIMEOUT:?}"));
                return launch;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    unreachable!("the last attempt returns")
}

fn sshd_config(h: &SshdHost, port: u16) -> String {
    let keys = h.host_key_pub.parent().unwrap();
    format!(
        "# sshd for the testbot test bed: {name}, run as {user}.\n\
         ListenAddress 127.0.0.1\n\
         Port {port}\n\
         HostKey {ed25519}\n\
         HostKey {rsa}\n\
         PidFile {home}/sshd.pid\n\
         AuthorizedKeysFile {home}/.ssh/authorized_keys\n\
         UsePAM no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         HostbasedAuthentication no\n\
         PermitRootLogin no\n\
         StrictModes no\n\
         # Many slots per host means many sessions and connections at once.\n\
         MaxSessions 50\n\
         MaxStartups 100:30:200\n\
         # No AcceptEnv: the client's environment never reaches the host.\n\
         PermitUserEnvironment no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel {log_level}\n{force}",
        force = h.records.as_ref().map(|r| format!("ForceCommand exec {}\n", r.with_file_name("record-command").display())).unwrap_or_default(),
        name = h.name,
        user = h.user,
        ed25519 = keys.join("ssh_host_ed25519_key").display(),
        rsa = keys.join("ssh_host_rsa_key").display(),
        home = h.home.display(),
        log_level = h.log_level,
    )
}

/// A free port on 127.0.0.1, never one this process handed out before. The
/// port is released before sshd binds it; `launch` retries if it was taken.
fn free_port() -> u16 {
    let mut used = lock(&USED_PORTS);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

/// Connect and read the server's identification line.
fn answers_with_banner(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = Vec::new();
    let mut buf = [0u8; 256];
    while !banner.contains(&b'\n') && banner.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => banner.extend_from_slice(&buf[..n]),
        }
    }
    banner.starts_with(b"SSH-2.0-")
}

/// Wait until the sshd that served the readiness probe is gone, so that a
/// fresh host has exactly one process, its listener (the child of
/// `unshare_pid`), and return the listener's pid.
fn settle(uid: u32, unshare_pid: u32, deadline: Instant) -> Option<u32> {
    loop {
        if let [only] = scan_uid(uid).as_slice() {
            if only.ppid == unshare_pid {
                return Some(only.pid);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait for a child whose processes were all killed (bounded, then SIGKILL).
fn reap(mut child: Child) {
    let deadline = Instant::now() + SIGNAL_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) | Err(_) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// An RSA key pair from the key cache, being generated if it was missing.
///
/// An RSA 3072 key takes 0.3 to 1.5 s to generate here, which alone would
/// break the "4 hosts in < 1 s" budget, so RSA keys are made once per target
/// dir (`CARGO_TARGET_TMPDIR/sshd-testbed-keys/<name>/key{,.pub}`) and
/// copied into each test bed. They only ever guard loopback test hosts. A key
/// is generated into a private staging dir and renamed into place, so
/// concurrent test processes never see half a key.
struct RsaKey {
    name: String,
    dir: PathBuf,
    state: RsaKeyState,
}

enum RsaKeyState {
    Ready,
    /// This test bed generates it into the staging dir.
    Generating(Keygen, PathBuf),
    /// Another thread of this process is generating it.
    Elsewhere,
}

/// Key names being generated by this process right now.
static RSA_GENERATING: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl RsaKey {
    fn cache_dir() -> PathBuf {
        option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join("sshd-testbed-keys")
    }

    fn ready(dir: &Path) -> bool {
        dir.join("key").is_file() && dir.join("key.pub").is_file()
    }

    fn get(name: &str) -> RsaKey {
        static STAGING_SEQ: AtomicUsize = AtomicUsize::new(0);
        let cache = Self::cache_dir();
        let dir = cache.join(name);
        let key = |state| RsaKey {
            name: name.to_string(),
            dir: dir.clone(),
            state,
        };
        if Self::ready(&dir) {
            return key(RsaKeyState::Ready);
        }
        let mut generating = lock(&RSA_GENERATING);
        if generating.iter().any(|n| n == name) {
            return key(RsaKeyState::Elsewhere);
        }
        if Self::ready(&dir) {
            return key(RsaKeyState::Ready);
        }
        // Staging dirs of test processes that died while generating.
        for entry in fs::read_dir(&cache).into_iter().flatten().flatten() {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            let pid = file_name
                .strip_prefix('.')
                .and_then(|rest| rest.split('.').nth(1))
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !pid_alive(pid)) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let staging = cache.join(format!(
            ".{name}.{}.{}",
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        mkdir(&staging, 0o700);
        let keygen = Keygen::spawn(
            "rsa",
            &staging.join("key"),
            &format!("testbot-testbed-{name}"),
        );
        generating.push(name.to_string());
        key(RsaKeyState::Generating(keygen, staging))
    }

    /// Wait for the key, then copy the pair to `to` and `to.pub` (private
    /// key mode 0600).
    fn finish_and_copy(mut self, to: &Path) {
        match std::mem::replace(&mut self.state, RsaKeyState::Ready) {
            RsaKeyState::Ready => {}
            RsaKeyState::Generating(keygen, staging) => {
                let result = keygen.wait();
                // The rename fails if another process got there first: then
                // theirs is used.
                if result.is_err() || fs::rename(&staging, &self.dir).is_err() {
                    let _ = fs::remove_dir_all(&staging);
                }
                lock(&RSA_GENERATING).retain(|n| n != &self.name);
                if let Err(e) = result {
                    panic!("{e}");
                }
            }
            RsaKeyState::Elsewhere => {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !Self::ready(&self.dir) {
                    let still = lock(&RSA_GENERATING).iter().any(|n| n == &self.name);
                    if (!still && !Self::ready(&self.dir)) || Instant::now() >= deadline {
                        panic!("RSA key {} was not generated by another test", self.name);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let to_pub = to.with_extension("pub");
        for (from, to) in [
            (self.dir.join("key"), to),
            (self.dir.join("key.pub"), to_pub.as_path()),
        ] {
            fs::copy(&from, to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
        set_mode(to, 0o600);
        set_mode(&to_pub, 0o644);
    }
}

impl Drop for RsaKey {
    /// Only does something if the test bed failed to start before the key
    /// was finished.
    fn drop(&mut self) {
        if let RsaKeyState::Generating(keygen, staging) =
            std::mem::replace(&mut self.state, RsaKeyState::Ready)
        {
            let mut child = keygen.child;
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_dir_all(staging);
            lock(&RSA_GENERATING).retain(|n| n != &self.name);
        }
    }
}

struct Keygen {
    child: Child,
    desc: String,
}

impl Keygen {
    fn spawn(kind: &str, path: &Path, comment: &str) -> Keygen {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", kind]);
        if kind == "rsa" {
            cmd.args(["-b", "3072"]);
        }
        cmd.args(["-N", "", "-C", comment, "-f"]).arg(path);
        let desc = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
        Keygen { child, desc }
    }

    fn finish(self) {
        if let Err(e) = self.wait() {
            panic!("{e}");
        }
    }

    fn wait(self) -> Result<(), String> {
        let out = self
            .child
            .wait_with_output()
            .map_err(|e| format!("cannot wait for {}: {e}", self.desc))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}): {}",
                self.desc,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    gecos: String,
    home: PathBuf,
}

fn passwd_entries() -> Vec<PasswdEntry> {
    let text = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_string(),
                home: PathBuf::from(f[5]),
            })
        })
        .collect()
}

fn passwd_entry(name: &str) -> Option<PasswdEntry> {
    passwd_entries().into_iter().find(|e| e.name == name)
}

fn group_names() -> Vec<String> {
    fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

/// Create the user (pushing its name to `created` first, so that a failure
/// half-way is still cleaned up) and return its uid and gid.
fn create_user(name: &str, home: &Path, gecos: &str, created: &mut Vec<String>) -> (u32, u32) {
    let _guard = lock(&PASSWD_LOCK);
    created.push(name.to_string());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // `-p '*'`: no usable password, but not a locked account, which sshd
        // refuses with UsePAM no.
        let out = Command::new("useradd")
            .args(["-M", "-U", "-l", "-s", "/bin/sh", "-p", "*", "-c", gecos])
            // No subordinate uid/gid ranges for a throwaway user.
            .args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-d"])
            .arg(home)
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .expect("run useradd");
        match out.status.code() {
            Some(0) => break,
            // An earlier attempt got through after all.
            Some(9) if passwd_entry(name).is_some_and(|e| e.gecos == gecos) => break,
            // 1: cannot lock/update /etc/passwd, 10: /etc/group, 4: uid
            // taken meanwhile; another process is adding a user.
            Some(1 | 4 | 10) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => panic!(
                "useradd {name} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    let entry = passwd_entry(name).unwrap_or_else(|| panic!("useradd {name}: no passwd entry"));
    assert!(
        entry.uid >= MIN_TEST_UID && entry.uid != 65534,
        "useradd {name} gave uid {}, outside the range the test bed may signal",
        entry.uid
    );
    // A deleted test user's own slot-lease directory is keyed by its uid, which useradd gives out
    // again: left there, it would be this new user's, holding another test's lock files.
    let _ = std::fs::remove_dir_all(format!("/tmp/testbot-slots-{}", entry.uid));
    (entry.uid, entry.gid)
}

fn delete_user(name: &str) -> Result<(), String> {
    let _guard = lock(&PASSWD_LOCK);
    delete_user_locked(name)
}

fn delete_user_locked(name: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut force = false;
    loop {
        let mut cmd = Command::new("userdel");
        if force {
            cmd.arg("-f");
        }
        let out = cmd.arg(name).stdin(Stdio::null()).output();
        let out = out.map_err(|e| format!("cannot run userdel: {e}"))?;
        match out.status.code() {
            // 6: no such user (already gone).
            Some(0 | 6) => return Ok(()),
            // 8: "currently used by process": only zombies are left (the
            // caller killed every live process), which no signal removes.
            Some(8) if !force => force = true,
            Some(1 | 10) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                return Err(format!(
                    "userdel {name} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        }
    }
}

/// The creator (pid, start time) of a test user, if it is one.
fn stale_creator(entry: &PasswdEntry) -> Option<(u32, u64)> {
    name_pid(&entry.name)?;
    if entry.uid < MIN_TEST_UID || entry.uid == 65534 {
        return None;
    }
    let rest = entry.gecos.strip_prefix(GECOS_MARK)?;
    let mut pid = None;
    let mut start = None;
    for field in rest.split_whitespace() {
        if let Some(v) = field.strip_prefix("pid=") {
            pid = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("start=") {
            start = v.parse().ok();
        }
    }
    Some((pid?, start?))
}

/// The pid in a `tbt<pid>t<seq>h<k>` name.
fn name_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(USER_PREFIX)?;
    let (pid, rest) = rest.split_once('t')?;
    let (seq, k) = rest.split_once('h')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(pid) && digits(seq) && digits(k) {
        pid.parse().ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Proc {
    pid: u32,
    ppid: u32,
    state: char,
    cmdline: String,
}

/// Live processes whose real, effective or saved uid is `uid`.
fn scan_uid(uid: u32) -> Vec<Proc> {
    let mut procs = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return procs;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // The process may be gone by now: skip it then.
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let mut state = '?';
        let mut ppid = 0;
        let mut name = String::new();
        let mut matches = false;
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("State:") {
                state = v.trim().chars().next().unwrap_or('?');
            } else if let Some(v) = line.strip_prefix("PPid:") {
                ppid = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("Name:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("Uid:") {
                matches = v
                    .split_whitespace()
                    .take(3)
                    .any(|u| u.parse::<u32>() == Ok(uid));
            }
        }
        if !matches || matches!(state, 'Z' | 'X') {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let cmdline = if cmdline.is_empty() {
            format!("[{name}]")
        } else {
            cmdline
        };
        procs.push(Proc {
            pid,
            ppid,
            state,
            cmdline,
        });
    }
    procs.sort_by_key(|p| p.pid);
    procs
}

fn is_test_uid(uid: u32) -> bool {
    uid >= MIN_TEST_UID && uid != 65534
}

fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; pid is a positive
    // pid read from /proc (never 0 or -1, which would mean a group or all).
    if pid > 1 {
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

/// `kill -SIG -1` run as the user: the kernel signals every process of the
/// user in one sweep, so none can fork a new one in between.
fn signal_as_user(uid: u32, gid: u32, sig: &str) {
    assert!(
        is_test_uid(uid),
        "refusing to signal the processes of uid {uid}"
    );
    let _ = Command::new("/bin/kill")
        .args(["-s", sig, "--", "-1"])
        .uid(uid)
        .gid(gid)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILL every process of `uid` and wait until none is left; the list of
/// survivors on timeout.
fn kill_uid(uid: u32, gid: u32, timeout: Duration) -> Result<(), Vec<(u32, String)>> {
    if !is_test_uid(uid) {
        return Err(vec![(
            0,
            format!("refusing to kill the processes of uid {uid}"),
        )]);
    }
    signal_as_user(uid, gid, "KILL");
    let deadline = Instant::now() + timeout;
    loop {
        let left = scan_uid(uid);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(left.into_iter().map(|p| (p.pid, p.cmdline)).collect());
        }
        for p in &left {
            send_signal(p.pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Start time (clock ticks since boot) of a live, non-zombie process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid …": comm may contain spaces and parens.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&("Z" | "X"))) {
        return None;
    }
    // Field 22 of stat(5); `fields` starts at field 3.
    fields.get(19)?.parse().ok()
}

fn own_start_time() -> u64 {
    start_time(std::process::id()).expect("read /proc/self/stat")
}

fn creator_alive((pid, start): (u32, u64)) -> bool {
    start_time(pid) == Some(start)
}

fn pid_alive(pid: u32) -> bool {
    start_time(pid).is_some()
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    set_mode(path, mode);
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {uid}:{gid} {}: {e}", path.display()));
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04X}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The directories of `uid` under /tmp named as testbot's per-run directories on hosts
/// (`/tmp/testbot-run-…`, the slots' TMPDIRs).
pub fn run_dirs_of(uid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut dirs: Vec<String> = fs::read_dir("/tmp")
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.file_name().to_string_lossy().starts_with("testbot-run-"))
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .map(|e| e.path().display().to_string())
        .collect();
    dirs.sort();
    dirs
}
