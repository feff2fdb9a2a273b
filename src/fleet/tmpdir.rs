//! Per-slot temporary directories: every slot's runner gets its own TMPDIR, so suites that
//! write temp files under fixed names do not collide across the slots of one host.
//!
//! The directory is `<run's tmp dir>/slot-<N>` (N the slot's number on its host), outside the
//! project's copy and on no hidden path: a suite that finds the project's config from its temp files (a
//! `.rubocop.yml` above them), prints their paths relative to the project, or skips
//! dot-directories sees on a host what it sees on this machine. On this machine the run's tmp
//! dir is `<the run's support dir>/tmp` (a private directory under the system's temporary
//! directory, removed when the run ends). On an SSH host it is a private directory (0700, made
//! where Ruby's `Dir.mktmpdir` would make it, under the host's own temporary directory, never
//! through a link planted there) held by a keeper process for the run: when the keeper ends — at
//! the run's end, or killed by its watchdog when testbot or the connection goes — a reaper it
//! started in a process group of its own (out of the reach of the watchdog's group kill) removes
//! the directory.
//! The keeper that also leases the host's slots makes their folders; the runner's command makes
//! its folder where it is missing, and makes the path absolute, before Ruby starts
//! (`HostCommand::making_tmpdir`).
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
/// runs no `nproc` of its own) and the directory, and sleeps until it is killed.
///
/// The directory is made where `Dir.mktmpdir` makes it, with `Dir.tmpdir`'s checks (`TMPDIR`,
/// `TMP`, `TEMP`, the system's, `/tmp`, `.`: the first that is a directory the user can write
/// and, if anyone can, sticky; an empty value is skipped) but without `require "tmpdir"`, which
/// loads `fileutils` (7 of this Ruby's 16 ms of CPU, on every host of every run). `Dir.mkdir`
/// of a random name, mode 0700, never follows a link planted there: a name taken is tried again.
///
/// The reaper is a shell (`sh`, spawned: a forked Ruby cost 4 ms more) in a process group of
/// its own, out of the reach of the watchdog's group kill, before the directory is printed (the
/// keeper makes it the group's leader too, so it is one even if `spawn` returned before the
/// child's own `setpgid`). It reads a pipe whose other end only the keeper holds: when the
/// keeper ends, however, it removes the directory. Its standard streams are not the channel's:
/// the SSH channel must not wait for it.
const KEEPER: &str = r#"
require "etc"
tmp = [ENV["TMPDIR"], ENV["TMP"], ENV["TEMP"], (Etc.systmpdir rescue nil), "/tmp", "."].compact.reject(&:empty?).map { |d| File.expand_path(d) }.find do |d|
  st = File.stat(d) rescue next
  st.directory? && st.writable? && (!st.world_writable? || st.sticky?)
end or abort("could not find a temporary directory")
day = Time.now.strftime("%Y%m%d")
dir = begin
  path = File.join(tmp, "testbot-run-#{day}-#{$$}-#{rand(36**6).to_s(36)}")
  Dir.mkdir(path, 0o700)
  path
rescue Errno::EEXIST
  retry
end
# Runners killed at the same moment may still be writing for a moment: up to 5 tries.
reap = 'while read -r line; do :; done; n=0; while rm -rf -- "$1"; [ -e "$1" ] || [ -L "$1" ]; do n=$((n + 1)); [ $n -lt 5 ] || exit 1; sleep 1; done'
r, w = IO.pipe
begin
  reaper = Process.spawn("sh", "-c", reap, "testbot-reaper", dir, in: r, out: File::NULL, err: File::NULL, pgroup: true, close_others: true)
  begin
    Process.setpgid(reaper, reaper)
  rescue Errno::EACCES
    # It runs `sh` already, which it did only once it led a group of its own.
  end
rescue StandardError
  Dir.rmdir(dir)
  raise
end
r.close
STDOUT.print "testbot-cores #{(Etc.nprocessors rescue 0)}\ntestbot-tmpdir #{dir}\n"
STDOUT.flush
sleep
"#;

/// What the lease script calls, in the keeper's process, with the numbers of the slots it took:
/// each one's folder (`with_slot_tmpdir`'s name) made in the run directory, so that a slot's
/// first batch finds its TMPDIR there and runs no `mkdir` (a fork and an exec before its runner,
/// docs/benchmarks.md, session 32). One that could not be made is made by the batch.
const SLOT_DIRS: &str = r#"slot_dirs = ->(held) { held.each { |n| Dir.mkdir(File.join(dir, "slot-#{n}")) rescue nil } }
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
/// directory goes with it (the host is left out). Before it answers, the lease script makes the
/// folder of each slot it took (`SLOT_DIRS`).
pub async fn keep_run_dir_leasing(host: &dyn Host, identity: &str, count: usize) -> Result<(RunTmpDir, Result<Lease, LeaseError>), TmpDirError> {
    let (process, read, seen) = start_reading(host, leasing_argv(identity, count), PathBuf::new(), |seen| Some((dir_in(seen)?, super::lease::answered(seen)?))).await?;
    match read {
        Until::Found((path, lease)) => Ok((RunTmpDir { path, cores: cores_in(&seen), _keeper: process }, lease)),
        Until::Ended => match dir_in(&seen) {
            Some(path) => Ok((RunTmpDir { path, cores: cores_in(&seen), _keeper: process }, Err(LeaseError::Failed(seen.trim().to_string())))),
            None => Err(TmpDirError::Failed(seen.trim().to_string())),
        },
        Until::TimedOut => Err(TmpDirError::TimedOut),
    }
}

/// `keep_run_dir_leasing`'s command: `ruby -e SCRIPT` and the lease script's arguments.
fn leasing_argv(identity: &str, count: usize) -> Vec<String> {
    let (lease_script, args) = super::lease::script_now(identity, count);
    let head = KEEPER.trim_end().strip_suffix("sleep").expect("the keeper ends with its sleep");
    let mut argv = vec!["ruby".to_string(), "--disable-gems".to_string(), "-e".to_string(), format!("{head}{SLOT_DIRS}{lease_script}")];
    argv.extend(args);
    argv
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

/// Adds `TMPDIR` for the slot numbered `number` on its host (TEST_ENV_NUMBER's number; every host
/// has a run directory of its own), in the run's tmp dir `run_dir`, unless `[project] env`
/// already sets one.
pub fn with_slot_tmpdir(env: Vec<(String, String)>, run_dir: &str, number: usize) -> Vec<(String, String)> {
    with_tmpdir(env, run_dir, &format!("slot-{number}"))
}

/// The same for a process of the host's own (its fork server): `NAME`, a folder no slot uses.
pub fn with_tmpdir(mut env: Vec<(String, String)>, run_dir: &str, name: &str) -> Vec<(String, String)> {
    if !env.iter().any(|(k, _)| k == "TMPDIR") {
        env.push(("TMPDIR".to_string(), format!("{}/{name}", run_dir.trim_end_matches('/'))));
    }
    env
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
        assert!(gone_within(&path, Duration::from_secs(20)), "{path} outlived its keeper");
    }

    /// Starts the keeper here in a process group of its own (as sshd starts a command) with
    /// `env` added: the group, and the directory it printed.
    fn keeper_here(env: &[(&str, &std::path::Path)]) -> (std::process::Child, String) {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("ruby")
            .args(["--disable-gems", "-e", KEEPER])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
        let dir = lines.filter_map(|l| l.strip_prefix("testbot-tmpdir ").map(str::to_string)).next().expect("the directory");
        (child, dir)
    }

    /// The keeper that leases the slots made the folder of each slot it took before it said
    /// so (and, with the directory, they go when it does); a slot another run holds gets none.
    #[test]
    fn the_leasing_keeper_makes_the_folders_of_the_slots_it_took() {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        use std::os::unix::fs::PermissionsExt;
        let (base, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Root's and sticky, as the lease script wants its base (/tmp) to be.
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let mut argv = leasing_argv("SHA256:test+key/1", 3);
        assert_eq!(argv[4], "/tmp", "the lease script's base");
        argv[4] = base.path().to_str().unwrap().to_string();
        let spawn = |argv: &[String]| {
            let mut child = Command::new(&argv[0]).args(&argv[1..]).env("TMPDIR", tmp.path()).process_group(0).stdout(std::process::Stdio::piped()).spawn().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
            let dir = lines.by_ref().find_map(|l| l.strip_prefix("testbot-tmpdir ").map(str::to_string)).expect("the directory");
            let lease = lines.find(|l| l.starts_with("testbot-lease")).expect("the lease");
            (child, dir, lease)
        };
        // Another run holds slot 1 (the lease script alone: no folders to make).
        let (lease_only, lease_args) = crate::fleet::lease::script_now("SHA256:test+key/1", 1);
        let mut other = Command::new("ruby").args(["--disable-gems", "-e", lease_only, argv[4].as_str()]).args(&lease_args[1..]).process_group(0).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let held = BufReader::new(other.stdout.take().unwrap()).lines().map_while(Result::ok).find(|l| l.starts_with("testbot-lease")).unwrap();
        assert_eq!(held, "testbot-lease 1");
        let (mut keeper, dir, lease) = spawn(&argv);
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(lease, "testbot-lease 2 3");
        let mut made: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        made.sort();
        assert_eq!(made, ["slot-2", "slot-3"]);
        assert_eq!(with_slot_tmpdir(vec![], &dir, 2)[0].1, format!("{dir}/slot-2"), "the name the slots' TMPDIRs have");
        unsafe { libc::kill(-i32::try_from(keeper.id()).unwrap(), libc::SIGKILL) };
        let _ = keeper.wait();
        assert!(gone_within(&dir, Duration::from_secs(10)), "{dir} outlived its keeper");
    }

    fn gone_within(path: &str, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::fs::symlink_metadata(path).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::symlink_metadata(path).is_err()
    }

    #[test]
    fn the_run_directory_skips_a_temporary_directory_anyone_may_change_or_that_is_none() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        let own = base.path().join("own");
        std::fs::create_dir(&own).unwrap();
        // TMPDIR world-writable without the sticky bit, TMP a file: TEMP is where it goes.
        let (mut keeper, dir) = keeper_here(&[("TMPDIR", &open), ("TMP", &file), ("TEMP", &own)]);
        let made = std::path::Path::new(&dir);
        assert_eq!(made.parent(), Some(own.as_path()), "{dir}");
        assert_eq!(std::fs::symlink_metadata(made).unwrap().permissions().mode() & 0o7777, 0o700, "{dir}");
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
        let _ = keeper.kill();
        let _ = keeper.wait();
        assert!(gone_within(&dir, Duration::from_secs(10)), "{dir} outlived its keeper");
        // With the sticky bit, anyone's directory is fine (it is what /tmp is).
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (mut keeper, dir) = keeper_here(&[("TMPDIR", &open)]);
        assert_eq!(std::path::Path::new(&dir).parent(), Some(open.as_path()), "{dir}");
        let _ = keeper.kill();
        let _ = keeper.wait();
        assert!(gone_within(&dir, Duration::from_secs(10)), "{dir} outlived its keeper");
    }

    #[test]
    fn the_reaper_outlives_a_kill_of_the_keepers_process_group() {
        let base = tempfile::tempdir().unwrap();
        let (mut keeper, dir) = keeper_here(&[("TMPDIR", base.path())]);
        std::fs::create_dir_all(format!("{dir}/slot-1/deep")).unwrap();
        std::fs::write(format!("{dir}/slot-1/deep/f"), "x").unwrap();
        // What the watchdog does when the channel closes: SIGKILL to the command's whole group.
        let group = i32::try_from(keeper.id()).unwrap();
        assert_eq!(unsafe { libc::kill(-group, libc::SIGKILL) }, 0);
        let _ = keeper.wait();
        assert!(gone_within(&dir, Duration::from_secs(10)), "{dir} outlived its keeper's group");
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
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
}
