//! The command line's arguments turned into the plain options `commands` takes.

use super::args::{Annotations, ExecArgs, MergeArgs, ProjectArgs, RunArgs};
use crate::commands;
use crate::report::DisplayOptions;
use crate::{project, run};
use std::path::PathBuf;

impl Annotations {
    /// `github_actions`: the value of GITHUB_ACTIONS.
    fn on(self, github_actions: Option<&std::ffi::OsStr>) -> bool {
        match self {
            Annotations::Auto => github_actions.is_some_and(|v| v == "true"),
            Annotations::Always => true,
            Annotations::Never => false,
        }
    }
}

impl From<ProjectArgs> for commands::Location {
    fn from(args: ProjectArgs) -> commands::Location {
        commands::Location { chdir: args.chdir, config: args.config, ssh_config: args.ssh_config }
    }
}

impl From<ExecArgs> for commands::ExecOptions {
    fn from(args: ExecArgs) -> commands::ExecOptions {
        commands::ExecOptions {
            location: args.project.into(),
            local_slots: args.local_slots,
            command: args.command.join(" "),
            per_slot: args.per_slot,
        }
    }
}

impl From<super::args::QueueArgs> for commands::QueueOptions {
    fn from(args: super::args::QueueArgs) -> commands::QueueOptions {
        commands::QueueOptions { url: args.url, build_id: args.build_id }
    }
}

impl From<super::args::QueueReportArgs> for commands::QueueReportOptions {
    fn from(args: super::args::QueueReportArgs) -> commands::QueueReportOptions {
        commands::QueueReportOptions {
            queue: args.queue.into(),
            wait: args.wait,
            timeout: args.timeout,
            report_json: args.report_json,
            junit: args.junit,
        }
    }
}

impl From<(Option<PathBuf>, MergeArgs)> for commands::MergeOptions {
    fn from((chdir, args): (Option<PathBuf>, MergeArgs)) -> commands::MergeOptions {
        commands::MergeOptions {
            chdir,
            reports: args.reports,
            report_json: args.report_json,
            junit: args.junit,
            runtime_log: args.runtime_log,
            flaky_fails: args.flaky_fails,
        }
    }
}

impl From<RunArgs> for commands::RunOptions {
    fn from(args: RunArgs) -> commands::RunOptions {
        commands::RunOptions {
            location: args.project.into(),
            project: project::Options {
                paths: args.paths,
                runner_args: args.runner_args,
                local_slots: args.local_slots,
                runtime_log: args.runtime_log,
                framework: args.framework,
                no_bundler: args.no_bundler,
                preload: args.preload,
                no_fork: args.no_fork,
                first_is_1: args.first_is_1,
                only_failures: args.only_failures,
                exclude: args.exclude,
                isolate: args.isolate,
            },
            policy: run::Policy {
                partition: args.partition,
                retries: args.retries,
                fail_fast: args.fail_fast,
                timeout: args.timeout,
                file_timeout: Some(args.file_timeout).filter(|d| !d.is_zero()),
                // The environment's test knobs: `commands::settings::knobs` when the run starts.
                knobs: run::Knobs::default(),
                // `--queue`: set once the run knows it has a queue (`commands::run`).
                queued: false,
            },
            report_json: args.report_json,
            junit: args.junit,
            queue: args.queue.into(),
            flaky_fails: args.flaky_fails,
            no_tests: args.no_tests,
            no_sync: args.no_sync,
            display: DisplayOptions {
                status_level: args.status_level,
                final_status_level: args.final_status_level,
                failure_output: args.failure_output,
                slow_after: args.slow_timeout,
                heartbeat: Some(args.heartbeat).filter(|d| !d.is_zero()),
                verbose_rerun: args.verbose_rerun_command,
                annotations: args.github_annotations.on(commands::settings::github_actions().as_deref()),
            },
        }
    }
}

// The command line's value enums (args.rs) as `report`'s plain ones.
impl From<super::args::StatusLevel> for crate::report::StatusLevel {
    fn from(level: super::args::StatusLevel) -> Self {
        use super::args::StatusLevel as Arg;
        match level {
            Arg::None => Self::None,
            Arg::Fail => Self::Fail,
            Arg::Retry => Self::Retry,
            Arg::Slow => Self::Slow,
            Arg::Pending => Self::Pending,
            Arg::Pass => Self::Pass,
            Arg::All => Self::All,
        }
    }
}

impl From<super::args::FailureOutput> for crate::report::FailureOutput {
    fn from(when: super::args::FailureOutput) -> Self {
        use super::args::FailureOutput as Arg;
        match when {
            Arg::Immediate => Self::Immediate,
            Arg::Final => Self::Final,
            Arg::ImmediateFinal => Self::ImmediateFinal,
            Arg::Never => Self::Never,
        }
    }
}

impl From<super::args::NoTests> for crate::report::NoTests {
    fn from(what: super::args::NoTests) -> Self {
        use super::args::NoTests as Arg;
        match what {
            Arg::Pass => Self::Pass,
            Arg::Warn => Self::Warn,
            Arg::Fail => Self::Fail,
        }
    }
}
