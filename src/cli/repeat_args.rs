//! `--repeat`, `--shuffle-batches` and `--seed`: a run's selection run several times, its files
//! dealt into batches another way each time (docs/random-order.md).

use clap::Args;

#[derive(Debug, Args, Clone, Default)]
pub struct RepeatArgs {
    /// Run the selection N times, one full run after another, and end with which examples
    /// failed in which runs (flaky or order-dependent ones fail in some); with
    /// `--shuffle-batches` each run deals the files another way. See docs/random-order.md.
    #[arg(long, value_name = "N", value_parser = parse_repeat)]
    pub repeat: Option<usize>,
    /// Deal the files into batches at random from a seed (shown as the run starts): which files
    /// share a process, their order in it and which slot runs it change with the seed.
    #[arg(long)]
    pub shuffle_batches: bool,
    /// With `--shuffle-batches`: the seed to deal from (default: a new one each time), to deal a
    /// run (or a `--repeat`'s runs) again as before.
    #[arg(long, value_name = "N", requires = "shuffle_batches")]
    pub seed: Option<u64>,
}

/// `--repeat N`: at least one run.
fn parse_repeat(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (the number of times to run the selection)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number of runs")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_at_least_one_run_and_a_seed_needs_shuffled_batches() {
        use clap::Parser;
        assert_eq!(parse_repeat("5"), Ok(5));
        assert_eq!(parse_repeat("0"), Err("must be at least 1 (the number of times to run the selection)".into()));
        assert_eq!(parse_repeat("x"), Err("`x` is not a number of runs".into()));
        let parse = |args: &[&str]| crate::cli::Cli::try_parse_from([&["testbot"], args].concat());
        assert!(parse(&["--seed", "4"]).is_err());
        let run = parse(&["--repeat", "3", "--shuffle-batches", "--seed", "4"]).unwrap().run;
        assert_eq!((run.repeat.repeat, run.repeat.shuffle_batches, run.repeat.seed), (Some(3), true, Some(4)));
    }
}
