//! Shell commands run on hosts outside the batches: the `[hooks]` of testbot.toml (before_run
//! once per host, before_slot once per slot, after_run once per host) and `testbot exec`.
//! Each runs with `sh -c` in the project's directory on its host, output collected.

use crate::ssh::{ExitInfo, Host, HostCommand, RunError};
use std::path::PathBuf;
use std::time::Duration;

/// How long one hook or `exec` command may take.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Lines of a failing hook's output shown in the warning (its tail).
const SHOWN_LINES: usize = 30;

/// Why a hook or an `exec` command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{script}` did not finish within {} s and was killed", limit.as_secs())]
    TimedOut { script: String, limit: Duration },
    #[error("the connection was lost while `{script}` ran")]
    Lost { script: String },
    #[error(transparent)]
    Start(RunError),
    /// It ran and failed: its status and the tail of its output (`Finished::failure`).
    #[error("{0}")]
    Failed(String),
    /// Which hook it was (`its before_run hook `…``), around what went wrong.
    #[error("{what}: {error}")]
    Hook { what: String, error: Box<HookError> },
}

/// How a command ended, with its output (stdout and stderr, in order).
#[derive(Debug, Clone)]
pub struct Finished {
    pub exit: ExitInfo,
    pub output: String,
}

impl Finished {
    /// What to tell the user when the command failed, None when it succeeded.
    pub fn failure(&self, what: &str) -> Option<String> {
        if self.exit.success() {
            return None;
        }
        let lines: Vec<&str> = self.output.lines().collect();
        let tail = &lines[lines.len().saturating_sub(SHOWN_LINES)..];
        let mut text = format!("{what} {}", self.exit);
        if lines.len() > tail.len() {
            text.push_str(&format!(" (the last {} lines of its output)", tail.len()));
        }
        if !tail.is_empty() {
            text.push(':');
        }
        for line in tail {
            text.push_str(&format!("\n  | {line}"));
        }
        Some(text)
    }
}

/// Runs `script` with `sh -c` on `host`, in `cwd`, with `env`; killed after `limit`.
pub async fn run_script(
    host: &dyn Host,
    script: &str,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    limit: Duration,
) -> Result<Finished, HookError> {
    // The slot's TMPDIR (when the env has one) exists before the script starts, as for a runner.
    let argv = vec!["sh".into(), "-c".into(), script.into()];
    match host.run(HostCommand::new(argv, env, cwd).making_tmpdir(), limit).await {
        Ok(done) => Ok(Finished { exit: done.exit, output: String::from_utf8_lossy(&done.combined()).into_owned() }),
        Err(RunError::Timeout { limit, .. }) => Err(HookError::TimedOut { script: script.to_string(), limit }),
        Err(RunError::Lost { .. }) => Err(HookError::Lost { script: script.to_string() }),
        Err(e @ RunError::Start(_)) => Err(HookError::Start(e)),
    }
}

/// Runs a hook and says why it failed, if it did: `its before_run hook `…` exited with status 1: …`.
pub async fn run_hook(
    host: &dyn Host,
    name: &str,
    script: &str,
    env: Vec<(String, String)>,
    cwd: PathBuf,
) -> Result<(), HookError> {
    let what = format!("its {name} hook `{script}`");
    match run_script(host, script, env, cwd, HOOK_TIMEOUT).await {
        Ok(finished) => match finished.failure(&what) {
            None => Ok(()),
            Some(message) => Err(HookError::Failed(message)),
        },
        Err(error) => Err(HookError::Hook { what, error: Box::new(error) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::LocalHost;

    #[tokio::test]
    async fn a_failing_script_says_how_it_ended_with_the_tail_of_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let host = LocalHost::new();
        let script = "for i in $(seq 1 40); do echo line $i; done; echo oops >&2; exit 3";
        let done = run_script(&host, script, vec![], dir.path().to_path_buf(), HOOK_TIMEOUT).await.unwrap();
        assert_eq!(done.exit.code, Some(3));
        let message = done.failure("its before_run hook `x`").unwrap();
        assert!(message.starts_with("its before_run hook `x` exited with status 3 (the last 30 lines of its output):"), "{message}");
        assert!(message.ends_with("\n  | line 40\n  | oops"), "{message}");
        assert!(!message.contains("| line 11\n"), "{message}");
    }

    #[tokio::test]
    async fn a_hook_runs_in_its_directory_with_its_env_and_passes() {
        let dir = tempfile::tempdir().unwrap();
        let host = LocalHost::new();
        let env = vec![("TEST_ENV_NUMBER".to_string(), "2".to_string())];
        run_hook(&host, "before_slot", "echo \"$TEST_ENV_NUMBER\" > slot.txt", env, dir.path().to_path_buf()).await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("slot.txt")).unwrap(), "2\n");
    }

    #[tokio::test]
    async fn a_hook_past_its_limit_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let host = LocalHost::new();
        let err = run_script(&host, "sleep 30", vec![], dir.path().to_path_buf(), Duration::from_millis(200)).await.unwrap_err();
        assert!(err.to_string().contains("did not finish within 0 s"), "{err}");
    }
}
