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

/// A passing file that prints, and a file with a passing, a failing and a pending example.
fn with_printing_and_mixed_files(p: &Project) {
    p.write("spec/prints_spec.rb", "RSpec.describe 'printer' do\n  it('prints') { puts 'said by a green spec'; expect(1).to eq 1 }\nend\n");
    p.write(
        "spec/mixed_spec.rb",
        "RSpec.describe 'mixed' do\n  it('passes') { expect(1).to eq 1 }\n  it('fails') { expect(1).to eq 2 }\n  it('waits') { pending 'not yet'; raise 'x' }\nend\n",
    );
}

#[test]
fn success_output_shows_a_green_specs_output_as_it_passes_or_at_the_end() {
    let p = Project::new("rspec_empty");
    with_printing_and_mixed_files(&p);
    let files = ["spec/prints_spec.rb"];
    let line = "  | said by a green spec";
    // Never by default, even with every status level.
    let run = p.testbot(["-n", "2", "--status-level", "all", "--final-status-level", "all"].iter().chain(&files)).run();
    run.assert_exit(0);
    assert!(!run.combined().contains("said by a green spec"), "{}", run.dump());
    // immediate: under the file's line, before the summary.
    let run = p.testbot(["-n", "2", "--success-output", "immediate"].iter().chain(&files)).run();
    run.assert_exit(0);
    let (during, summary) = run.stdout.split_once("────").unwrap_or_else(|| panic!("{}", run.dump()));
    assert!(during.contains("spec/prints_spec.rb (1 example)\n--- spec/prints_spec.rb (local slot "), "{}", run.dump());
    assert!(during.contains(&format!("  output:\n{line}\n")), "{}", run.dump());
    assert!(!summary.contains(line), "{}", run.dump());
    // final, from testbot.toml's profile: in the summary only.
    p.write("testbot.toml", "[profile.default]\nsuccess_output = \"final\"\n");
    let run = p.testbot(["-n", "2"].iter().chain(&files)).run();
    run.assert_exit(0);
    let (during, summary) = run.stdout.split_once("────").unwrap_or_else(|| panic!("{}", run.dump()));
    assert!(!during.contains(line), "{}", run.dump());
    assert!(summary.contains("Output of passing files:\n--- spec/prints_spec.rb (local slot "), "{}", run.dump());
    assert!(summary.contains(line), "{}", run.dump());
    // A bad value is refused at its line.
    p.write("testbot.toml", "[profile.default]\nsuccess_output = \"sometimes\"\n");
    let run = p.testbot(["-n", "2"].iter().chain(&files)).run();
    run.assert_exit(2);
    assert!(run.stderr.contains("testbot.toml:2:") && run.stderr.contains("success_output"), "{}", run.dump());
}

#[test]
fn the_documentation_format_gives_a_line_per_example_and_rspecs_own_is_taken_over() {
    let p = Project::new("rspec_empty");
    with_printing_and_mixed_files(&p);
    let expected = "\n         mixed passes\n         mixed fails (FAILED - 1)\n         mixed waits (PENDING: not yet)\n";
    for args in [&["--format", "documentation"][..], &["--", "--format", "documentation"], &["--", "-fd"]] {
        let all: Vec<&str> = ["-n", "2", "spec/mixed_spec.rb", "spec/prints_spec.rb"].iter().chain(args).copied().collect();
        let run = p.testbot(all).run();
        run.assert_exit(1);
        let out = &run.stdout;
        assert!(out.contains(&format!("spec/mixed_spec.rb (3 examples, 1 failure, 1 pending){expected}")), "{args:?}\n{}", run.dump());
        assert!(out.contains("spec/prints_spec.rb (1 example)\n         printer prints\n"), "{args:?}\n{}", run.dump());
        // No batch prints RSpec's own summary into testbot's.
        assert!(!out.contains("Finished in") && !out.contains("examples, 1 failure\n"), "{args:?}\n{}", run.dump());
    }
}

// ---------------------------------------------------------------------------
// Item 6: start-up
// ---------------------------------------------------------------------------

#[test]
fn a_slot_runs_before_slot_at_its_first_batch_and_one_with_no_work_never() {
    let p = Project::new("rspec_empty");
    with_slow_and_quick_files(&p);
    let log = p.outside("hooks.log");
    let hooks = "[hooks]\nbefore_run = \"echo before_run >> \\\"$HOOK_LOG\\\"\"\nbefore_slot = \"echo before_slot [$TEST_ENV_NUMBER] >> \\\"$HOOK_LOG\\\"\"\n";
    p.write("testbot.toml", hooks);
    let run = p.testbot(["-n", "2", "spec/quick_0_spec.rb"]).env("HOOK_LOG", &log).run();
    run.assert_exit(0);
    let lines = std::fs::read_to_string(&log).unwrap();
    let slot_lines: Vec<&str> = lines.lines().filter(|l| l.starts_with("before_slot")).collect();
    assert_eq!(slot_lines.len(), 1, "one file, one slot used: one before_slot\n{lines}\n{}", run.dump());
    assert_eq!(lines.lines().filter(|l| *l == "before_run").count(), 1, "{lines}");
    // Every slot that runs a batch runs it first, once: 8 files a batch each on 2 slots.
    std::fs::remove_file(&log).unwrap();
    let run = p.testbot(["-n", "2"]).env("HOOK_LOG", &log).env("TESTBOT_TUNING", "max_batch_files=1").run();
    run.assert_exit(0);
    let mut lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["before_run", "before_slot [2]", "before_slot []"], "{}", run.dump());
}

/// A host that accepts TCP and never says a word (no SSH banner): testbot's connect to it waits
/// for its timeout (10 s). The listener holds what it accepted until the test ends.
fn silent_host() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_silent_host_keeps_no_healthy_host_waiting_and_the_phases_are_said_as_they_happen() {
    let bed = common::sshd::Testbed::start(1);
    let p = Project::new("rspec_empty");
    with_slow_and_quick_files(&p);
    let port = silent_host();
    let key = bed.client_key().to_string_lossy().into_owned();
    let silent = format!("[[host]]\nname = \"silent\"\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"nobody\"\nidentity = {key:?}\nslots = 2\n");
    let hooks = "[hooks]\nbefore_run = \"true\"\n";
    // No slot of this machine's: the files can only run on host1 (slot leases off, or a run
    // with no local slot waits for every host).
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}slot_leases = false\n\n{silent}\n{hooks}", bed.inventory_toml(2)));
    let report = p.fresh_path("report", "json");
    // One stream, in the order written (the lines on stdout, warnings on stderr).
    let run = p.sh(&format!("exec {TESTBOT} --report-json {} 2>&1", report.display()), &[]);
    let out = run.stdout.clone();
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let lines: Vec<&str> = out.lines().collect();
    let at = |what: &str| lines.iter().position(|l| l.contains(what)).unwrap_or_else(|| panic!("no `{what}`:\n{out}"));
    // The phases, in order, before the run's first line: on a pipe, as in a CI log.
    let connecting = at("testbot: connecting to 2 hosts (host1, silent)");
    let connected = at("testbot: host1: connected (2 slots), syncing the project");
    let synced = at("testbot: host1: synced, ready");
    let hook = at("testbot: host1: running the before_run hook");
    let started = at("testbot: running 8 files on 2 slots (host1 ×2) with rspec");
    assert!(connecting < connected && connected < synced && synced < hook && hook < started, "{out}");
    // Every file ran on host1, all of them before testbot gave up on the silent host (its
    // connect timeout, or the run's end): main waited for it first.
    let files: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("    PASS [")).map(|(i, _)| i).collect();
    assert_eq!(files.len(), 8, "{out}");
    let given_up = at("warning: host `silent` is left out of this run");
    assert!(started < files[0] && files[7] < given_up, "{out}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let hosts: Vec<&str> = json["files"].as_array().unwrap().iter().map(|f| f["host"].as_str().unwrap_or("")).collect();
    assert!(hosts.iter().all(|h| *h == "host1"), "{hosts:?}");
}
