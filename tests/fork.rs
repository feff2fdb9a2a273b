//! The fork server: one per host loads Bundler and the framework's core, and every batch is a
//! child forked from it. Checked on rspec_basic plus a probe spec that records, in the project's
//! tmp/, what its process saw: totals and per-file results as with fresh processes (and serial
//! rspec), each slot's own environment in the child, `--no-fork` running fresh processes, a
//! batch killed on its timeout taking its child and grandchild along, and nothing of the run
//! left once it is over.

mod common;

use common::sshd::Testbed;
use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// One line per spec file run: `pid program TEST_ENV_NUMBER TMPDIR`.
const PROBE: &str = r#"
RSpec.describe "Probe" do
  it "records its process" do
    Dir.mkdir("tmp") unless File.directory?("tmp")
    File.open("tmp/probe.txt", "a") do |f|
      f.puts [Process.pid, $PROGRAM_NAME, ENV["TEST_ENV_NUMBER"].inspect, ENV["TMPDIR"]].join(" ")
    end
    expect(ENV["TMPDIR"].nil? || File.directory?(ENV["TMPDIR"])).to be(true)
  end
end
"#;

fn probe_lines(p: &Project) -> Vec<Vec<String>> {
    fs::read_to_string(p.path("tmp/probe.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie has exited: only a process that still runs counts.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    !alive(pid)
}

#[test]
fn forked_batches_give_the_verdict_of_fresh_processes() {
    let p = Project::new("rspec_basic");
    for i in 0..4 {
        p.write(&format!("spec/probe_{i}_spec.rb"), PROBE);
    }
    let serial = p.serial_rspec(&[]);
    let _ = fs::remove_file(p.path("tmp/probe.txt"));

    let report_path = p.fresh_path("report", "json");
    let (fresh_run, fresh) = p.testbot(["-n", "2", "--no-fork"]).report_to(&report_path).run_with_report();
    fresh_run.assert_exit(1);
    let fresh_probes = probe_lines(&p);
    fs::remove_file(p.path("tmp/probe.txt")).unwrap();

    let report_path = p.fresh_path("report", "json");
    let (run, forked) = p.testbot(["-n", "2"]).env("TESTBOT_NO_FORK", "0").report_to(&report_path).run_with_report();
    run.assert_exit(1);
    forked.assert_consistent();
    assert!(!run.combined().contains("fresh processes"), "{}", run.dump());
    assert_eq!(forked.totals(), fresh.totals(), "{}", run.dump());
    assert_eq!(forked.totals().counts(), serial.counts);
    let per_file = serial.per_file();
    for row in forked.files() {
        assert_eq!(row.counts(), per_file.get(&row.path).cloned().unwrap_or_default(), "{}", row.path);
        assert_eq!(row.status, fresh.file(&row.path).status, "{}", row.path);
    }
    run.assert_stdout_contains("rspec ./spec/math_spec.rb:6 # Math adds wrongly");

    // Fresh processes are `rspec` executables; forked batches are children of the server that
    // run RSpec as `rspec` would, each with its slot's environment.
    assert_eq!(fresh_probes.len(), 4);
    assert!(fresh_probes.iter().all(|l| l[1] != "rspec"), "{fresh_probes:?}");
    let probes = probe_lines(&p);
    assert_eq!(probes.len(), 4, "{probes:?}");
    for line in &probes {
        assert_eq!(line[1], "rspec", "not forked: {probes:?}");
        let slot = match line[2].as_str() {
            "\"\"" => 1,
            "\"2\"" => 2,
            other => panic!("TEST_ENV_NUMBER {other} in {probes:?}"),
        };
        assert!(line[3].starts_with('/') && line[3].ends_with(&format!("/tmp/slot-{slot}")), "{probes:?}");
    }
}

#[test]
fn a_batch_killed_on_its_timeout_takes_its_child_and_grandchild_along() {
    let p = Project::new("rspec_basic");
    p.write(
        "spec/hang_spec.rb",
        r#"
RSpec.describe "Hang" do
  it "starts a process and sleeps" do
    Dir.mkdir("tmp") unless File.directory?("tmp")
    child = spawn("sleep", "300")
    File.write("tmp/pids.txt", [Process.pid, Process.ppid, child].join(" "))
    sleep
  end
end
"#,
    );
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p
        .testbot(["-n", "2", "--file-timeout", "2", "spec/hang_spec.rb", "spec/passing_spec.rb"])
        .env("TESTBOT_NO_FORK", "0")
        .report_to(&report_path)
        .run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file("spec/hang_spec.rb").status, "errored", "{}", run.dump());
    assert_eq!(report.file("spec/passing_spec.rb").status, "passed", "{}", run.dump());
    // The last attempt's processes: the batch's child, its keeper and what the spec started.
    let pids: Vec<u32> = fs::read_to_string(p.path("tmp/pids.txt")).unwrap().split(' ').map(|s| s.parse().unwrap()).collect();
    for pid in &pids {
        assert!(gone_within(*pid, Duration::from_secs(10)), "process {pid} of {pids:?} still runs\n{}", run.dump());
    }
}

#[test]
fn nothing_of_the_run_is_left_once_it_is_over() {
    let p = Project::new("rspec_basic");
    p.write(
        "spec/server_spec.rb",
        r#"
RSpec.describe "Server" do
  it "records its keeper and server" do
    Dir.mkdir("tmp") unless File.directory?("tmp")
    keeper = Process.ppid
    server = File.read("/proc/#{keeper}/stat").split(") ").last.split(" ")[1]
    File.write("tmp/pids.txt", [keeper, server].join(" "))
  end
end
"#,
    );
    // More files than slots: the slot gets a second batch, so this machine gets a fork server.
    let run = p.testbot(["-n", "1", "spec/server_spec.rb", "spec/passing_spec.rb"]).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    let pids: Vec<u32> = fs::read_to_string(p.path("tmp/pids.txt")).unwrap().split(' ').map(|s| s.parse().unwrap()).collect();
    let server = fs::read_to_string(format!("/proc/{}/cmdline", pids[1])).unwrap_or_default();
    assert!(server.is_empty() || server.contains("testbot_fork.rb"), "the keeper's parent is the fork server: {server:?}");
    for pid in &pids {
        assert!(gone_within(*pid, Duration::from_secs(10)), "process {pid} of {pids:?} still runs\n{}", run.dump());
    }
}

#[test]
fn a_server_that_cannot_start_is_one_warning_and_fresh_processes() {
    let p = Project::new("truth/aggregate");
    p.write("Gemfile", "source 'https://rubygems.org'\ngem 'no-such-gem-for-testbot'\n");
    // More files than slots: a slot gets a second batch, so the host gets a fork server.
    p.write("spec/second_spec.rb", "RSpec.describe(\"Second\") { it(\"passes\") {} }\n");
    let run = p.testbot(["-n", "1"]).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(1);
    let out = run.combined();
    assert_eq!(out.matches("its fork server").count(), 1, "{out}");
    run.assert_output_contains("host `local`: its fork server (loading Bundler and the framework) exited with status");
    run.assert_output_contains("its batches run as fresh processes");
    // The fresh runners then fail as they always did: the host leaves with bundler's message.
    run.assert_output_contains("host `local` left the run: its test runner could not start");
}

#[test]
fn no_fork_from_testbot_toml_runs_fresh_processes() {
    let p = Project::new("rspec_basic");
    p.write("spec/probe_spec.rb", PROBE);
    p.write("testbot.toml", "[project]\nfork = false\n");
    let run = p.testbot(["-n", "2", "spec/probe_spec.rb", "spec/passing_spec.rb"]).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    let probes = probe_lines(&p);
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_ne!(probes[0][1], "rspec", "forked although fork = false: {probes:?}");
}

/// Each file records, in its host's home, when it started: `host seconds-since-epoch`.
const STAMP: &str = r##"
RSpec.describe "Stamp" do
  it "records when it started" do
    File.open(File.join(Dir.home, "starts.txt"), "a") { |f| f.puts "#{ENV["TESTBOT_HOST"]} #{Time.now.to_f}" }
    sleep 0.3
  end
end
"##;

#[test]
fn no_host_waits_for_another_hosts_fork_server() {
    let bed = Testbed::start(2);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    // Bundler evaluates the Gemfile in the fork server's boot (`bundle exec ruby testbot_fork.rb`),
    // not in a forked batch: host1's server takes 6 s to get ready, host2's does not.
    p.write(
        "Gemfile",
        "if ENV['TESTBOT_HOST'] == 'host1' && !ENV['SLEPT_ONCE']\n  ENV['SLEPT_ONCE'] = '1'\n  sleep 6\n  \
         File.write(File.join(Dir.home, 'server-ready.txt'), Time.now.to_f.to_s)\nend\ngem 'rspec'\n",
    );
    let files: Vec<String> = (1..=4).map(|i| format!("spec/stamp{i}_spec.rb")).collect();
    for f in &files {
        p.write(f, STAMP);
    }
    let run = p.testbot(files.clone()).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    run.assert_output_contains("4 files on 4 slots: 4 examples, 0 failures");
    // host2 ran files while host1's server was still loading: they started before it was ready
    // (or it never got ready, because the run ended without it).
    let starts = fs::read_to_string(bed.hosts()[1].home.join("starts.txt")).unwrap_or_default();
    let first: f64 = starts.lines().filter_map(|l| l.split(' ').nth(1)?.parse().ok()).fold(f64::INFINITY, f64::min);
    assert!(first.is_finite(), "host2 ran no file\n{}", run.dump());
    if let Ok(ready) = fs::read_to_string(bed.hosts()[0].home.join("server-ready.txt")) {
        let ready: f64 = ready.trim().parse().unwrap();
        assert!(first < ready, "host2's first file started at {first}, after host1's server got ready at {ready}\n{}", run.dump());
    }
    // Every file ran once, wherever it ran.
    let host1 = fs::read_to_string(bed.hosts()[0].home.join("starts.txt")).unwrap_or_default();
    assert_eq!(starts.lines().count() + host1.lines().count(), 4, "host1:\n{host1}host2:\n{starts}");
    // host1's server, still loading or ready, is gone with the run.
    let others = || bed.user_processes(0).into_iter().filter(|(_, c)| !c.starts_with("sshd")).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !others().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(others(), vec![], "host1 still runs processes after the run");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_server_keeps_its_compiled_code_between_runs_and_a_damaged_file_costs_nothing() {
    let p = Project::new("rspec_basic");
    let serial = p.serial_rspec(&[]);
    let cache = p.fresh_path("xdg", "d");
    let run = |what: &str| {
        let report_path = p.fresh_path("report", "json");
        let (run, report) =
            p.testbot(["-n", "2"]).env("TESTBOT_NO_FORK", "0").env("XDG_CACHE_HOME", &cache).report_to(&report_path).run_with_report();
        run.assert_exit(1);
        assert!(!run.combined().contains("fresh processes"), "{what}: {}", run.dump());
        assert_eq!(report.totals().counts(), serial.counts, "{what}: {}", run.dump());
        run
    };
    run("first run");
    // What the server loaded (rspec-core among it), compiled, beside the sync's cache.
    let compiled_files = || -> Vec<_> {
        files_under(&cache.join("testbot/controller")).into_iter().filter(|f| f.to_string_lossy().contains("/compiled/")).collect()
    };
    let compiled = compiled_files();
    let core: Vec<_> = compiled.iter().filter(|f| f.to_string_lossy().ends_with("%rspec%core.rb")).collect();
    assert_eq!(core.len(), 1, "{compiled:#?}");
    assert!(core[0].to_string_lossy().contains("/compiled/ruby-"), "{}", core[0].display());
    assert!(compiled.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")), "{compiled:#?}");
    // Damaged files (a full disk, another tool): the next run compiles them again and stores
    // them over the damage, with the same verdict.
    for f in &compiled {
        fs::write(f, b"not compiled code").unwrap();
    }
    run("damaged files");
    let again = compiled_files();
    assert_eq!(again.len(), compiled.len(), "{again:#?}");
    for f in &again {
        assert_ne!(fs::read(f).unwrap(), b"not compiled code", "{} was not stored again", f.display());
    }
    run("stored again");
}

/// Issue 32 (session 30): a slot's batch session (its channel and `testbot_client.rb --session`)
/// opens while its host's fork server boots, not once the server is ready, so that the slot's
/// first batch does not wait for a shell and a Ruby to start after it. The host's server takes
/// 6 s here (its Gemfile sleeps in the boot): both slots' session clients run before it is
/// ready (main: none until it is). The run's verdict is the files' own.
#[test]
fn a_hosts_slots_open_their_sessions_while_its_fork_server_boots() {
    let bed = Testbed::start(1);
    let p = Project::new("rspec_basic");
    p.write("testbot.toml", &bed.inventory_toml(2));
    p.write(
        "Gemfile",
        "if !ENV['SLEPT_ONCE']\n  ENV['SLEPT_ONCE'] = '1'\n  sleep 6\n  \
         File.write(File.join(Dir.home, 'server-ready.txt'), Time.now.to_f.to_s)\nend\ngem 'rspec'\n",
    );
    // More files than slots: the host starts a fork server.
    let files: Vec<String> = (1..=4).map(|i| format!("spec/stamp{i}_spec.rb")).collect();
    for f in &files {
        p.write(f, STAMP);
    }
    let ready = bed.hosts()[0].home.join("server-ready.txt");
    let running = p.testbot(files).env("TESTBOT_NO_FORK", "0").spawn();
    // The Ruby clients (the shells around them name them too).
    let sessions = || bed.user_processes(0).into_iter().filter(|(_, c)| c.starts_with("ruby") && c.contains("testbot_client.rb --session")).count();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before_ready = 0;
    while Instant::now() < deadline && !ready.exists() {
        before_ready = before_ready.max(sessions());
        if before_ready == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready_yet = ready.exists();
    let run = running.finish(Duration::from_secs(90));
    run.assert_exit(0);
    run.assert_output_contains("4 files on 2 slots: 4 examples, 0 failures");
    assert_eq!((before_ready, ready_yet), (2, false), "session clients seen before the server was ready\n{}", run.dump());
}

/// Issue 32 (session 30): the fork server loads testbot's RSpec formatter once for all its
/// batches (4 ms of a child's CPU), and each batch still reads its own settings when it starts.
/// The suite's `.rspec` helper records whether the formatter was loaded before it (a batch that
/// loads the formatter itself, through `--require`, loads `.rspec`'s helper first: `nil`, as
/// with `--no-fork`); each spec records the SimpleCov result folder testbot's coverage glue
/// took, which must be the batch's own TESTBOT_COVERAGE_DIR (the server's environment has none).
#[test]
fn the_fork_server_loads_the_formatter_once_and_each_batch_reads_its_own_settings() {
    let p = Project::new("rspec_empty");
    p.write(
        "spec/spec_helper.rb",
        "File.open('tmp/helper.txt', 'a') { |f| f.puts defined?(Testbot::RSpecFormatter).inspect }\n",
    );
    // Made here: two runners making it at once race (`Errno::EEXIST` in one of them).
    fs::create_dir_all(p.path("tmp")).unwrap();
    let spec = r#"RSpec.describe "Settings" do
  it "records the coverage folder its batch uses" do
    File.open("tmp/settings.txt", "a") do |f|
      f.puts [Testbot::Coverage.dir, File.expand_path(ENV.fetch("TESTBOT_COVERAGE_DIR"))].join(" ")
    end
  end
end
"#;
    for i in 1..=6 {
        p.write(&format!("spec/s{i}_spec.rb"), spec);
    }
    let lines = |name: &str| fs::read_to_string(p.path(name)).unwrap_or_default().lines().map(str::to_string).collect::<Vec<_>>();
    let fresh = p.testbot(["-n", "2", "--no-fork"]).run();
    fresh.assert_exit(0);
    assert!(lines("tmp/helper.txt").iter().all(|l| l == "nil"), "{:?}", lines("tmp/helper.txt"));
    fs::remove_file(p.path("tmp/helper.txt")).unwrap();
    fs::remove_file(p.path("tmp/settings.txt")).unwrap();

    let run = p.testbot(["-n", "2"]).env("TESTBOT_NO_FORK", "0").run();
    run.assert_exit(0);
    run.assert_output_contains("6 files on 2 slots: 6 examples, 0 failures");
    let helper = lines("tmp/helper.txt");
    assert!(!helper.is_empty() && helper.iter().all(|l| l == "\"constant\""), "{helper:?}\n{}", run.dump());
    let settings = lines("tmp/settings.txt");
    assert_eq!(settings.len(), 6, "{}", run.dump());
    for line in &settings {
        let (took, own) = line.split_once(' ').unwrap();
        assert!(!took.is_empty() && took == own, "{settings:?}");
    }
}
