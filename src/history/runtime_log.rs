//! The runtime history, merged after every run (also an interrupted one) so that no other
//! file's entry is lost. A `--partition` share does not write it (the plan of the shares after it
//! must not change); `report merge --runtime-log` does, for all the shares.

use crate::events::FileReport;
use crate::schedule::History;
use std::path::Path;

/// This run's per-file seconds, for files that ran cleanly.
pub fn updates(files: &[FileReport]) -> Vec<(String, f64)> {
    files.iter().filter(|f| f.error.is_none()).map(|f| (f.path.clone(), f.seconds)).collect()
}

/// The log on disk now (another run may have written it meanwhile) with `updates` merged in,
/// and the run's median boot when it measured one.
pub fn merged(path: &Path, updates: Vec<(String, f64)>, boot: Option<f64>) -> String {
    let mut history = std::fs::read_to_string(path).map(|t| History::parse(&t)).unwrap_or_default();
    history.merge(updates);
    history.set_boot(boot);
    history.render()
}
