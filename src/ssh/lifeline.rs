//! How a command on this machine dies with testbot, however testbot ends — even by SIGKILL.
//!
//! On Linux the kernel does it: the command asks for SIGKILL when its parent dies
//! (`prctl(PR_SET_PDEATHSIG)`). That call is Linux's alone; everywhere else (macOS), and on Linux
//! when built with the `portable-runner` feature (so that CI runs this path), a lifeline does it,
//! as the watchdog does on SSH hosts (`watchdog.rs`): a small `sh` leads the command's process
//! group and reads a pipe whose only write end testbot holds. Whatever ends testbot, the kernel
//! closes that end; the read sees end of file and the watchdog kills the whole group — the
//! command and all it started that stayed in its group (more than the kernel's signal, which
//! reaches the command alone). See docs/platforms.md.

use std::io;
use tokio::process::{Child, Command};

/// Linux: nothing to hold, the kernel keeps the promise.
#[cfg(all(target_os = "linux", not(feature = "portable-runner")))]
pub(super) struct Lifeline;

#[cfg(all(target_os = "linux", not(feature = "portable-runner")))]
impl Lifeline {
    pub(super) fn start() -> io::Result<Lifeline> {
        Ok(Lifeline)
    }

    /// The command leads a process group of its own and gets SIGKILL when testbot goes. (It is
    /// sent when the spawning thread exits; a runtime worker thread lives as long as the run.)
    pub(super) fn hold(&self, cmd: &mut Command) {
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                Ok(())
            });
        }
    }

    /// The process group of `child` (started under `hold`): the child's own pid.
    pub(super) fn group(&self, child: &Child) -> Option<i32> {
        child.id().map(|id| id as i32)
    }

    /// Called once the group has been killed.
    pub(super) async fn end(self) {}
}

/// The watchdog's `sh`: it waits for end of file on its stdin (testbot never writes to it) and
/// kills its own process group, which it leads.
#[cfg(any(not(target_os = "linux"), feature = "portable-runner"))]
const WATCHDOG: &str = "read -r line; kill -s KILL -- -$$";

/// The watchdog, leader of the group the command joins, and testbot's end of its pipe.
#[cfg(any(not(target_os = "linux"), feature = "portable-runner"))]
pub(super) struct Lifeline {
    watchdog: Child,
    pgid: i32,
    _held: std::io::PipeWriter,
}

#[cfg(any(not(target_os = "linux"), feature = "portable-runner"))]
impl Lifeline {
    /// Starts the watchdog. Both ends of its pipe are close-on-exec in testbot (`std::io::pipe`),
    /// so no other command inherits testbot's end; the watchdog gets the read end as its stdin.
    pub(super) fn start() -> io::Result<Lifeline> {
        let (read, write) = std::io::pipe()?;
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG])
            .stdin(read)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()?;
        // `spawn` returns once the watchdog runs `sh`: its group exists for the command to join.
        let pgid = watchdog.id().map(|id| id as i32).ok_or_else(|| io::Error::other("the watchdog ended at once"))?;
        Ok(Lifeline { watchdog, pgid, _held: write })
    }

    /// The command joins the watchdog's process group.
    pub(super) fn hold(&self, cmd: &mut Command) {
        cmd.process_group(self.pgid);
    }

    /// The command's process group: the watchdog's.
    pub(super) fn group(&self, _child: &Child) -> Option<i32> {
        Some(self.pgid)
    }

    /// Called once the group (the watchdog with it) has been killed: reaps the watchdog, so that
    /// no zombie holds the group's id. (Dropped instead, when the runtime shuts down, the pipe
    /// closes and the watchdog kills the group itself: no `kill_on_drop`, which would race it.)
    pub(super) async fn end(mut self) {
        let _ = self.watchdog.wait().await;
    }
}
