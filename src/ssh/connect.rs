//! One authenticated connection: TCP (or a tunnel through the jump host), key exchange with
//! the host key checked, then authentication, each step within the target's connect timeout.

// `SshError` carries what its message needs; it is built at most once per connect.
#![allow(clippy::result_large_err)]

use super::known_hosts::{host_key_preference, Verifier};
use super::pool::{Conn, Inner, COMMANDS_PER_CONNECTION, KILL_CHANNELS_PER_CONNECTION};
use super::{auth, SshError, SshHost, SshTarget};
use futures::future::BoxFuture;
use russh::client::{self, Handle};
use russh::{cipher, Preferred};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::timeout;

const CIPHERS: &[cipher::Name] = &[
    // 1.5–2x the throughput of chacha20-poly1305 on AES-NI machines.
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

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

type Connecting = BoxFuture<'static, Result<Handle<Verifier>, russh::Error>>;

impl Inner {
    /// Opens, checks and authenticates one more connection to the target.
    pub(super) async fn connect_one(&self) -> Result<Conn, SshError> {
        let t = &self.target;
        let refusal = Arc::new(Mutex::new(None));
        let verifier = Verifier { target: t.clone(), refusal: refusal.clone(), accepted: self.host_key.clone() };
        let (connecting, via) = self.transport(verifier).await?;
        let mut handle = match timeout(t.connect_timeout, connecting).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(source)) => {
                if let Some(refusal) = refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return Err(refusal);
                }
                return Err(SshError::Connect { host: t.name.clone(), endpoint: t.endpoint(), source: Box::new(source) });
            }
            Err(_) => {
                return Err(SshError::ConnectTimeout { host: t.name.clone(), endpoint: t.endpoint(), timeout: t.connect_timeout })
            }
        };
        let authenticating = auth::authenticate(&mut handle, &t.name, &t.user, &self.identities, self.agent.as_deref());
        match timeout(t.connect_timeout, authenticating).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(SshError::AuthTimeout { host: t.name.clone(), user: t.user.clone(), timeout: t.connect_timeout }),
        }
        tracing::debug!(host = %t.name, endpoint = %t.endpoint(), "connected");
        Ok(Conn {
            handle,
            commands: Arc::new(Semaphore::new(COMMANDS_PER_CONNECTION)),
            kills: Arc::new(Semaphore::new(KILL_CHANNELS_PER_CONNECTION)),
            _via: via,
        })
    }

    /// The key exchange to come, over TCP or through a tunnel from the jump host (whose
    /// connection is returned too: it must live as long as this one).
    async fn transport(&self, verifier: Verifier) -> Result<(Connecting, Option<SshHost>), SshError> {
        let t = &self.target;
        let Some(jump) = &t.jump else {
            let addr = (t.address.clone(), t.port);
            return Ok((Box::pin(client::connect(client_config(t), addr, verifier)), None));
        };
        let jump_host = Box::pin(SshHost::connect((**jump).clone(), 1, self.agent.clone())).await?;
        let conn = jump_host.inner.conns.lock().unwrap_or_else(|p| p.into_inner()).first().cloned();
        let conn = conn.ok_or_else(|| SshError::Disconnected { host: jump.name.clone() })?;
        let channel = conn
            .handle
            .channel_open_direct_tcpip(t.address.clone(), t.port as u32, "127.0.0.1", 0)
            .await
            .map_err(|source| SshError::Connect {
                host: t.name.clone(),
                endpoint: format!("{} via {}", t.endpoint(), jump.name),
                source: Box::new(source),
            })?;
        Ok((Box::pin(client::connect_stream(client_config(t), channel.into_stream(), verifier)), Some(jump_host)))
    }
}
