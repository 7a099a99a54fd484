//! Resident memory of a million rate-limit counters (issue 8): fills an
//! in-memory store with 1,000,000 keys, then sweeps them once expired, and
//! prints the process's RSS (from /proc/self/statm) and the store's own
//! byte accounting at each step. Run with
//! `cargo run --release -p reaper-benches --example ratelimit_memory`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measurement aborts on setup errors"
)]

use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::counters::{CounterStore, Limit, MemoryCounters};

/// Resident set size in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let keys: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let limit = Limit {
        count: 10,
        period_ms: 60_000,
        algorithm: Algorithm::FixedWindow,
    };
    let store = MemoryCounters::default();
    let before = rss();
    let mut key = Vec::with_capacity(64);
    for i in 0..keys {
        key.clear();
        key.extend_from_slice(format!("edge/per_user/user-{i:07}").as_bytes());
        assert!(store.hit(&key, &limit, 1, 1_000).allowed);
    }
    let filled = rss();
    let per_key = |bytes: u64| bytes as f64 / f64::from(keys);
    println!("counters: {}", store.len());
    println!(
        "store heap_bytes: {} ({:.1} B/key)",
        store.heap_bytes(),
        per_key(store.heap_bytes() as u64)
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB filled: {:.1} B/key",
        before as f64 / 1048576.0,
        filled as f64 / 1048576.0,
        per_key(filled.saturating_sub(before))
    );
    let swept = store.sweep(60_000);
    println!(
        "after sweep: {swept} dropped, {} left, heap_bytes {}, RSS {:.1} MiB",
        store.len(),
        store.heap_bytes(),
        rss() as f64 / 1048576.0
    );
}
