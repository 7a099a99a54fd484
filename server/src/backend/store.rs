//! The in-memory TTL store: namespaces of keys with values and absolute
//! expiry times (ms since the epoch). An expired key is never returned,
//! whether or not its memory has been reclaimed; reclaiming is the
//! expiry task's job (mini-redis's pattern: it sleeps until the earliest
//! deadline, or until a write sets an earlier one). Limits are enforced,
//! never met by evicting: a new key past `max_keys` is refused.
//!
//! Each namespace is split in shards, each a mutex around a hash map from
//! key to entry and an ordered set of (expiry, key) — the purge reads the
//! set from its front. Keys are shared (`Arc<str>`) between the two.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::{NamespaceStats, PutError, Stored};

const SHARDS: usize = 16;

/// Expired keys one purge pass removes from a shard before letting go of
/// its lock, so requests never wait behind a long purge.
const PURGE_BATCH: usize = 1_024;

#[derive(Default)]
pub struct MemoryStore {
    namespaces: RwLock<HashMap<Box<str>, Arc<Namespace>>>,
    /// The earliest expiry any write has set since the last purge
    /// (`u64::MAX`: none known).
    next_deadline: AtomicU64,
    /// Wakes the expiry task when a write sets an earlier deadline.
    pub(crate) wake: tokio::sync::Notify,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

struct Namespace {
    shards: Box<[Mutex<Shard>]>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Keys held, expired or not (what `max_keys` is checked against once
    /// expired keys are purged).
    keys: AtomicU64,
    /// Bytes of keys and values held.
    bytes: AtomicU64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Arc<str>, Entry>,
    expiries: BTreeSet<(u64, Arc<str>)>,
}

struct Entry {
    value: Bytes,
    expires_at: u64,
}

/// What a write asks for.
#[derive(Debug)]
pub struct Put<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub value: Bytes,
    pub expires_at: u64,
    /// Only create: refuse if a live value is there (`If-None-Match: *`).
    pub create_only: bool,
    /// The namespace's `max_keys`.
    pub max_keys: Option<u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            namespaces: RwLock::default(),
            next_deadline: AtomicU64::new(u64::MAX),
            wake: tokio::sync::Notify::new(),
        }
    }

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
            .or_insert_with(|| {
                Arc::new(Namespace {
                    shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                    hasher: hashbrown::DefaultHashBuilder::default(),
                    keys: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// The live value of `key`, if any.
    pub fn get(&self, namespace: &str, key: &str, now_ms: u64) -> Option<Stored> {
        let ns = self.namespace(namespace)?;
        let shard = ns.shard(key).lock();
        let entry = shard.entries.get(key)?;
        (entry.expires_at > now_ms).then(|| Stored {
            value: entry.value.clone(),
            expires_at: entry.expires_at,
        })
    }

    pub fn put(&self, put: Put<'_>, now_ms: u64) -> Result<(), PutError> {
        let ns = self.namespace_or_create(put.namespace);
        let mut purged = false;
        loop {
            let mut shard = ns.shard(put.key).lock();
            let live = shard
                .entries
                .get(put.key)
                .is_some_and(|e| e.expires_at > now_ms);
            if put.create_only && live {
                return Err(PutError::Exists);
            }
            let size = (put.key.len() + put.value.len()) as u64;
            if let Some((key, old)) = shard.entries.get_key_value(put.key) {
                // Replace in place: the key count does not change.
                let (key, old_expiry, old_size) = (
                    key.clone(),
                    old.expires_at,
                    (key.len() + old.value.len()) as u64,
                );
                shard.expiries.remove(&(old_expiry, key.clone()));
                shard.expiries.insert((put.expires_at, key.clone()));
                shard.entries.insert(
                    key,
                    Entry {
                        value: put.value,
                        expires_at: put.expires_at,
                    },
                );
                ns.bytes.fetch_sub(old_size, Ordering::Relaxed);
                ns.bytes.fetch_add(size, Ordering::Relaxed);
                drop(shard);
                self.note_deadline(put.expires_at);
                return Ok(());
            }
            // A new key: reserve its place under `max_keys` first.
            let reserved = ns.keys.fetch_add(1, Ordering::AcqRel) + 1;
            if put.max_keys.is_some_and(|max| reserved > max) {
                ns.keys.fetch_sub(1, Ordering::AcqRel);
                drop(shard);
                if purged {
                    return Err(PutError::Full);
                }
                // Expired keys still count until purged: purge this
                // namespace now, then try once more.
                purge_namespace(&ns, now_ms, usize::MAX);
                purged = true;
                continue;
            }
            let key: Arc<str> = Arc::from(put.key);
            shard.expiries.insert((put.expires_at, key.clone()));
            shard.entries.insert(
                key,
                Entry {
                    value: put.value,
                    expires_at: put.expires_at,
                },
            );
            ns.bytes.fetch_add(size, Ordering::Relaxed);
            drop(shard);
            self.note_deadline(put.expires_at);
            return Ok(());
        }
    }

    /// Deletes `key`; whether a live value was there.
    pub fn delete(&self, namespace: &str, key: &str, now_ms: u64) -> bool {
        let Some(ns) = self.namespace(namespace) else {
            return false;
        };
        let mut shard = ns.shard(key).lock();
        let Some((key, entry)) = shard.entries.remove_entry(key) else {
            return false;
        };
        shard.expiries.remove(&(entry.expires_at, key.clone()));
        ns.keys.fetch_sub(1, Ordering::AcqRel);
        ns.bytes
            .fetch_sub((key.len() + entry.value.len()) as u64, Ordering::Relaxed);
        entry.expires_at > now_ms
    }

    fn note_deadline(&self, expires_at: u64) {
        let before = self.next_deadline.fetch_min(expires_at, Ordering::AcqRel);
        if expires_at < before {
            self.wake.notify_one();
        }
    }

    /// Removes keys expired at `now_ms`; returns how many, and the earliest
    /// expiry left (`u64::MAX` if none).
    pub fn purge(&self, now_ms: u64) -> (usize, u64) {
        // Writes from now on lower the deadline again; the scan below finds
        // every earlier one.
        self.next_deadline.store(u64::MAX, Ordering::Release);
        let namespaces: Vec<Arc<Namespace>> = self.namespaces.read().values().cloned().collect();
        let mut removed = 0;
        let mut next = u64::MAX;
        for ns in namespaces {
            let (n, deadline) = purge_namespace(&ns, now_ms, PURGE_BATCH);
            removed += n;
            next = next.min(deadline);
        }
        self.next_deadline.fetch_min(next, Ordering::AcqRel);
        (removed, self.next_deadline.load(Ordering::Acquire))
    }

    pub fn stats(&self) -> Vec<NamespaceStats> {
        let mut out: Vec<NamespaceStats> = self
            .namespaces
            .read()
            .iter()
            .map(|(name, ns)| NamespaceStats {
                namespace: name.to_string(),
                keys: ns.keys.load(Ordering::Relaxed),
                bytes: ns.bytes.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        out
    }
}

impl Namespace {
    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        // `index` is reduced modulo the length.
        &self.shards[index]
    }
}

/// Removes expired keys of every shard of `ns`, at most `batch` per shard
/// per lock; the earliest expiry left.
fn purge_namespace(ns: &Namespace, now_ms: u64, batch: usize) -> (usize, u64) {
    let mut removed = 0;
    let mut next = u64::MAX;
    for shard in ns.shards.iter() {
        loop {
            let mut shard = shard.lock();
            let mut done = 0;
            while done < batch {
                let Some(first) = shard.expiries.first() else {
                    break;
                };
                if first.0 > now_ms {
                    break;
                }
                let Some((_, key)) = shard.expiries.pop_first() else {
                    break;
                };
                if let Some(entry) = shard.entries.remove(&key) {
                    ns.keys.fetch_sub(1, Ordering::AcqRel);
                    ns.bytes
                        .fetch_sub((key.len() + entry.value.len()) as u64, Ordering::Relaxed);
                }
                done += 1;
            }
            removed += done;
            let first = shard.expiries.first().map_or(u64::MAX, |(at, _)| *at);
            if done < batch || first > now_ms {
                next = next.min(first);
                break;
            }
            // A full batch: let writers in, then go on.
        }
    }
    (removed, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(key: &'a str, value: &'static str, expires_at: u64) -> Put<'a> {
        Put {
            namespace: "ns",
            key,
            value: Bytes::from_static(value.as_bytes()),
            expires_at,
            create_only: false,
            max_keys: None,
        }
    }

    #[test]
    fn expired_keys_are_never_returned() {
        let store = MemoryStore::new();
        store.put(put("k", "v", 1_000), 0).unwrap();
        assert_eq!(store.get("ns", "k", 999).unwrap().value, "v");
        assert!(store.get("ns", "k", 1_000).is_none());
        // Still held until purged, then gone.
        assert_eq!(store.stats()[0].keys, 1);
        assert_eq!(store.purge(1_000), (1, u64::MAX));
        assert_eq!(store.stats()[0].keys, 0);
        assert_eq!(store.stats()[0].bytes, 0);
    }

    #[test]
    fn max_keys_refuses_new_keys_but_not_overwrites_and_counts_only_live_ones() {
        let store = MemoryStore::new();
        let limited = |key, expires_at| Put {
            max_keys: Some(2),
            ..put(key, "v", expires_at)
        };
        store.put(limited("a", 100), 0).unwrap();
        store.put(limited("b", 5_000), 0).unwrap();
        assert_eq!(store.put(limited("c", 5_000), 0), Err(PutError::Full));
        store.put(limited("b", 6_000), 0).unwrap();
        // `a` expired: its place is free again, without waiting for a purge.
        store.put(limited("c", 5_000), 200).unwrap();
        assert_eq!(store.stats()[0].keys, 2);
    }

    #[test]
    fn create_only_refuses_a_live_key_and_takes_an_expired_one() {
        let store = MemoryStore::new();
        let create = |key, expires_at| Put {
            create_only: true,
            ..put(key, "v", expires_at)
        };
        store.put(create("lock", 100), 0).unwrap();
        assert_eq!(store.put(create("lock", 200), 50), Err(PutError::Exists));
        store.put(create("lock", 300), 100).unwrap();
        assert_eq!(store.get("ns", "lock", 150).unwrap().expires_at, 300);
    }

    #[test]
    fn purge_reports_the_next_deadline_and_delete_says_whether_it_was_live() {
        let store = MemoryStore::new();
        store.put(put("a", "1", 10), 0).unwrap();
        store.put(put("b", "2", 20), 0).unwrap();
        assert_eq!(store.purge(5), (0, 10));
        assert_eq!(store.purge(10), (1, 20));
        assert!(store.delete("ns", "b", 15));
        assert!(!store.delete("ns", "b", 15));
        assert_eq!(store.purge(100), (0, u64::MAX));
    }
}
