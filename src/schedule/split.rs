//! Example split: a file that alone would take a large share of the run is cut into groups of
//! its examples (by the framework's example ids, with their times from the last run) that run
//! on several slots; the run layer merges their reports back into one file.

use super::Job;

/// A file is split when it is expected to take more than this share of the ideal makespan
/// (the suite's expected seconds ÷ slots)…
pub const SPLIT_SHARE: f64 = 0.5;
/// …into pieces of about this share of it (so they fit between the other files)…
pub const PIECE_SHARE: f64 = 0.5;
/// …but never pieces shorter than this, whose runner start-up would cost more than they save.
pub const MIN_PIECE_SECONDS: f64 = 1.0;

/// One example of a file: its id and how long it took last time.
#[derive(Clone, Debug, PartialEq)]
pub struct ExampleTime {
    pub id: String,
    pub seconds: f64,
}

/// The jobs for file `path` expected to take `seconds`: one (the whole file) unless it is long
/// next to `ideal` and its examples are known; then pieces of example ids, balanced longest
/// first, each with its share of the time. At most `slots` pieces.
pub fn pieces(path: &str, seconds: f64, examples: &[ExampleTime], ideal: f64, slots: usize) -> Vec<Job> {
    let whole = || vec![Job::new(path, seconds)];
    if slots < 2 || examples.len() < 2 || ideal <= 0.0 || seconds <= SPLIT_SHARE * ideal {
        return whole();
    }
    let target = (PIECE_SHARE * ideal).max(MIN_PIECE_SECONDS);
    let total: f64 = examples.iter().map(|e| e.seconds).sum();
    let n = ((total / target - 1e-9).ceil() as usize).clamp(1, slots.min(examples.len()));
    if n < 2 {
        return whole();
    }
    let mut order: Vec<&ExampleTime> = examples.iter().collect();
    order.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then_with(|| a.id.cmp(&b.id)));
    let mut bins: Vec<(f64, Vec<String>)> = vec![(0.0, Vec::new()); n];
    for e in order {
        let bin = bins.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)).expect("n >= 2");
        bin.0 += e.seconds;
        bin.1.push(e.id.clone());
    }
    // The file's expected time shared in proportion (it includes loading, not just examples).
    let scale = if total > 0.0 { seconds / total } else { 1.0 };
    bins.into_iter()
        .map(|(secs, mut ids)| {
            ids.sort_by_key(|id| natural(id));
            let mut job = Job::new(path, secs * scale);
            job.examples = ids;
            job.pieces = n as u32;
            job
        })
        .collect()
}

/// `1:10:2` sorts after `1:9`.
fn natural(id: &str) -> Vec<u64> {
    id.split(':').map(|p| p.parse().unwrap_or(u64::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize, secs: f64) -> Vec<ExampleTime> {
        (1..=n).map(|i| ExampleTime { id: format!("1:{i}"), seconds: secs }).collect()
    }

    #[test]
    fn a_long_file_is_cut_into_balanced_pieces_covering_every_example() {
        // 32 examples of 0.5 s, ideal makespan 5 s on 8 slots: pieces of about 2.5 s.
        let jobs = pieces("spec/big_spec.rb", 16.5, &ex(32, 0.5), 5.0, 8);
        assert_eq!(jobs.len(), 7);
        let mut ids: Vec<String> = jobs.iter().flat_map(|j| j.examples.clone()).collect();
        ids.sort_by_key(|id| natural(id));
        assert_eq!(ids, (1..=32).map(|i| format!("1:{i}")).collect::<Vec<_>>());
        let total: f64 = jobs.iter().map(|j| j.expected_seconds).sum();
        assert!((total - 16.5).abs() < 1e-9);
        assert!(jobs.iter().all(|j| j.expected_seconds < 2.9 && j.pieces == 7 && j.path == "spec/big_spec.rb"));
        assert_eq!(jobs[0].examples[0], "1:1");
        assert!(jobs.iter().all(|j| j.examples.windows(2).all(|w| natural(&w[0]) < natural(&w[1]))), "ids in order");
    }

    #[test]
    fn short_files_and_unknown_examples_stay_whole() {
        assert_eq!(pieces("a", 2.0, &ex(4, 0.5), 5.0, 8), vec![Job::new("a", 2.0)]);
        assert_eq!(pieces("a", 16.0, &[], 5.0, 8), vec![Job::new("a", 16.0)]);
        assert_eq!(pieces("a", 16.0, &ex(32, 0.5), 5.0, 1), vec![Job::new("a", 16.0)]);
        // Pieces are never shorter than a second: 3 s of examples makes at most 3.
        assert_eq!(pieces("a", 3.0, &ex(30, 0.1), 1.0, 8).len(), 3);
    }

    #[test]
    fn the_split_boundaries() {
        let whole = |seconds: f64| vec![Job::new("a", seconds)];
        // Two slots and two examples are enough for two pieces.
        assert_eq!(pieces("a", 10.0, &ex(2, 5.0), 5.0, 2).len(), 2);
        // No ideal makespan known: whole.
        assert_eq!(pieces("a", 10.0, &ex(4, 2.5), 0.0, 8), whole(10.0));
        // Split past half the ideal makespan (2.5 s here), not at it.
        assert_eq!(pieces("a", 2.5, &ex(10, 1.0), 5.0, 8), whole(2.5));
        assert_eq!(pieces("a", 3.0, &ex(10, 1.0), 5.0, 8).len(), 4);
        // Long, but its examples fill one piece only: whole, not one piece.
        assert_eq!(pieces("a", 3.0, &ex(2, 0.4), 5.0, 8), whole(3.0));
    }
}
