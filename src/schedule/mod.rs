//! Pure scheduling: how long each file should take, and which files a free slot runs next.
//!
//! No I/O and no clocks here: the run layer feeds in file sizes and the runtime history and
//! asks for batches. One shared queue, longest expected first; batches are large while much
//! work remains (to amortise the runner's start-up) and shrink to single files at the tail
//! so that slots finish together.

mod estimate;
mod history;

pub use estimate::{estimate, FileEstimate};
pub use history::History;

use std::collections::VecDeque;

/// A file waiting to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub path: String,
    pub expected_seconds: f64,
    /// How many times it went back to the queue.
    pub requeued: u32,
    /// Run it in a batch of its own (its last batch died before any file started).
    pub alone: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub jobs: Vec<Job>,
}

impl Batch {
    pub fn expected_seconds(&self) -> f64 {
        self.jobs.iter().map(|j| j.expected_seconds).sum()
    }
}

/// Tuning knobs; the defaults are what the benchmarks in docs/benchmarks.md were run with.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// A batch holds at most remaining ÷ (slots × this) expected seconds. Larger values balance
    /// the tail better but start more runner processes (each costs Ruby's start-up).
    pub split_factor: f64,
    /// …but at least this much, since a runner process costs about this much to start.
    pub min_batch_seconds: f64,
    /// And never more files than this, so one crash cannot take much with it.
    pub max_batch_files: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { split_factor: 1.0, min_batch_seconds: 0.75, max_batch_files: 100 }
    }
}

#[derive(Debug)]
pub struct Queue {
    /// Longest expected first.
    pending: VecDeque<Job>,
    slots: usize,
    remaining_seconds: f64,
    tuning: Tuning,
}

impl Queue {
    pub fn new(files: Vec<FileEstimate>, slots: usize, tuning: Tuning) -> Queue {
        let mut jobs: Vec<Job> = files
            .into_iter()
            .map(|f| Job { path: f.path, expected_seconds: f.seconds, requeued: 0, alone: false })
            .collect();
        jobs.sort_by(|a, b| {
            b.expected_seconds.total_cmp(&a.expected_seconds).then_with(|| a.path.cmp(&b.path))
        });
        let remaining_seconds = jobs.iter().map(|j| j.expected_seconds).sum();
        Queue { pending: jobs.into(), slots: slots.max(1), remaining_seconds, tuning }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn remaining_seconds(&self) -> f64 {
        self.remaining_seconds.max(0.0)
    }

    /// The next batch for a free slot, or None when the queue is empty.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let first = self.pending.pop_front()?;
        let mut total = first.expected_seconds;
        let alone = first.alone;
        let mut jobs = vec![first];
        if !alone {
            let target = (self.remaining_seconds() / (self.slots as f64 * self.tuning.split_factor))
                .max(self.tuning.min_batch_seconds);
            while jobs.len() < self.tuning.max_batch_files {
                match self.pending.front() {
                    Some(next) if !next.alone && total + next.expected_seconds <= target => {
                        total += next.expected_seconds;
                        jobs.push(self.pending.pop_front().expect("front exists"));
                    }
                    _ => break,
                }
            }
        }
        self.remaining_seconds -= total;
        Some(Batch { jobs })
    }

    /// Put a file back. It goes to the front: it is late already.
    pub fn requeue(&mut self, mut job: Job, alone: bool) {
        job.requeued += 1;
        job.alone = alone;
        self.remaining_seconds += job.expected_seconds;
        self.pending.push_front(job);
    }

    /// Drop everything still queued (fail-fast, interrupt) and hand it back.
    pub fn drain(&mut self) -> Vec<Job> {
        self.remaining_seconds = 0.0;
        self.pending.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(secs: &[f64]) -> Vec<FileEstimate> {
        secs.iter()
            .enumerate()
            .map(|(i, s)| FileEstimate { path: format!("spec/f{i:03}_spec.rb"), seconds: *s, known: true })
            .collect()
    }

    fn drain_batches(q: &mut Queue) -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        while let Some(b) = q.next_batch() {
            out.push(b.jobs.iter().map(|j| j.expected_seconds).collect());
        }
        out
    }

    /// Simulates slots pulling batches: returns the makespan.
    fn simulate(q: &mut Queue, slots: usize, overhead: f64) -> f64 {
        let mut free_at = vec![0.0f64; slots];
        while let Some(b) = q.next_batch() {
            let (i, t) = free_at
                .iter()
                .copied()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            free_at[i] = t + overhead + b.expected_seconds();
        }
        free_at.into_iter().fold(0.0, f64::max)
    }

    #[test]
    fn longest_first_and_large_ones_alone() {
        let mut q = Queue::new(files(&[1.0, 10.0, 1.0, 5.0]), 2, Tuning::default());
        // The target is remaining ÷ slots, recomputed for each batch: 17 s → 8.5 s, so 10 goes
        // alone; 7 s → 3.5 s, so 5 goes alone; 2 s → 1 s, so the 1 s files go one by one.
        assert_eq!(drain_batches(&mut q), vec![vec![10.0], vec![5.0], vec![1.0], vec![1.0]]);
    }

    #[test]
    fn batches_shrink_towards_the_tail() {
        let mut q = Queue::new(files(&[0.5; 64]), 4, Tuning::default());
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 64);
        assert!(sizes[0] > 4 * sizes[sizes.len() - 1], "first batch {} vs last {}", sizes[0], sizes[sizes.len() - 1]);
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), 1);
    }

    #[test]
    fn min_batch_seconds_keeps_tiny_files_together() {
        let mut q = Queue::new(files(&[0.01; 100]), 8, Tuning::default());
        let batches = drain_batches(&mut q);
        // 0.75 s floor ÷ 0.01 s → 75 files a batch at least.
        assert_eq!(batches.len(), 2, "{:?}", batches.iter().map(Vec::len).collect::<Vec<_>>());
    }

    #[test]
    fn max_batch_files_caps_a_batch() {
        let tuning = Tuning { max_batch_files: 7, ..Tuning::default() };
        let mut q = Queue::new(files(&[0.01; 20]), 1, tuning);
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![7, 7, 6]);
    }

    #[test]
    fn requeued_jobs_come_first_and_alone() {
        let mut q = Queue::new(files(&[1.0, 1.0, 1.0, 1.0]), 2, Tuning::default());
        let first = q.next_batch().unwrap();
        assert_eq!(first.jobs.len(), 2);
        for job in first.jobs.into_iter().rev() {
            q.requeue(job, true);
        }
        let again = q.next_batch().unwrap();
        assert_eq!(again.jobs.len(), 1);
        assert_eq!(again.jobs[0].path, "spec/f000_spec.rb");
        assert_eq!(again.jobs[0].requeued, 1);
        assert!((q.remaining_seconds() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn skewed_suite_finishes_close_to_ideal() {
        // A few files dominate, like real suites: 8 slots, 200 files.
        let mut secs: Vec<f64> = (0..200).map(|i| 0.1 + (i % 7) as f64 * 0.05).collect();
        secs[..6].copy_from_slice(&[6.0, 5.0, 4.5, 4.0, 3.0, 3.0]);
        let total: f64 = secs.iter().sum();
        let ideal = (total / 8.0).max(6.0);
        let mut q = Queue::new(files(&secs), 8, Tuning::default());
        let makespan = simulate(&mut q, 8, 0.15);
        assert!(makespan / ideal < 1.10, "makespan {makespan:.2} ideal {ideal:.2}");
    }

    #[test]
    fn drain_empties_the_queue() {
        let mut q = Queue::new(files(&[1.0, 2.0]), 2, Tuning::default());
        assert_eq!(q.drain().len(), 2);
        assert!(q.is_empty());
        assert_eq!(q.next_batch(), None);
        assert_eq!(q.remaining_seconds(), 0.0);
    }
}
