//! A real PostgreSQL server for integration tests (Debian's `postgresql-15`): a fresh cluster in
//! a tempdir, run as the unprivileged `postgres` user (initdb and postgres refuse root),
//! listening only on a Unix socket in that tempdir (`listen_addresses = ''`: no TCP at all),
//! with `trust` authentication for the `postgres` role. The socket directory is open to every
//! local user, so the sshd test hosts' users reach it too.
//!
//! Dropping a [`Postgres`], also while a failing test unwinds, stops the server by its PID
//! (SIGINT: PostgreSQL's fast shutdown; SIGKILL if it does not end) and removes the tempdir.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Debian's server binaries (not on PATH).
pub const BIN: &str = "/usr/lib/postgresql/15/bin";
/// How long initdb and the server's start may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The port only names the socket file: nothing listens on TCP.
pub const PORT: u16 = 5432;

pub struct Postgres {
    /// The socket directory: PGHOST for clients.
    pub socket_dir: PathBuf,
    pub pid: u32,
    child: Child,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn user_ids(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(name).output().expect("run id");
        assert!(out.status.success(), "no user `{name}`: install Debian's postgresql (it creates the user)");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    };
    (id("-u"), id("-g"))
}

impl Postgres {
    /// initdb a fresh cluster and start its server; panics with the server's log if it does
    /// not accept connections in time.
    pub fn start() -> Postgres {
        let (uid, gid) = user_ids("postgres");
        let tmp = tempfile::Builder::new().prefix("testbot-pg-").tempdir_in(super::sshd::testbed_base_dir()).expect("tempdir");
        let dir = tmp.path().to_path_buf();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.join("data");
        let socket_dir = dir.join("socket");
        fs::create_dir(&socket_dir).unwrap();
        for d in [&dir, &socket_dir] {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o777)).unwrap();
        let out = as_postgres(Command::new(format!("{BIN}/initdb")), uid, gid)
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let log = fs::File::create(dir.join("server.log")).unwrap();
        std::os::unix::fs::chown(dir.join("server.log"), Some(uid), Some(gid)).unwrap();
        let child = as_postgres(Command::new(format!("{BIN}/postgres")), uid, gid)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-c", "listen_addresses=", "-p", &PORT.to_string(), "-c", "fsync=off", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start postgres");
        let pg = Postgres { socket_dir, pid: child.id(), child, dir, _tmp: tmp };
        // A readiness wait, not a timing check: give up only after a generous deadline.
        let deadline = Instant::now() + START_TIMEOUT;
        while !pg.psql("postgres", "select 1").status.success() {
            if Instant::now() > deadline {
                panic!("postgres did not start:\n{}", pg.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        pg
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `psql -At` as the `postgres` role on database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        Command::new("psql")
            .env("PGHOST", &self.socket_dir)
            .env("PGPORT", PORT.to_string())
            .args(["-U", "postgres", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
            .output()
            .expect("run psql")
    }

    /// The rows of `sql` on `db`, one line each (columns joined by `|`); panics if it fails.
    pub fn rows(&self, db: &str, sql: &str) -> Vec<String> {
        let out = self.psql(db, sql);
        assert!(out.status.success(), "psql on {db}: {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    /// Every database but the server's own.
    pub fn databases(&self) -> Vec<String> {
        let mut dbs = self.rows("postgres", "select datname from pg_database where datname not in ('postgres','template0','template1')");
        dbs.sort();
        dbs
    }

    /// `PGHOST` and `PGPORT` for clients.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("PGHOST".into(), self.socket_dir.to_string_lossy().into_owned()), ("PGPORT".into(), PORT.to_string())]
    }

    pub fn socket(&self) -> &Path {
        &self.socket_dir
    }
}

fn as_postgres(mut cmd: Command, uid: u32, gid: u32) -> Command {
    cmd.uid(uid).gid(gid).env("HOME", "/tmp").env_remove("PGDATA");
    cmd
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Fast shutdown: ends the sessions, then the server (by its PID, never by name).
        unsafe { libc::kill(self.pid as i32, libc::SIGINT) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its whole process group (the server made it its own).
        unsafe { libc::kill(-(self.pid as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
