//! Checks the raw tree and turns it into the public, validated types.
//!
//! Every check records an `Issue` (a message and a byte span) and carries on,
//! so the error finally reported is the first one in the file, wherever the
//! checks happen to run.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::{Spanned, Value};

use super::raw::{
    describe, RawConfig, RawEnv, RawGroup, RawHost, RawLocal, RawProject, RawHooks, RawSsh, RawSync, RawValue, Section,
    StrList,
};
use super::paths::{expand_tilde, remote_dir};
use crate::ssh::quote::valid_env_name;
use super::{Hooks, HostKeyChecking, HostSpec, Inventory, LocalSettings, ProjectSettings, Slots, Ssh, SyncSettings};

/// The frameworks `framework` accepts.
pub(super) const FRAMEWORKS: &[&str] = &["rspec", "minitest", "test-unit", "cucumber"];
const HOST_KEY_CHECKING: &[&str] = &["strict", "accept-new"];
const DEFAULT_PORT: u16 = 22;
/// The most `slots` an SSH host (or `[local]`) may have without `allow_many_slots = true`.
pub const MAX_SLOTS: usize = 256;

/// What makes two [[host]] entries one machine for testbot: the same sshd (address and port)
/// as the same user. Names for this machine's loopback count as one address; other names are
/// compared as written (without resolving them: that needs the network).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Machine {
    address: String,
    port: u16,
    user: Option<String>,
}

impl Machine {
    fn of(host: &HostSpec) -> Machine {
        let address = host.address.trim_end_matches('.').to_ascii_lowercase();
        let address = match address.as_str() {
            "localhost" | "127.0.0.1" | "::1" | "[::1]" | "ip6-localhost" => "localhost".to_owned(),
            _ => address,
        };
        Machine { address, port: host.port, user: host.user.clone() }
    }
}

/// The message for a [[host]] that names the same machine as the one at `first_line`.
fn same_machine(host: &HostSpec, first: &str, first_line: usize) -> String {
    let user = host.user.as_deref().map(|u| format!(" as user `{u}`")).unwrap_or_default();
    format!(
        "the [[host]] `{}` is the same machine as the [[host]] `{first}` at line {first_line} \
         (address `{}`, port {}{user}): listed twice, one entry's slot leases read as another run's to the \
         other; list it once, with the slots of both",
        host.name, host.address, host.port
    )
}

pub(super) struct Issue {
    pub span: Range<usize>,
    pub message: String,
}

struct Checker<'a> {
    text: &'a str,
    home: Option<&'a Path>,
    issues: Vec<Issue>,
}

/// Validates `raw`; on failure returns the issue that comes first in `text`.
pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    source: &Path,
    home: Option<&Path>,
) -> Result<Inventory, Issue> {
    let mut c = Checker {
        text,
        home,
        issues: Vec::new(),
    };
    let inventory = Inventory {
        source: Some(source.to_path_buf()),
        project: c.project(raw.project),
        local: c.local(raw.local),
        hosts: c.hosts(raw.host.map(|h| h.0).unwrap_or_default()),
        ssh: c.ssh(raw.ssh),
        sync: c.sync(raw.sync),
        hooks: c.hooks(raw.hooks),
    };
    match c
        .issues
        .into_iter()
        .min_by_key(|i| (i.span.start, i.span.end))
    {
        Some(issue) => Err(issue),
        None => Ok(inventory),
    }
}

impl Checker<'_> {
    fn issue(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.issues.push(Issue {
            span,
            message: message.into(),
        });
    }

    fn line_of(&self, offset: usize) -> usize {
        super::error::locate(self.text, offset..offset).line
    }

    // -- sections ----------------------------------------------------------

    fn project(&mut self, raw: Option<Section<RawProject>>) -> ProjectSettings {
        let Some(Section(raw)) = raw else {
            return ProjectSettings::default();
        };
        let framework = raw
            .framework
            .and_then(|v| self.choice("framework", &v, FRAMEWORKS))
            .map(str::to_owned);
        let pattern = raw.pattern.and_then(|v| self.pattern(&v));
        let command = raw.command.and_then(|v| self.non_empty("command", &v));
        let bundler = raw
            .bundler
            .and_then(|v| self.boolean("bundler", &v))
            .unwrap_or(true);
        let env = raw.env.map(|e| self.env(e)).unwrap_or_default();
        let preload = raw.preload.and_then(|v| self.boolean("preload", &v)).unwrap_or(false);
        let exclude = raw.exclude.map(|l| self.strings("exclude", l)).unwrap_or_default();
        let fork = raw.fork.and_then(|v| self.boolean("fork", &v)).unwrap_or(true);
        let isolate = raw.isolate.map(|l| self.strings("isolate", l)).unwrap_or_default();
        let groups = raw.group.unwrap_or_default().into_iter().filter_map(|g| self.group(g)).collect();
        ProjectSettings {
            framework,
            pattern,
            command,
            bundler,
            env,
            preload,
            exclude,
            fork,
            isolate,
            groups,
        }
    }

    /// A `[[project.group]]`: a non-empty `files` list of globs.
    fn group(&mut self, raw: Spanned<Section<RawGroup>>) -> Option<Vec<String>> {
        let span = raw.span();
        let Section(raw) = raw.into_inner();
        let files = raw.files.map(|l| self.strings("files", l)).unwrap_or_default();
        if files.is_empty() {
            self.issue(span, "a `[[project.group]]` needs `files`, a non-empty list of globs (e.g. files = [\"spec/models\"])".to_owned());
            return None;
        }
        Some(files)
    }

    fn local(&mut self, raw: Option<Section<RawLocal>>) -> LocalSettings {
        let Some(Section(raw)) = raw else {
            return LocalSettings::default();
        };
        let allow_many = raw.allow_many_slots.as_ref().and_then(|v| self.boolean("allow_many_slots", v)).unwrap_or(false);
        LocalSettings {
            slots: raw.slots.and_then(|v| self.capped_slots(&v, 0, allow_many, "[local]")),
        }
    }

    fn hosts(&mut self, raw: Vec<Spanned<Section<RawHost>>>) -> Vec<HostSpec> {
        // Name -> offset of the value that gave the first host that name.
        let mut seen: HashMap<String, usize> = HashMap::new();
        // The machine (address, port, user) -> the first host on it and its [[host]]'s offset.
        let mut machines: HashMap<Machine, (String, usize)> = HashMap::new();
        let mut hosts = Vec::new();
        for entry in raw {
            let span = entry.span();
            let Section(raw) = entry.into_inner();
            let address_span = raw.address.as_ref().map_or(span.clone(), |v| v.span());
            let Some(host) = self.host(raw, span.clone(), &mut seen) else { continue };
            match machines.get(&Machine::of(&host)) {
                Some((first, offset)) => {
                    let message = same_machine(&host, first, self.line_of(*offset));
                    self.issue(address_span, message);
                }
                None => {
                    machines.insert(Machine::of(&host), (host.name.clone(), span.start));
                    hosts.push(host);
                }
            }
        }
        hosts
    }

    fn host(
        &mut self,
        raw: RawHost,
        span: Range<usize>,
        seen: &mut HashMap<String, usize>,
    ) -> Option<HostSpec> {
        let address = match &raw.address {
            Some(v) => self.ssh_word("address", v),
            None => {
                self.issue(span, "missing required key `address` in [[host]]");
                None
            }
        };
        let name = raw.name.as_ref().and_then(|v| self.non_empty("name", v));
        let port = match &raw.port {
            Some(v) => self.port(v),
            None => Some(DEFAULT_PORT),
        };
        let user = raw.user.as_ref().and_then(|v| self.ssh_word("user", v));
        let identity = raw.identity.as_ref().and_then(|v| self.path("identity", v));
        let allow_many = raw.allow_many_slots.as_ref().and_then(|v| self.boolean("allow_many_slots", v)).unwrap_or(false);
        let slots = match &raw.slots {
            Some(v) => self.capped_slots(v, 1, allow_many, "this [[host]]"),
            None => Some(Slots::Auto),
        };

        // A host without a `name` is called by its address; names must be
        // unique either way. Report the clash at the second host's value.
        let (name, name_span, defaulted) = match (name, &raw.name, address.clone(), &raw.address) {
            (Some(name), Some(v), _, _) => (name, v.span(), false),
            (None, None, Some(address), Some(v)) => (address, v.span(), true),
            _ => return None, // already reported
        };
        if let Some(&first) = seen.get(&name) {
            let first_line = self.line_of(first);
            let message = if defaulted {
                format!(
                    "duplicate host name {name:?} (a host without `name` is named after its \
                     `address`); the [[host]] at line {first_line} already uses it, so give \
                     one of them a distinct `name`"
                )
            } else {
                format!(
                    "duplicate host name {name:?}; the [[host]] at line {first_line} already \
                     uses it"
                )
            };
            self.issue(name_span, message);
            return None;
        }
        seen.insert(name.clone(), name_span.start);

        Some(HostSpec {
            name,
            address: address?,
            port: port?,
            user,
            identity,
            slots: slots?,
        })
    }

    fn ssh(&mut self, raw: Option<Section<RawSsh>>) -> Ssh {
        let Some(Section(raw)) = raw else {
            return Ssh::default();
        };
        let known_hosts = raw.known_hosts.and_then(|v| self.path("known_hosts", &v));
        let config = raw.config.and_then(|v| self.path("config", &v));
        let host_key_checking = match raw
            .host_key_checking
            .and_then(|v| self.choice("host_key_checking", &v, HOST_KEY_CHECKING))
        {
            Some("accept-new") => HostKeyChecking::AcceptNew,
            _ => HostKeyChecking::Strict,
        };
        let defaults = Ssh::default();
        let server_alive_interval = raw
            .server_alive_interval
            .and_then(|v| self.positive("server_alive_interval", &v, 3600))
            .map_or(defaults.server_alive_interval, |s| std::time::Duration::from_secs(s as u64));
        let server_alive_count_max = raw
            .server_alive_count_max
            .and_then(|v| self.positive("server_alive_count_max", &v, 100))
            .unwrap_or(defaults.server_alive_count_max);
        let slot_leases = raw.slot_leases.and_then(|v| self.boolean("slot_leases", &v)).unwrap_or(defaults.slot_leases);
        Ssh {
            known_hosts,
            host_key_checking,
            config,
            server_alive_interval,
            server_alive_count_max,
            slot_leases,
        }
    }

    fn sync(&mut self, raw: Option<Section<RawSync>>) -> SyncSettings {
        let Some(Section(raw)) = raw else {
            return SyncSettings::default();
        };
        SyncSettings {
            remote_dir: raw.remote_dir.and_then(|v| self.remote_dir(&v)),
            exclude: raw
                .exclude
                .map(|l| self.strings("exclude", l))
                .unwrap_or_default(),
            include: raw
                .include
                .map(|l| self.strings("include", l))
                .unwrap_or_default(),
            skip: false,
        }
    }

    fn hooks(&mut self, raw: Option<Section<RawHooks>>) -> Hooks {
        let Some(Section(raw)) = raw else {
            return Hooks::default();
        };
        Hooks {
            before_run: raw.before_run.and_then(|v| self.non_empty("before_run", &v)),
            before_slot: raw.before_slot.and_then(|v| self.non_empty("before_slot", &v)),
            after_run: raw.after_run.and_then(|v| self.non_empty("after_run", &v)),
        }
    }

    // -- values --------------------------------------------------------------

    /// `[sync] remote_dir`, normalized (see `remote_dir`).
    fn remote_dir(&mut self, v: &RawValue) -> Option<String> {
        let s = self.string("remote_dir", v)?;
        match remote_dir(&s) {
            Ok(dir) => Some(dir),
            Err(why) => {
                self.issue(v.span(), format!("`remote_dir` = {s:?} is refused: {why}"));
                None
            }
        }
    }

    fn string(&mut self, key: &str, v: &RawValue) -> Option<String> {
        match v.get_ref() {
            Value::String(s) => Some(s.clone()),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, key: &str, v: &RawValue) -> Option<String> {
        let s = self.string(key, v)?;
        if s.trim().is_empty() {
            self.issue(v.span(), format!("`{key}` must not be empty"));
            return None;
        }
        Some(s)
    }

    /// A word handed to ssh on its command line (`address`, `user`): not
    /// empty, no whitespace, and not starting with `-` (ssh would read it as
    /// an option).
    fn ssh_word(&mut self, key: &str, v: &RawValue) -> Option<String> {
        let s = self.non_empty(key, v)?;
        if s.chars().any(char::is_whitespace) {
            self.issue(
                v.span(),
                format!("`{key}` must not contain whitespace, found {s:?}"),
            );
            return None;
        }
        if s.starts_with('-') {
            self.issue(
                v.span(),
                format!("`{key}` must not start with `-`, found {s:?}"),
            );
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, key: &str, v: &RawValue) -> Option<bool> {
        match v.get_ref() {
            Value::Boolean(b) => Some(*b),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn choice(
        &mut self,
        key: &str,
        v: &RawValue,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        if let Value::String(s) = v.get_ref() {
            if let Some(c) = choices.iter().find(|c| **c == s) {
                return Some(c);
            }
        }
        let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
        let expected = match quoted.as_slice() {
            [a, b] => format!("{a} or {b}"),
            _ => format!("one of {}", quoted.join(", ")),
        };
        self.issue(
            v.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                describe(v.get_ref())
            ),
        );
        None
    }

    /// `min` is 0 for [local] (`slots = 0`: this machine runs nothing, the hosts do) and 1 for
    /// a [[host]] (a host with no slots is one to leave out of the file).
    fn slots(&mut self, v: &RawValue, min: i64) -> Option<Slots> {
        match v.get_ref() {
            Value::Integer(n) if *n >= min => match usize::try_from(*n) {
                Ok(n) => Some(Slots::Count(n)),
                Err(_) => {
                    self.issue(v.span(), format!("`slots` is too large: {n}"));
                    None
                }
            },
            Value::Integer(_) => {
                self.issue(v.span(), format!("slots must be at least {min}, or \"auto\""));
                None
            }
            Value::String(s) if s == "auto" => Some(Slots::Auto),
            other => {
                self.issue(
                    v.span(),
                    format!(
                        "`slots` must be a number of at least {min} or \"auto\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A machine's `slots`, at most `MAX_SLOTS` unless `allow_many_slots = true` in the same
    /// table (`table`: a [[host]] or [local]): every slot is a process (and on a host an SSH
    /// channel), and a typo like `slots = 100000` would otherwise start thousands of them.
    fn capped_slots(&mut self, v: &RawValue, min: i64, allow_many: bool, table: &str) -> Option<Slots> {
        let slots = self.slots(v, min)?;
        match slots {
            Slots::Count(n) if n > MAX_SLOTS && !allow_many => {
                let limit = if table == "[local]" { "testbot's limit for this machine" } else { "testbot's limit per host" };
                self.issue(
                    v.span(),
                    format!(
                        "`slots` = {n} is more than {MAX_SLOTS}, {limit}; lower it, \
                         or add `allow_many_slots = true` to {table} if the machine really runs that many"
                    ),
                );
                None
            }
            slots => Some(slots),
        }
    }

    /// A whole number from 1 to `max` (seconds, counts).
    fn positive(&mut self, key: &str, v: &RawValue, max: i64) -> Option<usize> {
        match v.get_ref() {
            Value::Integer(n) if (1..=max).contains(n) => Some(*n as usize),
            other => {
                self.issue(
                    v.span(),
                    format!("`{key}` must be a whole number from 1 to {max}, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn port(&mut self, v: &RawValue) -> Option<u16> {
        match v.get_ref() {
            Value::Integer(n) => match u16::try_from(*n) {
                Ok(p) if p >= 1 => Some(p),
                _ => {
                    self.issue(
                        v.span(),
                        format!("`port` must be between 1 and 65535, found {n}"),
                    );
                    None
                }
            },
            other => {
                self.issue(
                    v.span(),
                    format!(
                        "`port` must be an integer between 1 and 65535, found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn pattern(&mut self, v: &RawValue) -> Option<String> {
        let pattern = self.non_empty("pattern", v)?;
        if pattern.starts_with('/') {
            self.issue(
                v.span(),
                format!("`pattern` must be relative to the project root, found {pattern:?}"),
            );
            return None;
        }
        if let Err(e) = globset::Glob::new(&pattern) {
            self.issue(
                v.span(),
                format!("`pattern` is not a valid glob: {}", e.kind()),
            );
            return None;
        }
        Some(pattern)
    }

    fn path(&mut self, key: &str, v: &RawValue) -> Option<PathBuf> {
        let s = self.non_empty(key, v)?;
        match expand_tilde(&s, self.home) {
            Some(p) => Some(p),
            None => {
                self.issue(
                    v.span(),
                    format!("cannot expand `~` in `{key}`: $HOME is not set"),
                );
                None
            }
        }
    }

    fn env(&mut self, raw: RawEnv) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for (key, value) in raw.0 {
            let name = key.get_ref();
            if name.is_empty() {
                self.issue(
                    key.span(),
                    "environment variable names in `env` must not be empty",
                );
                continue;
            }
            if !valid_env_name(name) {
                self.issue(
                    key.span(),
                    format!(
                        "environment variable name {name:?} in `env` is not valid: a name is letters, digits and `_`, \
                         not starting with a digit (a host's shell and `env` take no other)"
                    ),
                );
                continue;
            }
            match value.get_ref() {
                Value::String(s) if s.contains('\0') => {
                    self.issue(
                        value.span(),
                        format!("`env.{name}` must not contain a NUL byte"),
                    );
                }
                Value::String(s) => env.push((name.clone(), s.clone())),
                other => {
                    let hint = match other {
                        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => {
                            format!(" (quote it: {name} = \"{other}\")")
                        }
                        _ => String::new(),
                    };
                    self.issue(
                        value.span(),
                        format!(
                            "`env.{name}` must be a string, found {}{hint}",
                            describe(other)
                        ),
                    );
                }
            }
        }
        env.sort();
        env
    }

    fn strings<K>(&mut self, key: &str, list: StrList<K>) -> Vec<String> {
        let mut out = Vec::new();
        for item in list.items {
            match item.get_ref() {
                Value::String(s) => out.push(s.clone()),
                other => self.issue(
                    item.span(),
                    format!(
                        "`{key}` must contain only strings, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        out
    }
}
