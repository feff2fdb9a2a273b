//! The run: `RunBuilder` → `build(hosts)` → `Runner::execute(signals, emit)`. Slots pull
//! batches from the shared queue; one dispatcher loop owns the queue, stopping (Ctrl-C,
//! fail-fast, the run's timeout), requeues, retries and lost hosts, and hands every event to
//! its caller's `emit` (the engine names no reporter).

mod batch;
mod dispatch;
mod error;
mod hosts;
mod plan;
mod runner;
mod settle;
mod source;
mod task;

pub use batch::{BatchEnd, BatchTracker, Blame, Captured, Ending, Requeue};
pub use error::Error;
pub use plan::{forks_pay, load_history, local_examples, queue_jobs, select, select_from, Selection};
pub use runner::{RunBuilder, Runner};
pub use source::{Source, SourceError, Taken};

use runner::RunConfig;

use crate::events::RunEvent;
use std::time::Duration;

enum Msg {
    /// What one read of a runner's output produced, in order: one message per read, not per
    /// event (a run at scale sees hundreds of thousands of examples).
    Events(Vec<RunEvent>),
    /// The runner finished booting (its first file started, or it ended); `seconds`: from its
    /// spawn to its first file's start (None: no file started).
    Booted { slot: usize, seconds: Option<f64> },
    /// `lost`: the host (or its fork server) went away, and why; `coverage`: the runner said it
    /// stores its coverage result on its host.
    BatchDone { slot: usize, seconds: f64, requeue: Vec<Requeue>, lost: Option<task::Lost>, coverage: bool },
}

/// Where the engine's events go.
type Emit<'e> = &'e mut (dyn FnMut(RunEvent) + Send);

/// How the run copes with failures, from the command line (and the knobs from the environment).
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Run only share K of N of the suite (`--partition K/N`).
    pub partition: Option<(usize, usize)>,
    /// Rerun failed examples up to this many times (`--retries`).
    pub retries: u32,
    /// Stop after this many failures (`--fail-fast`).
    pub fail_fast: Option<usize>,
    /// The whole run's time limit (`--timeout`).
    pub timeout: Option<Duration>,
    /// The least time a file may run before it is killed; `None`: no per-file limit.
    pub file_timeout: Option<Duration>,
    /// Knobs for tests and benchmarks, from the environment.
    pub knobs: Knobs,
    /// The run is one CI job of a build that shares its files through a queue (`--queue`).
    pub queued: bool,
    /// `--no-capture`: every line the runners print is sent on as it comes (`RunEvent::Output`).
    pub no_capture: bool,
    /// `--shuffle-batches`: the seed the run's files are dealt into batches from
    /// (`schedule::Queue::shuffled`); None: the plan's own order.
    pub shuffle: Option<u64>,
    /// `[project] quarantine`: a quarantined example's failure does not count for `--fail-fast`.
    pub quarantine: crate::history::quarantine::Quarantine,
    /// `--in-order`: the files run as one batch in the order given (`project`'s), none split.
    pub in_order: bool,
}

impl Policy {
    /// The whole suite, not one `--partition` share of it nor one job of a `--queue` build:
    /// only the whole suite writes the
    /// runtime history and the failures log (a share's times must not change the plan of the
    /// shares after it) and holds its merged coverage to the suite's minimum.
    pub fn whole_suite(&self) -> bool {
        self.partition.is_none() && !self.queued
    }
}

/// Knobs for tests and benchmarks, not user settings: read from the environment once, where the
/// command starts (`commands::settings`).
#[derive(Clone, Debug)]
pub struct Knobs {
    /// `TESTBOT_TUNING`: the queue's tuning over the defaults the run picks.
    pub tuning: crate::schedule::TuningOverrides,
    /// `TESTBOT_FORK_START_TIMEOUT`: how long a fork or preload server may take to take a batch
    /// (its client's wait for `ready`); past it the server is stuck and its host runs fresh
    /// processes.
    pub server_start: Duration,
}

/// A server takes a batch in milliseconds (it accepts, then forks); one that has not in this
/// long is stopped or wedged.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs { tuning: Default::default(), server_start: SERVER_START_TIMEOUT }
    }
}

/// How a run ended, for the caller that owns the reporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Batches ran (all of them, or until a stop): the reporter's totals decide the exit code.
    Ran,
    /// A signal stopped it before any batch ran.
    Interrupted,
}
