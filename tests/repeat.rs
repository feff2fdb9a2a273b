//! `--repeat N` with `--shuffle-batches` (issue 34, item 2), with the real binary and RSpec: N
//! full runs of a selection, each dealing its files into batches from its own seed, and one
//! summary naming each example that failed with the runs it failed in, in the terminal and in
//! the repeat's JSON report (`--report-json FILE`: FILE holds the repeat, FILE.K.json run K).
//!
//! Fixture: rspec_repeat (8 files): an order-dependent example (spec/order/victim_spec.rb fails
//! when spec/order/polluter_spec.rb ran before it in its process), a flaky one
//! (spec/flaky_spec.rb fails every second time it runs, by a counter file), and steady files.
//! The two keep their own record of each time they ran (tmp/repeat-record/<name>.log), which the
//! tests hold testbot's summary to.

mod common;

use common::*;

const FLAKY: &str = "./spec/flaky_spec.rb:4 (a flaky example fails now and then)";
const VICTIM: &str = "./spec/order/victim_spec.rb:3 (a file that minds global state finds no global left behind)";

/// The runs (1-based) an example failed in, from its own record: one line per time it ran.
fn failed_runs(p: &Project, name: &str, first_run: usize) -> (Vec<usize>, usize) {
    let log = std::fs::read_to_string(p.path(&format!("tmp/repeat-record/{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let mut counts: Vec<(usize, bool)> = lines
        .iter()
        .map(|l| {
            let (n, result) = l.split_once(' ').unwrap();
            (n.parse().unwrap(), result == "failed")
        })
        .collect();
    counts.sort();
    let failed = counts.iter().filter(|(n, failed)| *failed && *n >= first_run).map(|(n, _)| n - first_run + 1).collect();
    (failed, counts.len())
}

/// `failed in runs 2, 4 of 5`.
fn in_runs(runs: &[usize], of: usize) -> String {
    let list: Vec<String> = runs.iter().map(usize::to_string).collect();
    match runs {
        [run] => format!("failed in run {run} of {of}"),
        _ => format!("failed in runs {} of {of}", list.join(", ")),
    }
}

/// The seed of each run, from `testbot: run K of N, batches shuffled with seed S (…)`.
fn run_seeds(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(", batches shuffled with seed "))
        .map(|(_, rest)| rest.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// `tmp/report.json` → `tmp/report.K.json`: run K's own report.
fn numbered(report: &std::path::Path, k: usize) -> std::path::PathBuf {
    report.with_file_name(format!("{}.{k}.json", report.file_stem().unwrap().to_string_lossy()))
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn repeat_five_shuffled_names_the_order_dependent_and_the_flaky_example_with_the_runs_they_failed_in() {
    let p = Project::new("rspec_repeat");
    let report = p.fresh_path("repeat", "json");
    let run = p.testbot(["-n", "2", "--repeat", "5", "--shuffle-batches", "--seed", "7"]).report_to(&report).run();
    run.assert_exit(1);
    let (flaky, flaky_ran) = failed_runs(&p, "flaky", 1);
    let (victim, victim_ran) = failed_runs(&p, "victim", 1);
    assert_eq!((flaky_ran, victim_ran), (5, 5), "each ran once a run:\n{}", run.stdout);
    assert_eq!(flaky, vec![2, 4]);
    // The seed 7 deals the polluter before the victim in some runs, not all.
    assert!(!victim.is_empty() && victim.len() < 5, "victim failed in runs {victim:?}:\n{}", run.stdout);
    run.assert_stdout_contains("Failed in some runs (flaky or order-dependent):");
    run.assert_stdout_contains(&format!("  {FLAKY}: {}", in_runs(&flaky, 5)));
    run.assert_stdout_contains(&format!("  {VICTIM}: {}", in_runs(&victim, 5)));
    let red: std::collections::BTreeSet<usize> = flaky.iter().chain(&victim).copied().collect();
    assert!(run.stdout.contains(&format!("testbot: 5 runs, {} failed", red.len())), "{}", run.stdout);
    assert!(!run.stdout.contains("Failed every run"), "{}", run.stdout);
    // One seed given, one a run, each following from the one before; the first is the one given.
    let seeds = run_seeds(&run.stdout);
    assert_eq!(seeds.len(), 5, "{}", run.stdout);
    assert_eq!(seeds[0], 7);
    assert_repeat_report(&report, &seeds, &flaky, &victim);

    // The same seed deals the same batches again: the victim fails in the same runs.
    let again = p.testbot(["-n", "2", "--repeat", "5", "--shuffle-batches", "--seed", "7"]).run();
    again.assert_exit(1);
    assert_eq!(run_seeds(&again.stdout), seeds);
    assert_eq!(failed_runs(&p, "victim", 6).0, victim, "{}", again.stdout);
    // And a run's own seed deals that run again: the last run's, given back, as run 1.
    let last = p.testbot(["-n", "2", "--shuffle-batches", "--seed", &seeds[4].to_string()]).run();
    assert_eq!(failed_runs(&p, "victim", 11).0.is_empty(), !victim.contains(&5), "{}", last.stdout);
    last.assert_stdout_contains(&format!("testbot: batches shuffled with seed {}", seeds[4]));
}

/// The repeat's own JSON report (`--report-json FILE` of a `--repeat`): each run with its seed,
/// verdict and report, and the flaky and the order-dependent example with the runs they failed in.
fn assert_repeat_report(report: &std::path::Path, seeds: &[u64], flaky: &[usize], victim: &[usize]) {
    let json = read_json(report);
    let repeat = &json["repeat"];
    assert_eq!((&json["passed"], &json["interrupted"], &repeat["runs"], &repeat["ran"]), (&false.into(), &false.into(), &5.into(), &5.into()), "{json:#}");
    for k in 1..=5 {
        let each = &repeat["each"][k - 1];
        let red = flaky.contains(&k) || victim.contains(&k);
        assert_eq!((&each["run"], &each["seed"], &each["passed"]), (&k.into(), &seeds[k - 1].into(), &(!red).into()), "{json:#}");
        assert_eq!(each["report"], numbered(report, k).to_string_lossy().as_ref(), "{json:#}");
        // The run's own report says the same of it.
        assert_eq!(read_json(&numbered(report, k))["passed"], !red, "run {k}");
    }
    let failed = repeat["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{json:#}");
    for (location, description, runs) in [
        ("./spec/flaky_spec.rb:4", "a flaky example fails now and then", flaky),
        ("./spec/order/victim_spec.rb:3", "a file that minds global state finds no global left behind", victim),
    ] {
        let f = failed.iter().find(|f| f["location"] == location).unwrap_or_else(|| panic!("no {location}: {json:#}"));
        assert_eq!((&f["kind"], &f["description"], &f["every_run"]), (&"example".into(), &description.into(), &false.into()), "{json:#}");
        assert_eq!(f["runs"], serde_json::json!(runs), "{json:#}");
        assert!(f["name"].as_str().unwrap().starts_with(&location[2..location.len() - 2]), "{json:#}");
    }
}

#[test]
fn a_clean_selection_repeated_passes_and_says_how_many_runs_each_with_its_own_report() {
    let p = Project::new("rspec_repeat");
    let report = p.fresh_path("report", "json");
    let files = ["spec/steady_1_spec.rb", "spec/steady_2_spec.rb", "spec/steady_3_spec.rb"];
    let run = p.testbot([&["-n", "2", "--repeat", "3"][..], &files].concat()).report_to(&report).run();
    run.assert_exit(0);
    run.assert_stdout_contains("testbot: run 3 of 3\n");
    run.assert_stdout_contains("testbot: 3 runs, all passed");
    for k in 1..=3 {
        assert_eq!(read_json(&numbered(&report, k))["totals"]["examples"], 6, "run {k}");
    }
    // The plain name holds the repeat: three runs that passed, no seed (not shuffled), nothing failed.
    let json = read_json(&report);
    assert_eq!((&json["passed"], &json["repeat"]["runs"], &json["repeat"]["failed"]), (&true.into(), &3.into(), &serde_json::json!([])));
    assert_eq!(json["repeat"]["each"][2], serde_json::json!({ "run": 3, "seed": null, "passed": true, "report": numbered(&report, 3) }));
}

#[test]
fn a_repeat_of_no_runs_and_a_seed_without_shuffled_batches_are_usage_errors() {
    let p = Project::new("rspec_repeat");
    let run = p.testbot(["--repeat", "0"]).run();
    run.assert_exit(2);
    assert!(run.stderr.contains("must be at least 1"), "{}", run.stderr);
    let run = p.testbot(["--seed", "3"]).run();
    run.assert_exit(2);
    assert!(run.stderr.contains("--shuffle-batches"), "{}", run.stderr);
    let run = p.testbot(["--repeat", "2", "--queue", "redis://127.0.0.1:1", "--build-id", "b1"]).run();
    run.assert_exit(2);
    assert!(run.stderr.contains("--repeat cannot be used with --queue"), "{}", run.stderr);
}
