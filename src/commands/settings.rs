//! What a command takes from outside its arguments and testbot.toml, resolved once when it
//! starts (as ripgrep turns its low-level arguments into `HiArgs`): the controller's
//! environment (`USER`/`LOGNAME`, `SSH_AUTH_SOCK`), its cores and the flags the layers below act
//! on, into `inventory::Invocation`. The layers take these values from there; none of them
//! reads `std::env` or counts cores for these. (`GITHUB_ACTIONS` is read here too, for `cli`'s
//! display options, a run's test knobs `TESTBOT_TUNING` and `TESTBOT_FORK_START_TIMEOUT`,
//! into `run::Knobs`, and the CI's build id for `--queue`; clap reads the `TESTBOT_*` variables
//! that stand for flags.)

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

/// The CI variables a build id defaults from, in the order they are tried, each a list of
/// variables joined by `-` (all must be set).
const BUILD_ID_VARIABLES: &[(&str, &[&str])] = &[
    ("GitHub Actions", &["GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"]),
    ("Buildkite", &["BUILDKITE_BUILD_ID"]),
    ("GitLab CI", &["CI_PIPELINE_ID"]),
    ("CircleCI", &["CIRCLE_WORKFLOW_ID"]),
];

/// `--build-id`, or the CI's own build id: what every job of one build shares (`--queue`).
pub fn build_id(given: Option<String>) -> Result<String, Error> {
    build_id_from(given, |name| std::env::var(name).ok())
}

fn build_id_from(given: Option<String>, var: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
    if let Some(id) = given.filter(|id| !id.trim().is_empty()) {
        return Ok(id);
    }
    for (_, names) in BUILD_ID_VARIABLES {
        let values: Option<Vec<String>> = names.iter().map(|n| var(n).filter(|v| !v.trim().is_empty())).collect();
        if let Some(values) = values {
            return Ok(values.join("-"));
        }
    }
    let known: Vec<String> = BUILD_ID_VARIABLES.iter().map(|(ci, names)| format!("{} ({ci})", names.join(" + "))).collect();
    Err(Error::Usage(format!(
        "--queue needs the build's id, the same in every job of the build: give --build-id ID (none of {} is set)",
        known.join(", ")
    )))
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
    fn a_build_id_is_the_one_given_or_the_cis_and_without_either_a_usage_error() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        assert_eq!(build_id_from(Some("b7".into()), env(&[("BUILDKITE_BUILD_ID", "bk")])).unwrap(), "b7");
        assert_eq!(build_id_from(None, env(&[("GITHUB_RUN_ID", "123"), ("GITHUB_RUN_ATTEMPT", "2")])).unwrap(), "123-2");
        assert_eq!(build_id_from(None, env(&[("GITHUB_RUN_ID", "123"), ("CI_PIPELINE_ID", "9")])).unwrap(), "9", "an attempt is needed too");
        assert_eq!(build_id_from(None, env(&[("BUILDKITE_BUILD_ID", "0190-ab")])).unwrap(), "0190-ab");
        assert_eq!(build_id_from(None, env(&[("CIRCLE_WORKFLOW_ID", "wf")])).unwrap(), "wf");
        let error = build_id_from(Some(" ".into()), env(&[])).unwrap_err();
        assert_eq!(error.exit_code(), crate::errors::exit::USAGE);
        let words = crate::errors::render(&error);
        assert!(words.contains("give --build-id ID") && words.contains("GITHUB_RUN_ID + GITHUB_RUN_ATTEMPT (GitHub Actions)"), "{words}");
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
