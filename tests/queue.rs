//! `--queue URL --build-id ID` (issue 29): the CI jobs of one build share one queue in a real
//! `redis-server` (tests/common/redis.rs); every job is a separate testbot process in a
//! checkout of its own, and `testbot report --queue` reads the build back as one run. What ran
//! where comes from the runners' own record (tests/fixtures/rspec_queue: each spec file writes
//! `started FILE JOB` and `finished FILE JOB` to QUEUE_RECORD).

mod common;

use common::redis::Redis;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILES: usize = 12;

/// A checkout of the fixture for job `name`: `<scratch>/<name>/project` (every job's folder
/// is named alike, as CI checkouts are: the project's name is part of the build's keys).
fn checkout(p: &Project, name: &str) -> PathBuf {
    let dir = p.outside(name).join("project");
    copy_tree(&p.root, &dir);
    dir
}

/// One job of build `build`: `-n 2`, its runners recording as job `name` to `record`.
fn job(p: &Project, dir: &Path, redis: &Redis, build: &str, name: &str, record: &Path) -> Testbot {
    p.testbot(["-n", "2", "--queue", &redis.url(), "--build-id", build])
        .cwd(dir)
        .env("QUEUE_JOB", name)
        .env("QUEUE_RECORD", record)
}

/// `finished` lines of the record: file → the jobs it finished in.
fn finished(record: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        if let ["finished", file, job] = words[..] {
            ran.entry(file.to_string()).or_default().push(job.to_string());
        }
    }
    ran
}

/// Starts `job` as job1, which hangs in every file it takes, and waits until one started;
/// the pids of job1's runners.
fn start_doomed(job: Testbot, record: &Path) -> (Running, Vec<i32>) {
    let running = job.env("QUEUE_SLOW_JOB", "job1").spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(record).unwrap_or_default();
        let pids: Vec<i32> = text
            .lines()
            .filter_map(|l| match l.split(' ').collect::<Vec<_>>()[..] {
                ["started", _, "job1", pid] => pid.parse().ok(),
                _ => None,
            })
            .collect();
        if !pids.is_empty() {
            return (running, pids);
        }
        assert!(Instant::now() < deadline, "job1 started no file in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// kill -9 of the job's testbot; its runners end with it (nothing is left running).
fn kill_job(running: Running, runners: &[i32]) {
    running.signal("KILL");
    let deadline = Instant::now() + Duration::from_secs(20);
    let alive = |pid: i32| unsafe { libc::kill(pid, 0) == 0 };
    while runners.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<i32> = runners.iter().copied().filter(|&p| alive(p)).collect();
    running.kill_group();
    for &pid in &left {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let _ = running.finish(Duration::from_secs(30));
    assert!(left.is_empty(), "runners {left:?} outlived their killed job");
}

/// `testbot report --queue … --wait` for `build`, run in `dir`, writing its JSON report.
fn report(p: &Project, dir: &Path, redis: &Redis, build: &str) -> (Run, Report) {
    let json = p.fresh_path("build", "json");
    let args = ["report", "--queue", &redis.url(), "--build-id", build, "--wait", "--timeout", "60s"];
    p.testbot(args).cwd(dir).report_to(&json).run_with_report()
}

#[test]
fn jobs_of_one_build_run_every_file_once_and_report_as_one_run() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let dirs: Vec<PathBuf> = (1..=3).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let single_json = p.fresh_path("single", "json");
    let (single, single_report) = p.testbot(["-n", "2"]).report_to(&single_json).run_with_report();
    single.assert_exit(1);

    let record = p.outside("record.txt");
    let mut running = Vec::new();
    for (k, dir) in dirs.iter().enumerate() {
        running.push(job(&p, dir, &redis, "build-1", &format!("job{}", k + 1), &record).spawn());
        std::thread::sleep(Duration::from_millis(700));
    }
    let runs: Vec<Run> = running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = finished(&record);
    assert_eq!(ran.len(), FILES, "every file ran: {ran:?}\n{dumps}");
    for (file, jobs) in &ran {
        assert_eq!(jobs.len(), 1, "{file} ran once across the jobs, not in {jobs:?}\n{dumps}");
    }
    // Each job's verdict is what it ran: red on the job that ran the failing file only.
    let f07 = &ran["f07_spec.rb"][0];
    for (k, run) in runs.iter().enumerate() {
        let expected = if *f07 == format!("job{}", k + 1) { 1 } else { 0 };
        run.assert_exit(expected);
    }

    let (run, build) = report(&p, &dirs[0], &redis, "build-1");
    run.assert_exit(1);
    assert_eq!(build.totals(), single_report.totals(), "{}", run.dump());
    assert_eq!(build.file_paths(), single_report.file_paths());
}

#[test]
fn two_builds_on_one_redis_never_mix() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let first = checkout(&p, "first");
    let second = checkout(&p, "second");
    let record_1 = p.outside("record-1.txt");
    let record_2 = p.outside("record-2.txt");
    job(&p, &first, &redis, "build-1", "one", &record_1).run().assert_exit(1);
    // The same files in another build: all of them run again, none counts as done.
    job(&p, &second, &redis, "build-2", "two", &record_2).run().assert_exit(1);
    assert_eq!(finished(&record_1).len(), FILES);
    assert_eq!(finished(&record_2).len(), FILES, "build-2 ran every file itself");
    for build in ["build-1", "build-2"] {
        let (run, report) = report(&p, &first, &redis, build);
        run.assert_exit(1);
        assert_eq!(report.totals().files, FILES as u64, "{}", run.dump());
        assert_eq!(report.totals().failures, 1, "{}", run.dump());
    }
}

#[test]
fn a_job_with_other_files_than_the_plan_is_refused() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let planned = checkout(&p, "planned");
    let other = checkout(&p, "other");
    std::fs::write(other.join("spec/extra_spec.rb"), "RSpec.describe('x') { it('y') { } }\n").unwrap();
    let record = p.outside("record.txt");
    job(&p, &planned, &redis, "b", "one", &record).run().assert_exit(1);
    let run = job(&p, &other, &redis, "b", "two", &record).run();
    run.assert_exit(2);
    run.assert_output_contains("without 1 file that this job has (spec/extra_spec.rb)");
    assert_eq!(finished(&record).len(), FILES, "the refused job ran nothing");
    // No build id given and none from a CI: a usage error that says what to pass.
    let ci = ["GITHUB_RUN_ID", "BUILDKITE_BUILD_ID", "CI_PIPELINE_ID", "CIRCLE_WORKFLOW_ID"];
    if ci.iter().all(|v| std::env::var_os(v).is_none()) {
        let run = p.testbot(["--queue", &redis.url()]).cwd(&other).run();
        run.assert_exit(2);
        run.assert_output_contains("--queue needs the build's id, the same in every job of the build: give --build-id ID");
    }
    let password = "s3cret-word";
    let url = format!("redis://user:{password}@127.0.0.1:{}", redis.port);
    let run = p.testbot(["-n", "2", "--queue", &url, "--build-id", "b"]).cwd(&other).run();
    assert!(!run.combined().contains(password), "the password is never printed:\n{}", run.dump());
    assert_ne!(run.code, Some(0), "{}", run.dump());
}

#[test]
fn a_killed_jobs_files_run_on_the_others_and_the_report_is_complete() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let dirs: Vec<PathBuf> = (1..=3).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let record = p.outside("record.txt");
    // job1 hangs in every file it takes; it is killed (kill -9) once one started.
    let (doomed, runners) = start_doomed(job(&p, &dirs[0], &redis, "b", "job1", &record), &record);
    let others: Vec<Running> = (2..=3).map(|k| job(&p, &dirs[k - 1], &redis, "b", &format!("job{k}"), &record).spawn()).collect();
    std::thread::sleep(Duration::from_millis(500));
    kill_job(doomed, &runners);
    let runs: Vec<Run> = others.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)).collect();
    let dumps: String = runs.iter().map(Run::dump).collect();
    let ran = finished(&record);
    assert_eq!(ran.len(), FILES, "every file finished somewhere: {ran:?}\n{dumps}");
    assert!(ran.values().flatten().all(|j| j != "job1"), "job1 finished nothing: {ran:?}");
    let (run, build) = report(&p, &dirs[1], &redis, "b");
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(FILES as u64, 24, 1, 0, 0), "{}", run.dump());
}

#[test]
fn a_report_of_a_build_with_files_unfinished_names_them_and_fails() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let dir = checkout(&p, "job1");
    let record = p.outside("record.txt");
    let (doomed, runners) = start_doomed(job(&p, &dir, &redis, "b", "job1", &record), &record);
    kill_job(doomed, &runners);
    let json = p.fresh_path("build", "json");
    let run = p.testbot(["report", "--queue", &redis.url(), "--build-id", "b", "--wait", "--timeout", "2s"]).cwd(&dir).report_to(&json).run();
    run.assert_exit(1);
    run.assert_output_contains("12 file(s) of the build have no result: spec/f01_spec.rb");
    let report = Report::read(&json, &run);
    assert_eq!(report.totals().files, FILES as u64);
    // A build no job of started is no pass either.
    let run = p.testbot(["report", "--queue", &redis.url(), "--build-id", "never"]).cwd(&dir).run();
    run.assert_exit(1);
    run.assert_output_contains("build `never` has no plan");
}

/// `[project] quarantine` through the queue: a quarantined failure keeps every job and the
/// build's report green and is marked in its JSON, as a single run marks it; a build of the same
/// files without the quarantine is red.
#[test]
fn a_quarantined_failure_keeps_a_queued_build_green_and_marked() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    p.write("testbot.toml", "[project]\nquarantine = [\"./spec/f07_spec.rb:10\"]\n");
    let single_json = p.fresh_path("single", "json");
    let (single, single_report) = p.testbot(["-n", "2"]).report_to(&single_json).run_with_report();
    single.assert_exit(0);
    let dirs: Vec<PathBuf> = (1..=2).map(|k| checkout(&p, &format!("job{k}"))).collect();
    let record = p.outside("record.txt");
    let jobs = dirs.iter().enumerate().map(|(k, dir)| job(&p, dir, &redis, "q", &format!("job{}", k + 1), &record));
    let running: Vec<Running> = jobs.map(Testbot::spawn).collect();
    for run in running.into_iter().map(|r| r.finish(TESTBOT_TIMEOUT)) {
        run.assert_exit(0);
    }
    let (json, junit) = (p.fresh_path("build", "json"), p.outside("build.xml"));
    let url = redis.url();
    let args = ["report", "--queue", &url, "--build-id", "q", "--wait", "--timeout", "60s", "--junit", junit.to_str().unwrap()];
    let (run, build) = p.testbot(args).cwd(&dirs[0]).report_to(&json).run_with_report();
    run.assert_exit(0);
    run.assert_output_contains("1 quarantined");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<skipped message="QUARANTINED: "#) && xml.contains(r#"failures="0""#), "{xml}");
    assert_eq!(build.totals(), single_report.totals(), "{}", run.dump());
    assert_eq!(build.json["totals"]["quarantined"].as_u64(), Some(1), "{}", build.json);
    let failures = build.json["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{}", build.json);
    assert_eq!(failures[0]["quarantined"], Value::Bool(true), "{}", build.json);
    // Without the quarantine the same failure fails the build's report.
    for dir in &dirs {
        std::fs::remove_file(dir.join("testbot.toml")).unwrap();
    }
    job(&p, &dirs[1], &redis, "red", "job2", &record).run().assert_exit(1);
    let (run, build) = report(&p, &dirs[0], &redis, "red");
    run.assert_exit(1);
    assert_eq!(build.json["totals"]["quarantined"].as_u64(), Some(0), "{}", build.json);
}

/// A job boots its fork server while it joins the build (connects, plans): with Redis not there
/// yet (the job tries again within its patience), the server is ready before the job has joined,
/// and the job runs every file once Redis answers. On main the run started after the join.
#[test]
fn a_job_boots_its_fork_server_while_it_joins_the_build() {
    let mut redis = Redis::start();
    redis.kill();
    let p = Project::new("rspec_queue");
    let dir = checkout(&p, "job1");
    let record = p.outside("record.txt");
    let running = job(&p, &dir, &redis, "b", "job1", &record).env("RUST_LOG", "testbot=debug").env("TESTBOT_QUEUE_PATIENCE", "2m").spawn();
    // Long enough for the fork server to boot on a loaded machine; the job keeps trying Redis.
    std::thread::sleep(Duration::from_secs(8));
    redis.restart();
    let run = running.finish(TESTBOT_TIMEOUT);
    run.assert_exit(1);
    assert_eq!(finished(&record).len(), FILES, "{}", run.dump());
    let at = |what: &str| run.stderr.find(what).unwrap_or_else(|| panic!("no {what:?} in\n{}", run.dump()));
    assert!(at("ready: its fork server") < at("joined the build's queue"), "the fork server booted first:\n{}", run.dump());
}

/// `--file-timeout`: a queued job limits each file by the project's history in Redis (5 × its
/// time, if more than the floor), as a run limits it by its own: a job with no local history lets
/// a file that took 2.5 s in the build before run past a 1 s floor.
#[test]
fn a_queued_jobs_file_limits_come_from_the_history_in_redis() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue");
    let (first, second) = (checkout(&p, "first"), checkout(&p, "second"));
    let record = p.outside("record.txt");
    let url = redis.url();
    let run_in = |dir: &Path, build: &str, floor: &str| {
        let args = ["-n", "2", "--queue", &url, "--build-id", build, "--file-timeout", floor, "spec/f01_spec.rb", "spec/f02_spec.rb"];
        p.testbot(args).cwd(dir).env("QUEUE_JOB", build).env("QUEUE_RECORD", &record).env("QUEUE_SLEEP", "2.5").run()
    };
    run_in(&first, "b1", "60s").assert_exit(0);
    assert!(!second.join("tmp").exists(), "the second checkout has no runtime history of its own");
    let run = run_in(&second, "b2", "1s");
    run.assert_exit(0);
    let text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("finished ") && l.ends_with(" b2")).count(), 2, "{}", run.dump());
}
