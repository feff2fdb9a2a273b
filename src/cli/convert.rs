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

/// A value enum's value as the command line writes it (`immediate-final`).
fn value_name(value: impl clap::ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
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
        commands::QueueOptions { url: args.url, build_id: args.build_id, attempt: args.attempt, project: args.queue_project }
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
                changed: args.changed,
                record_impact: args.record_impact,
                in_order: args.in_order,
            },
            // Retries, fail-fast, the timeouts and the reports: `given` laid over testbot.toml's
            // profiles (`commands::settings::run_profile`) when the run starts.
            policy: run::Policy {
                partition: args.partition,
                // The environment's test knobs: `commands::settings::knobs` when the run starts.
                knobs: run::Knobs::default(),
                no_capture: args.no_capture,
                ..run::Policy::default()
            },
            report_json: None,
            junit: None,
            profile: args.profile,
            given: crate::inventory::Profile {
                retries: args.retries,
                fail_fast: args.fail_fast,
                timeout: args.timeout,
                file_timeout: args.file_timeout,
                junit: args.junit,
                report_json: args.report_json,
                status_level: args.status_level.map(value_name),
                final_status_level: args.final_status_level.map(value_name),
                failure_output: args.failure_output.map(value_name),
                success_output: args.success_output.map(value_name),
            },
            queue: args.queue.into(),
            repeat: commands::Repeat { runs: args.repeat.repeat, shuffle: args.repeat.shuffle_batches, seed: args.repeat.seed },
            flaky_fails: args.flaky_fails,
            no_tests: args.no_tests,
            no_sync: args.no_sync,
            display: DisplayOptions {
                slow_after: args.slow_timeout,
                heartbeat: Some(args.heartbeat).filter(|d| !d.is_zero()),
                verbose_rerun: args.verbose_rerun_command,
                documentation: args.format == super::args::Format::Documentation,
                annotations: args.github_annotations.on(commands::settings::github_actions().as_deref()),
                // The levels and `--failure-output`: `given`, laid over the profiles.
                ..DisplayOptions::default()
            },
        }
    }
}

// The command line's value enums (args.rs) as `report`'s plain ones. The status levels and
// `--failure-output` go by name (`value_name`): `commands::settings` lays them over testbot.toml's
// profiles.
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
