//! The small things of daily use (issue 18), with the real binary: a closed stdout pipe, what
//! the terminal allows (TERM=dumb, CI=false, no escape codes in logs on a pipe), a mistyped
//! command, project options before a command, compound durations, `-n 0` against
//! `[local] slots = 0`, the framework list in `--help`, and shell completions.
//!
//! Fixture used: rspec_basic (7 files, 18 examples, 2 failures, 2 pending; a run exits 1). The
//! terminal tests run testbot under util-linux `script`, which gives it a pseudo-terminal.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// testbot's raw stdout and stderr (escape codes kept, unlike `Run`) and its exit code.
struct Raw {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn raw(dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Raw {
    let mut cmd = Command::new(TESTBOT);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    scrub_env(&mut cmd);
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("run testbot");
    Raw {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `testbot ARGS` on a pseudo-terminal (stdout and stderr both), with `env` on top of the
/// tests' usual environment; returns what the terminal showed and testbot's exit code.
fn on_a_terminal(dir: &Path, args: &str, env: &[(&str, Option<&str>)]) -> (Option<i32>, String) {
    let mut cmd = Command::new("script");
    // -e: script exits with testbot's code; -q: no "Script started" lines; the log is dropped.
    cmd.args(["-qec", &format!("{TESTBOT} {args}"), "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("SHELL", "/bin/sh");
    scrub_env(&mut cmd);
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("run script (util-linux)");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

const PASSING_FILE_LINE: &str = "    PASS [";

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    let p = Project::new("rspec_basic");
    // The acceptance check as a person types it: `testbot | head -1`.
    let out = Command::new("bash")
        .args(["-c", &format!("{TESTBOT} -n 2 | head -1; echo \"status=${{PIPESTATUS[0]}}\"")])
        .current_dir(&p.root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "testbot: running 7 files on 2 slots (local ×2) with rspec\nstatus=1\n",
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Deterministically: stdout is a pipe whose reader is gone before testbot writes a byte.
    // The run still goes to its end: its verdict is the exit code, and its report is written.
    let report = p.fresh_path("report", "json");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(TESTBOT);
    cmd.args(["-n", "2", "--report-json", report.to_str().unwrap()])
        .current_dir(&p.root)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    scrub_env(&mut cmd);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert_eq!(stderr, "", "nothing to say on stderr, least of all a panic");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["totals"]["examples"], 18, "{json}");
    assert_eq!(json["totals"]["failures"], 2, "{json}");

    // The commands that only print: `list` (one write) and `completions`.
    for args in [&["list"][..], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(TESTBOT);
        cmd.args(args).current_dir(&p.root).stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped());
        scrub_env(&mut cmd);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn term_dumb_turns_off_colour_and_the_progress_bar() {
    let p = Project::new("rspec_basic");
    let colour = [("NO_COLOR", None), ("CI", None)];
    // The control: a capable terminal gets colour and the bar (passing files are not listed).
    let (code, shown) = on_a_terminal(&p.root, "-n 2", &[("TERM", Some("xterm-256color")), colour[0], colour[1]]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("\u{1b}["), "no escape codes on a capable terminal:\n{shown}");
    assert!(!shown.contains(PASSING_FILE_LINE), "plain lines under a progress bar:\n{shown}");

    let (code, shown) = on_a_terminal(&p.root, "-n 2", &[("TERM", Some("dumb")), colour[0], colour[1]]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(!shown.contains('\u{1b}'), "escape codes on TERM=dumb:\n{shown:?}");
    let passing: Vec<&str> = shown.lines().filter(|l| l.starts_with(PASSING_FILE_LINE)).collect();
    assert_eq!(passing.len(), 5, "a plain line for each passing file:\n{shown}");
}

#[test]
fn ci_false_zero_or_empty_is_not_ci() {
    let p = Project::new("rspec_basic");
    for (ci, plain_lines) in [("true", 5), ("1", 5), ("false", 0), ("0", 0), ("", 0)] {
        let (code, shown) = on_a_terminal(&p.root, "-n 2", &[("TERM", Some("xterm-256color")), ("CI", Some(ci))]);
        assert_eq!(code, Some(1), "CI={ci:?}\n{shown}");
        let passing = shown.lines().filter(|l| l.starts_with(PASSING_FILE_LINE)).count();
        assert_eq!(passing, plain_lines, "CI={ci:?}: plain lines (CI) or a bar (not CI)?\n{shown}");
    }
}

#[test]
fn log_lines_on_a_pipe_carry_no_escape_codes() {
    let p = Project::new("rspec_basic");
    // NO_COLOR removed: the tests set it everywhere else, and tracing honours it on its own.
    let out = raw(&p.root, &["-v", "-n", "1"], &[("NO_COLOR", None), ("TERM", Some("xterm-256color"))]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let debug: Vec<&str> = out.stderr.lines().filter(|l| l.contains("DEBUG") && l.contains("batch started")).collect();
    assert!(!debug.is_empty(), "no debug line to look at:\n{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "escape codes in stderr on a pipe:\n{:?}", out.stderr);
    assert!(out.stdout.contains("18 examples, 2 failures, 2 pending"), "{}", out.stdout);
}

#[test]
fn a_mistyped_command_is_named_with_the_one_meant() {
    let p = Project::new("rspec_basic");
    for (word, meant) in [("hsots", "hosts"), ("lsit", "list"), ("exce", "exec"), ("complitions", "completions")] {
        let out = raw(&p.root, &[word], &[]);
        assert_eq!(out.code, Some(2), "{word}: {}", out.stderr);
        assert_eq!(out.stderr, format!("error: unknown command `{word}`; did you mean `{meant}`?\n"));
        assert_eq!(out.stdout, "");
    }
    // A missing spec file is still that.
    let out = raw(&p.root, &["spec/nosuch_spec.rb"], &[]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(2), "error: no such file or directory: `spec/nosuch_spec.rb`\n"));
    // A folder that exists is run, however it is spelt.
    std::fs::create_dir(p.path("hsots")).unwrap();
    std::fs::copy(p.path("spec/passing_spec.rb"), p.path("hsots/passing_spec.rb")).unwrap();
    let out = raw(&p.root, &["hsots", "-n", "1"], &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS [") && out.stdout.contains("hsots/passing_spec.rb (3 examples)"), "{}", out.stdout);
    // A command after a run's options reads as a PATH: say so.
    let out = raw(&p.root, &["-n", "2", "hosts"], &[]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        "error: `hosts` is a command, but it came after a run's options, where a word is a PATH: give the command first, `testbot hosts …`, and its options after it\n"
    );
}

#[test]
fn project_options_work_before_the_command() {
    let p = Project::new("rspec_basic");
    // A host nothing listens on: `hosts` reports it unreachable and exits 1, whatever the reason.
    let config = p.outside("ci.toml");
    std::fs::write(&config, "[[host]]\nname = \"nowhere\"\naddress = \"127.0.0.1\"\nport = 1\n").unwrap();
    let config = config.to_str().unwrap();
    let after = raw(&p.root, &["hosts", "-c", config], &[]);
    assert_eq!(after.code, Some(1), "{}", after.stderr);
    let row = after.stdout.lines().nth(1).unwrap_or_default().to_string();
    assert!(row.starts_with("nowhere  127.0.0.1:1  unreachable"), "{}", after.stdout);
    let before = raw(&p.root, &["-c", config, "hosts"], &[]);
    assert_eq!((before.code, &before.stdout, &before.stderr), (after.code, &after.stdout, &after.stderr));
    // -C too, and `list` reads the project it names.
    let elsewhere = p.outside("");
    let list = raw(&elsewhere, &["-C", p.root.to_str().unwrap(), "list"], &[]);
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    let files: Vec<&str> = list.stdout.lines().map(|l| l.split_once('\t').unwrap().1).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(sorted, BASIC_FILES);
}

#[test]
fn compound_durations_are_accepted() {
    let p = Project::new("rspec_basic");
    let out = raw(&p.root, &["-n", "2", "--timeout", "1m30s", "--file-timeout", "2m5s"], &[]);
    assert_eq!(out.code, Some(1), "a run, with its 2 failures\n{}", out.stderr);
    assert!(out.stdout.contains("18 examples, 2 failures, 2 pending"), "{}", out.stdout);
    let out = raw(&p.root, &["--timeout", "1m30x"], &[]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr.lines().next(),
        Some("error: invalid value '1m30x' for '--timeout <DURATION>': `1m30x` is not a duration (e.g. 600, 90s, 20m, 1m30s)")
    );
}

#[test]
fn n_zero_is_a_usage_error_but_local_slots_zero_means_none() {
    let p = Project::new("rspec_basic");
    let out = raw(&p.root, &["-n", "0"], &[]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr.lines().next(),
        Some("error: invalid value '0' for '--local-slots <N>': must be at least 1 (for no local slots, put `slots = 0` under [local] in testbot.toml)")
    );
    // Accepted in testbot.toml: with no [[host]] either, nothing can run the files (exit 3).
    p.write("testbot.toml", "[local]\nslots = 0\n");
    let out = raw(&p.root, &[], &[]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        "error: no host could run work:\n  local: 0 slots (`[local] slots = 0`, or the default with SSH hosts configured)\n"
    );
    // -n still overrides it.
    let out = raw(&p.root, &["-n", "1"], &[]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stdout.contains("on 1 slot (local ×1)"), "{}", out.stdout);
}

#[test]
fn help_lists_every_framework() {
    let out = raw(Path::new("/"), &["--help"], &[]);
    assert_eq!(out.code, Some(0));
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("--framework <NAME> The test framework: rspec, minitest, test-unit or cucumber (default: detected from spec/, test/ or features/)"),
        "{}",
        out.stdout
    );
    for command in ["list", "init"] {
        let out = raw(Path::new("/"), &[command, "--help"], &[]);
        let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("rspec, minitest, test-unit or cucumber"), "{command}: {}", out.stdout);
    }
}

#[test]
fn completions_print_a_script_for_the_shell() {
    let out = raw(Path::new("/"), &["completions", "bash"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.starts_with("_testbot() {\n"), "{}", out.stdout);
    assert!(out.stdout.contains("complete -F _testbot"), "{}", out.stdout);
    // The subcommands and the run's options are in it.
    for word in ["hosts", "completions", "--local-slots", "--report-json"] {
        assert!(out.stdout.contains(word), "{word} missing");
    }
    // bash can read it.
    let check = Command::new("bash").args(["-n", "-c", &out.stdout]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let out = raw(Path::new("/"), &["completions", "tcsh"], &[]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.starts_with("error: invalid value 'tcsh' for '<SHELL>'"), "{}", out.stderr);
}

#[test]
fn man_prints_a_man_page_with_every_option() {
    let out = raw(Path::new("/"), &["man"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let page = &out.stdout;
    assert!(page.contains(".TH testbot 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH COMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "{section} missing:\n{page}");
    }
    // roff escapes a dash as `\-`: the run's options, and the commands.
    for word in [r"\-\-status\-level", r"\-\-exclude", r"\-\-verbose\-rerun\-command", r"\fBtestbot hosts\fR", "Exit codes"] {
        assert!(page.contains(word), "{word} missing:\n{page}");
    }
}

// ---------------------------------------------------------------------------
// Issue 31 item 10: the man page names no page that does not exist, and completion after
// `--framework` offers the frameworks.

#[test]
fn the_man_page_names_no_other_page_and_lists_each_commands_options() {
    let out = raw(Path::new("/"), &["man"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let page = &out.stdout;
    // `name(1)`-style references: only testbot's own page exists.
    let refs: Vec<&str> = page
        .match_indices("(1)")
        .map(|(at, _)| page[..at].rsplit(|c: char| c.is_whitespace() || c == '`').next().unwrap_or(""))
        .collect();
    assert!(refs.iter().all(|r| *r == "testbot"), "pages that do not exist: {refs:?}\n{page}");
    assert!(!page.contains(".SH SUBCOMMANDS"), "{page}");
    // Every command, with its own options where it has some.
    for command in ["run", "hosts", "init", "exec", "report merge", "sync", "list", "flaky", "completions", "man"] {
        assert!(page.contains(&format!("\\fBtestbot {command}\\fR")), "`testbot {command}` missing:\n{page}");
    }
    let merge = page.split("\\fBtestbot report merge\\fR").nth(1).unwrap().split("\\fBtestbot sync\\fR").next().unwrap();
    for option in [r"\-C, \-\-chdir", r"\-\-report\-json", r"\-\-junit", r"\-\-runtime\-log"] {
        assert!(merge.contains(option), "{option} missing from report merge:\n{merge}");
    }
}

/// What bash's completion offers for `words` (the last one being completed), with the script
/// `testbot completions bash` prints, in `dir`.
fn bash_completes(dir: &Path, words: &[&str]) -> Vec<String> {
    let out = raw(Path::new("/"), &["completions", "bash"], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let words_list: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "{}\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_testbot testbot '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        out.stdout,
        words_list.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let done = Command::new("bash").args(["--norc", "-c", &script]).current_dir(dir).output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let mut offered: Vec<String> = String::from_utf8_lossy(&done.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect();
    offered.sort();
    offered
}

#[test]
fn bash_completion_after_framework_offers_the_frameworks_not_files() {
    let p = Project::new("rspec_basic");
    for words in [&["testbot", "--framework", ""][..], &["testbot", "list", "--framework", ""], &["testbot", "init", "--framework", ""]] {
        assert_eq!(bash_completes(&p.root, words), ["cucumber", "minitest", "rspec", "test-unit"], "{words:?}");
    }
    assert_eq!(bash_completes(&p.root, &["testbot", "--framework", "mi"]), ["minitest"]);
    // Other spellings are still taken, and testbot says which frameworks it supports.
    let out = raw(&p.root, &["list", "--framework", "test_unit"], &[]);
    assert!(out.stderr.starts_with("error: no spec files matched `test/**/{*_test,test_*}.rb`"), "{}", out.stderr);
    let out = raw(&p.root, &["list", "--framework", "nope"], &[]);
    assert_eq!(out.stderr, "error: framework `nope` is not supported by this version of testbot (supported: rspec, minitest, test-unit, cucumber)\n");
}

// Issue 31 item 4: a run in which nothing ran gives no efficiency percentage.
#[test]
fn a_run_whose_runner_cannot_start_gives_no_efficiency_percentage() {
    let p = Project::new("rspec_basic");
    // Every command of /usr/bin but Ruby's.
    let bin = p.out_dir("no-ruby-bin");
    for entry in std::fs::read_dir("/usr/bin").unwrap().map(Result::unwrap) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ["ruby", "bundle", "rspec", "gem", "erb", "irb", "rake", "ri", "rdoc"].iter().any(|r| name.starts_with(r)) {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), bin.join(&name)).unwrap();
    }
    let run = p.testbot(["-n", "2"]).env("PATH", bin.as_os_str()).run();
    assert_ne!(run.code, Some(0), "{}", run.dump());
    assert!(run.stdout.contains("\nSlots: 2, none busy\n"), "{}", run.dump());
    assert!(!run.stdout.contains("efficiency"), "{}", run.dump());
}
