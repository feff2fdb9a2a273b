//! Where and how to reach one SSH host: its address, user, keys, known_hosts file and the
//! policy for a key not in it, timeouts and keepalives, and the jump host in front of it.

use std::path::PathBuf;
use std::time::Duration;

/// What to do with a host whose key is not in known_hosts yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HostKeyChecking {
    /// Refuse it (OpenSSH `StrictHostKeyChecking yes`).
    #[default]
    Strict,
    /// Record its key and go on (OpenSSH `accept-new`); a changed key is still refused.
    AcceptNew,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The host's name in messages.
    pub name: String,
    /// What to connect to, and the name looked up in known_hosts.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key files, tried in order before the keys of an ssh-agent.
    pub identities: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    pub policy: HostKeyChecking,
    /// For the TCP connect and key exchange, and again for authentication.
    pub connect_timeout: Duration,
    /// Reach this host through a tunnel from another (OpenSSH's ProxyJump, one hop).
    pub jump: Option<Box<SshTarget>>,
    /// A keepalive after this long without a word from the host (OpenSSH's ServerAliveInterval)…
    pub alive_interval: Duration,
    /// …and the connection counts as lost after this many go unanswered (ServerAliveCountMax).
    pub alive_count_max: usize,
}

/// Defaults for `SshTarget::alive_interval` and `alive_count_max`: a host that stops answering
/// is given up on after about 20 seconds.
pub const ALIVE_INTERVAL: Duration = Duration::from_secs(5);
pub const ALIVE_COUNT_MAX: usize = 3;

impl SshTarget {
    pub(super) fn endpoint(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// The name known_hosts (and `ssh-keygen -R`) use for this host.
    pub(super) fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }
}
