//! What `--changed` compares: the commit, the changed files (committed since a commit,
//! uncommitted and untracked alike), and the digest of what would make a map wrong.

use super::select::Change;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// Why git could not say what changed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`git {command}` in {} could not run: {source}\n  hint: `--changed` needs git and a git repository", root.display())]
    Spawn { command: String, root: std::path::PathBuf, source: std::io::Error },
    #[error("`git {command}` in {} failed: {message}\n  hint: give a commit git knows (`testbot --changed main`)", root.display())]
    Failed { command: String, root: std::path::PathBuf, message: String },
    #[error("{} is not in a git repository: `--changed` compares with a commit\n  hint: run it in a git checkout, or run the whole suite", root.display())]
    NotARepository { root: std::path::PathBuf },
}

fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let command = args.join(" ");
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|source| GitError::Spawn { command: command.clone(), root: root.to_path_buf(), source })?;
    if !out.status.success() {
        // git's first line says it (a bad revision); the usage text after it does not.
        let message = String::from_utf8_lossy(&out.stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_string();
        return Err(GitError::Failed { command, root: root.to_path_buf(), message });
    }
    Ok(out.stdout)
}

/// `git rev-parse HEAD`, if `root` is in a repository with a commit.
pub fn head(root: &Path) -> Option<String> {
    let out = git(root, &["rev-parse", "HEAD"]).ok()?;
    Some(String::from_utf8_lossy(&out).trim().to_string()).filter(|c| !c.is_empty())
}

/// The files changed since `reference` (committed or not; paths from `root`), and the files
/// git does not track and does not ignore.
pub fn changes(root: &Path, reference: &str) -> Result<Vec<Change>, GitError> {
    if git(root, &["rev-parse", "--is-inside-work-tree"]).is_err() {
        return Err(GitError::NotARepository { root: root.to_path_buf() });
    }
    let diff = git(root, &["diff", "--name-status", "--no-renames", "--relative", "-z", reference, "--"])?;
    let mut changes = parse_name_status(&diff);
    let untracked = git(root, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    changes.extend(untracked.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| Change::new(&String::from_utf8_lossy(p), false)));
    Ok(changes)
}

/// `git diff --name-status -z`: a status, then its path, each ended by a NUL.
fn parse_name_status(out: &[u8]) -> Vec<Change> {
    let fields: Vec<String> = out.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    fields.chunks(2).filter(|c| c.len() == 2 && !c[1].is_empty()).map(|c| Change::new(&c[1], c[0].starts_with('D'))).collect()
}

/// What would make a map wrong: the runners' Ruby (`RUBY_DESCRIPTION`) and the files that decide
/// which gems and options a run has. A file that is not there counts as empty.
pub fn digest(root: &Path, ruby: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(ruby.as_bytes());
    for file in DIGESTED {
        hash.update([0u8]);
        hash.update(std::fs::read(root.join(file)).unwrap_or_default());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

const DIGESTED: &[&str] = &["Gemfile.lock", "gems.locked", ".rspec", "testbot.toml"];

/// The Ruby a runner in `root` gets (`ruby -e 'print RUBY_DESCRIPTION'`), or None when none runs.
pub fn ruby_description(root: &Path) -> Option<String> {
    let out = Command::new("ruby").args(["-e", "print RUBY_DESCRIPTION"]).current_dir(root).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_reads_deletions_apart() {
        let out = b"M\0lib/a.rb\0D\0lib/gone.rb\0A\0spec/new_spec.rb\0";
        let changes = parse_name_status(out);
        assert_eq!(changes, [Change::new("lib/a.rb", false), Change::new("lib/gone.rb", true), Change::new("spec/new_spec.rb", false)]);
    }
}
