//! Rate-limit counters: the [`CounterStore`] trait, the in-process store
//! [`MemoryCounters`] (its shard tables in `table.rs`), and the three
//! counting algorithms.
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
//!   until full). A restarted counter that its first hit leaves idle (a
//!   refused hit on a new sliding window or token bucket) is dropped, as a
//!   new counter in that state is never stored.
//! - **Memory.** A hit that is refused on a key with no state (sliding window,
//!   token bucket) stores nothing, so floods of refused new keys cost no
//!   memory. A counter that holds no information any more (an ended window,
//!   a full bucket) is *idle*: dropping it changes no answer to a hit
//!   stamped at or after the time it was found idle. The embedder drives
//!   reclaiming: [`MemoryCounters::sweep_some`] examines a bounded number of
//!   counters per call (call it from a timer; [`MemoryCounters::sweep`] does
//!   them all), and every new counter also examines
//!   [`SWEEP_ON_INSERT`] old ones of its shard, dropping those idle for a
//!   whole skew tolerance before the hit's time (so such amortised sweeping
//!   changes no answer to any hit stamped within the tolerance, only, as the
//!   clock rules above say, to one after the clock was stepped back). With
//!   no timer at all, a shard therefore holds at most about twice the
//!   counters that were live during its last sweep cycle. No thread is
//!   started: the library does not depend on an async runtime.
//! - **Size.** A counter costs at most 64 bytes whatever the key's length:
//!   48 for its slot (a keyed 128-bit fingerprint of the key in place of
//!   the key, the period, three state words), at most about 11 for its
//!   index entry, and the unfilled part of one 12 KiB chunk per shard.
//!   [`MemoryCounters::heap_bytes`] accounts for every byte.
//! - **Contention.** Fixed-window hits on an existing counter in its
//!   current window take the shard's *read* lock and add to the count with
//!   one atomic instruction, so threads hitting one key do not queue; the
//!   count stays exact (the atomic adds are the order of the hits). Opening
//!   a new window, inserting, sliding windows and token buckets take the
//!   write lock.

mod fixed_window;
#[cfg(test)]
mod oracle;
mod sliding_window;
mod table;
#[cfg(test)]
mod tests;
mod token_bucket;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use reaper_lang::limits::{Algorithm, LimitSpec};
use siphasher::sip128::SipHasher13;

use fixed_window::FixedWindow;
use sliding_window::SlidingWindow;
use table::{Fingerprint, SlotRef, Table};
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

    /// Examines up to about `budget` counters and drops those idle at
    /// `now_ms` (see [`MemoryCounters::sweep_some`]). Stores whose backend
    /// expires keys itself (Redis TTLs) keep the default, which does
    /// nothing.
    fn sweep_some(&self, now_ms: u64, budget: usize) -> Sweep {
        let _ = (now_ms, budget);
        Sweep::default()
    }
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

/// Old counters a new counter examines (and drops if idle) in its shard:
/// the amortised sweep that bounds memory without a timer.
pub const SWEEP_ON_INSERT: usize = 2;

/// What one sweep call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sweep {
    /// Counters looked at.
    pub examined: usize,
    /// Counters dropped (idle).
    pub dropped: usize,
}

/// Counters in memory: a fixed number of shards, each a read-write lock
/// around a table (`table.rs`) from a key's fingerprint to its fixed-size
/// state. The shard and the table position both come from the fingerprint,
/// computed once per hit; hitting an existing counter allocates nothing.
///
/// The fingerprint is SipHash-1-3 (128-bit output) keyed by a per-store
/// random seed: keys carry client-chosen descriptor values, so neither
/// collisions of fingerprints nor floods of one table position can be
/// aimed at without the seed.
pub struct MemoryCounters {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    hasher: SipHasher13,
    /// The shard [`MemoryCounters::sweep_some`] resumes at.
    sweep_shard: AtomicUsize,
}

/// One shard, on its own cache lines so that threads working on
/// neighbouring shards do not contend for the same line.
#[repr(align(128))]
struct Shard(RwLock<Table>);

impl Shard {
    // A panic while a table is locked (none is expected: table code does
    // not panic) leaves it consistent enough to count on: every write
    // completes before the next instruction that could panic.
    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new(DEFAULT_SHARDS)
    }
}

impl MemoryCounters {
    /// A store with `shards` shards, rounded up to a power of two (at least
    /// 1, at most 65,536), and a fresh random seed.
    pub fn new(shards: usize) -> Self {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let shards = (0..count)
            .map(|_| Shard(RwLock::new(Table::default())))
            .collect::<Box<[Shard]>>();
        // std's `RandomState` is seeded from the operating system's random
        // source; two of its outputs make the SipHash key.
        let random = std::hash::RandomState::new();
        MemoryCounters {
            mask: count - 1,
            shards,
            hasher: SipHasher13::new_with_keys(random.hash_one(0u8), random.hash_one(1u8)),
            sweep_shard: AtomicUsize::new(0),
        }
    }

    /// Drops every counter idle at `now_ms` and gives memory back; returns
    /// how many were dropped. Each shard is locked while it is scanned, so
    /// hits on other shards proceed meanwhile. Prefer
    /// [`MemoryCounters::sweep_some`] from a timer: it bounds each pause.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut table = shard.write();
            dropped += table.sweep_all(|slot| idle(slot, now_ms));
            table.compact();
        }
        dropped
    }

    /// Examines up to `budget` counters (at least one shard's worth of
    /// locking, however small the budget), resuming where the last call
    /// stopped and going round the shards in turn; drops those idle at
    /// `now_ms`, and gives a shard's memory back each time its scan
    /// completes. Call it from a timer with the clock passed to
    /// [`CounterStore::hit`]: a budget of a few thousand bounds the pause
    /// to tens of microseconds, and calls totalling the store's size per
    /// period keep it within about one period of expired counters.
    pub fn sweep_some(&self, now_ms: u64, budget: usize) -> Sweep {
        let mut sweep = Sweep::default();
        // Every shard at most once per call, so empty shards cannot spin.
        for _ in 0..self.shards.len() {
            if sweep.examined >= budget {
                break;
            }
            let index = self.sweep_shard.load(Ordering::Relaxed) & self.mask;
            let mut table = self.shards[index].write();
            let (examined, dropped, wrapped) =
                table.sweep_some(budget - sweep.examined, |slot| idle(slot, now_ms));
            sweep.examined += examined;
            sweep.dropped += dropped;
            if wrapped {
                table.compact();
                drop(table);
                // Racing callers may skip a shard; the next round visits it.
                self.sweep_shard.store(index + 1, Ordering::Relaxed);
            }
        }
        sweep
    }

    /// How many counters are stored (including idle ones not yet swept).
    /// Under concurrent hits this is a snapshot taken shard by shard.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.read().len() == 0)
    }

    /// Every byte the store holds: its shards and, on the heap, each
    /// shard's index and slot chunks. Divided by [`MemoryCounters::len`], it
    /// is the memory per counter.
    pub fn heap_bytes(&self) -> usize {
        size_of::<MemoryCounters>()
            + size_of_val(&*self.shards)
            + self
                .shards
                .iter()
                .map(|shard| shard.read().heap_bytes())
                .sum::<usize>()
    }

    fn fingerprint(&self, key: &[u8]) -> Fingerprint {
        let (a, b) = self.hasher.hash(key).as_u64();
        Fingerprint(a, b)
    }

    fn shard(&self, fp: Fingerprint) -> &Shard {
        // The table takes the first word's low bits; the shard takes the
        // second word's high bits (its low bits hold the algorithm).
        // Truncation intended: only the low bits of the shift are kept.
        &self.shards[(fp.1 >> 40) as usize & self.mask]
    }
}

/// The rules every store applies before counting: `hits == 0` counts as 1
/// and `period_ms == 0` is 1 ms; `Err` is the answer to a limit of 0, which
/// refuses everything and stores nothing. Public, with [`skew`],
/// [`skew_tolerance`] and [`window_start`], so that stores kept elsewhere
/// (a peer mesh's) apply the same rules.
#[inline]
pub fn normalize(limit: &Limit, hits: u64, now_ms: u64) -> Result<(Limit, u64), Hit> {
    let limit = Limit {
        period_ms: limit.period_ms.max(1),
        ..*limit
    };
    if limit.count == 0 {
        return Err(Hit {
            allowed: false,
            remaining: 0,
            reset_ms: limit.period_ms - now_ms % limit.period_ms,
        });
    }
    Ok((limit, hits.max(1)))
}

/// Whether the counter in `slot` is idle at `now_ms`.
fn idle(slot: SlotRef<'_>, now_ms: u64) -> bool {
    slot.state().is_idle(now_ms)
}

impl CounterStore for MemoryCounters {
    fn hit(&self, key: &[u8], limit: &Limit, hits: u64, now_ms: u64) -> Hit {
        let (limit, hits) = match normalize(limit, hits, now_ms) {
            Ok(numbers) => numbers,
            Err(refused) => return refused,
        };
        let fp = self.fingerprint(key);
        let shard = self.shard(fp);
        if limit.algorithm == Algorithm::FixedWindow {
            let table = shard.read();
            if let Some(hit) = table
                .find(fp)
                .and_then(|at| fixed_in_place(table.slot(at), &limit, hits, now_ms))
            {
                return hit;
            }
        }
        let mut table = shard.write();
        if let Some(at) = table.find(fp) {
            let (hit, drop) = table.update(at, |state| state.hit_stored(&limit, hits, now_ms));
            if drop {
                table.remove(at);
            }
            return hit;
        }
        let (state, hit) = State::start(&limit, hits, now_ms);
        if !state.is_idle(now_ms) {
            // A shard holds at most `MAX_LEN` (2³² − 1) counters, 200 GB of
            // them: not storing this one (the hit is answered as for a
            // new counter) is the only answer left then.
            let _ = table.insert(fp, &state);
            table.sweep_some(SWEEP_ON_INSERT, |slot| {
                let margin = skew_tolerance(slot.period_ms());
                idle(slot, now_ms.saturating_sub(margin))
            });
        }
        hit
    }

    fn sweep_some(&self, now_ms: u64, budget: usize) -> Sweep {
        MemoryCounters::sweep_some(self, now_ms, budget)
    }
}

/// Largest hit counted in place: with every adder having seen a count below
/// [`IN_PLACE_COUNT`] before adding at most this much, fewer than 2³¹
/// threads cannot carry the count past `u64::MAX`, so the atomic add needs
/// no saturation and the count stays exactly the old store's.
const IN_PLACE_HITS: u64 = 1 << 32;
const IN_PLACE_COUNT: u64 = 1 << 63;

/// A fixed-window hit counted under the shard's read lock, if it can be:
/// the slot counts the limit's algorithm and period, and the hit falls in
/// the slot's window (or races behind it within the skew tolerance). The
/// window start and period change only under the write lock, which no one
/// holds meanwhile; the count changes by atomic adds only. `None`: take the
/// write lock (a new window, a clock stepped back, huge numbers).
fn fixed_in_place(slot: SlotRef<'_>, limit: &Limit, hits: u64, now_ms: u64) -> Option<Hit> {
    let period = limit.period_ms;
    if !slot.is_fixed() || slot.period_ms() != period || hits > IN_PLACE_HITS {
        return None;
    }
    let start = slot.start();
    let at = match skew(start, now_ms, period) {
        Skew::Ahead if window_start(now_ms, period) == start => now_ms,
        Skew::Behind => start,
        Skew::Ahead | Skew::SteppedBack => return None,
    };
    let count = slot.count();
    if count.load(Ordering::Relaxed) >= IN_PLACE_COUNT {
        return None;
    }
    let after = count
        .fetch_add(hits, Ordering::Relaxed)
        .saturating_add(hits);
    Some(Hit {
        allowed: after <= limit.count,
        remaining: limit.count.saturating_sub(after),
        reset_ms: period - (at - start),
    })
}

/// One counter's state; which variant follows the limit's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fixed(FixedWindow),
    Sliding(SlidingWindow),
    Bucket(TokenBucket),
}

impl State {
    /// Counts a hit on a stored counter; returns whether to drop the
    /// counter afterwards: a restarted counter that the hit left idle, which
    /// is stored no more than a new counter left idle is (so that whether a
    /// sweep dropped the old counter first changes no answer).
    fn hit_stored(&mut self, limit: &Limit, hits: u64, now_ms: u64) -> (Hit, bool) {
        let restarts = !self.counts(limit);
        let hit = self.hit(limit, hits, now_ms);
        (hit, restarts && self.is_idle(now_ms))
    }

    /// Whether the state counts `limit`'s algorithm and period (else a hit
    /// restarts it).
    fn counts(&self, limit: &Limit) -> bool {
        let period = match (self, limit.algorithm) {
            (State::Fixed(c), Algorithm::FixedWindow) => c.period_ms(),
            (State::Sliding(c), Algorithm::SlidingWindow) => c.period_ms(),
            (State::Bucket(c), Algorithm::TokenBucket { .. }) => c.period_ms(),
            _ => return false,
        };
        period == limit.period_ms
    }

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
#[inline]
pub fn skew_tolerance(period_ms: u64) -> u64 {
    period_ms.max(SKEW_TOLERANCE_MS)
}

/// Where a hit's timestamp stands against a counter's own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skew {
    /// At or after the counter's time: use the hit's time.
    Ahead,
    /// Earlier by at most the skew tolerance: use the counter's time.
    Behind,
    /// Earlier by more (the clock was stepped back): move the counter back
    /// to the hit's time.
    SteppedBack,
}

/// Where a hit stamped `now_ms` stands against a counter at `counter_ms`.
#[inline]
pub fn skew(counter_ms: u64, now_ms: u64, period_ms: u64) -> Skew {
    match counter_ms.checked_sub(now_ms) {
        None | Some(0) => Skew::Ahead,
        Some(behind) if behind <= skew_tolerance(period_ms) => Skew::Behind,
        Some(_) => Skew::SteppedBack,
    }
}

/// Start of the clock-aligned window of length `period_ms` (≥ 1) holding
/// `now_ms`.
#[inline]
pub fn window_start(now_ms: u64, period_ms: u64) -> u64 {
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
