//! A real Rails app (tests/fixtures/rails_app: Rails 6.1, rspec-rails, factory_bot, SimpleCov,
//! from Debian's packages) with a database per slot, SQLite or a real PostgreSQL server, run
//! locally and over sshd hosts: totals equal a serial `bundle exec rspec`, each slot used its
//! own database, and the merged coverage equals the serial run's, its minimum deciding the verdict.

mod common;

use common::postgres::Postgres;
use common::rails::*;
use common::sshd::Testbed;
use common::*;
use std::collections::BTreeMap;

/// The serial run's totals and coverage; the coverage directory is removed afterwards, so that
/// what testbot leaves there is its own.
fn serial(p: &Project, env: &[(String, String)]) -> (Serial, Coverage, String) {
    let (serial, run) = p.serial_bundle_rspec(env);
    assert_eq!(serial.exit_code, Some(0), "{}", run.dump());
    assert_eq!(serial.counts, counts(34, 0, 0), "{}", run.dump());
    let coverage = Coverage::read(&p.root);
    std::fs::remove_dir_all(p.path("coverage")).unwrap();
    (serial, coverage, loc_line(&run.stdout))
}

/// file → (host, host slot) from testbot's JSON report.
fn ran_on(report: &Report) -> BTreeMap<String, (String, u64)> {
    report.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap().trim_start_matches("./").to_string();
            (path, (f["host"].as_str().unwrap().to_string(), f["host_slot"].as_u64().unwrap()))
        })
        .collect()
}

/// testbot's run equals the serial one: totals, files, the coverage SimpleCov merged.
fn assert_like_serial(p: &Project, run: &Run, report: &Report, serial: &Serial, serial_coverage: &Coverage, serial_loc: &str) {
    run.assert_exit(0);
    assert_eq!(report.totals().counts(), serial.counts, "{}", run.dump());
    assert_eq!(sorted(&report.file_paths().iter().map(|f| f.trim_start_matches("./")).collect::<Vec<_>>()), sorted(RAILS_FILES));
    let coverage = Coverage::read(&p.root);
    assert_eq!(coverage.command_names, ["RSpec"], "one merged result, named as a serial run's");
    assert_eq!(coverage.files.keys().collect::<Vec<_>>(), serial_coverage.files.keys().collect::<Vec<_>>());
    for (file, (relevant, covered)) in &serial_coverage.files {
        assert_eq!(&coverage.files[file], &(relevant.clone(), covered.clone()), "{file}: other lines covered than in the serial run");
    }
    assert!((coverage.percent() - serial_coverage.percent()).abs() < 0.1, "{} vs {}", coverage.percent(), serial_coverage.percent());
    run.assert_output_contains("Coverage (SimpleCov, merged from");
    run.assert_output_contains(serial_loc);
    assert!(!run.combined().contains("KeyError"), "{}", run.dump());
    assert_eq!(report.json["passed"], true);
    assert_eq!(report.json["coverage"]["failed"], serde_json::Value::Null);
    assert!(report.json["coverage"]["lines"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains(serial_loc)), "{}", report.json["coverage"]);
}

/// Rows of every SQLite slot database on this machine: db/test{N}.sqlite3.
fn local_sqlite_marks(p: &Project, numbers: &[&str]) -> Marks {
    let mut marks = BTreeMap::new();
    for n in numbers {
        let run = p.sh(&format!("sqlite3 db/test{n}.sqlite3 \"{MARKS_SQL}\""), &[]);
        run.assert_exit(0);
        marks.insert(("local".to_string(), n.to_string()), parse_marks(&run.stdout));
    }
    marks
}

#[test]
fn sqlite_on_three_local_slots_a_database_each_and_coverage_merged_like_a_serial_run() {
    let p = Project::new("rails_app");
    p.sh("RAILS_ENV=test bin/rails db:schema:load", &[]).assert_exit(0);
    let (serial, serial_coverage, serial_loc) = serial(&p, &[]);
    // What `testbot init` writes for this app is all the setup the run gets.
    let init = p.testbot(["init"]).run();
    init.assert_exit(0);
    init.assert_output_contains("rails: a test database per slot");
    assert!(std::fs::read_to_string(p.path("testbot.toml")).unwrap().contains(HOOKS.trim().lines().last().unwrap()), "init writes the hook");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "3"]).report_to(&report_path).run_with_report();
    assert_like_serial(&p, &run, &report, &serial, &serial_coverage, &serial_loc);
    assert_a_database_per_slot(&local_sqlite_marks(&p, &["", "2", "3"]), &ran_on(&report), false);

    // A minimum above the merged figure fails the run, as it fails the serial run (SimpleCov
    // exits 2): one clear message, and no example failed.
    set_minimum_coverage(&p.root, 99.0);
    let (failing_serial, serial_run) = p.serial_bundle_rspec(&[]);
    assert_eq!(failing_serial.exit_code, Some(2), "the serial run fails: {}", serial_run.dump());
    let below = serial_run
        .combined()
        .lines()
        .find(|l| l.contains("is below the expected minimum coverage"))
        .unwrap_or_else(|| panic!("{}", serial_run.dump()))
        .trim()
        .to_string();
    std::fs::remove_dir_all(p.path("coverage")).unwrap();
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "3"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.totals().counts(), serial.counts);
    run.assert_output_contains(&below);
    run.assert_output_contains("error: coverage: SimpleCov's checks on the merged coverage failed");
    assert_eq!(report.json["passed"], false);
    assert!(report.json["coverage"]["failed"].as_str().unwrap().contains("exited with status 2"), "{}", report.json["coverage"]);
    assert_eq!(run.combined().matches("is below the expected minimum coverage").count(), 1, "{}", run.dump());
}

#[test]
fn preload_on_the_rails_app_gives_the_serial_totals_and_coverage() {
    let p = Project::new("rails_app");
    p.sh("RAILS_ENV=test bin/rails db:schema:load", &[]).assert_exit(0);
    let (serial, serial_coverage, serial_loc) = serial(&p, &[]);
    p.write("testbot.toml", HOOKS);
    let report_path = p.fresh_path("report", "json");
    // The server loads rails_helper (the app) once a slot; each batch is a forked child.
    let (run, report) = p.testbot(["-n", "2", "--preload", "--", "--require", "rails_helper"]).report_to(&report_path).run_with_report();
    assert_like_serial(&p, &run, &report, &serial, &serial_coverage, &serial_loc);
    assert_a_database_per_slot(&local_sqlite_marks(&p, &["", "2"]), &ran_on(&report), false);
}

#[test]
fn sqlite_on_two_sshd_hosts_and_a_local_slot_brings_the_coverage_back() {
    let bed = Testbed::start(2);
    let p = Project::new("rails_app");
    p.sh("RAILS_ENV=test bin/rails db:schema:load", &[]).assert_exit(0);
    // Below the real figure: the run passes.
    set_minimum_coverage(&p.root, 90.0);
    let (serial, serial_coverage, serial_loc) = serial(&p, &[]);
    p.write("testbot.toml", &format!("{}\n[local]\nslots = 1\n{HOOKS}", bed.inventory_toml(2)));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(std::iter::empty::<&str>()).report_to(&report_path).run_with_report();
    assert_like_serial(&p, &run, &report, &serial, &serial_coverage, &serial_loc);
    let ran = ran_on(&report);
    assert!(ran.values().any(|(h, _)| h != "local"), "nothing ran over SSH: {ran:?}");
    let mut marks = local_sqlite_marks(&p, &[""]);
    for (i, host) in ["host1", "host2"].iter().enumerate() {
        for n in ["", "2"] {
            let out = bed.ssh(i, &format!("sqlite3 .cache/testbot/project-*/db/test{n}.sqlite3 \"{MARKS_SQL}\""));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            marks.insert((host.to_string(), n.to_string()), parse_marks(&String::from_utf8_lossy(&out.stdout)));
        }
    }
    assert_a_database_per_slot(&marks, &ran, false);
}

#[test]
fn postgresql_locally_and_over_sshd_hosts_a_database_per_slot() {
    let pg = Postgres::start();
    let mut env = pg.env();
    env.extend([("DB_ADAPTER".to_string(), "postgresql".to_string()), ("DB_PER_HOST".to_string(), "1".to_string())]);
    let bed = Testbed::start(2);
    let p = Project::new("rails_app");
    // The serial run's database: blog_test_ (no TESTBOT_HOST).
    p.sh("RAILS_ENV=test bin/rails db:create db:schema:load", &env).assert_exit(0);
    let (serial, serial_coverage, serial_loc) = serial(&p, &env);
    let project_env: Vec<String> = env.iter().map(|(k, v)| format!("{k} = \"{v}\"")).collect();
    let project = format!("[project]\nenv = {{ {} }}\n", project_env.join(", "));

    // Three local slots.
    p.write("testbot.toml", &format!("{project}{HOOKS}"));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "3"]).report_to(&report_path).run_with_report();
    assert_like_serial(&p, &run, &report, &serial, &serial_coverage, &serial_loc);
    let marks_of = |hosts: &[(&str, &[&str])]| {
        let mut marks = BTreeMap::new();
        for (host, numbers) in hosts {
            for n in *numbers {
                let rows = pg.rows(&format!("blog_test{n}_{host}"), MARKS_SQL).join("\n");
                marks.insert((host.to_string(), n.to_string()), parse_marks(&rows));
            }
        }
        marks
    };
    assert_a_database_per_slot(&marks_of(&[("local", &["", "2", "3"])]), &ran_on(&report), false);
    std::fs::remove_dir_all(p.path("coverage")).unwrap();
    // Without the first run's history: it would split the slow files into pieces on several
    // slots, and a file would then be in several databases.
    std::fs::remove_dir_all(p.path("tmp")).unwrap();

    // Two sshd hosts of two slots and one local slot, on the same server.
    p.write("testbot.toml", &format!("{project}{}\n[local]\nslots = 1\n{HOOKS}", bed.inventory_toml(2)));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(std::iter::empty::<&str>()).report_to(&report_path).run_with_report();
    assert_like_serial(&p, &run, &report, &serial, &serial_coverage, &serial_loc);
    assert_a_database_per_slot(&marks_of(&[("local", &[""]), ("host1", &["", "2"]), ("host2", &["", "2"])]), &ran_on(&report), false);
    let mut expected = vec!["blog_test_".to_string()];
    for db in ["blog_test2_local", "blog_test2_host1", "blog_test2_host2", "blog_test3_local", "blog_test_host1", "blog_test_host2", "blog_test_local"] {
        expected.push(db.to_string());
    }
    expected.sort();
    assert_eq!(pg.databases(), expected);
}
