//! The transport: a `Host` runs a command with an environment and streams its output back.
//!
//! `LocalHost` runs on this machine (tokio::process); `SshHost` runs over russh, split by
//! concern: `config` (ssh-config → `target`), `known_hosts`, `auth`, `connect`, `pool` (the
//! connections of one host), `process` (one command's channel) under the `watchdog`. Both sit
//! under the same trait, so everything above this module is transport-blind.

mod auth;
pub mod config;
mod connect;
mod error;
mod known_hosts;
mod lifeline;
mod local;
mod pool;
mod process;
pub mod quote;
mod target;
mod watchdog;

pub use error::SshError;
pub use local::LocalHost;
pub use pool::{SshHost, COMMANDS_PER_CONNECTION, CONNECTS_AT_ONCE};
pub use process::RUN_TIMEOUT;
pub use watchdog::SESSION_END;

pub use target::{HostKeyChecking, SshTarget, ALIVE_COUNT_MAX, ALIVE_INTERVAL};

use futures::future::BoxFuture;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What to run: argv, extra environment, and the directory to run it in.
#[derive(Clone, Debug, Default)]
pub struct HostCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Give the command an event channel: descriptor [`EVENT_FD`] (named in `TESTBOT_EVENT_FD`)
    /// comes back as [`Output::Events`], and its stderr goes where its stdout goes, so that
    /// nothing the command prints can reach the channel.
    pub events: bool,
    /// Its standard input, then end of input (none: /dev/null).
    pub stdin: Stdin,
    /// Make `$TMPDIR` absolute (from `cwd` when it is not), make it, and export it before the
    /// program starts: a slot's own temporary directory (see [`quote::MAKE_TMPDIR`]).
    pub tmpdir: bool,
}

/// A command's standard input: bytes in memory, or a stream of chunks of a length known in
/// advance (the remote watchdog passes exactly that many bytes on), so that a large input is
/// never held whole. A stream is read by the first command spawned with it.
#[derive(Clone, Default)]
pub struct Stdin {
    len: u64,
    /// No length: the command reads what comes until its channel closes (a batch session).
    endless: bool,
    source: StdinSource,
}

#[derive(Clone)]
enum StdinSource {
    Bytes(Arc<[u8]>),
    Stream(Arc<std::sync::Mutex<Option<mpsc::Receiver<Vec<u8>>>>>),
}

impl Default for StdinSource {
    fn default() -> Self {
        StdinSource::Bytes(Arc::from(Vec::new()))
    }
}

impl Stdin {
    /// `len` bytes that arrive as chunks on `chunks`. A sender that stops early (it failed)
    /// leaves the command with less input than announced: its caller stops the command.
    pub fn stream(len: u64, chunks: mpsc::Receiver<Vec<u8>>) -> Stdin {
        Stdin { len, endless: false, source: StdinSource::Stream(Arc::new(std::sync::Mutex::new(Some(chunks)))) }
    }

    /// What arrives on `chunks`, each passed on as it comes, for as long as the command runs: the
    /// remote watchdog relays the channel's input to it and kills its group once the channel
    /// closes. Dropping the sender ends no command.
    pub fn endless(chunks: mpsc::Receiver<Vec<u8>>) -> Stdin {
        Stdin { endless: true, ..Stdin::stream(0, chunks) }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Its length, None when it has none (`endless`).
    pub fn bounded(&self) -> Option<u64> {
        (!self.endless).then_some(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.endless
    }

    /// Writes the input to `out` (a stream: what its sender sends, once).
    pub async fn write_to<W: tokio::io::AsyncWrite + Unpin>(self, out: &mut W) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let endless = self.endless;
        match self.source {
            StdinSource::Bytes(bytes) => out.write_all(&bytes).await?,
            StdinSource::Stream(rx) => {
                let taken = rx.lock().unwrap_or_else(|p| p.into_inner()).take();
                let Some(mut rx) = taken else { return Err(std::io::Error::other("a streamed stdin was already read")) };
                while let Some(chunk) = rx.recv().await {
                    out.write_all(&chunk).await?;
                    if endless {
                        out.flush().await?;
                    }
                }
            }
        }
        out.flush().await
    }
}

impl<T: Into<Arc<[u8]>>> From<T> for Stdin {
    fn from(bytes: T) -> Stdin {
        let bytes: Arc<[u8]> = bytes.into();
        Stdin { len: bytes.len() as u64, endless: false, source: StdinSource::Bytes(bytes) }
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if matches!(self.source, StdinSource::Stream(_)) { "stream" } else { "bytes" };
        write!(f, "Stdin({kind}, {} bytes)", self.len)
    }
}

impl HostCommand {
    pub fn new(argv: Vec<String>, env: Vec<(String, String)>, cwd: PathBuf) -> HostCommand {
        HostCommand { argv, env, cwd, events: false, stdin: Stdin::default(), tmpdir: false }
    }

    /// Shell text for `sh -c`, run where the host starts a command (an SSH host: the login
    /// directory), with no extra environment.
    pub fn shell(script: &str) -> HostCommand {
        HostCommand::new(vec!["sh".into(), "-c".into(), script.into()], Vec::new(), PathBuf::new())
    }

    /// With `bytes` as its standard input.
    pub fn with_stdin(mut self, bytes: impl Into<Stdin>) -> HostCommand {
        self.stdin = bytes.into();
        self
    }

    /// With an event channel (see [`HostCommand::events`]).
    pub fn with_events(mut self) -> HostCommand {
        self.events = true;
        self
    }

    /// With its `$TMPDIR` made first (see [`HostCommand::tmpdir`]).
    pub fn making_tmpdir(mut self) -> HostCommand {
        self.tmpdir = true;
        self
    }
}

/// The descriptor a command with an event channel writes its events to.
pub const EVENT_FD: i32 = 3;
/// The variable that names it to the command.
pub const EVENT_FD_VAR: &str = "TESTBOT_EVENT_FD";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// What the command wrote on its event channel.
    Events(Vec<u8>),
}

impl Output {
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Output::Stdout(bytes) | Output::Stderr(bytes) | Output::Events(bytes) => bytes,
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Neither a status nor a signal: the connection to the host went away (or stopped
    /// answering) before the command's end was reported. A local process always has one.
    pub fn lost(&self) -> bool {
        self.code.is_none() && self.signal.is_none()
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exited with status {code}"),
            (None, Some(sig)) => write!(f, "was killed by signal {sig}{}", signal_name(sig)),
            (None, None) => write!(f, "was lost with its host's connection"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGBUS => " (SIGBUS)",
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("failed to start `{program}` on {host}")]
    Spawn {
        host: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start `{program}` on {host}")]
    Ssh {
        host: String,
        program: String,
        #[source]
        source: Box<SshError>,
    },
}

/// Why a command run to its end (`Host::run`) gave no result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Start(#[from] HostError),
    #[error("did not finish within {} s on host `{host}` and was killed", limit.as_secs())]
    Timeout { host: String, limit: Duration },
    #[error("lost the connection to host `{host}`")]
    Lost { host: String },
}

/// What a command run to its end printed, in the order it arrived, and how it ended.
#[derive(Clone, Debug)]
pub struct Collected {
    pub exit: ExitInfo,
    pub output: Vec<Output>,
}

impl Collected {
    pub fn stdout(&self) -> Vec<u8> {
        self.bytes(|o| matches!(o, Output::Stdout(_)))
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.bytes(|o| matches!(o, Output::Stderr(_)))
    }

    /// Stdout and stderr interleaved as they arrived.
    pub fn combined(&self) -> Vec<u8> {
        self.bytes(|o| !matches!(o, Output::Events(_)))
    }

    fn bytes(&self, wanted: impl Fn(&Output) -> bool) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in self.output.iter().filter(|o| wanted(o)) {
            let (Output::Stdout(b) | Output::Stderr(b) | Output::Events(b)) = chunk;
            out.extend_from_slice(b);
        }
        out
    }
}

/// A running command. Dropping it kills the command's whole process group.
pub struct Process {
    pub output: mpsc::Receiver<Output>,
    exit: oneshot::Receiver<ExitInfo>,
    kill: Option<oneshot::Sender<()>>,
}

impl Process {
    pub fn new(output: mpsc::Receiver<Output>, exit: oneshot::Receiver<ExitInfo>, kill: oneshot::Sender<()>) -> Self {
        Process { output, exit, kill: Some(kill) }
    }

    /// Ask the host to kill the process group; `wait` still reports how it ended.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }

    /// Waits for the exit status (after the output has been read to its end).
    pub async fn wait(self) -> ExitInfo {
        let Process { exit, kill, .. } = self;
        let status = exit.await.unwrap_or(ExitInfo { code: None, signal: None });
        drop(kill);
        status
    }

    /// Kills the process group and waits, up to `limit`, for the rest of its output and its
    /// end; None when it did not end in time (dropping it kills it again).
    pub async fn kill_and_wait(mut self, limit: Duration) -> Option<ExitInfo> {
        self.kill();
        tokio::time::timeout(limit, async {
            while self.output.recv().await.is_some() {}
            self.wait().await
        })
        .await
        .ok()
    }

    /// Reads output until `found` picks something out of a chunk (a ready line, a marker),
    /// leaving the command running; past `limit` (None: none) it stops reading.
    pub async fn read_until<T>(&mut self, limit: Option<Duration>, mut found: impl FnMut(&Output) -> Option<T>) -> Until<T> {
        let read = async {
            while let Some(chunk) = self.output.recv().await {
                if let Some(value) = found(&chunk) {
                    return Until::Found(value);
                }
            }
            Until::Ended
        };
        match limit {
            None => read.await,
            Some(limit) => tokio::time::timeout(limit, read).await.unwrap_or(Until::TimedOut),
        }
    }

    /// Reads the output to its end and waits for the exit; past `limit` the command is killed.
    /// On `host` (for the errors).
    pub async fn collect(mut self, host: &str, limit: Duration) -> Result<Collected, RunError> {
        let mut output = Vec::new();
        let read = async {
            while let Some(chunk) = self.output.recv().await {
                output.push(chunk);
            }
        };
        if tokio::time::timeout(limit, read).await.is_err() {
            // The host ends a killed command within its own grace (the SSH driver closes the
            // channel after a few seconds); this bound is only a backstop.
            self.kill_and_wait(KILLED_GRACE).await;
            return Err(RunError::Timeout { host: host.to_string(), limit });
        }
        let exit = self.wait().await;
        if exit.lost() {
            return Err(RunError::Lost { host: host.to_string() });
        }
        Ok(Collected { exit, output })
    }
}

/// What `Process::read_until` came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Until<T> {
    Found(T),
    /// The output ended first: the command is ending.
    Ended,
    TimedOut,
}

/// How long a killed command may take to end before it is given up on.
const KILLED_GRACE: Duration = Duration::from_secs(10);

pub trait Host: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// What identifies the machine behind it across users and checkouts (an SSH host's key
    /// fingerprint); None for this machine.
    fn identity(&self) -> Option<String> {
        None
    }
    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>>;

    /// Runs `command` to its end (with its stdin), collecting its output; past `limit` its
    /// process group is killed. Sync, hooks and `testbot hosts` all run commands this way.
    fn run(&self, command: HostCommand, limit: Duration) -> BoxFuture<'_, Result<Collected, RunError>> {
        Box::pin(async move { self.spawn(command).await?.collect(self.name(), limit).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers below `run` name only themselves and the layers below them: `ssh` nothing
    /// of the crate's, `sync` only `ssh`.
    #[tokio::test]
    async fn run_feeds_stdin_collects_in_order_and_kills_past_its_limit() {
        let host = LocalHost::new();
        let command = HostCommand::shell("cat; echo err >&2; echo out").with_stdin(b"in\n".to_vec());
        let done = host.run(command, Duration::from_secs(10)).await.unwrap();
        assert!(done.exit.success());
        assert_eq!(done.stdout(), b"in\nout\n");
        assert_eq!(done.stderr(), b"err\n");
        assert_eq!(done.combined().len(), 11);
        let started = std::time::Instant::now();
        let slow = HostCommand::shell("sleep 30 & sleep 30; echo never");
        let err = host.run(slow, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(err, RunError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "the kill took {:?}", started.elapsed());
    }
}
