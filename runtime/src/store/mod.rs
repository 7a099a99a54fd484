//! The in-memory TTL store: namespaces of keys with values and absolute
//! expiry times (ms since the epoch). An expired key is never returned,
//! whether or not its memory has been reclaimed; reclaiming is the
//! embedder's timer's job (mini-redis's pattern: a server's expiry task
//! sleeps until the earliest deadline, or until a write sets an earlier
//! one and the deadline hook wakes it; an embedder without a timer calls
//! [`MemoryStore::purge_due`] as it goes). Limits are enforced, never met
//! by evicting: a new key past `max_keys` is refused. The store starts no
//! thread and knows no async runtime: `reaper serve` and the Python
//! bindings hold the same one.
//!
//! Memory per key is kept near Redis's (about 100 bytes plus the key and
//! the value; `docs/benchmarks.md` has the measurement):
//!
//! - each namespace is split in shards, each a mutex around a hash table
//!   of 32-byte entries: one allocation holding the key then the value,
//!   the key's length and the expiry;
//! - expiry is indexed by a **wheel** of one-second buckets, each a list of
//!   the 8-byte hashes of the keys that expire in it. An overwrite that
//!   moves a key's expiry leaves its hash in the old bucket, where the
//!   purge finds the key alive and drops the stale hash.

pub mod access;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use thiserror::Error;

const SHARDS: usize = 16;

/// Hashes one purge step handles before letting go of a shard's lock, so
/// requests never wait behind a long purge.
const PURGE_BATCH: usize = 4_096;

/// The wheel's bucket width.
const BUCKET_MS: u64 = 1_000;

/// Why a write was refused.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum PutError {
    #[error("the key exists and the write asked to create it only")]
    Exists,
    #[error("the namespace holds its maximum number of keys")]
    Full,
}

/// A live value and its absolute expiry (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub value: Bytes,
    pub expires_at: u64,
}

/// What a namespace holds, for metrics and status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamespaceStats {
    pub namespace: String,
    pub keys: u64,
    pub bytes: u64,
}

impl NamespaceStats {
    /// One entry per `(namespace, keys, bytes)`, sorted by namespace.
    pub fn sorted<'a>(
        namespaces: impl Iterator<Item = (&'a str, u64, u64)>,
    ) -> Vec<NamespaceStats> {
        let mut out: Vec<NamespaceStats> = namespaces
            .map(|(namespace, keys, bytes)| NamespaceStats {
                namespace: namespace.to_owned(),
                keys,
                bytes,
            })
            .collect();
        out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        out
    }
}

/// Called when a write sets an expiry earlier than any the store knew of.
pub type DeadlineHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub struct MemoryStore {
    namespaces: RwLock<HashMap<Box<str>, Arc<Namespace>>>,
    /// The earliest expiry any write has set since the last purge
    /// (`u64::MAX`: none known).
    next_deadline: AtomicU64,
    /// Wakes the embedder's expiry task when a write sets an earlier
    /// deadline.
    on_earlier_deadline: Option<DeadlineHook>,
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
    table: HashTable<Entry>,
    /// Expiry second → hashes of the keys expiring in it (some stale).
    wheel: BTreeMap<u64, Vec<u64>>,
}

struct Entry {
    /// The key, then the value.
    data: Box<[u8]>,
    key_len: u32,
    expires_at: u64,
}

impl Entry {
    fn key(&self) -> &[u8] {
        self.data.get(..self.key_len as usize).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.data.get(self.key_len as usize..).unwrap_or_default()
    }
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
            on_earlier_deadline: None,
        }
    }

    /// A store that calls `hook` whenever a write sets an expiry earlier
    /// than any it knew of (a server wakes its expiry task with it).
    pub fn with_deadline_hook(hook: impl Fn() + Send + Sync + 'static) -> Self {
        MemoryStore {
            on_earlier_deadline: Some(Box::new(hook)),
            ..MemoryStore::new()
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
        let hash = ns.hash(key.as_bytes());
        let shard = ns.shard(hash).lock();
        let entry = shard.table.find(hash, |e| e.key() == key.as_bytes())?;
        (entry.expires_at > now_ms).then(|| Stored {
            value: Bytes::copy_from_slice(entry.value()),
            expires_at: entry.expires_at,
        })
    }

    pub fn put(&self, put: Put<'_>, now_ms: u64) -> Result<(), PutError> {
        let ns = self.namespace_or_create(put.namespace);
        let key = put.key.as_bytes();
        let hash = ns.hash(key);
        let mut purged = false;
        loop {
            let mut shard = ns.shard(hash).lock();
            let Shard { table, wheel } = &mut *shard;
            let size = (key.len() + put.value.len()) as u64;
            if let Some(entry) = table.find_mut(hash, |e| e.key() == key) {
                if put.create_only && entry.expires_at > now_ms {
                    return Err(PutError::Exists);
                }
                // Replace in place: the key count does not change.
                let old_size = entry.data.len() as u64;
                entry.data = join(key, &put.value);
                if entry.expires_at / BUCKET_MS != put.expires_at / BUCKET_MS {
                    wheel
                        .entry(put.expires_at / BUCKET_MS)
                        .or_default()
                        .push(hash);
                }
                entry.expires_at = put.expires_at;
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
                purge_namespace(&ns, now_ms, true);
                purged = true;
                continue;
            }
            table.insert_unique(
                hash,
                Entry {
                    data: join(key, &put.value),
                    key_len: u32::try_from(key.len()).unwrap_or(u32::MAX),
                    expires_at: put.expires_at,
                },
                |e| ns.hash(e.key()),
            );
            wheel
                .entry(put.expires_at / BUCKET_MS)
                .or_default()
                .push(hash);
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
        let hash = ns.hash(key.as_bytes());
        let mut shard = ns.shard(hash).lock();
        let Ok(found) = shard.table.find_entry(hash, |e| e.key() == key.as_bytes()) else {
            return false;
        };
        // Its hash stays in the wheel until its bucket is purged.
        let (entry, _) = found.remove();
        ns.keys.fetch_sub(1, Ordering::AcqRel);
        ns.bytes
            .fetch_sub(entry.data.len() as u64, Ordering::Relaxed);
        entry.expires_at > now_ms
    }

    fn note_deadline(&self, expires_at: u64) {
        let before = self.next_deadline.fetch_min(expires_at, Ordering::AcqRel);
        if expires_at < before
            && let Some(hook) = &self.on_earlier_deadline
        {
            hook();
        }
    }

    /// Purges when a deadline is past (the earliest expiry any write set
    /// since the last purge), and otherwise costs one atomic read: for an
    /// embedder with no timer, called on its way.
    pub fn purge_due(&self, now_ms: u64) -> usize {
        if self.next_deadline.load(Ordering::Acquire) > now_ms {
            return 0;
        }
        self.purge(now_ms).0
    }

    /// Removes keys expired at `now_ms` whose wheel second is over (so a
    /// key is reclaimed within a second of its expiry); returns how many,
    /// and when to purge next (`u64::MAX`: nothing held).
    pub fn purge(&self, now_ms: u64) -> (usize, u64) {
        // Writes from now on lower the deadline again; the scan below finds
        // every earlier one.
        self.next_deadline.store(u64::MAX, Ordering::Release);
        let namespaces: Vec<Arc<Namespace>> = self.namespaces.read().values().cloned().collect();
        let mut removed = 0;
        let mut next = u64::MAX;
        for ns in namespaces {
            let (n, deadline) = purge_namespace(&ns, now_ms, false);
            removed += n;
            next = next.min(deadline);
        }
        self.next_deadline.fetch_min(next, Ordering::AcqRel);
        (removed, self.next_deadline.load(Ordering::Acquire))
    }

    pub fn stats(&self) -> Vec<NamespaceStats> {
        NamespaceStats::sorted(self.namespaces.read().iter().map(|(name, ns)| {
            (
                &**name,
                ns.keys.load(Ordering::Relaxed),
                ns.bytes.load(Ordering::Relaxed),
            )
        }))
    }
}

/// The key and the value in one allocation.
fn join(key: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut data = Vec::with_capacity(key.len() + value.len());
    data.extend_from_slice(key);
    data.extend_from_slice(value);
    data.into_boxed_slice()
}

impl Namespace {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // Bits the table itself does not use (it takes the low bits for the
        // position and the top seven as a tag).
        let index = ((hash >> 40) as usize) % self.shards.len();
        // `index` is reduced modulo the length.
        &self.shards[index]
    }
}

/// Removes the expired keys of `ns` whose wheel buckets are past; with
/// `exact`, also those expired in the current second. Returns how many, and
/// when the next bucket is past.
fn purge_namespace(ns: &Namespace, now_ms: u64, exact: bool) -> (usize, u64) {
    let mut removed = 0;
    let mut next = u64::MAX;
    for shard in ns.shards.iter() {
        loop {
            let mut guard = shard.lock();
            let (n, step) = purge_step(ns, &mut guard, now_ms);
            removed += n;
            let Step::Done(deadline) = step else {
                // A batch was done: let writers in, then go on.
                continue;
            };
            next = next.min(deadline);
            let Shard { table, wheel } = &mut *guard;
            if exact {
                removed += purge_current(ns, table, wheel, now_ms);
            }
            // Give memory back once most of the table is empty.
            if table.len() < table.capacity() / 4 {
                table.shrink_to_fit(|e| ns.hash(e.key()));
            }
            break;
        }
    }
    (removed, next)
}

enum Step {
    /// A batch was done; more may be due.
    More,
    /// Nothing more is due; when the next bucket is past.
    Done(u64),
}

/// The last millisecond a bucket covers: once the clock reads it, every
/// key of the bucket has expired.
fn bucket_end(second: u64) -> u64 {
    second * BUCKET_MS + (BUCKET_MS - 1)
}

/// Removes the keys of up to [`PURGE_BATCH`] hashes of past buckets.
fn purge_step(ns: &Namespace, shard: &mut Shard, now_ms: u64) -> (usize, Step) {
    let Shard { table, wheel } = shard;
    let mut removed = 0;
    let mut budget = PURGE_BATCH;
    while let Some(mut bucket) = wheel.first_entry() {
        let second = *bucket.key();
        if bucket_end(second) > now_ms {
            return (removed, Step::Done(bucket_end(second)));
        }
        let hashes = bucket.get_mut();
        let take = hashes.len().min(budget);
        let batch = hashes.split_off(hashes.len() - take);
        if hashes.is_empty() {
            bucket.remove();
        }
        budget -= take;
        for hash in batch {
            removed += remove_expired(ns, table, hash, now_ms);
        }
        if budget == 0 {
            return (removed, Step::More);
        }
    }
    (removed, Step::Done(u64::MAX))
}

/// Removes the expired keys of the current (not yet past) second, leaving
/// its bucket in place.
fn purge_current(
    ns: &Namespace,
    table: &mut HashTable<Entry>,
    wheel: &BTreeMap<u64, Vec<u64>>,
    now_ms: u64,
) -> usize {
    let Some(hashes) = wheel.get(&(now_ms / BUCKET_MS)) else {
        return 0;
    };
    hashes
        .iter()
        .map(|hash| remove_expired(ns, table, *hash, now_ms))
        .sum()
}

/// Removes the expired keys with this hash (there may be none: the hash
/// may be stale, its key deleted or written again with a later expiry).
fn remove_expired(ns: &Namespace, table: &mut HashTable<Entry>, hash: u64, now_ms: u64) -> usize {
    let mut removed = 0;
    while let Ok(found) =
        table.find_entry(hash, |e| e.expires_at <= now_ms && ns.hash(e.key()) == hash)
    {
        let (entry, _) = found.remove();
        ns.keys.fetch_sub(1, Ordering::AcqRel);
        ns.bytes
            .fetch_sub(entry.data.len() as u64, Ordering::Relaxed);
        removed += 1;
    }
    removed
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
        // Its second (1,000–1,999 ms) is not over yet.
        assert_eq!(store.purge(1_000), (0, 1_999));
        assert_eq!(store.purge(1_999), (1, u64::MAX));
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
    fn purge_reclaims_past_seconds_and_reports_when_the_next_one_ends() {
        let store = MemoryStore::new();
        store.put(put("a", "1", 10), 0).unwrap();
        store.put(put("b", "2", 1_020), 0).unwrap();
        store.put(put("c", "3", 2_500), 0).unwrap();
        assert_eq!(store.purge(5), (0, 999));
        assert_eq!(store.purge(999), (1, 1_999));
        assert!(store.delete("ns", "b", 15));
        assert!(!store.delete("ns", "b", 15));
        assert_eq!(store.purge(2_000), (0, 2_999));
        // An overwrite moves `c` later: its old bucket holds a stale hash.
        store.put(put("c", "3", 9_000), 100).unwrap();
        assert_eq!(store.purge(3_000), (0, 9_999));
        assert_eq!(store.get("ns", "c", 3_000).unwrap().value, "3");
        assert_eq!(store.purge(9_999), (1, u64::MAX));
        assert_eq!(store.stats()[0].keys, 0);
    }

    /// Many keys, many seconds, overwrites and deletes: after a purge at
    /// any time, exactly the live keys remain.
    #[test]
    fn purges_keep_exactly_the_live_keys() {
        let store = MemoryStore::new();
        let mut expected: std::collections::HashMap<String, u64> = Default::default();
        for i in 0..20_000u64 {
            let key = format!("k{}", i % 7_000);
            let expires_at = 1_000 + (i * 7_919) % 30_000;
            store.put(put(&key, "v", expires_at), 0).unwrap();
            expected.insert(key, expires_at);
            if i % 13 == 0 {
                let gone = format!("k{}", (i * 31) % 7_000);
                store.delete("ns", &gone, 0);
                expected.remove(&gone);
            }
        }
        for now in [0, 999, 1_000, 5_555, 12_000, 12_001, 29_999, 31_000] {
            store.purge(now);
            // Past seconds are reclaimed; the current one's expired keys
            // may still be held, but are never returned.
            expected.retain(|_, at| bucket_end(*at / BUCKET_MS) > now);
            assert_eq!(store.stats()[0].keys, expected.len() as u64, "at {now}");
            for (key, at) in &expected {
                let live = (*at > now).then_some(*at);
                assert_eq!(store.get("ns", key, now).map(|s| s.expires_at), live);
            }
        }
    }
}
