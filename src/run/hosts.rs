//! What the dispatcher knows of each host: its runners booting, how many may boot at once,
//! whether its slots may take work yet, and whether it left the run.

use crate::fleet::servers::RunServers;
use crate::fleet::{Launch, PreparedHost, Slot};
use std::sync::Arc;

/// One host of the run, as the dispatcher sees it.
pub(super) struct HostState {
    pub(super) prepared: Arc<PreparedHost>,
    /// Runners booting there now: booting Ruby is CPU work, and more runners booting on a host
    /// than it has cores slows them all.
    pub(super) booting: usize,
    /// How many runners may boot there at once: its cores, or all its slots when its batches
    /// fork.
    pub(super) boot_limit: usize,
    /// Whether its slots may take work: not while its fork server boots.
    pub(super) ready: bool,
    /// It left the run (lost, or its `--preload` helper did not load): it takes no more work.
    pub(super) left: bool,
    /// At the start of the run: its batches fork from a server (or will, once it is up).
    pub(super) forks: bool,
    /// A batch there said it stores its coverage result: the host is asked for the results at
    /// the end (no other is).
    pub(super) coverage: bool,
}

impl HostState {
    /// Every host at the start of the run, its servers started (or still booting).
    ///
    /// A batch forked from a fork server or a preload server starts in tens of milliseconds, not
    /// a Ruby boot: on a host where every slot forks its batches (or will, once its server is
    /// up) all its slots may boot at once.
    pub(super) fn all(hosts: Vec<PreparedHost>, slots: &[Slot], servers: &RunServers) -> Vec<HostState> {
        let mut forks = vec![false; hosts.len()];
        for slot in slots {
            forks[slot.host_index] = slot.launch != Launch::Fresh;
        }
        hosts.into_iter().zip(forks).enumerate().map(|(h, (prepared, forks))| HostState::new(prepared, forks || servers.booting(h), !servers.booting(h))).collect()
    }

    /// A host of the run: `forks`, its batches fork from a server (or will, once it is up);
    /// `ready`, its slots may take work now.
    pub(super) fn new(prepared: PreparedHost, forks: bool, ready: bool) -> HostState {
        let boot_limit = if forks { prepared.boot_parallelism.max(prepared.slots) } else { prepared.boot_parallelism };
        HostState { prepared: Arc::new(prepared), booting: 0, boot_limit, ready, left: false, forks, coverage: false }
    }

    /// Whether every slot of the host boots at once: when so, they all take their first batch in
    /// wave 0 instead of one core's worth at a time.
    pub(super) fn boots_at_once(&self) -> bool {
        self.boot_limit >= self.prepared.slots
    }

    /// Its batches run as fresh processes now: a core's worth boots at a time.
    pub(super) fn boots_fresh(&mut self) {
        self.boot_limit = self.prepared.boot_parallelism;
    }
}

/// Each slot's boot wave: its own, or 0 on a host whose slots all boot at once.
pub(super) fn boot_waves(hosts: &[HostState], slots: &[Slot], waves: Vec<usize>) -> Vec<usize> {
    slots.iter().zip(waves).map(|(slot, wave)| if hosts[slot.host_index].boots_at_once() { 0 } else { wave }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(slots: usize, cores: usize) -> PreparedHost {
        PreparedHost {
            host: std::sync::Arc::new(crate::ssh::LocalHost::new()),
            slots,
            boot_parallelism: cores,
            workdir: "/nonexistent".into(),
            support_dir: ".testbot".into(),
            compiled_dir: None,
            client: None,
            slot_numbers: Vec::new(),
            tmp_dir: None,
            fork_boot: None,
        }
    }

    fn state(prepared: PreparedHost, forks: bool) -> HostState {
        HostState::new(prepared, forks, true)
    }

    #[test]
    fn a_host_whose_batches_fork_boots_all_its_slots_at_once_until_it_runs_fresh_processes() {
        let mut forked = state(host(8, 2), true);
        assert!(forked.boots_at_once());
        forked.boots_fresh();
        assert_eq!(forked.boot_limit, 2, "a core's worth at a time");
        assert!(!forked.boots_at_once());
        assert!(!state(host(8, 2), false).boots_at_once());
    }
}
