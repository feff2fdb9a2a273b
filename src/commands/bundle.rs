//! Whether a project's bundle resolves here (`bundle check`), for `testbot init`: a
//! `bundler = true` whose bundle does not resolve makes every runner fail to start.

use std::path::Path;
use std::process::{Command, Stdio};
use super::within::output_within;
use std::time::Duration;

/// How long `bundle check` may take before init stops waiting for it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What `bundle check` said of the project's Gemfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// Every gem of the Gemfile is installed here.
    Resolves,
    /// It does not resolve: `bundle check`'s first line says why.
    Missing(String),
    /// `bundle check` could not say: not installed, or no answer in time.
    Unknown(String),
}

impl Bundle {
    /// Runs `bundle check --dry-run` (it writes no Gemfile.lock) in `root`.
    pub fn check(root: &Path) -> Bundle {
        let child = Command::new("bundle")
            .args(["check", "--dry-run"])
            .current_dir(root)
            .env_remove("BUNDLE_GEMFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return Bundle::Unknown(format!("`bundle` could not be started ({e})")),
        };
        match output_within(child, CHECK_TIMEOUT) {
            Some(out) if out.status.success() => Bundle::Resolves,
            Some(out) => Bundle::Missing(first_line(&out.stdout, &out.stderr)),
            None => Bundle::Unknown(format!("`bundle check` gave no answer in {}s", CHECK_TIMEOUT.as_secs())),
        }
    }
}

/// The first line `bundle check` printed, stdout or stderr.
fn first_line(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!("{}\n{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr));
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("`bundle check` failed").to_string()
}
