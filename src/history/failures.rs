//! The last run's failures, for `testbot --only-failures`: one selection a line, as a run takes
//! it on its command line. RSpec: each failed example by its id (`spec/a_spec.rb[1:2]`), or its
//! line when it has none; other frameworks: the file. A file that errored runs whole.

use crate::events::{ExampleStatus, FileReport};
use crate::framework::Framework;
use std::path::{Path, PathBuf};

/// Beside the runtime log: `tmp/testbot-failures-<framework>.txt`.
pub fn path(runtime_log: &Path, framework: Framework) -> PathBuf {
    runtime_log.with_file_name(format!("testbot-failures-{}.txt", framework.name()))
}

/// The file's text after a run: its failures, or nothing (a green run clears it).
pub fn render(files: &[FileReport], framework: Framework) -> String {
    let mut lines: Vec<String> = Vec::new();
    for f in files {
        let failed: Vec<_> = f.examples.iter().filter(|e| e.status == ExampleStatus::Failed).collect();
        if f.error.is_some() || (framework != Framework::RSpec && !failed.is_empty()) {
            lines.push(f.path.clone());
            continue;
        }
        for e in failed {
            lines.push(match (&e.id, e.line) {
                (Some(id), _) => format!("{}[{id}]", f.path),
                (None, Some(line)) => format!("{}:{line}", f.path),
                (None, None) => f.path.clone(),
            });
        }
    }
    lines.dedup();
    lines.into_iter().map(|l| l + "\n").collect()
}

/// The selections recorded by the last run; None when it recorded none (no file, or empty).
pub fn load(path: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    (!lines.is_empty()).then_some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ExampleResult;

    fn example(status: ExampleStatus, id: Option<&str>, line: Option<u32>) -> ExampleResult {
        ExampleResult {
            description: "d".into(),
            location: "x".into(),
            line,
            status,
            seconds: 0.0,
            message: None,
            backtrace: Vec::new(),
            id: id.map(str::to_string),
            earlier_failures: Vec::new(),
        }
    }

    fn file(path: &str, examples: Vec<ExampleResult>) -> FileReport {
        FileReport { path: path.into(), slot: None, seconds: 0.0, expected_seconds: 0.0, examples, error: None, output: String::new() }
    }

    #[test]
    fn failures_are_recorded_as_a_run_takes_them() {
        let files = vec![
            file("spec/a_spec.rb", vec![example(ExampleStatus::Failed, Some("1:2"), Some(6)), example(ExampleStatus::Passed, Some("1:1"), Some(2))]),
            file("spec/b_spec.rb", vec![example(ExampleStatus::Failed, None, Some(9))]),
            file("spec/c_spec.rb", vec![example(ExampleStatus::Passed, Some("1:1"), Some(2))]),
        ];
        assert_eq!(render(&files, Framework::RSpec), "spec/a_spec.rb[1:2]\nspec/b_spec.rb:9\n");
        assert_eq!(render(&files, Framework::Minitest), "spec/a_spec.rb\nspec/b_spec.rb\n");
        assert_eq!(render(&files[2..], Framework::RSpec), "");
    }
}
