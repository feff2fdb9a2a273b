//! The seam `--queue` uses, without Redis: two runs (the real dispatcher, queue and reporter on
//! simulated hosts, tests/support/sim.rs) plan nothing themselves and take their files from one
//! shared in-memory `run::Source`, which says "later" now and then. Every file is reported
//! exactly once across the two, with the script's totals. Nothing here depends on timing.

#[path = "support/sim.rs"]
mod sim;

use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use testbot::report::{ReportConfig, Reporter};
use testbot::run::{Policy, RunBuilder, Source, SourceError, Taken};
use testbot::schedule::Job;

/// One build's pending files, shared by its runs.
struct Shared {
    pending: Mutex<VecDeque<String>>,
}

/// A run's side of it: every third ask with files left gets "later" instead.
struct Pull {
    shared: Arc<Shared>,
    asks: usize,
}

impl Source for Pull {
    fn take(&mut self, wanted: usize) -> BoxFuture<'_, Result<Taken, SourceError>> {
        Box::pin(async move {
            self.asks += 1;
            let mut pending = self.shared.pending.lock().unwrap();
            if pending.is_empty() {
                return Ok(Taken::Done);
            }
            if self.asks.is_multiple_of(3) {
                return Ok(Taken::Later);
            }
            let n = wanted.min(pending.len());
            Ok(Taken::Jobs(pending.drain(..n).map(|path| Job::new(path, 1.0)).collect()))
        })
    }
}

/// One run on 2 simulated hosts of 2 slots, its files from `shared`; its JSON report.
async fn run(dir: &std::path::Path, name: &str, script: &Arc<sim::Script>, suite: &[(String, sim::FileScript)], shared: &Arc<Shared>) -> Value {
    let project = sim::project(dir, suite);
    let json_path = dir.join(format!("{name}.json"));
    let mut reporter = Reporter::new(ReportConfig {
        framework: project.framework,
        report_json: Some(json_path.clone()),
        junit: None,
        runtime_log: None,
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
    let policy = Policy { file_timeout: Some(std::time::Duration::from_secs(300)), queued: true, ..Policy::default() };
    let mut emit = |event| reporter.record(event);
    let source = Box::new(Pull { shared: shared.clone(), asks: 0 });
    let runner = RunBuilder::new(&project, &policy).started(Instant::now()).source(source).build(sim::hosts(script, 2, 2, 2), testbot::fleet::Joining::none());
    let ended = runner.execute(&testbot::signals::Signals::never(), &mut emit).await.unwrap();
    assert_eq!(ended, testbot::run::Ended::Ran);
    reporter.finish();
    serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_fed_by_one_source_report_every_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let suite = sim::suite(120, 1.0, 17, 3);
    let script = Arc::new(sim::Script { files: suite.iter().cloned().collect(), boot_seconds: 0.3, time_scale: 0.0, runners: None });
    let shared = Arc::new(Shared { pending: Mutex::new(suite.iter().map(|(path, _)| path.clone()).collect()) });
    let (a, b) = tokio::join!(run(dir.path(), "a", &script, &suite, &shared), run(dir.path(), "b", &script, &suite, &shared));

    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let (mut examples, mut failures) = (0, 0);
    for report in [&a, &b] {
        for f in report["files"].as_array().unwrap() {
            *seen.entry(f["path"].as_str().unwrap().to_string()).or_default() += 1;
            assert!(f["error"].is_null(), "{f}");
        }
        examples += report["totals"]["examples"].as_u64().unwrap();
        failures += report["totals"]["failures"].as_u64().unwrap();
    }
    assert_eq!(seen.len(), 120, "every file ran");
    assert!(seen.values().all(|&n| n == 1), "none twice: {seen:?}");
    assert!(!a["files"].as_array().unwrap().is_empty() && !b["files"].as_array().unwrap().is_empty(), "both runs took files");
    assert_eq!(examples, suite.iter().map(|(_, f)| u64::from(f.examples)).sum::<u64>());
    assert_eq!(failures, suite.iter().map(|(_, f)| u64::from(f.failures)).sum::<u64>());
    for report in [&a, &b] {
        let files = report["files"].as_array().unwrap().len() as u64;
        assert_eq!(report["totals"]["files"], files, "a run's total is the files it took");
    }
}
