//! The errors that end a run before it starts, and the one place that maps outcomes to exit codes.

use std::path::PathBuf;

/// Exit codes are a contract with the scripts that call testbot.
pub mod exit {
    pub const PASSED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NO_HOST: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("failed to change to directory `{}`", path.display())]
    Chdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("no spec files matched {what} in {}\n  hint: pass files or folders (`testbot spec/models`), or set `pattern` under [project] in testbot.toml", root.display())]
    EmptySelection { what: String, root: PathBuf },
    #[error("no such file or directory: `{0}`")]
    MissingPath(String),
    #[error("unknown command `{given}`; did you mean `{suggestion}`?")]
    UnknownCommand { given: String, suggestion: String },
    #[error("`{0}` is a command, but it came after a run's options, where a word is a PATH: give the command first, `testbot {0} …`, and its options after it")]
    CommandAfterRunOptions(String),
    #[error("could not tell which test framework {} uses: {reason}\n  hint: pass `--framework NAME` (rspec, minitest, test-unit or cucumber), or set `framework` under [project] in testbot.toml", root.display())]
    Framework { root: PathBuf, reason: String },
    #[error("no host could run work:\n{0}")]
    NoHost(String),
    #[error("{0}")]
    Sync(String),
    #[error("the suite's helper did not load for `--preload`, so nothing ran{0}")]
    Preload(String),
    #[error("internal error: {0}\n  this is a bug in testbot; the run was ended rather than left to loop")]
    Internal(String),
    #[error(transparent)]
    Output(#[from] crate::report::OutputError),
    #[error(transparent)]
    Merge(Box<crate::report::merge::MergeError>),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::report::merge::MergeError> for Error {
    fn from(e: crate::report::merge::MergeError) -> Error {
        Error::Merge(Box::new(e))
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Inventory(_)
            | Error::Chdir { .. }
            | Error::Usage(_)
            | Error::EmptySelection { .. }
            | Error::MissingPath(_)
            | Error::UnknownCommand { .. }
            | Error::CommandAfterRunOptions(_)
            | Error::Framework { .. }
            | Error::Output(_) => exit::USAGE,
            Error::Merge(e) => e.exit_code(),
            Error::NoHost(_) => exit::NO_HOST,
            Error::Io { .. } | Error::Sync(_) | Error::Preload(_) | Error::Internal(_) => exit::FAILED,
        }
    }
}

/// `error: <message>: <cause>: <cause>` — the whole chain, as a person reads it.
pub fn render(err: &Error) -> String {
    format!("error: {}", chain(err))
}

/// Any error with its causes, `: `-joined.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    out
}
