//! `--queue URL --build-id ID`: a run that is one CI job of a build sharing one queue in Redis
//! (`queue`), and `testbot report --queue`, which reads the build's results back as one run.

use super::{settings, Outcome};
use crate::errors::{exit_code_of, Error};
use crate::events::RunEvent;
use crate::project::Project;
use crate::queue::{Build, Heartbeat, PlanDigest, Recorder, Settings};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `--queue` and `--build-id` as given (the build id may come from the CI's variables).
#[derive(Clone, Debug, Default)]
pub struct QueueOptions {
    pub url: Option<String>,
    pub build_id: Option<String>,
}

impl QueueOptions {
    /// The queue's settings, when a queue is asked for: `--queue` (or `TESTBOT_QUEUE_URL`), else
    /// testbot.toml's `[queue] url` (`file_url`), with the build id given or the CI's. A queue
    /// asked for on the command line needs a build id; testbot.toml's is for CI, and a run with
    /// no build id (on a laptop) runs on its own, unless `always` (`testbot report --queue`).
    pub fn settings(&self, file_url: Option<&str>, always: bool) -> Result<Option<Settings>, Error> {
        let given = self.url.clone().filter(|u| !u.is_empty());
        let Some(url) = given.clone().or_else(|| file_url.map(str::to_string)) else { return Ok(None) };
        match settings::build_id(self.build_id.clone()) {
            Ok(build) => Ok(Some(Settings { url, build, patience: settings::queue_patience()? })),
            Err(_) if given.is_none() && !always => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The project's name in the build's keys: its folder's.
fn project_name(project: &Project) -> String {
    project.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into())
}

/// This job in the build: its queue, where its results go, its name.
pub(super) struct Joined {
    build: Build,
    job: String,
    recorder: Recorder,
    heartbeat: Heartbeat,
    /// The job's folder, and whether its run merged SimpleCov's results there.
    root: PathBuf,
    coverage: std::sync::atomic::AtomicBool,
}

impl Joined {
    /// Every final file report of the run goes to the build as it comes.
    pub(super) fn see(&self, event: &RunEvent) {
        match event {
            RunEvent::FileFinished(report) => self.recorder.record(report),
            RunEvent::Coverage(_) => self.coverage.store(true, std::sync::atomic::Ordering::Relaxed),
            _ => {}
        }
    }

    /// After the run: every result stored (and the coverage the run merged), and what the job
    /// took but did not finish given back.
    pub(super) async fn leave(self) -> Result<(), Error> {
        let Joined { build, job, recorder, heartbeat, root, coverage } = self;
        if let Some(stored) = coverage.into_inner().then(|| crate::queue::coverage_in(&root)).flatten() {
            build.store_coverage(&job, &stored).await?;
        }
        let stored = recorder.finish().await;
        drop(heartbeat);
        build.leave(&job).await?;
        Ok(stored?)
    }
}

/// Joins the build: plans it (the first job) or checks that its plan is this job's, and
/// returns the source the run takes its files from.
pub(super) async fn join(project: &Project, settings: &Settings) -> Result<(Joined, crate::queue::Pull), Error> {
    let build = Build::connect(settings, &project_name(project)).await?;
    let selection = crate::run::select(project, None);
    let jobs = crate::run::whole_file_jobs(project, &selection);
    let digest = PlanDigest::new(project.framework.name(), jobs.iter().map(|j| j.path.clone()));
    let order: Vec<String> = jobs.iter().map(|j| j.path.clone()).collect();
    let plan = build.plan(&digest, &order).await?;
    let job = crate::queue::job_name();
    tracing::info!(build = settings.build.as_str(), job = job.as_str(), ?plan, "joined the build's queue");
    let known: HashMap<String, crate::schedule::Job> = jobs.into_iter().map(|j| (j.path.clone(), j)).collect();
    let heartbeat = build.join(&job).await?;
    let pull = build.pull(&job, known);
    let recorder = Recorder::start(&build, &job);
    let coverage = std::sync::atomic::AtomicBool::new(false);
    Ok((Joined { build, job, recorder, heartbeat, root: project.root.clone(), coverage }, pull))
}

/// `testbot report --queue URL --build-id ID`.
#[derive(Clone, Debug, Default)]
pub struct QueueReportOptions {
    pub queue: QueueOptions,
    /// `--wait`: until every planned file has a result (or `timeout` passed).
    pub wait: bool,
    pub timeout: Option<Duration>,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
}

/// How often `report --wait` looks at the build.
const POLL: Duration = Duration::from_millis(500);

/// One summary, JSON report and JUnit file for the build; exit 1 when a planned file has no
/// result (named), never 0 for an incomplete build.
pub fn report(chdir: Option<PathBuf>, options: QueueReportOptions) -> Result<Outcome, Error> {
    let location = super::Location { chdir, ..Default::default() };
    let (root, inventory) = super::setup(&location, settings::invocation(false))?;
    let Some(settings) = options.queue.settings(inventory.queue.url.as_deref(), true)? else {
        return Err(Error::Usage("`testbot report` needs a subcommand (`merge`) or --queue URL".into()));
    };
    for (what, path) in [("the JSON report", &options.report_json), ("the JUnit report", &options.junit)] {
        if let Some(path) = path {
            crate::report::check_output(what, path)?;
        }
    }
    let runtime = super::runtime()?;
    let (planned, results, coverage) = runtime.block_on(read_build(&settings, &options))?;
    let coverage = match coverage.is_empty() {
        true => None,
        false => {
            let project = Project::resolve(&root, &inventory, &crate::project::Options::default())?;
            runtime.block_on(crate::fleet::coverage::merge_stored(&project, &coverage, true))
        }
    };
    let build = crate::report::QueueBuild { framework: &planned.framework, planned: &planned.files, results, coverage };
    let totals = crate::report::report_queue_build(build, options.report_json, options.junit)?;
    Ok(Outcome::new(exit_code_of(totals.verdict())))
}

/// What a build stored: its plan, its results, each job's coverage.
type Stored = (PlanDigest, Vec<(String, String)>, Vec<String>);

/// The plan and the results (and the jobs' coverage), once every planned file has one (with
/// `--wait`, until then or the timeout; without, as they are now).
async fn read_build(settings: &Settings, options: &QueueReportOptions) -> Result<Stored, Error> {
    let build = Build::connect(settings, &project_name_here()?).await?;
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let waits = |now: Instant| options.wait && deadline.is_none_or(|d| now < d);
    loop {
        let planned = build.planned().await?;
        let waiting = waits(Instant::now());
        match planned {
            None if !waiting => return Err(crate::queue::Error::NoPlan { build: settings.build.clone(), url: crate::queue::redacted(&settings.url) }.into()),
            Some(planned) if !waiting || build.result_count().await? >= planned.files.len() => {
                return Ok((planned, build.results().await?, build.coverage().await?));
            }
            _ => {}
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The project's name as a job names it: this folder's (after `-C`).
fn project_name_here() -> Result<String, Error> {
    let root = std::env::current_dir().map_err(|source| Error::Io { what: "read the current directory".into(), source })?;
    Ok(root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into()))
}
