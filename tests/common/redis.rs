//! A real `redis-server` (Debian's, script/test installs it) for the `--queue` tests: on
//! 127.0.0.1 at a free port, no persistence, its files in a temp dir; started and waited for
//! until it answers PING, stopped by its PID when dropped (also when the test panics). Also:
//! with its data kept on disk (`start_persistent`: every write in an append-only file, fsynced
//! before the reply), on a Unix socket only (`start_on_socket`), and killed and restarted on the
//! same port by its PID (`kill`, `restart`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// One redis-server of one test.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: TempDir,
    /// The server's arguments, for `restart`.
    args: Vec<String>,
    /// Its Unix socket, when it listens on one only (`start_on_socket`).
    socket: Option<PathBuf>,
    /// The CA of its certificate, when it speaks TLS only (`start_tls`).
    pub ca: Option<PathBuf>,
}

impl Redis {
    /// Starts one and waits (up to 30 s) until it answers.
    pub fn start() -> Redis {
        Redis::launch(&["--save", "", "--appendonly", "no"], false)
    }

    /// One that keeps its data across a restart: every write in its append-only file, fsynced
    /// before the reply.
    pub fn start_persistent() -> Redis {
        Redis::launch(&["--save", "", "--appendonly", "yes", "--appendfsync", "always"], false)
    }

    /// One on a Unix socket in its temp dir (`redis.sock`), on no TCP port.
    pub fn start_on_socket() -> Redis {
        Redis::launch(&["--save", "", "--appendonly", "no"], true)
    }

    /// One that speaks TLS only, on 127.0.0.1 at a free port, its certificate (for IP 127.0.0.1)
    /// signed by a CA made for it with `openssl` in its temp dir (`ca`); clients need no
    /// certificate of their own.
    pub fn start_tls() -> Redis {
        let dir = tempfile::Builder::new().prefix("testbot-redis-").tempdir().expect("a temp dir for redis");
        make_certificates(dir.path());
        let port = free_port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port.to_string(), "--daemonize", "no"].iter().map(|a| a.to_string()).collect();
        args.extend(["--save", "", "--appendonly", "no", "--tls-auth-clients", "no"].iter().map(|a| a.to_string()));
        args.extend(["--tls-cert-file".into(), file("server.crt"), "--tls-key-file".into(), file("server.key"), "--tls-ca-cert-file".into(), file("ca.crt")]);
        args.extend(["--dir".to_string(), dir.path().display().to_string()]);
        let child = spawn(&args);
        let ca = Some(dir.path().join("ca.crt"));
        let redis = Redis { child, port, _dir: dir, args, socket: None, ca };
        redis.wait_until_it_answers();
        redis
    }

    fn launch(persistence: &[&str], on_socket: bool) -> Redis {
        let dir = tempfile::Builder::new().prefix("testbot-redis-").tempdir().expect("a temp dir for redis");
        let port = if on_socket { 0 } else { free_port() };
        let socket = on_socket.then(|| dir.path().join("redis.sock"));
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--port", &port.to_string(), "--daemonize", "no"].iter().map(|a| a.to_string()).collect();
        args.extend(persistence.iter().map(|a| a.to_string()));
        args.extend(["--dir".to_string(), dir.path().display().to_string()]);
        if let Some(socket) = &socket {
            args.extend(["--unixsocket".to_string(), socket.display().to_string()]);
        }
        let child = spawn(&args);
        let redis = Redis { child, port, _dir: dir, args, socket, ca: None };
        redis.wait_until_it_answers();
        redis
    }

    /// PING answered: over TCP, the socket, or (TLS) by `redis-cli --tls`.
    fn answers(&self) -> bool {
        let Some(ca) = &self.ca else { return self.command(&["PING"]).as_deref() == Some("+PONG") };
        let out = Command::new("redis-cli").args(["--tls", "--cacert"]).arg(ca).args(["-p", &self.port.to_string(), "PING"]).output();
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
    }

    fn wait_until_it_answers(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING in 30 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9 of the server (by its PID), waited for.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server started again on the same port, in the same folder (with what it kept there,
    /// if it keeps anything), once it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.args);
        self.wait_until_it_answers();
    }

    /// `unix:///…/redis.sock` of a server started on a socket.
    pub fn socket_url(&self) -> String {
        format!("unix://{}", self.socket.as_ref().expect("started on a socket").display())
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One command's first reply line (`+PONG`, `:3`, `$5`…), None when it does not answer
    /// (not over TLS).
    /// For the tests' own checks only: testbot speaks to Redis through the `redis` crate.
    pub fn command(&self, words: &[&str]) -> Option<String> {
        let mut stream: Box<dyn ReadWrite> = match &self.socket {
            Some(socket) => {
                let stream = UnixStream::connect(socket).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                Box::new(stream)
            }
            None => {
                let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                Box::new(stream)
            }
        };
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

/// A CA (`ca.crt`) and a server certificate for IP 127.0.0.1 signed by it (`server.crt`,
/// `server.key`) in `dir`, made with `openssl`.
fn make_certificates(dir: &std::path::Path) {
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    let steps: [&[&str]; 3] = [
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=testbot test CA"],
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        &["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf"],
    ];
    for step in steps {
        let out = Command::new("openssl").args(step).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {step:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn spawn(args: &[String]) -> Child {
    Command::new(REDIS_SERVER)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER} (apt-get install redis-server): {e}"))
}

/// A port nothing listens on now (the kernel's pick, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().unwrap().port()
}
