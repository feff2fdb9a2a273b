//! One batch on one slot: start the runner, feed its output and events to a `BatchTracker`, kill
//! it when a file runs past its limit or the run stops, and tell the dispatcher how it ended.

use super::plan::Limits;
use crate::fleet::session::BatchSession;
use crate::fleet::{Launch, Slot};
use crate::framework::{through_fork, through_preload};
use super::{BatchEnd, BatchTracker, Ending, Msg};
use crate::events::RunEvent;
use crate::framework::protocol::{self, Decoder, LostPart, Piece};
use crate::project::Project;
use crate::schedule::Batch;
use crate::ssh::{Host, HostCommand, Output, Process};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What runs a batch's runner: a fresh process, or a child of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    Fresh,
    /// Forked from the host's fork server.
    Fork,
    /// Forked from the slot's preload server.
    Preload,
}

impl From<&Launch> for Served {
    fn from(launch: &Launch) -> Served {
        match launch {
            Launch::Fresh => Served::Fresh,
            Launch::Forked { .. } => Served::Fork,
            Launch::Preloaded { .. } => Served::Preload,
        }
    }
}

/// Why a batch's slot can take no more work as it did.
#[derive(Debug)]
pub(super) enum Lost {
    /// The host went away, or no runner starts there (why): it takes no more work.
    Host(String),
    /// The host's fork server went away or is stuck (why): its batches run as fresh processes.
    ForkServer(String),
}

/// How long a killed runner's output may take to end. A process that cannot pass on its
/// descriptors' end (a stopped server holds them) must not hold the run past its limits.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What every batch task starts from: the project, the time limits, the way back to the
/// dispatcher and the run's stop signal.
pub(super) struct Launcher<'a> {
    pub(super) project: &'a Project,
    limits: Arc<Limits>,
    tx: mpsc::UnboundedSender<Msg>,
    cancel: watch::Sender<bool>,
}

impl<'a> Launcher<'a> {
    pub(super) fn new(project: &'a Project, limits: Arc<Limits>, tx: mpsc::UnboundedSender<Msg>) -> Launcher<'a> {
        Launcher { project, limits, tx, cancel: watch::channel(false).0 }
    }

    /// Each file's seconds as a source planned it (over the run's own history): the batches
    /// started from now on limit each file by them (`Limits::for_file`).
    pub(super) fn learn_times(&mut self, times: Vec<(String, f64)>) {
        if times.is_empty() {
            return;
        }
        let Limits { floor, history, server_start, no_capture } = &*self.limits;
        let mut history = history.clone();
        history.extend(times);
        self.limits = Arc::new(Limits { floor: *floor, history, server_start: *server_start, no_capture: *no_capture });
    }

    /// Starts `batch` on slot `index` (`slot`) as a task of its own.
    pub(super) fn start(&self, slot: &Slot, index: usize, batch: Batch) {
        tokio::spawn(BatchTask::new(slot, index, batch, self).run());
    }

    /// Tells every running batch to stop.
    pub(super) fn stop_all(&self) {
        let _ = self.cancel.send(true);
    }
}

/// A batch ready to start on its slot.
pub(super) struct BatchTask {
    /// The slot's `before_slot` hook, when this is its first batch.
    before_slot: Option<Hook>,
    host: Arc<dyn Host>,
    /// The slot's index in the dispatcher's list.
    index: usize,
    tracker: BatchTracker,
    served: Served,
    files: Vec<String>,
    /// The runner's arguments for the files, in order.
    arguments: Vec<String>,
    command: HostCommand,
    /// The start of this batch's output marks.
    sync: String,
    limits: Arc<Limits>,
    tx: mpsc::UnboundedSender<Msg>,
    cancel: watch::Receiver<bool>,
}

impl BatchTask {
    fn new(slot: &Slot, index: usize, batch: Batch, launcher: &Launcher) -> BatchTask {
        let Launcher { project, limits, .. } = launcher;
        let files: Vec<String> = batch.jobs.iter().map(|j| j.path.clone()).collect();
        // A rerun of failed examples names them, `spec/a_spec.rb[1:2,1:5]`; a selection by lines,
        // `spec/a_spec.rb:12:30`.
        let args: Vec<String> = batch.jobs.iter().flat_map(job_arguments).collect();
        let forked = |socket: &str, preload: bool| {
            let command = project.framework.command(&project.runner.forked(), &slot.support_dir, &args);
            match &slot.session {
                // The slot's session makes the batch's TMPDIR itself.
                Some(session) => (session.clone() as Arc<dyn Host>, BatchSession::argv(socket, preload, command), false),
                None => {
                    let through = if preload { through_preload } else { through_fork };
                    let argv = through(&slot.support_dir, socket, command, slot.client.as_deref());
                    // testbot's own client makes the TMPDIR itself: no shell and no mkdir a batch.
                    (slot.host.clone(), argv, slot.client.is_none())
                }
            }
        };
        let (host, argv, make_tmpdir) = match &slot.launch {
            Launch::Preloaded { socket } => forked(socket, true),
            Launch::Forked { socket } => forked(socket, false),
            Launch::Fresh => (slot.host.clone(), project.framework.command(&project.runner, &slot.support_dir, &args), true),
        };
        let served = Served::from(&slot.launch);
        let sync = protocol::new_sync();
        let mut env = slot.env.clone();
        env.push((protocol::SYNC_VAR.to_string(), sync.clone()));
        if served != Served::Fresh {
            env.push((crate::framework::client::START_TIMEOUT_VAR.to_string(), limits.server_start.as_secs_f64().to_string()));
        }
        let command = HostCommand::new(argv, env, slot.workdir.clone()).with_events();
        let command = if make_tmpdir { command.making_tmpdir() } else { command };
        let before_slot = slot.before_slot.clone().map(|script| Hook { host: slot.host.clone(), script, env: slot.env.clone(), workdir: slot.workdir.clone() });
        BatchTask {
            before_slot,
            host,
            index,
            tracker: BatchTracker::new(slot.info.clone(), batch.jobs),
            served,
            files,
            arguments: args,
            command,
            sync,
            limits: limits.clone(),
            tx: launcher.tx.clone(),
            cancel: launcher.cancel.subscribe(),
        }
    }

    /// Runs the batch to its end and reports it to the dispatcher.
    pub(super) async fn run(self) {
        let BatchTask { before_slot, host, index, tracker, served, files, arguments, command, sync, limits, tx, cancel } = self;
        let link = Link { tx, index };
        link.events(vec![RunEvent::BatchStarted { slot: tracker.slot().clone(), files, arguments }]);
        let hooked = match before_slot {
            Some(hook) => {
                link.events(vec![RunEvent::Setup(crate::events::Setup::SlotHook { slot: tracker.slot().id })]);
                hook.run(tracker.slot().host_slot, cancel.clone()).await
            }
            None => Ok(()),
        };
        // The batch's time and its runner's boot start after the hook.
        let started = Instant::now();
        let (end, lost) = match hooked.map(|()| host.spawn(command)) {
            Ok(spawn) => match spawn.await {
                Err(err) => {
                    link.booted(None);
                    (tracker.spawn_failed(), Some(Lost::Host(crate::error_chain::chain(&err))))
                }
                Ok(process) => Watch { tracker, served, link: &link, limits, cancel, sync, started }.run(process).await,
            },
            Err(why) => {
                link.booted(None);
                match why {
                    Some(failure) => (tracker.spawn_failed(), Some(Lost::Host(failure))),
                    None => (tracker.finish(crate::ssh::ExitInfo { code: None, signal: Some(libc::SIGKILL) }, Ending::Stopped), None),
                }
            }
        };
        link.events(end.events);
        let seconds = started.elapsed().as_secs_f64();
        let _ = link.tx.send(Msg::BatchDone { slot: index, seconds, requeue: end.requeue, lost, coverage: end.coverage });
    }
}

/// A slot's `before_slot` hook, run before its first batch, in the slot's environment.
struct Hook {
    host: Arc<dyn Host>,
    script: Arc<str>,
    env: Vec<(String, String)>,
    workdir: std::path::PathBuf,
}

impl Hook {
    /// Ok once it passed; Err(Some(why)) when it failed (its host leaves the run, as one whose
    /// hook failed at the start did), Err(None) when the run stopped while it ran.
    async fn run(self, slot: usize, cancel: watch::Receiver<bool>) -> Result<(), Option<String>> {
        let hook = crate::fleet::hooks::run_hook(&*self.host, "before_slot", &self.script, self.env, self.workdir);
        tokio::select! {
            ran = hook => ran.map_err(|error| Some(crate::fleet::HostFailure::SlotHook { error, slot }.to_string())),
            _ = stop_signal(cancel) => Err(None),
        }
    }
}

/// How the runner is given one job: the file, or the parts of it asked for (RSpec takes a
/// file's lines and ids as two arguments and runs both).
fn job_arguments(job: &crate::schedule::Job) -> Vec<String> {
    let mut args = Vec::new();
    if !job.examples.is_empty() {
        args.push(format!("{}[{}]", job.path, job.examples.join(",")));
    }
    if !job.lines.is_empty() {
        let lines: Vec<String> = job.lines.iter().map(u32::to_string).collect();
        args.push(format!("{}:{}", job.path, lines.join(":")));
    }
    if args.is_empty() {
        args.push(job.path.clone());
    }
    args
}

/// The way to the dispatcher.
struct Link {
    tx: mpsc::UnboundedSender<Msg>,
    index: usize,
}

impl Link {
    fn events(&self, events: Vec<RunEvent>) {
        if !events.is_empty() {
            let _ = self.tx.send(Msg::Events(events));
        }
    }

    fn booted(&self, seconds: Option<f64>) {
        let _ = self.tx.send(Msg::Booted { slot: self.index, seconds });
    }
}

/// A running batch: its output read into the tracker, its time limits kept.
struct Watch<'a> {
    tracker: BatchTracker,
    served: Served,
    link: &'a Link,
    limits: Arc<Limits>,
    cancel: watch::Receiver<bool>,
    sync: String,
    /// When the batch was spawned: its boot is measured from here.
    started: Instant,
}

impl Watch<'_> {
    /// Until the process ends: returns how its files settled and, when its host is unusable
    /// (lost, or no runner starts there), why.
    async fn run(mut self, mut process: Process) -> (BatchEnd, Option<Lost>) {
        let (ending, abandoned) = self.follow(&mut process).await;
        let exit = if abandoned {
            // Killed, yet its output never ended: what holds it is not waited for (dropping the
            // process kills its group again).
            tracing::warn!("a killed batch's output did not end within {KILL_GRACE:?}; not waited for");
            crate::ssh::ExitInfo { code: None, signal: Some(libc::SIGKILL) }
        } else {
            process.wait().await
        };
        let coverage = self.tracker.stores_coverage();
        let (mut end, lost) = self.judge(exit, ending);
        end.coverage = coverage;
        (end, lost)
    }

    /// Reads the process's output into the tracker until it ends, killing it when the run stops
    /// or what runs passes its limit. Returns how it ended, and whether its output was abandoned
    /// (killed, it did not end within `KILL_GRACE`).
    async fn follow(&mut self, process: &mut Process) -> (Ending, bool) {
        let mut output = Decoder::output_marked(&self.sync);
        let mut events_in = Decoder::events();
        let mut pieces = Vec::new();
        let mut ending = Ending::Exited;
        let mut booted = false;
        let mut limit = RunningLimit::new(self.limits.floor);
        // One timer for the batch, moved when the limit changes (not one per chunk).
        let timer = tokio::time::sleep_until(limit.since);
        tokio::pin!(timer);
        // Once killed, how long its output may take to end.
        let grace = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(grace);
        let mut killed = false;
        let mut abandoned = false;
        let cancelled = stop_signal(self.cancel.clone());
        tokio::pin!(cancelled);
        loop {
            let deadline = limit.deadline();
            if let Some(at) = deadline.filter(|at| *at != timer.deadline()) {
                timer.as_mut().reset(at);
            }
            tokio::select! {
                chunk = process.output.recv() => {
                    let Some(chunk) = chunk else { break };
                    read(chunk, process, &mut output, &mut events_in, &mut pieces);
                }
                () = &mut cancelled, if ending != Ending::Stopped => {
                    process.kill();
                    ending = Ending::Stopped;
                }
                _ = &mut timer, if deadline.is_some() && ending == Ending::Exited => {
                    process.kill();
                    ending = Ending::TimedOut { seconds: limit.seconds.unwrap_or_default() };
                }
                () = &mut grace, if killed => {
                    abandoned = true;
                    break;
                }
            }
            if ending != Ending::Exited && !killed {
                killed = true;
                grace.as_mut().reset(tokio::time::Instant::now() + KILL_GRACE);
            }
            self.feed(&mut pieces);
            if !booted && self.tracker.has_started() {
                booted = true;
                self.link.booted(Some(self.started.elapsed().as_secs_f64()));
            }
            limit.follow(self.tracker.current_file(), &self.limits);
        }
        if !booted {
            self.link.booted(None);
        }
        output.finish(&mut pieces);
        events_in.finish(&mut pieces);
        self.feed(&mut pieces);
        (ending, abandoned)
    }

    /// How the batch ended, from its exit status and what its client said went away under it.
    fn judge(mut self, exit: crate::ssh::ExitInfo, ending: Ending) -> (BatchEnd, Option<Lost>) {
        if ending == Ending::Exited && self.served != Served::Fresh && exit.signal.is_some() && !self.tracker.child_ended() {
            // Its client ended by a signal no child of the server sent it: killed from outside.
            self.tracker.client_killed(format!("its batch client {exit} from outside"));
        }
        if ending == Ending::Exited {
            match (self.tracker.lost_under(), self.served) {
                (Some((LostPart::Server, why)), Served::Fork) => {
                    let why = why.to_string();
                    return (self.tracker.finish_lost(), Some(Lost::ForkServer(why)));
                }
                // A preload server that is gone takes its host out as a runner that cannot start.
                (Some((LostPart::Server, _)), Served::Preload) if !self.tracker.runner_started() => {}
                (Some(_), _) => return (self.tracker.finish_lost(), None),
                (None, _) => {}
            }
        }
        if !self.tracker.runner_started() && ending == Ending::Exited && !exit.lost() {
            // The runner ended before testbot's formatter loaded (no rspec or bundle there, a
            // Gemfile that does not resolve, a helper that fails in `.rspec`): every batch on
            // that host would end the same way, so the host is unusable, not the files. Its
            // message is said once, with the host.
            let reason = runner_failure(exit, &self.tracker.batch_output());
            return (self.tracker.spawn_failed(), Some(Lost::Host(reason)));
        }
        let lost = (exit.lost() && ending != Ending::Stopped).then(|| Lost::Host("its connection dropped or it stopped answering".to_string()));
        (self.tracker.finish(exit, ending), lost)
    }

    /// Pieces decoded so far into the tracker, its events to the dispatcher.
    fn feed(&mut self, pieces: &mut Vec<Piece>) {
        let mut events = Vec::new();
        for piece in pieces.drain(..) {
            if let (Piece::Output(line), true) = (&piece, self.limits.no_capture) {
                events.push(RunEvent::Output { slot: self.tracker.slot().id, line: line.clone() });
            }
            self.tracker.piece(piece, &mut events);
        }
        self.link.events(events);
    }
}

/// The limit for what runs now (booting, a file, or between files), and since when.
struct RunningLimit {
    file: Option<String>,
    seconds: Option<f64>,
    since: tokio::time::Instant,
}

impl RunningLimit {
    fn new(floor: Option<f64>) -> RunningLimit {
        RunningLimit { file: None, seconds: floor, since: tokio::time::Instant::now() }
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.seconds.map(|l| self.since + Duration::from_secs_f64(l))
    }

    /// The runner is in file `now` (None: between files): a new file starts its own limit.
    fn follow(&mut self, now: Option<&str>, limits: &Limits) {
        if now != self.file.as_deref() {
            self.seconds = match now {
                Some(path) => limits.for_file(path),
                None => limits.floor,
            };
            self.file = now.map(str::to_string);
            self.since = tokio::time::Instant::now();
        }
    }
}

/// Resolves once the run tells its batches to stop (or the dispatcher is gone). One wait for the
/// whole batch, not one per chunk: every batch waits on the same channel, and each new wait
/// registers with it.
async fn stop_signal(mut cancel: watch::Receiver<bool>) {
    while cancel.changed().await.is_ok() {
        if *cancel.borrow() {
            return;
        }
    }
}

/// One chunk, and what else has arrived (up to 64 chunks in all), decoded in one go. Every
/// chunk taken off the channel is decoded: one received and then dropped was an example lost,
/// which the batch's cross-check found at scale (the runner's counts one above testbot's).
fn read(chunk: Output, process: &mut Process, output: &mut Decoder, events: &mut Decoder, pieces: &mut Vec<Piece>) {
    let mut next = Some(chunk);
    let mut taken = 0;
    while let Some(chunk) = next.take() {
        match chunk {
            Output::Stdout(bytes) | Output::Stderr(bytes) => output.feed(&bytes, pieces),
            Output::Events(bytes) => events.feed(&bytes, pieces),
        }
        taken += 1;
        if taken < 64 {
            next = process.output.try_recv().ok();
        }
    }
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


#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[test]
    fn no_chunk_taken_off_the_channel_is_dropped() {
        let (tx, rx) = mpsc::channel(200);
        let (_exit_tx, exit_rx) = oneshot::channel();
        let (kill_tx, _kill_rx) = oneshot::channel();
        let mut process = Process::new(rx, exit_rx, kill_tx);
        for n in 0..100 {
            let line = format!("{{\"e\":\"file\",\"f\":\"./spec/f{n}_spec.rb\"}}\n");
            tx.try_send(Output::Events(line.into_bytes())).unwrap();
        }
        let (mut output, mut events, mut pieces) = (Decoder::output(), Decoder::events(), Vec::new());
        let mut reads = 0;
        while let Ok(first) = process.output.try_recv() {
            read(first, &mut process, &mut output, &mut events, &mut pieces);
            reads += 1;
        }
        assert_eq!(pieces.len(), 100, "every event decoded");
        assert_eq!(reads, 2, "64 chunks a read at most");
    }
}
