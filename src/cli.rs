//! The command line: a pure first stage (clap) and `run`, which builds the real objects.

use crate::commands::{self, Outcome};
use crate::errors::Error;
use crate::report::{DisplayOptions, FailureOutput, StatusLevel};
use crate::{project, run};
use clap::{Args, Parser, Subcommand};
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
    /// Work with JSON reports: `testbot report merge A.json B.json …`.
    Report(ReportArgs),
    /// Bring every SSH host's copy of the project up to date, and run nothing.
    Sync(SyncArgs),
    /// Print the files a run would run (with `--partition K/N`: that share's), one a line with
    /// its expected seconds, and run nothing.
    List(ListArgs),
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
    /// The runtime history the plan is made from (default: tmp/testbot-runtime-<framework>.log).
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
    pub action: ReportCommand,
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

/// Where the project is and how to read its inventory: every command takes these.
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Change to DIR before doing anything.
    #[arg(short = 'C', long = "chdir", value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The inventory file (default: ./testbot.toml when present).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An OpenSSH client config for host aliases (default: [ssh] config, else ~/.ssh/config).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
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
    /// Rerun failed examples up to N times; one that passes on a rerun is reported as flaky.
    #[arg(long, value_name = "N", default_value_t = 0, env = "TESTBOT_RETRIES")]
    pub retries: u32,
    /// Flaky examples (passed only on a retry) fail the run.
    #[arg(long)]
    pub flaky_fails: bool,
    /// A selection whose files ran no example: fail (exit 4, "no tests to run"), warn or pass.
    #[arg(long, value_name = "WHAT", value_enum, default_value = "fail")]
    pub no_tests: crate::report::NoTests,
    /// Stop after N failures (default 1): no more batches start and running ones are stopped.
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    pub fail_fast: Option<usize>,
    /// Stop the whole run after this long (e.g. 600, 90s, 20m, 1m30s); what did not finish fails
    /// the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Kill a file that runs longer than this (or 5x its time in the runtime history, if more),
    /// then retry it once on another slot; `0` turns the limit off.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "300s", env = "TESTBOT_FILE_TIMEOUT")]
    pub file_timeout: Duration,
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
    /// What is printed as files finish: none, fail, retry, slow, pending, pass or all, each
    /// level with those before it (default: retry on a terminal, whose status area shows what
    /// runs; pass in plain lines).
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub status_level: Option<StatusLevel>,
    /// What the final summary lists: none (the verdict line only), fail (failures' rerun lines
    /// and errors), retry, slow (+ the files that ran longer than expected), pending (+ the
    /// pending examples), pass or all (+ every file).
    #[arg(long, value_name = "LEVEL", value_enum, default_value = "fail")]
    pub final_status_level: StatusLevel,
    /// When a failing file's details (messages, backtraces, output) are printed: immediate (as
    /// it finishes), final (in the summary), immediate-final (both) or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value = "immediate")]
    pub failure_output: FailureOutput,
    /// Mark a running file SLOW once it runs longer than this, or 3x its expected time (runtime
    /// history or size) if more.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub slow_timeout: Duration,
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

/// `--github-annotations`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Annotations {
    /// On GitHub Actions (GITHUB_ACTIONS=true).
    #[default]
    Auto,
    Always,
    Never,
}

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

/// `--framework NAME`: any word is taken (the project says which it does not support, and takes
/// `test_unit` and other spellings), but the frameworks' names are offered to shell completion.
#[derive(Clone, Debug)]
struct FrameworkName;

impl clap::builder::TypedValueParser for FrameworkName {
    type Value = String;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &std::ffi::OsStr) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(crate::framework::Framework::names().into_iter().map(clap::builder::PossibleValue::new)))
    }
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

/// Log lines go to stderr, coloured only where `report::term` would colour them: escape codes
/// in a CI log or a file are noise.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "testbot=debug",
        _ => "testbot=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::report::term::LogWriter)
        .with_ansi(crate::report::term::stderr_colours())
        .with_target(false)
        .try_init();
}

/// Runs the command the command line names, with its arguments turned into the plain options
/// `commands` takes.
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    crate::report::term::set_raw_output(cli.raw_output);
    match cli.command {
        Some(Command::Run(args)) => commands::run(args.into()),
        Some(Command::Hosts(args)) => commands::hosts(&args.project.into()),
        Some(Command::Init(args)) => commands::init(args.chdir, args.config, args.framework),
        Some(Command::Exec(args)) => commands::exec(commands::ExecOptions {
            location: args.project.into(),
            local_slots: args.local_slots,
            command: args.command.join(" "),
            per_slot: args.per_slot,
        }),
        Some(Command::Report(ReportArgs { chdir, action: ReportCommand::Merge(args) })) => commands::merge(commands::MergeOptions {
            chdir,
            reports: args.reports,
            report_json: args.report_json,
            junit: args.junit,
            runtime_log: args.runtime_log,
            flaky_fails: args.flaky_fails,
        }),
        Some(Command::Sync(args)) => commands::sync(&args.project.into(), args.verify),
        Some(Command::List(args)) => {
            let options = project::Options {
                paths: args.paths,
                runtime_log: args.runtime_log,
                framework: args.framework,
                exclude: args.exclude,
                ..Default::default()
            };
            commands::list(&args.project.into(), &options, args.partition)
        }
        Some(Command::Completions(args)) => completions(args),
        Some(Command::Man) => man(),
        None => {
            if let Some(error) = unknown_command(&cli.run) {
                return Err(error);
            }
            commands::run(cli.run.into())
        }
    }
}

impl From<ProjectArgs> for commands::Location {
    fn from(args: ProjectArgs) -> commands::Location {
        commands::Location { chdir: args.chdir, config: args.config, ssh_config: args.ssh_config }
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
            },
            report_json: args.report_json,
            junit: args.junit,
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
                annotations: args.github_annotations.on(std::env::var_os("GITHUB_ACTIONS").as_deref()),
            },
        }
    }
}

/// `testbot completions SHELL`: clap_complete's script for the whole command line.
fn completions(args: CompletionsArgs) -> Result<Outcome, Error> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "testbot", &mut script);
    crate::report::print_completions(&String::from_utf8_lossy(&script));
    Ok(Outcome::new(crate::errors::exit::PASSED))
}

/// `testbot man`: one page for the whole command line — clap_mangen's sections for a run's
/// options and the exit codes (its after-help), and a COMMANDS section of our own with each
/// command's options: clap_mangen's SUBCOMMANDS section names a page per command
/// (`testbot-hosts(1)`), and there is only this one.
fn man() -> Result<Outcome, Error> {
    crate::report::print_completions(&man_page());
    Ok(Outcome::new(crate::errors::exit::PASSED))
}

/// One of clap_mangen's sections, rendered into a writer.
type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;

fn man_page() -> String {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let man = clap_mangen::Man::new(cli.clone());
    let mut page = Vec::new();
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for section in sections {
        section(&man, &mut page).expect("a Vec takes every write");
    }
    let mut page = String::from_utf8_lossy(&page).into_owned();
    page.push_str(".SH COMMANDS\n");
    for (name, command) in leaf_commands(&cli, "testbot") {
        page.push_str(&command_entry(&name, command));
    }
    let mut rest = Vec::new();
    man.render_extra_section(&mut rest).expect("a Vec takes every write");
    man.render_version_section(&mut rest).expect("a Vec takes every write");
    page.push_str(&String::from_utf8_lossy(&rest));
    page
}

/// Every command a person types, `testbot hosts`, `testbot report merge`, …, with its clap
/// command (`help` left out).
fn leaf_commands<'a>(command: &'a clap::Command, prefix: &str) -> Vec<(String, &'a clap::Command)> {
    command
        .get_subcommands()
        .filter(|c| c.get_name() != "help" && !c.is_hide_set())
        .flat_map(|c| {
            let name = format!("{prefix} {}", c.get_name());
            match c.has_subcommands() {
                true => leaf_commands(c, &name),
                false => vec![(name, c)],
            }
        })
        .collect()
}

/// One command in the COMMANDS section: its name and arguments, what it does, its options.
fn command_entry(name: &str, command: &clap::Command) -> String {
    let mut entry = format!(".TP\n\\fB{}\\fR", roff_text(name));
    let (positionals, options): (Vec<&clap::Arg>, Vec<&clap::Arg>) = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version" | "verbose" | "raw_output"))
        .partition(|a| a.is_positional());
    if !options.is_empty() {
        entry.push_str(" [OPTIONS]");
    }
    for arg in positionals {
        let value = arg.get_value_names().and_then(|v| v.first()).map_or(arg.get_id().as_str(), |v| v.as_str());
        entry.push_str(&format!(" [{}]", roff_text(value)));
    }
    entry.push('\n');
    if let Some(about) = command.get_about() {
        entry.push_str(&roff_text(&about.to_string()));
        entry.push('\n');
    }
    if name == "testbot run" {
        entry.push_str("Its options are those under OPTIONS above.\n");
        return entry;
    }
    if options.is_empty() {
        return entry;
    }
    entry.push_str(".RS\n");
    for arg in options {
        let mut flags: Vec<String> = Vec::new();
        if let Some(short) = arg.get_short() {
            flags.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long() {
            flags.push(format!("--{long}"));
        }
        let value = match arg.get_action().takes_values() {
            true => arg.get_value_names().and_then(|v| v.first()).map(|v| format!(" {v}")).unwrap_or_default(),
            false => String::new(),
        };
        entry.push_str(&format!(".TP\n\\fB{}\\fR{}\n", roff_text(&flags.join(", ")), roff_text(&value)));
        if let Some(help) = arg.get_help() {
            entry.push_str(&roff_text(&help.to_string()));
            entry.push('\n');
        }
    }
    entry.push_str(".RE\n");
    entry
}

/// `text` as roff prints it: backslashes and dashes escaped, no line taken for a request.
fn roff_text(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `testbot hsots`: a lone PATH that does not exist and reads like a mistyped command is that,
/// not a missing spec file. So is a command's exact name after a run's options (`testbot -n 2
/// hosts`), which clap reads as a PATH.
fn unknown_command(args: &RunArgs) -> Option<Error> {
    let [word] = args.paths.as_slice() else { return None };
    let base = args.project.chdir.clone().unwrap_or_default();
    if word.contains('/') || base.join(word).exists() {
        return None;
    }
    let names = command_names();
    if names.contains(word) {
        return Some(Error::CommandAfterRunOptions(word.clone()));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::inventory::did_you_mean(word, &names)
        .map(|name| Error::UnknownCommand { given: word.clone(), suggestion: name.to_string() })
}

/// The subcommands' names, as clap knows them.
fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command().get_subcommands().map(|c| c.get_name().to_string()).filter(|n| n != "help").collect()
}

/// The options every project command takes (`-C`, `-c`, `-F`, and `-v`), given before the
/// subcommand — `testbot -c ci.toml hosts` — are moved after it, where clap takes them: the top
/// level also holds a run's options, and there a word after them is a PATH. Anything else is
/// left as it is.
pub fn hoist_project_options(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const WITH_VALUE: &[&str] = &["-C", "--chdir", "-c", "--config", "-F", "--ssh-config"];
    let names = command_names();
    let mut at = 1;
    while let Some(arg) = args.get(at).and_then(|a| a.to_str()) {
        let verbose = arg == "--verbose" || (arg.len() > 1 && arg.starts_with('-') && arg[1..].chars().all(|c| c == 'v'));
        // `--config=FILE`, `-cFILE`: the value is in the same word.
        let joined = WITH_VALUE.iter().any(|o| {
            (o.starts_with("--") && arg.starts_with(&format!("{o}="))) || (o.len() == 2 && arg.len() > 2 && arg.starts_with(o))
        });
        if WITH_VALUE.contains(&arg) {
            at += 2;
        } else if verbose || joined {
            at += 1;
        } else {
            break;
        }
    }
    let Some(command) = args.get(at).and_then(|a| a.to_str()) else { return args };
    if at == 1 || !names.iter().any(|n| n == command) {
        return args;
    }
    let mut hoisted = Vec::with_capacity(args.len());
    hoisted.push(args[0].clone());
    hoisted.push(args[at].clone());
    hoisted.extend_from_slice(&args[1..at]);
    hoisted.extend_from_slice(&args[at + 1..]);
    hoisted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

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
    fn local_slots_on_the_command_line_are_at_least_one() {
        assert_eq!(parse_local_slots("3"), Ok(3));
        assert_eq!(
            parse_local_slots("0"),
            Err("must be at least 1 (for no local slots, put `slots = 0` under [local] in testbot.toml)".into())
        );
        assert_eq!(parse_local_slots("two"), Err("`two` is not a number of slots".into()));
    }

    #[test]
    fn project_options_before_a_command_move_after_it() {
        assert_eq!(hoist_project_options(args(&["testbot", "-c", "ci.toml", "hosts"])), args(&["testbot", "hosts", "-c", "ci.toml"]));
        assert_eq!(
            hoist_project_options(args(&["testbot", "-C", "app", "--config=ci.toml", "-Fssh.conf", "sync", "--verify"])),
            args(&["testbot", "sync", "-C", "app", "--config=ci.toml", "-Fssh.conf", "--verify"])
        );
        assert_eq!(hoist_project_options(args(&["testbot", "-vv", "-c", "ci.toml", "list"])), args(&["testbot", "list", "-vv", "-c", "ci.toml"]));
        // Left as they are: no command, a command first, a run's option in front, a PATH.
        for words in [
            &["testbot", "-c", "ci.toml"][..],
            &["testbot", "hosts", "-c", "ci.toml"],
            &["testbot", "-n", "2", "hosts"],
            &["testbot", "-c", "ci.toml", "spec/hosts_spec.rb"],
            &["testbot", "-c", "ci.toml", "-vx", "hosts"],
        ] {
            assert_eq!(hoist_project_options(args(words)), args(words), "{words:?}");
        }
    }

    #[test]
    fn a_lone_missing_path_close_to_a_command_is_a_mistyped_command() {
        let run = |paths: &[&str]| RunArgs { paths: paths.iter().map(|p| p.to_string()).collect(), ..RunArgs::default() };
        let message = |paths: &[&str]| unknown_command(&run(paths)).map(|e| e.to_string());
        assert_eq!(message(&["hsots"]), Some("unknown command `hsots`; did you mean `hosts`?".into()));
        assert_eq!(message(&["lsit"]), Some("unknown command `lsit`; did you mean `list`?".into()));
        assert_eq!(message(&["spec/hsots"]), None, "a path with a folder is a path");
        assert_eq!(message(&["hsots", "spec"]), None, "only a lone word");
        assert_eq!(message(&["spec/models_spec.rb"]), None);
        assert_eq!(message(&["zzzz"]), None, "not close to any command");
        assert_eq!(message(&["src"]), None, "it exists (testbot's own source folder, the tests' cwd)");
    }
}
