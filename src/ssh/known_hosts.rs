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
            HostKeyChecking::AcceptNew => self.learn(key, &fingerprint),
        }
    }

    /// Under accept-new: records a key that known_hosts does not know (unless another
    /// connection recorded it meanwhile).
    fn learn(&self, key: &PublicKey, fingerprint: &str) -> Result<(), SshError> {
        let t = &self.target;
        let _guard = LEARN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if check_known_hosts_path(&t.address, t.port, key, &t.known_hosts)
            .map_err(|source| SshError::KnownHosts { path: t.known_hosts.clone(), source })?
        {
            return Ok(());
        }
        record_host_key(&t.known_hosts_name(), key, &t.known_hosts).map_err(|source| {
            SshError::LearnHostKey { host: t.name.clone(), path: t.known_hosts.clone(), source }
        })?;
        tracing::info!(host = %t.name, %fingerprint, known_hosts = %t.known_hosts.display(), "recorded new host key");
        Ok(())
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


#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINd8GeX/N/spXQkY9TizqYU07IfXfGTIN7UKnsKFE4pI";
    const FP_A: &str = "SHA256:0Sgzwv8IpvNbMonUqYciUtq5tJT4Upa4scw6beEDfQI";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL5vIr40NRGivPAmHuUfWOcgx7TM8lvTa2IT3FM0wVaZ";
    const FP_B: &str = "SHA256:axdVZgkP0iopH0tnwQ+obb1lMD9okLouFy+ABGPiOPc";
    const KEY_RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC6c0HGV4akVxsGEXKlkdN++oB/kiDb4S0Dsowpu5OGTS/CHtW6x6tjSlNerGlP7a10W+iOxEDXEIzOtUWFObz94H27O6XhXICl1M+3AWdyR6Pm5Q4S3Xyyp5IEQO8iFQo3dwLe2yvhW42/7Fmd1FB50RDD1ch8MFKT2mAFUJ/ZUw==";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn offered(text: &str) -> PublicKeyOrCertificate {
        PublicKeyOrCertificate::PublicKey { key: key(text), hash_alg: None }
    }

    fn verifier(known_hosts: &Path, policy: HostKeyChecking) -> Verifier {
        let target = SshTarget {
            name: "box".into(),
            address: "127.0.0.1".into(),
            port: 2222,
            user: "u".into(),
            identities: vec![],
            known_hosts: known_hosts.to_path_buf(),
            policy,
            connect_timeout: std::time::Duration::from_secs(1),
            jump: None,
            alive_interval: super::super::target::ALIVE_INTERVAL,
            alive_count_max: super::super::target::ALIVE_COUNT_MAX,
        };
        Verifier { target: Arc::new(target), refusal: Arc::default(), accepted: Arc::default() }
    }

    fn check(v: &mut Verifier, text: &str) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(client::Handler::check_server_key(v, &offered(text))).unwrap()
    }

    #[test]
    fn a_recorded_key_is_accepted_and_its_fingerprint_kept() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        fs::write(&kh, format!("[127.0.0.1]:2222 {KEY_A}\n")).unwrap();
        let mut v = verifier(&kh, HostKeyChecking::Strict);
        assert!(check(&mut v, KEY_A));
        assert_eq!(v.accepted.lock().unwrap().as_deref(), Some(FP_A));
        assert!(v.refusal.lock().unwrap().is_none());
    }

    #[test]
    fn strict_refuses_an_unknown_host_with_its_fingerprint_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        fs::write(&kh, format!("[127.0.0.1]:2223 {KEY_A}\n")).unwrap();
        let mut v = verifier(&kh, HostKeyChecking::Strict);
        assert!(!check(&mut v, KEY_B));
        assert!(v.accepted.lock().unwrap().is_none());
        let refusal = v.refusal.lock().unwrap().take().unwrap();
        match &refusal {
            SshError::HostKeyUnknown { host, address, port, algorithm, fingerprint, .. } => {
                assert_eq!((host.as_str(), address.as_str(), *port), ("box", "127.0.0.1", 2222));
                assert_eq!((algorithm.as_str(), fingerprint.as_str()), ("ssh-ed25519", FP_B));
            }
            other => panic!("{other:?}"),
        }
        assert!(refusal.to_string().contains(&format!("`ssh-keyscan -p 2222 127.0.0.1 >> {}`", kh.display())), "{refusal}");
        assert_eq!(fs::read_to_string(&kh).unwrap(), format!("[127.0.0.1]:2223 {KEY_A}\n"));
    }

    #[test]
    fn a_changed_key_is_refused_even_under_accept_new_naming_the_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let before = format!("# a comment\n# another\n[127.0.0.1]:2223 {KEY_B}\n[127.0.0.1]:2222 {KEY_A}\n");
        fs::write(&kh, &before).unwrap();
        let mut v = verifier(&kh, HostKeyChecking::AcceptNew);
        assert!(!check(&mut v, KEY_B));
        match v.refusal.lock().unwrap().take().unwrap() {
            SshError::HostKeyChanged { known_name, fingerprint, line, .. } => {
                assert_eq!((known_name.as_str(), fingerprint.as_str(), line), ("[127.0.0.1]:2222", FP_B, 4));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&kh).unwrap(), before, "a refused key is never recorded");
    }

    #[test]
    fn a_host_known_under_another_key_type_is_refused_under_accept_new() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let before = format!("#c\n[127.0.0.1]:2222 {KEY_RSA}\n");
        fs::write(&kh, &before).unwrap();
        let mut v = verifier(&kh, HostKeyChecking::AcceptNew);
        assert!(!check(&mut v, KEY_A));
        match v.refusal.lock().unwrap().take().unwrap() {
            SshError::HostKeyOtherType { known, algorithm, line, .. } => {
                assert_eq!((known.as_str(), algorithm.as_str(), line), ("ssh-rsa", "ssh-ed25519", 2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&kh).unwrap(), before);
    }

    #[test]
    fn accept_new_records_one_line_then_knows_the_key() {
        let dir = tempfile::tempdir().unwrap();
        // A missing file in a missing directory, then a file without its final newline.
        let kh = dir.path().join("ssh/known_hosts");
        let mut v = verifier(&kh, HostKeyChecking::AcceptNew);
        assert!(check(&mut v, KEY_A));
        assert_eq!(fs::read_to_string(&kh).unwrap(), format!("[127.0.0.1]:2222 {KEY_A}\n"));
        assert!(check(&mut v, KEY_A), "known now");
        assert_eq!(fs::read_to_string(&kh).unwrap().lines().count(), 1, "recorded once");
        let mut strict = verifier(&kh, HostKeyChecking::Strict);
        assert!(check(&mut strict, KEY_A));

        fs::write(&kh, format!("[127.0.0.1]:2223 {KEY_B}")).unwrap();
        assert!(check(&mut v, KEY_A));
        assert_eq!(fs::read_to_string(&kh).unwrap(), format!("[127.0.0.1]:2223 {KEY_B}\n[127.0.0.1]:2222 {KEY_A}\n"));
    }

    #[test]
    fn file_line_skips_comments_and_falls_back_to_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        fs::write(&kh, "#x\na\n#y\n#z\nb\nc\n").unwrap();
        assert_eq!([1, 2, 3].map(|e| file_line(&kh, e)), [2, 5, 6]);
        assert_eq!(file_line(&kh, 9), 9);
        assert_eq!(file_line(&dir.path().join("missing"), 3), 3);
    }

    #[test]
    fn recorded_key_types_are_asked_for_first_rsa_with_sha2() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        fs::write(&kh, format!("[127.0.0.1]:2222 {KEY_RSA}\n[127.0.0.1]:2222 {KEY_RSA}\n[127.0.0.1]:2223 {KEY_A}\n")).unwrap();
        let prefs = host_key_preference(&verifier(&kh, HostKeyChecking::Strict).target);
        assert_eq!(prefs[..2], [Algorithm::Rsa { hash: Some(HashAlg::Sha512) }, Algorithm::Rsa { hash: Some(HashAlg::Sha256) }]);
        for (i, a) in prefs.iter().enumerate() {
            assert!(!prefs[..i].contains(a), "{a:?} twice in {prefs:?}");
        }
        for a in Preferred::DEFAULT.key.iter() {
            assert!(prefs.contains(a), "{a:?} missing from {prefs:?}");
        }
        // Nothing recorded: russh's own order.
        let none = host_key_preference(&verifier(&dir.path().join("missing"), HostKeyChecking::Strict).target);
        assert_eq!(none, Preferred::DEFAULT.key.to_vec());
    }
}
