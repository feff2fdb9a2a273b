//! Planning once: the first job of a build stores the plan (the files, longest first) and its
//! digest in one Lua script, so that no two jobs plan and no job sees half a plan; a job that
//! finds a plan of other files, another framework or another testbot refuses, naming the
//! difference.

use super::{ttl_seconds, Build, Error};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// What must be the same in every job of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanDigest {
    pub framework: String,
    /// testbot's version.
    pub version: String,
    /// Every file the job would run, sorted.
    pub files: Vec<String>,
}

impl PlanDigest {
    pub fn new(framework: &str, files: impl IntoIterator<Item = String>) -> PlanDigest {
        let files: BTreeSet<String> = files.into_iter().collect();
        PlanDigest { framework: framework.to_string(), version: env!("CARGO_PKG_VERSION").to_string(), files: files.into_iter().collect() }
    }

    /// The sha256 of the three, in hex.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(format!("{}\n{}\n", self.framework, self.version));
        for file in &self.files {
            hash.update(file.as_bytes());
            hash.update(b"\n");
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How `planned` (the build's) differs from this job's, in words (None: the same).
    pub fn difference(&self, planned: &PlanDigest) -> Option<String> {
        let mut words = Vec::new();
        if planned.framework != self.framework {
            words.push(format!("framework `{}` (this job's: `{}`)", planned.framework, self.framework));
        }
        if planned.version != self.version {
            words.push(format!("testbot {} (this job's: {})", planned.version, self.version));
        }
        let mine: BTreeSet<&String> = self.files.iter().collect();
        let theirs: BTreeSet<&String> = planned.files.iter().collect();
        let only_theirs: Vec<&String> = theirs.difference(&mine).copied().collect();
        let only_mine: Vec<&String> = mine.difference(&theirs).copied().collect();
        if !only_theirs.is_empty() {
            words.push(format!("{} that this job does not have ({})", crate::plural::plural(only_theirs.len(), "file", "files"), listed(&only_theirs)));
        }
        if !only_mine.is_empty() {
            words.push(format!("without {} that this job has ({})", crate::plural::plural(only_mine.len(), "file", "files"), listed(&only_mine)));
        }
        (!words.is_empty()).then(|| words.join(", "))
    }
}

/// The first few paths, then `…`.
fn listed(paths: &[&String]) -> String {
    let shown: Vec<&str> = paths.iter().take(5).map(|p| p.as_str()).collect();
    let more = if paths.len() > 5 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// Stores the plan unless the build has one; returns the plan there was (nil: this job's was
/// stored). KEYS: plan, pending, results, coverage, the coverage of the attempt a retry keeps
/// results from (the same key when none: a first attempt); ARGV: digest, framework, version,
/// files (one a line), entries (one a line: a file's path, or a piece's), ttl, the number of
/// results kept from the attempt before (a retry), those results (entry and JSON each), then the
/// entries in the order they are taken. A retry's plan takes the attempt before's coverage too
/// (its jobs' by their names, which are unique): the results it keeps were measured there, so
/// the report of the retry merges the whole suite's coverage. Run twice, the second run finds
/// the plan and changes nothing.
const STORE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'digest', 'framework', 'version', 'files')
end
if KEYS[5] ~= KEYS[4] then
  local before = redis.call('HGETALL', KEYS[5])
  for i = 1, #before, 2 do
    redis.call('HSET', KEYS[4], before[i], before[i + 1])
  end
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'framework', ARGV[2], 'version', ARGV[3], 'files', ARGV[4], 'entries', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
local first = 8 + 2 * tonumber(ARGV[7])
for i = 8, first - 1, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[3], ARGV[6])
for i = first, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
redis.call('EXPIRE', KEYS[2], ARGV[6])
return false
"#;

/// What a job plans: every entry (the first to take first), and a retry's results kept from the
/// attempt before (entry and JSON), whose entries are not queued.
#[derive(Clone, Debug, Default)]
pub struct Entries {
    pub all: Vec<String>,
    pub kept: Vec<(String, String)>,
    /// The attempt a retry keeps results (and coverage) from.
    pub from: Option<u32>,
}

/// The build's plan as this job found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// This job stored it.
    Planned,
    /// Another job had, with the same digest.
    Joined,
}

impl Build {
    /// Plans the build with `entries` (the files of `digest`, a long one as pieces), queueing
    /// those a retry did not keep, or joins the plan another job stored; a plan of other files,
    /// framework or testbot is refused.
    pub async fn plan(&self, digest: &PlanDigest, entries: &Entries) -> Result<Plan, Error> {
        let script = redis::Script::new(STORE);
        let mut invocation = script.key(self.key("plan"));
        invocation.key(self.key("pending")).key(self.key("results")).key(self.key("coverage"));
        invocation.key(entries.from.map_or_else(|| self.key("coverage"), |attempt| self.key_of(attempt, "coverage")));
        invocation.arg(digest.digest()).arg(&digest.framework).arg(&digest.version).arg(digest.files.join("\n"));
        invocation.arg(entries.all.join("\n")).arg(ttl_seconds()).arg(entries.kept.len());
        for (entry, json) in &entries.kept {
            invocation.arg(entry).arg(json);
        }
        let kept: std::collections::HashSet<&str> = entries.kept.iter().map(|(entry, _)| entry.as_str()).collect();
        for entry in entries.all.iter().filter(|e| !kept.contains(e.as_str())) {
            invocation.arg(entry);
        }
        let found: Option<(String, String, String, String)> = self.invoke("storing the plan", &invocation).await?;
        self.link.expect_plan(self.key("plan"));
        let Some((stored, framework, version, files)) = found else { return Ok(Plan::Planned) };
        if stored == digest.digest() {
            return Ok(Plan::Joined);
        }
        let planned = PlanDigest { framework, version, files: files.lines().map(str::to_string).filter(|f| !f.is_empty()).collect() };
        let difference = digest.difference(&planned).unwrap_or_else(|| format!("another plan (digest {:.12}…)", stored));
        Err(Error::OtherPlan { build: self.build_name(), difference })
    }

    /// The plan's files and framework (None: no job of the build has planned).
    pub async fn planned(&self) -> Result<Option<PlanDigest>, Error> {
        let mut read = redis::cmd("HMGET");
        read.arg(self.key("plan")).arg("framework").arg("version").arg("files");
        let found: (Option<String>, Option<String>, Option<String>) = self.query("reading the plan", &read).await?;
        let (Some(framework), Some(version), Some(files)) = found else { return Ok(None) };
        self.link.expect_plan(self.key("plan"));
        Ok(Some(PlanDigest { framework, version, files: files.lines().map(str::to_string).filter(|f| !f.is_empty()).collect() }))
    }

    /// The entries of attempt `attempt`'s plan (a file's path, or a piece's), in the order it
    /// queued them (none: it has no plan).
    pub async fn entries_of(&self, attempt: u32) -> Result<Vec<String>, Error> {
        let mut read = redis::cmd("HMGET");
        read.arg(self.key_of(attempt, "plan")).arg("entries").arg("files");
        let found: (Option<String>, Option<String>) = self.query("reading the plan", &read).await?;
        let lines = found.0.or(found.1).unwrap_or_default();
        Ok(lines.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    /// This attempt's entries.
    pub async fn entries(&self) -> Result<Vec<String>, Error> {
        self.entries_of(self.attempt).await
    }

    /// The build's id, as `--build-id` gave it.
    pub(super) fn build_name(&self) -> String {
        self.build.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(framework: &str, files: &[&str]) -> PlanDigest {
        PlanDigest::new(framework, files.iter().map(|f| f.to_string()))
    }

    #[test]
    fn one_digest_for_the_same_files_in_any_order_and_the_difference_named_otherwise() {
        let a = digest("rspec", &["spec/b_spec.rb", "spec/a_spec.rb"]);
        let b = digest("rspec", &["spec/a_spec.rb", "spec/b_spec.rb"]);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.difference(&b), None);
        let c = digest("rspec", &["spec/a_spec.rb", "spec/c_spec.rb"]);
        assert_ne!(a.digest(), c.digest());
        assert_eq!(
            a.difference(&c).unwrap(),
            "1 file that this job does not have (spec/c_spec.rb), without 1 file that this job has (spec/b_spec.rb)"
        );
        let m = digest("minitest", &["spec/a_spec.rb", "spec/b_spec.rb"]);
        assert_eq!(a.difference(&m).unwrap(), "framework `minitest` (this job's: `rspec`)");
    }
}
