//! What a command takes from outside its arguments and testbot.toml, resolved once when it
//! starts (as ripgrep turns its low-level arguments into `HiArgs`): the controller's
//! environment (`USER`/`LOGNAME`, `SSH_AUTH_SOCK`), its cores and the flags the layers below act
//! on, into `inventory::Invocation`. The layers take these values from there; none of them
//! reads `std::env` or counts cores for these. (`GITHUB_ACTIONS` is read here too, for `cli`'s
//! display options; clap reads the `TESTBOT_*` variables that stand for flags.)

use crate::inventory::Invocation;
use std::path::PathBuf;

/// This machine's cores, 1 when it cannot tell.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `GITHUB_ACTIONS`, which `--github-annotations auto` follows.
pub fn github_actions() -> Option<std::ffi::OsString> {
    std::env::var_os("GITHUB_ACTIONS")
}

/// The environment and cores as this command finds them, with `--no-sync` (false for the
/// commands without it).
pub fn invocation(no_sync: bool) -> Invocation {
    Invocation {
        cores: cores(),
        user: std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok(),
        ssh_agent: std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(PathBuf::from),
        no_sync,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invocation_has_a_core_at_least_and_the_no_sync_it_was_given() {
        for no_sync in [false, true] {
            let invocation = super::invocation(no_sync);
            assert_eq!(invocation.no_sync, no_sync);
            assert!(invocation.cores >= 1);
        }
    }
}
