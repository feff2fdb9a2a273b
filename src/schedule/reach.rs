//! How many batches one slot can get in a run: whether a server that saves each batch after the
//! first its boot (a fork server) can pay for itself there.

/// The most batches one slot can be planned in a run of `jobs` jobs on at least `slots` slots,
/// retries and requeues aside: one while every job can have a slot of its own (each slot then
/// runs at most its first batch), else one plus what the other slots leave it; none without a job.
pub fn batches_a_slot(jobs: usize, slots: usize) -> usize {
    let slots = slots.max(1);
    if jobs <= slots {
        jobs.min(1)
    } else {
        jobs - slots + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_gets_one_batch_while_every_job_has_a_slot_of_its_own() {
        assert_eq!(batches_a_slot(0, 4), 0);
        assert_eq!(batches_a_slot(1, 16), 1);
        assert_eq!(batches_a_slot(16, 16), 1);
        assert_eq!(batches_a_slot(17, 16), 2);
        assert_eq!(batches_a_slot(5, 0), 5, "no slot known counts as one");
        assert_eq!(batches_a_slot(200, 16), 185);
    }
}
