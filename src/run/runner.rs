//! A run from start to end: `RunBuilder` holds what it is asked to do, `build` gives it its
//! hosts, and `Runner::execute` brings up the servers, plans the work, hands the loop to the
//! dispatcher, then tears down, merges the coverage and runs `after_run`.

use super::dispatch::Dispatcher;
use super::hosts::HostState;
use super::plan::Workload;
use super::source::Source;
use super::{Emit, Ended, Error, Policy};
use crate::events::{RunEvent, Stop, Warning};
use crate::fleet::{build_slots, host_env, hooks, servers, Joining, PreparedHost, Slot};
use crate::project::Project;
use crate::signals::Signals;
use std::time::Instant;

/// What a run is asked to do, whatever hosts it gets.
#[derive(Clone, Copy)]
pub(super) struct RunConfig<'a> {
    pub(super) project: &'a Project,
    pub(super) policy: &'a Policy,
    /// The `after_run` hook's script.
    after_run: Option<&'a str>,
    /// The `before_slot` hook's script, run by each slot before its first batch.
    pub(super) before_slot: Option<&'a str>,
    /// When the run began, for its wall time.
    started: Instant,
}

/// Sets up a run: `RunBuilder::new(project, policy).after_run(script).build(hosts).execute(…)`.
pub struct RunBuilder<'a> {
    config: RunConfig<'a>,
    source: Option<Box<dyn Source + 'a>>,
}

impl<'a> RunBuilder<'a> {
    pub fn new(project: &'a Project, policy: &'a Policy) -> RunBuilder<'a> {
        RunBuilder { config: RunConfig { project, policy, after_run: None, before_slot: None, started: Instant::now() }, source: None }
    }

    /// The run plans nothing itself: its slots take their files from `source` (the build's
    /// shared queue, `--queue`) until it has no more.
    pub fn source(mut self, source: Box<dyn Source + 'a>) -> RunBuilder<'a> {
        self.source = Some(source);
        self
    }

    /// The `after_run` hook, run on every host still in the run once the batches are done.
    pub fn after_run(mut self, script: Option<&'a str>) -> RunBuilder<'a> {
        self.config.after_run = script;
        self
    }

    /// The `before_slot` hook, run by each slot when it gets its first batch (a slot that gets
    /// none never runs it). Not with `--preload`: the fleet ran it before the preload servers.
    pub fn before_slot(mut self, script: Option<&'a str>) -> RunBuilder<'a> {
        self.config.before_slot = script;
        self
    }

    /// When the run began (the hosts' preparation included), for its wall time; default: now.
    pub fn started(mut self, at: Instant) -> RunBuilder<'a> {
        self.config.started = at;
        self
    }

    /// The run on hosts already prepared (connected, the project in place), and those that
    /// join it when they are (`joining`).
    pub fn build(self, hosts: Vec<PreparedHost>, joining: Joining<'a>) -> Runner<'a> {
        Runner { config: self.config, hosts, joining, source: self.source }
    }
}

/// A run ready to go on its hosts.
pub struct Runner<'a> {
    config: RunConfig<'a>,
    hosts: Vec<PreparedHost>,
    source: Option<Box<dyn Source + 'a>>,
    joining: Joining<'a>,
}

impl Runner<'_> {
    /// Slots pull batches from the queue until every file has its result or the run stops;
    /// every event goes to `emit`. The first signal stops the run (running batches are
    /// killed, the summary printed), a second one stops waiting for them.
    pub async fn execute(self, signals: &Signals, emit: Emit<'_>) -> Result<Ended, Error> {
        let Runner { config, hosts, mut joining, source } = self;
        let (mut slots, waves): (Vec<Slot>, Vec<usize>) = build_slots(config.project, &hosts).into_iter().unzip();
        for slot in &mut slots {
            slot.before_slot = config.before_slot.map(std::sync::Arc::from);
        }
        let Some(mut servers) = servers::start(config.project, &hosts, &mut slots, signals, emit).await? else {
            return Ok(Ended::Interrupted);
        };
        servers.open_sessions_early(&slots);
        let names: Vec<String> = hosts.iter().map(|h| h.host.name().to_string()).collect();
        let host_states = HostState::all(hosts, &slots, &servers);
        let forking = !slots.is_empty() && slots.iter().all(|s| host_states[s.host_index].forks);
        let mut workload = Workload::new(config.project, config.policy, slots.len(), forking, names.len());
        if source.is_some() {
            workload.hand_over();
        }
        emit(run_started(config.project, &workload, &slots));
        let mut d = Dispatcher::new(&config, host_states, slots, workload, waves);
        if let Some(source) = source {
            d.take_from(source);
        }
        // A helper that does not load takes its host out, with its error said once.
        for (h, reason) in std::mem::take(&mut servers.left_out) {
            d.leave(h);
            emit(RunEvent::Warning(Warning::HostLeftOut { host: names[h].clone(), reason: reason.to_string() }));
        }
        d.run(&mut servers, &mut joining, signals, emit).await?;
        // Hosts still getting ready when the run ended: said, as hosts left out.
        for host in joining.pending() {
            let reason = "it was not ready when the run ended (still connecting or syncing)".to_string();
            emit(RunEvent::Warning(Warning::HostLeftOut { host: host.clone(), reason }));
        }
        drop(joining);
        servers.stop(signals).await;
        d.late_events(emit);
        wrap_up(&mut d, &config, signals, emit).await;
        let (stopped, boot_seconds) = (d.stopped, d.boot_seconds());
        d.settle.flush(emit);
        emit(RunEvent::RunFinished { wall_seconds: config.started.elapsed().as_secs_f64(), stopped, boot_seconds });
        Ok(Ended::Ran)
    }
}

fn run_started(project: &Project, workload: &Workload, slots: &[Slot]) -> RunEvent {
    RunEvent::RunStarted {
        framework: project.framework.name(),
        files: workload.files,
        planned: workload.planned(),
        slots: slots.iter().map(|s| s.info.clone()).collect(),
        expected_seconds: workload.expected_seconds,
        estimated_by_size: workload.estimated_by_size(),
        partition: workload.partition.clone(),
    }
}

/// After the batches: the suite's coverage, merged once from every batch's result (not after a
/// stop: a part of the suite cannot meet its minimum), then `after_run`. A signal stops the
/// merge and the hook as it stops the batches (dropping them kills their processes): the run
/// ends interrupted, with its summary and reports.
async fn wrap_up(d: &mut Dispatcher<'_>, config: &RunConfig<'_>, signals: &Signals, emit: Emit<'_>) {
    if d.stopped.is_none() {
        match signals.unless_stopped(coverage(d, config.policy)).await {
            Some(Some(report)) => emit(RunEvent::Coverage(report)),
            Some(None) => {}
            None => d.halt(Stop::Interrupted, emit),
        }
    }
    if d.stopped != Some(Stop::Interrupted) {
        if let Some(script) = config.after_run {
            if signals.unless_stopped(after_run(d, script, emit)).await.is_none() {
                d.halt(Stop::Interrupted, emit);
            }
        }
    }
}

/// The coverage of every batch, from every host still in the run, merged (None: the suite
/// measures none). What ran on a host that left is missing from it, and said so.
async fn coverage(d: &mut Dispatcher<'_>, policy: &Policy) -> Option<crate::events::CoverageReport> {
    // A share of the suite (`--partition`) cannot be held to the suite's minimum: its merged
    // result is stored for the shares to be collated, unchecked.
    let checks = policy.whole_suite();
    let early = d.merge.take();
    let stored: Vec<&PreparedHost> = d.with_coverage().collect();
    let mut report = crate::fleet::coverage::finish(d.project(), &stored, checks, early).await?;
    for h in d.hosts.iter().filter(|h| h.left) {
        let name = h.prepared.host.name();
        report.warnings.push(format!("host `{name}` left the run: the coverage of the batches it ran is missing from the merge"));
    }
    Some(report)
}

/// `after_run` on every host still in the run; a failure is a warning.
async fn after_run(d: &Dispatcher<'_>, script: &str, emit: Emit<'_>) {
    let alive: Vec<&PreparedHost> = d.alive().collect();
    let runs = alive.iter().map(|h| hooks::run_hook(&*h.host, "after_run", script, host_env(d.project(), h), h.workdir.clone()));
    for (h, result) in alive.iter().zip(futures::future::join_all(runs).await) {
        if let Err(why) = result {
            emit(RunEvent::Warning(Warning::AfterRunFailed { host: h.host.name().to_string(), reason: why.to_string() }));
        }
    }
}
