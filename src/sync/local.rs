//! This machine's side: the manifest of the project as it is now (hashing only files whose
//! metadata changed since the last run, thanks to a cache outside the tree), and the payload
//! that carries a plan to a host: the deletion list, then one tar stream.

use super::manifest::{self, Kind, Manifest, Plan, STATE_DIR};
use super::SyncError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file changed this close to the moment it was hashed might change again without its
/// metadata showing it (timestamps are coarse): such a hash is used but not cached.
const RACY: Duration = Duration::from_millis(100);
const CACHE_HEADER: &str = "testbot-hash-cache 1";
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
}

/// The key under which a file's hash is cached: if none of these changed, neither did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    mode: u32,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            mode: meta.mode(),
        }
    }
}

/// This machine's cache for `root`: `$XDG_CACHE_HOME` (else `~/.cache`)
/// `/testbot/controller/<project>-<hash>`, named like the remote dir, and never inside the tree.
pub fn cache_dir(root: &Path) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    let name = super::default_remote_dir(root);
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
        // The cache is read while the tree is walked.
        let (mut hashes, walked) = std::thread::scope(|s| {
            let hashes = s.spawn(|| cache.map(|dir| load_cache(&dir.join("hashes"))).unwrap_or_default());
            let walked = super::walk(root, exclude, include);
            (hashes.join().unwrap_or_default(), walked)
        });
        let mut entries = BTreeMap::new();
        let mut todo: Vec<(String, PathBuf, Stamp)> = Vec::new();
        for found in walked? {
            let read = |source| SyncError::Read { path: found.full.clone(), source };
            let meta = &found.meta;
            let kind = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&found.full).map_err(read)?;
                let target = target.into_os_string().into_string().map_err(|_| SyncError::NotUtf8 { path: found.full.clone() })?;
                Kind::Symlink { target }
            } else if meta.is_dir() {
                Kind::Dir { mode: meta.mode() & 0o777 }
            } else if meta.is_file() {
                let stamp = Stamp::of(meta);
                match hashes.get(&found.rel) {
                    Some((cached, hash)) if *cached == stamp => {
                        Kind::File { mode: stamp.mode & 0o777, size: stamp.size, hash: *hash }
                    }
                    _ => {
                        todo.push((found.rel.clone(), found.full.clone(), stamp));
                        continue;
                    }
                }
            } else {
                continue; // sockets, fifos: nothing to ship
            };
            entries.insert(found.rel, kind);
        }
        let hashed = hash_files(&todo)?;
        let mut stats = BuildStats::default();
        let mut cache_changed = false;
        for ((rel, _, stamp), (hash, size, cacheable)) in todo.into_iter().zip(hashed) {
            stats.hashed_files += 1;
            stats.hashed_bytes += size;
            if cacheable && size == stamp.size {
                hashes.insert(rel.clone(), (stamp, hash));
                cache_changed = true;
            }
            entries.insert(rel, Kind::File { mode: stamp.mode & 0o777, size, hash });
        }
        // Entries of files that are gone would only grow the cache.
        let before = hashes.len();
        hashes.retain(|rel, _| entries.contains_key(rel));
        cache_changed |= hashes.len() != before;
        let mut extras = BTreeMap::new();
        for (path, bytes) in extra {
            let hash: [u8; 32] = Sha256::digest(&bytes).into();
            entries.insert(path.clone(), Kind::File { mode: 0o644, size: bytes.len() as u64, hash });
            extras.insert(path, bytes);
        }
        if let (Some(dir), true) = (cache, cache_changed) {
            // A cache that cannot be written only costs hashing again next time.
            if let Err(e) = save_cache(dir, &hashes) {
                tracing::debug!(dir = %dir.display(), error = %e, "could not write the hash cache");
            }
        }
        let manifest = Manifest { entries };
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

    /// The bytes for a host holding `base`: the NUL-separated deletion list (its length goes
    /// on the command line), then a tar of `plan.send` and the new manifest, last.
    pub fn payload(&self, plan: &Plan) -> Result<Payload, SyncError> {
        let mut deletions = Vec::new();
        for path in &plan.delete {
            // `LEN:./PATH`, so that the host can tell an item cut short (see `apply_script`).
            deletions.extend_from_slice(format!("{}:./{path}", path.len() + 2).as_bytes());
            deletions.push(0);
        }
        let delete_len = deletions.len();
        let mut builder = tar::Builder::new(deletions);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut files = 0;
        let mut file_bytes = 0;
        for path in &plan.send {
            let kind = &self.manifest.entries[path];
            let full = self.root.join(path);
            let read = |source| SyncError::Read { path: full.clone(), source };
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(now);
            match kind {
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
                    files += 1;
                }
                Kind::File { mode, size, .. } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(*size);
                    if let Some(bytes) = self.extra.get(path) {
                        builder.append_data(&mut header, path, &bytes[..]).map_err(read)?;
                    } else {
                        let file = std::fs::File::open(&full).map_err(read)?;
                        let meta = file.metadata().map_err(read)?;
                        // The manifest promises these bytes; a file that changed since is sent next time.
                        if meta.len() != *size {
                            return Err(SyncError::Changed { path: full });
                        }
                        header.set_mtime(meta.mtime().max(0) as u64);
                        builder.append_data(&mut header, path, file.take(*size)).map_err(read)?;
                    }
                    files += 1;
                    file_bytes += size;
                }
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(now);
        header.set_size(self.text.len() as u64);
        let state = |source| SyncError::Read { path: PathBuf::from(STATE_DIR), source };
        builder.append_data(&mut header, format!("{STATE_DIR}/manifest.{}", self.digest), self.text.as_bytes()).map_err(state)?;
        let bytes = builder.into_inner().map_err(state)?;
        Ok(Payload { bytes, delete_len, files, file_bytes, deleted: plan.delete.len() })
    }
}

/// What goes down one host's pipe.
#[derive(Debug)]
pub struct Payload {
    pub bytes: Vec<u8>,
    /// The first `delete_len` bytes are the deletion list.
    pub delete_len: usize,
    /// Files and symlinks in the tar, and the files' bytes.
    pub files: usize,
    pub file_bytes: u64,
    pub deleted: usize,
}

/// A file's hash, the bytes read, and whether the hash may be cached (see `RACY`).
type Hashed = ([u8; 32], u64, bool);

/// Hashes on every core: the first sync of a large tree is mostly this.
fn hash_files(todo: &[(String, PathBuf, Stamp)]) -> Result<Vec<Hashed>, SyncError> {
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
                    let Some((_, full, stamp)) = todo.get(i) else { break };
                    match hash_file(full, stamp, &mut buf) {
                        Ok(r) => results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r),
                        Err(source) => {
                            let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                            f.get_or_insert(SyncError::Read { path: full.clone(), source });
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

fn hash_file(path: &Path, stamp: &Stamp, buf: &mut [u8]) -> io::Result<Hashed> {
    let started = SystemTime::now();
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
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

fn load_cache(path: &Path) -> HashMap<String, (Stamp, [u8; 32])> {
    let Ok(text) = std::fs::read_to_string(path) else { return HashMap::new() };
    let mut lines = text.lines();
    if lines.next() != Some(CACHE_HEADER) {
        return HashMap::new();
    }
    let mut out = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [ino, size, mtime, ctime, mode, hash, path] = f.as_slice() else { continue };
        let parsed = (|| {
            let stamp = Stamp {
                ino: ino.parse().ok()?,
                size: size.parse().ok()?,
                mtime_ns: mtime.parse().ok()?,
                ctime_ns: ctime.parse().ok()?,
                mode: mode.parse().ok()?,
            };
            Some((manifest::unescape(path)?, (stamp, manifest::unhex(hash)?)))
        })();
        if let Some((path, value)) = parsed {
            out.insert(path, value);
        }
    }
    out
}

fn save_cache(dir: &Path, hashes: &HashMap<String, (Stamp, [u8; 32])>) -> io::Result<()> {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut text = String::with_capacity(hashes.len() * 140);
    text.push_str(CACHE_HEADER);
    text.push('\n');
    for (path, (s, hash)) in hashes {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            s.ino,
            s.size,
            s.mtime_ns,
            s.ctime_ns,
            s.mode,
            manifest::hex(hash),
            manifest::escape(path)
        );
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(dir.join("hashes")).map_err(|e| e.error)?;
    Ok(())
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

    #[test]
    fn an_unreadable_file_is_named() {
        if unsafe { libc::geteuid() } == 0 {
            // root reads everything; the integration test covers this through a host.
            return;
        }
        let dir = tree();
        std::fs::set_permissions(dir.path().join("lib/x.rb"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = Local::build(dir.path(), &[], &[], Vec::new(), None).unwrap_err();
        assert!(crate::errors::chain(&err).contains("lib/x.rb"), "{err}");
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
        let payload = local.payload(&plan).unwrap();
        assert_eq!(&payload.bytes[..payload.delete_len], b"11:./gone file\0");
        let mut names = Vec::new();
        for e in tar::Archive::new(&payload.bytes[payload.delete_len..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, ["lib", "lib/x.rb", format!(".testbot/sync/manifest.{}", local.digest).as_str()]);
        assert_eq!((payload.files, payload.file_bytes, payload.deleted), (1, 1, 1));
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
