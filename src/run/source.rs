//! Where a run's work comes from. A run on its own plans every file up front into its queue
//! (`schedule::Queue`) and has no source. A run that shares its work with other runs (the CI
//! jobs of one build, `--queue`) starts with an empty queue and asks its `Source` for more
//! files whenever its queue is empty and a slot is free; what it takes is batched, retried and
//! requeued by the same queue and dispatcher as a planned file. The source does its own I/O
//! (`queue::Pull` asks Redis), so that `schedule` stays pure.

use crate::schedule::Job;
use futures::future::BoxFuture;

/// What a source gave when asked.
#[derive(Debug)]
pub enum Taken {
    /// More work for this run's queue (never empty).
    Jobs(Vec<Job>),
    /// Nothing now, but work may come back (another run holds files it has not finished):
    /// ask again in a moment.
    Later,
    /// No more work will come.
    Done,
}

/// Why a source could not say (its store went away, say).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Work beyond the run's own plan.
pub trait Source: Send + Sync {
    /// Up to `wanted` more files for this run's free slots.
    fn take(&mut self, wanted: usize) -> BoxFuture<'_, Result<Taken, SourceError>>;

    /// The seconds the source planned its files by (a build's history in Redis, over the run's
    /// local one), for the files' time limits; asked once, after the first files came.
    fn times(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// How long a run waits before it asks a source that said `Later` again.
pub const ASK_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);
