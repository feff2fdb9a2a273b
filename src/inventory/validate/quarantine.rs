//! `[project] quarantine`: examples named as a run takes them on its command line, one example
//! each — `spec/a_spec.rb:12` or `spec/a_spec.rb[1:2]` (a leading `./` optional). A whole file
//! is not an entry: only an example's failure can be quarantined, never a file that fails to load.

use toml::Value;

use super::Checker;
use crate::inventory::raw::{describe, StrList};

impl Checker<'_> {
    pub(super) fn quarantine<K>(&mut self, list: StrList<K>) -> Vec<String> {
        let mut out = Vec::new();
        for item in list.items {
            match item.get_ref() {
                Value::String(s) if names_an_example(s) => out.push(s.trim_start_matches("./").to_string()),
                Value::String(s) => self.issue(
                    item.span(),
                    format!("`quarantine` entry {s:?} does not name one example: write `path:LINE` (e.g. \"spec/a_spec.rb:12\") or `path[ID]` (e.g. \"spec/a_spec.rb[1:2]\")"),
                ),
                other => self.issue(item.span(), format!("`quarantine` must contain only strings, found {}", describe(other))),
            }
        }
        out
    }
}

/// `path:LINE` or `path[ID]` (ID: numbers joined by `:`), with a path before it.
fn names_an_example(entry: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((path, id)) = entry.strip_suffix(']').and_then(|e| e.rsplit_once('[')) {
        return !path.is_empty() && id.split(':').all(digits);
    }
    entry.rsplit_once(':').is_some_and(|(path, line)| !path.is_empty() && digits(line))
}

#[cfg(test)]
mod tests {
    use super::names_an_example;

    #[test]
    fn an_entry_names_one_example_by_line_or_id() {
        for good in ["spec/a_spec.rb:12", "./spec/b_spec.rb[1:2]", "spec/c_spec.rb[1]"] {
            assert!(names_an_example(good), "{good}");
        }
        for bad in ["spec/a_spec.rb", "spec/a_spec.rb:", ":12", "spec/a_spec.rb[]", "spec/a_spec.rb[1:x]", "[1:2]", "spec/a_spec.rb:1x"] {
            assert!(!names_an_example(bad), "{bad}");
        }
    }
}
