//! What a person sees while a run goes on (issue 18, items 3 and 4), with the real binary: on a
//! real pseudo-terminal (openpty) whose output a vt100 parser turns into the screen the test
//! reads — the files running now with their slot, SLOW past their time, a status area that fits
//! below 90 columns and is gone after Ctrl-C, no `0/0 files` before the run — and in plain
//! lines (CI logs) the SLOW line and the heartbeat that says what still runs, and the status
//! levels of the lines and of the summary.
//!
//! No wall time is asserted: a file that must be seen running waits for the test to create
//! its release file (and gives up after a minute), and the test waits for the screen to show
//! what it expects.
//!
//! Fixture used: rspec_basic (7 files, 18 examples, 2 failures, 2 pending) plus a spec the test
//! writes that waits for its release.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The file that waits: long enough a path that it cannot fit a narrow terminal's line.
const WAITING: &str = "spec/waits/a_file_that_waits_until_the_test_lets_it_go_named_at_length_spec.rb";
const WAITING_SPEC: &str = r#"
RSpec.describe "a file that waits" do
  it "waits to be let go" do
    release = ENV.fetch("HANG_RELEASE")
    deadline = Time.now + 60
    sleep 0.05 until File.exist?(release) || Time.now > deadline
    expect(File.exist?(release)).to be true
  end
end
"#;

/// How long the test waits for what it expects to show (a test's limit, not a timing claim).
const PATIENCE: Duration = Duration::from_secs(90);

fn with_waiting_file(p: &Project) -> PathBuf {
    p.write(WAITING, WAITING_SPEC);
    p.outside("release")
}

/// What a pseudo-terminal showed.
struct Screen {
    parser: vt100::Parser,
    raw: Vec<u8>,
    /// Rows seen wrapped (a line longer than the terminal), while `watch_wraps` was set.
    wrapped: Vec<String>,
    watch_wraps: bool,
}

impl Screen {
    fn rows(&self) -> Vec<String> {
        let (_, cols) = self.parser.screen().size();
        self.parser.screen().rows(0, cols.get()).map(|r| r.trim_end().to_string()).collect()
    }
    fn text(&self) -> String {
        self.rows().join("\n")
    }
}

/// testbot on a pseudo-terminal of `rows` × `cols` (stdin, stdout and stderr, its controlling
/// terminal), as a person's shell would start it.
struct OnTerminal {
    child: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Screen>>,
}

impl OnTerminal {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &Path)], rows: u16, cols: u16) -> OnTerminal {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors we then own.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors from openpty, owned here alone.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(TESTBOT);
        cmd.args(args).current_dir(dir);
        scrub_env(&mut cmd);
        cmd.env("TERM", "xterm-256color").env_remove("CI");
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // A session of its own, the terminal its controlling one: Ctrl-C typed there
                // reaches it as a person's would.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start testbot on a pseudo-terminal");
        // The slave's copies in `cmd` close here: the master reads EOF (EIO) once testbot is gone.
        drop(cmd);
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new(rows.try_into().unwrap(), cols.try_into().unwrap(), 0),
            raw: Vec::new(),
            wrapped: Vec::new(),
            watch_wraps: true,
        }));
        let (mut reader, shared) = (master.try_clone().unwrap(), screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let mut s = shared.lock().unwrap();
                s.raw.extend_from_slice(&buf[..n]);
                s.parser.process(&buf[..n]);
                if s.watch_wraps {
                    let (rows, _) = s.parser.screen().size();
                    let all = s.rows();
                    for row in 0..rows.get() {
                        if s.parser.screen().row_wrapped(row) {
                            let line = all[row as usize].clone();
                            s.wrapped.push(line);
                        }
                    }
                }
            }
        });
        OnTerminal { child, master, screen }
    }

    /// Waits until the screen satisfies `ok`; fails with the screen if it never does.
    fn wait_for(&mut self, what: &str, ok: impl Fn(&Screen) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if ok(&self.screen.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                let _ = self.child.kill();
                panic!("the terminal never showed {what}; it shows:\n{}", self.screen.lock().unwrap().text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// testbot's exit code, once it exited and its last output was read.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("testbot did not exit; the terminal shows:\n{}", self.screen.lock().unwrap().text());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // What it wrote last reaches the parser.
        let shown = |s: &Screen| s.raw.len();
        let mut last = shown(&self.screen.lock().unwrap());
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = shown(&self.screen.lock().unwrap());
            if now == last {
                break;
            }
            last = now;
        }
        status.code()
    }
}

/// The status area's first line: `   3s [====>     ] 1/3 files · 5 examples · ETA 2s`.
fn is_bar(row: &str) -> bool {
    row.contains(" files · ") && row.contains("ETA")
}

/// A running file's line under the bar, cut from the left to fit: `  local/2  4s …ength_spec.rb SLOW`.
fn running_row(row: &str) -> bool {
    row.starts_with("  local/") && row.contains("named_at_length_spec.rb")
}

#[test]
fn a_terminal_shows_the_running_file_slow_fitted_to_60_columns_and_ctrl_c_clears_it() {
    let p = Project::new("rspec_basic");
    let release = with_waiting_file(&p);
    let args = ["-n", "2", "--slow-timeout", "1s", "spec/passing_spec.rb", "spec/nested_spec.rb", WAITING];
    let mut t = OnTerminal::start(&p.root, &args, &[("HANG_RELEASE", &release)], 40, 60);

    t.wait_for("the waiting file marked SLOW under the bar", |s| {
        let rows = s.rows();
        rows.iter().any(|r| is_bar(r) && r.contains("2/3 files")) && rows.iter().any(|r| running_row(r) && r.ends_with(" SLOW"))
    });
    {
        let s = t.screen.lock().unwrap();
        let rows = s.rows();
        let running = rows.iter().find(|r| running_row(r)).unwrap();
        // The path is cut from its left to fit; the line fits the 60 columns.
        assert!(running.contains(" …"), "{running}");
        assert!(!running.contains("spec/waits/"), "{running}");
        assert!(running.chars().count() < 60, "{running}");
        assert!(s.wrapped.is_empty(), "rows wrapped:\n{}", s.wrapped.join("\n"));
        let raw = String::from_utf8_lossy(&s.raw);
        assert!(!raw.contains("0/0 files"), "a bar with nothing to count was drawn:\n{raw}");
        // Passing files print no line on a terminal; the run's first line is there.
        assert!(rows[0].starts_with("testbot: running 3 files on 2 slots"), "{}", s.text());
        assert!(!rows.iter().any(|r| r.contains("PASS [")), "{}", s.text());
    }
    // From here on the summary's lines may be longer than 60 columns, as any printed line.
    t.screen.lock().unwrap().watch_wraps = false;

    t.type_keys(b"\x03");
    assert_eq!(t.exit_code(), Some(130));
    let s = t.screen.lock().unwrap();
    let text = s.text();
    assert!(text.contains("interrupted: stopping the running batches"), "{text}");
    assert!(text.contains("INTERRUPTED"), "{text}");
    // Nothing of the status area is left anywhere on the screen.
    let raw = String::from_utf8_lossy(&s.raw);
    let tail: String = raw.chars().rev().take(1500).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(!s.rows().iter().any(|r| is_bar(r) || r.starts_with("  local/")), "{text}\n{tail:?}");
    std::fs::write(&release, "").unwrap();
}

#[test]
fn a_terminal_run_ends_with_its_summary_and_no_status_area_left() {
    let p = Project::new("rspec_basic");
    let release = with_waiting_file(&p);
    let args = ["-n", "2", "--slow-timeout", "1s", "spec/passing_spec.rb", "spec/nested_spec.rb", WAITING];
    let mut t = OnTerminal::start(&p.root, &args, &[("HANG_RELEASE", &release)], 40, 89);
    t.wait_for("the waiting file running, the others done", |s| {
        let rows = s.rows();
        rows.iter().any(|r| running_row(r)) && rows.iter().any(|r| is_bar(r) && r.contains("] 2/3 files"))
    });
    {
        let s = t.screen.lock().unwrap();
        assert!(s.rows().iter().any(|r| is_bar(r) && r.contains("] 2/3 files")), "{}", s.text());
        assert!(s.wrapped.is_empty(), "rows wrapped:\n{}", s.wrapped.join("\n"));
    }
    std::fs::write(&release, "").unwrap();
    assert_eq!(t.exit_code(), Some(0));
    let s = t.screen.lock().unwrap();
    let text = s.text();
    assert!(s.wrapped.is_empty(), "rows wrapped:\n{}", s.wrapped.join("\n"));
    assert!(text.contains("PASSED ["), "{text}");
    assert!(text.contains("3 files on 2 slots: 10 examples, 0 failures"), "{text}");
    assert!(!s.rows().iter().any(|r| is_bar(r) || r.starts_with("  local/")), "{text}");
}

/// testbot with its stdout a pipe read line by line as it comes.
fn plain_lines(dir: &Path, args: &[&str], release: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(TESTBOT);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    scrub_env(&mut cmd);
    cmd.env("HANG_RELEASE", release).env_remove("CI").process_group(0);
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn plain_lines_say_slow_and_beat_a_heartbeat_with_what_still_runs() {
    let p = Project::new("rspec_basic");
    let release = with_waiting_file(&p);
    let args = ["-n", "2", "--slow-timeout", "1s", "--heartbeat", "1s", "spec/passing_spec.rb", "spec/nested_spec.rb", WAITING];
    let (mut child, lines) = plain_lines(&p.root, &args, &release);
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    // A heartbeat once both other files are done, which lists the waiting file.
    let beat = loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no heartbeat naming the waiting file:\n{}", seen.join("\n"))
        });
        seen.push(line);
        let n = seen.len();
        if n >= 2 && seen[n - 2].starts_with(" RUNNING [") && seen[n - 2].ends_with("2/3 files done, 1 running:") && seen[n - 1].ends_with(" SLOW") {
            break seen[n - 1].clone();
        }
    };
    std::fs::write(&release, "").unwrap();
    let status = child.wait().unwrap();
    seen.extend(lines.iter());
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(0), "{all}");
    // `         local/1     2s spec/waits/…_spec.rb`: the slot, how long, the whole path.
    let parts: Vec<&str> = beat.split_whitespace().collect();
    assert!(beat.starts_with("         local/"), "{beat}");
    assert_eq!(parts.len(), 4, "{beat}");
    assert!(parts[1].ends_with('s') && parts[2] == WAITING && parts[3] == "SLOW", "{beat}");
    // It turned SLOW once, said in a line of its own, before any heartbeat named it.
    let slow: Vec<&String> = seen.iter().filter(|l| l.starts_with("    SLOW [")).collect();
    assert_eq!(slow.len(), 1, "{all}");
    assert!(slow[0].starts_with(&format!("    SLOW [>   1.0s] {WAITING} (local/")), "{}", slow[0]);
    assert!(slow[0].contains(", estimated "), "{}", slow[0]);
    // Every file has its counted line, the waiting one last.
    let counted: Vec<&String> = seen.iter().filter(|l| l.starts_with("    PASS [")).collect();
    assert_eq!(counted.len(), 3, "{all}");
    assert!(counted[2].contains(&format!("(3/3) {WAITING}")), "{all}");
    assert!(all.contains("PASSED ["), "{all}");
}

#[test]
fn status_levels_choose_the_lines_and_the_summary() {
    let p = Project::new("rspec_basic");
    // Failures only as lines, their details and the pending examples in the summary.
    let run = p
        .testbot(["-n", "2", "--status-level", "fail", "--failure-output", "final", "--final-status-level", "pending"])
        .run();
    run.assert_exit(1);
    let out = &run.stdout;
    let (during, summary) = out.split_once("────").unwrap_or_else(|| panic!("{}", run.dump()));
    let lines: Vec<&str> = during.lines().collect();
    assert_eq!(lines.len(), 3, "the first line and the two failing files' lines:\n{out}");
    assert!(lines[1..].iter().all(|l| l.starts_with("    FAIL [")), "{out}");
    assert!(!during.contains("boom from error_spec"), "details wait for the summary:\n{out}");
    let failures = summary.find("Failures:\n").unwrap_or_else(|| panic!("{out}"));
    assert!(summary[failures..].contains("--- spec/error_spec.rb"), "{out}");
    assert!(summary.contains("boom from error_spec"), "{out}");
    let pending = summary.find("Pending examples:\n").unwrap_or_else(|| panic!("{out}"));
    let listed: Vec<&str> = summary[pending..].lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        listed,
        [
            "rspec ./spec/pending_spec.rb:2 # Pending things is not implemented yet (waiting for feature X)",
            "rspec ./spec/pending_spec.rb:7 # Pending things is skipped with xit (Temporarily skipped with xit)",
        ],
        "{out}"
    );
    assert!(summary.contains("Failed examples:\nrspec ./spec/error_spec.rb:8 # Errors raises an exception\n"), "{out}");

    // Nothing as files finish, the verdict alone at the end.
    let run = p.testbot(["-n", "2", "--status-level", "none", "--final-status-level", "none"]).run();
    run.assert_exit(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.dump());
    assert!(lines[0].starts_with("testbot: running 7 files"), "{}", run.dump());
    assert!(lines[1].starts_with("────"), "{}", run.dump());
    assert!(lines[2].starts_with("FAILED [") && lines[2].ends_with("7 files on 2 slots: 18 examples, 2 failures, 2 pending"), "{}", run.dump());

    // Every file, pending examples under theirs.
    let run = p.testbot(["-n", "2", "--status-level", "all", "--final-status-level", "all"]).run();
    run.assert_exit(1);
    let out = &run.stdout;
    assert!(out.contains("(7/7)"), "{out}");
    assert!(out.contains(" PENDING Pending things is not implemented yet (./spec/pending_spec.rb:2)"), "{out}");
    let files = out.find("Files:\n").unwrap_or_else(|| panic!("{out}"));
    let listed = out[files..].lines().skip(1).take_while(|l| !l.is_empty()).count();
    assert_eq!(listed, 7, "{out}");
}

// ---------------------------------------------------------------------------
// Issue 27 item 4: a spec's terminal control sequences (and a file name's) never reach the
// terminal; colour does, and the JSON report and `--raw-output` keep the bytes.

/// Prints the window title (OSC 0 and 2), a clipboard write (OSC 52), a screen clear and the
/// alternate screen, in colour, and fails with them in its message.
const HOSTILE_SPEC: &str = r#"
RSpec.describe "hostile output" do
  it "prints control sequences" do
    print "\e]0;pwned-title\a\e]2;pwned-title2\e\\\e]52;c;cHduZWQ=\a\e[2J\e[?1049h\e[31mred-text\e[0m\n"
    raise "boom \e]52;c;bWVzc2FnZQ==\a\e[2Jmessage-end"
  end
end
"#;
/// A spec file named with an ESC: printing its name raw would set the window title.
const HOSTILE_NAME: &str = "spec/odd\x1b]0;name-title\x07_spec.rb";

fn with_hostile_specs(p: &Project) {
    p.write("spec/hostile_spec.rb", HOSTILE_SPEC);
    p.write(HOSTILE_NAME, "RSpec.describe('named') { it('fails') { expect(1).to eq(2) } }\n");
}

/// Every escape sequence in `raw` that is not colour (SGR), other than the status area's own
/// redraw (`ESC [ n A`, `ESC [ J`) when `redraw` allows it.
fn foreign_escapes(raw: &[u8], redraw: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut found = Vec::new();
    for (at, _) in text.match_indices('\x1b') {
        let rest = &text[at + 1..];
        let csi = rest.strip_prefix('[').map(|r| {
            let end = r.find(|c: char| ('@'..='~').contains(&c)).map_or(r.len(), |i| i + 1);
            &r[..end]
        });
        let allowed = match csi {
            Some(seq) if seq.ends_with('m') => seq[..seq.len() - 1].chars().all(|c| c.is_ascii_digit() || c == ';'),
            Some(seq) if redraw => seq == "J" || (seq.ends_with('A') && seq[..seq.len() - 1].chars().all(|c| c.is_ascii_digit())),
            _ => false,
        };
        if !allowed {
            found.push(format!("{:?}", rest.chars().take(16).collect::<String>()));
        }
    }
    found
}

fn hostile_run(p: &Project, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(TESTBOT);
    cmd.args(["-n", "1", "spec/hostile_spec.rb", HOSTILE_NAME]).args(extra).current_dir(&p.root).stdin(Stdio::null());
    scrub_env(&mut cmd);
    cmd.env("CLICOLOR_FORCE", "1").env_remove("NO_COLOR");
    common::sshd::output_with_timeout(cmd, Duration::from_secs(120))
}

#[test]
fn control_sequences_from_specs_and_file_names_do_not_reach_a_pipe_but_colour_does() {
    let p = Project::new("rspec_basic");
    with_hostile_specs(&p);
    let json = p.fresh_path("hostile", "json");
    let out = hostile_run(&p, &["--report-json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    for (name, raw) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let foreign = foreign_escapes(raw, false);
        assert!(foreign.is_empty(), "{name} has control sequences: {foreign:?}\n{}", String::from_utf8_lossy(raw));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    // What the spec printed is there, in its colour, and so are the file's name and the message.
    assert!(stdout.contains("\x1b[31mred-text\x1b[0m"), "{stdout}");
    assert!(stdout.contains("spec/odd_spec.rb"), "{stdout}");
    assert!(stdout.contains("boom message-end"), "{stdout}");
    // The JSON report keeps every byte.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let files = report["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["path"] == HOSTILE_NAME), "{:#}", report["files"]);
    let messages = report["failures"].to_string();
    assert!(messages.contains("\\u001b]52;c;bWVzc2FnZQ==\\u0007\\u001b[2Jmessage-end"), "{messages}");

    // `--raw-output` passes them.
    let raw = hostile_run(&p, &["--raw-output"]);
    let stdout = String::from_utf8_lossy(&raw.stdout);
    assert!(stdout.contains("\x1b]52;c;cHduZWQ=\x07"), "{stdout}");
    assert!(stdout.contains(HOSTILE_NAME), "{stdout}");
}

#[test]
fn control_sequences_from_specs_and_file_names_do_not_reach_a_terminal() {
    let p = Project::new("rspec_basic");
    with_hostile_specs(&p);
    let args = ["-n", "1", "spec/hostile_spec.rb", HOSTILE_NAME];
    let mut t = OnTerminal::start(&p.root, &args, &[], 40, 120);
    assert_eq!(t.exit_code(), Some(1));
    let s = t.screen.lock().unwrap();
    let foreign = foreign_escapes(&s.raw, true);
    assert!(foreign.is_empty(), "the terminal got control sequences: {foreign:?}\n{}", s.text());
    assert!(!s.parser.screen().alternate_screen());
    let text = s.text();
    assert!(text.contains("red-text") && text.contains("spec/odd_spec.rb"), "{text}");
}

// ---------------------------------------------------------------------------
// Issue 31 item 4: numbers that are right — the ETA of a file past its estimate, and a SLOW
// line that says when its expected time was only a guess from the file's size.

/// `ETA 12s` on the bar, in seconds.
fn eta_on(row: &str) -> Option<u64> {
    let after = row.split(" · ETA ").nth(1)?;
    after.trim().strip_suffix('s')?.parse().ok()
}

/// How long the waiting file has run, from its row under the bar (`  local/1    12s …`).
fn running_for(rows: &[String]) -> Option<u64> {
    let row = rows.iter().find(|r| running_row(r))?;
    row.split_whitespace().nth(1)?.strip_suffix('s')?.parse().ok()
}

#[test]
fn the_eta_of_a_file_past_its_estimate_is_not_zero_and_grows() {
    let p = Project::new("rspec_basic");
    let release = with_waiting_file(&p);
    // A first run: the file is estimated from its size at well under a second, and runs on.
    let args = ["-n", "1", WAITING];
    let mut t = OnTerminal::start(&p.root, &args, &[("HANG_RELEASE", &release)], 40, 100);
    // (how long it has run, the ETA) on one screen: the bar and the row are drawn together.
    let seen = |t: &mut OnTerminal, at_least: u64| {
        t.wait_for(&format!("the waiting file running for {at_least}s or more"), |s| {
            running_for(&s.rows()).is_some_and(|secs| secs >= at_least)
        });
        let rows = t.screen.lock().unwrap().rows();
        let bar = rows.iter().find(|r| is_bar(r)).cloned().unwrap_or_else(|| panic!("no bar:\n{}", rows.join("\n")));
        (running_for(&rows).unwrap(), eta_on(&bar).unwrap_or_else(|| panic!("no ETA in {bar:?}")), bar)
    };
    let (early, early_eta, early_bar) = seen(&mut t, 3);
    let (late, late_eta, late_bar) = seen(&mut t, early + 6);
    std::fs::write(&release, "").unwrap();
    assert_eq!(t.exit_code(), Some(0));
    assert!(early_eta > 0, "the file has run {early}s past its estimate, still the ETA is 0s: {early_bar}");
    assert!(late_eta > early_eta, "{late}s in, the ETA did not grow from {early_bar:?} to {late_bar:?}");
}

/// Waits for a line from a testbot whose stdout is read line by line; kills it if none comes.
fn next_line_where(child: &mut Child, lines: &mpsc::Receiver<String>, seen: &mut Vec<String>, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            panic!("the line never came:\n{}", seen.join("\n"));
        };
        seen.push(line.clone());
        if ok(&line) {
            return line;
        }
    }
}

#[test]
fn a_slow_line_says_when_the_expected_time_is_a_guess_from_the_size() {
    let p = Project::new("rspec_basic");
    let release = with_waiting_file(&p);
    let args = ["-n", "1", "--slow-timeout", "1s", "--final-status-level", "slow", WAITING];
    // A first run: no runtime history, the file's size is all there is.
    let (mut child, lines) = plain_lines(&p.root, &args, &release);
    let mut seen = Vec::new();
    let slow = next_line_where(&mut child, &lines, &mut seen, |l| l.starts_with("    SLOW ["));
    std::fs::write(&release, "").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    seen.extend(lines.iter());
    let all = seen.join("\n");
    assert!(slow.starts_with(&format!("    SLOW [>   1.0s] {WAITING} (local/1, estimated ")), "{slow}");
    assert!(slow.ends_with("s from its size)"), "{slow}");
    // The summary's list of slow files says the same.
    let listed = seen.iter().find(|l| l.starts_with("  SLOW [")).unwrap_or_else(|| panic!("no slow file listed:\n{all}"));
    assert!(listed.contains(&format!("] {WAITING} (estimated ")) && listed.ends_with("s from its size)"), "{all}");

    // With the file's time in the runtime history, its time is expected, not estimated.
    std::fs::write(p.path("tmp/testbot-runtime-rspec.log"), format!("{WAITING}:0.2\n")).unwrap();
    std::fs::remove_file(&release).unwrap();
    let (mut child, lines) = plain_lines(&p.root, &args, &release);
    let mut seen = Vec::new();
    let slow = next_line_where(&mut child, &lines, &mut seen, |l| l.starts_with("    SLOW ["));
    std::fs::write(&release, "").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(slow, format!("    SLOW [>   1.0s] {WAITING} (local/1, expected 0.2s)"));
}

// ---------------------------------------------------------------------------
// Issue 31 item 7: a CI log read from the end — the fail-fast line after the failure that
// caused it, the files a stop cut short named in the summary, a load error's cause in its
// summary line.

/// Says it started (`$STARTED-<its file name>`), then sleeps until killed (or 60 s).
const STARTS_THEN_SLEEPS_SPEC: &str =
    "RSpec.describe('sleepy') { it('naps') { File.write(\"#{ENV.fetch('STARTED')}-#{File.basename(__FILE__)}\", 'started'); sleep 60 } }\n";
/// Fails once the sleepy spec has started (or after 60 s).
const FAILS_ONCE_IT_STARTED_SPEC: &str = r#"
RSpec.describe "fails" do
  it "once the other file runs" do
    deadline = Time.now + 60
    sleep 0.05 until File.exist?(ENV.fetch('STARTED') + '-sleepy_spec.rb') || Time.now > deadline
    expect(1).to eq(2)
  end
end
"#;

#[test]
fn fail_fast_is_said_after_the_failure_and_the_summary_names_the_file_it_cut_short() {
    let p = Project::new("rspec_basic");
    p.write("spec/sleepy_spec.rb", STARTS_THEN_SLEEPS_SPEC);
    p.write("spec/fails_spec.rb", FAILS_ONCE_IT_STARTED_SPEC);
    let started = p.outside("sleepy-started");
    let run = p.testbot(["-n", "2", "--fail-fast", "spec/fails_spec.rb", "spec/sleepy_spec.rb"]).env("STARTED", started.as_os_str()).run();
    run.assert_exit(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = |what: &str, start: &str| lines.iter().position(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no {what}:\n{}", run.dump()));
    let failed = at("FAIL line", "    FAIL [");
    let details = at("failure details", "--- spec/fails_spec.rb");
    let fail_fast = at("fail-fast line", "fail-fast: 1 failure(s) reached");
    assert!(failed < fail_fast && details < fail_fast, "fail-fast said before the failure that caused it:\n{}", run.dump());
    // The summary names the file the stop cut short, with its slot.
    let (_, summary) = run.stdout.split_once("────").unwrap_or_else(|| panic!("{}", run.dump()));
    let stopped = summary.lines().find(|l| l.starts_with("Stopped while running: ")).unwrap_or_else(|| panic!("{}", run.dump()));
    assert!(stopped.starts_with("Stopped while running: spec/sleepy_spec.rb (local/") && stopped.ends_with(')'), "{stopped}");
}

#[test]
fn an_interrupted_runs_summary_names_every_file_it_cut_short() {
    let p = Project::new("rspec_basic");
    p.write("spec/sleepy_a_spec.rb", STARTS_THEN_SLEEPS_SPEC);
    p.write("spec/sleepy_b_spec.rb", STARTS_THEN_SLEEPS_SPEC);
    let started = p.outside("started");
    let running = p.testbot(["-n", "2", "spec/sleepy_a_spec.rb", "spec/sleepy_b_spec.rb"]).env("STARTED", started.as_os_str()).spawn();
    for file in ["sleepy_a_spec.rb", "sleepy_b_spec.rb"] {
        let marker = p.outside(&format!("started-{file}"));
        assert!(wait_for_file(&marker, PATIENCE), "{file} never started");
    }
    // Both files run: Ctrl-C.
    std::thread::sleep(Duration::from_millis(300));
    running.signal("INT");
    let run = running.finish(PATIENCE);
    run.assert_exit(130);
    let stopped = run.stdout.lines().find(|l| l.starts_with("Stopped while running: ")).unwrap_or_else(|| panic!("{}", run.dump()));
    for file in ["spec/sleepy_a_spec.rb (local/", "spec/sleepy_b_spec.rb (local/"] {
        assert!(stopped.contains(file), "{file} not named: {stopped}");
    }
}

#[test]
fn a_load_errors_summary_line_names_its_cause() {
    let p = Project::new("rspec_basic");
    p.write("spec/needs_a_gem_spec.rb", "require 'a_gem_that_is_not_installed'\n");
    p.write("spec/misnamed_spec.rb", "Nowhere::ToBeFound.call\n");
    let run = p.testbot(["-n", "2", "spec/needs_a_gem_spec.rb", "spec/misnamed_spec.rb", "spec/passing_spec.rb"]).run();
    run.assert_exit(1);
    run.assert_stdout_contains("\n  spec/misnamed_spec.rb (load error): NameError: uninitialized constant Nowhere\n");
    run.assert_stdout_contains("\n  spec/needs_a_gem_spec.rb (load error): LoadError: cannot load such file -- a_gem_that_is_not_installed\n");
}

#[test]
fn on_github_actions_failures_become_annotations_before_the_summary() {
    let p = Project::new("rspec_basic");
    p.write("spec/needs_a_gem_spec.rb", "require 'a_gem_that_is_not_installed'\n");
    let args = ["-n", "2", "spec/math_spec.rb", "spec/needs_a_gem_spec.rb", "spec/passing_spec.rb"];
    let run = p.testbot(args).env("GITHUB_ACTIONS", "true").run();
    run.assert_exit(1);
    let annotations: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 2, "{}", run.dump());
    assert!(
        annotations[0].starts_with("::error file=spec/math_spec.rb,line=6,title=Math adds wrongly::Failure/Error: expect(1).to eq(2)%0A"),
        "{}",
        run.dump()
    );
    assert!(!annotations[0].contains('\n') && annotations[0].contains("expected: 2%0A"), "{}", annotations[0]);
    assert_eq!(
        annotations[1],
        "::error file=spec/needs_a_gem_spec.rb,title=load error::LoadError: cannot load such file -- a_gem_that_is_not_installed"
    );
    // Before the summary: the verdict stays the last line.
    let (before, _) = run.stdout.split_once("────").unwrap();
    assert!(before.contains("::error file=spec/math_spec.rb"), "{}", run.dump());
    assert!(run.stdout.lines().last().unwrap().starts_with("FAILED ["), "{}", run.dump());
    // Off elsewhere, and when asked.
    let run = p.testbot(args).run();
    assert!(!run.stdout.contains("::error"), "{}", run.dump());
    let run = p.testbot(args.iter().copied().chain(["--github-annotations", "never"])).env("GITHUB_ACTIONS", "true").run();
    assert!(!run.stdout.contains("::error"), "{}", run.dump());
    let run = p.testbot(args.iter().copied().chain(["--github-annotations", "always"])).run();
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("::error ")).count(), 2, "{}", run.dump());
}

#[test]
fn a_host_left_out_at_the_start_is_named_again_at_the_end() {
    let p = Project::new("rspec_basic");
    // Nothing listens there: the host is left out, the local slot runs everything.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    p.write("testbot.toml", &format!("[local]\nslots = 1\n\n[[host]]\nname = \"gone\"\naddress = \"127.0.0.1\"\nport = {port}\nslots = 1\n"));
    let run = p.testbot(["spec/passing_spec.rb", "spec/nested_spec.rb"]).run();
    run.assert_exit(0);
    run.assert_output_contains("warning: host `gone` is left out of this run: ");
    let tail: Vec<&str> = run.stdout.lines().rev().take(2).collect();
    // The summary's last lines: the host named, then the verdict.
    assert_eq!(tail[1], "warning: host `gone` took no part in this run (left out at the start: its warning above says why)", "{}", run.dump());
    assert!(tail[0].starts_with("PASSED [") && tail[0].ends_with("2 files on 1 slot: 9 examples, 0 failures"), "{}", run.dump());
}

/// Issue 31 item 5: `--no-capture` prints what a running file prints as it comes, after its
/// slot, above the status area; the file is still running (the bar says 2/3) when it shows.
#[test]
fn no_capture_shows_a_running_files_output_after_its_slot_as_it_comes() {
    let p = Project::new("rspec_basic");
    let release = p.outside("release");
    p.write(WAITING, &WAITING_SPEC.replace("    release = ENV", "    puts \"said before waiting\"\n    release = ENV"));
    let args = ["-n", "2", "--no-capture", "spec/passing_spec.rb", "spec/nested_spec.rb", WAITING];
    let mut t = OnTerminal::start(&p.root, &args, &[("HANG_RELEASE", &release)], 40, 100);
    t.wait_for("the waiting file's line after its slot while it runs", |s| {
        let rows = s.rows();
        let said = rows.iter().position(|r| r.starts_with("local/") && r.ends_with(" | said before waiting"));
        let bar = rows.iter().position(|r| is_bar(r) && r.contains("] 2/3 files"));
        matches!((said, bar), (Some(said), Some(bar)) if said < bar) && rows.iter().any(|r| running_row(r))
    });
    std::fs::write(&release, "").unwrap();
    assert_eq!(t.exit_code(), Some(0));
    let text = t.screen.lock().unwrap().text();
    assert_eq!(text.matches("| said before waiting").count(), 1, "{text}");
    assert!(text.contains("3 files on 2 slots: 10 examples, 0 failures"), "{text}");
}

/// Leftovers (session 29): with `--no-capture` a failing example's output is on the screen as it
/// came; the failure's details (as it finishes, and again with `--failure-output final` or
/// `immediate-final`) say where it is instead of printing it again, as nextest prints it once.
/// The message and the failures' names and locations stay.
#[test]
fn no_capture_prints_a_failing_examples_output_once() {
    let p = Project::new("rspec_empty");
    p.write(
        "spec/noisy_fail_spec.rb",
        "RSpec.describe \"noisy\" do\n  it \"fails loudly\" do\n    puts \"UNIQUE-NOISE-4711\"\n    expect(1).to eq(2)\n  end\n  it(\"passes\") { expect(1).to eq(1) }\nend\n",
    );
    p.write("spec/quiet_spec.rb", "RSpec.describe \"quiet\" do\n  it(\"passes\") { puts \"PASSING-NOISE-4712\"; expect(true).to be true }\nend\n");
    let files = ["spec/noisy_fail_spec.rb", "spec/quiet_spec.rb"];
    for when in ["immediate", "final", "immediate-final"] {
        let args = ["-n", "2", "--no-capture", "--failure-output", when, "--success-output", when, files[0], files[1]];
        let run = p.testbot(args).run();
        run.assert_exit(1);
        assert_eq!(run.stdout.matches("UNIQUE-NOISE-4711").count(), 1, "--failure-output {when}: {}", run.dump());
        assert_eq!(run.stdout.matches("PASSING-NOISE-4712").count(), 1, "--success-output {when}: {}", run.dump());
        assert!(run.stdout.lines().any(|l| l.starts_with("local/") && l.ends_with("| UNIQUE-NOISE-4711")), "{}", run.dump());
        assert!(run.stdout.contains("  output: shown above as it came, on the lines of `local/"), "{}", run.dump());
        assert!(run.stdout.contains("expected: 2"), "the failure's message stays: {}", run.dump());
        run.assert_stdout_contains("rspec ./spec/noisy_fail_spec.rb:2 # noisy fails loudly");
    }
    // Without --no-capture the output is in the failure's details, once.
    let run = p.testbot(["-n", "2", files[0], files[1]]).run();
    assert_eq!(run.stdout.matches("UNIQUE-NOISE-4711").count(), 1, "{}", run.dump());
    run.assert_stdout_contains("  output:\n  | UNIQUE-NOISE-4711");
}
