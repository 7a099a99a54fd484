//! Tests of the store: keys, changing limits, sweeping, real threads, and
//! property tests of each algorithm against its definition or guarantee.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use proptest::prelude::*;
use reaper_lang::limits::{Algorithm, LimitSpec};

use super::{CounterStore, Hit, Limit, MemoryCounters, State};

fn fixed(count: u64, period_ms: u64) -> Limit {
    Limit {
        count,
        period_ms,
        algorithm: Algorithm::FixedWindow,
    }
}

fn sliding(count: u64, period_ms: u64) -> Limit {
    Limit {
        count,
        period_ms,
        algorithm: Algorithm::SlidingWindow,
    }
}

fn bucket(count: u64, period_ms: u64, burst: u64) -> Limit {
    Limit {
        count,
        period_ms,
        algorithm: Algorithm::TokenBucket { burst },
    }
}

/// `(allowed, remaining, reset_ms)`.
fn hit(store: &MemoryCounters, key: &[u8], limit: &Limit, hits: u64, now: u64) -> (bool, u64, u64) {
    let h = store.hit(key, limit, hits, now);
    (h.allowed, h.remaining, h.reset_ms)
}

#[test]
fn limit_from_spec_copies_the_numbers() {
    let spec = LimitSpec {
        name: "per_user".into(),
        count: 100,
        period_ms: 60_000,
        algorithm: Algorithm::TokenBucket { burst: 20 },
        shadow: true,
    };
    assert_eq!(Limit::from(&spec), bucket(100, 60_000, 20));
}

#[test]
fn keys_count_separately() {
    let store = MemoryCounters::default();
    let limit = fixed(1, 1000);
    assert!(store.hit(b"a", &limit, 1, 0).allowed);
    assert!(store.hit(b"b", &limit, 1, 0).allowed);
    assert!(!store.hit(b"a", &limit, 1, 0).allowed);
    assert!(store.hit(b"", &limit, 1, 0).allowed);
    assert_eq!(store.len(), 3);
}

#[test]
fn zero_hits_count_as_one() {
    for limit in [fixed(2, 1000), sliding(2, 1000), bucket(2, 1000, 2)] {
        let store = MemoryCounters::new(1);
        assert_eq!(hit(&store, b"k", &limit, 0, 0).1, 1, "{limit:?}");
        assert_eq!(hit(&store, b"k", &limit, 0, 0).1, 0, "{limit:?}");
        assert!(!store.hit(b"k", &limit, 0, 0).allowed, "{limit:?}");
    }
}

#[test]
fn a_zero_count_refuses_everything_and_stores_nothing() {
    for limit in [fixed(0, 1000), sliding(0, 1000), bucket(0, 1000, 5)] {
        let store = MemoryCounters::new(1);
        assert_eq!(
            hit(&store, b"k", &limit, 1, 1250),
            (false, 0, 750),
            "{limit:?}"
        );
        assert!(store.is_empty());
    }
}

#[test]
fn a_zero_period_is_one_millisecond() {
    for (limit, reset) in [(fixed(2, 0), 1), (sliding(2, 0), 2), (bucket(2, 0, 2), 1)] {
        let store = MemoryCounters::new(1);
        assert_eq!(
            hit(&store, b"k", &limit, 2, 7),
            (true, 0, reset),
            "{limit:?}"
        );
        assert!(!store.hit(b"k", &limit, 1, 7).allowed, "{limit:?}");
        assert!(store.hit(b"k", &limit, 1, 9).allowed, "{limit:?}");
    }
}

#[test]
fn refused_first_hits_store_nothing_unless_counted() {
    let store = MemoryCounters::new(1);
    assert!(!store.hit(b"s", &sliding(5, 1000), 6, 0).allowed);
    assert!(!store.hit(b"t", &bucket(5, 1000, 5), 6, 0).allowed);
    assert!(store.is_empty());
    // Fixed windows count refused hits, so those are stored.
    assert!(!store.hit(b"f", &fixed(5, 1000), 6, 0).allowed);
    assert_eq!(store.len(), 1);
}

#[test]
fn a_changed_algorithm_or_period_restarts_the_counter() {
    let store = MemoryCounters::new(1);
    assert_eq!(hit(&store, b"k", &fixed(2, 1000), 2, 0), (true, 0, 1000));
    assert_eq!(hit(&store, b"k", &sliding(2, 1000), 1, 0), (true, 1, 2000));
    assert_eq!(
        hit(&store, b"k", &sliding(2, 60_000), 1, 0),
        (true, 1, 120_000)
    );
    assert_eq!(
        hit(&store, b"k", &bucket(2, 60_000, 2), 1, 0),
        (true, 1, 30_000)
    );
    assert_eq!(
        hit(&store, b"k", &fixed(2, 60_000), 1, 0),
        (true, 1, 60_000)
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn a_changed_count_keeps_the_counter() {
    let store = MemoryCounters::new(1);
    assert_eq!(hit(&store, b"k", &fixed(5, 1000), 4, 0), (true, 1, 1000));
    assert_eq!(hit(&store, b"k", &fixed(3, 1000), 1, 1), (false, 0, 999));
    assert_eq!(hit(&store, b"k", &fixed(10, 1000), 1, 2), (true, 4, 998));
}

#[test]
fn sweep_drops_expired_windows_and_keeps_live_ones() {
    let store = MemoryCounters::new(4);
    for i in 0..10u8 {
        store.hit(&[b'a', i], &fixed(5, 1000), 1, 500);
        store.hit(&[b'b', i], &fixed(5, 1000), 1, 1500);
        store.hit(&[b'c', i], &sliding(5, 1000), 1, 500);
    }
    assert_eq!(store.len(), 30);
    assert_eq!(store.sweep(999), 0);
    // The window [0, 1000) has ended; the sliding counters still weigh.
    assert_eq!(store.sweep(1000), 10);
    assert_eq!(store.len(), 20);
    assert_eq!(
        hit(&store, &[b'b', 0], &fixed(5, 1000), 1, 1600),
        (true, 3, 400)
    );
    // w = ⌈1 × 400/1000⌉ = 1, cur = 1.
    assert_eq!(
        hit(&store, &[b'c', 0], &sliding(5, 1000), 1, 1600),
        (true, 3, 1400)
    );
    assert_eq!(store.sweep(2000), 19);
    assert_eq!(store.len(), 1);
    assert_eq!(store.sweep(3000), 1);
    assert!(store.is_empty());
}

#[test]
fn sweep_drops_full_buckets() {
    let store = MemoryCounters::default();
    let limit = bucket(10, 1000, 5);
    store.hit(b"one", &limit, 1, 0);
    store.hit(b"five", &limit, 5, 0);
    assert_eq!(store.sweep(99), 0);
    assert_eq!(store.sweep(100), 1);
    // 4.5 tokens at 450 ms; one taken leaves 3 whole ones, full at 600.
    assert_eq!(hit(&store, b"five", &limit, 1, 450), (true, 3, 150));
    assert_eq!(store.sweep(599), 0);
    assert_eq!(store.sweep(600), 1);
    assert!(store.is_empty());
}

#[test]
fn sweep_gives_memory_back() {
    let store = MemoryCounters::new(1);
    for i in 0..100_000u32 {
        store.hit(&i.to_le_bytes(), &fixed(1, 1000), 1, 0);
    }
    let grown = store.shards[0].0.lock().capacity();
    assert!(grown >= 100_000);
    store.hit(b"live", &fixed(1, 1000), 1, 1000);
    assert_eq!(store.sweep(1000), 100_000);
    let shrunk = store.shards[0].0.lock().capacity();
    assert!(shrunk < 1000, "{shrunk}");
    assert_eq!(
        hit(&store, b"live", &fixed(1, 1000), 1, 1001),
        (false, 0, 999)
    );
}

#[test]
fn shards_are_a_power_of_two() {
    assert_eq!(MemoryCounters::new(0).shards.len(), 1);
    assert_eq!(MemoryCounters::new(3).shards.len(), 4);
    assert_eq!(MemoryCounters::default().shards.len(), 64);
    assert_eq!(MemoryCounters::new(usize::MAX).shards.len(), 1 << 16);
}

#[test]
fn a_counter_fits_a_cache_line_with_its_key() {
    assert!(size_of::<State>() <= 40, "{}", size_of::<State>());
    assert!(size_of::<(Box<[u8]>, State)>() <= 64);
}

const THREADS: u64 = 8;
const HITS_PER_THREAD: u64 = 2_000;

/// Hits one key from `THREADS` real threads, `HITS_PER_THREAD` times each,
/// at the times `now(i)`; returns the hits allowed.
fn hammer(store: &MemoryCounters, limit: &Limit, now: impl Fn(u64) -> u64 + Sync) -> u64 {
    let allowed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for i in 0..HITS_PER_THREAD {
                    if store.hit(b"shared", limit, 1, now(i)).allowed {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    allowed.into_inner()
}

#[test]
fn threads_on_one_key_get_exactly_count() {
    const BASE: u64 = 1_700_000_040_000;
    for limit in [
        fixed(7_777, 60_000),
        sliding(7_777, 60_000),
        bucket(7_777, 3_600_000, 7_777),
    ] {
        let store = MemoryCounters::default();
        assert_eq!(hammer(&store, &limit, |_| BASE), 7_777, "{limit:?}");
    }
    // Timestamps racing back and forth inside one window.
    for limit in [fixed(7_777, 60_000), sliding(7_777, 60_000)] {
        let store = MemoryCounters::default();
        assert_eq!(
            hammer(&store, &limit, |i| BASE + i % 97),
            7_777,
            "{limit:?}"
        );
    }
}

#[test]
fn threads_on_a_bucket_never_beat_its_bound() {
    // 1000 per second, burst 100; the threads share a clock that advances
    // 1 ms every 1000 hits, read before the lock as a server reads its
    // clock. A preempted thread's stamp lags by less than the skew tolerance
    // (1 s), as with a real clock. Over t ∈ [10 000, 10 015]: at most
    // 100 + ⌊1000 × 15 / 1000⌋ hits, however the threads interleave.
    let store = MemoryCounters::default();
    let ticks = AtomicU64::new(0);
    let allowed = hammer(&store, &bucket(1000, 1000, 100), |_| {
        10_000 + ticks.fetch_add(1, Ordering::Relaxed) / 1000
    });
    assert_eq!(ticks.into_inner(), 16_000);
    assert!((100..=115).contains(&allowed), "{allowed}");
}

#[test]
fn threads_on_many_keys_while_sweeping() {
    const KEYS: u64 = 64;
    let store = MemoryCounters::new(8);
    let limit = fixed(100, 1000);
    let done = AtomicBool::new(false);
    let per_key: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|scope| {
        // Sweeping at a time inside the window must drop nothing live.
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                assert_eq!(store.sweep(5_500), 0);
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    for i in 0..HITS_PER_THREAD {
                        let key = i % KEYS;
                        if store
                            .hit(&key.to_le_bytes(), &limit, 1, 5_000 + i % 900)
                            .allowed
                        {
                            per_key[key as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    for (key, allowed) in per_key.iter().enumerate() {
        assert_eq!(allowed.load(Ordering::Relaxed), 100, "key {key}");
    }
    assert_eq!(store.len(), KEYS as usize);
    assert_eq!(store.sweep(6_000), KEYS as usize);
}

/// Hits for property tests: `(ms after the previous hit, hits)`.
fn steps(max_gap: u64, max_hits: u64) -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0..=max_gap, 1..=max_hits), 1..200)
}

/// Absolute times from gaps, starting at an unaligned epoch time.
fn times(steps: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut t = 1_700_000_000_123;
    steps
        .iter()
        .map(|&(gap, n)| {
            t += gap;
            (t, n)
        })
        .collect()
}

proptest! {
    #[test]
    fn fixed_window_counts_every_hit_per_window(
        count in 1..20u64,
        period in 1..200u64,
        steps in steps(60, 5),
    ) {
        let store = MemoryCounters::new(1);
        let limit = fixed(count, period);
        let mut counted: HashMap<u64, u64> = HashMap::new();
        let mut allowed: HashMap<u64, u64> = HashMap::new();
        for (t, n) in times(&steps) {
            let window = t / period;
            let k = counted.entry(window).or_default();
            *k += n;
            let h = store.hit(b"k", &limit, n, t);
            prop_assert_eq!(h, Hit {
                allowed: *k <= count,
                remaining: count.saturating_sub(*k),
                reset_ms: (window + 1) * period - t,
            });
            if h.allowed {
                *allowed.entry(window).or_default() += n;
            }
        }
        prop_assert!(allowed.values().all(|&a| a <= count));
    }

    #[test]
    fn sliding_window_matches_its_history(
        count in 1..20u64,
        period in 1..200u64,
        steps in steps(60, 5),
    ) {
        let store = MemoryCounters::new(1);
        let limit = sliding(count, period);
        // Allowed hits per window.
        let mut allowed: HashMap<u64, u64> = HashMap::new();
        for (t, n) in times(&steps) {
            let window = t / period;
            let e = t % period;
            let cur = allowed.get(&window).copied().unwrap_or(0);
            let prev = allowed.get(&(window - 1)).copied().unwrap_or(0);
            // Exact rational check, scaled by the period.
            let fits = (cur + n) * period + prev * (period - e) <= count * period;
            let h = store.hit(b"k", &limit, n, t);
            prop_assert_eq!(h.allowed, fits);
            let cur = if fits { cur + n } else { cur };
            if fits {
                allowed.insert(window, cur);
            }
            let weighed = (prev * (period - e)).div_ceil(period);
            prop_assert_eq!(h.remaining, count.saturating_sub(cur + weighed));
            let reset = if cur > 0 { 2 * period - e } else if prev > 0 { period - e } else { 0 };
            prop_assert_eq!(h.reset_ms, reset);
            prop_assert!(cur <= count);
        }
    }

    #[test]
    fn token_bucket_never_beats_burst_plus_rate(
        count in 1..20u64,
        period in 1..5_000u64,
        burst in 1..20u64,
        steps in steps(500, 6),
    ) {
        let store = MemoryCounters::new(1);
        let limit = bucket(count, period, burst);
        let hits: Vec<(u64, u64, bool)> = times(&steps)
            .into_iter()
            .map(|(t, n)| (t, n, store.hit(b"k", &limit, n, t).allowed))
            .collect();
        for i in 0..hits.len() {
            let mut taken = 0;
            for &(t, n, ok) in &hits[i..] {
                if ok {
                    taken += n;
                }
                let bound = burst + count * (t - hits[i].0) / period;
                prop_assert!(taken <= bound, "{} tokens in {} ms", taken, t - hits[i].0);
            }
        }
        // Liveness: once the bucket has had time to fill, any hit up to the
        // burst is allowed.
        let fill = (burst * period).div_ceil(count);
        let mut last_allowed: Option<u64> = None;
        for &(t, n, ok) in &hits {
            if n <= burst && last_allowed.is_none_or(|last| t - last >= fill) {
                prop_assert!(ok, "refused {} at {} after a full refill", n, t);
            }
            if ok {
                last_allowed = Some(t);
            }
        }
    }

    #[test]
    fn sweeping_changes_no_answer(
        algorithm in 0..3u8,
        steps in prop::collection::vec((0..=300u64, 1..=4u64, 0..3u8, any::<bool>()), 1..200),
    ) {
        let limit = match algorithm {
            0 => fixed(5, 100),
            1 => sliding(5, 100),
            _ => bucket(5, 100, 3),
        };
        let kept = MemoryCounters::new(2);
        let swept = MemoryCounters::new(2);
        let mut t = 1_000_000_037;
        for (gap, n, key, sweep) in steps {
            t += gap;
            if sweep {
                swept.sweep(t);
            }
            let key = [key];
            prop_assert_eq!(kept.hit(&key, &limit, n, t), swept.hit(&key, &limit, n, t));
        }
    }

    #[test]
    fn arbitrary_numbers_never_panic(
        calls in prop::collection::vec(
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), 0..3u8),
            1..50,
        ),
    ) {
        let store = MemoryCounters::new(1);
        for (count, period, burst, hits, now, algorithm) in calls {
            let limit = match algorithm {
                0 => fixed(count, period),
                1 => sliding(count, period),
                _ => bucket(count, period, burst),
            };
            let h = store.hit(b"k", &limit, hits, now);
            let most = if algorithm == 2 { burst } else { count };
            prop_assert!(h.remaining <= most);
            store.sweep(now);
        }
    }
}
