//! Issue 32's fixed cost over SSH: a host gets no fork server where no slot of the run can get a
//! second batch (the batches run as fresh processes, as with `--no-fork`), and still gets one
//! where a slot can. Shown by the processes' own records on the sshd hosts: each example writes
//! the command lines of its process's parent chain, and the project's Gemfile writes the program
//! of every Ruby that loads the bundle (the fork server's boot among them).

mod common;

use common::sshd::{Options, Testbed};
use common::*;
use std::fs;
use std::time::Duration;

/// Each example records, in its host's home, its parents' command lines (itself first).
const CHAIN: &str = r##"
RSpec.describe "Chain" do
  it "records its parents" do
    pid = Process.pid
    names = []
    8.times do
      names << File.read("/proc/#{pid}/cmdline").tr("\0\n", "  ").strip
      pid = File.read("/proc/#{pid}/stat").split(") ").last.split(" ")[1].to_i
      break if pid <= 1
    rescue SystemCallError
      break
    end
    File.open(File.join(Dir.home, "chains.txt"), "a") { |f| f.puts names.join(" <- ") }
  end
end
"##;

/// Every Ruby that loads the bundle (`bundle exec`) writes its program to its host's home.
const GEMFILE: &str = "File.open(File.join(Dir.home, 'bundled.txt'), 'a') { |f| f.puts $0 }\ngem 'rspec'\n";

/// The hosts' records, all hosts together: (the examples' parent chains, the bundle's programs).
fn records(bed: &Testbed) -> (Vec<String>, Vec<String>) {
    let read = |name: &str| -> Vec<String> {
        let text = bed.hosts().iter().map(|h| fs::read_to_string(h.home.join(name)).unwrap_or_default()).collect::<String>();
        text.lines().map(str::to_string).collect()
    };
    (read("chains.txt"), read("bundled.txt"))
}

fn clear(bed: &Testbed) {
    for h in bed.hosts() {
        let _ = fs::remove_file(h.home.join("chains.txt"));
        let _ = fs::remove_file(h.home.join("bundled.txt"));
    }
}

fn project_on(bed: &Testbed, slots_per_host: usize, files: usize) -> Project {
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(slots_per_host));
    p.write("Gemfile", GEMFILE);
    for i in 1..=files {
        p.write(&format!("spec/chain{i}_spec.rb"), CHAIN);
    }
    p
}

#[test]
fn a_one_file_run_over_two_hosts_starts_no_fork_server_and_gives_the_verdict_of_no_fork() {
    let bed = Testbed::start(2);
    let p = project_on(&bed, 2, 1);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/chain1_spec.rb"]).env("TESTBOT_NO_FORK", "0").report_to(&report_path).run_with_report();
    run.assert_exit(0);
    run.assert_output_contains("1 file on 4 slots: 1 example, 0 failures");
    let (chains, bundled) = records(&bed);
    assert_eq!(chains.len(), 1, "{chains:?}\n{}", run.dump());
    assert!(!chains[0].contains("testbot_fork.rb"), "the batch was forked from a fork server: {chains:?}");
    assert!(!chains[0].contains("testbot_client.rb"), "the batch went through a client: {chains:?}");
    assert!(bundled.iter().all(|b| !b.contains("testbot_fork.rb")), "a fork server started: {bundled:?}\n{}", run.dump());
    assert!(!run.combined().contains("fork server"), "{}", run.dump());

    // The same verdict and counts as `--no-fork`.
    clear(&bed);
    let report_path = p.fresh_path("report", "json");
    let (fresh_run, fresh) = p.testbot(["--no-fork", "spec/chain1_spec.rb"]).report_to(&report_path).run_with_report();
    fresh_run.assert_exit(0);
    assert_eq!(report.totals(), fresh.totals(), "{}", run.dump());
    assert_eq!(report.file("spec/chain1_spec.rb").status, fresh.file("spec/chain1_spec.rb").status);
}

#[test]
fn a_run_with_more_files_than_slots_still_forks() {
    let bed = Testbed::start(2);
    let p = project_on(&bed, 1, 3);
    let files: Vec<String> = (1..=3).map(|i| format!("spec/chain{i}_spec.rb")).collect();
    let run = p.testbot(files).env("TESTBOT_NO_FORK", "0").env("TESTBOT_TUNING", "max_batch_files=1").run();
    run.assert_exit(0);
    run.assert_output_contains("3 files on 2 slots: 3 examples, 0 failures");
    let (chains, bundled) = records(&bed);
    assert_eq!(chains.len(), 3, "{chains:?}\n{}", run.dump());
    assert!(chains.iter().all(|c| c.contains("testbot_fork.rb")), "a batch ran as a fresh process: {chains:?}\n{}", run.dump());
    assert!(bundled.iter().any(|b| b.contains("testbot_fork.rb")), "no fork server loaded the bundle: {bundled:?}");
}

#[test]
fn each_host_is_leased_as_it_gets_ready_not_once_every_host_is() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let files: Vec<String> = (1..=6).map(|i| format!("spec/chain{i}_spec.rb")).collect();
    for f in &files {
        p.write(f, CHAIN);
    }
    // host1 answers nothing until host2 holds its lease: with no slot of this machine's and
    // slot leases on, host2 is leased while host1 is still connecting.
    bed.stop_host(0);
    let report_path = p.fresh_path("report", "json");
    let running = p.testbot(&files).report_to(&report_path).spawn();
    let leased = || bed.user_processes(1).iter().any(|(_, c)| c.contains("testbot-lease"));
    let host2_leased = wait_until(Duration::from_secs(60), leased);
    bed.cont_host(0);
    let run = running.finish(Duration::from_secs(120));
    assert!(host2_leased, "host2 was never leased while host1 was stopped\n{}", run.dump());
    // host1, resumed once host2 was leased, was still getting ready: it is in the run.
    run.assert_exit(0);
    let report = Report::read(&report_path, &run);
    let mut hosts: Vec<String> = report.hosts().iter().map(|h| h.name.clone()).collect();
    hosts.sort();
    assert_eq!(hosts, ["host1", "host2"], "{}", run.dump());
    assert!(!run.combined().contains("left out"), "{}", run.dump());
}

/// A test bed whose hosts record every command they run (`Options::record_commands`).
fn recording(hosts: usize) -> Testbed {
    Testbed::start_with(hosts, Options { record_commands: true, ..Options::default() })
}

/// The coverage fetch (`fleet::coverage::fetch`): the one command that reads a host's stored results.
fn fetches(commands: &[String]) -> usize {
    commands.iter().filter(|c| c.contains("/*.json; do")).count()
}

/// Runs `files` once to sync the hosts, forgets what they ran, and runs them again: the second
/// run, whose copies are up to date (the fixed cost of every run after the first).
fn second_run(bed: &Testbed, p: &Project, files: &[&str]) -> Run {
    p.testbot(files.iter().copied()).run().assert_exit(0);
    for h in bed.hosts() {
        h.clear_commands();
    }
    let run = p.testbot(files.iter().copied()).run();
    run.assert_exit(0);
    run
}

#[test]
fn a_run_whose_batches_store_no_coverage_asks_no_host_for_it() {
    let bed = recording(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let run = second_run(&bed, &p, &["spec/passing_spec.rb"]);
    run.assert_output_contains("1 file on 4 slots");
    for h in bed.hosts() {
        let commands = h.commands();
        assert!(commands.iter().any(|c| c.contains("testbot-tmpdir")), "{}: {commands:#?}", h.name);
        assert_eq!(fetches(&commands), 0, "{} was asked for coverage: {commands:#?}\n{}", h.name, run.dump());
    }
}

#[test]
fn only_a_host_whose_batch_stored_coverage_is_asked_for_it_and_the_coverage_is_merged() {
    let bed = recording(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    p.write("lib/shared.rb", "module Shared\n  def self.one\n    1\n  end\nend\n");
    p.write("spec/shared_spec.rb", "require_relative '../lib/shared'\nRSpec.describe(Shared) { it('is one') { expect(Shared.one).to eq(1) } }\n");
    let helper = fs::read_to_string(p.path("spec/spec_helper.rb")).unwrap();
    p.write("spec/spec_helper.rb", &format!("require 'simplecov'\nSimpleCov.start {{ add_filter '/spec/' }}\n{helper}"));
    let run = second_run(&bed, &p, &["spec/shared_spec.rb"]);
    run.assert_stdout_contains("merged from 1 batch");
    run.assert_stdout_contains("3 / 3 LOC (100.0%) covered");
    let asked: Vec<usize> = bed.hosts().iter().map(|h| fetches(&h.commands())).collect();
    let ran: Vec<bool> = bed.hosts().iter().map(|h| h.commands().iter().any(|c| c.contains("spec/shared_spec.rb"))).collect();
    assert_eq!(ran.iter().filter(|r| **r).count(), 1, "{ran:?}\n{}", run.dump());
    assert_eq!(asked, ran.iter().map(|r| usize::from(*r)).collect::<Vec<_>>(), "asked for coverage: {asked:?}, ran the batch: {ran:?}\n{}", run.dump());
}

/// A word of the command that asks a host for its cores (`nproc 2>/dev/null || getconf …`), and
/// of no other (the run directory's Ruby says `Etc.nprocessors`).
const NPROC: &str = "getconf";

#[test]
fn a_hosts_cores_are_asked_beside_its_sync_and_its_run_directory() {
    let bed = recording(1);
    let p = Project::new("rspec_basic");
    // `slots = "auto"`: its slots are its cores (a host with a number of slots runs no `nproc`).
    p.write("testbot.toml", &bed.inventory_toml(2).replace("slots = 2", "slots = \"auto\""));
    let cores = std::thread::available_parallelism().unwrap().get();
    let host = &bed.hosts()[0];
    // Its `nproc` waits until the keeper of the run directory and the sync's probe have started.
    host.hold(NPROC);
    let running = p.testbot(["spec/passing_spec.rb"]).spawn();
    let started = |word: &str| host.commands().iter().any(|c| c.contains(word));
    let beside = wait_until(Duration::from_secs(60), || started("testbot-tmpdir") && started("digest:"));
    host.release(NPROC);
    let run = running.finish(Duration::from_secs(120));
    assert!(beside, "nothing started while the host's cores were asked for: {:#?}\n{}", host.commands(), run.dump());
    run.assert_exit(0);
    run.assert_output_contains(&format!("1 file on {cores} slot"));
}

#[test]
fn a_host_with_a_number_of_slots_gets_its_cores_from_its_run_directorys_ruby_not_nproc() {
    let bed = recording(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let cores = std::thread::available_parallelism().unwrap().get();
    p.testbot(["spec/passing_spec.rb"]).run().assert_exit(0);
    for h in bed.hosts() {
        h.clear_commands();
    }
    let run = p.testbot(["spec/passing_spec.rb"]).env("RUST_LOG", "testbot=debug").run();
    run.assert_exit(0);
    run.assert_output_contains("1 file on 4 slots");
    for h in bed.hosts() {
        let commands = h.commands();
        assert!(commands.iter().any(|c| c.contains("testbot-tmpdir")), "{}: {commands:#?}", h.name);
        assert!(!commands.iter().any(|c| c.contains(NPROC)), "{} ran a command for its cores: {commands:#?}\n{}", h.name, run.dump());
        // What its runners' boots are limited to (`boot_parallelism`): the host's cores all the same.
        let said = format!("host={} cores={cores} slots=2", h.name);
        assert!(run.combined().contains(&said), "no `{said}` in the log\n{}", run.dump());
    }
}

#[test]
fn a_hosts_run_directory_and_slot_leases_come_from_one_command() {
    let bed = recording(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    let run = second_run(&bed, &p, &["spec/passing_spec.rb"]);
    run.assert_output_contains("1 file on 4 slots");
    for h in bed.hosts() {
        let commands = h.commands();
        let keepers: Vec<&String> = commands.iter().filter(|c| c.contains("testbot-tmpdir")).collect();
        let leases: Vec<&String> = commands.iter().filter(|c| c.contains("testbot-lease")).collect();
        assert_eq!((keepers.len(), leases.len()), (1, 1), "{}: {commands:#?}\n{}", h.name, run.dump());
        assert_eq!(keepers, leases, "{}: the run directory and the leases came from two commands", h.name);
    }

    // `[ssh] slot_leases = false`: the directory, and no lease.
    p.write("testbot.toml", &bed.inventory_toml(2).replace("[ssh]\n", "[ssh]\nslot_leases = false\n"));
    let run = second_run(&bed, &p, &["spec/passing_spec.rb"]);
    run.assert_output_contains("1 file on 4 slots");
    for h in bed.hosts() {
        let commands = h.commands();
        assert_eq!(commands.iter().filter(|c| c.contains("testbot-tmpdir")).count(), 1, "{}: {commands:#?}", h.name);
        assert!(!commands.iter().any(|c| c.contains("testbot-lease")), "{}: {commands:#?}", h.name);
    }
}
