//! Host keys, checked against known_hosts under the target's `HostKeyChecking` policy: the
//! russh handler that accepts or refuses a key (and says why), recording a new key under
//! accept-new, and the host key algorithms to ask for.

// `SshError` carries what its message needs (fingerprints, paths); it is built at most once per
// connect, so its size does not matter.
#![allow(clippy::result_large_err)]

use super::{HostKeyChecking, SshError, SshTarget};
use russh::client;
use russh::keys::known_hosts::known_host_keys_path;
use russh::keys::{check_known_hosts_path, Algorithm, HashAlg, PublicKey, PublicKeyOrCertificate};
use russh::Preferred;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// russh's client handler: checks the host key and remembers why it refused one.
pub(super) struct Verifier {
    pub(super) target: Arc<SshTarget>,
    pub(super) refusal: Arc<Mutex<Option<SshError>>>,
    /// The SHA256 fingerprint of the key it accepted.
    pub(super) accepted: Arc<Mutex<Option<String>>>,
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
pub(super) fn host_key_preference(t: &SshTarget) -> Vec<Algorithm> {
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

