//! `--repeat N`, `--shuffle-batches` and `--seed S`: how many runs, the seed each deals its
//! batches from (`schedule::shuffle`), and the end: the summary and the repeat's JSON report.

use crate::errors::Error;
use crate::framework::Framework;
use crate::report::RunResult;
use std::path::{Path, PathBuf};

/// `--repeat`, `--shuffle-batches` and `--seed`, as the command line gave them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Repeat {
    /// `--repeat N`: run the selection N times (None: once, as a plain run).
    pub runs: Option<usize>,
    /// `--shuffle-batches`.
    pub shuffle: bool,
    /// `--seed S` (with `--shuffle-batches`).
    pub seed: Option<u64>,
}

impl Repeat {
    /// Each run's seed to deal its batches from (None: the plan's own order). `queued`: the run
    /// is a job of a `--queue` build, whose plan the build's queue holds: neither can apply.
    pub(super) fn seeds(&self, queued: bool) -> Result<Vec<Option<u64>>, Error> {
        if queued && (self.runs.is_some() || self.shuffle) {
            let what = if self.runs.is_some() { "--repeat" } else { "--shuffle-batches" };
            return Err(Error::Usage(format!(
                "{what} cannot be used with --queue: a build's queue hands each file out once, in its own plan \
                 (run `testbot {what} …` without --queue, e.g. on a developer machine or in a CI job of its own)"
            )));
        }
        let runs = self.runs.unwrap_or(1);
        if !self.shuffle {
            return Ok(vec![None; runs]);
        }
        let first = self.seed.unwrap_or_else(drawn);
        Ok(crate::schedule::shuffle::repetition_seeds(first, runs).into_iter().map(Some).collect())
    }
}

/// The end of a `--repeat`: its summary, and its own JSON report.
pub(super) struct End<'a> {
    /// `--report-json FILE`: FILE gets the repeat's report, each run its own beside it.
    pub report_json: Option<&'a Path>,
    pub framework: Framework,
    /// `--repeat N`.
    pub runs: usize,
}

impl End<'_> {
    /// Prints the summary of the runs that ended and writes the repeat's JSON report; false when
    /// that report could not be written (the repeat fails, as a run whose report was lost does).
    pub(super) fn finish(&self, results: &[RunResult], interrupted: bool) -> bool {
        crate::report::print_repeat_summary(results, self.runs);
        let Some(path) = self.report_json else { return true };
        crate::report::write_repeat_report(path, self.framework, results, self.runs, interrupted)
    }
}

/// A new seed from the OS's random source.
fn drawn() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS has no random source");
    crate::schedule::shuffle::seed_from(u64::from_le_bytes(bytes))
}

/// Run `run`'s own report file beside `path`: `report.json` → `report.2.json`.
pub(super) fn numbered(path: &Path, run: Option<usize>) -> PathBuf {
    let Some(run) = run else { return path.to_path_buf() };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{run}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{run}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_of_a_repeat_has_its_own_report_file() {
        assert_eq!(numbered(Path::new("tmp/report.json"), Some(2)), PathBuf::from("tmp/report.2.json"));
        assert_eq!(numbered(Path::new("junit"), Some(3)), PathBuf::from("junit.3"));
        assert_eq!(numbered(Path::new("tmp/report.json"), None), PathBuf::from("tmp/report.json"));
    }

    #[test]
    fn seeds_follow_from_the_seed_given_and_the_queue_takes_neither_option() {
        let repeat = Repeat { runs: Some(3), shuffle: true, seed: Some(42) };
        let seeds = repeat.seeds(false).unwrap();
        assert_eq!(seeds.len(), 3);
        assert_eq!(seeds[0], Some(42));
        assert_eq!(repeat.seeds(false).unwrap(), seeds);
        assert_eq!(Repeat { runs: Some(2), ..Repeat::default() }.seeds(false).unwrap(), vec![None, None]);
        assert_eq!(Repeat::default().seeds(false).unwrap(), vec![None]);
        assert!(matches!(repeat.seeds(true), Err(Error::Usage(m)) if m.starts_with("--repeat cannot be used with --queue")));
        let shuffled = Repeat { shuffle: true, ..Repeat::default() };
        assert!(matches!(shuffled.seeds(true), Err(Error::Usage(m)) if m.starts_with("--shuffle-batches cannot")));
    }
}
