//! A simulated transport for scale tests and benches: hosts whose "runners" are tokio tasks
//! that send the real event protocol for scripted files, with no Ruby and no SSH.
//!
//! It sits under the real dispatcher (`testbot::run::Runner::execute`), so the queue, the per-batch
//! decoder and tracker, and the reporter (display, JSON, JUnit, runtime log) do their real work;
//! only the runner is fake. Per-file durations are scripted and scaled down (`time_scale`: 1 s of
//! a file takes `time_scale` s; 0 does not sleep at all, it only yields). Used by
//! `tests/scale_sim.rs` and `bench/scale.rs` (an example, so it is not in the testbot binary).

#![allow(dead_code)]

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use testbot::framework::{Framework, RunnerConfig};
use testbot::project::{Project, SpecFile};
use testbot::fleet::PreparedHost;
use testbot::ssh::{ExitInfo, Host, HostCommand, HostError, Output, Process};
use tokio::sync::{mpsc, oneshot};

/// What one file does when a simulated runner runs it.
#[derive(Clone, Debug)]
pub struct FileScript {
    pub seconds: f64,
    pub examples: u32,
    pub failures: u32,
    pub pending: u32,
}

/// The whole simulated suite, shared by every simulated host.
#[derive(Debug)]
pub struct Script {
    pub files: HashMap<String, FileScript>,
    /// Seconds a runner takes before its first event (Ruby's boot), before scaling.
    pub boot_seconds: f64,
    /// Real seconds per scripted second; 0: no sleeping, only yields.
    pub time_scale: f64,
    /// Where the simulated runners run: a runtime of their own (see `RunnerThread`), so that
    /// their CPU can be told apart from the controller's; None: the caller's runtime.
    pub runners: Option<tokio::runtime::Handle>,
}

/// A thread with a runtime of its own for the simulated runners. `stop` returns the CPU seconds
/// that thread used (RUSAGE_THREAD), to subtract from the process's.
pub struct RunnerThread {
    pub handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<f64>>,
}

impl RunnerThread {
    pub fn start() -> RunnerThread {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            handle_tx.send(rt.handle().clone()).expect("the caller waits");
            rt.block_on(async move {
                let _ = stop_rx.await;
            });
            drop(rt);
            thread_cpu()
        });
        let handle = handle_rx.recv().expect("the runner thread started");
        RunnerThread { handle, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn stop(mut self) -> f64 {
        let _ = self.stop.take().expect("once").send(());
        self.thread.take().expect("once").join().expect("the runner thread")
    }
}

fn thread_cpu() -> f64 {
    rusage(libc::RUSAGE_THREAD).0
}

/// A deterministic suite of `files` files: durations skewed like a real suite's (lognormal,
/// mean about `mean_seconds`), 1 to 12 examples each; every `fail_every`-th file (0: none) has
/// one failing example, and every 7th file one pending.
pub fn suite(files: usize, mean_seconds: f64, fail_every: usize, seed: u64) -> Vec<(String, FileScript)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..files)
        .map(|i| {
            // exp(N(0, 1)) has mean e^0.5.
            let seconds = (mean_seconds * (rng.normal()).exp() / 1.6487).max(0.01);
            let examples = 1 + (rng.next() % 12) as u32;
            let failures = u32::from(fail_every > 0 && i % fail_every == fail_every - 1);
            let pending = u32::from(i % 7 == 3 && examples > failures + 1);
            let path = format!("spec/area{:03}/file{i:05}_spec.rb", i % 100);
            (path, FileScript { seconds, examples, failures, pending })
        })
        .collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

/// The project the dispatcher sees: the suite's files (sizes proportional to their time, as the
/// estimator expects), RSpec, the runtime log under `root`.
pub fn project(root: &Path, suite: &[(String, FileScript)]) -> Project {
    Project {
        root: root.to_path_buf(),
        framework: Framework::RSpec,
        files: suite.iter().map(|(path, f)| SpecFile { path: path.clone(), size: (f.seconds * 4096.0) as u64 + 200, only: None }).collect(),
        runner: RunnerConfig::default(),
        env: Vec::new(),
        local_slots: 0,
        first_is_1: false,
        runtime_log: root.join("tmp").join("testbot-runtime-rspec.log"),
        preload: false,
        fork: false,
        groups: Default::default(),
        record_impact: false,
    }
}

/// `hosts` simulated hosts of `slots` slots each, booting `boot_parallelism` runners at once.
pub fn hosts(script: &Arc<Script>, hosts: usize, slots: usize, boot_parallelism: usize) -> Vec<PreparedHost> {
    (0..hosts)
        .map(|h| PreparedHost {
            host: Arc::new(SimHost { name: format!("sim{:03}", h + 1), script: script.clone() }),
            slots,
            boot_parallelism,
            workdir: PathBuf::from("/nonexistent/sim"),
            support_dir: ".testbot".to_string(),
            compiled_dir: None,
            slot_numbers: Vec::new(),
            tmp_dir: None,
            client: None,
            fork_boot: None,
        })
        .collect()
}

pub struct SimHost {
    name: String,
    script: Arc<Script>,
}

impl Host for SimHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn spawn(&self, command: HostCommand) -> BoxFuture<'_, Result<Process, HostError>> {
        let script = self.script.clone();
        Box::pin(async move {
            // The runner's argv ends with the files, `./`-prefixed (a rerun adds `[ids]`).
            let files: Vec<String> = command
                .argv
                .iter()
                .filter(|a| a.starts_with("./"))
                .map(|a| a.split('[').next().unwrap_or(a).to_string())
                .collect();
            let (out_tx, out_rx) = mpsc::channel(64);
            let (exit_tx, exit_rx) = oneshot::channel();
            let (kill_tx, kill_rx) = oneshot::channel::<()>();
            let runners = script.runners.clone();
            let task = async move {
                let exit = tokio::select! {
                    failures = runner(&script, &files, &out_tx) => ExitInfo { code: Some(i32::from(failures > 0)), signal: None },
                    // An explicit kill, or the Process dropped.
                    _ = kill_rx => ExitInfo { code: None, signal: Some(9) },
                };
                drop(out_tx);
                let _ = exit_tx.send(exit);
            };
            match runners {
                Some(rt) => drop(rt.spawn(task)),
                None => drop(tokio::spawn(task)),
            }
            Ok(Process::new(out_rx, exit_rx, kill_tx))
        })
    }
}

async fn pause(script: &Script, seconds: f64) {
    if script.time_scale > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(seconds * script.time_scale)).await;
    } else {
        tokio::task::yield_now().await;
    }
}

/// Sends what the RSpec formatter would for `files`, one line per write as it does; returns
/// the failures.
async fn runner(script: &Script, files: &[String], out: &mpsc::Sender<Output>) -> u64 {
    let send = |line: String| async move { out.send(Output::Events(line.into_bytes())).await.is_ok() };
    pause(script, script.boot_seconds).await;
    let scripts: Vec<(&String, Option<&FileScript>)> =
        files.iter().map(|f| (f, script.files.get(f.strip_prefix("./").unwrap_or(f)))).collect();
    let count: u32 = scripts.iter().filter_map(|(_, s)| s.map(|s| s.examples)).sum();
    if !send("{\"e\":\"hello\"}\n".to_string()).await || !send(format!("{{\"e\":\"start\",\"count\":{count}}}\n")).await {
        return 0;
    }
    let (mut examples, mut failures, mut pending) = (0u64, 0u64, 0u64);
    for (f, file) in scripts {
        let Some(file) = file else { continue };
        send(format!("{{\"e\":\"file\",\"f\":\"{f}\"}}\n")).await;
        let each = file.seconds / f64::from(file.examples.max(1));
        for n in 0..file.examples {
            pause(script, each).await;
            let line = 3 + 4 * n;
            let mut event = String::with_capacity(256);
            let status = if n < file.failures {
                "failed"
            } else if n < file.failures + file.pending {
                "pending"
            } else {
                "passed"
            };
            let _ = write!(
                event,
                "{{\"e\":\"ex\",\"f\":\"{f}\",\"s\":\"{status}\",\"d\":\"{} behaves case {n}\",\"loc\":\"{f}:{line}\",\"l\":{line},\"id\":\"1:{}\",\"t\":{each:.4}",
                &f[2..],
                n + 1
            );
            match status {
                "failed" => event.push_str(r#","m":"expected: true\n     got: false","bt":["./spec/support/helper.rb:12"]"#),
                "pending" => event.push_str(r#","m":"Not yet implemented""#),
                _ => {}
            }
            event.push_str("}\n");
            send(event).await;
        }
        examples += u64::from(file.examples);
        failures += u64::from(file.failures);
        pending += u64::from(file.pending);
        send(format!("{{\"e\":\"file_done\",\"f\":\"{f}\",\"t\":{:.4}}}\n", file.seconds)).await;
    }
    send(format!(
        "{{\"e\":\"done\",\"examples\":{examples},\"failures\":{failures},\"pending\":{pending},\"errors_outside\":0}}\n"
    ))
    .await;
    failures
}

/// CPU seconds (user + system) and peak resident memory (MB) of this process so far.
pub fn usage() -> (f64, f64) {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // Linux reports ru_maxrss in kilobytes.
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss as f64 / 1024.0)
}
