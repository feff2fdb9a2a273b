//! What earlier runs leave for later ones: the runtime log (seconds per file, parallel_tests'
//! format) and the examples log (each long file's examples, for splitting it). Read before a
//! run plans; merged from the run's file reports after it.

pub mod examples_log;
pub mod failures;
pub mod flaky;
pub mod impact;
pub mod quarantine;
pub mod runtime_log;

use crate::schedule::History;
use std::path::Path;

/// The runtime history at `path`, else at `fallback` (parallel_tests' log), else none.
pub fn load(path: &Path, fallback: &Path) -> History {
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|t| History::parse(&t));
    read(path).or_else(|| read(fallback)).unwrap_or_default()
}
