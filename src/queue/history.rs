//! History without caches: every file a job of any build runs cleanly leaves its seconds in the
//! project's history in Redis (`testbot:{project}:history`, beside its builds), so the next
//! build's planner orders its files longest first with no runtime log restored from a CI cache.
//!
//! Each job writes its own files' times as they finish (a build needs no report job for it).
//! The history is bounded: at most `HISTORY_FILES` files (those written longest ago go first, by
//! `history:written`, a sorted set of each file's last write) and it expires `HISTORY_TTL` after
//! its last write. A job's local runtime log (`--runtime-log`) is read too: the shared history
//! goes first for the files it has, the local one fills in the rest (`combined`); and a job writes
//! the history it ends with into its local runtime log, for a CI cache step that keeps one.
//!
//! A long file (one worth splitting one day, as the examples log keeps) leaves its examples'
//! ids and times too (`history:examples`, with the hash of the file's contents), so the next
//! build splits it by example across its jobs with no examples log restored either. A file run
//! in pieces leaves neither: a piece's time is not its file's.

use super::{Build, Error};
use crate::history::examples_log;
use crate::schedule::History;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The project's history expires this long after its last write.
pub const HISTORY_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// At most this many files are kept; past it, those written longest ago are dropped.
pub const HISTORY_FILES: usize = 20_000;

/// Sets a file's seconds (and its examples, when given) and its time of writing, drops the files
/// written longest ago past the bound, and renews the keys' expiry. KEYS: history, written,
/// examples; ARGV: now, bound, ttl, path, seconds, examples (JSON, or empty).
const REMEMBER: &str = r#"
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if over > 0 then
  for _, file in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], file)
    redis.call('HDEL', KEYS[3], file)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 1
"#;

impl Build {
    /// The project's key `name` (not a build's).
    fn project_key(&self, name: &str) -> String {
        format!("{}{name}", self.project)
    }

    /// A file's seconds, and its examples' when it is long (to split it), into the project's
    /// history.
    pub(super) async fn remember(&self, path: &str, seconds: f64, examples: Option<&examples_log::Entry>) -> Result<(), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let examples = examples.map(|e| serde_json::to_string(e).expect("an entry serializes")).unwrap_or_default();
        let script = redis::Script::new(REMEMBER);
        let mut invocation = script.key(self.project_key("history"));
        invocation.key(self.project_key("history:written")).key(self.project_key("history:examples"));
        invocation.arg(now).arg(HISTORY_FILES).arg(HISTORY_TTL.as_secs()).arg(path).arg(format!("{seconds:.4}")).arg(examples);
        self.invoke::<i64>("writing the project's history", &invocation).await?;
        Ok(())
    }

    /// The project's history as the builds before left it (empty: none yet).
    pub async fn history(&self) -> Result<Vec<(String, f64)>, Error> {
        let entries: Vec<(String, String)> = self.query("reading the project's history", redis::cmd("HGETALL").arg(self.project_key("history"))).await?;
        Ok(parsed(entries))
    }

    /// The long files' examples as the builds before left them (what splits a file in pieces).
    pub async fn examples_history(&self) -> Result<examples_log::Log, Error> {
        let read = redis::cmd("HGETALL").arg(self.project_key("history:examples")).clone();
        let entries: Vec<(String, String)> = self.query("reading the project's history", &read).await?;
        Ok(entries.into_iter().filter_map(|(path, json)| Some((path, serde_json::from_str(&json).ok()?))).collect())
    }
}

/// The entries that read as seconds (a value that does not is skipped, as a runtime log's line).
fn parsed(entries: Vec<(String, String)>) -> Vec<(String, f64)> {
    entries.into_iter().filter_map(|(path, s)| s.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(|s| (path, s))).collect()
}

/// What a job plans from: its local runtime history with the shared one laid over it (the
/// shared one is what the latest builds measured; a local log is a cache at best as fresh).
pub fn combined(local: History, shared: Vec<(String, f64)>) -> History {
    let mut history = local;
    history.merge(shared);
    history
}

/// The long files' examples a job splits them by: the shared ones over its local examples log.
pub fn combined_examples(local: examples_log::Log, shared: examples_log::Log) -> examples_log::Log {
    let mut log = local;
    log.extend(shared);
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_history_goes_first_and_the_local_one_fills_in() {
        let local = History::parse("spec/a_spec.rb:1.0\nspec/b_spec.rb:2.0\n");
        let shared = parsed(vec![("spec/b_spec.rb".into(), "5.5".into()), ("spec/c_spec.rb".into(), "0.25".into()), ("spec/d_spec.rb".into(), "x".into())]);
        let history = combined(local, shared);
        assert_eq!(history.render(), "spec/a_spec.rb:1.0000\nspec/b_spec.rb:5.5000\nspec/c_spec.rb:0.2500\n");
        assert_eq!(combined(History::default(), Vec::new()), History::default());
    }

    #[test]
    fn values_that_are_not_seconds_are_skipped() {
        let entries = vec![("a".into(), "-1".into()), ("b".into(), "inf".into()), ("c".into(), "NaN".into()), ("d".into(), "3".into())];
        assert_eq!(parsed(entries), vec![("d".to_string(), 3.0)]);
    }
}
