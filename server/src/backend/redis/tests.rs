//! The Redis backend against real `redis-server`s (standalone and a
//! three-node cluster): counting answers exactly as the in-memory counters,
//! the engine path answers as the engine in process, the store's rules, and
//! recovery after an outage. Times are injected (`clock = local`) and far
//! ahead of the real clock, so Redis never expires anything during a test.
//! Each test skips when `redis-server` is missing, unless
//! `REAPER_REQUIRE_REDIS=1`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{CounterStore, Hit, Limit, MemoryCounters};

use super::*;

use crate::backend::redis_harness::{RedisCluster, RedisServer};

/// Injected times start here: year 2096, ahead of any real clock the tests
/// run under, so keys expiring "soon" by these times never expire in Redis.
const BASE: u64 = 4_000_000_000_000;

fn backend(urls: Vec<String>, cluster: bool) -> RedisBackend {
    RedisBackend::new(&RedisConfig {
        urls,
        cluster,
        prefix: "reaper-test".to_owned(),
        clock: RedisClock::Local,
    })
    .unwrap()
}

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One in-memory store per key: a store's amortised sweep may drop another
/// key's idle counter, and whether it does depends on its random seed, so
/// the oracle keeps every key alone (as Redis keeps it until it expires).
#[derive(Default)]
struct Oracle(HashMap<Box<[u8]>, MemoryCounters>);

impl Oracle {
    fn count(&mut self, hits: &[CounterHit], now: u64) -> Vec<Hit> {
        hits.iter()
            .map(|h| {
                self.0
                    .entry(h.key.clone())
                    .or_insert_with(|| MemoryCounters::new(1))
                    .hit(&h.key, &h.limit, h.hits, now)
            })
            .collect()
    }
}

fn algorithm(code: u64, burst: u64) -> Algorithm {
    match code % 3 {
        0 => Algorithm::FixedWindow,
        1 => Algorithm::SlidingWindow,
        _ => Algorithm::TokenBucket { burst },
    }
}

/// Thousands of hits on a few keys of each algorithm, with irregular time
/// steps (small steps back, within and past the skew tolerance, and one
/// big step back), overrides of count and period, a few algorithm changes,
/// and batches of several hits (repeated keys included).
async fn counts_as_memory_does(backend: &RedisBackend, seed: u64, batches: usize) {
    let mut rng = Rng(seed);
    let mut oracle = Oracle::default();
    let keys: Vec<Box<[u8]>> = (0..12u8)
        .map(|i| {
            [b"api\0".as_slice(), &[i, 0xff, b'{', b'}']]
                .concat()
                .into()
        })
        .collect();
    let mut now = BASE + rng.below(1_000_000);
    for batch in 0..batches {
        now = match rng.below(25) {
            0 => now - rng.below(2_500),
            1 => now + rng.below(150_000),
            2 => now + 1_000 * rng.below(3),
            _ => now + rng.below(400),
        };
        if batch == batches / 2 {
            now -= 3_600_000;
        }
        let size = 1 + rng.below(4);
        let hits: Vec<CounterHit> = (0..size)
            .map(|_| {
                let i = rng.below(keys.len() as u64);
                // Each key keeps one algorithm, but now and then a hit
                // comes with another (a reload): the counter restarts.
                let code = if rng.below(40) == 0 { rng.next() } else { i };
                let count = match rng.below(30) {
                    0 => 0,
                    _ => 1 + rng.below(10),
                };
                let period_ms = match rng.below(40) {
                    0 => *rng.pick(&[0, 1, 7, 2_500]),
                    n if n < 28 => 1_000,
                    _ => 60_000,
                };
                CounterHit {
                    key: keys[i as usize].clone(),
                    limit: Limit {
                        count,
                        period_ms,
                        algorithm: algorithm(code, rng.below(9)),
                    },
                    hits: rng.below(6),
                }
            })
            .collect();
        let expected = oracle.count(&hits, now);
        let got = backend.count("api", &hits, now).await.unwrap();
        assert_eq!(got, expected, "batch {batch} at {now}: {hits:?}");
    }
}

/// Large numbers inside the documented exact range: periods up to 2⁴⁰ ms
/// (the sliding window's long multiplication), counts up to 2⁴⁰, buckets
/// with `burst × period` and `period × count` up to 2⁵⁰, times up to 2⁵¹.
async fn counts_large_numbers_exactly(backend: &RedisBackend, seed: u64, batches: usize) {
    let mut rng = Rng(seed);
    let mut oracle = Oracle::default();
    let mut now = BASE + rng.below(1 << 40);
    for batch in 0..batches {
        let code = rng.below(3);
        let key: Box<[u8]> = format!("big\0{}", rng.below(6) * 3 + code)
            .into_bytes()
            .into();
        let (period_ms, count, burst) = if code == 2 {
            (
                1 + rng.below(1 << 30),
                1 + rng.below(1 << 20),
                rng.below(1 << 20),
            )
        } else {
            (1 + rng.below(1 << 40), 1 + rng.below(1 << 40), 0)
        };
        // Steps of any size up to a few periods, sometimes back.
        let step = rng.below(period_ms.saturating_mul(3).min(1 << 45));
        now = if rng.below(10) == 0 {
            now - step.min(now - BASE)
        } else {
            now + step
        };
        let hits = match rng.below(3) {
            0 => rng.below(1 << 40),
            _ => rng.below(count.max(2)),
        };
        let hit = CounterHit {
            key,
            limit: Limit {
                count,
                period_ms,
                algorithm: algorithm(code, burst),
            },
            hits,
        };
        let hits = [hit];
        let expected = oracle.count(&hits, now);
        let got = backend.count("api", &hits, now).await.unwrap();
        assert_eq!(got, expected, "batch {batch} at {now}: {hits:?}");
    }
}

/// Hits stamped exactly at the rules' edges, where random times rarely
/// fall: a skew of exactly the tolerance (and one more or less) behind a
/// window, and a token bucket's debt exactly at its rebase threshold. Each
/// probe is one fresh key given a history at `t0`, then hit at the edge.
async fn counts_at_the_edges_as_memory_does(backend: &RedisBackend) {
    let mut oracle = Oracle::default();
    let mut probe = 0u64;
    let t0 = BASE + 123_457;
    for code in 0..3u64 {
        for (count, period_ms, burst) in [
            (1, 1_000, 1),
            (3, 1_000, 2),
            (3, 10_000, 3),
            (7, 2_500, 5),
            (2, 60_000, 0),
        ] {
            for history in 0..=burst.max(2) {
                let limit = Limit {
                    count,
                    period_ms,
                    algorithm: algorithm(code, burst),
                };
                let tolerance = period_ms.max(1_000);
                let start = t0 - t0 % period_ms;
                // The bucket's rebase edge: debt = TAT − t × C is more than
                // B × P + T × C once t × C < TAT − B × P − T × C.
                let tat = u128::from(t0) * u128::from(count) + u128::from(history * period_ms);
                let edge = (tat.saturating_sub(u128::from(burst * period_ms + tolerance * count))
                    / u128::from(count)) as u64;
                let edges = [start - tolerance, edge, t0 - tolerance, t0];
                for at in edges.iter().flat_map(|&e| [e - 2, e - 1, e, e + 1, e + 2]) {
                    probe += 1;
                    let key: Box<[u8]> = format!("edge\0{probe}").into_bytes().into();
                    let hit = |hits| CounterHit {
                        key: key.clone(),
                        limit,
                        hits,
                    };
                    // The follow-up tells apart states that answered alike at
                    // the edge (a window kept, or moved back a period).
                    let follow_up = at + period_ms / 2 + 1;
                    for (hits, now) in [
                        (vec![hit(history)], t0),
                        (vec![hit(1), hit(2)], at),
                        (vec![hit(1)], follow_up),
                    ] {
                        if hits[0].hits == 0 {
                            continue;
                        }
                        let expected = oracle.count(&hits, now);
                        let got = backend.count("api", &hits, now).await.unwrap();
                        assert_eq!(
                            got,
                            expected,
                            "at {now} ({} from t0): {hits:?}",
                            now as i64 - t0 as i64
                        );
                    }
                }
            }
        }
    }
}

fn put<'a>(namespace: &'a str, key: &'a str, value: &[u8], expires_at: u64) -> Put<'a> {
    Put {
        namespace,
        key,
        value: Bytes::copy_from_slice(value),
        expires_at,
        create_only: false,
        max_keys: None,
    }
}

async fn store_rules_hold(backend: &RedisBackend) {
    let now = BASE;
    // Values are bytes, any bytes; expiry is absolute.
    let binary: Vec<u8> = (0..=255u8).chain([0, 13, 10]).collect();
    backend
        .put(put("sessions", "k", &binary, now + 10_000), now)
        .await
        .unwrap();
    let stored = backend
        .get("sessions", "k", now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value, binary);
    assert_eq!(stored.expires_at, now + 10_000);
    // Expired by the caller's clock, though not by Redis's.
    assert_eq!(
        backend.get("sessions", "k", now + 10_000).await.unwrap(),
        None
    );
    assert_eq!(backend.get("sessions", "missing", now).await.unwrap(), None);

    // Create-only: refused while live, taken once expired.
    let create = |key, expires_at| Put {
        create_only: true,
        ..put("locks", key, b"v", expires_at)
    };
    backend.put(create("lock", now + 100), now).await.unwrap();
    assert_eq!(
        backend.put(create("lock", now + 200), now + 50).await,
        Err(PutError::Exists)
    );
    backend
        .put(create("lock", now + 300), now + 100)
        .await
        .unwrap();
    let stored = backend
        .get("locks", "lock", now + 150)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.expires_at, now + 300);

    // max_keys: full, overwrites allowed, room again after a delete or
    // an expiry.
    let limited = |key, expires_at| Put {
        max_keys: Some(2),
        ..put("carts", key, b"v", expires_at)
    };
    backend.put(limited("a", now + 100), now).await.unwrap();
    backend.put(limited("b", now + 5_000), now).await.unwrap();
    assert_eq!(
        backend.put(limited("c", now + 5_000), now).await,
        Err(PutError::Full)
    );
    backend.put(limited("b", now + 6_000), now).await.unwrap();
    assert!(backend.delete("carts", "b", now).await.unwrap());
    assert!(!backend.delete("carts", "b", now).await.unwrap());
    backend.put(limited("c", now + 5_000), now).await.unwrap();
    assert_eq!(
        backend.put(limited("d", now + 5_000), now + 50).await,
        Err(PutError::Full)
    );
    // `a` expired at +100: its place is free.
    backend
        .put(limited("d", now + 5_000), now + 200)
        .await
        .unwrap();
    let stored = backend.get("carts", "d", now + 200).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, now + 5_000);
    // An expired key is not deleted "live".
    assert!(!backend.delete("carts", "a", now + 200).await.unwrap());

    // A namespace whose limit is set, then lifted, keeps serving its keys
    // under whichever name they were last written.
    backend
        .put(put("moving", "x", b"1", now + 9_000), now)
        .await
        .unwrap();
    let with_limit = Put {
        max_keys: Some(10),
        ..put("moving", "x", b"2", now + 9_000)
    };
    backend.put(with_limit, now).await.unwrap();
    assert_eq!(
        backend
            .get("moving", "x", now)
            .await
            .unwrap()
            .unwrap()
            .value,
        "2"
    );
    backend
        .put(put("moving", "x", b"3", now + 9_000), now)
        .await
        .unwrap();
    assert_eq!(
        backend
            .get("moving", "x", now)
            .await
            .unwrap()
            .unwrap()
            .value,
        "3"
    );
    assert!(backend.delete("moving", "x", now).await.unwrap());
    assert_eq!(backend.get("moving", "x", now).await.unwrap(), None);
}

#[tokio::test]
async fn standalone_counts_exactly_as_the_memory_counters() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let backend = backend(vec![server.url()], false);
    counts_as_memory_does(&backend, 0x5eed_0001, 2_000).await;
    counts_at_the_edges_as_memory_does(&backend).await;
    counts_large_numbers_exactly(&backend, 0x5eed_0002, 600).await;
}

#[tokio::test]
async fn standalone_store_rules_hold() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    store_rules_hold(&backend(vec![server.url()], false)).await;
}

/// One cluster for every cluster check: starting one takes seconds. (The
/// engine path runs on a cluster in `conformance.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_counts_and_stores_as_standalone() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let backend = backend(cluster.urls(), true);
    counts_as_memory_does(&backend, 0x5eed_0003, 1_500).await;
    counts_large_numbers_exactly(&backend, 0x5eed_0004, 300).await;
    store_rules_hold(&backend).await;
}

#[tokio::test]
async fn redis_clock_counts_by_the_servers_time() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let backend = RedisBackend::new(&RedisConfig {
        urls: vec![server.url()],
        cluster: false,
        prefix: "reaper-test".to_owned(),
        clock: RedisClock::Redis,
    })
    .unwrap();
    let hit = CounterHit {
        key: b"api\0clock".as_slice().into(),
        limit: Limit {
            count: 3,
            period_ms: 3_600_000,
            algorithm: Algorithm::TokenBucket { burst: 3 },
        },
        hits: 1,
    };
    // The caller's time is ignored: 0 would otherwise be "long ago".
    let hits = backend
        .count("api", &[hit.clone(), hit.clone(), hit.clone(), hit], 0)
        .await
        .unwrap();
    let remaining: Vec<(bool, u64)> = hits.iter().map(|h| (h.allowed, h.remaining)).collect();
    assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0)]);
    assert!(hits.iter().all(|h| h.reset_ms > 1_000_000));
}

#[tokio::test]
async fn an_outage_fails_calls_promptly_and_recovery_needs_no_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let backend = backend(vec![server.url()], false);
    let now = BASE;
    backend
        .put(put("ns", "k", b"v", now + 60_000), now)
        .await
        .unwrap();
    assert!(backend.health().available);
    assert!(backend.health().latency_ms.is_some());

    server.stop();
    for _ in 0..3 {
        let start = Instant::now();
        let failed = backend.get("ns", "k", now).await;
        assert!(failed.is_err(), "{failed:?}");
        assert!(
            start.elapsed() < Duration::from_millis(1_500),
            "{:?}",
            start.elapsed()
        );
    }
    let hit = CounterHit {
        key: b"api\0down".as_slice().into(),
        limit: Limit {
            count: 1,
            period_ms: 1_000,
            algorithm: Algorithm::FixedWindow,
        },
        hits: 1,
    };
    let start = Instant::now();
    let failed = backend.count("api", std::slice::from_ref(&hit), now).await;
    assert_eq!(failed.unwrap_err().backend, "redis");
    assert!(start.elapsed() < Duration::from_millis(1_500));
    let health = backend.health();
    assert!(!health.available);
    assert!(health.last_error.is_some());
    assert!(health.errors >= 4);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if backend
            .count("api", std::slice::from_ref(&hit), now)
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {:?}",
            backend.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(backend.health().available);
    // The restarted server is empty; it serves writes again.
    assert_eq!(backend.get("ns", "k", now).await.unwrap(), None);
    backend
        .put(put("ns", "k", b"w", now + 60_000), now)
        .await
        .unwrap();
    assert_eq!(
        backend.get("ns", "k", now).await.unwrap().unwrap().value,
        "w"
    );
}
