//! The dispatcher: slots pull batches from the shared queue; one loop owns the queue, stopping
//! (a signal, fail-fast, the run's timeout), requeues, retries, lost hosts and the fork servers
//! that come up while it runs. Its state is one `Dispatcher`; each message from a batch goes
//! through `handle`.

use super::hosts::{boot_waves, HostState};
use super::plan::Workload;
use super::settle::{not_run, RunPhase, Settle};
use super::source::{Source, Taken, ASK_AGAIN};
use super::task::{Launcher, Lost};
use super::{Emit, Error, Msg, Policy, RunConfig};
use crate::events::{ExampleStatus, RunEvent, Stop, Warning};
use crate::fleet::servers::{self, RunServers};
use crate::fleet::{build_slots_from, Arrival, Joined, Joining, Launch, PreparedHost, Slot};
use crate::schedule::Queue;
use crate::signals::Signals;
use tokio::sync::mpsc;

/// The dispatcher's state.
pub(super) struct Dispatcher<'a> {
    launcher: Launcher<'a>,
    policy: &'a Policy,
    pub(super) hosts: Vec<HostState>,
    slots: Vec<Slot>,
    queue: Queue,
    /// Work beyond the run's own plan (`--queue`), until it says there is no more.
    source: Option<Box<dyn Source + 'a>>,
    /// The source had nothing for now: ask it again then.
    ask_again: Option<tokio::time::Instant>,
    /// The source's times are in the files' limits.
    timed: bool,
    pub(super) settle: Settle<'a>,
    /// What the batches send.
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Idle slots, a stack: the slot that boots first is on top.
    idle: Vec<usize>,
    running: usize,
    failures_seen: usize,
    pub(super) stopped: Option<Stop>,
    /// Whether a slot may take work now that could not before: most messages are examples
    /// finishing, and scanning every idle slot for each would cost events × slots.
    dispatch: bool,
    /// Whether the coverage merge may start before the batches end (the suite names SimpleCov).
    merge_early: bool,
    /// The coverage merge's process, once started: it loads the suite's helpers while the last
    /// batches run.
    pub(super) merge: Option<crate::fleet::coverage::Merge>,
    /// The `before_slot` hook, for the slots of a host that joins the run.
    before_slot: Option<std::sync::Arc<str>>,
    /// Hosts are still getting ready: they may join the run.
    awaiting_hosts: bool,
    /// What the hosts that joined the run keep until it ends (run directories, leases).
    joined_keep: Vec<crate::fleet::Kept>,
}

impl<'a> Dispatcher<'a> {
    /// `waves`: each slot's boot wave, as the fleet ordered them.
    pub(super) fn new(config: &RunConfig<'a>, hosts: Vec<HostState>, slots: Vec<Slot>, workload: Workload, waves: Vec<usize>) -> Dispatcher<'a> {
        let (tx, rx) = mpsc::unbounded_channel();
        let settle = Settle::new(config.policy, &workload.jobs);
        let waves = boot_waves(&hosts, &slots, waves);
        let queue = match (config.policy.in_order, config.policy.shuffle) {
            (true, _) => Queue::in_order(workload.jobs.into_iter().flatten().collect(), workload.tuning),
            (false, Some(seed)) => Queue::shuffled(workload.jobs, &workload.known, &waves, workload.tuning, seed),
            (false, None) => Queue::with_jobs(workload.jobs, &workload.known, &waves, workload.tuning),
        };
        Dispatcher {
            launcher: Launcher::new(config.project, workload.limits, tx),
            policy: config.policy,
            hosts,
            idle: (0..slots.len()).rev().collect(),
            slots,
            queue,
            source: None,
            ask_again: None,
            timed: false,
            settle,
            rx,
            running: 0,
            failures_seen: 0,
            stopped: None,
            dispatch: true,
            merge_early: crate::fleet::coverage::likely(config.project),
            merge: None,
            before_slot: config.before_slot.map(std::sync::Arc::from),
            awaiting_hosts: false,
            joined_keep: Vec::new(),
        }
    }

    /// The loop: batches start as slots free up, until every file has its result or the run
    /// stops. The first signal stops the run (running batches are killed), a second one stops
    /// waiting for them. Fork servers that finish booting meanwhile are settled here.
    pub(super) async fn run(&mut self, servers: &mut RunServers, joining: &mut Joining<'_>, signals: &Signals, emit: Emit<'_>) -> Result<(), Error> {
        // Signals already handled (none, unless one came while preload servers started).
        let mut signals_seen = 0;
        let timeout = self.policy.timeout;
        let run_deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            self.awaiting_hosts = !joining.is_empty();
            self.refill().await?;
            self.start_batches(emit)?;
            // Nothing runs, and nothing will: no work left, no slot left, or no server nor host
            // left to wait for (and no source to ask again).
            let waits_for = |d: &Self| d.awaiting_hosts || d.hosts.iter().any(|h| !h.ready) || (d.source.is_some() && !d.idle.is_empty());
            if self.running == 0 && (self.stopped.is_some() || !self.more_to_come() || !waits_for(&*self)) {
                return Ok(());
            }
            if self.running == 0 && self.queue.is_empty() && self.ask_again.is_none() {
                // What the source gave did not start (each file past its bound): ask again soon.
                self.ask_again = Some(tokio::time::Instant::now() + ASK_AGAIN / 10);
            }
            self.start_merge().await;
            let ask_again = self.ask_again;
            let stop = tokio::select! {
                Some(msg) = self.rx.recv() => self.handle(msg, emit),
                (h, booted) = servers.next_boot() => {
                    if let Some(warning) = servers.settle_fork(&self.hosts[h].prepared, h, &mut self.slots, booted) {
                        emit(RunEvent::Warning(warning));
                    }
                    self.server_settled(h);
                    None
                }
                // A host that got ready after the run started joins it.
                arrival = joining.next(), if self.stopped.is_none() => {
                    self.arrival(arrival, servers, emit);
                    None
                }
                // Ctrl-C or SIGTERM (a cancelled CI job): the first stops the run, the second stops waiting.
                _ = signals.more_than(signals_seen) => {
                    signals_seen = signals.count();
                    if self.stopped == Some(Stop::Interrupted) {
                        // Dropping the runtime kills what is left.
                        return Ok(());
                    }
                    Some(Stop::Interrupted)
                }
                _ = tokio::time::sleep_until(run_deadline.unwrap_or_else(tokio::time::Instant::now)), if run_deadline.is_some() && self.stopped.is_none() => {
                    Some(Stop::Timeout { seconds: timeout.map_or(0.0, |t| t.as_secs_f64()) })
                }
                _ = tokio::time::sleep_until(ask_again.unwrap_or_else(tokio::time::Instant::now)), if ask_again.is_some() => {
                    self.ask_again = None;
                    None
                }
            };
            if let Some(why) = stop {
                self.halt(why, emit);
            }
        }
    }

    /// Work comes from `source` too (`--queue`): the run asks it whenever its queue is empty
    /// and a slot is free.
    pub(super) fn take_from(&mut self, source: Box<dyn Source + 'a>) {
        self.source = Some(source);
    }

    /// Whether work is queued or may still come from the source.
    fn more_to_come(&self) -> bool {
        !self.queue.is_empty() || self.source.is_some()
    }

    /// Asks the source for as many files as there are free slots, when the queue is empty (and
    /// the source did not just say "later").
    async fn refill(&mut self) -> Result<(), Error> {
        let now = tokio::time::Instant::now();
        if self.stopped.is_some() || !self.queue.is_empty() || self.ask_again.is_some_and(|t| now < t) {
            return Ok(());
        }
        let free = self.idle.iter().filter(|&&i| self.hosts[self.slots[i].host_index].ready).count();
        let Some(source) = self.source.as_mut().filter(|_| free > 0) else { return Ok(()) };
        match source.take(free).await.map_err(Error::Source)? {
            Taken::Jobs(jobs) => {
                if !self.timed {
                    // The files' time limits know what the source planned by (`--file-timeout`).
                    self.launcher.learn_times(source.times());
                    self.timed = true;
                }
                for job in jobs {
                    self.queue.add(job);
                }
                self.dispatch = true;
            }
            Taken::Later => self.ask_again = Some(now + ASK_AGAIN),
            Taken::Done => self.source = None,
        }
        Ok(())
    }

    /// The project the run runs.
    /// The median boot of the run's batches (None: none measured), for the runtime history.
    pub(super) fn boot_seconds(&self) -> Option<f64> {
        self.queue.boot_seconds()
    }

    pub(super) fn project(&self) -> &'a crate::project::Project {
        self.launcher.project
    }

    /// The hosts still in the run.
    pub(super) fn alive(&self) -> impl Iterator<Item = &PreparedHost> + '_ {
        self.hosts.iter().filter(|h| !h.left).map(|h| &*h.prepared)
    }

    /// The hosts still in the run where some batch said it stores its coverage result: the
    /// only ones with results to bring back (a batch that ended before its `done` stored none).
    pub(super) fn with_coverage(&self) -> impl Iterator<Item = &PreparedHost> + '_ {
        self.hosts.iter().filter(|h| !h.left && h.coverage).map(|h| &*h.prepared)
    }

    /// Starts the coverage merge's process once every batch has been handed out and has booted
    /// (it then competes with no runner's boot for the cores), so that loading the suite's
    /// helpers overlaps the last batches instead of following them.
    async fn start_merge(&mut self) {
        let booting = self.hosts.iter().map(|h| h.booting).sum::<usize>();
        if self.merge_early && self.merge.is_none() && self.stopped.is_none() && !self.more_to_come() && booting == 0 {
            let checks = self.policy.whole_suite();
            self.merge = Some(crate::fleet::coverage::Merge::start(self.project(), checks).await);
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
            if !self.hosts[h].ready || self.hosts[h].booting >= self.hosts[h].boot_limit {
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
            self.hosts[h].boot_started(i);
            self.launcher.start(&self.slots[i], i, batch);
            // Its first batch runs the slot's `before_slot` hook: the next ones do not.
            self.slots[i].before_slot = None;
        }
        if self.running == 0 && !self.queue.is_empty() && self.idle.is_empty() && !self.awaiting_hosts {
            // Every host is gone: what is left cannot run anywhere.
            let gone: Vec<String> = self.hosts.iter().map(|h| h.prepared.host.name().to_string()).collect();
            let why = format!("no host was left to run it ({} left the run)", gone.join(", "));
            for job in self.queue.drain() {
                self.settle.file(not_run(job, why.clone(), String::new()), &mut self.queue, RunPhase::Stopping, emit);
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
            Msg::Booted { slot, seconds } => {
                let share = self.hosts[self.slots[slot].host_index].boot_ended(slot);
                // Later batches are sized for the boot measured, not the one assumed: as it would
                // take with a core of its own.
                if let Some(seconds) = seconds {
                    tracing::debug!(slot = self.slots[slot].info.id, seconds, share, "a runner booted");
                    self.queue.observe_boot(seconds * share);
                }
                self.dispatch = true;
                None
            }
            Msg::BatchDone { slot, seconds, requeue, lost, coverage } => {
                self.running -= 1;
                self.dispatch = true;
                let h = self.slots[slot].host_index;
                self.hosts[h].coverage |= coverage;
                emit(RunEvent::BatchFinished { slot: self.slots[slot].info.id, seconds });
                match lost {
                    Some(Lost::Host(reason)) if !self.hosts[h].left => {
                        self.leave(h);
                        let others_remain = self.hosts.iter().any(|host| !host.left);
                        emit(RunEvent::HostLost { host: self.slots[slot].info.host.clone(), reason, others_remain });
                    }
                    Some(Lost::ForkServer(reason)) => self.fork_server_lost(h, &reason, emit),
                    _ => {}
                }
                if !self.hosts[h].left {
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
                self.failures_seen += self.settle.file(*report, &mut self.queue, RunPhase::of(self.stopped), emit);
                // A retry went back to the queue: an idle slot may take it.
                self.dispatch |= self.queue.returned() != returned;
            }
            event => {
                let live = self.policy.retries == 0 && self.policy.quarantine.is_empty();
                if live && matches!(event, RunEvent::ExampleFinished { status: ExampleStatus::Failed, .. }) {
                    // Without retries (and no quarantine to excuse it) a failure is final as it
                    // happens: stop promptly.
                    self.failures_seen += 1;
                }
                emit(event);
            }
        }
        fail_fast(self.policy, self.failures_seen)
    }

    /// Host `h`'s fork server boot ended: its slots take work, forked or (the server did not
    /// start) as fresh processes, which boot a core's worth at a time.
    fn server_settled(&mut self, h: usize) {
        self.hosts[h].ready = true;
        self.dispatch = true;
        if self.slots.iter().any(|s| s.host_index == h && s.launch == Launch::Fresh) {
            self.hosts[h].boots_fresh();
        }
    }

    /// Host `h`'s fork server went away or is stuck: no batch goes back to it; its slots run
    /// fresh processes from now on, a core's worth booting at a time (said once).
    fn fork_server_lost(&mut self, h: usize, reason: &str, emit: Emit<'_>) {
        if servers::forget_fork_server(&mut self.slots, h) {
            self.hosts[h].boots_fresh();
            let host = self.hosts[h].prepared.host.name().to_string();
            emit(RunEvent::Warning(Warning::ForkServerLost { host, reason: reason.to_string() }));
        }
    }

    /// What the hosts still getting ready said: a phase, a host left out, or one ready, which
    /// joins the run: its slots (ids after the run's) take work from the queue from now on.
    fn arrival(&mut self, arrival: Arrival, servers: &mut RunServers, emit: Emit<'_>) {
        let joined = match arrival {
            Arrival::Phase(phase) => return emit(RunEvent::Setup(phase)),
            Arrival::Host(joined) => *joined,
        };
        let (host, kept) = match joined {
            Joined::LeftOut(left) => {
                return emit(RunEvent::Warning(Warning::HostLeftOut { host: left.host.clone(), reason: left.failure.to_string() }));
            }
            Joined::Ready(host, kept) => (host, kept),
        };
        for note in &kept.notes {
            emit(RunEvent::Warning(Warning::Leasing(note.clone())));
        }
        let h = self.hosts.len();
        let first = self.slots.len();
        let booting = servers.boot_joined(self.project(), &host, h);
        let mut infos = Vec::new();
        for (mut slot, _) in build_slots_from(self.project(), std::slice::from_ref(&host), first + 1) {
            slot.host_index = h;
            slot.before_slot = self.before_slot.clone();
            infos.push(slot.info.clone());
            self.slots.push(slot);
        }
        servers.open_sessions_early(&self.slots[first..]);
        self.hosts.push(HostState::new(host, booting, !booting));
        // A stack: the host's first slot on top.
        self.idle.extend((first..self.slots.len()).rev());
        self.joined_keep.push(kept);
        let alive = self.slots.iter().filter(|s| !self.hosts[s.host_index].left).count();
        self.queue.set_slots(alive);
        self.dispatch = true;
        emit(RunEvent::HostJoined { slots: infos });
    }

    /// Host `h` takes no more work.
    pub(super) fn leave(&mut self, h: usize) {
        self.hosts[h].left = true;
        let slots = &self.slots;
        self.idle.retain(|&i| slots[i].host_index != h);
        let alive = self.slots.iter().filter(|s| !self.hosts[s.host_index].left).count();
        self.queue.set_slots(alive);
    }

    /// Stops the run (the first reason wins, but a signal overrides): nothing more is
    /// dispatched and every running batch is told to stop.
    pub(super) fn halt(&mut self, why: Stop, emit: Emit<'_>) {
        if self.stopped.is_none() || why == Stop::Interrupted {
            self.stopped = Some(why);
            emit(RunEvent::Stopping(why));
            self.queue.drain();
            self.source = None;
            self.launcher.stop_all();
        }
    }

    /// Events that arrived after the loop ended settle as in a stopped run.
    pub(super) fn late_events(&mut self, emit: Emit<'_>) {
        while let Ok(msg) = self.rx.try_recv() {
            let Msg::Events(events) = msg else { continue };
            for event in events {
                match event {
                    RunEvent::FileFinished(report) => {
                        self.settle.file(*report, &mut self.queue, RunPhase::Stopping, emit);
                    }
                    event => emit(event),
                }
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
