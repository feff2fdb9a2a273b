//! Slot leases: several testbot runs (other users, other checkouts) sharing SSH hosts never run
//! more batches on a host than its slots. Each slot is two lock files on the host, whose `flock`s
//! a run holds in one small process there for as long as it runs (it dies with the run, or with
//! the connection if testbot dies, and the kernel releases the locks):
//!
//! - the user's own, `/tmp/testbot-slots-<uid>/<host key>/slot-N.lock`, in a directory only that
//!   user can change (checked: theirs, mode 0700, no link on the way, in root's sticky `/tmp`):
//!   one user's runs never share a slot, whatever other users do. A host where it cannot be
//!   taken safely is left out of the run, with the path, its owner and mode;
//! - the machine's, `/tmp/testbot-slots/<host key>/slot-N.lock`, in a directory every user can
//!   use (sticky): runs of different users keep apart as long as they all play along. Anyone who
//!   owns that directory can break this (rename it, remove their lock files), so it is taken only
//!   when its directories are sticky or root's (or the user's) and writable by their owner only,
//!   never through a link; when it cannot be, the run keeps its own leases and says so.
//!
//! On a host with a number of slots that process is the run directory's keeper, which runs this
//! script after making the directory (`tmpdir::keep_run_dir_leasing`): one Ruby a host, started
//! beside the sync.
//!
//! The lock files are opened without following links (`O_NOFOLLOW`, `O_NONBLOCK` for a planted
//! FIFO) and checked to be regular files (the user's own: theirs); each directory is entered
//! after `lstat` and checked to be the one entered, so nothing can be swapped in between.

use super::{HostFailure, LeaseError, LeftOut};
use super::PreparedHost;
use crate::ssh::{Host, HostCommand, Output, Process, Until};
use std::path::PathBuf;
use std::time::Duration;

/// Where every host keeps the lease directories: a root-owned sticky directory.
const LEASE_BASE: &str = "/tmp";
/// How long taking free slots may take (waiting for one is not limited).
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);
const MARKER: &str = "testbot-lease";

/// Takes the free ones of slots 1..=count (with `wait`, first waits for slot 1 when none is
/// free), prints `testbot-lease N M …` and keeps the locks until it is killed. A slot is taken
/// when both its locks are: the user's own, then the machine's. Prints
/// `testbot-lease-refused WHY` (and ends) when the user's own cannot be taken safely, and
/// `testbot-lease-shared WHY` when the machine's cannot (its own still keep the user's runs apart).
const SCRIPT: &str = r##"
require "etc"
base, key, count, wait = ARGV[0], ARGV[1], ARGV[2].to_i, ARGV[3] == "wait"
# Where /tmp is a link (macOS: /private/tmp), root's link: what it points to is checked.
base = File.realpath(base)
STDOUT.sync = true
me = Process.euid
Unsafe = Class.new(StandardError)
who = ->(uid) { (Etc.getpwuid(uid).name rescue "uid #{uid}") }
what = lambda do |path, st|
  kind = st.symlink? ? "a symlink" : st.directory? ? "a directory" : st.file? ? "a file" : "a special file"
  "#{path} is #{kind} owned by #{who.(st.uid)} (uid #{st.uid}) with mode #{format("%04o", st.mode & 0o7777)}"
end
short = ->(e) { e.message.sub(/ @ .*/m, "") }
# Enters `dir` (relative to the current directory, checked already), made with `mode` when
# absent, if `ok` accepts it as lstat sees it (never a link) and it is the directory entered.
enter = lambda do |dir, shown, mode, need, ok|
  made = begin
    Dir.mkdir(dir, 0o700)
    true
  rescue Errno::EEXIST
    false
  end
  st = File.lstat(dir)
  Dir.chdir(dir) if st.directory?
  here = File.stat(".")
  raise Unsafe, "#{what.(shown, st)}; it must be #{need}" unless st.directory? && [here.dev, here.ino] == [st.dev, st.ino] && ok.(st)
  File.chmod(mode, ".") if made
rescue SystemCallError => e
  raise Unsafe, "cannot use #{shown}: #{short.(e)}"
end
# Opens lock file `name` in the current directory without following a link or blocking on a
# FIFO; it must be a regular file (and, `own`, the user's).
open_lock = lambda do |name, shown, own|
  flags = File::RDONLY | File::NOFOLLOW | File::NONBLOCK
  f = begin
    File.open(name, flags)
  rescue Errno::ENOENT
    begin
      File.open(name, flags | File::CREAT | File::EXCL, own ? 0o600 : 0o644)
    rescue Errno::EEXIST
      File.open(name, flags)
    end
  end
  st = f.stat
  raise Unsafe, "#{what.(shown, st)}; it must be a regular file#{own ? " of yours" : ""}" unless st.file? && (!own || st.uid == me)
  f
rescue Errno::ELOOP
  raise Unsafe, "#{shown} is a symlink; it must be a regular file"
rescue SystemCallError => e
  raise Unsafe, "cannot open #{shown}: #{short.(e)}"
end
locks = lambda do |dirs, own|
  Dir.chdir("/")
  enter.(base.delete_prefix("/"), base, nil, "root's, with the sticky bit", ->(st) { st.uid == 0 && st.sticky? })
  path = base
  dirs.each do |dir, mode, need, ok|
    path = "#{path}/#{dir}"
    enter.(dir, path, mode, need, ok)
  end
  (1..count).to_h { |n| [n, open_lock.("slot-#{n}.lock", "#{path}/slot-#{n}.lock", own)] }
end
mine_ok = ->(st) { st.uid == me && st.mode & 0o077 == 0 }
mine_need = "a directory of yours with mode 0700"
mine = begin
  locks.([["testbot-slots-#{me}", 0o700, mine_need, mine_ok], [key, 0o700, mine_need, mine_ok]], true)
rescue Unsafe => e
  puts "testbot-lease-refused #{e.message}"
  exit 1
end
shared_ok = ->(st) { st.sticky? || ([0, me].include?(st.uid) && st.mode & 0o022 == 0) }
shared_need = "a directory with the sticky bit, or root's or yours and writable only by its owner"
shared = begin
  locks.([["testbot-slots", 0o1777, shared_need, shared_ok], [key, 0o1777, shared_need, shared_ok]], false)
rescue Unsafe => e
  puts "testbot-lease-shared #{e.message}"
  nil
end
take = lambda do |n, how|
  return false unless mine[n].flock(how)
  return true if shared.nil? || shared[n].flock(how)
  mine[n].flock(File::LOCK_UN)
  false
end
held = (1..count).select { |n| take.(n, File::LOCK_EX | File::LOCK_NB) }
if held.empty? && wait
  puts "testbot-lease-wait"
  held << 1 if take.(1, File::LOCK_EX)
  held.concat((2..count).select { |n| take.(n, File::LOCK_EX | File::LOCK_NB) })
end
# The run directory's keeper, when this process is also that (tmpdir.rs), makes the slots' folders.
slot_dirs.(held) if defined?(slot_dirs)
puts "testbot-lease #{held.join(' ')}"
sleep
"##;

/// Slots held on one host; dropping it gives them back.
pub struct Lease {
    /// The slot numbers held (1-based; a runner's TEST_ENV_NUMBER derives from its number).
    pub slots: Vec<usize>,
    /// Why the machine's leases (other users') could not be taken, if they could not.
    pub shared_problem: Option<String>,
    /// The process that holds the locks; None: the run directory's keeper holds them
    /// (`tmpdir::keep_run_dir_leasing`), and they go with it.
    _holder: Option<Process>,
}

/// The lease directories' name for a host: the first 20 letters and digits of its host key's
/// SHA-256 fingerprint (one per machine, whichever account reaches it).
fn lease_key(identity: &str) -> String {
    identity.trim_start_matches("SHA256:").chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect()
}

/// The lease script (it holds the locks with its last `sleep`) and its arguments, to take the
/// free ones of `count` slots now, for a host whose host key is `identity`.
pub(super) fn script_now(identity: &str, count: usize) -> (&'static str, Vec<String>) {
    (SCRIPT, vec![LEASE_BASE.to_string(), lease_key(identity), count.to_string()])
}

/// What the lease script said in `seen` (output that may hold other lines first), once a whole
/// answer has arrived: the lease (its locks held by the process that printed it), or why not.
pub(super) fn answered(seen: &str) -> Option<Result<Lease, LeaseError>> {
    Some(granted(answer(seen)?, None))
}

/// The lease the script's `answer` grants, its locks held by `holder` (None: by the process
/// that also keeps the run directory), or why not.
fn granted(answer: Answer, holder: Option<Process>) -> Result<Lease, LeaseError> {
    match answer {
        Answer::Slots { slots, shared_problem } => Ok(Lease { slots, shared_problem, _holder: holder }),
        Answer::Refused(why) => Err(LeaseError::Unsafe(why)),
    }
}

/// What the lease script said, once it said it.
enum Answer {
    Slots { slots: Vec<usize>, shared_problem: Option<String> },
    Refused(String),
}

/// The script's answer in `seen`, if a whole line of it has arrived.
fn answer(seen: &str) -> Option<Answer> {
    // Only whole lines: a chunk may end inside one.
    let complete = &seen[..seen.rfind('\n')? + 1];
    let value = |prefix: &str| complete.lines().find_map(|l| l.strip_prefix(prefix)).map(str::to_string);
    if let Some(why) = value("testbot-lease-refused ") {
        return Some(Answer::Refused(why));
    }
    let line = complete.lines().find(|l| l.starts_with(&format!("{MARKER} ")) || *l == MARKER)?;
    let slots = line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    Some(Answer::Slots { slots, shared_problem: value("testbot-lease-shared ") })
}

/// Whether a lease takes the slots free now (none, when all are taken) or waits for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Take {
    FreeNow,
    /// Blocks until at least one slot is free: no time limit.
    WaitForOne,
}

/// Leases up to `count` slots of `host`.
async fn lease(host: &dyn Host, identity: &str, workdir: PathBuf, count: usize, take: Take) -> Result<Lease, LeaseError> {
    let (script, args) = script_now(identity, count);
    let mut argv: Vec<String> = ["ruby", "--disable-gems", "-e", script].map(String::from).to_vec();
    argv.extend(args);
    if take == Take::WaitForOne {
        argv.push("wait".into());
    }
    let mut process = host.spawn(HostCommand::new(argv, Vec::new(), workdir)).await.map_err(LeaseError::Start)?;
    let mut seen = String::new();
    let limit = (take == Take::FreeNow).then_some(LEASE_TIMEOUT);
    let read = process
        .read_until(limit, |chunk| {
            let (Output::Stdout(bytes) | Output::Stderr(bytes) | Output::Events(bytes)) = chunk;
            seen.push_str(&String::from_utf8_lossy(bytes));
            answer(&seen)
        })
        .await;
    match read {
        Until::Found(answer) => granted(answer, Some(process)),
        Until::Ended => Err(LeaseError::Failed(seen.trim().to_string())),
        Until::TimedOut => Err(LeaseError::TimedOut),
    }
}

/// What leasing did to the run's hosts, for the reporter.
pub struct Leased {
    pub hosts: Vec<PreparedHost>,
    pub leases: Vec<Lease>,
    /// Hosts that run on fewer slots or wait for one, and why.
    pub notes: Vec<String>,
    /// Hosts left out: every slot taken by other runs, or leases that could not be taken (safely).
    pub failures: Vec<LeftOut>,
}

/// Leases every SSH host's slots at once. A host with some slots taken by other runs runs on
/// the rest; one with none is left out; when no host at all has a free slot (and there are no
/// local slots), the run waits for the first slot to free up anywhere (`wait`; else they are
/// left out: a host that joins a run that has slots of its own). A host whose leases cannot be
/// taken (safely) is left out: it never runs unleased.
pub async fn lease_all(hosts: Vec<PreparedHost>, wait: bool) -> Leased {
    let (mut leased, mut full) = take_free(hosts).await;
    if wait && leased.hosts.is_empty() && !full.is_empty() {
        let names: Vec<&str> = full.iter().map(|h| h.host.name()).collect();
        leased.notes.push(format!("every slot of {} is in use by other testbot runs: waiting for one to free up", names.join(", ")));
        let waits = full.iter().enumerate().map(|(at, h)| {
            let id = h.host.identity().unwrap_or_default();
            Box::pin(async move { lease(&*h.host, &id, h.workdir.clone(), h.slots, Take::WaitForOne).await.map(|l| (at, l)) })
        });
        let first = futures::future::select_ok(waits).await.map(|(won, _others)| won);
        if let Ok((at, lease)) = first {
            let mut host = full.swap_remove(at);
            leased.notes.push(format!("host `{}`: running on slots {}", host.host.name(), list(&lease.slots)));
            leased.notes.extend(shared_note(&host, &lease));
            host.slots = lease.slots.len();
            host.slot_numbers = lease.slots.clone();
            leased.leases.push(lease);
            leased.hosts.push(host);
        }
    }
    for host in &full {
        leased.failures.push(LeftOut::new(host.host.name(), HostFailure::SlotsInUse { slots: host.slots }));
    }
    leased
}

/// The free slots of every host, taken at once (none waits): the hosts leased, with what the
/// reporter says of them, and apart those whose every slot other testbot runs hold.
pub async fn take_free(hosts: Vec<PreparedHost>) -> (Leased, Vec<PreparedHost>) {
    let attempts = hosts.iter().map(|h| async move {
        match h.host.identity() {
            Some(id) => Some(lease(&*h.host, &id, h.workdir.clone(), h.slots, Take::FreeNow).await),
            None => None,
        }
    });
    let results = futures::future::join_all(attempts).await;
    settle(hosts.into_iter().zip(results).collect())
}

/// The hosts as their leases of the free slots came out (None: a host with no leases, this
/// machine), as `take_free` returns them.
pub fn settle(taken: Vec<(PreparedHost, Option<Result<Lease, LeaseError>>)>) -> (Leased, Vec<PreparedHost>) {
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut kept = Vec::new();
    let mut leases = Vec::new();
    let mut full = Vec::new();
    for (mut host, result) in taken {
        match result {
            None => kept.push(host),
            Some(Err(why)) => failures.push(LeftOut::new(host.host.name(), HostFailure::Lease(why))),
            Some(Ok(lease)) if lease.slots.is_empty() => full.push(host),
            Some(Ok(lease)) => {
                if lease.slots.len() < host.slots {
                    notes.push(format!(
                        "host `{}`: {} of its {} slots are in use by other testbot runs; running on slots {}",
                        host.host.name(),
                        host.slots - lease.slots.len(),
                        host.slots,
                        list(&lease.slots)
                    ));
                }
                notes.extend(shared_note(&host, &lease));
                host.slots = lease.slots.len();
                host.slot_numbers = lease.slots.clone();
                leases.push(lease);
                kept.push(host);
            }
        }
    }
    (Leased { hosts: kept, leases, notes, failures }, full)
}

/// The warning for a host whose machine-wide leases could not be taken, if they could not.
fn shared_note(host: &PreparedHost, lease: &Lease) -> Option<String> {
    lease.shared_problem.as_ref().map(|why| {
        format!(
            "host `{}`: other users' testbot runs may use its slots at the same time as this run (your own runs still \
             keep apart): {why}; its owner (or root) can remove it",
            host.host.name()
        )
    })
}

fn list(slots: &[usize]) -> String {
    slots.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// Runs the lease script here with `base` as its `/tmp`, for 2 slots: its lines up to its
    /// answer (then it is killed, giving the locks back).
    fn lease_here(base: &Path) -> Vec<String> {
        let mut child = Command::new("ruby")
            .args(["--disable-gems", "-e", SCRIPT, base.to_str().unwrap(), "KEY", "2"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.starts_with("testbot-lease ") || line.starts_with("testbot-lease-refused");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        lines
    }

    fn sticky_base() -> tempfile::TempDir {
        let base = tempfile::tempdir().unwrap();
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        base
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_lease_takes_the_users_own_lock_and_the_machines() {
        let base = sticky_base();
        assert_eq!(lease_here(base.path()), ["testbot-lease 1 2"]);
        let me = unsafe { libc::geteuid() };
        let own = base.path().join(format!("testbot-slots-{me}"));
        assert_eq!((mode(&own), mode(&own.join("KEY")), mode(&own.join("KEY/slot-1.lock"))), (0o700, 0o700, 0o600));
        let shared = base.path().join("testbot-slots");
        assert_eq!((mode(&shared), mode(&shared.join("KEY")), mode(&shared.join("KEY/slot-2.lock"))), (0o1777, 0o1777, 0o644));
    }

    #[test]
    fn a_planted_link_or_another_users_directory_is_refused() {
        // The user's own directory, planted as a link (to where lock files must not go): refused.
        let base = sticky_base();
        let target = tempfile::tempdir().unwrap();
        let me = unsafe { libc::geteuid() };
        symlink(target.path(), base.path().join(format!("testbot-slots-{me}"))).unwrap();
        let lines = lease_here(base.path());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with(&format!("testbot-lease-refused {}/testbot-slots-{me} is a symlink owned by", base.path().display())), "{lines:?}");
        assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
        // Another user's, mode 0755: refused too, naming its owner and mode.
        let base = sticky_base();
        let own = base.path().join(format!("testbot-slots-{me}"));
        std::fs::create_dir(&own).unwrap();
        std::os::unix::fs::chown(&own, Some(65534), Some(65534)).unwrap();
        let lines = lease_here(base.path());
        assert!(lines[0].contains("(uid 65534) with mode 0755; it must be a directory of yours with mode 0700"), "{lines:?}");
        // A lock file that is a link: refused.
        let base = sticky_base();
        std::fs::create_dir_all(base.path().join(format!("testbot-slots-{me}/KEY"))).unwrap();
        std::fs::set_permissions(base.path().join(format!("testbot-slots-{me}")), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(base.path().join(format!("testbot-slots-{me}/KEY")), std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink(target.path().join("x"), base.path().join(format!("testbot-slots-{me}/KEY/slot-2.lock"))).unwrap();
        let lines = lease_here(base.path());
        assert!(lines[0].ends_with("/KEY/slot-2.lock is a symlink; it must be a regular file"), "{lines:?}");
        assert!(!target.path().join("x").exists());
    }

    #[test]
    fn an_unsafe_machine_directory_leaves_the_users_own_leases() {
        let base = sticky_base();
        let shared = base.path().join("testbot-slots");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::create_dir(shared.join("KEY")).unwrap();
        std::fs::set_permissions(shared.join("KEY"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(shared.join("KEY"), Some(65534), Some(65534)).unwrap();
        let lines = lease_here(base.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with(&format!("testbot-lease-shared {}/testbot-slots/KEY is a directory owned by", base.path().display())), "{lines:?}");
        assert!(lines[0].contains("(uid 65534) with mode 0755; it must be a directory with the sticky bit"), "{lines:?}");
        assert_eq!(lines[1], "testbot-lease 1 2");
    }

    #[test]
    fn the_answer_is_read_from_whole_lines_only() {
        assert!(answer("testbot-lease 1 2").is_none());
        let Some(Answer::Slots { slots, shared_problem }) = answer("testbot-lease-shared x y\ntestbot-lease 1 2\n") else { panic!() };
        assert_eq!((slots, shared_problem.as_deref()), (vec![1, 2], Some("x y")));
        assert!(matches!(answer("testbot-lease-refused why\n"), Some(Answer::Refused(w)) if w == "why"));
    }
}
