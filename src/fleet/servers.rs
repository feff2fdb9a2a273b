//! A run's servers brought up together: the fork servers (one per host, `fork.rs`) and the
//! `--preload` servers (one per slot, `preload.rs`). Each slot's launch mode follows from which
//! of them got ready; the servers live until the run stops them.

use super::fork::{self, Booted};
use super::preload::{self, keep, Servers};
use super::slots::{PreparedHost, Slot};
use super::{Error, HostFailure};
use crate::events::{RunEvent, Warning};
use crate::project::Project;
use crate::signals::Signals;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How a slot's batches start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch<'a> {
    /// As a fresh process: a Ruby boot per batch.
    Fresh,
    /// Forked from its host's fork server (listening on `socket`).
    Forked { socket: &'a str },
    /// Handed to the slot's own preload server (listening on `socket`), which has the suite's
    /// helper loaded.
    Preloaded { socket: &'a str },
}

impl Slot {
    /// How its batches start now: its preload server when it has one (itself forked from the
    /// host's fork server), else its host's fork server when that is ready, else fresh.
    pub fn launch(&self) -> Launch<'_> {
        match (&self.preload, &self.fork) {
            (Some(socket), _) => Launch::Preloaded { socket },
            (None, Some(socket)) => Launch::Forked { socket },
            (None, None) => Launch::Fresh,
        }
    }
}

/// Host `h`'s fork server went away or is stuck: its slots run fresh processes from now on.
/// Whether any of them was forking from it.
pub fn forget_fork_server(slots: &mut [Slot], h: usize) -> bool {
    let mut dropped = false;
    for slot in slots.iter_mut().filter(|s| s.host_index == h) {
        dropped |= slot.fork.take().is_some();
    }
    dropped
}

/// The run's servers: those running, the fork servers still booting, and the hosts whose
/// `--preload` helper did not load.
pub struct RunServers {
    fork: Servers,
    preload: Servers,
    /// Fork servers booting while the run goes on (without `--preload`: each host's slots wait
    /// for their own host's server only).
    booting: Vec<JoinHandle<()>>,
    /// Hosts (by index) whose fork server is still booting.
    waiting: Vec<usize>,
    boots: mpsc::UnboundedReceiver<(usize, Booted)>,
    /// Hosts (by index) where the `--preload` helper did not load, and why: they leave the run.
    pub left_out: Vec<(usize, HostFailure)>,
}

/// Starts the servers the project asks for and points the slots at them. With `--preload` every
/// fork server must be settled first (the preload servers are forked from them); without it the
/// fork servers boot while the run goes on (`next_boot`). A fork server that does not start is a
/// warning (its host runs fresh processes). An error when the `--preload` helper loaded nowhere;
/// `None`: a signal stopped it (said as an event).
pub async fn start(
    project: &Project,
    hosts: &[PreparedHost],
    slots: &mut [Slot],
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Option<RunServers>, Error> {
    let (tx, boots) = mpsc::unbounded_channel();
    let mut servers = RunServers {
        fork: no_servers(),
        preload: no_servers(),
        booting: Vec::new(),
        waiting: Vec::new(),
        boots,
        left_out: Vec::new(),
    };
    if project.preload {
        let (which, boots): (Vec<usize>, Vec<_>) = fork::boots(project, hosts).into_iter().unzip();
        let Some(booted) = signals.unless_stopped(futures::future::join_all(boots)).await else {
            emit(RunEvent::InterruptedBeforeRun { doing: "starting the fork servers".into(), done: Vec::new() });
            return Ok(None);
        };
        for (h, booted) in which.into_iter().zip(booted) {
            if let Some(warning) = servers.settle_fork(&hosts[h], h, slots, booted) {
                emit(RunEvent::Warning(warning));
            }
        }
    } else {
        for (h, boot) in fork::boots(project, hosts) {
            let tx = tx.clone();
            servers.waiting.push(h);
            servers.booting.push(tokio::spawn(async move {
                let _ = tx.send((h, boot.await));
            }));
        }
    }
    let Some(preloaded) = preload::prepare(project, hosts, slots, signals).await? else {
        emit(RunEvent::InterruptedBeforeRun { doing: "starting the preload servers".into(), done: Vec::new() });
        return Ok(None);
    };
    servers.preload = preloaded.servers;
    servers.left_out = preloaded.failed;
    Ok(Some(servers))
}

fn no_servers() -> Servers {
    Servers { running: Vec::new() }
}

impl RunServers {
    /// Whether host `h`'s fork server is still booting (its slots wait for it).
    pub fn booting(&self, h: usize) -> bool {
        self.waiting.contains(&h)
    }

    /// The next fork server whose boot ended (by host index); pending while none is booting.
    pub async fn next_boot(&mut self) -> (usize, Booted) {
        match self.boots.recv().await {
            Some(boot) => boot,
            None => std::future::pending().await,
        }
    }

    /// A fork server's boot ended: a ready one serves its host's slots from now on; one that did
    /// not start leaves them fresh processes, with a warning.
    pub fn settle_fork(&mut self, host: &PreparedHost, h: usize, slots: &mut [Slot], booted: Booted) -> Option<Warning> {
        self.waiting.retain(|w| *w != h);
        let name = host.host.name();
        match booted.result {
            Ok(process) => {
                self.fork.running.push(keep(process, name.to_string()));
                for slot in slots.iter_mut().filter(|s| s.host_index == h) {
                    slot.fork = Some(booted.socket.clone());
                }
                None
            }
            Err(why) => {
                // Its output once, in the log: the fresh runners that follow say the same when
                // they fail the same way (a Gemfile that does not resolve), as without a server.
                tracing::info!(host = %name, "{why}");
                Some(Warning::ForkServerNotStarted { host: name.to_string(), reason: first_line(&why.to_string()) })
            }
        }
    }

    /// Ends every server. Fork servers still booting are not waited for (dropping their boot
    /// kills them). The preload servers are the fork servers' children: they go first. A second
    /// signal stops waiting for them (a host that stopped answering never acknowledges the
    /// kill); dropping them kills what this end still holds.
    pub async fn stop(self, signals: &Signals) {
        for task in &self.booting {
            task.abort();
        }
        let RunServers { fork, preload, .. } = self;
        let servers = async {
            preload.stop().await;
            fork.stop().await;
        };
        tokio::select! {
            () = servers => {}
            () = signals.more_than(1) => {}
        }
    }
}

/// The head of why a server did not start, for its warning: its first line, without the
/// output that follows it.
fn first_line(why: &str) -> String {
    let head = why.lines().next().unwrap_or_default();
    head.split(" (the last").next().unwrap_or(head).trim_end_matches(':').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::SlotInfo;
    use std::sync::Arc;

    fn slot(host_index: usize, fork: Option<&str>, preload: Option<&str>) -> Slot {
        Slot {
            info: SlotInfo { id: 1, host: Arc::from("local"), host_slot: 1 },
            host_index,
            host: Arc::new(crate::ssh::LocalHost::new()),
            env: Vec::new(),
            workdir: "/nonexistent".into(),
            support_dir: ".testbot".into(),
            preload: preload.map(str::to_string),
            fork: fork.map(str::to_string),
            client: None,
        }
    }

    #[test]
    fn a_slot_uses_its_preload_server_first_then_its_hosts_fork_server() {
        assert_eq!(slot(0, None, None).launch(), Launch::Fresh);
        assert_eq!(slot(0, Some("f.sock"), None).launch(), Launch::Forked { socket: "f.sock" });
        // With --preload both are set: the preload server is the fork server's child.
        assert_eq!(slot(0, Some("f.sock"), Some("p.sock")).launch(), Launch::Preloaded { socket: "p.sock" });
    }

    #[test]
    fn a_lost_fork_server_leaves_only_its_hosts_slots_fresh() {
        let mut slots = vec![slot(0, Some("a.sock"), None), slot(1, Some("b.sock"), None)];
        assert!(forget_fork_server(&mut slots, 0));
        assert_eq!(slots[0].launch(), Launch::Fresh);
        assert_eq!(slots[1].launch(), Launch::Forked { socket: "b.sock" });
        assert!(!forget_fork_server(&mut slots, 0), "said once");
    }

    #[test]
    fn a_warning_keeps_the_first_line_of_why_a_server_did_not_start() {
        let why = "its fork server exited with status 1 (the last 12 lines of its output):\n  | Gemfile not found";
        assert_eq!(first_line(why), "its fork server exited with status 1");
        assert_eq!(first_line("its fork server exited with status 1:\n  | x"), "its fork server exited with status 1");
        assert_eq!(first_line("its fork server could not be started:\nno such file"), "its fork server could not be started");
    }
}
