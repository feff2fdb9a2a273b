//! What every project command shares on its command line: where the project is (`-C`, `-c`, `-F`)
//! and `--framework`'s value parser.

use clap::Args;
use std::path::PathBuf;

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

/// `--framework NAME`: any word is taken (the project says which it does not support, and takes
/// `test_unit` and other spellings), but the frameworks' names are offered to shell completion.
#[derive(Clone, Debug)]
pub(super) struct FrameworkName;

impl clap::builder::TypedValueParser for FrameworkName {
    type Value = String;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &std::ffi::OsStr) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(crate::framework::Framework::names().into_iter().map(clap::builder::PossibleValue::new)))
    }
}
