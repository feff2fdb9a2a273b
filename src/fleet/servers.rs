//! A run's servers brought up together: the fork servers (one per host, `fork.rs`) and the
//! `--preload` servers (one per slot, `preload.rs`). Each slot's launch mode follows from which
//! of them got ready; the servers live until the run stops them.

use super::fork::{self, Booted};
use super::preload::{self, keep, Servers};
use super::slots::{Launch, PreparedHost, Slot};
use super::{Error, HostFailure};
use crate::events::{RunEvent, Warning};
use crate::project::Project;
use crate::signals::Signals;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Host `h`'s fork server went away or is stuck: its slots run fresh processes from now on.
/// Whether any of them was forking from it.
pub fn forget_fork_server(slots: &mut [Slot], h: usize) -> bool {
    let mut dropped = false;
    for slot in slots.iter_mut().filter(|s| s.host_index == h && matches!(s.launch, Launch::Forked { .. })) {
        slot.launch = Launch::Fresh;
        dropped = true;
    }
    dropped
}

/// Host `h`'s fork server is ready (on `socket`): its slots fork their batches from it.
fn fork_from(slots: &mut [Slot], h: usize, socket: &str) {
    for slot in slots.iter_mut().filter(|s| s.host_index == h) {
        slot.launch = Launch::Forked { socket: socket.to_string() };
    }
}

/// `--preload`: each slot whose preload server got ready (its socket, by slot index) hands its
/// batches to it; one whose server did not keeps its launch (its host leaves the run).
fn preload_from(slots: &mut [Slot], sockets: Vec<Option<String>>) {
    for (slot, socket) in slots.iter_mut().zip(sockets) {
        if let Some(socket) = socket {
            slot.launch = Launch::Preloaded { socket };
        }
    }
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
    /// Where the boots of joining hosts' fork servers say they ended (into `boots`).
    joined_boots: mpsc::UnboundedSender<(usize, Booted)>,
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
        joined_boots: tx.clone(),
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
    preload_from(slots, preloaded.sockets);
    servers.preload = preloaded.servers;
    servers.left_out = preloaded.failed;
    Ok(Some(servers))
}

fn no_servers() -> Servers {
    Servers { running: Vec::new() }
}

impl RunServers {
    /// A host that joins the run (index `h`): its fork server boots while the run goes on, as
    /// the others' do without `--preload`. Whether one boots (its slots wait for it).
    pub fn boot_joined(&mut self, project: &Project, host: &PreparedHost, h: usize) -> bool {
        let Some((_, boot)) = fork::boots(project, std::slice::from_ref(host)).into_iter().next() else { return false };
        let tx = self.joined_boots.clone();
        self.waiting.push(h);
        self.booting.push(tokio::spawn(async move {
            let _ = tx.send((h, boot.await));
        }));
        true
    }

    /// Whether host `h`'s fork server is still booting (its slots wait for it).
    pub fn booting(&self, h: usize) -> bool {
        self.waiting.contains(&h)
    }

    /// The slots of the hosts whose fork server is booting open their batch sessions now, beside
    /// the boot, so that each is ready for its first batch when the server is. Not a slot with a
    /// `before_slot` hook: that runs before anything of the slot's.
    pub fn open_sessions_early(&self, slots: &[Slot]) {
        for slot in slots.iter().filter(|s| self.booting(s.host_index) && s.before_slot.is_none()) {
            if let Some(session) = &slot.session {
                session.open_early();
            }
        }
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
                fork_from(slots, h, &booted.socket);
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

    fn slot(host_index: usize) -> Slot {
        Slot {
            info: SlotInfo { id: 1, host: Arc::from("local"), host_slot: 1 },
            host_index,
            host: Arc::new(crate::ssh::LocalHost::new()),
            env: Vec::new(),
            workdir: "/nonexistent".into(),
            support_dir: ".testbot".into(),
            launch: Launch::Fresh,
            client: None,
            before_slot: None,
            session: None,
        }
    }

    fn forked(socket: &str) -> Launch {
        Launch::Forked { socket: socket.to_string() }
    }

    #[test]
    fn a_slot_uses_its_preload_server_first_then_its_hosts_fork_server() {
        let mut slots = vec![slot(0), slot(0), slot(1)];
        fork_from(&mut slots, 0, "f.sock");
        assert_eq!(slots.iter().map(|s| s.launch.clone()).collect::<Vec<_>>(), [forked("f.sock"), forked("f.sock"), Launch::Fresh]);
        // With --preload the preload server (the fork server's child) takes over where it got ready.
        preload_from(&mut slots, vec![Some("p1.sock".into()), None, Some("p3.sock".into())]);
        assert_eq!(slots[0].launch, Launch::Preloaded { socket: "p1.sock".into() });
        assert_eq!(slots[1].launch, forked("f.sock"), "its preload server did not start");
        assert_eq!(slots[2].launch, Launch::Preloaded { socket: "p3.sock".into() });
    }

    #[test]
    fn a_lost_fork_server_leaves_only_its_hosts_slots_fresh() {
        let mut slots = vec![slot(0), slot(1)];
        fork_from(&mut slots, 0, "a.sock");
        fork_from(&mut slots, 1, "b.sock");
        assert!(forget_fork_server(&mut slots, 0));
        assert_eq!(slots[0].launch, Launch::Fresh);
        assert_eq!(slots[1].launch, forked("b.sock"));
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
