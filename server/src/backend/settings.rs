//! Which backend serves and how it behaves, resolved from the `[backend]`
//! section of the configuration (see `config.rs` for the layers).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The backend and what it does when it cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// What a remote backend's failure does to each concern.
    pub failure: FailurePolicy,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            kind: BackendKind::Memory,
            failure: FailurePolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    Memory,
    Redis(RedisConfig),
    Mesh(MeshConfig),
}

impl BackendKind {
    pub fn name(&self) -> &'static str {
        match self {
            BackendKind::Memory => "memory",
            BackendKind::Redis(_) => "redis",
            BackendKind::Mesh(_) => "mesh",
        }
    }
}

/// A Redis or Valkey deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// One URL (`redis://host:port/db`, `rediss://` for TLS) for a
    /// standalone server; the seed nodes of a cluster.
    pub urls: Vec<String>,
    /// Whether `urls` are a Redis Cluster's nodes.
    pub cluster: bool,
    /// Prefix of every key Reaper writes (`reaper`), so that several
    /// services can share one Redis.
    pub prefix: String,
    /// Whose clock counts time: Redis's (`TIME` inside the scripts, one
    /// clock for every sidecar) or each sidecar's own.
    pub clock: RedisClock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisClock {
    #[default]
    Redis,
    Local,
}

/// A peer mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// This node's name in the mesh (unique among peers).
    pub node_id: String,
    /// Where this node gossips (UDP) and serves its peers (gRPC over TCP):
    /// the same port number for both.
    pub addr: SocketAddr,
    /// The address peers reach this node at, if not `addr` (behind NAT).
    pub advertise: Option<SocketAddr>,
    /// Bootstrap peers' `addr`s.
    pub peers: Vec<SocketAddr>,
    /// Nodes only gossip with nodes of the same cluster id.
    pub cluster_id: String,
    /// How often counts are streamed to peers.
    pub batch_interval: Duration,
    /// How often membership is gossiped.
    pub gossip_interval: Duration,
    /// Replicas of each store key, this node included.
    pub replication_factor: usize,
    /// Replicas (this node included) that must acknowledge a store write
    /// before it is answered.
    pub write_quorum: usize,
    /// Domains whose hits go to the key's owner node (no overshoot).
    pub strict_domains: Vec<String>,
}

/// What happens to a request when the backend cannot answer in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePolicy {
    /// The most a call to a remote backend may take.
    pub timeout: Duration,
    /// After a failure, how long calls go straight to the failure mode
    /// before the backend is tried again.
    pub retry_after: Duration,
    pub ratelimit: FailureMode,
    /// Per rate-limit domain, over `ratelimit`.
    pub domains: HashMap<String, FailureMode>,
    pub store: FailureMode,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            timeout: Duration::from_millis(100),
            retry_after: Duration::from_millis(500),
            ratelimit: FailureMode::FailOpen,
            domains: HashMap::new(),
            store: FailureMode::FailClosed,
        }
    }
}

impl FailurePolicy {
    pub fn for_domain(&self, domain: &str) -> FailureMode {
        self.domains.get(domain).copied().unwrap_or(self.ratelimit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Rate limits: allow, counting in this process meanwhile. Store: serve
    /// from this process's store meanwhile.
    FailOpen,
    /// Rate limits: over the limit. Store: 503.
    FailClosed,
}

impl FailureMode {
    pub fn name(self) -> &'static str {
        match self {
            FailureMode::FailOpen => "fail_open",
            FailureMode::FailClosed => "fail_closed",
        }
    }
}

impl std::str::FromStr for FailureMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "fail_open" => Ok(FailureMode::FailOpen),
            "fail_closed" => Ok(FailureMode::FailClosed),
            other => Err(format!(
                "`{other}` is not a failure mode (fail_open, fail_closed)"
            )),
        }
    }
}
