//! The hosts a run works on: connecting and syncing the SSH hosts, this machine's slots, leases
//! on shared hosts, the hooks, the slots and their environments (TEST_ENV_NUMBER, TMPDIR), the
//! fork servers and the `--preload` servers, and the commands that work on hosts without a run (`hosts`, `sync`,
//! `exec`), with what they report (`HostCheck`, `SyncReport`, `ExecOutcome`).

pub mod coverage;
mod error;
pub mod exec;
pub mod fork;
pub mod hooks;
pub mod lease;
pub mod preload;
pub mod remote;
pub mod servers;
mod slots;
pub mod tmpdir;

pub use error::{BootFailure, Error, HostFailure, LeaseError, LeftOut};
pub use slots::{build_slots, host_env, run_setup_hooks, Launch, PreparedHost, Slot};

use crate::events::{RunEvent, Setup, Warning};
use crate::inventory::Inventory;
use crate::project::Project;
use crate::signals::Signals;
use crate::ssh::LocalHost;
use std::sync::Arc;

/// The folder, in a host's support dir (this machine: beside its sync cache), where the fork
/// server keeps the compiled code of what it loads from one run to the next.
const COMPILED: &str = "compiled";

/// The hosts ready for a run, and what must live as long as it: the runner's support files on
/// this machine, the slot leases on shared hosts.
pub struct Fleet {
    pub hosts: Vec<PreparedHost>,
    pub keep: HeldForRun,
}

/// Held for the length of a run: dropping it removes the support files and frees the leases.
pub struct HeldForRun {
    _support: tempfile::TempDir,
    _leases: Vec<lease::Lease>,
    /// The SSH hosts' run directories (their slots' TMPDIRs): removed when dropped.
    _tmp_dirs: Vec<tmpdir::RunTmpDir>,
}

/// Connects and syncs the hosts, adds this machine's slots, leases free slots on shared hosts
/// and runs the hooks; a host that fails any of it is left out with a warning, except one whose
/// `remote_dir` another user could change, which stops the run (`Error::UnsafeRemoteDir`).
/// `None`: a signal stopped it (said as an event, with what was done).
pub async fn prepare(
    project: &Project,
    inventory: &Inventory,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Option<Fleet>, Error> {
    let support = write_support_files(project)?;
    let mut hosts: Vec<PreparedHost> = (project.local_slots > 0).then(|| this_machine(project, inventory, support.path())).into_iter().collect();
    // A signal while connecting or copying: dropping the connections ends the remote side too.
    let (remote_hosts, failures) = connect_and_sync(project, inventory, signals, emit).await;
    if signals.caught().is_some() {
        let mut done: Vec<String> = remote_hosts.iter().map(|h| format!("host `{}`: connected and synced", h.host.name())).collect();
        done.extend(failures.iter().map(|f| format!("host `{}`: {}", f.host, f.failure)));
        emit(RunEvent::InterruptedBeforeRun { doing: "connecting to and syncing the hosts".into(), done });
        return Ok(None);
    }
    let (unsafe_dirs, mut failures): (Vec<LeftOut>, Vec<LeftOut>) = failures.into_iter().partition(|f| f.failure.is_unsafe_dir());
    if !unsafe_dirs.is_empty() {
        return Err(Error::UnsafeRemoteDir(unsafe_dirs));
    }
    // Each SSH host's private directory for the slots' TMPDIRs, outside the project's copy.
    let Some((remote_hosts, _tmp_dirs, tmp_failures)) = signals.unless_stopped(keep_tmp_dirs(remote_hosts)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "making the hosts' temporary directories".into(), done: Vec::new() });
        return Ok(None);
    };
    failures.extend(tmp_failures);
    hosts.extend(remote_hosts);
    let mut _leases = Vec::new();
    if inventory.ssh.slot_leases {
        let Some(leased) = lease_slots(hosts, signals, emit).await else { return Ok(None) };
        (hosts, _leases) = (leased.hosts, leased.leases);
        failures.extend(leased.failures);
    }
    // The hooks, before anything runs; a host whose hook fails is left out like an unreachable one.
    if inventory.hooks.before_run.is_some() {
        emit(RunEvent::Setup(Setup::Hook { name: "before_run", places: hosts.len() }));
    }
    if inventory.hooks.before_slot.is_some() && project.preload {
        emit(RunEvent::Setup(Setup::Hook { name: "before_slot", places: hosts.iter().map(|h| h.slots).sum() }));
    }
    let Some((hosts, hook_failures)) = signals.unless_stopped(run_setup_hooks(project, &inventory.hooks, hosts, project.preload)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "running the before_run and before_slot hooks".into(), done: Vec::new() });
        return Ok(None);
    };
    failures.extend(hook_failures);
    for failure in &failures {
        emit(RunEvent::Warning(Warning::HostLeftOut { host: failure.host.clone(), reason: failure.failure.to_string() }));
    }
    if hosts.is_empty() {
        if project.local_slots == 0 {
            failures.insert(0, LeftOut::new("local", HostFailure::NoLocalSlots));
        }
        return Err(Error::NoHost(failures));
    }
    Ok(Some(Fleet { hosts, keep: HeldForRun { _support: support, _leases, _tmp_dirs } }))
}

/// The SSH hosts connected and synced (`remote::prepare`), each phase said as it ends.
async fn connect_and_sync(
    project: &Project,
    inventory: &Inventory,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> (Vec<PreparedHost>, Vec<LeftOut>) {
    if inventory.hosts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    emit(RunEvent::Setup(Setup::Connecting { hosts: inventory.hosts.iter().map(|h| h.name.clone()).collect() }));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let prepared = remote::prepare(project, inventory, signals, &tx);
    tokio::pin!(prepared);
    let done = loop {
        tokio::select! {
            done = &mut prepared => break done,
            Some(phase) = rx.recv() => emit(RunEvent::Setup(phase)),
        }
    };
    while let Ok(phase) = rx.try_recv() {
        emit(RunEvent::Setup(phase));
    }
    done
}

/// The runner's support files (the formatter, the servers), in a temporary directory of this
/// run's own on this machine.
fn write_support_files(project: &Project) -> Result<tempfile::TempDir, Error> {
    let support = tempfile::Builder::new().prefix("testbot-").tempdir().map_err(|source| Error::Io {
        what: "create a temporary directory for the runner's support files".into(),
        source,
    })?;
    for (name, contents) in project.framework.support_files() {
        let path = support.path().join(name);
        std::fs::write(&path, contents).map_err(|source| Error::Io { what: format!("write {}", path.display()), source })?;
    }
    Ok(support)
}

/// This machine as a host of the run: its cores boot at once, the support files in `support`.
fn this_machine(project: &Project, inventory: &Inventory, support: &std::path::Path) -> PreparedHost {
    PreparedHost {
        host: Arc::new(LocalHost::new()),
        slots: project.local_slots,
        boot_parallelism: inventory.invocation.cores,
        workdir: crate::sync::local_workdir(&project.root),
        support_dir: support.to_string_lossy().into_owned(),
        // Beside the sync's cache of this project: the support dir goes with the run.
        compiled_dir: crate::sync::local::cache_dir(&project.root, inventory.invocation.user.as_deref())
            .map(|dir| dir.join(COMPILED).to_string_lossy().into_owned()),
        slot_numbers: Vec::new(),
        tmp_dir: None,
        // This binary starts in a millisecond, Ruby in tens of them. One removed since it
        // started (`/proc/self/exe` then reads "… (deleted)") leaves the Ruby client.
        client: std::env::current_exe().ok().filter(|exe| exe.is_file()).map(|exe| exe.to_string_lossy().into_owned()),
    }
}

/// Other runs may share these hosts: takes only their free slots (or waits for one), saying
/// which hosts run on fewer. `None`: a signal stopped it (said as an event).
async fn lease_slots(hosts: Vec<PreparedHost>, signals: &Signals, emit: &mut (dyn FnMut(RunEvent) + Send)) -> Option<lease::Leased> {
    let Some(leased) = signals.unless_stopped(lease::lease_all(hosts)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "waiting for free slots on the hosts".into(), done: Vec::new() });
        return None;
    };
    for note in &leased.notes {
        emit(RunEvent::Warning(Warning::Leasing(note.clone())));
    }
    tracing::debug!("leased the slots");
    Some(leased)
}

/// Starts every host's keeper of its run directory at once; a host where none can be made is
/// left out (its slots would otherwise write their temporary files into the project's copy).
async fn keep_tmp_dirs(hosts: Vec<PreparedHost>) -> (Vec<PreparedHost>, Vec<tmpdir::RunTmpDir>, Vec<LeftOut>) {
    let made = futures::future::join_all(hosts.iter().map(|h| tmpdir::keep_run_dir(&*h.host, h.workdir.clone()))).await;
    let (mut kept, mut dirs, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for (mut host, made) in hosts.into_iter().zip(made) {
        match made {
            Ok(dir) => {
                host.tmp_dir = Some(dir.path.clone());
                dirs.push(dir);
                kept.push(host);
            }
            Err(error) => failures.push(LeftOut::new(host.host.name(), HostFailure::TmpDir(error))),
        }
    }
    (kept, dirs, failures)
}
