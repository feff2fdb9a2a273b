//! Issue 34 item 3: the flaky record (`tmp/testbot-flaky-rspec.json`, `testbot flaky`) and the
//! quarantine (`[project] quarantine`). The real binary and real RSpec on a copy of the
//! `rspec_empty` fixture with the spec files each test writes; a flaky spec fails the first time
//! it runs while its marker file is missing, and passes on the retry.

mod common;

use common::*;
use serde_json::Value;

/// A spec that fails while `<name>.mark` is missing in the project (and writes it), then passes.
fn flaky(name: &str) -> String {
    format!(
        "RSpec.describe {name:?} do\n  it \"passes the second time\" do\n    mark = File.expand_path(\"../{name}.mark\", __dir__)\n    first = !File.exist?(mark)\n    File.write(mark, \"\") if first\n    expect(first).to eq(false)\n  end\nend\n"
    )
}

const PASSING: &str = "RSpec.describe \"ok\" do\n  it(\"works\") { expect(1).to eq(1) }\nend\n";
const FAILING: &str = "RSpec.describe \"q\" do\n  it(\"fails\") { expect(1).to eq(2) }\n  it(\"works\") { expect(1).to eq(1) }\nend\n";

fn record(p: &Project) -> Value {
    let text = std::fs::read_to_string(p.path("tmp/testbot-flaky-rspec.json")).unwrap_or_else(|e| panic!("no flaky record: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn flaky_runs(p: &Project, key: &str) -> u64 {
    record(p)["examples"][key]["flaky_runs"].as_u64().unwrap_or_else(|| panic!("{key} not in {}", record(p)))
}

#[test]
fn the_flaky_record_counts_across_runs_keeps_what_a_run_did_not_run_and_lists_worst_first() {
    let p = Project::new("rspec_empty");
    p.write("spec/flaky_a_spec.rb", &flaky("flaky_a"));
    p.write("spec/flaky_b_spec.rb", &flaky("flaky_b"));
    p.write("spec/ok_spec.rb", PASSING);
    let none = p.testbot(["flaky"]).run();
    none.assert_exit(0);
    none.assert_output_contains("no flaky examples recorded");
    // Run 1: both flaky. Run 2: only a (b's marker is still there: b passes on its first try).
    p.testbot(["-n", "1", "--retries", "1"]).run().assert_exit(0);
    assert_eq!((flaky_runs(&p, "spec/flaky_a_spec.rb[1:1]"), flaky_runs(&p, "spec/flaky_b_spec.rb[1:1]")), (1, 1));
    std::fs::remove_file(p.path("flaky_a.mark")).unwrap();
    let run = p.testbot(["-n", "1", "--retries", "1"]).run();
    run.assert_exit(0);
    assert_eq!((flaky_runs(&p, "spec/flaky_a_spec.rb[1:1]"), flaky_runs(&p, "spec/flaky_b_spec.rb[1:1]")), (2, 1), "{}", run.dump());
    let entry = &record(&p)["examples"]["spec/flaky_a_spec.rb[1:1]"];
    assert_eq!(entry["host"], "local", "{entry}");
    assert!(entry["last_failure"].as_str().unwrap().contains("expected: false"), "{entry}");
    assert_eq!(entry["first_seen"].as_str().unwrap().len(), 10, "a date: {entry}");
    // A partial run that does not run a: its entry is kept as it was.
    std::fs::remove_file(p.path("flaky_b.mark")).unwrap();
    p.testbot(["-n", "1", "--retries", "1", "spec/flaky_b_spec.rb", "spec/ok_spec.rb"]).run().assert_exit(0);
    assert_eq!((flaky_runs(&p, "spec/flaky_a_spec.rb[1:1]"), flaky_runs(&p, "spec/flaky_b_spec.rb[1:1]")), (2, 2));
    // One more flaky run of a alone: a is the worst (3 runs), b next (2).
    std::fs::remove_file(p.path("flaky_a.mark")).unwrap();
    p.testbot(["-n", "1", "--retries", "1", "spec/flaky_a_spec.rb"]).run().assert_exit(0);
    let list = p.testbot(["flaky"]).run();
    list.assert_exit(0);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", list.dump());
    assert!(lines[0].starts_with("./spec/flaky_a_spec.rb:2  3 flaky runs, first seen "), "{}", list.dump());
    assert!(lines[1].starts_with("./spec/flaky_b_spec.rb:2  2 flaky runs, first seen "), "{}", list.dump());
    let json: Value = serde_json::from_str(&p.testbot(["flaky", "--json"]).run().stdout).unwrap();
    assert_eq!(json[0]["example"], "spec/flaky_a_spec.rb[1:1]");
}

#[test]
fn a_quarantined_failure_keeps_the_build_green_and_any_other_failure_turns_it_red() {
    let p = Project::new("rspec_empty");
    p.write("spec/q_spec.rb", FAILING);
    p.write("spec/ok_spec.rb", PASSING);
    p.write("testbot.toml", "[project]\nquarantine = [\"./spec/q_spec.rb:2\"]\n");
    let report = p.fresh_path("report", "json");
    let junit = p.path("tmp/junit.xml");
    let (run, json) = p.testbot(["-n", "1", "--junit", junit.to_str().unwrap()]).report_to(&report).run_with_report();
    run.assert_exit(0);
    run.assert_output_contains("QUARANTINED");
    run.assert_output_contains("3 examples, 0 failures, 1 quarantined");
    assert_eq!(json.json["passed"], Value::Bool(true), "{}", run.dump());
    assert_eq!((json.json["totals"]["failures"].as_u64(), json.json["totals"]["quarantined"].as_u64()), (Some(0), Some(1)));
    let failures = json.json["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{}", json.json);
    assert_eq!(failures[0]["quarantined"], Value::Bool(true));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<skipped message="QUARANTINED: "#), "{xml}");
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    // `report merge` of the report keeps the run's verdict: the failure is marked quarantined.
    let merged = p.testbot(["report", "merge", report.to_str().unwrap()]).run();
    merged.assert_exit(0);
    merged.assert_output_contains("1 quarantined");
    // Another failure fails the run, the quarantined one still said apart.
    p.write("spec/other_spec.rb", "RSpec.describe \"other\" do\n  it(\"fails\") { expect(1).to eq(2) }\nend\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(1);
    run.assert_output_contains("4 examples, 1 failure, 1 quarantined");
    // A quarantined file that fails to load is not an example's failure: the run fails.
    std::fs::remove_file(p.path("spec/other_spec.rb")).unwrap();
    p.write("spec/q_spec.rb", &format!("{FAILING}raise \"cannot load\"\n"));
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(1);
    run.assert_output_contains("error occurred outside of examples");
}

#[test]
fn a_quarantined_failure_neither_stops_a_fail_fast_run_nor_enters_the_failures_log() {
    let p = Project::new("rspec_empty");
    // The largest file, so that it runs first: a stop for its failure would leave the others unrun.
    p.write("spec/a_q_spec.rb", &format!("{}{FAILING}", "# a long comment to make this the largest file\n".repeat(40)));
    for i in 1..=4 {
        p.write(&format!("spec/ok{i}_spec.rb"), PASSING);
    }
    p.write("testbot.toml", "[project]\nquarantine = [\"./spec/a_q_spec.rb:42\"]\n");
    let failures_log = p.path("tmp/testbot-failures-rspec.txt");
    let run = p.testbot(["-n", "1", "--fail-fast"]).run();
    run.assert_exit(0);
    run.assert_output_contains("6 examples, 0 failures, 1 quarantined");
    let log = std::fs::read_to_string(&failures_log).unwrap_or_default();
    assert!(!log.contains("a_q_spec"), "a quarantined failure is not recorded as failed: {log}");
    // Any other failure still stops the run, and is recorded.
    p.write("spec/b_fail_spec.rb", "RSpec.describe \"b\" do\n  it(\"fails\") { expect(1).to eq(2) }\nend\n");
    let run = p.testbot(["-n", "1", "--fail-fast"]).run();
    run.assert_exit(1);
    let log = std::fs::read_to_string(&failures_log).unwrap();
    assert!(log.contains("spec/b_fail_spec.rb") && !log.contains("a_q_spec"), "{log}");
}

#[test]
fn a_quarantined_example_that_passed_its_last_runs_is_ready_to_leave() {
    let p = Project::new("rspec_empty");
    p.write("spec/q_spec.rb", FAILING);
    p.write("testbot.toml", "[project]\nquarantine = [\"spec/q_spec.rb[1:2]\"]\nquarantine_passes = 2\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(1);
    assert!(!run.combined().contains("Ready to leave"), "{}", run.dump());
    let run = p.testbot(["-n", "1"]).run();
    run.assert_output_contains("Ready to leave the quarantine (passed its last 2 runs):");
    run.assert_output_contains("READY ./spec/q_spec.rb:3");
    assert_eq!(record(&p)["examples"]["spec/q_spec.rb[1:2]"]["clean_passes"], 2);
    // A bad entry is refused where it is written.
    p.write("testbot.toml", "[project]\nquarantine = [\"spec/q_spec.rb\"]\n");
    let run = p.testbot(["-n", "1"]).run();
    assert_ne!(run.code, Some(0));
    run.assert_output_contains("testbot.toml:2:15: `quarantine` entry \"spec/q_spec.rb\" does not name one example");
}
