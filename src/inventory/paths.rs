//! Paths in testbot.toml: `[sync] remote_dir`, a directory a sync deletes in, so one testbot
//! can own; `~` in local paths.

use std::path::{Path, PathBuf};

/// Directories that a sync must never own: the root of a system tree itself (a directory
/// below one, like `/srv/testbot` or `/tmp/testbot`, is fine).
const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/local", "/usr/sbin", "/usr/share", "/var", "/var/lib", "/var/log", "/var/tmp", "/Users", "/Library",
    "/System", "/Applications", "/private", "/nix",
];

/// What `[sync] remote_dir`'s refusals suggest instead.
const FIX: &str = "choose a directory of its own for testbot, like \".cache/testbot/app\" or \"/srv/testbot/app\"";

/// Why `[sync] remote_dir` is refused (said after "`remote_dir` = … is refused: ").
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum RemoteDirError {
    #[error("it is empty; {FIX}")]
    Empty,
    #[error("it contains a control character; {FIX}")]
    ControlCharacter,
    #[error(
        "testbot does not expand variables (a `$` would be taken literally); write the path itself, \
         relative to the login directory (`~/x` or `x`) or absolute"
    )]
    Variable,
    #[error("`~` is the login directory itself, where a sync would delete what it did not send; {FIX}")]
    Tilde,
    #[error("`~user` is not expanded; write `~/x` (under the login directory of the host's user) or an absolute path")]
    TildeUser,
    #[error("it contains `..`, which could climb out of a directory of testbot's own; {FIX}")]
    Parent,
    #[error("it is the login directory itself, where a sync would delete what it did not send; {FIX}")]
    LoginDir,
    #[error("`/` is the whole filesystem; {FIX}")]
    Root,
    #[error("{0} is a system directory; use a directory of testbot's own below it, like \"{0}/testbot\"")]
    SystemDir(String),
}

/// Checks `[sync] remote_dir` and gives it in the form the hosts get: relative to the remote
/// login directory (`~/x` and `x` alike, `.` components dropped) or absolute. A sync deletes
/// in that directory, so it must be one testbot can own: not empty, not the login directory
/// (`~`, `.`, `~/`) nor `/`, not a system directory itself, no `..` (which could climb to an
/// ancestor of the login directory), no `$VAR` and no `~user` (nothing is expanded: they would
/// be taken literally). Whether an absolute path is the login directory or above it depends on
/// the host: the sync checks that there.
pub(super) fn remote_dir(raw: &str) -> Result<String, RemoteDirError> {
    if raw.trim().is_empty() {
        return Err(RemoteDirError::Empty);
    }
    if raw.contains('\0') || raw.contains('\n') {
        return Err(RemoteDirError::ControlCharacter);
    }
    if raw.contains('$') {
        return Err(RemoteDirError::Variable);
    }
    let rest = match raw.strip_prefix('~') {
        None => raw,
        Some("") => return Err(RemoteDirError::Tilde),
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        Some(_) => return Err(RemoteDirError::TildeUser),
    };
    let absolute = rest.starts_with('/');
    let mut parts = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(RemoteDirError::Parent),
            p => parts.push(p),
        }
    }
    let dir = if absolute { format!("/{}", parts.join("/")) } else { parts.join("/") };
    if dir.is_empty() {
        return Err(RemoteDirError::LoginDir);
    }
    if dir == "/" {
        return Err(RemoteDirError::Root);
    }
    if SYSTEM_DIRS.contains(&dir.as_str()) {
        return Err(RemoteDirError::SystemDir(dir));
    }
    Ok(dir)
}

/// Expands a leading `~` (alone or followed by `/`) to `home`. Other paths,
/// including `~user/...`, are returned unchanged. Returns `None` when the
/// path needs `home` and there is none.
pub(super) fn expand_tilde(path: &str, home: Option<&Path>) -> Option<PathBuf> {
    if path == "~" {
        return home.map(Path::to_path_buf);
    }
    match path.strip_prefix("~/") {
        Some(rest) => home.map(|h| h.join(rest.trim_start_matches('/'))),
        None => Some(PathBuf::from(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_says_why_and_what_to_do() {
        let said = |raw| remote_dir(raw).unwrap_err().to_string();
        assert_eq!(said(""), "it is empty; choose a directory of its own for testbot, like \".cache/testbot/app\" or \"/srv/testbot/app\"");
        assert_eq!(
            said("$HOME/x"),
            "testbot does not expand variables (a `$` would be taken literally); write the path itself, relative to the login directory (`~/x` or `x`) or absolute"
        );
        assert_eq!(said("~bob"), "`~user` is not expanded; write `~/x` (under the login directory of the host's user) or an absolute path");
        assert_eq!(said("/./usr/local/"), "/usr/local is a system directory; use a directory of testbot's own below it, like \"/usr/local/testbot\"");
        assert_eq!(remote_dir("~/a/./b/"), Ok("a/b".to_string()));
    }
}
