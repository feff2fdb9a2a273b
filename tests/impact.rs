//! Issue 30: per-file impact maps (`--record-impact`) and `--changed`, with the real binary and
//! real Ruby on `tests/fixtures/rspec_impact` (10 spec files; `lib/shared.rb` used by s0 and s1
//! only, `lib/calc.rb` by the eight others; a helper that loads a support file and reads
//! `config/settings.yml` at boot), copied into a temporary git repository.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

const MAP: &str = "tmp/testbot-impact-rspec.json";

/// The fixture, committed in a git repository of its own.
fn repo() -> Project {
    let p = Project::new("rspec_impact");
    git(&p, "git init -q && git add -A && git commit -qm fixture");
    p
}

#[track_caller]
fn git(p: &Project, script: &str) {
    let env = [("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@t"), ("GIT_COMMITTER_NAME", "t"), ("GIT_COMMITTER_EMAIL", "t@t")];
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    p.sh(script, &env).assert_exit(0);
}

/// A recording run of the whole suite with `args`; the map it left.
#[track_caller]
fn record(p: &Project, args: &[&str]) -> Value {
    let _ = std::fs::remove_file(p.path(MAP));
    let run = p.testbot(["--record-impact", "-n", "2"].iter().chain(args)).run();
    run.assert_exit(0);
    let text = std::fs::read_to_string(p.path(MAP)).unwrap_or_else(|e| panic!("no impact map ({e})\n{}", run.dump()));
    serde_json::from_str(&text).unwrap()
}

/// `testbot list --changed`: the line, and the selected files.
#[track_caller]
fn changed(p: &Project) -> (String, Vec<String>) {
    let run = p.testbot(["list", "--changed"]).run();
    run.assert_exit(0);
    let mut lines = run.stdout.lines();
    let line = lines.next().unwrap_or_default().trim_start_matches("# ").to_string();
    (line, lines.map(|l| l.split('\t').next().unwrap().to_string()).collect())
}

fn specs(numbers: &[u32]) -> Vec<String> {
    numbers.iter().map(|n| format!("spec/s{n}_spec.rb")).collect()
}

fn all() -> Vec<String> {
    specs(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
}

#[test]
fn a_recording_run_maps_each_file_to_the_project_files_it_ran_and_the_boot_set() {
    let p = repo();
    let map = record(&p, &[]);
    let set = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<BTreeSet<_>>();
    assert_eq!(set(&map["boot"]), ["spec/spec_helper.rb", "spec/support/matchers.rb"].map(String::from).into());
    assert_eq!(set(&map["files"]["spec/s0_spec.rb"]), ["lib/shared.rb", "spec/s0_spec.rb"].map(String::from).into());
    assert!(set(&map["files"]["spec/s5_spec.rb"]).contains("lib/calc.rb"), "{map}");
    assert!(!set(&map["files"]["spec/s5_spec.rb"]).contains("lib/shared.rb"), "{map}");
    assert_eq!(map["files"].as_object().unwrap().len(), 10);
    assert_eq!(map["commit"].as_str().unwrap().len(), 40, "the commit it was made at: {map}");
}

#[test]
fn a_changed_lib_file_selects_exactly_the_two_files_that_ran_it_and_says_what_it_skipped() {
    let p = repo();
    record(&p, &[]);
    std::fs::write(p.path("lib/shared.rb"), std::fs::read_to_string(p.path("lib/shared.rb")).unwrap() + "# changed\n").unwrap();
    let (line, files) = changed(&p);
    assert_eq!(files, specs(&[0, 1]));
    assert!(line.starts_with("2 of 10 files: 2 by the impact map (since "), "{line}");
    let report = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--changed", "-n", "2"]).report_to(&report).run_with_report();
    run.assert_exit(0);
    run.assert_stdout_contains("testbot: 2 of 10 files: 2 by the impact map");
    run.assert_stdout_contains("2 files (8 files skipped by the impact map) on 2 slots");
    assert_eq!(report.totals().files, 2);
    assert_eq!(report.json["changed"]["skipped_by_impact_map"], 8);
    // Committed, the change still counts: the map's commit is where `--changed` starts.
    git(&p, "git commit -qam change");
    assert_eq!(changed(&p).1, specs(&[0, 1]));
}

#[test]
fn a_new_spec_file_and_a_deleted_lib_file_select_what_they_can_break() {
    let p = repo();
    record(&p, &[]);
    p.write("spec/new_spec.rb", "RSpec.describe('new') { it('runs') { } }\n");
    let (line, files) = changed(&p);
    assert_eq!(files, ["spec/new_spec.rb"]);
    assert!(line.starts_with("1 of 11 files: 1 changed (since "), "{line}");
    std::fs::remove_file(p.path("spec/new_spec.rb")).unwrap();
    git(&p, "git rm -q lib/calc.rb");
    assert_eq!(changed(&p).1, specs(&[2, 3, 4, 5, 6, 7, 8, 9]));
    // Nothing changed: nothing runs, and the line says so.
    git(&p, "git checkout -q HEAD -- lib/calc.rb");
    let run = p.testbot(["--changed"]).run();
    run.assert_exit(0);
    run.assert_stdout_contains("testbot: 0 of 10 files: no change since ");
}

#[test]
fn what_the_map_cannot_see_selects_every_file_and_says_why() {
    let p = repo();
    record(&p, &[]);
    for (file, why) in [
        ("spec/support/matchers.rb", "all 10 files: spec/support/matchers.rb changed"),
        ("config/settings.yml", "all 10 files: config/settings.yml changed, which the impact map cannot follow"),
        ("Gemfile.lock", "all 10 files: "),
    ] {
        let before = std::fs::read_to_string(p.path(file)).unwrap_or_default();
        std::fs::write(p.path(file), before.clone() + "\n# changed\n").unwrap();
        let (line, files) = changed(&p);
        assert_eq!(files, all(), "{file}");
        assert!(line.starts_with(why), "{file}: {line}");
        std::fs::write(p.path(file), before).unwrap();
        if file == "Gemfile.lock" {
            std::fs::remove_file(p.path(file)).unwrap();
        }
    }
    // A doc, or what `[impact] ignore` lists, does not count.
    p.write("NOTES.md", "notes\n");
    p.write("testbot.toml", "[impact]\nignore = [\"config/settings.yml\"]\n");
    git(&p, "git add testbot.toml && git commit -qm toml");
    record(&p, &[]);
    std::fs::write(p.path("config/settings.yml"), "greeting: hello\n# changed\n").unwrap();
    let (line, files) = changed(&p);
    assert!(files.is_empty(), "{line}: {files:?}");
}

#[test]
fn forked_preloaded_and_fresh_batches_record_the_same_map() {
    let p = repo();
    let forked = record(&p, &[]);
    let fresh = record(&p, &["--no-fork"]);
    let preloaded = record(&p, &["--preload"]);
    for key in ["boot", "files", "digest"] {
        assert_eq!(forked[key], fresh[key], "{key}");
        assert_eq!(forked[key], preloaded[key], "{key}");
    }
}

#[test]
fn recording_leaves_the_verdict_as_rspecs_own() {
    // rspec_basic: failures, pending examples and a file that errors.
    let p = Project::new("rspec_basic");
    let serial = p.serial_rspec(&[]);
    for args in [&["--record-impact", "-n", "2"][..], &["--record-impact", "-n", "2", "--no-fork"]] {
        let report = p.fresh_path("report", "json");
        let (run, report) = p.testbot(args.iter().copied()).report_to(&report).run_with_report();
        run.assert_exit(1);
        assert_eq!(report.totals().counts(), serial.counts, "{args:?}\n{}", run.dump());
        assert_eq!(report.totals().errors_outside_examples, serial.errors_outside_examples);
        let map: Value = serde_json::from_str(&std::fs::read_to_string(p.path(MAP)).unwrap()).unwrap();
        assert!(map["files"]["spec/math_spec.rb"].is_array(), "{map}");
    }
}

#[test]
fn the_files_that_failed_last_run_start_the_next_run_before_the_longest_first_order() {
    let p = Project::new("rspec_basic");
    p.testbot(["-n", "1"]).run().assert_exit(1);
    let failures = std::fs::read_to_string(p.path("tmp/testbot-failures-rspec.txt")).unwrap();
    let failed: BTreeSet<String> = failures.lines().map(|l| l.split(['[', ':']).next().unwrap().to_string()).collect();
    assert!(failed.contains("spec/math_spec.rb"), "{failures}");
    // The history makes every other file far longer: longest first would start with one of them.
    let files: Vec<String> = std::fs::read_dir(p.path("spec")).unwrap().filter_map(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.ends_with("_spec.rb").then(|| format!("spec/{name}"))
    }).collect();
    let log: String = files.iter().map(|f| format!("{f}:{}\n", if failed.contains(f) { 0.01 } else { 5.0 })).collect();
    for slots in ["1", "2"] {
        std::fs::write(p.path("tmp/testbot-runtime-rspec.log"), &log).unwrap();
        let report = p.fresh_path("report", "json");
        let (run, report) = p.testbot(["-n", slots]).report_to(&report).run_with_report();
        run.assert_exit(1);
        // The runners' own order: each batch's files as given, the first batch of slot 1 first.
        let batches = report.json["batches"].as_array().unwrap();
        let first = batches.iter().find(|b| b["slot"] == 1).unwrap();
        let started = first["files"][0].as_str().unwrap();
        assert!(failed.contains(started), "-n {slots}: the first file was {started}, not one of {failed:?}\n{}", run.dump());
    }
}

#[test]
fn the_map_from_ssh_hosts_equals_the_local_one() {
    let bed = common::sshd::Testbed::start(2);
    let p = repo();
    let local = record(&p, &[]);
    p.write("testbot.toml", &bed.inventory_toml(1));
    std::fs::remove_file(p.path(MAP)).unwrap();
    let report = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["--record-impact"]).report_to(&report).run_with_report();
    run.assert_exit(0);
    // Every file ran on a host (this machine has no slot). Which hosts is a race: one host's
    // slot can run all ten quick files before the other's fork server is up.
    let hosts: BTreeSet<String> = report.files().into_iter().map(|f| f.host).collect();
    assert!(!hosts.is_empty() && hosts.iter().all(|h| h == "host1" || h == "host2"), "only the hosts ran files: {hosts:?}\n{}", run.dump());
    let remote: Value = serde_json::from_str(&std::fs::read_to_string(p.path(MAP)).unwrap()).unwrap();
    // Paths of the hosts' copies come back as the project's; the digest differs by testbot.toml.
    assert_eq!(local["boot"], remote["boot"]);
    assert_eq!(local["files"], remote["files"]);
}

/// A recording run of `fixture` with `args`: its totals, and the map it left.
fn record_other(fixture: &str, args: &[&str]) -> (Vec<u64>, Value) {
    let p = Project::new(fixture);
    let report = p.fresh_path("report", "json");
    let (_, report) = p.testbot(args.iter().copied()).report_to(&report).run_with_report();
    let t = report.totals();
    let map = std::fs::read_to_string(p.path(&format!("tmp/testbot-impact-{}.json", report.framework()))).ok();
    (vec![t.files, t.examples, t.failures, t.pending, t.errors_outside_examples], map.map(|m| serde_json::from_str(&m).unwrap()).unwrap_or_default())
}

#[test]
fn minitest_test_unit_and_cucumber_record_maps_too_and_keep_their_verdicts() {
    for (fixture, file, ran) in [
        ("minitest_basic", "test/passing_test.rb", "test/passing_test.rb"),
        ("test_unit_basic", "test/passing_test.rb", "test/helper.rb"),
        ("cucumber_basic", "features/passing.feature", "features/step_definitions/steps.rb"),
    ] {
        let (plain, none) = record_other(fixture, &["-n", "2"]);
        assert!(none.is_null(), "{fixture}: no map without recording");
        let (forked, map) = record_other(fixture, &["-n", "2", "--record-impact"]);
        let (fresh, fresh_map) = record_other(fixture, &["-n", "2", "--record-impact", "--no-fork"]);
        assert_eq!((&forked, &fresh), (&plain, &plain), "{fixture}: recording keeps the totals");
        // Which file of a batch loads a shared helper first differs with the batches: each map
        // holds what the file itself ran.
        for map in [&map, &fresh_map] {
            let entry: Vec<&str> = map["files"][file].as_array().unwrap_or_else(|| panic!("{fixture}: {map}")).iter().map(|v| v.as_str().unwrap()).collect();
            assert!(entry.contains(&ran), "{fixture}: {map}");
        }
    }
}

#[test]
fn recording_leaves_a_suites_simplecov_its_counts() {
    // SimpleCov finds Coverage running (testbot started it first) and reads the same counts at
    // its end: recording must never clear them, or the merged coverage (and its minimum) drops.
    let p = repo();
    let helper = std::fs::read_to_string(p.path("spec/spec_helper.rb")).unwrap();
    p.write("spec/spec_helper.rb", &format!("require 'simplecov'\nSimpleCov.start {{ add_filter '/spec/'; minimum_coverage 90 }}\n{helper}"));
    for args in [&["--record-impact", "-n", "2"][..], &["--record-impact", "-n", "2", "--no-fork"], &["--record-impact", "-n", "2", "--preload"]] {
        let _ = std::fs::remove_file(p.path(MAP));
        let run = p.testbot(args.iter().copied()).run();
        run.assert_exit(0);
        run.assert_stdout_contains("6 / 6 LOC (100.0%) covered");
        let map: Value = serde_json::from_str(&std::fs::read_to_string(p.path(MAP)).unwrap()).unwrap();
        assert_eq!(map["files"]["spec/s0_spec.rb"], serde_json::json!(["lib/shared.rb", "spec/s0_spec.rb"]), "{args:?}: {map}");
    }
}

#[test]
fn changed_outside_git_or_with_an_unknown_commit_is_a_usage_error_that_says_so() {
    let p = Project::new("rspec_impact");
    let run = p.testbot(["--changed"]).run();
    run.assert_exit(2);
    run.assert_output_contains("is not in a git repository: `--changed` compares with a commit");
    assert!(run.combined().lines().count() < 6, "one error, not git's usage text\n{}", run.dump());
    git(&p, "git init -q && git add -A && git commit -qm fixture");
    let run = p.testbot(["list", "--changed", "nosuchref"]).run();
    run.assert_exit(2);
    run.assert_output_contains("failed: fatal: bad revision 'nosuchref'");
}
