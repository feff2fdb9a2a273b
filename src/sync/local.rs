//! This machine's side: the manifest of the project as it is now (hashing only files whose
//! metadata changed since the last run, thanks to a cache outside the tree), and the payload
//! that carries a plan to a host: the deletion list, then one tar stream.

use super::cache::{self, Cached, Stamp, TreeCache, RACY};
use super::manifest::{self, Kind, Manifest, Plan, SENT_MODE, STATE_DIR};
use super::{SyncError, Tree};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Manifests kept in the local store; a host whose manifest was pruned costs one fetch.
const STORE_KEEP: usize = 32;

/// The project as this machine has it, ready to be diffed and packed.
#[derive(Debug)]
pub struct Local {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub text: String,
    pub digest: String,
    /// Files not on disk (the framework's support files), by path.
    extra: BTreeMap<String, Vec<u8>>,
    pub stats: BuildStats,
    /// Where manifests sent to hosts are kept, by digest (None: nowhere writable).
    store: Option<PathBuf>,
    /// Manifests already read from the store: hosts in the same state ask for the same one.
    read: Mutex<HashMap<String, Option<Manifest>>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Files read and hashed (the rest came from the cache).
    pub hashed_files: usize,
    pub hashed_bytes: u64,
    /// Whether the tree was walked (else the cached listing was stat'ed again).
    pub walked: bool,
}

/// This machine's cache for `root`: `$XDG_CACHE_HOME` (else `~/.cache`)
/// `/testbot/controller/<project>-<hash>`, named like the remote dir, and never inside the tree.
pub fn cache_dir(root: &Path, user: Option<&str>) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| crate::ssh::config::home_dir().map(|h| h.join(".cache")))?;
    let name = super::default_remote_dir(root, user);
    let name = name.rsplit('/').next().unwrap_or("project");
    Some(base.join("testbot").join("controller").join(name))
}

impl Local {
    /// Walks `root` (ignore rules, `[sync] exclude`/`include`), adds `extra` files, and hashes
    /// what the cache in `cache` does not already know. Every directory is listed, so that
    /// empty ones arrive and vanished ones go.
    pub fn build(
        root: &Path,
        exclude: &[String],
        include: &[String],
        extra: Vec<(String, Vec<u8>)>,
        cache: Option<&Path>,
    ) -> Result<Local, SyncError> {
        Local::build_stoppable(Tree { root, exclude, include }, extra, cache, &AtomicBool::new(false))
    }

    /// `build` of `tree`, which gives up with `SyncError::Interrupted` soon after `stop` is set
    /// (a signal came): the walk stops at its next entry, the hashing at its next buffer.
    pub fn build_stoppable(tree: Tree, extra: Vec<(String, Vec<u8>)>, cache: Option<&Path>, stop: &AtomicBool) -> Result<Local, SyncError> {
        let Tree { root, exclude, include } = tree;
        let started = SystemTime::now();
        let key = cache::key(root, exclude, include);
        let old = cache.and_then(|dir| cache::load(&dir.join(cache::FILE))).filter(|c| c.key == key).unwrap_or_default();
        // Nothing moved since the last walk: the known entries, stat'ed again, are the walk.
        let (found, walked) = match cache::revalidate(root, &old) {
            Some(found) => (found, false),
            None => {
                let mut found = super::walk(root, exclude, include, stop)?;
                found.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
                (found, true)
            }
        };
        let mut stats = BuildStats { walked, ..BuildStats::default() };
        let Listed { mut entries, mut cached, todo } = list(&found, &old, extra.len())?;
        if stop.load(Ordering::Relaxed) {
            return Err(SyncError::Interrupted);
        }
        let hashed = hash_files(&todo.iter().map(|(i, full)| (full.clone(), cached[*i].stamp)).collect::<Vec<_>>(), stop)?;
        for ((i, _), (hash, size, cacheable)) in todo.iter().zip(hashed) {
            stats.hashed_files += 1;
            stats.hashed_bytes += size;
            let Kind::File { mode, .. } = entries[*i].1 else { unreachable!("only files are hashed") };
            entries[*i].1 = Kind::File { mode, size, hash };
            cached[*i].kind = entries[*i].1.clone();
            // A file that changed while it was read is hashed again next time.
            cached[*i].hash_trusted = cacheable && size == cached[*i].stamp.size;
        }
        let mut new = TreeCache { key, listing: false, checks: Vec::new(), entries: cached };
        new.settle_listing(root, walked.then_some(&found[..]), started, &old);
        cache::save_changed(cache, &new, &old);
        tracing::debug!(walked, entries = entries.len(), seconds = started.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0), "listed the tree");
        let mut extras = BTreeMap::new();
        for (path, bytes) in extra {
            let hash: [u8; 32] = Sha256::digest(&bytes).into();
            entries.push((path.clone(), Kind::File { mode: 0o644, size: bytes.len() as u64, hash }));
            extras.insert(path, bytes);
        }
        let manifest = Manifest { entries: entries.into_iter().collect() };
        let text = manifest.to_text();
        let digest = manifest::digest_of(text.as_bytes());
        let store = cache.map(|d| d.join("manifests"));
        Ok(Local { root: root.to_path_buf(), manifest, text, digest, extra: extras, stats, store, read: Mutex::default() })
    }

    /// A manifest this machine sent to a host earlier, by its digest.
    pub fn stored(&self, digest: &str) -> Option<Manifest> {
        if digest == self.digest {
            return Some(self.manifest.clone());
        }
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.entry(digest.to_string())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(self.store.as_ref()?.join(digest)).ok()?;
                // A damaged copy is as good as none.
                (manifest::digest_of(text.as_bytes()) == digest).then(|| Manifest::parse(&text).ok()).flatten()
            })
            .clone()
    }

    /// Keeps a manifest (this one, or one fetched from a host) for later runs.
    pub fn store(&self, digest: &str, text: &str) {
        let Some(dir) = &self.store else { return };
        self.read.lock().unwrap_or_else(|p| p.into_inner()).remove(digest);
        let path = dir.join(digest);
        if path.exists() {
            return;
        }
        let result = std::fs::create_dir_all(dir).and_then(|_| {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            io::Write::write_all(&mut tmp, text.as_bytes())?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::debug!(path = %path.display(), error = %e, "could not store the manifest");
            return;
        }
        prune_store(dir);
    }

    /// What goes to a host holding `base`: the NUL-separated deletion list (its length goes
    /// on the command line), then a tar of `plan.send` and, last, the host's new state file
    /// `state` (in `STATE_DIR`: the manifest, or a delta from the one it holds) with `contents`.
    /// Nothing is read here: `write_payload` streams it, and its length is known in advance.
    pub fn payload(&self, plan: &Plan, state: &str, contents: &str) -> Result<Payload, SyncError> {
        let mut deletions = Vec::new();
        for path in &plan.delete {
            // `LEN:./PATH`, so that the host can tell an item cut short (see `apply_script`).
            deletions.extend_from_slice(format!("{}:./{path}", path.len() + 2).as_bytes());
            deletions.push(0);
        }
        let mut payload = Payload {
            delete_len: deletions.len(),
            deletions,
            send: plan.send.clone(),
            state: state.to_string(),
            contents: contents.to_string(),
            len: 0,
            files: 0,
            file_bytes: 0,
            deleted: plan.delete.len(),
        };
        // The tar's length: its headers (and long-name entries) as they will be written, with
        // each file's contents, padded to whole blocks, counted rather than read.
        let mut counter = Counter(0);
        let contents_len = self.tar(&payload, &mut counter, true)?;
        payload.len = payload.delete_len as u64 + counter.0 + contents_len;
        for path in &plan.send {
            match &self.manifest.entries[path] {
                Kind::File { size, .. } => {
                    payload.files += 1;
                    payload.file_bytes += size;
                }
                Kind::Symlink { .. } => payload.files += 1,
                Kind::Dir { .. } => {}
            }
        }
        Ok(payload)
    }

    /// Writes `payload` to `out`, exactly `payload.len` bytes, reading each file as it goes (a
    /// buffer's worth at a time). A file that no longer has the size the manifest gives it is
    /// `SyncError::Changed`, and the output stops there.
    pub fn write_payload(&self, payload: &Payload, out: &mut impl io::Write) -> Result<(), SyncError> {
        let failed = |source| SyncError::Read { path: PathBuf::from(STATE_DIR), source };
        out.write_all(&payload.deletions).map_err(failed)?;
        let mut counter = Counter(0);
        self.tar(payload, &mut Tee(out, &mut counter), false)?;
        if payload.delete_len as u64 + counter.0 != payload.len {
            return Err(failed(io::Error::other(format!("the archive came to {} bytes, not {}", counter.0, payload.len))));
        }
        Ok(())
    }

    /// The tar of `payload` into `out`. `dry`: files go in with no contents (the headers are
    /// the same) and the padded size of what they would hold is returned.
    fn tar(&self, payload: &Payload, out: &mut impl io::Write, dry: bool) -> Result<u64, SyncError> {
        let mut builder = tar::Builder::new(out);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut skipped = 0;
        for path in &payload.send {
            let full = self.root.join(path);
            let read = |source| SyncError::Read { path: full.clone(), source };
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(now);
            match &self.manifest.entries[path] {
                Kind::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder.append_data(&mut header, path, io::empty()).map_err(read)?;
                }
                Kind::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).map_err(read)?;
                }
                Kind::File { mode, size, .. } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    if dry {
                        header.set_size(0);
                        builder.append_data(&mut header, path, io::empty()).map_err(read)?;
                        skipped += size.div_ceil(512) * 512;
                    } else {
                        self.append_file(&mut builder, header, path, *size)?;
                    }
                }
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(now);
        header.set_size(payload.contents.len() as u64);
        let failed = |source| SyncError::Read { path: PathBuf::from(STATE_DIR), source };
        let name = format!("{STATE_DIR}/{}", payload.state);
        builder.append_data(&mut header, name, payload.contents.as_bytes()).map_err(failed)?;
        builder.into_inner().map_err(failed)?;
        Ok(skipped)
    }

    /// File `path`'s `size` bytes into the tar under `header` (its type and mode set): a
    /// support file from memory, any other from the disk, read as it goes. A file whose size
    /// is no longer the one the manifest promises is `SyncError::Changed` (it is sent next time).
    fn append_file(&self, builder: &mut tar::Builder<impl io::Write>, mut header: tar::Header, path: &str, size: u64) -> Result<(), SyncError> {
        let full = self.root.join(path);
        let read = |source| SyncError::Read { path: full.clone(), source };
        header.set_size(size);
        if let Some(bytes) = self.extra.get(path) {
            return builder.append_data(&mut header, path, &bytes[..]).map_err(read);
        }
        let file = std::fs::File::open(&full).map_err(read)?;
        let meta = file.metadata().map_err(read)?;
        if meta.len() != size {
            return Err(SyncError::Changed { path: full });
        }
        header.set_mtime(meta.mtime().max(0) as u64);
        let mut exact = Exact { inner: file.take(size), left: size };
        let appended = builder.append_data(&mut header, path, &mut exact);
        if exact.left > 0 {
            return Err(SyncError::Changed { path: full });
        }
        appended.map_err(read)
    }

    /// The whole payload in memory (tests).
    #[cfg(test)]
    pub fn payload_bytes(&self, payload: &Payload) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_payload(payload, &mut bytes).unwrap();
        bytes
    }
}

/// Counts what is written.
struct Counter(u64);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes to `.0` and counts in `.1`.
struct Tee<'a, W>(&'a mut W, &'a mut Counter);

impl<W: io::Write> io::Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1 .0 += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A file's promised bytes: `left` says how many did not come (it shrank while being read).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left -= n as u64;
        if n == 0 && self.left > 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was being sent"));
        }
        Ok(n)
    }
}

/// The walk's entries paired with what the cache knows: their kinds, the next cache's
/// entries, and the files to hash (by index into both).
struct Listed {
    entries: Vec<(String, Kind)>,
    cached: Vec<Cached>,
    todo: Vec<(usize, PathBuf)>,
}

/// Lists `found` (in path order) against the old cache; `extra` more entries will follow.
fn list(found: &[super::WalkedPath], old: &TreeCache, extra: usize) -> Result<Listed, SyncError> {
    let mut entries: Vec<(String, Kind)> = Vec::with_capacity(found.len() + extra);
    let mut cached: Vec<Cached> = Vec::with_capacity(found.len());
    // Both lists are in path order: one merge pairs each entry with what the cache knows.
    let mut known = old.entries.iter().peekable();
    let mut todo: Vec<(usize, PathBuf)> = Vec::new();
    for found in found {
        while known.next_if(|c| c.rel < found.rel).is_some() {}
        let known = known.next_if(|c| c.rel == found.rel);
        let meta = &found.meta;
        let stamp = Stamp::of(meta);
        let unchanged = |c: &&Cached| c.stamp == stamp && c.hash_trusted;
        let kind = if meta.file_type().is_symlink() {
            match known.filter(unchanged).map(|c| &c.kind) {
                Some(kind @ Kind::Symlink { .. }) => kind.clone(),
                _ => {
                    let read = |source| SyncError::Read { path: found.full.clone(), source };
                    let target = std::fs::read_link(&found.full).map_err(read)?;
                    let target = target.into_os_string().into_string().map_err(|_| SyncError::NotUtf8 { path: found.full.clone() })?;
                    Kind::Symlink { target }
                }
            }
        } else if meta.is_dir() {
            Kind::Dir { mode: stamp.mode & SENT_MODE }
        } else if meta.is_file() {
            match known.filter(unchanged).map(|c| &c.kind) {
                Some(kind @ Kind::File { .. }) => kind.clone(),
                _ => {
                    todo.push((entries.len(), found.full.clone()));
                    Kind::File { mode: stamp.mode & SENT_MODE, size: stamp.size, hash: [0; 32] }
                }
            }
        } else {
            continue; // sockets, fifos: nothing to ship
        };
        cached.push(Cached { rel: found.rel.clone(), stamp, kind: kind.clone(), hash_trusted: true });
        entries.push((found.rel.clone(), kind));
    }
    Ok(Listed { entries, cached, todo })
}

/// What goes down one host's pipe, as a recipe (`Local::write_payload` writes it).
#[derive(Debug)]
pub struct Payload {
    /// The deletion list, the first `delete_len` bytes.
    deletions: Vec<u8>,
    pub delete_len: usize,
    /// The entries in the tar, in order, then the state file's name and contents.
    send: Vec<String>,
    state: String,
    contents: String,
    /// Every byte: the deletion list and the tar.
    pub len: u64,
    /// Files and symlinks in the tar, and the files' bytes.
    pub files: usize,
    pub file_bytes: u64,
    pub deleted: usize,
}

/// A file's hash, the bytes read, and whether the hash may be cached (see `RACY`).
type Hashed = ([u8; 32], u64, bool);

/// Hashes on every core: the first sync of a large tree is mostly this.
fn hash_files(todo: &[(PathBuf, Stamp)], stop: &AtomicBool) -> Result<Vec<Hashed>, SyncError> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8).min(todo.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Hashed>>> = Mutex::new(vec![None; todo.len()]);
    let failure: Mutex<Option<SyncError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((full, stamp)) = todo.get(i) else { break };
                    match hash_file(full, stamp, &mut buf, stop) {
                        Ok(r) => results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r),
                        Err(source) => {
                            let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                            let e = if stop.load(Ordering::Relaxed) { SyncError::Interrupted } else { SyncError::Read { path: full.clone(), source } };
                            f.get_or_insert(e);
                            next.store(todo.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|r| r.expect("every file hashed")).collect())
}

fn hash_file(path: &Path, stamp: &Stamp, buf: &mut [u8], stop: &AtomicBool) -> io::Result<Hashed> {
    let started = SystemTime::now();
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped by a signal"));
        }
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let changed_at = stamp.mtime_ns.max(stamp.ctime_ns);
    let limit = started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0) - RACY.as_nanos() as i128;
    Ok((hasher.finalize().into(), size, changed_at < limit))
}

/// Keeps the newest `STORE_KEEP` manifests.
fn prune_store(dir: &Path) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(SystemTime, PathBuf)> = read
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= STORE_KEEP {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - STORE_KEEP] {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::Duration;

    /// A tree whose files were last changed a while ago, so their hashes may be cached.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (f, body) in [("spec/a_spec.rb", "a"), ("lib/x.rb", "x"), ("bin/run", "#!/bin/sh\n"), ("odd\nname 'q' $(touch pwned)", "o")] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), body).unwrap();
        }
        std::fs::set_permissions(p.join("bin/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(p.join("empty")).unwrap();
        symlink("../lib/x.rb", p.join("spec/link.rb")).unwrap();
        // ctime cannot be set back: wait out the racy window instead.
        std::thread::sleep(RACY + Duration::from_millis(20));
        dir
    }

    fn build(root: &Path, cache: &Path) -> Local {
        Local::build(root, &[], &[], vec![(".testbot/f.rb".into(), b"fmt".to_vec())], Some(cache)).unwrap()
    }

    #[test]
    fn manifest_lists_dirs_files_links_and_support_files() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        let local = build(dir.path(), cache.path());
        let m = &local.manifest.entries;
        let paths: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [".testbot/f.rb", "bin", "bin/run", "empty", "lib", "lib/x.rb", "odd\nname 'q' $(touch pwned)", "spec", "spec/a_spec.rb", "spec/link.rb"]
        );
        let sha_x: [u8; 32] = Sha256::digest(b"x").into();
        assert_eq!(m["lib/x.rb"], Kind::File { mode: 0o644, size: 1, hash: sha_x });
        assert!(matches!(m["bin/run"], Kind::File { mode: 0o755, .. }));
        assert_eq!(m["spec/link.rb"], Kind::Symlink { target: "../lib/x.rb".into() });
        assert!(matches!(m["empty"], Kind::Dir { .. }));
        assert_eq!(local.stats.hashed_files, 4, "the support file is not read from disk");
        assert_eq!(local.digest, local.manifest.digest());
    }

    #[test]
    fn an_unchanged_tree_is_not_read_again() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        let first = build(dir.path(), cache.path());
        assert_eq!(first.stats.hashed_files, 4);
        let second = build(dir.path(), cache.path());
        assert_eq!(second.stats, BuildStats::default(), "everything came from the cache");
        assert_eq!(second.digest, first.digest);
        // One file changes: only it is read.
        std::fs::write(dir.path().join("lib/x.rb"), "y").unwrap();
        let third = build(dir.path(), cache.path());
        assert_eq!(third.stats.hashed_files, 1);
        assert_ne!(third.digest, first.digest);
        // Without a cache everything is read.
        let none = Local::build(dir.path(), &[], &[], Vec::new(), None).unwrap();
        assert_eq!(none.stats.hashed_files, 4);
    }

    /// Waits out the racy window after a change, so that the next build may trust stamps.
    fn settle() {
        std::thread::sleep(RACY + Duration::from_millis(20));
    }

    fn has(local: &Local, path: &str) -> bool {
        local.manifest.entries.contains_key(path)
    }

    #[test]
    fn an_unchanged_tree_is_not_walked_again_and_changed_names_or_rules_are_seen() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("proj");
        for f in ["spec/a_spec.rb", "lib/x.rb", "bin/run"] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), f).unwrap();
        }
        settle();
        let cache = tempfile::tempdir().unwrap();
        let first = build(&root, cache.path());
        assert!(first.stats.walked);
        let second = build(&root, cache.path());
        assert!(!second.stats.walked, "nothing moved: the listing stands in for the walk");
        assert_eq!((second.digest.as_str(), second.stats.hashed_files), (first.digest.as_str(), 0));

        // An edit in place moves no directory: no walk, and only that file is read.
        std::fs::write(root.join("lib/x.rb"), "edited").unwrap();
        let edited = build(&root, cache.path());
        assert!(!edited.stats.walked);
        assert_eq!(edited.stats.hashed_files, 1);
        let sha: [u8; 32] = Sha256::digest(b"edited").into();
        assert_eq!(edited.manifest.entries["lib/x.rb"], Kind::File { mode: 0o644, size: 6, hash: sha });

        // A new file deep down, then its removal: its directory's stamp moved each time.
        settle();
        std::fs::write(root.join("spec/new_spec.rb"), "new").unwrap();
        assert!(has(&build(&root, cache.path()), "spec/new_spec.rb"));
        settle();
        std::fs::remove_file(root.join("spec/new_spec.rb")).unwrap();
        let removed = build(&root, cache.path());
        assert!(removed.stats.walked && !has(&removed, "spec/new_spec.rb"));

        // A .gitignore that ignores itself, edited in place: no directory moves, the rules do.
        settle();
        std::fs::write(root.join(".gitignore"), ".gitignore\nlib/\n").unwrap();
        let ignoring = build(&root, cache.path());
        assert!(!has(&ignoring, "lib/x.rb") && !has(&ignoring, ".gitignore") && has(&ignoring, "bin/run"));
        // (The walk right after a change does not trust what it just saw: one more.)
        settle();
        build(&root, cache.path());
        assert!(!build(&root, cache.path()).stats.walked);
        std::fs::write(root.join(".gitignore"), ".gitignore\nbin/\n").unwrap();
        let edited_rules = build(&root, cache.path());
        assert!(edited_rules.stats.walked);
        assert!(has(&edited_rules, "lib/x.rb") && !has(&edited_rules, "bin/run"));

        // A rule file appearing above the project.
        settle();
        build(&root, cache.path());
        assert!(!build(&root, cache.path()).stats.walked);
        std::fs::write(outer.path().join(".ignore"), "spec/\n").unwrap();
        let above = build(&root, cache.path());
        assert!(above.stats.walked && !has(&above, "spec/a_spec.rb") && has(&above, "lib/x.rb"));

        // Other [sync] patterns: walked again.
        settle();
        let excluded = Local::build(&root, &["lib".into()], &[], Vec::new(), Some(cache.path())).unwrap();
        assert!(excluded.stats.walked && !has(&excluded, "lib/x.rb"));
    }

    #[test]
    fn a_directory_changed_just_before_the_walk_is_walked_again_next_time() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        build(dir.path(), cache.path());
        // Changed within the racy window of the build: a second change in the same clock tick
        // would not move its stamp, so the listing is not trusted.
        std::fs::write(dir.path().join("spec/b_spec.rb"), "b").unwrap();
        assert!(build(dir.path(), cache.path()).stats.walked);
        assert!(build(dir.path(), cache.path()).stats.walked);
        settle();
        assert!(build(dir.path(), cache.path()).stats.walked);
        let trusted = build(dir.path(), cache.path());
        assert!(!trusted.stats.walked && has(&trusted, "spec/b_spec.rb"));
    }

    #[test]
    fn a_damaged_or_foreign_cache_only_costs_a_walk() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        let first = build(dir.path(), cache.path());
        std::fs::write(cache.path().join(cache::FILE), "testbot-tree-cache 1\nf\tgarbage\n").unwrap();
        let again = build(dir.path(), cache.path());
        assert!(again.stats.walked);
        assert_eq!((again.digest.as_str(), again.stats.hashed_files), (first.digest.as_str(), 4));
    }

    #[test]
    fn an_unreadable_file_is_named() {
        if unsafe { libc::geteuid() } == 0 {
            // root reads everything; the integration test covers this through a host.
            return;
        }
        let dir = tree();
        std::fs::set_permissions(dir.path().join("lib/x.rb"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = Local::build(dir.path(), &[], &[], Vec::new(), None).unwrap_err();
        assert!(err.to_string().contains("lib/x.rb"), "{err}");
    }

    #[test]
    fn payload_carries_deletions_then_the_tar_with_the_manifest_last() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        let local = build(dir.path(), cache.path());
        let mut base = local.manifest.clone();
        base.entries.insert("gone file".into(), Kind::Dir { mode: 0o755 });
        base.entries.remove("lib/x.rb");
        let plan = manifest::plan(&base, &local.manifest);
        let payload = local.payload(&plan, &format!("manifest.{}", local.digest), &local.text).unwrap();
        let bytes = local.payload_bytes(&payload);
        assert_eq!(bytes.len() as u64, payload.len);
        assert_eq!(&bytes[..payload.delete_len], b"11:./gone file\0");
        let mut names = Vec::new();
        for e in tar::Archive::new(&bytes[payload.delete_len..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, ["lib", "lib/x.rb", format!(".testbot/sync/manifest.{}", local.digest).as_str()]);
        assert_eq!((payload.files, payload.file_bytes, payload.deleted), (1, 1, 1));
    }

    #[test]
    fn a_payload_is_as_long_as_announced_with_long_names_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}/{}.rb", "d".repeat(120), "n".repeat(150));
        std::fs::create_dir_all(dir.path().join(&long).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(&long), "x".repeat(513)).unwrap();
        std::fs::File::create(dir.path().join("sparse")).unwrap().set_len(3 << 20).unwrap();
        let local = Local::build(dir.path(), &[], &[], Vec::new(), None).unwrap();
        let plan = manifest::plan(&Manifest::default(), &local.manifest);
        let payload = local.payload(&plan, &format!("manifest.{}", local.digest), &local.text).unwrap();
        let bytes = local.payload_bytes(&payload);
        assert_eq!(bytes.len() as u64, payload.len);
        let names: Vec<String> =
            tar::Archive::new(&bytes[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&long), "{names:?}");
        // A file that shrank since it was hashed is named, not sent short.
        std::fs::write(dir.path().join("sparse"), "short").unwrap();
        let err = local.write_payload(&payload, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, SyncError::Changed { .. }), "{err}");
    }

    #[test]
    fn manifests_are_stored_by_digest() {
        let dir = tree();
        let cache = tempfile::tempdir().unwrap();
        let local = build(dir.path(), cache.path());
        let other = Manifest::default();
        let (text, digest) = (other.to_text(), other.digest());
        assert_eq!(local.stored(&digest), None);
        local.store(&digest, &text);
        assert_eq!(local.stored(&digest), Some(other));
        assert_eq!(local.stored(&local.digest), Some(local.manifest.clone()));
        assert_eq!(local.stored("../../etc/passwd"), None);
    }
}
