//! The command line: a pure first stage (clap) and `run`, which builds the real objects.

use crate::errors::Error;
use crate::inventory::Inventory;
use crate::{project, run};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "testbot",
    version,
    about = "Run a Ruby test suite in parallel on every core of every machine you can reach",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 all passed; 1 a failure, an error outside examples, or a file that did not run cleanly;\n2 usage or configuration error; 3 no host could run work; 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the suite (the default command).
    Run(RunArgs),
    /// Check every SSH host in testbot.toml at once and print one table.
    Hosts(HostsArgs),
    /// Bring every SSH host's copy of the project up to date, and run nothing.
    Sync(SyncArgs),
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
pub struct SyncArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Rehash every file on the hosts (not just trust the manifest they hold), and repair what
    /// was changed there by hand.
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
    #[arg(short = 'n', long = "local-slots", value_name = "N")]
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
    /// The test framework: rspec (default when spec/ exists).
    #[arg(long, value_name = "NAME")]
    pub framework: Option<String>,
    /// Run the runner directly, not through `bundle exec`, even when a Gemfile exists.
    #[arg(long)]
    pub no_bundler: bool,
    /// Number slots 1..N in TEST_ENV_NUMBER (default: '' for the first, then 2..N).
    #[arg(long)]
    pub first_is_1: bool,
    /// Do not sync: run on the copies the SSH hosts already hold (a host never synced is left out).
    #[arg(long)]
    pub no_sync: bool,
}

/// What a finished run tells `main`.
pub struct Outcome {
    code: u8,
}

impl Outcome {
    pub fn new(code: u8) -> Self {
        Outcome { code }
    }
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

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
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn run(cli: Cli) -> Result<Outcome, Error> {
    match cli.command {
        Some(Command::Run(args)) => run_suite(args),
        Some(Command::Hosts(args)) => hosts(args),
        Some(Command::Sync(args)) => sync(args),
        None => run_suite(cli.run),
    }
}

/// The project root and its inventory, after `-C`.
fn setup(args: &ProjectArgs) -> Result<(PathBuf, Inventory), Error> {
    let ProjectArgs { chdir, config, ssh_config } = args;
    if let Some(dir) = chdir {
        std::env::set_current_dir(dir).map_err(|source| Error::Chdir { path: dir.clone(), source })?;
    }
    let root = std::env::current_dir().map_err(|source| Error::Io {
        what: "read the current directory".into(),
        source,
    })?;
    let mut inventory = match config {
        Some(path) => Inventory::load(path)?,
        None => {
            let default = root.join("testbot.toml");
            if default.is_file() {
                Inventory::load(&default)?
            } else {
                Inventory::empty()
            }
        }
    };
    if let Some(path) = ssh_config {
        inventory.ssh.config = Some(path.clone());
    }
    Ok((root, inventory))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Io { what: "start the async runtime".into(), source })
}

fn run_suite(args: RunArgs) -> Result<Outcome, Error> {
    let (root, mut inventory) = setup(&args.project)?;
    inventory.sync.skip = args.no_sync;
    let project = project::Project::resolve(&root, &inventory, &args)?;
    let code = runtime()?.block_on(run::run(project, inventory, args))?;
    Ok(Outcome::new(code))
}

fn no_hosts(inventory: &Inventory, command: &str, does: &str) -> Error {
    Error::Usage(format!(
        "no [[host]] in {}: `testbot {command}` {does} (see testbot.toml.example)",
        inventory.source.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "testbot.toml (there is none here)".into())
    ))
}

/// `testbot sync`: one line per host; exit 1 if any host could not be synced.
fn sync(args: SyncArgs) -> Result<Outcome, Error> {
    let (root, inventory) = setup(&args.project)?;
    if inventory.hosts.is_empty() {
        return Err(no_hosts(&inventory, "sync", "copies the project to SSH hosts"));
    }
    // The framework's support files travel with the project, as in a run; a project whose
    // framework cannot be told yet is synced without them.
    let support = match project::Project::resolve(&root, &inventory, &RunArgs::default()) {
        Ok(project) => run::remote::support_files(&project),
        Err(_) => Vec::new(),
    };
    let reports = runtime()?
        .block_on(run::remote::sync_only(&root, support, &inventory, args.verify))
        .map_err(Error::Sync)?;
    crate::report::print_sync(&reports);
    let ok = reports.iter().all(|r| r.result.is_ok());
    Ok(Outcome::new(if ok { crate::errors::exit::PASSED } else { crate::errors::exit::FAILED }))
}

fn hosts(args: HostsArgs) -> Result<Outcome, Error> {
    let (root, inventory) = setup(&args.project)?;
    if inventory.hosts.is_empty() {
        return Err(no_hosts(&inventory, "hosts", "checks SSH hosts"));
    }
    let checks = runtime()?.block_on(run::remote::check_all(&inventory, &root));
    crate::report::print_hosts(&checks);
    let usable = checks.iter().filter(|c| c.result.as_ref().is_ok_and(|r| r.problem().is_none())).count();
    Ok(Outcome::new(if usable == checks.len() { crate::errors::exit::PASSED } else { crate::errors::exit::FAILED }))
}
