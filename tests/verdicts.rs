//! Issue 26 (truth and liveness, round 2): verdicts and reports that must hold whatever stops
//! or splits a run — a share that failed by its own rules fails the merge, a report with a
//! result outside its share's plan is refused, a stopped run reports every planned file once, a
//! selection that runs no example is "no tests to run" (exit 4), and a signal during the
//! SimpleCov merge stops the run with its summary and reports.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

/// `report merge` of `reports`.
fn merge(p: &Project, reports: &[std::path::PathBuf]) -> Run {
    let mut args: Vec<String> = vec!["report".into(), "merge".into()];
    args.extend(reports.iter().map(|s| s.to_string_lossy().into_owned()));
    p.testbot(&args).run()
}

/// rspec_faults without its hanging and always-failing files, plus two green ones: one file
/// (`flaky_spec.rb`) fails its first try and passes its retry.
fn flaky_project() -> Project {
    let p = Project::new("rspec_faults");
    std::fs::remove_file(p.path("spec/hang_spec.rb")).unwrap();
    std::fs::remove_file(p.path("spec/always_fails_spec.rb")).unwrap();
    for name in ["a", "b", "c"] {
        p.write(&format!("spec/{name}_spec.rb"), &format!("RSpec.describe \"{name}\" do\n  it(\"works\") {{ expect(1).to eq(1) }}\nend\n"));
    }
    p
}

#[test]
fn a_share_that_failed_by_its_own_rules_fails_the_merge() {
    let p = flaky_project();
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for k in 1..=2 {
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) =
            p.testbot(["-n", "1", "--partition", &format!("{k}/2"), "--retries", "1", "--flaky-fails"]).report_to(&json).run_with_report();
        if report.file_paths().contains(&"spec/flaky_spec.rb".to_string()) {
            // Flaky under --flaky-fails: the share fails, though every example passed at last.
            run.assert_exit(1);
            assert_eq!(report.json["passed"], Value::Bool(false), "{}", run.dump());
            assert_eq!(report.totals().failures, 0, "{}", run.dump());
            failed.push(json.clone());
        } else {
            run.assert_exit(0);
        }
        reports.push(json);
    }
    assert_eq!(failed.len(), 1, "one share ran the flaky file");
    let run = merge(&p, &reports);
    run.assert_exit(1);
    run.assert_output_contains(&format!("{} says its run failed", failed[0].display()));
    run.assert_output_contains("FAILED");
}

#[test]
fn a_report_with_a_result_outside_its_shares_plan_is_refused() {
    let p = flaky_project();
    let mut reports: Vec<(std::path::PathBuf, Value)> = Vec::new();
    for k in 1..=2 {
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) = p.testbot(["-n", "1", "--partition", &format!("{k}/2"), "--retries", "1"]).report_to(&json).run_with_report();
        run.assert_exit(0);
        reports.push((json, report.json.clone()));
    }
    // Share 1 claims a result for a file of share 2's.
    let (path, mut one) = reports[0].clone();
    let stray = reports[1].1["files"][0].clone();
    let name = stray["path"].as_str().unwrap().to_string();
    one["files"].as_array_mut().unwrap().push(stray);
    std::fs::write(&path, one.to_string()).unwrap();
    let run = merge(&p, &[path.clone(), reports[1].0.clone()]);
    run.assert_exit(1);
    run.assert_output_contains(&format!("{} (share 1/2) has a result for `{name}`, which the plan gives to share 2/2", path.display()));
}

/// rspec_basic's files replaced by `n` files of one example that sleeps `seconds`, each
/// leaving `tmp/started/N` in the project when it starts.
fn slow_project(n: usize, seconds: f64) -> (Project, Vec<String>) {
    let p = Project::new("rspec_basic");
    for f in std::fs::read_dir(p.path("spec")).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with("_spec.rb") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let files = (0..n)
        .map(|i| {
            let path = format!("spec/slow_{i:02}_spec.rb");
            let mark = "require \"fileutils\"; FileUtils.mkdir_p(\"tmp/started\"); FileUtils.touch(\"tmp/started/{i}\")";
            p.write(&path, &format!("RSpec.describe \"slow {i}\" do\n  it(\"waits\") {{ {} ; sleep {seconds} }}\nend\n", mark.replace("{i}", &i.to_string())));
            path
        })
        .collect();
    (p, files)
}

/// Every planned file is in the JSON report exactly once; those that did not finish are not
/// run, with `why` at the start of their error; the JUnit file has a suite for each.
fn assert_every_file_once(run: &Run, json: &std::path::Path, junit: &std::path::Path, files: &[String], why: &str) {
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let rows = report["files"].as_array().unwrap().clone();
    let mut paths: Vec<&str> = rows.iter().map(|f| f["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, sorted(&files.iter().map(String::as_str).collect::<Vec<_>>()), "{}", run.dump());
    let unfinished: Vec<&Value> = rows.iter().filter(|f| f["error_kind"] == "not run").collect();
    assert!(unfinished.iter().any(|f| f["error"].as_str().unwrap().starts_with(why)), "no file left {why}\n{}", run.dump());
    let xml = std::fs::read_to_string(junit).unwrap();
    assert_eq!(xml.matches("<testsuite name=\"spec/slow_").count(), files.len(), "{xml}");
}

#[test]
fn an_interrupted_runs_reports_hold_every_planned_file_once() {
    let (p, files) = slow_project(12, 1.0);
    let (json, junit) = (p.fresh_path("report", "json"), p.fresh_path("junit", "xml"));
    let running = p.testbot(["-n", "2"]).report_to(&json).junit_to(&junit).spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(p.path("tmp/started")).map_or(0, |d| d.count()) < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.signal("INT");
    let run = running.finish(Duration::from_secs(60));
    run.assert_exit(130);
    assert_every_file_once(&run, &json, &junit, &files, "interrupted");
}

/// The same when the signal comes before any batch ran: here while an SSH host that took the
/// TCP connection never answers (testbot is still connecting). The run wrote no report at all.
#[test]
fn a_run_interrupted_while_connecting_writes_its_reports_with_every_file_not_run() {
    let (p, files) = slow_project(6, 0.1);
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port();
    // A key to offer, so that testbot gets as far as connecting (the host never asks for it).
    let key = p.outside("id_ed25519");
    let made = std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).output().unwrap();
    assert!(made.status.success(), "{made:?}");
    p.write(
        "testbot.toml",
        &format!("[local]\nslots = 1\n\n[[host]]\nname = \"mute\"\naddress = \"127.0.0.1\"\nport = {port}\nidentity = {:?}\nslots = 1\n", key.display().to_string()),
    );
    let (json, junit) = (p.fresh_path("report", "json"), p.fresh_path("junit", "xml"));
    let running = p.testbot(Vec::<String>::new()).report_to(&json).junit_to(&junit).spawn();
    // testbot's connection, by the listener's own record.
    mute.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let connection = loop {
        match mute.accept() {
            Ok((stream, _)) => break stream,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("testbot never connected: {e}"),
        }
    };
    running.signal("INT");
    let run = running.finish(Duration::from_secs(60));
    drop(connection);
    run.assert_exit(130);
    run.assert_output_contains("interrupted while connecting to and syncing the hosts: no test ran");
    assert_eq!(std::fs::read_dir(p.path("tmp/started")).map_or(0, |d| d.count()), 0, "a file started\n{}", run.dump());
    assert_every_file_once(&run, &json, &junit, &files, "interrupted");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["files"].as_array().unwrap().iter().all(|f| f["error_kind"] == "not run"), "{report:#}");
    assert_eq!(report["passed"], false);
}

#[test]
fn a_timed_out_runs_reports_hold_every_planned_file_once() {
    let (p, files) = slow_project(12, 1.0);
    let (json, junit) = (p.fresh_path("report", "json"), p.fresh_path("junit", "xml"));
    let run = p.testbot(["-n", "2", "--timeout", "3s"]).report_to(&json).junit_to(&junit).run();
    run.assert_exit(1);
    assert_every_file_once(&run, &json, &junit, &files, "timed out");
    run.assert_output_contains("Stopped by --timeout (3s)");
}

#[test]
fn a_selection_that_runs_no_example_is_no_tests_to_run() {
    let p = Project::new("rspec_basic");
    let selection = "spec/passing_spec.rb[9:9]";
    let run = p.testbot(["-n", "1", selection]).run();
    run.assert_exit(4);
    run.assert_output_contains(&format!("error: no tests to run: `{selection}` planned 1 file but ran no example"));
    run.assert_output_contains("NO TESTS");
    let run = p.testbot(["-n", "1", "--no-tests=fail", selection]).run();
    run.assert_exit(4);
    let run = p.testbot(["-n", "1", "--no-tests=warn", selection]).run();
    run.assert_exit(0);
    run.assert_output_contains(&format!("warning: no tests to run: `{selection}` planned 1 file but ran no example"));
    run.assert_output_contains("PASSED");
    let run = p.testbot(["-n", "1", "--no-tests=pass", selection]).run();
    run.assert_exit(0);
    assert!(!run.combined().contains("no tests to run"), "{}", run.dump());
    // The JSON report says the run did not pass.
    let json = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", selection]).report_to(&json).run_with_report();
    run.assert_exit(4);
    assert_eq!(report.json["passed"], Value::Bool(false));
    // A file with examples among the selection runs them: not "no tests".
    let run = p.testbot(["-n", "1", selection, "spec/math_spec.rb"]).run();
    assert!(!run.combined().contains("no tests to run"), "{}", run.dump());
    // A `--partition` share given no file passes (the merge judges the whole build).
    let run = p.testbot(["-n", "1", "--partition", "9/9", "spec/passing_spec.rb"]).run();
    run.assert_exit(0);
    assert!(!run.combined().contains("no tests to run"), "{}", run.dump());
}

/// A spec_helper that starts SimpleCov with a formatter that, in the merge's process (the only
/// one that formats), records its pid in `$SLOW_MERGE_MARK` and then takes 30 s.
const SLOW_SIMPLECOV: &str = r#"require "simplecov"
class SlowFormatter
  def format(_result)
    File.write(ENV.fetch("SLOW_MERGE_MARK"), Process.pid.to_s)
    sleep 30
  end
end
SimpleCov.formatter = SlowFormatter
SimpleCov.start
"#;

#[test]
fn a_signal_during_the_coverage_merge_stops_the_run_with_its_reports() {
    let (p, files) = slow_project(3, 0.1);
    p.write("spec/spec_helper.rb", SLOW_SIMPLECOV);
    let mark = p.outside("merge-started");
    let json = p.fresh_path("report", "json");
    let running = p.testbot(["-n", "2"]).env("SLOW_MERGE_MARK", &mark).report_to(&json).spawn();
    if !wait_for_file(&mark, Duration::from_secs(60)) {
        running.signal("KILL");
        panic!("the merge never started\n{}", running.finish(Duration::from_secs(30)).dump());
    }
    let merger: u32 = std::fs::read_to_string(&mark).unwrap().trim().parse().unwrap();
    let _guard = KillOnDrop(merger);
    running.signal("INT");
    let run = running.finish(Duration::from_secs(20));
    run.assert_exit(130);
    run.assert_output_contains("INTERRUPTED");
    assert!(!run.stdout.contains("PASSED"), "{}", run.dump());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((report["passed"].clone(), report["stopped"].clone()), (Value::Bool(false), Value::from("interrupted")), "{report}");
    // Every file had finished: each is in the report with its example.
    let ran: Vec<&str> = report["files"].as_array().unwrap().iter().filter(|f| f["examples"] == 1).map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(ran, files.iter().map(String::as_str).collect::<Vec<_>>(), "{report}");
    // The merge's process was stopped with the run.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pid_alive(merger) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(merger), "the coverage merge outlived the run\n{}", run.dump());
}
