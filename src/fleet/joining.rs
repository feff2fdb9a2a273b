//! Hosts getting ready side by side: each SSH host is connected, synced, given its run directory
//! and (when hosts may join a started run) its `before_run` hook on its own. The run starts with
//! the hosts ready first and takes each of the others as it gets ready, so that a host that
//! accepts TCP and never answers SSH keeps no healthy host idle until its connect timeout.

use super::{fork, hooks, host_env, lease, tmpdir, HostFailure, LeftOut, PreparedHost};
use crate::events::Setup;
use crate::project::Project;
use crate::signals::Signals;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::mpsc;

/// How long the hosts still getting ready may take once the first one is ready, before the run
/// starts without them (they join it when ready): hosts that answer within it start together,
/// with one plan for all of them.
pub const JOIN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// How one host's preparation ended.
pub enum Joined {
    Ready(PreparedHost, Kept),
    LeftOut(LeftOut),
}

/// What a host ready for work holds for the length of the run, and what its leasing said.
pub struct Kept {
    /// Its run directory (the slots' TMPDIRs).
    pub dir: tmpdir::RunTmpDir,
    /// Its slots' leases (`[ssh] slot_leases`).
    pub lease: Option<lease::Lease>,
    /// Notes from leasing its slots (fewer slots, waiting for one).
    pub notes: Vec<String>,
    /// Every slot of it is in use by other testbot runs (only where `Steps::full_waits`): it
    /// waits for one with the others when no host has a free slot, else it is left out.
    pub full: bool,
}

/// What comes next from the hosts getting ready.
pub enum Arrival {
    /// A phase ended (said as it happens).
    Phase(Setup),
    Host(Box<Joined>),
}

/// The hosts still getting ready, and the phases they say.
pub struct Joining<'a> {
    phases: mpsc::UnboundedReceiver<Setup>,
    hosts: FuturesUnordered<BoxFuture<'a, Joined>>,
    /// The names of the hosts still getting ready.
    pending: Vec<String>,
}

impl<'a> Joining<'a> {
    /// No host to wait for.
    pub fn none() -> Joining<'a> {
        Joining { phases: mpsc::unbounded_channel().1, hosts: FuturesUnordered::new(), pending: Vec::new() }
    }

    pub(super) fn new(phases: mpsc::UnboundedReceiver<Setup>) -> Joining<'a> {
        Joining { phases, hosts: FuturesUnordered::new(), pending: Vec::new() }
    }

    pub(super) fn push(&mut self, name: &str, host: BoxFuture<'a, Joined>) {
        self.pending.push(name.to_string());
        self.hosts.push(host);
    }

    /// The hosts still getting ready, by name.
    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    /// No host is still getting ready.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The next phase or host; pending while nothing is left to come.
    pub async fn next(&mut self) -> Arrival {
        tokio::select! {
            // A host's phases before its end.
            biased;
            Some(phase) = self.phases.recv() => Arrival::Phase(phase),
            Some(joined) = self.hosts.next(), if !self.hosts.is_empty() => {
                let name = match &joined {
                    Joined::Ready(host, _) => host.host.name().to_string(),
                    Joined::LeftOut(left) => left.host.clone(),
                };
                if let Some(i) = self.pending.iter().position(|p| *p == name) {
                    self.pending.remove(i);
                }
                Arrival::Host(Box::new(joined))
            }
            else => std::future::pending().await,
        }
    }
}

/// What an SSH host does to get ready after it is connected and synced: its run directory, its
/// slots' leases, and its `before_run` hook, when the host runs it on its own (joining a run).
#[derive(Clone, Copy)]
pub(super) struct Steps<'a> {
    pub(super) leases: bool,
    /// A host whose every slot is in use comes back `Kept::full` instead of left out: the run
    /// waits for a slot on any host when none has one (no slot of this machine's).
    pub(super) full_waits: bool,
    pub(super) before_run: Option<&'a str>,
    /// Its fork server boots as soon as its `before_run` hook passed here (or it has none)
    /// rather than when the run starts.
    pub(super) fork_early: bool,
}

/// An SSH host's preparation (`remote::host_jobs`) followed by its `steps` (`progress` says
/// when its hook starts).
pub(super) fn remote_host<'a>(
    (name, job): (&'a str, super::remote::HostJob<'a>),
    project: &'a Project,
    steps: Steps<'a>,
    signals: &'a Signals,
    progress: mpsc::UnboundedSender<Setup>,
) -> BoxFuture<'a, Joined> {
    let work = async move {
        let (mut host, held) = job.await?;
        let held = held.expect("start_hosts asks host_jobs for the run directory, made beside the sync");
        host.tmp_dir = Some(held.dir.path.clone());
        if steps.fork_early && steps.before_run.is_none() {
            host.fork_boot = fork::boot_early(project, &host);
        }
        let mut kept = Kept { dir: held.dir, lease: None, notes: Vec::new(), full: false };
        if steps.leases {
            (host, kept) = lease_ready(host, kept, steps.full_waits, held.lease).await?;
            if kept.full {
                return Ok((host, kept));
            }
        }
        if let Some(script) = steps.before_run {
            let _ = progress.send(Setup::HostHook { host: host.host.name().to_string() });
            hooks::run_hook(&*host.host, "before_run", script, host_env(project, &host), host.workdir.clone())
                .await
                .map_err(|e| LeftOut::new(host.host.name(), HostFailure::Hook(e)))?;
            if steps.fork_early {
                host.fork_boot = fork::boot_early(project, &host);
            }
        }
        Ok::<_, LeftOut>((host, kept))
    };
    async move {
        match signals.unless_stopped(work).await {
            Some(Ok((host, kept))) => Joined::Ready(host, kept),
            Some(Err(left)) => Joined::LeftOut(left),
            None => Joined::LeftOut(LeftOut::new(name, HostFailure::Interrupted)),
        }
    }
    .boxed()
}

/// `host`'s free slots, leased as soon as it is ready, whatever the other hosts are doing
/// (`taken`: leased already, beside its sync). A host whose every slot other runs hold is left
/// out, or (`full_waits`) kept as `Kept::full`.
async fn lease_ready(
    host: PreparedHost,
    mut kept: Kept,
    full_waits: bool,
    taken: Option<Result<lease::Lease, super::LeaseError>>,
) -> Result<(PreparedHost, Kept), LeftOut> {
    let (mut leased, mut full) = match taken {
        Some(taken) => lease::settle(vec![(host, Some(taken))]),
        None => lease::take_free(vec![host]).await,
    };
    if let Some(left) = leased.failures.pop() {
        return Err(left);
    }
    if let Some(host) = full.pop() {
        if !full_waits {
            return Err(LeftOut::new(host.host.name(), HostFailure::SlotsInUse { slots: host.slots }));
        }
        kept.full = true;
        return Ok((host, kept));
    }
    let host = leased.hosts.pop().expect("a host not left out is kept");
    (kept.lease, kept.notes) = (leased.leases.pop(), leased.notes);
    Ok((host, kept))
}
