//! The `redis` backend: rate-limit counters and the TTL store in Redis or
//! Valkey (≥ 7.0), standalone or cluster, shared by every sidecar.
//!
//! - `link.rs`: the connection (lazy, reconnecting, every call bounded)
//!   and its health and metrics;
//! - `keys.rs`: the names data lives under;
//! - `count.lua`: the three counting algorithms, ported from
//!   `reaper_runtime::ratelimit::counters`; `get.lua`, `put.lua`,
//!   `delete.lua`: the store.
//!
//! **Counting.** A `count` call is one `EVALSHA` of `count.lua` over every
//! hit of the request (standalone), or one per cluster slot the hits' keys
//! fall in, sent concurrently and put back in the hits' order (a cluster).
//! A counter is one hash holding its algorithm, its period and the three
//! state words of the Rust counter, expiring (`PEXPIREAT`) a skew tolerance
//! after the time it becomes idle, so Redis drops it with its window. With
//! `clock = redis`, the script reads Redis's `TIME`; with `local`, the
//! caller's `now_ms`.
//!
//! **Exactness.** The script answers exactly as `MemoryCounters` does — the
//! same `Hit`s, bit for bit — whenever every number is an integer below
//! 2⁵³ (Lua numbers are doubles): the time `now_ms + 2 × period`, `count`,
//! `hits`, `burst`, the period below 2⁵², and for token buckets
//! `burst × period + max(period, 1 s) × count + count` below 2⁵³. Real
//! limits are far inside (2⁵³ ms is 285,000 years; a million per second
//! with a burst of a million is below 2⁵⁰). The script never forms a
//! product that could leave that range: the sliding window's
//! `⌈prev × (P − e) / P⌉` is a long multiplication reduced modulo `P`, and
//! the token bucket works on its debt relative to now (never on `now ×
//! count`) and compares hits to whole tokens by division. Beyond the range
//! the answers come from rounded doubles: close, never an error, and a
//! fixed window's count stops at 2⁵³ (which changes no answer for counts
//! below 2⁵³). Where the Rust counter would let a counter's state outlive
//! its idle time by a sweep interval, Redis keeps it a skew tolerance: the
//! answers differ only for hits stamped more than a tolerance before a
//! later one (a clock stepped back), as the counters' own rules allow.
//!
//! **Store.** Values are plain strings set with `PXAT` (absolute expiry);
//! `get` returns the value and `PEXPIRETIME` in one script; a namespace
//! with `max_keys` keeps an index (see `keys.rs` for the names and the
//! cluster trade-off). With `clock = local`, a value whose expiry is at or
//! before the caller's `now_ms` is absent, whatever Redis's clock says.
//! Every call is one round trip, except, in a cluster, a write that may be
//! refused (create-only, or to a limited namespace): it removes the key's
//! other name (`keys.rs`) only once the write succeeded, a second round
//! trip.
//!
//! `counters()` is 0 (they live in Redis) and `namespaces()` is empty:
//! counting a namespace's keys would mean scanning Redis.

mod keys;
mod link;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;
use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::Hit;
use redis::cluster_routing::Slot;
use redis::{RedisResult, Script, ScriptInvocation};

use super::settings::{RedisClock, RedisConfig};
use super::{Backend, BackendError, BoxFuture, Health, NamespaceStats, Put, PutError, Stored};
use crate::clock::Clock;
use keys::Keys;
use link::{BACKEND, Link};

/// How often `maintain` pings Redis, so `health()` notices an outage and
/// a recovery without waiting for traffic.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Counters and the store in Redis or Valkey.
pub struct RedisBackend {
    link: Link,
    keys: Keys,
    clock: RedisClock,
    scripts: Scripts,
}

struct Scripts {
    count: Script,
    get: Script,
    put: Script,
    delete: Script,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// A backend for `config`; fails only on a malformed URL (Redis itself
    /// may be down: calls fail until it is back).
    pub fn new(config: &RedisConfig) -> Result<Self, BackendError> {
        Ok(RedisBackend {
            link: Link::new(config)?,
            keys: Keys::new(&config.prefix),
            clock: config.clock,
            scripts: Scripts {
                count: Script::new(include_str!("count.lua")),
                get: Script::new(include_str!("get.lua")),
                put: Script::new(include_str!("put.lua")),
                delete: Script::new(include_str!("delete.lua")),
            },
        })
    }

    /// The time argument of every script: the caller's clock, or empty for
    /// Redis's own.
    fn now_arg(&self, now_ms: u64) -> String {
        match self.clock {
            RedisClock::Local => now_ms.to_string(),
            RedisClock::Redis => String::new(),
        }
    }

    /// `count.lua` over the hits at `indices`.
    fn count_invocation(
        &self,
        hits: &[CounterHit],
        indices: &[usize],
        now: &str,
    ) -> ScriptInvocation<'_> {
        let mut invocation = self.scripts.count.prepare_invoke();
        invocation.arg(now);
        for hit in indices.iter().filter_map(|&i| hits.get(i)) {
            let (code, burst) = match hit.limit.algorithm {
                Algorithm::FixedWindow => (0, 0),
                Algorithm::SlidingWindow => (1, 0),
                Algorithm::TokenBucket { burst } => (2, burst),
            };
            invocation
                .key(self.keys.counter(&hit.key))
                .arg(code)
                .arg(burst)
                .arg(hit.limit.count)
                .arg(hit.limit.period_ms)
                .arg(hit.hits);
        }
        invocation
    }

    async fn count_hits(&self, hits: &[CounterHit], now_ms: u64) -> Result<Vec<Hit>, BackendError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now_arg(now_ms);
        self.link
            .call("count", |conn| async move {
                if !conn.is_cluster() {
                    let all: Vec<usize> = (0..hits.len()).collect();
                    let invocation = self.count_invocation(hits, &all, &now);
                    let answers: Vec<String> = conn.invoke(&invocation).await?;
                    return parse_hits(&answers, hits.len());
                }
                // A script's keys must share a slot: one call per slot, in
                // flight together; hits on one key stay in order within
                // their slot's call.
                let mut groups: Vec<(Slot, Vec<usize>)> = Vec::new();
                for (i, hit) in hits.iter().enumerate() {
                    let slot = Slot::for_key(self.keys.counter(&hit.key));
                    match groups.iter_mut().find(|(s, _)| *s == slot) {
                        Some((_, group)) => group.push(i),
                        None => groups.push((slot, vec![i])),
                    }
                }
                let invocations: Vec<ScriptInvocation<'_>> = groups
                    .iter()
                    .map(|(_, group)| self.count_invocation(hits, group, &now))
                    .collect();
                let answers = try_join_all(invocations.iter().map(|invocation| {
                    let conn = conn.clone();
                    async move { conn.invoke::<Vec<String>>(invocation).await }
                }))
                .await?;
                let mut out = vec![
                    Hit {
                        allowed: false,
                        remaining: 0,
                        reset_ms: 0
                    };
                    hits.len()
                ];
                for ((_, group), answers) in groups.iter().zip(answers) {
                    for (&i, hit) in group.iter().zip(parse_hits(&answers, group.len())?) {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = hit;
                        }
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn get_value(
        &self,
        namespace: &str,
        key: &str,
        now_ms: u64,
    ) -> Result<Option<Stored>, BackendError> {
        let now = self.now_arg(now_ms);
        let limited = self.keys.limited(namespace, key);
        let plain = self.keys.plain(namespace, key);
        type Answer = Option<(Vec<u8>, String)>;
        let answer: Answer = self
            .link
            .call("get", |conn| async move {
                let mut first = self.scripts.get.prepare_invoke();
                first.arg(&now).key(&limited);
                if !conn.is_cluster() {
                    first.key(&plain);
                    return conn.invoke::<Answer>(&first).await;
                }
                let mut second = self.scripts.get.prepare_invoke();
                second.arg(&now).key(&plain);
                let (a, b) = tokio::try_join!(
                    conn.invoke::<Answer>(&first),
                    conn.invoke::<Answer>(&second)
                )?;
                Ok(a.or(b))
            })
            .await?;
        Ok(answer.map(|(value, expires_at)| Stored {
            value: Bytes::from(value),
            expires_at: parse_u64(&expires_at),
        }))
    }

    async fn put_value(&self, put: Put<'_>, now_ms: u64) -> Result<(), PutError> {
        let now = self.now_arg(now_ms);
        let Put {
            namespace,
            key,
            value,
            expires_at,
            create_only,
            max_keys,
        } = put;
        let limited = self.keys.limited(namespace, key);
        let plain = self.keys.plain(namespace, key);
        let index = self.keys.index(namespace);
        // Redis keeps expiry times and index scores exact below 2⁵³ ms.
        let expires_at = expires_at.min(MAX_EXPIRY);
        let outcome: i64 = self
            .link
            .call("put", |conn| async move {
                let cluster = conn.is_cluster();
                let mut write = self.scripts.put.prepare_invoke();
                write
                    .arg(&now)
                    .arg(value.as_ref())
                    .arg(expires_at)
                    .arg(if create_only { "1" } else { "0" })
                    .arg(max_keys.map(|n| n.to_string()).unwrap_or_default())
                    .arg(key);
                // The value's name, the index, and (standalone) the other
                // name, removed in the same script.
                let (target, other) = match max_keys {
                    Some(_) => (&limited, &plain),
                    None => (&plain, &limited),
                };
                write.key(target);
                if max_keys.is_some() || !cluster {
                    write.arg("1").key(&index);
                } else {
                    write.arg("0");
                }
                if !cluster {
                    write.key(other);
                    return conn.invoke::<i64>(&write).await;
                }
                // A cluster: the other name is in another slot.
                let mut cleanup = self.scripts.delete.prepare_invoke();
                cleanup.arg(&now).arg(key);
                if max_keys.is_some() {
                    cleanup.arg("0").key(&plain);
                } else {
                    cleanup.arg("1").key(&index).key(&limited);
                }
                if create_only || max_keys.is_some() {
                    // Refusable: clean up only once written.
                    let outcome = conn.invoke::<i64>(&write).await?;
                    if outcome == 0 {
                        conn.invoke::<i64>(&cleanup).await?;
                    }
                    return Ok(outcome);
                }
                let (outcome, _) =
                    tokio::try_join!(conn.invoke::<i64>(&write), conn.invoke::<i64>(&cleanup))?;
                Ok(outcome)
            })
            .await?;
        match outcome {
            0 => Ok(()),
            1 => Err(PutError::Exists),
            _ => Err(PutError::Full),
        }
    }

    async fn delete_value(
        &self,
        namespace: &str,
        key: &str,
        now_ms: u64,
    ) -> Result<bool, BackendError> {
        let now = self.now_arg(now_ms);
        let limited = self.keys.limited(namespace, key);
        let plain = self.keys.plain(namespace, key);
        let index = self.keys.index(namespace);
        let deleted = self
            .link
            .call("delete", |conn| async move {
                let mut first = self.scripts.delete.prepare_invoke();
                first.arg(&now).arg(key).arg("1").key(&index).key(&limited);
                if !conn.is_cluster() {
                    first.key(&plain);
                    return conn.invoke::<i64>(&first).await;
                }
                let mut second = self.scripts.delete.prepare_invoke();
                second.arg(&now).arg(key).arg("0").key(&plain);
                let (a, b) =
                    tokio::try_join!(conn.invoke::<i64>(&first), conn.invoke::<i64>(&second))?;
                Ok(a + b)
            })
            .await?;
        Ok(deleted > 0)
    }
}

/// The latest expiry kept exactly (ms): later ones are stored as this.
const MAX_EXPIRY: u64 = (1 << 53) - 1;

/// `count.lua`'s answers: (allowed, remaining, reset_ms) per hit.
fn parse_hits(answers: &[String], expected: usize) -> RedisResult<Vec<Hit>> {
    if answers.len() != expected * 3 {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "count.lua answered the wrong number of values",
        )));
    }
    Ok(answers
        .chunks_exact(3)
        .map(|answer| match answer {
            [allowed, remaining, reset] => Hit {
                allowed: allowed == "1",
                remaining: parse_u64(remaining),
                reset_ms: parse_u64(reset),
            },
            _ => Hit {
                allowed: false,
                remaining: 0,
                reset_ms: 0,
            },
        })
        .collect())
}

/// A decimal from a script; one beyond `u64` (from rounded doubles, out of
/// the exact range) saturates.
fn parse_u64(text: &str) -> u64 {
    text.parse::<u64>().unwrap_or_else(|_| {
        // Saturating conversion: negative → 0, too large → u64::MAX.
        text.parse::<f64>().map_or(0, |n| n as u64)
    })
}

impl Backend for RedisBackend {
    fn kind(&self) -> &'static str {
        BACKEND
    }

    fn count<'a>(
        &'a self,
        _domain: &'a str,
        hits: &'a [CounterHit],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>> {
        Box::pin(self.count_hits(hits, now_ms))
    }

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Stored>, BackendError>> {
        Box::pin(self.get_value(namespace, key, now_ms))
    }

    fn put<'a>(&'a self, put: Put<'a>, now_ms: u64) -> BoxFuture<'a, Result<(), PutError>> {
        Box::pin(self.put_value(put, now_ms))
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(self.delete_value(namespace, key, now_ms))
    }

    /// Empty: what a namespace holds is in Redis, and counting it would
    /// mean scanning.
    fn namespaces(&self) -> Vec<NamespaceStats> {
        Vec::new()
    }

    fn counters(&self) -> usize {
        0
    }

    fn health(&self) -> Health {
        self.link.health()
    }

    /// Redis expires counters and keys itself; this only pings, so that
    /// `health()` follows an outage and its end without traffic.
    fn maintain(
        self: Arc<Self>,
        _clock: Clock,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut ping = tokio::time::interval(PING_EVERY);
            ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = ping.tick() => {
                        // Failures are recorded (and logged once per
                        // outage) by the link.
                        let _ = self.link.ping().await;
                    }
                }
            }
        })
    }
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts").finish_non_exhaustive()
    }
}
