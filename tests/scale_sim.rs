//! The real dispatcher, queue, decoder and reporter on simulated hosts (tests/support/sim.rs)
//! at a small scale: every file is reported exactly once, and the JSON report's totals are
//! exactly the script's. Nothing here depends on timing.

#[path = "support/sim.rs"]
mod sim;

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use testbot::report::{ReportConfig, Reporter};
use testbot::run::{Policy, RunBuilder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_once_with_exact_totals_at_50_slots_and_2000_files() {
    let dir = tempfile::tempdir().unwrap();
    let suite = sim::suite(2000, 1.0, 97, 7);
    let script = Arc::new(sim::Script {
        files: suite.iter().cloned().collect(),
        boot_seconds: 0.3,
        time_scale: 0.0,
        runners: None,
    });
    let project = sim::project(dir.path(), &suite);
    let json_path = dir.path().join("report.json");
    let junit_path = dir.path().join("junit.xml");
    let mut reporter = Reporter::new(ReportConfig {
        framework: project.framework,
        report_json: Some(json_path.clone()),
        junit: Some(junit_path.clone()),
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
    let policy = Policy { file_timeout: Some(std::time::Duration::from_secs(300)), ..Policy::default() };
    let mut emit = |event| reporter.record(event);
    let runner = RunBuilder::new(&project, &policy).started(Instant::now()).build(sim::hosts(&script, 10, 5, 2), testbot::fleet::Joining::none());
    let ended = runner.execute(&testbot::signals::Signals::never(), &mut emit).await.unwrap();
    assert_eq!(ended, testbot::run::Ended::Ran);
    let verdict = reporter.finish().verdict();

    let examples: u64 = suite.iter().map(|(_, f)| u64::from(f.examples)).sum();
    let failures: u64 = suite.iter().map(|(_, f)| u64::from(f.failures)).sum();
    let pending: u64 = suite.iter().map(|(_, f)| u64::from(f.pending)).sum();
    assert_eq!(failures, 20, "the script has failures, so the exit code means something");
    assert_eq!(verdict, testbot::report::Verdict::Failed);

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let totals = &report["totals"];
    assert_eq!(totals["files"], 2000);
    assert_eq!(totals["files_run"], 2000);
    assert_eq!(totals["examples"], examples);
    assert_eq!(totals["failures"], failures);
    assert_eq!(totals["pending"], pending);
    assert_eq!(totals["errored_files"], 0);
    assert_eq!(totals["errors_outside_examples"], 0);
    assert_eq!(report["failures"].as_array().unwrap().len() as u64, failures);

    // Each file exactly once, with its own example count, on one of the 50 slots.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for f in report["files"].as_array().unwrap() {
        *seen.entry(f["path"].as_str().unwrap().to_string()).or_default() += 1;
        let script = &script.files[f["path"].as_str().unwrap()];
        assert_eq!(f["examples"], script.examples, "{f}");
        assert_eq!(f["failures"], script.failures, "{f}");
        let slot = f["slot"].as_u64().unwrap();
        assert!((1..=50).contains(&slot), "{f}");
    }
    assert_eq!(seen.len(), 2000);
    assert!(seen.values().all(|&n| n == 1));
    let hosts = report["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 10);
    assert_eq!(hosts.iter().map(|h| h["files"].as_u64().unwrap()).sum::<u64>(), 2000);

    // JUnit: a suite per file and a test case per example.
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 2000);
    assert_eq!(junit.matches("<testcase ").count() as u64, examples);
    assert_eq!(junit.matches("<failure").count() as u64, failures);

    // The runtime history has every file (and the run's measured boot on a `#boot:` line).
    let log = std::fs::read_to_string(&project.runtime_log).unwrap();
    assert_eq!(log.lines().filter(|l| !l.starts_with("#boot:")).count(), 2000);
}
