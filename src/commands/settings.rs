//! What a command takes from outside its arguments and testbot.toml, resolved once when it
//! starts (as ripgrep turns its low-level arguments into `HiArgs`): the controller's
//! environment (`USER`/`LOGNAME`, `SSH_AUTH_SOCK`), its cores and the flags the layers below act
//! on, into `inventory::Invocation`. The layers take these values from there; none of them
//! reads `std::env` or counts cores for these. (`GITHUB_ACTIONS` is read here too, for `cli`'s
//! display options, a run's test knobs `TESTBOT_TUNING` and `TESTBOT_FORK_START_TIMEOUT`,
//! into `run::Knobs`, the CI's build id for `--queue` and how long a `--queue` job tries a lost
//! Redis again, `TESTBOT_QUEUE_PATIENCE`; clap reads the `TESTBOT_*` variables
//! that stand for flags.) Here too: the project root of a command started in a subfolder
//! (`project_root`), and a run's options laid over testbot.toml's profiles (`run_profile`,
//! which reads `CI`).

use crate::errors::Error;
use crate::inventory::{Inventory, Invocation, Profile};
use crate::{report, run};
use crate::schedule::TuningOverrides;
use std::path::{Path, PathBuf};
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

/// How long a `--queue` job tries a lost Redis again before it stops: `TESTBOT_QUEUE_PATIENCE`
/// (`30s`, `2m`, `500ms`), else `queue::PATIENCE`.
pub fn queue_patience() -> Result<Duration, Error> {
    queue_patience_from(std::env::var("TESTBOT_QUEUE_PATIENCE").ok().as_deref())
}

fn queue_patience_from(value: Option<&str>) -> Result<Duration, Error> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(crate::queue::PATIENCE) };
    humantime::parse_duration(text).map_err(|e| Error::Usage(format!("TESTBOT_QUEUE_PATIENCE=`{text}`: {e} (give a duration such as 30s or 2m)")))
}

/// The CI variables a build id defaults from, in the order they are tried, each a list of
/// variables joined by `-` (all must be set).
const BUILD_ID_VARIABLES: &[(&str, &[&str])] = &[
    ("GitHub Actions", &["GITHUB_RUN_ID"]),
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

/// Which attempt of the build a job is (`--queue`; a retried CI job's is past 1): `--attempt`,
/// else the CI's count (GitHub Actions `GITHUB_RUN_ATTEMPT`; Buildkite `BUILDKITE_RETRY_COUNT`,
/// which counts a job's retries from 0), else 1.
pub fn attempt(given: Option<u32>) -> u32 {
    attempt_from(given, |name| std::env::var(name).ok())
}

fn attempt_from(given: Option<u32>, var: impl Fn(&str) -> Option<String>) -> u32 {
    let number = |name: &str| var(name).and_then(|v| v.trim().parse::<u32>().ok());
    given
        .or_else(|| number("GITHUB_RUN_ATTEMPT"))
        .or_else(|| number("BUILDKITE_RETRY_COUNT").map(|retries| retries.saturating_add(1)))
        .unwrap_or(1)
        .max(1)
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

/// What marks a project's root: testbot.toml first, else a Gemfile or `.rspec`.
const ROOT_FILE: &str = "testbot.toml";
const ROOT_MARKS: &[&str] = &["Gemfile", ".rspec"];

/// The project root for a command started in `here`, and `here` relative to it when it is
/// below it. `here` itself when it holds testbot.toml, a Gemfile, `.rspec` or `.git`; else the nearest
/// folder above with testbot.toml, else the nearest with a Gemfile or `.rspec`. The walk stops
/// at a `.git` (the repository's top, which it still looks at) and never reaches `home` or
/// above it. Nothing found: `here`.
pub fn project_root(here: &Path, home: Option<&Path>) -> (PathBuf, Option<PathBuf>) {
    let marked = |dir: &Path, names: &[&str]| names.iter().any(|n| dir.join(n).exists());
    if marked(here, &[ROOT_FILE, ".git"]) || marked(here, ROOT_MARKS) {
        return (here.to_path_buf(), None);
    }
    let mut above = Vec::new();
    for dir in here.ancestors().skip(1) {
        if home.is_some_and(|home| home.starts_with(dir)) {
            break;
        }
        above.push(dir);
        if dir.join(".git").exists() {
            break;
        }
    }
    let root = above.iter().find(|d| marked(d, &[ROOT_FILE])).or_else(|| above.iter().find(|d| marked(d, ROOT_MARKS)));
    match root {
        Some(root) => (root.to_path_buf(), here.strip_prefix(root).ok().map(Path::to_path_buf)),
        None => (here.to_path_buf(), None),
    }
}

/// A file that runs longer than this is killed, unless `--file-timeout` or a profile says otherwise.
pub const FILE_TIMEOUT: Duration = Duration::from_secs(300);

/// The run options a profile may set, resolved: what the command line gave (`given`, with the
/// `TESTBOT_*` variables clap reads for its flags) over the chosen profile over
/// `[profile.default]` over the built-in defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunProfile {
    pub retries: u32,
    pub fail_fast: Option<usize>,
    pub timeout: Option<Duration>,
    pub file_timeout: Option<Duration>,
    pub junit: Option<PathBuf>,
    pub report_json: Option<PathBuf>,
    pub status_level: Option<report::StatusLevel>,
    pub final_status_level: report::StatusLevel,
    pub failure_output: report::FailureOutput,
    /// When a passing file's output is shown (`--success-output`; never by default).
    pub success_output: report::FailureOutput,
}

/// `name`: `--profile` (or `TESTBOT_PROFILE`); without it, `ci` when `CI` is set and
/// testbot.toml has a `[profile.ci]`, else `default`.
pub fn run_profile(name: Option<&str>, given: &Profile, inventory: &Inventory) -> Result<RunProfile, Error> {
    let ci = crate::report::term::is_ci(std::env::var_os("CI").as_deref());
    let chosen = chosen_profile(name, ci, inventory)?;
    let merged = given.over(&chosen.over(&inventory.profile("default").cloned().unwrap_or_default()));
    Ok(RunProfile {
        retries: merged.retries.unwrap_or(0),
        fail_fast: merged.fail_fast.filter(|n| *n > 0),
        timeout: merged.timeout,
        file_timeout: Some(merged.file_timeout.unwrap_or(FILE_TIMEOUT)).filter(|d| !d.is_zero()),
        junit: merged.junit,
        report_json: merged.report_json,
        status_level: merged.status_level.as_deref().and_then(status_level),
        final_status_level: merged.final_status_level.as_deref().and_then(status_level).unwrap_or_default(),
        failure_output: merged.failure_output.as_deref().and_then(failure_output).unwrap_or_default(),
        success_output: merged.success_output.as_deref().and_then(failure_output).unwrap_or(report::FailureOutput::Never),
    })
}

/// A status level by its name (`inventory::STATUS_LEVELS`, `--status-level`'s values).
pub fn status_level(name: &str) -> Option<report::StatusLevel> {
    use report::StatusLevel as L;
    let levels = [L::None, L::Fail, L::Retry, L::Slow, L::Pending, L::Pass, L::All];
    crate::inventory::STATUS_LEVELS.iter().position(|n| *n == name).map(|i| levels[i])
}

/// `--failure-output`'s value by its name (`inventory::FAILURE_OUTPUTS`).
pub fn failure_output(name: &str) -> Option<report::FailureOutput> {
    use report::FailureOutput as F;
    let whens = [F::Immediate, F::Final, F::ImmediateFinal, F::Never];
    crate::inventory::FAILURE_OUTPUTS.iter().position(|n| *n == name).map(|i| whens[i])
}

/// The profile named (`default` needs no table), or `ci` on CI when there is one.
fn chosen_profile(name: Option<&str>, ci: bool, inventory: &Inventory) -> Result<Profile, Error> {
    let Some(name) = name else {
        let on_ci = inventory.profile("ci").filter(|_| ci);
        return Ok(on_ci.cloned().unwrap_or_default());
    };
    match inventory.profile(name) {
        Some(profile) => Ok(profile.clone()),
        None if name == "default" => Ok(Profile::default()),
        None => Err(unknown_profile(name, inventory)),
    }
}

fn unknown_profile(name: &str, inventory: &Inventory) -> Error {
    let mut known: Vec<&str> = inventory.profiles.iter().map(|(n, _)| n.as_str()).collect();
    if !known.contains(&"default") {
        known.insert(0, "default");
    }
    let hint = crate::inventory::did_you_mean(name, &known).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
    let file = inventory.source.as_deref().map_or("testbot.toml (there is none here)".into(), |p| p.display().to_string());
    Error::Usage(format!("unknown profile `{name}`{hint} (the profiles of {file}: {})", known.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queues_patience_is_30_s_unless_set_and_a_bad_one_is_a_usage_error() {
        assert_eq!(queue_patience_from(None).unwrap(), Duration::from_secs(30));
        assert_eq!(queue_patience_from(Some("")).unwrap(), Duration::from_secs(30));
        assert_eq!(queue_patience_from(Some("2m")).unwrap(), Duration::from_secs(120));
        assert_eq!(queue_patience_from(Some("500ms")).unwrap(), Duration::from_millis(500));
        let error = queue_patience_from(Some("soon")).unwrap_err();
        assert!(error.to_string().starts_with("TESTBOT_QUEUE_PATIENCE=`soon`: "), "{error}");
        assert_eq!(error.exit_code(), crate::errors::exit::USAGE);
    }

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
        // The attempt is not part of the id: a re-run is the same build's next attempt.
        assert_eq!(build_id_from(None, env(&[("GITHUB_RUN_ID", "123"), ("GITHUB_RUN_ATTEMPT", "2")])).unwrap(), "123");
        assert_eq!(build_id_from(None, env(&[("BUILDKITE_BUILD_ID", "0190-ab")])).unwrap(), "0190-ab");
        assert_eq!(build_id_from(None, env(&[("CIRCLE_WORKFLOW_ID", "wf")])).unwrap(), "wf");
        let error = build_id_from(Some(" ".into()), env(&[])).unwrap_err();
        assert_eq!(error.exit_code(), crate::errors::exit::USAGE);
        let words = crate::errors::render(&error);
        assert!(words.contains("give --build-id ID") && words.contains("GITHUB_RUN_ID (GitHub Actions)"), "{words}");
    }

    #[test]
    fn an_attempt_is_the_one_given_or_the_cis_count_and_else_the_first() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        assert_eq!(attempt_from(Some(3), env(&[("GITHUB_RUN_ATTEMPT", "2")])), 3);
        assert_eq!(attempt_from(None, env(&[("GITHUB_RUN_ATTEMPT", "2")])), 2);
        assert_eq!(attempt_from(None, env(&[("BUILDKITE_RETRY_COUNT", "0")])), 1, "Buildkite counts retries from 0");
        assert_eq!(attempt_from(None, env(&[("BUILDKITE_RETRY_COUNT", "2")])), 3);
        assert_eq!(attempt_from(None, env(&[("GITHUB_RUN_ATTEMPT", "x")])), 1);
        assert_eq!(attempt_from(Some(0), env(&[])), 1);
        assert_eq!(attempt_from(None, env(&[])), 1);
    }

    #[test]
    fn an_invocation_has_a_core_at_least_and_the_no_sync_it_was_given() {
        for no_sync in [false, true] {
            let invocation = super::invocation(no_sync);
            assert_eq!(invocation.no_sync, no_sync);
            assert!(invocation.cores >= 1);
        }
    }

    #[test]
    fn the_root_is_the_nearest_folder_with_testbot_toml_else_a_gemfile_or_rspec_below_git_and_home() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("repo");
        let models = top.join("app/spec/models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::create_dir_all(top.join(".git")).unwrap();
        assert_eq!(project_root(&models, None), (models.clone(), None), "nothing marks a root: here");
        std::fs::write(top.join("app/Gemfile"), "").unwrap();
        assert_eq!(project_root(&models, None), (top.join("app"), Some(PathBuf::from("spec/models"))));
        std::fs::write(top.join("testbot.toml"), "").unwrap();
        assert_eq!(project_root(&models, None), (top.clone(), Some(PathBuf::from("app/spec/models"))), "testbot.toml first");
        assert_eq!(project_root(&top.join("app"), None), (top.join("app"), None), "a Gemfile here is a root");
        std::fs::write(tmp.path().join("testbot.toml"), "").unwrap();
        std::fs::remove_file(top.join("testbot.toml")).unwrap();
        std::fs::remove_file(top.join("app/Gemfile")).unwrap();
        assert_eq!(project_root(&models, None), (models.clone(), None), "not above the .git");
        std::fs::remove_dir(top.join(".git")).unwrap();
        assert_eq!(project_root(&models, None).0, tmp.path());
        assert_eq!(project_root(&models, Some(tmp.path())), (models.clone(), None), "not at home or above");
        std::fs::create_dir_all(models.join(".git")).unwrap();
        assert_eq!(project_root(&models, None), (models.clone(), None), "a repository's top is its own root");
    }

    #[test]
    fn a_profile_is_the_one_named_else_ci_on_ci_and_an_unknown_name_lists_the_known_ones() {
        use crate::inventory::Profile;
        let ci = Profile { retries: Some(2), ..Profile::default() };
        let mut inventory = Inventory::empty();
        assert_eq!(chosen_profile(None, true, &inventory).unwrap(), Profile::default(), "no [profile.ci]");
        inventory.profiles = vec![("ci".into(), ci.clone())];
        assert_eq!(chosen_profile(None, true, &inventory).unwrap(), ci);
        assert_eq!(chosen_profile(None, false, &inventory).unwrap(), Profile::default());
        assert_eq!(chosen_profile(Some("default"), true, &inventory).unwrap(), Profile::default());
        assert_eq!(chosen_profile(Some("ci"), false, &inventory).unwrap(), ci);
        let error = chosen_profile(Some("nightly"), false, &inventory).unwrap_err();
        assert_eq!(error.to_string(), "unknown profile `nightly` (the profiles of testbot.toml (there is none here): default, ci)");
        assert_eq!(error.exit_code(), crate::errors::exit::USAGE);
    }

    #[test]
    fn the_command_line_is_over_the_chosen_profile_over_the_default_one() {
        use crate::inventory::Profile;
        let given = Profile { retries: Some(0), ..Profile::default() };
        let chosen = Profile { retries: Some(3), fail_fast: Some(2), ..Profile::default() };
        let default = Profile { fail_fast: Some(1), timeout: Some(Duration::from_secs(9)), ..Profile::default() };
        let merged = given.over(&chosen.over(&default));
        assert_eq!((merged.retries, merged.fail_fast, merged.timeout), (Some(0), Some(2), Some(Duration::from_secs(9))));
    }
}
