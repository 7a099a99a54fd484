//! One shard's counters: a compact hash table from key fingerprints to
//! fixed-size counter states, with its own byte accounting and an
//! incremental sweep cursor.
//!
//! Layout, chosen so that memory per live counter stays under 64 bytes at
//! every fill level (a plain open-addressing table of 48-byte slots would
//! need up to 110 bytes just after doubling):
//!
//! - `slots`: the counters, dense (`0..len`), in chunks of [`CHUNK`] slots
//!   allocated as the table grows and freed as it shrinks; a removal moves
//!   the last slot into the hole. A counter is 48 bytes: 40 in its slot
//!   (the key's 128-bit fingerprint with the algorithm in its two low bits,
//!   the period, two state words) and its third state word, the count, in
//!   a parallel chunk of atomics, so that threads adding to one count do
//!   not also bounce the line the fingerprints are read from.
//! - `index`: a power-of-two array of `u32` slot numbers, linear probing,
//!   at most 3/4 full, deletion by backward shift (no tombstones). Its
//!   position for a fingerprint is the fingerprint's low bits.
//!
//! The counts are atomics so that a caller holding the shard's *read* lock
//! can count a fixed-window hit in place (see `MemoryCounters::hit`);
//! everything else (the index, fingerprints, periods, other state words,
//! inserting, removing) changes only under the write lock, i.e. through
//! `&mut Table`.

use std::sync::atomic::{AtomicU64, Ordering};

use super::State;
use super::fixed_window::FixedWindow;
use super::sliding_window::SlidingWindow;
use super::token_bucket::TokenBucket;

/// Slots per chunk: small enough that the partly filled chunk of each shard
/// costs little (12 KiB), large enough that chunk pointers cost nothing.
pub(super) const CHUNK: usize = 256;

/// An index entry with no slot.
const EMPTY: u32 = u32::MAX;

/// The smallest index allocated.
const MIN_INDEX: usize = 16;

/// Most counters one shard holds: slot numbers are `u32` and `EMPTY` is
/// reserved. With the default 64 shards, that is about 2³⁸ counters.
pub(super) const MAX_LEN: usize = (u32::MAX - 1) as usize;

/// A keyed 128-bit fingerprint of a counter key. Two keys share one only by
/// a collision of a keyed hash (about 2⁻¹²⁶ per pair, whatever keys an
/// attacker picks, as they do not know the store's seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint(pub u64, pub u64);

/// The algorithm of a slot's state, kept in the two low bits of the
/// fingerprint's second word.
const TAG_MASK: u64 = 0b11;
const TAG_FIXED: u64 = 0;
const TAG_SLIDING: u64 = 1;
const TAG_BUCKET: u64 = 2;

/// One counter, but for its count.
#[derive(Clone, Copy, Default)]
struct Slot {
    fp0: u64,
    /// The fingerprint's second word, its two low bits replaced by the tag.
    fp1_tag: u64,
    period_ms: u64,
    /// State words 0 and 2; word 1 is the count.
    words: [u64; 2],
}

impl Slot {
    fn matches(&self, fp: Fingerprint) -> bool {
        self.fp0 == fp.0 && self.fp1_tag & !TAG_MASK == fp.1 & !TAG_MASK
    }
}

/// A counter as readers see it under the read lock.
#[derive(Clone, Copy)]
pub(super) struct SlotRef<'a> {
    slot: &'a Slot,
    count: &'a AtomicU64,
}

impl<'a> SlotRef<'a> {
    pub(super) fn is_fixed(&self) -> bool {
        self.slot.fp1_tag & TAG_MASK == TAG_FIXED
    }

    pub(super) fn period_ms(&self) -> u64 {
        self.slot.period_ms
    }

    /// State word 0: a window's start, a bucket's `tat_ms`.
    pub(super) fn start(&self) -> u64 {
        self.slot.words[0]
    }

    /// State word 1, the count, the one word changed under the read lock,
    /// by single atomic read-modify-writes (so relaxed ordering suffices;
    /// the lock orders everything else).
    pub(super) fn count(&self) -> &'a AtomicU64 {
        self.count
    }

    pub(super) fn state(&self) -> State {
        let [w0, w2] = self.slot.words;
        let words = [w0, self.count.load(Ordering::Relaxed), w2];
        let period = self.slot.period_ms;
        match self.slot.fp1_tag & TAG_MASK {
            TAG_FIXED => State::Fixed(FixedWindow::from_words(period, words)),
            TAG_SLIDING => State::Sliding(SlidingWindow::from_words(period, words)),
            _ => State::Bucket(TokenBucket::from_words(period, words)),
        }
    }
}

/// The table is full: the shard holds [`MAX_LEN`] counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full;

#[derive(Default)]
pub(super) struct Table {
    index: Box<[u32]>,
    slots: Vec<Box<[Slot]>>,
    /// The counts, in chunks parallel to `slots`.
    counts: Vec<Box<[AtomicU64]>>,
    len: usize,
    /// Where the incremental sweep resumes.
    cursor: usize,
}

impl Table {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes this table holds on the heap: the index, every allocated
    /// chunk, and the chunk list.
    pub(super) fn heap_bytes(&self) -> usize {
        self.index.len() * size_of::<u32>()
            + self.slots.len() * CHUNK * (size_of::<Slot>() + size_of::<AtomicU64>())
            + self.slots.capacity() * size_of::<Box<[Slot]>>()
            + self.counts.capacity() * size_of::<Box<[AtomicU64]>>()
    }

    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    fn home(&self, fp0: u64) -> usize {
        // Truncation intended: the low bits pick the position.
        fp0 as usize & self.mask()
    }

    pub(super) fn slot(&self, at: u32) -> SlotRef<'_> {
        let at = at as usize;
        SlotRef {
            slot: &self.slots[at / CHUNK][at % CHUNK],
            count: &self.counts[at / CHUNK][at % CHUNK],
        }
    }

    fn fp0(&self, at: u32) -> u64 {
        let at = at as usize;
        self.slots[at / CHUNK][at % CHUNK].fp0
    }

    /// Stores `state` in slot `at` (its algorithm and period may differ
    /// from the slot's), with the fingerprint's second word `fp1`.
    fn set(&mut self, at: u32, fp0: u64, fp1: u64, state: &State) {
        let (tag, period_ms, [w0, w1, w2]) = match state {
            State::Fixed(c) => (TAG_FIXED, c.period_ms(), c.words()),
            State::Sliding(c) => (TAG_SLIDING, c.period_ms(), c.words()),
            State::Bucket(c) => (TAG_BUCKET, c.period_ms(), c.words()),
        };
        let at = at as usize;
        self.slots[at / CHUNK][at % CHUNK] = Slot {
            fp0,
            fp1_tag: (fp1 & !TAG_MASK) | tag,
            period_ms,
            words: [w0, w2],
        };
        *self.counts[at / CHUNK][at % CHUNK].get_mut() = w1;
    }

    /// The slot holding `fp`.
    pub(super) fn find(&self, fp: Fingerprint) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(fp.0);
        // The index is at most 3/4 full, so an empty entry ends the walk.
        loop {
            let at = self.index[i];
            if at == EMPTY {
                return None;
            }
            let a = at as usize;
            if self.slots[a / CHUNK][a % CHUNK].matches(fp) {
                return Some(at);
            }
            i = (i + 1) & mask;
        }
    }

    /// The state of the counter in slot `at`, changed by `f`.
    pub(super) fn update<R>(&mut self, at: u32, f: impl FnOnce(&mut State) -> R) -> R {
        let slot = self.slot(at);
        let (fp0, fp1) = (slot.slot.fp0, slot.slot.fp1_tag);
        let mut state = slot.state();
        let result = f(&mut state);
        self.set(at, fp0, fp1, &state);
        result
    }

    /// Adds a counter for `fp`, which the table must not hold.
    pub(super) fn insert(&mut self, fp: Fingerprint, state: &State) -> Result<(), Full> {
        if self.len >= MAX_LEN {
            return Err(Full);
        }
        if (self.len + 1) * 4 > self.index.len() * 3 {
            self.rebuild_index((self.index.len() * 2).max(MIN_INDEX));
        }
        let at = self.len;
        if at / CHUNK == self.slots.len() {
            self.slots
                .push(vec![Slot::default(); CHUNK].into_boxed_slice());
            self.counts
                .push((0..CHUNK).map(|_| AtomicU64::new(0)).collect());
        }
        self.len += 1;
        // `at < MAX_LEN < u32::MAX`.
        let at = u32::try_from(at).map_err(|_| Full)?;
        self.set(at, fp.0, fp.1, state);
        self.place(at, fp.0);
        Ok(())
    }

    /// Files slot `at` in the index.
    fn place(&mut self, at: u32, fp0: u64) {
        let mask = self.mask();
        let mut i = self.home(fp0);
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.index[i] = at;
    }

    /// Where slot `at` is filed in the index.
    fn position(&self, at: u32) -> usize {
        let mask = self.mask();
        let mut i = self.home(self.fp0(at));
        // Every slot below `len` is filed, so the walk ends.
        while self.index[i] != at {
            i = (i + 1) & mask;
        }
        i
    }

    /// Drops the counter in slot `at`; the last slot moves into it.
    pub(super) fn remove(&mut self, at: u32) {
        let mask = self.mask();
        // Backward-shift deletion: pull later entries of the probe run into
        // the hole while their home position allows it.
        let mut hole = self.position(at);
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let other = self.index[j];
            if other == EMPTY {
                break;
            }
            let home = self.home(self.fp0(other));
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.index[hole] = other;
                hole = j;
            }
        }
        self.index[hole] = EMPTY;
        self.len -= 1;
        let last = u32::try_from(self.len).unwrap_or(EMPTY);
        if at != last {
            let position = self.position(last);
            self.index[position] = at;
            let (from, to) = (last as usize, at as usize);
            let moved = self.slots[from / CHUNK][from % CHUNK];
            self.slots[to / CHUNK][to % CHUNK] = moved;
            let count = self.counts[from / CHUNK][from % CHUNK].load(Ordering::Relaxed);
            *self.counts[to / CHUNK][to % CHUNK].get_mut() = count;
        }
        // Keep one spare chunk, so a table hovering at a chunk boundary
        // does not allocate and free on every hit.
        if self.slots.len() > self.len.div_ceil(CHUNK) + 1 {
            self.slots.truncate(self.len.div_ceil(CHUNK) + 1);
            self.counts.truncate(self.len.div_ceil(CHUNK) + 1);
        }
    }

    /// Re-files every slot in a fresh index of `size` entries (a power of
    /// two, or 0 for an empty table).
    fn rebuild_index(&mut self, size: usize) {
        self.index = vec![EMPTY; size].into_boxed_slice();
        for at in 0..self.len {
            // `at < len ≤ MAX_LEN`.
            let at = u32::try_from(at).unwrap_or(EMPTY);
            let fp0 = self.fp0(at);
            self.place(at, fp0);
        }
    }

    /// Examines up to `budget` counters from the sweep cursor on, dropping
    /// those `idle` says hold no information; returns how many were
    /// examined and dropped, and whether the cursor came round to the start.
    pub(super) fn sweep_some(
        &mut self,
        budget: usize,
        idle: impl Fn(SlotRef<'_>) -> bool,
    ) -> (usize, usize, bool) {
        let mut examined = 0;
        let mut dropped = 0;
        while examined < budget {
            if self.cursor >= self.len {
                self.cursor = 0;
                return (examined, dropped, true);
            }
            examined += 1;
            // `cursor < len ≤ MAX_LEN`.
            let at = u32::try_from(self.cursor).unwrap_or(EMPTY);
            if idle(self.slot(at)) {
                // The last slot moves here: look at this position again.
                self.remove(at);
                dropped += 1;
            } else {
                self.cursor += 1;
            }
        }
        (examined, dropped, false)
    }

    /// Examines every counter, dropping the idle ones; returns how many
    /// were dropped. The incremental sweep starts over afterwards.
    pub(super) fn sweep_all(&mut self, idle: impl Fn(SlotRef<'_>) -> bool) -> usize {
        self.cursor = 0;
        let (_, dropped, _) = self.sweep_some(usize::MAX, idle);
        self.cursor = 0;
        dropped
    }

    /// Gives memory back after a sweep: frees chunks beyond the live slots
    /// and halves the index while it is at most 1/8 full.
    pub(super) fn compact(&mut self) {
        self.slots.truncate(self.len.div_ceil(CHUNK));
        self.slots.shrink_to_fit();
        self.counts.truncate(self.len.div_ceil(CHUNK));
        self.counts.shrink_to_fit();
        if self.len == 0 {
            self.index = Box::default();
            self.cursor = 0;
            return;
        }
        let mut size = self.index.len();
        while size > MIN_INDEX && self.len * 8 <= size {
            size /= 2;
        }
        if size != self.index.len() {
            self.rebuild_index(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(start: u64) -> State {
        State::Fixed(FixedWindow::from_words(1000, [start, 1, 0]))
    }

    #[test]
    fn a_counter_is_48_bytes() {
        assert_eq!(size_of::<Slot>() + size_of::<AtomicU64>(), 48);
    }

    #[test]
    fn insert_find_and_remove_in_any_order() {
        let mut table = Table::default();
        // Fingerprints sharing their low bits collide in the index.
        let fp = |i: u64| Fingerprint(i << 40 | (i % 3), i.wrapping_mul(0x9e37_79b9) << 2);
        for i in 0..1000 {
            assert_eq!(table.find(fp(i)), None);
            assert_eq!(table.insert(fp(i), &fixed(i)), Ok(()));
        }
        assert_eq!(table.len(), 1000);
        let start = |table: &Table, i: u64| table.find(fp(i)).map(|at| table.slot(at).start());
        for i in 0..1000 {
            assert_eq!(start(&table, i), Some(i));
        }
        // Drop the even ones.
        let (examined, dropped, wrapped) = table.sweep_some(usize::MAX, |s| s.start() % 2 == 0);
        assert_eq!((examined, dropped, wrapped), (1000, 500, true));
        for i in 0..1000 {
            assert_eq!(start(&table, i), (i % 2 == 1).then_some(i), "{i}");
        }
        table.compact();
        for i in (1..1000).step_by(2) {
            assert_eq!(start(&table, i), Some(i));
        }
        table.sweep_some(usize::MAX, |_| true);
        table.compact();
        assert_eq!((table.len(), table.heap_bytes()), (0, 0));
    }

    #[test]
    fn the_sweep_resumes_where_it_stopped() {
        let mut table = Table::default();
        for i in 0..10 {
            assert_eq!(table.insert(Fingerprint(i, i << 2), &fixed(i)), Ok(()));
        }
        assert_eq!(table.sweep_some(4, |_| false), (4, 0, false));
        assert_eq!(table.sweep_some(4, |_| false), (4, 0, false));
        assert_eq!(table.sweep_some(4, |_| false), (2, 0, true));
        assert_eq!(table.sweep_some(4, |_| true), (4, 4, false));
        assert_eq!(table.len(), 6);
    }

    #[test]
    fn the_algorithm_is_part_of_the_slot_not_the_key() {
        let mut table = Table::default();
        let fp = Fingerprint(7, 7 << 2);
        assert_eq!(table.insert(fp, &fixed(0)), Ok(()));
        let at = table.find(fp).unwrap_or(EMPTY);
        let sliding = State::Sliding(SlidingWindow::from_words(60_000, [0, 3, 4]));
        table.update(at, |s| *s = sliding);
        assert_eq!(table.find(fp), Some(at));
        assert_eq!(table.slot(at).state(), sliding);
        assert!(!table.slot(at).is_fixed());
    }
}
