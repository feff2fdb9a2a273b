//! `--queue URL --build-id ID`: the CI jobs of one build share one queue in Redis. The first
//! job to arrive stores the plan (every file, longest first); each job's slots then take the
//! next file as they free up, so a late or slow job simply takes less. Each file's report goes to
//! Redis when it is final, and `testbot report --queue` reads them back as one run.
//!
//! The keys (docs/queue.md), all under `testbot:{project}:{build}:{attempt}:` and all expiring:
//! `plan` (hash: digest, framework, version, files), `pending` (list: files not yet taken),
//! `jobs` (set: every job that joined), `reserved:{job}` (list: the files a job took and has no
//! result for yet), `alive:{job}` (a heartbeat that lapses when the job dies), `starts` (hash:
//! entry → times taken), `took:{job}` (the job's last take, answered again if run again),
//! `results` (hash: entry → its report, as the JSON report writes it) and `coverage` (hash: job
//! → its SimpleCov result; a retry's plan copies the attempt before's).
//! Beside the builds, the project's history (`history`): each file's seconds for the next plan.
//!
//! Redis I/O lives here, not in `schedule` (pure): the engine asks a `run::Source` for more
//! work, and `Pull` is the one that asks Redis.

mod connection;
mod coverage;
mod error;
mod history;
mod pieces;
mod plan;
mod pull;
mod results;
mod retry;

pub use connection::PATIENCE;
pub use coverage::coverage_in;
pub use error::Error;
pub use history::{combined, combined_examples, HISTORY_FILES, HISTORY_TTL};
pub use pieces::{entry_of, path_of, InFlight};
pub use plan::{Entries, Plan, PlanDigest};
pub use pull::{Heartbeat, Pull};
pub use results::Recorder;

use std::time::Duration;

/// Every key of a build expires this long after its last write.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What a job needs to join a build's queue: where Redis is and which build it is.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `redis://`, `rediss://` or `unix://`; never printed as given (see `redacted`).
    pub url: String,
    pub build: String,
    /// Which attempt of the build this is (1, or a retried CI job's; see `retry`).
    pub attempt: u32,
    /// The project's name in the keys, when given (`--queue-project`, `[queue] project`); else
    /// the name of the folder the job runs in.
    pub project: Option<String>,
    /// How long a lost Redis is tried again before the job gives up (`TESTBOT_QUEUE_PATIENCE`).
    pub patience: Duration,
}

/// A link to Redis for one build of one project, with its keys.
#[derive(Clone)]
pub struct Build {
    link: connection::Link,
    /// `testbot:{project}:`: the project's keys (its history), and its builds' below it.
    project: String,
    build: String,
    attempt: u32,
}

impl Build {
    /// Connects, trying again for the settings' patience while Redis is not there yet.
    pub async fn connect(settings: &Settings, project: &str) -> Result<Build, Error> {
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| Error::Url { url: redacted(&settings.url), reason: scrub(&e, &settings.url) })?;
        let link = connection::Link::new(client, &settings.url, &settings.build, settings.patience);
        let build = Build { link, project: format!("testbot:{project}:"), build: settings.build.clone(), attempt: settings.attempt };
        build.query::<()>("connecting", &redis::cmd("PING")).await?;
        Ok(build)
    }

    /// The key `name` of this attempt of the build: `testbot:{project}:{build}:{attempt}:{name}`.
    fn key(&self, name: &str) -> String {
        self.key_of(self.attempt, name)
    }

    /// The key `name` of attempt `attempt` of the build.
    fn key_of(&self, attempt: u32, name: &str) -> String {
        format!("{}{}:{attempt}:{name}", self.project, self.build)
    }

    /// One command, tried again while Redis is away (within the patience).
    async fn query<T: redis::FromRedisValue>(&self, doing: &'static str, cmd: &redis::Cmd) -> Result<T, Error> {
        self.link.call(doing, |mut con| async move { cmd.query_async(&mut con).await }).await
    }

    /// Commands sent together, tried again as one.
    async fn pipeline<T: redis::FromRedisValue>(&self, doing: &'static str, pipe: &redis::Pipeline) -> Result<T, Error> {
        self.link.call(doing, |mut con| async move { pipe.query_async(&mut con).await }).await
    }

    /// A Lua script, tried again as one: each script is safe to run twice (see its comment).
    async fn invoke<T: redis::FromRedisValue>(&self, doing: &'static str, script: &redis::ScriptInvocation<'_>) -> Result<T, Error> {
        self.link.call(doing, |mut con| async move { script.invoke_async(&mut con).await }).await
    }
}

fn ttl_seconds() -> u64 {
    KEY_TTL.as_secs()
}

/// The URL with its password replaced by `***` (`redis://user:***@host:6379/0`), as every
/// message shows it.
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    let userinfo = &rest[..at];
    let user = match userinfo.find(':') {
        Some(colon) => format!("{}:***", &userinfo[..colon]),
        // `redis://secret@host`: a lone word there may be a password too.
        None => "***".to_string(),
    };
    format!("{}{user}{}", &url[..scheme_end + 3], &rest[at..])
}

/// A client error's words, with the password taken out in case they quote the URL.
fn scrub(error: &redis::RedisError, url: &str) -> String {
    let words = error.to_string();
    match password_of(url) {
        Some(password) if !password.is_empty() => words.replace(password, "***"),
        _ => words,
    }
}

fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.find(':').map_or(userinfo, |colon| &userinfo[colon + 1..]))
}

/// A name for this job, unique in the build: its host, process and a random word.
pub fn job_name() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::getrandom(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{random}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_password_is_never_shown() {
        assert_eq!(redacted("redis://user:s3cret@127.0.0.1:6379/2"), "redis://user:***@127.0.0.1:6379/2");
        assert_eq!(redacted("rediss://:s3cret@cache.internal:6380"), "rediss://:***@cache.internal:6380");
        assert_eq!(redacted("redis://s3cret@host"), "redis://***@host");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("unix:///tmp/redis.sock"), "unix:///tmp/redis.sock");
        assert_eq!(password_of("redis://user:s3cret@host/0"), Some("s3cret"));
        assert_eq!(password_of("redis://host/0"), None);
    }
}
