//! `testbot bisect`'s command line, and the options it becomes.

use super::project_args::{FrameworkName, ProjectArgs};
use crate::{commands, project};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args, Clone, Default)]
pub struct BisectArgs {
    /// The failing example, by its id or rerun location as the summary or the report gives it
    /// (`spec/a_spec.rb[1:2]`, `./spec/a_spec.rb:12`, `test/a_test.rb:7`); default: the report's
    /// first failure.
    #[arg(value_name = "FAILURE")]
    pub failure: Option<String>,
    /// The JSON report of the run it failed in (`testbot --report-json FILE`): its batch, seed
    /// and the examples of the files that ran with it.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The test framework, as for a run: rspec, minitest, test-unit or cucumber.
    #[arg(long, value_name = "NAME", value_parser = FrameworkName, hide_possible_values = true)]
    pub framework: Option<String>,
    /// Replay in fresh Ruby processes, as a run with `--no-fork` ran them.
    #[arg(long, env = "TESTBOT_NO_FORK", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_fork: bool,
    /// Replay forked from a preloaded helper, as a run with `--preload` ran them.
    #[arg(long)]
    pub preload: bool,
    /// Run the runner directly, not through `bundle exec`, as for a run.
    #[arg(long)]
    pub no_bundler: bool,
    /// Arguments after `--` go to the test runner in every replay, as the run gave them (the
    /// batch's seed is added unless they hold one).
    #[arg(last = true, value_name = "RUNNER_ARGS")]
    pub runner_args: Vec<String>,
}

impl From<BisectArgs> for commands::BisectOptions {
    fn from(args: BisectArgs) -> commands::BisectOptions {
        commands::BisectOptions {
            location: args.project.into(),
            from: args.from,
            failure: args.failure,
            project: project::Options {
                runner_args: args.runner_args,
                framework: args.framework,
                no_bundler: args.no_bundler,
                preload: args.preload,
                no_fork: args.no_fork,
                ..project::Options::default()
            },
        }
    }
}
