//! `--partition K/N`: a deterministic share of the suite for one of N CI jobs.

use super::FileEstimate;

/// Which files (by index into `files`) share `k` of `n` (1-based) runs: longest expected first,
/// each to the share with the least expected time so far (ties to the lower share). The same
/// files and estimates give the same shares in every job, so the N shares together hold every
/// file exactly once, and are about equally long.
pub fn partition(files: &[FileEstimate], k: usize, n: usize) -> Vec<usize> {
    assert!(n >= 1 && (1..=n).contains(&k), "partition {k}/{n}");
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[b].seconds.total_cmp(&files[a].seconds).then_with(|| files[a].path.cmp(&files[b].path)));
    let mut load = vec![0.0f64; n];
    let mut mine = Vec::new();
    for i in order {
        let share = (0..n).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).expect("n >= 1");
        load[share] += files[i].seconds;
        if share == k - 1 {
            mine.push(i);
        }
    }
    mine.sort_unstable();
    mine
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
    fn parse_checks_the_range() {
        assert_eq!(parse("2/4"), Ok((2, 4)));
        assert!(parse("0/4").unwrap_err().contains("K must be from 1 to N"));
        assert!(parse("5/4").is_err());
        assert!(parse("2").unwrap_err().contains("is not K/N"));
    }
}
