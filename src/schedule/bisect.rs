//! `testbot bisect`'s choices, pure: which half of the candidates (the files, then the examples,
//! that ran with a failing example in its batch) to run with it next, and the fewest that still
//! make it fail.
//!
//! Each step runs one half with the failing example: when it still fails, that half is kept; when
//! it passes, the other half is kept without a run of its own (it held what the whole set needed).
//! So `n` candidates take at most ⌈log2 n⌉ runs. A set kept that way was not run on its own: the
//! caller checks it with one more run (`Found::checked` is false), and falls back to
//! `Found::last_failing` when the failure needs candidates from both halves.

/// A bisection of the candidates `0..n`, all of which together are known to make the failure fail.
#[derive(Clone, Debug, PartialEq)]
pub struct Bisection {
    /// The candidates still in play, in their order.
    kept: Vec<usize>,
    /// `kept` made the failure fail in a run of its own (not only kept because its other half passed).
    checked: bool,
    /// The smallest set that made it fail in a run.
    last_failing: Vec<usize>,
    /// The half being tried, while its run is out.
    trying: Option<Vec<usize>>,
    /// Runs recorded so far.
    runs: usize,
}

/// What to run next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run these candidates (indexes, in order) with the failing example.
    Try(Vec<usize>),
    /// Nothing left to halve.
    Done(Found),
}

/// Where a bisection ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The fewest candidates it narrowed to.
    pub kept: Vec<usize>,
    /// `kept` failed in a run of its own.
    pub checked: bool,
    /// The smallest set that failed in a run (all of them, before any step failed).
    pub last_failing: Vec<usize>,
    pub runs: usize,
}

impl Bisection {
    /// `n` candidates that, together, made the failure fail.
    pub fn new(n: usize) -> Bisection {
        let all: Vec<usize> = (0..n).collect();
        Bisection { kept: all.clone(), checked: true, last_failing: all, trying: None, runs: 0 }
    }

    /// The next half to run, or where it ended. Asking again before `record` gives the same half.
    pub fn next_step(&mut self) -> Step {
        if self.kept.len() <= 1 {
            let (kept, last_failing) = (self.kept.clone(), self.last_failing.clone());
            return Step::Done(Found { kept, checked: self.checked, last_failing, runs: self.runs });
        }
        let half = self.trying.get_or_insert_with(|| self.kept[..self.kept.len() / 2].to_vec()).clone();
        Step::Try(half)
    }

    /// How many candidates are still in play.
    pub fn left(&self) -> usize {
        self.kept.len()
    }

    /// The run of the half `next_step` gave: whether the failure still failed.
    pub fn record(&mut self, failed: bool) {
        let Some(half) = self.trying.take() else { return };
        self.runs += 1;
        if failed {
            self.last_failing = half.clone();
            self.kept = half;
            self.checked = true;
        } else {
            self.kept.retain(|i| !half.contains(i));
            self.checked = false;
        }
    }
}

/// The most runs a file stage of `n` candidates takes with its two confirming runs (the batch
/// as it ran, the failing example alone): ⌈log2 n⌉ + 2.
pub fn runs_bound(n: usize) -> usize {
    ceil_log2(n) + 2
}

/// ⌈log2 n⌉ (0 for 0 and 1).
pub fn ceil_log2(n: usize) -> usize {
    if n <= 1 { 0 } else { (usize::BITS - (n - 1).leading_zeros()) as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bisects `n` candidates where the failure fails when `fails(set)`: the end and the runs made.
    fn bisect(n: usize, fails: impl Fn(&[usize]) -> bool) -> Found {
        let mut b = Bisection::new(n);
        loop {
            match b.next_step() {
                Step::Try(half) => b.record(fails(&half)),
                Step::Done(found) => return found,
            }
        }
    }

    #[test]
    fn one_polluter_is_found_in_at_most_ceil_log2_n_runs_wherever_it_is() {
        for n in 1..=40 {
            for polluter in 0..n {
                let found = bisect(n, |set| set.contains(&polluter));
                assert_eq!(found.kept, vec![polluter], "n {n}, polluter {polluter}");
                assert!(found.runs <= ceil_log2(n), "n {n}, polluter {polluter}: {} runs", found.runs);
                // Kept because the other half passed: the caller checks it.
                assert_eq!(found.checked, found.last_failing == vec![polluter]);
            }
        }
        assert_eq!(bisect(29, |set| set.contains(&28)).runs, 5);
    }

    #[test]
    fn a_failure_that_needs_two_candidates_ends_unchecked_with_the_last_failing_set() {
        // 0 and 7 together: the first half (0..4) passes, so 4..8 is kept unchecked, and so on.
        let found = bisect(8, |set| set.contains(&0) && set.contains(&7));
        assert!(!found.checked);
        assert_eq!(found.last_failing, (0..8).collect::<Vec<_>>());
        assert_eq!(found.runs, 3);
    }

    #[test]
    fn the_same_half_is_offered_until_its_run_is_recorded() {
        let mut b = Bisection::new(5);
        assert_eq!(b.next_step(), Step::Try(vec![0, 1]));
        assert_eq!(b.next_step(), Step::Try(vec![0, 1]));
        b.record(false);
        assert_eq!(b.next_step(), Step::Try(vec![2]));
        b.record(true);
        assert_eq!(b.next_step(), Step::Done(Found { kept: vec![2], checked: true, last_failing: vec![2], runs: 2 }));
        let nothing = Found { kept: vec![], checked: true, last_failing: vec![], runs: 0 };
        assert_eq!(Bisection::new(0).next_step(), Step::Done(nothing));
    }

    #[test]
    fn the_bound_is_ceil_log2_plus_the_two_confirming_runs() {
        assert_eq!([0, 1, 2, 3, 4, 5, 8, 9, 29, 32, 33].map(ceil_log2), [0, 0, 1, 2, 2, 3, 3, 4, 5, 5, 6]);
        assert_eq!(runs_bound(29), 7);
    }
}
