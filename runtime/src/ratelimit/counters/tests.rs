//! Tests of the store: keys, changing limits, sweeping, real threads, and
//! property tests of each algorithm against its definition or guarantee.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use proptest::prelude::*;
use reaper_lang::limits::{Algorithm, LimitSpec};

use super::oracle::OracleCounters;
use super::{CounterStore, Hit, Limit, MemoryCounters, State, Sweep};

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
    let empty = store.heap_bytes();
    for i in 0..100_000u32 {
        store.hit(&i.to_le_bytes(), &fixed(1, 1000), 1, 0);
    }
    assert!(store.heap_bytes() >= 100_000 * 48);
    store.hit(b"live", &fixed(1, 1000), 1, 1000);
    assert_eq!(store.sweep(1000), 100_000);
    assert!(
        store.heap_bytes() < empty + 16 * 1024,
        "{}",
        store.heap_bytes()
    );
    assert_eq!(
        hit(&store, b"live", &fixed(1, 1000), 1, 1001),
        (false, 0, 999)
    );
}

/// Issue 8: a million live counters cost at most 64 bytes each, everything
/// counted, and sweeping them once expired gives the memory back.
#[test]
fn a_million_keys_cost_at_most_64_bytes_each() {
    const KEYS: u32 = 1_000_000;
    let store = MemoryCounters::default();
    let empty = store.heap_bytes();
    let limit = fixed(10, 60_000);
    // Keys as the engine builds them: domain, limit name, a user id.
    let mut key = b"\x04\0\0\0edge\x08\0\0\0per_user\0\x0c\0\0\0".to_vec();
    let prefix = key.len();
    for i in 0..KEYS {
        key.truncate(prefix);
        key.extend_from_slice(format!("user-{i:07}").as_bytes());
        assert!(store.hit(&key, &limit, 1, 1_000).allowed);
    }
    assert_eq!(store.len(), KEYS as usize);
    let per_key = store.heap_bytes() as f64 / f64::from(KEYS);
    assert!(per_key <= 64.0, "{per_key} bytes per key");
    // Nothing has expired yet: a sweep drops nothing.
    assert_eq!(store.sweep(59_999), 0);
    assert_eq!(store.len(), KEYS as usize);
    assert_eq!(store.sweep(60_000), KEYS as usize);
    assert!(store.is_empty());
    assert_eq!(store.heap_bytes(), empty);
}

#[test]
fn sweep_some_examines_at_most_its_budget_and_resumes() {
    let store = MemoryCounters::new(4);
    for i in 0..1000u32 {
        store.hit(&i.to_le_bytes(), &fixed(1, 1000), 1, 0);
    }
    // Inside the window nothing is idle.
    let sweep = store.sweep_some(999, 100);
    assert_eq!(
        sweep,
        Sweep {
            examined: 100,
            dropped: 0
        }
    );
    let mut dropped = 0;
    let mut calls = 0;
    while !store.is_empty() {
        let sweep = store.sweep_some(1000, 64);
        assert!(sweep.examined <= 64, "{sweep:?}");
        dropped += sweep.dropped;
        calls += 1;
        assert!(calls < 100, "the sweep makes progress");
    }
    assert_eq!(dropped, 1000);
    // Every shard's scan completed, so its memory is back.
    store.sweep_some(1000, usize::MAX);
    assert_eq!(store.heap_bytes(), MemoryCounters::new(4).heap_bytes());
}

#[test]
fn new_counters_sweep_old_ones_as_they_come() {
    // No timer: a stream of one-hit keys, each living one window, keeps
    // the store near the keys of the last windows.
    let store = MemoryCounters::new(1);
    let limit = fixed(5, 1000);
    let mut most = 0;
    for i in 0..100_000u64 {
        // 1000 new keys per second.
        store.hit(&i.to_le_bytes(), &limit, 1, i);
        most = most.max(store.len());
    }
    // Idle once its window has ended and a skew tolerance (1 s) has passed:
    // at most 3 seconds of keys, plus the sweep's lag.
    assert!(most <= 6_000, "{most}");
}

#[test]
fn engines_sweep_through_the_trait() {
    let store: &dyn CounterStore = &MemoryCounters::new(1);
    store.hit(b"k", &fixed(1, 1000), 1, 0);
    assert_eq!(
        store.sweep_some(1000, 10),
        Sweep {
            examined: 1,
            dropped: 1
        }
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
fn a_counter_state_fits_the_slot() {
    assert!(size_of::<State>() <= 40, "{}", size_of::<State>());
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

/// Issue 8: threads hammering one fixed-window key count in place, under
/// the shard's read lock; every hit is counted exactly once.
#[test]
fn threads_on_one_fixed_window_count_every_hit_exactly() {
    const BASE: u64 = 1_700_000_040_000;
    let store = MemoryCounters::default();
    let limit = fixed(1_000_000, 60_000);
    let allowed = hammer(&store, &limit, |_| BASE);
    assert_eq!(allowed, THREADS * HITS_PER_THREAD);
    let total = THREADS * HITS_PER_THREAD + 1;
    assert_eq!(
        hit(&store, b"shared", &limit, 1, BASE),
        (true, 1_000_000 - total, 60_000 - BASE % 60_000)
    );
    // Timestamps racing back and forth inside the window count in place
    // too (a stamp behind the window's start is a race, not a new window).
    let store = MemoryCounters::default();
    let allowed = hammer(&store, &limit, |i| BASE + i % 97);
    assert_eq!(allowed, THREADS * HITS_PER_THREAD);
    assert_eq!(
        store.hit(b"shared", &limit, 1, BASE).remaining,
        1_000_000 - total
    );
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

/// How far behind the clock a hit may be stamped in the oracle comparison:
/// the least skew tolerance, so each is a race, not a clock stepped back.
const MAX_JITTER: u64 = 1000;

/// One step of a store's life for the oracle comparison.
#[derive(Debug, Clone)]
enum Step {
    /// `(ms forward, ms of jitter back, key, limit, hits)`
    Hit(u64, u64, u8, usize, u64),
    /// `sweep_some` with this budget, at the clock's time.
    SweepSome(usize),
    /// A full sweep at the clock's time.
    Sweep,
}

/// Limits sharing keys: changed counts, periods and algorithms included.
fn oracle_limits() -> [Limit; 7] {
    [
        fixed(5, 100),
        fixed(3, 100),
        fixed(5, 250),
        sliding(5, 100),
        sliding(2, 1500),
        bucket(5, 100, 3),
        bucket(2, 2000, 4),
    ]
}

fn oracle_steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        8 => (0..=300u64, 0..=MAX_JITTER, 0..6u8, 0..7usize, 1..=4u64)
            .prop_map(|(gap, back, key, limit, hits)| Step::Hit(gap, back, key, limit, hits)),
        1 => (0..8usize).prop_map(Step::SweepSome),
        1 => Just(Step::Sweep),
    ];
    prop::collection::vec(step, 1..300)
}

proptest! {
    /// Issue 8: the fingerprinted, atomic store answers every hit exactly as
    /// the old store (kept as `oracle.rs`) did, through changed limits,
    /// timestamps racing back within the skew tolerance, and sweeps of
    /// either kind (and its own amortised ones).
    #[test]
    fn the_store_agrees_with_the_old_one(steps in oracle_steps()) {
        let store = MemoryCounters::new(2);
        let oracle = OracleCounters::new();
        let limits = oracle_limits();
        let mut clock = 1_000_000_037u64;
        let mut log = Vec::new();
        for step in steps {
            match step {
                Step::Hit(gap, back, key, limit, hits) => {
                    clock += gap;
                    let now = clock - back;
                    let key = [key];
                    let limit = &limits[limit];
                    let a = store.hit(&key, limit, hits, now);
                    let b = oracle.hit(&key, limit, hits, now);
                    log.push(format!("key {key:?} {limit:?} x{hits} at {now}: {a:?}"));
                    prop_assert_eq!(a, b, "{:?} at {}\n{}", limit, now, log.join("\n"));
                }
                // A sweep changes no answer to hits stamped at or after its
                // time; later hits race back by up to `MAX_JITTER`.
                Step::SweepSome(budget) => {
                    let s = store.sweep_some(clock - MAX_JITTER, budget);
                    log.push(format!("sweep_some at {}: {s:?}", clock - MAX_JITTER));
                }
                Step::Sweep => {
                    let s = store.sweep(clock - MAX_JITTER);
                    oracle.sweep(clock - MAX_JITTER);
                    log.push(format!("sweep at {}: {s}", clock - MAX_JITTER));
                    // The old store may keep a counter the new one never
                    // stored (a refused hit turning an idle counter into a
                    // full bucket stamped after the sweep's time), never
                    // the reverse.
                    prop_assert!(store.len() <= oracle.len(), "{}", log.join("\n"));
                }
            }
        }
    }
}
