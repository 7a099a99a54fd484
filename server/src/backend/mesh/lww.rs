//! The mesh's replicated TTL store: every node holds every key it has
//! heard of, and replicas converge by **last-writer-wins** per
//! `(namespace, key)`.
//!
//! - A write's version is `(hlc, node id)`: a hybrid logical clock reading
//!   (milliseconds since the epoch in the high 48 bits, a counter in the
//!   low 16) taken by the writing node, ties broken by its id. The clock
//!   never reads less than any version this node has seen, so a write made
//!   after seeing another always wins over it, whatever the wall clocks.
//! - A value carries its absolute expiry: every replica expires it at the
//!   same moment, and a replica that receives it late keeps the same
//!   deadline.
//! - A delete writes a **tombstone** with a version like any write, so a
//!   delete beats older writes that arrive after it. A tombstone is kept
//!   until the deleted value would have expired, at most
//!   [`TOMBSTONE_MAX_MS`] (and [`TOMBSTONE_MIN_MS`] when no live value was
//!   known): an older write arriving after its tombstone is gone (a very
//!   late replica) could bring the value back, never past its own expiry.
//! - An entry (value or tombstone) is compared by version until it is
//!   purged, expired or not; writes that are already expired are ignored.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::backend::{NamespaceStats, PutError, Stored};

/// Longest a tombstone is kept.
pub(super) const TOMBSTONE_MAX_MS: u64 = 3_600_000;
/// How long the tombstone of a key with no known live value is kept: long
/// enough for writes in flight when it was deleted.
pub(super) const TOMBSTONE_MIN_MS: u64 = 60_000;

const SHARDS: usize = 16;

/// Bits of an HLC reading that count events within one millisecond.
const LOGICAL_BITS: u32 = 16;

/// A hybrid logical clock.
#[derive(Debug, Default)]
pub(super) struct Hlc(AtomicU64);

impl Hlc {
    /// A reading for a new write at wall time `now_ms`: later than every
    /// reading taken or seen before.
    pub(super) fn tick(&self, now_ms: u64) -> u64 {
        let physical = now_ms.saturating_mul(1 << LOGICAL_BITS);
        let mut last = self.0.load(Ordering::Acquire);
        loop {
            let next = physical.max(last.saturating_add(1));
            match self
                .0
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Notes a version seen from a peer.
    pub(super) fn observe(&self, hlc: u64) {
        self.0.fetch_max(hlc, Ordering::AcqRel);
    }

    /// The reading of wall time `ms` with a zero counter.
    pub(super) fn at_ms(ms: u64) -> u64 {
        ms.saturating_mul(1 << LOGICAL_BITS)
    }
}

/// Who wrote an entry, and when by the writer's HLC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Version {
    pub hlc: u64,
    pub node: Arc<str>,
}

/// A value (`Some`) or a tombstone (`None`), versioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub value: Option<Bytes>,
    pub expires_at: u64,
    pub version: Version,
}

#[derive(Default)]
pub(super) struct LwwStore {
    namespaces: RwLock<HashMap<Box<str>, Arc<Namespace>>>,
}

/// One shard of a namespace: key → entry.
type Shard = HashMap<Box<str>, Entry>;

struct Namespace {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::hash::RandomState,
    /// Values held (not tombstones), expired or not until purged.
    keys: AtomicU64,
    /// Bytes of the values' keys and values.
    bytes: AtomicU64,
}

/// A local write.
pub(super) struct Write<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub entry: Entry,
    pub create_only: bool,
    pub max_keys: Option<u64>,
}

impl Namespace {
    fn new() -> Self {
        Namespace {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::hash::RandomState::new(),
            keys: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let index = (self.hasher.hash_one(key) >> 40) as usize % self.shards.len();
        // `index` is reduced modulo the length.
        &self.shards[index]
    }

    fn account(&self, key: &str, entry: &Entry, add: bool) {
        let Some(value) = &entry.value else {
            return;
        };
        let size = (key.len() + value.len()) as u64;
        if add {
            self.keys.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(size, Ordering::Relaxed);
        } else {
            self.keys.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(size, Ordering::Relaxed);
        }
    }

    /// Removes expired entries; how many.
    fn purge(&self, now_ms: u64) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut map = shard.lock();
            map.retain(|key, entry| {
                let keep = entry.expires_at > now_ms;
                if !keep {
                    self.account(key, entry, false);
                    removed += 1;
                }
                keep
            });
            if map.len() < map.capacity() / 4 {
                map.shrink_to_fit();
            }
        }
        removed
    }
}

impl LwwStore {
    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces.read().get(name).cloned()
    }

    fn namespace_or_create(&self, name: &str) -> Arc<Namespace> {
        if let Some(ns) = self.namespace(name) {
            return ns;
        }
        self.namespaces
            .write()
            .entry(name.into())
            .or_insert_with(|| Arc::new(Namespace::new()))
            .clone()
    }

    pub(super) fn get(&self, namespace: &str, key: &str, now_ms: u64) -> Option<Stored> {
        let ns = self.namespace(namespace)?;
        let map = ns.shard(key).lock();
        let entry = map.get(key)?;
        let value = entry.value.as_ref()?;
        (entry.expires_at > now_ms).then(|| Stored {
            value: value.clone(),
            expires_at: entry.expires_at,
        })
    }

    /// The live value's expiry, if any.
    pub(super) fn live_expiry(&self, namespace: &str, key: &str, now_ms: u64) -> Option<u64> {
        self.get(namespace, key, now_ms).map(|s| s.expires_at)
    }

    /// A write made on this node: `create_only` and `max_keys` are checked
    /// against this replica only.
    pub(super) fn write(&self, write: Write<'_>, now_ms: u64) -> Result<(), PutError> {
        let ns = self.namespace_or_create(write.namespace);
        let mut purged = false;
        loop {
            let mut map = ns.shard(write.key).lock();
            let held = map.get(write.key);
            let live = held.is_some_and(|e| e.value.is_some() && e.expires_at > now_ms);
            if write.create_only && live {
                return Err(PutError::Exists);
            }
            let holds_value = held.is_some_and(|e| e.value.is_some());
            if write.entry.value.is_some()
                && !holds_value
                && write
                    .max_keys
                    .is_some_and(|max| ns.keys.load(Ordering::Relaxed) >= max)
            {
                drop(map);
                if purged {
                    return Err(PutError::Full);
                }
                // Expired values count until purged: purge, then retry once.
                ns.purge(now_ms);
                purged = true;
                continue;
            }
            apply_in(&ns, &mut map, write.key, write.entry);
            return Ok(());
        }
    }

    /// An entry from a peer (or this node), applied if its version is newer
    /// than the one held; whether it was.
    pub(super) fn apply(&self, namespace: &str, key: &str, entry: Entry, now_ms: u64) -> bool {
        if entry.expires_at <= now_ms {
            return false;
        }
        let ns = self.namespace_or_create(namespace);
        let mut map = ns.shard(key).lock();
        apply_in(&ns, &mut map, key, entry)
    }

    /// Entries (values and tombstones, unexpired) with a version newer than
    /// `since_hlc`, for anti-entropy.
    pub(super) fn since(&self, since_hlc: u64, now_ms: u64) -> Vec<(String, String, Entry)> {
        let namespaces: Vec<(Box<str>, Arc<Namespace>)> = self
            .namespaces
            .read()
            .iter()
            .map(|(name, ns)| (name.clone(), ns.clone()))
            .collect();
        let mut out = Vec::new();
        for (name, ns) in namespaces {
            for shard in ns.shards.iter() {
                for (key, entry) in shard.lock().iter() {
                    if entry.version.hlc > since_hlc && entry.expires_at > now_ms {
                        out.push((name.to_string(), key.to_string(), entry.clone()));
                    }
                }
            }
        }
        out
    }

    /// Removes expired values and tombstones; how many.
    pub(super) fn purge(&self, now_ms: u64) -> usize {
        let namespaces: Vec<Arc<Namespace>> = self.namespaces.read().values().cloned().collect();
        namespaces.iter().map(|ns| ns.purge(now_ms)).sum()
    }

    pub(super) fn stats(&self) -> Vec<NamespaceStats> {
        NamespaceStats::sorted(self.namespaces.read().iter().map(|(name, ns)| {
            (
                &**name,
                ns.keys.load(Ordering::Relaxed),
                ns.bytes.load(Ordering::Relaxed),
            )
        }))
    }
}

/// Last-writer-wins: replaces the held entry if `entry` is newer.
fn apply_in(ns: &Namespace, map: &mut Shard, key: &str, entry: Entry) -> bool {
    match map.get_mut(key) {
        Some(held) if held.version >= entry.version => false,
        Some(held) => {
            ns.account(key, held, false);
            ns.account(key, &entry, true);
            *held = entry;
            true
        }
        None => {
            ns.account(key, &entry, true);
            map.insert(key.into(), entry);
            true
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    fn entry(value: Option<&'static str>, expires_at: u64, hlc: u64, node: &str) -> Entry {
        Entry {
            value: value.map(|v| Bytes::from_static(v.as_bytes())),
            expires_at,
            version: Version {
                hlc,
                node: node.into(),
            },
        }
    }

    #[test]
    fn the_newest_version_wins_whatever_the_arrival_order() {
        let a = LwwStore::default();
        let b = LwwStore::default();
        let writes = [
            entry(Some("one"), 10_000, 5, "n1"),
            entry(None, 10_000, 7, "n2"),
            entry(Some("two"), 10_000, 7, "n1"),
        ];
        for w in &writes {
            a.apply("ns", "k", w.clone(), 0);
        }
        for w in writes.iter().rev() {
            b.apply("ns", "k", w.clone(), 0);
        }
        // (7, "n2") beats (7, "n1"): the tombstone wins on both.
        assert_eq!(a.get("ns", "k", 0), None);
        assert_eq!(b.get("ns", "k", 0), None);
        assert_eq!(a.stats()[0].keys, 0);
        a.apply("ns", "k", entry(Some("three"), 10_000, 8, "n1"), 0);
        assert_eq!(a.get("ns", "k", 0).unwrap().value, "three");
        assert_eq!(a.stats()[0].keys, 1);
    }

    #[test]
    fn create_only_and_max_keys_are_checked_locally() {
        let s = LwwStore::default();
        let write = |key, create_only| Write {
            namespace: "ns",
            key,
            entry: entry(Some("v"), 1_000, 1, "n"),
            create_only,
            max_keys: Some(1),
        };
        s.write(write("a", true), 0).unwrap();
        assert_eq!(s.write(write("a", true), 0), Err(PutError::Exists));
        assert_eq!(s.write(write("b", false), 0), Err(PutError::Full));
        // Once `a` expires, `b` fits.
        s.write(write("b", false), 1_000).unwrap();
        assert_eq!(s.purge(2_000), 1);
    }

    #[test]
    fn the_clock_never_goes_back() {
        let hlc = Hlc::default();
        let first = hlc.tick(1_000);
        assert_eq!(first, Hlc::at_ms(1_000));
        assert_eq!(hlc.tick(1_000), first + 1);
        hlc.observe(Hlc::at_ms(5_000));
        assert!(hlc.tick(2_000) > Hlc::at_ms(5_000));
    }
}
