//! The `[backend]` section of the configuration: which backend holds the
//! counters and the store, its failure modes, and the Redis and mesh
//! settings, resolved into [`BackendConfig`] with errors that name the key
//! (`backend.redis.url`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, parse_positive_duration};
use crate::backend::settings::{
    BackendConfig, BackendKind, FailurePolicy, MeshConfig, RedisClock, RedisConfig,
};

/// Where a mesh node gossips and serves its peers unless told otherwise.
pub const DEFAULT_MESH: &str = "127.0.0.1:7946";

/// `[backend]`: where counters and the store live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// `memory` (the default), `redis` or `mesh`.
    pub kind: Option<String>,
    /// The most a call to Redis or to peers may take: `100ms`.
    pub timeout: Option<String>,
    /// After a failure, how long calls go straight to the failure mode:
    /// `500ms`.
    pub retry_after: Option<String>,
    /// `fail_open` (the default) or `fail_closed`.
    pub ratelimit_failure: Option<String>,
    /// `fail_closed` (the default) or `fail_open`.
    pub store_failure: Option<String>,
    /// Per rate-limit domain, over `ratelimit_failure`.
    pub domain_failure: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub mesh: MeshSettings,
}

/// `[backend.redis]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`; a cluster's seed nodes separated by commas.
    pub url: Option<String>,
    /// Whether `url` names a Redis Cluster.
    pub cluster: Option<bool>,
    /// Prefix of every key: `reaper`.
    pub prefix: Option<String>,
    /// Whose clock counts windows: `redis` (the default) or `local`.
    pub clock: Option<String>,
}

/// `[backend.mesh]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshSettings {
    /// This node's unique name: its address by default.
    pub node_id: Option<String>,
    /// Gossip (UDP) and peer gRPC (TCP) on this one address.
    pub addr: Option<String>,
    /// The address peers reach this node at, when not `addr`.
    pub advertise: Option<String>,
    /// Bootstrap peers' addresses.
    pub peers: Option<Vec<String>>,
    pub cluster_id: Option<String>,
    /// How often counts are streamed to peers: `15ms`.
    pub batch_interval: Option<String>,
    /// How often membership is gossiped: `250ms`.
    pub gossip_interval: Option<String>,
    pub replication_factor: Option<u64>,
    pub write_quorum: Option<u64>,
    /// Domains whose hits go to the key's owner (no overshoot).
    pub strict_domains: Option<Vec<String>>,
}

impl BackendSettings {
    pub(super) fn overridden_by(self, over: BackendSettings) -> BackendSettings {
        let (r, m) = (self.redis, self.mesh);
        BackendSettings {
            kind: over.kind.or(self.kind),
            timeout: over.timeout.or(self.timeout),
            retry_after: over.retry_after.or(self.retry_after),
            ratelimit_failure: over.ratelimit_failure.or(self.ratelimit_failure),
            store_failure: over.store_failure.or(self.store_failure),
            domain_failure: over.domain_failure.or(self.domain_failure),
            redis: RedisSettings {
                url: over.redis.url.or(r.url),
                cluster: over.redis.cluster.or(r.cluster),
                prefix: over.redis.prefix.or(r.prefix),
                clock: over.redis.clock.or(r.clock),
            },
            mesh: MeshSettings {
                node_id: over.mesh.node_id.or(m.node_id),
                addr: over.mesh.addr.or(m.addr),
                advertise: over.mesh.advertise.or(m.advertise),
                peers: over.mesh.peers.or(m.peers),
                cluster_id: over.mesh.cluster_id.or(m.cluster_id),
                batch_interval: over.mesh.batch_interval.or(m.batch_interval),
                gossip_interval: over.mesh.gossip_interval.or(m.gossip_interval),
                replication_factor: over.mesh.replication_factor.or(m.replication_factor),
                write_quorum: over.mesh.write_quorum.or(m.write_quorum),
                strict_domains: over.mesh.strict_domains.or(m.strict_domains),
            },
        }
    }

    /// The backend and its failure policy; errors name the key
    /// (`backend.redis.url`).
    pub(super) fn resolve(self) -> Result<BackendConfig, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            source_name: format!("backend.{key}"),
            message,
        };
        let duration = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => parse_positive_duration(text).map_err(|m| invalid(key, m)),
            None => Ok(default),
        };
        let mode = |key: &str, text: &str| text.parse().map_err(|m| invalid(key, m));
        let defaults = FailurePolicy::default();
        let mut failure = FailurePolicy {
            timeout: duration("timeout", &self.timeout, defaults.timeout)?,
            retry_after: duration("retry_after", &self.retry_after, defaults.retry_after)?,
            ..defaults
        };
        if let Some(text) = &self.ratelimit_failure {
            failure.ratelimit = mode("ratelimit_failure", text)?;
        }
        if let Some(text) = &self.store_failure {
            failure.store = mode("store_failure", text)?;
        }
        for (domain, text) in self.domain_failure.iter().flatten() {
            failure.domains.insert(
                domain.clone(),
                mode(&format!("domain_failure.{domain}"), text)?,
            );
        }
        let kind = match self.kind.as_deref().unwrap_or("memory") {
            "memory" => BackendKind::Memory,
            "redis" => {
                let url = self.redis.url.ok_or_else(|| {
                    invalid(
                        "redis.url",
                        "the redis backend needs a URL (redis://127.0.0.1:6379)".to_owned(),
                    )
                })?;
                let urls = split_list(&url);
                if let Some(bad) = urls
                    .iter()
                    .find(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
                {
                    return Err(invalid(
                        "redis.url",
                        format!("`{bad}` is not a redis:// or rediss:// URL"),
                    ));
                }
                let cluster = self.redis.cluster.unwrap_or(false);
                if !cluster && urls.len() != 1 {
                    return Err(invalid(
                        "redis.url",
                        "several URLs name a cluster's nodes: set backend.redis.cluster = true"
                            .to_owned(),
                    ));
                }
                BackendKind::Redis(RedisConfig {
                    urls,
                    cluster,
                    prefix: self.redis.prefix.unwrap_or_else(|| "reaper".to_owned()),
                    clock: match self.redis.clock.as_deref() {
                        None | Some("redis") => RedisClock::Redis,
                        Some("local") => RedisClock::Local,
                        Some(other) => {
                            return Err(invalid(
                                "redis.clock",
                                format!("`{other}` is not a clock (redis, local)"),
                            ));
                        }
                    },
                })
            }
            "mesh" => {
                let m = self.mesh;
                let addr_of = |key: &str, text: &str| {
                    text.parse::<SocketAddr>().map_err(|_| {
                        invalid(
                            key,
                            format!("`{text}` is not an address with a port (127.0.0.1:7946)"),
                        )
                    })
                };
                let addr = addr_of("mesh.addr", m.addr.as_deref().unwrap_or(DEFAULT_MESH))?;
                let advertise = m
                    .advertise
                    .as_deref()
                    .map(|a| addr_of("mesh.advertise", a))
                    .transpose()?;
                let peers = m
                    .peers
                    .unwrap_or_default()
                    .iter()
                    .map(|p| addr_of("mesh.peers", p))
                    .collect::<Result<Vec<_>, _>>()?;
                let count = |key: &str, value: Option<u64>, default: usize| match value {
                    Some(0) => Err(invalid(key, "must be at least 1".to_owned())),
                    Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                    None => Ok(default),
                };
                let replication_factor = count("mesh.replication_factor", m.replication_factor, 3)?;
                let write_quorum = count(
                    "mesh.write_quorum",
                    m.write_quorum,
                    replication_factor / 2 + 1,
                )?;
                if write_quorum > replication_factor {
                    return Err(invalid(
                        "mesh.write_quorum",
                        format!(
                            "{write_quorum} is more than the replication factor ({replication_factor})"
                        ),
                    ));
                }
                let batch_interval = duration(
                    "mesh.batch_interval",
                    &m.batch_interval,
                    Duration::from_millis(15),
                )?;
                if batch_interval > Duration::from_secs(1) {
                    return Err(invalid(
                        "mesh.batch_interval",
                        "must be at most 1s: counts older than that make limits loose".to_owned(),
                    ));
                }
                BackendKind::Mesh(MeshConfig {
                    node_id: m
                        .node_id
                        .unwrap_or_else(|| advertise.unwrap_or(addr).to_string()),
                    addr,
                    advertise,
                    peers,
                    cluster_id: m.cluster_id.unwrap_or_else(|| "reaper".to_owned()),
                    batch_interval,
                    gossip_interval: duration(
                        "mesh.gossip_interval",
                        &m.gossip_interval,
                        Duration::from_millis(250),
                    )?,
                    replication_factor,
                    write_quorum,
                    strict_domains: m.strict_domains.unwrap_or_default(),
                })
            }
            other => {
                return Err(invalid(
                    "kind",
                    format!("`{other}` is not a backend (memory, redis, mesh)"),
                ));
            }
        };
        Ok(BackendConfig { kind, failure })
    }
}

/// A comma-separated list, items trimmed, empty items dropped.
pub(super) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}
