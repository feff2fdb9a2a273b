//! The keys each table of `testbot.toml` accepts, in the order of the raw structs' fields
//! (raw.rs): serde names them in that order in its "unknown field" message, which
//! `error::unknown_key` matches against these lists to say which table a misspelt key is in
//! and which key was meant. A key added to a raw struct is added here too, in its place.

pub(super) const TOP_KEYS: &[&str] = &["project", "local", "host", "ssh", "sync", "hooks", "queue", "profile", "impact"];
pub(super) const PROJECT_KEYS: &[&str] = &["framework", "pattern", "command", "bundler", "env", "preload", "exclude", "fork", "isolate", "group", "quarantine", "quarantine_passes"];
pub(super) const GROUP_KEYS: &[&str] = &["files"];
pub(super) const LOCAL_KEYS: &[&str] = &["slots", "allow_many_slots"];
pub(super) const HOST_KEYS: &[&str] = &["name", "address", "port", "user", "identity", "slots", "allow_many_slots"];
pub(super) const SSH_KEYS: &[&str] = &[
    "known_hosts",
    "host_key_checking",
    "config",
    "server_alive_interval",
    "server_alive_count_max",
    "slot_leases",
];
pub(super) const SYNC_KEYS: &[&str] = &["remote_dir", "exclude", "include"];
pub(super) const HOOKS_KEYS: &[&str] = &["before_run", "before_slot", "after_run"];
pub(super) const QUEUE_KEYS: &[&str] = &["url", "project"];
pub(super) const IMPACT_KEYS: &[&str] = &["record", "ignore"];
pub(super) const PROFILE_KEYS: &[&str] = &[
    "retries",
    "fail_fast",
    "timeout",
    "file_timeout",
    "junit",
    "report_json",
    "status_level",
    "final_status_level",
    "failure_output", "success_output",
];

