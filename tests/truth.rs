//! The verdict is the framework's own, whatever a test does: each project under
//! `tests/fixtures/truth/` does one thing that once fooled testbot (or could): closing or
//! reopening `$stdout`, load errors of every kind, a failing `before(:suite)`, `exit!`,
//! `SystemExit`, a SIGTERM to itself, an `at_exit` that fails the process, forked children,
//! output shaped like events, binary output, aggregated failures, a spec that needs `StringIO` or
//! must not see `JSON`; and the same for minitest, Test::Unit and Cucumber (`--wip` included).
//!
//! Each is run differentially: every file alone under the framework's own runner (`rspec FILE`
//! with its summary written to a file, so a spec closing stdout cannot hide it; `ruby -Itest
//! FILE`; `cucumber FILE`) is the reference, then testbot runs the whole project with several
//! slots (files batched together), locally and over real sshd hosts. Per file: the same
//! examples, failures and pending, or an error where the framework reported one (or could not
//! finish); the same verdict for the run; the same errors outside examples.

mod common;

use common::sshd::{run_dirs_of, Testbed};
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

/// What the framework's own runner said about one file alone.
#[derive(Debug, Clone)]
struct Reference {
    exit: Option<i32>,
    /// examples, failures, pending, errors outside examples; None: it printed no summary (the
    /// process ended before it could, or its stdout was closed).
    summary: Option<(u64, u64, u64, u64)>,
}

impl Reference {
    fn passed(&self) -> bool {
        self.exit == Some(0)
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fw {
    RSpec,
    Minitest,
    TestUnit,
    Cucumber,
}

impl Fw {
    fn name(self) -> &'static str {
        match self {
            Fw::RSpec => "rspec",
            Fw::Minitest => "minitest",
            Fw::TestUnit => "test-unit",
            Fw::Cucumber => "cucumber",
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Fw::RSpec => "spec",
            Fw::Minitest | Fw::TestUnit => "test",
            Fw::Cucumber => "features",
        }
    }

    fn is_test_file(self, path: &str) -> bool {
        match self {
            Fw::RSpec => path.ends_with("_spec.rb"),
            Fw::Minitest | Fw::TestUnit => path.ends_with("_test.rb"),
            Fw::Cucumber => path.ends_with(".feature"),
        }
    }
}

/// The number before the first word that starts with `word` (`"3 failures"` → 3).
fn number_before(line: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = line.split([' ', ',', '(', ')']).filter(|w| !w.is_empty()).collect();
    words.windows(2).find(|w| w[1].starts_with(word)).and_then(|w| w[0].parse().ok())
}

/// The framework's own serial run of `file` alone, with `args`.
fn reference(p: &Project, fw: Fw, file: &str, args: &[&str]) -> Reference {
    let out = p.fresh_path("serial", "txt");
    let mut cmd = match fw {
        Fw::RSpec => {
            let mut cmd = Command::new("rspec");
            cmd.args(["--no-color", "--format", "progress", "--out"]).arg(&out).args(args).arg(format!("./{file}"));
            cmd
        }
        Fw::Minitest | Fw::TestUnit => {
            let mut cmd = Command::new("ruby");
            cmd.args(["-Itest", file]).args(args);
            cmd
        }
        Fw::Cucumber => {
            let mut cmd = Command::new("cucumber");
            cmd.args(["--no-color", "--format", "progress"]).args(args).arg(file);
            cmd
        }
    };
    cmd.current_dir(&p.root);
    scrub_env(&mut cmd);
    let run = run_with_timeout(cmd, "the framework (serial, one file)", RSPEC_TIMEOUT);
    let text = match fw {
        Fw::RSpec => fs::read_to_string(&out).unwrap_or_default(),
        _ => run.stdout.clone(),
    };
    let summary = text.lines().rev().find_map(|l| match fw {
        Fw::RSpec => (l.contains(" example") && l.contains(" failure")).then(|| {
            (
                number_before(l, "example").unwrap_or(0),
                number_before(l, "failure").unwrap_or(0),
                number_before(l, "pending").unwrap_or(0),
                number_before(l, "error").unwrap_or(0),
            )
        }),
        Fw::Minitest => (l.contains(" runs,") && l.contains(" assertions")).then(|| {
            let n = |w| number_before(l, w).unwrap_or(0);
            (n("runs"), n("failures") + n("errors"), n("skips"), 0)
        }),
        Fw::TestUnit => (l.contains(" tests,") && l.contains(" assertions")).then(|| {
            let n = |w| number_before(l, w).unwrap_or(0);
            (n("tests"), n("failures") + n("errors"), n("pendings") + n("omissions"), 0)
        }),
        // `1 scenario (1 passed)`, not `--wip`'s "(::) passed scenarios (::)".
        Fw::Cucumber => (l.contains(" scenario") && l.split(' ').next().is_some_and(|w| w.parse::<u64>().is_ok())).then(|| {
            let n = |w| number_before(l, w).unwrap_or(0);
            let examples = n("scenario");
            (examples, n("failed"), examples - n("failed") - n("passed"), 0)
        }),
    });
    Reference { exit: run.code, summary }
}

fn test_files(p: &Project, fw: Fw) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![p.path(fw.folder())];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(&p.root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if fw.is_test_file(&rel) {
                files.push(rel);
            }
        }
    }
    files.sort();
    files
}

/// How the run's errors outside examples are to compare with the per-file references.
#[derive(Clone, Copy, PartialEq)]
enum Errors {
    /// One per file that reported an error alone (load errors), one per file whose process
    /// ended before its summary, one per file whose runner exited badly with no failure.
    PerFile,
    /// An error every runner reports (a failing `before(:suite)`): one per batch, at least one.
    PerBatch,
}

struct Case {
    fixture: &'static str,
    fw: Fw,
    /// After `--`, for testbot and the reference alike.
    args: &'static [&'static str],
    errors: Errors,
    /// Files whose process ends before the framework has every example's result, where the
    /// framework may still print a summary and exit 0 (`raise SystemExit` in an example: "2
    /// examples, 0 failures", status 0, the examples after it never run). testbot reports them
    /// as errors: never a false green (docs/verdict.md).
    ends_early: &'static [&'static str],
    /// Files whose summary the framework cannot print (they close its stdout), with what it
    /// counts: examples, failures, pending.
    unprintable: &'static [(&'static str, (u64, u64, u64))],
}

const fn rspec(fixture: &'static str, errors: Errors) -> Case {
    Case { fixture, fw: Fw::RSpec, args: &[], errors, ends_early: &[], unprintable: &[] }
}

const CASES: &[Case] = &[
    rspec("truth/stdout_close", Errors::PerFile),
    rspec("truth/stdout_reopen", Errors::PerFile),
    rspec("truth/load_errors", Errors::PerFile),
    rspec("truth/suite_hook", Errors::PerBatch),
    Case {
        ends_early: &["spec/exit_bang_spec.rb", "spec/sigterm_spec.rb", "spec/system_exit_spec.rb", "spec/unbuffered_exit_spec.rb"],
        ..rspec("truth/aborts", Errors::PerFile)
    },
    rspec("truth/at_exit", Errors::PerFile),
    rspec("truth/output", Errors::PerFile),
    rspec("truth/aggregate", Errors::PerFile),
    rspec("truth/tmpdir", Errors::PerFile),
    // A long file cut into pieces by its history (tmp/), one of them batched with a file that
    // does not load: the piece goes back, uncharged, and runs.
    rspec("truth/split_load_error", Errors::PerFile),
    Case {
        fw: Fw::Minitest,
        ends_early: &["test/exit_bang_test.rb"],
        unprintable: &[("test/closes_stdout_test.rb", (2, 1, 0))],
        ..rspec("truth/minitest", Errors::PerFile)
    },
    Case { fw: Fw::TestUnit, unprintable: &[("test/closes_stdout_test.rb", (2, 1, 0))], ..rspec("truth/test_unit", Errors::PerFile) },
    Case { fw: Fw::Cucumber, unprintable: &[("features/closes_stdout.feature", (2, 1, 0))], ..rspec("truth/cucumber_abuse", Errors::PerFile) },
    Case { fw: Fw::Cucumber, args: &["--tags", "@wip", "--wip"], ..rspec("truth/cucumber_wip", Errors::PerFile) },
    Case { fw: Fw::Cucumber, args: &["--tags", "@wip-done", "--wip"], ..rspec("truth/cucumber_wip", Errors::PerFile) },
];

/// A fixture's `history/` holds what an earlier run left in `tmp/` (the runtime and examples
/// logs): put where testbot reads it (fixtures' own `tmp/` is never copied).
fn with_history(p: &Project) {
    let Ok(entries) = fs::read_dir(p.path("history")) else { return };
    fs::create_dir_all(p.path("tmp")).unwrap();
    for entry in entries {
        let entry = entry.unwrap();
        fs::copy(entry.path(), p.path("tmp").join(entry.file_name())).unwrap();
    }
}

/// Runs one case with `args` (and `toml` as testbot.toml, if any) and compares with the
/// framework's own runs.
fn check(case: &Case, args: &[&str], toml: Option<&str>) -> (Run, Report) {
    let p = Project::new(case.fixture);
    let files = test_files(&p, case.fw);
    let refs: BTreeMap<String, Reference> = files.iter().map(|f| (f.clone(), reference(&p, case.fw, f, case.args))).collect();
    with_history(&p);
    if let Some(toml) = toml {
        p.write("testbot.toml", toml);
    }
    let report_path = p.fresh_path("report", "json");
    let mut all_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all_args.extend(["--file-timeout".to_string(), "30".to_string(), "--framework".to_string(), case.fw.name().to_string()]);
    if !case.args.is_empty() {
        all_args.push("--".into());
        all_args.extend(case.args.iter().map(|a| a.to_string()));
    }
    let (run, report) = p.testbot(all_args).report_to(&report_path).run_with_report();
    let context = || format!("case {} {:?}\nreferences: {refs:#?}\n{}", case.fixture, case.args, run.dump());

    assert_eq!(report.file_paths(), files, "every file has exactly one result\n{}", context());
    let mut expected_errors = 0;
    let mut bad_exit = false;
    for (file, r) in &refs {
        let row = report.file(file);
        let signalled = r.exit.is_none_or(|code| code >= 128);
        let mut summary = r.summary.or_else(|| {
            case.unprintable.iter().find(|(f, _)| f == file).map(|(_, (examples, failures, pending))| (*examples, *failures, *pending, 0))
        });
        if case.args.contains(&"--wip") {
            // Under `--wip` a failed scenario is what is expected (testbot: pending) and a
            // passed one is the failure (docs/verdict.md); Cucumber's exit status says the same.
            summary = summary.map(|(examples, failed, pending, errors)| (examples, examples - failed - pending, failed + pending, errors));
        }
        if case.ends_early.contains(&file.as_str()) || signalled || summary.is_none() {
            assert_eq!(row.status, "errored", "{file}: the framework ended before every example had a result\n{}", context());
            expected_errors += 1;
            bad_exit = true;
            continue;
        }
        match summary {
            Some((examples, failures, pending, 0)) if !(r.exit != Some(0) && failures == 0) => {
                assert_eq!(
                    (row.examples, row.failures, row.pending),
                    (examples, failures, pending),
                    "{file}: testbot's counts against the framework's own\n{}",
                    context()
                );
                assert_ne!(row.status, "errored", "{file}\n{}", context());
            }
            Some((examples, failures, pending, 0)) => {
                // All its examples passed, yet the process failed (an `at_exit`): the counts
                // match and the run carries an error for it.
                assert_eq!((row.examples, row.failures, row.pending), (examples, failures, pending), "{file}\n{}", context());
                bad_exit = true;
                expected_errors += 1;
            }
            Some((examples, _, _, errors)) => {
                if case.errors == Errors::PerFile {
                    assert_eq!(row.status, "errored", "{file}: the framework reported an error outside examples\n{}", context());
                    assert_eq!(row.examples, examples, "{file}\n{}", context());
                }
                expected_errors += errors;
            }
            None => unreachable!("handled above"),
        }
    }
    let t = report.totals();
    match case.errors {
        Errors::PerFile => assert_eq!(t.errors_outside_examples, expected_errors, "errors outside examples\n{}", context()),
        Errors::PerBatch => assert!(t.errors_outside_examples >= 1, "{}", context()),
    }
    let verdict = refs.values().all(Reference::passed) && !bad_exit;
    run.assert_exit(if verdict { 0 } else { 1 });
    report.assert_consistent_as(case.fw.name());
    (run, report)
}

#[test]
fn every_case_matches_its_framework_locally() {
    for case in CASES {
        check(case, &["-n", "3"], None);
    }
}

#[test]
fn every_case_matches_its_framework_over_ssh() {
    let bed = Testbed::start(2);
    for case in CASES {
        let toml = format!("[local]\nslots = 1\n\n{}", bed.inventory_toml(2));
        check(case, &[], Some(&toml));
    }
}

/// Issue 26, item 3: a slot's TMPDIR is outside the project's copy and on no hidden path, so a
/// suite that finds its temp files from the project (or skips dot-directories) gives the
/// framework's own verdict on hosts too; each host's run directory is private and removed
/// when the run ends.
#[test]
fn a_slots_tmpdir_is_outside_the_project_and_not_hidden_locally_and_over_ssh() {
    let case = CASES.iter().find(|c| c.fixture == "truth/tmpdir").expect("the case");
    let (run, report) = check(case, &["-n", "2"], None);
    assert_eq!((report.totals().examples, report.totals().failures), (3, 0), "{}", run.dump());
    let bed = Testbed::start(1);
    let toml = format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(2));
    // Earlier tests' hosts (the same users) that were killed outright may have left theirs.
    let uid = bed.hosts()[0].uid;
    let before = run_dirs_of(uid);
    let new_dirs = || run_dirs_of(uid).into_iter().filter(|d| !before.contains(d)).collect::<Vec<_>>();
    let (run, report) = check(case, &[], Some(&toml));
    assert_eq!((report.totals().examples, report.totals().failures), (3, 0), "{}", run.dump());
    // The host's run directory went with the run (its reaper removes it within a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !new_dirs().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(new_dirs(), Vec::<String>::new(), "the host's run directory is left\n{}", run.dump());
}

/// The same directory is removed when testbot dies mid-run (SIGKILL): the host's watchdog kills
/// its keeper, whose reaper removes it.
#[test]
fn a_hosts_run_directory_is_removed_when_testbot_is_killed() {
    let p = Project::new("truth/tmpdir");
    p.write(
        "spec/slow_spec.rb",
        "require \"tmpdir\"\nRSpec.describe \"slow\" do\n  it(\"waits\") { File.write(File.join(Dir.home, \"slow-started\"), Dir.tmpdir); sleep 60 }\nend\n",
    );
    let bed = Testbed::start(1);
    p.write("testbot.toml", &format!("[local]\nslots = 0\n\n{}", bed.inventory_toml(1)));
    let uid = bed.hosts()[0].uid;
    let before = run_dirs_of(uid);
    let new_dirs = || run_dirs_of(uid).into_iter().filter(|d| !before.contains(d)).collect::<Vec<_>>();
    let running = p.testbot(["--file-timeout", "120"]).spawn();
    let started = bed.hosts()[0].home.join("slow-started");
    if !wait_for_file(&started, std::time::Duration::from_secs(60)) {
        running.signal("KILL");
        panic!("the slow spec never started\n{}", running.finish(std::time::Duration::from_secs(30)).dump());
    }
    let tmpdir = std::fs::read_to_string(&started).unwrap();
    assert!(tmpdir.starts_with("/tmp/testbot-run-") && tmpdir.ends_with("/slot-1"), "{tmpdir}");
    assert_eq!(new_dirs().len(), 1, "{:?}", new_dirs());
    running.signal("KILL");
    let run = running.finish(std::time::Duration::from_secs(30));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !new_dirs().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(new_dirs(), Vec::<String>::new(), "the host's run directory outlived testbot\n{}", run.dump());
}

#[test]
fn stdout_closed_by_a_spec_hides_no_failure() {
    let (run, report) = check(&CASES[0], &["-n", "1"], None);
    // One slot: both files share a batch, and the second file's failure still counts.
    assert_eq!(report.file("spec/b_fails_spec.rb").failures, 1, "{}", run.dump());
    assert_eq!(report.totals().failures, 2, "{}", run.dump());
}

#[test]
fn a_load_error_with_suggestions_is_blamed_on_its_file_and_the_run_ends() {
    let (run, report) = check(&CASES[2], &["-n", "1"], None);
    let row = report.file("spec/calc_spec.rb");
    assert_eq!(row.status, "errored", "{}", run.dump());
    // Every file was started at most twice: the run never loops on requeues.
    let retries = run.combined().matches("RETRY").count();
    assert!(retries <= 2 * files_count(&report), "{retries} requeues\n{}", run.dump());
    run.assert_output_contains("An error occurred while loading ./spec/calc_spec.rb. - Did you mean?");
}

#[test]
fn a_file_sent_back_by_other_files_failures_still_runs_and_the_run_reports() {
    // One slot, batches of four: three files that kill their own runner go first, the slow
    // file behind them each time, then the file that does not load. Each failure sends the slow
    // file back through no fault of its own: it is charged none of those starts and runs.
    let p = Project::new("truth/split_load_error");
    with_history(&p);
    let mut log = fs::read_to_string(p.path("tmp/testbot-runtime-rspec.log")).unwrap();
    for c in ["a", "b", "c"] {
        p.write(&format!("spec/crash_{c}_spec.rb"), "describe('crash') { it('kills its runner') { Process.kill(:KILL, Process.pid) } }\n");
        log.push_str(&format!("spec/crash_{c}_spec.rb:3.0\n"));
    }
    p.write("tmp/testbot-runtime-rspec.log", &log);
    let report_path = p.fresh_path("report", "json");
    let (run, report) =
        p.testbot(["-n", "1"]).env("TESTBOT_TUNING", "max_batch_files=4,split_factor=0.1").report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file_paths().len(), 9, "every file has one result\n{}", run.dump());
    let slow = report.file("spec/slow_import_spec.rb");
    assert_eq!((slow.status.as_str(), slow.examples, slow.failures), ("passed", 6, 0), "{}", run.dump());
    for c in ["a", "b", "c"] {
        assert_eq!(report.file(&format!("spec/crash_{c}_spec.rb")).status, "errored", "{}", run.dump());
    }
    assert_eq!(report.file("spec/syntax_error_spec.rb").status, "errored", "{}", run.dump());
    assert!(!run.combined().contains("internal error"), "{}", run.dump());
    run.assert_output_contains("FAILED");
}

fn files_count(report: &Report) -> usize {
    report.file_paths().len()
}

#[test]
fn aggregated_failures_show_every_sub_failure() {
    let (run, report) = check(&CASES[7], &["-n", "1"], None);
    let failures = report.failures();
    let agg = failures.iter().find(|f| f.description == "agg two expectations").unwrap_or_else(|| panic!("{}", run.dump()));
    assert!(agg.message.contains("Got 2 failures"), "{}", agg.message);
    assert!(agg.message.contains("expected: 2") && agg.message.contains("expected: \"b\""), "{}", agg.message);
    let hook = failures.iter().find(|f| f.description.contains("fails in the example too")).unwrap();
    assert!(hook.message.contains("example broke") && hook.message.contains("after hook broke"), "{}", hook.message);
}

#[test]
fn a_hang_names_the_example_and_counts_as_an_error() {
    let p = Project::new("truth/output");
    p.write("spec/hangs_spec.rb", "describe 'hang' do\n  it('passes') {}\n  it('sleeps forever') { sleep }\nend\n");
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["-n", "2", "--file-timeout", "2", "spec/hangs_spec.rb", "spec/stringio_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(1);
    assert_eq!(report.file("spec/hangs_spec.rb").status, "errored", "{}", run.dump());
    run.assert_output_contains("in `hang sleeps forever` (./spec/hangs_spec.rb:3)");
    assert_eq!(report.totals().errors_outside_examples, 1, "{}", run.dump());
    let line = run.combined().lines().rev().find(|l| l.contains("FAILED")).unwrap_or_default().to_string();
    assert!(line.contains("1 error occurred outside of examples"), "{line}\n{}", run.dump());
}

#[test]
fn a_runner_that_cannot_start_is_one_error_not_a_retry_per_file() {
    let p = Project::new("truth/aggregate");
    p.write("Gemfile", "source 'https://rubygems.org'\ngem 'no-such-gem-for-testbot'\n");
    for i in 0..6 {
        p.write(&format!("spec/more_{i}_spec.rb"), "describe('x') { it('y') {} }\n");
    }
    let run = p.testbot(["-n", "2"]).run();
    run.assert_exit(1);
    let out = run.combined();
    assert_eq!(out.matches("RETRY").count(), 0, "{out}");
    assert!(out.contains("its test runner could not start"), "{out}");
    // The bundler message once per host (as it happens, and in the summary), not once per file.
    assert_eq!(out.matches("no-such-gem-for-testbot").count(), 2, "{out}");
    assert_eq!(out.matches("host `local` left the run: its test runner could not start").count(), 2, "{out}");
}

#[test]
fn a_spec_file_with_a_non_ascii_name_runs_over_ssh() {
    // The remote command runs with a UTF-8 locale when the login environment sets none.
    let bed = Testbed::start(1);
    let p = Project::new("truth/aggregate");
    p.write("spec/grüße_spec.rb", "describe('Grüße') { it('sagt hallo') { expect('ä'.upcase).to eq('Ä') } }\n");
    p.write("testbot.toml", &bed.inventory_toml(1));
    let report_path = p.fresh_path("report", "json");
    let (run, report) = p.testbot(["spec/grüße_spec.rb"]).report_to(&report_path).run_with_report();
    run.assert_exit(0);
    let row = report.file("spec/grüße_spec.rb");
    assert_eq!((row.examples, row.failures, row.host.as_str()), (1, 0, "host1"), "{}", run.dump());
}

#[test]
fn a_file_name_with_a_line_break_is_a_clear_error_before_anything_runs() {
    let p = Project::new("truth/aggregate");
    p.write("spec/two\nlines_spec.rb", "describe('x') { it('y') {} }\n");
    let run = p.testbot(["-n", "1"]).run();
    run.assert_exit(2);
    run.assert_output_contains("the test file \"spec/two\\nlines_spec.rb\" has a line break in its name");
    assert!(!run.combined().contains("PASS"), "{}", run.dump());
}

#[test]
fn output_outside_files_is_shown_once_whatever_the_batches() {
    // RSpec prints its deprecation summary after the last file: every batch prints the same.
    let p = Project::new("truth/aggregate");
    for i in 0..4 {
        p.write(
            &format!("spec/old_{i}_spec.rb"),
            "describe('old') { it('uses an old thing') { RSpec.deprecate('`old_thing`', replacement: '`new_thing`') } }\n",
        );
    }
    let files: Vec<String> = (0..4).map(|i| format!("spec/old_{i}_spec.rb")).collect();
    let mut args = files.clone();
    args.extend(["-n".to_string(), "2".to_string()]);
    let run = p.testbot(&args).run();
    run.assert_exit(0);
    let out = run.combined();
    assert_eq!(out.matches("Printed outside of files").count(), 1, "{out}");
    // RSpec's summary, merged: its header and advice once, every call site once.
    assert_eq!(out.matches("Deprecation Warnings:").count(), 1, "{out}");
    assert_eq!(out.matches("If you need more of the backtrace").count(), 1, "{out}");
    for i in 0..4 {
        assert_eq!(out.matches(&format!("spec/old_{i}_spec.rb:1:in")).count(), 1, "{out}");
    }
}
