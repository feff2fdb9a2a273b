//! An SSH slot's batch session: one channel and one Ruby client (`testbot_client.rb --session`)
//! that carry batch after batch of the slot to its host's fork server (or the slot's preload
//! server), so that a batch over SSH costs a request on an open channel, not a channel, a shell
//! and a Ruby client of its own. The session is opened with the slot's first batch and opened
//! again after one that was killed (killing a batch kills its session: the client, whose keeper
//! then kills the batch's group) or lost; it runs under the watchdog like every remote command,
//! so testbot's end (or its connection's) ends it and whatever it started.
//!
//! Each batch's output comes back on the session's stdout and event channel, each ended by the
//! client's line `testbot-batch-end:MARK exit N` (or `signal N`) after everything the batch
//! wrote there; a session that ends under a batch ends the batch as its client did.

use crate::framework::protocol;
use crate::ssh::{ExitInfo, Host, HostCommand, HostError, Output, Process, Stdin, SESSION_END};
use futures::future::BoxFuture;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The start of the line that ends a batch's output on each of the session's streams.
const BATCH_END: &str = "testbot-batch-end:";

/// One slot's batch session, as a `Host` whose `spawn` runs a batch: the command's argv is
/// `SOCKET fork|preload COMMAND…` (see [`BatchSession::argv`]), its environment the batch's
/// variables, its directory the project's.
pub struct BatchSession {
    host: Arc<dyn Host>,
    /// The client's command (the slot's environment, the project's directory).
    client: HostCommand,
    /// Where the live session takes its batches (None, or closed: none is open).
    live: tokio::sync::Mutex<Option<mpsc::Sender<Request>>>,
}

/// A batch handed to the session's driver.
struct Request {
    bytes: Vec<u8>,
    mark: String,
    out: mpsc::Sender<Output>,
    exit: oneshot::Sender<ExitInfo>,
    kill: oneshot::Receiver<()>,
}

impl BatchSession {
    /// The session of a slot of `host` whose support files are in `support_dir`, the client
    /// started with the slot's `env` in `workdir`.
    pub fn new(host: Arc<dyn Host>, support_dir: &str, env: Vec<(String, String)>, workdir: PathBuf) -> BatchSession {
        let argv = ["ruby", "--disable-gems", &format!("{support_dir}/testbot_client.rb"), "--session"];
        let client = HostCommand::new(argv.iter().map(|a| a.to_string()).collect(), env, workdir).with_events();
        BatchSession { host, client, live: tokio::sync::Mutex::new(None) }
    }

    /// What `spawn` takes as a batch's argv: `command` (as a fresh process would run it) handed
    /// to the server on `socket` (`preload`: the slot's preload server, else the host's fork server).
    pub fn argv(socket: &str, preload: bool, command: Vec<String>) -> Vec<String> {
        let mut argv = vec![socket.to_string(), if preload { "preload" } else { "fork" }.to_string()];
        argv.extend(command);
        argv
    }

    /// Opens a session: the client under the watchdog, its driver a task of its own.
    async fn open(&self) -> Result<mpsc::Sender<Request>, HostError> {
        let (input, stdin) = mpsc::channel(4);
        let mut command = self.client.clone();
        command.stdin = Stdin::endless(stdin);
        let process = self.host.spawn(command).await?;
        tracing::debug!(host = %self.host.name(), "opened a batch session");
        let (tx, requests) = mpsc::channel(1);
        tokio::spawn(drive(process, input, requests));
        Ok(tx)
    }

    /// Opens the session now, in the background, rather than with the slot's first batch: while
    /// its host's fork server boots, the session's channel, shell and Ruby client start beside it
    /// instead of after it, on the slot's critical path (docs/benchmarks.md, session 30). One
    /// that fails to open is opened again by the first batch, which then fails as it would have.
    pub fn open_early(self: &Arc<Self>) {
        let session = self.clone();
        tokio::spawn(async move {
            let _ = session.session().await;
        });
    }

    /// The live session's way in, opening one when there is none (or it ended).
    async fn session(&self) -> Result<mpsc::Sender<Request>, HostError> {
        let mut live = self.live.lock().await;
        if let Some(tx) = live.as_ref().filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let tx = self.open().await?;
        *live = Some(tx.clone());
        Ok(tx)
    }
}

impl Host for BatchSession {
    fn name(&self) -> &str {
        self.host.name()
    }

    fn identity(&self) -> Option<String> {
        self.host.identity()
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        Box::pin(async move {
            let mark = protocol::new_sync();
            let argv: Vec<OsString> = std::iter::once(&mark).chain(&command.argv).map(OsString::from).collect();
            let env: Vec<(OsString, OsString)> = command.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
            // The client's own directory (a remote one may be relative to the login directory) as "".
            let dir = if command.cwd == self.client.cwd { OsString::new() } else { command.cwd.clone().into_os_string() };
            let bytes = crate::framework::client::encode(&argv, &env, &dir);
            let (out, output) = mpsc::channel(64);
            let (exit, exit_rx) = oneshot::channel();
            let (kill_tx, kill) = oneshot::channel();
            let tx = self.session().await?;
            let request = Request { bytes, mark, out, exit, kill };
            if let Err(mpsc::error::SendError(request)) = tx.send(request).await {
                // It ended just now: once more, on a new one.
                let _ = self.session().await?.send(request).await;
            }
            Ok(Process::new(output, exit_rx, kill_tx))
        })
    }
}

/// A session's driver: batch after batch, each written to the client and its output passed on
/// until its marks; ends with the session (dropping the process kills what is left of it) or
/// when the slot no longer holds it.
async fn drive(mut process: Process, input: mpsc::Sender<Vec<u8>>, mut requests: mpsc::Receiver<Request>) {
    loop {
        let request = tokio::select! {
            request = requests.recv() => match request {
                Some(request) => request,
                None => return,
            },
            chunk = process.output.recv() => match chunk {
                // Between batches: nothing of a batch's (a warning of the client's).
                Some(chunk) => {
                    let printed = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                    tracing::debug!(%printed, "a batch session printed between batches");
                    continue;
                }
                None => return,
            },
        };
        let Request { bytes, mark, out, exit, kill } = request;
        if input.send(bytes).await.is_err() {
            let _ = exit.send(session_end(process, None).await);
            return;
        }
        let ended = run_batch(&mut process, &mark, &out, kill).await;
        drop(out);
        match ended {
            Ended::Batch(info) => {
                let _ = exit.send(info);
            }
            Ended::Session(status) => {
                let _ = exit.send(session_end(process, status).await);
                return;
            }
        }
    }
}

/// How a batch of a session ended.
enum Ended {
    /// As its client said.
    Batch(ExitInfo),
    /// With its session: as the client ended (the shell's `$?`), or (None) as the channel did:
    /// killed, or the connection lost.
    Session(Option<i32>),
}

/// One batch's output passed on until the marks on both streams. Killing it (or dropping its
/// process) kills the session.
async fn run_batch(process: &mut Process, mark: &str, out: &mpsc::Sender<Output>, mut kill: oneshot::Receiver<()>) -> Ended {
    let end = format!("\n{BATCH_END}{mark} ").into_bytes();
    let mut stdout = Marks::new(vec![end.clone(), [b"\n".as_slice(), SESSION_END].concat()]);
    let mut events = Marks::new(vec![end]);
    let (mut out_end, mut events_end) = (None, false);
    let mut killed = false;
    while out_end.is_none() || !events_end {
        tokio::select! {
            chunk = process.output.recv() => {
                let Some(chunk) = chunk else { return Ended::Session(None) };
                let (pass, found) = match chunk {
                    Output::Events(bytes) if !events_end => {
                        let (pass, found) = events.feed(&bytes);
                        events_end = found.is_some();
                        (Output::Events(pass), None)
                    }
                    Output::Stdout(bytes) | Output::Stderr(bytes) if out_end.is_none() => {
                        let (pass, found) = stdout.feed(&bytes);
                        (Output::Stdout(pass), found)
                    }
                    other => {
                        let printed = String::from_utf8_lossy(&other.into_bytes()).into_owned();
                        tracing::debug!(%printed, "a batch session printed after a batch's mark");
                        continue;
                    }
                };
                if !matches!(&pass, Output::Stdout(b) | Output::Events(b) if b.is_empty()) {
                    let _ = out.send(pass).await;
                }
                match found {
                    // The client ended: the batch ends as it did.
                    Some((1, status)) => return Ended::Session(Some(status.trim().parse().unwrap_or(1))),
                    Some((_, status)) => out_end = Some(status),
                    None => {}
                }
            }
            _ = &mut kill, if !killed => {
                killed = true;
                process.kill();
            }
        }
    }
    match out_end.as_deref().and_then(parse_end) {
        Some(info) if !killed => Ended::Batch(info),
        _ => Ended::Session(None),
    }
}

/// `exit N` or `signal N`, as the client ends a batch.
fn parse_end(status: &str) -> Option<ExitInfo> {
    let (how, number) = status.trim().split_once(' ')?;
    let number: i32 = number.parse().ok()?;
    match how {
        "exit" => Some(ExitInfo { code: Some(number), signal: None }),
        "signal" => Some(ExitInfo { code: None, signal: Some(number) }),
        _ => None,
    }
}

/// How a session that ended under a batch ended it: as its client ended (`status`, the shell's
/// `$?`), else as the channel ended (a kill, a lost connection).
async fn session_end(mut process: Process, status: Option<i32>) -> ExitInfo {
    match status {
        Some(status) if status > 128 => ExitInfo { code: None, signal: Some(status - 128) },
        Some(status) => ExitInfo { code: Some(status), signal: None },
        None => {
            while process.output.recv().await.is_some() {}
            process.wait().await
        }
    }
}

/// A stream cut at the first of some marks (each a line's start, up to the line's end): the bytes
/// before it pass on, and the mark's index and the rest of its line are what was found.
struct Marks {
    needles: Vec<Vec<u8>>,
    held: Vec<u8>,
    /// A mark found, its line not ended yet.
    found: Option<usize>,
}

impl Marks {
    fn new(needles: Vec<Vec<u8>>) -> Marks {
        Marks { needles, held: Vec::new(), found: None }
    }

    /// The bytes that pass on, and the mark found with the rest of its line.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, Option<(usize, String)>) {
        self.held.extend_from_slice(data);
        if self.found.is_none() {
            let found = self.needles.iter().enumerate().filter_map(|(n, needle)| find(&self.held, needle).map(|at| (at, n)));
            let first = found.min();
            match first {
                Some((at, n)) => {
                    let pass = self.held[..at].to_vec();
                    self.held.drain(..at + self.needles[n].len());
                    self.found = Some(n);
                    return (pass, self.line());
                }
                None => {
                    let keep = self.needles.iter().map(|needle| partial_suffix(&self.held, needle)).max().unwrap_or(0);
                    let pass = self.held[..self.held.len() - keep].to_vec();
                    self.held.drain(..self.held.len() - keep);
                    return (pass, None);
                }
            }
        }
        (Vec::new(), self.line())
    }

    fn line(&mut self) -> Option<(usize, String)> {
        let nl = self.held.iter().position(|&b| b == b'\n')?;
        let line = String::from_utf8_lossy(&self.held[..nl]).into_owned();
        self.held.clear();
        Some((self.found?, line))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest end of `held` that is the start of `needle` (it may be cut there).
fn partial_suffix(held: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(held.len() + 1)).rev().find(|&n| held.ends_with(&needle[..n])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_cut_a_stream_wherever_its_chunks_end() {
        let text = b"out\nno newline\ntestbot-batch-end:ab exit 3\nafter";
        for cut in 1..text.len() {
            let mut marks = Marks::new(vec![b"\ntestbot-batch-end:ab ".to_vec(), b"\nother:".to_vec()]);
            let (mut passed, mut found) = (Vec::new(), None);
            for part in [&text[..cut], &text[cut..]] {
                let (pass, f) = marks.feed(part);
                passed.extend(pass);
                found = found.or(f);
            }
            assert_eq!(passed, b"out\nno newline", "cut at {cut}");
            assert_eq!(found, Some((0, "exit 3".to_string())), "cut at {cut}");
        }
    }

    #[test]
    fn the_first_mark_wins_and_ends_are_parsed() {
        let mut marks = Marks::new(vec![b"\nA:".to_vec(), b"\nB:".to_vec()]);
        assert_eq!(marks.feed(b"x\nB:137\n\nA:exit 0\n"), (b"x".to_vec(), Some((1, "137".to_string()))));
        assert_eq!(parse_end("exit 0"), Some(ExitInfo { code: Some(0), signal: None }));
        assert_eq!(parse_end("signal 9"), Some(ExitInfo { code: None, signal: Some(9) }));
        assert_eq!(parse_end("bye"), None);
    }
}
