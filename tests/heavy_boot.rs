//! Issue 32: a suite whose helper takes a second to load (tests/fixtures/rspec_heavy_boot: its
//! spec_helper sleeps 1 s and logs each load). Under the fork server every batch loads it again,
//! so a batch costs that second: no tail batch may hold less than twice it in work, and the boot
//! is kept in the runtime history so that the next run plans its first wave for it. Checked from
//! the JSON report's `batches` (which files each batch ran, per slot in order) and the files'
//! own seconds, never from wall time. `testbot init` times the helper and turns `--preload` on
//! for it: the run it configures loads the helper once per slot (`tmp/boots.log`).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;

/// The fixture's helper sleeps this long (its default): the least a measured boot can be.
const BOOT: f64 = 1.0;

/// `files` spec files of one example sleeping `seconds` each.
fn suite(p: &Project, files: usize, seconds: f64) {
    for i in 0..files {
        let body = format!("RSpec.describe(\"w{i}\") {{ it(\"works\") {{ sleep {seconds} }} }}\n");
        p.write(&format!("spec/w{i:03}_spec.rb"), &body);
    }
}

fn run(p: &Project) -> (Run, Report) {
    let report = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).report_to(&report).run_with_report();
    run.assert_exit(0);
    (run, report)
}

/// Each slot's batches in the order it ran them: the files of each.
fn batches_by_slot(report: &Report) -> BTreeMap<u64, Vec<Vec<String>>> {
    let mut slots: BTreeMap<u64, Vec<Vec<String>>> = BTreeMap::new();
    for b in report.json["batches"].as_array().unwrap() {
        let files = b["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
        slots.entry(b["slot"].as_u64().unwrap()).or_default().push(files);
    }
    slots
}

/// The boot the runtime log keeps (`#boot:seconds`).
fn kept_boot(p: &Project) -> Option<f64> {
    let log = fs::read_to_string(p.path("tmp/testbot-runtime-rspec.log")).unwrap_or_default();
    log.lines().find_map(|l| l.strip_prefix("#boot:")).map(|s| s.parse().unwrap())
}

#[test]
fn no_tail_batch_holds_less_work_than_twice_the_measured_boot() {
    let p = Project::new("rspec_heavy_boot");
    // 60 × 0.15 s on 2 slots, no history: a first wave of about 60 % of it (a batch a slot),
    // then a tail of about 3.6 s, which batches of under 2 s would cut into more boots.
    suite(&p, 60, 0.15);
    let (run, report) = run(&p);
    assert_eq!(report.totals(), totals(60, 60, 0, 0, 0), "{}", run.dump());
    let seconds: BTreeMap<String, f64> = report.files().into_iter().map(|f| (f.path.clone(), f.seconds)).collect();
    let slots = batches_by_slot(&report);
    let tail: Vec<&Vec<String>> = slots.values().flat_map(|batches| batches.iter().skip(1)).collect();
    assert!(!tail.is_empty(), "the run had a tail\n{slots:?}");
    for batch in tail {
        let work: f64 = batch.iter().map(|f| seconds[f]).sum();
        assert!(work >= 2.0 * BOOT, "a tail batch holds {work:.2} s of work, under twice the boot\n{slots:?}\n{}", run.dump());
    }
    // Every batch loaded the helper once (the fork server does not), and the run kept its boot.
    let loads = fs::read_to_string(p.path("tmp/boots.log")).unwrap().lines().count();
    assert_eq!(loads, slots.values().map(Vec::len).sum::<usize>());
    assert!(kept_boot(&p).is_some_and(|b| b >= BOOT), "{:?}", kept_boot(&p));
}

#[test]
fn a_first_run_that_measures_a_heavy_boot_runs_its_tail_in_one_batch_a_slot() {
    let p = Project::new("rspec_heavy_boot");
    // 80 × 0.5 s on 2 slots, no history: a first wave of about 60 % (a batch a slot), then a
    // tail of about 16 s, more than twice the floor of two boots even under load. Each tail
    // batch loads the helper again: one more a slot, an even share of the tail, not several.
    suite(&p, 80, 0.5);
    let (run, report) = run(&p);
    assert_eq!(report.totals(), totals(80, 80, 0, 0, 0), "{}", run.dump());
    let slots = batches_by_slot(&report);
    let counts: Vec<usize> = slots.values().map(Vec::len).collect();
    assert_eq!(counts, [2, 2], "{slots:?}\n{}", run.dump());
    let tail: Vec<usize> = slots.values().map(|batches| batches[1].len()).collect();
    assert!(tail[0].abs_diff(tail[1]) <= 1, "an even share of the tail: {slots:?}");
    let loads = fs::read_to_string(p.path("tmp/boots.log")).unwrap().lines().count();
    assert_eq!(loads, 4);
}

#[test]
fn the_boot_kept_in_the_history_plans_one_batch_a_slot() {
    let p = Project::new("rspec_heavy_boot");
    // 420 quick files: more than the 200 a batch holds by default on each of 2 slots.
    suite(&p, 420, 0.005);
    run(&p);
    let boot = kept_boot(&p);
    assert!(boot.is_some_and(|b| b >= BOOT), "the runtime log keeps the boot: {boot:?}");
    // The next run knows every file and that a batch costs a second: one batch a slot.
    let (run, report) = run(&p);
    assert_eq!(report.totals(), totals(420, 420, 0, 0, 0), "{}", run.dump());
    let slots = batches_by_slot(&report);
    let counts: Vec<usize> = slots.values().map(Vec::len).collect();
    assert_eq!(counts, [1, 1], "{slots:?}");
}

#[test]
fn init_times_a_slow_helper_and_the_run_it_configures_loads_it_once_per_slot() {
    let p = Project::new("rspec_heavy_boot");
    suite(&p, 12, 0.01);
    let init = p.testbot(["init"]).run();
    init.assert_exit(0);
    let toml = fs::read_to_string(p.path("testbot.toml")).unwrap();
    assert!(toml.contains("\npreload = true\n"), "{toml}");
    assert!(toml.contains("# Loading spec/spec_helper.rb took 1."), "{toml}");
    assert!(init.combined().contains("preload: yes (spec/spec_helper.rb took 1."), "{}", init.dump());
    // init loaded the helper once; the run that follows, once in each slot's server.
    assert_eq!(fs::read_to_string(p.path("tmp/boots.log")).unwrap().lines().count(), 1);
    fs::remove_file(p.path("tmp/boots.log")).unwrap();
    let (run, report) = run(&p);
    assert_eq!(report.totals(), totals(12, 12, 0, 0, 0), "{}", run.dump());
    assert_eq!(fs::read_to_string(p.path("tmp/boots.log")).unwrap().lines().count(), 2, "{}", run.dump());
}

/// Issue 32 (session 30): a boot beside more runners than the host has cores is counted at its
/// share of a core, so that a crowded start (a forked slot's first batches all boot at once) is
/// not taken for a heavy helper. On one core (`taskset -c 0`: testbot counts one) with 2 forked
/// slots, the first wave's two batches boot side by side, each at half a core: the log says
/// `share=0.5` for both (main: no share, the wall time as it was).
#[test]
fn a_boot_beside_more_runners_than_cores_counts_at_its_share_of_a_core() {
    let p = Project::new("rspec_heavy_boot");
    suite(&p, 6, 0.05);
    let bin = env!("CARGO_BIN_EXE_testbot");
    let env = [("HEAVY_BOOT_SECONDS".to_string(), "0.1".to_string()), ("RUST_LOG".to_string(), "testbot=debug".to_string()), ("TESTBOT_NO_FORK".to_string(), "0".to_string())];
    let run = p.sh(&format!("taskset -c 0 '{bin}' -n 2 2>&1"), &env);
    run.assert_exit(0);
    run.assert_output_contains("6 files on 2 slots: 6 examples, 0 failures");
    let booted: Vec<String> = run.combined().lines().filter(|l| l.contains("a runner booted")).map(strip_ansi).collect();
    let halves = booted.iter().filter(|l| l.contains("share=0.5")).count();
    assert!(halves >= 2, "the first wave's two boots at half a core each:\n{}", run.dump());
}
