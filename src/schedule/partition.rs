//! `--partition K/N`: a deterministic share of the suite for one of N CI jobs.

use super::FileEstimate;

/// Every share of `n`, each the indices into `files` of its files in ascending order: longest
/// expected first, each to the share with the least expected time so far (ties to the lower
/// share). The same files and estimates give the same plan in every job, so the N shares
/// together hold every file exactly once, and are about equally long.
pub fn plan(files: &[FileEstimate], n: usize) -> Vec<Vec<usize>> {
    assert!(n >= 1, "partition into {n} shares");
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[b].seconds.total_cmp(&files[a].seconds).then_with(|| files[a].path.cmp(&files[b].path)));
    let mut load = vec![0.0f64; n];
    let mut shares = vec![Vec::new(); n];
    for i in order {
        let share = (0..n).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).expect("n >= 1");
        load[share] += files[i].seconds;
        shares[share].push(i);
    }
    for share in &mut shares {
        share.sort_unstable();
    }
    shares
}

/// Which files (by index into `files`) share `k` of `n` (1-based) runs: its part of [`plan`].
pub fn partition(files: &[FileEstimate], k: usize, n: usize) -> Vec<usize> {
    assert!(n >= 1 && (1..=n).contains(&k), "partition {k}/{n}");
    plan(files, n).swap_remove(k - 1)
}

/// What the plan was made from — every file with its estimate, and `n` — as a hex SHA-256:
/// two jobs with the same digest made the same plan. `report merge` compares it across shares.
pub fn digest(files: &[FileEstimate], n: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(format!("testbot partition v1\n{n}\n"));
    for f in files {
        // The exact bits: a plan turns on comparisons of these numbers.
        hash.update(format!("{}\t{:016x}\n", f.path, f.seconds.to_bits()));
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Share `index` of `count` (1-based) as a run records it: the whole plan, by path, and the
/// digest of what it was made from, so that `report merge` can tell that every share is there
/// and that all were cut from the same plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub count: usize,
    pub plan: Vec<Vec<String>>,
    pub digest: String,
}

impl Share {
    /// Share `k` of `n` of `files`, with the whole plan.
    pub fn of(files: &[FileEstimate], k: usize, n: usize) -> Share {
        assert!(n >= 1 && (1..=n).contains(&k), "partition {k}/{n}");
        let plan = plan(files, n).into_iter().map(|share| share.into_iter().map(|i| files[i].path.clone()).collect()).collect();
        Share { index: k, count: n, plan, digest: digest(files, n) }
    }

    /// This share's files.
    pub fn files(&self) -> &[String] {
        &self.plan[self.index - 1]
    }
}

/// `K/N` as given on the command line.
pub fn parse(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text.split_once('/').ok_or_else(|| format!("`{text}` is not K/N (e.g. 1/4)"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("`{text}`: K must be a whole number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("`{text}`: N must be a whole number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("`{text}`: K must be from 1 to N (e.g. 1/4 … 4/4)"));
    }
    Ok((k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(secs: &[f64]) -> Vec<FileEstimate> {
        secs.iter().enumerate().map(|(i, s)| FileEstimate { path: format!("spec/f{i:03}_spec.rb"), seconds: *s, known: true }).collect()
    }

    #[test]
    fn shares_cover_every_file_once_and_balance() {
        let files = est(&[5.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5]);
        let mut all: Vec<usize> = Vec::new();
        let mut loads = Vec::new();
        for k in 1..=3 {
            let share = partition(&files, k, 3);
            loads.push(share.iter().map(|&i| files[i].seconds).sum::<f64>());
            all.extend(share);
        }
        all.sort_unstable();
        assert_eq!(all, (0..files.len()).collect::<Vec<_>>());
        let (max, min) = (loads.iter().cloned().fold(0.0, f64::max), loads.iter().cloned().fold(f64::MAX, f64::min));
        assert!(max - min <= 1.0, "{loads:?}");
        assert_eq!(partition(&files, 2, 3), partition(&files, 2, 3), "deterministic");
    }

    #[test]
    fn more_shares_than_files_leaves_some_empty() {
        let files = est(&[1.0, 1.0]);
        assert_eq!(partition(&files, 1, 3), [0]);
        assert_eq!(partition(&files, 2, 3), [1]);
        assert!(partition(&files, 3, 3).is_empty());
    }

    #[test]
    fn the_plan_holds_every_share_and_each_share_is_its_part() {
        let files = est(&[5.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0]);
        let plan = plan(&files, 3);
        assert_eq!(plan, vec![vec![0, 5], vec![1, 4, 6], vec![2, 3]]);
        for k in 1..=3 {
            assert_eq!(partition(&files, k, 3), plan[k - 1]);
        }
    }

    #[test]
    fn the_digest_changes_with_any_input() {
        let files = est(&[5.0, 4.0, 3.0]);
        let d = digest(&files, 2);
        assert_eq!(d.len(), 64);
        assert_eq!(d, digest(&est(&[5.0, 4.0, 3.0]), 2), "deterministic");
        assert_ne!(d, digest(&files, 3), "another N");
        assert_ne!(d, digest(&est(&[5.0, 4.0, 3.5]), 2), "another estimate");
        assert_ne!(d, digest(&files[..2], 2), "a file fewer");
    }

    #[test]
    fn parse_checks_the_range() {
        assert_eq!(parse("2/4"), Ok((2, 4)));
        assert!(parse("0/4").unwrap_err().contains("K must be from 1 to N"));
        assert!(parse("5/4").is_err());
        assert_eq!(parse("4/4"), Ok((4, 4)), "the last share");
        assert!(parse("1/0").unwrap_err().contains("K must be from 1 to N"));
        assert!(parse("2").unwrap_err().contains("is not K/N"));
    }

    #[test]
    fn a_share_records_the_whole_plan_and_its_own_files() {
        let files = est(&[5.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0]);
        let share = Share::of(&files, 2, 3);
        let path = |i: usize| format!("spec/f{i:03}_spec.rb");
        assert_eq!((share.index, share.count, share.digest.as_str()), (2, 3, digest(&files, 3).as_str()));
        assert_eq!(share.plan, vec![vec![path(0), path(5)], vec![path(1), path(4), path(6)], vec![path(2), path(3)]]);
        assert_eq!(share.files(), [path(1), path(4), path(6)]);
        assert_eq!(Share::of(&files, 3, 3).files(), [path(2), path(3)]);
    }
}
