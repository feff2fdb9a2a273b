//! Files that must not share a runner process: `[[project.group]]` (a gem whose spec/model and
//! spec/extensions load conflicting helpers) and `[project] isolate` / `--isolate` (files run
//! alone, one after another in one process on one slot, like parallel_tests' `--single`);
//! issue 18, item 6.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const GROUPS: &str = r#"
[[project.group]]
files = ["spec/model"]

[[project.group]]
files = ["spec/extensions/**"]
"#;

/// The folder a fixture file is in: its group (`model`, `extensions`, `serial`, `plain`).
fn folder(file: &str) -> &str {
    file.trim_start_matches("./").split('/').nth(1).unwrap_or_else(|| panic!("{file}"))
}

/// Each runner process's files, from the specs' own records (`pid slot file` a line).
fn processes(log: &Path) -> BTreeMap<u32, Vec<(String, String)>> {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let mut out: BTreeMap<u32, Vec<(String, String)>> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (pid, slot, file) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        out.entry(pid.parse().unwrap()).or_default().push((slot.to_string(), file.to_string()));
    }
    out
}

/// The files of each batch in the JSON report, with its slot.
fn batches(report: &Path) -> Vec<(u64, Vec<String>)> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    json["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["slot"].as_u64().unwrap(), b["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()))
        .collect()
}

/// No batch (JSON report) and no process (the specs' records) mixed folders; the serial files
/// ran in one batch and one process of their own. Returns the number of processes.
#[track_caller]
fn assert_separate(report: &Path, log: &Path, run: &Run) -> usize {
    let batches = batches(report);
    for (_, files) in &batches {
        let folders: BTreeSet<&str> = files.iter().map(|f| folder(f)).collect();
        assert_eq!(folders.len(), 1, "a batch mixed groups: {files:?}\n{}", run.dump());
    }
    let serial: Vec<&(u64, Vec<String>)> = batches.iter().filter(|(_, f)| folder(&f[0]) == "serial").collect();
    assert_eq!(serial.len(), 1, "the isolated files run in one batch: {batches:?}");
    assert_eq!(serial[0].1.len(), 3, "{batches:?}");

    let processes = processes(log);
    let mut seen = BTreeSet::new();
    for (pid, files) in &processes {
        let folders: BTreeSet<&str> = files.iter().map(|(_, f)| folder(f)).collect();
        assert_eq!(folders.len(), 1, "process {pid} ran files of several groups: {files:?}");
        let slots: BTreeSet<&String> = files.iter().map(|(s, _)| s).collect();
        assert_eq!(slots.len(), 1, "process {pid} on one slot: {files:?}");
        seen.extend(files.iter().map(|(_, f)| f.clone()));
    }
    let serial: Vec<_> = processes.values().filter(|f| folder(&f[0].1) == "serial").collect();
    assert_eq!(serial.len(), 1, "one process ran every isolated file, one after another: {processes:?}");
    assert_eq!(serial[0].len(), 3, "{processes:?}");
    assert_eq!(seen.len(), 13, "every file ran once: {seen:?}");
    processes.len()
}

#[test]
fn groups_and_isolated_files_never_share_a_process() {
    let p = Project::new("rspec_groups");

    // Differential: in one process the helpers conflict, so the fixture can tell.
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(1);
    std::fs::remove_file(p.path("tmp/groups.log")).unwrap();

    // With the groups and isolated files declared, every file passes on three slots.
    p.write("testbot.toml", &format!("[project]\nisolate = [\"spec/serial\"]\n{GROUPS}"));
    let report = p.fresh_path("report", "json");
    let (run, json) = p.testbot(["-n", "3"]).report_to(&report).run_with_report();
    run.assert_exit(0);
    assert_eq!(json.totals(), totals(13, 13, 0, 0, 0), "{}", run.dump());
    let processes = assert_separate(&report, &p.path("tmp/groups.log"), &run);
    assert!(processes >= 4, "four groups, four processes at least: {processes}");
    std::fs::remove_file(p.path("tmp/groups.log")).unwrap();

    // `--isolate` does what `[project] isolate` does; with one slot too, each group gets its
    // own process.
    p.write("testbot.toml", GROUPS);
    for slots in ["1", "2"] {
        let report = p.fresh_path("report", "json");
        let (run, json) = p.testbot(["-n", slots, "--isolate", "spec/serial/*_spec.rb"]).report_to(&report).run_with_report();
        run.assert_exit(0);
        assert_eq!(json.totals(), totals(13, 13, 0, 0, 0), "{}", run.dump());
        assert_separate(&report, &p.path("tmp/groups.log"), &run);
        std::fs::remove_file(p.path("tmp/groups.log")).unwrap();
    }
}

#[test]
fn a_group_without_files_is_a_config_error() {
    let p = Project::new("rspec_groups");
    p.write("testbot.toml", "[project]\nisolate = [\"spec/serial\"]\n\n[[project.group]]\nfile = [\"spec/model\"]\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains("testbot.toml:5:1: unknown key `file` in [[project.group]]; did you mean `files`?");
    p.write("testbot.toml", "[[project.group]]\nfiles = []\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains("testbot.toml:1:1: a `[[project.group]]` needs `files`");
    p.write("testbot.toml", "[[project.group]]\nfiles = [\"spec/[model\"]\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains("invalid [[project.group]] files pattern `spec/[model`");
}
