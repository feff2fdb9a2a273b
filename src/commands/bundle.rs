//! Whether a project's bundle resolves here (`bundle check`), for `testbot init`: a
//! `bundler = true` whose bundle does not resolve makes every runner fail to start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        let mut child = match child {
            Ok(child) => child,
            Err(e) => return Bundle::Unknown(format!("`bundle` could not be started ({e})")),
        };
        let deadline = Instant::now() + CHECK_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Bundle::Unknown(format!("`bundle check` gave no answer in {}s", CHECK_TIMEOUT.as_secs()));
                }
            }
        }
        match child.wait_with_output() {
            Ok(out) if out.status.success() => Bundle::Resolves,
            Ok(out) => Bundle::Missing(first_line(&out.stdout, &out.stderr)),
            Err(e) => Bundle::Unknown(format!("`bundle check` failed ({e})")),
        }
    }
}

/// The first line `bundle check` printed, stdout or stderr.
fn first_line(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!("{}\n{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr));
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("`bundle check` failed").to_string()
}
