//! The host's side, driven from here with `sh`, `tar` and coreutils only: ask which manifest the
//! host holds (one short command), then stream the plan's payload into one script that deletes,
//! unpacks, and only then records the new manifest. Hosts holding the same manifest share
//! one payload, built once.

// `SshError` is large; these errors are built once per host and command.
#![allow(clippy::result_large_err)]

use super::local::{Local, Payload};
use super::manifest::{self, Manifest, STATE_DIR};
use super::SyncError;
use crate::ssh::quote::quote;
use crate::ssh::{ExitInfo, SshHost};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long the payload may take to arrive and unpack on one host.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a host may take to list and hash its copy (`--verify`, or after an interrupted sync).
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the question "which manifest do you hold?" may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// What one host's sync did.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSync {
    pub outcome: SyncOutcome,
    /// Files and symlinks sent, and the bytes that went down the pipe.
    pub files: usize,
    pub bytes: u64,
    pub deleted: usize,
    pub seconds: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Its manifest already matched: nothing sent.
    UpToDate,
    /// Brought up to date from the manifest it reported.
    Updated,
    /// Its copy was listed and rehashed first (`--verify`, never synced, or an earlier sync
    /// that did not finish), then brought up to date.
    Rescanned,
}

/// One payload, built once, for every host in the same state.
type PayloadCell = Arc<OnceCell<Result<Arc<Payload>, String>>>;

/// Hosts in the same state share one payload; the key is the digest of that state.
#[derive(Default)]
pub struct Payloads {
    built: Mutex<HashMap<String, PayloadCell>>,
}

impl Payloads {
    async fn get(&self, local: &Arc<Local>, key: String, base: Manifest) -> Result<Arc<Payload>, SyncError> {
        let cell = self.built.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone();
        let result = cell
            .get_or_init(|| async {
                let local = local.clone();
                let built = tokio::task::spawn_blocking(move || {
                    let plan = manifest::plan(&base, &local.manifest);
                    local.payload(&plan).map(Arc::new).map_err(|e| crate::errors::chain(&e))
                })
                .await;
                built.unwrap_or_else(|e| Err(format!("building the archive failed: {e}")))
            })
            .await;
        result.clone().map_err(SyncError::Payload)
    }
}

/// What a host says about its copy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// The digest of the manifest it holds, if it holds one.
    pub digest: Option<String>,
    /// A sync began and did not finish; the digest it was installing, when known.
    pub unfinished: Option<String>,
}

fn state(dir: &str) -> String {
    quote(&format!("{dir}/{STATE_DIR}"))
}

/// `~/x` means under the remote home, which is where commands start anyway.
pub fn remote_path(dir: &str) -> String {
    dir.strip_prefix("~/").unwrap_or(dir).to_string()
}

/// Shell builtins only (no process started on the host): the state is in file names.
pub fn probe_script(dir: &str) -> String {
    let s = state(dir);
    format!(
        "cd -- {s} 2>/dev/null || exit 0; \
         for f in manifest.*; do if [ -f \"$f\" ]; then echo \"digest:${{f#manifest.}}\"; fi; done; \
         if [ -e dirty ]; then d=; read -r d < dirty; echo \"dirty:$d\"; fi"
    )
}

pub fn parse_probe(out: &[u8]) -> Probe {
    let text = String::from_utf8_lossy(out);
    let mut probe = Probe::default();
    let hex = |v: &str| Some(v.trim().to_string()).filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut digests = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("digest:") {
            digests.push(hex(v));
        } else if let Some(v) = line.strip_prefix("dirty:") {
            probe.unfinished = Some(hex(v).unwrap_or_default());
        }
    }
    // Anything but one well-formed manifest reads as none: the host gets rescanned.
    if let [Some(digest)] = digests.as_slice() {
        probe.digest = Some(digest.clone());
    }
    probe
}

/// Lists the copy without following links, then hashes its files; testbot's state is left out.
pub fn scan_script(dir: &str) -> String {
    let dir = quote(dir);
    format!(
        "cd -- {dir} 2>/dev/null || {{ printf 'testbot-hashes\\0'; exit 0; }}; \
         find . -mindepth 1 -path ./{STATE_DIR} -prune -o -printf '%y\\0%m\\0%s\\0%P\\0%l\\0'; \
         printf 'testbot-hashes\\0'; \
         find . -mindepth 1 -path ./{STATE_DIR} -prune -o -type f -print0 | xargs -0 -r sha256sum -z -- 2>/dev/null; \
         exit 0"
    )
}

/// Marks the copy unfinished, deletes (refusing any path below a symlink), unpacks (the new
/// manifest, `manifest.<digest>`, comes last in the tar), and only after tar succeeded drops the
/// mark and the old manifest. Any failure leaves the mark, so the next sync lists the copy
/// instead of trusting a manifest. Besides `tar` and one `rm`, only shell builtins run.
pub fn apply_script(dir: &str, delete_len: usize, digest: &str) -> String {
    let d = quote(dir);
    let deletions = if delete_len == 0 {
        String::new()
    } else {
        // `dd iflag=fullblock` passes exactly this many bytes of the pipe on (leaving the tar to
        // tar) and nothing goes to disk, which may be full. Each item is `LEN:./PATH`: an item
        // cut short by a lost connection fails its length check, and nothing of its batch is
        // deleted.
        format!(
            "dd bs={delete_len} count=1 iflag=fullblock status=none | LC_ALL=C xargs -0 -r sh -c 'n=$#; \
             for a; do p=${{a#*:}}; if [ \"${{a%%:*}}\" != \"${{#p}}\" ]; then echo \"the deletion list arrived damaged\" >&2; exit 1; fi; \
             d=${{p%/*}}; while [ \"$d\" != . ]; do \
             if [ -L \"$d\" ]; then echo \"refusing to delete $p: $d is a symlink\" >&2; exit 1; fi; d=${{d%/*}}; done; \
             set -- \"$@\" \"$p\"; done; shift $n; exec rm -rf -- \"$@\"' sh || exit 1; "
        )
    };
    format!(
        "umask 022; s={STATE_DIR}; if [ ! -d {d}/$s ]; then mkdir -p -- {d}/$s || exit 1; fi; cd -- {d} || exit 1; \
         printf '%s\\n' {digest} > $s/dirty || exit 1; \
         {deletions}\
         tar -x -p --no-same-owner -f - || {{ rm -f $s/manifest.{digest}; exit 1; }}; \
         set -- $s/dirty; for f in $s/manifest.*; do if [ \"$f\" != $s/manifest.{digest} ]; then set -- \"$@\" \"$f\"; fi; done; \
         rm -f -- \"$@\""
    )
}

/// Whether the host holds a copy at all (for `--no-sync`).
pub async fn check_synced(host: &SshHost, dir: &str) -> Result<(), SyncError> {
    let dir = remote_path(dir);
    let probe = probe(host, &dir).await?;
    match (probe.digest, probe.unfinished) {
        (None, _) => Err(SyncError::NeverSynced { dir }),
        (Some(_), Some(_)) => Err(SyncError::Unfinished { dir }),
        (Some(_), None) => Ok(()),
    }
}

async fn probe(host: &SshHost, dir: &str) -> Result<Probe, SyncError> {
    let (exit, out, err) = run(host, "ask for its manifest", &probe_script(dir), &[], PROBE_TIMEOUT).await?;
    failed(exit, &err, "read its sync state")?;
    Ok(parse_probe(&out))
}

/// The project's manifest while it is being built: every host awaits the same one.
pub type LocalFuture = futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Local>, String>>>;

/// Brings `host`'s copy at `dir` to `local`. `verify` rehashes the host's files first. The host
/// is asked for its state while `local` is still being built.
pub async fn sync_host(host: &SshHost, dir: &str, local: LocalFuture, payloads: &Payloads, verify: bool) -> Result<HostSync, SyncError> {
    let started = Instant::now();
    let dir = remote_path(dir);
    let probe = probe(host, &dir).await?;
    tracing::debug!(host = host.target().name, ?probe, seconds = started.elapsed().as_secs_f64(), "probed");
    let local = &local.await.map_err(SyncError::Local)?;
    if !verify && probe.unfinished.is_none() && probe.digest.as_deref() == Some(local.digest.as_str()) {
        return Ok(HostSync { outcome: SyncOutcome::UpToDate, files: 0, bytes: 0, deleted: 0, seconds: started.elapsed().as_secs_f64() });
    }
    let known = match (&probe.digest, verify || probe.unfinished.is_some()) {
        (Some(digest), false) => known_manifest(host, &dir, digest, local).await?,
        _ => None,
    };
    let (outcome, key, base) = match known {
        Some((digest, base)) => (SyncOutcome::Updated, digest, base),
        None => {
            // Paths testbot put there (or was putting there) are its to fix; anything else on
            // the host (test artefacts, files made by hand) is left alone.
            let mut ours: BTreeSet<String> = local.manifest.entries.keys().cloned().collect();
            for digest in [probe.digest.as_deref(), probe.unfinished.as_deref()].into_iter().flatten() {
                if let Some(m) = local.stored(digest) {
                    ours.extend(m.entries.into_keys());
                }
            }
            let (exit, out, err) = run(host, "list its copy", &scan_script(&dir), &[], SCAN_TIMEOUT).await?;
            failed(exit, &err, "list and hash its copy")?;
            let base = manifest::parse_remote_scan(&out, &|p| ours.contains(p))?;
            (SyncOutcome::Rescanned, base.digest(), base)
        }
    };
    if outcome == SyncOutcome::Rescanned && base == local.manifest && probe.digest.as_deref() == Some(local.digest.as_str()) && probe.unfinished.is_none() {
        return Ok(HostSync { outcome: SyncOutcome::UpToDate, files: 0, bytes: 0, deleted: 0, seconds: started.elapsed().as_secs_f64() });
    }
    local.store(&local.digest, &local.text);
    let payload = payloads.get(local, key, base).await?;
    tracing::debug!(host = host.target().name, bytes = payload.bytes.len(), seconds = started.elapsed().as_secs_f64(), "payload ready");
    let script = apply_script(&dir, payload.delete_len, &local.digest);
    let (exit, _out, err) = run(host, "send the changes", &script, &payload.bytes, APPLY_TIMEOUT).await?;
    failed(exit, &err, &format!("unpack the changes into {dir}"))?;
    Ok(HostSync {
        outcome,
        files: payload.files,
        bytes: payload.bytes.len() as u64,
        deleted: payload.deleted,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The manifest a host reports, from the local store or else fetched (and checked against its digest).
async fn known_manifest(host: &SshHost, dir: &str, digest: &str, local: &Local) -> Result<Option<(String, Manifest)>, SyncError> {
    if let Some(m) = local.stored(digest) {
        return Ok(Some((digest.to_string(), m)));
    }
    let script = format!("cat -- {}/manifest.{digest}", state(dir));
    let (exit, out, _) = run(host, "fetch its manifest", &script, &[], SCAN_TIMEOUT).await?;
    if !exit.success() || manifest::digest_of(&out) != digest {
        return Ok(None);
    }
    let Ok(text) = String::from_utf8(out) else { return Ok(None) };
    let Ok(m) = Manifest::parse(&text) else { return Ok(None) };
    local.store(digest, &text);
    Ok(Some((digest.to_string(), m)))
}

async fn run(host: &SshHost, what: &'static str, script: &str, stdin: &[u8], limit: Duration) -> Result<(ExitInfo, Vec<u8>, Vec<u8>), SyncError> {
    host.run_with_stdin(script, stdin, limit).await.map_err(|source| SyncError::Ssh { what, source: Box::new(source) })
}

fn failed(exit: ExitInfo, err: &[u8], what: &str) -> Result<(), SyncError> {
    if exit.success() {
        return Ok(());
    }
    Err(SyncError::Remote { what: what.to_string(), exit, stderr: String::from_utf8_lossy(err).trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::process::{Command, Stdio};

    #[test]
    fn probe_output_is_read() {
        let d = "a".repeat(64);
        assert_eq!(parse_probe(b""), Probe::default());
        assert_eq!(parse_probe(format!("digest:{d}\n").as_bytes()), Probe { digest: Some(d.clone()), unfinished: None });
        assert_eq!(
            parse_probe(format!("digest:junk\ndirty:{d}\n").as_bytes()),
            Probe { digest: None, unfinished: Some(d.clone()) }
        );
        assert_eq!(parse_probe(b"dirty:\n").unfinished, Some(String::new()));
    }

    /// Runs a script the way sshd would (`sh -c`), in `home`, with `stdin`.
    fn sh(home: &Path, script: &str, stdin: &[u8]) -> (bool, String, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let bytes = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Plans from `base`, applies on a local "host" dir, and checks the host's state after.
    fn apply(local: &Local, base: &Manifest, home: &Path, dir: &str) -> (bool, String) {
        let plan = manifest::plan(base, &local.manifest);
        let payload = local.payload(&plan).unwrap();
        let (ok, _, err) = sh(home, &apply_script(dir, payload.delete_len, &local.digest), &payload.bytes);
        (ok, err)
    }

    fn scan(home: &Path, dir: &str) -> Manifest {
        let out = Command::new("sh").arg("-c").arg(scan_script(dir)).current_dir(home).output().unwrap();
        manifest::parse_remote_scan(&out.stdout, &|p| !p.starts_with(".testbot")).unwrap()
    }

    #[test]
    fn scripts_sync_a_local_dir_exactly_and_never_write_through_a_symlink() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let dir = "copy dir";
        let p = src.path();
        let names = ["a/b", "-rf", "odd\nname 'q' \"$(touch pwned)\"", "é ü"];
        for n in names {
            std::fs::create_dir_all(p.join(n).parent().unwrap()).unwrap();
            std::fs::write(p.join(n), n).unwrap();
        }
        let build = || Local::build(p, &[], &[], Vec::new(), None).unwrap();
        let first = build();
        let (ok, err) = apply(&first, &Manifest::default(), home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(scan(home.path(), dir), first.manifest);
        let probe = parse_probe(sh(home.path(), &probe_script(dir), b"").1.as_bytes());
        assert_eq!(probe, Probe { digest: Some(first.digest.clone()), unfinished: None });
        assert!(!home.path().join("pwned").exists() && !home.path().join(dir).join("pwned").exists());

        // `a` becomes a link out of the tree; nothing is written through it.
        std::fs::remove_dir_all(p.join("a")).unwrap();
        symlink(outside.path(), p.join("a")).unwrap();
        std::fs::remove_file(p.join("-rf")).unwrap();
        let second = build();
        let (ok, err) = apply(&second, &first.manifest, home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(scan(home.path(), dir), second.manifest);
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

        // And back to a directory, from a host whose manifest is stale (it still thinks `a`
        // is a directory): tar meets `a/` first and replaces the link instead of following it.
        std::fs::remove_file(p.join("a")).unwrap();
        std::fs::create_dir(p.join("a")).unwrap();
        std::fs::write(p.join("a/b"), "new").unwrap();
        let third = build();
        let (ok, err) = apply(&third, &Manifest::default(), home.path(), dir);
        assert!(ok, "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(std::fs::read_to_string(home.path().join(dir).join("a/b")).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(home.path().join(dir).join("a")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn deletion_below_a_symlink_is_refused_and_leaves_the_mark() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("a")).unwrap();
        std::fs::write(src.path().join("a/b"), "b").unwrap();
        let first = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        // By hand on the host: `a` now points outside, where a `b` lives.
        std::fs::write(outside.path().join("b"), "keep").unwrap();
        std::fs::remove_dir_all(home.path().join("d/a")).unwrap();
        symlink(outside.path(), home.path().join("d/a")).unwrap();
        std::fs::remove_file(src.path().join("a/b")).unwrap();
        let second = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        let (ok, err) = apply(&second, &first.manifest, home.path(), "d");
        assert!(!ok);
        assert!(err.contains("refusing to delete ./a/b"), "{err}");
        assert_eq!(std::fs::read_to_string(outside.path().join("b")).unwrap(), "keep");
        let probe = parse_probe(sh(home.path(), &probe_script("d"), b"").1.as_bytes());
        assert_eq!(probe, Probe { digest: Some(first.digest.clone()), unfinished: Some(second.digest.clone()) });
    }

    #[test]
    fn a_deletion_list_cut_short_deletes_nothing() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("d/gone dir")).unwrap();
        std::fs::write(home.path().join("d/gone dir/x"), "x").unwrap();
        std::fs::write(home.path().join("d/gone"), "x").unwrap();
        // `./gone dir` arrives as `./gone`: a real path, but not the one sent.
        let (ok, _, err) = sh(home.path(), &apply_script("d", 16, &"0".repeat(64)), b"12:./gone");
        assert!(!ok);
        assert!(err.contains("the deletion list arrived damaged"), "{err}");
        assert!(home.path().join("d/gone").exists() && home.path().join("d/gone dir/x").exists());
    }

    #[test]
    fn a_failed_unpack_keeps_the_old_manifest() {
        let src = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "1").unwrap();
        let first = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        assert!(apply(&first, &Manifest::default(), home.path(), "d").0);
        std::fs::write(src.path().join("f"), "2").unwrap();
        let second = Local::build(src.path(), &[], &[], Vec::new(), None).unwrap();
        let plan = manifest::plan(&first.manifest, &second.manifest);
        let mut payload = second.payload(&plan).unwrap();
        payload.bytes.truncate(payload.bytes.len() / 2);
        let (ok, _, _) = sh(home.path(), &apply_script("d", payload.delete_len, &second.digest), &payload.bytes);
        assert!(!ok);
        let probe = parse_probe(sh(home.path(), &probe_script("d"), b"").1.as_bytes());
        assert_eq!(probe.digest, Some(first.digest.clone()));
        assert_eq!(probe.unfinished, Some(second.digest.clone()));
    }
}
