//! Why a run could not go on.

/// What ends a run early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fleet(#[from] crate::fleet::Error),
    #[error("internal error: {0}\n  this is a bug in testbot; the run was ended rather than left to loop")]
    Internal(String),
}
