//! Pure scheduling: how long each file should take, and which files a free slot runs next.
//!
//! No I/O and no clocks here: the run layer feeds in file sizes and the runtime history and
//! asks for batches. One shared queue, what failed in the last run first, then longest
//! expected first; batches are large while much work remains (to amortise the runner's
//! start-up) and shrink to single files at the tail so that slots finish together.

pub mod bisect;
mod estimate;
mod first_wave;
mod history;
pub mod partition;
mod reach;
pub mod shuffle;
pub mod split;
mod tuning;

pub use estimate::{estimate, FileEstimate};
pub use history::History;
pub use reach::batches_a_slot;
pub use tuning::{Tuning, TuningError, TuningOverrides};

use first_wave::plan_first_wave;
use std::cmp::Ordering;
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
    /// Times its runner crashed or hung while running it; one retry each, then it errors.
    pub crashes: u32,
    pub timeouts: u32,
    /// A slot (id) it should not go back to: the one it just crashed or hung on.
    pub avoid_slot: Option<usize>,
    /// Only these examples (the framework's ids), for a rerun of failed examples or a selection
    /// (`spec/a_spec.rb[1:2]`); empty: all.
    pub examples: Vec<String>,
    /// Only the examples at these lines (`spec/a_spec.rb:12`); empty: all.
    pub lines: Vec<u32>,
    /// Reruns of failed examples so far (`--retries`).
    pub attempt: u32,
    /// Into how many pieces its file was split (0: not split); see `split`.
    pub pieces: u32,
    /// Which files it may share a runner process with (`[project] isolate`, `[[project.group]]`).
    pub group: Group,
    /// Its file failed (or errored) in the last run: it goes ahead of the longest-first order,
    /// so that a red build shows its first failure at once.
    pub failed_last: bool,
}

/// Which files may share a runner process: a batch holds jobs of one group only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Group {
    /// Files in no `[[project.group]]`: they share processes with each other.
    #[default]
    Ungrouped,
    /// The files of the n-th `[[project.group]]` (0-based).
    Named(usize),
    /// `[project] isolate`: all of them run in one batch of their own, one after another in one
    /// process on one slot (parallel_tests' `--single`), never with another file in that batch.
    Isolated,
}

impl Job {
    pub fn new(path: impl Into<String>, expected_seconds: f64) -> Job {
        Job {
            path: path.into(),
            expected_seconds,
            requeued: 0,
            alone: false,
            crashes: 0,
            timeouts: 0,
            avoid_slot: None,
            examples: Vec::new(),
            lines: Vec::new(),
            attempt: 0,
            pieces: 0,
            group: Group::Ungrouped,
            failed_last: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub jobs: Vec<Job>,
}

impl Batch {
    pub fn expected_seconds(&self) -> f64 {
        self.jobs.iter().fold(0.0, |acc, j| acc + j.expected_seconds)
    }
}

#[derive(Debug)]
pub struct Queue {
    /// The first wave, planned up front.
    planned: VecDeque<Batch>,
    /// Longest expected first.
    pending: VecDeque<Job>,
    slots: usize,
    remaining_seconds: f64,
    /// The floor applies only when estimates are seconds, not sizes.
    min_batch_seconds: f64,
    tuning: Tuning,
    /// Jobs put back so far (`retry`, `requeue`): the dispatcher looks for idle slots again
    /// only when this moved, not after every file.
    returned: u64,
    /// Whether the estimates are seconds (some came from the history), not sizes.
    any_known: bool,
    /// Boot times the run layer measured (spawn to the first file's start), in seconds.
    boots: Vec<f64>,
    /// Expected and measured seconds of the files finished so far: how estimates map to seconds.
    observed: (f64, f64),
    /// Once the boot is heavy (`HEAVY_BOOT`), what each tail batch holds: an even share a slot
    /// of what was queued when the first such batch was cut (at least the boot floor), kept for
    /// the rest of the tail, so that each slot boots the app once more at most, not once for
    /// every small batch.
    heavy_tail: Option<f64>,
}

/// A tail batch holds at least this many times the measured boot in work: a batch that boots
/// for longer than it runs costs more than the balance it buys.
pub const BOOT_WORTH: f64 = 2.0;

/// A boot longer than this (seconds) is the suite's own (its helper loads an app), not Ruby's:
/// a fresh Ruby with Bundler and the framework takes about 0.3 s, a forked batch milliseconds.
/// Past it, every batch costs enough that the floor wins over an even tail, and a first wave
/// planned from a full history is not cut into more batches by `max_batch_files`.
pub const HEAVY_BOOT: f64 = 0.5;

impl Queue {
    /// `boot_waves[k]`: in which boot wave the k-th slot to ask for work boots (0 = at once);
    /// see `boot_order`. Its length is the number of slots.
    pub fn new(files: Vec<FileEstimate>, boot_waves: &[usize], tuning: Tuning) -> Queue {
        let known = files.iter().map(|f| f.known).collect::<Vec<_>>();
        let jobs = files.into_iter().map(|f| vec![Job::new(f.path, f.seconds)]).collect();
        Queue::with_jobs(jobs, &known, boot_waves, tuning)
    }

    /// `Queue::new` with each file's jobs given (several when it is split, see `split`);
    /// `known[i]`: whether file i's time came from the history.
    pub fn with_jobs(files: Vec<Vec<Job>>, known: &[bool], boot_waves: &[usize], tuning: Tuning) -> Queue {
        let slots = boot_waves.len().max(1);
        let any_known = known.iter().any(|k| *k);
        let unknown_share = {
            let seconds = |f: &Vec<Job>| f.iter().fold(0.0, |a, j| a + j.expected_seconds);
            let total = files.iter().fold(0.0, |a, f| a + seconds(f));
            let unknown = files.iter().zip(known).filter(|(_, k)| !**k).fold(0.0, |a, (f, _)| a + seconds(f));
            if total > 0.0 { unknown / total } else { 1.0 }
        };
        let mut jobs: Vec<Job> = files.into_iter().flatten().collect();
        jobs.sort_by(longest_first);
        let remaining_seconds = jobs.iter().fold(0.0, |a, j| a + j.expected_seconds);
        let tail_share = tail_share(&tuning, unknown_share, any_known, remaining_seconds / slots as f64);
        // The first wave is planned from the shared group with the most work; the other
        // groups' files (and the isolated ones) wait in the queue, never mixed into its batches.
        let main = widest_group(&jobs);
        let (first, others): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| Some(j.group) == main);
        let mut pending: VecDeque<Job> = first.into();
        let offsets: Vec<f64> = boot_waves
            .iter()
            .map(|w| if any_known { tuning.boot_seconds * (*w + 1) as f64 } else { 0.0 })
            .collect();
        // A heavy boot known from the history: each slot's share of the first wave is one batch
        // (each more would boot the app again), however many files it holds.
        let heavy = any_known && tuning.last_boot.is_some_and(|b| b >= HEAVY_BOOT);
        let wave = Tuning { max_batch_files: if heavy { usize::MAX } else { tuning.max_batch_files }, ..tuning.clone() };
        let planned = plan_first_wave(&mut pending, &offsets, remaining_seconds * (1.0 - tail_share) * (1.0 + 1e-9), &wave);
        if !others.is_empty() {
            let mut rest: Vec<Job> = pending.into_iter().chain(others).collect();
            rest.sort_by(longest_first);
            pending = rest.into();
        }
        let min_batch_seconds = if any_known { tuning.min_batch_seconds } else { 0.0 };
        Queue {
            planned,
            pending,
            slots,
            remaining_seconds,
            min_batch_seconds,
            tuning,
            returned: 0,
            any_known,
            boots: Vec::new(),
            observed: (0.0, 0.0),
            heavy_tail: None,
        }
    }

    /// `--in-order` (`testbot bisect`'s replays): the jobs as one batch, in the order given, for
    /// one slot. A job put back after a crash runs on its own, as in any run.
    pub fn in_order(jobs: Vec<Job>, tuning: Tuning) -> Queue {
        let remaining_seconds = jobs.iter().fold(0.0, |a, j| a + j.expected_seconds);
        let planned = if jobs.is_empty() { VecDeque::new() } else { VecDeque::from([Batch { jobs }]) };
        Queue {
            planned,
            pending: VecDeque::new(),
            slots: 1,
            remaining_seconds,
            min_batch_seconds: 0.0,
            tuning,
            returned: 0,
            any_known: false,
            boots: Vec::new(),
            observed: (0.0, 0.0),
            heavy_tail: None,
        }
    }

    /// A runner booted in `seconds` (from its spawn to its first file's start): later batches
    /// are sized for the median of what was measured, not for `Tuning::boot_seconds`.
    pub fn observe_boot(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.boots.push(seconds);
        }
    }

    /// A file expected to take `expected` (seconds, or a size-based guess without history) took
    /// `seconds`: how the queue's estimates compare with a measured boot.
    pub fn observe_file(&mut self, expected: f64, seconds: f64) {
        if expected > 0.0 && seconds.is_finite() && seconds >= 0.0 {
            self.observed.0 += expected;
            self.observed.1 += seconds;
        }
    }

    /// The median of the boots measured this run (None before any): what the runtime history
    /// keeps for the next run.
    pub fn boot_seconds(&self) -> Option<f64> {
        let mut boots = self.boots.clone();
        boots.sort_by(f64::total_cmp);
        let n = boots.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(boots[n / 2]),
            _ => Some((boots[n / 2 - 1] + boots[n / 2]) / 2.0),
        }
    }

    /// The boot batches are sized for: this run's measured median, else the last run's.
    fn boot(&self) -> Option<f64> {
        self.boot_seconds().or(self.tuning.last_boot)
    }

    /// The smallest tail batch worth a boot, in the estimates' units: `BOOT_WORTH` × the
    /// measured boot, converted by what finished files took against their estimates (taken as
    /// seconds when they came from the history and nothing finished yet). None: nothing
    /// measured, or sizes with nothing to convert them by.
    fn boot_floor(&self) -> Option<f64> {
        let boot = self.boot()?;
        let (expected, took) = self.observed;
        let seconds_per_unit = if expected > 0.0 && took > 0.0 {
            took / expected
        } else if self.any_known {
            1.0
        } else {
            return None;
        };
        Some(BOOT_WORTH * boot / seconds_per_unit)
    }

    pub fn is_empty(&self) -> bool {
        self.planned.is_empty() && self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.planned.iter().map(|b| b.jobs.len()).sum::<usize>() + self.pending.len()
    }

    pub fn remaining_seconds(&self) -> f64 {
        self.remaining_seconds.max(0.0)
    }

    /// The next batch for a free slot, or None when the queue is empty.
    pub fn next_batch(&mut self) -> Option<Batch> {
        self.next_batch_for(None)
    }

    /// The next batch for slot `slot`: jobs that should avoid it are left for another slot
    /// (None, if nothing else is queued; `None` as the slot ignores avoidance).
    pub fn next_batch_for(&mut self, slot: Option<usize>) -> Option<Batch> {
        if let Some(batch) = self.planned.pop_front() {
            self.remaining_seconds -= batch.expected_seconds();
            return Some(batch);
        }
        let takes = |j: &Job| slot.is_none() || j.avoid_slot != slot;
        let at = self.pending.iter().position(takes)?;
        let first = self.pending.remove(at).expect("position is in range");
        let mut total = first.expected_seconds;
        let alone = first.alone;
        let group = first.group;
        let mut jobs = vec![first];
        if alone {
            // Its own batch: its last runner died before any file started.
        } else if group == Group::Isolated {
            // The isolated files go together, as one process on one slot, one after another.
            let mut i = at;
            while i < self.pending.len() {
                let next = &self.pending[i];
                if next.group == Group::Isolated && !next.alone && takes(next) {
                    let job = self.pending.remove(i).expect("in range");
                    total += job.expected_seconds;
                    jobs.push(job);
                } else {
                    i += 1;
                }
            }
        } else {
            self.fix_heavy_tail();
            let (target, least) = self.tail_size();
            let target = target * (1.0 + 1e-9);
            let mut i = at;
            while jobs.len() < self.tuning.max_batch_files {
                match self.pending.get(i) {
                    // Files of another group never share this runner: skip past them.
                    Some(next) if next.group != group => i += 1,
                    // Two pieces of one split file never share a runner: its reports would mix.
                    Some(next)
                        if !next.alone
                            && takes(next)
                            && (total + next.expected_seconds <= target || total < least)
                            && (next.pieces == 0 || !jobs.iter().any(|j| j.path == next.path)) =>
                    {
                        total += next.expected_seconds;
                        jobs.push(self.pending.remove(i).expect("checked above"));
                    }
                    _ => break,
                }
            }
        }
        self.remaining_seconds -= total;
        Some(Batch { jobs })
    }

    /// When the boot is heavy and the floor known, the tail's batch size from now on (see
    /// `heavy_tail`): the first time, an even share a slot of what is queued.
    fn fix_heavy_tail(&mut self) {
        if self.heavy_tail.is_some() || !self.boot().is_some_and(|b| b >= HEAVY_BOOT) {
            return;
        }
        if let Some(floor) = self.boot_floor() {
            self.heavy_tail = Some((self.remaining_seconds() / self.slots as f64).max(floor));
        }
    }

    /// How much work the next tail batch holds, in the estimates' units. A heavy boot: the
    /// share `heavy_tail` fixed. Else the slots' share of what is left, but at least the floors;
    /// when batches fork (`even_tail`), never more than an even share of it. What would be left
    /// after it that is less than the boot floor goes with it (a heavy boot, or a Ruby boot a
    /// batch). Returns the target and the least the batch holds (files are added past the
    /// target until it does: the boot floor, where it wins over the even share; else nothing).
    fn tail_size(&self) -> (f64, f64) {
        let remaining = self.remaining_seconds();
        let floor = self.boot_floor().unwrap_or(0.0);
        let holds_floor = (self.heavy_tail.is_some() || !self.tuning.even_tail) && floor > 0.0;
        let mut target = match self.heavy_tail {
            Some(share) => share,
            None => {
                let target = (remaining / (self.slots as f64 * self.tuning.split_factor)).max(self.min_batch_seconds).max(floor);
                // A light boot's floor, converted by files unlike those left, can be far off: the
                // even share wins (docs/benchmarks.md).
                if self.tuning.even_tail { target.min(remaining / self.slots as f64) } else { target }
            }
        };
        if holds_floor && remaining - target < floor {
            target = remaining;
        }
        (target, if holds_floor { floor.min(remaining) } else { 0.0 })
    }

    /// Put a file back, counting it as requeued.
    pub fn requeue(&mut self, mut job: Job, alone: bool) {
        job.requeued += 1;
        job.alone = alone;
        self.retry(job);
    }

    /// Put a file back as it is (its counters already say why): ahead of every job that is
    /// not longer, so the queue stays longest-first (a lost host's files spread evenly).
    pub fn retry(&mut self, job: Job) {
        self.returned += 1;
        self.remaining_seconds += job.expected_seconds;
        let at = self.pending.iter().position(|p| p.expected_seconds <= job.expected_seconds).unwrap_or(self.pending.len());
        self.pending.insert(at, job);
    }

    /// A job from outside the run's own plan (a build's shared queue): into the queue in the
    /// plan's order (what failed last first, then longest first).
    pub fn add(&mut self, job: Job) {
        self.remaining_seconds += job.expected_seconds;
        let at = self.pending.iter().position(|p| longest_first(&job, p) == Ordering::Less).unwrap_or(self.pending.len());
        self.pending.insert(at, job);
    }

    /// How many jobs were put back so far.
    pub fn returned(&self) -> u64 {
        self.returned
    }

    /// Slots left to share the work (a host left the run): later batches are sized for them.
    pub fn set_slots(&mut self, slots: usize) {
        self.slots = slots.max(1);
        self.heavy_tail = None;
    }

    /// Drop everything still queued (fail-fast, interrupt) and hand it back.
    pub fn drain(&mut self) -> Vec<Job> {
        self.remaining_seconds = 0.0;
        let mut jobs: Vec<Job> = self.planned.drain(..).flat_map(|b| b.jobs).collect();
        jobs.extend(self.pending.drain(..));
        jobs
    }
}

/// Longest expected first; ties by path, so that a plan does not depend on the input's order.
/// What failed in the last run first, then longest first.
fn longest_first(a: &Job, b: &Job) -> Ordering {
    b.failed_last.cmp(&a.failed_last).then_with(|| b.expected_seconds.total_cmp(&a.expected_seconds)).then_with(|| a.path.cmp(&b.path))
}

/// The shared group (not the isolated files) with the most expected work; ties to the first.
fn widest_group(jobs: &[Job]) -> Option<Group> {
    let mut seconds: Vec<(Group, f64)> = Vec::new();
    for job in jobs.iter().filter(|j| j.group != Group::Isolated) {
        match seconds.iter_mut().find(|(g, _)| *g == job.group) {
            Some((_, s)) => *s += job.expected_seconds,
            None => seconds.push((job.group, job.expected_seconds)),
        }
    }
    seconds.into_iter().reduce(|a, b| if b.1 > a.1 { b } else { a }).map(|(g, _)| g)
}

/// The share of the expected work left for the tail: `tuning.tail_share` of what the history
/// does not know, and, when it knows a boot, no more than a batch of `BOOT_WORTH` boots a slot
/// when that boot is heavy (`per_slot`: a slot's share of the work, in seconds when
/// `any_known`): each tail batch boots the app again, so a heavy boot gets a small tail.
fn tail_share(tuning: &Tuning, unknown_share: f64, any_known: bool, per_slot: f64) -> f64 {
    let share = tuning.tail_share * unknown_share;
    match tuning.last_boot {
        Some(boot) if boot >= HEAVY_BOOT && any_known && per_slot > 0.0 => share.min(BOOT_WORTH * boot / per_slot),
        _ => share,
    }
}

/// The order in which slots take their first batch, and the boot wave of each: hosts boot at
/// most `parallelism` runners at once (one a core), so each host's slots boot in waves; hosts
/// boot side by side. `hosts[h] = (slots, parallelism)`; returns (host, slot within host, wave).
pub fn boot_order(hosts: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut order = Vec::new();
    let waves = hosts.iter().map(|(s, p)| s.div_ceil((*p).max(1))).max().unwrap_or(0);
    for wave in 0..waves {
        for (h, (slots, parallelism)) in hosts.iter().enumerate() {
            let p = (*parallelism).max(1);
            for k in wave * p..((wave + 1) * p).min(*slots) {
                order.push((h, k, wave));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_is_one_batch_of_the_jobs_as_given() {
        let jobs = vec![Job::new("spec/z_spec.rb", 1.0), Job::new("spec/a_spec.rb", 9.0), Job::new("spec/m_spec.rb", 3.0)];
        let mut queue = Queue::in_order(jobs.clone(), Tuning::default());
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.next_batch(), Some(Batch { jobs }));
        assert!(queue.is_empty() && queue.next_batch().is_none());
        assert!(Queue::in_order(Vec::new(), Tuning::default()).is_empty());
    }

    /// Boot waves of `slots` slots on one host booting `parallelism` at a time.
    fn waves(slots: usize, parallelism: usize) -> Vec<usize> {
        boot_order(&[(slots, parallelism)]).into_iter().map(|(_, _, w)| w).collect()
    }

    #[test]
    fn an_empty_queue_takes_jobs_added_later_longest_first_and_counts_no_return() {
        let mut q = Queue::with_jobs(Vec::new(), &[], &[0, 0], Tuning::default());
        assert!(q.is_empty());
        q.add(Job::new("spec/short_spec.rb", 1.0));
        q.add(Job::new("spec/long_spec.rb", 5.0));
        q.add(Job::new("spec/mid_spec.rb", 3.0));
        assert_eq!((q.len(), q.returned()), (3, 0), "added, not put back");
        assert_eq!(q.remaining_seconds(), 9.0);
        let mut order = Vec::new();
        while let Some(batch) = q.next_batch() {
            order.extend(batch.jobs.into_iter().map(|j| j.path));
        }
        assert_eq!(order, ["spec/long_spec.rb", "spec/mid_spec.rb", "spec/short_spec.rb"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_job_added_that_failed_last_goes_ahead_of_longer_ones() {
        let mut q = Queue::with_jobs(Vec::new(), &[], &[0], Tuning::default());
        q.add(Job::new("spec/long_spec.rb", 5.0));
        let mut failing = Job::new("spec/failing_spec.rb", 0.5);
        failing.failed_last = true;
        q.add(failing);
        q.add(Job::new("spec/mid_spec.rb", 3.0));
        let order: Vec<String> = std::iter::from_fn(|| q.next_batch()).flat_map(|b| b.jobs).map(|j| j.path).collect();
        assert_eq!(order, ["spec/failing_spec.rb", "spec/long_spec.rb", "spec/mid_spec.rb"]);
    }

    #[test]
    fn what_failed_last_goes_first_then_longest_first() {
        let mut jobs = files(&[1.0, 10.0, 1.0, 5.0]).into_iter().map(|f| vec![Job::new(f.path, f.seconds)]).collect::<Vec<_>>();
        jobs[2][0].failed_last = true;
        let failing = jobs[2][0].path.clone();
        let mut q = Queue::with_jobs(jobs, &[true; 4], &waves(1, 1), Tuning::default());
        let first = q.next_batch().unwrap();
        assert_eq!(first.jobs[0].path, failing);
        assert_eq!(first.jobs.get(1).map(|j| j.expected_seconds), Some(10.0), "then longest first");
        // With several slots, the first wave's first batch starts with it too.
        let mut jobs = files(&[1.0, 10.0, 1.0, 5.0, 3.0, 2.0]).into_iter().map(|f| vec![Job::new(f.path, f.seconds)]).collect::<Vec<_>>();
        jobs[5][0].failed_last = true;
        let failing = jobs[5][0].path.clone();
        let mut q = Queue::with_jobs(jobs, &[true; 6], &waves(2, 2), Tuning::default());
        assert_eq!(q.next_batch().unwrap().jobs[0].path, failing);
    }

    #[test]
    fn boot_order_interleaves_hosts_by_wave() {
        assert_eq!(
            boot_order(&[(3, 2), (2, 1)]),
            vec![(0, 0, 0), (0, 1, 0), (1, 0, 0), (0, 2, 1), (1, 1, 1)]
        );
        assert_eq!(boot_order(&[]), vec![]);
    }

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

    fn unknown(secs: &[f64]) -> Vec<FileEstimate> {
        files(secs).into_iter().map(|f| FileEstimate { known: false, ..f }).collect()
    }

    #[test]
    fn full_history_plans_one_batch_a_slot() {
        let mut q = Queue::new(files(&[1.0, 10.0, 1.0, 5.0]), &waves(2, 2), Tuning::default());
        // Everything known: no tail; LPT with both slots booting together.
        assert_eq!(drain_batches(&mut q), vec![vec![10.0], vec![5.0, 1.0, 1.0]]);
    }

    #[test]
    fn later_booting_slots_get_less() {
        let tuning = Tuning { boot_seconds: 1.0, ..Tuning::default() };
        let mut q = Queue::new(files(&[1.0; 12]), &waves(3, 1), tuning);
        // Slots boot at 1, 2 and 3 s: 12 s of work ends at 6 s on all three.
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(sizes, [5, 4, 3]);
    }

    #[test]
    fn batches_shrink_towards_the_tail() {
        let mut q = Queue::new(unknown(&[0.5; 64]), &waves(4, 2), Tuning::default());
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 64);
        // A first wave of 4 × 12 files (75%), then shrinking batches down to single files.
        assert_eq!(&sizes[..4], &[12, 12, 12, 12]);
        assert!(sizes[4..].windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), 1);
    }

    #[test]
    fn tiny_suites_boot_few_runners() {
        let mut q = Queue::new(files(&[0.01; 100]), &waves(8, 2), Tuning::default());
        let batches = drain_batches(&mut q);
        // 1 s of work and 0.3 s to boot, two at a time: only the first four slots get work.
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [40, 40, 10, 10]);
    }

    #[test]
    fn max_batch_files_caps_a_batch() {
        let tuning = Tuning { max_batch_files: 7, ..Tuning::default() };
        let mut q = Queue::new(files(&[0.01; 20]), &waves(1, 2), tuning);
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![7, 7, 6]);
    }

    #[test]
    fn requeued_jobs_come_first_and_alone() {
        let tuning = Tuning { split_factor: 2.0, ..Tuning::default() };
        let mut q = Queue::new(files(&[1.0, 1.0, 1.0, 1.0]), &waves(1, 2), tuning);
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
    fn jobs_put_back_keep_the_queue_longest_first() {
        let mut q = Queue::new(files(&[3.0, 2.0, 1.0]), &waves(1, 1), Tuning { max_batch_files: 1, ..Tuning::default() });
        let a = q.next_batch().unwrap().jobs.remove(0);
        let b = q.next_batch().unwrap().jobs.remove(0);
        q.retry(b);
        q.retry(a);
        let order: Vec<f64> = std::iter::from_fn(|| q.next_batch()).map(|b| b.jobs[0].expected_seconds).collect();
        assert_eq!(order, [3.0, 2.0, 1.0]);
    }

    #[test]
    fn a_job_avoids_the_slot_it_failed_on() {
        let mut q = Queue::new(files(&[1.0, 1.0, 1.0]), &waves(1, 1), Tuning::default());
        let mut all: Vec<Job> = std::iter::from_fn(|| q.next_batch()).flat_map(|b| b.jobs).collect();
        let mut hung = all.remove(0);
        hung.avoid_slot = Some(3);
        hung.alone = true;
        q.retry(hung);
        q.retry(all.remove(0));
        // Slot 3 skips the job that hung on it and takes the next one.
        let for_3 = q.next_batch_for(Some(3)).unwrap();
        assert_eq!(for_3.jobs.len(), 1);
        assert_ne!(for_3.jobs[0].avoid_slot, Some(3));
        assert_eq!(q.next_batch_for(Some(3)), None);
        // Another slot takes it, and with no slot given avoidance does not hold.
        let for_1 = q.next_batch_for(Some(1)).unwrap();
        assert_eq!(for_1.jobs[0].avoid_slot, Some(3));
        assert_eq!(for_1.jobs[0].requeued, 0);
        assert!(q.is_empty());
    }

    #[test]
    fn skewed_suite_finishes_close_to_ideal() {
        // A few files dominate, like real suites: 8 slots, 200 files.
        let mut secs: Vec<f64> = (0..200).map(|i| 0.1 + (i % 7) as f64 * 0.05).collect();
        secs[..6].copy_from_slice(&[6.0, 5.0, 4.5, 4.0, 3.0, 3.0]);
        let total: f64 = secs.iter().sum();
        let ideal = (total / 8.0).max(6.0);
        let mut q = Queue::new(files(&secs), &waves(8, 2), Tuning::default());
        let makespan = simulate(&mut q, 8, 0.15);
        assert!(makespan / ideal < 1.10, "makespan {makespan:.2} ideal {ideal:.2}");
    }

    #[test]
    fn first_wave_is_balanced_and_leaves_a_tail() {
        let mut q = Queue::new(unknown(&[4.0, 3.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), &waves(2, 2), Tuning::default());
        // 20 s, 2 slots: 15 s planned as LPT (4, 3, 3+, 2, 2, 1 → 8 and 7); five 1 s files wait.
        let first: Vec<Vec<f64>> = (0..2).map(|_| q.next_batch().unwrap().jobs.iter().map(|j| j.expected_seconds).collect()).collect();
        assert_eq!(first, vec![vec![4.0, 2.0, 2.0], vec![3.0, 3.0, 1.0]]);
        assert_eq!(q.len(), 5);
        assert!((q.remaining_seconds() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn sizes_are_not_seconds_so_no_floor_without_history() {
        let mut q = Queue::new(unknown(&[0.01; 40]), &waves(4, 2), Tuning::default());
        let sizes: Vec<usize> = drain_batches(&mut q).iter().map(Vec::len).collect();
        assert_eq!(&sizes[..4], &[8, 8, 7, 7]);
        assert!(sizes.len() > 6, "the tail is split: {sizes:?}");
    }

    /// `files(secs)` with the group of each file.
    fn grouped(secs: &[f64], groups: &[Group], known: bool) -> (Vec<Vec<Job>>, Vec<bool>) {
        let jobs = files(secs).into_iter().zip(groups).map(|(f, g)| vec![Job { group: *g, ..Job::new(f.path, f.seconds) }]).collect();
        (jobs, vec![known; secs.len()])
    }

    #[test]
    fn a_batch_holds_files_of_one_group() {
        use Group::*;
        let pattern = [Ungrouped, Named(0), Named(1), Ungrouped, Named(0), Isolated];
        let groups: Vec<Group> = (0..60).map(|i| pattern[i % pattern.len()]).collect();
        let secs: Vec<f64> = (0..60).map(|i| 0.2 + (i % 5) as f64 * 0.1).collect();
        for known in [true, false] {
            let (jobs, known) = grouped(&secs, &groups, known);
            let mut q = Queue::with_jobs(jobs, &known, &waves(4, 2), Tuning::default());
            let batches: Vec<Batch> = std::iter::from_fn(|| q.next_batch()).collect();
            assert_eq!(batches.iter().map(|b| b.jobs.len()).sum::<usize>(), 60);
            for b in &batches {
                assert!(b.jobs.iter().all(|j| j.group == b.jobs[0].group), "{b:?}");
            }
            // The ten isolated files: one batch, nothing else in it.
            let isolated: Vec<&Batch> = batches.iter().filter(|b| b.jobs[0].group == Isolated).collect();
            assert_eq!(isolated.len(), 1);
            assert_eq!(isolated[0].jobs.len(), 10);
            // The groups still share the slots: more than one batch of each shared group.
            for g in [Ungrouped, Named(0), Named(1)] {
                assert!(batches.iter().filter(|b| b.jobs[0].group == g).count() > 1, "{g:?}");
            }
        }
    }

    #[test]
    fn the_first_wave_is_the_largest_group_and_requeued_files_keep_theirs() {
        use Group::*;
        let (jobs, known) = grouped(&[3.0, 1.0, 1.0, 1.0, 2.0, 2.0], &[Named(1), Ungrouped, Ungrouped, Ungrouped, Named(1), Named(1)], true);
        let mut q = Queue::with_jobs(jobs, &known, &waves(2, 2), Tuning::default());
        let first = q.next_batch().unwrap();
        let second = q.next_batch().unwrap();
        assert!(first.jobs.iter().chain(&second.jobs).all(|j| j.group == Named(1)), "{first:?} {second:?}");
        // A file put back joins only files of its own group.
        for job in second.jobs.into_iter() {
            q.requeue(job, false);
        }
        while let Some(b) = q.next_batch() {
            assert!(b.jobs.iter().all(|j| j.group == b.jobs[0].group), "{b:?}");
        }
    }

    #[test]
    fn the_boot_is_the_median_of_what_was_measured() {
        let mut q = Queue::new(files(&[1.0]), &waves(1, 1), Tuning::default());
        assert_eq!(q.boot_seconds(), None);
        for s in [2.0, 9.0, 3.0] {
            q.observe_boot(s);
        }
        assert_eq!(q.boot_seconds(), Some(3.0));
        q.observe_boot(4.0);
        q.observe_boot(f64::NAN);
        assert_eq!(q.boot_seconds(), Some(3.5));
    }

    /// Slots pulling batches, each batch costing `boot` before its files; the queue is told what
    /// each boot and file took (files take `seconds_per_unit` × their estimate), as the
    /// dispatcher tells it. Returns the makespan and the number of batches.
    fn simulate_measured(q: &mut Queue, slots: usize, boot: f64, seconds_per_unit: f64, tell: bool) -> (f64, usize) {
        let mut free_at = vec![0.0f64; slots];
        // Each batch's (end, expected, took), told to the queue once a slot asking is past its end.
        let mut done: Vec<(f64, f64, f64)> = Vec::new();
        let mut batches = 0;
        loop {
            let (i, t) = free_at.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            if tell {
                for (_, expected, took) in done.iter().filter(|d| d.0 <= t) {
                    q.observe_boot(boot);
                    q.observe_file(*expected, *took);
                }
                done.retain(|d| d.0 > t);
            }
            let Some(b) = q.next_batch() else { break };
            batches += 1;
            let took = b.expected_seconds() * seconds_per_unit;
            free_at[i] = t + boot + took;
            done.push((free_at[i], b.expected_seconds(), took));
        }
        (free_at.into_iter().fold(0.0, f64::max), batches)
    }

    #[test]
    fn a_measured_slow_boot_makes_the_tail_coarse() {
        // A small Rails suite, no history: 9 files whose sizes say ~1 s each but which take a
        // fifth of that, on 2 slots; each batch boots Rails for 2.5 s.
        let sizes = [1.4, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.8, 0.6];
        let assumed = simulate_measured(&mut Queue::new(unknown(&sizes), &waves(2, 2), Tuning::default()), 2, 2.5, 0.2, false);
        let measured = simulate_measured(&mut Queue::new(unknown(&sizes), &waves(2, 2), Tuning::default()), 2, 2.5, 0.2, true);
        // Told nothing, the tail is cut into several batches, each booting again; told the
        // boot, the whole tail is one batch.
        assert!(assumed.1 >= 4, "{assumed:?}");
        assert_eq!(measured.1, 3, "{measured:?}");
        assert!(measured.0 < assumed.0 - 2.0, "measured {measured:?} assumed {assumed:?}");
    }

    #[test]
    fn a_quick_boot_leaves_the_tail_fine() {
        // Forked batches boot in 50 ms: the tail is cut as before, down to single files.
        let sizes = [0.5; 64];
        let told = simulate_measured(&mut Queue::new(unknown(&sizes), &waves(4, 2), Tuning::default()), 4, 0.05, 1.0, true);
        let untold = simulate_measured(&mut Queue::new(unknown(&sizes), &waves(4, 2), Tuning::default()), 4, 0.05, 1.0, false);
        assert_eq!(told.1, untold.1);
    }

    #[test]
    fn the_boot_floor_is_converted_to_the_estimates_units() {
        // Sizes, not seconds: no floor until a file finished to convert the boot by.
        let mut q = Queue::new(unknown(&[1.0; 20]), &waves(1, 1), Tuning::default());
        q.observe_boot(1.0);
        assert_eq!(q.boot_floor(), None);
        // Files take half their estimate: 1 s of boot is worth 2 units, twice (BOOT_WORTH).
        q.observe_file(2.0, 1.0);
        assert_eq!(q.boot_floor(), Some(4.0));
        // Seconds from the history: taken as they are until files say otherwise.
        let mut q = Queue::new(files(&[1.0; 20]), &waves(1, 1), Tuning::default());
        q.observe_boot(1.5);
        assert_eq!(q.boot_floor(), Some(3.0));
        // The floor sizes tail batches: 40 × 0.1 on 4 slots leaves a tail of 10 files (1.0),
        // cut in quarters (0.25) when nothing is measured, in one batch once a boot of 0.5 s is.
        let mut q = Queue::new(unknown(&[0.1; 40]), &waves(4, 2), Tuning::default());
        (0..4).for_each(|_| drop(q.next_batch()));
        assert_eq!(q.len(), 10);
        let mut measured = Queue::new(unknown(&[0.1; 40]), &waves(4, 2), Tuning::default());
        (0..4).for_each(|_| drop(measured.next_batch()));
        measured.observe_boot(0.5);
        measured.observe_file(1.0, 1.0);
        assert_eq!(q.next_batch().unwrap().jobs.len(), 2);
        assert_eq!(measured.next_batch().unwrap().jobs.len(), 10);
    }

    #[test]
    fn forked_tail_batches_hold_an_even_share_whatever_the_floor_says() {
        // No history: 8 large files that take no time, then 16 small ones that take 0.5 s each
        // (sizes say nothing of that). Once the large ones ran, the boot floor converted by them
        // is far larger than the whole tail; forked, each tail batch still holds at most a
        // quarter of what is left, so all 4 slots share the slow files.
        let mut sizes = vec![10.0; 8];
        sizes.extend([1.0; 16]);
        let tail_batches = |tuning: Tuning| {
            let mut q = Queue::new(unknown(&sizes), &waves(4, 4), tuning);
            while !q.planned.is_empty() {
                q.next_batch();
            }
            q.observe_boot(0.1);
            q.observe_file(10.0, 0.001);
            let left = q.remaining_seconds();
            assert!(q.boot_floor().unwrap() > left, "the floor holds the whole tail");
            let batches: Vec<f64> = std::iter::from_fn(|| q.next_batch()).map(|b| b.expected_seconds()).collect();
            (left, batches)
        };
        let (left, batches) = tail_batches(Tuning::forked());
        assert!(batches.len() >= 4, "{batches:?}");
        assert!(batches[0] <= left / 4.0 + 1e-9, "{left} {batches:?}");
        // A Ruby boot a batch: the floor keeps the tail in one batch, as it did.
        let (_, batches) = tail_batches(Tuning::default());
        assert_eq!(batches.len(), 1, "{batches:?}");
    }

    #[test]
    fn drain_empties_the_queue() {
        let mut q = Queue::new(files(&[1.0, 2.0]), &waves(2, 2), Tuning::default());
        assert_eq!(q.drain().len(), 2);
        assert!(q.is_empty());
        assert_eq!(q.next_batch(), None);
        assert_eq!(q.remaining_seconds(), 0.0);
    }

    #[test]
    fn jobs_put_back_are_counted() {
        let mut q = Queue::new(files(&[1.0, 2.0, 3.0]), &waves(1, 1), Tuning::default());
        assert_eq!(q.returned(), 0);
        let batch = q.next_batch().unwrap();
        let mut jobs = batch.jobs.into_iter();
        q.requeue(jobs.next().unwrap(), false);
        q.retry(jobs.next().unwrap());
        assert_eq!(q.returned(), 2);
    }

    #[test]
    fn tail_batches_are_sized_for_the_slots_left() {
        // One slot, sizes (no history, so no floor): no first wave, one batch of everything.
        let sizes = |slots: Option<usize>| {
            let mut q = Queue::new(unknown(&[1.0; 8]), &waves(1, 1), Tuning::default());
            if let Some(n) = slots {
                q.set_slots(n);
            }
            q.next_batch().unwrap().jobs.len()
        };
        assert_eq!(sizes(None), 8);
        // Four slots share it: a quarter of the work a batch.
        assert_eq!(sizes(Some(4)), 2);
        // No slot left is one slot, not a division by zero.
        assert_eq!(sizes(Some(0)), 8);
    }

    #[test]
    fn impossible_measures_are_ignored() {
        // Sizes, not seconds: the floor needs a measured boot and files measured against
        // their estimates.
        let mut q = Queue::new(unknown(&[1.0; 8]), &waves(2, 2), Tuning::default());
        q.observe_boot(-1.0);
        q.observe_boot(f64::INFINITY);
        q.observe_boot(f64::NAN);
        assert_eq!(q.boot_seconds(), None);
        q.observe_boot(1.0);
        assert_eq!(q.boot_seconds(), Some(1.0));
        q.observe_file(0.0, 5.0);
        q.observe_file(1.0, -1.0);
        q.observe_file(1.0, f64::INFINITY);
        q.observe_file(-1.0, 3.0);
        assert_eq!(q.boot_floor(), None);
        // 2 size units took 1 s: a boot of 1 s is worth BOOT_WORTH × 2 units.
        q.observe_file(2.0, 1.0);
        assert_eq!(q.boot_floor(), Some(BOOT_WORTH * 2.0));
    }

    #[test]
    fn files_that_took_no_time_convert_nothing() {
        let mut q = Queue::new(unknown(&[1.0; 8]), &waves(2, 2), Tuning::default());
        q.observe_boot(1.0);
        q.observe_file(2.0, 0.0);
        assert_eq!(q.boot_floor(), None);
    }

    #[test]
    fn a_queue_is_empty_when_neither_the_first_wave_nor_the_rest_holds_a_job() {
        // Everything known: all of it planned in the first wave, nothing pending.
        let mut planned = Queue::new(files(&[1.0, 10.0, 1.0, 5.0]), &waves(2, 2), Tuning::default());
        assert!(!planned.is_empty());
        assert_eq!(planned.len(), 4);
        // One slot: no first wave, everything pending.
        let mut pending = Queue::new(files(&[1.0, 2.0]), &waves(1, 1), Tuning::default());
        assert!(!pending.is_empty());
        for q in [&mut planned, &mut pending] {
            while q.next_batch().is_some() {}
            assert!(q.is_empty());
        }
    }

    #[test]
    fn the_isolated_batch_takes_all_its_time_off_what_remains() {
        let job = |path: &str, seconds: f64, group: Group| Job { group, ..Job::new(path, seconds) };
        let jobs = vec![
            vec![job("spec/a_spec.rb", 2.0, Group::Isolated)],
            vec![job("spec/b_spec.rb", 3.0, Group::Isolated)],
            vec![job("spec/c_spec.rb", 1.0, Group::Ungrouped)],
        ];
        let mut q = Queue::with_jobs(jobs, &[true, true, true], &waves(1, 1), Tuning::default());
        assert_eq!(q.remaining_seconds(), 6.0);
        let isolated = q.next_batch().unwrap();
        let paths: Vec<&str> = isolated.jobs.iter().map(|j| j.path.as_str()).collect();
        assert_eq!(paths, ["spec/b_spec.rb", "spec/a_spec.rb"]);
        assert_eq!(q.remaining_seconds(), 1.0);
    }

    #[test]
    fn tail_batches_never_hold_two_pieces_of_one_split_file() {
        let piece = |i: usize| Job { pieces: 3, examples: vec![format!("1:{i}")], ..Job::new("spec/big_spec.rb", 1.0) };
        let jobs = vec![
            vec![piece(1), piece(2), piece(3)],
            vec![Job::new("spec/b_spec.rb", 1.0)],
            vec![Job::new("spec/c_spec.rb", 1.0)],
        ];
        // One slot: no first wave, and a batch may hold all the work; only the pieces part.
        let mut q = Queue::with_jobs(jobs, &[true, true, true], &waves(1, 1), Tuning::default());
        let batches: Vec<Vec<String>> = std::iter::from_fn(|| q.next_batch())
            .map(|b| b.jobs.iter().map(|j| if j.pieces > 0 { "piece".to_string() } else { j.path.clone() }).collect())
            .collect();
        assert_eq!(batches, [vec!["spec/b_spec.rb", "piece"], vec!["piece"], vec!["piece", "spec/c_spec.rb"]]);
    }

    #[test]
    fn the_widest_group_has_the_most_work_ties_to_the_first_and_is_never_the_isolated_files() {
        use Group::*;
        let jobs = |list: &[(Group, f64)]| -> Vec<Job> {
            list.iter().enumerate().map(|(i, (g, s))| Job { group: *g, ..Job::new(format!("spec/f{i}_spec.rb"), *s) }).collect()
        };
        // Ungrouped: 2.5 s in three files; Named(0): 2.0 s in one; the isolated files: 10 s.
        let mixed = jobs(&[(Isolated, 10.0), (Named(0), 2.0), (Ungrouped, 1.0), (Ungrouped, 1.0), (Ungrouped, 0.5)]);
        assert_eq!(widest_group(&mixed), Some(Ungrouped));
        let tie = jobs(&[(Named(1), 2.0), (Ungrouped, 1.0), (Ungrouped, 1.0)]);
        assert_eq!(widest_group(&tie), Some(Named(1)));
        assert_eq!(widest_group(&jobs(&[(Isolated, 1.0)])), None);
    }

    #[test]
    fn the_first_wave_never_gives_one_slot_two_pieces_of_a_split_file() {
        let piece = |i: usize| Job { pieces: 2, examples: vec![format!("1:{i}")], ..Job::new("spec/big_spec.rb", 2.0) };
        let jobs = vec![
            vec![Job::new("spec/a_spec.rb", 4.0)],
            vec![piece(1), piece(2)],
            vec![Job::new("spec/c_spec.rb", 1.0)],
            vec![Job::new("spec/d_spec.rb", 1.0)],
        ];
        // Everything known: all of it in the first wave, longest first to the slot free first;
        // the second piece would go where the first is, and goes to the other slot instead.
        let mut q = Queue::with_jobs(jobs, &[true; 4], &waves(2, 2), Tuning::default());
        let batches: Vec<Vec<String>> = std::iter::from_fn(|| q.next_batch())
            .map(|b| b.jobs.iter().map(|j| format!("{}{}", j.path, j.examples.join(""))).collect())
            .collect();
        assert_eq!(batches, [
            vec!["spec/a_spec.rb", "spec/big_spec.rb1:2"],
            vec!["spec/big_spec.rb1:1", "spec/c_spec.rb", "spec/d_spec.rb"],
        ]);
    }

    #[test]
    fn the_first_wave_takes_a_first_file_larger_than_its_budget_alone() {
        // The unknown file is 90% of the work, more than the first wave's budget (here 77.5%):
        // it is the first wave, alone; the rest is the tail.
        let jobs = vec![vec![Job::new("spec/a_spec.rb", 0.09)], vec![Job::new("spec/b_spec.rb", 0.005)], vec![Job::new("spec/c_spec.rb", 0.005)]];
        let mut q = Queue::with_jobs(jobs, &[false, true, true], &waves(2, 2), Tuning::default());
        let sizes: Vec<usize> = std::iter::from_fn(|| q.next_batch()).map(|b| b.jobs.len()).collect();
        assert_eq!(sizes, [1, 2]);
    }

    /// The simulated tail of a forked run whose app boots in `boot` seconds: every batch (the
    /// first wave's, then the tail's) with its expected work, told as `simulate_measured` tells.
    fn forked_batches(files: Vec<FileEstimate>, boot: f64, last_boot: Option<f64>) -> Vec<f64> {
        let mut q = Queue::new(files, &[0, 0], Tuning { last_boot, ..Tuning::forked() });
        let mut free_at = [0.0f64; 2];
        let mut done: Vec<(f64, f64)> = Vec::new();
        let mut batches = Vec::new();
        loop {
            let (i, t) = free_at.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            for (_, expected) in done.iter().filter(|d| d.0 <= t) {
                q.observe_boot(boot);
                q.observe_file(*expected, *expected);
            }
            done.retain(|d| d.0 > t);
            let Some(b) = q.next_batch() else { break };
            free_at[i] = t + boot + b.expected_seconds();
            done.push((free_at[i], b.expected_seconds()));
            batches.push(b.expected_seconds());
        }
        batches
    }

    #[test]
    fn forked_tail_batches_hold_twice_a_heavy_boot_in_work() {
        // 100 files of 0.15 s, half of them unknown, on 2 slots forking; the app boots in 1.5 s.
        let mut suite = files(&[0.15; 100]);
        suite.iter_mut().skip(50).for_each(|f| f.known = false);
        let batches = forked_batches(suite, 1.5, None);
        let (tail, last) = (&batches[2..batches.len() - 1], batches[batches.len() - 1]);
        assert!(tail.iter().all(|w| *w >= BOOT_WORTH * 1.5 - 1e-9), "{batches:?}");
        assert!(last > 0.0 && (last >= BOOT_WORTH * 1.5 - 1e-9 || tail.is_empty()), "{batches:?}");
        // A light boot (a fork) keeps the tail fine: an even share, down to single files.
        let light = forked_batches(unknown(&[0.15; 100]), 0.05, None);
        assert!(light.iter().filter(|w| **w < 0.3).count() >= 2, "{light:?}");
    }

    #[test]
    fn the_last_runs_heavy_boot_plans_a_batch_a_slot_past_the_file_cap() {
        // 600 known files on 2 slots: more than `max_batch_files` a slot. With the last run's
        // boot of 1.5 s, one batch a slot; with none kept (or a light one), batches of 200 files.
        let suite = files(&[0.05; 600]);
        let heavy = forked_batches(suite.clone(), 1.5, Some(1.5));
        assert_eq!(heavy.len(), 2, "{heavy:?}");
        assert!(forked_batches(suite.clone(), 1.5, None).len() > 3);
        assert!(forked_batches(suite, 0.05, Some(0.05)).len() > 3);
    }

    #[test]
    fn a_heavy_boot_measured_in_a_first_run_cuts_the_tail_into_one_batch_a_slot() {
        // No history (sizes only), 600 files on 2 slots forking, the app boots in 1.5 s: the
        // first wave is a batch a slot, the 40 % tail one more a slot, an even share of it.
        let batches = forked_batches(unknown(&[0.04; 600]), 1.5, None);
        assert_eq!(batches.len(), 4, "{batches:?}");
        assert!((batches[2] - batches[3]).abs() < 0.05, "{batches:?}");
        // A light boot (a fork) keeps the tail fine; so does the sleep-bound suite's.
        assert!(forked_batches(unknown(&[0.04; 600]), 0.05, None).len() > 8);
        assert!(forked_batches(unknown(&[0.04; 600]), HEAVY_BOOT - 0.01, None).len() > 4);
        // A tail smaller than two slots' floors still goes in one batch.
        let small = forked_batches(unknown(&[0.15; 60]), 1.5, None);
        assert_eq!(small.len(), 3, "{small:?}");
    }

    #[test]
    fn the_heavy_tail_share_is_fixed_once_and_a_lost_slot_recuts_it() {
        let mut q = Queue::new(unknown(&[1.0; 100]), &[0, 0], Tuning::forked());
        (0..2).for_each(|_| drop(q.next_batch()));
        let left = q.remaining_seconds();
        q.observe_boot(1.0);
        q.observe_file(1.0, 1.0);
        assert_eq!(q.next_batch().unwrap().expected_seconds(), left / 2.0);
        // The other slot's share is the same, not half of what is left now.
        q.add(Job::new("spec/late_spec.rb", 1.0));
        assert_eq!(q.next_batch().unwrap().expected_seconds(), left / 2.0 + 1.0, "less than the floor left goes along");
        assert!(q.is_empty());
        let mut q = Queue::new(unknown(&[1.0; 100]), &[0, 0, 0, 0], Tuning::forked());
        (0..4).for_each(|_| drop(q.next_batch()));
        q.observe_boot(1.0);
        q.observe_file(1.0, 1.0);
        let left = q.remaining_seconds();
        assert_eq!(q.next_batch().unwrap().expected_seconds(), left / 4.0);
        q.set_slots(1);
        assert_eq!(q.next_batch().unwrap().expected_seconds(), left * 3.0 / 4.0);
    }

    #[test]
    fn the_last_runs_heavy_boot_sizes_the_first_tail_batches_and_shrinks_the_tail() {
        // A suite the history hardly knows: the tail is 40 % of it by default (~11.6 s of 30); a
        // boot of 1.5 s kept from the last run holds it to a batch of twice that a slot.
        let mut suite = files(&[0.1; 300]);
        suite.iter_mut().skip(10).for_each(|f| f.known = false);
        let tuning = |last_boot| Tuning { last_boot, ..Tuning::forked() };
        let mut q = Queue::new(suite.clone(), &[0, 0], tuning(Some(1.5)));
        let wave: f64 = q.planned.iter().map(Batch::expected_seconds).sum();
        assert!((q.remaining_seconds() - wave - 2.0 * BOOT_WORTH * 1.5).abs() < 0.2, "{wave}");
        // Before this run measured a boot, the first tail batch holds the floor of the last one.
        (0..2).for_each(|_| drop(q.next_batch()));
        assert!(q.next_batch().unwrap().expected_seconds() >= BOOT_WORTH * 1.5 - 1e-9);
        let q = Queue::new(suite, &[0, 0], tuning(None));
        let wave: f64 = q.planned.iter().map(Batch::expected_seconds).sum();
        assert!(q.remaining_seconds() - wave > 10.0, "{wave}");
    }

    #[test]
    fn forked_tail_batches_on_several_hosts_hold_an_even_share_of_what_is_left() {
        // 48 files of one size, no history, 4 slots: a first wave of 60 % (7 files a slot), then
        // a tail of 20 files cut into shares of what is left among the 4 slots.
        let tail = |tuning: Tuning| {
            let mut q = Queue::new(unknown(&[1.0; 48]), &[0; 4], tuning);
            drain_batches(&mut q).into_iter().skip(4).map(|b| b.len()).collect::<Vec<_>>()
        };
        assert_eq!(tail(Tuning::forked_on_hosts()), [5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(tail(Tuning::forked()), [2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    }
}
