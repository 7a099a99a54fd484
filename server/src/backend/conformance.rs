//! The shared backend suite: the same checks, run against every backend
//! (memory, Redis standalone, Redis Cluster, a mesh node), with an injected
//! clock. Rate limits go the way the server sends them — the engine plans
//! the hits, the backend counts the batch, the engine completes — and
//! every answer must equal the engine's own in-process answer at the same
//! time: the three algorithms, `hits_addend`, per-descriptor overrides,
//! shadow limits, windows ending. The store: TTLs as absolute expiry,
//! expiry, conditional puts, `max_keys`, deletes.
//!
//! The Redis backend runs with `clock = "local"` here, so that it takes
//! the injected time as the others do.

use std::sync::Arc;

use bytes::Bytes;
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{Descriptor, Override, RateLimitRequest, Unit};

use super::{Backend, Put, PutError};

/// `examples/<name>`'s `files`, compiled and loaded.
fn engine(name: &str, files: &[&str]) -> Engine {
    let mut sources = reaper_compiler::source::Sources::new();
    for file in files {
        let path = format!(
            "{}/../examples/{name}/{file}.reaper",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        sources.add(path, text);
    }
    let bytes = reaper_compiler::compile(&sources).unwrap_or_else(|e| panic!("{e:?}"));
    Engine::load(&bytes).unwrap_or_else(|e| panic!("{e}"))
}

/// The example every sidecar of `examples/replicated` runs.
fn replicated() -> Engine {
    engine("replicated", &["schema", "limits", "stores"])
}

/// The API gateway's nine limits, of every algorithm, several applying to
/// one descriptor.
fn gateway() -> Engine {
    engine("api-gateway", &["schema", "rules", "limits", "http"])
}

/// Plans `request` with `planner`, counts it through `backend` and checks
/// the answer is `reference`'s in-process one at the same time.
async fn same_answer(
    backend: &dyn Backend,
    reference: &Engine,
    planner: &Engine,
    request: &RateLimitRequest,
    now: u64,
) {
    let expected = reference
        .rate_limit(request, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let plan = planner
        .plan_rate_limit(request)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let hits = backend
        .count(&request.domain, &plan.hits, now)
        .await
        .unwrap_or_else(|e| panic!("{} backend: {e}", backend.kind()));
    assert_eq!(
        Engine::complete_rate_limit(plan, hits),
        expected,
        "{} backend at {now}: {request:?}",
        backend.kind()
    );
}

/// Runs every check against `backend`; `tag` keeps its keys apart from
/// other runs on the same server.
pub(crate) async fn run(backend: Arc<dyn Backend>, tag: &str) {
    rate_limits(&*backend, tag).await;
    gateway_limits(&*backend, tag).await;
    store(&*backend, tag).await;
}

/// A start time on a minute boundary, an hour from now: Redis expires
/// counters and values by its own clock, at times derived from the
/// injected one, so the injected time must not be behind Redis's.
fn start_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    now - now % 60_000 + 3_600_000
}

async fn rate_limits(backend: &dyn Backend, tag: &str) {
    let reference = replicated();
    let planner = replicated();
    let mut now = start_ms();
    // Users, orgs, keys and searches: two of each, so counters interleave.
    let value = |name: &str, i: usize| format!("{tag}-{name}-{}", i % 2);
    for i in 0..600usize {
        let mut descriptors = vec![
            Descriptor::new(vec![("user_id", value("user", i))]),
            Descriptor::new(vec![("org", value("org", i / 3))]),
            Descriptor::new(vec![("api_key", value("key", i / 5))]),
            Descriptor::new(vec![("search", value("search", i))]),
        ];
        // Envoy's per-descriptor overrides and addends, now and then: an
        // override restarts the counter when its period differs.
        if i % 50 == 7 {
            descriptors[0].limit = Some(Override {
                requests_per_unit: 20,
                unit: Unit::Second,
            });
        }
        if i % 11 == 3 {
            descriptors[1].hits_addend = Some(3);
        }
        let mut request = RateLimitRequest::new("api", descriptors);
        request.hits_addend = (i % 4) as u64;
        if i % 9 == 0 {
            request = RateLimitRequest::new(
                "login",
                vec![Descriptor::new(vec![("user", value("login", i))])],
            );
        }
        // Time moves irregularly: bursts, pauses, windows ending.
        now += match i % 13 {
            0 => 7_000,
            5 => 61_000,
            _ => (i % 5) as u64 * 150,
        };
        same_answer(backend, &reference, &planner, &request, now).await;
    }
}

/// Two descriptors a request, each matching several of the gateway's
/// limits, with `hits_addend` 0 to 2 and time moving in small steps.
async fn gateway_limits(backend: &dyn Backend, tag: &str) {
    let (reference, planner) = (gateway(), gateway());
    let users = [format!("{tag}-ana"), format!("{tag}-bo")];
    let paths = [
        "/v1/login",
        "/v1/search/x",
        "/v1/projects/p/files/f",
        "/v1/x",
    ];
    let mut now = start_ms();
    for i in 0..400usize {
        let descriptor = |j: usize| {
            let mut d = Descriptor::new(vec![
                ("remote_address", format!("{tag}-10.0.0.{}", (i + j) % 3)),
                ("path", paths[(i / 3 + j) % paths.len()].to_owned()),
            ]);
            if !(i + j).is_multiple_of(4) {
                d.entries
                    .push(("user_id".into(), users[(i + j) % 2].clone()));
                d.entries.push(("plan".into(), "free".into()));
                d.entries.push(("method".into(), "POST".into()));
                d.entries.push(("org_id".into(), format!("{tag}-acme")));
            }
            d
        };
        let mut request = RateLimitRequest::new("api", vec![descriptor(0), descriptor(1)]);
        request.hits_addend = (i % 3) as u64;
        now += (i % 7) as u64 * 250;
        same_answer(backend, &reference, &planner, &request, now).await;
    }
}

fn put<'a>(key: &'a str, value: &'static [u8], expires_at: u64) -> Put<'a> {
    Put {
        namespace: "sessions",
        key,
        value: Bytes::from_static(value),
        expires_at,
        create_only: false,
        max_keys: None,
    }
}

async fn store(backend: &dyn Backend, tag: &str) {
    let kind = backend.kind();
    let now = start_ms();
    let key = format!("{tag}-session");
    let key = key.as_str();
    backend
        .put(put(key, b"\x00one\xff", now + 60_000), now)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let got = backend.get("sessions", key, now + 1_000).await.unwrap();
    let got = got.unwrap_or_else(|| panic!("{kind}: the value is there"));
    assert_eq!(got.value, Bytes::from_static(b"\x00one\xff"), "{kind}");
    assert_eq!(got.expires_at, now + 60_000, "{kind}: one absolute expiry");

    // Create-only: refused while live.
    let create = Put {
        create_only: true,
        ..put(key, b"two", now + 60_000)
    };
    assert_eq!(
        backend.put(create, now + 2_000).await,
        Err(PutError::Exists),
        "{kind}"
    );
    // Expired: gone, whatever the backend has reclaimed.
    assert_eq!(
        backend.get("sessions", key, now + 60_000).await.unwrap(),
        None,
        "{kind}: expired at its expiry"
    );
    // Overwrite moves the expiry; delete says whether something was there.
    backend
        .put(put(key, b"three", now + 120_000), now + 3_000)
        .await
        .unwrap();
    let got = backend.get("sessions", key, now + 3_000).await.unwrap();
    assert_eq!(got.map(|g| g.expires_at), Some(now + 120_000), "{kind}");
    assert!(
        backend.delete("sessions", key, now + 4_000).await.unwrap(),
        "{kind}"
    );
    assert!(
        !backend.delete("sessions", key, now + 4_000).await.unwrap(),
        "{kind}"
    );
    assert_eq!(
        backend.get("sessions", key, now + 4_000).await.unwrap(),
        None
    );
    // Create-only on a deleted key: allowed.
    let create = Put {
        create_only: true,
        ..put(key, b"four", now + 60_000)
    };
    backend.put(create, now + 5_000).await.unwrap();

    // `max_keys`: a new key past the limit is refused, never evicted; a
    // delete makes room; overwriting an existing key is not a new key.
    let namespace = format!("{tag}-limited");
    let limited = |k: &'static str, i: u64| Put {
        namespace: &namespace,
        key: k,
        value: Bytes::from_static(b"v"),
        expires_at: now + 60_000 + i,
        create_only: false,
        max_keys: Some(2),
    };
    backend.put(limited("k1", 0), now).await.unwrap();
    backend.put(limited("k2", 0), now).await.unwrap();
    assert_eq!(
        backend.put(limited("k3", 0), now).await,
        Err(PutError::Full),
        "{kind}"
    );
    backend.put(limited("k2", 1), now).await.unwrap();
    assert!(backend.delete(&namespace, "k1", now).await.unwrap());
    backend.put(limited("k3", 0), now).await.unwrap();
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryBackend;
    use crate::backend::redis_harness as harness;
    use crate::backend::settings::{RedisClock, RedisConfig};

    #[tokio::test]
    async fn memory() {
        run(Arc::new(MemoryBackend::new()), "memory").await;
    }

    fn redis_config(urls: Vec<String>, cluster: bool) -> RedisConfig {
        RedisConfig {
            urls,
            cluster,
            prefix: "suite".to_owned(),
            clock: RedisClock::Local,
        }
    }

    #[tokio::test]
    async fn redis_standalone() {
        let Some(redis) = harness::RedisServer::start() else {
            return;
        };
        let backend =
            crate::backend::redis::RedisBackend::new(&redis_config(vec![redis.url()], false))
                .unwrap();
        run(Arc::new(backend), "standalone").await;
    }

    #[tokio::test]
    async fn redis_cluster() {
        let Some(cluster) = harness::RedisCluster::start() else {
            return;
        };
        let backend =
            crate::backend::redis::RedisBackend::new(&redis_config(cluster.urls(), true)).unwrap();
        run(Arc::new(backend), "cluster").await;
    }

    #[tokio::test]
    async fn valkey() {
        let Some(valkey) = harness::RedisServer::start_valkey() else {
            return;
        };
        let backend =
            crate::backend::redis::RedisBackend::new(&redis_config(vec![valkey.url()], false))
                .unwrap();
        run(Arc::new(backend), "valkey").await;
    }

    /// A node of a three-node mesh: its own hits are counted locally, the
    /// strict `login` domain's by each key's owner (over gRPC, for the keys
    /// other nodes own), and store writes wait for two of three replicas.
    #[tokio::test]
    async fn mesh_of_three() {
        let nodes = crate::backend::mesh::tests::cluster(|config| {
            config.strict_domains = vec!["login".to_owned()];
            config.replication_factor = 3;
            config.write_quorum = 2;
        })
        .await;
        run(nodes[0].backend.clone(), "mesh").await;
        for node in nodes {
            node.stop().await;
        }
    }
}
