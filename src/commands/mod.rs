//! One function per subcommand: the only layer that holds both the engine (`fleet`, `run`) and a
//! reporter, and (through `errors`) the one place outcomes become exit codes. `cli` turns the
//! command line into the plain option structs these take.

pub mod bisect;
mod bundle;
mod helper_boot;
mod impact;
pub mod hosts;
pub mod init;
pub mod queue;
mod repeat;
pub mod report;
pub mod run;
pub mod settings;
mod within;

use crate::errors::Error;
use crate::inventory::{Inventory, Invocation};
use std::path::PathBuf;

pub use bisect::{bisect, BisectOptions};
pub use hosts::{exec, hosts, sync, ExecOptions};
pub use queue::{QueueOptions, QueueReportOptions};
pub use repeat::Repeat;
pub use report::{merge, MergeOptions};
pub use run::{flaky, list, run, RunOptions};

/// What a finished command tells `main`.
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

/// Where the project is and how to read its inventory: every project command takes these.
#[derive(Clone, Debug, Default)]
pub struct Location {
    /// `-C`: change here first.
    pub chdir: Option<PathBuf>,
    /// `-c`: the inventory (default `./testbot.toml` when present).
    pub config: Option<PathBuf>,
    /// `-F`: an OpenSSH client config.
    pub ssh_config: Option<PathBuf>,
}

/// The project root and its inventory, after `-C`: testbot.toml (whose `framework` must name a
/// registered framework), `-F` over its `[ssh] config`, and `invocation`
/// (`settings::invocation`), the one place where what the file does not say joins it.
fn setup(location: &Location, invocation: Invocation) -> Result<(PathBuf, Inventory), Error> {
    setup_below(location, invocation).map(|(root, inventory, _)| (root, inventory))
}

/// `setup`, and the folder it was started in below the project root (`settings::project_root`),
/// relative to the root: testbot runs at the root.
fn setup_below(location: &Location, invocation: Invocation) -> Result<(PathBuf, Inventory, Option<PathBuf>), Error> {
    let Location { chdir, config, ssh_config } = location;
    if let Some(dir) = chdir {
        std::env::set_current_dir(dir).map_err(|source| Error::Chdir { path: dir.clone(), source })?;
    }
    let here = std::env::current_dir().map_err(|source| Error::Io { what: "read the current directory".into(), source })?;
    // `-C DIR` names the project root, and `-c FILE` the inventory: no search above.
    let (root, below) = match (chdir, config) {
        (None, None) => settings::project_root(&here, crate::ssh::config::home_dir().as_deref()),
        _ => (here, None),
    };
    if below.is_some() {
        std::env::set_current_dir(&root).map_err(|source| Error::Chdir { path: root.clone(), source })?;
    }
    let frameworks = crate::framework::Framework::names();
    let mut inventory = match config {
        Some(path) => Inventory::load(path, &frameworks)?,
        None => {
            let default = root.join("testbot.toml");
            if default.is_file() {
                Inventory::load(&default, &frameworks)?
            } else {
                Inventory::empty()
            }
        }
    };
    if let Some(path) = ssh_config {
        inventory.ssh.config = Some(path.clone());
    }
    inventory.invocation = invocation;
    Ok((root, inventory, below))
}

/// The runtime every command runs on: one worker thread. The controller waits on sockets and
/// pipes; its CPU work (hashing, building archives) runs on threads of its own. At 1,000 slots
/// and 20,000 files a second worker cost 30-40 % more CPU in wake-ups and handing tasks between
/// threads than it saved, and a first sync to 4 hosts was no faster with it (docs/benchmarks.md).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|source| Error::Io { what: "start the async runtime".into(), source })
}

/// The process's one handler for SIGINT and SIGTERM (`signals`), for a command about to work
/// on hosts. Inside the runtime.
fn install_signals() -> Result<crate::signals::Signals, Error> {
    crate::signals::Signals::install().map_err(|source| Error::Io { what: "listen for Ctrl-C and SIGTERM".into(), source })
}

/// A command about hosts with none in the inventory.
fn no_hosts(inventory: &Inventory, command: &str, does: &str) -> Error {
    Error::Usage(format!(
        "no [[host]] in {}: `testbot {command}` {does} (see testbot.toml.example)",
        inventory.source.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "testbot.toml (there is none here)".into())
    ))
}

/// `testbot init`: a commented testbot.toml from what the project shows.
pub fn init(chdir: Option<PathBuf>, config: Option<PathBuf>, framework: Option<String>) -> Result<Outcome, Error> {
    if let Some(dir) = &chdir {
        std::env::set_current_dir(dir).map_err(|source| Error::Chdir { path: dir.clone(), source })?;
    }
    let root = std::env::current_dir().map_err(|source| Error::Io { what: "read the current directory".into(), source })?;
    let findings = init::Findings::gather(&root, framework.as_deref(), settings::cores())?;
    let path = init::target(&root, config.as_deref());
    init::write(&path, &init::render(&findings))?;
    crate::report::print_init(&init::summary(&findings, &path));
    Ok(Outcome::new(crate::errors::exit::PASSED))
}
