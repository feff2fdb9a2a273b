//! Test files on disk, found the way Ruby's `Dir.glob` finds them: what detection looks into
//! and what `project` selects from.

use globset::Glob;
use std::path::{Component, Path, PathBuf};

/// FoundFile in test/ by `test_*.rb`, but never a test file.
pub const NOT_TEST_FILES: &[&str] = &["test_helper.rb"];

/// `spec/**/*_spec.rb` → `*_spec.rb`.
pub fn file_pattern(pattern: &str) -> &str {
    pattern.rsplit('/').next().unwrap_or(pattern)
}

/// `spec/**/*_spec.rb` → `spec`: the folder a walk can start from.
pub fn literal_prefix(pattern: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    let parts: Vec<&str> = pattern.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(part);
    }
    prefix
}

/// A file found by [`walk`]: its path relative to the root (`/`-separated) and its size.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundFile {
    pub path: String,
    pub size: u64,
}

/// The files below `dir` that `matches` (given their path from `root`), at most `limit` of them.
pub fn walk(root: &Path, dir: &Path, matches: &mut dyn FnMut(&str) -> bool, limit: Option<usize>) -> Vec<FoundFile> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return found;
    }
    // Spec files are found the way Ruby's Dir.glob finds them: dot-folders skipped, .gitignore not consulted.
    let walker = ignore::WalkBuilder::new(dir).standard_filters(false).hidden(true).build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else { continue };
        if matches(&rel) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(FoundFile { path: rel, size });
            if limit.is_some_and(|n| found.len() >= n) {
                break;
            }
        }
    }
    found
}

/// Whether `pattern` (from the project root) matches a test file: one file is evidence enough,
/// so the walk stops there (detection runs before every sync and run).
pub fn has_files(root: &Path, pattern: &str) -> bool {
    let Ok(glob) = Glob::new(pattern) else { return false };
    let matcher = glob.compile_matcher();
    let mut is_test_file = |rel: &str| matcher.is_match(rel) && !NOT_TEST_FILES.contains(&file_pattern(rel));
    !walk(root, &root.join(literal_prefix(pattern)), &mut is_test_file, Some(1)).is_empty()
}

/// How many of the Ruby files under `folder` (the first 500, their first 64 KiB) mention any of
/// `a`, and any of `b`.
pub fn mentions_in(root: &Path, folder: &str, a: &[&str], b: &[&str]) -> (usize, usize) {
    const MAX_FILES: usize = 500;
    const MAX_BYTES: usize = 64 * 1024;
    let mut rb = walk(root, &root.join(folder), &mut |rel| rel.ends_with(".rb"), None);
    rb.sort_by(|x, y| x.path.cmp(&y.path));
    let (mut in_a, mut in_b) = (0usize, 0usize);
    for file in rb.iter().take(MAX_FILES) {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else { continue };
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BYTES)]);
        in_a += usize::from(a.iter().any(|m| mentions(&text, m)));
        in_b += usize::from(b.iter().any(|m| mentions(&text, m)));
    }
    (in_a, in_b)
}

/// `needle` in `text` as a whole word: `Test::Unit` is not found in `MiniTest::Unit`.
fn mentions(text: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(needle).any(|(at, _)| !word(text[..at].chars().next_back()) && !word(text[at + needle.len()..].chars().next()))
}

/// `root/spec/./a_spec.rb` → `spec/a_spec.rb`; None when outside the root.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let rel = path.strip_prefix(root).ok()?;
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_of_pattern() {
        assert_eq!(literal_prefix("spec/**/*_spec.rb"), PathBuf::from("spec"));
        assert_eq!(literal_prefix("test/unit/*_test.rb"), PathBuf::from("test/unit"));
        assert_eq!(literal_prefix("**/*_spec.rb"), PathBuf::new());
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("require 'test/unit'", "test/unit"));
        assert!(!mentions("class A < MiniTest::Unit::TestCase", "Test::Unit"));
        assert!(!mentions("RSpecish", "RSpec"));
    }
}
