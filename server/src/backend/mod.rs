//! Where rate-limit counters and the TTL store live: one [`Backend`]
//! interface, asynchronous and batched so that a remote backend (Redis, a
//! peer mesh) answers a whole request in **one round trip** — every counter
//! hit of a rate-limit request goes in one [`Backend::count`] call,
//! whatever the number of descriptors and limits. The policy decides
//! *what* to count ([`reaper_runtime::Engine::plan_rate_limit`]) and what
//! the counts mean; a backend only counts and stores.
//!
//! Three backends, chosen in config ([`settings::BackendConfig`]):
//!
//! - [`memory::MemoryBackend`], the embedded default: this process only;
//! - [`redis::RedisBackend`]: Redis or Valkey, standalone or cluster, shared
//!   by every sidecar and exact across them;
//! - [`mesh::MeshBackend`]: no central store; peers gossip membership and
//!   stream their counts and store writes to each other.
//!
//! A remote backend is wrapped in [`guard::Guarded`], which bounds every
//! call by the configured timeout and applies the configured failure mode
//! (fail open or fail closed) when the backend cannot answer in time.

#[cfg(test)]
mod conformance;
pub mod guard;
pub mod memory;
pub mod mesh;
pub mod redis;
/// Real `redis-server`s for the backend tests (shared with the CLI's).
#[cfg(test)]
#[path = "../../../tests/common/redis.rs"]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness fails by panicking"
)]
mod redis_harness;
pub mod settings;
mod trim;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::Hit;
use thiserror::Error;

use crate::clock::Clock;
pub use reaper_runtime::store::{NamespaceStats, Put, Stored};

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

impl From<reaper_runtime::store::PutError> for PutError {
    fn from(error: reaper_runtime::store::PutError) -> Self {
        match error {
            reaper_runtime::store::PutError::Exists => PutError::Exists,
            reaper_runtime::store::PutError::Full => PutError::Full,
        }
    }
}

/// A backend's health as `/v1/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Health {
    /// Whether the last call (or probe) was answered in time.
    pub available: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Calls that failed or timed out since start.
    pub errors: u64,
    /// Median round trip of recent calls to a remote backend, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Calls answered by the failure mode instead of the backend, by
    /// concern (`ratelimit`, `store`) and mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failovers: Vec<Failovers>,
    /// The mesh's members other than this node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerHealth>,
    /// This node's id in the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Health {
    pub fn available() -> Self {
        Health {
            available: true,
            ..Health::default()
        }
    }
}

/// Calls of one concern answered by a failure mode.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failovers {
    pub concern: &'static str,
    pub mode: &'static str,
    pub calls: u64,
}

/// One peer of the mesh, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerHealth {
    pub node: String,
    /// Its gossip and peer-gRPC address.
    pub addr: String,
    /// Alive by the failure detector.
    pub alive: bool,
    /// Whether this node's count stream to it is connected.
    pub streaming: bool,
    /// Milliseconds since its last batch of counts arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_batch_ms: Option<u64>,
}

/// Counters and the store, as one service answers them. Every method is
/// one round trip to the backend.
pub trait Backend: Send + Sync + 'static {
    /// `memory`, `redis`, …, as configured.
    fn kind(&self) -> &'static str;

    /// Counts every hit of one request to `domain`, in order, and answers
    /// one result per hit in the same order.
    fn count<'a>(
        &'a self,
        domain: &'a str,
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

    /// Whether the backend answers, and what it knows of its links (Redis,
    /// peers), for `/v1/status` and the logs.
    fn health(&self) -> Health {
        Health::available()
    }

    /// Cuts this node off from the named mesh peers (gossip, counts, store
    /// replication), for partition drills; an empty list heals. `false`:
    /// the backend has no peers.
    fn block_peers(&self, nodes: Vec<String>) -> bool {
        let _ = nodes;
        false
    }

    /// Runs the backend's housekeeping (reclaiming expired counters and
    /// keys) until `stop` resolves.
    fn maintain(
        self: Arc<Self>,
        clock: Clock,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()>;
}

/// The backend `config` names, its remote ones behind their failure modes.
/// A mesh node serves its peers on `mesh_listener` (bound to its address).
pub fn build(
    config: &settings::BackendConfig,
    mesh_listener: Option<tokio::net::TcpListener>,
) -> Result<Arc<dyn Backend>, BackendError> {
    match &config.kind {
        settings::BackendKind::Memory => Ok(Arc::new(memory::MemoryBackend::new())),
        settings::BackendKind::Redis(redis) => {
            drop(mesh_listener);
            let remote = Arc::new(redis::RedisBackend::new(redis)?);
            Ok(Arc::new(guard::Guarded::new(
                remote,
                config.failure.clone(),
            )))
        }
        settings::BackendKind::Mesh(mesh) => {
            let listener = mesh_listener.ok_or_else(|| BackendError {
                backend: "mesh",
                reason: "no listener for the peers".to_owned(),
            })?;
            // The mesh answers from its own state when peers fail; its
            // peer calls take the configured timeout.
            Ok(Arc::new(
                mesh::MeshBackend::new(mesh, listener)?.with_timeout(config.failure.timeout),
            ))
        }
    }
}
