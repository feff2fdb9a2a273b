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
    /// The slots booting there now, each with the most runners that booted beside it (itself
    /// included) since it started: see `boot_ended`.
    crowds: Vec<(usize, usize)>,
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
        HostState { prepared: Arc::new(prepared), booting: 0, crowds: Vec::new(), boot_limit, ready, left: false, forks, coverage: false }
    }

    /// Slot `slot`'s runner starts booting here.
    pub(super) fn boot_started(&mut self, slot: usize) {
        self.booting += 1;
        let now = self.booting;
        for (_, crowd) in &mut self.crowds {
            *crowd = (*crowd).max(now);
        }
        self.crowds.push((slot, now));
    }

    /// Slot `slot`'s runner booted (or never will): the share of a core it had while it booted,
    /// at the least — the host's cores over the most runners that booted beside it, 1 when each
    /// had a core. A forked slot's first batch boots with all the host's other slots at once
    /// (and over SSH with the host's fork server's first children on shared cores): its wall
    /// time times this share is what it would take with a core of its own, which is what the
    /// queue's boot rules are about (a suite's own heavy boot, not a crowded start; session 30).
    pub(super) fn boot_ended(&mut self, slot: usize) -> f64 {
        self.booting = self.booting.saturating_sub(1);
        let crowd = match self.crowds.iter().position(|(s, _)| *s == slot) {
            Some(i) => self.crowds.swap_remove(i).1,
            None => 1,
        };
        (self.prepared.boot_parallelism.max(1) as f64 / crowd.max(1) as f64).min(1.0)
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

    #[test]
    fn a_boot_beside_more_runners_than_cores_counts_its_share_of_a_core() {
        let mut h = state(host(4, 2), true);
        for slot in 0..4 {
            h.boot_started(slot);
        }
        assert_eq!(h.booting, 4);
        // Four at once on two cores: each had half a core, the first as much as the last.
        assert_eq!(h.boot_ended(0), 0.5);
        assert_eq!(h.boot_ended(3), 0.5);
        // A runner that starts once the crowd has gone boots on a core of its own.
        h.boot_ended(1);
        h.boot_ended(2);
        h.boot_started(1);
        assert_eq!(h.boot_ended(1), 1.0);
        assert_eq!(h.booting, 0);
        // Two on two cores: a core each.
        h.boot_started(0);
        h.boot_started(1);
        assert_eq!((h.boot_ended(0), h.boot_ended(1)), (1.0, 1.0));
    }
}
