//! The dispatcher: slots pull batches from the shared queue; one loop owns the queue, stopping
//! (a signal, fail-fast, the run's timeout), requeues, retries and lost hosts. Its state is one
//! `Dispatcher`; each message from a batch goes through `handle`.

use super::plan::{select, Limits, Selection};
use super::settle::{not_run, Settle};
use crate::fleet::{build_slots, fork, host_env, hooks, preload, PreparedHost, Slot};
use super::task::{BatchTask, Lost};
use super::{Ended, Error, Msg, Policy};
use crate::events::{ExampleStatus, RunEvent, Stop};
use crate::project::Project;
use crate::schedule::{self, Group, Job, Queue, Tuning};
use crate::signals::Signals;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

type Emit<'e> = &'e mut (dyn FnMut(RunEvent) + Send);

/// The run proper, on hosts already prepared (connected, the project in place): slots pull
/// batches from the queue until every file has its result or the run stops. `started` is when
/// the run began, for its wall time. The first signal stops the run (running batches are
/// killed, the summary printed), a second one stops waiting for them.
pub async fn execute(
    project: &Project,
    hosts: Vec<PreparedHost>,
    policy: &Policy,
    after_run: Option<&str>,
    started: Instant,
    signals: &Signals,
    emit: Emit<'_>,
) -> Result<Ended, Error> {
    let slots = build_slots(project, &hosts);
    let waves: Vec<usize> = slots.iter().map(|(_, wave)| *wave).collect();
    let mut slots: Vec<Slot> = slots.into_iter().map(|(slot, _)| slot).collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // Without --preload (whose servers are forked from them) no host waits for another's fork
    // server: each host's slots start as soon as its own is ready, or has failed.
    let (mut forked, booting) = if project.preload {
        let Some(forked) = fork::prepare(project, &hosts, &mut slots, signals).await else {
            emit(RunEvent::InterruptedBeforeRun { doing: "starting the fork servers".into(), done: Vec::new() });
            return Ok(Ended::Interrupted);
        };
        (forked, Vec::new())
    } else {
        let booting: Vec<(usize, tokio::task::JoinHandle<()>)> = fork::boots(project, &hosts)
            .into_iter()
            .map(|(host, boot)| {
                let tx = tx.clone();
                (host, tokio::spawn(async move {
                    let _ = tx.send(Msg::ForkServer { host, booted: boot.await });
                }))
            })
            .collect();
        (fork::Forked::none(), booting)
    };
    for warning in forked.warnings.drain(..) {
        emit(RunEvent::Warning(warning));
    }
    let Some(preloaded) = preload::prepare(project, &hosts, &mut slots, signals).await? else {
        emit(RunEvent::InterruptedBeforeRun { doing: "starting the preload servers".into(), done: Vec::new() });
        return Ok(Ended::Interrupted);
    };
    let mut forks = vec![false; hosts.len()];
    for slot in &slots {
        forks[slot.host_index] = slot.fork.is_some() || slot.preload.is_some();
    }
    for (h, _) in &booting {
        forks[*h] = true;
    }
    let forking = !slots.is_empty() && slots.iter().all(|s| forks[s.host_index]);
    let (boot_waves, boot_limit) = boot_at_once_when_forked(&hosts, &slots, waves, &forks);
    let plan = Plan::new(project, policy, slots.len(), forking)?;
    emit(RunEvent::RunStarted {
        framework: project.framework.name(),
        files: plan.files,
        planned: plan.jobs.iter().filter_map(|pieces| pieces.first().map(|job| job.path.clone())).collect(),
        slots: slots.iter().map(|s| s.info.clone()).collect(),
        expected_seconds: plan.expected_seconds,
        estimated_by_size: plan.jobs.iter().zip(&plan.known).filter(|(_, known)| !**known).filter_map(|(pieces, _)| pieces.first().map(|job| job.path.clone())).collect(),
        partition: plan.partition.clone(),
    });
    let mut d = Dispatcher::new(project, policy, &hosts, slots, plan, &boot_waves, tx);
    d.boot_limit = boot_limit;
    for (h, _) in &booting {
        d.ready[*h] = false;
    }
    // A helper that does not load takes its host out, with its error said once.
    for (h, reason) in preloaded.failed {
        d.leave(h);
        emit(RunEvent::Warning(format!("host `{}` is left out of this run: {reason}", hosts[h].host.name())));
    }
    // Signals already handled (none, unless one came while preload servers started).
    let mut signals_seen = 0;
    let run_deadline = policy.timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        d.start_batches(emit)?;
        // Nothing runs, and nothing will: no work left, or no server left to wait for.
        if d.running == 0 && (d.stopped.is_some() || d.queue.is_empty() || d.ready.iter().all(|r| *r)) {
            break;
        }
        d.start_merge().await;
        let stop = tokio::select! {
            Some(msg) = rx.recv() => match msg {
                Msg::ForkServer { host, booted } => {
                    forked.settle(&hosts[host], host, &mut d.slots, booted);
                    for warning in forked.warnings.drain(..) {
                        emit(RunEvent::Warning(warning));
                    }
                    d.server_settled(host);
                    None
                }
                msg => d.handle(msg, emit),
            },
            // Ctrl-C or SIGTERM (a cancelled CI job): the first stops the run, the second stops waiting.
            _ = signals.more_than(signals_seen) => {
                signals_seen = signals.count();
                if d.stopped == Some(Stop::Interrupted) {
                    // Dropping the runtime kills what is left.
                    break;
                }
                Some(Stop::Interrupted)
            }
            _ = tokio::time::sleep_until(run_deadline.unwrap_or_else(tokio::time::Instant::now)), if run_deadline.is_some() && d.stopped.is_none() => {
                Some(Stop::Timeout { seconds: policy.timeout.map_or(0.0, |t| t.as_secs_f64()) })
            }
        };
        if let Some(why) = stop {
            d.halt(why, emit);
        }
    }
    // Servers still booting are not waited for: dropping their boot kills them.
    for (_, task) in &booting {
        task.abort();
    }
    // The preload servers are the fork servers' children: they go first. A second Ctrl-C stops
    // waiting for them (a host that stopped answering never acknowledges the kill); dropping
    // them kills what this end still holds.
    let servers = async {
        preloaded.servers.stop().await;
        forked.servers.stop().await;
    };
    tokio::select! {
        () = servers => {}
        () = signals.more_than(1) => {}
    }
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Events(events) = msg {
            d.late_events(events, emit);
        }
    }
    // The suite's coverage, merged once from every batch's result (not after a stop: a part of
    // the suite cannot meet its minimum).
    // A signal stops the merge and the after_run hook as it stops the batches (dropping them
    // kills their processes): the run ends interrupted, with its summary and reports.
    if d.stopped.is_none() {
        match signals.unless_stopped(d.coverage()).await {
            Some(Some(report)) => emit(RunEvent::Coverage(report)),
            Some(None) => {}
            None => d.halt(Stop::Interrupted, emit),
        }
    }
    if d.stopped != Some(Stop::Interrupted) {
        if let Some(script) = after_run {
            if signals.unless_stopped(d.after_run(script, emit)).await.is_none() {
                d.halt(Stop::Interrupted, emit);
            }
        }
    }
    let stopped = d.stopped;
    d.settle.flush(emit);
    emit(RunEvent::RunFinished { wall_seconds: started.elapsed().as_secs_f64(), stopped });
    Ok(Ended::Ran)
}

/// What the dispatcher starts from: the jobs (a long file as pieces), their limits and tuning.
struct Plan {
    jobs: Vec<Vec<Job>>,
    /// Whether each file's time came from the history.
    known: Vec<bool>,
    files: usize,
    expected_seconds: f64,
    limits: Arc<Limits>,
    tuning: Tuning,
    partition: Option<Arc<schedule::partition::Share>>,
}

impl Plan {
    /// `forking`: every slot's batches are forked from a server, so a batch costs milliseconds.
    fn new(project: &Project, policy: &Policy, slots: usize, forking: bool) -> Result<Plan, Error> {
        let Selection { history, estimates, partition } = select(project, policy.partition);
        let expected_seconds = estimates.iter().fold(0.0, |a, e| a + e.seconds);
        // A knob for tests and benchmarks, as TESTBOT_TUNING: how long a stuck server holds a batch.
        let server_start = std::env::var(crate::framework::client::START_TIMEOUT_VAR)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0 && s.is_finite())
            .map_or(super::plan::SERVER_START_TIMEOUT, std::time::Duration::from_secs_f64);
        let limits = Arc::new(Limits {
            floor: policy.file_timeout.map(|d| d.as_secs_f64()),
            history: estimates.iter().filter_map(|e| history.get(&e.path).map(|s| (e.path.clone(), s))).collect(),
            server_start,
        });
        let defaults = if forking { Tuning::forked() } else { Tuning::default() };
        let tuning = match std::env::var("TESTBOT_TUNING") {
            Ok(spec) => Tuning::parse_over(defaults, &spec).map_err(|e| Error::Usage(format!("TESTBOT_TUNING: {e}")))?,
            Err(_) => defaults,
        };
        // Long files run as pieces of their examples on several slots (RSpec, from the examples log).
        let recorded = project.examples_log().as_deref().map(crate::history::examples_log::load).unwrap_or_default();
        let ideal = expected_seconds / slots.max(1) as f64;
        let only: std::collections::HashMap<&str, &crate::project::Only> =
            project.files.iter().filter_map(|f| f.only.as_ref().map(|o| (f.path.as_str(), o))).collect();
        let jobs: Vec<Vec<Job>> = estimates
            .iter()
            .map(|e| (e, project.group_of(&e.path)))
            // An isolated file is never split: its pieces would run side by side.
            .map(|(e, group)| match (only.get(e.path.as_str()), group != Group::Isolated && e.known && e.seconds > schedule::split::SPLIT_SHARE * ideal) {
                // Part of a file, as asked: it runs as one job, never split.
                (Some(part), _) => {
                    let mut job = Job::new(e.path.clone(), e.seconds);
                    job.examples = part.ids.clone();
                    job.lines = part.lines.clone();
                    vec![job]
                }
                (None, true) => match crate::history::examples_log::examples_of(&recorded, &project.root, &e.path) {
                    Some(examples) => schedule::split::pieces(&e.path, e.seconds, &examples, ideal, slots),
                    None => vec![Job::new(e.path.clone(), e.seconds)],
                },
                (None, false) => vec![Job::new(e.path.clone(), e.seconds)],
            }
            .into_iter()
            .map(|job| Job { group, ..job })
            .collect())
            .collect();
        let known = estimates.iter().map(|e| e.known).collect();
        Ok(Plan { jobs, known, files: estimates.len(), expected_seconds, limits, tuning, partition })
    }
}

/// A batch forked from a fork server or a preload server starts in tens of milliseconds, not a
/// Ruby boot: on a host where every slot forks its batches, all its slots take their first
/// batch at once (wave 0) instead of one core's worth at a time. Returns each slot's boot wave,
/// and how many runners each host may boot at once.
fn boot_at_once_when_forked(hosts: &[PreparedHost], slots: &[Slot], waves: Vec<usize>, forks: &[bool]) -> (Vec<usize>, Vec<usize>) {
    let limits: Vec<usize> = hosts.iter().zip(forks).map(|(host, f)| if *f { host.boot_parallelism.max(host.slots) } else { host.boot_parallelism }).collect();
    let waves = slots
        .iter()
        .zip(waves)
        .map(|(slot, wave)| if limits[slot.host_index] >= hosts[slot.host_index].slots { 0 } else { wave })
        .collect();
    (waves, limits)
}

/// The dispatcher's state.
struct Dispatcher<'a> {
    project: &'a Project,
    policy: &'a Policy,
    hosts: &'a [PreparedHost],
    slots: Vec<Slot>,
    limits: Arc<Limits>,
    queue: Queue,
    settle: Settle<'a>,
    /// Idle slots, a stack: the slot that boots first is on top.
    idle: Vec<usize>,
    running: usize,
    /// Runners booting per host: booting Ruby is CPU work, and more runners booting on a host
    /// than it has cores slows them all.
    booting: Vec<usize>,
    /// Hosts that left the run.
    lost: Vec<bool>,
    /// Hosts whose slots may take work: false while the host's fork server boots.
    ready: Vec<bool>,
    /// Runners a host may boot at once: its cores, or all its slots when its batches fork.
    boot_limit: Vec<usize>,
    failures_seen: usize,
    stopped: Option<Stop>,
    /// Whether a slot may take work now that could not before: most messages are examples
    /// finishing, and scanning every idle slot for each would cost events × slots.
    dispatch: bool,
    tx: mpsc::UnboundedSender<Msg>,
    cancel: watch::Sender<bool>,
    /// Whether the coverage merge may start before the batches end (the suite names SimpleCov).
    merge_early: bool,
    /// The coverage merge's process, once started: it loads the suite's helpers while the last
    /// batches run.
    merge: Option<crate::fleet::coverage::Merge>,
}

impl<'a> Dispatcher<'a> {
    fn new(
        project: &'a Project,
        policy: &'a Policy,
        hosts: &'a [PreparedHost],
        slots: Vec<Slot>,
        plan: Plan,
        boot_waves: &[usize],
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Dispatcher<'a> {
        let settle = Settle::new(policy, &plan.jobs);
        let queue = Queue::with_jobs(plan.jobs, &plan.known, boot_waves, plan.tuning);
        Dispatcher {
            project,
            policy,
            hosts,
            idle: (0..slots.len()).rev().collect(),
            slots,
            limits: plan.limits,
            queue,
            settle,
            running: 0,
            booting: vec![0; hosts.len()],
            lost: vec![false; hosts.len()],
            ready: vec![true; hosts.len()],
            boot_limit: hosts.iter().map(|h| h.boot_parallelism).collect(),
            failures_seen: 0,
            stopped: None,
            dispatch: true,
            tx,
            cancel: watch::channel(false).0,
            merge_early: crate::fleet::coverage::likely(project),
            merge: None,
        }
    }

    /// Starts the coverage merge's process once every batch has been handed out and has booted
    /// (it then competes with no runner's boot for the cores), so that loading the suite's
    /// helpers overlaps the last batches instead of following them.
    async fn start_merge(&mut self) {
        let booting = self.booting.iter().sum::<usize>();
        if self.merge_early && self.merge.is_none() && self.stopped.is_none() && self.queue.is_empty() && booting == 0 {
            let checks = self.policy.partition.is_none();
            self.merge = Some(crate::fleet::coverage::Merge::start(self.project, checks).await);
        }
    }

    /// Gives every idle slot that may take work a batch; once no host is left, what is still
    /// queued is reported as not run.
    fn start_batches(&mut self, emit: Emit<'_>) -> Result<(), Error> {
        if self.stopped.is_some() || !self.dispatch {
            return Ok(());
        }
        self.dispatch = false;
        let mut k = self.idle.len();
        while k > 0 && !self.queue.is_empty() {
            k -= 1;
            let i = self.idle[k];
            let h = self.slots[i].host_index;
            if !self.ready[h] || self.booting[h] >= self.boot_limit[h] {
                continue;
            }
            // Nothing else runs: a job that avoids this slot (it hung or crashed here) may have
            // no other slot left.
            let wanted = if self.running == 0 && k == 0 { None } else { Some(self.slots[i].info.id) };
            let Some(batch) = self.queue.next_batch_for(wanted) else { continue };
            let (batch, failures) = self.settle.starting(batch, &mut self.queue, emit);
            self.failures_seen += failures;
            let Some(batch) = batch else {
                // Its files were past their bound and reported as not run: the slot is still free.
                k += 1;
                continue;
            };
            self.idle.remove(k);
            self.running += 1;
            self.booting[h] += 1;
            let channels = (self.tx.clone(), self.cancel.subscribe());
            let task = BatchTask::new(&self.slots[i], i, batch, self.project, self.limits.clone(), channels);
            tokio::spawn(task.run());
        }
        if self.running == 0 && !self.queue.is_empty() && self.idle.is_empty() {
            // Every host is gone: what is left cannot run anywhere.
            let gone: Vec<String> = self.hosts.iter().map(|h| h.host.name().to_string()).collect();
            let why = format!("no host was left to run it ({} left the run)", gone.join(", "));
            for job in self.queue.drain() {
                self.settle.file(not_run(job, why.clone(), String::new()), &mut self.queue, true, emit);
            }
        }
        Ok(())
    }

    /// One message from a batch; returns why the run must stop, if it must.
    fn handle(&mut self, msg: Msg, emit: Emit<'_>) -> Option<Stop> {
        match msg {
            Msg::Events(events) => {
                for event in events {
                    // At once: the events after it settle as in a stopped run.
                    if let Some(why) = self.event(event, emit) {
                        self.halt(why, emit);
                    }
                }
                None
            }
            // The loop settles these: it owns the servers.
            Msg::ForkServer { .. } => None,
            Msg::Booted { slot, seconds } => {
                self.booting[self.slots[slot].host_index] -= 1;
                // Later batches are sized for the boot measured, not the one assumed.
                if let Some(seconds) = seconds {
                    tracing::debug!(slot = self.slots[slot].info.id, seconds, "a runner booted");
                    self.queue.observe_boot(seconds);
                }
                self.dispatch = true;
                None
            }
            Msg::BatchDone { slot, seconds, requeue, lost } => {
                self.running -= 1;
                self.dispatch = true;
                let h = self.slots[slot].host_index;
                emit(RunEvent::BatchFinished { slot: self.slots[slot].info.id, seconds });
                match lost {
                    Some(Lost::Host(reason)) if !self.lost[h] => {
                        self.leave(h);
                        emit(RunEvent::HostLost { host: self.slots[slot].info.host.clone(), reason });
                    }
                    Some(Lost::ForkServer(reason)) => self.fork_server_lost(h, &reason, emit),
                    _ => {}
                }
                if !self.lost[h] {
                    self.idle.push(slot);
                }
                if self.stopped.is_none() {
                    self.failures_seen += self.settle.requeues(requeue, &mut self.queue, emit);
                }
                fail_fast(self.policy, self.failures_seen)
            }
        }
    }

    fn event(&mut self, event: RunEvent, emit: Emit<'_>) -> Option<Stop> {
        match event {
            RunEvent::FileFinished(report) => {
                if report.error.is_none() {
                    self.queue.observe_file(report.expected_seconds, report.seconds);
                }
                let returned = self.queue.returned();
                self.failures_seen += self.settle.file(*report, &mut self.queue, self.stopped.is_some(), emit);
                // A retry went back to the queue: an idle slot may take it.
                self.dispatch |= self.queue.returned() != returned;
            }
            event => {
                if self.policy.retries == 0 && matches!(event, RunEvent::ExampleFinished { status: ExampleStatus::Failed, .. }) {
                    // Without retries a failure is final as it happens: stop promptly.
                    self.failures_seen += 1;
                }
                emit(event);
            }
        }
        fail_fast(self.policy, self.failures_seen)
    }

    /// Host `h` takes no more work.
    /// Host `h`'s fork server boot ended: its slots take work, forked or (the server did not
    /// start) as fresh processes, which boot a core's worth at a time.
    fn server_settled(&mut self, h: usize) {
        self.ready[h] = true;
        self.dispatch = true;
        if self.slots.iter().any(|s| s.host_index == h && s.fork.is_none() && s.preload.is_none()) {
            self.boot_limit[h] = self.hosts[h].boot_parallelism;
        }
    }

    /// Host `h`'s fork server went away or is stuck: no batch goes back to it; its slots run
    /// fresh processes from now on, a core's worth booting at a time (said once).
    fn fork_server_lost(&mut self, h: usize, reason: &str, emit: Emit<'_>) {
        let mut dropped = false;
        for slot in self.slots.iter_mut().filter(|s| s.host_index == h) {
            dropped |= slot.fork.take().is_some();
        }
        if dropped {
            self.boot_limit[h] = self.hosts[h].boot_parallelism;
            let name = self.hosts[h].host.name();
            emit(RunEvent::Warning(format!("host `{name}`: {reason}; its batches run as fresh processes from now on")));
        }
    }

    fn leave(&mut self, h: usize) {
        self.lost[h] = true;
        let slots = &self.slots;
        self.idle.retain(|&i| slots[i].host_index != h);
        let alive = self.slots.iter().filter(|s| !self.lost[s.host_index]).count();
        self.queue.set_slots(alive);
    }

    /// Stops the run (the first reason wins, but a signal overrides): nothing more is
    /// dispatched and every running batch is told to stop.
    fn halt(&mut self, why: Stop, emit: Emit<'_>) {
        if self.stopped.is_none() || why == Stop::Interrupted {
            self.stopped = Some(why);
            emit(RunEvent::Stopping(why));
            self.queue.drain();
            let _ = self.cancel.send(true);
        }
    }

    /// Events that arrived after the loop ended settle as in a stopped run.
    fn late_events(&mut self, events: Vec<RunEvent>, emit: Emit<'_>) {
        for event in events {
            match event {
                RunEvent::FileFinished(report) => {
                    self.settle.file(*report, &mut self.queue, true, emit);
                }
                event => emit(event),
            }
        }
    }

    /// The coverage of every batch, from every host still in the run, merged (None: the suite
    /// measures none). What ran on a host that left is missing from it, and said so.
    async fn coverage(&mut self) -> Option<crate::events::CoverageReport> {
        let alive: Vec<&PreparedHost> = self.hosts.iter().zip(&self.lost).filter(|(_, lost)| !**lost).map(|(h, _)| h).collect();
        // A share of the suite (`--partition`) cannot be held to the suite's minimum: its merged
        // result is stored for the shares to be collated, unchecked.
        let checks = self.policy.partition.is_none();
        let early = self.merge.take();
        let mut report = crate::fleet::coverage::finish(self.project, &alive, checks, early).await?;
        for (h, _) in self.hosts.iter().zip(&self.lost).filter(|(_, lost)| **lost) {
            report.warnings.push(format!("host `{}` left the run: the coverage of the batches it ran is missing from the merge", h.host.name()));
        }
        Some(report)
    }

    /// `after_run` on every host still in the run; a failure is a warning.
    async fn after_run(&self, script: &str, emit: Emit<'_>) {
        let alive: Vec<&PreparedHost> = self.hosts.iter().zip(&self.lost).filter(|(_, lost)| !**lost).map(|(h, _)| h).collect();
        let runs = alive.iter().map(|h| hooks::run_hook(&*h.host, "after_run", script, host_env(self.project, h), h.workdir.clone()));
        for (h, result) in alive.iter().zip(futures::future::join_all(runs).await) {
            if let Err(why) = result {
                emit(RunEvent::Warning(format!("host `{}`: {why}", h.host.name())));
            }
        }
    }
}

fn fail_fast(policy: &Policy, failures: usize) -> Option<Stop> {
    match policy.fail_fast {
        Some(n) if failures >= n.max(1) => Some(Stop::FailFast { failures }),
        _ => None,
    }
}
