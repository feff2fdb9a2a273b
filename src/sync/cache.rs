//! This machine's memory of the tree between runs (`<cache dir>/tree`): every entry the last
//! build shipped with the metadata it had (so that an unchanged file is not hashed again), and
//! what the walk's result depended on (directory stamps, ignore files, the `[sync]` patterns),
//! so that a build can skip the walk and only `lstat` the known entries when none of that moved.

use super::manifest::{self, Kind, SENT_MODE};
use super::WalkedPath;
use sha2::{Digest, Sha256};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HEADER: &str = "testbot-tree-cache 1";
pub const FILE: &str = "tree";

/// A file changed this close to the moment it was hashed might change again without its
/// metadata showing it (timestamps are coarse): such a hash is used but not cached.
pub const RACY: Duration = Duration::from_millis(100);

/// If none of these changed, neither did the file (for a directory: its list of names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            mode: meta.mode(),
        }
    }

    /// Changed within `racy` before `at`: a later change in the same clock tick could leave
    /// this stamp as it is.
    pub fn racy(&self, at: SystemTime, racy: Duration) -> bool {
        let at = at.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
        self.mtime_ns.max(self.ctime_ns) >= at - racy.as_nanos() as i128
    }

    fn write(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{}\t{}\t{}\t{}\t{}", self.ino, self.size, self.mtime_ns, self.ctime_ns, self.mode);
    }

    fn parse(f: &[&str]) -> Option<Stamp> {
        let [ino, size, mtime, ctime, mode] = f else { return None };
        Some(Stamp { ino: ino.parse().ok()?, size: size.parse().ok()?, mtime_ns: mtime.parse().ok()?, ctime_ns: ctime.parse().ok()?, mode: mode.parse().ok()? })
    }
}

/// One shipped entry as the last build saw it. A file's `hash` is None when it changed too
/// close to its hashing to be trusted (see `RACY`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cached {
    pub rel: String,
    pub stamp: Stamp,
    pub kind: Kind,
    pub hash_trusted: bool,
}

/// A path whose state decides what the walk keeps: an ignore file, a `.git`, the root itself.
/// `None`: it did not exist.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub path: PathBuf,
    pub stamp: Option<Stamp>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TreeCache {
    /// The `[sync]` patterns and the root the entries were walked with.
    pub key: String,
    /// Whether the listing may stand in for a walk: false when a directory or ignore file had
    /// changed too recently to trust its stamp, or a `.git` file points elsewhere.
    pub listing: bool,
    pub checks: Vec<Check>,
    /// In path order.
    pub entries: Vec<Cached>,
}

impl TreeCache {
    /// Whether this (new) cache's listing may stand in for the next walk, and the checks that
    /// say so. After a walk (`walked`: what it found), only if no directory and no ignore file
    /// changed so recently before `started` that a change in the same clock tick could hide;
    /// without a walk, as the `old` cache said.
    pub fn settle_listing(&mut self, root: &Path, walked: Option<&[WalkedPath]>, started: SystemTime, old: &TreeCache) {
        let Some(found) = walked else {
            self.listing = old.listing;
            self.checks = old.checks.clone();
            return;
        };
        let dirs = found.iter().filter(|f| f.meta.is_dir()).map(|f| f.full.as_path());
        if let Some(checks) = ignore_inputs(root, dirs) {
            let racy = |s: &Stamp| s.racy(started, RACY);
            self.listing = !checks.iter().any(|c| c.stamp.as_ref().is_some_and(racy))
                && !self.entries.iter().any(|c| matches!(c.kind, Kind::Dir { .. }) && racy(&c.stamp));
            self.checks = checks;
        }
    }
}

/// Saves `new` in `dir` when it differs from `old`. A cache that cannot be written only costs a
/// walk and hashing again next time.
pub fn save_changed(dir: Option<&Path>, new: &TreeCache, old: &TreeCache) {
    if let Some(dir) = dir.filter(|_| new != old) {
        if let Err(e) = save(dir, new) {
            tracing::debug!(dir = %dir.display(), error = %e, "could not write the tree cache");
        }
    }
}

/// What the cache's listing is valid for.
pub fn key(root: &Path, exclude: &[String], include: &[String]) -> String {
    let mut h = Sha256::new();
    for part in [root.to_string_lossy().as_ref()].into_iter().chain(exclude.iter().map(|s| s.as_str())).chain([""]).chain(include.iter().map(|s| s.as_str())) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    manifest::hex(&h.finalize().into())
}

fn stat(path: &Path) -> io::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the `ignore` walk read besides the names in the walked directories: the ignore files
/// and `.git` of the root's ancestors (present or not) and of every walked directory (present;
/// a new one changes its directory's stamp), and the root's own stamp. None when a `.git` is a
/// file (a worktree's or submodule's pointer to a git dir elsewhere): such trees are walked.
pub fn ignore_inputs<'a>(root: &Path, dirs: impl Iterator<Item = &'a Path>) -> Option<Vec<Check>> {
    const NAMES: [&str; 3] = [".gitignore", ".ignore", ".git"];
    let mut checks = vec![Check { path: root.to_path_buf(), stamp: stat(root).ok()? }];
    let add = |dir: &Path, keep_absent: bool, checks: &mut Vec<Check>| -> Option<()> {
        for name in NAMES {
            let path = dir.join(name);
            let stamp = std::fs::symlink_metadata(&path).ok().map(|m| (m.file_type(), Stamp::of(&m)));
            match stamp {
                Some((t, _)) if name == ".git" && !t.is_dir() => return None,
                Some((_, _)) if name == ".git" => {
                    let exclude = path.join("info/exclude");
                    checks.push(Check { stamp: stat(&exclude).ok()?, path: exclude });
                }
                Some(_) => checks.push(Check { stamp: stat(&path).ok()?, path }),
                None if keep_absent => checks.push(Check { path, stamp: None }),
                None => {}
            }
        }
        Some(())
    };
    for dir in root.ancestors().skip(1) {
        add(dir, true, &mut checks)?;
    }
    add(root, false, &mut checks)?;
    for dir in dirs {
        add(dir, false, &mut checks)?;
    }
    Some(checks)
}

/// The entries again, each with its metadata now, in the cache's order, without walking: when
/// every check holds and every directory kept its stamp, no name was added, removed or
/// re-typed and no ignore rule moved, so the walk would find exactly these. None otherwise.
pub fn revalidate(root: &Path, cache: &TreeCache) -> Option<Vec<WalkedPath>> {
    if !cache.listing {
        return None;
    }
    for check in &cache.checks {
        if stat(&check.path).ok()? != check.stamp {
            return None;
        }
    }
    // lstat on two threads, as the walk does.
    let half = cache.entries.len() / 2;
    let stat_all = |part: &[Cached]| -> Option<Vec<WalkedPath>> {
        let mut out = Vec::with_capacity(part.len());
        for c in part {
            let full = root.join(&c.rel);
            let meta = std::fs::symlink_metadata(&full).ok()?;
            let same_type = match c.kind {
                Kind::Dir { .. } => meta.is_dir(),
                Kind::File { .. } => meta.is_file(),
                Kind::Symlink { .. } => meta.file_type().is_symlink(),
            };
            if !same_type || (meta.is_dir() && Stamp::of(&meta) != c.stamp) {
                return None;
            }
            out.push(WalkedPath { rel: c.rel.clone(), full, meta });
        }
        Some(out)
    };
    let (a, b) = std::thread::scope(|s| {
        let b = s.spawn(|| stat_all(&cache.entries[half..]));
        (stat_all(&cache.entries[..half]), b.join().ok().flatten())
    });
    let mut found = a?;
    found.extend(b?);
    Some(found)
}

pub fn load(path: &Path) -> Option<TreeCache> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return None;
    }
    let mut cache = TreeCache::default();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["key", key] => cache.key = key.to_string(),
            ["listing", ok] => cache.listing = *ok == "1",
            ["check", "-", path] => cache.checks.push(Check { path: PathBuf::from(manifest::unescape(path)?), stamp: None }),
            ["check", s @ .., path] => cache.checks.push(Check { path: PathBuf::from(manifest::unescape(path)?), stamp: Some(Stamp::parse(s)?) }),
            [kind, s @ .., extra, rel] if s.len() == 5 => {
                let stamp = Stamp::parse(s)?;
                let (kind, hash_trusted) = match *kind {
                    "d" => (Kind::Dir { mode: stamp.mode & SENT_MODE }, true),
                    "f" => match manifest::unhex(extra) {
                        Some(hash) => (Kind::File { mode: stamp.mode & SENT_MODE, size: stamp.size, hash }, true),
                        None => (Kind::File { mode: stamp.mode & SENT_MODE, size: stamp.size, hash: [0; 32] }, false),
                    },
                    "l" => (Kind::Symlink { target: manifest::unescape(extra)? }, true),
                    _ => return None,
                };
                let rel = manifest::unescape(rel)?;
                // The merge in `Local::build` needs path order.
                if cache.entries.last().is_some_and(|last: &Cached| last.rel >= rel) {
                    return None;
                }
                cache.entries.push(Cached { rel, stamp, kind, hash_trusted });
            }
            _ => return None,
        }
    }
    Some(cache)
}

pub fn save(dir: &Path, cache: &TreeCache) -> io::Result<()> {
    let mut text = String::with_capacity(cache.entries.len() * 150);
    text.push_str(HEADER);
    text.push('\n');
    text.push_str(&format!("key\t{}\nlisting\t{}\n", cache.key, if cache.listing { 1 } else { 0 }));
    for check in &cache.checks {
        text.push_str("check\t");
        match &check.stamp {
            Some(s) => s.write(&mut text),
            None => text.push('-'),
        }
        text.push('\t');
        text.push_str(&manifest::escape(&check.path.to_string_lossy()));
        text.push('\n');
    }
    for c in &cache.entries {
        let (kind, extra) = match &c.kind {
            Kind::Dir { .. } => ("d", "-".to_string()),
            Kind::File { hash, .. } if c.hash_trusted => ("f", manifest::hex(hash)),
            Kind::File { .. } => ("f", "-".to_string()),
            Kind::Symlink { target } => ("l", manifest::escape(target)),
        };
        text.push_str(kind);
        text.push('\t');
        c.stamp.write(&mut text);
        text.push('\t');
        text.push_str(&extra);
        text.push('\t');
        text.push_str(&manifest::escape(&c.rel));
        text.push('\n');
    }
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(dir.join(FILE)).map_err(|e| e.error)?;
    // The hash cache of earlier versions.
    let _ = std::fs::remove_file(dir.join("hashes"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_walk_the_listing_and_its_checks_are_the_old_caches() {
        let checks = vec![Check { path: PathBuf::from("/nowhere/.gitignore"), stamp: None }];
        for listing in [true, false] {
            let old = TreeCache { key: "k".into(), listing, checks: checks.clone(), entries: Vec::new() };
            let mut new = TreeCache { key: "k".into(), ..TreeCache::default() };
            new.settle_listing(Path::new("/nowhere"), None, SystemTime::now(), &old);
            assert_eq!((new.listing, &new.checks), (listing, &checks));
        }
    }

    #[test]
    fn after_a_walk_a_directory_changed_just_now_keeps_the_listing_from_standing_in() {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::symlink_metadata(dir.path()).unwrap();
        let found = [WalkedPath { rel: String::new(), full: dir.path().to_path_buf(), meta: meta.clone() }];
        let entry = Cached { rel: "d".into(), stamp: Stamp::of(&meta), kind: Kind::Dir { mode: 0o755 }, hash_trusted: true };
        let old = TreeCache::default();
        let mut new = TreeCache { entries: vec![entry], ..TreeCache::default() };
        new.settle_listing(dir.path(), Some(&found), SystemTime::now(), &old);
        assert!(!new.listing, "changed within RACY of the build: a change in the same tick could hide");
        assert!(new.checks.iter().any(|c| c.path == dir.path()), "the root's own stamp is a check");
        let later = SystemTime::now() + RACY * 10;
        new.settle_listing(dir.path(), Some(&found), later, &old);
        assert!(new.listing);
    }
}
