//! A failing file's details (messages, backtraces, output), its counts and an error's cause in
//! one line: as the live display prints them when the file finishes and the summary again.

use super::style::Styles;
use crate::plural::plural;
use crate::events::{ExampleStatus, FileReport};
use std::fmt::Write;

pub(crate) fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("{by}{l}\n") }).collect()
}

/// `12 examples, 1 failure, 2 pending`, as RSpec says it.
pub fn file_counts(report: &FileReport) -> String {
    let mut s = plural(report.examples.len(), "example", "examples");
    let failures = report.count(ExampleStatus::Failed);
    if failures > 0 {
        s.push_str(&format!(", {}", plural(failures, "failure", "failures")));
    }
    let pending = report.count(ExampleStatus::Pending);
    if pending > 0 {
        s.push_str(&format!(", {pending} pending"));
    }
    s
}

/// The failures and errors of one file, with what it printed; `streamed` (`--no-capture`): what
/// it printed is on the screen already, as it came, so only where it is is said.
pub fn file_details(report: &FileReport, styles: &Styles, streamed: bool) -> String {
    let mut out = String::new();
    let place = match &report.slot {
        Some(slot) => format!(" ({})", slot.name_in_words()),
        None => String::new(),
    };
    let _ = writeln!(out, "{} {}{}", styles.of_status(report.status()).apply_to("---"), styles.bold.apply_to(&report.path), styles.dim.apply_to(place));
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  {}: {}", styles.fail.apply_to(error.kind()), error.message().lines().next().unwrap_or(""));
        let rest: Vec<&str> = error.message().lines().skip(1).collect();
        if !rest.is_empty() {
            out.push_str(&indent(&rest.join("\n"), "    "));
        }
    }
    for (n, ex) in report.examples.iter().filter(|e| e.status == ExampleStatus::Failed).enumerate() {
        let _ = writeln!(out, "  {}) {}", n + 1, ex.description);
        if let Some(message) = &ex.message {
            out.push_str(&indent(message, "     "));
        }
        for line in &ex.backtrace {
            let _ = writeln!(out, "     {}", styles.dim.apply_to(format!("# {line}")));
        }
    }
    if streamed && !report.output.trim().is_empty() {
        let shown = match &report.slot {
            Some(slot) => format!("output: shown above as it came, on the lines of `{}`", slot.name()),
            None => "output: shown above as it came".to_string(),
        };
        let _ = writeln!(out, "  {}", styles.dim.apply_to(shown));
    } else if !report.output.trim().is_empty() {
        let _ = writeln!(out, "  {}", styles.dim.apply_to("output:"));
        out.push_str(&indent(report.output.trim_end(), "  | "));
    }
    out
}


/// An error's message in one line: the exception it names (`LoadError: cannot load such file --
/// x`), as RSpec (`LoadError:` over an indented message) or Ruby (`…: message (LoadError)`)
/// print it, else its first line. RSpec's "An error occurred while loading ./spec/a_spec.rb."
/// says nothing the path does not.
pub fn cause(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let is_class = |name: &str| {
        !name.is_empty() && name.split("::").all(|part| part.starts_with(|c: char| c.is_ascii_uppercase()) && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    let named = |class: &str| is_class(class) && (class.ends_with("Error") || class.ends_with("Exception") || class.contains("::"));
    for (i, line) in lines.iter().enumerate() {
        if let Some(class) = line.strip_suffix(':').filter(|c| named(c)) {
            if let Some(next) = lines.get(i + 1) {
                return format!("{class}: {next}");
            }
        }
        if let Some((_, class)) = line.strip_suffix(')').and_then(|l| l.rsplit_once(" (")).filter(|(_, c)| named(c)) {
            let text = line.rsplit_once(" (").map_or(*line, |(text, _)| text);
            return format!("{class}: {text}");
        }
    }
    lines.first().copied().unwrap_or("").to_string()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errors_line_is_its_cause() {
        let rspec = "An error occurred while loading ./spec/a_spec.rb.\nFailure/Error: require 'x'\n\nLoadError:\n  cannot load such file -- x\n# ./spec/a_spec.rb:1";
        assert_eq!(cause(rspec), "LoadError: cannot load such file -- x");
        let nested = "An error occurred while loading ./spec/a_spec.rb.\nActiveRecord::ConnectionNotEstablished:\n  no db\n";
        assert_eq!(cause(nested), "ActiveRecord::ConnectionNotEstablished: no db");
        let ruby = "test/a_test.rb:1:in `require': cannot load such file -- x (LoadError)\n\tfrom test/a_test.rb:1";
        assert_eq!(cause(ruby), "LoadError: test/a_test.rb:1:in `require': cannot load such file -- x");
        // Nothing that names an exception: the first line that says anything.
        assert_eq!(cause("\n  the runner process was killed by signal 9\nits output"), "the runner process was killed by signal 9");
        assert_eq!(cause("Failure/Error: x\nNote:\n  not an exception"), "Failure/Error: x");
    }
}
