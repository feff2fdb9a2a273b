//! minitest, Test::Unit and Cucumber over real OpenSSH sshd hosts on 127.0.0.1
//! (tests/common/sshd.rs): the same totals as the framework's own serial run, and the slots'
//! TMPDIRs outside the project's copy there, gone after the run.

mod common;

use common::frameworks::*;
use common::sshd::{run_dirs_of, Testbed};
use common::*;

/// Runs `fixture` on one host with 2 slots and no local slot (a local slot could run every file
/// before the host's fork server is up: Cucumber's loads for about a second under load);
/// `broken` is its load-error file.
fn over_ssh(fixture: &str, framework: &str, broken: &str, serial: fn(&Project, &[&str]) -> SerialRun, files: &[&str]) {
    let bed = Testbed::start(1);
    let p = Project::new(fixture);
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(2)));
    let good: Vec<&str> = files.iter().copied().filter(|f| *f != broken).collect();
    let serial = serial(&p, &good);
    let report_path = p.fresh_path("report", "json");
    // Earlier tests' hosts (the same users) that were killed outright may have left theirs.
    let before = run_dirs_of(bed.hosts()[0].uid);
    let (run, report) = p.testbot(Vec::<String>::new()).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    report.assert_consistent_as(framework);
    assert_eq!(report.file_paths(), sorted(files), "{}", run.dump());
    let t = report.totals();
    assert_eq!(t.counts(), serial.counts, "totals vs the serial run\n{}\n--- serial ---\n{}", run.dump(), serial.run.dump());
    assert_eq!(t.errors_outside_examples, 1, "{}", run.dump());
    assert_eq!(report.file(broken).status, "errored");
    let on_host: u64 = report.hosts().iter().filter(|h| h.name == "host1").map(|h| h.files).sum();
    assert_eq!(on_host, files.len() as u64, "host1 ran every file: {:#}", report.json["hosts"]);
    // The slots' TMPDIRs were in the host's own temp dir, not in the project's copy (issue 26),
    // and went with the run.
    let out = bed.ssh(0, "ls -d .cache/testbot/project-*/.testbot/tmp 2>/dev/null; true");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "a TMPDIR in the project's copy\n{}", run.dump());
    let uid = bed.hosts()[0].uid;
    let new_dirs = || run_dirs_of(uid).into_iter().filter(|d| !before.contains(d)).collect::<Vec<_>>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !new_dirs().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(new_dirs(), Vec::<String>::new(), "the run's directory is left on host1\n{}", run.dump());
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
