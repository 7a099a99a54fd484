//! The store as it was before fingerprints and atomics (issue 8): a mutex
//! around a hash table from the boxed key to its [`State`]. Kept only as the
//! test oracle the new [`super::MemoryCounters`] must agree with hit for
//! hit, sweeps included. One change from the old store: a counter restarted
//! by a changed algorithm or period and left idle by its first hit is
//! dropped, as a new counter left idle always was (before, whether a sweep
//! had dropped the old counter could change a later answer).

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use parking_lot::Mutex;

use super::{CounterStore, Hit, Limit, State, normalize};

pub(super) struct OracleCounters {
    table: Mutex<HashTable<(Box<[u8]>, State)>>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl OracleCounters {
    pub(super) fn new() -> Self {
        OracleCounters {
            table: Mutex::new(HashTable::new()),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    pub(super) fn sweep(&self, now_ms: u64) -> usize {
        let mut table = self.table.lock();
        let before = table.len();
        table.retain(|(_, state)| !state.is_idle(now_ms));
        before - table.len()
    }

    pub(super) fn len(&self) -> usize {
        self.table.lock().len()
    }
}

impl CounterStore for OracleCounters {
    fn hit(&self, key: &[u8], limit: &Limit, hits: u64, now_ms: u64) -> Hit {
        let (limit, hits) = match normalize(limit, hits, now_ms) {
            Ok(numbers) => numbers,
            Err(refused) => return refused,
        };
        let hash = self.hasher.hash_one(key);
        let mut table = self.table.lock();
        let entry = table.entry(
            hash,
            |(stored, _)| **stored == *key,
            |(stored, _)| self.hasher.hash_one(&**stored),
        );
        match entry {
            Entry::Occupied(mut occupied) => {
                let (hit, drop) = occupied.get_mut().1.hit_stored(&limit, hits, now_ms);
                if drop {
                    occupied.remove();
                }
                hit
            }
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
