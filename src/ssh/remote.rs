//! SSH hosts over russh. An `SshHost` owns a few authenticated connections to one host (sshd
//! allows 10 channels per connection) and runs each command in a session channel of its own;
//! host keys are checked against known_hosts under an explicit `HostKeyChecking` policy.

// `SshError` carries what its message needs (fingerprints, paths); it is built at most once per
// connect or command, so its size does not matter.
#![allow(clippy::result_large_err)]

use super::quote::{command_line, CommandLineError};
use super::{ExitInfo, Host, HostCommand, HostError, Output, Process};
use futures::future::BoxFuture;
use russh::client::{self, AuthResult, Handle, Msg};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::known_hosts::known_host_keys_path;
use russh::keys::{
    check_known_hosts_path, Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{cipher, Channel, ChannelMsg, Preferred, Sig};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, timeout, Instant};

/// Commands run at once on one connection. sshd's `MaxSessions` defaults to 10 channels per
/// connection; the other 2 are kept for the short channels that kill process groups.
pub const COMMANDS_PER_CONNECTION: usize = 8;
/// Connections opened to one host at once. sshd drops new connections at random once
/// `MaxStartups` (default 10) are not yet authenticated; a burst of dozens looked like a dead host.
pub const CONNECTS_AT_ONCE: usize = 4;
const KILL_CHANNELS_PER_CONNECTION: usize = 2;
/// How long a killed command has to report its end before its channel is closed from here.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long the kill command itself may take (channel open, exec, exit).
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// After we close a channel ourselves, how long sshd has to confirm.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default limit for `SshHost::run`.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Output chunks held here while the consumer of a `Process` is slow; past this the channel
/// is not read, and SSH flow control holds the remote command back.
const PENDING_CHUNKS: usize = 64;
/// The first stdout line of every command: the process group to kill.
const PGID_MARKER: &[u8] = b"testbot-pgid:";
/// Lines before the marker (noise from a remote shell startup file) are passed on; a line
/// longer than this means the marker is not coming.
const PGID_SEARCH_LIMIT: usize = 64 * 1024;

const CIPHERS: &[cipher::Name] = &[
    // 1.5–2x the throughput of chacha20-poly1305 on AES-NI machines.
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

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
    fn endpoint(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// The name known_hosts (and `ssh-keygen -R`) use for this host.
    fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("failed to connect to host `{host}` ({endpoint})")]
    Connect {
        host: String,
        endpoint: String,
        #[source]
        source: Box<russh::Error>,
    },
    #[error("timed out after {timeout:?} connecting to host `{host}` ({endpoint})")]
    ConnectTimeout { host: String, endpoint: String, timeout: Duration },
    #[error(
        "host `{host}` is not in known_hosts {}: it offered the {algorithm} key {fingerprint}\n\
         If that is the right key, trust it with `ssh-keyscan -p {port} {address} >> {}` \
         or set host_key_checking = \"accept-new\" in [ssh]",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyUnknown {
        host: String,
        address: String,
        port: u16,
        algorithm: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error(
        "the host key of `{host}` has CHANGED: the {algorithm} key it offered ({fingerprint}) does not \
         match line {line} of {}\n\
         Someone could be intercepting the connection (a man-in-the-middle attack), or the host was \
         reinstalled. If you know the new key is right, remove the old one with \
         `ssh-keygen -R '{known_name}' -f {}` and connect again",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyChanged {
        host: String,
        known_name: String,
        algorithm: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error(
        "host `{host}` offered a {algorithm} key ({fingerprint}) but {} (line {line}) records a key of \
         another type ({known}) for it\n\
         Someone could be intercepting the connection (a man-in-the-middle attack), or the host's keys \
         were replaced. If you know the new key is right, remove the old one with \
         `ssh-keygen -R '{known_name}' -f {}` and connect again",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyOtherType {
        host: String,
        known_name: String,
        algorithm: String,
        fingerprint: String,
        known: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("host `{host}` offered a host certificate, which testbot does not check")]
    HostCertificate { host: String },
    #[error("failed to read known_hosts file {}", path.display())]
    KnownHosts {
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error("failed to record the host key of `{host}` in {}", path.display())]
    LearnHostKey {
        host: String,
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error("failed to read SSH key {}", path.display())]
    KeyLoad {
        path: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error(
        "SSH key {} is protected by a passphrase and no ssh-agent is running (SSH_AUTH_SOCK is not set)\n\
         Start one and add the key (`eval $(ssh-agent)` then `ssh-add {}`), or use a key without a passphrase",
        path.display(), path.display()
    )]
    KeyEncrypted { path: PathBuf },
    #[error("no way to authenticate to host `{host}`: no identity file is readable and SSH_AUTH_SOCK is not set")]
    NoAuthMethod { host: String },
    #[error("failed to authenticate to host `{host}` as `{user}`; tried: {}", tried.join("; "))]
    Auth { host: String, user: String, tried: Vec<String> },
    #[error("timed out after {timeout:?} authenticating to host `{host}` as `{user}`")]
    AuthTimeout { host: String, user: String, timeout: Duration },
    #[error("failed to open a channel on host `{host}`")]
    Channel {
        host: String,
        #[source]
        source: Box<russh::Error>,
    },
    #[error("host `{host}` refused to run `{command}`")]
    ExecRefused { host: String, command: String },
    #[error("lost the connection to host `{host}`")]
    Disconnected { host: String },
    #[error("timed out after {timeout:?} waiting for `{command}` on host `{host}`")]
    Timeout { host: String, command: String, timeout: Duration },
    #[error("failed to build the command line for host `{host}`")]
    CommandLine {
        host: String,
        #[source]
        source: CommandLineError,
    },
}

/// A private key file, as far as it could be read without a passphrase.
enum Identity {
    Key {
        path: PathBuf,
        key: Arc<PrivateKey>,
    },
    /// Usable only through an ssh-agent that holds it; `public` picks it among the agent's keys.
    Encrypted {
        path: PathBuf,
        public: Option<PublicKey>,
    },
    Missing {
        path: PathBuf,
    },
}

impl Identity {
    fn load(path: &Path) -> Result<Identity, SshError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Identity::Missing { path: path.into() }),
            Err(e) => return Err(SshError::KeyLoad { path: path.into(), source: e.into() }),
        };
        match russh::keys::decode_secret_key(&text, None) {
            Ok(key) => Ok(Identity::Key { path: path.into(), key: Arc::new(key) }),
            Err(russh::keys::Error::KeyIsEncrypted) => {
                // The OpenSSH format keeps the public half in clear; a `.pub` beside it is the fallback.
                let public = PrivateKey::from_openssh(&text)
                    .map(|k| k.public_key().clone())
                    .ok()
                    .or_else(|| russh::keys::load_public_key(pub_path(path)).ok());
                Ok(Identity::Encrypted { path: path.into(), public })
            }
            Err(source) => Err(SshError::KeyLoad { path: path.into(), source }),
        }
    }
}

fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// russh's client handler: checks the host key and remembers why it refused one.
struct Verifier {
    target: Arc<SshTarget>,
    refusal: Arc<Mutex<Option<SshError>>>,
    /// The SHA256 fingerprint of the key it accepted.
    accepted: Arc<Mutex<Option<String>>>,
}

/// Serialises known_hosts updates within this process (several connections may learn the same
/// host at once).
static LEARN_LOCK: Mutex<()> = Mutex::new(());

impl Verifier {
    fn verify(&self, offered: &PublicKeyOrCertificate) -> Result<(), SshError> {
        let t = &self.target;
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => return Err(SshError::HostCertificate { host: t.name.clone() }),
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let algorithm = key.algorithm().as_str().to_string();
        let read_err = |source| SshError::KnownHosts { path: t.known_hosts.clone(), source };
        match check_known_hosts_path(&t.address, t.port, key, &t.known_hosts) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(russh::keys::Error::KeyChanged { line }) => {
                return Err(SshError::HostKeyChanged {
                    host: t.name.clone(),
                    known_name: t.known_hosts_name(),
                    algorithm,
                    fingerprint,
                    known_hosts: t.known_hosts.clone(),
                    line: file_line(&t.known_hosts, line),
                })
            }
            Err(e) => return Err(read_err(e)),
        }
        // Not known. A host that known_hosts knows under another key type is refused even
        // under accept-new: an interceptor would simply offer a type that is not recorded.
        let known = known_host_keys_path(&t.address, t.port, &t.known_hosts).map_err(read_err)?;
        if let Some((line, _)) = known.first() {
            let mut types: Vec<String> = known.iter().map(|(_, k)| k.algorithm().as_str().to_string()).collect();
            types.dedup();
            return Err(SshError::HostKeyOtherType {
                host: t.name.clone(),
                known_name: t.known_hosts_name(),
                algorithm,
                fingerprint,
                known: types.join(", "),
                known_hosts: t.known_hosts.clone(),
                line: file_line(&t.known_hosts, *line),
            });
        }
        match t.policy {
            HostKeyChecking::Strict => Err(SshError::HostKeyUnknown {
                host: t.name.clone(),
                address: t.address.clone(),
                port: t.port,
                algorithm,
                fingerprint,
                known_hosts: t.known_hosts.clone(),
            }),
            HostKeyChecking::AcceptNew => {
                let _guard = LEARN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
                // Another connection may have recorded it meanwhile.
                if check_known_hosts_path(&t.address, t.port, key, &t.known_hosts).map_err(read_err)? {
                    return Ok(());
                }
                record_host_key(&t.known_hosts_name(), key, &t.known_hosts).map_err(|source| {
                    SshError::LearnHostKey { host: t.name.clone(), path: t.known_hosts.clone(), source }
                })?;
                tracing::info!(host = %t.name, %fingerprint, known_hosts = %t.known_hosts.display(), "recorded new host key");
                Ok(())
            }
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        match self.verify(offered) {
            Ok(()) => {
                if let PublicKeyOrCertificate::PublicKey { key, .. } = offered {
                    *self.accepted.lock().unwrap_or_else(|p| p.into_inner()) = Some(key.fingerprint(HashAlg::Sha256).to_string());
                }
                Ok(true)
            }
            Err(refusal) => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(refusal);
                Ok(false)
            }
        }
    }
}

/// Appends `NAME KEY` to known_hosts. (russh's `learn_known_hosts_path` starts an empty or new
/// file with a blank line: it cannot seek to the last byte of an empty file and so assumes the
/// file lacks its final newline.)
fn record_host_key(name: &str, key: &PublicKey, path: &Path) -> Result<(), russh::keys::Error> {
    use std::io::{Read, Seek, SeekFrom, Write};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().read(true).append(true).create(true).open(path)?;
    let mut line = String::new();
    if file.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(name);
    line.push(' ');
    line.push_str(key.to_openssh()?.trim_end());
    line.push('\n');
    // One write: with O_APPEND, lines written at once by other processes do not interleave.
    file.write_all(line.as_bytes())?;
    Ok(())
}

/// russh numbers known_hosts entries without counting `#` comment lines; this maps its
/// number back to the line of the file that a person (or an editor) sees.
fn file_line(path: &Path, entry: usize) -> usize {
    let Ok(text) = std::fs::read_to_string(path) else {
        return entry;
    };
    let mut seen = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.starts_with('#') {
            seen += 1;
            if seen == entry {
                return i + 1;
            }
        }
    }
    entry
}

/// Host key algorithms to ask for: those known_hosts already has for this host first (as
/// OpenSSH does), else a host whose ed25519 key is not recorded reads as unknown although its
/// RSA key is.
fn host_key_preference(t: &SshTarget) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = Vec::new();
    for (_, key) in known_host_keys_path(&t.address, t.port, &t.known_hosts).unwrap_or_default() {
        let algs = match key.algorithm() {
            // An RSA host key signs with SHA-2; plain `ssh-rsa` (SHA-1) stays last resort.
            Algorithm::Rsa { .. } => {
                vec![Algorithm::Rsa { hash: Some(HashAlg::Sha512) }, Algorithm::Rsa { hash: Some(HashAlg::Sha256) }]
            }
            other => vec![other],
        };
        for a in algs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    for a in Preferred::DEFAULT.key.iter() {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

fn client_config(t: &SshTarget) -> Arc<client::Config> {
    let preferred =
        Preferred { cipher: Cow::Borrowed(CIPHERS), key: Cow::Owned(host_key_preference(t)), ..Preferred::default() };
    Arc::new(client::Config {
        // Nagle costs ~40 ms per round trip on small packets.
        nodelay: true,
        keepalive_interval: Some(t.alive_interval),
        keepalive_max: t.alive_count_max,
        preferred,
        ..Default::default()
    })
}

/// One authenticated connection and its channel budget.
struct Conn {
    handle: Handle<Verifier>,
    commands: Arc<Semaphore>,
    kills: Arc<Semaphore>,
    /// The jump host's connection the tunnel runs over; it lives as long as this one.
    _via: Option<SshHost>,
}

impl Conn {
    /// Opens a session channel. sshd frees a closed channel's session slot a moment after the
    /// close, so an open right after one may be refused: retry a few times.
    async fn open(&self, host: &str) -> Result<Channel<Msg>, SshError> {
        let mut delay = Duration::from_millis(10);
        for attempt in 0.. {
            match self.handle.channel_open_session().await {
                Ok(ch) => return Ok(ch),
                Err(russh::Error::ChannelOpenFailure(reason)) if attempt < 6 => {
                    tracing::debug!(%host, ?reason, "channel open refused, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(source) => return Err(SshError::Channel { host: host.to_string(), source: Box::new(source) }),
            }
        }
        unreachable!()
    }
}

/// A host reached over SSH.
#[derive(Clone)]
pub struct SshHost {
    inner: Arc<Inner>,
}

struct Inner {
    target: Arc<SshTarget>,
    identities: Vec<Identity>,
    agent: Option<PathBuf>,
    conns: Mutex<Vec<Arc<Conn>>>,
    /// The fingerprint of the host key it proved, once connected: the machine's identity.
    host_key: Arc<Mutex<Option<String>>>,
    /// Held while a connection is being added, so that a burst of spawns opens one, not many.
    grow: tokio::sync::Mutex<()>,
    /// Why connections beyond the first were refused while `connect` opened them.
    refused: Mutex<Vec<String>>,
}

impl SshHost {
    /// Connects and authenticates `ceil(sessions / 8)` connections (at least one), enough to run
    /// `sessions` commands at once. More are opened later if more commands run at once, and a
    /// connection that dropped is replaced on the next `spawn`.
    pub async fn connect(target: SshTarget, sessions: usize) -> Result<SshHost, SshError> {
        let agent = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(PathBuf::from);
        Self::connect_with_agent(target, sessions, agent).await
    }

    /// `connect` with an explicit ssh-agent socket (`None`: no agent) instead of SSH_AUTH_SOCK.
    pub async fn connect_with_agent(
        target: SshTarget,
        sessions: usize,
        agent: Option<PathBuf>,
    ) -> Result<SshHost, SshError> {
        let identities = target.identities.iter().map(|p| Identity::load(p)).collect::<Result<Vec<_>, _>>()?;
        if agent.is_none() && !identities.iter().any(|i| matches!(i, Identity::Key { .. })) {
            if let Some(Identity::Encrypted { path, .. }) =
                identities.iter().find(|i| matches!(i, Identity::Encrypted { .. }))
            {
                return Err(SshError::KeyEncrypted { path: path.clone() });
            }
            return Err(SshError::NoAuthMethod { host: target.name.clone() });
        }
        let inner = Arc::new(Inner {
            target: Arc::new(target),
            identities,
            agent,
            conns: Mutex::new(Vec::new()),
            host_key: Arc::new(Mutex::new(None)),
            grow: tokio::sync::Mutex::new(()),
            refused: Mutex::new(Vec::new()),
        });
        // The first alone: it may record the host key, which the others then find.
        let first = inner.connect_one().await?;
        let wanted = sessions.div_ceil(COMMANDS_PER_CONNECTION).max(1);
        // The rest a few at a time. One the host refuses is noted, not fatal: the host serves
        // fewer commands at once (see `capacity`).
        use futures::StreamExt;
        let rest: Vec<Result<Conn, SshError>> =
            futures::stream::iter((1..wanted).map(|_| inner.connect_one())).buffer_unordered(CONNECTS_AT_ONCE).collect().await;
        let mut conns = vec![Arc::new(first)];
        let mut refused = Vec::new();
        for conn in rest {
            match conn {
                Ok(conn) => conns.push(Arc::new(conn)),
                Err(e) => refused.push(crate::error_chain::chain(&e)),
            }
        }
        if !refused.is_empty() {
            tracing::warn!(host = %inner.target.name, refused = refused.len(), wanted, error = %refused[0], "the host refused connections");
        }
        *inner.conns.lock().unwrap_or_else(|p| p.into_inner()) = conns;
        *inner.refused.lock().unwrap_or_else(|p| p.into_inner()) = refused;
        Ok(SshHost { inner })
    }

    /// Commands this host can run at once on the connections it accepted.
    pub fn capacity(&self) -> usize {
        self.connections() * COMMANDS_PER_CONNECTION
    }

    /// Why connections were refused while `connect` opened them (empty: none was).
    pub fn refused_connections(&self) -> Vec<String> {
        self.inner.refused.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Opens `sessions` session channels at once, spread over the connections as commands
    /// are, runs nothing in them and closes them: how many the host allowed (sshd's
    /// `MaxSessions` caps them per connection), and the first refusal.
    pub async fn channel_capacity(&self, sessions: usize) -> (usize, Option<String>) {
        let conns: Vec<Arc<Conn>> = self.inner.conns.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if conns.is_empty() {
            return (0, None);
        }
        let host = &self.inner.target.name;
        let opens = (0..sessions).map(|i| {
            let conn = conns[i % conns.len()].clone();
            async move {
                match conn.handle.channel_open_session().await {
                    Ok(ch) => Ok(CloseOnDrop(Some(ch))),
                    Err(source) => Err(crate::error_chain::chain(&SshError::Channel { host: host.clone(), source: Box::new(source) })),
                }
            }
        });
        let results = futures::future::join_all(opens).await;
        let opened = results.iter().filter(|r| r.is_ok()).count();
        let refusal = results.into_iter().find_map(Result::err);
        (opened, refusal)
    }

    pub fn target(&self) -> &SshTarget {
        &self.inner.target
    }

    /// Open connections (for diagnostics and tests).
    pub fn connections(&self) -> usize {
        let conns = self.inner.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.iter().filter(|c| !c.handle.is_closed()).count()
    }

    /// Runs a short shell command (`nproc`, `ruby -v`) and collects its output, within `RUN_TIMEOUT`.
    pub async fn run(&self, command: &str) -> Result<(ExitInfo, Vec<u8>, Vec<u8>), SshError> {
        self.run_with_timeout(command, RUN_TIMEOUT).await
    }

    /// `run` with its own time limit. `command` is shell text; build it with `quote`.
    pub async fn run_with_timeout(
        &self,
        command: &str,
        limit: Duration,
    ) -> Result<(ExitInfo, Vec<u8>, Vec<u8>), SshError> {
        self.run_with_stdin(command, &[], limit).await
    }

    /// Runs `command` with `stdin` as its standard input (then end of input), collecting its
    /// output. Reading goes on while stdin is written: a command that prints while it reads
    /// would otherwise stall once the output window fills. Like every command testbot starts,
    /// it runs under the watchdog (`watched`): when its channel closes, because it ended,
    /// timed out, or testbot or the connection went, its whole process group is killed.
    pub async fn run_with_stdin(
        &self,
        command: &str,
        stdin: &[u8],
        limit: Duration,
    ) -> Result<(ExitInfo, Vec<u8>, Vec<u8>), SshError> {
        let host = &self.inner.target.name;
        let (conn, _permit) = self.inner.slot().await?;
        let mut ch = CloseOnDrop(Some(conn.open(host).await?));
        let mut writer = ch.0.as_ref().expect("open").make_writer();
        let wrapped = watched(command, stdin.len());
        let collect = async {
            ch.0.as_ref()
                .expect("open")
                .exec(true, wrapped.as_bytes())
                .await
                .map_err(|source| SshError::Channel { host: host.clone(), source: Box::new(source) })?;
            // No EOF after the bytes: the watchdog reads the channel's stdin until it closes.
            let write = async {
                writer.write_all(stdin).await?;
                writer.flush().await
            };
            let read = async {
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let mut exit = ExitInfo { code: None, signal: None };
                let mut confirmed = false;
                let channel = ch.0.as_mut().expect("open");
                while let Some(msg) = channel.wait().await {
                    match msg {
                        ChannelMsg::Data { data } => out.extend_from_slice(&data),
                        ChannelMsg::ExtendedData { data, ext: 1 } => err.extend_from_slice(&data),
                        ChannelMsg::ExitStatus { exit_status } => exit.code = Some(exit_status as i32),
                        ChannelMsg::ExitSignal { signal_name, .. } => exit.signal = signal_number(&signal_name),
                        ChannelMsg::Success => confirmed = true,
                        ChannelMsg::Failure if !confirmed => {
                            return Err(SshError::ExecRefused { host: host.clone(), command: command.to_string() })
                        }
                        _ => {}
                    }
                }
                // Closed by sshd: nothing to close on drop.
                ch.0.take();
                // sshd always reports an exit status or signal; without one the connection went.
                if exit.code.is_none() && exit.signal.is_none() {
                    return Err(SshError::Disconnected { host: host.clone() });
                }
                Ok((exit, strip_pgid_line(out), err))
            };
            tokio::pin!(write, read);
            let mut writing = true;
            loop {
                tokio::select! {
                    result = &mut read => return result,
                    // A command that exits without reading all of stdin is not an error here:
                    // its exit status says what happened.
                    written = &mut write, if writing => {
                        writing = false;
                        if let Err(e) = written {
                            tracing::debug!(%host, error = %e, "stdin not fully written");
                        }
                    }
                }
            }
        };
        // On a timeout (or when this future is dropped) the channel is closed, and the
        // watchdog kills what the command left running.
        match timeout(limit, collect).await {
            Ok(r) => r,
            Err(_) => Err(SshError::Timeout { host: host.clone(), command: command.to_string(), timeout: limit }),
        }
    }

    async fn spawn_command(&self, command: &HostCommand) -> Result<Process, SshError> {
        let inner = &self.inner;
        let host = inner.target.name.clone();
        let mut command = command.clone();
        if command.events {
            command.env.insert(0, (super::EVENT_FD_VAR.to_string(), super::EVENT_FD.to_string()));
        }
        let line = command_line(&command).map_err(|source| SshError::CommandLine { host: host.clone(), source })?;
        // The event channel is the SSH channel's stderr stream: the command's descriptor 3 goes
        // there, and its own stderr joins its stdout, so no byte a test prints is read as an event.
        let events = if command.events { "exec 3>&2 2>&1\n" } else { "" };
        // sshd starts every session's command in a new session (setsid), so the shell's pid is
        // the process group of the command and of everything it starts; report it first.
        // A watchdog holds the channel's stdin (the command gets /dev/null): when the channel
        // closes — the command ended, or the connection is gone because testbot died or the
        // network did — it kills the whole group, so nothing is left running on the host.
        let marker = std::str::from_utf8(PGID_MARKER).expect("ASCII marker");
        let wrapped = format!(
            "printf '{marker}%s\\n' \"$$\" || exit 1\n\
             exec 3<&0 </dev/null\n\
             {{ cat <&3 >/dev/null 2>&1; kill -s KILL -- -$$; }} >/dev/null 2>&1 &\n\
             exec 3<&-\n\
             {LOCALE}\
             {events}\
             {line}"
        );
        let (conn, permit) = inner.slot().await?;
        let mut ch = conn.open(&host).await?;
        ch.exec(true, wrapped.as_bytes())
            .await
            .map_err(|source| SshError::Channel { host: host.clone(), source: Box::new(source) })?;
        // Wait for sshd's answer to the exec, keeping anything that arrives before it.
        let mut early = Vec::new();
        let answer = timeout(inner.target.connect_timeout, async {
            loop {
                match ch.wait().await {
                    Some(ChannelMsg::Success) => return Ok(()),
                    Some(ChannelMsg::Failure) => {
                        return Err(SshError::ExecRefused { host: host.clone(), command: line.clone() })
                    }
                    Some(other) => early.push(other),
                    None => return Err(SshError::Disconnected { host: host.clone() }),
                }
            }
        })
        .await;
        match answer {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = ch.close().await;
                return Err(e);
            }
            Err(_) => {
                let _ = ch.close().await;
                return Err(SshError::Timeout { host, command: line, timeout: inner.target.connect_timeout });
            }
        }
        // stdin stays open: the watchdog above reads it until the channel closes.
        let (out_tx, out_rx) = mpsc::channel(64);
        let (exit_tx, exit_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        let driver = Driver {
            host,
            conn,
            permit: Some(permit),
            pending: VecDeque::new(),
            out_closed: false,
            marker: Some(Vec::new()),
            pgid: None,
            exit: ExitInfo { code: None, signal: None },
            events: command.events,
        };
        tokio::spawn(driver.run(ch, early, out_tx, kill_rx, exit_tx));
        Ok(Process::new(out_rx, exit_rx, kill_tx))
    }
}

impl Inner {
    async fn connect_one(&self) -> Result<Conn, SshError> {
        let t = &self.target;
        let refusal = Arc::new(Mutex::new(None));
        let verifier = Verifier { target: t.clone(), refusal: refusal.clone(), accepted: self.host_key.clone() };
        let mut via = None;
        let connecting: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Handle<Verifier>, russh::Error>> + Send>> =
            match &t.jump {
                None => Box::pin(client::connect(client_config(t), (t.address.as_str(), t.port), verifier)),
                Some(jump) => {
                    let jump_host = Box::pin(SshHost::connect_with_agent((**jump).clone(), 1, self.agent.clone())).await?;
                    let conn = jump_host.inner.conns.lock().unwrap_or_else(|p| p.into_inner()).first().cloned();
                    let conn = conn.ok_or_else(|| SshError::Disconnected { host: jump.name.clone() })?;
                    let channel = conn
                        .handle
                        .channel_open_direct_tcpip(t.address.clone(), t.port as u32, "127.0.0.1", 0)
                        .await
                        .map_err(|source| SshError::Connect { host: t.name.clone(), endpoint: format!("{} via {}", t.endpoint(), jump.name), source: Box::new(source) })?;
                    via = Some(jump_host);
                    Box::pin(client::connect_stream(client_config(t), channel.into_stream(), verifier))
                }
            };
        let mut handle = match timeout(t.connect_timeout, connecting).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(source)) => {
                if let Some(refusal) = refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return Err(refusal);
                }
                return Err(SshError::Connect {
                    host: t.name.clone(),
                    endpoint: t.endpoint(),
                    source: Box::new(source),
                });
            }
            Err(_) => {
                return Err(SshError::ConnectTimeout {
                    host: t.name.clone(),
                    endpoint: t.endpoint(),
                    timeout: t.connect_timeout,
                })
            }
        };
        match timeout(t.connect_timeout, self.authenticate(&mut handle)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(SshError::AuthTimeout {
                    host: t.name.clone(),
                    user: t.user.clone(),
                    timeout: t.connect_timeout,
                })
            }
        }
        tracing::debug!(host = %t.name, endpoint = %t.endpoint(), "connected");
        Ok(Conn {
            handle,
            commands: Arc::new(Semaphore::new(COMMANDS_PER_CONNECTION)),
            kills: Arc::new(Semaphore::new(KILL_CHANNELS_PER_CONNECTION)),
            _via: via,
        })
    }

    /// Identity files first, then the agent's keys (the agent's copies of our passphrase-protected
    /// files before its others), as OpenSSH with `IdentityFile` does.
    async fn authenticate(&self, handle: &mut Handle<Verifier>) -> Result<(), SshError> {
        let t = &self.target;
        let user = t.user.as_str();
        let mut tried: Vec<String> = Vec::new();
        let mut rsa_hash: Option<Option<HashAlg>> = None;
        let mut wanted_from_agent: Vec<(PathBuf, Option<PublicKey>)> = Vec::new();
        for identity in &self.identities {
            match identity {
                Identity::Key { path, key } => {
                    let hash =
                        if key.algorithm().is_rsa() { rsa_signature_hash(handle, &mut rsa_hash).await } else { None };
                    let label = format!("key {} ({})", path.display(), key_label(key.algorithm(), hash));
                    match handle.authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash)).await {
                        Ok(AuthResult::Success) => return Ok(()),
                        Ok(AuthResult::Failure { .. }) => tried.push(format!("{label}: refused")),
                        Err(e) => tried.push(format!("{label}: {e}")),
                    }
                }
                Identity::Encrypted { path, public } => wanted_from_agent.push((path.clone(), public.clone())),
                Identity::Missing { path } => tried.push(format!("key {}: no such file", path.display())),
            }
        }
        let Some(sock) = &self.agent else {
            for (path, _) in wanted_from_agent {
                tried.push(format!("key {}: skipped, it has a passphrase and no ssh-agent is running", path.display()));
            }
            return Err(SshError::Auth { host: t.name.clone(), user: user.to_string(), tried });
        };
        let agent_keys = match AgentClient::connect_uds(sock).await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(ids) => Some((agent, ids)),
                Err(e) => {
                    tried.push(format!("ssh-agent at {}: {e}", sock.display()));
                    None
                }
            },
            Err(e) => {
                tried.push(format!("ssh-agent at {}: {e}", sock.display()));
                None
            }
        };
        if let Some((mut agent, ids)) = agent_keys {
            let mut keys: Vec<PublicKey> = ids
                .into_iter()
                .filter_map(|id| match id {
                    AgentIdentity::PublicKey { key, .. } => Some(key),
                    AgentIdentity::Certificate { .. } => None,
                })
                .collect();
            // The agent's copies of our passphrase-protected files go first.
            let ours = |k: &PublicKey| {
                wanted_from_agent.iter().any(|(_, p)| p.as_ref().is_some_and(|p| p.key_data() == k.key_data()))
            };
            keys.sort_by_key(|k| !ours(k));
            for (path, public) in &wanted_from_agent {
                let held = public.as_ref().is_some_and(|p| keys.iter().any(|k| k.key_data() == p.key_data()));
                if !held {
                    tried.push(format!(
                        "key {}: skipped, it has a passphrase and the ssh-agent does not hold it",
                        path.display()
                    ));
                }
            }
            if keys.is_empty() {
                tried.push("ssh-agent: holds no keys".to_string());
            }
            for key in keys {
                let hash =
                    if key.algorithm().is_rsa() { rsa_signature_hash(handle, &mut rsa_hash).await } else { None };
                let label = format!(
                    "ssh-agent key {} ({})",
                    key.fingerprint(HashAlg::Sha256),
                    key_label(key.algorithm(), hash)
                );
                match handle.authenticate_publickey_with(user, key, hash, &mut agent).await {
                    Ok(AuthResult::Success) => return Ok(()),
                    Ok(AuthResult::Failure { .. }) => tried.push(format!("{label}: refused")),
                    Err(e) => tried.push(format!("{label}: {e}")),
                }
            }
        }
        Err(SshError::Auth { host: t.name.clone(), user: user.to_string(), tried })
    }

    /// A free command slot, on the least busy live connection; opens a connection when all are full.
    async fn slot(&self) -> Result<(Arc<Conn>, OwnedSemaphorePermit), SshError> {
        if let Some(slot) = self.try_slot() {
            return Ok(slot);
        }
        let _grow = self.grow.lock().await;
        if let Some(slot) = self.try_slot() {
            return Ok(slot);
        }
        let conn = Arc::new(self.connect_one().await?);
        let permit = conn.commands.clone().try_acquire_owned().expect("a new connection has free slots");
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).push(conn.clone());
        Ok((conn, permit))
    }

    fn try_slot(&self) -> Option<(Arc<Conn>, OwnedSemaphorePermit)> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        // A dropped connection leaves the pool here; commands still on it end by themselves.
        conns.retain(|c| !c.handle.is_closed());
        let conn = conns.iter().max_by_key(|c| c.commands.available_permits())?;
        let permit = conn.commands.clone().try_acquire_owned().ok()?;
        Some((conn.clone(), permit))
    }
}

/// RSA signs with SHA-2 when the server lists it (OpenSSH ≥ 8.8 refuses SHA-1 `ssh-rsa`). A
/// server that does not say what it accepts gets SHA-256: only pre-2016 servers lack it.
async fn rsa_signature_hash(handle: &Handle<Verifier>, cache: &mut Option<Option<HashAlg>>) -> Option<HashAlg> {
    if let Some(hash) = cache {
        return *hash;
    }
    let hash = match handle.best_supported_rsa_hash().await {
        Ok(Some(hash)) => hash,
        Ok(None) | Err(_) => Some(HashAlg::Sha256),
    };
    *cache = Some(hash);
    hash
}

fn key_label(alg: Algorithm, hash: Option<HashAlg>) -> String {
    if matches!(alg, Algorithm::Rsa { .. }) {
        Algorithm::Rsa { hash }.as_str().to_string()
    } else {
        alg.as_str().to_string()
    }
}

/// The SSH signal name (RFC 4254 §6.10, without `SIG`) as this machine's signal number.
fn signal_number(sig: &Sig) -> Option<i32> {
    let n = match sig {
        Sig::ABRT => libc::SIGABRT,
        Sig::ALRM => libc::SIGALRM,
        Sig::FPE => libc::SIGFPE,
        Sig::HUP => libc::SIGHUP,
        Sig::ILL => libc::SIGILL,
        Sig::INT => libc::SIGINT,
        Sig::KILL => libc::SIGKILL,
        Sig::PIPE => libc::SIGPIPE,
        Sig::QUIT => libc::SIGQUIT,
        Sig::SEGV => libc::SIGSEGV,
        Sig::TERM => libc::SIGTERM,
        Sig::USR1 => libc::SIGUSR1,
        Sig::Custom(name) => match name.trim_start_matches("SIG") {
            "USR2" => libc::SIGUSR2,
            "BUS" => libc::SIGBUS,
            "TRAP" => libc::SIGTRAP,
            "SYS" => libc::SIGSYS,
            "XCPU" => libc::SIGXCPU,
            "XFSZ" => libc::SIGXFSZ,
            "VTALRM" => libc::SIGVTALRM,
            "PROF" => libc::SIGPROF,
            "CHLD" => libc::SIGCHLD,
            "CONT" => libc::SIGCONT,
            "STOP" => libc::SIGSTOP,
            "TSTP" => libc::SIGTSTP,
            "TTIN" => libc::SIGTTIN,
            "TTOU" => libc::SIGTTOU,
            "URG" => libc::SIGURG,
            "WINCH" => libc::SIGWINCH,
            "IO" => libc::SIGIO,
            other => {
                tracing::warn!(signal = other, "remote command killed by a signal with no local number");
                return None;
            }
        },
    };
    Some(n)
}

/// Owns one command's channel: forwards output, records how it ended, kills on request.
struct Driver {
    host: String,
    conn: Arc<Conn>,
    /// Released as soon as the channel is closed.
    permit: Option<OwnedSemaphorePermit>,
    /// Output read from the channel but not yet taken by the `Process`.
    pending: VecDeque<Output>,
    /// The `Process` is gone: output is dropped.
    out_closed: bool,
    /// Stdout bytes held while looking for the process-group line; `None` once it is found.
    marker: Option<Vec<u8>>,
    pgid: Option<u32>,
    exit: ExitInfo,
    /// The channel's stderr stream is the command's event channel.
    events: bool,
}

#[derive(PartialEq)]
enum KillState {
    None,
    /// Asked for, but the process group is not known yet.
    Wanted,
    Sent,
}

/// A login environment with no locale leaves Ruby reading file names and output as US-ASCII
/// ("invalid byte sequence in US-ASCII" for a spec file named in UTF-8), where the same command
/// works on this machine: such a host gets C.UTF-8. A locale the host sets stays, and
/// `[project] env` (given to `env` on the command line) wins over both.
const LOCALE: &str = "[ -n \"${LC_ALL:-${LC_CTYPE:-${LANG:-}}}\" ] || export LANG=C.UTF-8\n";

impl Driver {
    async fn run(
        mut self,
        mut ch: Channel<Msg>,
        early: Vec<ChannelMsg>,
        out: mpsc::Sender<Output>,
        mut kill_rx: oneshot::Receiver<()>,
        exit_tx: oneshot::Sender<ExitInfo>,
    ) {
        for msg in early {
            self.take(msg);
        }
        let mut kill = KillState::None;
        // After a kill: when to close the channel from here, then when to give up on it.
        let mut deadline: Option<Instant> = None;
        let mut closed_by_us = false;
        loop {
            if kill == KillState::Wanted {
                if let Some(pgid) = self.pgid {
                    tokio::spawn(kill_group(self.conn.clone(), self.host.clone(), pgid));
                    kill = KillState::Sent;
                }
            }
            tokio::select! {
                msg = ch.wait(), if self.pending.len() < PENDING_CHUNKS => match msg {
                    Some(msg) => self.take(msg),
                    None => break,
                },
                permit = out.reserve(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => permit.send(self.pending.pop_front().expect("not empty")),
                    Err(_) => {
                        self.out_closed = true;
                        self.pending.clear();
                    }
                },
                // An explicit kill, or the Process was dropped.
                _ = &mut kill_rx, if kill == KillState::None => {
                    kill = KillState::Wanted;
                    deadline = Some(Instant::now() + KILL_GRACE);
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    if closed_by_us {
                        tracing::warn!(host = %self.host, "a killed command's channel did not close; giving up on it");
                        break;
                    }
                    if self.pgid.is_none() {
                        tracing::warn!(host = %self.host, "killed a command before it reported its process group; closing its channel only");
                    }
                    let _ = ch.close().await;
                    closed_by_us = true;
                    deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            }
        }
        // The channel is done (or given up on): its slot can serve another command.
        drop(ch);
        self.permit.take();
        if let Some(held) = self.marker.take() {
            self.push(Output::Stdout(held));
        }
        if !self.out_closed {
            for chunk in self.pending.drain(..) {
                if out.send(chunk).await.is_err() {
                    break;
                }
            }
        }
        drop(out);
        let _ = exit_tx.send(self.exit);
    }

    fn take(&mut self, msg: ChannelMsg) {
        match msg {
            ChannelMsg::Data { data } => self.stdout(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } if self.events => self.push(Output::Events(data.to_vec())),
            ChannelMsg::ExtendedData { data, ext: 1 } => self.push(Output::Stderr(data.to_vec())),
            ChannelMsg::ExitStatus { exit_status } => self.exit.code = Some(exit_status as i32),
            ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, .. } => {
                tracing::debug!(host = %self.host, ?signal_name, core_dumped, %error_message, "remote command killed by a signal");
                self.exit.signal = signal_number(&signal_name);
            }
            _ => {}
        }
    }

    fn stdout(&mut self, data: &[u8]) {
        let Some(held) = self.marker.as_mut() else {
            self.push(Output::Stdout(data.to_vec()));
            return;
        };
        held.extend_from_slice(data);
        loop {
            let Some(held) = self.marker.as_mut() else { return };
            let Some(nl) = held.iter().position(|&b| b == b'\n') else {
                if held.len() > PGID_SEARCH_LIMIT {
                    let held = self.marker.take().expect("looking");
                    self.push(Output::Stdout(held));
                }
                return;
            };
            let line: Vec<u8> = held.drain(..=nl).collect();
            if let Some(pgid) = parse_pgid(&line) {
                self.pgid = Some(pgid);
                let rest = self.marker.take().expect("looking");
                if !rest.is_empty() {
                    self.push(Output::Stdout(rest));
                }
                return;
            }
            // Printed before our marker: a remote shell startup file, most likely.
            self.push(Output::Stdout(line));
        }
    }

    fn push(&mut self, chunk: Output) {
        if !self.out_closed && !matches!(&chunk, Output::Stdout(b) | Output::Stderr(b) | Output::Events(b) if b.is_empty()) {
            self.pending.push_back(chunk);
        }
    }
}

fn parse_pgid(line: &[u8]) -> Option<u32> {
    let digits = line.strip_prefix(PGID_MARKER)?.strip_suffix(b"\n")?;
    let pgid: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    // 0 and 1 would signal the caller's own group or every process of the user.
    (pgid > 1).then_some(pgid)
}

/// A channel that is closed when it is dropped while still open (a timeout, a cancelled
/// future), so that sshd ends the session and the watchdog kills the command's group.
struct CloseOnDrop(Option<Channel<Msg>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(ch) = self.0.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = ch.close().await;
                });
            }
        }
    }
}

/// `command` under the watchdog, for `run_with_stdin`. It prints its process group first (the
/// shell's pid: sshd starts every session in a new session), then a background watchdog holds
/// the channel's stdin until it closes and kills the whole group. The command gets the first
/// `stdin_len` bytes of the channel's stdin and then end of input (`head -c` reads no more than
/// it passes on); only then does the watchdog start reading, so the two never share the pipe.
/// With nothing to read the command gets /dev/null and starts no extra process.
pub fn watched(command: &str, stdin_len: usize) -> String {
    let marker = std::str::from_utf8(PGID_MARKER).expect("ASCII marker");
    let watchdog = "{ cat <&3 >/dev/null 2>&1; kill -s KILL -- -$$; } >/dev/null 2>&1 &";
    if stdin_len == 0 {
        format!("printf '{marker}%s\\n' \"$$\" || exit 1\nexec 3<&0 </dev/null\n{watchdog}\nexec 3<&-\n{command}\n")
    } else {
        format!(
            "printf '{marker}%s\\n' \"$$\" || exit 1\nexec 3<&0 </dev/null\n\
             {{ head -c {stdin_len} <&3; exec >&-; {watchdog} }} | {{ exec 3<&-\n{command}\n}}\n"
        )
    }
}

/// The output without the process-group line `watched` prints first (lines a remote shell
/// startup file printed before it are kept).
fn strip_pgid_line(mut out: Vec<u8>) -> Vec<u8> {
    let mut start = 0;
    while start < out.len() {
        let end = out[start..].iter().position(|&b| b == b'\n').map_or(out.len(), |i| start + i + 1);
        if parse_pgid(&out[start..end]).is_some() {
            out.drain(start..end);
            return out;
        }
        start = end;
    }
    out
}

/// `kill -s KILL -- -PGID` on a channel of its own. (dash reads `kill -KILL -- -PGID` as a
/// malformed number; `-s KILL --` works in dash and bash.)
async fn kill_group(conn: Arc<Conn>, host: String, pgid: u32) {
    let command = format!("kill -s KILL -- -{pgid}");
    let result = timeout(KILL_TIMEOUT, async {
        let _permit = conn.kills.clone().acquire_owned().await.ok();
        let mut ch = conn.open(&host).await?;
        ch.exec(true, command.as_bytes())
            .await
            .map_err(|source| SshError::Channel { host: host.clone(), source: Box::new(source) })?;
        let mut status = None;
        let mut err = Vec::new();
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
                _ => {}
            }
        }
        Ok::<_, SshError>((status, err))
    })
    .await;
    match result {
        // 1: the group had already gone.
        Ok(Ok((Some(0 | 1), _))) => {}
        Ok(Ok((status, err))) => {
            tracing::warn!(%host, pgid, ?status, stderr = %String::from_utf8_lossy(&err).trim(), "kill command failed")
        }
        Ok(Err(e)) => tracing::warn!(%host, pgid, error = %e, "could not run the kill command"),
        Err(_) => tracing::warn!(%host, pgid, "the kill command timed out"),
    }
}

impl Host for SshHost {
    fn identity(&self) -> Option<String> {
        self.inner.host_key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn name(&self) -> &str {
        &self.inner.target.name
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        Box::pin(async move {
            self.spawn_command(&command).await.map_err(|e| HostError::Spawn {
                host: self.inner.target.name.clone(),
                program: command.argv.first().cloned().unwrap_or_default(),
                source: std::io::Error::other(e),
            })
        })
    }
}

impl fmt::Debug for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshHost").field("target", &self.inner.target).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    /// Starts `watched(command, len)` as sshd would: `sh -c` as the leader of a new session.
    fn start(command: &str, len: usize) -> std::process::Child {
        Command::new("setsid")
            .args(["sh", "-c", &watched(command, len)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Running (a zombie has been killed; its reaping is init's business).
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    #[test]
    fn the_command_gets_exactly_its_stdin_and_the_pgid_line_is_stripped() {
        let mut child = start("wc -c; echo done", 5);
        let mut stdin = child.stdin.take().unwrap();
        // More than the command's share: the rest is the watchdog's.
        stdin.write_all(b"12345 and more").unwrap();
        stdin.flush().unwrap();
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        let text = String::from_utf8(strip_pgid_line(out)).unwrap();
        assert_eq!(text.split_whitespace().collect::<Vec<_>>(), ["5", "done"]);
        drop(stdin);
    }

    #[test]
    fn closing_the_channel_kills_what_the_command_started() {
        for len in [0, 3] {
            // The command starts a process that outlives it, as `find | xargs sha256sum` would.
            let mut child = start("sh -c 'echo $$; exec sleep 300' & wait", len);
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&b"abc"[..len]).unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 256];
            let sleeper = loop {
                let n = stdout.read(&mut buf).unwrap();
                assert!(n > 0, "no pid printed: {out:?}");
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&strip_pgid_line(out.clone())).into_owned();
                if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) {
                    break pid;
                }
            };
            assert!(alive(sleeper));
            // The channel closes: its stdin ends.
            drop(stdin);
            let _ = child.wait();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while alive(sleeper) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!alive(sleeper), "the sleeper outlived the channel (stdin {len} bytes)");
        }
    }
}
