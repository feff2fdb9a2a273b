//! The run: slots pull batches from the shared queue; one dispatcher loop owns the queue,
//! stopping (Ctrl-C, fail-fast, the run's timeout), requeues, retries and lost hosts, and hands
//! every event to its caller's `emit` (the engine names no reporter).

mod batch;
mod error;
pub mod exec;
pub mod hooks;
pub mod lease;
mod preload;
pub mod remote;
mod tmpdir;

pub use error::Error;
pub use batch::{BatchEnd, BatchTracker, Captured, Ending, Requeue};

use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, RunEvent, SlotInfo, Stop};
use crate::framework::protocol::Decoder;
use crate::inventory::Inventory;
use crate::project::Project;

use crate::schedule::{self, Batch, History, Job, Queue, Tuning};
use crate::ssh::{Host, HostCommand, LocalHost, Output};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use crate::signals::Signals;
use tokio::sync::{mpsc, watch};


/// A file that went back to the queue this often is reported as not run instead.
const MAX_REQUEUES: u32 = 2;

enum Msg {
    /// What one read of a runner's output produced, in order: one message per read, not per
    /// event (a run at scale sees hundreds of thousands of examples).
    Events(Vec<RunEvent>),
    /// The runner finished booting (its first event arrived, or it ended).
    Booted { slot: usize },
    /// `lost`: the host went away (why); it takes no more work.
    BatchDone { slot: usize, seconds: f64, requeue: Vec<Requeue>, lost: Option<String> },
}

/// A host ready for work: connected, its copy of the project in place.
pub struct PreparedHost {
    pub host: Arc<dyn Host>,
    pub slots: usize,
    /// Runners that may boot at once (its cores).
    pub boot_parallelism: usize,
    /// The project's directory there.
    pub workdir: PathBuf,
    /// Where the formatter was put, as the runner's `--require` reads it.
    pub support_dir: String,
    /// The numbers of its slots (TEST_ENV_NUMBER derives from them): the ones leased on a
    /// shared host; empty: 1..=slots.
    pub slot_numbers: Vec<usize>,
}

struct Slot {
    info: SlotInfo,
    /// Index into the prepared hosts.
    host_index: usize,
    host: Arc<dyn Host>,
    env: Vec<(String, String)>,
    workdir: PathBuf,
    support_dir: String,
    /// `--preload`: the socket of the slot's preload server, once it is ready.
    preload: Option<String>,
}

/// How the run copes with failures, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Run only share K of N of the suite (`--partition K/N`).
    pub partition: Option<(usize, usize)>,
    /// Rerun failed examples up to this many times (`--retries`).
    pub retries: u32,
    /// Stop after this many failures (`--fail-fast`).
    pub fail_fast: Option<usize>,
    /// The whole run's time limit (`--timeout`).
    pub timeout: Option<Duration>,
    /// The least time a file may run before it is killed; `None`: no per-file limit.
    pub file_timeout: Option<Duration>,
}

/// A file may run this many times its time in the runtime history (but at least the floor).
const HISTORY_TIMEOUT_FACTOR: f64 = 5.0;

/// Per-file time limits: the floor, or a multiple of the file's time in the history.
struct Limits {
    floor: Option<f64>,
    history: HashMap<String, f64>,
}

impl Limits {
    fn for_file(&self, path: &str) -> Option<f64> {
        let floor = self.floor?;
        Some(self.history.get(path).map_or(floor, |s| (s * HISTORY_TIMEOUT_FACTOR).max(floor)))
    }
}

/// A file report held back while its failed examples run again (`--retries`).
struct Held {
    report: FileReport,
    attempt: u32,
}

/// How a run ended, for the caller that owns the reporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Batches ran (all of them, or until a stop): the reporter's totals decide the exit code.
    Ran,
    /// A signal stopped it before any batch ran.
    Interrupted,
}

/// The whole run: hosts prepared (connected, synced), slots leased, hooks, then `execute`;
/// every event goes to `emit`. A signal (`signals`) in any phase stops it and kills what runs.
pub async fn run(
    project: &Project,
    inventory: &Inventory,
    policy: &Policy,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Ended, Error> {
    let started = Instant::now();
    let support = tempfile::Builder::new().prefix("testbot-").tempdir().map_err(|source| Error::Io {
        what: "create a temporary directory for the runner's support files".into(),
        source,
    })?;
    for (name, contents) in project.framework.support_files() {
        let path = support.path().join(name);
        std::fs::write(&path, contents).map_err(|source| Error::Io { what: format!("write {}", path.display()), source })?;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut hosts = Vec::new();
    if project.local_slots > 0 {
        hosts.push(PreparedHost {
            host: Arc::new(LocalHost::new()),
            slots: project.local_slots,
            boot_parallelism: cores,
            workdir: crate::sync::local_workdir(&project.root),
            support_dir: support.path().to_string_lossy().into_owned(),
            slot_numbers: Vec::new(),
        });
    }
    // A signal while connecting or copying: dropping the connections ends the remote side too.
    let (remote_hosts, failures) = remote::prepare(project, inventory, signals).await;
    if signals.caught().is_some() {
        let mut done: Vec<String> = remote_hosts.iter().map(|h| format!("host `{}`: connected and synced", h.host.name())).collect();
        done.extend(failures.iter().map(|f| format!("host `{}`: {}", f.name, f.reason)));
        emit(RunEvent::InterruptedBeforeRun { doing: "connecting to and syncing the hosts".into(), done });
        return Ok(Ended::Interrupted);
    }
    hosts.extend(remote_hosts);
    let mut failures = failures;
    // Other runs may share these hosts: take only free slots (or wait for one).
    let mut _leases = Vec::new();
    if inventory.ssh.slot_leases {
        let Some(leased) = signals.unless_stopped(lease::lease_all(hosts)).await else {
            emit(RunEvent::InterruptedBeforeRun { doing: "waiting for free slots on the hosts".into(), done: Vec::new() });
            return Ok(Ended::Interrupted);
        };
        for note in &leased.notes {
            emit(RunEvent::Warning(note.clone()));
        }
        hosts = leased.hosts;
        _leases = leased.leases;
    }
    // The hooks, before anything runs; a host whose hook fails is left out like an unreachable one.
    let Some(hooked) = signals.unless_stopped(run_setup_hooks(project, &inventory.hooks, hosts)).await else {
        emit(RunEvent::InterruptedBeforeRun { doing: "running the before_run and before_slot hooks".into(), done: Vec::new() });
        return Ok(Ended::Interrupted);
    };
    let (hosts, hook_failures) = hooked;
    failures.extend(hook_failures);
    for failure in &failures {
        emit(RunEvent::Warning(format!("host `{}` is left out of this run: {}", failure.name, failure.reason)));
    }
    if hosts.is_empty() {
        let mut reasons: Vec<String> = failures.iter().map(|f| format!("  {}: {}", f.name, f.reason)).collect();
        if project.local_slots == 0 {
            reasons.insert(0, "  local: 0 slots (`[local] slots = 0`, or the default with SSH hosts configured)".to_string());
        }
        return Err(Error::NoHost(reasons.join("\n")));
    }
    execute(project, hosts, policy, inventory.hooks.after_run.as_deref(), started, signals, emit).await
}

/// The run proper, on hosts already prepared (connected, the project in place): slots pull
/// batches from the queue until every file has its result or the run stops. `started` is when
/// the run began, for its wall time. The first signal stops the run (running batches are
/// killed, the summary printed), a second one stops waiting for them. Returns the exit code.
pub async fn execute(
    project: &Project,
    hosts: Vec<PreparedHost>,
    policy: &Policy,
    after_run: Option<&str>,
    started: Instant,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Ended, Error> {
    let slots = build_slots(project, &hosts);
    let boot_waves: Vec<usize> = slots.iter().map(|(_, wave)| *wave).collect();
    let mut slots: Vec<Slot> = slots.into_iter().map(|(slot, _)| slot).collect();
    let Some(preloaded) = preload::prepare(project, &hosts, &mut slots, signals).await? else {
        emit(RunEvent::InterruptedBeforeRun { doing: "starting the preload servers".into(), done: Vec::new() });
        return Ok(Ended::Interrupted);
    };

    let Selection { history, estimates, partition } = select(project, policy.partition);
    let expected_seconds = estimates.iter().fold(0.0, |a, e| a + e.seconds);
    let limits = Arc::new(Limits {
        floor: policy.file_timeout.map(|d| d.as_secs_f64()),
        history: estimates.iter().filter_map(|e| history.get(&e.path).map(|s| (e.path.clone(), s))).collect(),
    });
    let tuning = match std::env::var("TESTBOT_TUNING") {
        Ok(spec) => Tuning::parse_over(Tuning::default(), &spec).map_err(|e| Error::Usage(format!("TESTBOT_TUNING: {e}")))?,
        Err(_) => Tuning::default(),
    };
    // Long files run as pieces of their examples on several slots (RSpec, from the examples log).
    let recorded = project.examples_log().as_deref().map(crate::history::examples_log::load).unwrap_or_default();
    let ideal = expected_seconds / slots.len().max(1) as f64;
    let jobs: Vec<Vec<Job>> = estimates
        .iter()
        .map(|e| match e.known && e.seconds > schedule::split::SPLIT_SHARE * ideal {
            true => match crate::history::examples_log::examples_of(&recorded, &project.root, &e.path) {
                Some(examples) => schedule::split::pieces(&e.path, e.seconds, &examples, ideal, slots.len()),
                None => vec![Job::new(e.path.clone(), e.seconds)],
            },
            false => vec![Job::new(e.path.clone(), e.seconds)],
        })
        .collect();
    let mut settle = Settle::new(policy, &jobs);
    let known: Vec<bool> = estimates.iter().map(|e| e.known).collect();
    let mut queue = Queue::with_jobs(jobs, &known, &boot_waves, tuning);

    emit(RunEvent::RunStarted {
        framework: project.framework.name(),
        files: estimates.len(),
        slots: slots.iter().map(|s| s.info.clone()).collect(),
        expected_seconds,
        partition,
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    // Signals already handled (none, unless one came while preload servers started).
    let mut signals_seen = 0;
    let run_deadline = policy.timeout.map(|t| tokio::time::Instant::now() + t);
    // A stack: the slot that boots first is on top.
    let mut idle: Vec<usize> = (0..slots.len()).rev().collect();
    let mut running = 0usize;
    // Booting Ruby is CPU work: more runners booting on a host than it has cores slows them all.
    let mut booting = vec![0usize; hosts.len()];
    let mut lost = vec![false; hosts.len()];
    let mut failures_seen = 0usize;
    let mut stopped: Option<Stop> = None;
    // A helper that does not load takes its host out, with its error said once.
    for (h, reason) in preloaded.failed {
        lost[h] = true;
        idle.retain(|&i| slots[i].host_index != h);
        queue.set_slots(idle.len());
        emit(RunEvent::Warning(format!("host `{}` is left out of this run: {reason}", hosts[h].host.name())));
    }
    // Whether a slot may take work now that could not before: most messages are examples
    // finishing, and scanning every idle slot for each would cost events × slots.
    let mut dispatch = true;

    loop {
        if stopped.is_none() && dispatch {
            dispatch = false;
            let mut k = idle.len();
            while k > 0 && !queue.is_empty() {
                k -= 1;
                let i = idle[k];
                if booting[slots[i].host_index] >= hosts[slots[i].host_index].boot_parallelism {
                    continue;
                }
                // Nothing else runs: a job that avoids this slot (it hung or crashed here) may
                // have no other slot left.
                let wanted = if running == 0 && k == 0 { None } else { Some(slots[i].info.id) };
                let Some(batch) = queue.next_batch_for(wanted) else { continue };
                if let Err(why) = settle.starting(&batch) {
                    // A bug, not a suite's doing: end the run rather than loop.
                    let _ = cancel_tx.send(true);
                    return Err(Error::Internal(why));
                }
                idle.remove(k);
                running += 1;
                booting[slots[i].host_index] += 1;
                let job = run_batch(&slots[i], i, batch, project, limits.clone(), tx.clone(), cancel_rx.clone());
                tokio::spawn(job);
            }
            if running == 0 && !queue.is_empty() && idle.is_empty() {
                // Every host is gone: what is left cannot run anywhere.
                let gone: Vec<String> = hosts.iter().map(|h| h.host.name().to_string()).collect();
                let why = format!("no host was left to run it ({} left the run)", gone.join(", "));
                for job in queue.drain() {
                    settle.file(not_run(job, why.clone(), String::new()), &mut queue, true, emit);
                }
            }
        }
        if running == 0 {
            break;
        }
        let stop = tokio::select! {
            Some(msg) = rx.recv() => match msg {
                Msg::Events(events) => {
                    for event in events {
                        let why = match event {
                            RunEvent::FileFinished(report) => {
                                let returned = queue.returned();
                                failures_seen += settle.file(*report, &mut queue, stopped.is_some(), emit);
                                // A retry went back to the queue: an idle slot may take it.
                                dispatch |= queue.returned() != returned;
                                fail_fast(policy, failures_seen)
                            }
                            event => {
                                if policy.retries == 0
                                    && matches!(event, RunEvent::ExampleFinished { status: ExampleStatus::Failed, .. })
                                {
                                    // Without retries a failure is final as it happens: stop promptly.
                                    failures_seen += 1;
                                }
                                emit(event);
                                fail_fast(policy, failures_seen)
                            }
                        };
                        // At once: the events after it settle as in a stopped run.
                        if let Some(why) = why {
                            halt(why, &mut stopped, emit, &mut queue, &cancel_tx);
                        }
                    }
                    None
                }
                Msg::Booted { slot } => {
                    booting[slots[slot].host_index] -= 1;
                    dispatch = true;
                    None
                }
                Msg::BatchDone { slot, seconds, requeue, lost: lost_reason } => {
                    running -= 1;
                    dispatch = true;
                    let h = slots[slot].host_index;
                    emit(RunEvent::BatchFinished { slot: slots[slot].info.id, seconds });
                    if let Some(reason) = lost_reason {
                        if !lost[h] {
                            lost[h] = true;
                            idle.retain(|&i| slots[i].host_index != h);
                            let alive = slots.iter().filter(|s| !lost[s.host_index]).count();
                            queue.set_slots(alive);
                            emit(RunEvent::HostLost { host: slots[slot].info.host.clone(), reason });
                        }
                    }
                    if !lost[h] {
                        idle.push(slot);
                    }
                    if stopped.is_none() {
                        failures_seen += settle.requeues(requeue, &mut queue, emit);
                    }
                    fail_fast(policy, failures_seen)
                }
            },
            // Ctrl-C or SIGTERM (a cancelled CI job): the first stops the run, the second stops waiting.
            _ = signals.more_than(signals_seen) => {
                signals_seen = signals.count();
                if stopped == Some(Stop::Interrupted) {
                    // Dropping the runtime kills what is left.
                    break;
                }
                Some(Stop::Interrupted)
            }
            _ = tokio::time::sleep_until(run_deadline.unwrap_or_else(tokio::time::Instant::now)), if run_deadline.is_some() && stopped.is_none() => {
                Some(Stop::Timeout { seconds: policy.timeout.map_or(0.0, |t| t.as_secs_f64()) })
            }
        };
        if let Some(why) = stop {
            halt(why, &mut stopped, emit, &mut queue, &cancel_tx);
        }
    }
    preloaded.servers.stop().await;
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Events(events) = msg {
            for event in events {
                match event {
                    RunEvent::FileFinished(report) => {
                        settle.file(*report, &mut queue, true, emit);
                    }
                    event => emit(event),
                }
            }
        }
    }
    if stopped != Some(Stop::Interrupted) {
        if let Some(script) = after_run {
            let alive: Vec<&PreparedHost> = hosts.iter().zip(&lost).filter(|(_, lost)| !**lost).map(|(h, _)| h).collect();
            let runs = alive.iter().map(|h| hooks::run_hook(&*h.host, "after_run", script, host_env(project, h), h.workdir.clone()));
            for (h, result) in alive.iter().zip(futures::future::join_all(runs).await) {
                if let Err(why) = result {
                    emit(RunEvent::Warning(format!("host `{}`: {why}", h.host.name())));
                }
            }
        }
    }
    settle.flush(emit);
    emit(RunEvent::RunFinished { wall_seconds: started.elapsed().as_secs_f64(), stopped });
    Ok(Ended::Ran)
}

/// `before_run` on every host at once, then `before_slot` on every slot at once. Returns the hosts
/// whose hooks passed, and why the others are left out.
async fn run_setup_hooks(
    project: &Project,
    hooks: &crate::inventory::Hooks,
    hosts: Vec<PreparedHost>,
) -> (Vec<PreparedHost>, Vec<remote::HostFailure>) {
    let mut failed: Vec<Option<String>> = vec![None; hosts.len()];
    if let Some(script) = &hooks.before_run {
        let runs = hosts.iter().map(|h| hooks::run_hook(&*h.host, "before_run", script, host_env(project, h), h.workdir.clone()));
        for (i, result) in futures::future::join_all(runs).await.into_iter().enumerate() {
            failed[i] = result.err();
        }
    }
    if let Some(script) = &hooks.before_slot {
        let slots = build_slots(project, &hosts);
        let runs = slots.iter().filter(|(s, _)| failed[s.host_index].is_none()).map(|(slot, _)| {
            // The slot's own environment, as its runners get it.
            let run = hooks::run_hook(&*slot.host, "before_slot", script, slot.env.clone(), slot.workdir.clone());
            async move { (slot.host_index, slot.info.host_slot, run.await) }
        });
        for (h, k, result) in futures::future::join_all(runs).await {
            if let (Err(why), None) = (result, &failed[h]) {
                failed[h] = Some(format!("{why} (slot {k})"));
            }
        }
    }
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for (host, why) in hosts.into_iter().zip(failed) {
        match why {
            None => ok.push(host),
            Some(reason) => failures.push(remote::HostFailure { name: host.host.name().to_string(), reason }),
        }
    }
    (ok, failures)
}

/// What a host-wide hook gets: `[project] env`, the host's name and its number of slots.
fn host_env(project: &Project, host: &PreparedHost) -> Vec<(String, String)> {
    let mut env = project.env.clone();
    env.push(("TESTBOT_HOST".to_string(), host.host.name().to_string()));
    env.push(("PARALLEL_TEST_GROUPS".to_string(), host.slots.to_string()));
    env
}

/// Stops the run (the first reason wins, but Ctrl-C overrides): nothing more is dispatched and
/// every running batch is told to stop.
fn halt(why: Stop, stopped: &mut Option<Stop>, emit: &mut (dyn FnMut(RunEvent) + Send), queue: &mut Queue, cancel: &watch::Sender<bool>) {
    if stopped.is_none() || why == Stop::Interrupted {
        *stopped = Some(why);
        emit(RunEvent::Stopping(why));
        queue.drain();
        let _ = cancel.send(true);
    }
}

fn fail_fast(policy: &Policy, failures: usize) -> Option<Stop> {
    match policy.fail_fast {
        Some(n) if failures >= n.max(1) => Some(Stop::FailFast { failures }),
        _ => None,
    }
}

fn not_run(job: Job, why: String, output: String) -> FileReport {
    // The summary says "not run" already.
    let why = why.strip_prefix("not run: ").map(str::to_string).unwrap_or(why);
    FileReport {
        path: job.path,
        slot: None,
        seconds: 0.0,
        expected_seconds: job.expected_seconds,
        examples: Vec::new(),
        error: Some(FileError::NotRun(why)),
        output,
    }
}

/// Where file reports go on their way to the reporter: the pieces of a split file are put back
/// together, and a file with failed examples waits for their reruns (`--retries`).
struct Settle<'a> {
    policy: &'a Policy,
    held: HashMap<String, Held>,
    /// Split files: pieces still to come, and what the others reported.
    pieces: HashMap<String, (u32, Option<FileReport>)>,
    /// How often each file (each of its pieces counted) was handed to a runner.
    starts: HashMap<String, u32>,
}

/// A file (or each piece of a split file) is handed to a runner at most this many times plus
/// `--retries`: once, once more alone after a crash, a hang or a lost host. Past it the file is
/// reported as not run, whatever sent it back; so a run always ends.
const STARTS_PER_FILE: u32 = 2;

impl<'a> Settle<'a> {
    fn new(policy: &'a Policy, jobs: &[Vec<Job>]) -> Settle<'a> {
        let pieces = jobs
            .iter()
            .filter(|f| f.len() > 1)
            .map(|f| (f[0].path.clone(), (f.len() as u32, None)))
            .collect();
        Settle { policy, held: HashMap::new(), pieces, starts: HashMap::new() }
    }

    /// The most times `path` may be handed to a runner.
    fn bound(&self, path: &str) -> u32 {
        let pieces = self.pieces.get(path).map_or(1, |(n, _)| (*n).max(1));
        (STARTS_PER_FILE + self.policy.retries) * pieces
    }

    fn at_bound(&self, path: &str) -> bool {
        self.starts.get(path).copied().unwrap_or(0) >= self.bound(path)
    }

    /// A batch is about to start: counts its files; an error if one would pass its bound, which
    /// `requeues` and retries never allow (a bug if it happens).
    fn starting(&mut self, batch: &Batch) -> Result<(), String> {
        for job in &batch.jobs {
            let bound = self.bound(&job.path);
            let starts = self.starts.entry(job.path.clone()).or_default();
            *starts += 1;
            if *starts > bound {
                return Err(format!("`{}` was about to start a {} time (at most {bound} are allowed)", job.path, ordinal(*starts)));
            }
        }
        Ok(())
    }

    /// A report from a batch: final, or held while failed examples run again, or one piece of a
    /// split file. Returns the failures it makes final (for `--fail-fast`).
    fn file(&mut self, report: FileReport, queue: &mut Queue, stopping: bool, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let report = match self.pieces.get_mut(&report.path) {
            None => report,
            Some((left, acc)) => {
                *left -= 1;
                let merged = match acc.take() {
                    None => report,
                    Some(earlier) => merge_piece(earlier, report),
                };
                if *left > 0 {
                    *acc = Some(merged);
                    return 0;
                }
                self.pieces.remove(&merged.path);
                merged
            }
        };
        let policy = self.policy;
        let (report, attempt) = match self.held.remove(&report.path) {
            Some(earlier) => (merge_retry(earlier.report, report), earlier.attempt),
            None => (report, 0),
        };
        let failed: Vec<&ExampleResult> = report.examples.iter().filter(|e| e.status == ExampleStatus::Failed).collect();
        if !stopping && report.error.is_none() && !failed.is_empty() && attempt < policy.retries && !self.at_bound(&report.path) {
            let mut job = Job::new(report.path.clone(), failed.iter().fold(0.0, |a, e| a + e.seconds));
            // Without ids for every failed example, the whole file runs again.
            if failed.iter().all(|e| e.id.is_some()) {
                job.examples = failed.iter().filter_map(|e| e.id.clone()).collect();
            }
            job.attempt = attempt + 1;
            emit(RunEvent::FileRetrying { path: report.path.clone(), failed: failed.len(), attempt: attempt + 1 });
            self.held.insert(report.path.clone(), Held { report, attempt: attempt + 1 });
            queue.retry(job);
            return 0;
        }
        let counted = if policy.retries == 0 {
            // Failed examples were counted live; only the file's own error is new.
            usize::from(report.error.is_some())
        } else {
            failed.len() + usize::from(report.error.is_some())
        };
        emit(RunEvent::FileFinished(Box::new(report)));
        counted
    }

    /// Files a batch gave back: to the queue again, or reported as not run when they went back
    /// too often. Returns the failures that makes final.
    fn requeues(&mut self, requeue: Vec<Requeue>, queue: &mut Queue, emit: &mut (dyn FnMut(RunEvent) + Send)) -> usize {
        let mut failures = 0;
        for r in requeue {
            if r.counts && r.job.requeued >= MAX_REQUEUES {
                let why = format!("{} ({} times)", r.reason, r.job.requeued + 1);
                failures += self.file(not_run(r.job, why, r.output), queue, false, emit);
            } else if self.at_bound(&r.job.path) {
                let why = format!("{} (it was started {} times without a result; testbot gives up on it)", r.reason, self.starts[&r.job.path]);
                failures += self.file(not_run(r.job, why, r.output), queue, false, emit);
            } else {
                if !r.quiet {
                    emit(RunEvent::FileRequeued {
                        path: r.job.path.clone(),
                        reason: r.reason,
                        discarded_examples: r.discarded_examples,
                    });
                }
                if r.counts {
                    queue.requeue(r.job, r.alone);
                } else {
                    let mut job = r.job;
                    job.alone = r.alone;
                    queue.retry(job);
                }
            }
        }
        failures
    }

    /// At the end: retries that never ran leave the failures standing; a split file stopped
    /// half-way is reported only for the failures it had.
    fn flush(self, emit: &mut (dyn FnMut(RunEvent) + Send)) {
        let mut left: Vec<FileReport> = self.held.into_values().map(|h| h.report).collect();
        left.extend(
            self.pieces
                .into_values()
                .filter_map(|(_, acc)| acc)
                .filter(|r| r.error.is_some() || r.count(ExampleStatus::Failed) > 0),
        );
        left.sort_by(|a, b| a.path.cmp(&b.path));
        for report in left {
            emit(RunEvent::FileFinished(Box::new(report)));
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Two pieces of a split file as one report: all their examples (in file order), their times
/// added up, the first error.
fn merge_piece(mut earlier: FileReport, piece: FileReport) -> FileReport {
    earlier.seconds += piece.seconds;
    earlier.expected_seconds += piece.expected_seconds;
    earlier.examples.extend(piece.examples);
    earlier.examples.sort_by_key(|e| e.line.unwrap_or(u32::MAX));
    if earlier.error.is_none() {
        earlier.error = piece.error;
    }
    if !piece.output.trim().is_empty() {
        earlier.output.push_str(&piece.output);
    }
    earlier
}

/// The earlier report with what a rerun of its failed examples found: an example that passed
/// now is flaky (it keeps its earlier failure); one that failed again keeps failing.
fn merge_retry(mut earlier: FileReport, rerun: FileReport) -> FileReport {
    earlier.seconds += rerun.seconds;
    if rerun.error.is_some() {
        // The rerun itself broke (it crashed, did not load): the failures stand as they were.
        return earlier;
    }
    for ex in earlier.examples.iter_mut().filter(|e| e.status == ExampleStatus::Failed) {
        let same = |r: &&ExampleResult| match (&ex.id, &r.id) {
            (Some(a), Some(b)) => a == b,
            _ => r.location == ex.location && r.description == ex.description,
        };
        if let Some(again) = rerun.examples.iter().find(same) {
            let mut earlier_failures = std::mem::take(&mut ex.earlier_failures);
            earlier_failures.push(ex.message.clone().unwrap_or_else(|| "failed".into()));
            *ex = ExampleResult { earlier_failures, ..again.clone() };
        }
    }
    if !rerun.output.trim().is_empty() {
        earlier.output.push_str(&format!("[rerun of failed examples]\n{}", rerun.output));
    }
    earlier
}

/// Every slot of every host, in the order they take their first batch, with its boot wave.
fn build_slots(project: &Project, hosts: &[PreparedHost]) -> Vec<(Slot, usize)> {
    let shape: Vec<(usize, usize)> = hosts.iter().map(|h| (h.slots, h.boot_parallelism)).collect();
    schedule::boot_order(&shape)
        .into_iter()
        .enumerate()
        .map(|(n, (h, k, wave))| {
            let host = &hosts[h];
            let number = host.slot_numbers.get(k).copied().unwrap_or(k + 1);
            let info = SlotInfo { id: n + 1, host: Arc::from(host.host.name()), host_slot: number };
            let slot = Slot {
                env: tmpdir::with_slot_tmpdir(slot_env(project, &info, host.slots), &host.support_dir, info.id),
                info,
                host_index: h,
                host: host.host.clone(),
                workdir: host.workdir.clone(),
                support_dir: host.support_dir.clone(),
                preload: None,
            };
            (slot, wave)
        })
        .collect()
}

/// parallel_tests' conventions, so existing database.yml files keep working.
fn slot_env(project: &Project, slot: &SlotInfo, host_slots: usize) -> Vec<(String, String)> {
    let number = if slot.host_slot == 1 && !project.first_is_1 { String::new() } else { slot.host_slot.to_string() };
    let mut env = project.env.clone();
    env.extend([
        ("TEST_ENV_NUMBER".to_string(), number),
        ("PARALLEL_TEST_GROUPS".to_string(), host_slots.to_string()),
        ("TESTBOT_HOST".to_string(), slot.host.to_string()),
        ("TESTBOT_SLOT".to_string(), slot.id.to_string()),
    ]);
    env
}

/// Why a runner that never got to testbot's formatter ended: its status and the head of what it
/// printed (the tail of a long backtrace says less than its first lines).
fn runner_failure(exit: crate::ssh::ExitInfo, output: &str) -> String {
    const LINES: usize = 12;
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut said: String = lines.iter().take(LINES).map(|l| format!("\n    {}", l.trim_end())).collect();
    if lines.len() > LINES {
        said.push_str(&format!("\n    [… {} more lines]", lines.len() - LINES));
    }
    if said.is_empty() {
        said = " (it printed nothing)".to_string();
    }
    format!("its test runner could not start (it {exit} before loading testbot's formatter):{said}")
}

/// What a run runs, and `testbot list` shows: the selected files with their expected seconds
/// (longest first is the queue's business, not this), only share K's with `--partition K/N`.
pub struct Selection {
    pub history: History,
    pub estimates: Vec<schedule::FileEstimate>,
    pub partition: Option<Arc<schedule::partition::Share>>,
}

/// The one place a run's files are chosen, so that `testbot list --partition K/N` shows what a
/// run of that share would run.
pub fn select(project: &Project, partition: Option<(usize, usize)>) -> Selection {
    let history = load_history(project);
    let sizes: Vec<(String, u64)> = project.files.iter().map(|f| (f.path.clone(), f.size)).collect();
    let estimates = schedule::estimate(&sizes, &history);
    match partition {
        None => Selection { history, estimates, partition: None },
        Some((k, n)) => {
            let share = schedule::partition::Share::of(&estimates, k, n);
            let mine: std::collections::HashSet<&str> = share.files().iter().map(String::as_str).collect();
            let estimates = estimates.into_iter().filter(|e| mine.contains(e.path.as_str())).collect();
            Selection { history, estimates, partition: Some(Arc::new(share)) }
        }
    }
}

fn load_history(project: &Project) -> History {
    crate::history::load(&project.runtime_log, &project.parallel_tests_runtime_log())
}

#[allow(clippy::too_many_arguments)]
fn run_batch(
    slot: &Slot,
    index: usize,
    batch: Batch,
    project: &Project,
    limits: Arc<Limits>,
    tx: mpsc::UnboundedSender<Msg>,
    mut cancel: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let host = slot.host.clone();
    let info = slot.info.clone();
    let files: Vec<String> = batch.jobs.iter().map(|j| j.path.clone()).collect();
    // A rerun of failed examples names them: `spec/a_spec.rb[1:2,1:5]`.
    let args: Vec<String> = batch
        .jobs
        .iter()
        .map(|j| if j.examples.is_empty() { j.path.clone() } else { format!("{}[{}]", j.path, j.examples.join(",")) })
        .collect();
    let argv = match &slot.preload {
        Some(socket) => project.framework.preload_client_command(&project.runner, &slot.support_dir, socket, &args),
        None => project.framework.command(&project.runner, &slot.support_dir, &args),
    };
    let sync = crate::framework::protocol::new_sync();
    let mut env = slot.env.clone();
    env.push((crate::framework::protocol::SYNC_VAR.to_string(), sync.clone()));
    let command = HostCommand::new(tmpdir::creating_tmpdir(argv), env, slot.workdir.clone()).with_events();
    async move {
        let started = Instant::now();
        let send = |events: Vec<RunEvent>| {
            if !events.is_empty() {
                let _ = tx.send(Msg::Events(events));
            }
        };
        send(vec![RunEvent::BatchStarted { slot: info.clone(), files }]);
        let tracker = BatchTracker::new(info.clone(), batch.jobs);
        let (end, lost) = match host.spawn(command).await {
            Err(err) => {
                let _ = tx.send(Msg::Booted { slot: index });
                let reason = crate::error_chain::chain(&err);
                (tracker.spawn_failed(), Some(reason))
            }
            Ok(mut process) => {
                let mut tracker = tracker;
                let mut output = Decoder::output_marked(&sync);
                let mut events_in = Decoder::events();
                let mut pieces = Vec::new();
                let mut events = Vec::new();
                let mut ending = Ending::Exited;
                let mut booted = false;
                // The limit for what runs now: booting, a file, or between files.
                let mut current: Option<String> = None;
                let mut limit = limits.floor;
                let mut since = tokio::time::Instant::now();
                // One timer for the batch, moved when the limit changes (not one per chunk).
                let timer = tokio::time::sleep_until(since);
                tokio::pin!(timer);
                // One wait for the stop signal for the whole batch, not one per chunk: every
                // batch waits on the same channel, and each new wait registers with it.
                let cancelled = async {
                    while cancel.changed().await.is_ok() {
                        if *cancel.borrow() {
                            return;
                        }
                    }
                };
                tokio::pin!(cancelled);
                loop {
                    let deadline = limit.map(|l| since + Duration::from_secs_f64(l));
                    if let Some(at) = deadline.filter(|at| *at != timer.deadline()) {
                        timer.as_mut().reset(at);
                    }
                    tokio::select! {
                        chunk = process.output.recv() => {
                            let Some(mut chunk) = chunk else { break };
                            // What else has arrived, in one go.
                            for _ in 0..64 {
                                match chunk {
                                    Output::Stdout(bytes) | Output::Stderr(bytes) => output.feed(&bytes, &mut pieces),
                                    Output::Events(bytes) => events_in.feed(&bytes, &mut pieces),
                                }
                                match process.output.try_recv() {
                                    Ok(next) => chunk = next,
                                    Err(_) => break,
                                }
                            }
                        }
                        () = &mut cancelled, if ending != Ending::Stopped => {
                            process.kill();
                            ending = Ending::Stopped;
                        }
                        _ = &mut timer, if deadline.is_some() && ending == Ending::Exited => {
                            process.kill();
                            ending = Ending::TimedOut { seconds: limit.unwrap_or_default() };
                        }
                    }
                    for piece in pieces.drain(..) {
                        tracker.piece(piece, &mut events);
                    }
                    send(std::mem::take(&mut events));
                    if !booted && tracker.has_started() {
                        booted = true;
                        let _ = tx.send(Msg::Booted { slot: index });
                    }
                    let now = tracker.current_file();
                    if now != current.as_deref() {
                        limit = match now {
                            Some(path) => limits.for_file(path),
                            None => limits.floor,
                        };
                        current = now.map(str::to_string);
                        since = tokio::time::Instant::now();
                    }
                }
                if !booted {
                    let _ = tx.send(Msg::Booted { slot: index });
                }
                output.finish(&mut pieces);
                events_in.finish(&mut pieces);
                for piece in pieces.drain(..) {
                    tracker.piece(piece, &mut events);
                }
                send(std::mem::take(&mut events));
                let exit = process.wait().await;
                if !tracker.runner_started() && ending == Ending::Exited && !exit.lost() {
                    // The runner ended before testbot's formatter loaded (no rspec or bundle
                    // there, a Gemfile that does not resolve, a helper that fails in `.rspec`):
                    // every batch on that host would end the same way, so the host is unusable,
                    // not the files. Its message is said once, with the host.
                    let reason = runner_failure(exit, &tracker.batch_output());
                    (tracker.spawn_failed(), Some(reason))
                } else {
                    let lost = (exit.lost() && ending != Ending::Stopped)
                        .then(|| "its connection dropped or it stopped answering".to_string());
                    (tracker.finish(exit, ending), lost)
                }
            }
        };
        send(end.events);
        let seconds = started.elapsed().as_secs_f64();
        let _ = tx.send(Msg::BatchDone { slot: index, seconds, requeue: end.requeue, lost });
    }
}
