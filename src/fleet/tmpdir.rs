//! Per-slot temporary directories: every slot's runner gets its own TMPDIR, so suites that
//! write temp files under fixed names do not collide across the slots of one host.
//!
//! The directory is `<support dir>/tmp/slot-<N>` (N unique in the run): on this machine under
//! the run's own temporary directory (removed when the run ends), on SSH hosts under the
//! project's copy (`<remote dir>/.testbot/tmp/slot-<N>`). The runner's command creates it and
//! makes it absolute before Ruby starts, since the remote dir may be relative to the home.
//! A host's fork server gets `tmp/fork-server`: it is no slot's, and slot 0's files must not meet it.

/// Adds `TMPDIR` for slot `slot_id` unless `[project] env` already sets one.
pub fn with_slot_tmpdir(env: Vec<(String, String)>, support_dir: &str, slot_id: usize) -> Vec<(String, String)> {
    with_tmpdir(env, support_dir, &format!("slot-{slot_id}"))
}

/// The same for a process of the host's own (its fork server): `tmp/NAME`, a folder no slot uses.
pub fn with_tmpdir(mut env: Vec<(String, String)>, support_dir: &str, name: &str) -> Vec<(String, String)> {
    if !env.iter().any(|(k, _)| k == "TMPDIR") {
        let base = support_dir.strip_prefix("./").unwrap_or(support_dir).trim_end_matches('/');
        env.push(("TMPDIR".to_string(), format!("{base}/tmp/{name}")));
    }
    env
}

/// Wraps a runner's argv so that `$TMPDIR` exists, and is absolute, when it starts. `exec`
/// keeps the runner's process (and process group) the one that was spawned.
pub fn creating_tmpdir(argv: Vec<String>) -> Vec<String> {
    const SCRIPT: &str = r#"case $TMPDIR in /*) ;; *) TMPDIR=$PWD/$TMPDIR ;; esac; mkdir -p "$TMPDIR" && export TMPDIR && exec "$@""#;
    let mut wrapped = vec!["sh".to_string(), "-c".to_string(), SCRIPT.to_string(), "testbot".to_string()];
    wrapped.extend(argv);
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn tmpdir_per_slot_unless_the_project_sets_one() {
        let env = with_slot_tmpdir(vec![], "./.testbot", 3);
        assert_eq!(env, [("TMPDIR".to_string(), ".testbot/tmp/slot-3".to_string())]);
        let env = with_slot_tmpdir(vec![], "/tmp/testbot-x/", 1);
        assert_eq!(env[0].1, "/tmp/testbot-x/tmp/slot-1");
        let own = vec![("TMPDIR".to_string(), "/scratch".to_string())];
        assert_eq!(with_slot_tmpdir(own.clone(), "/s", 2), own);
    }

    #[test]
    fn the_wrapper_creates_a_relative_tmpdir_and_passes_arguments_intact() {
        let dir = tempfile::tempdir().unwrap();
        let argv = creating_tmpdir(vec!["sh".into(), "-c".into(), r#"printf '%s|' "$TMPDIR" "$@""#.into(), "x".into(), "a b".into(), "$(c)".into()]);
        let out = Command::new(&argv[0]).args(&argv[1..]).current_dir(dir.path()).env("TMPDIR", ".testbot/tmp/slot-2").output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let (tmpdir, rest) = text.split_once('|').unwrap();
        assert!(tmpdir.starts_with('/') && tmpdir.ends_with("/.testbot/tmp/slot-2"), "{text}");
        assert!(std::path::Path::new(tmpdir).is_dir());
        assert!(dir.path().join(".testbot/tmp/slot-2").is_dir());
        assert_eq!(rest, "a b|$(c)|");
    }
}
