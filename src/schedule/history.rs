//! The runtime history: `path:seconds` lines, the format parallel_tests' runtime log uses,
//! so either tool can read the other's, and a `#boot:seconds` line: the median time the last
//! run's batches took from their start to their first file's (its app's boot). parallel_tests
//! reads that line as a file no run selects; testbot before session 28 did the same.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    seconds: BTreeMap<String, f64>,
    /// The last run's median boot (`#boot:` line), in seconds.
    boot: Option<f64>,
}

/// The line that keeps the boot; no spec file's path starts with `#`.
const BOOT_KEY: &str = "#boot";

impl History {
    /// Lenient: a line that does not parse is skipped (a log cut short by a crash still helps).
    pub fn parse(text: &str) -> History {
        let mut seconds = BTreeMap::new();
        let mut boot = None;
        for line in text.lines() {
            let Some((path, secs)) = line.trim_end().rsplit_once(':') else { continue };
            let path = path.strip_prefix("./").unwrap_or(path);
            if let Ok(s) = secs.trim().parse::<f64>() {
                if !s.is_finite() || s < 0.0 || path.is_empty() {
                    continue;
                }
                if path == BOOT_KEY {
                    boot = Some(s);
                } else if !path.starts_with('#') {
                    seconds.insert(path.to_string(), s);
                }
            }
        }
        History { seconds, boot }
    }

    pub fn get(&self, path: &str) -> Option<f64> {
        self.seconds.get(path).copied()
    }

    /// The last run's median boot, when it measured one.
    pub fn boot(&self) -> Option<f64> {
        self.boot
    }

    /// This run's median boot replaces the last one's; a run that measured none keeps it.
    pub fn set_boot(&mut self, seconds: Option<f64>) {
        if let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            self.boot = Some(s);
        }
    }

    pub fn len(&self) -> usize {
        self.seconds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    /// This run's figures replace older ones; files this run did not touch keep theirs.
    pub fn merge(&mut self, updates: impl IntoIterator<Item = (String, f64)>) {
        for (path, secs) in updates {
            self.seconds.insert(path, secs);
        }
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if let Some(boot) = self.boot {
            let _ = writeln!(out, "{BOOT_KEY}:{}", crate::decimal::Fixed::new(boot, 4));
        }
        for (path, secs) in &self.seconds {
            let _ = writeln!(out, "{path}:{}", crate::decimal::Fixed::new(*secs, 4));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parallel_tests_format_and_skips_junk() {
        let h = History::parse("./spec/a_spec.rb:1.5\nspec/b c_spec.rb:0.25\ngarbage\nspec/x:abc\nspec/y:-1\n");
        assert_eq!(h.get("spec/a_spec.rb"), Some(1.5));
        assert_eq!(h.get("spec/b c_spec.rb"), Some(0.25));
        assert_eq!(h.len(), 2);
        assert!(!h.is_empty());
        // A log with nothing usable in it is no history.
        assert!(History::parse("garbage\nspec/x:abc\n:1.0\n").is_empty());
    }

    #[test]
    fn merge_keeps_other_entries_and_round_trips() {
        let mut h = History::parse("spec/a_spec.rb:1.0\nspec/b_spec.rb:2.0\n");
        h.merge([("spec/b_spec.rb".to_string(), 3.0), ("spec/c_spec.rb".to_string(), 0.5)]);
        assert_eq!(h.render(), "spec/a_spec.rb:1.0000\nspec/b_spec.rb:3.0000\nspec/c_spec.rb:0.5000\n");
        assert_eq!(History::parse(&h.render()), h);
    }

    #[test]
    fn the_boot_line_round_trips_and_is_no_file() {
        let mut h = History::parse("#boot:1.5\nspec/a_spec.rb:1.0\n# a comment:2\n");
        assert_eq!((h.boot(), h.len(), h.get("#boot")), (Some(1.5), 1, None));
        h.set_boot(None);
        assert_eq!(h.boot(), Some(1.5), "a run that measured no boot keeps the last one");
        h.set_boot(Some(0.25));
        assert_eq!(h.render(), "#boot:0.2500\nspec/a_spec.rb:1.0000\n");
        assert_eq!(History::parse(&h.render()), h);
        assert_eq!(History::parse("spec/a_spec.rb:1.0\n").boot(), None);
    }
}
