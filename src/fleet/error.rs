//! Why the hosts could not be made ready.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no host could run work:\n{0}")]
    NoHost(String),
    /// Some host's `remote_dir` is one another user could change: nothing is run anywhere.
    #[error("refusing to run: another user could change what testbot runs as you\n{0}")]
    UnsafeRemoteDir(String),
    #[error("the suite's helper did not load for `--preload`, so nothing ran{0}")]
    Preload(String),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
