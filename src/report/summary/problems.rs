//! The summary's account of what went wrong besides failed examples, and where the time went.

use super::super::aggregate::{unfinished_reason, Aggregate};
use super::super::details::{cause, indent};
use super::super::style::Styles;
use crate::plural::plural;
use crate::events::{FileError, FileReport};
use std::fmt::Write;

/// Files that did not run cleanly, what runners printed outside files, errors outside examples.
pub(super) fn problems(out: &mut String, agg: &Aggregate, styles: &Styles) {
    // The files a stop left unfinished: one line, not a line each (a Ctrl-C leaves hundreds).
    let unfinished = agg.stopped.map(unfinished_reason);
    let left = |f: &&FileReport| matches!((&f.error, &unfinished), (Some(FileError::NotRun(m)), Some(u)) if m == u);
    let errored: Vec<_> = agg.files.iter().filter(|f| f.error.is_some()).filter(|f| !left(f)).collect();
    let left: Vec<_> = agg.files.iter().filter(left).collect();
    // Those the stop cut short as they ran (their batch was stopped), by name.
    let cut: Vec<String> = agg
        .stopped_while_running
        .iter()
        .filter(|(path, _)| agg.files.iter().any(|f| f.path == *path && f.error.is_some()))
        .map(|(path, place)| format!("{path} ({place})"))
        .collect();
    if !cut.is_empty() {
        let shown: Vec<&str> = cut.iter().take(10).map(String::as_str).collect();
        let more = if cut.len() > 10 { format!(" and {} more", cut.len() - 10) } else { String::new() };
        let _ = writeln!(out, "{} {}{more}", styles.bold.apply_to("Stopped while running:"), shown.join(", "));
    }
    if let (Some(first), Some(why)) = (left.first(), &unfinished) {
        let more = if left.len() > 1 { format!(" and {} more", left.len() - 1) } else { String::new() };
        let _ = writeln!(out, "{} {}", styles.bold.apply_to(format!("Not run ({}):", plural(left.len(), "file", "files"))), first.path.clone() + &more);
        let _ = writeln!(out, "  {}\n", styles.dim.apply_to(why));
    }
    if !errored.is_empty() {
        not_clean(out, &errored, styles);
    }
    if !agg.run_output.is_empty() {
        let _ = writeln!(out, "{}", styles.bold.apply_to("Printed outside of files (each text once):"));
        out.push_str(&indent(agg.run_output.join("\n").trim_end(), "  "));
        out.push('\n');
    }
    if !agg.batch_errors.is_empty() {
        let _ = writeln!(out, "{}", styles.bold.apply_to("Errors outside examples:"));
        let mut seen: Vec<&str> = Vec::new();
        for e in &agg.batch_errors {
            if seen.contains(&e.message.as_str()) {
                continue;
            }
            seen.push(&e.message);
            let times = agg.batch_errors.iter().filter(|o| o.message == e.message).count();
            let suffix = if times > 1 { format!(" ({times} batches)") } else { String::new() };
            out.push_str(&indent(&format!("{}{suffix}", e.message.trim()), "  "));
        }
        out.push('\n');
    }

}

/// `Files that did not run cleanly:`, a line each; the files not run for one reason, once.
fn not_clean(out: &mut String, errored: &[&FileReport], styles: &Styles) {
    let _ = writeln!(out, "{}", styles.bold.apply_to("Files that did not run cleanly:"));
    let groups = not_run_groups(errored);
    for f in errored {
        let error = f.error.as_ref().expect("filtered");
        let group = match error {
            FileError::NotRun(why) => groups.iter().find(|g| g.why == why),
            _ => None,
        };
        match group {
            Some(group) if group.first == f.path => not_run_group(out, group, styles),
            Some(_) => {}
            None => {
                let _ = writeln!(out, "  {} {}: {}", styles.fail.apply_to(&f.path), styles.dim.apply_to(format!("({})", error.kind())), cause(error.message()));
            }
        }
    }
    out.push('\n');
}

/// Files that did not run for one reason, said once: their count, the reason, the first names.
struct NotRunGroup<'a> {
    why: &'a str,
    first: &'a str,
    paths: Vec<&'a str>,
}

/// How many names a group of files not run shows; the JSON report lists them all.
const NAMES_SHOWN: usize = 3;

/// The reasons two or more files did not run for, each with its files (a reason one file has
/// is said on that file's line).
fn not_run_groups<'a>(errored: &[&'a FileReport]) -> Vec<NotRunGroup<'a>> {
    let mut groups: Vec<NotRunGroup<'a>> = Vec::new();
    for f in errored {
        let Some(FileError::NotRun(why)) = &f.error else { continue };
        match groups.iter_mut().find(|g| g.why == why) {
            Some(group) => group.paths.push(&f.path),
            None => groups.push(NotRunGroup { why, first: &f.path, paths: vec![&f.path] }),
        }
    }
    groups.retain(|g| g.paths.len() > 1);
    groups
}

/// `  346 files (not run): no host was left to run it (local left the run)`, then a few names.
fn not_run_group(out: &mut String, group: &NotRunGroup<'_>, styles: &Styles) {
    let count = plural(group.paths.len(), "file", "files");
    let _ = writeln!(out, "  {} {}: {}", styles.fail.apply_to(count), styles.dim.apply_to("(not run)"), cause(group.why));
    let shown = group.paths.iter().take(NAMES_SHOWN).copied().collect::<Vec<_>>().join(", ");
    let more = group.paths.len().saturating_sub(NAMES_SHOWN);
    let more = if more > 0 { format!(" and {more} more (the JSON report, --report-json, lists each)") } else { String::new() };
    let _ = writeln!(out, "    {}", styles.dim.apply_to(format!("{shown}{more}")));
}

/// Where the time went, and hosts that left the run.
pub(super) fn slot_use(out: &mut String, agg: &Aggregate, styles: &Styles) {
    if !agg.slots.is_empty() && agg.wall_seconds > 0.0 {
        let busy_total = agg.busy.values().fold(0.0, |a, b| a + b);
        // Under a twentieth of a second reads as 0.0s: a percentage of it (the runner could not
        // start) would be a number about nothing.
        if busy_total < 0.05 {
            let _ = writeln!(out, "Slots: {}, none busy", agg.slots.len());
        } else {
            let capacity = agg.wall_seconds * agg.slots.len() as f64;
            let efficiency = busy_total / capacity * 100.0;
            let _ = write!(out, "Slots: {} busy {busy_total:.1}s of {capacity:.1}s ({efficiency:.0}% efficiency)", agg.slots.len());
            if agg.slots.len() <= 16 {
                for line in slot_lines(agg) {
                    let _ = write!(out, "\n  {}", styles.dim.apply_to(line));
                }
            }
            out.push('\n');
        }
    }
    if !agg.lost_hosts.is_empty() {
        for (host, reason) in &agg.lost_hosts {
            let _ = writeln!(out, "{} host `{host}` left the run: {}", styles.pending.apply_to("warning:"), reason_head(reason));
        }
    }
    // Said once with why when it happened, at the top of a long log: named again at its end.
    for host in &agg.left_out_hosts {
        let _ = writeln!(out, "{} host `{host}` took no part in this run (left out at the start: its warning above says why)", styles.pending.apply_to("warning:"));
    }
}

/// A host's reason for leaving, named again at the end: its first lines, which say the cause
/// (the whole of it, a backtrace say, is in the warning printed when the host left).
fn reason_head(reason: &str) -> String {
    const LINES: usize = 3;
    let lines: Vec<&str> = reason.lines().collect();
    if lines.len() <= LINES + 1 {
        return reason.to_string();
    }
    format!("{}\n    [… {} more lines in the warning above]", lines[..LINES].join("\n"), lines.len() - LINES)
}

/// Each slot's busy time, `local#1 1.5s, local#2 0.9s`; after `report merge`, a line per
/// report the slots come from, `share 1/2: local#1 20.4s, local#2 11.7s`.
fn slot_lines(agg: &Aggregate) -> Vec<String> {
    let mut lines: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    for s in &agg.slots {
        let source = agg.slot_source.get(&s.id).map(String::as_str);
        let figure = format!("{} {:.1}s", s.tag(), agg.busy.get(&s.id).copied().unwrap_or(0.0));
        match lines.last_mut() {
            Some((last, figures)) if *last == source => figures.push(figure),
            _ => lines.push((source, vec![figure])),
        }
    }
    lines
        .into_iter()
        .map(|(source, figures)| match source {
            Some(source) => format!("{source}: {}", figures.join(", ")),
            None => figures.join(", "),
        })
        .collect()
}

