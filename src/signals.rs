//! The process's one handler for SIGINT (Ctrl-C) and SIGTERM (a cancelled CI job), installed
//! once by the command and passed down as a `Signals` receiver to every phase: connecting,
//! syncing, leasing slots, hooks, preload, batches, `exec`, `hosts`, `sync`.
//!
//! The first signal asks every phase to stop: no new work starts, what runs is killed on every
//! host (dropping a command closes its channel and the watchdog there kills its group), what
//! was done is printed, and testbot exits 130. A second one stops at once: the run stops
//! waiting for its batches, and if the process is still there a moment later it exits 130.

use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// The exit code of a process a signal stopped (SIGINT and SIGTERM alike).
pub const EXIT_CODE: u8 = 130;

/// After a second signal, how long testbot may take to print and exit before it just exits.
const SECOND_SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// Which signal came first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caught {
    Interrupt,
    Terminate,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    first: Option<Caught>,
    count: usize,
}

/// A receiver of the process's stop signals; cheap to clone.
#[derive(Clone, Debug)]
pub struct Signals {
    rx: watch::Receiver<State>,
}

impl Signals {
    /// Listens for SIGINT and SIGTERM for the rest of the process. Call it once, inside the
    /// runtime, before any work starts: from then on neither signal kills testbot outright.
    pub fn install() -> std::io::Result<Signals> {
        let mut interrupts = signal(SignalKind::interrupt())?;
        let mut terminates = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(State::default());
        tokio::spawn(async move {
            loop {
                let caught = tokio::select! {
                    Some(()) = interrupts.recv() => Caught::Interrupt,
                    Some(()) = terminates.recv() => Caught::Terminate,
                    else => return,
                };
                let mut count = 0;
                tx.send_modify(|s| {
                    s.first.get_or_insert(caught);
                    s.count += 1;
                    count = s.count;
                });
                if count == 2 {
                    // The phases stop at once; this is the backstop if one does not. Hosts are
                    // safe either way: their watchdogs fire when the connections close.
                    std::thread::spawn(|| {
                        std::thread::sleep(SECOND_SIGNAL_GRACE);
                        std::process::exit(EXIT_CODE.into());
                    });
                }
            }
        });
        Ok(Signals { rx })
    }

    /// A receiver that never fires (tests, benchmarks driving the engine directly).
    pub fn never() -> Signals {
        let (tx, rx) = watch::channel(State::default());
        // Keep the sender: a closed channel must not read as a signal.
        std::mem::forget(tx);
        Signals { rx }
    }

    /// The first signal, if one came.
    pub fn caught(&self) -> Option<Caught> {
        self.rx.borrow().first
    }

    /// How many signals came so far.
    pub fn count(&self) -> usize {
        self.rx.borrow().count
    }

    /// Resolves once a first signal has come (at once if one already has).
    pub async fn stopped(&self) -> Caught {
        self.more_than(0).await;
        self.caught().unwrap_or(Caught::Interrupt)
    }

    /// Resolves once more than `seen` signals have come.
    pub async fn more_than(&self, seen: usize) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|s| s.count > seen).await.is_err() {
            // The handler is gone (the runtime is shutting down): no signal will come.
            std::future::pending::<()>().await;
        }
    }

    /// Runs `work` unless a signal comes first: `None` then (the work is dropped, which stops
    /// it everywhere).
    pub async fn unless_stopped<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        if self.caught().is_some() {
            return None;
        }
        tokio::select! {
            done = work => Some(done),
            _ = self.stopped() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_stops_the_work_in_progress_and_what_comes_after() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let signals = Signals::install().unwrap();
            assert_eq!((signals.caught(), signals.count()), (None, 0));
            assert_eq!(signals.unless_stopped(async { 7 }).await, Some(7));
            let work = signals.unless_stopped(std::future::pending::<()>());
            // SAFETY: raise(3) on this process, whose SIGTERM the handler above now catches.
            let raised = async { assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0) };
            let (stopped, ()) = tokio::join!(work, raised);
            assert_eq!(stopped, None);
            assert_eq!((signals.caught(), signals.count()), (Some(Caught::Terminate), 1));
            assert_eq!(signals.stopped().await, Caught::Terminate);
            // Work that starts after the signal does not start at all.
            assert_eq!(signals.unless_stopped(async { 7 }).await, None);
        });
    }

    #[test]
    fn never_never_fires() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let signals = Signals::never();
            assert_eq!(signals.unless_stopped(async { 1 }).await, Some(1));
            let waited = tokio::time::timeout(Duration::from_millis(20), signals.stopped()).await;
            assert!(waited.is_err());
        });
    }
}
