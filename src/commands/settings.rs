//! What a command takes from outside its arguments and testbot.toml, resolved once when it
//! starts (as ripgrep turns its low-level arguments into `HiArgs`): the controller's
//! environment (`USER`/`LOGNAME`, `SSH_AUTH_SOCK`), its cores and the flags the layers below act
//! on, into `inventory::Invocation`. The layers take these values from there; none of them
//! reads `std::env` or counts cores for these. (`GITHUB_ACTIONS` is read here too, for `cli`'s
//! display options, and a run's test knobs `TESTBOT_TUNING` and `TESTBOT_FORK_START_TIMEOUT`,
//! into `run::Knobs`; clap reads the `TESTBOT_*` variables that stand for flags.)

use crate::errors::Error;
use crate::inventory::Invocation;
use crate::run;
use crate::schedule::TuningOverrides;
use std::path::PathBuf;
use std::time::Duration;

/// This machine's cores, 1 when it cannot tell.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `GITHUB_ACTIONS`, which `--github-annotations auto` follows.
pub fn github_actions() -> Option<std::ffi::OsString> {
    std::env::var_os("GITHUB_ACTIONS")
}

/// A run's knobs for tests and benchmarks, from `TESTBOT_TUNING` and `TESTBOT_FORK_START_TIMEOUT`.
pub fn knobs() -> Result<run::Knobs, Error> {
    knobs_from(std::env::var("TESTBOT_TUNING").ok().as_deref(), std::env::var(crate::framework::client::START_TIMEOUT_VAR).ok().as_deref())
}

/// The tuning parsed (an error when it does not parse), the server's start timeout in seconds
/// (what is not a positive number leaves the default).
fn knobs_from(tuning: Option<&str>, server_start: Option<&str>) -> Result<run::Knobs, Error> {
    let tuning = tuning.map(TuningOverrides::parse).transpose().map_err(Error::Tuning)?.unwrap_or_default();
    let server_start = server_start
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map_or(run::SERVER_START_TIMEOUT, Duration::from_secs_f64);
    Ok(run::Knobs { tuning, server_start })
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
    use super::*;

    #[test]
    fn a_runs_knobs_are_the_defaults_unless_set_and_a_bad_tuning_is_a_usage_error() {
        let knobs = knobs_from(None, None).unwrap();
        assert_eq!((knobs.tuning, knobs.server_start), (TuningOverrides::default(), run::SERVER_START_TIMEOUT));
        let knobs = knobs_from(Some("max_batch_files=4"), Some("2.5")).unwrap();
        assert_eq!(knobs.tuning, TuningOverrides::parse("max_batch_files=4").unwrap());
        assert_eq!(knobs.server_start, Duration::from_millis(2500));
        for not_seconds in ["0", "-1", "inf", "soon", ""] {
            assert_eq!(knobs_from(None, Some(not_seconds)).unwrap().server_start, run::SERVER_START_TIMEOUT, "{not_seconds}");
        }
        let error = knobs_from(Some("tail_share=lots"), None).unwrap_err();
        assert_eq!(crate::errors::render(&error), "error: TESTBOT_TUNING: `lots` is not a number");
        assert_eq!(error.exit_code(), crate::errors::exit::USAGE);
    }

    #[test]
    fn an_invocation_has_a_core_at_least_and_the_no_sync_it_was_given() {
        for no_sync in [false, true] {
            let invocation = super::invocation(no_sync);
            assert_eq!(invocation.no_sync, no_sync);
            assert!(invocation.cores >= 1);
        }
    }
}
