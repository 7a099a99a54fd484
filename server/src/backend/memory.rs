//! The embedded default backend: the engine's in-memory counters and the
//! in-memory TTL store of `store.rs`, in this process. Nothing to install;
//! state lives as long as the process (reloads keep it).

use std::sync::Arc;
use std::time::Duration;

use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{CounterStore, Hit, MemoryCounters};

use super::{Backend, BackendError, BoxFuture, NamespaceStats, Put, PutError, Stored};
use crate::clock::Clock;
use reaper_runtime::store::MemoryStore;

/// How often idle rate-limit counters are swept, and how many a sweep
/// examines: a few thousand a second keeps up with a million live keys
/// whose windows end within minutes, without a long pause.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const SWEEP_BUDGET: usize = 16_384;

pub struct MemoryBackend {
    counters: Arc<MemoryCounters>,
    store: MemoryStore,
    /// Wakes the expiry task when a write sets an earlier deadline.
    wake: Arc<tokio::sync::Notify>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        let wake = Arc::new(tokio::sync::Notify::new());
        let hook = Arc::clone(&wake);
        MemoryBackend {
            counters: Arc::new(MemoryCounters::default()),
            store: MemoryStore::with_deadline_hook(move || hook.notify_one()),
            wake,
        }
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    pub fn memory_counters(&self) -> &MemoryCounters {
        &self.counters
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn count<'a>(
        &'a self,
        _domain: &'a str,
        hits: &'a [CounterHit],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>> {
        let results = hits
            .iter()
            .map(|h| self.counters.hit(&h.key, &h.limit, h.hits, now_ms))
            .collect();
        Box::pin(std::future::ready(Ok(results)))
    }

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Stored>, BackendError>> {
        Box::pin(std::future::ready(Ok(self
            .store
            .get(namespace, key, now_ms))))
    }

    fn put<'a>(&'a self, put: Put<'a>, now_ms: u64) -> BoxFuture<'a, Result<(), PutError>> {
        Box::pin(std::future::ready(
            self.store.put(put, now_ms).map_err(PutError::from),
        ))
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(std::future::ready(Ok(self
            .store
            .delete(namespace, key, now_ms))))
    }

    fn namespaces(&self) -> Vec<NamespaceStats> {
        self.store.stats()
    }

    fn counters(&self) -> usize {
        self.counters.len()
    }

    fn maintain(
        self: Arc<Self>,
        clock: Clock,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut sweep = tokio::time::interval(SWEEP_EVERY);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_expiry = u64::MAX;
            // Keys and counters dropped since memory was last given back,
            // and since the last sweep tick.
            let (mut freed, mut recent) = (0, 0);
            loop {
                let expiry = tokio::time::sleep_until(clock.instant_at(next_expiry));
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = sweep.tick() => {
                        let dropped = self.counters.sweep_some(clock.now_ms(), SWEEP_BUDGET).dropped;
                        freed += dropped;
                        recent += dropped;
                        // Give memory back after a large purge, or once a
                        // smaller one has settled.
                        if freed >= super::trim::TRIM_AFTER || (freed > 0 && recent == 0) {
                            super::trim::release_free_memory();
                            freed = 0;
                        }
                        recent = 0;
                    }
                    () = expiry, if next_expiry != u64::MAX => {
                        let (removed, next) = self.store.purge(clock.now_ms());
                        freed += removed;
                        recent += removed;
                        next_expiry = next;
                    }
                    () = self.wake.notified() => {
                        // A write set an earlier deadline: purge what is due
                        // and sleep until the next one.
                        let (removed, next) = self.store.purge(clock.now_ms());
                        freed += removed;
                        recent += removed;
                        next_expiry = next;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test(start_paused = true)]
    async fn the_expiry_task_reclaims_keys_when_their_ttl_passes() {
        let backend = Arc::new(MemoryBackend::new());
        let clock = Clock::starting_at(1_000_000);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(backend.clone().maintain(clock, stop));
        let now = clock.now_ms();
        for (key, ttl) in [("a", 1_000), ("b", 60_000)] {
            backend
                .store()
                .put(
                    Put {
                        namespace: "sessions",
                        key,
                        value: Bytes::from_static(b"value"),
                        expires_at: now + ttl,
                        create_only: false,
                        max_keys: None,
                    },
                    now,
                )
                .unwrap();
        }
        // Reclaimed within a second of expiring.
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        assert_eq!(backend.namespaces()[0].keys, 1, "`a` is reclaimed");
        tokio::time::sleep(Duration::from_millis(59_000)).await;
        assert_eq!(backend.namespaces()[0].keys, 0);
        assert_eq!(backend.namespaces()[0].bytes, 0);
        stop_tx.send(true).unwrap();
        task.await.unwrap();
    }
}
