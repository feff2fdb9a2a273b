//! The connection pool of one SSH host: a few authenticated connections (sshd allows 10
//! channels per connection), a command slot on the least busy one, a new connection when all
//! are full, and a dropped one replaced on the next command.

// `SshError` carries what its message needs; it is built at most once per connect or command.
#![allow(clippy::result_large_err)]

use super::auth::Identity;
use super::known_hosts::Verifier;
use super::{Host, HostCommand, HostError, Process, SshError, SshTarget};
use futures::future::BoxFuture;
use russh::client::{Handle, Msg};
use russh::Channel;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Commands run at once on one connection. sshd's `MaxSessions` defaults to 10 channels per
/// connection; the other 2 are kept for the short channels that kill process groups.
pub const COMMANDS_PER_CONNECTION: usize = 8;
/// Connections opened to one host at once. sshd drops new connections at random once
/// `MaxStartups` (default 10) are not yet authenticated; a burst of dozens looked like a dead host.
pub const CONNECTS_AT_ONCE: usize = 4;
pub(super) const KILL_CHANNELS_PER_CONNECTION: usize = 2;

/// One authenticated connection and its channel budget.
pub(super) struct Conn {
    pub(super) handle: Handle<Verifier>,
    pub(super) commands: Arc<Semaphore>,
    pub(super) kills: Arc<Semaphore>,
    /// The jump host's connection the tunnel runs over; it lives as long as this one.
    pub(super) _via: Option<SshHost>,
}

impl Conn {
    /// Opens a session channel. sshd frees a closed channel's session slot a moment after the
    /// close, so an open right after one may be refused: retry a few times.
    pub(super) async fn open(&self, host: &str) -> Result<Channel<Msg>, SshError> {
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

/// A host reached over SSH.
#[derive(Clone)]
pub struct SshHost {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) target: Arc<SshTarget>,
    pub(super) identities: Vec<Identity>,
    pub(super) agent: Option<PathBuf>,
    pub(super) conns: Mutex<Vec<Arc<Conn>>>,
    /// The fingerprint of the host key it proved, once connected: the machine's identity.
    pub(super) host_key: Arc<Mutex<Option<String>>>,
    /// Held while a connection is being added, so that a burst of spawns opens one, not many.
    pub(super) grow: tokio::sync::Mutex<()>,
    /// Why connections beyond the first were refused while `connect` opened them.
    pub(super) refused: Mutex<Vec<String>>,
}

impl SshHost {
    /// Connects and authenticates `ceil(sessions / 8)` connections (at least one), enough to run
    /// `sessions` commands at once, with the ssh-agent at `agent` (`None`: none). More are
    /// opened later if more commands run at once, and a connection that dropped is replaced on
    /// the next `spawn`.
    pub async fn connect(
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

    /// Open connections.
    fn connections(&self) -> usize {
        let conns = self.inner.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.iter().filter(|c| !c.handle.is_closed()).count()
    }
}

impl Inner {
    /// A free command slot, on the least busy live connection; opens a connection when all are full.
    pub(super) async fn slot(&self) -> Result<(Arc<Conn>, OwnedSemaphorePermit), SshError> {
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

impl Host for SshHost {
    fn identity(&self) -> Option<String> {
        self.inner.host_key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn name(&self) -> &str {
        &self.inner.target.name
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        Box::pin(async move {
            let program = command.argv.first().cloned().unwrap_or_default();
            self.spawn_command(command).await.map_err(|e| HostError::Ssh {
                host: self.inner.target.name.clone(),
                program,
                source: Box::new(e),
            })
        })
    }
}

impl fmt::Debug for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshHost").field("target", &self.inner.target).finish_non_exhaustive()
    }
}

