//! `testbot exec`: one shell command on every host (or every slot, with its environment), in the
//! project's copy there, side by side. The outcome of each goes to `report::print_exec`.

use super::hooks::{run_script, Finished, HookError, HOOK_TIMEOUT};
use super::slots::{build_slots, host_env, PreparedHost};
use super::{remote, HostFailure};
use crate::inventory::Inventory;
use crate::project::Project;
use crate::signals::Signals;
use crate::ssh::LocalHost;
use std::sync::Arc;

/// Where a command ran (`host1`, or `host1#2` for a slot) and how it went.
#[derive(Debug)]
pub struct ExecOutcome {
    pub place: String,
    pub result: Result<Finished, HostFailure>,
}

impl ExecOutcome {
    pub fn succeeded(&self) -> bool {
        self.result.as_ref().is_ok_and(|f| f.exit.success())
    }
}

/// Connects to (and syncs) every host, then runs `command` once a host, or once a slot. A
/// signal stops what still runs (or connects): those places report `HostFailure::Interrupted`.
pub async fn exec(project: &Project, inventory: &Inventory, command: &str, per_slot: bool, signals: &Signals) -> Vec<ExecOutcome> {
    let mut hosts = Vec::new();
    if project.local_slots > 0 {
        hosts.push(PreparedHost {
            host: Arc::new(LocalHost::new()),
            slots: project.local_slots,
            boot_parallelism: 1,
            workdir: crate::sync::local_workdir(&project.root),
            // Only TMPDIR points here, under the project's own tmp/.
            support_dir: project.root.join("tmp").join("testbot").to_string_lossy().into_owned(),
            compiled_dir: None,
            slot_numbers: Vec::new(),
            tmp_dir: None,
            fork_boot: None,
            client: None,
        });
    }
    // `testbot exec` says nothing of the phases: its output is the command's.
    let (remote_hosts, failures) = remote::prepare(project, inventory, signals, &tokio::sync::mpsc::unbounded_channel().0).await;
    hosts.extend(remote_hosts);
    let mut outcomes: Vec<ExecOutcome> =
        failures.into_iter().map(|f| ExecOutcome { place: f.host, result: Err(f.failure) }).collect();
    if per_slot {
        let slots = build_slots(project, &hosts);
        let runs = slots.iter().map(|(slot, _)| stoppable(signals, run_script(&*slot.host, command, slot.env.clone(), slot.workdir.clone(), HOOK_TIMEOUT)));
        let results = futures::future::join_all(runs).await;
        for ((slot, _), result) in slots.iter().zip(results) {
            outcomes.push(ExecOutcome { place: slot.info.tag(), result });
        }
    } else {
        let runs = hosts.iter().map(|h| stoppable(signals, run_script(&*h.host, command, host_env(project, h), h.workdir.clone(), HOOK_TIMEOUT)));
        let results = futures::future::join_all(runs).await;
        for (h, result) in hosts.iter().zip(results) {
            outcomes.push(ExecOutcome { place: h.host.name().to_string(), result });
        }
    }
    outcomes.sort_by(|a, b| a.place.cmp(&b.place));
    outcomes
}

/// `run` unless a signal comes first (dropping it kills the command).
async fn stoppable(signals: &Signals, run: impl std::future::Future<Output = Result<Finished, HookError>>) -> Result<Finished, HostFailure> {
    match signals.unless_stopped(run).await {
        Some(result) => result.map_err(HostFailure::Hook),
        None => Err(HostFailure::Interrupted),
    }
}
