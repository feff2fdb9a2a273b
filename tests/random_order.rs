//! Order-dependent failures can be reproduced (issue 18, item 5), with the real binary and
//! RSpec: `-- --order random` gives the run one seed, shown as it starts and in the summary;
//! the JSON report records each batch's files in order with its seed; and
//! `--verbose-rerun-command` prints, for each batch with a failure, a command that — run by
//! hand with plain `rspec` — gives the same result for its files.
//!
//! Fixture used: rspec_basic (7 files, 18 examples, 2 failures, 2 pending) plus two files the
//! test writes: one leaves global state behind, the other fails when it finds it (an
//! order-dependent failure, as real suites have).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const POLLUTES: &str = "RSpec.describe 'a file that leaves state behind' do\n  it 'sets a global' do\n    $testbot_polluted = true\n    expect($testbot_polluted).to be true\n  end\nend\n";
const MINDS: &str = "RSpec.describe 'a file that minds global state' do\n  it 'finds none' do\n    expect($testbot_polluted).to be_nil\n  end\nend\n";

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The seed in `testbot: random order, seed N (local/1's batch)`.
fn shown_seed(stdout: &str) -> u64 {
    let line = stdout.lines().find(|l| l.starts_with("testbot: random order, seed ")).unwrap_or_else(|| panic!("no seed shown:\n{stdout}"));
    line["testbot: random order, seed ".len()..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_random_order_has_one_seed_for_the_run_shown_and_recorded_per_batch() {
    let p = Project::new("rspec_basic");
    let report = p.fresh_path("report", "json");
    let run = p.testbot(["-n", "2", "--verbose-rerun-command", "--", "--order", "random"]).report_to(&report).run();
    run.assert_exit(1);
    let seed = shown_seed(&run.stdout);
    run.assert_stdout_contains(&format!("Randomized with seed {seed} (`-- --seed {seed}` runs every batch in the same order)"));
    let json = json(&report);
    let batches = json["batches"].as_array().unwrap();
    assert!(!batches.is_empty(), "{json}");
    let mut files = BTreeSet::new();
    for b in batches {
        assert_eq!(b["seed"].as_u64(), Some(seed), "every batch has the run's seed: {b}");
        assert_eq!(b["host"], "local", "{b}");
        for f in b["files"].as_array().unwrap() {
            files.insert(f.as_str().unwrap().to_string());
        }
    }
    assert_eq!(files, BASIC_FILES.iter().map(|f| f.to_string()).collect::<BTreeSet<_>>());

    // A seed given is the seed used.
    let run = p.testbot(["-n", "2", "--", "--order", "random", "--seed", "4242"]).run();
    run.assert_exit(1);
    assert_eq!(shown_seed(&run.stdout), 4242);
    // Defined order: no seed to show.
    let run = p.testbot(["-n", "2"]).run();
    run.assert_exit(1);
    assert!(!run.stdout.contains("seed"), "{}", run.stdout);
}

#[test]
fn the_verbose_rerun_command_reproduces_an_order_dependent_failure() {
    let p = Project::new("rspec_basic");
    p.write("spec/order/a_polluter_spec.rb", POLLUTES);
    p.write("spec/order/b_minder_spec.rb", MINDS);
    let report = p.fresh_path("report", "json");
    // One slot, the files in one batch: whether the second fails depends on the seed's order.
    // Fresh processes (`--no-fork`): with the fork server a batch is so cheap that the scheduler
    // gives each file its own, and the two would never share a process.
    let files = ["spec/order/a_polluter_spec.rb", "spec/order/b_minder_spec.rb", "spec/math_spec.rb"];
    let mut args = vec!["-n", "1", "--no-fork", "--verbose-rerun-command"];
    args.extend(files);
    args.extend(["--", "--order", "random"]);
    let run = p.testbot(args).report_to(&report).run();
    run.assert_exit(1);
    let seed = shown_seed(&run.stdout);
    let json = json(&report);
    let minder_failed = json["failures"].as_array().unwrap().iter().any(|f| f["path"] == "spec/order/b_minder_spec.rb");

    // The summary's command for the batch that failed (math_spec always fails in it).
    let (_, after) = run.stdout.split_once("Batches with failures, as they ran").unwrap_or_else(|| panic!("{}", run.dump()));
    let commands: Vec<&str> = after.lines().map(str::trim).filter(|l| l.starts_with("rspec ")).collect();
    assert!(!commands.is_empty(), "{}", run.dump());
    let ours: Vec<&&str> = commands.iter().filter(|c| c.contains("b_minder_spec.rb")).collect();
    assert_eq!(ours.len(), 1, "the batch with both files: {commands:?}");
    let command = ours[0];
    assert!(command.starts_with(&format!("rspec --seed {seed} ")), "{command}");

    // Run by hand, serially, as a person would paste it: the same verdict for the minder.
    let out = Command::new("sh").args(["-c", command]).current_dir(&p.root).env("NO_COLOR", "1").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Randomized with seed {seed}")), "{text}");
    let rerun_minder_failed = text.contains("rspec ./spec/order/b_minder_spec.rb:");
    assert_eq!(rerun_minder_failed, minder_failed, "testbot's run and the rerun disagree (seed {seed}):\n{}\n{text}", run.stdout);
    assert!(text.contains("rspec ./spec/math_spec.rb:6"), "{text}");
}
