//! The run: slots pull batches from the shared queue; one dispatcher loop owns the queue,
//! stopping (Ctrl-C, fail-fast, the run's timeout), requeues, retries and lost hosts, and hands
//! every event to its caller's `emit` (the engine names no reporter).

mod batch;
mod dispatch;
mod error;
pub mod exec;
pub mod hooks;
pub mod lease;
mod plan;
mod preload;
pub mod remote;
mod settle;
mod slots;
mod task;
mod tmpdir;

pub use batch::{BatchEnd, BatchTracker, Captured, Ending, Requeue};
pub use dispatch::execute;
pub use error::Error;
pub use plan::{select, Selection};
pub use slots::PreparedHost;

use crate::events::RunEvent;
use crate::inventory::Inventory;
use crate::project::Project;
use crate::signals::Signals;
use crate::ssh::LocalHost;
use slots::run_setup_hooks;
use std::sync::Arc;
use std::time::{Duration, Instant};

enum Msg {
    /// What one read of a runner's output produced, in order: one message per read, not per
    /// event (a run at scale sees hundreds of thousands of examples).
    Events(Vec<RunEvent>),
    /// The runner finished booting (its first event arrived, or it ended).
    Booted { slot: usize },
    /// `lost`: the host went away (why); it takes no more work.
    BatchDone { slot: usize, seconds: f64, requeue: Vec<Requeue>, lost: Option<String> },
}

/// How the run copes with failures, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Run only share K of N of the suite (`--partition K/N`).
    pub partition: Option<(usize, usize)>,
    /// Rerun failed examples up to this many times (`--retries`).
    pub retries: u32,
    /// Stop after this many failures (`--fail-fast`).
    pub fail_fast: Option<usize>,
    /// The whole run's time limit (`--timeout`).
    pub timeout: Option<Duration>,
    /// The least time a file may run before it is killed; `None`: no per-file limit.
    pub file_timeout: Option<Duration>,
}

/// How a run ended, for the caller that owns the reporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Batches ran (all of them, or until a stop): the reporter's totals decide the exit code.
    Ran,
    /// A signal stopped it before any batch ran.
    Interrupted,
}

/// The whole run: hosts prepared (connected, synced), slots leased, hooks, then `execute`;
/// every event goes to `emit`. A signal (`signals`) in any phase stops it and kills what runs.
pub async fn run(
    project: &Project,
    inventory: &Inventory,
    policy: &Policy,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Ended, Error> {
    let started = Instant::now();
    let support = tempfile::Builder::new().prefix("testbot-").tempdir().map_err(|source| Error::Io {
        what: "create a temporary directory for the runner's support files".into(),
        source,
    })?;
    for (name, contents) in project.framework.support_files() {
        let path = support.path().join(name);
        std::fs::write(&path, contents).map_err(|source| Error::Io { what: format!("write {}", path.display()), source })?;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut hosts = Vec::new();
    if project.local_slots > 0 {
        hosts.push(PreparedHost {
            host: Arc::new(LocalHost::new()),
            slots: project.local_slots,
            boot_parallelism: cores,
            workdir: crate::sync::local_workdir(&project.root),
            support_dir: support.path().to_string_lossy().into_owned(),
            slot_numbers: Vec::new(),
        });
    }
    // A signal while connecting or copying: dropping the connections ends the remote side too.
    let (remote_hosts, failures) = remote::prepare(project, inventory, signals).await;
    if signals.caught().is_some() {
        let mut done: Vec<String> = remote_hosts.iter().map(|h| format!("host `{}`: connected and synced", h.host.name())).collect();
        done.extend(failures.iter().map(|f| format!("host `{}`: {}", f.name, f.reason)));
        emit(RunEvent::InterruptedBeforeRun { doing: "connecting to and syncing the hosts".into(), done });
        return Ok(Ended::Interrupted);
    }
    hosts.extend(remote_hosts);
    let mut failures = failures;
    // Other runs may share these hosts: take only free slots (or wait for one).
    let mut _leases = Vec::new();
    if inventory.ssh.slot_leases {
        let Some(leased) = signals.unless_stopped(lease::lease_all(hosts)).await else {
            emit(RunEvent::InterruptedBeforeRun { doing: "waiting for free slots on the hosts".into(), done: Vec::new() });
            return Ok(Ended::Interrupted);
        };
        for note in &leased.notes {
            emit(RunEvent::Warning(note.clone()));
        }
        hosts = leased.hosts;
        _leases = leased.leases;
    }
    // The hooks, before anything runs; a host whose hook fails is left out like an unreachable one.
    let Some(hooked) = signals.unless_stopped(run_setup_hooks(project, &inventory.hooks, hosts)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "running the before_run and before_slot hooks".into(), done: Vec::new() });
        return Ok(Ended::Interrupted);
    };
    let (hosts, hook_failures) = hooked;
    failures.extend(hook_failures);
    for failure in &failures {
        emit(RunEvent::Warning(format!("host `{}` is left out of this run: {}", failure.name, failure.reason)));
    }
    if hosts.is_empty() {
        let mut reasons: Vec<String> = failures.iter().map(|f| format!("  {}: {}", f.name, f.reason)).collect();
        if project.local_slots == 0 {
            reasons.insert(0, "  local: 0 slots (`[local] slots = 0`, or the default with SSH hosts configured)".to_string());
        }
        return Err(Error::NoHost(reasons.join("\n")));
    }
    execute(project, hosts, policy, inventory.hooks.after_run.as_deref(), started, signals, emit).await
}

