//! Rate-limit counters: the [`CounterStore`] trait, the in-process store
//! [`MemoryCounters`], and the three counting algorithms.
//!
//! A counter is identified by an opaque byte key (the caller builds it from
//! the domain, the limit and its `by` values) and is checked against a
//! [`Limit`]: at most `count` hits per `period_ms`, counted by one algorithm.
//!
//! | Algorithm | State | Over-limit hits | Exact arithmetic |
//! |---|---|---|---|
//! | fixed window | window start, count | counted (as lyft/ratelimit) | `fixed_window.rs` |
//! | sliding window | window start, current and previous counts | not counted | `sliding_window.rs` |
//! | token bucket (GCRA) | theoretical arrival time | not counted | `token_bucket.rs` |
//!
//! All arithmetic is on integers (`u64`, widened to `u128` where a product
//! could overflow); nothing rounds except where an algorithm's header says
//! so, and nothing wraps or panics: sums saturate at `u64::MAX`.
//!
//! Rules shared by every algorithm:
//!
//! - **`hits == 0` counts as 1**, as Envoy's `hits_addend` does. The caller
//!   is expected to map 0 to 1 itself; doing the same here means a caller
//!   that forgets cannot let requests through uncounted.
//! - **`count == 0` refuses every hit** and stores nothing: `remaining` is 0
//!   and `reset_ms` is the time to the end of the clock-aligned period.
//!   **`period_ms == 0` is read as 1 ms.** The checker rejects both; they can
//!   only come from a caller's override.
//! - **Clock skew.** Callers read the clock before taking the counter's lock,
//!   so a hit stamped slightly earlier than the counter's latest time is
//!   normal, not an error. Call `max(period, 1 s)` the *skew tolerance*. A
//!   hit stamped earlier by at most the tolerance is a race: it is treated as
//!   happening at the counter's time (windows: it counts in the counter's
//!   window, never in a closed one; token buckets: it simply sees fewer
//!   tokens). A hit stamped earlier by more than the tolerance means the
//!   clock was stepped back: the counter moves back to the hit's time,
//!   keeping what it has counted (a token bucket: left empty), so it is not
//!   reset and not stuck until the clock catches up. The price: a caller
//!   whose timestamps jump back and forth by more than the tolerance gains up
//!   to one period's worth of hits per jump, so feed the store from one
//!   clock.
//! - **A limit whose algorithm or period changed** (a reload, or an Envoy
//!   override that is not in the key) restarts the counter, as lyft's
//!   period-stamped keys do. A changed `count` (or `burst`) keeps the state
//!   and checks it against the new numbers (a token bucket keeps its time
//!   until full).
//! - **Memory.** A hit that is refused on a key with no state (sliding window,
//!   token bucket) stores nothing, so floods of refused new keys cost no
//!   memory. [`MemoryCounters::sweep`] drops every counter that holds no
//!   information any more (dropping one changes no answer to a hit stamped
//!   at or after the sweep's time) and shrinks tables left mostly empty.

mod fixed_window;
mod sliding_window;
#[cfg(test)]
mod tests;
mod token_bucket;

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use parking_lot::Mutex;
use reaper_lang::limits::{Algorithm, LimitSpec};

use fixed_window::FixedWindow;
use sliding_window::SlidingWindow;
use token_bucket::TokenBucket;

/// What one hit (of `hits` units) did to one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hit {
    /// `false`: this hit is over the limit.
    pub allowed: bool,
    /// How many single hits a call at the same time would still allow right
    /// after this one (0 when over the limit for fixed windows; for sliding
    /// windows and token buckets, a refused hit of several units may leave
    /// room for a smaller one).
    pub remaining: u64,
    /// Milliseconds until the counter is fully available again if nothing
    /// else hits it: the window end (fixed), the time the counted hits have
    /// aged out of the sliding period (sliding), the time the bucket is full
    /// (token bucket). 0 means it already is.
    pub reset_ms: u64,
}

/// Where counters live. Implementations must be correct under concurrent
/// callers.
pub trait CounterStore: Send + Sync {
    /// Counts `hits` (≥ 1; 0 counts as 1) against the counter `key` under
    /// `limit` at time `now_ms` (ms since the epoch, from the caller's clock).
    fn hit(&self, key: &[u8], limit: &Limit, hits: u64, now_ms: u64) -> Hit;
}

/// The numbers a counter is checked against (a [`LimitSpec`]'s, or an Envoy
/// override's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub count: u64,
    pub period_ms: u64,
    pub algorithm: Algorithm,
}

impl From<&LimitSpec> for Limit {
    fn from(spec: &LimitSpec) -> Self {
        Limit {
            count: spec.count,
            period_ms: spec.period_ms,
            algorithm: spec.algorithm,
        }
    }
}

/// Shards of [`MemoryCounters::default`]: enough that a few dozen threads
/// rarely meet on one lock.
pub const DEFAULT_SHARDS: usize = 64;

/// Most shards [`MemoryCounters::new`] creates.
const MAX_SHARDS: usize = 1 << 16;

/// Tables below this capacity are not shrunk by a sweep: regrowing costs
/// more than the few kilobytes saved.
const MIN_SHRINK_CAPACITY: usize = 1024;

/// Counters in memory: a fixed number of shards, each a mutex around a hash
/// table from key to state. The shard is chosen by the key's hash, which is
/// computed once and reused for the table lookup; looking up an existing
/// counter allocates nothing, a new one allocates its boxed key once.
///
/// The hasher is randomly seeded per store (keys carry client-chosen
/// descriptor values, so a fixed hash would invite collision floods).
pub struct MemoryCounters {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

/// One shard, on its own cache lines so that threads working on
/// neighbouring shards do not contend for the same line.
#[repr(align(128))]
struct Shard(Mutex<HashTable<(Box<[u8]>, State)>>);

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new(DEFAULT_SHARDS)
    }
}

impl MemoryCounters {
    /// A store with `shards` shards, rounded up to a power of two (at least
    /// 1, at most 65,536).
    pub fn new(shards: usize) -> Self {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let shards = (0..count)
            .map(|_| Shard(Mutex::new(HashTable::new())))
            .collect::<Box<[Shard]>>();
        MemoryCounters {
            mask: count - 1,
            shards,
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// Drops counters that no longer hold information at `now_ms` (expired
    /// windows, full buckets), reclaiming memory; returns how many were
    /// dropped. The server calls it periodically, with the clock it passes
    /// to [`CounterStore::hit`]. Each shard is locked while it is scanned, so
    /// hits on other shards proceed meanwhile.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut table = shard.0.lock();
            let before = table.len();
            table.retain(|(_, state)| !state.is_idle(now_ms));
            let len = table.len();
            dropped += before - len;
            if table.capacity() > MIN_SHRINK_CAPACITY && len < table.capacity() / 4 {
                table.shrink_to(len, |(key, _)| self.hasher.hash_one(&**key));
            }
        }
        dropped
    }

    /// How many counters are stored (including idle ones not yet swept).
    /// Under concurrent hits this is a snapshot taken shard by shard.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.0.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.0.lock().is_empty())
    }

    fn shard(&self, hash: u64) -> &Shard {
        // The table uses the hash's low bits (bucket) and top 7 bits (tag);
        // the shard takes bits from the middle so that neither is constant
        // within a shard.
        let index = (hash >> 32) as usize & self.mask;
        &self.shards[index]
    }
}

impl CounterStore for MemoryCounters {
    fn hit(&self, key: &[u8], limit: &Limit, hits: u64, now_ms: u64) -> Hit {
        let limit = Limit {
            period_ms: limit.period_ms.max(1),
            ..*limit
        };
        let hits = hits.max(1);
        if limit.count == 0 {
            return Hit {
                allowed: false,
                remaining: 0,
                reset_ms: limit.period_ms - now_ms % limit.period_ms,
            };
        }
        let hash = self.hasher.hash_one(key);
        let mut table = self.shard(hash).0.lock();
        let entry = table.entry(
            hash,
            |(stored, _)| **stored == *key,
            |(stored, _)| self.hasher.hash_one(&**stored),
        );
        match entry {
            Entry::Occupied(mut occupied) => occupied.get_mut().1.hit(&limit, hits, now_ms),
            Entry::Vacant(vacant) => {
                let (state, hit) = State::start(&limit, hits, now_ms);
                if !state.is_idle(now_ms) {
                    vacant.insert((Box::from(key), state));
                }
                hit
            }
        }
    }
}

/// One counter's state; which variant follows the limit's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fixed(FixedWindow),
    Sliding(SlidingWindow),
    Bucket(TokenBucket),
}

impl State {
    /// Counts a hit; `limit.count ≥ 1`, `limit.period_ms ≥ 1`, `hits ≥ 1`.
    fn hit(&mut self, limit: &Limit, hits: u64, now_ms: u64) -> Hit {
        let period = limit.period_ms;
        match (self, limit.algorithm) {
            (State::Fixed(c), Algorithm::FixedWindow) if c.period_ms() == period => {
                c.hit(limit.count, hits, now_ms)
            }
            (State::Sliding(c), Algorithm::SlidingWindow) if c.period_ms() == period => {
                c.hit(limit.count, hits, now_ms)
            }
            (State::Bucket(c), Algorithm::TokenBucket { burst }) if c.period_ms() == period => {
                c.hit(limit.count, burst, hits, now_ms)
            }
            // The algorithm or the period changed: start over.
            (state, _) => {
                let (fresh, hit) = State::start(limit, hits, now_ms);
                *state = fresh;
                hit
            }
        }
    }

    /// A new counter for `limit` at `now_ms`, and its first hit.
    fn start(limit: &Limit, hits: u64, now_ms: u64) -> (State, Hit) {
        let period = limit.period_ms;
        match limit.algorithm {
            Algorithm::FixedWindow => {
                let mut c = FixedWindow::new(period, now_ms);
                let hit = c.hit(limit.count, hits, now_ms);
                (State::Fixed(c), hit)
            }
            Algorithm::SlidingWindow => {
                let mut c = SlidingWindow::new(period, now_ms);
                let hit = c.hit(limit.count, hits, now_ms);
                (State::Sliding(c), hit)
            }
            Algorithm::TokenBucket { burst } => {
                let mut c = TokenBucket::new(period, now_ms);
                let hit = c.hit(limit.count, burst, hits, now_ms);
                (State::Bucket(c), hit)
            }
        }
    }

    /// Whether the state says nothing a fresh counter would not: dropping it
    /// at `now_ms` changes no later answer.
    fn is_idle(&self, now_ms: u64) -> bool {
        match self {
            State::Fixed(c) => c.is_idle(now_ms),
            State::Sliding(c) => c.is_idle(now_ms),
            State::Bucket(c) => c.is_idle(now_ms),
        }
    }
}

/// The least skew tolerance: threads that read the clock before taking a
/// lock race by microseconds, and a clock stepped back by less than this is
/// treated as a race too.
const SKEW_TOLERANCE_MS: u64 = 1000;

/// How far behind a counter's time a hit may be stamped and still count as
/// a race rather than a clock stepped back.
fn skew_tolerance(period_ms: u64) -> u64 {
    period_ms.max(SKEW_TOLERANCE_MS)
}

/// Where a hit's timestamp stands against a counter's own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skew {
    /// At or after the counter's time: use the hit's time.
    Ahead,
    /// Earlier by at most the skew tolerance: use the counter's time.
    Behind,
    /// Earlier by more (the clock was stepped back): move the counter back
    /// to the hit's time.
    SteppedBack,
}

fn skew(counter_ms: u64, now_ms: u64, period_ms: u64) -> Skew {
    match counter_ms.checked_sub(now_ms) {
        None | Some(0) => Skew::Ahead,
        Some(behind) if behind <= skew_tolerance(period_ms) => Skew::Behind,
        Some(_) => Skew::SteppedBack,
    }
}

/// Start of the clock-aligned window of length `period_ms` (≥ 1) holding
/// `now_ms`.
fn window_start(now_ms: u64, period_ms: u64) -> u64 {
    now_ms - now_ms % period_ms
}

/// `a / b`, through a 64-bit division when both fit (a 128-bit division is a
/// slow library call); `u128::MAX` if `b` is 0.
fn div(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (_, Ok(0)) => u128::MAX,
        (Ok(a), Ok(b)) => u128::from(a / b),
        _ => a / b,
    }
}

/// `⌈a / b⌉`, like [`div`].
fn div_ceil(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (_, Ok(0)) => u128::MAX,
        (Ok(a), Ok(b)) => u128::from(a.div_ceil(b)),
        _ => a.div_ceil(b),
    }
}

/// `n` as `u64`, saturating.
fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
