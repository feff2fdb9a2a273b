//! `testbot` (a run) and `testbot list`.

use super::{install_signals, runtime, settings, setup_below, Location, Outcome};
use crate::errors::{exit, exit_code_of, Error};
use crate::events::RunEvent;
use crate::project::{self, Project};
use crate::report::{ReportConfig, Reporter};
use crate::fleet;
use crate::inventory::Inventory;
use crate::run::{self, Ended, Policy};
use crate::signals::Signals;
use crate::history::impact::select::Selection;
use std::path::PathBuf;
use std::time::Instant;

/// A run, as the command line asked for it.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub location: Location,
    pub project: project::Options,
    pub policy: Policy,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// `--queue`, `--build-id`: one CI job of a build that shares its files through Redis.
    pub queue: super::QueueOptions,
    pub flaky_fails: bool,
    /// `--repeat`, `--shuffle-batches`, `--seed`.
    pub repeat: super::Repeat,
    /// `--no-tests`: what a run of files that ran no example is.
    pub no_tests: crate::report::NoTests,
    /// Run on the copies the hosts hold.
    pub no_sync: bool,
    /// What the live display and the summary show.
    pub display: crate::report::DisplayOptions,
    /// `--profile` (or `TESTBOT_PROFILE`).
    pub profile: Option<String>,
    /// The options a profile may set, as the command line gave them; `policy`, `junit` and
    /// `report_json` hold them once `settings::run_profile` has laid them over the profiles.
    pub given: crate::inventory::Profile,
}

impl RunOptions {
    /// The options a profile sets, resolved with testbot.toml's profiles.
    fn with_profile(mut self, inventory: &Inventory) -> Result<RunOptions, Error> {
        let resolved = settings::run_profile(self.profile.as_deref(), &self.given, inventory)?;
        self.policy.retries = resolved.retries;
        self.policy.fail_fast = resolved.fail_fast;
        self.policy.timeout = resolved.timeout;
        self.policy.file_timeout = resolved.file_timeout;
        self.junit = resolved.junit;
        self.report_json = resolved.report_json;
        self.display.status_level = resolved.status_level;
        self.display.final_status_level = resolved.final_status_level;
        self.display.failure_output = resolved.failure_output;
        self.display.success_output = resolved.success_output;
        Ok(self)
    }

    /// `--in-order` (`in_order_here`): one batch in the order given, on this machine's first slot only.
    fn placed(mut self, inventory: &mut Inventory) -> RunOptions {
        if self.project.in_order {
            in_order_here(inventory, &mut self.project);
            self.policy.in_order = true;
        }
        self
    }
}

pub fn run(options: RunOptions) -> Result<Outcome, Error> {
    let (root, mut inventory, below) = setup_below(&options.location, settings::invocation(options.no_sync))?;
    let mut options = options.with_profile(&inventory)?.placed(&mut inventory);
    options.project.paths = paths_below(below.as_deref(), std::mem::take(&mut options.project.paths));
    let mut project = match Project::resolve(&root, &inventory, &options.project) {
        Err(nothing @ project::Error::NothingToRerun { .. }) => {
            crate::report::print_note(&nothing.to_string());
            return Ok(Outcome::new(exit::PASSED));
        }
        resolved => resolved?,
    };
    let changed = super::impact::changed(&mut project, &inventory, options.project.changed.as_deref())?;
    if changed.is_some() && project.files.is_empty() { return Ok(Outcome::new(exit::PASSED)); }
    let runner_args = project.runner.runner_args.clone();
    options.display.documentation |= runner_args_for_the_run(&mut project);
    let queue = queue_of(&options, &inventory)?;
    let seeds = options.repeat.seeds(queue.is_some())?;
    let quarantine = crate::history::quarantine::Quarantine::of(&inventory.project);
    let policy = Policy { knobs: settings::knobs()?, queued: queue.is_some(), quarantine, ..options.policy.clone() };
    let whole_suite = policy.whole_suite();
    check_outputs(&options, whole_suite)?;
    let selected: Vec<String> = if whole_suite { project.files.iter().map(|f| f.path.clone()).collect() } else { Vec::new() };
    let setting = Setting { options, project, inventory, policy, queue, whole_suite, selected, runner_args };
    // A task on the worker threads rather than this thread's `block_on`: the run's loop is woken
    // by every batch's events, and waking a task on a worker is far cheaper than this thread.
    let joined = runtime()?.block_on(async move {
        let signals = install_signals()?;
        let task = tokio::spawn(async move { run_all(&setting, changed, seeds, &signals).await });
        Ok::<_, Error>(task.await)
    })?;
    match joined {
        Ok(done) => done,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// What every run of the command shares (`--repeat` runs several).
struct Setting {
    options: RunOptions,
    project: Project,
    inventory: Inventory,
    policy: Policy,
    queue: Option<crate::queue::Settings>,
    whole_suite: bool,
    /// The files the run plans, for a run stopped before any batch ran.
    selected: Vec<String>,
    /// The runner's arguments as given: each run of a `--repeat` seeds a random order anew.
    runner_args: Vec<String>,
}

/// The run, or (`--repeat N`) N runs one after another, each dealt from its seed in `seeds`,
/// and their summary; the first that failed gives the exit code, a signal stops them.
async fn run_all(
    setting: &Setting,
    mut changed: Option<Selection>,
    seeds: Vec<Option<u64>>,
    signals: &Signals,
) -> Result<Outcome, Error> {
    let Some(runs) = setting.options.repeat.runs else {
        if let Some(seed) = seeds[0] {
            crate::report::print_shuffle(seed);
        }
        return Ok(run_one(setting, seeds[0], changed, signals, None).await?.0);
    };
    let mut results = Vec::new();
    let mut code = exit::PASSED;
    let end = super::repeat::End { report_json: setting.options.report_json.as_deref(), framework: setting.project.framework, runs };
    for (k, seed) in seeds.into_iter().enumerate() {
        crate::report::print_repetition(k + 1, runs, seed);
        let (outcome, failed) = run_one(setting, seed, changed.take(), signals, Some(k + 1)).await?;
        if outcome.exit_code() == exit::INTERRUPTED {
            end.finish(&results, true);
            return Ok(outcome);
        }
        if code == exit::PASSED {
            code = outcome.exit_code();
        }
        let report = end.report_json.map(|p| super::repeat::numbered(p, Some(k + 1)));
        results.push(crate::report::RunResult { passed: outcome.exit_code() == exit::PASSED, failed, seed, report });
    }
    if !end.finish(&results, false) && code == exit::PASSED {
        code = exit::FAILED;
    }
    Ok(Outcome::new(code))
}

/// One run, its files dealt from `seed` when given; `run`: which run of a `--repeat` (its own
/// report files, its own random-order seed). What failed it comes back with its outcome.
async fn run_one(
    setting: &Setting,
    seed: Option<u64>,
    changed: Option<Selection>,
    signals: &Signals,
    run: Option<usize>,
) -> Result<(Outcome, Vec<crate::report::Failed>), Error> {
    let mut project = setting.project.clone();
    if run.is_some() {
        project.runner.runner_args = setting.runner_args.clone();
        runner_args_for_the_run(&mut project);
    }
    let policy = Policy { shuffle: seed, ..setting.policy.clone() };
    let mut reporter = Reporter::new(report_config(setting, &project, changed, run));
    let job = Job { project: &project, inventory: &setting.inventory, policy: &policy };
    match run_job(&job, setting.queue.as_ref(), signals, &mut reporter).await? {
        Ended::Interrupted => {
            reporter.stopped_before_run(setting.selected.clone());
            reporter.finish();
            Ok((Outcome::new(exit::INTERRUPTED), Vec::new()))
        }
        Ended::Ran => {
            let (totals, failed) = reporter.finish_run();
            Ok((Outcome::new(exit_code_of(totals.verdict())), failed))
        }
    }
}

/// What the run reports and records where; `run`: which run of a `--repeat` (each writes its
/// own JSON and JUnit files, `report.2.json`).
fn report_config(setting: &Setting, project: &Project, changed: Option<Selection>, run: Option<usize>) -> ReportConfig {
    let Setting { options, policy, whole_suite, .. } = setting;
    let whole_suite = *whole_suite;
    ReportConfig {
        framework: project.framework,
        report_json: options.report_json.as_deref().map(|p| super::repeat::numbered(p, run)),
        junit: options.junit.as_deref().map(|p| super::repeat::numbered(p, run)),
        runtime_log: whole_suite.then(|| project.runtime_log.clone()),
        examples_log: project.examples_log().map(|log| (log, project.root.clone())),
        flaky_fails: options.flaky_fails,
        failures_log: whole_suite.then(|| (crate::history::failures::path(&project.runtime_log, project.framework), project.root.clone())),
        // `--no-capture` streams the output: the report does not print it again.
        display: crate::report::DisplayOptions { streamed: policy.no_capture, ..options.display.clone() },
        runner_command: project.runner.command.clone(),
        no_tests: options.no_tests,
        selection: Some(selection_text(&options.project)),
        impact_map: super::impact::output(project, whole_suite && every_file(&options.project)),
        changed,
        flaky_log: whole_suite.then(|| crate::history::flaky::path(&project.runtime_log, project.framework)),
        quarantine: policy.quarantine.clone(),
    }
}

/// `--in-order`: one batch on this machine's first slot, whatever testbot.toml says of hosts.
pub(super) fn in_order_here(inventory: &mut Inventory, options: &mut project::Options) {
    inventory.hosts.clear();
    options.local_slots = Some(1);
    options.in_order = true;
}

/// The build's queue this run is a job of (`--queue`), if any; never with `--partition`.
fn queue_of(options: &RunOptions, inventory: &Inventory) -> Result<Option<crate::queue::Settings>, Error> {
    let queue = options.queue.settings(&inventory.queue, false)?;
    if queue.is_some() && options.policy.partition.is_some() {
        return Err(Error::Usage("--queue and --partition both say which files this job runs: give one of them".into()));
    }
    Ok(queue)
}

/// What one run is asked to do.
pub(super) struct Job<'a> {
    pub(super) project: &'a Project,
    pub(super) inventory: &'a Inventory,
    pub(super) policy: &'a Policy,
}

/// The run, on its own or (`--queue`) as one job of a build: it joins the build's queue (the
/// first job plans it), takes its files from there, stores each file's result, and gives back
/// what it took and did not finish when it ends. The run starts while the job joins (its fork
/// servers boot meanwhile); its first take waits for the join. A join that fails is the error.
async fn run_job(job: &Job<'_>, queue: Option<&crate::queue::Settings>, signals: &Signals, reporter: &mut Reporter) -> Result<Ended, Error> {
    let Some(settings) = queue else {
        let mut emit = |event: RunEvent| reporter.record(event);
        return prepare_and_run(job, None, signals, &mut emit).await;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let joined = std::sync::OnceLock::new();
    let joining = async {
        let (joining, pull) = super::queue::join(job.project, job.inventory, settings).await?;
        let _ = joined.set(joining);
        let _ = tx.send(pull);
        Ok::<(), Error>(())
    };
    let running = async {
        let mut emit = |event: RunEvent| {
            if let Some(joined) = joined.get() {
                joined.see(&event);
            }
            reporter.record(event)
        };
        prepare_and_run(job, Some(Box::new(super::queue::PullOnceJoined::new(rx))), signals, &mut emit).await
    };
    let (join, ended) = futures::join!(joining, running);
    join?;
    let joined = joined.into_inner().expect("a job that joined has its build");
    let left = joined.leave().await;
    let ended = ended?;
    left?;
    Ok(ended)
}

/// The runner's arguments as the run gives them: one seed for a random order, and the
/// framework's own documentation format taken out (true: it was asked for; testbot shows its own).
pub(super) fn runner_args_for_the_run(project: &mut Project) -> bool {
    project.framework.seed_random_order(&mut project.runner.runner_args);
    project.framework.take_documentation_format(&mut project.runner.runner_args)
}

/// The hosts made ready (`fleet`), then the run on them (`run`), its files from `source` when
/// it has one. The support files and slot leases live until the run has ended.
pub(super) async fn prepare_and_run(
    job: &Job<'_>,
    source: Option<Box<dyn run::Source + '_>>,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Ended, Error> {
    let Job { project, inventory, policy } = *job;
    let started = Instant::now();
    // No fork server where no slot gets a second batch (a `--queue` job's files come as it goes).
    let fresh;
    let project = if source.is_none() && project.fork && !run::forks_pay(project, policy, slots_at_least(project, inventory)) {
        fresh = Project { fork: false, ..project.clone() };
        &fresh
    } else {
        project
    };
    let Some(fleet) = fleet::prepare(project, inventory, signals, emit).await.map_err(run::Error::from)? else {
        return Ok(Ended::Interrupted);
    };
    let fleet::Fleet { hosts, keep, joining } = fleet;
    let mut builder = run::RunBuilder::new(project, policy).after_run(inventory.hooks.after_run.as_deref())
        .before_slot(inventory.hooks.before_slot.as_deref().filter(|_| !project.preload)).started(started);
    if let Some(source) = source {
        builder = builder.source(source);
    }
    let ended = builder.build(hosts, joining).execute(signals, emit).await;
    drop(keep);
    Ok(ended?)
}

/// The fewest slots the run can have before its hosts say their cores: this machine's and each
/// host's `slots`, one where it is `auto` (leases may leave fewer: their slots then run a second
/// batch as a fresh process).
fn slots_at_least(project: &Project, inventory: &Inventory) -> usize {
    let hosts = inventory.hosts.iter().map(|h| match h.slots {
        crate::inventory::Slots::Count(n) => n,
        crate::inventory::Slots::Auto => 1,
    });
    project.local_slots + hosts.sum::<usize>()
}

/// The paths of a command started in `below` (relative to the project root): each relative one
/// taken from there, and none at all is that folder.
fn paths_below(below: Option<&std::path::Path>, paths: Vec<String>) -> Vec<String> {
    let Some(below) = below else { return paths };
    if paths.is_empty() {
        return vec![below.to_string_lossy().into_owned()];
    }
    paths.into_iter().map(|p| if std::path::Path::new(&p).is_absolute() { p } else { below.join(&p).to_string_lossy().into_owned() }).collect()
}

/// The run plans every test file: no paths, no `--only-failures`, no `--changed`.
fn every_file(options: &project::Options) -> bool {
    options.paths.is_empty() && !options.only_failures && options.changed.is_none()
}

/// The selection as the user gave it, for "no tests to run": the paths (or the whole suite)
/// and the runner's arguments.
fn selection_text(options: &project::Options) -> String {
    let runner_args = &options.runner_args;
    let mut words: Vec<String> = options.paths.iter().map(|p| format!("`{p}`")).collect();
    if options.only_failures {
        words.push("`--only-failures`".into());
    } else if words.is_empty() {
        words.push("the whole suite".into());
    }
    if !runner_args.is_empty() {
        words.push(format!("with `-- {}`", runner_args.join(" ")));
    }
    if !options.exclude.is_empty() {
        words.push(format!("excluding `{}`", options.exclude.join("`, `")));
    }
    words.join(" ")
}

/// Before anything connects or runs: every file the run will write can be written there. The
/// runtime log is checked only when given (the default one is testbot's own cache), and only for
/// the `whole_suite`: a `--partition` share does not write it.
fn check_outputs(options: &RunOptions, whole_suite: bool) -> Result<(), Error> {
    if let Some(path) = &options.report_json {
        crate::report::check_output("the JSON report", path)?;
    }
    if let Some(path) = &options.junit {
        crate::report::check_output("the JUnit report", path)?;
    }
    if let (Some(path), true) = (&options.project.runtime_log, whole_suite) {
        crate::report::check_output("the runtime log", path)?;
    }
    Ok(())
}

/// `testbot list`: what a run with the same arguments would run, from the same selection and plan.
/// `testbot flaky`: the flaky record, worst first.
pub fn flaky(location: &Location, options: &project::Options, json: bool) -> Result<Outcome, Error> {
    let (root, inventory, _) = setup_below(location, settings::invocation(false))?;
    let project = Project::resolve(&root, &inventory, options)?;
    let record = crate::history::flaky::load(&crate::history::flaky::path(&project.runtime_log, project.framework));
    crate::report::print_flaky(&record, json);
    Ok(Outcome::new(exit::PASSED))
}

pub fn list(location: &Location, options: &project::Options, partition: Option<(usize, usize)>) -> Result<Outcome, Error> {
    let (root, inventory, below) = setup_below(location, settings::invocation(false))?;
    let options = project::Options { paths: paths_below(below.as_deref(), options.paths.clone()), ..options.clone() };
    let mut project = Project::resolve(&root, &inventory, &options)?;
    if let Some(reference) = &options.changed {
        let changed = super::impact::select_changed(&mut project, &inventory, reference)?;
        crate::report::print_changed_list(&changed);
        return Ok(Outcome::new(exit::PASSED));
    }
    let selection = run::select(&project, partition);
    crate::report::print_list(&selection.estimates);
    Ok(Outcome::new(exit::PASSED))
}
