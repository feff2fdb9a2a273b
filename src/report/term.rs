//! What the terminal allows — colour, a redrawn progress bar — decided from the environment in
//! one place, and the writes to stdout and stderr that a closed pipe does not crash and that
//! no escape sequence but colour passes (`escapes`).

use super::escapes::{self, Keep};
use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// `CI` set to anything but empty, `0` or `false` (any case): CI systems set `CI=true` (or `1`),
/// and `CI=false` is how a person says "not CI".
pub fn is_ci(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        let v = v.to_string_lossy();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// `TERM=dumb` (Emacs' shell, some CI logs): no escape codes, no redraws.
pub fn is_dumb(term: Option<&OsStr>) -> bool {
    term.is_some_and(|t| t == "dumb")
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn dumb() -> bool {
    is_dumb(std::env::var_os("TERM").as_deref())
}

/// The progress bar redraws stderr in place: only on a terminal that can, outside CI.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && !dumb() && !is_ci(std::env::var_os("CI").as_deref())
}

/// Colour in what goes to stdout (the summary, the file lines). NO_COLOR wins; CLICOLOR_FORCE
/// forces it anywhere; otherwise a terminal that is not dumb.
pub fn stdout_colours() -> bool {
    !env_set("NO_COLOR") && (env_set("CLICOLOR_FORCE") || (std::io::stdout().is_terminal() && !dumb()))
}

/// Colour in the log lines on stderr (tracing's WARN …): as for stdout, on stderr.
pub fn stderr_colours() -> bool {
    !env_set("NO_COLOR") && (env_set("CLICOLOR_FORCE") || (std::io::stderr().is_terminal() && !dumb()))
}

/// Set once stdout could not be written: its reader went away (`testbot | head -1`).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// `--raw-output`: spec output and file names reach the terminal byte for byte.
static RAW_OUTPUT: AtomicBool = AtomicBool::new(false);

/// Whether [`out`] and [`err`] pass escape sequences other than colour (`--raw-output`); set
/// once, from the command line, before anything is printed.
pub fn set_raw_output(raw: bool) {
    RAW_OUTPUT.store(raw, Ordering::Relaxed);
}

/// `text` as it may reach a terminal: without control sequences other than colour, unless
/// `--raw-output` asked for every byte. Everything printed goes through here.
pub fn safe(text: &str) -> Cow<'_, str> {
    if RAW_OUTPUT.load(Ordering::Relaxed) {
        return Cow::Borrowed(text);
    }
    escapes::strip(text, Keep::Sgr)
}

/// Writes `text` to stdout (see [`safe`]). A reader that went away is not the run's failure,
/// and not a panic (`print!` panics on EPIPE, since Rust ignores SIGPIPE): what it would have
/// read is dropped, and the run goes on to its reports and its exit code.
pub fn out(text: &str) {
    let _ = Stdout.write_all(safe(text).as_bytes());
}

/// Writes `text` to stderr (see [`safe`]); a closed stderr is ignored, as for [`out`].
pub fn err(text: &str) {
    let _ = Stderr.write_all(safe(text).as_bytes());
}

/// Stdout as [`out`] writes it: each write whole and flushed, nothing once its reader went
/// away. What is written is not made [`safe`]: the caller does that.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !STDOUT_GONE.load(Ordering::Relaxed) {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(buf).and_then(|()| stdout.flush()).is_err() {
                STDOUT_GONE.store(true, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stderr as [`err`] writes it: each write whole, a closed stderr ignored. What is written is
/// not made [`safe`]: the caller does that (or it is testbot's own cursor control).
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stderr for the log lines (tracing): their messages quote file names and host output, so
/// they go through [`safe`] too.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let _ = std::io::stderr().lock().write_all(safe(&text).as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_set_unless_empty_zero_or_false() {
        for yes in ["true", "1", "yes", "TRUE", "woodpecker"] {
            assert!(is_ci(Some(OsStr::new(yes))), "{yes}");
        }
        for no in ["", "0", "false", "False", "FALSE"] {
            assert!(!is_ci(Some(OsStr::new(no))), "{no:?}");
        }
        assert!(!is_ci(None));
    }

    #[test]
    fn only_term_dumb_is_dumb() {
        assert!(is_dumb(Some(OsStr::new("dumb"))));
        assert!(!is_dumb(Some(OsStr::new("xterm-256color"))));
        assert!(!is_dumb(None));
    }
}
