//! Example splitting across the jobs of a build: the plan holds a long file as pieces of its
//! examples, as a run's own plan would (`run::queue_jobs`), and each piece is an entry of the
//! build's queue of its own: taken, run and given a result as a unit, by any job. An entry is a
//! whole file's path, or a piece's `{path}\t{id},{id},…` (the framework's example ids).
//!
//! A job runs one piece of a file at a time (`InFlight`): the pieces of one file are of one
//! report when they are put back together, and a job's run holds back a file's report while its
//! failed examples run again by the file's path, so two pieces of one file in one job would be
//! taken for one. Its slots take the entries after a piece it has running instead, and the
//! other jobs take that piece (or this one, once its piece has its result).

use super::{ttl_seconds, Build, Error};
use crate::schedule::Job;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Between a piece's path and its example ids.
const SEPARATOR: char = '\t';

/// How far into `pending` a take looks for entries it may take past the ones it skips.
const LOOK_AHEAD: usize = 200;

/// The entry of `job` in the build's queue.
pub fn entry_of(job: &Job) -> String {
    if job.pieces > 1 && !job.examples.is_empty() {
        format!("{}{SEPARATOR}{}", job.path, job.examples.join(","))
    } else {
        job.path.clone()
    }
}

/// The file of an entry.
pub fn path_of(entry: &str) -> &str {
    entry.split(SEPARATOR).next().unwrap_or(entry)
}

/// A piece's example ids (None: a whole file).
fn ids_of(entry: &str) -> Option<Vec<String>> {
    let (_, ids) = entry.split_once(SEPARATOR)?;
    Some(ids.split(',').filter(|id| !id.is_empty()).map(str::to_string).collect())
}

/// The job that runs `entry`: this job's own, when it planned the same entry; else the file's
/// as this job knows it with the piece's examples.
pub(super) fn job_of(known: &HashMap<String, Job>, entry: &str) -> Job {
    if let Some(job) = known.get(entry) {
        return job.clone();
    }
    let path = path_of(entry);
    let mut job = known.get(path).cloned().unwrap_or_else(|| Job::new(path, 0.0));
    if let Some(ids) = ids_of(entry) {
        job.expected_seconds = 0.0;
        job.examples = ids;
        job.lines.clear();
        job.pieces = job.pieces.max(2);
    }
    job
}

/// The pieces a job has taken and has no result for: file → its entry.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<String, String>>>);

impl InFlight {
    /// The entry `path`'s report is the result of, when it is final: a piece's it took (and
    /// no longer holds), else the file's path.
    pub(super) fn finished(&self, path: &str) -> String {
        self.0.lock().expect("not poisoned").remove(path).unwrap_or_else(|| path.to_string())
    }

    fn add(&self, entry: &str) {
        if ids_of(entry).is_some() {
            self.0.lock().expect("not poisoned").insert(path_of(entry).to_string(), entry.to_string());
        }
    }

    fn files(&self) -> Vec<String> {
        self.0.lock().expect("not poisoned").keys().cloned().collect()
    }
}

/// Moves up to ARGV[1] entries from pending to this job's reserved list, counting each entry's
/// takes, past the pieces of files named in ARGV[5…] (and one piece of a file at most). KEYS:
/// pending, reserved, starts, took; ARGV: n, ttl, look-ahead, this take's number, files. Returns
/// {entry, takes} for each. The answer is kept in `took` with the take's number: the same take
/// run again (its reply was lost with the connection) answers the same instead of taking more.
const TAKE: &str = r#"
local last = redis.call('GET', KEYS[4])
if last then
  local newline = string.find(last, '\n', 1, true)
  if string.sub(last, 1, newline - 1) == ARGV[4] then
    return cjson.decode(string.sub(last, newline + 1))
  end
end
local skip = {}
for i = 5, #ARGV do skip[ARGV[i]] = true end
local wanted = tonumber(ARGV[1])
local taken = {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, wanted + tonumber(ARGV[3]))) do
  if #taken >= wanted then break end
  local tab = string.find(entry, '\t', 1, true)
  local file = tab and string.sub(entry, 1, tab - 1)
  if not (file and skip[file]) then
    redis.call('LREM', KEYS[1], 1, entry)
    redis.call('RPUSH', KEYS[2], entry)
    table.insert(taken, {entry, redis.call('HINCRBY', KEYS[3], entry, 1)})
    if file then skip[file] = true end
  end
end
redis.call('SET', KEYS[4], ARGV[4] .. '\n' .. cjson.encode(taken), 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return taken
"#;

impl Build {
    /// Up to `wanted` entries into `job`'s reservation, none a second piece of a file it runs;
    /// `number`: the job's count of its takes (the same take run again answers the same).
    pub(super) async fn take(&self, job: &str, wanted: usize, number: u64, in_flight: &InFlight) -> Result<Vec<(String, i64)>, Error> {
        let script = redis::Script::new(TAKE);
        let mut invocation = script.key(self.key("pending"));
        invocation.key(self.key(&format!("reserved:{job}"))).key(self.key("starts")).key(self.key(&format!("took:{job}")));
        invocation.arg(wanted).arg(ttl_seconds()).arg(LOOK_AHEAD).arg(number);
        for file in in_flight.files() {
            invocation.arg(file);
        }
        let taken: Vec<(String, i64)> = self.invoke("taking files", &invocation).await?;
        for (entry, _) in &taken {
            in_flight.add(entry);
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_is_its_file_and_its_ids_and_a_whole_file_its_path() {
        let mut piece = Job::new("spec/big_spec.rb", 2.0);
        piece.examples = vec!["1:1".into(), "1:3".into()];
        piece.pieces = 2;
        let entry = entry_of(&piece);
        assert_eq!(entry, "spec/big_spec.rb\t1:1,1:3");
        assert_eq!(path_of(&entry), "spec/big_spec.rb");
        // A part of a file asked for on the command line is a whole entry: it is not split.
        let mut part = Job::new("spec/a_spec.rb", 1.0);
        part.examples = vec!["1:2".into()];
        assert_eq!(entry_of(&part), "spec/a_spec.rb");
        assert_eq!(path_of("spec/a_spec.rb"), "spec/a_spec.rb");
    }

    #[test]
    fn a_piece_another_job_planned_runs_its_examples_of_the_file_this_job_knows() {
        let mut known = HashMap::new();
        let mut whole = Job::new("spec/big_spec.rb", 4.0);
        whole.group = crate::schedule::Group::Named(1);
        known.insert("spec/big_spec.rb".to_string(), whole);
        let job = job_of(&known, "spec/big_spec.rb\t1:2,1:4");
        assert_eq!((job.path.as_str(), job.examples.clone(), job.pieces, job.group), ("spec/big_spec.rb", vec!["1:2".to_string(), "1:4".to_string()], 2, crate::schedule::Group::Named(1)));
        assert_eq!(job_of(&known, "spec/other_spec.rb").path, "spec/other_spec.rb");
    }

    #[test]
    fn a_job_holds_one_piece_of_a_file_until_its_result() {
        let in_flight = InFlight::default();
        in_flight.add("spec/a_spec.rb");
        in_flight.add("spec/big_spec.rb\t1:1");
        assert_eq!(in_flight.files(), ["spec/big_spec.rb"]);
        assert_eq!(in_flight.finished("spec/big_spec.rb"), "spec/big_spec.rb\t1:1");
        assert_eq!(in_flight.finished("spec/big_spec.rb"), "spec/big_spec.rb");
        assert!(in_flight.files().is_empty());
    }
}
