//! What the commands without a run print: `hosts`, `exec`, `sync`, `list`, `init`, notes and
//! shell completions.

use super::{hosts, sync, term};

/// `testbot hosts` prints its table here, like every other report; `copy_bytes` is the size of
/// the project's copy on a host, if known.
pub fn print_hosts(checks: &[crate::fleet::remote::HostCheck], copy_bytes: Option<u64>) {
    term::out(&hosts::render(checks, copy_bytes));
}

/// `testbot exec`: each place's output, its lines prefixed with the place, then one line each
/// for the places where it failed.
pub fn print_exec(outcomes: &[crate::fleet::exec::ExecOutcome]) {
    term::out(&exec_text(outcomes));
}

fn exec_text(outcomes: &[crate::fleet::exec::ExecOutcome]) -> String {
    use std::fmt::Write;
    let width = outcomes.iter().map(|o| o.place.len()).max().unwrap_or(0);
    let mut out = String::new();
    for o in outcomes {
        if let Ok(done) = &o.result {
            for line in done.output.lines() {
                let _ = writeln!(out, "{:<width$} | {line}", o.place);
            }
        }
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Ok(done) => done
                .failure("the command")
                .map(|why| format!("{}: {}", o.place, why.lines().next().unwrap_or("").trim_end_matches(':'))),
            Err(why) => Some(format!("{}: {why}", o.place)),
        })
        .collect();
    if failed.is_empty() {
        let places: Vec<&str> = outcomes.iter().map(|o| o.place.as_str()).collect();
        let _ = writeln!(out, "succeeded on all {}: {}", places.len(), places.join(", "));
    } else {
        let _ = writeln!(out, "failed on {} of {}:", failed.len(), outcomes.len());
        for f in failed {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

/// `testbot list`: the files, one a line: expected seconds, a tab, the path (`cut -f2-`).
pub fn print_list(files: &[crate::schedule::FileEstimate]) {
    term::out(&list_text(files));
}

fn list_text(files: &[crate::schedule::FileEstimate]) -> String {
    files.iter().map(|f| format!("{:.3}\t{}\n", f.seconds, f.path)).collect()
}

/// What `testbot init` found and wrote.
pub fn print_init(summary: &str) {
    term::out(summary);
}

/// A line of a command's own, on stdout (`--only-failures` with nothing to rerun).
pub fn print_note(note: &str) {
    term::out(&format!("testbot: {note}\n"));
}

/// `testbot completions SHELL`: the script, for the shell to source.
pub fn print_completions(script: &str) {
    term::out(script);
}

/// `testbot sync` prints its lines here.
pub fn print_sync(reports: &[crate::fleet::remote::SyncReport]) {
    term::out(&sync::render(reports));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_prints_seconds_then_the_path() {
        let files = [
            crate::schedule::FileEstimate { path: "spec/a b_spec.rb".into(), seconds: 1.23456, known: true },
            crate::schedule::FileEstimate { path: "spec/c_spec.rb".into(), seconds: 0.01, known: false },
        ];
        assert_eq!(list_text(&files), "1.235\tspec/a b_spec.rb\n0.010\tspec/c_spec.rb\n");
    }
}
