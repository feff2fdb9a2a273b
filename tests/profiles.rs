//! Issue 31 item 9: `[profile.NAME]` tables in testbot.toml (`--profile`, `ci` on CI) and runs
//! started in a subfolder of the project. The real binary and real RSpec on a copy of the
//! `rspec_empty` fixture (a spec_helper, no spec file) with the spec files each test writes.

mod common;

use common::*;

/// A spec that fails the first time it runs in this project and passes after: a retry passes it.
const FLAKY: &str = r#"RSpec.describe "flaky" do
  it "passes the second time" do
    mark = File.expand_path("../flaky.mark", __dir__)
    first = !File.exist?(mark)
    File.write(mark, "") if first
    expect(first).to eq(false)
  end
end
"#;

fn failing(name: &str) -> String {
    format!("RSpec.describe {name:?} do\n  it(\"fails\") {{ expect(1).to eq(2) }}\nend\n")
}

fn flaky_project(toml: &str) -> Project {
    let p = Project::new("rspec_empty");
    p.write("spec/flaky_spec.rb", FLAKY);
    p.write("testbot.toml", toml);
    p
}

/// A run of the flaky project with `args`, `CI` as given (`None`: unset), from a fresh start.
fn run_flaky(p: &Project, args: &[&str], ci: Option<&str>) -> Run {
    let _ = std::fs::remove_file(p.path("flaky.mark"));
    let mut testbot = p.testbot(args);
    testbot = match ci {
        Some(value) => testbot.env("CI", value),
        None => testbot.env("CI", ""),
    };
    testbot.run()
}

#[test]
fn a_profiles_retries_take_effect_and_the_flag_overrides_them() {
    let p = flaky_project("[profile.default]\nretries = 1\n");
    let run = run_flaky(&p, &["-n", "1"], None);
    run.assert_exit(0);
    assert!(run.combined().contains("flaky"), "the retried example is reported flaky\n{}", run.dump());
    let run = run_flaky(&p, &["-n", "1", "--retries", "0"], None);
    run.assert_exit(1);
    let run = p.testbot(["-n", "1"]).env("TESTBOT_RETRIES", "0").env("CI", "");
    let _ = std::fs::remove_file(p.path("flaky.mark"));
    run.run().assert_exit(1);
}

#[test]
fn a_profiles_fail_fast_stops_the_run_and_fail_fast_0_turns_it_off() {
    let p = Project::new("rspec_empty");
    for name in ["a", "b", "c"] {
        p.write(&format!("spec/{name}_spec.rb"), &failing(name));
    }
    p.write("testbot.toml", "[profile.default]\nfail_fast = 1\n");
    let one_file_a_batch = |args: &[&str]| {
        let report = p.fresh_path("report", "json");
        p.testbot(args).env("CI", "").env("TESTBOT_TUNING", "max_batch_files=1").report_to(&report).run_with_report()
    };
    let (run, report) = one_file_a_batch(&["-n", "1"]);
    run.assert_exit(1);
    run.assert_output_contains("Stopped by --fail-fast at 1 failure");
    assert_eq!(report.totals().counts().examples, 1, "{}", run.dump());
    let (run, report) = one_file_a_batch(&["-n", "1", "--fail-fast=0"]);
    run.assert_exit(1);
    assert_eq!(report.totals().counts().examples, 3, "{}", run.dump());
}

#[test]
fn ci_picks_the_ci_profile_unless_ci_is_false_or_another_profile_is_named() {
    let p = flaky_project("[profile.ci]\nretries = 1\n");
    run_flaky(&p, &["-n", "1"], Some("true")).assert_exit(0);
    run_flaky(&p, &["-n", "1"], Some("false")).assert_exit(1);
    run_flaky(&p, &["-n", "1"], None).assert_exit(1);
    run_flaky(&p, &["-n", "1", "--profile", "default"], Some("true")).assert_exit(1);
    run_flaky(&p, &["-n", "1", "--profile", "ci"], None).assert_exit(0);
}

#[test]
fn an_unknown_profile_is_a_usage_error_naming_the_known_ones() {
    let p = flaky_project("[profile.ci]\nretries = 1\n\n[profile.nightly]\nretries = 3\n");
    let run = run_flaky(&p, &["-n", "1", "--profile", "nigthly"], None);
    run.assert_exit(2);
    run.assert_output_contains("unknown profile `nigthly`; did you mean `nightly`?");
    run.assert_output_contains("default, ci, nightly");
    assert!(!p.path("flaky.mark").exists(), "nothing ran");
}

#[test]
fn an_unknown_key_in_a_profile_is_an_error_at_its_line() {
    let p = flaky_project("[profile.default]\nretries = 1\n\n[profile.ci]\nretires = 2\n");
    let run = run_flaky(&p, &["-n", "1"], None);
    run.assert_exit(2);
    run.assert_output_contains("testbot.toml:5:1");
    run.assert_output_contains("unknown key `retires` in a [profile.NAME]; did you mean `retries`?");
}

/// `spec/models` holds three files (a failure, a pending example), `spec/` one more failing one.
fn project_with_models() -> Project {
    let p = Project::new("rspec_empty");
    p.write("spec/models/user_spec.rb", "RSpec.describe \"user\" do\n  it(\"a\") { expect(1).to eq(1) }\n  it(\"b\") { expect(1).to eq(2) }\nend\n");
    p.write("spec/models/post_spec.rb", "RSpec.describe \"post\" do\n  it(\"a\") { expect(1).to eq(1) }\n  it(\"later\")\nend\n");
    p.write("spec/models/deep/tag_spec.rb", "RSpec.describe \"tag\" do\n  it(\"a\") { expect(1).to eq(1) }\nend\n");
    p.write("spec/other_spec.rb", &failing("other"));
    p
}

#[test]
fn a_run_from_a_subfolder_runs_that_folders_files_at_the_project_root() {
    let p = project_with_models();
    let serial = p.serial_rspec(&["spec/models"]);
    assert_eq!(serial.counts, counts(5, 1, 1));
    let report = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2"]).env("CI", "").cwd(p.path("spec/models")).report_to(&report).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals().counts(), serial.counts, "{}", run.dump());
    assert_eq!(
        report.file_paths(),
        sorted(&["spec/models/deep/tag_spec.rb", "spec/models/post_spec.rb", "spec/models/user_spec.rb"]),
        "{}",
        run.dump()
    );
    // A file given from there, relative to there.
    let report = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "1", "post_spec.rb"]).env("CI", "").cwd(p.path("spec/models")).report_to(&report).run_with_report();
    run.assert_exit(0);
    assert_eq!(report.file_paths(), vec!["spec/models/post_spec.rb".to_string()], "{}", run.dump());
}

#[test]
fn a_profiles_failure_output_takes_effect_and_the_flag_overrides_it() {
    let p = Project::new("rspec_empty");
    p.write("spec/a_spec.rb", &failing("a"));
    p.write("testbot.toml", "[profile.default]\nfailure_output = \"never\"\n");
    let run = p.testbot(["-n", "1"]).env("CI", "").run();
    run.assert_exit(1);
    assert!(!run.combined().contains("got: 1"), "no failure details\n{}", run.dump());
    let run = p.testbot(["-n", "1", "--failure-output", "immediate"]).env("CI", "").run();
    run.assert_exit(1);
    run.assert_output_contains("got: 1");
}
