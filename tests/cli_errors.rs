//! Usage and configuration errors: exit code 2, with a message that points at
//! the problem. Plus one check that a valid `testbot.toml` is obeyed.
//!
//! Fixtures used: rspec_basic (serial rspec: 18 examples, 2 failures,
//! 2 pending) and rspec_env (12 examples, 0 failures, 0 pending; see
//! tests/rspec_local.rs for the full table).

mod common;

use common::*;
use indoc::indoc;
use std::collections::BTreeSet;

const TYPO_CONFIG: &str = indoc! {"
    [local]
    slot = 2
"};

#[track_caller]
fn assert_points_at_typo(run: &Run) {
    run.assert_exit(2);
    // File, line and column, the key named, and the did-you-mean for the misspelt key.
    run.assert_output_contains("testbot.toml:2:1: unknown key `slot` in [local]; did you mean `slots`?");
    run.assert_output_contains("2 | slot = 2\n  | ^^^^");
}

#[test]
fn unknown_key_in_discovered_testbot_toml() {
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", TYPO_CONFIG);
    let report_path = p.fresh_path("report", "json");
    let run = p.testbot(["-n", "2"]).report_to(&report_path).run();
    assert_points_at_typo(&run);
    assert!(
        !p.path("tmp/testbot-runtime-rspec.log").exists(),
        "a configuration error must stop before any spec runs\n{}",
        run.dump()
    );
}

#[test]
fn unknown_key_in_config_given_with_c_flag() {
    let p = Project::new("rspec_basic");
    let config = p.outside("conf/testbot.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, TYPO_CONFIG).unwrap();
    let run = p.testbot(["-c", config.to_str().unwrap(), "-n", "2"]).run();
    assert_points_at_typo(&run);
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let missing = p.outside("does-not-exist.toml");
    let run = p.testbot(["-c", missing.to_str().unwrap()]).run();
    run.assert_exit(2);
    run.assert_output_contains(&format!("error: failed to read {}: No such file or directory", missing.display()));
}

#[test]
fn unknown_framework_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let run = p
        .testbot(["--framework", "nosuchframework", "-n", "1"])
        .run();
    run.assert_exit(2);
    run.assert_output_contains(
        "framework `nosuchframework` is not supported by this version of testbot (supported: rspec, minitest, test-unit, cucumber)",
    );
    assert!(
        !p.path("tmp/testbot-runtime-rspec.log").exists(),
        "ran specs anyway\n{}",
        run.dump()
    );
}

/// testbot.toml's `framework` is checked against the registered frameworks (the names come
/// from `framework`'s registry, given to the inventory by `commands`).
#[test]
fn unknown_framework_in_testbot_toml_points_at_the_line_and_lists_the_known_ones() {
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", "[project]\nframework = \"jest\"\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains(
        "testbot.toml:2:13: `framework` must be one of \"rspec\", \"minitest\", \"test-unit\", \"cucumber\", found a string \"jest\"",
    );
    run.assert_output_contains("2 | framework = \"jest\"\n  |             ^^^^^^");
    assert!(!p.path("tmp/testbot-runtime-rspec.log").exists(), "ran specs anyway\n{}", run.dump());
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let run = p.testbot(["--no-such-flag"]).run();
    run.assert_exit(2);
    run.assert_output_contains("error: unexpected argument '--no-such-flag' found");
    run.assert_output_contains("a similar argument exists: '--no-sync'");
}

#[test]
fn valid_config_sets_local_slots() {
    // `[local] slots = N` is the key the did-you-mean above points to; with no
    // -n on the command line it decides the number of local slots.
    let p = Project::new("rspec_env");
    p.write("testbot.toml", "[local]\nslots = 1\n");
    let out = p.out_dir("env-out");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(Vec::<&str>::new())
        .env("TESTBOT_FIXTURE_OUT_DIR", out.as_os_str())
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(0);
    report.assert_consistent();
    assert_eq!(report.totals(), totals(6, 12, 0, 0, 0));
    let hosts = report.hosts();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].name, "local");
    assert_eq!(hosts[0].slots, 1);
    let groups: BTreeSet<String> = read_json_dir(&out)
        .iter()
        .map(|r| {
            r["PARALLEL_TEST_GROUPS"]
                .as_str()
                .unwrap_or("<unset>")
                .to_string()
        })
        .collect();
    assert_eq!(groups, BTreeSet::from(["1".to_string()]));
}

// -- issue 27 item 5: values that used to fail only on a host ----------------

#[test]
fn env_names_a_host_shell_cannot_take_are_config_errors() {
    let p = Project::new("rspec_basic");
    for name in ["H2 SP", "$(id)"] {
        let toml = format!("[project.env]\n\"{name}\" = \"x\"\n");
        p.write("testbot.toml", &toml);
        let run = p.testbot(["list"]).run();
        run.assert_exit(2);
        run.assert_output_contains(&format!("testbot.toml:2:1: environment variable name {name:?} in `env` is not valid"));
    }
}

#[test]
fn local_slots_above_the_cap_need_allow_many_slots() {
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", "[local]\nslots = 500\n");
    let run = p.testbot(["spec/passing_spec.rb"]).run();
    run.assert_exit(2);
    run.assert_output_contains("testbot.toml:2:9: `slots` = 500 is more than 256, testbot's limit for this machine");
    run.assert_output_contains("add `allow_many_slots = true` to [local]");
    assert!(!p.path("tmp/testbot-runtime-rspec.log").exists(), "it ran:\n{}", run.dump());
    // With `allow_many_slots = true` the config is taken.
    p.write("testbot.toml", "[local]\nslots = 300\nallow_many_slots = true\n");
    let run = p.testbot(["list"]).run();
    run.assert_exit(0);
}

#[test]
fn the_same_machine_listed_twice_is_a_config_error_naming_both() {
    let p = Project::new("rspec_basic");
    let host = |name: &str| format!("[[host]]\nname = \"{name}\"\naddress = \"127.0.0.1\"\nport = 2299\nuser = \"ci\"\n\n");
    p.write("testbot.toml", &format!("{}{}", host("first"), host("second")));
    let run = p.testbot(["list"]).run();
    run.assert_exit(2);
    run.assert_output_contains(
        "testbot.toml:9:11: the [[host]] `second` is the same machine as the [[host]] `first` at line 1 (address `127.0.0.1`, port 2299 as user `ci`)",
    );
    assert!(!run.combined().contains("in use by other testbot runs"), "{}", run.dump());
}
