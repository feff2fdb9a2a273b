//! From a host as testbot.toml names it to an `SshTarget`: its entry wins; then the OpenSSH
//! client config (`[ssh] config`, else ~/.ssh/config) for the Host its address matches; then
//! the defaults — the user's default keys and ssh-agent, ~/.ssh/known_hosts.

use super::{HostKeyChecking, SshTarget};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A host as the inventory gives it.
#[derive(Clone, Debug)]
pub struct HostEntry {
    /// Its name in messages.
    pub name: String,
    /// What it connects to, or a Host alias of the ssh config.
    pub address: String,
    /// 22 unless the entry set another (the config's Port counts only then).
    pub port: u16,
    pub user: Option<String>,
    /// A key file that replaces the config's and the defaults.
    pub identity: Option<PathBuf>,
}

/// `[ssh]` options shared by every host.
#[derive(Clone, Debug)]
pub struct Options {
    /// The OpenSSH client config; `None`: ~/.ssh/config when it exists.
    pub config: Option<PathBuf>,
    /// `None`: the config's UserKnownHostsFile, else ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    pub policy: HostKeyChecking,
    pub connect_timeout: Duration,
    pub alive_interval: Duration,
    pub alive_count_max: usize,
    /// The local user's name, the user when neither the entry nor the config names one.
    pub local_user: Option<String>,
}

/// A target, and whether an ssh-agent may be used for it (not under `IdentitiesOnly yes`).
#[derive(Clone, Debug)]
pub struct Resolved {
    pub target: SshTarget,
    pub use_agent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read ssh config {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse ssh config {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ssh2_config::SshParserError,
    },
    #[error("its ssh config asks for ProxyJump {}: testbot supports one jump host", hops.join(","))]
    ProxyJump { hops: Vec<String> },
}

/// The user's home directory (`$HOME`; unset or empty: none).
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The target for `entry` under `options` (see the module's doc for the order).
pub fn resolve(entry: &HostEntry, options: &Options) -> Result<Resolved, ConfigError> {
    let home = home_dir().unwrap_or_else(|| PathBuf::from("/"));
    resolve_hop(entry, options, &home, true)
}

fn resolve_hop(entry: &HostEntry, options: &Options, home: &Path, may_jump: bool) -> Result<Resolved, ConfigError> {
    let params = params(&entry.address, options, home)?;
    let jump = match params.as_ref().and_then(|p| p.proxy_jump.clone()).filter(|j| !j.is_empty()) {
        None => None,
        Some(hops) if hops.len() == 1 && hops[0] == "none" => None,
        Some(hops) if hops.len() > 1 || !may_jump => return Err(ConfigError::ProxyJump { hops }),
        Some(hops) => Some(Box::new(resolve_hop(&jump_entry(&hops[0], entry), options, home, false)?.target)),
    };
    let extra = |key: &str| -> Option<String> {
        let p = params.as_ref()?;
        p.unsupported_fields.get(key).or_else(|| p.ignored_fields.get(key)).and_then(|v| v.first().cloned())
    };
    let identities_only = extra("identitiesonly").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let identities = match (&entry.identity, params.as_ref().and_then(|p| p.identity_file.clone())) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(files)) if !files.is_empty() => files,
        _ => ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|n| home.join(".ssh").join(n)).filter(|p| p.exists()).collect(),
    };
    let user = entry
        .user
        .clone()
        .or_else(|| params.as_ref().and_then(|p| p.user.clone()))
        .or_else(|| options.local_user.clone())
        .unwrap_or_else(|| "root".to_string());
    let address = params.as_ref().and_then(|p| p.host_name.clone()).unwrap_or_else(|| entry.address.clone());
    // The inventory's port defaults to 22, so a config's Port counts unless the entry set another.
    let port = match params.as_ref().and_then(|p| p.port) {
        Some(port) if entry.port == 22 => port,
        _ => entry.port,
    };
    let expand = |p: &str| match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    };
    let known_hosts = options
        .known_hosts
        .clone()
        .or_else(|| extra("userknownhostsfile").map(|f| expand(f.split_whitespace().next().unwrap_or(&f))))
        .unwrap_or_else(|| home.join(".ssh").join("known_hosts"));
    let target = SshTarget {
        name: entry.name.clone(),
        address,
        port,
        user,
        identities,
        known_hosts,
        policy: options.policy,
        connect_timeout: options.connect_timeout,
        jump,
        alive_interval: options.alive_interval,
        alive_count_max: options.alive_count_max,
    };
    Ok(Resolved { target, use_agent: !identities_only })
}

/// `[user@]host[:port]` from ProxyJump, as a host of its own (resolved through the config too).
fn jump_entry(hop: &str, of: &HostEntry) -> HostEntry {
    let (user, rest) = match hop.split_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, hop),
    };
    let (address, port) = match rest.rsplit_once(':') {
        Some((a, p)) if p.parse::<u16>().is_ok() => (a.to_string(), p.parse().unwrap_or(22)),
        _ => (rest.to_string(), 22),
    };
    HostEntry { name: format!("{} (jump host of {})", address, of.name), address, port, user, identity: None }
}

/// What the ssh config says for `alias`; None when there is no config file.
fn params(alias: &str, options: &Options, home: &Path) -> Result<Option<ssh2_config::HostParams>, ConfigError> {
    let (path, explicit) = match &options.config {
        Some(p) => (p.clone(), true),
        None => (home.join(".ssh").join("config"), false),
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(_) if !explicit => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let rules = ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS;
    match ssh2_config::SshConfig::default().parse(&mut std::io::BufReader::new(file), rules) {
        Ok(config) => Ok(Some(config.query(alias))),
        Err(source) => Err(ConfigError::Parse { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, port: u16) -> HostEntry {
        HostEntry { name: "h".into(), address: address.into(), port, user: None, identity: None }
    }

    fn options(config: &Path) -> Options {
        Options {
            config: Some(config.to_path_buf()),
            known_hosts: None,
            policy: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(1),
            alive_interval: Duration::from_secs(5),
            alive_count_max: 3,
            local_user: None,
        }
    }

    #[test]
    fn an_alias_takes_the_configs_name_port_user_keys_and_known_hosts() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config");
        std::fs::write(
            &config,
            "Host app\n  HostName 127.0.0.5\n  Port 2222\n  User deploy\n  IdentityFile /keys/app\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile ~/kh other\n  ProxyJump ops@bastion:2200\n",
        )
        .unwrap();
        let r = resolve_hop(&entry("app", 22), &options(&config), home.path(), true).unwrap();
        let t = &r.target;
        assert_eq!((t.address.as_str(), t.port, t.user.as_str()), ("127.0.0.5", 2222, "deploy"));
        assert_eq!(t.identities, [PathBuf::from("/keys/app")]);
        assert_eq!(t.known_hosts, home.path().join("kh"));
        assert!(!r.use_agent, "IdentitiesOnly yes keeps the agent out");
        let jump = t.jump.as_ref().unwrap();
        assert_eq!((jump.address.as_str(), jump.port, jump.user.as_str()), ("bastion", 2200, "ops"));
        assert_eq!(jump.name, "bastion (jump host of h)");
        // The entry's own port and key win over the config's.
        let mut own = entry("app", 2022);
        own.identity = Some(PathBuf::from("/k"));
        let t = resolve_hop(&own, &options(&config), home.path(), true).unwrap().target;
        assert_eq!((t.port, t.identities), (2022, vec![PathBuf::from("/k")]));
    }

    #[test]
    fn two_jumps_and_an_unreadable_explicit_config_are_errors() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config");
        std::fs::write(&config, "Host far\n  ProxyJump a,b\nHost a\n  ProxyJump b\n").unwrap();
        let err = resolve_hop(&entry("far", 22), &options(&config), home.path(), true).unwrap_err();
        assert_eq!(err.to_string(), "its ssh config asks for ProxyJump a,b: testbot supports one jump host");
        // A jump host that itself needs a jump is refused too.
        let mut via_a = entry("x", 22);
        via_a.address = "a".into();
        assert!(matches!(resolve_hop(&via_a, &options(&config), home.path(), false), Err(ConfigError::ProxyJump { .. })));
        let missing = options(&home.path().join("nope"));
        assert!(matches!(resolve_hop(&entry("far", 22), &missing, home.path(), true), Err(ConfigError::Read { .. })));
        // No config given and none at ~/.ssh/config: the defaults.
        let none = Options { config: None, ..options(&config) };
        let t = resolve_hop(&entry("plain", 22), &none, home.path(), true).unwrap().target;
        assert_eq!((t.address.as_str(), t.port), ("plain", 22));
        assert_eq!(t.known_hosts, home.path().join(".ssh/known_hosts"));
    }
}
