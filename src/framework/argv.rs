//! Pieces of a runner's command line that several frameworks build the same way.

use super::RunnerConfig;
use crate::ssh::quote::quote;

/// `[project] command` runs through `sh -c 'CMD "$@"'` so it may hold shell syntax while the
/// arguments stay exactly as they are.
pub fn with_runner(runner: &RunnerConfig, default: &[&str], args: Vec<String>) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if let Some(command) = &runner.command {
        argv.extend(["sh".to_string(), "-c".to_string(), format!("{command} \"$@\""), "testbot".to_string()]);
    } else {
        if runner.bundler {
            argv.extend(["bundle".to_string(), "exec".to_string()]);
        }
        argv.extend(default.iter().map(|s| s.to_string()));
    }
    argv.extend(args);
    argv
}

/// testbot's runner script for minitest, Test::Unit and Cucumber: `ruby [FLAGS…] SCRIPT FILE…
/// -- ARGS…`. Files always start with `./` or `/`, so the first `--` is the separator.
pub fn script_command(runner: &RunnerConfig, ruby_flags: Vec<String>, script: String, files: &[String]) -> Vec<String> {
    let mut args = vec![script];
    args.extend(files.iter().map(|f| dot_slash(f)));
    args.push("--".to_string());
    args.extend(runner.runner_args.iter().cloned());
    let mut ruby = vec!["ruby".to_string()];
    ruby.extend(ruby_flags);
    let ruby: Vec<&str> = ruby.iter().map(String::as_str).collect();
    with_runner(runner, &ruby, args)
}

/// `testbot init`'s comment above the `[project] command` of a framework run by testbot's runner script.
pub const SCRIPT_COMMAND_COMMENT: &str = "# Shell command prefix that replaces `ruby -Itest` (or `ruby`) in front of testbot's runner.\n";

/// `./` keeps a name that starts with `-` from reading as an option.
pub fn dot_slash(path: &str) -> String {
    if path.starts_with('/') || path.starts_with("./") {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

/// The folders minitest and Test::Unit files expect on the load path (`require "test_helper"`):
/// the top folder of each file, as `ruby -Itest` gives it.
pub fn load_path_dirs(files: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    for file in files {
        let file = file.strip_prefix("./").unwrap_or(file);
        if file.starts_with('/') {
            continue;
        }
        if let Some((top, _)) = file.split_once('/') {
            if !dirs.iter().any(|d| d == top) {
                dirs.push(top.to_string());
            }
        }
    }
    dirs
}

/// `RUNNER LOCATION # DESCRIPTION`: the location shell-quoted (a file named `fail 'x'_spec.rb`),
/// the description a comment kept on its one line (a comment that broke onto a second line
/// would run that line).
pub fn commented_rerun_line(runner: &str, location: &str, description: &str) -> String {
    format!("{runner} {} # {}", quote(location), description.replace(['\n', '\r'], " "))
}

/// What runs one test by name in minitest and Test::Unit: `Class#test_name` selects exactly one
/// test in both. Without a `[project] command`, Ruby with the runner's load path.
pub fn by_name_rerun_line(command: Option<&str>, location: &str, description: &str) -> String {
    let file = super::selection::file_of(location);
    let runner = match command {
        Some(command) => format!("{command} "),
        None => {
            let include: String = load_path_dirs(&[file.to_string()]).into_iter().map(|d| format!("-I{} ", quote(&d))).collect();
            format!("ruby {include}")
        }
    };
    format!("{runner}{} -n {}", quote(file), quote(description))
}

/// `/\A(?:A#test_x|B#test_y)\z/`: a Ruby regular expression, as minitest's `-n` takes it, that
/// matches exactly the `names` given (escaped as Ruby's `Regexp.escape` does).
pub fn names_pattern(names: &[String]) -> String {
    let escaped: Vec<String> = names.iter().map(|n| ruby_regexp_escape(n)).collect();
    format!("/\\A(?:{})\\z/", escaped.join("|"))
}

/// `Regexp.escape`: every character that means something in a Ruby regular expression, and
/// white space, with a backslash (or as its escape).
fn ruby_regexp_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            '.' | '*' | '?' | '+' | '^' | '$' | '|' | '(' | ')' | '[' | ']' | '{' | '}' | '\\' | '/' | '-' | '#' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// minitest and Test::Unit have no stock command that runs several files in one process: a
/// batch's files are listed in order, with the seed of its random order.
pub fn in_order_batch_command(arguments: &[String], seed: Option<u64>) -> String {
    format!("# {}in this order: {}", seed_option(seed), quoted(arguments))
}

/// `--seed N ` (with its space), or nothing.
pub fn seed_option(seed: Option<u64>) -> String {
    seed.map(|s| format!("--seed {s} ")).unwrap_or_default()
}

/// The arguments shell-quoted, joined by spaces.
pub fn quoted(arguments: &[String]) -> String {
    arguments.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}
