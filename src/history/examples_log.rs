//! The examples log (`tmp/testbot-examples-rspec.json`): for each long file, its examples' ids
//! and times in the last run, with a hash of the file's contents. It is what splits a long file
//! into pieces (`schedule::split`) without loading it first; a file whose contents changed since
//! runs whole once and is recorded again.

use crate::events::FileReport;
use crate::schedule::split::{ExampleTime, MIN_PIECE_SECONDS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// FNV-1a of the file's bytes, hex.
    pub hash: String,
    /// `(id, seconds)` of every example.
    pub examples: Vec<(String, f64)>,
}

pub type Log = BTreeMap<String, Entry>;

/// The log at `path`; empty when there is none or it does not parse.
pub fn load(path: &Path) -> Log {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// The file's examples from the log, if its contents are what they were then.
pub fn examples_of(log: &Log, root: &Path, path: &str) -> Option<Vec<ExampleTime>> {
    let entry = log.get(path)?;
    (hash_file(&root.join(path))? == entry.hash)
        .then(|| entry.examples.iter().map(|(id, s)| ExampleTime { id: id.clone(), seconds: *s }).collect())
}

pub fn hash_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    Some(format!("{h:016x}"))
}

/// The log on disk now with this run's long files (long enough to be worth splitting one day,
/// every example with an id, nothing broken) put in.
pub fn merged(path: &Path, root: &Path, files: &[FileReport]) -> Option<String> {
    let mut log = load(path);
    let mut changed = false;
    for f in files {
        if let Some(entry) = entry_of(root, f) {
            log.insert(f.path.clone(), entry);
            changed = true;
        }
    }
    changed.then(|| serde_json::to_string(&log).expect("the log serializes") + "\n")
}

/// The log's entry for a file's report, when it is worth one: long enough to be split one day,
/// every example with an id, nothing broken, and the file (under `root`) there to hash.
pub fn entry_of(root: &Path, f: &FileReport) -> Option<Entry> {
    let examples: Vec<(String, f64)> = f.examples.iter().map(|e| e.id.clone().map(|id| (id, e.seconds))).collect::<Option<_>>()?;
    if f.error.is_some() || examples.len() < 2 || f.seconds < 2.0 * MIN_PIECE_SECONDS {
        return None;
    }
    // Reruns of failed examples add nothing new; only a report of every example counts.
    Some(Entry { hash: hash_file(&root.join(&f.path))?, examples })
}
