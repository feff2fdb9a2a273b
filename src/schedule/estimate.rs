//! Expected seconds per file: from the runtime history when known, else from file size.

use super::History;

#[derive(Clone, Debug, PartialEq)]
pub struct FileEstimate {
    pub path: String,
    pub seconds: f64,
    /// True when the history had this file.
    pub known: bool,
}

/// Seconds per byte when nothing is known (about 1 s for a 4 KB spec file).
const DEFAULT_SECONDS_PER_BYTE: f64 = 1.0 / 4096.0;
/// Nothing is free: even an empty file costs something to load and report.
const FLOOR_SECONDS: f64 = 0.01;

/// `files` are (path, size in bytes). Unknown files get the suite's own seconds-per-byte,
/// learnt from the known files, so a half-known suite is estimated in the same units.
pub fn estimate(files: &[(String, u64)], history: &History) -> Vec<FileEstimate> {
    let (known_seconds, known_bytes) = files
        .iter()
        .filter_map(|(path, size)| history.get(path).map(|s| (s, *size)))
        .fold((0.0, 0u64), |(s, b), (ks, kb)| (s + ks, b + kb));
    let rate = if known_bytes > 0 && known_seconds > 0.0 {
        known_seconds / known_bytes as f64
    } else {
        DEFAULT_SECONDS_PER_BYTE
    };
    files
        .iter()
        .map(|(path, size)| match history.get(path) {
            Some(seconds) => FileEstimate { path: path.clone(), seconds: seconds.max(FLOOR_SECONDS), known: true },
            None => FileEstimate {
                path: path.clone(),
                seconds: (*size as f64 * rate).max(FLOOR_SECONDS),
                known: false,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_files_use_the_known_rate() {
        let history = History::parse("spec/a_spec.rb:2.0\n");
        let files = vec![("spec/a_spec.rb".to_string(), 1000), ("spec/b_spec.rb".to_string(), 500)];
        let est = estimate(&files, &history);
        assert_eq!(est[0], FileEstimate { path: "spec/a_spec.rb".into(), seconds: 2.0, known: true });
        assert_eq!(est[1], FileEstimate { path: "spec/b_spec.rb".into(), seconds: 1.0, known: false });
    }

    #[test]
    fn nothing_known_uses_size() {
        let files = vec![("a".to_string(), 8192), ("b".to_string(), 0)];
        let est = estimate(&files, &History::default());
        assert!((est[0].seconds - 2.0).abs() < 1e-9);
        assert_eq!(est[1].seconds, FLOOR_SECONDS);
        assert!(!est[0].known);
    }

    #[test]
    fn known_files_with_no_bytes_or_no_time_teach_no_rate() {
        // An empty known file, or one the history has at 0 s: the default rate, not ∞ or 0.
        for known in ["spec/a_spec.rb:2.0\n", "spec/a_spec.rb:0.0\n"] {
            let size = if known.ends_with(":2.0\n") { 0 } else { 1000 };
            let files = vec![("spec/a_spec.rb".to_string(), size), ("spec/b_spec.rb".to_string(), 4096)];
            let est = estimate(&files, &History::parse(known));
            assert!(est[0].known);
            assert_eq!(est[1], FileEstimate { path: "spec/b_spec.rb".into(), seconds: 1.0, known: false }, "{known}");
        }
    }
}
