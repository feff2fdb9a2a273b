//! The errors a command ends with (each layer's own, wrapped), and the one place that maps
//! outcomes to exit codes: errors here, a run's verdict in `exit_code_of`.

use crate::report::merge::MergeError;
use std::path::PathBuf;

/// Exit codes are a contract with the scripts that call testbot.
pub mod exit {
    pub const PASSED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NO_HOST: u8 = 3;
    /// Planned files ran, but no example did (`--no-tests=fail`, the default).
    pub const NO_TESTS: u8 = 4;
    pub const INTERRUPTED: u8 = crate::signals::EXIT_CODE;
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
    /// A `TESTBOT_TUNING` that does not parse (a knob for tests and benchmarks).
    #[error("TESTBOT_TUNING: {0}")]
    Tuning(crate::schedule::TuningError),
    #[error(transparent)]
    Project(#[from] crate::project::Error),
    #[error(transparent)]
    Run(#[from] crate::run::Error),
    #[error("unknown command `{given}`; did you mean `{suggestion}`?")]
    UnknownCommand { given: String, suggestion: String },
    #[error("`{0}` is a command, but it came after a run's options, where a word is a PATH: give the command first, `testbot {0} …`, and its options after it")]
    CommandAfterRunOptions(String),
    #[error("{0}")]
    Sync(crate::fleet::Error),
    #[error(transparent)]
    Output(#[from] crate::report::OutputError),
    /// `--changed` could not learn what changed.
    #[error(transparent)]
    Git(#[from] crate::history::impact::git::GitError),
    #[error(transparent)]
    Merge(Box<crate::report::merge::MergeError>),
    #[error(transparent)]
    Queue(#[from] crate::queue::Error),
    /// `testbot bisect`: a report or failure that gives nothing to bisect.
    #[error(transparent)]
    Bisect(#[from] crate::report::past_run::PastRunError),
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
            | Error::Project(_)
            | Error::UnknownCommand { .. }
            | Error::CommandAfterRunOptions(_)
            | Error::Output(_)
            | Error::Git(_)
            | Error::Bisect(_)
            | Error::Tuning(_) => exit::USAGE,
            Error::Merge(e) => match **e {
                // Reports that cannot be read are a usage error; reports that do not fit
                // together as the shares of one plan fail the build: some files may never have run.
                MergeError::Read { .. } | MergeError::Parse { .. } | MergeError::Old { .. } | MergeError::Frameworks { .. } => exit::USAGE,
                MergeError::Mixed { .. }
                | MergeError::Plans { .. }
                | MergeError::SameShare { .. }
                | MergeError::BadShare { .. }
                | MergeError::OutsidePlan { .. } => {
                    exit::FAILED
                }
            },
            // A job that cannot join its build's queue, or a build never planned: never a pass.
            Error::Queue(crate::queue::Error::Url { .. } | crate::queue::Error::OtherPlan { .. }) => exit::USAGE,
            Error::Queue(_) => exit::FAILED,
            Error::Run(crate::run::Error::Fleet(crate::fleet::Error::NoHost(_))) => exit::NO_HOST,
            Error::Run(crate::run::Error::Fleet(crate::fleet::Error::UnsafeRemoteDir(_))) => exit::USAGE,
            Error::Io { .. } | Error::Sync(_) | Error::Run(_) => exit::FAILED,
        }
    }
}

/// `error: <message>: <cause>: <cause>` — the whole chain, as a person reads it.
pub fn render(err: &Error) -> String {
    format!("error: {}", chain(err))
}

use crate::error_chain::chain;

/// The exit code of a run's (or a merge's) verdict.
pub fn exit_code_of(verdict: crate::report::Verdict) -> u8 {
    match verdict {
        crate::report::Verdict::Passed => exit::PASSED,
        crate::report::Verdict::Failed => exit::FAILED,
        crate::report::Verdict::Interrupted => exit::INTERRUPTED,
        crate::report::Verdict::NoTests => exit::NO_TESTS,
    }
}
