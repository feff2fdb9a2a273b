//! `testbot.toml`: where to run tests (the local machine and SSH hosts) and
//! how to run them.
//!
//! Loading happens in two layers, as cargo-nextest keeps its deserialized
//! config apart from its checked config:
//!
//! * `raw` mirrors the file with serde: every table rejects unknown keys and
//!   every leaf keeps its source span;
//! * `validate` checks values and builds the public types below, in which
//!   every default is already applied (a host's `name`, `port` and `slots`
//!   are always set).
//!
//! Errors point at the offending key or value (`InventoryError::Invalid`).

mod error;
mod list_keys;
mod keys;
mod paths;
mod raw;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{did_you_mean, InventoryError};
pub use validate::MAX_SLOTS;

/// The validated contents of `testbot.toml` (or the defaults, without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The file this was read from; `None` for `Inventory::empty()`.
    pub source: Option<PathBuf>,
    pub project: ProjectSettings,
    pub local: LocalSettings,
    pub hosts: Vec<HostSpec>,
    pub ssh: Ssh,
    pub sync: SyncSettings,
    pub hooks: Hooks,
    pub queue: QueueSettings,
    /// `[profile.NAME]` tables, sorted by name.
    pub profiles: Vec<(String, Profile)>,
    pub impact: Impact,
    /// Not from the file: this invocation's environment, cores and `--no-sync`.
    pub invocation: Invocation,
}

/// What this invocation of testbot brings besides testbot.toml: the controller's environment
/// and cores, and the command line's `--no-sync`. No file key sets it: `commands` resolves it
/// once, when a command starts (`commands::settings`), and the layers below read it here, never
/// `std::env`, the core count or the command line themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// This machine's cores (`std::thread::available_parallelism`; 1 when it cannot tell).
    pub cores: usize,
    /// The local user's name: `$USER`, else `$LOGNAME`; `None` without either.
    pub user: Option<String>,
    /// ssh-agent's socket, `$SSH_AUTH_SOCK` (`None` when unset or empty).
    pub ssh_agent: Option<PathBuf>,
    /// `--no-sync`: run on the copies the hosts already hold.
    pub no_sync: bool,
}

impl Default for Invocation {
    fn default() -> Self {
        Invocation { cores: 1, user: None, ssh_agent: None, no_sync: false }
    }
}

/// A `[profile.NAME]`: run options for one place (`default`, `ci`, …); `None`: not set here.
/// `commands::settings` lays the chosen profile over `[profile.default]`, and the command line
/// over both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub retries: Option<u32>,
    /// Stop after this many failures; `Some(0)`: never (`fail_fast = false`).
    pub fail_fast: Option<usize>,
    pub timeout: Option<std::time::Duration>,
    /// `Some(0 s)`: no per-file limit.
    pub file_timeout: Option<std::time::Duration>,
    pub junit: Option<PathBuf>,
    pub report_json: Option<PathBuf>,
    /// `status_level`, `final_status_level`: one of `STATUS_LEVELS`.
    pub status_level: Option<String>,
    pub final_status_level: Option<String>,
    /// One of `FAILURE_OUTPUTS`.
    pub failure_output: Option<String>,
    /// One of `FAILURE_OUTPUTS`: when a passing file's output is shown.
    pub success_output: Option<String>,
}

/// The names of the status levels (`--status-level`'s values).
pub const STATUS_LEVELS: &[&str] = &["none", "fail", "retry", "slow", "pending", "pass", "all"];
/// The names of `--failure-output`'s values.
pub const FAILURE_OUTPUTS: &[&str] = &["immediate", "final", "immediate-final", "never"];

impl Profile {
    /// Each option of `self`, else of `below`.
    pub fn over(&self, below: &Profile) -> Profile {
        Profile {
            retries: self.retries.or(below.retries),
            fail_fast: self.fail_fast.or(below.fail_fast),
            timeout: self.timeout.or(below.timeout),
            file_timeout: self.file_timeout.or(below.file_timeout),
            junit: self.junit.clone().or_else(|| below.junit.clone()),
            report_json: self.report_json.clone().or_else(|| below.report_json.clone()),
            status_level: self.status_level.clone().or_else(|| below.status_level.clone()),
            final_status_level: self.final_status_level.clone().or_else(|| below.final_status_level.clone()),
            failure_output: self.failure_output.clone().or_else(|| below.failure_output.clone()),
            success_output: self.success_output.clone().or_else(|| below.success_output.clone()),
        }
    }
}

impl Inventory {
    /// The `[profile.NAME]` called `name`, if testbot.toml has one.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }
}

/// `[impact]`: `record` every run's per-file impact map (as `--record-impact`); `ignore`: globs
/// of changed files `--changed` does not count (docs, say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impact {
    pub record: bool,
    pub ignore: Vec<String>,
}

/// `[hooks]`: shell commands run on every host (in the project's directory there) around a run.
/// A failing `before_run` or `before_slot` takes its host out of the run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hooks {
    /// Once per host, after the project's copy is in place (e.g. `bundle install --local`).
    pub before_run: Option<String>,
    /// Once per slot, with the slot's environment (TEST_ENV_NUMBER, …), e.g. its database.
    pub before_slot: Option<String>,
    /// Once per host after the last batch.
    pub after_run: Option<String>,
}

/// `[queue]`: the Redis a CI build's jobs share their files through (`--queue` and
/// `TESTBOT_QUEUE_URL` go first; used only where the build has an id, given or the CI's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueSettings {
    pub url: Option<String>,
    /// The project's name in the queue's keys (`--queue-project` goes first); `None`: the name
    /// of the folder the job runs in.
    pub project: Option<String>,
}

/// `[project]`: how the test suite is found and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSettings {
    /// One of "rspec", "minitest", "test-unit", "cucumber"; `None`: detect.
    pub framework: Option<String>,
    /// Glob of test files relative to the project root (checked with
    /// globset); `None`: the framework's default.
    pub pattern: Option<String>,
    /// Runner command prefix overriding the framework's (e.g. "bin/rspec").
    pub command: Option<String>,
    /// Run through `bundle exec` when a Gemfile exists. Default `true`.
    pub bundler: bool,
    /// Extra environment for test processes, sorted by name.
    pub env: Vec<(String, String)>,
    /// Load the suite's helper once per slot and fork each batch from it (`--preload`).
    pub preload: bool,
    /// Globs of test files (or folders) never run, as `--exclude` (`[project] exclude`).
    pub exclude: Vec<String>,
    /// Run each batch in a child forked from one server per host that has loaded the
    /// framework's core. Default `true`; `false` starts a fresh process per batch.
    pub fork: bool,
    /// Globs of test files (or folders) that run alone: together in one batch of their own, one
    /// after another in one process on one slot (`[project] isolate`, `--isolate`).
    pub isolate: Vec<String>,
    /// `[[project.group]]`: each a list of globs whose files share runner processes only with
    /// each other (never with another group's files or ungrouped files).
    pub groups: Vec<Vec<String>>,
    /// `[project] quarantine`: examples (`path:LINE` or `path[ID]`, a leading `./` optional) that
    /// still run but whose failures do not fail the run.
    pub quarantine: Vec<String>,
    /// `[project] quarantine_passes`: clean runs in a row after which a quarantined example is
    /// ready to leave the quarantine. Default 5.
    pub quarantine_passes: usize,
}

/// `[local]`: this machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalSettings {
    /// Worker slots; `None` when not configured (the caller decides).
    pub slots: Option<Slots>,
}

/// A number of worker slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slots {
    /// One per core of the machine.
    Auto,
    /// Exactly this many (at least 1).
    Count(usize),
}

/// One `[[host]]`, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Unique among hosts; defaults to `address`.
    pub name: String,
    /// Host name, IP address or `~/.ssh/config` alias (non-empty).
    pub address: String,
    /// Default 22.
    pub port: u16,
    pub user: Option<String>,
    /// Private key; a leading `~/` is expanded.
    pub identity: Option<PathBuf>,
    /// Default `Slots::Auto`.
    pub slots: Slots,
}

/// `[ssh]`: options shared by all hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    /// known_hosts file; a leading `~/` is expanded. `None`: ssh's default.
    pub known_hosts: Option<PathBuf>,
    pub host_key_checking: HostKeyChecking,
    /// An OpenSSH client config file for Host aliases; `None`: ~/.ssh/config when it exists.
    pub config: Option<PathBuf>,
    /// Keepalive after this long without a word from a host (default 5 s)…
    pub server_alive_interval: std::time::Duration,
    /// …and the host is lost after this many unanswered ones (default 3).
    pub server_alive_count_max: usize,
    /// Lease slots on each host so that runs sharing it never run more batches than its slots
    /// (default true).
    pub slot_leases: bool,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            known_hosts: None,
            host_key_checking: HostKeyChecking::default(),
            config: None,
            server_alive_interval: crate::ssh::ALIVE_INTERVAL,
            server_alive_count_max: crate::ssh::ALIVE_COUNT_MAX,
            slot_leases: true,
        }
    }
}

/// How unknown host keys are treated: the transport's own policy.
pub use crate::ssh::HostKeyChecking;

/// `[sync]`: where the project's copy goes on each host and what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncSettings {
    /// Where the copy goes: relative to the remote login directory (`~/x` is given as `x`) or
    /// absolute, never the login directory, `/`, a system directory, or with `..` (checked
    /// here); `None`: `sync::default_remote_dir`.
    pub remote_dir: Option<String>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            framework: None,
            pattern: None,
            command: None,
            bundler: true,
            env: Vec::new(),
            preload: false,
            exclude: Vec::new(),
            fork: true,
            isolate: Vec::new(),
            groups: Vec::new(),
            quarantine: Vec::new(),
            quarantine_passes: 5,
        }
    }
}

impl Inventory {
    /// The configuration used when there is no `testbot.toml`.
    pub fn empty() -> Inventory {
        Inventory {
            source: None,
            project: ProjectSettings::default(),
            local: LocalSettings::default(),
            hosts: Vec::new(),
            ssh: Ssh::default(),
            sync: SyncSettings::default(),
            hooks: Hooks::default(),
            queue: QueueSettings::default(),
            profiles: Vec::new(),
            impact: Impact::default(),
            invocation: Invocation::default(),
        }
    }

    /// Reads and parses the file at `path`. `frameworks`: the names `[project] framework` may
    /// be, the registered frameworks' (`framework::Framework::names()`: the registry sits above
    /// inventory, so the caller brings them).
    pub fn load(path: &Path, frameworks: &[&'static str]) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Inventory::parse(&text, path, frameworks)
    }

    /// Parses `text`; `path` is recorded as `source` and used in messages.
    /// A leading `~/` in paths is expanded with `$HOME`.
    pub fn parse(text: &str, path: &Path, frameworks: &[&'static str]) -> Result<Inventory, InventoryError> {
        let home = crate::ssh::config::home_dir();
        Inventory::parse_with_home(text, path, home.as_deref(), frameworks)
    }

    /// `parse`, with the home directory used for `~` given explicitly.
    fn parse_with_home(
        text: &str,
        path: &Path,
        home: Option<&Path>,
        frameworks: &[&'static str],
    ) -> Result<Inventory, InventoryError> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| error::from_toml(path, text, &e))?;
        validate::validate(raw, text, path, home, frameworks)
            .map_err(|issue| error::invalid(path, text, issue.span, issue.message))
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::empty()
    }
}

#[cfg(test)]
mod tests;
