//! Per-slot temporary directories: every slot's runner gets its own TMPDIR, so suites that
//! write temp files under fixed names do not collide across the slots of one host.
//!
//! The directory is `<run's tmp dir>/slot-<N>` (N unique in the run), outside the project's
//! copy and on no hidden path: a suite that finds the project's config from its temp files (a
//! `.rubocop.yml` above them), prints their paths relative to the project, or skips
//! dot-directories sees on a host what it sees on this machine. On this machine the run's tmp
//! dir is `<the run's support dir>/tmp` (a private directory under the system's temporary
//! directory, removed when the run ends). On an SSH host it is a private directory (0700, made
//! by Ruby's `Dir.mktmpdir` under the host's own temporary directory, never through a link
//! planted there) held by a keeper process for the run: when the keeper ends — at the run's
//! end, or killed by its watchdog when testbot or the connection goes — a reaper it forked into
//! a session of its own (out of the reach of the watchdog's group kill) removes the directory.
//! The runner's command creates the slot's folder and makes it absolute before Ruby starts.
//! A host's fork server gets `fork-server`: it is no slot's, and slot 0's files must not meet it.

use super::lease::Lease;
use super::LeaseError;
use crate::ssh::{Host, HostCommand, HostError, Output, Process, Until};
use std::path::PathBuf;
use std::time::Duration;

/// What the keeper prints once the directory exists: the marker, a space, the path.
const MARKER: &str = "testbot-tmpdir";
/// How long making the directory may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes the run's directory, prints the host's cores (so that a host with a number of slots
/// runs no `nproc` of its own) and the directory (once the reaper is in a session of its own),
/// and sleeps until it is killed; the reaper waits for the keeper's end of a pipe to close (the
/// keeper died, however) and removes the directory.
/// The reaper's standard streams go to /dev/null: the SSH channel must not wait for it.
const KEEPER: &str = r#"
require "tmpdir"
require "etc"
dir = Dir.mktmpdir("testbot-run-")
r, w = IO.pipe
settled_r, settled_w = IO.pipe
reaper = fork do
  Process.setsid
  w.close
  settled_r.close
  [STDIN, STDOUT, STDERR].each { |io| io.reopen(File::NULL, io.equal?(STDIN) ? "r" : "w") }
  settled_w.close
  require "fileutils"
  begin
    r.read
  rescue StandardError
  end
  # Runners killed at the same moment may still be writing for a moment.
  5.times do
    FileUtils.rm_rf(dir)
    break unless File.exist?(dir)
    sleep 0.5
  end
  exit!(0)
end
r.close
settled_w.close
# Out of the keeper's process group before anyone can kill that group.
settled_r.read
Process.detach(reaper)
STDOUT.print "testbot-cores #{(Etc.nprocessors rescue 0)}\ntestbot-tmpdir #{dir}\n"
STDOUT.flush
sleep
"#;

/// A host's directory for the run's temporary files, and the process that holds it: dropping
/// it ends the keeper, and the directory is removed.
pub struct RunTmpDir {
    pub path: String,
    /// The host's cores, as its Ruby counts them (`Etc.nprocessors`, what `nproc` says), if it could.
    pub cores: Option<usize>,
    _keeper: Process,
}

/// Why a host's run directory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TmpDirError {
    #[error("{}", crate::error_chain::chain(.0))]
    Start(HostError),
    /// The keeper ended first: what it printed.
    #[error("could not make its temporary directory: {0}")]
    Failed(String),
    #[error("making its temporary directory timed out")]
    TimedOut,
}

/// The run directory and the slot leases from one Ruby (one command and one Ruby's start a host
/// fewer): the keeper, then, in the same process, the lease script (`lease::script_now`, for
/// `count` slots of the host whose key is `identity`), whose `sleep` holds both. Its answer
/// comes as `keep_run_dir`'s and `lease`'s would; a lease refused ends the process, and the
/// directory goes with it (the host is left out).
pub async fn keep_run_dir_leasing(host: &dyn Host, identity: &str, count: usize) -> Result<(RunTmpDir, Result<Lease, LeaseError>), TmpDirError> {
    let (lease_script, args) = super::lease::script_now(identity, count);
    let head = KEEPER.trim_end().strip_suffix("sleep").expect("the keeper ends with its sleep");
    let mut argv = vec!["ruby".to_string(), "--disable-gems".to_string(), "-e".to_string(), format!("{head}{lease_script}")];
    argv.extend(args);
    let (process, read, seen) = start_reading(host, argv, PathBuf::new(), |seen| Some((dir_in(seen)?, super::lease::answered(seen)?))).await?;
    match read {
        Until::Found((path, lease)) => Ok((RunTmpDir { path, cores: cores_in(&seen), _keeper: process }, lease)),
        Until::Ended => match dir_in(&seen) {
            Some(path) => Ok((RunTmpDir { path, cores: cores_in(&seen), _keeper: process }, Err(LeaseError::Failed(seen.trim().to_string())))),
            None => Err(TmpDirError::Failed(seen.trim().to_string())),
        },
        Until::TimedOut => Err(TmpDirError::TimedOut),
    }
}

/// Starts `argv` in `workdir` and reads its output until `found` finds what it waits for in all
/// of it so far: the process, how the reading ended, and the output read.
async fn start_reading<T>(
    host: &dyn Host,
    argv: Vec<String>,
    workdir: PathBuf,
    found: impl Fn(&str) -> Option<T>,
) -> Result<(Process, Until<T>, String), TmpDirError> {
    let mut process = host.spawn(HostCommand::new(argv, Vec::new(), workdir)).await.map_err(TmpDirError::Start)?;
    let mut seen = String::new();
    let read = process
        .read_until(Some(START_TIMEOUT), |chunk| {
            let (Output::Stdout(bytes) | Output::Stderr(bytes) | Output::Events(bytes)) = chunk;
            seen.push_str(&String::from_utf8_lossy(bytes));
            found(&seen)
        })
        .await;
    Ok((process, read, seen))
}

/// The run directory the keeper printed in `seen`, if it has.
fn dir_in(seen: &str) -> Option<String> {
    let line = seen.lines().find(|l| l.starts_with(&format!("{MARKER} /")))?;
    Some(line[MARKER.len() + 1..].to_string())
}

/// The cores the keeper printed in `seen` (before its directory), if it could count them.
fn cores_in(seen: &str) -> Option<usize> {
    seen.lines().find_map(|l| l.strip_prefix("testbot-cores ")?.trim().parse().ok()).filter(|&n| n > 0)
}

/// Starts the keeper of `host`'s run directory (see the module docs).
pub async fn keep_run_dir(host: &dyn Host, workdir: PathBuf) -> Result<RunTmpDir, TmpDirError> {
    let argv = ["ruby", "--disable-gems", "-e", KEEPER].map(String::from).to_vec();
    let (process, read, seen) = start_reading(host, argv, workdir, dir_in).await?;
    match read {
        Until::Found(path) => Ok(RunTmpDir { path, cores: cores_in(&seen), _keeper: process }),
        Until::Ended => Err(TmpDirError::Failed(seen.trim().to_string())),
        Until::TimedOut => Err(TmpDirError::TimedOut),
    }
}

/// The run's tmp dir on a host without a keeper (this machine): beside the support files.
pub fn beside_support(support_dir: &str) -> String {
    let base = support_dir.strip_prefix("./").unwrap_or(support_dir).trim_end_matches('/');
    format!("{base}/tmp")
}

/// Adds `TMPDIR` for slot `slot_id`, in the run's tmp dir `run_dir`, unless `[project] env`
/// already sets one.
pub fn with_slot_tmpdir(env: Vec<(String, String)>, run_dir: &str, slot_id: usize) -> Vec<(String, String)> {
    with_tmpdir(env, run_dir, &format!("slot-{slot_id}"))
}

/// The same for a process of the host's own (its fork server): `NAME`, a folder no slot uses.
pub fn with_tmpdir(mut env: Vec<(String, String)>, run_dir: &str, name: &str) -> Vec<(String, String)> {
    if !env.iter().any(|(k, _)| k == "TMPDIR") {
        env.push(("TMPDIR".to_string(), format!("{}/{name}", run_dir.trim_end_matches('/'))));
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
    fn the_run_directory_is_private_not_hidden_and_gone_when_its_keeper_is() {
        use std::os::unix::fs::PermissionsExt;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let (path, mode) = runtime.block_on(async {
            let host = crate::ssh::LocalHost::new();
            let dir = keep_run_dir(&host, PathBuf::new()).await.expect("a run directory");
            assert_eq!(dir.cores, std::thread::available_parallelism().ok().map(usize::from), "the host's cores");
            let mode = std::fs::metadata(&dir.path).unwrap().permissions().mode() & 0o777;
            std::fs::create_dir_all(format!("{}/slot-1/deep", dir.path)).unwrap();
            std::fs::write(format!("{}/slot-1/deep/f", dir.path), "x").unwrap();
            (dir.path.clone(), mode)
        });
        assert_eq!(mode, 0o700, "{path}");
        assert!(std::path::Path::new(&path).file_name().unwrap().to_string_lossy().starts_with("testbot-run-"), "{path}");
        assert!(!path.split('/').any(|c| c.starts_with('.')), "{path}");
        // The keeper went with the runtime; its reaper removes the directory.
        drop(runtime);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::path::Path::new(&path).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!std::path::Path::new(&path).exists(), "{path} outlived its keeper");
    }

    #[test]
    fn tmpdir_per_slot_unless_the_project_sets_one() {
        let env = with_slot_tmpdir(vec![], &beside_support("/tmp/testbot-x/"), 3);
        assert_eq!(env, [("TMPDIR".to_string(), "/tmp/testbot-x/tmp/slot-3".to_string())]);
        let env = with_slot_tmpdir(vec![], "/tmp/testbot-run-20261206-1-x/", 1);
        assert_eq!(env[0].1, "/tmp/testbot-run-20261206-1-x/slot-1");
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
