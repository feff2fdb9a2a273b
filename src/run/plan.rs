//! What a run runs: the selected files (a `--partition` share of them), their expected times
//! from the runtime history, each file's time limit, and the jobs the queue starts from.

use super::Policy;
use crate::history::examples_log::Log as ExamplesLog;
use crate::project::Project;
use crate::schedule::{self, FileEstimate, Group, History, Job, Tuning};
use std::collections::HashMap;
use std::sync::Arc;

/// A file may run this many times its time in the runtime history (but at least the floor).
const HISTORY_TIMEOUT_FACTOR: f64 = 5.0;

/// Per-file time limits: the floor, or a multiple of the file's time in the history.
pub(super) struct Limits {
    pub(super) floor: Option<f64>,
    pub(super) history: HashMap<String, f64>,
    /// How long a fork or preload server may take to take a batch (`Knobs::server_start`).
    pub(super) server_start: std::time::Duration,
    /// `--no-capture`: a batch sends each line of output on as it comes.
    pub(super) no_capture: bool,
}

impl Limits {
    pub(super) fn for_file(&self, path: &str) -> Option<f64> {
        let floor = self.floor?;
        Some(self.history.get(path).map_or(floor, |s| (s * HISTORY_TIMEOUT_FACTOR).max(floor)))
    }
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
    select_from(project, load_history(project), partition)
}

/// [`select`] with `history` for the runtime history (a `--queue` job's: its local one with the
/// project's history in Redis laid over it).
pub fn select_from(project: &Project, history: History, partition: Option<(usize, usize)>) -> Selection {
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

/// Whether a fork server can pay for itself in this run on at least `slots` slots: the project
/// forks (`--preload` always keeps its servers: its slots' servers are forked from them), and
/// some slot can get more than one batch (`schedule::batches_a_slot`). When not, every batch
/// runs as a fresh process, as with `--no-fork`: a server would load what the one batch of each
/// slot loads anyway, and the batch would then pay for a client and a fork. A retry or a requeue
/// runs fresh too. Decided before any host connects: the early boot starts when a host is synced.
pub fn forks_pay(project: &Project, policy: &Policy, slots: usize) -> bool {
    if !project.fork || project.preload {
        return project.fork;
    }
    // Every file is at least one job: more files than slots needs no history read to decide.
    if policy.partition.is_none() && project.files.len() > slots.max(1) {
        return true;
    }
    let estimates = select(project, policy.partition).estimates;
    let jobs: usize = planned_jobs(project, policy, &estimates, slots).iter().map(Vec::len).sum();
    schedule::batches_a_slot(jobs, slots) > 1
}

/// The jobs of `estimates` as a run on `slots` slots plans them: a long file as pieces of its
/// examples (none in order: a file's pieces would not run where it stood).
fn planned_jobs(project: &Project, policy: &Policy, estimates: &[FileEstimate], slots: usize) -> Vec<Vec<Job>> {
    let expected_seconds = estimates.iter().fold(0.0, |a, e| a + e.seconds);
    let ideal = if policy.in_order { f64::INFINITY } else { expected_seconds / slots.max(1) as f64 };
    jobs_of(project, estimates, ideal, slots, &local_examples(project))
}

/// The project's local runtime history (`--runtime-log`, else parallel_tests' log).
pub fn load_history(project: &Project) -> History {
    crate::history::load(&project.runtime_log, &project.parallel_tests_runtime_log())
}


/// What the dispatcher starts from: the jobs (a long file as pieces), their limits and tuning.
pub(super) struct Workload {
    pub(super) jobs: Vec<Vec<Job>>,
    /// Whether each file's time came from the history.
    pub(super) known: Vec<bool>,
    pub(super) files: usize,
    pub(super) expected_seconds: f64,
    pub(super) limits: Arc<Limits>,
    pub(super) tuning: Tuning,
    pub(super) partition: Option<Arc<schedule::partition::Share>>,
}

impl Workload {
    /// `forking`: every slot's batches are forked from a server, so a batch costs milliseconds;
    /// `hosts`: how many hosts the slots are on (`Tuning::forked_on_hosts` for more than one).
    pub(super) fn new(project: &Project, policy: &Policy, slots: usize, forking: bool, hosts: usize) -> Workload {
        let Selection { history, estimates, partition } = select(project, policy.partition);
        let expected_seconds = estimates.iter().fold(0.0, |a, e| a + e.seconds);
        let limits = Arc::new(Limits {
            floor: policy.file_timeout.map(|d| d.as_secs_f64()),
            history: estimates.iter().filter_map(|e| history.get(&e.path).map(|s| (e.path.clone(), s))).collect(),
            server_start: policy.knobs.server_start,
            no_capture: policy.no_capture,
        });
        let defaults = match (forking, hosts) {
            (true, 2..) => Tuning::forked_on_hosts(),
            (true, _) => Tuning::forked(),
            (false, _) => Tuning::default(),
        };
        // The last run's boot: the first wave is planned for it (`Tuning::last_boot`).
        let tuning = Tuning { last_boot: history.boot(), ..policy.knobs.tuning.over(defaults) };
        let jobs = planned_jobs(project, policy, &estimates, slots);
        let known = estimates.iter().map(|e| e.known).collect();
        Workload { jobs, known, files: estimates.len(), expected_seconds, limits, tuning, partition }
    }

    /// The run plans none of its files: another source hands them to it as it goes (`--queue`).
    pub(super) fn hand_over(&mut self) {
        self.jobs.clear();
        self.known.clear();
        self.files = 0;
        self.expected_seconds = 0.0;
    }

    /// The first job of each file: its path, for the files planned and those estimated by size.
    pub(super) fn planned(&self) -> Vec<String> {
        self.jobs.iter().filter_map(|pieces| pieces.first().map(|job| job.path.clone())).collect()
    }

    pub(super) fn estimated_by_size(&self) -> Vec<String> {
        let unknown = self.jobs.iter().zip(&self.known).filter(|(_, known)| !**known);
        unknown.filter_map(|(pieces, _)| pieces.first().map(|job| job.path.clone())).collect()
    }
}

/// The jobs of a build's shared queue (`--queue`), what failed last first (the failures log),
/// then longest first, as a run on `slots` slots plans them: a long file as pieces of its
/// examples (each piece a unit of the build's queue), a part of a file as asked. `recorded`: the long files' examples (the examples log).
pub fn queue_jobs(project: &Project, selection: &Selection, slots: usize, recorded: &ExamplesLog) -> Vec<Job> {
    let expected_seconds = selection.estimates.iter().fold(0.0, |a, e| a + e.seconds);
    let ideal = expected_seconds / slots.max(1) as f64;
    let mut jobs: Vec<Job> = jobs_of(project, &selection.estimates, ideal, slots, recorded).into_iter().flatten().collect();
    jobs.sort_by(|a, b| b.failed_last.cmp(&a.failed_last).then(b.expected_seconds.total_cmp(&a.expected_seconds)).then_with(|| a.path.cmp(&b.path)));
    jobs
}

/// The project's local examples log (RSpec's long files' examples; empty without one).
pub fn local_examples(project: &Project) -> ExamplesLog {
    project.examples_log().as_deref().map(crate::history::examples_log::load).unwrap_or_default()
}

/// Each file's jobs: one, or (a long file, RSpec, from the examples log `recorded`) pieces of
/// its examples that run on several slots; `ideal`: a slot's share of the suite in seconds.
fn jobs_of(project: &Project, estimates: &[FileEstimate], ideal: f64, slots: usize, recorded: &ExamplesLog) -> Vec<Vec<Job>> {
    let failed = crate::history::failures::failed_files(&crate::history::failures::path(&project.runtime_log, project.framework), &project.root);
    let only: HashMap<&str, &crate::project::Only> =
        project.files.iter().filter_map(|f| f.only.as_ref().map(|o| (f.path.as_str(), o))).collect();
    estimates
        .iter()
        .map(|e| {
            let group = project.group_of(&e.path);
            // An isolated file is never split: its pieces would run side by side.
            let long = group != Group::Isolated && e.known && e.seconds > schedule::split::SPLIT_SHARE * ideal;
            let jobs = match (only.get(e.path.as_str()), long) {
                // Part of a file, as asked: it runs as one job, never split.
                (Some(part), _) => {
                    let mut job = Job::new(e.path.clone(), e.seconds);
                    job.examples = part.ids.clone();
                    job.lines = part.lines.clone();
                    vec![job]
                }
                (None, true) => match crate::history::examples_log::examples_of(recorded, &project.root, &e.path) {
                    Some(examples) => schedule::split::pieces(&e.path, e.seconds, &examples, ideal, slots),
                    None => vec![Job::new(e.path.clone(), e.seconds)],
                },
                (None, false) => vec![Job::new(e.path.clone(), e.seconds)],
            };
            let failed_last = failed.contains(&e.path);
            jobs.into_iter().map(|job| Job { group, failed_last, ..job }).collect()
        })
        .collect()
}
