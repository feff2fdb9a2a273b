//! The fix-and-rerun loop (issue 31, item 1): the failures record keeps what a run did not run,
//! and a failure's rerun line reruns that one example, as RSpec's own lines do.

mod common;

use common::*;

fn recorded(p: &Project) -> Vec<String> {
    let text = std::fs::read_to_string(p.path("tmp/testbot-failures-rspec.txt")).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// (description, status) of every example the report ran, sorted.
fn examples_run(report: &Report) -> Vec<(String, String)> {
    let mut run: Vec<(String, String)> = report.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["results"].as_array().unwrap().iter())
        .map(|e| (e["description"].as_str().unwrap().to_string(), e["status"].as_str().unwrap().to_string()))
        .collect();
    run.sort();
    run
}

fn failed(descriptions: &[&str]) -> Vec<(String, String)> {
    descriptions.iter().map(|d| (d.to_string(), "failed".to_string())).collect()
}

#[test]
fn a_partial_run_keeps_the_failures_of_what_it_did_not_run() {
    let p = Project::new("rspec_rerun");
    let full = p.testbot(["-n", "2"]).run();
    full.assert_exit(1);
    let all_three = ["spec/alpha_spec.rb[1:2]", "spec/alpha_spec.rb[1:3]", "spec/beta_spec.rb[1:2]"];
    assert_eq!(recorded(&p), all_three, "{}", full.dump());

    // One passing file: the record keeps the three failures of the files it did not run.
    let green = p.testbot(["spec/green_spec.rb"]).run();
    green.assert_exit(0);
    assert_eq!(recorded(&p), all_three, "{}", green.dump());
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--only-failures"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file_paths(), ["spec/alpha_spec.rb", "spec/beta_spec.rb"], "{}", run.dump());
    assert_eq!(examples_run(&report), failed(&["Alpha fails first", "Alpha fails second", "Beta fails"]), "{}", run.dump());
    assert_eq!(recorded(&p), all_three);

    // Beta fixed and rerun on its own: only its entry goes.
    p.write("spec/beta_spec.rb", "RSpec.describe \"Beta\" do\n  it(\"passes\") { expect(1).to eq(1) }\n  it(\"fails\") { expect(:fixed).to eq(:fixed) }\nend\n");
    let fixed = p.testbot(["spec/beta_spec.rb"]).run();
    fixed.assert_exit(0);
    assert_eq!(recorded(&p), ["spec/alpha_spec.rb[1:2]", "spec/alpha_spec.rb[1:3]"], "{}", fixed.dump());
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--only-failures"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(examples_run(&report), failed(&["Alpha fails first", "Alpha fails second"]), "{}", run.dump());

    // A deleted spec file's entries go with it.
    std::fs::remove_file(p.path("spec/alpha_spec.rb")).unwrap();
    let run = p.testbot(["spec/green_spec.rb"]).run();
    run.assert_exit(0);
    assert_eq!(recorded(&p), Vec::<String>::new(), "{}", run.dump());
    let run = p.testbot(["--only-failures"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("the last run recorded no failures");
}

#[test]
fn an_example_defined_in_a_loop_reruns_by_its_id() {
    let p = Project::new("rspec_loop");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/slugger_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    // RSpec's own rerun argument: the id where eight examples share a line, the line elsewhere.
    let line = run
        .stdout
        .lines()
        .map(strip_ansi)
        .find(|l| l.contains("# Slugger slugs slugs zeta"))
        .unwrap_or_else(|| panic!("no rerun line for the zeta example:\n{}", run.dump()));
    assert_eq!(line.trim(), "rspec './spec/slugger_spec.rb[1:1:6]' # Slugger slugs slugs zeta", "{}", run.dump());
    run.assert_stdout_contains("rspec ./spec/slugger_spec.rb:9 # Slugger keeps a plain example's line");

    // Pasted into a shell, it reruns exactly that one example.
    let rerun = p.sh(line.trim(), &[]);
    assert!(rerun.stdout.contains("1 example, 1 failure"), "{}", rerun.dump());

    let failures = report.json["failures"].as_array().unwrap();
    let zeta = failures.iter().find(|f| f["description"] == "Slugger slugs slugs zeta").expect("zeta fails");
    assert_eq!(zeta["id"], "1:1:6", "{zeta}");
    assert_eq!(zeta["location"], "./spec/slugger_spec.rb[1:1:6]", "{zeta}");
    assert!(zeta["backtrace"].as_array().is_some_and(|bt| bt.iter().any(|l| l.as_str().unwrap().contains("slugger_spec.rb:5"))), "{zeta}");
    assert_eq!(recorded(&p), ["spec/slugger_spec.rb[1:1:6]", "spec/slugger_spec.rb[1:2]"]);
}

#[test]
fn minitest_records_failing_files_and_a_partial_run_keeps_them() {
    let p = Project::new("minitest_basic");
    let full = p.testbot(["-n", "2"]).run();
    full.assert_exit(1);
    let record = |p: &Project| {
        let text = std::fs::read_to_string(p.path("tmp/testbot-failures-minitest.txt")).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let failing = record(&p);
    assert!(!failing.is_empty() && failing.iter().all(|l| l.starts_with("test/") && l.ends_with(".rb")), "{failing:?}\n{}", full.dump());

    let green = p.testbot(["test/passing_test.rb"]).run();
    green.assert_exit(0);
    assert_eq!(record(&p), failing, "{}", green.dump());
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--only-failures"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file_paths(), failing, "{}", run.dump());
}
