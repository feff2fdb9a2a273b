//! Serial runs of minitest, Test::Unit and Cucumber in a fixture copy, with their own console
//! summary parsed into [`Counts`], so tests can compare testbot's totals with the framework's.
//!
//! - minitest:  `ruby -Itest -e 'ARGV.each { |f| require "./" + f }' FILES`, summary line
//!   `15 runs, 16 assertions, 1 failures, 1 errors, 1 skips` (failures + errors are failures,
//!   skips are pending);
//! - Test::Unit: the same command, summary `13 tests, 10 assertions, 1 failures, 1 errors,
//!   1 pendings, 1 omissions, 0 notifications` (pendings + omissions are pending);
//! - Cucumber: `cucumber --format progress FILES`, summary `11 scenarios (3 failed,
//!   1 undefined, 1 pending, 6 passed)` (everything neither passed nor failed is pending).

use super::{run_with_timeout, scrub_env, Counts, Project, Run, RSPEC_TIMEOUT};
use std::process::Command;

/// The serial run's counts and exit code, and what it printed (for assertion messages).
pub struct SerialRun {
    pub counts: Counts,
    pub exit_code: Option<i32>,
    pub run: Run,
}

fn run_in(p: &Project, mut cmd: Command, desc: &str) -> Run {
    cmd.current_dir(&p.root);
    scrub_env(&mut cmd);
    run_with_timeout(cmd, desc, RSPEC_TIMEOUT)
}

fn require_each(p: &Project, files: &[&str], desc: &str) -> Run {
    let mut cmd = Command::new("ruby");
    cmd.args(["-Itest", "-e", r#"ARGV.each { |f| require "./" + f }"#]).args(files);
    run_in(p, cmd, desc)
}

/// The number before `word` in `line` (`"3 failures"` → 3); 0 when absent.
pub fn number_before(line: &str, word: &str) -> u64 {
    let words: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').filter(|w| !w.is_empty()).collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .map(|w| w[0].parse().unwrap_or_else(|_| panic!("not a number before {word:?} in {line:?}")))
        .unwrap_or(0)
}

#[track_caller]
fn summary_line<'a>(run: &'a Run, starts: &str, contains: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(starts) && l.contains(contains))
        .unwrap_or_else(|| panic!("no `N {starts} …{contains}…` summary line\n{}", run.dump()))
}

pub fn serial_minitest(p: &Project, files: &[&str]) -> SerialRun {
    let run = require_each(p, files, "minitest (serial)");
    let line = summary_line(&run, "runs,", "assertions");
    let counts = Counts {
        examples: number_before(line, "runs"),
        failures: number_before(line, "failures") + number_before(line, "errors"),
        pending: number_before(line, "skips"),
    };
    SerialRun { counts, exit_code: run.code, run }
}

pub fn serial_test_unit(p: &Project, files: &[&str]) -> SerialRun {
    let run = require_each(p, files, "test-unit (serial)");
    let line = summary_line(&run, "tests,", "assertions");
    let counts = Counts {
        examples: number_before(line, "tests"),
        failures: number_before(line, "failures") + number_before(line, "errors"),
        pending: number_before(line, "pendings") + number_before(line, "omissions"),
    };
    SerialRun { counts, exit_code: run.code, run }
}

pub fn serial_cucumber(p: &Project, files: &[&str]) -> SerialRun {
    let mut cmd = Command::new("cucumber");
    cmd.args(["--format", "progress", "--no-color"]).args(files);
    let run = run_in(p, cmd, "cucumber (serial)");
    let line = summary_line(&run, "scenarios", "");
    let examples = number_before(line, "scenarios");
    let failures = number_before(line, "failed");
    let passed = number_before(line, "passed");
    let counts = Counts { examples, failures, pending: examples - failures - passed };
    SerialRun { counts, exit_code: run.code, run }
}
