//! minitest, Test::Unit and Cucumber over real OpenSSH sshd hosts on 127.0.0.1
//! (tests/common/sshd.rs): the same totals as the framework's own serial run, and every slot
//! of a host with its own TMPDIR under the project's copy there.

mod common;

use common::frameworks::*;
use common::sshd::Testbed;
use common::*;

/// Runs `fixture` on one host with 2 slots plus one local slot; `broken` is its load-error file.
fn over_ssh(fixture: &str, framework: &str, broken: &str, serial: fn(&Project, &[&str]) -> SerialRun, files: &[&str]) {
    let bed = Testbed::start(1);
    let p = Project::new(fixture);
    p.write("testbot.toml", &format!("[local]\nslots = 1\n\n{}", bed.inventory_toml(2)));
    let good: Vec<&str> = files.iter().copied().filter(|f| *f != broken).collect();
    let serial = serial(&p, &good);
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(Vec::<String>::new()).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as(framework);
    assert_eq!(report.file_paths(), sorted(files), "{}", run.dump());
    let t = report.totals();
    assert_eq!(t.counts(), serial.counts, "totals vs the serial run\n{}\n--- serial ---\n{}", run.dump(), serial.run.dump());
    assert_eq!(t.errors_outside_examples, 1, "{}", run.dump());
    assert_eq!(report.file(broken).status, "errored");
    let on_host: u64 = report.hosts().iter().filter(|h| h.name == "host1").map(|h| h.files).sum();
    assert!(on_host > 0, "host1 ran no file: {:#}", report.json["hosts"]);
    // Each slot that ran on the host made its own TMPDIR under the project's copy.
    let out = bed.ssh(0, "ls -d .cache/testbot/project-*/.testbot/tmp/slot-*");
    let dirs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{dirs}\n{}", String::from_utf8_lossy(&out.stderr));
    let made: std::collections::BTreeSet<String> = dirs.lines().map(|l| l.rsplit('/').next().unwrap().to_string()).collect();
    let ran: std::collections::BTreeSet<String> =
        report.files().iter().filter(|f| f.host == "host1").map(|f| format!("slot-{}", f.slot)).collect();
    assert_eq!(made, ran, "a TMPDIR for each slot that ran files on host1, and no other");
}

#[test]
fn minitest_over_ssh_matches_serial() {
    over_ssh(
        "minitest_basic",
        "minitest",
        "test/broken_test.rb",
        serial_minitest,
        &[
            "test/broken_test.rb",
            "test/empty_test.rb",
            "test/error_test.rb",
            "test/math_test.rb",
            "test/models/test_user.rb",
            "test/passing_test.rb",
            "test/skip_test.rb",
            "test/spec_style_test.rb",
        ],
    );
}

#[test]
fn test_unit_over_ssh_matches_serial() {
    over_ssh(
        "test_unit_basic",
        "test-unit",
        "test/broken_test.rb",
        serial_test_unit,
        &[
            "test/broken_test.rb",
            "test/empty_test.rb",
            "test/error_test.rb",
            "test/math_test.rb",
            "test/passing_test.rb",
            "test/pending_test.rb",
            "test/unit/test_nested.rb",
        ],
    );
}

#[test]
fn cucumber_over_ssh_matches_serial() {
    over_ssh(
        "cucumber_basic",
        "cucumber",
        "features/broken.feature",
        serial_cucumber,
        &[
            "features/broken.feature",
            "features/empty.feature",
            "features/failing.feature",
            "features/nested/outline.feature",
            "features/passing.feature",
            "features/pending.feature",
        ],
    );
}
