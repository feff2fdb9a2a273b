//! Why a run could not go on: the errors the engine and the host preparation return.

/// What ends a run early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no host could run work:\n{0}")]
    NoHost(String),
    #[error("the suite's helper did not load for `--preload`, so nothing ran{0}")]
    Preload(String),
    #[error("internal error: {0}\n  this is a bug in testbot; the run was ended rather than left to loop")]
    Internal(String),
    /// A setting the run cannot use (`TESTBOT_TUNING`).
    #[error("{0}")]
    Usage(String),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
