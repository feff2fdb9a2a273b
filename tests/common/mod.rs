//! Shared helpers for the integration tests: copy a fixture project into a
//! tempdir, run the real `testbot` binary (or plain serial `rspec`) in it with
//! a hermetic environment and a timeout, and read what they wrote.
//!
//! Every test that touches Ruby builds exactly one [`Project`]. A `Project`
//! holds a process-wide lock for its whole life, so under plain `cargo test`
//! (many tests as threads of one process) the Ruby-heavy tests of one test
//! binary run one at a time and never oversubscribe the 2 cores. Under nextest
//! (one process per test) the lock is uncontended and the `ruby` test group in
//! `.config/nextest.toml` does the same job across binaries.

#![allow(dead_code)]

pub mod batches;
pub mod frameworks;
pub mod postgres;
pub mod rails;
pub mod redis;
pub mod sshd;

/// Every spec file of the rspec_basic fixture.
pub const BASIC_FILES: &[&str] = &[
    "spec/empty_spec.rb",
    "spec/error_spec.rb",
    "spec/math_spec.rb",
    "spec/nested_spec.rb",
    "spec/passing_spec.rb",
    "spec/pending_spec.rb",
    "spec/with space_spec.rb",
];

use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The binary under test.
pub const TESTBOT: &str = env!("CARGO_BIN_EXE_testbot");

/// How long one `testbot` run may take before the test kills it and fails.
pub const TESTBOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one serial `rspec` run may take.
pub const RSPEC_TIMEOUT: Duration = Duration::from_secs(60);

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `tests/fixtures/<name>` in the source tree (read only: never run anything there).
pub fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Environment variables the tests remove from every child so that the
/// developer's shell (or a surrounding `bundle exec`, or a parallel_tests run)
/// cannot leak into the results.
const SCRUBBED_VARS: &[&str] = &[
    "TEST_ENV_NUMBER",
    "PARALLEL_TEST_GROUPS",
    "BUNDLE_GEMFILE",
    "BUNDLE_BIN_PATH",
    "BUNDLER_SETUP",
    "BUNDLER_VERSION",
    "RUBYOPT",
    "RUBYLIB",
    "SPEC_OPTS",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    // On GitHub Actions a run would print annotations before its summary.
    "GITHUB_ACTIONS",
];

pub fn scrub_env(cmd: &mut Command) {
    for var in SCRUBBED_VARS {
        cmd.env_remove(var);
    }
    // Anything testbot could read as configuration (clap `env`), and the
    // slot variables it sets itself.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TESTBOT_") {
            cmd.env_remove(key);
        }
    }
    // script/test's second pass of the RSpec tests runs every batch as a fresh process.
    if let Some(value) = std::env::var_os("TESTBOT_NO_FORK") {
        cmd.env("TESTBOT_NO_FORK", value);
    }
    cmd.env("NO_COLOR", "1");
}

// ---------------------------------------------------------------------------
// Project: a fixture copied into a tempdir
// ---------------------------------------------------------------------------

/// A copy of a fixture project in a fresh tempdir:
/// `<tmp>/project/` is the project, `<tmp>/` itself is scratch space outside
/// the project for reports, JUnit files and fixture output.
pub struct Project {
    /// The project root (the copy).
    pub root: PathBuf,
    tmp: TempDir,
    // Dropped last, after the tempdir is gone.
    _serial: MutexGuard<'static, ()>,
}

impl Project {
    /// Copy `tests/fixtures/<name>` into a new tempdir.
    pub fn new(name: &str) -> Project {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let src = fixture_source(name);
        assert!(src.is_dir(), "fixture {} does not exist", src.display());
        let tmp = tempfile::Builder::new()
            .prefix(&format!("testbot-{}-", name.replace('/', "-")))
            .tempdir()
            .expect("create tempdir");
        let root = tmp.path().join("project");
        copy_tree(&src, &root);
        Project {
            root,
            tmp,
            _serial: serial,
        }
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A path in the scratch space next to (outside) the project.
    pub fn outside(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A fresh, empty directory outside the project (for fixture output).
    pub fn out_dir(&self, name: &str) -> PathBuf {
        let dir = self.outside(name);
        fs::create_dir_all(&dir).expect("create out dir");
        dir
    }

    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, contents).unwrap();
        path
    }

    /// A `testbot` invocation with the project root as working directory.
    pub fn testbot<I, S>(&self, args: I) -> Testbot
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Testbot {
            args: args.into_iter().map(Into::into).collect(),
            envs: Vec::new(),
            cwd: self.root.clone(),
            report: None,
            junit: None,
            umask: None,
        }
    }

    /// A fresh report path outside the project.
    pub fn fresh_path(&self, stem: &str, ext: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        self.outside(&format!("{stem}-{n}.{ext}"))
    }

    /// A shell command in the project, with the tests' scrubbed environment plus `env`.
    pub fn sh(&self, script: &str, env: &[(String, String)]) -> Run {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).current_dir(&self.root);
        scrub_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        run_with_timeout(cmd, script, TESTBOT_TIMEOUT)
    }

    /// Serial `bundle exec rspec --format json` (as a team runs its suite) with `env` added,
    /// and the run (its output holds what SimpleCov printed).
    pub fn serial_bundle_rspec(&self, env: &[(String, String)]) -> (Serial, Run) {
        let out = self.fresh_path("serial-rspec", "json");
        let mut cmd = Command::new("bundle");
        cmd.args(["exec", "rspec", "--format", "progress", "--format", "json", "--out"]).arg(&out);
        cmd.current_dir(&self.root);
        scrub_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let run = run_with_timeout(cmd, "bundle exec rspec (serial)", TESTBOT_TIMEOUT);
        let text = fs::read_to_string(&out).unwrap_or_else(|e| panic!("serial rspec wrote no JSON ({e})\n{}", run.dump()));
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("serial rspec JSON does not parse: {e}\n{text}"));
        (Serial::from_json(&json, run.code), run)
    }

    /// Plain serial `rspec --format json` in the project with `args`
    /// (file paths and/or rspec options). The JSON goes to a file outside the
    /// project, so whatever the specs print cannot corrupt it. A run that
    /// writes no JSON (e.g. a process that kills itself) panics.
    pub fn serial_rspec(&self, args: &[&str]) -> Serial {
        let out = self.fresh_path("serial-rspec", "json");
        let mut cmd = Command::new("rspec");
        cmd.arg("--format")
            .arg("json")
            .arg("--out")
            .arg(&out)
            .args(args);
        cmd.current_dir(&self.root);
        scrub_env(&mut cmd);
        let run = run_with_timeout(cmd, "rspec (serial)", RSPEC_TIMEOUT);
        let text = fs::read_to_string(&out).unwrap_or_else(|e| {
            panic!(
                "serial rspec wrote no JSON to {} ({e})\n{}",
                out.display(),
                run.dump()
            )
        });
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("serial rspec JSON does not parse: {e}\n{text}"));
        Serial::from_json(&json, run.code)
    }
}

pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // Never carry over state a manual run in the fixture may have left.
        if name == "tmp" || name == ".bundle" {
            continue;
        }
        let ty = entry.file_type().unwrap();
        let to = dst.join(&name);
        if ty.is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

// ---------------------------------------------------------------------------
// Running testbot
// ---------------------------------------------------------------------------

/// Builder for one `testbot` run.
pub struct Testbot {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    report: Option<PathBuf>,
    junit: Option<PathBuf>,
    umask: Option<u32>,
}

impl Testbot {
    /// Run testbot under this umask (through `sh -c 'umask …; exec testbot …'`).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// Add `--report-json <path>` (inserted before any `--`).
    pub fn report_to(mut self, path: &Path) -> Self {
        self.report = Some(path.to_path_buf());
        self
    }

    /// Add `--junit <path>` (inserted before any `--`).
    pub fn junit_to(mut self, path: &Path) -> Self {
        self.junit = Some(path.to_path_buf());
        self
    }

    fn full_args(&self) -> Vec<OsString> {
        let mut extra: Vec<OsString> = Vec::new();
        if let Some(p) = &self.report {
            extra.push("--report-json".into());
            extra.push(p.into());
        }
        if let Some(p) = &self.junit {
            extra.push("--junit".into());
            extra.push(p.into());
        }
        let mut args = self.args.clone();
        let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
        args.splice(at..at, extra);
        args
    }

    pub fn run(self) -> Run {
        self.spawn().finish(TESTBOT_TIMEOUT)
    }

    /// Start testbot and return at once.
    pub fn spawn(self) -> Running {
        let args = self.full_args();
        let mut cmd = match self.umask {
            None => Command::new(TESTBOT),
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c").arg(format!("umask {mask:03o} && exec \"$0\" \"$@\"")).arg(TESTBOT);
                sh
            }
        };
        cmd.args(&args).current_dir(&self.cwd);
        scrub_env(&mut cmd);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let desc = format!(
            "testbot {} (in {})",
            args.iter()
                .map(|a| format!("{:?}", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" "),
            self.cwd.display()
        );
        Running::spawn(cmd, &desc)
    }

    /// Run, then read the JSON report (which must have been requested with
    /// [`Testbot::report_to`]).
    pub fn run_with_report(self) -> (Run, Report) {
        let path = self
            .report
            .clone()
            .expect("run_with_report needs report_to(path)");
        let run = self.run();
        let report = Report::read(&path, &run);
        (run, report)
    }
}

/// What a finished child process left behind.
pub struct Run {
    pub desc: String,
    /// Exit code; `None` if it died from a signal.
    pub code: Option<i32>,
    /// stdout, lossily decoded, ANSI escapes removed.
    pub stdout: String,
    /// stderr, lossily decoded, ANSI escapes removed.
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// A readable dump for assertion messages (long streams are shortened).
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nexit code: {:?} after {:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.desc,
            self.code,
            self.elapsed,
            shorten(&self.stdout),
            shorten(&self.stderr)
        )
    }

    #[track_caller]
    pub fn assert_exit(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.dump()
        );
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) {
        assert!(
            self.stdout.contains(needle),
            "stdout does not contain {needle:?}\n{}",
            self.dump()
        );
    }

    #[track_caller]
    pub fn assert_output_contains(&self, needle: &str) {
        assert!(
            self.combined().contains(needle),
            "neither stdout nor stderr contains {needle:?}\n{}",
            self.dump()
        );
    }
}

fn shorten(s: &str) -> String {
    const KEEP: usize = 6000;
    if s.len() <= 2 * KEEP {
        return s.to_string();
    }
    let mut head = KEEP;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - KEEP;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes cut ...]\n{}",
        &s[..head],
        tail - head,
        &s[tail..]
    )
}

/// Remove ANSI CSI/OSC escape sequences.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // parameters/intermediates, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Spawn `cmd` in its own process group with piped output; kill the whole
/// group if it outlives `timeout` (the test then fails with what it printed).
pub fn run_with_timeout(cmd: Command, desc: &str, timeout: Duration) -> Run {
    Running::spawn(cmd, desc).finish(timeout)
}

/// A child process started by a test, in its own process group, whose output
/// is being collected.
pub struct Running {
    child: std::process::Child,
    desc: String,
    start: Instant,
    rx: mpsc::Receiver<(bool, Vec<u8>)>,
}

impl Running {
    pub fn spawn(mut cmd: Command, desc: &str) -> Running {
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.process_group(0);
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
        let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
        let mut out = child.stdout.take().unwrap();
        let tx_out = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            let _ = tx_out.send((true, buf));
        });
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            let _ = tx.send((false, buf));
        });
        Running {
            child,
            desc: desc.to_string(),
            start,
            rx,
        }
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`"INT"`, `"TERM"`, ...) to the child only.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// Kill everything left in the child's process group (the child and
    /// whatever it started that did not move to another group).
    pub fn kill_group(&self) {
        kill_group(self.pid());
    }

    /// Wait for the child to exit (at most `timeout` from now), then for its
    /// output pipes to close. On timeout the whole group is killed and the
    /// test fails.
    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let pid = self.pid();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for child") {
                break status;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                kill_group(pid);
                break self.child.wait().expect("wait for killed child");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.start.elapsed();

        // The pipes close when every process holding them is gone; a
        // leftover grandchild keeping them open counts as a hang.
        let pipe_deadline = Instant::now() + Duration::from_secs(10);
        let (mut stdout, mut stderr) = (None, None);
        while stdout.is_none() || stderr.is_none() {
            let left = pipe_deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((true, buf)) => stdout = Some(buf),
                Ok((false, buf)) => stderr = Some(buf),
                Err(_) => {
                    kill_group(pid);
                    panic!(
                        "{}: exited ({status:?}) but its output pipes stayed open for 10 s \
                         (a leftover child process?)",
                        self.desc
                    );
                }
            }
        }
        let run = Run {
            desc: self.desc.clone(),
            code: status.code(),
            stdout: strip_ansi(&String::from_utf8_lossy(&stdout.unwrap())),
            stderr: strip_ansi(&String::from_utf8_lossy(&stderr.unwrap())),
            elapsed,
        };
        if timed_out {
            panic!("timed out after {timeout:?} and was killed\n{}", run.dump());
        }
        run
    }
}

fn kill_group(pgid: u32) {
    // Only the process group this helper created for its own child.
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------
// Serial rspec results
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub examples: u64,
    pub failures: u64,
    pub pending: u64,
}

/// `Counts { examples, failures, pending }`
pub const fn counts(examples: u64, failures: u64, pending: u64) -> Counts {
    Counts {
        examples,
        failures,
        pending,
    }
}

#[derive(Debug, Clone)]
pub struct SerialExample {
    /// The spec file the example belongs to (from its id, `./spec/a_spec.rb[1:2]`),
    /// relative to the project root, no leading `./`.
    pub path: String,
    /// rspec's `file_path`: where the `it` is written. Differs from `path`
    /// for shared examples defined in another file (e.g. spec/support/).
    pub defined_in: String,
    pub line: u64,
    pub status: String,
    pub full_description: String,
}

/// The result of one serial `rspec --format json` run.
#[derive(Debug, Clone)]
pub struct Serial {
    pub exit_code: Option<i32>,
    pub counts: Counts,
    pub errors_outside_examples: u64,
    pub examples: Vec<SerialExample>,
}

impl Serial {
    fn from_json(json: &Value, exit_code: Option<i32>) -> Serial {
        let summary = &json["summary"];
        let n = |k: &str| {
            summary[k]
                .as_u64()
                .unwrap_or_else(|| panic!("rspec summary lacks {k}: {summary}"))
        };
        let examples = json["examples"]
            .as_array()
            .expect("rspec JSON has examples")
            .iter()
            .map(|e| SerialExample {
                path: spec_file_of(e),
                defined_in: norm_path(e["file_path"].as_str().unwrap()),
                line: e["line_number"].as_u64().unwrap(),
                status: e["status"].as_str().unwrap().to_string(),
                full_description: e["full_description"].as_str().unwrap().to_string(),
            })
            .collect();
        Serial {
            exit_code,
            counts: Counts {
                examples: n("example_count"),
                failures: n("failure_count"),
                pending: n("pending_count"),
            },
            errors_outside_examples: n("errors_outside_of_examples_count"),
            examples,
        }
    }

    /// Per-file counts (files without examples do not appear).
    pub fn per_file(&self) -> BTreeMap<String, Counts> {
        let mut map: BTreeMap<String, Counts> = BTreeMap::new();
        for e in &self.examples {
            let c = map.entry(e.path.clone()).or_default();
            c.examples += 1;
            match e.status.as_str() {
                "failed" => c.failures += 1,
                "pending" => c.pending += 1,
                _ => {}
            }
        }
        map
    }

    pub fn failed(&self) -> Vec<&SerialExample> {
        self.examples
            .iter()
            .filter(|e| e.status == "failed")
            .collect()
    }
}

/// The spec file an example of rspec's JSON belongs to: its id up to `[`.
fn spec_file_of(example: &Value) -> String {
    let id = example["id"].as_str().expect("rspec example has an id");
    norm_path(id.rsplit_once('[').map_or(id, |(file, _)| file))
}

/// `./spec/a_spec.rb` -> `spec/a_spec.rb`
pub fn norm_path(p: &str) -> String {
    p.strip_prefix("./").unwrap_or(p).to_string()
}

// ---------------------------------------------------------------------------
// testbot's JSON report
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub examples: u64,
    pub failures: u64,
    pub pending: u64,
    pub errors_outside_examples: u64,
}

/// `Totals { files, examples, failures, pending, errors_outside_examples }`
pub const fn totals(
    files: u64,
    examples: u64,
    failures: u64,
    pending: u64,
    errors_outside_examples: u64,
) -> Totals {
    Totals {
        files,
        examples,
        failures,
        pending,
        errors_outside_examples,
    }
}

impl Totals {
    pub fn counts(&self) -> Counts {
        Counts {
            examples: self.examples,
            failures: self.failures,
            pending: self.pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub path: String,
    pub host: String,
    pub slot: u64,
    pub seconds: f64,
    pub examples: u64,
    pub failures: u64,
    pub pending: u64,
    pub status: String,
}

impl FileRow {
    pub fn counts(&self) -> Counts {
        Counts {
            examples: self.examples,
            failures: self.failures,
            pending: self.pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FailureRow {
    pub path: String,
    pub line: u64,
    pub description: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct HostRow {
    pub name: String,
    pub slots: u64,
    pub files: u64,
    pub busy_seconds: f64,
}

/// testbot's `--report-json` output.
pub struct Report {
    pub json: Value,
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("report object lacks {key:?}: {v}"))
}
fn get_u64(v: &Value, key: &str) -> u64 {
    get(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key:?} is not an unsigned integer in {v}"))
}
fn get_f64(v: &Value, key: &str) -> f64 {
    get(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key:?} is not a number in {v}"))
}
fn get_str(v: &Value, key: &str) -> String {
    get(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
        .to_string()
}
fn get_array<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    get(v, key)
        .as_array()
        .unwrap_or_else(|| panic!("{key:?} is not an array in {v}"))
}

impl Report {
    #[track_caller]
    pub fn read(path: &Path, run: &Run) -> Report {
        let text = fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("no JSON report at {} ({e})\n{}", path.display(), run.dump())
        });
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("report does not parse: {e}\n{text}\n{}", run.dump()));
        Report { json }
    }

    pub fn framework(&self) -> String {
        get_str(&self.json, "framework")
    }

    pub fn wall_seconds(&self) -> f64 {
        get_f64(&self.json, "wall_seconds")
    }

    pub fn totals(&self) -> Totals {
        let t = get(&self.json, "totals");
        Totals {
            files: get_u64(t, "files"),
            examples: get_u64(t, "examples"),
            failures: get_u64(t, "failures"),
            pending: get_u64(t, "pending"),
            errors_outside_examples: get_u64(t, "errors_outside_examples"),
        }
    }

    pub fn files(&self) -> Vec<FileRow> {
        get_array(&self.json, "files")
            .iter()
            .map(|f| FileRow {
                path: get_str(f, "path"),
                // A file that never ran (a stopped run's unfinished ones) has no host or slot.
                host: if f["host"].is_null() { String::new() } else { get_str(f, "host") },
                slot: if f["slot"].is_null() { 0 } else { get_u64(f, "slot") },
                seconds: get_f64(f, "seconds"),
                examples: get_u64(f, "examples"),
                failures: get_u64(f, "failures"),
                pending: get_u64(f, "pending"),
                status: get_str(f, "status"),
            })
            .collect()
    }

    /// The one row for `path`; panics if there is none or more than one.
    #[track_caller]
    pub fn file(&self, path: &str) -> FileRow {
        let rows: Vec<FileRow> = self
            .files()
            .into_iter()
            .filter(|f| f.path == path)
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "expected exactly one files[] row for {path:?}: {:#}",
            self.json["files"]
        );
        rows.into_iter().next().unwrap()
    }

    /// The sorted list of file paths (with duplicates, if any).
    pub fn file_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files().into_iter().map(|f| f.path).collect();
        v.sort();
        v
    }

    pub fn failures(&self) -> Vec<FailureRow> {
        get_array(&self.json, "failures")
            .iter()
            .map(|f| FailureRow {
                path: get_str(f, "path"),
                line: get_u64(f, "line"),
                description: get_str(f, "description"),
                message: get_str(f, "message"),
            })
            .collect()
    }

    pub fn hosts(&self) -> Vec<HostRow> {
        get_array(&self.json, "hosts")
            .iter()
            .map(|h| HostRow {
                name: get_str(h, "name"),
                slots: get_u64(h, "slots"),
                files: get_u64(h, "files"),
                busy_seconds: get_f64(h, "busy_seconds"),
            })
            .collect()
    }

    /// Checks that hold for every report: totals agree with the per-file
    /// rows, paths are project-relative, timings are sane.
    #[track_caller]
    pub fn assert_consistent(&self) {
        self.assert_consistent_as("rspec");
    }

    /// [`Report::assert_consistent`] for a run of `framework`.
    #[track_caller]
    pub fn assert_consistent_as(&self, framework: &str) {
        assert_eq!(self.framework(), framework, "framework");
        let wall = self.wall_seconds();
        assert!(wall.is_finite() && wall >= 0.0, "wall_seconds = {wall}");
        let t = self.totals();
        let files = self.files();
        assert_eq!(
            t.files,
            files.len() as u64,
            "totals.files vs files[]: {:#}",
            self.json
        );
        let sum = files.iter().fold(Counts::default(), |mut acc, f| {
            acc.examples += f.examples;
            acc.failures += f.failures;
            acc.pending += f.pending;
            acc
        });
        assert_eq!(
            t.counts(),
            sum,
            "totals vs the sum of files[]: {:#}",
            self.json
        );
        for f in &files {
            assert!(
                !f.path.starts_with("./") && !f.path.starts_with('/'),
                "path must be project-relative without ./: {:?}",
                f.path
            );
            assert!(
                ["passed", "failed", "errored"].contains(&f.status.as_str()),
                "bad status {:?} for {}",
                f.status,
                f.path
            );
            assert!(
                f.seconds.is_finite() && f.seconds >= 0.0,
                "seconds for {}",
                f.path
            );
            assert!(f.slot >= 1, "slots are numbered from 1: {f:?}");
        }
        for f in self.failures() {
            assert!(
                !f.path.starts_with("./"),
                "failure path with ./: {:?}",
                f.path
            );
        }
        let hosts = self.hosts();
        let host_files: u64 = hosts.iter().map(|h| h.files).sum();
        assert_eq!(
            host_files, t.files,
            "hosts[].files should add up to totals.files"
        );
        for h in &hosts {
            assert!(h.busy_seconds.is_finite() && h.busy_seconds >= 0.0, "{h:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Small readers
// ---------------------------------------------------------------------------

/// Counts of the elements in a JUnit XML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JunitCounts {
    pub testsuites: usize,
    pub testcases: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
}

/// Count elements by their start tags. Text and attribute values cannot
/// contain a raw `<` in well-formed XML, so counting `<name` followed by a
/// space, `>` or `/` is exact.
pub fn junit_counts(xml: &str) -> JunitCounts {
    let count = |tag: &str| {
        let open = format!("<{tag}");
        xml.match_indices(&open)
            .filter(|(i, _)| {
                matches!(
                    xml[i + open.len()..].chars().next(),
                    Some(' ' | '>' | '/' | '\n' | '\t' | '\r')
                )
            })
            .count()
    };
    JunitCounts {
        testsuites: count("testsuites"),
        testcases: count("testcase"),
        failures: count("failure"),
        errors: count("error"),
        skipped: count("skipped"),
    }
}

/// Parse a runtime log: `path:seconds` lines (the path may contain spaces or
/// colons; the number is after the last colon). Returns (path, seconds) in
/// file order, including duplicates. The `#boot:` line (the run's measured boot) is no file.
#[track_caller]
pub fn read_runtime_log(path: &Path) -> Vec<(String, f64)> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no runtime log at {} ({e})", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("#boot:"))
        .map(|l| {
            let (p, s) = l
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("runtime log line is not path:seconds: {l:?}"));
            let secs: f64 = s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("runtime log seconds do not parse: {l:?}"));
            (norm_path(p), secs)
        })
        .collect()
}

/// Every `*.json` file in `dir`, parsed.
pub fn read_json_dir(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).unwrap();
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", p.display()))
        })
        .collect()
}

/// Sorted, owned copy of a list of paths, for comparisons.
pub fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // "pid (comm) S ..." — comm may contain spaces or parens.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
    }
}

/// Starts `testbot -n 2 --preload` in `p`, its processes marked `PRELOAD_TEST_MARK=mark`, and
/// waits until a hanging example has written its pid to `tmp/hang.pid`: the run, and that pid.
pub fn start_hanging_preload_run(p: &Project, mark: &str) -> (Running, u32) {
    let running = p.testbot(["-n", "2", "--preload"]).env("PRELOAD_TEST_MARK", mark).spawn();
    let pid_file = p.path("tmp/hang.pid");
    if !wait_for_file(&pid_file, Duration::from_secs(60)) {
        running.kill_group();
        panic!("the hanging example never started\n{}", running.finish(Duration::from_secs(5)).dump());
    }
    let child = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    (running, child)
}

/// Live processes (not zombies) whose environment holds `PRELOAD_TEST_MARK=mark`, with their
/// command lines: what a test's runs started, found wherever they are now.
pub fn marked_processes(mark: &str) -> Vec<(u32, String)> {
    let needle = format!("PRELOAD_TEST_MARK={mark}");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|&b| b == 0).any(|var| var == needle.as_bytes()) && pid_alive(pid) {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}

/// Poll until `path` exists (and is non-empty) or `timeout` passes.
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Kills (SIGKILL) the process with this pid on drop if it is still alive:
/// for a worker a test saw start, so a failing assertion cannot leave it behind.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.0.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Polls `done` every 20 ms until it holds or `limit` passes; says whether it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

