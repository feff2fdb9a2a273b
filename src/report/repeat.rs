//! `--repeat N`: each run's failures, and at the end one summary of which examples failed in
//! which runs — those that failed every run apart from those that failed in some (flaky or
//! order-dependent). `--shuffle-batches`: the seed each run dealt its batches from.

use super::aggregate::Aggregate;
use crate::events::{ExampleStatus, FileError};
use std::fmt::Write;
use std::path::PathBuf;

/// One thing that failed a run: an example (not a quarantined one), a file that errored, or
/// errors outside the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    pub kind: FailedKind,
    /// The same in every run: the file and the framework's id, else the rerun location.
    pub key: String,
    /// As the summary names it: its rerun location and description.
    pub text: String,
    /// An example's rerun location, an errored file's path; empty for errors outside the files.
    pub location: String,
    /// An example's description, the first line of a file's error.
    pub description: String,
}

/// What a [`Failed`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedKind {
    Example,
    File,
    Outside,
}

/// What one run of a `--repeat` ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// The run passed (exit 0).
    pub passed: bool,
    pub failed: Vec<Failed>,
    /// The seed it dealt its batches from (`--shuffle-batches`).
    pub seed: Option<u64>,
    /// Its own JSON report (`--report-json tmp/run.json` → `tmp/run.2.json`).
    pub report: Option<PathBuf>,
}

/// What failed a run, from its aggregate.
pub(super) fn failed_in(agg: &Aggregate) -> Vec<Failed> {
    let mut failed = Vec::new();
    for file in &agg.files {
        match &file.error {
            Some(FileError::NotRun(_)) => {}
            Some(error) => {
                let description = first_line(error.message()).to_string();
                let text = format!("{} ({description})", file.path);
                failed.push(Failed { kind: FailedKind::File, key: file.path.clone(), text, location: file.path.clone(), description });
            }
            None => {}
        }
        for ex in file.examples.iter().filter(|e| e.status == ExampleStatus::Failed && !agg.quarantine.excuses(file, e)) {
            let key = match &ex.id {
                Some(id) => format!("{}[{id}]", file.path),
                None => ex.location.clone(),
            };
            let text = format!("{} ({})", ex.location, ex.description);
            failed.push(Failed { kind: FailedKind::Example, key, text, location: ex.location.clone(), description: ex.description.clone() });
        }
    }
    if !agg.batch_errors.is_empty() {
        let description = "errors outside the spec files".to_string();
        failed.push(Failed { kind: FailedKind::Outside, key: String::new(), text: description.clone(), location: String::new(), description });
    }
    failed
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Run `run` of `runs` starts; with `--shuffle-batches`, the seed it deals from.
pub fn print_repetition(run: usize, runs: usize, seed: Option<u64>) {
    let seed = seed.map(|s| format!(", batches shuffled with seed {s} (`--shuffle-batches --seed {s}` deals this run again)"));
    let seed = seed.unwrap_or_default();
    super::term::out(&format!("testbot: run {run} of {runs}{seed}\n"));
}

/// A single run with `--shuffle-batches`: the seed it deals from.
pub fn print_shuffle(seed: u64) {
    let again = format!("`--shuffle-batches --seed {seed}` deals them again");
    super::term::out(&format!("testbot: batches shuffled with seed {seed} ({again})\n"));
}

/// The summary after the last run (or the last that ended, when a signal stopped them).
pub fn print_repeat_summary(results: &[RunResult], runs: usize) {
    super::term::out(&render(results, runs));
}

/// `failed in runs 2, 4 of 5` for each thing that failed in any run, those that failed every
/// run first; the runs counted, and which failed.
fn render(results: &[RunResult], runs: usize) -> String {
    let ran = results.len();
    let failed_runs: Vec<usize> = results.iter().enumerate().filter(|(_, r)| !r.passed).map(|(i, _)| i + 1).collect();
    let mut out = String::new();
    let of = if ran < runs { format!("{ran} of {runs} runs (stopped)") } else { format!("{runs} runs") };
    if failed_runs.is_empty() {
        let _ = writeln!(out, "\ntestbot: {of}, all passed");
        return out;
    }
    let _ = writeln!(out, "\ntestbot: {of}, {} failed ({})", failed_runs.len(), runs_text(&failed_runs));
    let (every, some): (Vec<_>, Vec<_>) = failed_in_runs(results).into_iter().partition(|(_, in_runs)| in_runs.len() == ran);
    if !every.is_empty() {
        let _ = writeln!(out, "Failed every run:");
        for (failed, _) in &every {
            let _ = writeln!(out, "  {}", failed.text);
        }
    }
    if !some.is_empty() {
        let _ = writeln!(out, "Failed in some runs (flaky or order-dependent):");
        for (failed, in_runs) in &some {
            let _ = writeln!(out, "  {}: failed in {} of {ran}", failed.text, runs_text(in_runs));
        }
    }
    out
}

/// Each thing that failed once, in the order first seen, with the runs (1-based) it failed in.
pub(super) fn failed_in_runs(results: &[RunResult]) -> Vec<(&Failed, Vec<usize>)> {
    let mut seen: Vec<(&Failed, Vec<usize>)> = Vec::new();
    for (i, result) in results.iter().enumerate() {
        for failed in &result.failed {
            match seen.iter_mut().find(|(f, _)| f.key == failed.key) {
                Some((_, in_runs)) if in_runs.last() != Some(&(i + 1)) => in_runs.push(i + 1),
                Some(_) => {}
                None => seen.push((failed, vec![i + 1])),
            }
        }
    }
    seen
}

/// `run 3`, `runs 2, 4`.
fn runs_text(runs: &[usize]) -> String {
    let list: Vec<String> = runs.iter().map(usize::to_string).collect();
    match runs {
        [_] => format!("run {}", list[0]),
        _ => format!("runs {}", list.join(", ")),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::report) fn failed(key: &str) -> Failed {
        let (location, description) = (format!("./{key}"), "it".to_string());
        Failed { kind: FailedKind::Example, key: key.into(), text: format!("{location} ({description})"), location, description }
    }

    pub(in crate::report) fn run(failed: &[Failed]) -> RunResult {
        RunResult { passed: failed.is_empty(), failed: failed.to_vec(), seed: None, report: None }
    }

    #[test]
    fn each_failure_is_named_with_the_runs_it_failed_in_every_run_apart_from_some() {
        let (always, flaky, order) = (failed("spec/a_spec.rb:3"), failed("spec/b_spec.rb:5"), failed("spec/c_spec.rb:7"));
        let results = [
            run(std::slice::from_ref(&always)),
            run(&[always.clone(), flaky.clone()]),
            run(&[always.clone(), order]),
            run(&[always.clone(), flaky]),
            run(&[always]),
        ];
        assert_eq!(
            render(&results, 5),
            "\ntestbot: 5 runs, 5 failed (runs 1, 2, 3, 4, 5)\nFailed every run:\n  ./spec/a_spec.rb:3 (it)\n\
             Failed in some runs (flaky or order-dependent):\n  ./spec/b_spec.rb:5 (it): failed in runs 2, 4 of 5\n  \
             ./spec/c_spec.rb:7 (it): failed in run 3 of 5\n"
        );
    }

    #[test]
    fn clean_runs_and_a_stopped_repeat_say_how_many_ran() {
        assert_eq!(render(&[run(&[]), run(&[]), run(&[])], 3), "\ntestbot: 3 runs, all passed\n");
        let flaky = failed("spec/b_spec.rb:5");
        assert_eq!(
            render(&[run(&[]), run(&[flaky])], 5),
            "\ntestbot: 2 of 5 runs (stopped), 1 failed (run 2)\n\
             Failed in some runs (flaky or order-dependent):\n  ./spec/b_spec.rb:5 (it): failed in run 2 of 2\n"
        );
        // A run that failed with nothing to name (no tests, a report not written) still counts.
        let quiet = RunResult { passed: false, ..run(&[]) };
        assert_eq!(render(&[run(&[]), quiet], 2), "\ntestbot: 2 runs, 1 failed (run 2)\n");
    }
}
