//! Commands on an SSH host, each in a session channel of its own under the watchdog: `spawn`
//! streams output to a `Process` (a `Driver` task owns the channel and kills the command's
//! process group on request) and writes its stdin alongside.

// `SshError` carries what its message needs; it is built at most once per command.
#![allow(clippy::result_large_err)]

use super::pool::Conn;
use super::{watchdog, ExitInfo, HostCommand, Output, Process, SshError, SshHost};
use super::quote::{command_line, env_script};
use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::AbortHandle;
use tokio::time::{sleep_until, timeout, Instant};

/// How long a killed command has to report its end before its channel is closed from here.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long the kill command itself may take (channel open, exec, exit).
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// After we close a channel ourselves, how long sshd has to confirm.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default limit for a short command (`nproc`, `ruby -v`).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Output chunks held here while the consumer of a `Process` is slow; past this the channel
/// is not read, and SSH flow control holds the remote command back.
const PENDING_CHUNKS: usize = 64;

impl SshHost {
    /// Starts `command` in a channel of its own and hands the channel to a `Driver`; its stdin
    /// is written alongside, so a command that prints while it reads never stalls the upload.
    pub(super) async fn spawn_command(&self, mut command: HostCommand) -> Result<Process, SshError> {
        let host = self.inner.target.name.clone();
        if command.events {
            command.env.insert(0, (super::EVENT_FD_VAR.to_string(), super::EVENT_FD.to_string()));
        }
        let line = command_line(&command).map_err(|source| SshError::CommandLine { host: host.clone(), source })?;
        let env = env_script(&command).map_err(|source| SshError::CommandLine { host: host.clone(), source })?;
        let stdin = std::mem::take(&mut command.stdin);
        let wrapped = watchdog::watched(&line, command.events, &env, stdin.bounded().map(|len| len as usize));
        let (conn, permit) = self.inner.slot().await?;
        let mut ch = conn.open(&host).await?;
        let early = match self.exec(&mut ch, &wrapped, &line).await {
            Ok(early) => early,
            Err(e) => {
                let _ = ch.close().await;
                return Err(e);
            }
        };
        // No EOF after the bytes: the watchdog reads the channel's stdin until it closes.
        // The environment goes ahead of the command's stdin, never on a command line.
        let writer = (!env.is_empty() || !stdin.is_empty()).then(|| {
            let mut writer = ch.make_writer();
            let host = host.clone();
            tokio::spawn(async move {
                let written = async {
                    tokio::io::AsyncWriteExt::write_all(&mut writer, env.as_bytes()).await?;
                    stdin.write_to(&mut writer).await
                };
                // A command that exits without reading all of its stdin is not an error here:
                // its exit status says what happened.
                if let Err(e) = written.await {
                    tracing::debug!(%host, error = %e, "stdin not fully written");
                }
            })
            .abort_handle()
        });
        let (out_tx, out_rx) = mpsc::channel(64);
        let (exit_tx, exit_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        let driver = Driver {
            host,
            conn,
            permit: Some(permit),
            writer,
            pending: VecDeque::new(),
            out_closed: false,
            marker: Some(Vec::new()),
            pgid: None,
            exit: ExitInfo { code: None, signal: None },
            events: command.events,
        };
        tokio::spawn(driver.run(ch, early, ProcessEnd { output: out_tx, kill: kill_rx, exit: exit_tx }));
        Ok(Process::new(out_rx, exit_rx, kill_tx))
    }

    /// Runs `wrapped` in the channel and waits for sshd's answer, keeping anything that
    /// arrives before it.
    async fn exec(&self, ch: &mut Channel<Msg>, wrapped: &str, line: &str) -> Result<Vec<ChannelMsg>, SshError> {
        let host = &self.inner.target.name;
        let limit = self.inner.target.connect_timeout;
        ch.exec(true, wrapped.as_bytes())
            .await
            .map_err(|source| SshError::Channel { host: host.clone(), source: Box::new(source) })?;
        let mut early = Vec::new();
        let answer = timeout(limit, async {
            loop {
                match ch.wait().await {
                    Some(ChannelMsg::Success) => return Ok(()),
                    Some(ChannelMsg::Failure) => return Err(SshError::ExecRefused { host: host.clone(), command: line.to_string() }),
                    Some(other) => early.push(other),
                    None => return Err(SshError::Disconnected { host: host.clone() }),
                }
            }
        })
        .await;
        match answer {
            Ok(Ok(())) => Ok(early),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SshError::Timeout { host: host.clone(), command: line.to_string(), timeout: limit }),
        }
    }
}

/// The SSH signal name (RFC 4254 §6.10, without `SIG`) as this machine's signal number.
fn signal_number(sig: &Sig) -> Option<i32> {
    let n = match sig {
        Sig::ABRT => libc::SIGABRT,
        Sig::ALRM => libc::SIGALRM,
        Sig::FPE => libc::SIGFPE,
        Sig::HUP => libc::SIGHUP,
        Sig::ILL => libc::SIGILL,
        Sig::INT => libc::SIGINT,
        Sig::KILL => libc::SIGKILL,
        Sig::PIPE => libc::SIGPIPE,
        Sig::QUIT => libc::SIGQUIT,
        Sig::SEGV => libc::SIGSEGV,
        Sig::TERM => libc::SIGTERM,
        Sig::USR1 => libc::SIGUSR1,
        Sig::Custom(name) => match name.trim_start_matches("SIG") {
            "USR2" => libc::SIGUSR2,
            "BUS" => libc::SIGBUS,
            "TRAP" => libc::SIGTRAP,
            "SYS" => libc::SIGSYS,
            "XCPU" => libc::SIGXCPU,
            "XFSZ" => libc::SIGXFSZ,
            "VTALRM" => libc::SIGVTALRM,
            "PROF" => libc::SIGPROF,
            "CHLD" => libc::SIGCHLD,
            "CONT" => libc::SIGCONT,
            "STOP" => libc::SIGSTOP,
            "TSTP" => libc::SIGTSTP,
            "TTIN" => libc::SIGTTIN,
            "TTOU" => libc::SIGTTOU,
            "URG" => libc::SIGURG,
            "WINCH" => libc::SIGWINCH,
            "IO" => libc::SIGIO,
            other => {
                tracing::warn!(signal = other, "remote command killed by a signal with no local number");
                return None;
            }
        },
    };
    Some(n)
}


/// Owns one command's channel: forwards output, records how it ended, kills on request.
struct Driver {
    host: String,
    conn: Arc<Conn>,
    /// Released as soon as the channel is closed.
    permit: Option<OwnedSemaphorePermit>,
    /// The task writing the command's stdin, if it has any: it ends with the channel.
    writer: Option<AbortHandle>,
    /// Output read from the channel but not yet taken by the `Process`.
    pending: VecDeque<Output>,
    /// The `Process` is gone: output is dropped.
    out_closed: bool,
    /// Stdout bytes held while looking for the process-group line; `None` once it is found.
    marker: Option<Vec<u8>>,
    pgid: Option<u32>,
    exit: ExitInfo,
    /// The channel's stderr stream is the command's event channel.
    events: bool,
}

/// The driver's side of a `Process`: where the command's output and its end go, and where the
/// `Process` asks for a kill (or closes by being dropped).
struct ProcessEnd {
    output: mpsc::Sender<Output>,
    kill: oneshot::Receiver<()>,
    exit: oneshot::Sender<ExitInfo>,
}

#[derive(PartialEq)]
enum KillState {
    None,
    /// Asked for, but the process group is not known yet.
    Wanted,
    Sent,
}

impl Driver {
    async fn run(mut self, mut ch: Channel<Msg>, early: Vec<ChannelMsg>, end: ProcessEnd) {
        let ProcessEnd { output: out, kill: mut kill_rx, exit: exit_tx } = end;
        for msg in early {
            self.take(msg);
        }
        let mut kill = KillState::None;
        // After a kill: when to close the channel from here, then when to give up on it.
        let mut deadline: Option<Instant> = None;
        let mut closed_by_us = false;
        loop {
            if kill == KillState::Wanted {
                if let Some(pgid) = self.pgid {
                    tokio::spawn(kill_group(self.conn.clone(), self.host.clone(), pgid));
                    kill = KillState::Sent;
                }
            }
            tokio::select! {
                msg = ch.wait(), if self.pending.len() < PENDING_CHUNKS => match msg {
                    Some(msg) => self.take(msg),
                    None => break,
                },
                permit = out.reserve(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => permit.send(self.pending.pop_front().expect("not empty")),
                    Err(_) => {
                        self.out_closed = true;
                        self.pending.clear();
                    }
                },
                // An explicit kill, or the Process was dropped.
                _ = &mut kill_rx, if kill == KillState::None => {
                    kill = KillState::Wanted;
                    deadline = Some(Instant::now() + KILL_GRACE);
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    if closed_by_us {
                        tracing::warn!(host = %self.host, "a killed command's channel did not close; giving up on it");
                        break;
                    }
                    if self.pgid.is_none() {
                        tracing::warn!(host = %self.host, "killed a command before it reported its process group; closing its channel only");
                    }
                    let _ = ch.close().await;
                    closed_by_us = true;
                    deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            }
        }
        // The channel is done (or given up on): its slot can serve another command.
        drop(ch);
        self.hand_over(out, exit_tx).await;
    }

    /// Once the channel is done: frees its command slot, then passes on the output still held
    /// and how the command ended.
    async fn hand_over(mut self, out: mpsc::Sender<Output>, exit_tx: oneshot::Sender<ExitInfo>) {
        self.permit.take();
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        if let Some(held) = self.marker.take() {
            self.push(Output::Stdout(held));
        }
        if !self.out_closed {
            for chunk in self.pending.drain(..) {
                if out.send(chunk).await.is_err() {
                    break;
                }
            }
        }
        drop(out);
        let _ = exit_tx.send(self.exit);
    }

    fn take(&mut self, msg: ChannelMsg) {
        match msg {
            ChannelMsg::Data { data } => self.stdout(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } if self.events => self.push(Output::Events(data.to_vec())),
            ChannelMsg::ExtendedData { data, ext: 1 } => self.push(Output::Stderr(data.to_vec())),
            ChannelMsg::ExitStatus { exit_status } => self.exit.code = Some(exit_status as i32),
            ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, .. } => {
                tracing::debug!(host = %self.host, ?signal_name, core_dumped, %error_message, "remote command killed by a signal");
                self.exit.signal = signal_number(&signal_name);
            }
            _ => {}
        }
    }

    fn stdout(&mut self, data: &[u8]) {
        let Some(held) = self.marker.as_mut() else {
            self.push(Output::Stdout(data.to_vec()));
            return;
        };
        held.extend_from_slice(data);
        loop {
            let Some(held) = self.marker.as_mut() else { return };
            let Some(nl) = held.iter().position(|&b| b == b'\n') else {
                if held.len() > watchdog::PGID_SEARCH_LIMIT {
                    let held = self.marker.take().expect("looking");
                    self.push(Output::Stdout(held));
                }
                return;
            };
            let line: Vec<u8> = held.drain(..=nl).collect();
            if let Some(pgid) = watchdog::parse_pgid(&line) {
                self.pgid = Some(pgid);
                let rest = self.marker.take().expect("looking");
                if !rest.is_empty() {
                    self.push(Output::Stdout(rest));
                }
                return;
            }
            // Printed before our marker: a remote shell startup file, most likely.
            self.push(Output::Stdout(line));
        }
    }

    fn push(&mut self, chunk: Output) {
        if !self.out_closed && !matches!(&chunk, Output::Stdout(b) | Output::Stderr(b) | Output::Events(b) if b.is_empty()) {
            self.pending.push_back(chunk);
        }
    }
}

/// `kill -s KILL -- -PGID` on a channel of its own. (dash reads `kill -KILL -- -PGID` as a
/// malformed number; `-s KILL --` works in dash and bash.)
async fn kill_group(conn: Arc<Conn>, host: String, pgid: u32) {
    let command = format!("kill -s KILL -- -{pgid}");
    let result = timeout(KILL_TIMEOUT, async {
        let _permit = conn.kills.clone().acquire_owned().await.ok();
        let mut ch = conn.open(&host).await?;
        ch.exec(true, command.as_bytes())
            .await
            .map_err(|source| SshError::Channel { host: host.clone(), source: Box::new(source) })?;
        let mut status = None;
        let mut err = Vec::new();
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
                _ => {}
            }
        }
        Ok::<_, SshError>((status, err))
    })
    .await;
    match result {
        // 1: the group had already gone.
        Ok(Ok((Some(0 | 1), _))) => {}
        Ok(Ok((status, err))) => {
            tracing::warn!(%host, pgid, ?status, stderr = %String::from_utf8_lossy(&err).trim(), "kill command failed")
        }
        Ok(Err(e)) => tracing::warn!(%host, pgid, error = %e, "could not run the kill command"),
        Err(_) => tracing::warn!(%host, pgid, "the kill command timed out"),
    }
}
