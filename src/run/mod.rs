//! The run: slots pull batches from the shared queue; one dispatcher loop owns the queue,
//! cancellation (Ctrl-C) and requeues, and hands every event to the reporter.

mod batch;
pub mod remote;
mod tmpdir;

pub use batch::{BatchEnd, BatchTracker, Captured, Requeue};

use crate::cli::RunArgs;
use crate::errors::Error;
use crate::events::{FileError, FileReport, RunEvent, SlotInfo};
use crate::framework::protocol::{self, Decoder};
use crate::inventory::Inventory;
use crate::project::Project;
use crate::report::{ReportConfig, Reporter};
use crate::schedule::{self, Batch, History, Queue, Tuning};
use crate::ssh::{Host, HostCommand, LocalHost, Output};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// A file that went back to the queue this often is reported as not run instead.
const MAX_REQUEUES: u32 = 2;

enum Msg {
    Event(RunEvent),
    /// The runner finished booting (its first event arrived, or it ended).
    Booted { slot: usize },
    BatchDone { slot: usize, seconds: f64, requeue: Vec<Requeue> },
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
}

struct Slot {
    info: SlotInfo,
    /// Index into the prepared hosts.
    host_index: usize,
    host: Arc<dyn Host>,
    env: Vec<(String, String)>,
    workdir: PathBuf,
    support_dir: String,
}

pub async fn run(project: Project, inventory: Inventory, args: RunArgs) -> Result<u8, Error> {
    let started = Instant::now();
    let mut reporter = Reporter::new(ReportConfig {
        framework: project.framework,
        report_json: args.report_json.clone(),
        junit: args.junit.clone(),
        runtime_log: project.runtime_log.clone(),
    });
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
        });
    }
    // Ctrl-C while connecting or copying: dropping the connections ends the remote side too.
    let (remote_hosts, failures) = tokio::select! {
        prepared = remote::prepare(&project, &inventory) => prepared,
        _ = tokio::signal::ctrl_c() => {
            reporter.interrupted();
            return Ok(crate::errors::exit::INTERRUPTED);
        }
    };
    hosts.extend(remote_hosts);
    for failure in &failures {
        reporter.warn(&format!("host `{}` is left out of this run: {}", failure.name, failure.reason));
    }
    if hosts.is_empty() {
        let mut reasons: Vec<String> = failures.iter().map(|f| format!("  {}: {}", f.name, f.reason)).collect();
        reasons.insert(0, "  local: 0 slots (`-n 0`, `[local] slots`, or the default with SSH hosts configured)".to_string());
        return Err(Error::NoHost(reasons.join("\n")));
    }
    let tag = protocol::new_tag();
    let slots = build_slots(&project, &hosts, &tag);
    let boot_waves: Vec<usize> = slots.iter().map(|(_, wave)| *wave).collect();
    let slots: Vec<Slot> = slots.into_iter().map(|(slot, _)| slot).collect();

    let history = load_history(&project);
    let sizes: Vec<(String, u64)> = project.files.iter().map(|f| (f.path.clone(), f.size)).collect();
    let estimates = schedule::estimate(&sizes, &history);
    let expected_seconds = estimates.iter().fold(0.0, |a, e| a + e.seconds);
    let tuning = match std::env::var("TESTBOT_TUNING") {
        Ok(spec) => Tuning::parse_over(Tuning::default(), &spec).map_err(|e| Error::Usage(format!("TESTBOT_TUNING: {e}")))?,
        Err(_) => Tuning::default(),
    };
    let mut queue = Queue::new(estimates, &boot_waves, tuning);

    reporter.handle(&RunEvent::RunStarted {
        framework: project.framework.name(),
        files: project.files.len(),
        slots: slots.iter().map(|s| s.info.clone()).collect(),
        expected_seconds,
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let mut interrupts = signal(SignalKind::interrupt()).map_err(|source| Error::Io { what: "listen for Ctrl-C".into(), source })?;
    let mut terminates = signal(SignalKind::terminate()).map_err(|source| Error::Io { what: "listen for SIGTERM".into(), source })?;
    // A stack: the slot that boots first is on top.
    let mut idle: Vec<usize> = (0..slots.len()).rev().collect();
    let mut running = 0usize;
    // Booting Ruby is CPU work: more runners booting on a host than it has cores slows them all.
    let mut booting = vec![0usize; hosts.len()];
    let mut interrupted = false;

    loop {
        if !interrupted {
            while let Some(pos) = idle.iter().rposition(|&i| booting[slots[i].host_index] < hosts[slots[i].host_index].boot_parallelism) {
                let Some(batch) = queue.next_batch() else { break };
                let i = idle.remove(pos);
                running += 1;
                booting[slots[i].host_index] += 1;
                tokio::spawn(run_batch(&slots[i], i, batch, &project, tag.clone(), tx.clone(), cancel_rx.clone()));
            }
        }
        if running == 0 {
            break;
        }
        tokio::select! {
            Some(msg) = rx.recv() => match msg {
                Msg::Event(event) => reporter.handle(&event),
                Msg::Booted { slot } => booting[slots[slot].host_index] -= 1,
                Msg::BatchDone { slot, seconds, requeue } => {
                    running -= 1;
                    idle.push(slot);
                    reporter.handle(&RunEvent::BatchFinished { slot: slots[slot].info.id, seconds });
                    if !interrupted {
                        settle_requeues(requeue, &mut queue, &mut reporter);
                    }
                }
            },
            // Ctrl-C or SIGTERM (a cancelled CI job): the first stops the run, the second stops waiting.
            _ = async { tokio::select! { _ = interrupts.recv() => {}, _ = terminates.recv() => {} } } => {
                if interrupted {
                    // Dropping the runtime kills what is left.
                    break;
                }
                interrupted = true;
                reporter.interrupted();
                queue.drain();
                let _ = cancel_tx.send(true);
            }
        }
    }
    while let Ok(Msg::Event(event)) = rx.try_recv() {
        reporter.handle(&event);
    }
    reporter.handle(&RunEvent::RunFinished { wall_seconds: started.elapsed().as_secs_f64(), interrupted });
    let totals = reporter.finish();
    Ok(totals.exit_code())
}

fn settle_requeues(requeue: Vec<Requeue>, queue: &mut Queue, reporter: &mut Reporter) {
    for r in requeue {
        if r.job.requeued >= MAX_REQUEUES {
            reporter.handle(&RunEvent::FileFinished(Box::new(FileReport {
                path: r.job.path.clone(),
                slot: None,
                seconds: 0.0,
                expected_seconds: r.job.expected_seconds,
                examples: Vec::new(),
                error: Some(FileError::NotRun(format!("{} ({} times)", r.reason, r.job.requeued + 1))),
                output: r.output,
            })));
        } else {
            reporter.handle(&RunEvent::FileRequeued {
                path: r.job.path.clone(),
                reason: r.reason,
                discarded_examples: r.discarded_examples,
            });
            queue.requeue(r.job, r.alone);
        }
    }
}

/// Every slot of every host, in the order they take their first batch, with its boot wave.
fn build_slots(project: &Project, hosts: &[PreparedHost], tag: &str) -> Vec<(Slot, usize)> {
    let shape: Vec<(usize, usize)> = hosts.iter().map(|h| (h.slots, h.boot_parallelism)).collect();
    schedule::boot_order(&shape)
        .into_iter()
        .enumerate()
        .map(|(n, (h, k, wave))| {
            let host = &hosts[h];
            let info = SlotInfo { id: n + 1, host: Arc::from(host.host.name()), host_slot: k + 1 };
            let slot = Slot {
                env: tmpdir::with_slot_tmpdir(slot_env(project, &info, host.slots, tag), &host.support_dir, info.id),
                info,
                host_index: h,
                host: host.host.clone(),
                workdir: host.workdir.clone(),
                support_dir: host.support_dir.clone(),
            };
            (slot, wave)
        })
        .collect()
}

/// parallel_tests' conventions, so existing database.yml files keep working.
fn slot_env(project: &Project, slot: &SlotInfo, host_slots: usize, tag: &str) -> Vec<(String, String)> {
    let number = if slot.host_slot == 1 && !project.first_is_1 { String::new() } else { slot.host_slot.to_string() };
    let mut env = project.env.clone();
    env.extend([
        ("TEST_ENV_NUMBER".to_string(), number),
        ("PARALLEL_TEST_GROUPS".to_string(), host_slots.to_string()),
        ("TESTBOT_HOST".to_string(), slot.host.to_string()),
        ("TESTBOT_SLOT".to_string(), slot.id.to_string()),
        ("TESTBOT_EVENT_TAG".to_string(), tag.to_string()),
    ]);
    env
}

fn load_history(project: &Project) -> History {
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|t| History::parse(&t));
    read(&project.runtime_log)
        .or_else(|| read(&project.parallel_tests_runtime_log()))
        .unwrap_or_default()
}

fn run_batch(
    slot: &Slot,
    index: usize,
    batch: Batch,
    project: &Project,
    tag: String,
    tx: mpsc::UnboundedSender<Msg>,
    mut cancel: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let host = slot.host.clone();
    let info = slot.info.clone();
    let files: Vec<String> = batch.jobs.iter().map(|j| j.path.clone()).collect();
    let command = HostCommand {
        argv: tmpdir::creating_tmpdir(project.framework.command(&project.runner, &slot.support_dir, &files)),
        env: slot.env.clone(),
        cwd: slot.workdir.clone(),
    };
    async move {
        let started = Instant::now();
        let send = |e: RunEvent| {
            let _ = tx.send(Msg::Event(e));
        };
        send(RunEvent::BatchStarted { slot: info.clone(), files });
        let tracker = BatchTracker::new(info.clone(), batch.jobs);
        let end = match host.spawn(command).await {
            Err(err) => {
                let _ = tx.send(Msg::Booted { slot: index });
                tracker.spawn_failed(&crate::errors::chain(&err))
            }
            Ok(mut process) => {
                let mut tracker = tracker;
                let mut stdout = Decoder::new(&tag);
                let mut stderr = Decoder::new(&tag);
                let mut pieces = Vec::new();
                let mut events = Vec::new();
                let mut killed = false;
                let mut booted = false;
                loop {
                    tokio::select! {
                        chunk = process.output.recv() => match chunk {
                            Some(Output::Stdout(bytes)) => stdout.feed(&bytes, &mut pieces),
                            Some(Output::Stderr(bytes)) => stderr.feed(&bytes, &mut pieces),
                            None => break,
                        },
                        changed = cancel.changed(), if !killed => {
                            if changed.is_err() || *cancel.borrow() {
                                process.kill();
                                killed = true;
                            }
                        }
                    }
                    for piece in pieces.drain(..) {
                        tracker.piece(piece, &mut events);
                    }
                    events.drain(..).for_each(send);
                    if !booted && tracker.has_started() {
                        booted = true;
                        let _ = tx.send(Msg::Booted { slot: index });
                    }
                }
                if !booted {
                    let _ = tx.send(Msg::Booted { slot: index });
                }
                stdout.finish(&mut pieces);
                stderr.finish(&mut pieces);
                for piece in pieces.drain(..) {
                    tracker.piece(piece, &mut events);
                }
                events.drain(..).for_each(send);
                let exit = process.wait().await;
                tracker.finish(exit, killed)
            }
        };
        end.events.into_iter().for_each(send);
        let _ = tx.send(Msg::BatchDone { slot: index, seconds: started.elapsed().as_secs_f64(), requeue: end.requeue });
    }
}
