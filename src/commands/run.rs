//! `testbot` (a run) and `testbot list`.

use super::{install_signals, runtime, settings, setup, Location, Outcome};
use crate::errors::{exit, exit_code_of, Error};
use crate::events::RunEvent;
use crate::project::{self, Project};
use crate::report::{ReportConfig, Reporter};
use crate::fleet;
use crate::inventory::Inventory;
use crate::run::{self, Ended, Policy};
use crate::signals::Signals;
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
    /// `--no-tests`: what a run of files that ran no example is.
    pub no_tests: crate::report::NoTests,
    /// Run on the copies the hosts hold.
    pub no_sync: bool,
    /// What the live display and the summary show.
    pub display: crate::report::DisplayOptions,
}

pub fn run(options: RunOptions) -> Result<Outcome, Error> {
    let (root, inventory) = setup(&options.location, settings::invocation(options.no_sync))?;
    let mut project = match Project::resolve(&root, &inventory, &options.project) {
        Err(nothing @ project::Error::NothingToRerun { .. }) => {
            crate::report::print_note(&nothing.to_string());
            return Ok(Outcome::new(exit::PASSED));
        }
        resolved => resolved?,
    };
    project.framework.seed_random_order(&mut project.runner.runner_args);
    let queue = options.queue.settings(inventory.queue.url.as_deref(), false)?;
    if queue.is_some() && options.policy.partition.is_some() {
        return Err(Error::Usage("--queue and --partition both say which files this job runs: give one of them".into()));
    }
    // A share of the suite (`--partition`, or a job of a `--queue` build) only reads the runtime
    // history and the failures log: its own times must not change the plan of the shares after
    // it (they may run one after another in this checkout). And which files are its own is
    // known only once it is planned.
    let policy = Policy { knobs: settings::knobs()?, queued: queue.is_some(), ..options.policy.clone() };
    let whole_suite = policy.whole_suite();
    check_outputs(&options, whole_suite)?;
    let selected: Vec<String> = if whole_suite { project.files.iter().map(|f| f.path.clone()).collect() } else { Vec::new() };
    let mut reporter = Reporter::new(ReportConfig {
        framework: project.framework,
        report_json: options.report_json.clone(),
        junit: options.junit.clone(),
        runtime_log: whole_suite.then(|| project.runtime_log.clone()),
        examples_log: project.examples_log().map(|log| (log, project.root.clone())),
        flaky_fails: options.flaky_fails,
        failures_log: whole_suite.then(|| (crate::history::failures::path(&project.runtime_log, project.framework), project.root.clone())),
        display: options.display.clone(),
        runner_command: project.runner.command.clone(),
        no_tests: options.no_tests,
        selection: Some(selection_text(&options.project)),
    });
    // A task on the worker threads rather than this thread's `block_on`: the run's loop is woken
    // by every batch's events, and waking a task on a worker is far cheaper than this thread.
    let joined = runtime()?.block_on(async move {
        let signals = install_signals()?;
        let task = tokio::spawn(async move {
            let job = Job { project: &project, inventory: &inventory, policy: &policy };
            let ended = run_job(&job, queue.as_ref(), &signals, &mut reporter).await;
            (ended, reporter)
        });
        Ok::<_, Error>(task.await)
    })?;
    let (ended, mut reporter) = match joined {
        Ok(done) => done,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    match ended? {
        Ended::Interrupted => {
            reporter.stopped_before_run(selected);
            reporter.finish();
            Ok(Outcome::new(exit::INTERRUPTED))
        }
        Ended::Ran => Ok(Outcome::new(exit_code_of(reporter.finish().verdict()))),
    }
}

/// What one run is asked to do.
struct Job<'a> {
    project: &'a Project,
    inventory: &'a Inventory,
    policy: &'a Policy,
}

/// The run, on its own or (`--queue`) as one job of a build: it joins the build's queue (the
/// first job plans it), takes its files from there, stores each file's result, and gives back
/// what it took and did not finish when it ends.
async fn run_job(job: &Job<'_>, queue: Option<&crate::queue::Settings>, signals: &Signals, reporter: &mut Reporter) -> Result<Ended, Error> {
    let Some(settings) = queue else {
        let mut emit = |event: RunEvent| reporter.record(event);
        return prepare_and_run(job, None, signals, &mut emit).await;
    };
    let (joined, pull) = super::queue::join(job.project, settings).await?;
    let ended = {
        let mut emit = |event: RunEvent| {
            joined.see(&event);
            reporter.record(event)
        };
        prepare_and_run(job, Some(Box::new(pull)), signals, &mut emit).await
    };
    let left = joined.leave().await;
    let ended = ended?;
    left?;
    Ok(ended)
}

/// The hosts made ready (`fleet`), then the run on them (`run`), its files from `source` when
/// it has one. The support files and slot leases live until the run has ended.
async fn prepare_and_run(
    job: &Job<'_>,
    source: Option<Box<dyn run::Source + '_>>,
    signals: &Signals,
    emit: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Ended, Error> {
    let Job { project, inventory, policy } = *job;
    let started = Instant::now();
    let Some(fleet) = fleet::prepare(project, inventory, signals, emit).await.map_err(run::Error::from)? else {
        return Ok(Ended::Interrupted);
    };
    let fleet::Fleet { hosts, keep } = fleet;
    let mut builder = run::RunBuilder::new(project, policy).after_run(inventory.hooks.after_run.as_deref()).started(started);
    if let Some(source) = source {
        builder = builder.source(source);
    }
    let ended = builder.build(hosts).execute(signals, emit).await;
    drop(keep);
    Ok(ended?)
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
pub fn list(location: &Location, options: &project::Options, partition: Option<(usize, usize)>) -> Result<Outcome, Error> {
    let (root, inventory) = setup(location, settings::invocation(false))?;
    let project = Project::resolve(&root, &inventory, options)?;
    let selection = run::select(&project, partition);
    crate::report::print_list(&selection.estimates);
    Ok(Outcome::new(exit::PASSED))
}
