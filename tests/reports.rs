//! Reports are part of the verdict: a report path that cannot be written stops the run before it
//! starts (exit 2), a report lost at the end fails the run (exit 1), and report files are created
//! with the usual permissions.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

/// rspec_basic with a spec that leaves `ran.txt` beside the project when it is loaded: proof
/// that something ran.
fn project_with_marker() -> (Project, std::path::PathBuf) {
    let p = Project::new("rspec_basic");
    let marker = p.outside("ran.txt");
    p.write(
        "spec/marker_spec.rb",
        &format!("File.write({:?}, \"ran\")\nRSpec.describe(\"marker\") {{ it(\"runs\") {{ }} }}\n", marker.to_str().unwrap()),
    );
    (p, marker)
}

/// rspec_basic without its failing files: a green suite, so that only the report decides.
fn green_project() -> Project {
    let p = Project::new("rspec_basic");
    std::fs::remove_file(p.path("spec/error_spec.rb")).unwrap();
    std::fs::remove_file(p.path("spec/math_spec.rb")).unwrap();
    p
}

#[track_caller]
fn assert_nothing_ran(p: &Project, marker: &std::path::Path, run: &Run) {
    assert!(!marker.exists(), "a spec ran before the bad path was reported\n{}", run.dump());
    assert!(!p.path("tmp/testbot-runtime-rspec.log").exists(), "a run finished\n{}", run.dump());
    assert!(!run.stdout.contains("testbot:"), "the run started\n{}", run.dump());
}

#[test]
fn a_json_report_path_that_is_a_directory_stops_the_run_before_it_starts() {
    let (p, marker) = project_with_marker();
    let dir = p.out_dir("reports");
    let run = p.testbot(["-n", "2"]).report_to(&dir).run();
    run.assert_exit(2);
    run.assert_output_contains(&format!("error: cannot write the JSON report to `{}`: it is a directory", dir.display()));
    assert_nothing_ran(&p, &marker, &run);
}

#[test]
fn a_junit_path_where_no_file_can_be_made_stops_the_run_before_it_starts() {
    let (p, marker) = project_with_marker();
    // The tests run as root, for whom a 0555 folder takes files: a folder that is a regular file,
    // and /proc (no new files there, for root either), take none.
    let file = p.outside("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("junit.xml");
    let run = p.testbot(["-n", "2"]).junit_to(&under_file).run();
    run.assert_exit(2);
    run.assert_output_contains(&format!(
        "error: cannot write the JUnit report to `{}`: `{}` is not a directory",
        under_file.display(),
        file.display()
    ));
    assert_nothing_ran(&p, &marker, &run);

    let run = p.testbot(["-n", "2", "--junit", "/proc/testbot-junit.xml"]).run();
    run.assert_exit(2);
    run.assert_output_contains("error: cannot write the JUnit report to `/proc/testbot-junit.xml`: its folder `/proc` does not take new files");
    assert_nothing_ran(&p, &marker, &run);

    // A runtime log given by name is checked the same way.
    let log = file.join("runtime.log");
    let run = p.testbot(["-n".into(), "2".into(), "--runtime-log".into(), log.clone().into_os_string()]).run();
    run.assert_exit(2);
    run.assert_output_contains(&format!("error: cannot write the runtime log to `{}`", log.display()));
    assert_nothing_ran(&p, &marker, &run);
}

#[test]
fn a_report_that_cannot_be_written_at_the_end_fails_a_green_run() {
    let p = green_project();
    let out = p.out_dir("out");
    let junit = out.join("junit.xml");
    let json = p.fresh_path("report", "json");
    // A spec takes the report's folder away during the run (and puts a file in its place).
    p.write(
        "spec/saboteur_spec.rb",
        "require \"fileutils\"\nRSpec.describe(\"saboteur\") do\n  it \"removes the report folder\" do\n    dir = ENV.fetch(\"SABOTAGE_DIR\")\n    FileUtils.rm_rf(dir)\n    File.write(dir, \"no longer a folder\")\n  end\nend\n",
    );
    let (run, report) = p.testbot(["-n", "2"]).env("SABOTAGE_DIR", &out).junit_to(&junit).report_to(&json).run_with_report();
    run.assert_exit(1);
    run.assert_output_contains(&format!("error: failed to write the JUnit report to {}: ", junit.display()));
    assert!(!run.combined().contains(".tmp"), "the error names a temporary file\n{}", run.dump());
    assert_eq!(report.totals().failures, 0, "the suite itself passed\n{}", run.dump());
    assert_eq!(report.json["passed"], false, "the JSON report states the verdict: the JUnit file is missing");
    run.assert_stdout_contains("FAILED");
}

#[test]
fn report_files_are_created_with_the_umask() {
    let p = green_project();
    for (mask, mode) in [(0o027, 0o640), (0o002, 0o664)] {
        let json = p.fresh_path("report", "json");
        let junit = p.fresh_path("junit", "xml");
        let run = p.testbot(["-n", "2"]).umask(mask).report_to(&json).junit_to(&junit).run();
        run.assert_exit(0);
        for path in [&json, &junit] {
            let got = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{} under umask {mask:03o}: {got:03o}", path.display());
        }
    }
}
