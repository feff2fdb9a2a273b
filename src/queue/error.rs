//! Why a job cannot use the build's queue. Every URL in these is shown without its password.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--queue `{url}` is not a Redis URL ({reason}); give redis://[user:password@]HOST:PORT[/DB], rediss://… or unix:///PATH")]
    Url { url: String, reason: String },
    #[error("cannot reach the queue's Redis at `{url}`: {reason}")]
    Connect { url: String, reason: String },
    #[error("the queue's Redis at `{url}` failed while {doing}: {reason}")]
    Redis { url: String, doing: &'static str, reason: String },
    /// Redis went away and did not come back within the patience: the job stops.
    #[error("lost the queue's Redis at `{url}` while {doing}: no answer for {waited:.0} s ({reason}); this job stops, and the build is incomplete unless Redis comes back and the other jobs finish it (TESTBOT_QUEUE_PATIENCE sets how long a job tries again)")]
    Lost { url: String, doing: &'static str, waited: f64, reason: String },
    /// Redis came back without the build's plan (restarted without persistence): what is left
    /// of the build is unknown.
    #[error("the queue's Redis at `{url}` came back without build `{build}`'s plan (it restarted without persistence, or the keys were deleted): what is left of the build is unknown, so this job stops; run the build again")]
    Gone { url: String, build: String },
    /// Another job of this build planned other work: the jobs did not start from the same
    /// checkout, selection or testbot.
    #[error("build `{build}` was planned by a job with {difference}: every job of a build must run the same command on the same commit with the same testbot (or give this one another --build-id)")]
    OtherPlan { build: String, difference: String },
    /// `testbot report` found no plan: no job of this build started (or its keys expired).
    #[error("build `{build}` has no plan in the queue at `{url}`: no job of it has started, it is older than a day, or Redis lost it (restarted without persistence); its results are unknown; check --build-id")]
    NoPlan { build: String, url: String },
    /// A result in Redis that does not read as a file's report.
    #[error("the result of `{path}` in the queue is not a file's report: {reason}")]
    BadResult { path: String, reason: String },
}
