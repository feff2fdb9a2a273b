//! The command line as clap reads it: the commands, their options and the value parsers.

use crate::report;
use clap::{Args, Parser, Subcommand};
pub use super::bisect_args::BisectArgs;
use super::project_args::FrameworkName;
pub use super::project_args::ProjectArgs;
pub use super::queue_args::QueueArgs;
pub use super::repeat_args::RepeatArgs;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "testbot",
    version,
    about = "Run a Ruby test suite in parallel on every core of every machine you can reach",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 all passed; 1 a failure, an error outside examples, a file that did not run cleanly,\na report that could not be written, or shares that do not add up to their plan (`report merge`);\n2 usage or configuration error (including a report path that cannot be written); 3 no host could\nrun work; 130 interrupted (SIGINT or SIGTERM, in any phase)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print spec output, file names and messages byte for byte. By default every terminal
    /// control sequence but colour (SGR) is taken out of them (window titles, clipboard
    /// writes, screen clears); the JSON report keeps the raw bytes either way.
    #[arg(long, global = true)]
    pub raw_output: bool,
}

// Parsed once per process: the size of the run's arguments costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the suite (the default command).
    Run(RunArgs),
    /// Check every SSH host in testbot.toml at once and print one table.
    Hosts(HostsArgs),
    /// Write a commented testbot.toml from what this project shows (never overwrites one).
    Init(InitArgs),
    /// Run a shell command on every host (or every slot) in the project's copy there.
    Exec(ExecArgs),
    /// Work with JSON reports: `testbot report merge A.json B.json …`, or a `--queue` build's
    /// results: `testbot report --queue URL --build-id ID --wait`.
    Report(ReportArgs),
    /// Bring every SSH host's copy of the project up to date, and run nothing.
    Sync(SyncArgs),
    /// Print the files a run would run (with `--partition K/N`: that share's), one a line with
    /// its expected seconds, and run nothing.
    List(ListArgs),
    /// List the examples that passed only on a retry, across runs (tmp/testbot-flaky-<framework>.json),
    /// worst first: how many runs each was flaky in, first and last seen.
    Flaky(FlakyArgs),
    /// Find the files, then the example, that ran before a failing example in its batch and
    /// make it fail (an order-dependent failure), from a run's JSON report: `testbot bisect
    /// --from tmp/run.json [FAILURE]`; docs/bisect.md.
    Bisect(BisectArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) to stdout,
    /// e.g. `testbot completions bash > ~/.local/share/bash-completion/completions/testbot`.
    Completions(CompletionsArgs),
    /// Print testbot's man page (roff) to stdout, e.g.
    /// `testbot man > ~/.local/share/man/man1/testbot.1`, then `man testbot`.
    Man,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ListArgs {
    /// Spec files or folders, as for a run (default: the framework's pattern).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only share K of N, as `testbot --partition K/N` would run it.
    #[arg(long, value_name = "K/N", value_parser = crate::schedule::partition::parse)]
    pub partition: Option<(usize, usize)>,
    /// Leave out the files (or folders) matching GLOB, as for a run; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Run only the files a change since REF can break (default: the commit the impact map was
    /// recorded at; uncommitted and untracked changes always count), from the impact map
    /// (`--record-impact`); says what it selected and why. See docs/impact.md.
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "")]
    pub changed: Option<String>,
    /// The runtime history the plan is made from (default: tmp/testbot-runtime-<framework>.log).
    #[arg(long, value_name = "FILE")]
    pub runtime_log: Option<PathBuf>,
    /// The test framework, as for a run: rspec, minitest, test-unit or cucumber.
    #[arg(long, value_name = "NAME", value_parser = FrameworkName, hide_possible_values = true)]
    pub framework: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct FlakyArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the record as JSON (the worst first), for scripts.
    #[arg(long)]
    pub json: bool,
    /// The runtime history the record sits beside (default: tmp/testbot-runtime-<framework>.log).
    #[arg(long, value_name = "FILE")]
    pub runtime_log: Option<PathBuf>,
    /// The test framework, as for a run: rspec, minitest, test-unit or cucumber.
    #[arg(long, value_name = "NAME", value_parser = FrameworkName, hide_possible_values = true)]
    pub framework: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Change to DIR before doing anything (the reports and outputs are read and written from
    /// there).
    #[arg(short = 'C', long = "chdir", value_name = "DIR", global = true)]
    pub chdir: Option<PathBuf>,
    #[command(subcommand)]
    pub action: Option<ReportCommand>,
    #[command(flatten)]
    pub queue: QueueReportArgs,
}

/// `testbot report --queue URL --build-id ID`: the results of a `--queue` build as one run.
#[derive(Debug, Args, Clone, Default)]
pub struct QueueReportArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Wait until every file of the build has a result (or `--timeout` passed).
    #[arg(long)]
    pub wait: bool,
    /// With `--wait`: give up waiting after this long (e.g. 600, 90s, 20m); the files still
    /// without a result fail the report.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Write the build's JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Write one JUnit XML file for the whole build to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Subcommand, Clone)]
pub enum ReportCommand {
    /// Combine the JSON reports of several runs (e.g. the `--partition` jobs of one CI build)
    /// into one summary, and optionally one JSON report and one JUnit file. Shares must add up
    /// to their plan: a missing share or file fails the merge (exit 1).
    Merge(MergeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// JSON reports written by `testbot --report-json`.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Write the merged JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Write one JUnit XML file for all the runs to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Flaky examples fail the merged result.
    #[arg(long)]
    pub flaky_fails: bool,
    /// Merge the file times of all the reports into this runtime history (`--partition` runs
    /// leave it as it is; this is how a partitioned build keeps it up to date).
    #[arg(long, value_name = "FILE")]
    pub runtime_log: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ExecArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Run it once per slot, with the slot's environment (TEST_ENV_NUMBER, TMPDIR, …).
    #[arg(long)]
    pub per_slot: bool,
    /// Slots on this machine (default: as for a run: all cores without SSH hosts, else none).
    #[arg(short = 'n', long = "local-slots", value_name = "N", value_parser = parse_local_slots)]
    pub local_slots: Option<usize>,
    /// The command, after `--`; its words are joined with spaces for `sh -c`, as ssh does.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct HostsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct InitArgs {
    /// Change to DIR first (the project to look at).
    #[arg(short = 'C', long = "chdir", value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Where to write (default: ./testbot.toml).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The framework to write (rspec, minitest, test-unit or cucumber), instead of the one the
    /// project's folders point to.
    #[arg(long, value_name = "NAME", value_parser = FrameworkName, hide_possible_values = true)]
    pub framework: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SyncArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Rehash every file on the hosts (not just trust the manifest they hold and their record of
    /// what was written), and repair what differs.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Spec files or folders to run (default: the framework's pattern, e.g. spec/**/*_spec.rb).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Arguments after `--` go to the test runner (e.g. `-- --tag focus`).
    #[arg(last = true, value_name = "RUNNER_ARGS")]
    pub runner_args: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Slots on this machine (default: all cores when no SSH hosts are configured, 0 when there are).
    #[arg(short = 'n', long = "local-slots", value_name = "N", value_parser = parse_local_slots)]
    pub local_slots: Option<usize>,
    /// Write a JSON report of the run to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Write one JUnit XML file for the whole run to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The runtime history (default: tmp/testbot-runtime-<framework>.log in the project).
    #[arg(long, value_name = "FILE")]
    pub runtime_log: Option<PathBuf>,
    /// The test framework: rspec, minitest, test-unit or cucumber (default: detected from
    /// spec/, test/ or features/).
    #[arg(long, value_name = "NAME", value_parser = FrameworkName, hide_possible_values = true)]
    pub framework: Option<String>,
    /// Run the runner directly, not through `bundle exec`, even when a Gemfile exists.
    #[arg(long)]
    pub no_bundler: bool,
    /// RSpec, minitest and Test::Unit: load the suite's helper once per slot and fork each batch
    /// from it.
    #[arg(long)]
    pub preload: bool,
    /// Start a fresh Ruby process for every batch instead of forking it from the host's fork
    /// server (also `[project] fork = false`, or TESTBOT_NO_FORK=1).
    #[arg(long, env = "TESTBOT_NO_FORK", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_fork: bool,
    /// Number slots 1..N in TEST_ENV_NUMBER (default: '' for the first, then 2..N).
    #[arg(long)]
    pub first_is_1: bool,
    /// Run only share K of N of the suite (balanced by the runtime history; the same on every
    /// CI job given the same files and history, which such a run reads but does not write),
    /// e.g. `--partition 2/4`.
    #[arg(long, value_name = "K/N", value_parser = crate::schedule::partition::parse)]
    pub partition: Option<(usize, usize)>,
    /// Rerun failed examples up to N times (default 0); one that passes on a rerun is reported
    /// as flaky.
    #[arg(long, value_name = "N", env = "TESTBOT_RETRIES")]
    pub retries: Option<u32>,
    /// Flaky examples (passed only on a retry) fail the run.
    #[arg(long)]
    pub flaky_fails: bool,
    #[command(flatten)]
    pub repeat: RepeatArgs,
    /// A selection whose files ran no example: fail (exit 4, "no tests to run"), warn or pass.
    #[arg(long, value_name = "WHAT", value_parser = value_of::<NoTests, report::NoTests>(), default_value = "fail")]
    pub no_tests: report::NoTests,
    /// Stop after N failures (default 1): no more batches start and running ones are stopped;
    /// `--fail-fast=0` never stops (over a profile's `fail_fast`).
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    pub fail_fast: Option<usize>,
    /// Stop the whole run after this long (e.g. 600, 90s, 20m, 1m30s); what did not finish fails
    /// the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Kill a file that runs longer than this (or 5x its time in the runtime history, if more),
    /// then retry it once on another slot (default 300s); `0` turns the limit off.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "TESTBOT_FILE_TIMEOUT")]
    pub file_timeout: Option<Duration>,
    /// The `[profile.NAME]` of testbot.toml whose options this run takes (under the command
    /// line's; default: `ci` when CI is set and testbot.toml has one, else `default`).
    #[arg(long, value_name = "NAME", env = "TESTBOT_PROFILE")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Do not sync: run on the copies the SSH hosts already hold (a host never synced is left out).
    #[arg(long)]
    pub no_sync: bool,
    /// Run only what failed when it last ran (RSpec: the failed examples; other frameworks: the
    /// files with failures), as recorded in tmp/testbot-failures-<framework>.txt; each run
    /// updates only what it ran.
    #[arg(long)]
    pub only_failures: bool,
    /// Leave out the files (or folders) matching GLOB, e.g. `spec/features/**` or
    /// `spec/system`; repeatable; adds to `[project] exclude`.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Run the files (or folders) matching GLOB alone: together in one batch of their own, one
    /// after another in one process on one slot; repeatable; adds to `[project] isolate`.
    #[arg(long, value_name = "GLOB")]
    pub isolate: Vec<String>,
    /// Run only the files a change since REF can break (default: the commit the impact map was
    /// recorded at; uncommitted and untracked changes always count), from the impact map
    /// (`--record-impact`); says what it selected and why. See docs/impact.md.
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "")]
    pub changed: Option<String>,
    /// Record, per test file, the project files it ran (Ruby's Coverage) into
    /// tmp/testbot-impact-<framework>.json, for `--changed`; as `[impact] record = true`.
    #[arg(long)]
    pub record_impact: bool,
    /// What is printed as files finish: none, fail, retry, slow, pending, pass or all, each
    /// level with those before it (default: retry on a terminal, whose status area shows what
    /// runs; pass in plain lines).
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub status_level: Option<StatusLevel>,
    /// What the final summary lists: none (the verdict line only), fail (failures' rerun lines
    /// and errors), retry, slow (+ the files that ran longer than expected), pending (+ the
    /// pending examples), pass or all (+ every file); default fail.
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub final_status_level: Option<StatusLevel>,
    /// When a failing file's details (messages, backtraces, output) are printed: immediate (as
    /// it finishes, the default), final (in the summary), immediate-final (both) or never.
    #[arg(long, value_name = "WHEN", value_enum)]
    pub failure_output: Option<FailureOutput>,
    /// When a passing file's output (what its examples printed) is shown: never (the default),
    /// immediate (as it passes), final (in the summary) or immediate-final.
    #[arg(long, value_name = "WHEN", value_enum)]
    pub success_output: Option<FailureOutput>,
    /// Print the runners' output as it comes, each line after its slot (`local/1 | …`); files
    /// still run in parallel, and the output is still kept with each file's report.
    #[arg(long)]
    pub no_capture: bool,
    /// files (a line per file, the default) or documentation (a line per example under it, as
    /// RSpec's documentation formatter; shows every file's line unless --status-level is given).
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "files")]
    pub format: Format,
    /// Mark a running file SLOW once it runs longer than this, or 3x its expected time (runtime
    /// history or size) if more.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub slow_timeout: Duration,
    /// Run the PATHs in one batch, in the order given, in one process on this machine's first
    /// slot (no SSH hosts): how `testbot bisect` replays a batch and reproduces what it found.
    #[arg(long)]
    pub in_order: bool,
    /// The summary gives, for each batch with a failure, the command that runs its files again
    /// in one process, in the same order, with the same random seed.
    #[arg(long)]
    pub verbose_rerun_command: bool,
    /// Before the summary, each failure as a GitHub Actions annotation (`::error file=…,line=…::`):
    /// auto (when GITHUB_ACTIONS is `true`), always or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value = "auto")]
    pub github_annotations: Annotations,
    /// Without a terminal (CI logs): print what still runs this often; `0` turns it off.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s", env = "TESTBOT_HEARTBEAT")]
    pub heartbeat: Duration,
}

/// `--format`: what the lines of a run show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per file.
    #[default]
    Files,
    /// A line per example under its file's, as RSpec's documentation formatter.
    Documentation,
}

/// `--github-annotations`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Annotations {
    /// On GitHub Actions (GITHUB_ACTIONS=true).
    #[default]
    Auto,
    Always,
    Never,
}

/// A value enum of the command line's, read by clap and handed on as `report`'s plain enum
/// (`report` knows nothing of clap): the values and their help are the variants here.
fn value_of<E, T>() -> impl clap::builder::TypedValueParser<Value = T>
where
    E: clap::ValueEnum + Into<T> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    clap::builder::EnumValueParser::<E>::new().map(E::into)
}

/// `--status-level`, `--final-status-level`: `report::StatusLevel`, by name
/// (`commands::settings::status_level`, over testbot.toml's profiles).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StatusLevel {
    /// Nothing but the run's first line and the summary's verdict.
    None,
    /// Failed and errored files (during the run: with their details).
    Fail,
    /// Files retried or requeued; flaky examples.
    Retry,
    /// Files that ran longer than expected (`SLOW`).
    Slow,
    /// Pending (skipped) examples.
    Pending,
    /// Every file.
    Pass,
    /// Everything.
    All,
}

/// `--failure-output`: `report::FailureOutput`, by name (`commands::settings::failure_output`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FailureOutput {
    /// As the file finishes.
    Immediate,
    /// In the final summary.
    Final,
    /// Both.
    ImmediateFinal,
    /// Never (the summary's rerun lines only).
    Never,
}

/// `--no-tests`: `report::NoTests`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum NoTests {
    /// Passes, saying nothing (also what `report merge` does: each share judged its own).
    Pass,
    /// Passes, with a warning.
    Warn,
    /// Fails: exit 4, "no tests to run" (the default of a run).
    Fail,
}

/// `90`, `90s`, `1.5m`, `2h`, `1m30s`: a duration in seconds unless it says otherwise. One
/// number with one unit is read here (humantime takes no fractions, and `1.5m` worked before
/// it); anything longer, such as `1m30s` or `1h 5min`, by humantime.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => Some(0.001),
        "s" => Some(1.0),
        "m" => Some(60.0),
        "h" => Some(3600.0),
        _ => None,
    };
    match (number.trim().parse::<f64>(), scale) {
        (Ok(value), Some(scale)) if value.is_finite() && value >= 0.0 => Ok(Duration::from_secs_f64(value * scale)),
        (Ok(_), Some(_)) => Err(format!("`{text}` must be a positive duration")),
        _ => humantime::parse_duration(t)
            .map_err(|_| format!("`{text}` is not a duration (e.g. 600, 90s, 20m, 1m30s)")),
    }
}

/// `-n N`: at least 1. No local slots at all is `[local] slots = 0` in testbot.toml (and the
/// default once SSH hosts are configured), not a flag that could hide a typo.
fn parse_local_slots(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (for no local slots, put `slots = 0` under [local] in testbot.toml)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of slots")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_seconds_unless_they_say_otherwise_and_may_be_compound() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs_f64());
        assert_eq!(secs("600"), Ok(600.0));
        assert_eq!(secs("90s"), Ok(90.0));
        assert_eq!(secs("20m"), Ok(1200.0));
        assert_eq!(secs("1.5m"), Ok(90.0));
        assert_eq!(secs("250ms"), Ok(0.25));
        assert_eq!(secs("2h"), Ok(7200.0));
        assert_eq!(secs("0"), Ok(0.0));
        assert_eq!(secs("1m30s"), Ok(90.0));
        assert_eq!(secs("1h 5min"), Ok(3900.0));
        assert_eq!(secs("-5"), Err("`-5` must be a positive duration".into()));
        assert_eq!(secs("1m30x"), Err("`1m30x` is not a duration (e.g. 600, 90s, 20m, 1m30s)".into()));
        assert_eq!(secs("soon"), Err("`soon` is not a duration (e.g. 600, 90s, 20m, 1m30s)".into()));
    }

    #[test]
    fn the_levels_and_failure_output_go_by_names_testbot_toml_takes_too() {
        use clap::{Parser, ValueEnum};
        use crate::commands::settings::{failure_output, status_level};
        let name = |v: clap::builder::PossibleValue| v.get_name().to_owned();
        let levels: Vec<String> = StatusLevel::value_variants().iter().filter_map(|v| v.to_possible_value()).map(name).collect();
        let whens: Vec<String> = FailureOutput::value_variants().iter().filter_map(|v| v.to_possible_value()).map(name).collect();
        assert_eq!(levels, crate::inventory::STATUS_LEVELS);
        assert_eq!(whens, crate::inventory::FAILURE_OUTPUTS);
        assert_eq!(status_level("slow"), Some(report::StatusLevel::Slow));
        assert_eq!(status_level("all"), Some(report::StatusLevel::All));
        assert_eq!(failure_output("immediate-final"), Some(report::FailureOutput::ImmediateFinal));
        assert!(levels.iter().all(|n| status_level(n).is_some()) && whens.iter().all(|n| failure_output(n).is_some()));
        let run = |args: &[&str]| Cli::try_parse_from([&["testbot"], args].concat()).unwrap().run;
        let given: crate::commands::RunOptions = run(&["--final-status-level", "all", "--no-tests", "warn"]).into();
        assert_eq!(given.given.final_status_level.as_deref(), Some("all"));
        assert_eq!(given.no_tests, report::NoTests::Warn);
        let defaults: crate::commands::RunOptions = run(&[]).into();
        assert_eq!((defaults.given.status_level, defaults.given.failure_output), (None, None));
        assert_eq!(defaults.no_tests, report::NoTests::Fail);
        assert!(Cli::try_parse_from(["testbot", "--failure-output", "later"]).is_err());
    }

    #[test]
    fn local_slots_on_the_command_line_are_at_least_one() {
        assert_eq!(parse_local_slots("3"), Ok(3));
        assert_eq!(
            parse_local_slots("0"),
            Err("must be at least 1 (for no local slots, put `slots = 0` under [local] in testbot.toml)".into())
        );
        assert_eq!(parse_local_slots("two"), Err("`two` is not a number of slots".into()));
    }
}
