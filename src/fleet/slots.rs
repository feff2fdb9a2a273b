//! The hosts a run has and their slots: each slot's environment (parallel_tests' variables, its
//! own TMPDIR), and the hooks that prepare hosts and slots before anything runs.

use super::{coverage, hooks, tmpdir, HostFailure, LeftOut};
use crate::events::SlotInfo;
use crate::project::Project;
use crate::schedule;
use crate::ssh::Host;
use std::path::PathBuf;
use std::sync::Arc;

/// A host ready for work: connected, its copy of the project in place.
pub struct PreparedHost {
    pub host: Arc<dyn Host>,
    pub slots: usize,
    /// Runners that may boot at once (its cores).
    pub boot_parallelism: usize,
    /// The project's directory there.
    pub workdir: PathBuf,
    /// Where the formatter was put, as the runner's `--require` reads it.
    pub support_dir: String,
    /// Where its fork server keeps the compiled code of what it loads, between runs (None: it
    /// compiles it every run).
    pub compiled_dir: Option<String>,
    /// testbot's own binary, the client of its batches' servers where it can run (this
    /// machine); None: `testbot_client.rb`.
    pub client: Option<String>,
    /// The numbers of its slots (TEST_ENV_NUMBER derives from them): the ones leased on a
    /// shared host; empty: 1..=slots.
    pub slot_numbers: Vec<usize>,
    /// The run's directory for its slots' TMPDIRs (an SSH host's, made by `tmpdir::keep_run_dir`);
    /// None: `tmp` in the support dir (this machine's, private and outside the project).
    pub tmp_dir: Option<String>,
    /// Its fork server, booting since it got ready (None: it boots when the run starts).
    pub fork_boot: Option<EarlyBoot>,
}

/// How one host's fork server boot ended, and the socket it serves on.
pub struct Booted {
    pub socket: String,
    pub result: Result<crate::ssh::Process, super::BootFailure>,
}

/// A host's fork server booting since the host got ready for it (synced, its run directory made,
/// its `before_run` hook passed if it has one), while its slots are leased and the run starts
/// (`fork::boot_early`): `fork::boots` takes it rather than start another. Dropping it kills a
/// server still booting.
pub struct EarlyBoot {
    pub(super) booted: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<Booted>>>,
    pub(super) task: tokio::task::AbortHandle,
}

impl Drop for EarlyBoot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PreparedHost {
    /// Where the slots' and the fork server's TMPDIRs go.
    pub fn run_tmp_dir(&self) -> String {
        self.tmp_dir.clone().unwrap_or_else(|| tmpdir::beside_support(&self.support_dir))
    }
}

/// How a slot's batches start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Launch {
    /// As a fresh process: a Ruby boot per batch.
    #[default]
    Fresh,
    /// Forked from its host's fork server (listening on `socket`).
    Forked { socket: String },
    /// Handed to the slot's own preload server (listening on `socket`), which has the suite's
    /// helper loaded (itself forked from the host's fork server when there is one).
    Preloaded { socket: String },
}

pub struct Slot {
    pub info: SlotInfo,
    /// Index into the prepared hosts.
    pub host_index: usize,
    pub host: Arc<dyn Host>,
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    pub support_dir: String,
    /// How its batches start: fresh until `servers.rs` points it at a server that got ready.
    pub launch: Launch,
    /// Its host's `client`.
    pub client: Option<String>,
    /// The `before_slot` hook, still to run before the slot's first batch (None: it ran, or
    /// there is none, or it ran with the host's setup, as `--preload` needs).
    pub before_slot: Option<Arc<str>>,
    /// Where its forked and preloaded batches go where there is no `client` (an SSH host): one
    /// channel and one Ruby client for batch after batch.
    pub session: Option<Arc<super::session::BatchSession>>,
}

/// `before_run` on every host at once, then (`slots_now`: with `--preload`, whose servers load the
/// suite's helper before any batch) `before_slot` on every slot at once; without it, each slot
/// runs `before_slot` when it gets its first batch (`Slot::before_slot`). Returns the hosts
/// whose hooks passed, and why the others are left out.
pub async fn run_setup_hooks(
    project: &Project,
    hooks: &crate::inventory::Hooks,
    hosts: Vec<PreparedHost>,
    slots_now: bool,
) -> (Vec<PreparedHost>, Vec<LeftOut>) {
    let mut failed: Vec<Option<HostFailure>> = (0..hosts.len()).map(|_| None).collect();
    if let Some(script) = &hooks.before_run {
        let runs = hosts.iter().map(|h| hooks::run_hook(&*h.host, "before_run", script, host_env(project, h), h.workdir.clone()));
        for (i, result) in futures::future::join_all(runs).await.into_iter().enumerate() {
            failed[i] = result.err().map(HostFailure::Hook);
        }
    }
    if let Some(script) = hooks.before_slot.as_ref().filter(|_| slots_now) {
        let slots = build_slots(project, &hosts);
        let runs = slots.iter().filter(|(s, _)| failed[s.host_index].is_none()).map(|(slot, _)| {
            // The slot's own environment, as its runners get it.
            let run = hooks::run_hook(&*slot.host, "before_slot", script, slot.env.clone(), slot.workdir.clone());
            async move { (slot.host_index, slot.info.host_slot, run.await) }
        });
        for (h, k, result) in futures::future::join_all(runs).await {
            if let (Err(error), None) = (result, &failed[h]) {
                failed[h] = Some(HostFailure::SlotHook { error, slot: k });
            }
        }
    }
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for (host, why) in hosts.into_iter().zip(failed) {
        match why {
            None => ok.push(host),
            Some(failure) => failures.push(LeftOut::new(host.host.name(), failure)),
        }
    }
    (ok, failures)
}

/// What a host-wide hook gets: `[project] env`, the host's name and its number of slots.
pub fn host_env(project: &Project, host: &PreparedHost) -> Vec<(String, String)> {
    let mut env = project.env.clone();
    env.push(("TESTBOT_HOST".to_string(), host.host.name().to_string()));
    env.push(("PARALLEL_TEST_GROUPS".to_string(), host.slots.to_string()));
    env
}

/// Every slot of every host, in the order they take their first batch, with its boot wave.
pub fn build_slots(project: &Project, hosts: &[PreparedHost]) -> Vec<(Slot, usize)> {
    build_slots_from(project, hosts, 1)
}

/// `build_slots`, their ids from `first_id` on (a host that joins a run: after the run's slots).
pub fn build_slots_from(project: &Project, hosts: &[PreparedHost], first_id: usize) -> Vec<(Slot, usize)> {
    let shape: Vec<(usize, usize)> = hosts.iter().map(|h| (h.slots, h.boot_parallelism)).collect();
    schedule::boot_order(&shape)
        .into_iter()
        .enumerate()
        .map(|(n, (h, k, wave))| {
            let host = &hosts[h];
            let number = host.slot_numbers.get(k).copied().unwrap_or(k + 1);
            let info = SlotInfo { id: n + first_id, host: Arc::from(host.host.name()), host_slot: number };
            let env = with_impact_env(
                coverage::with_batch_env(tmpdir::with_slot_tmpdir(slot_env(project, &info, host.slots), &host.run_tmp_dir(), info.host_slot), &host.support_dir),
                project,
                &host.support_dir,
            );
            let session = host.client.is_none().then(|| {
                let (support, workdir) = (&host.support_dir, host.workdir.clone());
                Arc::new(super::session::BatchSession::new(host.host.clone(), support, env.clone(), workdir))
            });
            let slot = Slot {
                env,
                session,
                info,
                host_index: h,
                host: host.host.clone(),
                workdir: host.workdir.clone(),
                support_dir: host.support_dir.clone(),
                launch: Launch::Fresh,
                client: host.client.clone(),
                before_slot: None,
            };
            (slot, wave)
        })
        .collect()
}

/// `--record-impact`: every runner (and `--preload` server) starts Coverage before the project
/// loads, through `RUBYOPT` (before the project's own `RUBYOPT` of `[project] env`); a fork
/// server's child starts it itself on seeing `TESTBOT_IMPACT`.
fn with_impact_env(mut env: Vec<(String, String)>, project: &Project, support_dir: &str) -> Vec<(String, String)> {
    if !project.record_impact {
        return env;
    }
    let start = format!("-r{}/testbot_impact_start.rb", support_dir.trim_end_matches('/'));
    match env.iter_mut().find(|(k, _)| k == "RUBYOPT") {
        Some((_, opt)) => *opt = format!("{start} {opt}"),
        None => env.push(("RUBYOPT".to_string(), start)),
    }
    env.push(("TESTBOT_IMPACT".to_string(), "1".to_string()));
    env
}

/// parallel_tests' conventions, so existing database.yml files keep working.
fn slot_env(project: &Project, slot: &SlotInfo, host_slots: usize) -> Vec<(String, String)> {
    let number = if slot.host_slot == 1 && !project.first_is_1 { String::new() } else { slot.host_slot.to_string() };
    let mut env = project.env.clone();
    env.extend([
        ("TEST_ENV_NUMBER".to_string(), number),
        ("PARALLEL_TEST_GROUPS".to_string(), host_slots.to_string()),
        ("TESTBOT_HOST".to_string(), slot.host.to_string()),
        ("TESTBOT_SLOT".to_string(), slot.id.to_string()),
    ]);
    env
}

