//! `testbot report merge`.

use super::Outcome;
use crate::errors::{exit_code_of, Error};
use std::path::PathBuf;

#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// `-C`: change here first.
    pub chdir: Option<PathBuf>,
    pub reports: Vec<PathBuf>,
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub runtime_log: Option<PathBuf>,
    pub flaky_fails: bool,
}

pub fn merge(options: MergeOptions) -> Result<Outcome, Error> {
    if let Some(dir) = &options.chdir {
        std::env::set_current_dir(dir).map_err(|source| Error::Chdir { path: dir.clone(), source })?;
    }
    let outputs = [("the JSON report", &options.report_json), ("the JUnit report", &options.junit), ("the runtime log", &options.runtime_log)];
    for (what, path) in outputs {
        if let Some(path) = path {
            crate::report::check_output(what, path)?;
        }
    }
    let totals = crate::report::merge_json_reports(&options.reports, options.report_json, options.junit, options.runtime_log, options.flaky_fails)?;
    Ok(Outcome::new(exit_code_of(totals.verdict())))
}
