//! Why a job cannot use the build's queue. Every URL in these is shown without its password.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--queue `{url}` is not a Redis URL ({reason}); give redis://[user:password@]HOST:PORT[/DB], rediss://… or unix:///PATH")]
    Url { url: String, reason: String },
    #[error("cannot reach the queue's Redis at `{url}`: {reason}")]
    Connect { url: String, reason: String },
    #[error("the queue's Redis at `{url}` failed while {doing}: {reason}")]
    Redis { url: String, doing: &'static str, reason: String },
    /// Another job of this build planned other work: the jobs did not start from the same
    /// checkout, selection or testbot.
    #[error("build `{build}` was planned by a job with {difference}: every job of a build must run the same command on the same commit with the same testbot (or give this one another --build-id)")]
    OtherPlan { build: String, difference: String },
    /// `testbot report` found no plan: no job of this build started (or its keys expired).
    #[error("build `{build}` has no plan in the queue at `{url}`: no job of it has started (or it is older than a day); check --build-id")]
    NoPlan { build: String, url: String },
    /// A result in Redis that does not read as a file's report.
    #[error("the result of `{path}` in the queue is not a file's report: {reason}")]
    BadResult { path: String, reason: String },
}
