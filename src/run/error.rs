//! Why a run could not go on.

/// What ends a run early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fleet(#[from] crate::fleet::Error),
    /// The source of the run's work (the build's shared queue) failed.
    #[error("{0}")]
    Source(super::SourceError),
    #[error("internal error: {0}\n  this is a bug in testbot; the run was ended rather than left to loop")]
    Internal(String),
}
