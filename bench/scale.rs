//! The controller at scale: testbot's real dispatcher, queue, decoder and reporter (plain
//! display to stdout, JSON, JUnit and the runtime log written to files) driving simulated hosts
//! (tests/support/sim.rs) that print the real event protocol, time scaled down.
//!
//!     cargo run --release --example scale -- [--hosts 100] [--slots-per-host 10] [--files 20000]
//!         [--mean-seconds 1.0] [--time-scale 0.001] [--history] [--seed 42] [--out DIR]
//!
//! Prints the run's summary on stdout like testbot does, then on stderr one line
//! `files=… examples=… exit=… wall_seconds=… runners_cpu_seconds=… cpu_seconds=X peak_rss_mb=Y`.
//! The simulated runners run on a thread of their own, and `cpu_seconds` is this process's CPU
//! (user + system, getrusage) less that thread's: the controller's, setup included. Peak RSS is
//! the whole process's (the runners hold little: the script of the suite). `--history` writes a runtime log first (the suite's scripted
//! times), as a second run of a real suite would have. Run by bench/scale.sh.

#[path = "../tests/support/sim.rs"]
mod sim;

use std::sync::Arc;
use std::time::{Duration, Instant};
use testbot::report::{ReportConfig, Reporter};
use testbot::run::{Policy, RunBuilder};

// The allocator the testbot binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    hosts: usize,
    slots_per_host: usize,
    files: usize,
    mean_seconds: f64,
    time_scale: f64,
    history: bool,
    seed: u64,
    out: Option<std::path::PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        hosts: 100,
        slots_per_host: 10,
        files: 20_000,
        mean_seconds: 1.0,
        time_scale: 0.001,
        history: false,
        seed: 42,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--history" {
            a.history = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--hosts" => a.hosts = num(&value)? as usize,
            "--slots-per-host" => a.slots_per_host = num(&value)? as usize,
            "--files" => a.files = num(&value)? as usize,
            "--mean-seconds" => a.mean_seconds = num(&value)?,
            "--time-scale" => a.time_scale = num(&value)?,
            "--seed" => a.seed = num(&value)? as u64,
            "--out" => a.out = Some(value.into()),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::exit(2);
        }
    };
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = args.out.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(root.join("tmp")).expect("create the output directory");
    let suite = sim::suite(args.files, args.mean_seconds, 0, args.seed);
    let project = sim::project(&root, &suite);
    if args.history {
        let log: String = suite.iter().map(|(p, f)| format!("{p}:{:.4}\n", f.seconds)).collect();
        std::fs::write(&project.runtime_log, log).expect("write the runtime log");
    } else {
        let _ = std::fs::remove_file(&project.runtime_log);
    }
    let examples: u64 = suite.iter().map(|(_, f)| u64::from(f.examples)).sum();
    let runners = sim::RunnerThread::start();
    let script = Arc::new(sim::Script {
        files: suite.into_iter().collect(),
        boot_seconds: 0.3,
        time_scale: args.time_scale,
        runners: Some(runners.handle.clone()),
    });
    let mut reporter = Reporter::new(ReportConfig {
        framework: project.framework,
        report_json: Some(root.join("report.json")),
        junit: Some(root.join("junit.xml")),
        runtime_log: Some(project.runtime_log.clone()),
        examples_log: None,
        flaky_fails: false,
        failures_log: None,
        display: Default::default(),
        runner_command: None,
        no_tests: Default::default(),
        selection: None,
        impact_map: None,
        changed: None,
        flaky_log: None,
        quarantine: Default::default(),
    });
    // As the testbot binary runs: its runtime, the default per-file time limit.
    let runtime = testbot::commands::runtime().expect("a runtime");
    let policy = Policy { file_timeout: Some(Duration::from_secs(300)), ..Policy::default() };
    let hosts = sim::hosts(&script, args.hosts, args.slots_per_host, 4);
    let started = Instant::now();
    // As the testbot binary does: the run is a task on the runtime's worker, not on this thread.
    let code = runtime
        .block_on(async move {
            let signals = testbot::signals::Signals::install().expect("listen for Ctrl-C");
            tokio::spawn(async move {
                let mut emit = |event| reporter.record(event);
                RunBuilder::new(&project, &policy).started(started).build(hosts, testbot::fleet::Joining::none()).execute(&signals, &mut emit).await.map(|_| testbot::errors::exit_code_of(reporter.finish().verdict()))
            })
            .await
        })
        .expect("the run task")
        .expect("the run");
    let wall = started.elapsed().as_secs_f64();
    drop(runtime);
    let runners_cpu = runners.stop();
    let (process_cpu, rss) = sim::usage();
    let cpu = process_cpu - runners_cpu;
    eprintln!(
        "files={} examples={examples} slots={} exit={code} wall_seconds={wall:.3} runners_cpu_seconds={runners_cpu:.3} cpu_seconds={cpu:.3} peak_rss_mb={rss:.1}",
        args.files,
        args.hosts * args.slots_per_host
    );
}
