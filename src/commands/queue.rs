//! `--queue URL --build-id ID`: a run that is one CI job of a build sharing one queue in Redis
//! (`queue`), and `testbot report --queue`, which reads the build's results back as one run.

use super::{settings, Outcome};
use crate::errors::{exit_code_of, Error};
use crate::events::RunEvent;
use crate::project::Project;
use crate::inventory::{Inventory, QueueSettings, Slots};
use crate::queue::{entry_of, Build, Entries, Heartbeat, InFlight, PlanDigest, Recorder, Settings};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `--queue` and `--build-id` as given (the build id may come from the CI's variables).
#[derive(Clone, Debug, Default)]
pub struct QueueOptions {
    pub url: Option<String>,
    pub build_id: Option<String>,
    /// `--attempt` (or `TESTBOT_ATTEMPT`; default: the CI's count).
    pub attempt: Option<u32>,
    /// `--queue-project` (or `TESTBOT_QUEUE_PROJECT`).
    pub project: Option<String>,
}

impl QueueOptions {
    /// The queue's settings, when a queue is asked for: `--queue` (or `TESTBOT_QUEUE_URL`), else
    /// testbot.toml's `[queue] url` (`file`), with the build id given or the CI's, and the
    /// project's name given (`--queue-project`, else `[queue] project`) if it is. A queue asked
    /// for on the command line needs a build id; testbot.toml's is for CI, and a run with no
    /// build id (on a laptop) runs on its own, unless `always` (`testbot report --queue`).
    pub fn settings(&self, file: &QueueSettings, always: bool) -> Result<Option<Settings>, Error> {
        let given = self.url.clone().filter(|u| !u.is_empty());
        let Some(url) = given.clone().or_else(|| file.url.clone()) else { return Ok(None) };
        let project = self.project.clone().filter(|p| !p.trim().is_empty()).or_else(|| file.project.clone());
        match settings::build_id(self.build_id.clone()) {
            Ok(build) => Ok(Some(Settings { url, build, attempt: settings::attempt(self.attempt), project, patience: settings::queue_patience()? })),
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
    /// Where the history the job ends with goes, for a CI cache step (`--runtime-log`).
    runtime_log: PathBuf,
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
        let Joined { build, job, recorder, heartbeat, runtime_log, root, coverage } = self;
        if let Some(stored) = coverage.into_inner().then(|| crate::queue::coverage_in(&root)).flatten() {
            build.store_coverage(&job, &stored).await?;
        }
        let stored = recorder.finish().await;
        drop(heartbeat);
        build.leave(&job).await?;
        export_history(&build, &runtime_log).await;
        Ok(stored?)
    }
}

/// The project's history in Redis (with this job's files in it now) merged into the job's local
/// runtime log, so that a CI cache step that keeps one keeps working. Not being able to is no
/// reason to fail the job: the history in Redis is the one the next build plans from.
async fn export_history(build: &Build, runtime_log: &std::path::Path) {
    let shared = match build.history().await {
        Ok(shared) if !shared.is_empty() => shared,
        Ok(_) => return,
        Err(e) => return tracing::warn!("the project's history was not exported to the runtime log: {e}"),
    };
    let text = crate::history::runtime_log::merged(runtime_log, shared, None);
    let written = runtime_log.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(runtime_log, text));
    if let Err(e) = written {
        tracing::warn!("cannot write the runtime log {}: {e}", runtime_log.display());
    }
}

/// Joins the build: plans it (the first job) or checks that its plan is this job's, and
/// returns the source the run takes its files from.
pub(super) async fn join(project: &Project, inventory: &Inventory, settings: &Settings) -> Result<(Joined, crate::queue::Pull), Error> {
    let build = Build::connect(settings, &settings.project.clone().unwrap_or_else(|| project_name(project))).await?;
    // Planned from the project's history in Redis over the local one (the files' times and the
    // long files' examples): a CI job needs no cache.
    let history = crate::queue::combined(crate::run::load_history(project), build.history().await?);
    let selection = crate::run::select_from(project, history, None);
    let times = selection.estimates.iter().filter_map(|e| selection.history.get(&e.path).map(|s| (e.path.clone(), s))).collect();
    let examples = crate::queue::combined_examples(crate::run::local_examples(project), build.examples_history().await?);
    let jobs = crate::run::queue_jobs(project, &selection, planned_slots(project, inventory), &examples);
    let digest = PlanDigest::new(project.framework.name(), jobs.iter().map(|j| j.path.clone()));
    // A retry (attempt > 1) runs the attempt before's entries that did not pass.
    let entries = match build.retried(&digest).await? {
        Some(retry) => retry,
        None => Entries { all: jobs.iter().map(entry_of).collect(), kept: Vec::new(), from: None },
    };
    let plan = build.plan(&digest, &entries).await?;
    let job = crate::queue::job_name();
    tracing::info!(build = settings.build.as_str(), attempt = settings.attempt, job = job.as_str(), ?plan, kept = entries.kept.len(), "joined the build's queue");
    let heartbeat = build.join(&job).await?;
    let in_flight = InFlight::default();
    let pull = build.pull(&job, known_jobs(jobs), &in_flight).with_times(times);
    let quarantine = crate::history::quarantine::Quarantine::of(&inventory.project);
    let recorder = Recorder::start(&build, &job, &in_flight, &project.root, quarantine);
    let coverage = std::sync::atomic::AtomicBool::new(false);
    let (runtime_log, root) = (project.runtime_log.clone(), project.root.clone());
    Ok((Joined { build, job, recorder, heartbeat, runtime_log, root, coverage }, pull))
}

/// The build's queue as the run's source while the job is still joining it: the first take
/// waits until it has (the run meanwhile boots its fork servers), then every take is the
/// `Pull`'s. A join that failed fails the take; `run_job` returns the join's error.
pub(super) struct PullOnceJoined {
    pull: Option<crate::queue::Pull>,
    joined: Option<tokio::sync::oneshot::Receiver<crate::queue::Pull>>,
}

impl PullOnceJoined {
    pub(super) fn new(joined: tokio::sync::oneshot::Receiver<crate::queue::Pull>) -> PullOnceJoined {
        PullOnceJoined { pull: None, joined: Some(joined) }
    }
}

impl crate::run::Source for PullOnceJoined {
    fn take(&mut self, wanted: usize) -> futures::future::BoxFuture<'_, Result<crate::run::Taken, crate::run::SourceError>> {
        Box::pin(async move {
            if self.pull.is_none() {
                let not_joined = || Box::new(std::io::Error::other("the job did not join the build's queue")) as crate::run::SourceError;
                let joined = self.joined.take().ok_or_else(not_joined)?;
                self.pull = Some(joined.await.map_err(|_| not_joined())?);
            }
            match self.pull.as_mut() {
                Some(pull) => pull.take(wanted).await,
                None => unreachable!("taken above"),
            }
        })
    }

    fn times(&self) -> Vec<(String, f64)> {
        self.pull.as_ref().map(crate::run::Source::times).unwrap_or_default()
    }
}

/// This job's job of each entry it planned, and of each file whole (for an entry another job
/// planned: a piece of a file this job did not split, or a file whole that it split).
fn known_jobs(jobs: Vec<crate::schedule::Job>) -> HashMap<String, crate::schedule::Job> {
    let mut known = HashMap::new();
    for job in jobs {
        if job.pieces > 1 {
            let whole = crate::schedule::Job { examples: Vec::new(), lines: Vec::new(), pieces: 0, ..job.clone() };
            known.entry(job.path.clone()).or_insert(whole);
        }
        known.insert(entry_of(&job), job);
    }
    known
}

/// The slots a build's plan is cut for: this job's (a long file is split into pieces as a run
/// on them would split it). An SSH host's `auto` counts one: its cores are known once connected.
fn planned_slots(project: &Project, inventory: &Inventory) -> usize {
    let hosts: usize = inventory.hosts.iter().map(|h| if let Slots::Count(n) = h.slots { n } else { 1 }).sum();
    (project.local_slots + hosts).max(1)
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
    let Some(settings) = options.queue.settings(&inventory.queue, true)? else {
        return Err(Error::Usage("`testbot report` needs a subcommand (`merge`) or --queue URL".into()));
    };
    for (what, path) in [("the JSON report", &options.report_json), ("the JUnit report", &options.junit)] {
        if let Some(path) = path {
            crate::report::check_output(what, path)?;
        }
    }
    let runtime = super::runtime()?;
    let (planned, entries, results, coverage) = runtime.block_on(read_build(&settings, &options))?;
    let coverage = match coverage.is_empty() {
        true => None,
        false => {
            let project = Project::resolve(&root, &inventory, &crate::project::Options::default())?;
            runtime.block_on(crate::fleet::coverage::merge_stored(&project, &coverage, true))
        }
    };
    let files = pieces_of(&planned.files, &entries);
    let build = crate::report::QueueBuild { framework: &planned.framework, planned: &files, results, coverage };
    let totals = crate::report::report_queue_build(build, options.report_json, options.junit)?;
    Ok(Outcome::new(exit_code_of(totals.verdict())))
}

/// Each planned file and the number of its entries (pieces; 1 for a file run whole).
fn pieces_of(files: &[String], entries: &[String]) -> Vec<(String, usize)> {
    let mut pieces: std::collections::BTreeMap<String, usize> = files.iter().map(|f| (f.clone(), 0)).collect();
    for entry in entries {
        *pieces.entry(crate::queue::path_of(entry).to_string()).or_default() += 1;
    }
    pieces.into_iter().map(|(file, n)| (file, n.max(1))).collect()
}

/// What a build stored: its plan, its entries, its results, each job's coverage.
type Stored = (PlanDigest, Vec<String>, Vec<(String, String)>, Vec<String>);

/// The plan (its files, then its entries) and the results (and the jobs' coverage), once every
/// entry has one (with `--wait`, until then or the timeout; without, as they are now).
async fn read_build(settings: &Settings, options: &QueueReportOptions) -> Result<Stored, Error> {
    let project = match &settings.project {
        Some(name) => name.clone(),
        None => project_name_here()?,
    };
    let build = Build::connect(settings, &project).await?;
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let waits = |now: Instant| options.wait && deadline.is_none_or(|d| now < d);
    loop {
        let planned = build.planned().await?;
        let waiting = waits(Instant::now());
        match planned {
            None if !waiting => return Err(crate::queue::Error::NoPlan { build: settings.build.clone(), url: crate::queue::redacted(&settings.url) }.into()),
            Some(planned) => {
                let entries = build.entries().await?;
                if !waiting || build.result_count().await? >= entries.len() {
                    return Ok((planned, entries, build.results().await?, build.coverage().await?));
                }
            }
            None => {}
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The project's name as a job names it: this folder's (after `-C`).
fn project_name_here() -> Result<String, Error> {
    let root = std::env::current_dir().map_err(|source| Error::Io { what: "read the current directory".into(), source })?;
    Ok(root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into()))
}
