//! `--preload`: one preload server per slot loads the suite's helper once and forks a child for
//! each batch; a batch's process is a small client that hands it the batch. This module starts
//! the servers (their hosts' cores at a time), says which hosts' helper failed to load, and ends
//! the servers with the run.

use super::hooks::Finished;
use super::slots::{Launch, PreparedHost, Slot};
use super::{BootFailure, Error, HostFailure, LeftOut};
use crate::framework::protocol::{Decoder, Event, Piece};
use crate::project::Project;
use crate::ssh::{ExitInfo, Host, HostCommand, Output, Process, Until};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

/// How long a server may take to load the helper (a big Rails app boots in a minute or two).
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the servers have to end once the run is over; then they are dropped (killed).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running servers; `stop` ends them (dropping them kills them too).
pub struct Servers {
    pub(super) running: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// What starting the servers gave.
struct Started {
    servers: Servers,
    /// The socket of every slot whose server is ready, by slot index.
    sockets: Vec<Option<String>>,
    /// Hosts (by index) where a server did not get ready, with why: one entry per host.
    failed: Vec<(usize, HostFailure)>,
}

/// The run's preload servers (none without `--preload`), each slot's socket where its server
/// is ready (by slot index), and the hosts whose helper did not load.
pub struct Preloaded {
    pub servers: Servers,
    pub sockets: Vec<Option<String>>,
    pub failed: Vec<(usize, HostFailure)>,
}

/// With `--preload`: starts every slot's server. An error when the helper loaded nowhere;
/// `None` on a signal.
pub async fn prepare(
    project: &Project,
    hosts: &[PreparedHost],
    slots: &[Slot],
    signals: &crate::signals::Signals,
) -> Result<Option<Preloaded>, Error> {
    if !project.preload {
        return Ok(Some(Preloaded { servers: Servers { running: Vec::new() }, sockets: Vec::new(), failed: Vec::new() }));
    }
    let boot: Vec<usize> = hosts.iter().map(|h| h.boot_parallelism).collect();
    let Some(started) = signals.unless_stopped(start(slots, project, &boot)).await else {
        return Ok(None);
    };
    if started.sockets.iter().all(Option::is_none) {
        return Err(Error::Preload(started.failed.into_iter().map(|(h, why)| LeftOut::new(hosts[h].host.name(), why)).collect()));
    }
    Ok(Some(Preloaded { servers: started.servers, sockets: started.sockets, failed: started.failed }))
}

/// The socket of slot `slot_id`, under the support dir: short, as a UNIX socket's path must be
/// (the server and the client also bind and connect from its folder).
pub fn socket_path(support_dir: &str, slot_id: usize) -> String {
    let base = support_dir.strip_prefix("./").unwrap_or(support_dir).trim_end_matches('/');
    format!("{base}/preload/slot-{slot_id}.sock")
}

/// Starts a server for every slot, at most `boot_parallelism[host]` loading at once on a host,
/// and waits until each is ready or has failed.
async fn start(slots: &[Slot], project: &Project, boot_parallelism: &[usize]) -> Started {
    let gates: Vec<Arc<Semaphore>> = boot_parallelism.iter().map(|&n| Arc::new(Semaphore::new(n.max(1)))).collect();
    let files: Vec<String> = project.files.iter().map(|f| f.path.clone()).collect();
    let boots = slots.iter().map(|slot| {
        let socket = socket_path(&slot.support_dir, slot.info.id);
        // Forked from the host's fork server when it has one: the helper is all it loads.
        let argv = match &slot.launch {
            Launch::Forked { socket: fork } => crate::framework::through_fork(
                &slot.support_dir,
                fork,
                project.framework.preload_server_command(&project.runner.forked(), &slot.support_dir, &socket, &files),
                slot.client.as_deref(),
            ),
            Launch::Fresh | Launch::Preloaded { .. } => project.framework.preload_server_command(&project.runner, &slot.support_dir, &socket, &files),
        };
        let command = HostCommand::new(argv, slot.env.clone(), slot.workdir.clone()).making_tmpdir().with_events();
        let gate = gates[slot.host_index].clone();
        let host = slot.host.clone();
        async move {
            let _permit = gate.acquire_owned().await;
            (boot(&*host, command, READY_TIMEOUT, Event::PreloadReady, WHAT).await, socket)
        }
    });
    let results = futures::future::join_all(boots).await;
    let mut started = Started { servers: Servers { running: Vec::new() }, sockets: Vec::new(), failed: Vec::new() };
    for (slot, (result, socket)) in slots.iter().zip(results) {
        match result {
            Ok(process) => {
                started.servers.running.push(keep(process, slot.host.name().to_string()));
                started.sockets.push(Some(socket));
            }
            Err(why) => {
                started.sockets.push(None);
                if !started.failed.iter().any(|(h, _)| *h == slot.host_index) {
                    started.failed.push((slot.host_index, HostFailure::Boot(why)));
                }
            }
        }
    }
    started
}

const WHAT: &str = "its preload server (loading the suite's helper)";

/// Starts one server and waits for its `ready` event; else says how it ended, with its output.
pub(super) async fn boot(host: &dyn Host, command: HostCommand, limit: Duration, ready: Event, what: &'static str) -> Result<Process, BootFailure> {
    let started = std::time::Instant::now();
    let mut process = host.spawn(command).await.map_err(|error| BootFailure::Start { what, error })?;
    let mut output = Vec::new();
    let mut events = Decoder::events();
    let mut pieces = Vec::new();
    let waited = process
        .read_until(Some(limit), |chunk| match chunk {
            Output::Events(bytes) => {
                events.feed(bytes, &mut pieces);
                pieces.drain(..).any(|p| p == Piece::Event(ready.clone())).then_some(())
            }
            Output::Stdout(bytes) | Output::Stderr(bytes) => {
                output.extend_from_slice(bytes);
                None
            }
        })
        .await;
    let exit = match waited {
        Until::Found(()) => {
            tracing::debug!(host = %host.name(), seconds = started.elapsed().as_secs_f64(), "ready: {what}");
            return Ok(process);
        }
        // Its output ended: so did it.
        Until::Ended => process.wait().await,
        Until::TimedOut => process.kill_and_wait(STOP_TIMEOUT).await.unwrap_or(ExitInfo { code: None, signal: None }),
    };
    Err(match waited {
        Until::TimedOut => BootFailure::NotReady { what, limit },
        _ => BootFailure::Ended { what, finished: Finished { exit, output: String::from_utf8_lossy(&output).into_owned() } },
    })
}

/// Keeps a ready server running (its output read and logged) until it is told to stop.
pub(super) fn keep(mut process: Process, host: String) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut stopping = false;
        loop {
            tokio::select! {
                chunk = process.output.recv() => match chunk {
                    Some(chunk) => {
                        let bytes = chunk.into_bytes();
                        tracing::debug!(host = %host, "server: {}", String::from_utf8_lossy(&bytes).trim_end());
                    }
                    None => break,
                },
                _ = &mut stop_rx, if !stopping => {
                    stopping = true;
                    process.kill();
                }
            }
        }
        let exit = process.wait().await;
        if !stopping {
            // Its slot's next batch cannot connect and takes the host out with the reason.
            tracing::warn!(host = %host, "a preload or fork server ended during the run ({exit})");
        }
    });
    (stop_tx, task)
}

impl Drop for Servers {
    fn drop(&mut self) {
        // Dropping a task drops its Process, which kills the server's process group.
        for (_, task) in &self.running {
            task.abort();
        }
    }
}

impl Servers {
    /// Kills every server (and so the batch children they forked) and waits for them to end.
    pub async fn stop(mut self) {
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut self.running)
            .into_iter()
            .map(|(stop, task)| {
                let _ = stop.send(());
                task
            })
            .collect();
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(STOP_TIMEOUT, futures::future::join_all(tasks)).await.is_err() {
            // Dropping a Process kills its group.
            aborts.iter().for_each(|a| a.abort());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_live_in_the_support_dir_with_short_paths() {
        assert_eq!(socket_path("./.testbot", 3), ".testbot/preload/slot-3.sock");
        assert_eq!(socket_path("/tmp/testbot-x1/", 12), "/tmp/testbot-x1/preload/slot-12.sock");
    }
}
