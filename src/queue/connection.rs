//! A job's link to Redis. Every call goes through `Link::call`: when the connection is lost
//! (Redis restarting, a network blip) it reconnects and tries again with backoff, for at most the
//! link's patience (`TESTBOT_QUEUE_PATIENCE`, 30 s by default) counted from the first failure of
//! the outage, whichever call saw it. Past that the link is lost for good: that call and every
//! later one fail at once (`Error::Lost`), and the job stops. A Redis that comes back without the
//! build's plan (restarted without persistence) is `Error::Gone`: what is left of the build is
//! unknown, so no job may carry on as if it knew.

use super::Error;
use redis::aio::MultiplexedConnection;
use redis::RetryMethod;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a job tries again before it gives Redis up, unless `TESTBOT_QUEUE_PATIENCE` says.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The first wait after a failed call; each next one doubles, up to `LONGEST_WAIT`.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(2);

/// One outage's bookkeeping, shared by every call of the job (pure: the clock is given).
#[derive(Debug)]
struct Outage {
    patience: Duration,
    /// The first failure of the outage under way.
    since: Option<Instant>,
    waits: u32,
    /// Why the link was given up, once it was.
    ended: Option<Ended>,
}

#[derive(Clone, Debug, PartialEq)]
enum Ended {
    Lost { waited: Duration, reason: String },
    Gone,
}

impl Outage {
    fn new(patience: Duration) -> Outage {
        Outage { patience, since: None, waits: 0, ended: None }
    }

    /// A call failed at `now`: how long to wait before the next try, or None when the patience
    /// is spent (the link is then lost, for every call after this one too).
    fn failed(&mut self, now: Instant, reason: &str) -> Option<Duration> {
        if self.ended.is_some() {
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let deadline = since + self.patience;
        if now >= deadline {
            self.ended = Some(Ended::Lost { waited: now - since, reason: reason.to_string() });
            return None;
        }
        let wait = FIRST_WAIT.saturating_mul(1 << self.waits.min(5)).min(LONGEST_WAIT).min(deadline - now);
        self.waits += 1;
        Some(wait)
    }

    /// A call was answered: the outage, if any, is over.
    fn answered(&mut self) {
        self.since = None;
        self.waits = 0;
    }
}

/// The connection in use, and how many there have been (a failed call drops only the one it used).
#[derive(Default)]
struct Current {
    con: Option<MultiplexedConnection>,
    generation: u64,
}

struct Inner {
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    /// The URL as given (its password is taken out of every message) and as shown.
    url: String,
    shown_url: String,
    build: String,
    current: tokio::sync::Mutex<Current>,
    outage: Mutex<Outage>,
    /// The plan's key, once the job has seen the plan: a Redis that came back must still have it.
    plan_key: OnceLock<String>,
}

/// What a failed try means.
enum Failure {
    /// Try again (after a wait): the connection or the server is not there for now.
    Retry(redis::RedisError),
    /// No use trying again: Redis said no.
    Refused(redis::RedisError),
    /// The link was given up (now or before).
    Ended(Error),
}

/// A shared handle on the job's connection to Redis (clones share it and its outage).
#[derive(Clone)]
pub(super) struct Link(Arc<Inner>);

impl Link {
    /// A link to `url` (not connected yet: the first call connects). `shown_url` is the URL
    /// without its password.
    pub(super) fn new(client: redis::Client, url: &str, build: &str, patience: Duration) -> Link {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(patience.min(Duration::from_secs(10))))
            .set_response_timeout(Some(Duration::from_secs(30)));
        Link(Arc::new(Inner {
            client,
            config,
            url: url.to_string(),
            shown_url: super::redacted(url),
            build: build.to_string(),
            current: tokio::sync::Mutex::new(Current::default()),
            outage: Mutex::new(Outage::new(patience)),
            plan_key: OnceLock::new(),
        }))
    }

    /// From now on, a Redis that comes back must still have the build's plan under `key`.
    pub(super) fn expect_plan(&self, key: String) {
        let _ = self.0.plan_key.set(key);
    }

    /// `f` on the connection, tried again on a lost connection until it answers or the
    /// patience is spent.
    pub(super) async fn call<T, F, Fut>(&self, doing: &'static str, mut f: F) -> Result<T, Error>
    where
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        loop {
            let failure = match self.connection(doing).await {
                Ok((generation, con)) => match f(con).await {
                    Ok(value) => {
                        self.outage().answered();
                        return Ok(value);
                    }
                    Err(e) => match classify(e) {
                        Failure::Retry(e) => {
                            self.forget(generation).await;
                            Failure::Retry(e)
                        }
                        failure => failure,
                    },
                },
                Err(failure) => failure,
            };
            let error = match failure {
                Failure::Ended(error) => return Err(error),
                Failure::Refused(e) => return Err(Error::Redis { url: self.0.shown_url.clone(), doing, reason: super::scrub(&e, &self.0.url) }),
                Failure::Retry(error) => error,
            };
            let reason = super::scrub(&error, &self.0.url);
            let (first, wait) = {
                let mut outage = self.outage();
                (outage.since.is_none(), outage.failed(Instant::now(), &reason))
            };
            match wait {
                Some(wait) => {
                    if first {
                        tracing::warn!(doing, "the queue's Redis did not answer ({reason}); trying again for up to {:?}", self.outage().patience);
                    }
                    tokio::time::sleep(wait).await;
                }
                None => return Err(self.ended_error(doing)),
            }
        }
    }

    /// The connection in use, or a new one (which must still hold the build's plan, once the
    /// job has seen it).
    async fn connection(&self, doing: &'static str) -> Result<(u64, MultiplexedConnection), Failure> {
        if self.outage().ended.is_some() {
            return Err(Failure::Ended(self.ended_error(doing)));
        }
        let mut current = self.0.current.lock().await;
        if let Some(con) = &current.con {
            return Ok((current.generation, con.clone()));
        }
        let connected = self.0.client.get_multiplexed_async_connection_with_config(&self.0.config).await;
        let con = connected.map_err(|e| match classify(e) {
            Failure::Refused(e) => Failure::Ended(Error::Connect { url: self.0.shown_url.clone(), reason: super::scrub(&e, &self.0.url) }),
            failure => failure,
        })?;
        if let Some(key) = self.0.plan_key.get() {
            let exists: i64 = redis::cmd("EXISTS").arg(key).query_async(&mut con.clone()).await.map_err(classify)?;
            if exists == 0 {
                self.outage().ended = Some(Ended::Gone);
                return Err(Failure::Ended(self.ended_error(doing)));
            }
        }
        current.generation += 1;
        current.con = Some(con.clone());
        Ok((current.generation, con))
    }

    /// A call on connection `generation` failed: the next call connects anew (unless another
    /// call already did).
    async fn forget(&self, generation: u64) {
        let mut current = self.0.current.lock().await;
        if current.generation == generation {
            current.con = None;
        }
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.0.outage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Why the link was given up, as the error of a call `doing` something.
    fn ended_error(&self, doing: &'static str) -> Error {
        let url = self.0.shown_url.clone();
        match self.outage().ended.clone() {
            Some(Ended::Gone) => Error::Gone { url, build: self.0.build.clone() },
            Some(Ended::Lost { waited, reason }) => Error::Lost { url, doing, waited: waited.as_secs_f64(), reason },
            None => Error::Lost { url, doing, waited: 0.0, reason: "no answer".into() },
        }
    }
}

/// Whether a failed call is worth trying again: a lost or refused connection, a timeout, a
/// Redis still loading its data. Not: a wrong password, a certificate not trusted (TLS), a
/// script's error, a wrong reply.
fn classify(error: redis::RedisError) -> Failure {
    let again = matches!(error.retry_method(), RetryMethod::Reconnect | RetryMethod::RetryImmediately | RetryMethod::WaitAndRetry);
    // The client keeps an I/O error as an `Arc<dyn Error>`, which `source` gives as it is.
    let inner = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>());
    let io = inner.and_then(|e| e.downcast_ref::<std::io::Error>());
    let untrusted = io.is_some_and(|e| e.kind() == std::io::ErrorKind::InvalidData);
    if again && !untrusted && error.kind() != redis::ErrorKind::AuthenticationFailed {
        Failure::Retry(error)
    } else {
        Failure::Refused(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_waits_longer_each_time_and_is_given_up_once_the_patience_is_spent() {
        let start = Instant::now();
        let mut outage = Outage::new(Duration::from_secs(5));
        let waits: Vec<Duration> = (0..6).map(|k| outage.failed(start + Duration::from_millis(k * 10), "refused").unwrap()).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000]);
        // The last wait ends at the deadline, never past it.
        assert_eq!(outage.failed(start + Duration::from_millis(4500), "refused"), Some(Duration::from_millis(500)));
        assert_eq!(outage.failed(start + Duration::from_secs(5), "refused"), None);
        assert_eq!(outage.ended, Some(Ended::Lost { waited: Duration::from_secs(5), reason: "refused".into() }));
        // Lost for good: an answer does not bring it back, and every later call gives up at once.
        outage.answered();
        assert_eq!(outage.failed(start + Duration::from_secs(6), "refused"), None);
    }

    #[test]
    fn an_answer_ends_the_outage_and_the_next_one_has_the_whole_patience_again() {
        let start = Instant::now();
        let mut outage = Outage::new(Duration::from_secs(5));
        outage.failed(start, "reset");
        outage.failed(start + Duration::from_secs(4), "reset");
        outage.answered();
        assert_eq!(outage.failed(start + Duration::from_secs(20), "reset"), Some(Duration::from_millis(100)));
        assert_eq!(outage.failed(start + Duration::from_secs(24), "reset"), Some(Duration::from_millis(200)));
        assert!(outage.ended.is_none());
    }
}
