//! Authentication: the target's key files first, then the keys of an ssh-agent (its copies of
//! our passphrase-protected files before its others), as OpenSSH with `IdentityFile` does.

// `SshError` carries what its message needs; it is built at most once per connect.
#![allow(clippy::result_large_err)]

use super::known_hosts::Verifier;
use super::SshError;
use russh::client::{AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A private key file, as far as it could be read without a passphrase.
pub(super) enum Identity {
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
    pub(super) fn load(path: &Path) -> Result<Identity, SshError> {
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

/// One authentication: who logs in, what was tried (for the error), the RSA hash the server
/// takes, and the passphrase-protected files left to the agent.
struct Attempt<'a> {
    handle: &'a mut Handle<Verifier>,
    user: &'a str,
    tried: Vec<String>,
    rsa_hash: Option<Option<HashAlg>>,
    wanted_from_agent: Vec<(PathBuf, Option<PublicKey>)>,
}

/// Logs in as `user` with `identities`, then (with a socket) the agent's keys.
pub(super) async fn authenticate(
    handle: &mut Handle<Verifier>,
    host: &str,
    user: &str,
    identities: &[Identity],
    agent: Option<&Path>,
) -> Result<(), SshError> {
    let mut attempt = Attempt { handle, user, tried: Vec::new(), rsa_hash: None, wanted_from_agent: Vec::new() };
    if attempt.with_files(identities).await {
        return Ok(());
    }
    let Some(sock) = agent else {
        for (path, _) in std::mem::take(&mut attempt.wanted_from_agent) {
            attempt.tried.push(format!("key {}: skipped, it has a passphrase and no ssh-agent is running", path.display()));
        }
        return Err(SshError::Auth { host: host.to_string(), user: user.to_string(), tried: attempt.tried });
    };
    if attempt.with_agent(sock).await {
        return Ok(());
    }
    Err(SshError::Auth { host: host.to_string(), user: user.to_string(), tried: attempt.tried })
}

impl Attempt<'_> {
    /// Tries every readable key file; true once one is accepted.
    async fn with_files(&mut self, identities: &[Identity]) -> bool {
        for identity in identities {
            match identity {
                Identity::Key { path, key } => {
                    let hash = self.hash_for(key.algorithm()).await;
                    let label = format!("key {} ({})", path.display(), key_label(key.algorithm(), hash));
                    match self.handle.authenticate_publickey(self.user, PrivateKeyWithHashAlg::new(key.clone(), hash)).await {
                        Ok(AuthResult::Success) => return true,
                        Ok(AuthResult::Failure { .. }) => self.tried.push(format!("{label}: refused")),
                        Err(e) => self.tried.push(format!("{label}: {e}")),
                    }
                }
                Identity::Encrypted { path, public } => self.wanted_from_agent.push((path.clone(), public.clone())),
                Identity::Missing { path } => self.tried.push(format!("key {}: no such file", path.display())),
            }
        }
        false
    }

    /// Tries the agent's keys, ours first; true once one is accepted.
    async fn with_agent(&mut self, sock: &Path) -> bool {
        let connected = match AgentClient::connect_uds(sock).await {
            Ok(mut agent) => agent.request_identities().await.map(|ids| (agent, ids)),
            Err(e) => Err(e),
        };
        let (mut agent, ids) = match connected {
            Ok(found) => found,
            Err(e) => {
                self.tried.push(format!("ssh-agent at {}: {e}", sock.display()));
                return false;
            }
        };
        let mut keys: Vec<PublicKey> = ids
            .into_iter()
            .filter_map(|id| match id {
                AgentIdentity::PublicKey { key, .. } => Some(key),
                AgentIdentity::Certificate { .. } => None,
            })
            .collect();
        let wanted = &self.wanted_from_agent;
        // The agent's copies of our passphrase-protected files go first.
        let ours = |k: &PublicKey| wanted.iter().any(|(_, p)| p.as_ref().is_some_and(|p| p.key_data() == k.key_data()));
        keys.sort_by_key(|k| !ours(k));
        for (path, public) in wanted {
            let held = public.as_ref().is_some_and(|p| keys.iter().any(|k| k.key_data() == p.key_data()));
            if !held {
                self.tried.push(format!("key {}: skipped, it has a passphrase and the ssh-agent does not hold it", path.display()));
            }
        }
        if keys.is_empty() {
            self.tried.push("ssh-agent: holds no keys".to_string());
        }
        for key in keys {
            let hash = self.hash_for(key.algorithm()).await;
            let label = format!("ssh-agent key {} ({})", key.fingerprint(HashAlg::Sha256), key_label(key.algorithm(), hash));
            match self.handle.authenticate_publickey_with(self.user, key, hash, &mut agent).await {
                Ok(AuthResult::Success) => return true,
                Ok(AuthResult::Failure { .. }) => self.tried.push(format!("{label}: refused")),
                Err(e) => self.tried.push(format!("{label}: {e}")),
            }
        }
        false
    }

    /// RSA signs with SHA-2 when the server lists it (OpenSSH ≥ 8.8 refuses SHA-1 `ssh-rsa`). A
    /// server that does not say what it accepts gets SHA-256: only pre-2016 servers lack it.
    async fn hash_for(&mut self, alg: Algorithm) -> Option<HashAlg> {
        if !alg.is_rsa() {
            return None;
        }
        if let Some(hash) = self.rsa_hash {
            return hash;
        }
        let hash = match self.handle.best_supported_rsa_hash().await {
            Ok(Some(hash)) => hash,
            Ok(None) | Err(_) => Some(HashAlg::Sha256),
        };
        self.rsa_hash = Some(hash);
        hash
    }
}

fn key_label(alg: Algorithm, hash: Option<HashAlg>) -> String {
    if matches!(alg, Algorithm::Rsa { .. }) {
        Algorithm::Rsa { hash }.as_str().to_string()
    } else {
        alg.as_str().to_string()
    }
}
