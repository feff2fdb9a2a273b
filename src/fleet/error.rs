//! Why the hosts could not be made ready, and why one host could not be used.

use super::hooks::{Finished, HookError};
use super::tmpdir::TmpDirError;
use crate::error_chain::chain;
use crate::ssh::{config::ConfigError, ExitInfo, HostError, RunError, SshError};
use crate::sync::SyncError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Why each host could not run work (this machine's `local` first when it has no slots).
    #[error("no host could run work:\n{}", listed(.0))]
    NoHost(Vec<LeftOut>),
    /// Some host's `remote_dir` is one another user could change: nothing is run anywhere.
    #[error("refusing to run: another user could change what testbot runs as you\n{}", listed(.0))]
    UnsafeRemoteDir(Vec<LeftOut>),
    /// The helper loaded on no host: why, once per distinct reason.
    #[error("the suite's helper did not load for `--preload`, so nothing ran{}", by_reason(.0))]
    Preload(Vec<LeftOut>),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The project could not be read for a sync: one error, not one per host.
    #[error("{}", chain(&**.0))]
    Project(Arc<SyncError>),
}

/// Why one host could not be used: it is left out of a run (or `testbot exec`), or its line in
/// `testbot hosts` and `testbot sync` says so. Each says it as the sentence's end, with the
/// causes of the error it carries (so none is its `source`).
#[derive(Debug, thiserror::Error)]
pub enum HostFailure {
    /// Its `[[host]]` entry and the ssh config give no target.
    #[error("{}", chain(.0))]
    Target(ConfigError),
    #[error("{}", chain(.0))]
    Connect(SshError),
    /// A command of testbot's own there (the core count, `testbot hosts`' checks) did not run.
    #[error("{}", chain(.0))]
    Command(RunError),
    #[error("could not read its core count ({exit}): {stderr}")]
    CoreCount { exit: ExitInfo, stderr: String },
    /// The run's own sync failed (the project itself unreadable: that error alone).
    #[error("{}", sync_failed(.0))]
    SyncFailed(SyncError),
    /// `testbot sync`'s sync, or `--no-sync`'s check of the copy there, failed.
    #[error("{}", chain(.0))]
    Sync(SyncError),
    #[error("{0}")]
    TmpDir(TmpDirError),
    #[error("{0}")]
    Lease(LeaseError),
    /// Every slot it has is leased by other testbot runs.
    #[error("all its {slots} slots are in use by other testbot runs")]
    SlotsInUse { slots: usize },
    /// Its `before_run` hook, or `testbot exec`'s command, failed.
    #[error("{}", chain(.0))]
    Hook(HookError),
    #[error("{} (slot {slot})", chain(.error))]
    SlotHook { error: HookError, slot: usize },
    /// Its preload server did not get ready.
    #[error("{0}")]
    Boot(BootFailure),
    /// A signal stopped it before it was ready.
    #[error("interrupted")]
    Interrupted,
    /// This machine, with `[local] slots = 0`.
    #[error("0 slots (`[local] slots = 0`, or the default with SSH hosts configured)")]
    NoLocalSlots,
}

impl HostFailure {
    /// Its `remote_dir` is one another user could change (`SyncError::Unsafe`): a setup error to
    /// fix, not a host that is down.
    pub fn is_unsafe_dir(&self) -> bool {
        matches!(self, HostFailure::SyncFailed(SyncError::Unsafe { .. }) | HostFailure::Sync(SyncError::Unsafe { .. }))
    }
}

fn sync_failed(error: &SyncError) -> String {
    match error {
        SyncError::Local(e) => chain(&**e),
        e => format!("failed to sync: {}", chain(e)),
    }
}

/// A host that is left out, and why (`report/warning.rs` words it as a run's warning).
#[derive(Debug)]
pub struct LeftOut {
    pub host: String,
    pub failure: HostFailure,
}

impl LeftOut {
    pub fn new(host: impl Into<String>, failure: HostFailure) -> LeftOut {
        LeftOut { host: host.into(), failure }
    }
}

/// `  host: why`, a line each.
fn listed(left_out: &[LeftOut]) -> String {
    left_out.iter().map(|l| format!("  {}: {}", l.host, l.failure)).collect::<Vec<_>>().join("\n")
}

/// `\non host1, host2: why` for each distinct reason, in the order they came.
fn by_reason(left_out: &[LeftOut]) -> String {
    let mut reasons: Vec<(Vec<&str>, String)> = Vec::new();
    for l in left_out {
        let reason = l.failure.to_string();
        match reasons.iter_mut().find(|(_, r)| *r == reason) {
            Some((names, _)) => names.push(&l.host),
            None => reasons.push((vec![&l.host], reason)),
        }
    }
    reasons.iter().map(|(names, reason)| format!("\non {}: {reason}", names.join(", "))).collect()
}

/// Why a host's slots could not be leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The script's word on what is unsafe (a path, its owner and mode).
    #[error("its slot leases cannot be taken safely: {0}; its owner (or root) can remove it")]
    Unsafe(String),
    #[error("could not take its slot leases: {}", chain(.0))]
    Start(HostError),
    /// The script ended without an answer: what it printed.
    #[error("could not take its slot leases: {0}")]
    Failed(String),
    #[error("taking its slot leases timed out")]
    TimedOut,
}

/// Why a fork or preload server (`what`: which, and what it loads) did not get ready.
#[derive(Debug)]
pub enum BootFailure {
    Start { what: &'static str, error: HostError },
    NotReady { what: &'static str, limit: Duration },
    /// It ended first: how, and its output.
    Ended { what: &'static str, finished: Finished },
}

impl fmt::Display for BootFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootFailure::Start { what, error } => write!(f, "{what} could not be started: {}", chain(error)),
            BootFailure::NotReady { what, limit } => write!(f, "{what} was not ready after {} s and was killed", limit.as_secs()),
            BootFailure::Ended { what, finished } => match finished.failure(what) {
                Some(failure) => f.write_str(&failure),
                None => write!(f, "{what} {} before it was ready", finished.exit),
            },
        }
    }
}

impl std::error::Error for BootFailure {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExitInfo;

    fn lost(host: &str) -> HostFailure {
        HostFailure::Connect(SshError::Disconnected { host: host.into() })
    }

    #[test]
    fn a_host_failure_says_why_in_words_a_warning_can_end_with() {
        assert_eq!(HostFailure::SlotsInUse { slots: 2 }.to_string(), "all its 2 slots are in use by other testbot runs");
        let exit = ExitInfo { code: Some(127), signal: None };
        let failure = HostFailure::CoreCount { exit, stderr: "nproc: not found".into() };
        assert_eq!(failure.to_string(), "could not read its core count (exited with status 127): nproc: not found");
    }

    #[test]
    fn no_host_lists_each_host_and_why_with_local_first() {
        let error = Error::NoHost(vec![LeftOut::new("local", HostFailure::NoLocalSlots), LeftOut::new("ci-1", lost("ci-1"))]);
        assert_eq!(
            error.to_string(),
            "no host could run work:\n  local: 0 slots (`[local] slots = 0`, or the default with SSH hosts configured)\n  ci-1: lost the connection to host `ci-1`"
        );
    }

    #[test]
    fn a_helper_that_loaded_nowhere_says_each_reason_once() {
        let ended = |host: &str, code| {
            let finished = Finished { exit: ExitInfo { code: Some(code), signal: None }, output: String::new() };
            LeftOut::new(host, HostFailure::Boot(BootFailure::Ended { what: "its preload server", finished }))
        };
        let error = Error::Preload(vec![ended("a", 1), ended("b", 2), ended("c", 1)]);
        assert_eq!(
            error.to_string(),
            "the suite's helper did not load for `--preload`, so nothing ran\non a, c: its preload server exited with status 1\non b: its preload server exited with status 2"
        );
        let slow = BootFailure::NotReady { what: "its fork server", limit: Duration::from_secs(120) };
        assert_eq!(slow.to_string(), "its fork server was not ready after 120 s and was killed");
    }

    #[test]
    fn the_runs_own_sync_says_it_failed_unless_the_project_was_unreadable() {
        let never = || SyncError::NeverSynced { dir: "x".into() };
        let said = "it has never been synced (nothing at x): run `testbot sync`, or drop --no-sync";
        assert_eq!(HostFailure::Sync(never()).to_string(), said);
        assert_eq!(HostFailure::SyncFailed(never()).to_string(), format!("failed to sync: {said}"));
        assert_eq!(HostFailure::SyncFailed(SyncError::Local(Arc::new(SyncError::Interrupted))).to_string(), "stopped by a signal while collecting the project");
        assert!(!HostFailure::Sync(never()).is_unsafe_dir());
    }
}
