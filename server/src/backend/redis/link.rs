//! The connection to Redis and what it knows of its health: one
//! multiplexed connection (a `ConnectionManager` for a standalone server,
//! the cluster client's own connection for a cluster), opened lazily on the
//! first call and re-opened by the client itself after a failure, so calls
//! fail while Redis is down and succeed again once it is back.
//!
//! Every call is bounded: connecting and each response time out after
//! [`CALL_TIMEOUT`], and the whole call too. Each call's round trip is
//! timed for `health()` (the median of the last [`LATENCY_SAMPLES`]) and
//! for the `reaper_redis_request_duration_seconds{op}` histogram; failures
//! count in `reaper_redis_errors_total{op}`. An outage logs one line when
//! it starts and one when it ends, however many calls fail meanwhile.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisResult, ScriptInvocation};

use super::super::settings::RedisConfig;
use super::super::{BackendError, Health};

/// The most a connection attempt, a response or a whole call may take. The
/// guard around the backend usually gives up sooner; this bound is for
/// callers without one.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Round trips the latency median is taken over.
const LATENCY_SAMPLES: usize = 64;

/// What `kind()` says and errors name.
pub(super) const BACKEND: &str = "redis";

enum Target {
    Standalone(redis::Client),
    // Boxed: the cluster client is twice the size of the other.
    Cluster(Box<ClusterClient>),
}

/// A connection, cheap to clone (both kinds multiplex one socket per node).
#[derive(Clone)]
pub(super) enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs a script by its SHA, loading it first if the server does not
    /// know it (after a restart, or on a new cluster node).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Conn::Standalone(c) => invocation.invoke_async(&mut c.clone()).await,
            Conn::Cluster(c) => invocation.invoke_async(&mut c.clone()).await,
        }
    }

    async fn ping(&self) -> RedisResult<()> {
        let ping = redis::cmd("PING");
        match self {
            Conn::Standalone(c) => ping.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => ping.query_async(&mut c.clone()).await,
        }
    }
}

pub(super) struct Link {
    target: Target,
    conn: tokio::sync::OnceCell<Conn>,
    health: Mutex<HealthState>,
}

#[derive(Default)]
struct HealthState {
    /// The last call's error, while calls fail.
    down: Option<String>,
    errors: u64,
    latencies: VecDeque<f64>,
}

impl Link {
    /// Checks the URLs; connects on the first call.
    pub(super) fn new(config: &RedisConfig) -> Result<Self, BackendError> {
        let target = if config.cluster {
            let client = ClusterClientBuilder::new(config.urls.iter().map(String::as_str))
                .connection_timeout(CALL_TIMEOUT)
                .response_timeout(CALL_TIMEOUT)
                .build()
                .map_err(|e| error(format!("bad cluster URLs: {e}")))?;
            Target::Cluster(Box::new(client))
        } else {
            let [url] = config.urls.as_slice() else {
                return Err(error(format!(
                    "a standalone Redis takes one URL, not {}",
                    config.urls.len()
                )));
            };
            let client = redis::Client::open(url.as_str())
                .map_err(|e| error(format!("bad URL `{url}`: {e}")))?;
            Target::Standalone(client)
        };
        Ok(Link {
            target,
            conn: tokio::sync::OnceCell::new(),
            health: Mutex::default(),
        })
    }

    /// The connection, created on first use (it must be created inside the
    /// runtime: the clients spawn their reconnecting tasks).
    async fn conn(&self) -> Result<Conn, BackendError> {
        self.conn
            .get_or_try_init(|| async {
                match &self.target {
                    Target::Standalone(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(CALL_TIMEOUT))
                            .set_response_timeout(Some(CALL_TIMEOUT))
                            // One quick retry per attempt: a call waits for
                            // the attempt, so an outage must fail fast; the
                            // next call starts a new attempt.
                            .set_number_of_retries(1)
                            .set_min_delay(Duration::from_millis(50))
                            .set_max_delay(Duration::from_millis(200));
                        ConnectionManager::new_lazy_with_config(client.clone(), config)
                            .map(Conn::Standalone)
                            .map_err(|e| error(e.to_string()))
                    }
                    Target::Cluster(client) => {
                        let config = ClusterConfig::new()
                            .set_connection_timeout(CALL_TIMEOUT)
                            .set_response_timeout(CALL_TIMEOUT);
                        Ok(Conn::Cluster(
                            client.get_pending_async_connection_with_config(config),
                        ))
                    }
                }
            })
            .await
            .cloned()
    }

    /// Runs one call (`op` names it in metrics) within [`CALL_TIMEOUT`],
    /// recording its latency or its failure.
    pub(super) async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, BackendError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let start = Instant::now();
        let span = crate::traced_span!(
            "redis",
            otel.kind = "client",
            db.system = "redis",
            db.operation = op
        );
        let result = tracing::Instrument::instrument(
            async {
                match self.conn().await {
                    Ok(conn) => match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(e)) => Err(error(e.to_string())),
                        Err(_) => Err(error(format!(
                            "no answer within {} ms",
                            CALL_TIMEOUT.as_millis()
                        ))),
                    },
                    Err(e) => Err(e),
                }
            },
            span,
        )
        .await;
        let elapsed = start.elapsed();
        match &result {
            Ok(_) => self.succeeded(op, elapsed),
            Err(e) => self.failed(op, &e.reason),
        }
        result
    }

    /// Pings Redis (every node of a cluster), for `maintain`.
    pub(super) async fn ping(&self) -> Result<(), BackendError> {
        self.call("ping", |conn| async move { conn.ping().await })
            .await
    }

    fn succeeded(&self, op: &'static str, elapsed: Duration) {
        metrics::histogram!("reaper_redis_request_duration_seconds", "op" => op)
            .record(elapsed.as_secs_f64());
        let mut health = self.health.lock();
        if health.latencies.len() == LATENCY_SAMPLES {
            health.latencies.pop_front();
        }
        health.latencies.push_back(elapsed.as_secs_f64() * 1000.0);
        if health.down.take().is_some() {
            drop(health);
            tracing::info!(backend = BACKEND, "redis answers again");
        }
    }

    fn failed(&self, op: &'static str, reason: &str) {
        metrics::counter!("reaper_redis_errors_total", "op" => op).increment(1);
        let mut health = self.health.lock();
        // Probes are not calls: they only tell whether Redis answers.
        if op != "ping" {
            health.errors += 1;
        }
        let first = health.down.is_none();
        health.down = Some(reason.to_owned());
        drop(health);
        if first {
            tracing::warn!(backend = BACKEND, reason, "redis does not answer");
        }
    }

    pub(super) fn health(&self) -> Health {
        let health = self.health.lock();
        let mut latencies: Vec<f64> = health.latencies.iter().copied().collect();
        latencies.sort_by(f64::total_cmp);
        let latency_ms = match latencies.len() {
            0 => None,
            n if n % 2 == 1 => latencies.get(n / 2).copied(),
            n => Some(
                (latencies.get(n / 2 - 1).copied().unwrap_or_default()
                    + latencies.get(n / 2).copied().unwrap_or_default())
                    / 2.0,
            ),
        };
        Health {
            available: health.down.is_none(),
            last_error: health.down.clone(),
            errors: health.errors,
            latency_ms,
            ..Health::default()
        }
    }
}

pub(super) fn error(reason: String) -> BackendError {
    BackendError {
        backend: BACKEND,
        reason,
    }
}
