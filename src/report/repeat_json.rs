//! `--repeat N --report-json FILE`: each run writes its own report beside FILE (`FILE.K.json`),
//! and FILE holds the repeat: how many runs, each run's seed, verdict and report, and each thing
//! that failed with the runs it failed in — what the repeat's summary prints, for scripts.

use super::repeat::{failed_in_runs, FailedKind, RunResult};
use crate::framework::Framework;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct RepeatReport<'a> {
    version: u32,
    framework: &'static str,
    /// Every run ran and passed.
    passed: bool,
    /// A signal stopped the repeat before its last run ended.
    interrupted: bool,
    repeat: JsonRepeat<'a>,
}

#[derive(Serialize)]
struct JsonRepeat<'a> {
    /// `--repeat N`.
    runs: usize,
    /// The runs that ended (fewer than `runs` when a signal stopped the repeat).
    ran: usize,
    each: Vec<JsonRun>,
    /// Each thing that failed in some run, in the order first seen.
    failed: Vec<JsonFailed<'a>>,
}

#[derive(Serialize)]
struct JsonRun {
    /// 1-based.
    run: usize,
    /// The seed it dealt its batches from (`--shuffle-batches`); null without.
    seed: Option<u64>,
    passed: bool,
    /// Its own JSON report.
    report: Option<String>,
}

#[derive(Serialize)]
struct JsonFailed<'a> {
    /// "example", "file" (it errored) or "outside" (errors outside the files).
    kind: &'static str,
    /// The same in every run: `spec/a_spec.rb[1:2]` (RSpec's id), else the rerun location; the
    /// file's path; "" outside the files.
    name: &'a str,
    location: &'a str,
    /// The example's description, the first line of the file's error.
    description: &'a str,
    /// The runs (1-based) it failed in.
    runs: Vec<usize>,
    /// It failed in every run that ran: a plain failure, not a flaky or order-dependent one.
    every_run: bool,
}

/// Writes the repeat's report to `path`, whole; says so (and returns false) when it cannot: the
/// repeat then fails, as a run whose report was lost does.
pub fn write_repeat_report(path: &Path, framework: Framework, results: &[RunResult], runs: usize, interrupted: bool) -> bool {
    let report = repeat_report(framework, results, runs, interrupted);
    let written = super::outputs::write_file(path, &|out| {
        serde_json::to_writer(&mut *out, &report)?;
        std::io::Write::write_all(out, b"\n")
    });
    if let Err(err) = &written {
        super::term::err(&format!("testbot: failed to write the JSON report to {}: {err}\n", path.display()));
    }
    written.is_ok()
}

fn repeat_report(framework: Framework, results: &[RunResult], runs: usize, interrupted: bool) -> RepeatReport<'_> {
    let ran = results.len();
    let each = results.iter().enumerate().map(|(i, r)| JsonRun {
        run: i + 1,
        seed: r.seed,
        passed: r.passed,
        report: r.report.as_ref().map(|p| p.to_string_lossy().into_owned()),
    });
    let failed = failed_in_runs(results).into_iter().map(|(f, in_runs)| JsonFailed {
        kind: match f.kind {
            FailedKind::Example => "example",
            FailedKind::File => "file",
            FailedKind::Outside => "outside",
        },
        name: &f.key,
        location: &f.location,
        description: &f.description,
        every_run: in_runs.len() == ran,
        runs: in_runs,
    });
    RepeatReport {
        version: super::json::VERSION,
        framework: framework.name(),
        passed: !interrupted && ran == runs && results.iter().all(|r| r.passed),
        interrupted,
        repeat: JsonRepeat { runs, ran, each: each.collect(), failed: failed.collect() },
    }
}

#[cfg(test)]
mod tests {
    use super::super::repeat::tests::{failed, run};
    use super::*;

    #[test]
    fn the_repeat_report_names_each_run_and_what_failed_in_which() {
        let (always, flaky) = (failed("spec/a_spec.rb[1:1]"), failed("spec/b_spec.rb:5"));
        let mut results = vec![run(std::slice::from_ref(&always)), run(&[always.clone(), flaky])];
        results[1].seed = Some(9);
        results[1].report = Some("tmp/run.2.json".into());
        let json = serde_json::to_value(repeat_report(Framework::RSpec, &results, 3, true)).unwrap();
        assert_eq!((&json["passed"], &json["interrupted"], &json["framework"]), (&false.into(), &true.into(), &"rspec".into()));
        let repeat = &json["repeat"];
        assert_eq!((&repeat["runs"], &repeat["ran"]), (&3.into(), &2.into()));
        assert_eq!(repeat["each"][1], serde_json::json!({ "run": 2, "seed": 9, "passed": false, "report": "tmp/run.2.json" }));
        assert_eq!(repeat["each"][0]["seed"], serde_json::Value::Null);
        let named = |n: usize| (repeat["failed"][n]["name"].clone(), repeat["failed"][n]["runs"].clone(), repeat["failed"][n]["every_run"].clone());
        assert_eq!(named(0), ("spec/a_spec.rb[1:1]".into(), serde_json::json!([1, 2]), true.into()));
        assert_eq!(named(1), ("spec/b_spec.rb:5".into(), serde_json::json!([2]), false.into()));
        assert_eq!(repeat["failed"][1]["location"], "./spec/b_spec.rb:5");
    }
}
