//! `testbot report merge A.json B.json …`: the JSON reports of several runs (CI jobs that each
//! ran a `--partition`) read back into one run, for one summary, JSON report and JUnit file.

use super::{Aggregate, BatchError};
use crate::events::{ExampleResult, ExampleStatus, FileError, FileReport, SlotInfo, Stop};
use crate::framework::Framework;
use serde::Deserialize;
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
    files: Vec<File>,
    #[serde(default)]
    errors_outside_examples: Vec<JsonError>,
    #[serde(default)]
    hosts: Vec<Host>,
    #[serde(default)]
    warnings: Vec<String>,
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
    earlier_failures: Vec<String>,
}

#[derive(Deserialize)]
struct JsonError {
    path: Option<String>,
    message: String,
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
}

/// The runs of `paths` as one: every file of every report, hosts side by side, the longest wall
/// time (the jobs ran at the same time). Files found in more than one report are kept and named
/// in a warning.
pub fn merge(paths: &[std::path::PathBuf]) -> Result<(Framework, Aggregate), MergeError> {
    let mut agg = Aggregate::default();
    let mut framework: Option<(String, String)> = None;
    let mut next_slot = 1;
    for path in paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read { path: shown.clone(), source })?;
        let report: Report =
            serde_json::from_str(&text).map_err(|e| MergeError::Parse { path: shown.clone(), reason: e.to_string() })?;
        match &framework {
            None => framework = Some((report.framework.clone(), shown.clone())),
            Some((first, first_path)) if *first != report.framework => {
                return Err(MergeError::Frameworks {
                    first: first.clone(),
                    first_path: first_path.clone(),
                    other: report.framework,
                    other_path: shown,
                })
            }
            Some(_) => {}
        }
        add(&mut agg, report, &shown, &mut next_slot)?;
    }
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
    agg.files.sort_by(|a, b| a.path.cmp(&b.path));
    let name = framework.map(|(f, _)| f).unwrap_or_else(|| "rspec".into());
    Ok((Framework::from_name(&name).unwrap_or(Framework::RSpec), agg))
}

fn add(agg: &mut Aggregate, report: Report, path: &str, next_slot: &mut usize) -> Result<(), MergeError> {
    agg.total_files += report.totals.files;
    agg.wall_seconds = agg.wall_seconds.max(report.wall_seconds);
    let stopped = match report.stopped.as_deref() {
        Some("interrupted") => Some(Stop::Interrupted),
        Some("fail-fast") => Some(Stop::FailFast { failures: 0 }),
        Some("timeout") => Some(Stop::Timeout { seconds: 0.0 }),
        _ if report.interrupted => Some(Stop::Interrupted),
        _ => None,
    };
    agg.stopped = agg.stopped.or(stopped);
    agg.warnings.extend(report.warnings.into_iter().map(|w| format!("{path}: {w}")));
    // Slots get new ids, unique in the merged run; a file keeps its host and slot number there.
    let mut ids = std::collections::HashMap::new();
    for host in &report.hosts {
        for k in 1..=host.slots {
            let info = SlotInfo { id: *next_slot, host: Arc::from(host.name.as_str()), host_slot: k };
            agg.busy.insert(info.id, host.busy_seconds / host.slots.max(1) as f64);
            ids.insert((host.name.clone(), k), info.clone());
            agg.slots.push(info);
            *next_slot += 1;
        }
    }
    for file in report.files {
        let results = file.results.ok_or_else(|| MergeError::Old { path: path.to_string() })?;
        let slot = file.host.map(|host| {
            let k = file.host_slot.or(file.slot).unwrap_or(1);
            ids.get(&(host.clone(), k))
                .cloned()
                .unwrap_or_else(|| SlotInfo { id: 0, host: Arc::from(host.as_str()), host_slot: k })
        });
        let error = file.error.map(|m| match file.error_kind.as_deref() {
            Some("load error") => FileError::Load(m),
            Some("crashed") => FileError::Crashed(m),
            Some("timed out") => FileError::TimedOut(m),
            _ => FileError::NotRun(m),
        });
        agg.files.push(FileReport {
            path: file.path,
            slot,
            seconds: file.seconds,
            expected_seconds: 0.0,
            examples: results
                .into_iter()
                .map(|e| ExampleResult {
                    description: e.description,
                    location: e.location,
                    line: e.line,
                    status: e.status,
                    seconds: e.seconds,
                    message: e.message,
                    backtrace: Vec::new(),
                    id: e.id,
                    earlier_failures: e.earlier_failures,
                })
                .collect(),
            error,
            output: String::new(),
        });
    }
    // Load errors come back with their files; the rest were errors outside any file.
    for e in report.errors_outside_examples.into_iter().filter(|e| e.path.is_none()) {
        agg.batch_errors.push(BatchError { slot: None, message: e.message, output: String::new() });
    }
    Ok(())
}
