//! The words of every `Warning` the engine and the fleet send: the one place they are written.

use crate::events::Warning;
use std::fmt;

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::HostLeftOut { host, reason } => write!(f, "host `{host}` is left out of this run: {reason}"),
            Warning::ForkServerNotStarted { host, reason } => {
                write!(f, "host `{host}`: {reason}; its batches run as fresh processes (-v shows its output)")
            }
            Warning::ForkServerLost { host, reason } => write!(f, "host `{host}`: {reason}; its batches run as fresh processes from now on"),
            Warning::AfterRunFailed { host, reason } => write!(f, "host `{host}`: {reason}"),
            Warning::Leasing(note) => f.write_str(note),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(reason: &str) -> (String, String) {
        ("ci-1".to_string(), reason.to_string())
    }

    #[test]
    fn each_warning_reads_as_it_always_did() {
        let (h, r) = host("could not connect");
        assert_eq!(Warning::HostLeftOut { host: h, reason: r }.to_string(), "host `ci-1` is left out of this run: could not connect");
        let (h, r) = host("its fork server (loading Bundler and the framework) exited with status 1 before it was ready");
        assert_eq!(
            Warning::ForkServerNotStarted { host: h, reason: r }.to_string(),
            "host `ci-1`: its fork server (loading Bundler and the framework) exited with status 1 before it was ready; \
             its batches run as fresh processes (-v shows its output)"
        );
        let (h, r) = host("its fork server went away");
        assert_eq!(
            Warning::ForkServerLost { host: h, reason: r }.to_string(),
            "host `ci-1`: its fork server went away; its batches run as fresh processes from now on"
        );
        let (h, r) = host("its after_run hook `x` exited with status 2");
        assert_eq!(Warning::AfterRunFailed { host: h, reason: r }.to_string(), "host `ci-1`: its after_run hook `x` exited with status 2");
        assert_eq!(Warning::Leasing("host `a`: running on slots 1-2".into()).to_string(), "host `a`: running on slots 1-2");
    }
}
