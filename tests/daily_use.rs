//! Issue 31, items 3, 5 and 6 (session 27), with the real binary: one profile for the whole run
//! instead of each batch's partial one, the output of passing specs when asked for, and the
//! start-up phases (connect, sync, hooks) said as they happen.
//!
//! No wall time is asserted: what is slow is made distinctly slow (sleeps), and order is read
//! from the output and the fixtures' own records.

mod common;

use common::*;

/// Five plain files of two quick examples each, and three whose one example sleeps: 0.6 s,
/// 0.45 s and 0.3 s, so the three slowest examples of the run are known, in order.
fn with_slow_and_quick_files(p: &Project) {
    for i in 0..5 {
        p.write(
            &format!("spec/quick_{i}_spec.rb"),
            &format!("RSpec.describe 'quick {i}' do\n  it('is quick') {{ expect(1).to eq 1 }}\n  it('is quick too') {{ expect(2).to eq 2 }}\nend\n"),
        );
    }
    for (name, seconds) in [("slowest", 0.6), ("slower", 0.45), ("slow", 0.3)] {
        p.write(
            &format!("spec/{name}_spec.rb"),
            &format!("RSpec.describe '{name}' do\n  it 'sleeps {seconds}s' do\n    sleep {seconds}\n    expect(1).to eq 1\n  end\nend\n"),
        );
    }
}

/// The rspec_empty fixture (helpers, no spec file) with the files above and `--profile 3` in `.rspec`.
fn profiled_project() -> Project {
    let p = Project::new("rspec_empty");
    with_slow_and_quick_files(&p);
    p.write(".rspec", "--require spec_helper\n--profile 3\n");
    p
}

#[test]
fn profile_in_dot_rspec_gives_one_list_of_the_runs_slowest_examples() {
    let p = profiled_project();
    // One file per batch: 8 batches on 2 slots, each of which would print its own list.
    let run = p.testbot(["-n", "2"]).env("TESTBOT_TUNING", "max_batch_files=1").run();
    run.assert_exit(0);
    let out = run.combined();
    assert_eq!(out.matches("slowest examples").count(), 1, "one list for the run\n{}", run.dump());
    assert!(!out.contains("Top 10"), "{}", run.dump());
    let list: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("Top 3 slowest examples")).skip(1).take(6).collect();
    let expected = [
        ("slowest sleeps 0.6s", "./spec/slowest_spec.rb:2"),
        ("slower sleeps 0.45s", "./spec/slower_spec.rb:2"),
        ("slow sleeps 0.3s", "./spec/slow_spec.rb:2"),
    ];
    for (i, (description, location)) in expected.iter().enumerate() {
        assert_eq!(list[2 * i].trim(), *description, "{list:?}\n{}", run.dump());
        assert!(list[2 * i + 1].trim().ends_with(&format!(" seconds {location}")), "{list:?}\n{}", run.dump());
    }
    assert_eq!(out.matches("slowest files:").count(), 1, "{}", run.dump());
    assert!(out.contains("Top 3 slowest files:\n  spec/slowest_spec.rb\n"), "{}", run.dump());
    assert!(!out.contains("Run options:"), "{}", run.dump());
}

#[test]
fn run_options_of_split_files_are_not_printed_per_batch() {
    let p = Project::new("rspec_empty");
    with_slow_and_quick_files(&p);
    // Examples by line: RSpec says `Run options: include {:locations=>…}` in every batch.
    let run = p.testbot(["-n", "2", "spec/quick_0_spec.rb:2", "spec/quick_1_spec.rb:3", "spec/slow_spec.rb:2"]).run();
    run.assert_exit(0);
    assert!(!run.combined().contains("Run options:"), "{}", run.dump());
}

#[test]
fn the_summary_counts_the_seeds_and_the_batches_that_had_them() {
    let p = Project::new("rspec_empty");
    with_slow_and_quick_files(&p);
    // A random order set in the helper, with a seed of each slot's own: two seeds, many batches.
    p.write("spec/spec_helper.rb", "RSpec.configure do |c|\n  c.order = :random\n  c.seed = 1000 + ENV['TEST_ENV_NUMBER'].to_i\nend\n");
    let report = p.fresh_path("report", "json");
    let (run, json) = p.testbot(["-n", "2"]).env("TESTBOT_TUNING", "max_batch_files=1").report_to(&report).run_with_report();
    run.assert_exit(0);
    let batches = json.json["batches"].as_array().expect("batches").iter().filter(|b| b["seed"].is_u64()).count();
    assert!(batches > 2, "{}", run.dump());
    let line = format!("Randomized with 2 different seeds over {batches} batches (");
    assert!(run.combined().contains(&line), "{line}\n{}", run.dump());
}
