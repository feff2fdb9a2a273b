//! A real `redis-server` (Debian's, script/test installs it) for the `--queue` tests: on
//! 127.0.0.1 at a free port, no persistence, its files in a temp dir; started and waited for
//! until it answers PING, stopped by its PID when dropped (also when the test panics).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// One redis-server of one test.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl Redis {
    /// Starts one and waits (up to 30 s) until it answers.
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new().prefix("testbot-redis-").tempdir().expect("a temp dir for redis");
        let port = free_port();
        let child = Command::new(REDIS_SERVER)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER} (apt-get install redis-server): {e}"));
        let redis = Redis { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while redis.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(Instant::now() < deadline, "redis-server on port {port} did not answer PING in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One command's first reply line (`+PONG`, `:3`, `$5`…), None when it does not answer.
    /// For the tests' own checks only: testbot speaks to Redis through the `redis` crate.
    pub fn command(&self, words: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut request = format!("*{}\r\n", words.len());
        for w in words {
            request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read(&mut byte).ok()? == 1 {
            if byte[0] == b'\n' {
                break;
            }
            reply.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&reply).trim_end().to_string())
    }

    /// The number a command answers with (`:N`).
    pub fn number(&self, words: &[&str]) -> i64 {
        let reply = self.command(words).expect("redis answers");
        reply.strip_prefix(':').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{words:?} answered {reply:?}, not a number"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Only the server this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the kernel's pick, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().unwrap().port()
}
