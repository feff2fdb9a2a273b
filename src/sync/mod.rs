//! The project's copy on each host: what to ship (the tree under the ignore rules), its
//! manifest (`manifest`, built here with a hash cache: `local`), and the incremental transfer
//! that brings each host from the manifest it holds to this one (`remote`, over any `Host`,
//! with the shell text of `script`). Transport-blind: it runs commands through `ssh::Host`.

pub mod cache;
pub mod local;
pub mod manifest;
pub mod remote;
pub mod script;

pub use local::Local;
pub use remote::{check_dir, check_synced, sync_host, HostSync, LocalFuture, Payloads, SyncOptions, SyncOutcome};
pub use script::remote_path;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a sync ships: the project's tree at `root`, under the ignore rules and `[sync]`'s
/// `exclude` and `include` patterns.
#[derive(Clone, Copy, Debug)]
pub struct Tree<'a> {
    pub root: &'a Path,
    pub exclude: &'a [String],
    pub include: &'a [String],
}

/// The project's directory as this machine runs it.
pub fn local_workdir(root: &Path) -> PathBuf {
    root.to_path_buf()
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("failed to read `{}` while collecting the project to send", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to walk the project")]
    Walk(#[source] ignore::Error),
    #[error("invalid [sync] {which} pattern `{pattern}`: {reason}")]
    Pattern { which: &'static str, pattern: String, reason: String },
    #[error("cannot send `{}`: its name (or link target) is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("`{}` changed while it was being sent; sync again", path.display())]
    Changed { path: PathBuf },
    #[error("stopped by a signal while collecting the project")]
    Interrupted,
    #[error("failed to build the archive")]
    Payload(#[source] Arc<SyncError>),
    /// The project could not be collected: the same error for every host.
    #[error(transparent)]
    Local(Arc<SyncError>),
    #[error("failed to collect the project to send")]
    Collect(#[source] tokio::task::JoinError),
    #[error("failed to {what}")]
    Run {
        what: &'static str,
        #[source]
        source: crate::ssh::RunError,
    },
    #[error("failed to {what} ({exit}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Remote { what: String, exit: crate::ssh::ExitInfo, stderr: String },
    #[error("could not read the host's listing of its copy: {0}")]
    RemoteScan(String),
    #[error("it has never been synced (nothing at {dir}): run `testbot sync`, or drop --no-sync")]
    NeverSynced { dir: String },
    #[error("its last sync to {dir} did not finish: run `testbot sync`, or drop --no-sync")]
    Unfinished { dir: String },
    #[error(
        "refusing to sync into {dir}: it holds files testbot did not put there (it has no {mark}, \
         which testbot leaves in a directory it made or found empty); empty it, or choose another \
         `remote_dir` under [sync] in testbot.toml", mark = script::OWNED_MARK
    )]
    NotOwned { dir: String },
    #[error(
        "refusing to sync into {dir}: on this host it is the login directory or one above it, \
         where a sync could delete what it did not send; choose a directory of testbot's own as \
         `remote_dir` under [sync] in testbot.toml"
    )]
    HomeDir { dir: String },
    #[error(
        "refusing to sync into {dir}: {} is owned by {} (uid {}) with mode {:04o}, so {}; {}",
        path.path, path.owner, path.uid, path.mode,
        if path.foreign_owner { "its owner could change the files testbot runs as you there" }
        else { "other users could change the files testbot runs as you there" },
        unsafe_fix(path)
    )]
    Unsafe { dir: String, path: script::UnsafePath },
    #[error("refusing to sync into {dir}: it is not a directory its user can enter (a file, or no permission); remove it or fix its permissions, or choose another `remote_dir` under [sync] in testbot.toml")]
    NotDir { dir: String },
}

/// What to do about a remote directory another user could change.
fn unsafe_fix(path: &script::UnsafePath) -> String {
    let elsewhere = "choose a `remote_dir` under [sync] in testbot.toml that only you can write (the default, under your home, is)";
    if path.foreign_owner {
        format!("{elsewhere}, or have {} (or root) remove {}", path.owner, path.path)
    } else {
        format!("run `chmod go-w {}` on the host (as its owner), or {elsewhere}", crate::ssh::quote::quote(&path.path))
    }
}

/// A path the walk found: relative (`/`-separated), full, and its own metadata (not its target's).
#[derive(Clone, Debug)]
pub struct WalkedPath {
    pub rel: String,
    pub full: PathBuf,
    pub meta: std::fs::Metadata,
}

/// Everything to ship, directories included, in no particular order: the project under
/// .gitignore/.ignore and `[sync] exclude`, plus what `[sync] include` names; `.git` only when
/// included, and never the top-level `.testbot`, which is testbot's own place in the remote copy.
/// Walks (and stats) on two threads: a no-change sync is mostly this.
/// Stops (`SyncError::Interrupted`) at the next entry once `stop` is set.
pub fn walk(root: &Path, exclude: &[String], include: &[String], stop: &std::sync::atomic::AtomicBool) -> Result<Vec<WalkedPath>, SyncError> {
    let found: std::sync::Mutex<Vec<WalkedPath>> = std::sync::Mutex::new(Vec::new());
    let failure: std::sync::Mutex<Option<SyncError>> = std::sync::Mutex::new(None);
    walker_builder(root, exclude, include)?.threads(2).build_parallel().run(|| {
        let (found, failure) = (&found, &failure);
        Box::new(move |entry: Result<ignore::DirEntry, ignore::Error>| {
            use ignore::WalkState;
            let fail = |e: SyncError| {
                failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                WalkState::Quit
            };
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return fail(SyncError::Interrupted);
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return fail(SyncError::Walk(e)),
            };
            let Ok(rel) = entry.path().strip_prefix(root) else { return WalkState::Continue };
            if rel.as_os_str().is_empty() {
                return WalkState::Continue;
            }
            let Some(rel) = rel.to_str() else { return fail(SyncError::NotUtf8 { path: entry.path().to_path_buf() }) };
            let meta = match std::fs::symlink_metadata(entry.path()) {
                Ok(meta) => meta,
                Err(source) => return fail(SyncError::Read { path: entry.path().to_path_buf(), source }),
            };
            let found_one = WalkedPath { rel: rel.to_string(), full: entry.path().to_path_buf(), meta };
            found.lock().unwrap_or_else(|p| p.into_inner()).push(found_one);
            WalkState::Continue
        })
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(found.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn walker_builder(root: &Path, exclude: &[String], include: &[String]) -> Result<ignore::WalkBuilder, SyncError> {
    let globs = |which: &'static str, patterns: &[String]| -> Result<globset::GlobSet, SyncError> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::Glob::new(p).map_err(|e| SyncError::Pattern { which, pattern: p.clone(), reason: e.to_string() })?;
            b.add(glob);
            // `log` also means everything below it.
            if let Ok(g) = globset::Glob::new(&format!("{}/**", p.trim_end_matches('/'))) {
                b.add(g);
            }
        }
        b.build().map_err(|e| SyncError::Pattern { which, pattern: patterns.join(", "), reason: e.to_string() })
    };
    let exclude = globs("exclude", exclude)?;
    let include = globs("include", include)?;
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry({
            let root = root.to_path_buf();
            move |e| {
                let Ok(rel) = e.path().strip_prefix(&root) else { return true };
                let rel = rel.to_string_lossy();
                if rel.is_empty() {
                    return true;
                }
                if rel == manifest::RESERVED_DIR {
                    return false;
                }
                let included = include.is_match(rel.as_ref());
                if rel == ".git" && !included {
                    return false;
                }
                included || !exclude.is_match(rel.as_ref())
            }
        });
    Ok(builder)
}

/// The default remote directory, relative to the remote user's home: per controller user
/// (`user`: `inventory::Invocation::user`), machine and checkout, so two users or two checkouts
/// never share one.
pub fn default_remote_dir(root: &Path, user: Option<&str>) -> String {
    let machine = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    remote_dir_of(user.unwrap_or_default(), machine.trim(), root)
}

/// [`default_remote_dir`] for controller user `user` on machine `machine`.
fn remote_dir_of(user: &str, machine: &str, root: &Path) -> String {
    let key = format!("{user}\0{machine}\0{}", root.display());
    let project: String = root
        .file_name()
        .map(|n| n.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect())
        .unwrap_or_else(|| "project".into());
    format!(".cache/testbot/{project}-{:08x}", fnv1a(key.as_bytes()) as u32)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in ["spec/a_spec.rb", "lib/x.rb", ".rspec", "log/test.log", "tmp/cache/x", ".git/HEAD", "node_modules/m/i.js", "odd name 'q' $(x).rb"] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), "data").unwrap();
        }
        std::fs::write(p.join(".gitignore"), "/tmp\nnode_modules/\n").unwrap();
        symlink("lib/x.rb", p.join("link.rb")).unwrap();
        symlink("/etc/passwd", p.join("outside")).unwrap();
        dir
    }

    /// What `walk` ships, files and links only (directories are implied), sorted.
    fn shipped(root: &Path, exclude: &[String], include: &[String]) -> Vec<(String, std::fs::FileType)> {
        let mut found: Vec<_> =
            walk(root, exclude, include, &Default::default()).unwrap().into_iter().filter(|f| !f.meta.is_dir()).map(|f| (f.rel, f.meta.file_type())).collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn walk_honours_ignore_rules_and_keeps_links() {
        let dir = tree();
        let found = shipped(dir.path(), &["log".to_string()], &[]);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, [".gitignore", ".rspec", "lib/x.rb", "link.rb", "odd name 'q' $(x).rb", "outside", "spec/a_spec.rb"]);
        let outside = found.iter().find(|(p, _)| p == "outside").unwrap();
        assert!(outside.1.is_symlink(), "a link is shipped as a link, not followed");
    }

    #[test]
    fn include_brings_back_git() {
        let dir = tree();
        assert!(shipped(dir.path(), &[], &[".git".to_string()]).iter().any(|(p, _)| p == ".git/HEAD"));
        assert!(!shipped(dir.path(), &[], &[]).iter().any(|(p, _)| p.starts_with(".git/")));
    }

    #[test]
    fn remote_dirs_differ_per_checkout() {
        let a = default_remote_dir(Path::new("/home/u/app"), Some("u"));
        let b = default_remote_dir(Path::new("/home/u/other/app"), Some("u"));
        assert!(a.starts_with(".cache/testbot/app-"));
        assert_ne!(a, b);
        assert_eq!(a, default_remote_dir(Path::new("/home/u/app"), Some("u")));
    }

    #[test]
    fn remote_dirs_differ_per_user_and_machine() {
        let root = Path::new("/srv/ci/app");
        let alice = remote_dir_of("alice", "ci-1", root);
        assert!(alice.starts_with(".cache/testbot/app-"), "{alice}");
        assert_eq!(alice, remote_dir_of("alice", "ci-1", root));
        assert_ne!(alice, remote_dir_of("bob", "ci-1", root), "two users of one checkout path");
        assert_ne!(alice, remote_dir_of("alice", "ci-2", root), "two machines");
        assert_eq!(remote_dir_of("u", "m", Path::new("/x/my app!")).split('-').next(), Some(".cache/testbot/my_app_"));
    }
}
