//! Reports a tool can rely on (issue 31, item 8): real JSON reports (green, failing with a load
//! error, stopped, another framework's, merged shares) validate against docs/report.schema.json,
//! failures carry ids and backtraces, and JUnit suites count their skipped tests.

mod common;

use common::*;
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is a valid draft 2020-12 schema")
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, report: &Value, what: &str) {
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "the {what} report does not fit docs/report.schema.json:\n{}\n{report:#}", errors.join("\n"));
    assert_eq!(report["version"], 1, "{what}");
}

#[test]
fn real_reports_fit_the_documented_schema() {
    let validator = schema();

    let p = Project::new("rspec_basic");
    let path = p.fresh_path("green", "json");
    let (run, green) = p.testbot(["-n", "2", "spec/passing_spec.rb", "spec/pending_spec.rb"]).report_to(&path).run_with_report();
    run.assert_exit(0);
    assert_valid(&validator, &green.json, "green");
    // The schema is strict enough to fail: no version, an undocumented field, a wrong type.
    for change in [
        Box::new(|r: &mut Value| drop(r.as_object_mut().unwrap().remove("version"))) as Box<dyn Fn(&mut Value)>,
        Box::new(|r: &mut Value| drop(r.as_object_mut().unwrap().insert("extra".into(), Value::Null))),
        Box::new(|r: &mut Value| r["totals"]["pending"] = Value::from("2")),
    ] {
        let mut broken = green.json.clone();
        change(&mut broken);
        assert!(!validator.is_valid(&broken), "{broken}");
    }
    drop(p);

    let p = Project::new("rspec_load_error");
    let path = p.fresh_path("failing", "json");
    let (run, failing) = p.testbot(["-n", "2"]).report_to(&path).run_with_report();
    run.assert_exit(1);
    assert!(failing.json["files"].as_array().unwrap().iter().any(|f| f["error_kind"] == "load error"), "{}", run.dump());
    assert_valid(&validator, &failing.json, "load error");
    drop(p);

    // Failures with ids and backtraces; a run stopped by --fail-fast.
    let p = Project::new("rspec_rerun");
    let path = p.fresh_path("failing", "json");
    let (run, failing) = p.testbot(["-n", "2"]).report_to(&path).run_with_report();
    run.assert_exit(1);
    assert_valid(&validator, &failing.json, "failing");
    for f in failing.json["failures"].as_array().unwrap() {
        assert!(f["id"].as_str().is_some_and(|id| id.starts_with("1:")), "{f}");
        assert!(f["backtrace"].as_array().is_some_and(|bt| bt.iter().any(|l| l.as_str().unwrap().contains("_spec.rb:"))), "{f}");
    }
    let path = p.fresh_path("stopped", "json");
    let (run, stopped) = p.testbot(["-n", "1", "--fail-fast"]).report_to(&path).run_with_report();
    run.assert_exit(1);
    assert_eq!(stopped.json["stopped"], "fail-fast", "{}", run.dump());
    assert_valid(&validator, &stopped.json, "stopped");

    // Two shares merged: the partition fields, and backtraces kept through the merge.
    let shares: Vec<_> = (1..=2)
        .map(|k| {
            let path = p.fresh_path(&format!("share-{k}"), "json");
            let (run, share) = p.testbot(["--partition", &format!("{k}/2")]).report_to(&path).run_with_report();
            assert!(run.code == Some(0) || run.code == Some(1), "{}", run.dump());
            assert_valid(&validator, &share.json, "partition share");
            path
        })
        .collect();
    let merged_path = p.fresh_path("merged", "json");
    let mut args = vec!["report".to_string(), "merge".to_string()];
    args.extend(shares.iter().map(|s| s.display().to_string()));
    args.extend(["--report-json".to_string(), merged_path.display().to_string()]);
    let run = p.testbot(&args).run();
    run.assert_exit(1);
    let merged = Report::read(&merged_path, &run);
    assert_valid(&validator, &merged.json, "merged");
    let sorted = |r: &Report| {
        let mut v: Vec<String> = r.json["failures"].as_array().unwrap().iter().map(Value::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&merged), sorted(&failing), "the merge keeps each failure whole (id, backtrace)");
    drop(p);

    let m = Project::new("minitest_basic");
    let path = m.fresh_path("minitest", "json");
    let (run, minitest) = m.testbot(["-n", "2"]).report_to(&path).run_with_report();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert_valid(&validator, &minitest.json, "minitest");
}

#[test]
fn junit_suites_count_their_skipped_tests() {
    let p = Project::new("rspec_basic");
    let junit = p.fresh_path("junit", "xml");
    let report = p.fresh_path("report", "json");
    let (run, json) = p.testbot(["-n", "2", "spec/pending_spec.rb", "spec/math_spec.rb"]).junit_to(&junit).report_to(&report).run_with_report();
    run.assert_exit(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let pending = json.file("spec/pending_spec.rb").pending;
    assert_eq!(pending, 2, "{}", run.dump());
    assert!(xml.contains(&format!(r#"<testsuite name="spec/pending_spec.rb" tests="3" disabled="0" errors="0" failures="0" skipped="{pending}""#)), "{xml}");
    assert!(xml.contains(r#"<testsuite name="spec/math_spec.rb" tests="3" disabled="0" errors="0" failures="1" skipped="0""#), "{xml}");
    assert!(xml.contains(&format!(r#"errors="0" skipped="{}""#, json.totals().pending)), "the testsuites element: {xml}");
    assert_eq!(junit_counts(&xml).skipped as u64, json.totals().pending, "{xml}");
}
