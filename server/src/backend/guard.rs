//! The failure modes of a remote backend: every call is bounded by the
//! configured timeout, and a call the backend cannot answer in time is
//! answered by the configured mode instead — per concern, and per domain
//! for rate limits:
//!
//! - rate limits, `fail_open`: allowed, and counted in this process's own
//!   counters meanwhile (their `remaining` and reset are reported);
//! - rate limits, `fail_closed`: over the limit, until the window ends;
//! - store, `fail_open`: served by this process's own store meanwhile
//!   (writes made then stay local: they are not copied to the backend
//!   when it returns);
//! - store, `fail_closed`: 503, naming the backend and the reason.
//!
//! After a failure, calls go straight to the failure mode for
//! `retry_after` (a short circuit breaker, so an outage does not make
//! every request wait for the timeout); the first call after that tries
//! the backend again, and recovery is automatic. Each outage and each
//! recovery logs one line; every failover is counted in
//! `reaper_backend_failovers_total{concern,mode}` and shown in status.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::Hit;
use tokio::time::Instant;

use super::memory::MemoryBackend;
use super::settings::{FailureMode, FailurePolicy};
use super::{
    Backend, BackendError, BoxFuture, Failovers, Health, NamespaceStats, Put, PutError, Stored,
};
use crate::clock::Clock;

/// A remote backend behind its timeout and failure modes.
pub struct Guarded {
    remote: Arc<dyn Backend>,
    /// What answers while the remote cannot (fail open).
    local: Arc<MemoryBackend>,
    policy: FailurePolicy,
    /// Calls skip the remote until then, after a failure.
    open_until: Mutex<Option<Instant>>,
    /// Whether the last remote call failed (for one log line per outage).
    down: AtomicBool,
    last_error: Mutex<Option<String>>,
    errors: AtomicU64,
    /// Failovers by [concern][mode]: ratelimit/store × open/closed.
    failovers: [[AtomicU64; 2]; 2],
}

const RATELIMIT: usize = 0;
const STORE: usize = 1;

fn mode_index(mode: FailureMode) -> usize {
    match mode {
        FailureMode::FailOpen => 0,
        FailureMode::FailClosed => 1,
    }
}

impl Guarded {
    pub fn new(remote: Arc<dyn Backend>, policy: FailurePolicy) -> Self {
        Guarded {
            remote,
            local: Arc::new(MemoryBackend::new()),
            policy,
            open_until: Mutex::new(None),
            down: AtomicBool::new(false),
            last_error: Mutex::new(None),
            errors: AtomicU64::new(0),
            failovers: Default::default(),
        }
    }

    /// Runs `call` on the remote within the timeout, unless the breaker is
    /// open; `Err` carries why the failure mode must answer.
    async fn attempt<T, E>(
        &self,
        call: BoxFuture<'_, Result<T, E>>,
    ) -> Result<Result<T, E>, BackendError>
    where
        E: RemoteError,
    {
        let open_until = *self.open_until.lock();
        if open_until.is_some_and(|until| Instant::now() < until) {
            return Err(self.unavailable(
                self.last_error
                    .lock()
                    .clone()
                    .unwrap_or_else(|| "unavailable".to_owned()),
            ));
        }
        match tokio::time::timeout(self.policy.timeout, call).await {
            Ok(result) => match result {
                Err(e) if e.is_unavailable() => {
                    let reason = e.reason();
                    self.failed(&reason);
                    Err(self.unavailable(reason))
                }
                answered => {
                    self.recovered();
                    Ok(answered)
                }
            },
            Err(_) => {
                let reason = format!(
                    "no answer within the timeout of {} ms",
                    self.policy.timeout.as_millis()
                );
                self.failed(&reason);
                Err(self.unavailable(reason))
            }
        }
    }

    fn unavailable(&self, reason: String) -> BackendError {
        BackendError {
            backend: self.remote.kind(),
            reason,
        }
    }

    fn failed(&self, reason: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("reaper_backend_errors_total", "backend" => self.remote.kind())
            .increment(1);
        metrics::gauge!("reaper_backend_up", "backend" => self.remote.kind()).set(0.0);
        *self.open_until.lock() = Instant::now().checked_add(self.policy.retry_after);
        *self.last_error.lock() = Some(reason.to_owned());
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backend = self.remote.kind(),
                reason,
                ratelimit = self.policy.ratelimit.name(),
                store = self.policy.store.name(),
                "the backend is unavailable: answering by the failure modes until it returns"
            );
        }
    }

    fn recovered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            *self.open_until.lock() = None;
            metrics::gauge!("reaper_backend_up", "backend" => self.remote.kind()).set(1.0);
            tracing::info!(
                backend = self.remote.kind(),
                "the backend is available again"
            );
        }
    }

    fn failover(&self, concern: usize, mode: FailureMode) {
        self.failovers[concern][mode_index(mode)].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(
            "reaper_backend_failovers_total",
            "concern" => if concern == RATELIMIT { "ratelimit" } else { "store" },
            "mode" => mode.name()
        )
        .increment(1);
    }
}

/// What the guard needs to know of a remote call's error.
trait RemoteError {
    /// Whether the backend could not answer (as opposed to answering no).
    fn is_unavailable(&self) -> bool;
    fn reason(&self) -> String;
}

impl RemoteError for BackendError {
    fn is_unavailable(&self) -> bool {
        true
    }
    fn reason(&self) -> String {
        self.reason.clone()
    }
}

impl RemoteError for PutError {
    fn is_unavailable(&self) -> bool {
        matches!(self, PutError::Unavailable(_))
    }
    fn reason(&self) -> String {
        match self {
            PutError::Unavailable(e) => e.reason.clone(),
            other => other.to_string(),
        }
    }
}

/// A fail-closed answer: over the limit until the limit's window ends.
fn refused(hit: &CounterHit, now_ms: u64) -> Hit {
    let period = hit.limit.period_ms.max(1);
    Hit {
        allowed: false,
        remaining: 0,
        reset_ms: period - now_ms % period,
    }
}

impl Backend for Guarded {
    fn kind(&self) -> &'static str {
        self.remote.kind()
    }

    fn count<'a>(
        &'a self,
        domain: &'a str,
        hits: &'a [CounterHit],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>> {
        Box::pin(async move {
            match self.attempt(self.remote.count(domain, hits, now_ms)).await {
                Ok(answer) => answer,
                Err(_) => {
                    let mode = self.policy.for_domain(domain);
                    self.failover(RATELIMIT, mode);
                    Ok(match mode {
                        FailureMode::FailOpen => {
                            let local = self.local.count(domain, hits, now_ms).await?;
                            local
                                .into_iter()
                                .map(|hit| Hit {
                                    allowed: true,
                                    ..hit
                                })
                                .collect()
                        }
                        FailureMode::FailClosed => {
                            hits.iter().map(|hit| refused(hit, now_ms)).collect()
                        }
                    })
                }
            }
        })
    }

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Stored>, BackendError>> {
        Box::pin(async move {
            match self.attempt(self.remote.get(namespace, key, now_ms)).await {
                Ok(answer) => answer,
                Err(error) => {
                    self.failover(STORE, self.policy.store);
                    match self.policy.store {
                        FailureMode::FailOpen => self.local.get(namespace, key, now_ms).await,
                        FailureMode::FailClosed => Err(error),
                    }
                }
            }
        })
    }

    fn put<'a>(&'a self, put: Put<'a>, now_ms: u64) -> BoxFuture<'a, Result<(), PutError>> {
        Box::pin(async move {
            // The write is needed again if the remote fails.
            let again = Put {
                namespace: put.namespace,
                key: put.key,
                value: put.value.clone(),
                expires_at: put.expires_at,
                create_only: put.create_only,
                max_keys: put.max_keys,
            };
            match self.attempt(self.remote.put(put, now_ms)).await {
                Ok(answer) => answer,
                Err(error) => {
                    self.failover(STORE, self.policy.store);
                    match self.policy.store {
                        FailureMode::FailOpen => self.local.put(again, now_ms).await,
                        FailureMode::FailClosed => Err(PutError::Unavailable(error)),
                    }
                }
            }
        })
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            match self
                .attempt(self.remote.delete(namespace, key, now_ms))
                .await
            {
                Ok(answer) => answer,
                Err(error) => {
                    self.failover(STORE, self.policy.store);
                    match self.policy.store {
                        FailureMode::FailOpen => self.local.delete(namespace, key, now_ms).await,
                        FailureMode::FailClosed => Err(error),
                    }
                }
            }
        })
    }

    fn namespaces(&self) -> Vec<NamespaceStats> {
        self.remote.namespaces()
    }

    fn counters(&self) -> usize {
        self.remote.counters() + self.local.counters()
    }

    fn health(&self) -> Health {
        let mut health = self.remote.health();
        if self.down.load(Ordering::Relaxed) {
            health.available = false;
            if health.last_error.is_none() {
                health.last_error = self.last_error.lock().clone();
            }
        }
        health.errors = health.errors.max(self.errors.load(Ordering::Relaxed));
        for (concern, name) in [(RATELIMIT, "ratelimit"), (STORE, "store")] {
            for mode in [FailureMode::FailOpen, FailureMode::FailClosed] {
                let calls = self.failovers[concern][mode_index(mode)].load(Ordering::Relaxed);
                if calls > 0 {
                    health.failovers.push(Failovers {
                        concern: name,
                        mode: mode.name(),
                        calls,
                    });
                }
            }
        }
        health
    }

    fn maintain(
        self: Arc<Self>,
        clock: Clock,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        let remote = Arc::clone(&self.remote).maintain(clock, stop.clone());
        let local = Arc::clone(&self.local).maintain(clock, stop);
        Box::pin(async move {
            tokio::join!(remote, local);
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]
mod tests {
    use super::*;
    use reaper_lang::limits::Algorithm;
    use reaper_runtime::ratelimit::counters::Limit;
    use std::time::Duration;

    /// A backend that never answers, or always fails.
    struct Broken {
        hang: bool,
        calls: AtomicU64,
    }

    impl Broken {
        fn answer<T: Send + 'static>(&self) -> BoxFuture<'_, Result<T, BackendError>> {
            let hang = self.hang;
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::Relaxed);
                if hang {
                    std::future::pending::<()>().await;
                }
                Err(BackendError {
                    backend: "redis",
                    reason: "connection refused".into(),
                })
            })
        }
    }

    impl Backend for Broken {
        fn kind(&self) -> &'static str {
            "redis"
        }
        fn count<'a>(
            &'a self,
            _: &'a str,
            _: &'a [CounterHit],
            _: u64,
        ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>> {
            self.answer()
        }
        fn get<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: u64,
        ) -> BoxFuture<'a, Result<Option<Stored>, BackendError>> {
            self.answer()
        }
        fn put<'a>(&'a self, _: Put<'a>, _: u64) -> BoxFuture<'a, Result<(), PutError>> {
            let failed = self.answer::<()>();
            Box::pin(async move { failed.await.map_err(PutError::from) })
        }
        fn delete<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: u64,
        ) -> BoxFuture<'a, Result<bool, BackendError>> {
            self.answer()
        }
        fn namespaces(&self) -> Vec<NamespaceStats> {
            Vec::new()
        }
        fn counters(&self) -> usize {
            0
        }
        fn maintain(
            self: Arc<Self>,
            _: Clock,
            _: tokio::sync::watch::Receiver<bool>,
        ) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    fn hit(count: u64) -> CounterHit {
        CounterHit {
            key: b"k".to_vec().into_boxed_slice(),
            limit: Limit {
                count,
                period_ms: 60_000,
                algorithm: Algorithm::FixedWindow,
            },
            hits: 1,
        }
    }

    fn guarded(hang: bool, policy: FailurePolicy) -> (Arc<Broken>, Guarded) {
        let remote = Arc::new(Broken {
            hang,
            calls: AtomicU64::new(0),
        });
        (remote.clone(), Guarded::new(remote, policy))
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_backend_is_cut_off_at_the_timeout_and_fails_open_by_domain() {
        let mut policy = FailurePolicy::default();
        policy
            .domains
            .insert("login".into(), FailureMode::FailClosed);
        let (_, guard) = guarded(true, policy);
        let started = tokio::time::Instant::now();
        let open = guard.count("api", &[hit(1), hit(1)], 1_000).await.unwrap();
        assert_eq!(started.elapsed(), FailurePolicy::default().timeout);
        // Allowed, and counted locally: the second hit of the same key
        // shows the local count.
        assert!(open.iter().all(|h| h.allowed));
        assert_eq!(open[1].remaining, 0);
        let closed = guard.count("login", &[hit(5)], 1_000).await.unwrap();
        assert_eq!(
            closed,
            vec![Hit {
                allowed: false,
                remaining: 0,
                reset_ms: 59_000
            }]
        );
        let health = guard.health();
        assert!(!health.available);
        assert!(
            health
                .last_error
                .as_deref()
                .unwrap()
                .contains("within the timeout of 100 ms")
        );
        assert_eq!(health.failovers.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_calls_skip_the_backend_until_retry_after() {
        let (remote, guard) = guarded(false, FailurePolicy::default());
        let error = guard.get("s", "k", 0).await.unwrap_err();
        assert_eq!(error.reason, "connection refused");
        assert!(guard.get("s", "k", 0).await.is_err());
        assert_eq!(
            remote.calls.load(Ordering::Relaxed),
            1,
            "the breaker is open"
        );
        tokio::time::advance(Duration::from_millis(501)).await;
        assert!(guard.get("s", "k", 0).await.is_err());
        assert_eq!(remote.calls.load(Ordering::Relaxed), 2, "tried again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_failing_open_serves_from_the_local_store() {
        let policy = FailurePolicy {
            store: FailureMode::FailOpen,
            ..FailurePolicy::default()
        };
        let (_, guard) = guarded(false, policy);
        let put = Put {
            namespace: "s",
            key: "k",
            value: bytes::Bytes::from_static(b"v"),
            expires_at: 10_000,
            create_only: false,
            max_keys: None,
        };
        guard.put(put, 0).await.unwrap();
        let got = guard.get("s", "k", 0).await.unwrap().unwrap();
        assert_eq!(got.value, bytes::Bytes::from_static(b"v"));
        assert!(guard.delete("s", "k", 0).await.unwrap());
    }
}
