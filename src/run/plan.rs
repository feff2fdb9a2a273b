//! What a run runs: the selected files (a `--partition` share of them), their expected times
//! from the runtime history, and each file's time limit.

use crate::project::Project;
use crate::schedule::{self, History};
use std::collections::HashMap;
use std::sync::Arc;

/// A file may run this many times its time in the runtime history (but at least the floor).
const HISTORY_TIMEOUT_FACTOR: f64 = 5.0;

/// Per-file time limits: the floor, or a multiple of the file's time in the history.
pub(super) struct Limits {
    pub(super) floor: Option<f64>,
    pub(super) history: HashMap<String, f64>,
    /// How long a fork or preload server may take to take a batch (its client's wait for
    /// `ready`); past it the server is stuck and its host runs fresh processes.
    pub(super) server_start: std::time::Duration,
}

/// A server takes a batch in milliseconds (it accepts, then forks); one that has not in this
/// long is stopped or wedged.
pub(super) const SERVER_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

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
    let history = load_history(project);
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

fn load_history(project: &Project) -> History {
    crate::history::load(&project.runtime_log, &project.parallel_tests_runtime_log())
}

