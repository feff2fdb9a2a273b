//! Checks the raw tree and turns it into the public, validated types.
//!
//! Every check records an `Issue` (a message and a byte span) and carries on,
//! so the error finally reported is the first one in the file, wherever the
//! checks happen to run.

mod profile;
mod quarantine;
mod values;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::raw::{RawConfig, RawGroup, RawHost, RawLocal, RawProject, RawHooks, RawImpact, RawQueue, RawSsh, RawSync, Section};
use super::{Hooks, HostKeyChecking, Impact, HostSpec, Inventory, Invocation, LocalSettings, ProjectSettings, QueueSettings, Slots, Ssh, SyncSettings};

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

pub(super) struct Checker<'a> {
    text: &'a str,
    home: Option<&'a Path>,
    /// The names `[project] framework` may be: the registered frameworks'.
    frameworks: &'a [&'static str],
    issues: Vec<Issue>,
}

/// Validates `raw`; on failure returns the issue that comes first in `text`.
pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    source: &Path,
    home: Option<&Path>,
    frameworks: &[&'static str],
) -> Result<Inventory, Issue> {
    let mut c = Checker {
        text,
        home,
        frameworks,
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
        queue: c.queue(raw.queue),
        profiles: c.profiles(raw.profile.unwrap_or_default()),
        impact: c.impact(raw.impact),
        invocation: Invocation::default(),
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
    pub(super) fn issue(&mut self, span: Range<usize>, message: impl Into<String>) {
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
            .and_then(|v| self.choice("framework", &v, self.frameworks))
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
        let quarantine = raw.quarantine.map(|l| self.quarantine(l)).unwrap_or_default();
        let quarantine_passes = raw.quarantine_passes.and_then(|v| self.positive("quarantine_passes", &v, 1000)).unwrap_or(5);
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
            quarantine,
            quarantine_passes,
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
        let name = self.unique_name(name, address.clone(), &raw, seen)?;

        Some(HostSpec {
            name,
            address: address?,
            port: port?,
            user,
            identity,
            slots: slots?,
        })
    }

    /// A host without a `name` is called by its address; names must be unique either way.
    /// The clash is reported at the second host's value. `None`: a clash, or no name nor
    /// address (already reported).
    fn unique_name(
        &mut self,
        name: Option<String>,
        address: Option<String>,
        raw: &RawHost,
        seen: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let (name, name_span, defaulted) = match (name, &raw.name, address, &raw.address) {
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
        Some(name)
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

    fn queue(&mut self, raw: Option<Section<RawQueue>>) -> QueueSettings {
        let Some(Section(raw)) = raw else {
            return QueueSettings::default();
        };
        QueueSettings { url: raw.url.and_then(|v| self.non_empty("url", &v)), project: raw.project.and_then(|v| self.non_empty("project", &v)) }
    }

    fn impact(&mut self, raw: Option<Section<RawImpact>>) -> Impact {
        let Some(Section(raw)) = raw else {
            return Impact::default();
        };
        Impact {
            record: raw.record.and_then(|v| self.boolean("record", &v)).unwrap_or(false),
            ignore: raw.ignore.map(|l| self.strings("ignore", l)).unwrap_or_default(),
        }
    }
}
