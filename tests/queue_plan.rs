//! `--queue`'s planning side (issue 29, session 27): the history kept in Redis for the next
//! build, a retried CI job that reruns only what failed, and long files split by example across
//! the jobs. Real `redis-server` (tests/common/redis.rs), every job a separate testbot process in
//! a checkout of its own. What ran where, and in what order, comes from the runners' own record
//! (tests/fixtures/rspec_queue_plan: each spec file writes `started FILE JOB PID` and
//! `finished FILE JOB` to QUEUE_RECORD; b sleeps longest, then c, d, e and a, while their sizes
//! go the other way; e fails unless QUEUE_PASS=1).

mod common;

use common::redis::Redis;
use common::*;
use std::path::{Path, PathBuf};

/// The fixture's files, longest first by the time each sleeps.
const LONGEST_FIRST: [&str; 5] = ["b_spec.rb", "c_spec.rb", "d_spec.rb", "e_spec.rb", "a_spec.rb"];

/// A checkout of the fixture for job `name`: `<scratch>/<name>/project` (every job's folder is
/// named alike, as CI checkouts are: the project's name is part of the keys).
fn checkout(p: &Project, name: &str) -> PathBuf {
    let dir = p.outside(name).join("project");
    copy_tree(&p.root, &dir);
    dir
}

/// One job of a build (`build`: `--build-id` and such; none: the CI's variables) with `slots`
/// local slots, its runners recording as job `name` to `record`.
fn job(p: &Project, dir: &Path, (redis, build): (&Redis, &[&str]), slots: usize, name: &str, record: &Path) -> Testbot {
    let mut args = vec!["-n".to_string(), slots.to_string(), "--queue".into(), redis.url()];
    args.extend(build.iter().map(|a| a.to_string()));
    p.testbot(args).cwd(dir).env("QUEUE_JOB", name).env("QUEUE_RECORD", record)
}

/// The files of the record's `started` lines, in the order they started.
fn started(record: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    text.lines().filter_map(|l| l.strip_prefix("started ")).filter_map(|l| l.split(' ').next()).map(str::to_string).collect()
}

/// `testbot report --queue … --wait` of `build` (and `extra` arguments), run in `dir`.
fn report(p: &Project, dir: &Path, redis: &Redis, build: &str, extra: &[&str]) -> (Run, Report) {
    let json = p.fresh_path("build", "json");
    let url = redis.url();
    let mut args = vec!["report", "--queue", &url, "--build-id", build, "--wait", "--timeout", "60s"];
    args.extend_from_slice(extra);
    p.testbot(args).cwd(dir).report_to(&json).run_with_report()
}

#[test]
fn the_next_build_plans_longest_first_from_the_history_in_redis() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue_plan");
    let first = checkout(&p, "first");
    let second = checkout(&p, "second");
    let record_1 = p.outside("record-1.txt");
    job(&p, &first, (&redis, &["--build-id", "build-1"]), 2, "one", &record_1).run().assert_exit(1);
    assert_eq!(started(&record_1).len(), 5);
    assert_eq!(redis.number(&["HLEN", "testbot:project:history"]), 5, "every file's time is in the project's history");

    // Build 2: a fresh checkout with no runtime log, one slot: its files start in the plan's order.
    let runtime_log = second.join("tmp/testbot-runtime-rspec.log");
    assert!(!runtime_log.exists());
    let record_2 = p.outside("record-2.txt");
    let run = job(&p, &second, (&redis, &["--build-id", "build-2"]), 1, "two", &record_2).run();
    run.assert_exit(1);
    assert_eq!(started(&record_2), LONGEST_FIRST, "planned longest first from build 1's times, not by size\n{}", run.dump());
    // The history the job ended with is in its local runtime log, for a CI cache step.
    let log = std::fs::read_to_string(&runtime_log).unwrap_or_default();
    for file in LONGEST_FIRST {
        assert!(log.contains(&format!("spec/{file}:")), "{file} in the exported runtime log:\n{log}");
    }
}

#[test]
fn a_retried_attempt_reruns_only_what_failed_and_reports_the_whole_suite() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue_plan");
    let first = checkout(&p, "attempt-1");
    let second = checkout(&p, "attempt-2");
    let record_1 = p.outside("record-1.txt");
    let record_2 = p.outside("record-2.txt");
    // GitHub Actions' variables: the run's id, then its re-run's attempt.
    let attempt = |t: Testbot, n: &str| t.env("GITHUB_RUN_ID", "4242").env("GITHUB_RUN_ATTEMPT", n);
    attempt(job(&p, &first, (&redis, &[]), 2, "one", &record_1), "1").run().assert_exit(1);
    assert_eq!(started(&record_1).len(), 5);
    // The re-run: e passes now, and only e runs.
    let run = attempt(job(&p, &second, (&redis, &[]), 2, "two", &record_2), "2").env("QUEUE_PASS", "1").run();
    assert_eq!(started(&record_2), ["e_spec.rb"], "attempt 2 ran only the file that failed\n{}", run.dump());
    run.assert_exit(0);

    // Attempt 1 stays red; attempt 2 is green, with the whole suite's totals.
    let (run, build) = report(&p, &first, &redis, "4242", &["--attempt", "1"]);
    run.assert_exit(1);
    assert_eq!(build.totals(), totals(5, 6, 1, 0, 0), "{}", run.dump());
    let (run, build) = report(&p, &second, &redis, "4242", &["--attempt", "2"]);
    run.assert_exit(0);
    assert_eq!(build.totals(), totals(5, 6, 0, 0, 0), "{}", run.dump());
    assert_eq!(build.file_paths().len(), 5);
}

/// A long file of 4 examples of 0.8 s each, each writing `example big_spec.rb JOB N PID`; the
/// 4th fails unless QUEUE_PASS=1.
const BIG_SPEC: &str = r##"RSpec.describe "File big" do
  before(:all) { QueueRecord.work(__FILE__, 0) }
  after(:all) { QueueRecord.write(__FILE__, "finished") }

  (1..4).each do |n|
    it "sleeps #{n}" do
      sleep 0.8
      QueueRecord.write(__FILE__, "example", "#{n} #{Process.pid}")
      expect(ENV["QUEUE_PASS"]).to eq("1") if n == 4
    end
  end
end
"##;

/// The words of the record's lines that start with `what` and name `file`, after the file.
fn lines_of(record: &Path, what: &str, file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let prefix = format!("{what} {file} ");
    text.lines().filter_map(|l| l.strip_prefix(&prefix)).map(|rest| rest.split(' ').map(str::to_string).collect()).collect()
}

/// Checkouts `names` of the fixture with big_spec.rb; the first has run build `warm`, which ran
/// every file whole and left big_spec.rb's time and examples in the project's history in Redis
/// (3.2 s of 7.2 on 2 slots: long enough to split in two).
fn warmed_up(p: &Project, redis: &Redis, names: &[&str]) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = names.iter().map(|name| checkout(p, name)).collect();
    for dir in &dirs {
        std::fs::write(dir.join("spec/big_spec.rb"), BIG_SPEC).unwrap();
    }
    let warm = p.outside("record-warm.txt");
    job(p, &dirs[0], (redis, &["--build-id", "warm"]), 2, "warm", &warm).env("QUEUE_PASS", "1").run().assert_exit(0);
    assert_eq!(lines_of(&warm, "started", "big_spec.rb").len(), 1, "build 1 ran big_spec.rb whole");
    dirs
}

#[test]
fn a_long_file_is_split_into_pieces_that_run_apart_and_report_as_one_file() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue_plan");
    let dirs = warmed_up(&p, &redis, &["warm", "planner", "other"]);

    // Build 2, two jobs in fresh checkouts (no runtime or examples log): big_spec.rb in pieces.
    let (planner, other) = (&dirs[1], &dirs[2]);
    assert!(!planner.join("tmp").exists());
    let record = p.outside("record.txt");
    let build: &[&str] = &["--build-id", "split"];
    let first = job(&p, planner, (&redis, build), 2, "one", &record).env("QUEUE_PASS", "1").spawn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let second = job(&p, other, (&redis, build), 2, "two", &record).env("QUEUE_PASS", "1").spawn();
    let runs = [first.finish(TESTBOT_TIMEOUT), second.finish(TESTBOT_TIMEOUT)];
    let dumps: String = runs.iter().map(Run::dump).collect();
    for run in &runs {
        run.assert_exit(0);
    }
    // Two runner processes each started big_spec.rb with part of its examples; each example ran once.
    let starts = lines_of(&record, "started", "big_spec.rb");
    assert_eq!(starts.len(), 2, "big_spec.rb ran as two pieces: {starts:?}\n{dumps}");
    assert_ne!(starts[0], starts[1], "in two runners (job and pid)");
    let examples = lines_of(&record, "example", "big_spec.rb");
    let mut numbers: Vec<&str> = examples.iter().map(|words| words[1].as_str()).collect();
    numbers.sort();
    assert_eq!(numbers, ["1", "2", "3", "4"], "each example once: {examples:?}");
    let pids: std::collections::BTreeSet<&str> = examples.iter().map(|words| words[2].as_str()).collect();
    assert_eq!(pids.len(), 2, "the examples ran in the two pieces' runners: {examples:?}");

    // The build's report has the file once, with its 4 examples.
    let (run, report) = report(&p, planner, &redis, "split", &[]);
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(6, 10, 0, 0, 0), "{}", run.dump());
    let paths = report.file_paths();
    assert_eq!(paths.iter().filter(|f| f.as_str() == "spec/big_spec.rb").count(), 1, "{paths:?}");
}

#[test]
fn jobs_in_folders_of_other_names_share_a_build_by_the_queue_project() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue_plan");
    // Checkouts at other paths (a fork's, another runner's): folders of other names.
    let main = p.outside("one").join("shop");
    let fork = p.outside("two").join("shop-fork");
    copy_tree(&p.root, &main);
    copy_tree(&p.root, &fork);
    std::fs::write(main.join("testbot.toml"), "[queue]\nproject = \"shop\"\n").unwrap();
    let record = p.outside("record.txt");
    let build: &[&str] = &["--build-id", "b"];
    job(&p, &main, (&redis, build), 2, "one", &record).env("QUEUE_PASS", "1").run().assert_exit(0);
    let run = p.testbot(["-n", "2", "--queue", &redis.url(), "--build-id", "b", "--queue-project", "shop"])
        .cwd(&fork)
        .env("QUEUE_JOB", "two")
        .env("QUEUE_RECORD", &record)
        .env("QUEUE_PASS", "1")
        .run();
    run.assert_exit(0);
    let mut ran = started(&record);
    ran.sort();
    assert_eq!(ran, ["a_spec.rb", "b_spec.rb", "c_spec.rb", "d_spec.rb", "e_spec.rb"], "each file once, in one build\n{}", run.dump());
    let (run, report) = report(&p, &fork, &redis, "b", &["--queue-project", "shop"]);
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(5, 6, 0, 0, 0), "{}", run.dump());
}

#[test]
fn a_retried_attempt_reruns_only_the_piece_that_failed() {
    let redis = Redis::start();
    let p = Project::new("rspec_queue_plan");
    let dirs = warmed_up(&p, &redis, &["warm", "attempt-1", "attempt-2"]);
    let (record_1, record_2) = (p.outside("record-1.txt"), p.outside("record-2.txt"));
    let run = job(&p, &dirs[1], (&redis, &["--build-id", "r", "--attempt", "1"]), 2, "one", &record_1).run();
    run.assert_exit(1);
    assert_eq!(lines_of(&record_1, "started", "big_spec.rb").len(), 2, "attempt 1 ran big_spec.rb in two pieces\n{}", run.dump());

    // Attempt 2 reruns e and the piece of big_spec.rb with example 4, and nothing else.
    let run = job(&p, &dirs[2], (&redis, &["--build-id", "r", "--attempt", "2"]), 2, "two", &record_2).env("QUEUE_PASS", "1").run();
    run.assert_exit(0);
    let mut ran = started(&record_2);
    ran.sort();
    assert_eq!(ran, ["big_spec.rb", "e_spec.rb"], "{}", run.dump());
    let examples: Vec<String> = lines_of(&record_2, "example", "big_spec.rb").into_iter().map(|words| words[1].clone()).collect();
    assert_eq!(examples.len(), 2, "one piece of two examples: {examples:?}");
    assert!(examples.contains(&"4".to_string()), "{examples:?}");
    let (run, report) = report(&p, &dirs[2], &redis, "r", &["--attempt", "2"]);
    run.assert_exit(0);
    assert_eq!(report.totals(), totals(6, 10, 0, 0, 0), "{}", run.dump());
}
