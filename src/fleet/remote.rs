//! SSH hosts for a run: connect to every host at once, learn its cores, put the project there.
//! A host that fails any step is left out with the reason; the run goes on with the others.

use super::tmpdir::{self, RunTmpDir};
use super::{Error, HostFailure, LeftOut, PreparedHost};
use crate::events::Setup;
use crate::inventory::{HostSpec, Inventory, Slots};
use crate::project::Project;
use crate::signals::Signals;
use crate::ssh::quote::quote;
use crate::ssh::{config, Host, HostCommand, SshHost, SshTarget};
use crate::sync;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a host's phases go as they end (`prepare`), for the run to say them.
pub type Progress = tokio::sync::mpsc::UnboundedSender<Setup>;

/// What `testbot hosts` and a run learn about a reachable host.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cores: usize,
    pub round_trip: Duration,
}

/// The SSH target for an inventory host (see `ssh::config`), and whether ssh-agent may be used.
pub fn target(spec: &HostSpec, inventory: &Inventory) -> Result<(SshTarget, bool), config::ConfigError> {
    let entry = config::HostEntry {
        name: spec.name.clone(),
        address: spec.address.clone(),
        port: spec.port,
        user: spec.user.clone(),
        identity: spec.identity.clone(),
    };
    let options = config::Options {
        config: inventory.ssh.config.clone(),
        known_hosts: inventory.ssh.known_hosts.clone(),
        policy: inventory.ssh.host_key_checking,
        connect_timeout: CONNECT_TIMEOUT,
        alive_interval: inventory.ssh.server_alive_interval,
        alive_count_max: inventory.ssh.server_alive_count_max,
        local_user: inventory.invocation.user.clone(),
    };
    let resolved = config::resolve(&entry, &options)?;
    Ok((resolved.target, resolved.use_agent))
}

/// Connects and authenticates, nothing more.
async fn connect_only(spec: &HostSpec, inventory: &Inventory, sessions: usize) -> Result<SshHost, HostFailure> {
    let (target, use_agent) = target(spec, inventory).map_err(HostFailure::Target)?;
    let agent = inventory.invocation.ssh_agent.clone().filter(|_| use_agent);
    SshHost::connect(target, sessions, agent).await.map_err(HostFailure::Connect)
}

/// Connects and asks the host for its cores; `slots = "auto"` becomes that number.
async fn connect(spec: &HostSpec, inventory: &Inventory) -> Result<(SshHost, HostFacts, usize), HostFailure> {
    let host = connect_only(spec, inventory, sessions(spec)).await?;
    let (facts, slots) = count_slots(&host, spec).await?;
    Ok((host, facts, slots))
}

/// The connections a host's commands need: one a slot and one for the run's own (the lease).
fn sessions(spec: &HostSpec) -> usize {
    match spec.slots {
        Slots::Count(n) => n + 1,
        Slots::Auto => 8,
    }
}

/// Asks a connected host for its cores: what it is, and its slots (`slots = "auto"`: its
/// cores; fewer where it refused connections).
async fn count_slots(host: &SshHost, spec: &HostSpec) -> Result<(HostFacts, usize), HostFailure> {
    let facts = ask_cores(host).await?;
    let slots = slots_for(host, spec, facts.cores);
    Ok((facts, slots))
}

/// The host's cores, from a command of their own (`nproc`).
async fn ask_cores(host: &SshHost) -> Result<HostFacts, HostFailure> {
    let started = Instant::now();
    let ran = host
        .run(HostCommand::shell("nproc 2>/dev/null || getconf _NPROCESSORS_ONLN"), crate::ssh::RUN_TIMEOUT)
        .await
        .map_err(HostFailure::Command)?;
    let round_trip = started.elapsed();
    let cores = String::from_utf8_lossy(&ran.stdout()).trim().parse::<usize>().map_err(|_| HostFailure::CoreCount {
        exit: ran.exit,
        stderr: String::from_utf8_lossy(&ran.stderr()).trim().to_string(),
    })?;
    Ok(HostFacts { cores, round_trip })
}

/// The slots `spec` runs on a host with `cores` (`slots = "auto"`: its cores; fewer where it
/// refused connections).
fn slots_for(host: &SshHost, spec: &HostSpec, cores: usize) -> usize {
    let slots = match spec.slots {
        Slots::Count(n) => n,
        Slots::Auto => cores.max(1),
    };
    let fit = fitted(host, slots);
    if fit < slots {
        tracing::warn!(host = %spec.name, slots, fit, "the host refused connections: running fewer slots there");
    }
    fit
}

/// `host`'s slots (said on `progress` as `Setup::Connected`) and its cores, unless they come from
/// the Ruby that makes its run directory (`cores_from_keeper`).
async fn count_beside(host: &SshHost, spec: &HostSpec, beside: Beside, progress: &Progress) -> Result<(Option<usize>, usize), HostFailure> {
    let counted = if cores_from_keeper(spec, beside) {
        Ok((None, slots_for(host, spec, 0)))
    } else {
        count_slots(host, spec).await.map(|(facts, slots)| (Some(facts.cores), slots))
    };
    if let Ok((_, slots)) = &counted {
        let _ = progress.send(Setup::Connected { host: spec.name.clone(), slots: *slots });
    }
    counted
}

/// Whether `spec`'s cores come from the Ruby that makes its run directory (`beside`), with no
/// `nproc` of its own: a host with a number of slots needs them only once it is synced (how
/// many runners boot there at once); `slots = "auto"` sizes its slots with them.
fn cores_from_keeper(spec: &HostSpec, beside: Beside) -> bool {
    beside != Beside::Nothing && matches!(spec.slots, Slots::Count(_))
}

/// `slots`, or fewer on a host that refused connections while it was connected: it would refuse
/// them again when the slots need them, so it runs what its connections hold (one command of
/// theirs is kept for the run's own, like the lease).
fn fitted(host: &SshHost, slots: usize) -> usize {
    if host.refused_connections().is_empty() {
        return slots;
    }
    slots.min(host.capacity().saturating_sub(1).max(1))
}

/// What `testbot hosts` says about a host that refused connections or channels while it was
/// asked for as many as its slots need, if it did.
async fn capacity_note(host: &SshHost, slots: usize) -> Option<String> {
    let refused = host.refused_connections();
    if let Some(first) = refused.first() {
        return Some(format!(
            "it refused {} of the connections its {slots} slots need ({first}), so it runs {} commands at once; \
             raise MaxStartups in its sshd_config (testbot opens {} at a time), or lower `slots`",
            refused.len(),
            host.capacity(),
            crate::ssh::CONNECTS_AT_ONCE,
        ));
    }
    let needed = slots + 1;
    let (opened, refusal) = host.channel_capacity(needed).await;
    (opened < needed).then(|| {
        format!(
            "it refused channels: {opened} of the {needed} sessions its {slots} slots need opened at once ({}); \
             raise MaxSessions in its sshd_config (testbot runs up to {} commands a connection), or lower `slots`",
            refusal.unwrap_or_else(|| "no reason given".into()),
            crate::ssh::COMMANDS_PER_CONNECTION,
        )
    })
}

/// Every inventory host, connected and synced side by side (or, with `--no-sync`, checked to
/// hold a finished copy), each host's phases sent on `progress` as they end.
pub async fn prepare(project: &Project, inventory: &Inventory, signals: &Signals, progress: &Progress) -> (Vec<PreparedHost>, Vec<LeftOut>) {
    let mut ready = Vec::new();
    let mut failures = Vec::new();
    for result in futures::future::join_all(host_jobs(project, inventory, signals, progress, Beside::Nothing).into_iter().map(|(_, job)| job)).await {
        match result {
            Ok((host, _)) => ready.push(host),
            Err(failure) => failures.push(failure),
        }
    }
    (ready, failures)
}

/// A host connected and synced, and (asked for) what it holds for the run, made beside the sync.
pub type HostJob<'a> = futures::future::BoxFuture<'a, Result<(PreparedHost, Option<Held>), LeftOut>>;

/// What a host's job makes there beside the sync (none of it needs the copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beside {
    Nothing,
    /// The run's directory.
    RunDir,
    /// The run's directory and, on a host with a number of slots, their leases, both from one
    /// Ruby (`slots = "auto"`: the leases wait for its cores, after the sync).
    RunDirAndLeases,
}

/// What a host holds for the run, made beside its sync.
pub struct Held {
    pub dir: RunTmpDir,
    /// Its slots' leases as taking them came out (`Beside::RunDirAndLeases`, a host with a
    /// number of slots): the same process holds them and the directory.
    pub lease: Option<Result<super::lease::Lease, super::LeaseError>>,
}

/// What `host` holds for the run, made as `beside` asks (None: nothing).
async fn hold(host: &SshHost, spec: &HostSpec, beside: Beside) -> Option<Result<Held, HostFailure>> {
    // From the login directory: a first run's copy does not exist yet.
    let held = match (beside, spec.slots, host.identity()) {
        (Beside::Nothing, ..) => return None,
        (Beside::RunDirAndLeases, Slots::Count(n), Some(identity)) => {
            tmpdir::keep_run_dir_leasing(host, &identity, fitted(host, n)).await.map(|(dir, lease)| Held { dir, lease: Some(lease) })
        }
        _ => tmpdir::keep_run_dir(host, PathBuf::new()).await.map(|dir| Held { dir, lease: None }),
    };
    Some(held.map_err(HostFailure::TmpDir))
}

/// One job a host, each connecting and syncing its host on its own (the project's tree walked
/// and hashed once for all while they connect); each also makes what `beside` asks for on its
/// host while it syncs. A signal stops the hosts not
/// ready yet: they fail `Interrupted` (dropping their work closes their channels, and the
/// watchdogs end what ran there).
pub fn host_jobs<'a>(
    project: &'a Project,
    inventory: &'a Inventory,
    signals: &'a Signals,
    progress: &Progress,
    beside: Beside,
) -> Vec<(&'a str, HostJob<'a>)> {
    use futures::FutureExt;
    if inventory.hosts.is_empty() {
        return Vec::new();
    }
    let remote_dir = remote_dir(inventory, &project.root);
    let local = (!inventory.invocation.no_sync).then(|| build_local(project, inventory, signals));
    let payloads = Arc::new(sync::Payloads::default());
    let jobs = inventory.hosts.iter().map(|spec| {
        let (remote_dir, local, payloads, progress) = (remote_dir.clone(), local.clone(), payloads.clone(), progress.clone());
        let work = async move {
            let host = connect_only(spec, inventory, sessions(spec)).await?;
            // Its cores, its copy and its run directory at once: each is a round trip (or a
            // Ruby's start), and none needs another (with a number of slots, that Ruby says the cores).
            let (counted, synced, held) = futures::join!(count_beside(&host, spec, beside, &progress), put_project(&host, &spec.name, &remote_dir, local, &payloads), hold(&host, spec, beside));
            let (cores, slots) = counted?;
            synced?;
            let held = held.transpose()?;
            let cores = match cores.or_else(|| held.as_ref()?.dir.cores) {
                Some(cores) => cores,
                None => ask_cores(&host).await?.cores,
            };
            tracing::debug!(host = %spec.name, cores, slots, "its cores");
            let _ = progress.send(Setup::Synced { host: spec.name.clone(), checked: inventory.invocation.no_sync });
            let prepared = PreparedHost {
                host: Arc::new(host) as Arc<dyn Host>,
                slots,
                boot_parallelism: cores.max(1),
                workdir: PathBuf::from(sync::remote_path(&remote_dir)),
                support_dir: SUPPORT_DIR.to_string(),
                compiled_dir: Some(format!("{SUPPORT_DIR}/{}", super::COMPILED)),
                slot_numbers: Vec::new(),
                tmp_dir: None,
                client: None,
                fork_boot: None,
            };
            Ok::<_, HostFailure>((prepared, held))
        };
        let job = async move {
            let result = signals.unless_stopped(work).await.unwrap_or(Err(HostFailure::Interrupted));
            result.map_err(|failure| LeftOut::new(&spec.name, failure))
        };
        (spec.name.as_str(), job.boxed())
    });
    jobs.collect()
}

/// The project put in `remote_dir` on `host` (`local`: what to sync), or, with `--no-sync`,
/// checked to be a finished copy there.
async fn put_project(
    host: &SshHost,
    name: &str,
    remote_dir: &str,
    local: Option<sync::LocalFuture>,
    payloads: &sync::Payloads,
) -> Result<(), HostFailure> {
    match local {
        None => sync::check_synced(host, remote_dir).await.map_err(HostFailure::Sync)?,
        Some(local) => {
            let done = sync::sync_host(host, remote_dir, local, payloads, sync::SyncOptions { verify: false, run_next: true }).await.map_err(HostFailure::SyncFailed)?;
            tracing::debug!(host = %name, ?done, "synced");
        }
    }
    Ok(())
}

/// Where the formatter goes in the remote copy, as `--require` reads it from the project's dir.
const SUPPORT_DIR: &str = "./.testbot";

fn remote_dir(inventory: &Inventory, root: &std::path::Path) -> String {
    inventory.sync.remote_dir.clone().unwrap_or_else(|| sync::default_remote_dir(root, inventory.invocation.user.as_deref()))
}

/// The framework's support files, as they go into the remote copy.
pub fn support_files(project: &Project) -> Vec<(String, Vec<u8>)> {
    project
        .framework
        .support_files()
        .into_iter()
        .map(|(name, contents)| (format!("{}/{name}", sync::manifest::RESERVED_DIR), contents.as_bytes().to_vec()))
        .collect()
}

/// What the sync leaves out: `[sync] exclude`, and testbot's own files in the project (its
/// runtime history), as patterns that match only those paths.
fn sync_exclude(project: &Project, inventory: &Inventory) -> Vec<String> {
    let mut exclude = inventory.sync.exclude.clone();
    for file in project.own_files() {
        if let Some(rel) = file.strip_prefix(&project.root).ok().and_then(|rel| rel.to_str()) {
            exclude.push(globset::escape(rel));
        }
    }
    exclude
}

/// The project's manifest, built on a blocking thread (it walks and may hash the whole tree),
/// as a future every host can await. A signal stops the thread within a buffer's read, so that
/// the process does not wait for it on its way out.
fn build_local(project: &Project, inventory: &Inventory, signals: &Signals) -> sync::LocalFuture {
    use futures::FutureExt;
    let support = support_files(project);
    let (root, exclude, include) = (project.root.clone(), sync_exclude(project, inventory), inventory.sync.include.clone());
    let user = inventory.invocation.user.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = {
        let (stop, signals) = (stop.clone(), signals.clone());
        tokio::spawn(async move {
            signals.stopped().await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let built = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let cache = sync::local::cache_dir(&root, user.as_deref());
        let built = sync::Local::build_stoppable(sync::Tree { root: &root, exclude: &exclude, include: &include }, support, cache.as_deref(), &stop);
        stopper.abort();
        if let Ok(local) = &built {
            tracing::debug!(entries = local.manifest.entries.len(), stats = ?local.stats, seconds = started.elapsed().as_secs_f64(), "built the manifest");
        }
        built
    });
    async move {
        match built.await {
            Ok(Ok(local)) => Ok(Arc::new(local)),
            Ok(Err(e)) => Err(Arc::new(e)),
            Err(e) => Err(Arc::new(sync::SyncError::Collect(e))),
        }
    }
    .boxed()
    .shared()
}

/// One host's line of `testbot sync`.
#[derive(Debug)]
pub struct SyncReport {
    pub name: String,
    pub result: Result<sync::HostSync, HostFailure>,
}

/// What `testbot sync` did on every host.
pub struct Synced {
    pub reports: Vec<SyncReport>,
    /// Some host's `remote_dir` is one another user could change (see `HostFailure::is_unsafe_dir`).
    pub unsafe_dir: bool,
}

/// `testbot sync [--verify]`: every host connected and synced at once, nothing run. A signal
/// stops the hosts still syncing (they report `Interrupted`); the others keep their result.
pub async fn sync_only(project: &Project, inventory: &Inventory, verify: bool, signals: &Signals) -> Result<Synced, Error> {
    let remote_dir = remote_dir(inventory, &project.root);
    let local = build_local(project, inventory, signals);
    let payloads = sync::Payloads::default();
    let jobs = inventory.hosts.iter().map(|spec| {
        let (local, payloads, remote_dir) = (local.clone(), &payloads, &remote_dir);
        async move {
            // One connection: a sync runs one command at a time.
            let work = async {
                let host = connect_only(spec, inventory, 1).await?;
                sync::sync_host(&host, remote_dir, local, payloads, sync::SyncOptions { verify, run_next: false }).await.map_err(HostFailure::Sync)
            };
            let result = signals.unless_stopped(work).await.unwrap_or(Err(HostFailure::Interrupted));
            SyncReport { name: spec.name.clone(), result }
        }
    });
    let reports: Vec<SyncReport> = futures::future::join_all(jobs).await;
    let unsafe_dir = reports.iter().any(|r| r.result.as_ref().is_err_and(HostFailure::is_unsafe_dir));
    let synced = Synced { reports, unsafe_dir };
    if signals.caught().is_some() {
        // The tree may still be being hashed: do not wait for it.
        return Ok(synced);
    }
    // A project that could not be read is one error, not one per host.
    local.await.map_err(Error::Project)?;
    Ok(synced)
}

/// One row of `testbot hosts`.
#[derive(Debug)]
pub struct HostCheck {
    pub name: String,
    pub endpoint: String,
    pub result: Result<HostReport, HostFailure>,
}

#[derive(Debug, Clone)]
pub struct HostReport {
    pub user: String,
    pub cores: usize,
    pub slots: usize,
    pub ruby: Option<String>,
    pub bundler: Option<String>,
    pub free_mb: Option<u64>,
    pub round_trip: Duration,
    pub remote_dir: String,
    /// Why it cannot run all its slots at once (it refused connections or channels), if so.
    pub capacity: Option<String>,
    /// Why a sync would refuse its `remote_dir`, if it would.
    pub dir_problem: Option<String>,
}

impl HostReport {
    /// Why the host cannot run the suite, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.ruby.is_none() {
            Some("no `ruby` on its PATH".into())
        } else {
            self.dir_problem.clone()
        }
    }
}

/// Checks every host at once, for `testbot hosts`; a signal stops the checks still running
/// (those hosts report `Interrupted`).
pub async fn check_all(inventory: &Inventory, root: &std::path::Path, signals: &Signals) -> Vec<HostCheck> {
    let remote_dir = inventory.sync.remote_dir.clone().unwrap_or_else(|| sync::default_remote_dir(root, inventory.invocation.user.as_deref()));
    let checks = inventory.hosts.iter().map(|spec| {
        let remote_dir = remote_dir.clone();
        async move {
            // Where it really connects: an ssh-config alias resolved, a jump host named.
            let endpoint = match target(spec, inventory) {
                Ok((t, _)) => match &t.jump {
                    Some(jump) => format!("{}:{} via {}:{}", t.address, t.port, jump.address, jump.port),
                    None => format!("{}:{}", t.address, t.port),
                },
                Err(_) => format!("{}:{}", spec.address, spec.port),
            };
            let work = async {
                let (host, facts, slots) = connect(spec, inventory).await?;
                // Before the script below makes the directory: a sync's own check.
                let dir_problem = sync::check_dir(&host, &remote_dir).await.err().map(|e| crate::error_chain::chain(&e));
                let dir = quote(&remote_dir);
                let script = format!(
                    "printf 'ruby=%s\\n' \"$(ruby -v 2>/dev/null)\"; printf 'bundler=%s\\n' \"$(bundle -v 2>/dev/null)\"; \
                     mkdir -p {dir} 2>/dev/null; printf 'free_kb=%s\\n' \"$(df -Pk {dir} 2>/dev/null | awk 'NR==2 {{print $4}}')\""
                );
                let ran = host.run(HostCommand::shell(&script), crate::ssh::RUN_TIMEOUT).await.map_err(HostFailure::Command)?;
                let capacity = capacity_note(&host, slots).await;
                let out = String::from_utf8_lossy(&ran.stdout()).into_owned();
                let field = |key: &str| {
                    out.lines()
                        .find_map(|l| l.strip_prefix(&format!("{key}=")))
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                };
                Ok::<_, HostFailure>(HostReport {
                    user: host.target().user.clone(),
                    cores: facts.cores,
                    slots,
                    ruby: field("ruby"),
                    bundler: field("bundler"),
                    free_mb: field("free_kb").and_then(|v| v.parse::<u64>().ok()).map(|kb| kb / 1024),
                    round_trip: facts.round_trip,
                    remote_dir: remote_dir.clone(),
                    capacity,
                    dir_problem,
                })
            };
            let result = signals.unless_stopped(work).await.unwrap_or(Err(HostFailure::Interrupted));
            HostCheck { name: spec.name.clone(), endpoint, result }
        }
    });
    futures::future::join_all(checks).await
}
