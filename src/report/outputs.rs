//! The files a run leaves: the JUnit and JSON reports and the histories (runtime, examples and
//! failures logs), each checked before the run (`check_output`) and written whole at its end.

use super::aggregate::Aggregate;
use super::totals::Totals;
use super::{json, junit};
use crate::framework::Framework;
use crate::history::{examples_log, failures, flaky, runtime_log};
use crate::events::Stop;
use std::path::{Path, PathBuf};

/// Where a run's files go; None: not written.
pub struct OutputFiles {
    pub report_json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Where the runtime history is merged; None: nowhere (`--partition`, or `report merge`
    /// without `--runtime-log`).
    pub runtime_log: Option<PathBuf>,
    /// Where the examples of long files are recorded, and the project root.
    pub examples_log: Option<(PathBuf, PathBuf)>,
    /// Where the run's failures are kept for `--only-failures`, and the project root.
    pub failures_log: Option<(PathBuf, PathBuf)>,
    /// `--record-impact`: where the impact map is merged, and how.
    pub impact_map: Option<ImpactOutput>,
    /// Where flaky (and quarantined) examples are recorded across runs (`history::flaky`).
    pub flaky_log: Option<PathBuf>,
}

/// Where a recording run merges its impact map (`history::impact`).
#[derive(Clone, Debug)]
pub struct ImpactOutput {
    pub path: PathBuf,
    pub root: PathBuf,
    /// The project's commit when the run started.
    pub commit: Option<String>,
    /// It planned every test file (not a selection, not a `--partition` share).
    pub whole_suite: bool,
    /// The files it runs only parts of (`spec/a_spec.rb:12`).
    pub partly: std::collections::BTreeSet<String>,
}

impl OutputFiles {
    /// The JUnit and JSON reports. One that cannot be written is kept in `agg.unwritten`: it
    /// fails the run (a CI job must not end green without it).
    pub fn write_reports(&self, framework: Framework, agg: &mut Aggregate) {
        // JUnit first: a JUnit file that could not be written already counts in the verdict the
        // JSON report states.
        if let Some(path) = &self.junit {
            if let Err(err) = write_file(path, &|out| junit::write(framework, agg, out)) {
                agg.unwritten.push(format!("failed to write the JUnit report to {}: {err}", path.display()));
            }
        }
        if let Some(path) = &self.report_json {
            let totals = Totals::of(agg);
            if let Err(err) = write_file(path, &|out| json::write(framework, agg, &totals, out)) {
                agg.unwritten.push(format!("failed to write the JSON report to {}: {err}", path.display()));
            }
        }
    }

    /// The histories that help the next run plan; failing to keep them is a warning, not a
    /// verdict: the warnings are returned, in order.
    pub fn write_histories(&self, framework: Framework, agg: &Aggregate) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut write = |what: &str, path: &Path, text: String| {
            if let Err(err) = write_file(path, &|out| std::io::Write::write_all(out, text.as_bytes())) {
                warnings.push(format!("failed to write the {what} to {}: {err}", path.display()));
            }
        };
        let updates = runtime_log::updates(&agg.files);
        if let (false, Some(path)) = (updates.is_empty(), &self.runtime_log) {
            write("runtime log", path, runtime_log::merged(path, updates, agg.boot_seconds));
        }
        if let Some((path, root)) = &self.examples_log {
            if let Some(text) = examples_log::merged(path, root, &agg.files) {
                write("examples log", path, text);
            }
        }
        if let (Some(out), false) = (&self.impact_map, agg.impact.files.is_empty() && agg.impact.boot.is_empty()) {
            write("impact map", &out.path, impact_map(out, agg));
        }
        // Not after an interrupted run: what it did not reach would be forgotten.
        if let (Some((path, root)), None | Some(Stop::FailFast { .. } | Stop::Timeout { .. })) = (&self.failures_log, agg.stopped) {
            let excused = |file: &str, ex: &crate::events::ExampleResult| agg.quarantine.holds(file, ex);
            write("failures log", path, failures::merged(path, root, &agg.files, framework, &excused));
        }
        warnings
    }

    /// The flaky record with this run merged in, and the quarantined examples it says are ready
    /// to leave the quarantine (`agg.ready_to_leave`); a warning when it cannot be written. Not
    /// after an interrupted run, as the failures log.
    pub fn write_flaky_record(&self, agg: &mut Aggregate) -> Option<String> {
        let path = self.flaky_log.as_ref().filter(|_| agg.stopped != Some(Stop::Interrupted))?;
        let mut record = flaky::load(path);
        let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let quarantine = &agg.quarantine;
        record.merge(&agg.files, &|file, ex| quarantine.holds(file, ex), &today[..10]);
        agg.ready_to_leave = ready_to_leave(&record, agg);
        let text = flaky::render(&record);
        let written = write_file(path, &|out| std::io::Write::write_all(out, text.as_bytes()));
        written.err().map(|err| format!("failed to write the flaky record to {}: {err}", path.display()))
    }
}

/// The quarantined examples this run passed whose record has passed `passes_to_leave` runs in
/// a row, by their rerun location.
fn ready_to_leave(record: &flaky::Record, agg: &Aggregate) -> Vec<String> {
    let quarantine = &agg.quarantine;
    let passes = u32::try_from(quarantine.passes_to_leave).unwrap_or(u32::MAX);
    agg.files
        .iter()
        .flat_map(|f| f.examples.iter().map(move |e| (f, e)))
        .filter(|(f, e)| e.status == crate::events::ExampleStatus::Passed && quarantine.holds(&f.path, e))
        .filter(|(f, e)| record.examples.get(&flaky::key(&f.path, e)).is_some_and(|entry| entry.clean_passes >= passes))
        .map(|(_, e)| e.location.clone())
        .collect()
}

/// The impact map on disk with this run's records merged in. A stopped run did not run every file.
fn impact_map(out: &ImpactOutput, agg: &Aggregate) -> String {
    use crate::history::impact;
    let stamp = impact::Stamp {
        commit: out.commit.clone(),
        digest: impact::git::digest(&out.root, agg.impact.ruby.as_deref().unwrap_or_default()),
        whole_suite: out.whole_suite && agg.stopped.is_none(),
        partly: out.partly.clone(),
    };
    impact::render(&impact::merged(impact::load(&out.path), &agg.impact, &stamp))
}

/// A report file being written: buffered, and a concrete type so that the renderers' many
/// small writes are inlined copies into the buffer, not calls through `dyn Write`.
pub(super) type ReportFile = std::io::BufWriter<std::fs::File>;

/// Why `path` cannot take a report (or the runtime log), found before the run starts: a run of
/// an hour must not end green with its report lost.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} to `{}`: {reason}\n  hint: {hint}", path.display())]
pub struct OutputError {
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
    pub hint: String,
}

/// Checks that a file can be written at `path` as [`write_file`] will: it is not a folder, and its
/// folder exists (or can be made, as the write would) and takes a new file. The check writes a
/// file there and removes it — the one check that holds for root too, for whom permission bits
/// stop nothing, and on read-only mounts.
pub fn check_output(what: &'static str, path: &Path) -> Result<(), OutputError> {
    let fail = |reason: String| OutputError {
        what,
        path: path.to_path_buf(),
        reason,
        hint: "give a file in a folder that exists (or can be made) and that you can write to".into(),
    };
    if path.is_dir() {
        let name = match what {
            "the JUnit report" => "junit.xml",
            "the runtime log" => "runtime.log",
            _ => "report.json",
        };
        return Err(OutputError {
            hint: format!("give a file name, e.g. `{}`", path.join(name).display()),
            ..fail("it is a directory".into())
        });
    }
    let dir = folder_of(path);
    if dir.exists() && !dir.is_dir() {
        return Err(fail(format!("`{}` is not a directory", dir.display())));
    }
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("its folder `{}` cannot be created: {e}", dir.display())))?;
    let (probe, file) = create_temp(&dir, path)
        .map_err(|e| fail(format!("its folder `{}` does not take new files: {e}", dir.display())))?;
    drop(file);
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new file beside `path` (`.NAME.testbot-PID-N.tmp`), created as any file is: mode 0666 less
/// the umask (tempfile's 0600 would leave a report that CI's other users cannot read).
fn create_temp(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.testbot-{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Atomically: a reader (or a crash) never sees half a file. `render` writes it, buffered. An
/// error names no temporary file: the caller names the path the user gave.
pub(super) fn write_file(path: &Path, render: &dyn Fn(&mut ReportFile) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = folder_of(path);
    std::fs::create_dir_all(&dir)?;
    let (temp, file) = create_temp(&dir, path)?;
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        render(&mut out)?;
        out.flush()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_output_path_must_be_a_file_in_a_folder_that_takes_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_output("the JSON report", dir.path()).unwrap_err();
        let shown = dir.path().display();
        assert_eq!(err.to_string(), format!("cannot write the JSON report to `{shown}`: it is a directory\n  hint: give a file name, e.g. `{shown}/report.json`"));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = check_output("the JUnit report", &file.join("junit.xml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write the JUnit report to `{}/junit.xml`: `{}` is not a directory\n  hint: give a file in a folder that exists (or can be made) and that you can write to",
                file.display(),
                file.display()
            )
        );
        // A folder that is to come is made, as the write would; the probe leaves nothing behind.
        let later = dir.path().join("reports/run.json");
        check_output("the JSON report", &later).unwrap();
        assert_eq!(std::fs::read_dir(later.parent().unwrap()).unwrap().count(), 0);
    }

    #[test]
    fn a_report_is_written_whole_with_the_umask_and_no_temporary_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        write_file(&path, &|out| std::io::Write::write_all(out, b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        // What the umask lets a new file have, as `File::create` gets it.
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
        // A render that fails leaves the old file and no temporary.
        let failed = write_file(&path, &|_| Err(std::io::Error::other("boom")));
        assert_eq!(failed.unwrap_err().to_string(), "boom");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
