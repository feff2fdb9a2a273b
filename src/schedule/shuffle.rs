//! `--shuffle-batches`: a run's files dealt into batches at random, from one seed, and the seeds
//! of `--repeat`'s runs. Pure: the seed comes from the caller, the random numbers from it alone
//! (splitmix64), so that the same seed, files, history and slots deal the same batches.

use super::{widest_group, Batch, Job, Queue, Tuning};

/// Seeds are kept to 32 bits: short enough to type back as `--seed N`.
const SEED_MASK: u64 = 0xFFFF_FFFF;

/// splitmix64: a small, well-mixed generator; enough for dealing files, not for secrets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 for `n` = 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    /// `items` in a random order (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The seeds of `runs` repetitions from the one given: the first is that seed itself (so that
/// `--repeat 1 --seed S` deals as `--seed S` does, and each run's seed, given back as
/// `--seed`, deals that run again), each next one drawn from the one before.
pub fn repetition_seeds(first: u64, runs: usize) -> Vec<u64> {
    let mut seeds = Vec::with_capacity(runs);
    let mut seed = first;
    for _ in 0..runs {
        seeds.push(seed);
        seed = Rng::new(seed).next_u64() & SEED_MASK;
    }
    seeds
}

/// A seed drawn from `entropy` (the caller's, e.g. the OS's random bytes), in the range seeds
/// are shown in.
pub fn seed_from(entropy: u64) -> u64 {
    Rng::new(entropy).next_u64() & SEED_MASK
}

impl Queue {
    /// `Queue::with_jobs` with the files dealt at random from `seed` (`--shuffle-batches`): the
    /// widest group's files in a shuffled order (not what failed last and the longest first),
    /// dealt in turn into one batch a slot (more when a batch would pass `max_batch_files`), and
    /// those batches handed to the slots in a shuffled order. The deal counts files, not
    /// seconds: it depends on the seed, the files and the slots alone, not on the runtime
    /// history a run changes, so a seed given back deals the same batches. The other groups'
    /// files (and the isolated ones) wait in the queue, shuffled, as tail batches.
    pub fn shuffled(files: Vec<Vec<Job>>, known: &[bool], boot_waves: &[usize], tuning: Tuning, seed: u64) -> Queue {
        let mut queue = Queue::with_jobs(Vec::new(), known, boot_waves, tuning);
        let mut rng = Rng::new(seed);
        let mut jobs: Vec<Job> = files.into_iter().flatten().collect();
        // From the files' names, so that the deal depends on the seed, not on the input's order
        // or the times expected.
        jobs.sort_by(|a, b| (&a.path, &a.examples, &a.lines).cmp(&(&b.path, &b.examples, &b.lines)));
        rng.shuffle(&mut jobs);
        queue.remaining_seconds = jobs.iter().fold(0.0, |a, j| a + j.expected_seconds);
        let main = widest_group(&jobs);
        let (first, others): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| Some(j.group) == main);
        queue.planned = deal(first, queue.slots, queue.tuning.max_batch_files, &mut rng).into();
        queue.pending = others.into();
        queue
    }
}

/// `jobs` dealt in turn into `slots` batches (or as many more as `max_files` a batch needs),
/// two pieces of one split file never in one batch, the batches in a shuffled order.
fn deal(jobs: Vec<Job>, slots: usize, max_files: usize, rng: &mut Rng) -> Vec<Batch> {
    let count = slots.max(jobs.len().div_ceil(max_files.max(1))).max(1);
    let mut batches: Vec<Vec<Job>> = vec![Vec::new(); count];
    let mut next = 0;
    for job in jobs {
        // The next batch in turn that holds no piece of the same file (a new one if all do).
        let free = (0..batches.len()).map(|k| (next + k) % batches.len()).find(|b| {
            job.pieces == 0 || !batches[*b].iter().any(|j| j.path == job.path)
        });
        let at = free.unwrap_or_else(|| {
            batches.push(Vec::new());
            batches.len() - 1
        });
        batches[at].push(job);
        next = (at + 1) % batches.len();
    }
    let mut batches: Vec<Batch> = batches.into_iter().filter(|b| !b.is_empty()).map(|jobs| Batch { jobs }).collect();
    rng.shuffle(&mut batches);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Vec<Vec<Job>> {
        (0..n).map(|i| vec![Job::new(format!("spec/f{i:02}_spec.rb"), 1.0 + (i % 3) as f64)]).collect()
    }

    /// Each batch's files, in the order the slots take them.
    fn deal(seed: u64, n: usize, slots: usize) -> Vec<Vec<String>> {
        let mut queue = Queue::shuffled(files(n), &vec![true; n], &vec![0; slots], Tuning::default(), seed);
        std::iter::from_fn(|| queue.next_batch()).map(|b| b.jobs.into_iter().map(|j| j.path).collect()).collect()
    }

    #[test]
    fn a_seed_deals_the_same_batches_and_another_seed_others() {
        assert_eq!(deal(7, 12, 3), deal(7, 12, 3));
        assert_ne!(deal(7, 12, 3), deal(8, 12, 3));
        // Every file once, one batch a slot.
        let dealt = deal(7, 12, 3);
        assert_eq!(dealt.len(), 3);
        let mut all: Vec<String> = dealt.concat();
        all.sort();
        assert_eq!(all, files(12).into_iter().flatten().map(|j| j.path).collect::<Vec<_>>());
    }

    #[test]
    fn seeds_vary_composition_order_within_batches_and_which_slot_takes_which() {
        let deals: Vec<Vec<Vec<String>>> = (0..20).map(|seed| deal(seed, 12, 3)).collect();
        let sets = |d: &Vec<Vec<String>>| {
            let mut s: Vec<Vec<String>> = d.iter().map(|b| { let mut b = b.clone(); b.sort(); b }).collect();
            s.sort();
            s
        };
        // Composition: which files share a batch.
        assert!(deals.iter().any(|d| sets(d) != sets(&deals[0])));
        // Order within a batch: two seeds deal the same two files together, in other orders.
        let small: Vec<Vec<Vec<String>>> = (0..20).map(|seed| deal(seed, 3, 2)).collect();
        let pairs: Vec<&Vec<String>> = small.iter().flatten().filter(|b| b.len() == 2).collect();
        assert!(pairs.iter().any(|a| pairs.iter().any(|b| a[0] == b[1] && a[1] == b[0])), "{small:?}");
        // Which slot (the k-th to ask) takes a batch: the first file dealt to the first slot differs.
        assert!(deals.iter().any(|d| d[0] != deals[0][0]));
    }

    #[test]
    fn the_deal_does_not_depend_on_the_times_expected() {
        let mut slower = files(12);
        for (i, file) in slower.iter_mut().enumerate() {
            file[0].expected_seconds = 100.0 - i as f64;
        }
        let mut queue = Queue::shuffled(slower, &[true; 12], &[0; 3], Tuning::default(), 7);
        let dealt: Vec<Vec<String>> =
            std::iter::from_fn(|| queue.next_batch()).map(|b| b.jobs.into_iter().map(|j| j.path).collect()).collect();
        assert_eq!(dealt, deal(7, 12, 3));
        // Never more than max_batch_files a batch.
        let tuning = Tuning { max_batch_files: 2, ..Tuning::default() };
        let mut queue = Queue::shuffled(files(12), &[true; 12], &[0; 3], tuning, 7);
        let sizes: Vec<usize> = std::iter::from_fn(|| queue.next_batch()).map(|b| b.jobs.len()).collect();
        assert_eq!(sizes, vec![2; 6]);
    }

    #[test]
    fn groups_never_share_a_batch_when_shuffled() {
        let mut jobs = files(8);
        for (i, file) in jobs.iter_mut().enumerate() {
            file[0].group = if i % 2 == 0 { super::super::Group::Ungrouped } else { super::super::Group::Named(0) };
        }
        let mut queue = Queue::shuffled(jobs, &[true; 8], &[0, 0], Tuning::default(), 3);
        while let Some(batch) = queue.next_batch() {
            assert!(batch.jobs.iter().all(|j| j.group == batch.jobs[0].group), "{batch:?}");
        }
    }

    #[test]
    fn repetition_seeds_start_at_the_seed_given_and_follow_from_each_other() {
        let seeds = repetition_seeds(1234, 5);
        assert_eq!(seeds[0], 1234);
        assert_eq!(seeds.len(), 5);
        assert_eq!(repetition_seeds(seeds[2], 3), seeds[2..].to_vec());
        let mut distinct = seeds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
        assert!(seeds.iter().all(|s| *s <= SEED_MASK) && seed_from(u64::MAX) <= SEED_MASK);
    }
}
