//! `testbot report merge A.json B.json …`: the JSON reports of several runs (CI jobs that each
//! ran a `--partition`) read back into one run, for one summary, JSON report and JUnit file.

use super::{Aggregate, BatchError};
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, SlotInfo, Stop};
use crate::framework::Framework;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

#[derive(Deserialize)]
struct Report {
    framework: String,
    wall_seconds: f64,
    #[serde(default)]
    stopped: Option<String>,
    #[serde(default)]
    interrupted: bool,
    totals: Totals,
    /// The run's own verdict, by its own rules (`--flaky-fails`, coverage checks, reports it
    /// could not write): absent in reports of older testbots.
    #[serde(default)]
    passed: Option<bool>,
    files: Vec<File>,
    #[serde(default)]
    errors_outside_examples: Vec<JsonError>,
    #[serde(default)]
    hosts: Vec<Host>,
    /// Each batch with its slot and time: each slot's own busy time (absent in reports of older
    /// testbots: their hosts' time is split evenly over their slots).
    #[serde(default)]
    batches: Vec<JsonBatch>,
    #[serde(default)]
    warnings: Vec<String>,
    /// Absent when the run was not a `--partition` share (or testbot was older).
    #[serde(default)]
    partition: Option<Partition>,
}

#[derive(Deserialize)]
struct Partition {
    index: usize,
    count: usize,
    plan: Vec<Vec<String>>,
    digest: String,
}

#[derive(Deserialize)]
struct Totals {
    files: usize,
}

#[derive(Deserialize)]
struct File {
    path: String,
    host: Option<String>,
    slot: Option<usize>,
    #[serde(default)]
    host_slot: Option<usize>,
    seconds: f64,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_kind: Option<String>,
    /// Absent in reports written before testbot listed every example.
    results: Option<Vec<Example>>,
}

#[derive(Deserialize)]
struct Example {
    description: String,
    location: String,
    line: Option<u32>,
    status: ExampleStatus,
    seconds: f64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    backtrace: Vec<String>,
    #[serde(default)]
    earlier_failures: Vec<String>,
    /// In the run's `[project] quarantine`: the merge excuses its failure as the run did.
    #[serde(default)]
    quarantined: bool,
}

#[derive(Deserialize)]
struct JsonError {
    path: Option<String>,
    message: String,
}

#[derive(Deserialize)]
struct JsonBatch {
    host: String,
    host_slot: usize,
    seconds: f64,
}

#[derive(Deserialize)]
struct Host {
    name: String,
    slots: usize,
    busy_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("failed to read the report {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a testbot JSON report (written by `--report-json`): {reason}")]
    Parse { path: String, reason: String },
    #[error("{path} has no per-example results: it was written by an older testbot; run it again with this one")]
    Old { path: String },
    #[error("the reports are of different frameworks: {first} ({first_path}) and {other} ({other_path})")]
    Frameworks { first: String, first_path: String, other: String, other_path: String },
    #[error("{share} is the report of a `--partition` share, but {whole} is not: merge the shares of one build, or reports of whole runs")]
    Mixed { share: String, whole: String },
    /// `first`, `other`: each report as `PATH (share K/N, plan DIGEST…)`.
    #[error("{first} and {other} were cut from different plans, so some files may have run in no share or in two: the jobs started from different files or runtime histories; run every share from the same commit with the same runtime history (docs/ci.md)")]
    Plans { first: String, other: String },
    #[error("{first} and {other} are both share {share}: merge one report of each share")]
    SameShare { share: String, first: String, other: String },
    #[error("{path} says it is share {index} of {count}, with a plan of {shares} shares: it is not a report testbot wrote")]
    BadShare { path: String, index: usize, count: usize, shares: usize },
    /// `owner`: where the plan puts the file ("share K/N", or "no share of the plan").
    #[error("{path} (share {share}) has a result for `{file}`, which the plan gives to {owner}: the report was edited or the share ran other files than its plan's; rerun the share from the same commit and runtime history as the others")]
    OutsidePlan { path: String, share: String, file: String, owner: String },
}


/// The runs of `paths` as one: every file of every report, hosts side by side, the longest wall
/// time (the jobs ran at the same time). Files found in more than one report are kept and named
/// in a warning. `--partition` shares must all be there and be cut from one plan: a planned file
/// with no result is reported as not run (the merged run fails).
pub fn read_runs(paths: &[std::path::PathBuf]) -> Result<(Framework, Aggregate), MergeError> {
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read { path: shown.clone(), source })?;
        let report: Report =
            serde_json::from_str(&text).map_err(|e| MergeError::Parse { path: shown.clone(), reason: e.to_string() })?;
        reports.push((shown, report));
    }
    runs_as_one(reports)
}

/// The files of a `--queue` build as one run: each planned file's result as its job stored
/// it (`results`: the entry and the file's JSON, as the JSON report writes it), a split file's
/// pieces (`planned`: each file and its number of pieces) put back together as a run does; a
/// planned file with no result, or a piece without one, is reported as not run, named in a
/// warning (the build fails).
pub fn queue_run(framework: &str, planned: &[(String, usize)], results: Vec<(String, String)>) -> Result<(Framework, Aggregate), MergeError> {
    let mut agg = Aggregate { total_files: planned.len(), ..Default::default() };
    let ids = HashMap::new();
    let mut quarantined = Vec::new();
    let mut by_file: BTreeMap<String, Vec<FileReport>> = BTreeMap::new();
    for (entry, text) in results {
        // A piece's entry is `path<TAB>ids` (queue::pieces): shown as `path[ids]`.
        let entry = entry.split_once('\t').map_or(entry.clone(), |(path, ids)| format!("{path}[{ids}]"));
        let shown = format!("the queue's result of `{entry}`");
        let file: File = serde_json::from_str(&text).map_err(|e| MergeError::Parse { path: shown.clone(), reason: e.to_string() })?;
        let report = file_report(file, &ids, &shown, &mut quarantined)?;
        by_file.entry(report.path.clone()).or_default().push(report);
    }
    let mut missing = Vec::new();
    for (path, pieces) in planned {
        let reports = by_file.remove(path).unwrap_or_default();
        match reports.len() {
            n if n >= *pieces && n > 0 => agg.files.push(joined(reports)),
            0 => {
                let why = "no job of the build reported a result for it (a job still running, or one that died with no other job left to take its files)";
                agg.files.push(FileReport::not_run(path.clone(), why.to_string()));
                missing.push(path.clone());
            }
            n => {
                let why = format!("{} of its {pieces} pieces have no result (a job still running, or one that died with no other job left to take them)", pieces - n);
                agg.files.push(FileReport::not_run(path.clone(), why));
                missing.push(path.clone());
            }
        }
    }
    agg.files.extend(by_file.into_values().map(joined));
    if !missing.is_empty() {
        let list: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        let more = if missing.len() > 10 { ", …" } else { "" };
        agg.warnings.push(format!("{} file(s) of the build have no result: {}{more}", missing.len(), list.join(", ")));
    }
    agg.quarantine.extend(&quarantined);
    agg.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((Framework::from_name(framework).unwrap_or(Framework::RSpec), agg))
}

/// A file's pieces as one report (a file that was not split: its one report).
fn joined(pieces: Vec<FileReport>) -> FileReport {
    let mut pieces = pieces.into_iter();
    let first = pieces.next().expect("a file with a result has one at least");
    pieces.fold(first, FileReport::join_piece)
}

/// [`read_runs`] of reports already read, each with the name it is shown by.
fn runs_as_one(mut reports: Vec<(String, Report)>) -> Result<(Framework, Aggregate), MergeError> {
    check_frameworks(&reports)?;
    let plan = check_shares(&reports)?;
    // Which report holds each share, and the files each one has results for.
    let mut shares: Vec<Option<(String, HashSet<String>)>> = vec![None; plan.map_or(0, |p| p.len())];
    let plan: Option<Vec<Vec<String>>> = plan.map(<[Vec<String>]>::to_vec);
    let mut agg = Aggregate::default();
    let mut next_slot = 1;
    let name = reports.first().map(|(_, r)| r.framework.clone()).unwrap_or_else(|| "rspec".into());
    for (shown, mut report) in reports.drain(..) {
        // The slots' figures are labelled with their share (or report): `local#1` of share 1
        // is not `local#1` of share 2.
        let source = match &report.partition {
            Some(p) => format!("share {}/{}", p.index, p.count),
            None => shown.clone(),
        };
        if let Some(p) = report.partition.take() {
            if let Some(plan) = &plan {
                outside_plan(plan, &p, &report.files, &shown)?;
            }
            shares[p.index - 1] = Some((shown.clone(), report.files.iter().map(|f| f.path.clone()).collect()));
        }
        // A run that failed by its own rules fails the merge, whatever its files say: its
        // `--flaky-fails`, its coverage checks or a report it could not write are not in them.
        if report.passed == Some(false) {
            agg.failed_reports.push(shown.clone());
        }
        add(&mut agg, report, (&shown, &source), &mut next_slot)?;
    }
    warn_of_files_in_two_reports(&mut agg);
    if let Some(plan) = plan {
        add_planned_without_result(&mut agg, plan, shares);
    }
    agg.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((Framework::from_name(&name).unwrap_or(Framework::RSpec), agg))
}

/// All the reports are of one framework.
fn check_frameworks(reports: &[(String, Report)]) -> Result<(), MergeError> {
    let Some((first_path, first)) = reports.first() else { return Ok(()) };
    match reports.iter().find(|(_, r)| r.framework != first.framework) {
        Some((other_path, other)) => Err(MergeError::Frameworks {
            first: first.framework.clone(),
            first_path: first_path.clone(),
            other: other.framework.clone(),
            other_path: other_path.clone(),
        }),
        None => Ok(()),
    }
}

/// Files found in more than one report are kept, and named in a warning.
fn warn_of_files_in_two_reports(agg: &mut Aggregate) {
    let mut seen = std::collections::HashMap::new();
    for f in &agg.files {
        *seen.entry(f.path.clone()).or_insert(0) += 1;
    }
    let mut twice: Vec<&String> = seen.iter().filter(|(_, n)| **n > 1).map(|(p, _)| p).collect();
    twice.sort();
    if !twice.is_empty() {
        let list: Vec<&str> = twice.iter().take(10).map(|s| s.as_str()).collect();
        agg.warnings.push(format!(
            "{} file(s) are in more than one report (partitions that overlap?): {}{}",
            twice.len(),
            list.join(", "),
            if twice.len() > 10 { ", …" } else { "" }
        ));
    }
}

/// The whole build is every planned file, whatever the shares said of themselves: a planned
/// file no share has a result for is reported as not run, with why (`shares`: each share's
/// report and the files it has results for).
fn add_planned_without_result(agg: &mut Aggregate, plan: Vec<Vec<String>>, shares: Vec<Option<(String, HashSet<String>)>>) {
    agg.total_files = plan.iter().map(Vec::len).sum();
    let n = plan.len();
    for (k, (planned, share)) in plan.into_iter().zip(shares).enumerate() {
        let (why, missing): (String, Vec<String>) = match share {
            None => (format!("share {}/{n} has no report among those merged", k + 1), planned),
            Some((path, ran)) => (
                format!("planned for share {}/{n}, but its report {path} has no result for it", k + 1),
                planned.into_iter().filter(|f| !ran.contains(f)).collect(),
            ),
        };
        if missing.is_empty() {
            continue;
        }
        let list: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        let more = if missing.len() > 10 { ", …" } else { "" };
        agg.warnings.push(format!("{} file(s) have no result: {why}: {}{more}", missing.len(), list.join(", ")));
        for path in missing {
            agg.files.push(FileReport::not_run(path, why.clone()));
        }
    }
}

/// The plan the reports are shares of (None: they are whole runs): all or none are shares, all
/// of one plan (the same digest and files), no share twice.
fn check_shares(reports: &[(String, Report)]) -> Result<Option<&[Vec<String>]>, MergeError> {
    let Some((first_path, first)) = reports.iter().find_map(|(path, r)| r.partition.as_ref().map(|p| (path, p))) else {
        return Ok(None);
    };
    let mut holder: Vec<Option<&str>> = vec![None; first.count];
    for (path, report) in reports {
        let Some(p) = &report.partition else {
            return Err(MergeError::Mixed { share: first_path.clone(), whole: path.clone() });
        };
        if p.count != p.plan.len() || !(1..=p.count).contains(&p.index) {
            return Err(MergeError::BadShare { path: path.clone(), index: p.index, count: p.count, shares: p.plan.len() });
        }
        if p.digest != first.digest || p.plan != first.plan {
            let shown = |path: &str, p: &Partition| format!("{path} (share {}/{}, plan {:.12}…)", p.index, p.count, p.digest);
            return Err(MergeError::Plans { first: shown(first_path, first), other: shown(path, p) });
        }
        if let Some(other) = holder[p.index - 1].replace(path) {
            return Err(MergeError::SameShare { share: format!("{}/{}", p.index, p.count), first: other.to_string(), other: path.clone() });
        }
    }
    Ok(Some(&first.plan))
}

/// Refuses a share's result for a file its own part of the plan does not hold.
fn outside_plan(plan: &[Vec<String>], share: &Partition, files: &[File], shown: &str) -> Result<(), MergeError> {
    let mine: std::collections::HashSet<&str> = plan[share.index - 1].iter().map(String::as_str).collect();
    let Some(stray) = files.iter().find(|f| !mine.contains(f.path.as_str())) else {
        return Ok(());
    };
    let n = plan.len();
    let owner = match plan.iter().position(|files| files.contains(&stray.path)) {
        Some(k) => format!("share {}/{n}", k + 1),
        None => "no share of the plan".to_string(),
    };
    Err(MergeError::OutsidePlan { path: shown.to_string(), share: format!("{}/{n}", share.index), file: stray.path.clone(), owner })
}

/// One report into the merged run; `path`: how the report is shown, `source`: how its slots are
/// labelled (its share, or its path).
fn add(agg: &mut Aggregate, report: Report, (path, source): (&str, &str), next_slot: &mut usize) -> Result<(), MergeError> {
    agg.total_files += report.totals.files;
    agg.wall_seconds = agg.wall_seconds.max(report.wall_seconds);
    agg.stopped = agg.stopped.or(stop_of(&report));
    let ids = add_slots(agg, &report, source, next_slot);
    agg.warnings.extend(report.warnings.into_iter().map(|w| format!("{path}: {w}")));
    let mut quarantined = Vec::new();
    for file in report.files {
        agg.files.push(file_report(file, &ids, path, &mut quarantined)?);
    }
    agg.quarantine.extend(&quarantined);
    // Load errors come back with their files; the rest were errors outside any file.
    for e in report.errors_outside_examples.into_iter().filter(|e| e.path.is_none()) {
        agg.batch_errors.push(BatchError { slot: None, message: e.message, output: String::new() });
    }
    Ok(())
}

/// Why the report's run stopped early, if it did.
fn stop_of(report: &Report) -> Option<Stop> {
    match report.stopped.as_deref() {
        Some("interrupted") => Some(Stop::Interrupted),
        Some("fail-fast") => Some(Stop::FailFast { failures: 0 }),
        Some("timeout") => Some(Stop::Timeout { seconds: 0.0 }),
        _ if report.interrupted => Some(Stop::Interrupted),
        _ => None,
    }
}

/// The report's slots, with new ids unique in the merged run, each with its busy time and
/// `source`: its (host, slot number) → its slot in the merged run.
fn add_slots(agg: &mut Aggregate, report: &Report, source: &str, next_slot: &mut usize) -> HashMap<(String, usize), SlotInfo> {
    let mut batch_seconds: HashMap<(&str, usize), f64> = HashMap::new();
    for b in &report.batches {
        *batch_seconds.entry((b.host.as_str(), b.host_slot)).or_default() += b.seconds;
    }
    let mut ids = HashMap::new();
    for host in &report.hosts {
        for k in 1..=host.slots {
            let info = SlotInfo { id: *next_slot, host: Arc::from(host.name.as_str()), host_slot: k };
            let busy = match report.batches.is_empty() {
                true => host.busy_seconds / host.slots.max(1) as f64,
                false => batch_seconds.get(&(host.name.as_str(), k)).copied().unwrap_or(0.0),
            };
            agg.busy.insert(info.id, busy);
            agg.slot_source.insert(info.id, source.to_string());
            ids.insert((host.name.clone(), k), info.clone());
            agg.slots.push(info);
            *next_slot += 1;
        }
    }
    ids
}

/// A file of the report (`path`) as the run reported it; it keeps its host and slot number.
/// The examples the report marks quarantined go to `quarantined`, as `path[id]` or `path:line`.
fn file_report(file: File, ids: &HashMap<(String, usize), SlotInfo>, path: &str, quarantined: &mut Vec<String>) -> Result<FileReport, MergeError> {
    let results = file.results.ok_or_else(|| MergeError::Old { path: path.to_string() })?;
    for e in results.iter().filter(|e| e.quarantined) {
        match (&e.id, e.line) {
            (Some(id), _) => quarantined.push(format!("{}[{id}]", file.path)),
            (None, Some(line)) => quarantined.push(format!("{}:{line}", file.path)),
            (None, None) => {}
        }
    }
    let slot = file.host.map(|host| {
        let k = file.host_slot.or(file.slot).unwrap_or(1);
        ids.get(&(host.clone(), k)).cloned().unwrap_or_else(|| SlotInfo { id: 0, host: Arc::from(host.as_str()), host_slot: k })
    });
    let error = file.error.map(|m| match file.error_kind.as_deref() {
        Some("load error") => FileError::Load(m),
        Some("crashed") => FileError::Crashed(m),
        Some("timed out") => FileError::TimedOut(m),
        _ => FileError::NotRun(m),
    });
    let examples = results
        .into_iter()
        .map(|e| ExampleResult {
            description: e.description,
            location: e.location,
            line: e.line,
            status: e.status,
            seconds: e.seconds,
            message: e.message,
            backtrace: e.backtrace,
            id: e.id,
            earlier_failures: e.earlier_failures,
        })
        .collect();
    Ok(FileReport { path: file.path, slot, seconds: file.seconds, expected_seconds: 0.0, examples, error, output: String::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Totals, Verdict};
    use serde_json::json;

    const PLAN: &[&[&str]] = &[&["spec/a_spec.rb", "spec/d_spec.rb"], &["spec/b_spec.rb"], &["spec/c_spec.rb", "spec/e_spec.rb"]];

    /// A report as `--report-json` writes it, of `files` that all passed; `share`: (K, digest).
    fn report(files: &[&str], share: Option<(usize, &str)>) -> Report {
        let files: Vec<_> = files
            .iter()
            .map(|path| {
                json!({"path": path, "host": "local", "slot": 1, "host_slot": 1, "seconds": 0.5, "results": [
                    {"description": "works", "location": format!("./{path}:2"), "line": 2, "status": "passed", "seconds": 0.5}
                ]})
            })
            .collect();
        let mut value = json!({
            "framework": "rspec", "wall_seconds": 1.0, "totals": {"files": files.len()}, "files": files,
            "hosts": [{"name": "local", "slots": 1, "busy_seconds": 1.0}],
        });
        if let Some((k, digest)) = share {
            value["partition"] = json!({"index": k, "count": PLAN.len(), "plan": PLAN, "digest": digest});
        }
        serde_json::from_value(value).expect("a report")
    }

    fn share(k: usize) -> (String, Report) {
        (format!("share{k}.json"), report(PLAN[k - 1], Some((k, "d1gest"))))
    }

    fn not_run(agg: &Aggregate) -> Vec<(&str, &str)> {
        agg.files.iter().filter_map(|f| match &f.error {
            Some(FileError::NotRun(why)) => Some((f.path.as_str(), why.as_str())),
            _ => None,
        }).collect()
    }

    #[test]
    fn every_share_of_one_plan_merges_into_the_whole_build() {
        let (_, agg) = runs_as_one(vec![share(2), share(1), share(3)]).unwrap();
        let paths: Vec<&str> = agg.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["spec/a_spec.rb", "spec/b_spec.rb", "spec/c_spec.rb", "spec/d_spec.rb", "spec/e_spec.rb"]);
        assert_eq!(agg.total_files, 5);
        assert!(agg.warnings.is_empty(), "{:?}", agg.warnings);
        assert_eq!(Totals::of(&agg).verdict(), Verdict::Passed);
    }

    #[test]
    fn a_missing_share_leaves_its_files_not_run_and_fails_the_build() {
        let (_, agg) = runs_as_one(vec![share(1), share(3)]).unwrap();
        assert_eq!(agg.total_files, 5);
        assert_eq!(not_run(&agg), [("spec/b_spec.rb", "share 2/3 has no report among those merged")]);
        assert_eq!(agg.warnings, ["1 file(s) have no result: share 2/3 has no report among those merged: spec/b_spec.rb"]);
        let totals = Totals::of(&agg);
        assert_eq!((totals.files, totals.errored_files, totals.verdict()), (5, 1, Verdict::Failed));
    }

    #[test]
    fn a_planned_file_its_share_has_no_result_for_is_not_run() {
        let short = ("share3.json".to_string(), report(&["spec/c_spec.rb"], Some((3, "d1gest"))));
        let (_, agg) = runs_as_one(vec![share(1), share(2), short]).unwrap();
        assert_eq!(
            not_run(&agg),
            [("spec/e_spec.rb", "planned for share 3/3, but its report share3.json has no result for it")]
        );
        assert_eq!(Totals::of(&agg).verdict(), Verdict::Failed);
    }

    #[test]
    fn a_share_that_failed_by_its_own_rules_fails_the_merge() {
        let (k, mut failed) = share(2);
        failed.passed = Some(false);
        let (_, agg) = runs_as_one(vec![share(1), (k, failed), share(3)]).unwrap();
        assert_eq!(agg.failed_reports, ["share2.json"]);
        assert_eq!(Totals::of(&agg).verdict(), Verdict::Failed);
        // Green shares, and older reports that say nothing, pass.
        let (k, mut green) = share(2);
        green.passed = Some(true);
        let (_, agg) = runs_as_one(vec![share(1), (k, green), share(3)]).unwrap();
        assert_eq!(Totals::of(&agg).verdict(), Verdict::Passed);
    }

    #[test]
    fn a_result_outside_the_shares_plan_is_refused_naming_it() {
        let (k, mut stray) = share(2);
        stray.files.push(report(&["spec/a_spec.rb"], None).files.remove(0));
        let err = runs_as_one(vec![share(1), (k, stray), share(3)]).expect_err("refused");
        assert!(err.to_string().starts_with("share2.json (share 2/3) has a result for `spec/a_spec.rb`, which the plan gives to share 1/3"), "{err}");
        let (k, mut stray) = share(3);
        stray.files.push(report(&["spec/z_spec.rb"], None).files.remove(0));
        let err = runs_as_one(vec![(k, stray)]).expect_err("refused");
        assert!(err.to_string().contains("`spec/z_spec.rb`, which the plan gives to no share of the plan"), "{err}");
        assert_eq!(crate::errors::Error::from(err).exit_code(), crate::errors::exit::FAILED);
    }

    #[test]
    fn shares_of_different_plans_are_refused_naming_both_reports() {
        let other = ("late.json".to_string(), report(PLAN[1], Some((2, "0ther"))));
        let err = runs_as_one(vec![share(1), other, share(3)]).expect_err("refused");
        let text = err.to_string();
        assert!(text.starts_with("share1.json (share 1/3, plan d1gest…) and late.json (share 2/3, plan 0ther…) were cut from different plans"), "{text}");
    }

    #[test]
    fn one_share_twice_or_a_whole_run_among_shares_is_refused() {
        let err = runs_as_one(vec![share(1), share(1)]).expect_err("refused");
        assert!(matches!(&err, MergeError::SameShare { share, .. } if share == "1/3"), "{err}");
        let whole = ("whole.json".to_string(), report(&["spec/a_spec.rb"], None));
        let err = runs_as_one(vec![share(1), whole]).expect_err("refused");
        assert_eq!(err.to_string(), "share1.json is the report of a `--partition` share, but whole.json is not: merge the shares of one build, or reports of whole runs");
    }

    #[test]
    fn whole_runs_merge_as_before_with_overlaps_named() {
        let a = ("a.json".to_string(), report(&["spec/a_spec.rb", "spec/b_spec.rb"], None));
        let b = ("b.json".to_string(), report(&["spec/b_spec.rb"], None));
        let (_, agg) = runs_as_one(vec![a, b]).unwrap();
        assert_eq!(agg.total_files, 3);
        assert_eq!(agg.files.len(), 3);
        assert!(not_run(&agg).is_empty());
        assert_eq!(agg.warnings, ["1 file(s) are in more than one report (partitions that overlap?): spec/b_spec.rb"]);
    }

    /// A whole run's report as JSON, with two slots on host `h`, for the fields `add` reads.
    fn run_json(h: &str, wall: f64, stopped: Option<&str>) -> serde_json::Value {
        let mut value = json!({
            "framework": "rspec", "wall_seconds": wall, "totals": {"files": 4},
            "files": [
                {"path": "spec/ok_spec.rb", "host": h, "slot": 7, "host_slot": 2, "seconds": 0.5, "results": []},
                {"path": "spec/load_spec.rb", "host": h, "slot": 1, "seconds": 0.0, "error": "boom", "error_kind": "load error", "results": []},
                {"path": "spec/crash_spec.rb", "host": h, "slot": 1, "seconds": 0.0, "error": "killed", "error_kind": "crashed", "results": []},
                {"path": "spec/hang_spec.rb", "host": null, "slot": null, "seconds": 0.0, "error": "hung", "error_kind": "timed out", "results": []},
            ],
            "errors_outside_examples": [{"path": "spec/load_spec.rb", "message": "boom"}, {"path": null, "message": "before(:suite) failed"}],
            "hosts": [{"name": h, "slots": 2, "busy_seconds": 3.0}],
            "warnings": ["host `x` left the run"],
        });
        if let Some(s) = stopped {
            value["stopped"] = json!(s);
        }
        value
    }

    fn parsed(value: serde_json::Value) -> Report {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn whole_runs_keep_their_slots_errors_warnings_and_the_longest_wall_time() {
        let a = ("a.json".to_string(), parsed(run_json("h1", 4.0, None)));
        let b = ("b.json".to_string(), parsed(run_json("h2", 9.0, None)));
        let (framework, agg) = runs_as_one(vec![a, b]).unwrap();
        assert_eq!(framework, Framework::RSpec);
        assert_eq!(agg.total_files, 8);
        assert_eq!(agg.wall_seconds, 9.0);
        assert_eq!(agg.stopped, None);
        // Slots renumbered across the runs; a file keeps its host's slot; busy time split per slot.
        let slots: Vec<(usize, &str, usize)> = agg.slots.iter().map(|s| (s.id, &*s.host, s.host_slot)).collect();
        assert_eq!(slots, [(1, "h1", 1), (2, "h1", 2), (3, "h2", 1), (4, "h2", 2)]);
        assert_eq!(agg.busy.values().copied().collect::<Vec<f64>>(), [1.5; 4]);
        let slot_of = |path: &str, host: &str| {
            let f = agg.files.iter().find(|f| f.path == path && f.slot.as_ref().is_some_and(|s| &*s.host == host)).unwrap();
            f.slot.as_ref().map(|s| (s.id, s.host_slot))
        };
        assert_eq!(slot_of("spec/ok_spec.rb", "h2"), Some((4, 2)));
        assert_eq!(slot_of("spec/load_spec.rb", "h1"), Some((1, 1)));
        let (_, one) = runs_as_one(vec![("a.json".to_string(), parsed(run_json("h1", 4.0, None)))]).unwrap();
        let kinds: Vec<(&str, &FileError)> = one.files.iter().filter_map(|f| f.error.as_ref().map(|e| (f.path.as_str(), e))).collect();
        assert_eq!(
            kinds,
            [
                ("spec/crash_spec.rb", &FileError::Crashed("killed".into())),
                ("spec/hang_spec.rb", &FileError::TimedOut("hung".into())),
                ("spec/load_spec.rb", &FileError::Load("boom".into())),
            ]
        );
        // The load error comes back with its file; the other is an error outside any file.
        let batch: Vec<&str> = agg.batch_errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(batch, ["before(:suite) failed", "before(:suite) failed"]);
        assert_eq!(agg.warnings[..2], ["a.json: host `x` left the run".to_string(), "b.json: host `x` left the run".to_string()]);
        assert!(agg.warnings[2].starts_with("4 file(s) are in more than one report"), "{:?}", agg.warnings);
    }

    #[test]
    fn each_shares_slots_keep_their_own_busy_time_and_are_labelled_with_the_share() {
        let batches = |times: &[(usize, f64)]| -> Vec<serde_json::Value> {
            times.iter().map(|(k, s)| json!({"host": "local", "slot": k, "host_slot": k, "seconds": s, "files": []})).collect()
        };
        let (k1, mut one) = share(1);
        one.batches = serde_json::from_value(json!(batches(&[(1, 12.4), (2, 11.7), (1, 8.0)]))).unwrap();
        one.hosts[0].slots = 2;
        let (k3, mut three) = share(3);
        three.batches = serde_json::from_value(json!(batches(&[(1, 19.3), (2, 19.3)]))).unwrap();
        three.hosts[0].slots = 2;
        let (_, agg) = runs_as_one(vec![(k1, one), share(2), (k3, three)]).unwrap();
        let slots: Vec<(&str, usize, f64, &str)> = agg
            .slots
            .iter()
            .map(|s| (&*s.host, s.host_slot, (agg.busy[&s.id] * 10.0).round() / 10.0, agg.slot_source[&s.id].as_str()))
            .collect();
        assert_eq!(
            slots,
            [
                ("local", 1, 20.4, "share 1/3"),
                ("local", 2, 11.7, "share 1/3"),
                // An older report, with no batches: its host's time split over its slots.
                ("local", 1, 1.0, "share 2/3"),
                ("local", 1, 19.3, "share 3/3"),
                ("local", 2, 19.3, "share 3/3"),
            ]
        );
        // Whole runs are labelled with their report.
        let (_, agg) = runs_as_one(vec![("a.json".to_string(), parsed(run_json("h1", 4.0, None)))]).unwrap();
        assert!(agg.slot_source.values().all(|s| s == "a.json"), "{:?}", agg.slot_source);
    }

    #[test]
    fn a_stopped_run_stops_the_merged_one() {
        for (said, stop) in [
            ("interrupted", Stop::Interrupted),
            ("fail-fast", Stop::FailFast { failures: 0 }),
            ("timeout", Stop::Timeout { seconds: 0.0 }),
        ] {
            let a = ("a.json".to_string(), parsed(run_json("h1", 1.0, None)));
            let b = ("b.json".to_string(), parsed(run_json("h2", 1.0, Some(said))));
            assert_eq!(runs_as_one(vec![a, b]).unwrap().1.stopped, Some(stop), "{said}");
        }
        // Older reports said `"interrupted": true`.
        let mut old = run_json("h1", 1.0, None);
        old["interrupted"] = json!(true);
        let (_, agg) = runs_as_one(vec![("a.json".into(), parsed(old))]).unwrap();
        assert_eq!(agg.stopped, Some(Stop::Interrupted));
        let (_, agg) = runs_as_one(vec![("a.json".into(), parsed(run_json("h1", 1.0, Some("something else"))))]).unwrap();
        assert_eq!(agg.stopped, None);
    }

    #[test]
    fn long_lists_name_ten_files_then_an_ellipsis() {
        let many: Vec<String> = (0..11).map(|i| format!("spec/f{i:02}_spec.rb")).collect();
        let names: Vec<&str> = many.iter().map(String::as_str).collect();
        let ten = names[..10].join(", ");
        let whole = |files: &[&str]| (String::from("r.json"), report(files, None));
        let (_, agg) = runs_as_one(vec![whole(&names), whole(&names)]).unwrap();
        assert_eq!(agg.warnings, [format!("11 file(s) are in more than one report (partitions that overlap?): {ten}, …")]);
        let (_, agg) = runs_as_one(vec![whole(&names[..10]), whole(&names[..10])]).unwrap();
        assert_eq!(agg.warnings, [format!("10 file(s) are in more than one report (partitions that overlap?): {ten}")]);
        // The same for a share's missing files.
        let plan = [names.clone(), vec!["spec/z_spec.rb"]];
        let digest = "d";
        let share = |k: usize, files: &[&str]| {
            let mut r = report(files, None);
            r.partition = Some(Partition { index: k, count: 2, plan: plan.iter().map(|s| s.iter().map(|p| p.to_string()).collect()).collect(), digest: digest.into() });
            (format!("s{k}.json"), r)
        };
        let (_, agg) = runs_as_one(vec![share(2, &["spec/z_spec.rb"])]).unwrap();
        assert_eq!(agg.warnings, [format!("11 file(s) have no result: share 1/2 has no report among those merged: {ten}, …")]);
        let (_, agg) = runs_as_one(vec![share(1, &[names[10]]), share(2, &["spec/z_spec.rb"])]).unwrap();
        assert_eq!(agg.warnings, [format!("10 file(s) have no result: planned for share 1/2, but its report s1.json has no result for it: {ten}")]);
        assert_eq!(agg.total_files, 12);
    }

    #[test]
    fn reports_that_do_not_fit_are_refused() {
        let mut minitest = report(&["test/a_test.rb"], None);
        minitest.framework = "minitest".into();
        let err = runs_as_one(vec![("a.json".into(), report(&["spec/a_spec.rb"], None)), ("m.json".into(), minitest)]).expect_err("refused");
        assert_eq!(err.to_string(), "the reports are of different frameworks: rspec (a.json) and minitest (m.json)");
        for (index, count) in [(0, 3), (4, 3), (1, 2)] {
            let mut bad = report(PLAN[0], Some((1, "d1gest")));
            let p = bad.partition.as_mut().unwrap();
            (p.index, p.count) = (index, count);
            let err = runs_as_one(vec![("bad.json".into(), bad)]).expect_err("refused");
            assert_eq!(err.to_string(), format!("bad.json says it is share {index} of {count}, with a plan of 3 shares: it is not a report testbot wrote"));
        }
        // The same digest with another plan is another plan.
        let mut other = report(PLAN[1], Some((2, "d1gest")));
        other.partition.as_mut().unwrap().plan[0].push("spec/x_spec.rb".into());
        assert!(matches!(runs_as_one(vec![share(1), ("late.json".to_string(), other)]), Err(MergeError::Plans { .. })));
    }

    #[test]
    fn merge_reads_the_files_and_names_the_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, run_json("h1", 2.0, None).to_string()).unwrap();
        let (_, agg) = read_runs(std::slice::from_ref(&good)).unwrap();
        assert_eq!((agg.files.len(), agg.total_files), (4, 4));
        let missing = dir.path().join("missing.json");
        assert!(matches!(read_runs(&[good.clone(), missing]), Err(MergeError::Read { path, .. }) if path.ends_with("missing.json")));
        let bogus = dir.path().join("bogus.json");
        std::fs::write(&bogus, "{}").unwrap();
        assert!(matches!(read_runs(&[bogus]), Err(MergeError::Parse { path, .. }) if path.ends_with("bogus.json")));
        let mut old = run_json("h1", 2.0, None);
        old["files"][0].as_object_mut().unwrap().remove("results");
        let old_path = dir.path().join("old.json");
        std::fs::write(&old_path, old.to_string()).unwrap();
        assert!(matches!(read_runs(&[old_path]), Err(MergeError::Old { path }) if path.ends_with("old.json")));
    }
}
