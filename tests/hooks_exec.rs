//! `[hooks]` and `testbot exec` on real sshd hosts (tests/common/sshd.rs): what they leave on
//! each host, and a failing hook taking its host out of the run.

mod common;

use common::sshd::Testbed;
use common::*;

const HOOKS: &str = r#"
[hooks]
before_run = "echo \"before_run on $TESTBOT_HOST with $PARALLEL_TEST_GROUPS slots\" > hooks.log"
before_slot = "echo \"before_slot TEST_ENV_NUMBER=[$TEST_ENV_NUMBER] TMPDIR_is_dir=$(test -d \"$TMPDIR\" && echo yes)\" >> hooks.log"
after_run = "echo after_run >> hooks.log"
"#;

/// The hooks' log in the project's copy on host `i`, sorted (slots write in any order).
fn hooks_log(bed: &Testbed, i: usize) -> Vec<String> {
    let out = bed.ssh(i, "cat .cache/testbot/project-*/hooks.log");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn hooks_run_once_a_host_and_once_a_slot_around_the_run() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &format!("{}{HOOKS}", bed.inventory_toml(2)));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/passing_spec.rb", "spec/math_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1); // math_spec has a failing example
    assert_eq!(report.totals().files, 2);
    // before_slot runs on a slot when it gets its first batch (issue 31 item 6): on the slots
    // that ran one, once each.
    let batches = report.json["batches"].as_array().expect("batches").clone();
    for (i, name) in ["host1", "host2"].iter().enumerate() {
        let mut expected = vec!["after_run".to_string(), format!("before_run on {name} with 2 slots")];
        let mut used: Vec<u64> = batches.iter().filter(|b| b["host"] == *name).map(|b| b["host_slot"].as_u64().unwrap()).collect();
        used.sort_unstable();
        used.dedup();
        for k in used.iter().rev() {
            let number = if *k == 1 { String::new() } else { k.to_string() };
            expected.push(format!("before_slot TEST_ENV_NUMBER=[{number}] TMPDIR_is_dir=yes"));
        }
        assert_eq!(hooks_log(&bed, i), expected, "{}", run.dump());
    }
}

#[test]
fn a_failing_before_run_takes_its_host_out_with_its_output() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    let hooks = "\n[hooks]\nbefore_run = \"if [ \\\"$TESTBOT_HOST\\\" = host1 ]; then echo 'no database for you' >&2; exit 4; fi\"\n";
    p.write("testbot.toml", &format!("{}{hooks}", bed.inventory_toml(2)));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/passing_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    run.assert_output_contains("host `host1` is left out of this run: its before_run hook");
    run.assert_output_contains("exited with status 4");
    run.assert_output_contains("| no database for you");
    assert_eq!(report.hosts().iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["host2"]);
    assert_eq!(report.file("spec/passing_spec.rb").host, "host2");
}

#[test]
fn a_failing_before_slot_takes_its_host_out_and_no_host_left_leaves_its_files_not_run() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    // Each slot runs before_slot at its first batch: slot 2's fails, and its host leaves the run.
    let hooks = "\n[hooks]\nbefore_slot = \"test \\\"$TEST_ENV_NUMBER\\\" != 2 || { echo slot two is broken; exit 9; }\"\n";
    p.write("testbot.toml", &format!("{}{hooks}", bed.inventory_toml(2)));
    let run = p.testbot(["--no-fork"]).env("TESTBOT_TUNING", "max_batch_files=1").run();
    run.assert_exit(1);
    run.assert_output_contains("host `host1` left the run: its before_slot hook");
    run.assert_output_contains("exited with status 9");
    run.assert_output_contains("slot two is broken");
    run.assert_output_contains("(slot 2)");
    run.assert_output_contains("no host was left to run it");
}

#[test]
fn exec_runs_on_every_host_and_every_slot_and_fails_if_one_fails() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let run = p.testbot(["exec", "--", "echo", "\"on $TESTBOT_HOST in $(basename \"$(dirname \"$PWD\")\")\""]).run();
    run.assert_exit(0);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        ["host1 | on host1 in testbot", "host2 | on host2 in testbot", "succeeded on all 2: host1, host2"],
        "{}",
        run.dump()
    );

    let run = p.testbot(["exec", "--per-slot", "--", "echo n=[$TEST_ENV_NUMBER] of $PARALLEL_TEST_GROUPS"]).run();
    run.assert_exit(0);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "host1#1 | n=[] of 2",
            "host1#2 | n=[2] of 2",
            "host2#1 | n=[] of 2",
            "host2#2 | n=[2] of 2",
            "succeeded on all 4: host1#1, host1#2, host2#1, host2#2",
        ],
        "{}",
        run.dump()
    );

    let run = p.testbot(["exec", "--", "test $TESTBOT_HOST = host1 || { echo nope; exit 5; }"]).run();
    run.assert_exit(1);
    run.assert_stdout_contains("host2 | nope");
    run.assert_stdout_contains("failed on 1 of 2:\n  host2: the command exited with status 5");
}
