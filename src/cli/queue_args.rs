//! `--queue` and its companions, shared by a run and `testbot report --queue`.

use clap::Args;

/// `--queue` and `--build-id`: a run is one CI job of a build that shares one queue in Redis.
#[derive(Debug, Args, Clone, Default)]
pub struct QueueArgs {
    /// Share the build's files with its other CI jobs through a queue in Redis:
    /// redis://[user:password@]HOST:PORT[/DB], rediss://… or unix:///PATH (docs/queue.md).
    #[arg(long = "queue", value_name = "URL", env = "TESTBOT_QUEUE_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// The build's id, the same in all its jobs (default: the CI's, from GITHUB_RUN_ID,
    /// BUILDKITE_BUILD_ID, CI_PIPELINE_ID or CIRCLE_WORKFLOW_ID).
    #[arg(long, value_name = "ID")]
    pub build_id: Option<String>,
    /// Which attempt of the build this is: a retry (N > 1) runs only what failed or has no result
    /// in the attempt before (default: GITHUB_RUN_ATTEMPT, BUILDKITE_RETRY_COUNT + 1, else 1).
    #[arg(long, value_name = "N", env = "TESTBOT_ATTEMPT", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// The project's name in the queue's keys, the same in every job (default: testbot.toml's
    /// `[queue] project`, else the name of the folder the job runs in).
    #[arg(long, value_name = "NAME", env = "TESTBOT_QUEUE_PROJECT")]
    pub queue_project: Option<String>,
}
