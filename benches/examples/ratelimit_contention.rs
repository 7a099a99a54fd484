//! Latency of hits on one fixed-window key from several threads at once
//! (issue 8's lock convoy): each thread times every hit for about a second
//! and the run prints the hits per second and the 99th, 99.9th percentile
//! and largest single-hit latency over all threads. A thread preempted
//! while holding a mutex makes every other thread wait for it; counting in
//! place under a read lock does not. Run with
//! `cargo run --release -p reaper-benches --example ratelimit_contention -- 4`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::counters::{CounterStore, Limit, MemoryCounters};

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let limit = Limit {
        count: u64::MAX / 2,
        period_ms: 365 * 86_400_000,
        algorithm: Algorithm::FixedWindow,
    };
    let now = 1_767_225_600_000;
    let store = MemoryCounters::default();
    let run = Duration::from_secs(1);
    let mut latencies: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::with_capacity(1 << 22);
                    let end = Instant::now() + run;
                    while Instant::now() < end {
                        for _ in 0..64 {
                            let start = Instant::now();
                            black_box(store.hit(b"shared", &limit, 1, now));
                            let nanos = start.elapsed().as_nanos();
                            out.push(u64::try_from(nanos).unwrap_or(u64::MAX));
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q) as usize;
        latencies.get(i).copied().unwrap_or(0)
    };
    println!(
        "{threads} threads: {:.1} M hits/s; latency p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} µs",
        latencies.len() as f64 / run.as_secs_f64() / 1e6,
        at(0.5),
        at(0.99),
        at(0.999),
        at(0.9999),
        latencies.last().copied().unwrap_or(0) / 1000
    );
}
