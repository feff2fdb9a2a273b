//! The queue's tuning knobs: their defaults (a Ruby boot a batch, or forked batches), and
//! `TESTBOT_TUNING`'s overrides of them for tests and benchmarks.

/// Tuning knobs; the defaults are what the benchmarks in docs/benchmarks.md were run with.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// The first wave (one batch a slot, balanced longest-processing-time-first) takes all but
    /// a tail of the expected work, handed out as slots free up: this share of it when nothing
    /// is known, shrinking to nothing as the runtime history covers the suite. Each tail batch
    /// boots another runner, and with a full history the plan is already right; see
    /// docs/benchmarks.md for the figures behind this.
    pub tail_share: f64,
    /// After the first wave a batch holds at most remaining ÷ (slots × this) expected seconds.
    /// Larger values balance the tail better but start more runner processes (each costs
    /// Ruby's start-up).
    pub split_factor: f64,
    /// …but at least this many seconds, when the estimates are in seconds (from the history).
    pub min_batch_seconds: f64,
    /// And never more files than this, so one crash cannot take much with it.
    pub max_batch_files: usize,
    /// Seconds a runner takes to boot before its first example. The run layer boots at most one
    /// runner a core at once on each host (see `boot_order`); with seconds estimates, the first
    /// wave gives the slots that boot later less work, so that all finish together.
    pub boot_seconds: f64,
    /// Whether a tail batch is held to an even share of what is left (remaining ÷ slots) even
    /// when the floors ask for more. The boot floor is converted into the estimates' units by
    /// what finished files took, which can be far off for the files still queued (near-instant
    /// files before slow ones): without the cap one slot can take a whole group of slow files
    /// while the others idle. Forked batches cost tens of milliseconds, so the cap costs little
    /// there; with a Ruby boot a batch, the floor keeps the tail coarse.
    pub even_tail: bool,
    /// The median boot the runtime history kept from the last run (`History::boot`): until this
    /// run measures one, tail batches are sized for it, and a heavy one (`HEAVY_BOOT`) shapes
    /// the first wave (see `Queue::with_jobs`). Not a knob: the history's.
    pub last_boot: Option<f64>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            tail_share: 0.25,
            split_factor: 1.0,
            min_batch_seconds: 0.5,
            max_batch_files: 200,
            boot_seconds: 0.3,
            even_tail: false,
            last_boot: None,
        }
    }
}

impl Tuning {
    /// When every batch is forked from a fork server: a batch costs a fork and a small client
    /// (tens of milliseconds, not a Ruby boot), so the tail is cut finer, down to single files,
    /// and with no history it is larger (40 %): the file sizes that plan the first wave misjudge
    /// a long file, and the other slots make up for it (docs/benchmarks.md has the figures).
    pub fn forked() -> Tuning {
        Tuning { tail_share: 0.4, split_factor: 2.0, min_batch_seconds: 0.1, boot_seconds: 0.05, even_tail: true, ..Tuning::default() }
    }

    /// Forked batches on several hosts (SSH): as `Tuning::forked`, but a tail batch holds an even
    /// share of what is left (`split_factor` 1, not 2). Over SSH a batch costs more than a local
    /// fork (a request on the slot's session, its events back, the hosts' Rubies sharing cores):
    /// in `bench/ssh.sh 200 80` half as many tail batches took 0.92-0.95 × the first run's
    /// makespan, the slots idling as long at the end (docs/benchmarks.md, session 29).
    pub fn forked_on_hosts() -> Tuning {
        Tuning { split_factor: 1.0, ..Tuning::forked() }
    }
}

/// A `TESTBOT_TUNING` that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TuningError(String);

/// The knobs a `TESTBOT_TUNING` sets (each held to its range), to put over the defaults the run
/// picks once it knows whether its batches fork: a knob for tests and benchmarks, not a user
/// setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TuningOverrides {
    tail_share: Option<f64>,
    split_factor: Option<f64>,
    min_batch_seconds: Option<f64>,
    max_batch_files: Option<usize>,
    boot_seconds: Option<f64>,
}

impl TuningOverrides {
    /// `tail_share=0.3,split_factor=2`: a later key wins over an earlier one.
    pub fn parse(spec: &str) -> Result<TuningOverrides, TuningError> {
        let mut o = TuningOverrides::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| TuningError(format!("`{part}` is not key=value")))?;
            let num: f64 = value.parse().map_err(|_| TuningError(format!("`{value}` is not a number")))?;
            match key {
                "tail_share" => o.tail_share = Some(num.clamp(0.0, 1.0)),
                "split_factor" => o.split_factor = Some(num.max(0.1)),
                "min_batch_seconds" => o.min_batch_seconds = Some(num.max(0.0)),
                "max_batch_files" => o.max_batch_files = Some((num as usize).max(1)),
                "boot_seconds" => o.boot_seconds = Some(num.max(0.0)),
                _ => return Err(TuningError(format!("unknown tuning key `{key}`"))),
            }
        }
        Ok(o)
    }

    /// `defaults` with the knobs set here.
    pub fn over(&self, defaults: Tuning) -> Tuning {
        Tuning {
            tail_share: self.tail_share.unwrap_or(defaults.tail_share),
            split_factor: self.split_factor.unwrap_or(defaults.split_factor),
            min_batch_seconds: self.min_batch_seconds.unwrap_or(defaults.min_batch_seconds),
            max_batch_files: self.max_batch_files.unwrap_or(defaults.max_batch_files),
            boot_seconds: self.boot_seconds.unwrap_or(defaults.boot_seconds),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_parses_over_the_defaults_and_keeps_knobs_in_range() {
        let t = TuningOverrides::parse(" tail_share=0.3, split_factor=2,,min_batch_seconds=1.5,max_batch_files=7,boot_seconds=0.2 ").unwrap().over(Tuning::default());
        assert_eq!((t.tail_share, t.split_factor, t.min_batch_seconds, t.max_batch_files, t.boot_seconds), (0.3, 2.0, 1.5, 7, 0.2));
        let t = TuningOverrides::parse("tail_share=1.5,split_factor=0.01,min_batch_seconds=-1,max_batch_files=0.5,boot_seconds=-2").unwrap().over(Tuning::forked());
        assert_eq!((t.tail_share, t.split_factor, t.min_batch_seconds, t.max_batch_files, t.boot_seconds), (1.0, 0.1, 0.0, 1, 0.0));
        let t = TuningOverrides::parse("tail_share=-0.5").unwrap().over(Tuning::forked());
        assert_eq!((t.tail_share, t.split_factor, t.min_batch_seconds, t.boot_seconds), (0.0, 2.0, 0.1, 0.05));
        let t = TuningOverrides::parse("").unwrap().over(Tuning::default());
        assert_eq!((t.tail_share, t.split_factor, t.min_batch_seconds, t.max_batch_files, t.boot_seconds), (0.25, 1.0, 0.5, 200, 0.3));
        let error = |spec: &str| TuningOverrides::parse(spec).unwrap_err().to_string();
        assert_eq!(error("tail_share"), "`tail_share` is not key=value");
        assert_eq!(error("tail_share=lots"), "`lots` is not a number");
        assert_eq!(error("tail_shares=1"), "unknown tuning key `tail_shares`");
    }

    #[test]
    fn a_later_knob_wins_and_none_leaves_the_defaults() {
        let t = TuningOverrides::parse("tail_share=0.1,tail_share=0.2").unwrap().over(Tuning::default());
        assert_eq!(t.tail_share, 0.2);
        assert_eq!(TuningOverrides::default().over(Tuning::forked()).split_factor, Tuning::forked().split_factor);
        assert!(TuningOverrides::default().over(Tuning::forked()).even_tail, "not a knob: the defaults' own");
        let hosts = TuningOverrides::default().over(Tuning::forked_on_hosts());
        assert_eq!((hosts.split_factor, hosts.tail_share, hosts.even_tail), (1.0, 0.4, true));
    }
}
