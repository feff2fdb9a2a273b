//! The first wave: one batch a slot, packed longest first onto the slot free first.

use super::{Batch, Job, Tuning};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// One batch a slot for the first wave: the longest files, up to `budget` seconds, each to the
/// slot that would be free first (LPT), counting when each slot's runner finishes booting
/// (`offsets`). Starting every slot with one well-sized process pays Ruby's start-up once a
/// slot; the tail left in `pending` evens out what the estimates got wrong. Batches come out in
/// the order the slots ask for work.
pub(super) fn plan_first_wave(pending: &mut VecDeque<Job>, offsets: &[f64], budget: f64, tuning: &Tuning) -> VecDeque<Batch> {
    if offsets.len() < 2 || pending.len() <= offsets.len() {
        return VecDeque::new();
    }
    // The slot free first, from a heap: a scan of every slot for every file is files × slots.
    let mut free: BinaryHeap<Reverse<FreeAt>> = offsets.iter().enumerate().map(|(i, o)| Reverse(FreeAt(*o, i))).collect();
    let mut bins: Vec<Vec<Job>> = vec![Vec::new(); offsets.len()];
    let mut planned = 0.0;
    while let Some(job) = pending.front() {
        if planned + job.expected_seconds > budget && planned > 0.0 {
            break;
        }
        // The slot free first that holds no piece of the same (split) file already.
        let mut passed = Vec::new();
        let mut chosen = None;
        while let Some(Reverse(FreeAt(free_at, i))) = free.pop() {
            if job.pieces > 0 && bins[i].iter().any(|j| j.path == job.path) {
                passed.push(Reverse(FreeAt(free_at, i)));
            } else {
                chosen = Some((free_at, i));
                break;
            }
        }
        free.extend(passed);
        let Some((free_at, i)) = chosen else { break };
        if bins[i].len() >= tuning.max_batch_files {
            break;
        }
        let job = pending.pop_front().expect("front exists");
        planned += job.expected_seconds;
        free.push(Reverse(FreeAt(free_at + job.expected_seconds, i)));
        bins[i].push(job);
    }
    bins.into_iter().filter(|jobs| !jobs.is_empty()).map(|jobs| Batch { jobs }).collect()
}

/// When slot `.1` is free; ordered by time, then slot (the first slot wins a tie).
#[derive(PartialEq)]
struct FreeAt(f64, usize);

impl Eq for FreeAt {}

impl PartialOrd for FreeAt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FreeAt {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}
