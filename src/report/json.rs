//! `--report-json`: the run as data for scripts. Its shape is `docs/report.schema.json`
//! (checked against real reports by tests/report_schema.rs); `VERSION` changes when a field
//! changes meaning or goes away, not when one is added.

use super::quarantine::Quarantine;
use super::{Aggregate, Totals};
use crate::events::{ExampleStatus, FileStatus};
use crate::framework::Framework;
use serde::Serialize;
use std::collections::HashMap;

/// The report's `version`.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    framework: &'static str,
    wall_seconds: f64,
    interrupted: bool,
    /// Why the run stopped early: "interrupted", "fail-fast", "timeout"; absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<&'static str>,
    passed: bool,
    totals: JsonTotals,
    files: Files<'a>,
    failures: Vec<JsonFailure<'a>>,
    /// Examples that failed and then passed on a retry; `message` is the first failure's.
    flaky: Vec<JsonFailure<'a>>,
    errors_outside_examples: Vec<JsonError<'a>>,
    hosts: Vec<JsonHost>,
    warnings: &'a [String],
    /// `--partition K/N`: this share, the whole plan (every share's files) and the digest of
    /// what the plan was made from, for `report merge` to check that the shares fit together.
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<JsonPartition<'a>>,
    /// The merged coverage (SimpleCov), when the suite measures it.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<JsonCoverage<'a>>,
    /// `--changed`: what the impact map selected and skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<JsonChanged<'a>>,
    /// Every batch (one runner process), in the order they ended: its slot, the runner's
    /// arguments for its files in the order given, and its random order's seed if it had one.
    batches: Vec<JsonBatch<'a>>,
}

#[derive(Serialize)]
struct JsonChanged<'a> {
    /// What the changes were taken from (a commit, a branch).
    since: &'a str,
    selected: usize,
    skipped_by_impact_map: usize,
    /// Why every file ran, when the change touched what the map cannot see; null otherwise.
    all_because: Option<String>,
}

#[derive(Serialize)]
struct JsonCoverage<'a> {
    batches: usize,
    /// What SimpleCov said, a line each.
    lines: &'a [String],
    /// Why it fails the run; null: it passes.
    failed: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonBatch<'a> {
    host: &'a str,
    slot: usize,
    host_slot: usize,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    files: &'a [String],
}

#[derive(Serialize)]
struct JsonPartition<'a> {
    index: usize,
    count: usize,
    plan: &'a [Vec<String>],
    digest: &'a str,
}

#[derive(Serialize)]
struct JsonTotals {
    files: usize,
    files_run: usize,
    examples: usize,
    /// Failed examples that fail the run (the quarantined ones are not counted here).
    failures: usize,
    /// Failed examples in `[project] quarantine`: they do not fail the run.
    quarantined: usize,
    pending: usize,
    errors_outside_examples: usize,
    errored_files: usize,
    flaky: usize,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    host: Option<&'a str>,
    slot: Option<usize>,
    seconds: f64,
    examples: usize,
    failures: usize,
    pending: usize,
    #[serde(skip_serializing_if = "is_zero")]
    flaky: usize,
    status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    /// "load error", "crashed", "not run" or "timed out", with `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_slot: Option<usize>,
    /// Every example of the file (what `testbot report merge` rebuilds a run from).
    results: Results<'a>,
}

/// The files, each turned into its JSON form as it is written: at 20,000 files and 130,000
/// examples a copy of them all first would be megabytes touched for nothing.
struct Files<'a>(&'a [crate::events::FileReport], &'a Quarantine);

impl Serialize for Files<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| JsonFile::of(f, self.1)))
    }
}

struct Results<'a>(&'a crate::events::FileReport, &'a Quarantine);

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.examples.iter().map(|e| JsonExample {
            description: &e.description,
            location: &e.location,
            line: e.line,
            status: e.status,
            seconds: round(e.seconds),
            message: e.message.as_deref(),
            id: e.id.as_deref(),
            backtrace: &e.backtrace,
            earlier_failures: &e.earlier_failures,
            quarantined: self.1.holds(&self.0.path, e),
        }))
    }
}

/// One file's report as the JSON report writes it among its `files` (what a CI job of a
/// `--queue` build stores for `testbot report --queue` to read back), its examples marked
/// as `quarantine` holds them.
pub fn file_json(f: &crate::events::FileReport, quarantine: &Quarantine) -> serde_json::Result<String> {
    serde_json::to_string(&JsonFile::of(f, quarantine))
}

impl<'a> JsonFile<'a> {
    fn of(f: &'a crate::events::FileReport, quarantine: &'a Quarantine) -> JsonFile<'a> {
        JsonFile {
            path: &f.path,
            host: f.slot.as_ref().map(|s| &*s.host),
            slot: f.slot.as_ref().map(|s| s.id),
            seconds: round(f.seconds),
            examples: f.examples.len(),
            failures: f.count(ExampleStatus::Failed),
            pending: f.count(ExampleStatus::Pending),
            flaky: f.flaky(),
            status: f.status(),
            error: f.error.as_ref().map(|e| e.message()),
            error_kind: f.error.as_ref().map(|e| e.kind()),
            host_slot: f.slot.as_ref().map(|s| s.host_slot),
            results: Results(f, quarantine),
        }
    }
}

#[derive(Serialize)]
struct JsonExample<'a> {
    description: &'a str,
    location: &'a str,
    line: Option<u32>,
    status: ExampleStatus,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// A failure's backtrace, as the runner filtered it.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    backtrace: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    earlier_failures: &'a [String],
    /// In `[project] quarantine`: a failure of it does not fail the run.
    #[serde(skip_serializing_if = "is_false")]
    quarantined: bool,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    path: &'a str,
    line: Option<u32>,
    /// What reruns it: RSpec's rerun argument (`./spec/a_spec.rb:12`, or its id when the line is shared).
    location: &'a str,
    /// RSpec's example id (`1:2:3`, the part in brackets); null for other frameworks.
    id: Option<&'a str>,
    description: &'a str,
    message: &'a str,
    /// The failure's backtrace (empty for a flaky example's earlier failure: only its message is kept).
    backtrace: &'a [String],
    /// In `[project] quarantine`: this failure does not fail the run.
    #[serde(skip_serializing_if = "is_false")]
    quarantined: bool,
}

#[derive(Serialize)]
struct JsonError<'a> {
    path: Option<&'a str>,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonHost {
    name: String,
    slots: usize,
    files: usize,
    busy_seconds: f64,
}

/// Streams the report to `out` (a 20,000-file report is megabytes; no String of it is built),
/// compact: one line, about half the size of an indented one, for scripts and `jq`.
pub fn write(framework: Framework, agg: &Aggregate, totals: &Totals, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let report = Report {
        version: VERSION,
        framework: framework.name(),
        wall_seconds: round(agg.wall_seconds),
        interrupted: totals.interrupted,
        stopped: agg.stopped.map(|s| match s {
            crate::events::Stop::Interrupted => "interrupted",
            crate::events::Stop::FailFast { .. } => "fail-fast",
            crate::events::Stop::Timeout { .. } => "timeout",
        }),
        passed: totals.verdict() == super::Verdict::Passed,
        totals: JsonTotals {
            files: totals.files,
            files_run: totals.files_run,
            examples: totals.examples,
            failures: totals.failures,
            quarantined: totals.quarantined,
            pending: totals.pending,
            errors_outside_examples: totals.errors_outside_examples,
            errored_files: totals.errored_files,
            flaky: totals.flaky,
        },
        files: Files(&agg.files, &agg.quarantine),
        failures: failures(agg),
        flaky: flaky(agg),
        errors_outside_examples: errors(agg),
        hosts: hosts(agg),
        warnings: &agg.warnings,
        partition: agg.partition.as_deref().map(|s| JsonPartition { index: s.index, count: s.count, plan: &s.plan, digest: &s.digest }),
        changed: agg.changed.as_ref().map(|c| JsonChanged {
            since: &c.since,
            selected: c.chosen.len(),
            skipped_by_impact_map: c.skipped(),
            all_because: c.all.as_ref().map(super::impact::all_because),
        }),
        coverage: agg.coverage.as_ref().map(|c| JsonCoverage { batches: c.batches, lines: &c.lines, failed: c.failed.as_deref() }),
        batches: agg
            .batches
            .iter()
            .map(|b| JsonBatch {
                host: &b.slot.host,
                slot: b.slot.id,
                host_slot: b.slot.host_slot,
                seconds: round(b.seconds),
                seed: b.seed,
                files: &b.arguments,
            })
            .collect(),
    };
    serde_json::to_writer(&mut *out, &report)?;
    out.write_all(b"\n")
}

fn failures(agg: &Aggregate) -> Vec<JsonFailure<'_>> {
    agg.files
        .iter()
        .flat_map(|f| f.examples.iter().map(move |e| (f, e)))
        .filter(|(_, e)| e.status == ExampleStatus::Failed)
        .map(|(f, e)| JsonFailure {
            path: &f.path,
            line: e.line,
            location: &e.location,
            id: e.id.as_deref(),
            description: &e.description,
            message: e.message.as_deref().unwrap_or(""),
            backtrace: &e.backtrace,
            quarantined: agg.quarantine.holds(&f.path, e),
        })
        .collect()
}

fn flaky(agg: &Aggregate) -> Vec<JsonFailure<'_>> {
    agg.files
        .iter()
        .flat_map(|f| f.examples.iter().map(move |e| (f, e)))
        .filter(|(_, e)| e.is_flaky())
        .map(|(f, e)| JsonFailure {
            path: &f.path,
            line: e.line,
            location: &e.location,
            id: e.id.as_deref(),
            description: &e.description,
            message: e.earlier_failures.first().map(String::as_str).unwrap_or(""),
            backtrace: &[],
            quarantined: agg.quarantine.holds(&f.path, e),
        })
        .collect()
}

/// Each error the totals count outside examples: files that did not load, crashed their runner
/// or hung, and errors no file owns.
fn errors(agg: &Aggregate) -> Vec<JsonError<'_>> {
    use crate::events::FileError;
    let mut errors: Vec<JsonError> = agg
        .files
        .iter()
        .filter_map(|f| match &f.error {
            Some(FileError::Load(m) | FileError::Crashed(m) | FileError::TimedOut(m)) => Some(JsonError { path: Some(&f.path), message: m }),
            _ => None,
        })
        .collect();
    errors.extend(agg.batch_errors.iter().map(|e| JsonError { path: None, message: &e.message }));
    errors
}

/// Hosts in the order their slots come, found by name (hundreds of hosts, 20,000 files).
fn hosts(agg: &Aggregate) -> Vec<JsonHost> {
    let mut hosts: Vec<JsonHost> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for slot in &agg.slots {
        let busy = agg.busy.get(&slot.id).copied().unwrap_or(0.0);
        let i = *by_name.entry(&slot.host).or_insert_with(|| {
            hosts.push(JsonHost { name: slot.host.to_string(), slots: 0, files: 0, busy_seconds: 0.0 });
            hosts.len() - 1
        });
        hosts[i].slots += 1;
        hosts[i].busy_seconds += busy;
    }
    for f in &agg.files {
        if let Some(&i) = f.slot.as_ref().and_then(|slot| by_name.get(&*slot.host)) {
            hosts[i].files += 1;
        }
    }
    for h in &mut hosts {
        h.busy_seconds = round(h.busy_seconds);
    }
    hosts
}

fn is_false(b: &bool) -> bool {
    !b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
