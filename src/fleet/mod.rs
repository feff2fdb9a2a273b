//! The hosts a run works on: connecting and syncing the SSH hosts, this machine's slots, leases
//! on shared hosts, the hooks, the slots and their environments (TEST_ENV_NUMBER, TMPDIR), the
//! fork servers and the `--preload` servers, and the commands that work on hosts without a run (`hosts`, `sync`,
//! `exec`), with what they report (`HostCheck`, `SyncReport`, `ExecOutcome`).

pub mod coverage;
mod error;
pub mod exec;
pub mod fork;
pub mod hooks;
pub mod joining;
pub mod lease;
pub mod preload;
pub mod remote;
pub mod servers;
pub mod session;
mod slots;
pub mod tmpdir;

pub use error::{BootFailure, Error, HostFailure, LeaseError, LeftOut};
pub use joining::{Arrival, Joined, Joining, Kept, JOIN_GRACE};
pub use slots::{build_slots, build_slots_from, host_env, run_setup_hooks, Launch, PreparedHost, Slot};

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
/// this machine, the slot leases on shared hosts; and the hosts still getting ready, which join
/// the run when they are.
pub struct Fleet<'a> {
    pub hosts: Vec<PreparedHost>,
    pub keep: HeldForRun,
    pub joining: Joining<'a>,
}

/// Held for the length of a run: dropping it removes the support files and frees the leases.
pub struct HeldForRun {
    _support: tempfile::TempDir,
    _leases: Vec<lease::Lease>,
    /// The SSH hosts' run directories (their slots' TMPDIRs): removed when dropped.
    _tmp_dirs: Vec<tmpdir::RunTmpDir>,
}

/// Connects and syncs the hosts, adds this machine's slots, leases free slots on shared hosts
/// and runs the hooks, each phase said as it ends; a host that fails any of it is left out with a
/// warning, except one whose `remote_dir` another user could change, which stops the run
/// (`Error::UnsafeRemoteDir`). Unless every host must be ready first (`--preload`; slot leases
/// with no slot of this machine's), the run starts with the hosts ready within `JOIN_GRACE` of
/// the first one, and the others join it as they get ready (`Fleet::joining`). `None`: a signal
/// stopped it (said as an event, with what was done).
pub async fn prepare<'a>(
    project: &'a Project,
    inventory: &'a Inventory,
    signals: &'a Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Option<Fleet<'a>>, Error> {
    let support = write_support_files(project)?;
    let mut hosts: Vec<PreparedHost> = (project.local_slots > 0).then(|| this_machine(project, inventory, support.path())).into_iter().collect();
    // Hosts join a started run unless every one must be ready first: `--preload` (its servers
    // start together), or no slot of this machine's and slot leases (the run waits for a slot
    // to free up on any host when none has one).
    let joins = !project.preload && (project.local_slots > 0 || !inventory.ssh.slot_leases);
    let mut joining = start_hosts(project, inventory, signals, joins, emit);
    let mut failures = Vec::new();
    if joins && !hosts.is_empty() {
        // This machine's own hook first: the hosts connect and sync meanwhile.
        let Some((local, failed)) = hook_this_machine(project, &inventory.hooks, hosts, signals, emit).await else { return Ok(None) };
        hosts = local;
        failures.extend(failed);
    }
    // A signal while connecting or copying: dropping the connections ends the remote side too.
    let (ready, kept, left_out) = wait_for_hosts(&mut joining, !hosts.is_empty(), joins, emit).await;
    let (ready, full) = apart_full(ready, &kept);
    let (tmp_dirs, leased): (Vec<_>, Vec<Option<lease::Lease>>) = kept.into_iter().map(|k| (k.dir, k.lease)).unzip();
    let mut _leases: Vec<lease::Lease> = leased.into_iter().flatten().collect();
    failures.extend(left_out);
    if signals.caught().is_some() {
        return Ok(interrupted_connecting(&ready, &failures, emit));
    }
    let (unsafe_dirs, mut failures): (Vec<LeftOut>, Vec<LeftOut>) = failures.into_iter().partition(|f| f.failure.is_unsafe_dir());
    if !unsafe_dirs.is_empty() {
        return Err(Error::UnsafeRemoteDir(unsafe_dirs));
    }
    hosts.extend(ready);
    if !joins {
        // Each host was leased as it got ready; when none had a free slot, the run waits for one.
        if hosts.is_empty() && !full.is_empty() {
            let Some(leased) = lease_slots(full, signals, emit).await else { return Ok(None) };
            (hosts, _leases) = (leased.hosts, leased.leases);
            failures.extend(leased.failures);
        } else {
            failures.extend(full.iter().map(|h| LeftOut::new(h.host.name(), HostFailure::SlotsInUse { slots: h.slots })));
        }
        // The hooks, before anything runs; a host whose hook fails is left out like an unreachable one.
        let Some((ok, hook_failures)) = setup_hooks(project, &inventory.hooks, hosts, signals, emit).await else { return Ok(None) };
        hosts = ok;
        failures.extend(hook_failures);
    }
    left_out_warnings(&failures, emit);
    if hosts.is_empty() {
        if project.local_slots == 0 {
            failures.insert(0, LeftOut::new("local", HostFailure::NoLocalSlots));
        }
        return Err(Error::NoHost(failures));
    }
    Ok(Some(Fleet { hosts, keep: HeldForRun { _support: support, _leases, _tmp_dirs: tmp_dirs }, joining }))
}

/// Every SSH host set to get ready on its own (`joins`: also leasing its slots and running its
/// `before_run` hook, to join the run when ready), the first phase said.
fn start_hosts<'a>(
    project: &'a Project,
    inventory: &'a Inventory,
    signals: &'a Signals,
    joins: bool,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Joining<'a> {
    if !inventory.hosts.is_empty() {
        emit(RunEvent::Setup(Setup::Connecting { hosts: inventory.hosts.iter().map(|h| h.name.clone()).collect() }));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut joining = Joining::new(rx);
    let steps = joining::Steps {
        // Each host leased as it gets ready; without joining, one whose slots are all in use
        // waits for the others (the run waits for a slot when no host has one).
        leases: inventory.ssh.slot_leases,
        full_waits: !joins,
        before_run: inventory.hooks.before_run.as_deref().filter(|_| joins),
        // A `before_run` hook may install what the server loads (`bundle install`): after it.
        fork_early: inventory.hooks.before_run.is_none() || joins,
    };
    let beside = if inventory.ssh.slot_leases { remote::Beside::RunDirAndLeases } else { remote::Beside::RunDir };
    for job in remote::host_jobs(project, inventory, signals, &tx, beside) {
        joining.push(job.0, joining::remote_host(job, project, steps, signals, tx.clone()));
    }
    joining
}

/// The hosts ready apart from those whose every slot other runs hold (`Kept::full`), in the
/// order of `kept` (one each).
fn apart_full(ready: Vec<PreparedHost>, kept: &[Kept]) -> (Vec<PreparedHost>, Vec<PreparedHost>) {
    let (full, ready): (Vec<_>, Vec<_>) = ready.into_iter().zip(kept).partition(|(_, k)| k.full);
    (ready.into_iter().map(|(h, _)| h).collect(), full.into_iter().map(|(h, _)| h).collect())
}

/// A signal stopped the hosts getting ready: said, with what was done. Always `None`.
fn interrupted_connecting<T>(ready: &[PreparedHost], failures: &[LeftOut], emit: &mut (dyn FnMut(RunEvent) + Send)) -> Option<T> {
    let mut done: Vec<String> = ready.iter().map(|h| format!("host `{}`: connected and synced", h.host.name())).collect();
    done.extend(failures.iter().map(|f| format!("host `{}`: {}", f.host, f.failure)));
    emit(RunEvent::InterruptedBeforeRun { doing: "connecting to and syncing the hosts".into(), done });
    None
}

/// Each host left out, as a warning.
fn left_out_warnings(failures: &[LeftOut], emit: &mut (dyn FnMut(RunEvent) + Send)) {
    for failure in failures {
        emit(RunEvent::Warning(Warning::HostLeftOut { host: failure.host.clone(), reason: failure.failure.to_string() }));
    }
}

/// The SSH hosts getting ready, each phase said as it ends: all of them (`joins` false, or no
/// host ready), or until `JOIN_GRACE` after the first host is ready (`one_ready`: this machine
/// is). Returns the hosts ready, what they keep for the run, and those left out.
async fn wait_for_hosts(
    joining: &mut Joining<'_>,
    one_ready: bool,
    joins: bool,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> (Vec<PreparedHost>, Vec<Kept>, Vec<LeftOut>) {
    let (mut ready, mut kept_all, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let grace = |ready: bool| ready.then(|| tokio::time::Instant::now() + JOIN_GRACE);
    let mut until = grace(one_ready && joins);
    while !joining.is_empty() {
        tokio::select! {
            arrival = joining.next() => match arrival {
                Arrival::Phase(phase) => emit(RunEvent::Setup(phase)),
                Arrival::Host(joined) => match *joined {
                Joined::Ready(host, kept) => {
                    for note in &kept.notes {
                        emit(RunEvent::Warning(Warning::Leasing(note.clone())));
                    }
                    ready.push(host);
                    kept_all.push(kept);
                    until = until.or(grace(joins));
                }
                Joined::LeftOut(left) => failures.push(left),
                },
            },
            _ = tokio::time::sleep_until(until.unwrap_or_else(tokio::time::Instant::now)), if until.is_some() => break,
        }
    }
    (ready, kept_all, failures)
}

/// `before_run` on this machine (hosts joining a run run theirs on their own); its failure
/// leaves it out. `None`: a signal stopped it (said as an event).
async fn hook_this_machine(
    project: &Project,
    hooks: &crate::inventory::Hooks,
    hosts: Vec<PreparedHost>,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Option<(Vec<PreparedHost>, Vec<LeftOut>)> {
    let only_before_run = crate::inventory::Hooks { before_slot: None, after_run: None, ..hooks.clone() };
    setup_hooks(project, &only_before_run, hosts, signals, emit).await
}

/// The hooks every host runs before the run (`run_setup_hooks`), said as they start. `None`: a
/// signal stopped them (said as an event).
async fn setup_hooks(
    project: &Project,
    hooks: &crate::inventory::Hooks,
    hosts: Vec<PreparedHost>,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Option<(Vec<PreparedHost>, Vec<LeftOut>)> {
    if hooks.before_run.is_some() {
        emit(RunEvent::Setup(Setup::Hook { name: "before_run", places: hosts.len() }));
    }
    if hooks.before_slot.is_some() && project.preload {
        emit(RunEvent::Setup(Setup::Hook { name: "before_slot", places: hosts.iter().map(|h| h.slots).sum() }));
    }
    let ran = signals.unless_stopped(run_setup_hooks(project, hooks, hosts, project.preload)).await;
    if ran.is_none() {
        emit(RunEvent::InterruptedBeforeRun { doing: "running the before_run and before_slot hooks".into(), done: Vec::new() });
    }
    ran
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
        fork_boot: None,
        // This binary starts in a millisecond, Ruby in tens of them. One removed since it
        // started (`/proc/self/exe` then reads "… (deleted)") leaves the Ruby client.
        client: std::env::current_exe().ok().filter(|exe| exe.is_file()).map(|exe| exe.to_string_lossy().into_owned()),
    }
}

/// Other runs may share these hosts: takes only their free slots (or waits for one), saying
/// which hosts run on fewer. `None`: a signal stopped it (said as an event).
async fn lease_slots(hosts: Vec<PreparedHost>, signals: &Signals, emit: &mut (dyn FnMut(RunEvent) + Send)) -> Option<lease::Leased> {
    let Some(leased) = signals.unless_stopped(lease::lease_all(hosts, true)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "waiting for free slots on the hosts".into(), done: Vec::new() });
        return None;
    };
    for note in &leased.notes {
        emit(RunEvent::Warning(Warning::Leasing(note.clone())));
    }
    tracing::debug!("leased the slots");
    Some(leased)
}
