//! `--profile N` (RSpec's): one profile for the whole run, from every example's own time, in the
//! words of RSpec's profile formatter — the N slowest examples, then the N slowest files by
//! their average time per example (RSpec lists its top-level groups; a batch's runner only saw
//! its own files).

use super::super::aggregate::Aggregate;
use super::super::style::Styles;
use crate::events::ExampleResult;
use crate::plural::plural;
use std::fmt::Write;

pub(super) fn profile(out: &mut String, agg: &Aggregate, styles: &Styles) {
    let Some(n) = agg.profile.filter(|&n| n > 0) else { return };
    let mut examples: Vec<&ExampleResult> = agg.files.iter().flat_map(|f| f.examples.iter()).collect();
    if examples.is_empty() {
        return;
    }
    let all: f64 = examples.iter().map(|e| e.seconds).sum();
    examples.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    examples.truncate(n);
    let slowest: f64 = examples.iter().map(|e| e.seconds).sum();
    let share = if all > 0.0 { 100.0 * slowest / all } else { 0.0 };
    let heading = format!("Top {} ({} seconds, {share:.1}% of all examples' time):", plural(examples.len(), "slowest example", "slowest examples"), seconds(slowest));
    let _ = writeln!(out, "{}", styles.bold.apply_to(heading));
    for e in &examples {
        let _ = writeln!(out, "  {}\n    {} seconds {}", e.description, seconds(e.seconds), e.location);
    }
    out.push('\n');
    files(out, agg, n, styles);
}

/// The files with the highest average time per example, as RSpec's slowest example groups.
fn files(out: &mut String, agg: &Aggregate, n: usize, styles: &Styles) {
    let mut files: Vec<(&str, f64, usize)> =
        agg.files.iter().filter(|f| !f.examples.is_empty()).map(|f| (f.path.as_str(), f.seconds, f.examples.len())).collect();
    files.sort_by(|a, b| (b.1 / b.2 as f64).total_cmp(&(a.1 / a.2 as f64)));
    files.truncate(n);
    let _ = writeln!(out, "{}", styles.bold.apply_to(format!("Top {}:", plural(files.len(), "slowest file", "slowest files"))));
    for (path, total, count) in files {
        let average = seconds(total / count as f64);
        let _ = writeln!(out, "  {path}\n    {average} seconds average ({} seconds / {})", seconds(total), plural(count, "example", "examples"));
    }
    out.push('\n');
}

/// Seconds as RSpec's formatters write them: 5 decimals under a second, 2 from one up, with
/// trailing zeros dropped (`0.30036`, `1.5`, `2`).
fn seconds(value: f64) -> String {
    let text = if value < 1.0 { format!("{value:.5}") } else { format!("{value:.2}") };
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() { "0".to_string() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ExampleStatus, FileReport};

    fn ex(description: &str, location: &str, seconds: f64) -> ExampleResult {
        ExampleResult {
            description: description.into(),
            location: location.into(),
            line: None,
            status: ExampleStatus::Passed,
            seconds,
            message: None,
            backtrace: Vec::new(),
            id: None,
            earlier_failures: Vec::new(),
        }
    }

    fn file(path: &str, seconds: f64, examples: Vec<ExampleResult>) -> FileReport {
        FileReport { seconds, examples, ..FileReport::not_run(path.into(), String::new()) }
    }

    #[test]
    fn one_profile_of_the_slowest_examples_and_files_of_the_whole_run() {
        let mut agg = Aggregate::default();
        agg.files.push(file("spec/a_spec.rb", 1.0, vec![ex("A fast", "./spec/a_spec.rb:2", 0.1), ex("A slow", "./spec/a_spec.rb:3", 0.9)]));
        agg.files.push(file("spec/b_spec.rb", 1.2, vec![ex("B slower", "./spec/b_spec.rb[1:1]", 1.2)]));
        let mut out = String::new();
        profile(&mut out, &agg, &Styles::new(false));
        assert_eq!(out, "", "no profile unless asked");
        agg.profile = Some(2);
        profile(&mut out, &agg, &Styles::new(false));
        assert_eq!(
            out,
            "Top 2 slowest examples (2.1 seconds, 95.5% of all examples' time):\n  B slower\n    1.2 seconds ./spec/b_spec.rb[1:1]\n  A slow\n    0.9 seconds ./spec/a_spec.rb:3\n\n\
             Top 2 slowest files:\n  spec/b_spec.rb\n    1.2 seconds average (1.2 seconds / 1 example)\n  spec/a_spec.rb\n    0.5 seconds average (1 seconds / 2 examples)\n\n"
        );
    }

    #[test]
    fn seconds_are_written_as_rspec_writes_them() {
        assert_eq!(seconds(0.300361), "0.30036");
        assert_eq!(seconds(1.5), "1.5");
        assert_eq!(seconds(2.0), "2");
        assert_eq!(seconds(12.345), "12.35");
        assert_eq!(seconds(0.0), "0");
    }
}
