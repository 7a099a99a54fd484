//! Where rate-limit counters and the TTL store live: one [`Backend`]
//! interface, asynchronous and batched so that a remote backend (Redis, a
//! peer mesh) answers a whole request in **one round trip** — every counter
//! hit of a rate-limit request goes in one [`Backend::count`] call,
//! whatever the number of descriptors and limits. The policy decides
//! *what* to count ([`reaper_runtime::Engine::plan_rate_limit`]) and what
//! the counts mean; a backend only counts and stores.
//!
//! [`memory::MemoryBackend`] is the embedded default.

pub mod memory;
pub mod store;
mod trim;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::Hit;
use thiserror::Error;

use crate::clock::Clock;
pub use store::Put;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend could not answer (unreachable, too slow). The memory backend
/// never fails.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("the {backend} backend is unavailable: {reason}")]
pub struct BackendError {
    pub backend: &'static str,
    pub reason: String,
}

/// Why a write was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PutError {
    #[error("the key exists and the write asked to create it only")]
    Exists,
    #[error("the namespace holds its maximum number of keys")]
    Full,
    #[error(transparent)]
    Unavailable(#[from] BackendError),
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

/// Counters and the store, as one service answers them. Every method is
/// one round trip to the backend.
pub trait Backend: Send + Sync + 'static {
    /// `memory`, `redis`, …, as configured.
    fn kind(&self) -> &'static str;

    /// Counts every hit of one request, in order, and answers one result
    /// per hit in the same order.
    fn count<'a>(
        &'a self,
        hits: &'a [CounterHit],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>>;

    fn get<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Stored>, BackendError>>;

    fn put<'a>(&'a self, put: Put<'a>, now_ms: u64) -> BoxFuture<'a, Result<(), PutError>>;

    /// Whether a live value was deleted.
    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;

    /// What each namespace holds (as far as this process knows).
    fn namespaces(&self) -> Vec<NamespaceStats>;

    /// Live rate-limit counters held in this process (0 when they live
    /// elsewhere).
    fn counters(&self) -> usize;

    /// Runs the backend's housekeeping (reclaiming expired counters and
    /// keys) until `stop` resolves.
    fn maintain(
        self: Arc<Self>,
        clock: Clock,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()>;
}
