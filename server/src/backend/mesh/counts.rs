//! The mesh's rate-limit counters: per counter key, this node's own state
//! and the latest state each peer incarnation (node id and generation)
//! reported for it. A hit is decided here, in this process, from both
//! (`window.rs` has the arithmetic); what changed is collected for the next
//! batch to the peers.
//!
//! A peer's state is kept until it is idle by its algorithm's rule (its
//! window has ended, its bucket is full), whether or not the peer still
//! lives: the hits a node admitted before dying keep counting until their
//! window ends, then are dropped. A restarted node is a new incarnation, so
//! its fresh counts do not overwrite what its previous life counted.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};
use reaper_runtime::ratelimit::counters::{Hit, Limit};

use super::window::{self, State};

const SHARDS: usize = 32;

/// Most counters this node holds; past it, states from peers for keys this
/// node has never counted are dropped (a peer cannot make it grow without
/// bound).
const MAX_COUNTERS: usize = 4_000_000;

/// One incarnation of a peer, interned.
pub(super) type PeerIndex = u32;

pub(super) struct MeshCounters {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::hash::RandomState,
    len: AtomicUsize,
    /// (node id, generation) → index, for peer states.
    incarnations: RwLock<HashMap<(String, u64), PeerIndex>>,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<[u8]>, Counter>,
    /// Keys whose own state changed since the last batch.
    dirty: Vec<Box<[u8]>>,
}

#[derive(Default)]
struct Counter {
    own: Option<State>,
    /// The peers' latest states, one per incarnation.
    peers: Vec<(PeerIndex, State)>,
    dirty: bool,
}

impl MeshCounters {
    pub(super) fn new() -> Self {
        MeshCounters {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::hash::RandomState::new(),
            len: AtomicUsize::new(0),
            incarnations: RwLock::default(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        let index = (self.hasher.hash_one(key) >> 40) as usize % self.shards.len();
        // `index` is reduced modulo the length.
        &self.shards[index]
    }

    /// The index of a peer incarnation.
    pub(super) fn incarnation(&self, node: &str, generation: u64) -> PeerIndex {
        let key = (node.to_owned(), generation);
        if let Some(index) = self.incarnations.read().get(&key) {
            return *index;
        }
        let mut map = self.incarnations.write();
        let next = PeerIndex::try_from(map.len()).unwrap_or(PeerIndex::MAX);
        *map.entry(key).or_insert(next)
    }

    /// Counts `hits` of `key` under `limit` at `now_ms`, as this node's own.
    pub(super) fn hit(&self, key: &[u8], limit: &Limit, hits: u64, now_ms: u64) -> Hit {
        let (limit, hits) = match window::normalize(limit, hits, now_ms) {
            Ok(numbers) => numbers,
            Err(refused) => return refused,
        };
        let mut shard = self.shard(key).lock();
        let Shard { map, dirty } = &mut *shard;
        if !map.contains_key(key) {
            map.insert(key.into(), Counter::default());
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        let Some(counter) = map.get_mut(key) else {
            return Hit {
                allowed: false,
                remaining: 0,
                reset_ms: limit.period_ms,
            };
        };
        let before = counter.own;
        let (mut own, restarted) = match counter.own {
            Some(state) if state.counts(&limit) => (state, false),
            // New, or the limit's algorithm or period changed: start over.
            _ => (window::fresh(&limit, now_ms), true),
        };
        let hit = window::hit(&mut own, &counter.peers, &limit, hits, now_ms);
        // As in the memory counters, a new or restarted state that its
        // first hit leaves idle (a refused hit) is not kept: a slightly
        // late hit must find no state, not this one.
        counter.own = (!restarted || !own.is_idle(now_ms)).then_some(own);
        if before != counter.own && counter.own.is_some() && !counter.dirty {
            counter.dirty = true;
            dirty.push(key.into());
        }
        hit
    }

    /// Takes this node's states that changed since the last call.
    pub(super) fn take_changes(&self) -> Vec<(Box<[u8]>, State)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let Shard { map, dirty } = &mut *shard;
            for key in dirty.drain(..) {
                if let Some(counter) = map.get_mut(&key) {
                    counter.dirty = false;
                    if let Some(own) = counter.own {
                        out.push((key, own));
                    }
                }
            }
        }
        out
    }

    /// Every own state not idle at `now_ms` (what a peer gets on
    /// connecting).
    pub(super) fn snapshot(&self, now_ms: u64) -> Vec<(Box<[u8]>, State)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (key, counter) in &shard.map {
                if let Some(own) = counter.own.filter(|s| !s.is_idle(now_ms)) {
                    out.push((key.clone(), own));
                }
            }
        }
        out
    }

    /// Records states a peer incarnation reported.
    pub(super) fn apply_peer(
        &self,
        peer: PeerIndex,
        states: impl IntoIterator<Item = (Vec<u8>, State)>,
        now_ms: u64,
    ) {
        for (key, state) in states {
            let mut shard = self.shard(&key).lock();
            let idle = state.is_idle(now_ms);
            if !shard.map.contains_key(key.as_slice()) {
                if idle || self.len.load(Ordering::Relaxed) >= MAX_COUNTERS {
                    continue;
                }
                shard.map.insert(key.clone().into(), Counter::default());
                self.len.fetch_add(1, Ordering::Relaxed);
            }
            let Some(counter) = shard.map.get_mut(key.as_slice()) else {
                continue;
            };
            match counter.peers.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, held)) if state.is_older_than(held) => {}
                Some(slot) if !idle => slot.1 = state,
                Some(_) => counter.peers.retain(|(p, _)| *p != peer),
                None if !idle => counter.peers.push((peer, state)),
                None => {}
            }
        }
    }

    /// Drops idle states, own and peers', and counters left empty; returns
    /// how many counters were dropped.
    pub(super) fn sweep(&self, now_ms: u64) -> usize {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.map.retain(|_, counter| {
                counter.peers.retain(|(_, s)| !s.is_idle(now_ms));
                // Peers drop an idle state by the same rule: no need to
                // send it first.
                if counter.own.is_some_and(|s| s.is_idle(now_ms)) {
                    counter.own = None;
                }
                let keep = counter.own.is_some() || !counter.peers.is_empty();
                dropped += usize::from(!keep);
                keep
            });
        }
        self.len.fetch_sub(dropped, Ordering::Relaxed);
        dropped
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Fixed-window hits counted mesh-wide (own and peers') in `now_ms`'s
    /// window, as this node knows them (tests watch convergence with it).
    #[cfg(test)]
    pub(super) fn fixed_total(&self, key: &[u8], period: u64, now_ms: u64) -> u64 {
        let start = now_ms - now_ms % period;
        let shard = self.shard(key).lock();
        let Some(counter) = shard.map.get(key) else {
            return 0;
        };
        counter
            .own
            .iter()
            .chain(counter.peers.iter().map(|(_, s)| s))
            .filter_map(|s| match *s {
                State::Fixed {
                    period: p,
                    start: s,
                    count,
                } if p == period && s == start => Some(count),
                _ => None,
            })
            .sum()
    }
}
