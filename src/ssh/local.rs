//! Commands on this machine, each in its own process group so that a kill reaches its children.

use super::lifeline::Lifeline;
use super::{ExitInfo, Host, HostCommand, HostError, Output, Process};
use futures::future::BoxFuture;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot};

pub struct LocalHost {
    name: String,
}

impl LocalHost {
    pub fn new() -> Self {
        LocalHost { name: "local".to_string() }
    }
}

impl Default for LocalHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        Box::pin(async move {
            let spawn_error = |source| HostError::Spawn { host: self.name.clone(), program: command.argv[0].clone(), source };
            let lifeline = Lifeline::start().map_err(spawn_error)?;
            let (mut cmd, events) = build(&command, &lifeline).map_err(spawn_error)?;
            let mut child = cmd.spawn().map_err(spawn_error)?;
            let event_read = match events {
                // The parent's copy of the write end goes, so the channel ends with the child.
                Some((read, write)) => {
                    drop(write);
                    Some(tokio::net::unix::pipe::Receiver::from_owned_fd(read).map_err(spawn_error)?)
                }
                None => None,
            };
            if let Some(mut stdin) = child.stdin.take() {
                let input = command.stdin;
                // Ends (closing the pipe) when all is written or the command stops reading.
                tokio::spawn(async move {
                    let _ = input.write_to(&mut stdin).await;
                });
            }
            let (out_tx, out_rx) = mpsc::channel(64);
            let (exit_tx, exit_rx) = oneshot::channel();
            let (kill_tx, kill_rx) = oneshot::channel::<()>();
            tokio::spawn(watch(Group { child, lifeline }, event_read, out_tx, kill_rx, exit_tx));
            Ok(Process::new(out_rx, exit_rx, kill_tx))
        })
    }
}

/// A command's process and what ends its process group with testbot.
struct Group {
    child: tokio::process::Child,
    lifeline: Lifeline,
}

/// The command in a process group of its own (held by `lifeline`), with its event channel (the
/// pipe's two ends) when it asked for one. An empty `cwd` is this process's own directory.
fn build(command: &HostCommand, lifeline: &Lifeline) -> std::io::Result<(tokio::process::Command, Option<(OwnedFd, OwnedFd)>)> {
    let wrapped;
    let argv = if command.tmpdir {
        wrapped = super::quote::making_tmpdir(command.argv.clone());
        &wrapped
    } else {
        &command.argv
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdin(if command.stdin.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        // With an event channel stderr joins stdout in the child (below): no pipe of its own.
        .stderr(if command.events { Stdio::null() } else { Stdio::piped() })
        .kill_on_drop(true);
    if !command.cwd.as_os_str().is_empty() {
        cmd.current_dir(&command.cwd);
    }
    // The event channel: a pipe whose write end becomes the child's descriptor 3.
    let events = if command.events {
        cmd.env(super::EVENT_FD_VAR, super::EVENT_FD.to_string());
        Some(event_pipe()?)
    } else {
        None
    };
    let event_write = events.as_ref().map(|(_, w)| w.as_raw_fd());
    // Every way out of testbot kills the group, testbot being killed itself too (lifeline.rs).
    lifeline.hold(&mut cmd);
    // SAFETY: dup2 is async-signal-safe and touches nothing of the parent's.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = event_write {
                // stderr joins stdout; dup2 clears close-on-exec on the new descriptor.
                if libc::dup2(1, 2) < 0 || libc::dup2(fd, super::EVENT_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok((cmd, events))
}

/// Forwards the child's output until its pipes close and it has exited, kills its group on
/// request (or when the `Process` is dropped), and reports how it ended.
async fn watch(
    group: Group,
    event_read: Option<tokio::net::unix::pipe::Receiver>,
    out_tx: mpsc::Sender<Output>,
    mut kill_rx: oneshot::Receiver<()>,
    exit_tx: oneshot::Sender<ExitInfo>,
) {
    let Group { mut child, lifeline } = group;
    let pgid = lifeline.group(&child);
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take();
    let readers = async {
        match event_read {
            Some(events) => pump_with_events(stdout, events, out_tx).await,
            None => {
                let stderr = stderr.expect("piped stderr");
                futures::future::join(pump(stdout, out_tx.clone(), Output::Stdout), pump(stderr, out_tx, Output::Stderr)).await;
            }
        }
    };
    tokio::pin!(readers);
    let mut killed = false;
    let mut readers_done = false;
    let mut status = None;
    while !(readers_done && status.is_some()) {
        tokio::select! {
            _ = &mut readers, if !readers_done => readers_done = true,
            s = child.wait(), if status.is_none() => {
                // Children that outlive the runner (daemonised helpers) go with its
                // group, so that their copies of the pipes close too.
                kill_group(pgid);
                status = Some(s);
            }
            // Either an explicit kill or the Process was dropped.
            _ = &mut kill_rx, if !killed => {
                killed = true;
                kill_group(pgid);
            }
        }
    }
    lifeline.end().await;
    let info = match status {
        Some(Ok(s)) => ExitInfo { code: s.code(), signal: s.signal() },
        _ => ExitInfo { code: None, signal: None },
    };
    let _ = exit_tx.send(info);
}

/// A pipe for the event channel, both ends close-on-exec (`std::io::pipe`: `pipe2` on Linux,
/// `pipe` and `fcntl` elsewhere; the child gets its own copy of the write end as descriptor 3),
/// the read end non-blocking for tokio.
fn event_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = std::io::pipe()?;
    let (read, write) = (OwnedFd::from(read), OwnedFd::from(write));
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((read, write))
}

/// Output and events of one process, in the order it wrote them: before an event is passed on,
/// whatever output is already waiting in the output pipe goes first. (A runner writes a spec's
/// output before the event that follows it, so both are in their pipes by then.)
async fn pump_with_events<R: AsyncRead + AsRawFd + Unpin>(mut output: R, mut events: tokio::net::unix::pipe::Receiver, tx: mpsc::Sender<Output>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut ebuf = vec![0u8; 64 * 1024];
    let (mut output_open, mut events_open) = (true, true);
    while output_open || events_open {
        tokio::select! {
            biased;
            read = output.read(&mut buf), if output_open => match read {
                Ok(0) | Err(_) => output_open = false,
                Ok(n) => {
                    if tx.send(Output::Stdout(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            },
            read = events.read(&mut ebuf), if events_open => match read {
                Ok(0) | Err(_) => events_open = false,
                Ok(n) => {
                    // Drain the output already in its pipe, without waiting for more. (Read past
                    // tokio: its readiness is only as fresh as the reactor's last turn.)
                    while output_open {
                        match read_now(output.as_raw_fd(), &mut buf) {
                            Some(0) => output_open = false,
                            Some(k) => {
                                if tx.send(Output::Stdout(buf[..k].to_vec())).await.is_err() {
                                    return;
                                }
                            }
                            None => break,
                        }
                    }
                    if tx.send(Output::Events(ebuf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

/// What can be read from `fd` without waiting: None when nothing is there.
fn read_now(fd: std::os::fd::RawFd, buf: &mut [u8]) -> Option<usize> {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll and read on a descriptor the caller owns, into a buffer of the given length.
    unsafe {
        if libc::poll(&mut poll, 1, 0) <= 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        (n >= 0).then_some(n as usize)
    }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn pump<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<Output>, wrap: fn(Vec<u8>) -> Output) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    }
}
