//! One host's sync, over any `Host`: ask which manifest it holds (one short command), then
//! stream the plan's payload into one script (`script`) that deletes, unpacks, and only then
//! records the new manifest. Hosts holding the same manifest share one payload, built once.

use super::local::{Local, Payload};
use super::manifest::{self, Kind, Manifest, STATE_DIR};
use super::script::{
    apply_script, delta_name, manifest_from_chain, parse_probe, probe_script, remote_path, scan_script, state, sync_probe_script, unsafe_in,
    used_probe_script, Probe, Refusal, StateFile,
};
use super::SyncError;
use crate::ssh::quote::quote;
use crate::ssh::{Collected, Host, HostCommand};
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

impl HostSync {
    fn up_to_date(started: Instant) -> HostSync {
        HostSync { outcome: SyncOutcome::UpToDate, files: 0, bytes: 0, deleted: 0, seconds: started.elapsed().as_secs_f64() }
    }
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
type PayloadCell = Arc<OnceCell<Result<Arc<HostPayload>, Arc<SyncError>>>>;

/// Hosts in the same state share one payload; the key is the digest of that state.
#[derive(Default)]
pub struct Payloads {
    built: Mutex<HashMap<String, PayloadCell>>,
}

impl Payloads {
    /// The payload for a host holding `base` (whose digest is `key`). `next_delta`: the
    /// sequence number a delta would get on that host, or None when it must get the whole
    /// manifest; a delta is sent only when it is small next to the manifest.
    async fn get(&self, local: &Arc<Local>, key: String, base: Manifest, next_delta: Option<usize>) -> Result<Arc<HostPayload>, SyncError> {
        let cell = self.built.lock().unwrap_or_else(|p| p.into_inner()).entry(format!("{key}/{next_delta:?}")).or_default().clone();
        let result = cell
            .get_or_init(|| async {
                let local = local.clone();
                let built = tokio::task::spawn_blocking(move || {
                    let plan = manifest::plan(&base, &local.manifest);
                    let delta = next_delta.map(|n| (n, local.manifest.delta_from(&base))).filter(|(_, d)| d.len() <= local.text.len() / DELTA_SHARE);
                    let (state, contents, compact) = match &delta {
                        Some((n, delta)) => (delta_name(*n, &local.digest), delta.as_str(), false),
                        None => (format!("manifest.{}", local.digest), local.text.as_str(), true),
                    };
                    let payload = local.payload(&plan, &state, contents).map_err(Arc::new)?;
                    // Once per state however many hosts are in it (tests/sync.rs counts these).
                    tracing::debug!(%state, bytes = payload.len, "built the archive");
                    Ok(Arc::new(HostPayload { payload, state, compact }))
                })
                .await;
                built.unwrap_or_else(|e| Err(Arc::new(SyncError::Collect(e))))
            })
            .await;
        result.clone().map_err(SyncError::Payload)
    }
}

/// A payload and the state file it leaves on the host.
pub struct HostPayload {
    /// What it holds; each host's copy is streamed from the files (`send`).
    payload: Payload,
    /// The file name in `STATE_DIR`.
    state: String,
    /// Whether it is a whole manifest, which replaces the host's manifest and deltas.
    compact: bool,
}

/// At most this many deltas on top of a host's manifest; the next sync sends it whole.
pub const MAX_DELTAS: usize = 16;
/// A delta is sent only when it is at most 1/DELTA_SHARE of the manifest, so that a host's
/// deltas never add up to more than MAX_DELTAS/DELTA_SHARE manifests.
const DELTA_SHARE: usize = 8;

/// Whether `dir` is a directory a sync would go into on `host` (for `testbot hosts`): absent,
/// empty or marked, and not the login directory or above it.
pub async fn check_dir(host: &dyn Host, dir: &str) -> Result<(), SyncError> {
    let dir = remote_path(dir);
    refused(&probe(host, &dir).await?, &dir)
}

/// Whether the host holds a copy at all (for `--no-sync`); marks it used by the run.
pub async fn check_synced(host: &dyn Host, dir: &str) -> Result<(), SyncError> {
    let dir = remote_path(dir);
    let ran = run(host, "ask for its manifest", &used_probe_script(&dir), None, PROBE_TIMEOUT).await?;
    failed(&ran, "read its sync state")?;
    let probe = parse_probe(&ran.stdout());
    refused(&probe, &dir)?;
    match (probe.digest, probe.unfinished) {
        (None, _) => Err(SyncError::NeverSynced { dir }),
        (Some(_), Some(_)) => Err(SyncError::Unfinished { dir }),
        (Some(_), None) => Ok(()),
    }
}

/// The probe's refusal as an error.
fn refused(probe: &Probe, dir: &str) -> Result<(), SyncError> {
    let dir = dir.to_string();
    match &probe.refusal {
        None => Ok(()),
        Some(Refusal::Home) => Err(SyncError::HomeDir { dir }),
        Some(Refusal::Foreign) => Err(SyncError::NotOwned { dir }),
        Some(Refusal::NotDir) => Err(SyncError::NotDir { dir }),
        Some(Refusal::Unsafe(path)) => Err(SyncError::Unsafe { dir, path: path.clone() }),
    }
}

async fn probe(host: &dyn Host, dir: &str) -> Result<Probe, SyncError> {
    let ran = run(host, "ask for its manifest", &probe_script(dir), None, PROBE_TIMEOUT).await?;
    failed(&ran, "read its sync state")?;
    Ok(parse_probe(&ran.stdout()))
}

/// The project's manifest while it is being built: every host awaits the same one.
pub type LocalFuture = futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Local>, Arc<SyncError>>>>;

/// What a sync does besides bringing a host's copy up to date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Rehash the host's files first (`testbot sync --verify`).
    pub verify: bool,
    /// A run's tests use the copy next: it is recorded, so that the next sync sends again what
    /// they change.
    pub run_next: bool,
}

/// Brings `host`'s copy at `dir` to `local`, as `options` say. The host is asked for its state
/// while `local` is still being built.
pub async fn sync_host(host: &dyn Host, dir: &str, local: LocalFuture, payloads: &Payloads, options: SyncOptions) -> Result<HostSync, SyncError> {
    let SyncOptions { verify, run_next } = options;
    let started = Instant::now();
    let dir = remote_path(dir);
    let ran = run(host, "ask for its manifest", &sync_probe_script(&dir, run_next), None, PROBE_TIMEOUT).await?;
    failed(&ran, "read its sync state")?;
    let probe = parse_probe(&ran.stdout());
    tracing::debug!(host = host.name(), ?probe, seconds = started.elapsed().as_secs_f64(), "probed");
    refused(&probe, &dir)?;
    let local = &local.await.map_err(SyncError::Local)?;
    // A copy a run used whose record is gone (or could not be compared) is listed and rehashed.
    let rescan = verify || probe.unfinished.is_some() || probe.drifted.is_none();
    // What changed on the host and is to be sent again; anything else there is left alone.
    let drifted: Vec<String> = probe.drifted.iter().flatten().filter(|p| sent_as_file(&local.manifest, p)).cloned().collect();
    if !rescan && probe.digest.as_deref() == Some(local.digest.as_str()) && drifted.is_empty() {
        return Ok(HostSync::up_to_date(started));
    }
    let known = match (&probe.digest, rescan) {
        (Some(_), false) => known_manifest(host, &dir, &probe.chain, local).await?,
        _ => None,
    };
    let mut whole = false;
    let (outcome, key, base) = match known {
        // Files changed on the host since testbot wrote them (a test rewrote or removed one)
        // are taken as absent from its copy, so that they are sent again.
        Some((_, base)) if !drifted.is_empty() => {
            let base = without(base, &drifted);
            tracing::debug!(host = host.name(), drifted = drifted.len(), "files changed on the host since the last sync");
            whole = true;
            (SyncOutcome::Updated, base.digest(), base)
        }
        Some((digest, base)) => (SyncOutcome::Updated, digest, base),
        None => {
            let base = scanned(host, &dir, &probe, local).await?;
            (SyncOutcome::Rescanned, base.digest(), base)
        }
    };
    let exact = base == local.manifest && probe.digest.as_deref() == Some(local.digest.as_str()) && probe.unfinished.is_none();
    if outcome == SyncOutcome::Rescanned && exact && probe.drifted.is_some() {
        return Ok(HostSync::up_to_date(started));
    }
    local.store(&local.digest, &local.text);
    // A host that was listed gets the whole manifest, which replaces whatever state it had.
    let next_delta = Some(probe.chain.len()).filter(|n| outcome == SyncOutcome::Updated && !whole && (1..=MAX_DELTAS).contains(n));
    let sent = payloads.get(local, key, base, next_delta).await?;
    let payload = &sent.payload;
    tracing::debug!(host = host.name(), bytes = payload.len, file_bytes = payload.file_bytes, state = sent.state, seconds = started.elapsed().as_secs_f64(), "payload ready");
    apply(host, &dir, local, &sent, run_next).await?;
    Ok(HostSync {
        outcome,
        files: payload.files,
        bytes: payload.len,
        deleted: payload.deleted,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Streams `sent` into the script that applies it to the copy at `dir` (see `apply_script`).
async fn apply(host: &dyn Host, dir: &str, local: &Arc<Local>, sent: &Arc<HostPayload>, run_next: bool) -> Result<(), SyncError> {
    let state = StateFile { name: &sent.state, compact: sent.compact };
    let script = apply_script(dir, sent.payload.delete_len, &local.digest, state, run_next);
    let ran = send(host, &script, local, sent).await?;
    // The directory (made by this script, or changed since the probe) may fail its checks here.
    if let Some(path) = unsafe_in(&String::from_utf8_lossy(&ran.stderr())).filter(|_| !ran.exit.success()) {
        return Err(SyncError::Unsafe { dir: dir.to_string(), path });
    }
    failed(&ran, &format!("unpack the changes into {dir}"))
}

/// The host's copy as it is, listed and hashed there: the paths testbot put there (or was
/// putting there) only, which are its to fix; anything else on the host (test artefacts, files
/// made by hand) is left alone.
async fn scanned(host: &dyn Host, dir: &str, probe: &Probe, local: &Local) -> Result<Manifest, SyncError> {
    let mut ours: BTreeSet<String> = local.manifest.entries.keys().cloned().collect();
    for digest in [probe.digest.as_deref(), probe.unfinished.as_deref()].into_iter().flatten() {
        if let Some(m) = local.stored(digest) {
            ours.extend(m.entries.into_keys());
        }
    }
    let ran = run(host, "list its copy", &scan_script(dir), None, SCAN_TIMEOUT).await?;
    failed(&ran, "list and hash its copy")?;
    manifest::parse_remote_scan(&ran.stdout(), &|p| ours.contains(p))
}

/// Whether `path` is a file or symlink of `m` (what the host's record of its copy covers).
fn sent_as_file(m: &Manifest, path: &str) -> bool {
    matches!(m.entries.get(path), Some(Kind::File { .. } | Kind::Symlink { .. }))
}

/// `m` without the files and symlinks at `paths`.
fn without(mut m: Manifest, paths: &[String]) -> Manifest {
    for path in paths {
        if sent_as_file(&m, path) {
            m.entries.remove(path);
        }
    }
    m
}

/// The manifest a host reports (`chain`: see `Probe`), from the local store or else fetched
/// (its manifest and deltas, in one command) and checked against its digest.
async fn known_manifest(host: &dyn Host, dir: &str, chain: &[String], local: &Local) -> Result<Option<(String, Manifest)>, SyncError> {
    let Some(digest) = chain.last() else { return Ok(None) };
    if let Some(m) = local.stored(digest) {
        return Ok(Some((digest.to_string(), m)));
    }
    // NUL never occurs in a manifest: it separates the files.
    let names: Vec<String> = std::iter::once(format!("manifest.{}", chain[0]))
        .chain(chain[1..].iter().enumerate().map(|(i, d)| delta_name(i + 1, d)))
        .map(|n| quote(&n))
        .collect();
    let script = format!("cd -- {} || exit 1; for f in {}; do cat -- \"$f\" || exit 1; printf '\\0'; done", state(dir), names.join(" "));
    let ran = run(host, "fetch its manifest", &script, None, SCAN_TIMEOUT).await?;
    if !ran.exit.success() {
        return Ok(None);
    }
    let Ok(text) = String::from_utf8(ran.stdout()) else { return Ok(None) };
    let Some(m) = manifest_from_chain(&text, chain) else { return Ok(None) };
    local.store(digest, &m.to_text());
    Ok(Some((digest.to_string(), m)))
}

/// Bytes of the payload in flight to one host, at most: chunks of `CHUNK`, `CHUNKS` queued.
const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 8;

/// Runs the apply `script` with the payload streamed into it from the files, a chunk at a
/// time, so that what a sync holds in memory does not grow with the files' sizes. A payload
/// that cannot be read to its end (a file changed or vanished) stops the command: the host
/// keeps its mark of an unfinished sync, and the error names the file.
async fn send(host: &dyn Host, script: &str, local: &Arc<Local>, sent: &Arc<HostPayload>) -> Result<Collected, SyncError> {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS);
    let stdin = crate::ssh::Stdin::stream(sent.payload.len, rx);
    let (local, sent) = (local.clone(), sent.clone());
    let mut writer = tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter { tx, buf: Vec::with_capacity(CHUNK) };
        local.write_payload(&sent.payload, &mut out).and_then(|()| out.finish())
    });
    let command = HostCommand::shell(script).with_stdin(stdin);
    let ran = host.run(command, APPLY_TIMEOUT);
    tokio::pin!(ran);
    tokio::select! {
        ran = &mut ran => ran.map_err(|source| SyncError::Run { what: "send the changes", source }),
        written = &mut writer => match written {
            Ok(Ok(())) => ran.await.map_err(|source| SyncError::Run { what: "send the changes", source }),
            // The command was not reading any more (it failed): its own answer says why.
            Ok(Err(SyncError::Read { source, .. })) if source.kind() == std::io::ErrorKind::BrokenPipe => {
                ran.await.map_err(|source| SyncError::Run { what: "send the changes", source })
            }
            // Dropping the command closes its channel; the watchdog there ends it.
            Ok(Err(e)) => Err(e),
            Err(e) => Err(SyncError::Collect(e)),
        },
    }
}

/// Hands what is written to the command's stdin in `CHUNK`s, waiting while `CHUNKS` are queued.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn flush_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    fn finish(mut self) -> Result<(), SyncError> {
        self.flush_buf().map_err(|source| SyncError::Read { path: STATE_DIR.into(), source })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `script` with `sh` where the host starts commands (an SSH host's login directory).
async fn run(host: &dyn Host, what: &'static str, script: &str, stdin: Option<Arc<[u8]>>, limit: Duration) -> Result<Collected, SyncError> {
    let mut command = HostCommand::shell(script);
    if let Some(stdin) = stdin {
        command = command.with_stdin(stdin);
    }
    host.run(command, limit).await.map_err(|source| SyncError::Run { what, source })
}

fn failed(ran: &Collected, what: &str) -> Result<(), SyncError> {
    if ran.exit.success() {
        return Ok(());
    }
    Err(SyncError::Remote { what: what.to_string(), exit: ran.exit, stderr: String::from_utf8_lossy(&ran.stderr()).trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::LocalHost;
    use futures::FutureExt;
    use std::path::Path;

    fn ready(root: &Path) -> LocalFuture {
        let local = Local::build(root, &[], &[], Vec::new(), None).unwrap();
        futures::future::ready(Ok(Arc::new(local))).boxed().shared()
    }

    #[tokio::test]
    async fn a_local_host_is_synced_like_an_ssh_one() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let p = src.path();
        std::fs::create_dir_all(p.join("a")).unwrap();
        std::fs::write(p.join("a/1"), "one").unwrap();
        std::fs::write(p.join("b"), "bee").unwrap();
        std::os::unix::fs::symlink("a/1", p.join("link")).unwrap();
        let copy = dest.path().join("copy");
        let dir = copy.to_str().unwrap();
        let host = LocalHost::new();
        let payloads = Payloads::default();

        let first = sync_host(&host, dir, ready(p), &payloads, SyncOptions::default()).await.unwrap();
        assert_eq!((first.outcome, first.files), (SyncOutcome::Rescanned, 3));
        assert_eq!(std::fs::read_to_string(copy.join("a/1")).unwrap(), "one");
        assert_eq!(std::fs::read_link(copy.join("link")).unwrap(), Path::new("a/1"));
        check_synced(&host, dir).await.unwrap();

        let again = sync_host(&host, dir, ready(p), &payloads, SyncOptions::default()).await.unwrap();
        assert_eq!((again.outcome, again.files, again.bytes), (SyncOutcome::UpToDate, 0, 0));

        // An edit and a deletion go as an update from the manifest the host reports.
        std::fs::write(p.join("a/1"), "edited").unwrap();
        std::fs::remove_file(p.join("b")).unwrap();
        let third = sync_host(&host, dir, ready(p), &payloads, SyncOptions::default()).await.unwrap();
        assert_eq!((third.outcome, third.files, third.deleted), (SyncOutcome::Updated, 1, 1));
        assert_eq!(std::fs::read_to_string(copy.join("a/1")).unwrap(), "edited");
        assert!(!copy.join("b").exists());

        // A change made on the host is found by --verify and undone.
        std::fs::write(copy.join("a/1"), "tampered").unwrap();
        let verified = sync_host(&host, dir, ready(p), &Payloads::default(), SyncOptions { verify: true, run_next: true }).await.unwrap();
        assert_eq!((verified.outcome, verified.files), (SyncOutcome::Rescanned, 1));
        assert_eq!(std::fs::read_to_string(copy.join("a/1")).unwrap(), "edited");

        // So is one made between ordinary syncs (a test rewrote or removed a file there); a
        // file a test made is left alone.
        std::fs::write(copy.join("a/1"), "rewritten by a test").unwrap();
        std::fs::remove_file(copy.join("link")).unwrap();
        std::fs::write(copy.join("a/made"), "by a test").unwrap();
        let drifted = sync_host(&host, dir, ready(p), &Payloads::default(), SyncOptions::default()).await.unwrap();
        assert_eq!((drifted.outcome, drifted.files, drifted.deleted), (SyncOutcome::Updated, 2, 0));
        assert_eq!(std::fs::read_to_string(copy.join("a/1")).unwrap(), "edited");
        assert_eq!(std::fs::read_link(copy.join("link")).unwrap(), Path::new("a/1"));
        assert_eq!(std::fs::read_to_string(copy.join("a/made")).unwrap(), "by a test");
        let again = sync_host(&host, dir, ready(p), &Payloads::default(), SyncOptions::default()).await.unwrap();
        assert_eq!(again.outcome, SyncOutcome::UpToDate);
    }

    #[tokio::test]
    async fn a_local_directory_that_is_not_testbots_is_refused() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "1").unwrap();
        std::fs::write(dest.path().join("theirs"), "x").unwrap();
        let dir = dest.path().to_str().unwrap();
        let err = sync_host(&LocalHost::new(), dir, ready(src.path()), &Payloads::default(), SyncOptions::default()).await.unwrap_err();
        assert!(matches!(err, SyncError::NotOwned { .. }), "{err}");
        assert!(matches!(check_synced(&LocalHost::new(), dir).await.unwrap_err(), SyncError::NotOwned { .. }));
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1);
    }
}
