//! `--junit`: one JUnit XML file for the whole run, a test suite per file.
//!
//! Written straight to the file as it is rendered: a 20,000-file run has 100,000+ test cases,
//! and building them as a document first (quick-junit did) cost more CPU and memory than the
//! rest of the run's reporting together (see docs/benchmarks.md, "Scale").

use super::quarantine::Quarantine;
use super::Aggregate;
use crate::decimal::Fixed;
use crate::events::{ExampleStatus, FileReport};
use crate::framework::Framework;
use std::borrow::Cow;
use std::io::{self, Write};

pub fn write(framework: Framework, agg: &Aggregate, out: &mut impl Write) -> io::Result<()> {
    let mut tests = 0usize;
    let mut failures = 0usize;
    let mut skipped = 0usize;
    let mut errors = agg.batch_errors.len();
    for file in &agg.files {
        tests += file.examples.len() + usize::from(file.error.is_some());
        // A quarantined failure is a skipped test case: CI's test views keep it out of the red.
        let quarantined = agg.quarantine.failures(std::slice::from_ref(file));
        failures += file.count(ExampleStatus::Failed) - quarantined;
        skipped += file.count(ExampleStatus::Pending) + quarantined;
        errors += usize::from(file.error.is_some());
    }
    tests += agg.batch_errors.len();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="testbot" tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{}">"#,
        time(agg.wall_seconds)
    )?;
    for file in &agg.files {
        suite(file, &agg.quarantine, out)?;
    }
    if !agg.batch_errors.is_empty() {
        let n = agg.batch_errors.len();
        writeln!(out, r#"    <testsuite name="errors outside examples" tests="{n}" disabled="0" errors="{n}" failures="0" skipped="0">"#)?;
        for (i, err) in agg.batch_errors.iter().enumerate() {
            let name = format!("error outside examples #{}", i + 1);
            writeln!(out, r#"        <testcase name="{}" classname="{}">"#, attr(&name), attr(framework.name()))?;
            status(out, "error", first_line(&err.message), &err.message)?;
            if !err.output.is_empty() {
                writeln!(out, "            <system-out>{}</system-out>", text(&err.output))?;
            }
            writeln!(out, "        </testcase>")?;
        }
        writeln!(out, "    </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn suite(file: &FileReport, quarantine: &Quarantine, out: &mut impl Write) -> io::Result<()> {
    let path = attr(&file.path);
    let errors = usize::from(file.error.is_some());
    let quarantined = quarantine.failures(std::slice::from_ref(file));
    writeln!(
        out,
        r#"    <testsuite name="{path}" tests="{}" disabled="0" errors="{errors}" failures="{}" skipped="{}" time="{}">"#,
        file.examples.len() + errors,
        file.count(ExampleStatus::Failed) - quarantined,
        file.count(ExampleStatus::Pending) + quarantined,
        time(file.seconds)
    )?;
    for ex in &file.examples {
        // The line of every test case (100,000+ at scale): pieces written as they are, not
        // through core::fmt.
        let mut digits = [0; 24];
        let seconds = time(ex.seconds);
        let seconds = seconds.digits(&mut digits).unwrap_or("0.000");
        for piece in [r#"        <testcase name=""#, &attr(&ex.description), r#"" classname=""#, &path, r#"" time=""#, seconds, r#"" file=""#, &path, "\""] {
            out.write_all(piece.as_bytes())?;
        }
        match ex.status {
            ExampleStatus::Passed if ex.earlier_failures.is_empty() => writeln!(out, "/>")?,
            ExampleStatus::Passed => {
                // A pass after failed tries: JUnit's flakyFailure elements, one per failed try.
                writeln!(out, ">")?;
                for message in &ex.earlier_failures {
                    status(out, "flakyFailure", first_line(message), message)?;
                }
                writeln!(out, "        </testcase>")?;
            }
            ExampleStatus::Pending => {
                writeln!(out, ">")?;
                match &ex.message {
                    Some(m) => writeln!(out, r#"            <skipped message="{}"/>"#, attr(m))?,
                    None => writeln!(out, "            <skipped/>")?,
                }
                writeln!(out, "        </testcase>")?;
            }
            ExampleStatus::Failed => failed_case(out, ex, quarantine.excuses(file, ex))?,
        }
    }
    if let Some(error) = &file.error {
        let name = format!("{} ({})", file.path, error.kind());
        writeln!(out, r#"        <testcase name="{}" classname="{path}">"#, attr(&name))?;
        let message = format!("{}: {}", error.kind(), first_line(error.message()));
        status(out, "error", &message, error.message())?;
        if !file.output.is_empty() {
            writeln!(out, "            <system-out>{}</system-out>", text(&file.output))?;
        }
        writeln!(out, "        </testcase>")?;
    }
    writeln!(out, "    </testsuite>")
}

/// A failed test case's body: its failure, or, `quarantined`, a skip whose message says so (CI
/// test views count a skipped case apart and keep it out of the red) with the failure as output.
fn failed_case(out: &mut impl Write, ex: &crate::events::ExampleResult, quarantined: bool) -> io::Result<()> {
    writeln!(out, ">")?;
    let message = ex.message.as_deref().unwrap_or_default();
    let first = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("failed");
    let details = format!("{}\n{}", message, ex.backtrace.join("\n"));
    if quarantined {
        writeln!(out, r#"            <skipped message="{}"/>"#, attr(&format!("QUARANTINED: {first}")))?;
        writeln!(out, "            <system-out>{}</system-out>", text(&details))?;
    } else {
        status(out, "failure", first, &details)?;
    }
    writeln!(out, "        </testcase>")
}

/// `<failure message="…" type="failure">description</failure>` and its kin.
fn status(out: &mut impl Write, tag: &str, message: &str, description: &str) -> io::Result<()> {
    writeln!(out, r#"            <{tag} message="{}" type="{tag}">{}</{tag}>"#, attr(message), text(description))
}

fn time(seconds: f64) -> Fixed {
    Fixed::new(seconds.max(0.0), 3)
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// Text as XML 1.0 allows it: terminal escapes and control characters other than tab and
/// newlines removed. Most strings have neither, and pass through without a copy.
fn clean(s: &str) -> Cow<'_, str> {
    super::escapes::strip(s, super::escapes::Keep::Nothing)
}

fn escape(s: &str, quotes: bool) -> Cow<'_, str> {
    let s = clean(s);
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>') || (quotes && matches!(b, b'"' | b'\''));
    if !s.bytes().any(special) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ExampleResult, FileError};

    fn ex(description: &str, status: ExampleStatus, message: Option<&str>, earlier: &[&str]) -> ExampleResult {
        ExampleResult {
            description: description.into(),
            location: "./spec/a_spec.rb:3".into(),
            line: Some(3),
            status,
            seconds: 0.25,
            message: message.map(str::to_string),
            backtrace: vec!["./spec/a_spec.rb:4".into()],
            id: None,
            earlier_failures: earlier.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_status_escaped_and_cleaned() {
        let mut agg = Aggregate { wall_seconds: 1.5, ..Default::default() };
        agg.files.push(FileReport {
            path: "spec/a & b_spec.rb".into(),
            slot: None,
            seconds: 1.0,
            expected_seconds: 1.0,
            examples: vec![
                ex("adds <1> \"and\" 'two'", ExampleStatus::Passed, None, &[]),
                ex("fails", ExampleStatus::Failed, Some("\x1b[31mexpected: 2\x1b[0m\n     got: 1"), &[]),
                ex("waits", ExampleStatus::Pending, Some("Not yet"), &[]),
                ex("flaky", ExampleStatus::Passed, None, &["boom\x07"]),
            ],
            error: None,
            output: String::new(),
        });
        agg.files.push(FileReport {
            path: "spec/bad_spec.rb".into(),
            slot: None,
            seconds: 0.0,
            expected_seconds: 0.0,
            examples: vec![],
            error: Some(FileError::Load("SyntaxError\nline 2".into())),
            output: "printed <x>\n".into(),
        });
        let mut out = Vec::new();
        write(Framework::RSpec, &agg, &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="testbot" tests="5" failures="1" errors="1" skipped="1" time="1.500">
    <testsuite name="spec/a &amp; b_spec.rb" tests="4" disabled="0" errors="0" failures="1" skipped="1" time="1.000">
        <testcase name="adds &lt;1&gt; &quot;and&quot; &apos;two&apos;" classname="spec/a &amp; b_spec.rb" time="0.250" file="spec/a &amp; b_spec.rb"/>
        <testcase name="fails" classname="spec/a &amp; b_spec.rb" time="0.250" file="spec/a &amp; b_spec.rb">
            <failure message="expected: 2" type="failure">expected: 2
     got: 1
./spec/a_spec.rb:4</failure>
        </testcase>
        <testcase name="waits" classname="spec/a &amp; b_spec.rb" time="0.250" file="spec/a &amp; b_spec.rb">
            <skipped message="Not yet"/>
        </testcase>
        <testcase name="flaky" classname="spec/a &amp; b_spec.rb" time="0.250" file="spec/a &amp; b_spec.rb">
            <flakyFailure message="boom" type="flakyFailure">boom</flakyFailure>
        </testcase>
    </testsuite>
    <testsuite name="spec/bad_spec.rb" tests="1" disabled="0" errors="1" failures="0" skipped="0" time="0.000">
        <testcase name="spec/bad_spec.rb (load error)" classname="spec/bad_spec.rb">
            <error message="load error: SyntaxError" type="error">SyntaxError
line 2</error>
            <system-out>printed &lt;x&gt;
</system-out>
        </testcase>
    </testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }
}
