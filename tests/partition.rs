//! `--partition K/N` and `testbot report merge`: CI jobs that each run a share of the suite, and
//! one summary, JSON report and JUnit file for all of them.

mod common;

use common::*;

#[test]
fn partitions_run_every_file_once_and_merge_into_the_whole_run() {
    let p = Project::new("rspec_basic");
    let whole_json = p.fresh_path("whole", "json");
    let whole_junit = p.fresh_path("whole", "xml");
    let (whole, whole_report) = p.testbot(["-n", "2"]).report_to(&whole_json).junit_to(&whole_junit).run_with_report();
    whole.assert_exit(1);

    // Every CI job starts from the same checkout and the same runtime history (a cached or
    // committed log): each share here starts from the log the whole run left.
    let log = p.path("tmp/testbot-runtime-rspec.log");
    let history = std::fs::read_to_string(&log).unwrap();
    let mut shares = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=3 {
        std::fs::write(&log, &history).unwrap();
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/3")]).report_to(&json).run_with_report();
        let paths = report.file_paths();
        assert!(!paths.is_empty(), "share {k} of 7 files is empty: {}", run.dump());
        assert_eq!(report.totals().files as usize, paths.len());
        seen.extend(paths);
        shares.push(json);
    }
    seen.sort();
    assert_eq!(seen, sorted(BASIC_FILES), "every file in exactly one share");
    // And in halves.
    let mut halves: Vec<String> = Vec::new();
    for k in 1..=2 {
        std::fs::write(&log, &history).unwrap();
        let json = p.fresh_path(&format!("half{k}"), "json");
        let (_, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/2")]).report_to(&json).run_with_report();
        halves.extend(report.file_paths());
    }
    halves.sort();
    assert_eq!(halves, sorted(BASIC_FILES), "1/2 and 2/2 run every file exactly once");

    let merged_json = p.fresh_path("merged", "json");
    let merged_junit = p.fresh_path("merged", "xml");
    let mut args: Vec<String> = vec!["report".into(), "merge".into()];
    args.extend(shares.iter().map(|s| s.to_string_lossy().into_owned()));
    args.extend(["--report-json".into(), merged_json.to_string_lossy().into_owned()]);
    args.extend(["--junit".into(), merged_junit.to_string_lossy().into_owned()]);
    let run = p.testbot(&args).run();
    run.assert_exit(1);
    let merged = Report::read(&merged_json, &run);
    merged.assert_consistent();
    assert_eq!(merged.totals(), whole_report.totals(), "{}", run.dump());
    assert_eq!(merged.file_paths(), whole_report.file_paths());
    let failures = |r: &Report| {
        let mut f: Vec<(String, u64, String)> = r.failures().into_iter().map(|f| (f.path, f.line, f.description)).collect();
        f.sort();
        f
    };
    assert_eq!(failures(&merged), failures(&whole_report));
    let junit = |path| junit_counts(&std::fs::read_to_string(path).unwrap());
    assert_eq!(junit(&merged_junit), junit(&whole_junit));
    run.assert_stdout_contains("rspec ./spec/math_spec.rb:6");
    run.assert_stdout_contains("FAILED");
}

#[test]
fn merge_names_a_file_that_is_not_a_report() {
    let p = Project::new("rspec_basic");
    let bogus = p.outside("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    let run = p.testbot(["report".to_string(), "merge".to_string(), bogus.to_string_lossy().into_owned()]).run();
    run.assert_exit(2);
    run.assert_output_contains("bogus.json is not a testbot JSON report (written by `--report-json`)");
    let run = p.testbot(["report", "merge", "/nonexistent/r.json"]).run();
    run.assert_exit(2);
    run.assert_output_contains("failed to read the report /nonexistent/r.json");
}

#[test]
fn a_bad_partition_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let run = p.testbot(["--partition", "3/2"]).run();
    run.assert_exit(2);
    run.assert_output_contains("K must be from 1 to N");
}
