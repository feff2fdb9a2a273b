//! Slot leases: several testbot runs (other users, other checkouts) sharing SSH hosts never run
//! more batches on a host than its slots. Each slot is a lock file on the host, in a directory
//! every user can use (`/tmp/testbot-slots/<host key>/slot-N.lock`, one directory per machine,
//! named after its SSH host key); a run holds its slots' `flock`s in one small process on the
//! host for as long as it runs. That process dies with the run — at its end, or with the
//! connection if testbot dies — and the kernel releases the locks.

use super::PreparedHost;
use crate::ssh::{Host, HostCommand, Output, Process, Until};
use std::path::PathBuf;
use std::time::Duration;

/// Where the lease directories go on every host.
const LEASE_ROOT: &str = "/tmp/testbot-slots";
/// How long taking free slots may take (waiting for one is not limited).
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);
const MARKER: &str = "testbot-lease";

/// Takes the free ones of slots 1..=count (with `wait`, first waits for slot 1 when none is
/// free), prints `testbot-lease N M …` and keeps the locks until it is killed.
const SCRIPT: &str = r#"
dir, count, wait = ARGV[0], ARGV[1].to_i, ARGV[2] == "wait"
[File.dirname(dir), dir].each do |d|
  begin
    Dir.mkdir(d)
    File.chmod(01777, d)
  rescue Errno::EEXIST
  end
end
held = {}
# O_CREAT only for a file that is not there yet: with fs.protected_regular (systemd's default),
# opening another user's existing file with O_CREAT in a sticky directory is refused.
lock = lambda do |n, how|
  path = File.join(dir, "slot-#{n}.lock")
  f = begin
    File.open(path, File::RDONLY)
  rescue Errno::ENOENT
    begin
      File.open(path, File::RDONLY | File::CREAT | File::EXCL, 0o644)
    rescue Errno::EEXIST
      File.open(path, File::RDONLY)
    end
  end
  if f.flock(how) then held[n] = f else f.close end
end
(1..count).each { |n| lock.(n, File::LOCK_EX | File::LOCK_NB) }
if held.empty? && wait
  STDOUT.puts "testbot-lease-wait"
  STDOUT.flush
  lock.(1, File::LOCK_EX)
  (2..count).each { |n| lock.(n, File::LOCK_EX | File::LOCK_NB) }
end
STDOUT.puts "testbot-lease #{held.keys.sort.join(' ')}"
STDOUT.flush
sleep
"#;

/// Slots held on one host; dropping it gives them back.
pub struct Lease {
    /// The slot numbers held (1-based; a runner's TEST_ENV_NUMBER derives from its number).
    pub slots: Vec<usize>,
    _holder: Process,
}

fn lease_dir(identity: &str) -> String {
    let key: String = identity.trim_start_matches("SHA256:").chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
    format!("{LEASE_ROOT}/{key}")
}

/// Leases up to `count` slots of `host` (`wait`: block until at least one is free).
async fn lease(host: &dyn Host, identity: &str, workdir: PathBuf, count: usize, wait: bool) -> Result<Lease, String> {
    let mut argv: Vec<String> = ["ruby", "--disable-gems", "-e", SCRIPT, &lease_dir(identity), &count.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if wait {
        argv.push("wait".into());
    }
    let mut process = host.spawn(HostCommand::new(argv, Vec::new(), workdir)).await.map_err(|e| crate::error_chain::chain(&e))?;
    let mut seen = String::new();
    let limit = (!wait).then_some(LEASE_TIMEOUT);
    let read = process
        .read_until(limit, |chunk| {
            let (Output::Stdout(bytes) | Output::Stderr(bytes) | Output::Events(bytes)) = chunk;
            seen.push_str(&String::from_utf8_lossy(bytes));
            let line = seen.lines().find(|l| l.starts_with(&format!("{MARKER} ")) || *l == MARKER)?;
            Some(line.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect::<Vec<usize>>())
        })
        .await;
    match read {
        Until::Found(slots) => Ok(Lease { slots, _holder: process }),
        Until::Ended => Err(format!("could not take its slot leases: {}", seen.trim())),
        Until::TimedOut => Err("taking its slot leases timed out".to_string()),
    }
}

/// What leasing did to the run's hosts, for the reporter.
pub struct Leased {
    pub hosts: Vec<PreparedHost>,
    pub leases: Vec<Lease>,
    /// Hosts that run on fewer slots, wait, or are left out, and why.
    pub notes: Vec<String>,
}

/// Leases every SSH host's slots at once. A host with some slots taken by other runs runs on
/// the rest; one with none is left out; when no host at all has a free slot (and there are no
/// local slots), the run waits for the first slot to free up anywhere.
pub async fn lease_all(hosts: Vec<PreparedHost>) -> Leased {
    let mut notes = Vec::new();
    let attempts = hosts.iter().map(|h| async move {
        match h.host.identity() {
            Some(id) => Some(lease(&*h.host, &id, h.workdir.clone(), h.slots, false).await),
            None => None,
        }
    });
    let results = futures::future::join_all(attempts).await;
    let mut kept = Vec::new();
    let mut leases = Vec::new();
    let mut full = Vec::new();
    for (mut host, result) in hosts.into_iter().zip(results) {
        match result {
            None => kept.push(host),
            Some(Err(why)) => {
                notes.push(format!("host `{}` runs without slot leases ({why}): other testbot runs may use its slots too", host.host.name()));
                kept.push(host);
            }
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
                host.slots = lease.slots.len();
                host.slot_numbers = lease.slots.clone();
                leases.push(lease);
                kept.push(host);
            }
        }
    }
    if kept.is_empty() && !full.is_empty() {
        let names: Vec<&str> = full.iter().map(|h| h.host.name()).collect();
        notes.push(format!("every slot of {} is in use by other testbot runs: waiting for one to free up", names.join(", ")));
        let waits = full.iter().enumerate().map(|(at, h)| {
            let id = h.host.identity().unwrap_or_default();
            Box::pin(async move { lease(&*h.host, &id, h.workdir.clone(), h.slots, true).await.map(|l| (at, l)) })
        });
        let first = futures::future::select_ok(waits).await.map(|(won, _others)| won);
        if let Ok((at, lease)) = first {
            let mut host = full.swap_remove(at);
            notes.push(format!("host `{}`: running on slots {}", host.host.name(), list(&lease.slots)));
            host.slots = lease.slots.len();
            host.slot_numbers = lease.slots.clone();
            leases.push(lease);
            kept.push(host);
        }
    }
    for host in &full {
        notes.push(format!("host `{}` is left out of this run: all its {} slots are in use by other testbot runs", host.host.name(), host.slots));
    }
    Leased { hosts: kept, leases, notes }
}

fn list(slots: &[usize]) -> String {
    slots.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}
