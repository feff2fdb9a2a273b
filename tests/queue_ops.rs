//! `--queue` in operation (issue 29, the operations side): a Redis that goes away mid-build
//! (restarted with its data, gone for good, restarted empty), a Unix socket, a fleet of four
//! jobs started apart with a late one, and a job killed among four. Every job is a separate
//! testbot process in a checkout of its own on a real `redis-server` (tests/common/redis.rs);
//! what ran where comes from the runners' own record (tests/fixtures/rspec_queue: each spec
//! file writes `started FILE JOB PID` and `finished FILE JOB` to QUEUE_RECORD).

mod common;

use common::redis::Redis;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILES: usize = 12;

/// A checkout of the fixture for job `name` (every job's folder is named `project`, as CI
/// checkouts of one repository are: the project's name is part of the build's keys).
fn checkout(p: &Project, name: &str) -> PathBuf {
    let dir = p.outside(name).join("project");
    copy_tree(&p.root, &dir);
    dir
}

/// Job `name` of build `build` on `url`: `-n 2`, its runners recording to `record`.
fn job(p: &Project, dir: &Path, url: &str, build: &str, name: &str, record: &Path) -> Testbot {
    p.testbot(["-n", "2", "--queue", url, "--build-id", build]).cwd(dir).env("QUEUE_JOB", name).env("QUEUE_RECORD", record)
}

/// The record's lines `what FILE JOB…`: file → the jobs, in order.
fn recorded(record: &Path, what: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        if words.len() >= 3 && words[0] == what {
            ran.entry(words[1].to_string()).or_default().push(words[2].to_string());
        }
    }
    ran
}

/// Waits (up to 60 s) until at least `n` files have started.
fn wait_for_starts(record: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorded(record, "started").values().map(Vec::len).sum::<usize>() < n {
        assert!(Instant::now() < deadline, "{n} files did not start in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The processes whose environment has both QUEUE_RECORD=`record` and QUEUE_JOB=`job`: what is
/// left of a job (its testbot, fork servers, runners), and no other test's.
fn processes_of(record: &Path, job: &str) -> Vec<String> {
    let (rec, name) = (format!("QUEUE_RECORD={}", record.display()), format!("QUEUE_JOB={job}"));
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let vars: Vec<String> = environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        if vars.contains(&rec) && vars.contains(&name) {
            pids.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    pids
}

/// Waits (up to 20 s) until nothing of job `job` is left running; the pids left, if any.
fn nothing_left_of(record: &Path, job: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = processes_of(record, job);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `testbot report --queue URL --build-id BUILD --wait`, run in `dir`, with its JSON report.
fn report(p: &Project, dir: &Path, url: &str, build: &str) -> (Run, Report) {
    let json = p.fresh_path("build", "json");
    let args = ["report", "--queue", url, "--build-id", build, "--wait", "--timeout", "60s"];
    p.testbot(args).cwd(dir).report_to(&json).run_with_report()
}

/// Two jobs of build `b` whose files take `sleep` seconds each, started 300 ms apart.
fn two_jobs(p: &Project, url: &str, record: &Path, sleep: &str, patience: &str) -> (Vec<PathBuf>, Vec<Running>) {
    let dirs: Vec<PathBuf> = (1..=2).map(|k| checkout(p, &format!("job{k}"))).collect();
    let mut running = Vec::new();
    for (k, dir) in dirs.iter().enumerate() {
        let job = job(p, dir, url, "b", &format!("job{}", k + 1), record).env("QUEUE_SLEEP", sleep).env("TESTBOT_QUEUE_PATIENCE", patience);
        running.push(job.spawn());
        std::thread::sleep(Duration::from_millis(300));
    }
    (dirs, running)
}

#[test]
fn a_redis_restarted_with_its_data_mid_build_lets_the_build_complete() {
    let mut redis = Redis::start_persistent();
    let p = Project::new("rspec_queue");
    let record = p.outside("record.txt");
    let (dirs, running) = two_jobs(&p, &redis.url(), &record, "1", "30s");
    wait_for_starts(&record, 3);
    // kill -9 mid-build; back on the same port 1.5 s later, with what it had written.
    redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    assert!(dumps.contains("the queue's Redis did not answer"), "the jobs saw the outage and tried again:\n{dumps}");
    let ran = recorded(&record, "finished");
    assert_eq!(ran.len(), FILES, "every file ran: {ran:?}\n{dumps}");
    for (file, jobs) in &ran {
        // Heartbeats last 10 s: none lapsed in a 1.5 s outage, so no reservation was reclaimed.
        assert_eq!(jobs.len(), 1, "{file} ran once, not in {jobs:?}\n{dumps}");
    }
    let f07 = &ran["f07_spec.rb"][0];
    for (k, run) in runs.iter().enumerate() {
        run.assert_exit(if *f07 == format!("job{}", k + 1) { 1 } else { 0 });
    }
    let (run, build) = report(&p, &dirs[0], &redis.url(), "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
}

#[test]
fn a_redis_gone_for_good_stops_every_job_non_zero_within_the_patience() {
    let mut redis = Redis::start();
    let p = Project::new("rspec_queue");
    let record = p.outside("record.txt");
    let (_, running) = two_jobs(&p, &redis.url(), &record, "1", "4s");
    wait_for_starts(&record, 2);
    redis.kill();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(Duration::from_secs(90))).collect();
    for (k, run) in runs.iter().enumerate() {
        assert!(matches!(run.code, Some(c) if c != 0), "job{} exits non-zero:\n{}", k + 1, run.dump());
        run.assert_output_contains(&format!("lost the queue's Redis at `{}` while ", redis.url()));
        run.assert_output_contains("this job stops");
        let left = nothing_left_of(&record, &format!("job{}", k + 1));
        assert!(left.is_empty(), "job{}'s processes {left:?} outlived it", k + 1);
    }
    assert!(recorded(&record, "finished").len() < FILES, "the build did not finish without Redis");
}

#[test]
fn a_redis_restarted_without_its_data_stops_the_jobs_non_zero() {
    let mut redis = Redis::start();
    let p = Project::new("rspec_queue");
    let record = p.outside("record.txt");
    let (dirs, running) = two_jobs(&p, &redis.url(), &record, "1", "30s");
    wait_for_starts(&record, 2);
    redis.restart();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    for (k, run) in runs.iter().enumerate() {
        assert!(matches!(run.code, Some(c) if c != 0), "job{} exits non-zero, never 0:\n{}", k + 1, run.dump());
        run.assert_output_contains("came back without build `b`'s plan");
        assert!(nothing_left_of(&record, &format!("job{}", k + 1)).is_empty(), "job{} left processes", k + 1);
    }
    // The report knows no plan: the build's results are unknown, and that is no pass.
    let run = p.testbot(["report", "--queue", &redis.url(), "--build-id", "b"]).cwd(&dirs[0]).run();
    run.assert_exit(1);
    run.assert_output_contains("has no plan");
    run.assert_output_contains("its results are unknown");
}

#[test]
fn jobs_reach_redis_over_a_unix_socket() {
    let redis = Redis::start_on_socket();
    let p = Project::new("rspec_queue");
    let record = p.outside("record.txt");
    let dirs: Vec<PathBuf> = (1..=2).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let running: Vec<Running> = dirs.iter().enumerate().map(|(k, d)| job(&p, d, &redis.socket_url(), "b", &format!("job{}", k + 1), &record).spawn()).collect();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = recorded(&record, "finished");
    assert_eq!(ran.len(), FILES, "{ran:?}\n{dumps}");
    assert!(ran.values().all(|jobs| jobs.len() == 1), "{ran:?}");
    let (run, build) = report(&p, &dirs[1], &redis.socket_url(), "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
}

#[test]
fn four_jobs_started_apart_run_every_file_once_and_a_late_job_takes_work() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let single_json = p.fresh_path("single", "json");
    let (single, single_report) = p.testbot(["-n", "2"]).report_to(&single_json).run_with_report();
    single.assert_exit(1);
    let dirs: Vec<PathBuf> = (1..=4).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let record = p.outside("record.txt");
    // job1..job3 wait in their first files until job4 (started last, 3 s after job1) has
    // started one: six slots hold six files, so six are pending when job4 asks.
    let gate = p.outside("gate");
    let fleet = |k: usize| {
        job(&p, &dirs[k - 1], &redis.url(), "b", &format!("job{k}"), &record).env("QUEUE_GATE", &gate).env("QUEUE_GATE_JOB", "job4")
    };
    let started = Instant::now();
    let mut running = Vec::new();
    for k in 1..=3 {
        running.push(fleet(k).spawn());
        std::thread::sleep(Duration::from_secs(1));
    }
    wait_for_starts(&record, 1);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()));
    running.push(fleet(4).spawn());
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = recorded(&record, "finished");
    assert_eq!(ran.len(), FILES, "every file ran: {ran:?}\n{dumps}");
    for (file, jobs) in &ran {
        assert_eq!(jobs.len(), 1, "{file} ran once across the four jobs, not in {jobs:?}\n{dumps}");
    }
    assert!(ran.values().flatten().any(|j| j == "job4"), "the late job took work: {ran:?}");
    let f07 = &ran["f07_spec.rb"][0];
    for (k, run) in runs.iter().enumerate() {
        run.assert_exit(if *f07 == format!("job{}", k + 1) { 1 } else { 0 });
    }
    let (run, build) = report(&p, &dirs[3], &redis.url(), "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), single_report.totals(), "{}", run.dump());
    assert_eq!(build.file_paths(), single_report.file_paths());
}

#[test]
fn a_job_of_four_killed_leaves_nothing_running_and_its_files_run_elsewhere() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let dirs: Vec<PathBuf> = (1..=4).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let record = p.outside("record.txt");
    // job1 hangs in every file it takes; it is killed (kill -9) once it started one.
    let doomed = job(&p, &dirs[0], &redis.url(), "b", "job1", &record).env("QUEUE_SLOW_JOB", "job1").spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !recorded(&record, "started").values().flatten().any(|j| j == "job1") {
        assert!(Instant::now() < deadline, "job1 started no file in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let others: Vec<Running> = (2..=4).map(|k| job(&p, &dirs[k - 1], &redis.url(), "b", &format!("job{k}"), &record).spawn()).collect();
    std::thread::sleep(Duration::from_millis(500));
    doomed.signal("KILL");
    let left = nothing_left_of(&record, "job1");
    doomed.kill_group();
    let _ = doomed.finish(Duration::from_secs(30));
    assert!(left.is_empty(), "processes {left:?} of the killed job1 are still running");
    let runs: Vec<Run> = others.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = recorded(&record, "finished");
    assert_eq!(ran.len(), FILES, "every file finished somewhere: {ran:?}\n{dumps}");
    assert!(ran.values().all(|jobs| jobs.len() == 1 && jobs[0] != "job1"), "each once, none in job1: {ran:?}");
    let (run, build) = report(&p, &dirs[1], &redis.url(), "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
}

#[test]
fn jobs_reach_redis_over_tls_trusting_the_ca_in_ssl_cert_file() {
    let redis = Redis::start_tls();
    let ca = redis.ca.clone().unwrap();
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let p = Project::new("rspec_queue");
    let record = p.outside("record.txt");
    let dirs: Vec<PathBuf> = (1..=2).map(|k| checkout(&p, &format!("job{k}"))).collect();
    // Without the CA, the certificate is not trusted: a clear error at once, not tried again.
    let run = job(&p, &dirs[0], &url, "b", "job1", &record).env("TESTBOT_QUEUE_PATIENCE", "10m").run();
    run.assert_exit(1);
    run.assert_output_contains(&format!("cannot reach the queue's Redis at `{url}`: invalid peer certificate"));
    assert!(!run.combined().contains("did not answer"), "an untrusted certificate is not tried again:\n{}", run.dump());
    let running: Vec<Running> =
        dirs.iter().enumerate().map(|(k, d)| job(&p, d, &url, "b", &format!("job{}", k + 1), &record).env("SSL_CERT_FILE", &ca).spawn()).collect();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = recorded(&record, "finished");
    assert_eq!(ran.len(), FILES, "{ran:?}\n{dumps}");
    assert!(ran.values().all(|jobs| jobs.len() == 1), "{ran:?}");
    let json = p.fresh_path("build", "json");
    let args = ["report", "--queue", &url, "--build-id", "b", "--wait", "--timeout", "60s"];
    let (run, build) = p.testbot(args).cwd(&dirs[1]).env("SSL_CERT_FILE", &ca).report_to(&json).run_with_report();
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
}

/// The fixture measured by SimpleCov: `lib/calc.rb` has a line of its own for each spec file,
/// run by that file's group, so a job covers only the lines of the files it ran.
fn measure_coverage(p: &Project) {
    let mut calc = String::from("module Calc\n  def self.touch(name)\n    case name\n");
    for k in 1..=FILES {
        calc.push_str(&format!("    when \"f{k:02}_spec.rb\"\n      :f{k:02}\n"));
    }
    calc.push_str("    end\n  end\nend\n");
    p.write("lib/calc.rb", &calc);
    p.write(
        "spec/spec_helper.rb",
        r#"require "simplecov"
SimpleCov.start { add_filter "/spec/" }
require_relative "support/record"
require_relative "../lib/calc"

RSpec.configure do |config|
  config.order = :defined
  config.before(:context) do
    Calc.touch(File.basename(self.class.metadata[:file_path])) if self.class.superclass == RSpec::Core::ExampleGroup
  end
end
"#,
    );
}

/// `lib/calc.rb`'s lines in the SimpleCov resultset under `dir`: covered or not (None: not
/// code). The counts of the lines run when the file loads are per process, and a build runs its
/// files in other processes than a single run: whether a line ran is what must agree.
fn calc_lines(dir: &Path) -> Vec<Option<bool>> {
    calc_counts(dir).iter().map(|n| n.as_u64().map(|n| n > 0)).collect()
}

fn calc_counts(dir: &Path) -> Vec<serde_json::Value> {
    let path = dir.join("coverage/.resultset.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let resultset: serde_json::Value = serde_json::from_str(&text).unwrap();
    for command in resultset.as_object().unwrap().values() {
        for (file, data) in command["coverage"].as_object().unwrap() {
            if file.ends_with("lib/calc.rb") {
                return data["lines"].as_array().unwrap().clone();
            }
        }
    }
    panic!("no lib/calc.rb in {}: {text}", path.display());
}

#[test]
fn the_report_merges_every_jobs_simplecov_result_as_one_run_does() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    measure_coverage(&p);
    p.testbot(["-n", "2"]).run().assert_exit(1);
    let single = calc_lines(&p.root);
    let dirs: Vec<PathBuf> = ["job1", "job2", "reporter"].iter().map(|name| checkout(&p, name)).collect();
    std::fs::remove_dir_all(dirs[2].join("coverage")).unwrap();
    let record = p.outside("record.txt");
    // job1 waits in its files until job2 has started one: both take files.
    let gate = p.outside("gate");
    let running: Vec<Running> = (1..=2)
        .map(|k| {
            let job = job(&p, &dirs[k - 1], &redis.url(), "b", &format!("job{k}"), &record);
            job.env("QUEUE_GATE", &gate).env("QUEUE_GATE_JOB", "job2").spawn()
        })
        .collect();
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    assert_eq!(recorded(&record, "finished").len(), FILES, "{dumps}");
    for dir in &dirs[..2] {
        assert_ne!(calc_lines(dir), single, "each job covered only the lines of its own files\n{dumps}");
    }
    let (run, build) = report(&p, &dirs[2], &redis.url(), "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
    assert_eq!(calc_lines(&dirs[2]), single, "the report's coverage/.resultset.json is the single run's\n{}", run.dump());
    // Each file's own line ran once, in one job: the jobs' results were added up, not overlaid.
    let counts = calc_counts(&dirs[2]);
    assert!((0..FILES).all(|k| counts[4 + 2 * k] == serde_json::json!(1)), "{counts:?}");
    run.assert_output_contains("Coverage");
}

/// A retried attempt reruns only f07 (it fails every time), so its own job covers f07's line
/// alone: its report still merges the whole suite's coverage, the attempt before's (whose
/// passing results it kept) with the rerun's.
#[test]
fn a_retried_attempts_report_merges_the_coverage_of_the_results_it_kept() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    measure_coverage(&p);
    p.testbot(["-n", "2"]).run().assert_exit(1);
    let single = calc_lines(&p.root);
    let dirs: Vec<PathBuf> = ["attempt1", "attempt2", "reporter"].iter().map(|name| checkout(&p, name)).collect();
    std::fs::remove_dir_all(dirs[2].join("coverage")).unwrap();
    let records: Vec<PathBuf> = (1..=2).map(|k| p.outside(&format!("record-{k}.txt"))).collect();
    for (k, (dir, record)) in dirs.iter().zip(&records).enumerate() {
        let attempt = (k + 1).to_string();
        let job = p.testbot(["-n", "2", "--queue", &redis.url(), "--build-id", "b", "--attempt", &attempt]).cwd(dir);
        job.env("QUEUE_JOB", format!("job{attempt}")).env("QUEUE_RECORD", record).run().assert_exit(1);
    }
    let rerun: Vec<String> = recorded(&records[1], "started").into_keys().collect();
    assert_eq!(rerun.len(), 1, "attempt 2 reran only the file that failed: {rerun:?}");
    assert!(rerun[0].ends_with("f07_spec.rb"), "{rerun:?}");
    assert_ne!(calc_lines(&dirs[1]), single, "attempt 2's job covered only f07's lines");
    let json = p.fresh_path("attempt2", "json");
    let args = ["report", "--queue", &redis.url(), "--build-id", "b", "--attempt", "2", "--wait", "--timeout", "60s"];
    let (run, build) = p.testbot(args).cwd(&dirs[2]).report_to(&json).run_with_report();
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
    assert_eq!(calc_lines(&dirs[2]), single, "attempt 2's report has the whole suite's coverage\n{}", run.dump());
}
