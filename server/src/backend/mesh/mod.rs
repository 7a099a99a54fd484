//! The `mesh` backend: no central store. The nodes of a mesh (every
//! `reaper serve` configured with the same `cluster_id` and some common
//! seed `peers`) find each other by gossip and send each other their
//! counts and store writes; every decision and every read is answered by
//! the node asked, from what it holds (the Hivemind and REPRAM designs).
//!
//! | Concern | How | Files |
//! |---|---|---|
//! | membership | chitchat gossip (UDP, the node's port), phi-accrual failure detector | `membership.rs` |
//! | counters | own counts per key, streamed in batches to every live peer; decisions sum them | `counts.rs`, `window.rs`, `links.rs` |
//! | strict domains | hits counted exactly by the key's owner (rendezvous hashing) | `strict.rs`, `service.rs` |
//! | store | last-writer-wins with hybrid-logical-clock versions; quorum writes | `lww.rs`, `replication.rs` |
//! | anti-entropy | a node pulls newer store entries from a peer on meeting it, then periodically | `background.rs`, `service.rs` |
//! | peer protocol | `reaper.mesh.v1.Mesh` over gRPC (TCP, the node's port) | `service.rs`, `wire.rs` |
//!
//! **Counters.** Each node counts its own hits only, in its own state per
//! counter key, and streams the states that changed to every live peer
//! every `batch_interval` over one long-lived `Counts` call per peer (as
//! limitador's distributed storage does). A decision adds the peers'
//! latest states for the same key and window to its own (`window.rs` has
//! each algorithm's rule); with no peers it answers exactly as the memory
//! backend. A peer's state counts until its window ends (so the hits of a
//! node that just died still count until then), then is dropped. A
//! restarted node is a new incarnation: its peers keep counting its
//! previous life's hits until their windows end, but it does not get them
//! back itself (streams carry each node's own counts only).
//!
//! *Overshoot.* A hit admitted on one node is seen by the others one
//! propagation delay `δ` later (`δ ≈ batch_interval` plus one network
//! hop). A fixed or sliding window of `C` hits therefore admits, mesh-wide,
//! at most `C + A(δ)` hits per window, where `A(δ)` is the number of hits
//! the *other* nodes admitted during the `δ` before the last admitted hit:
//! about `R × δ` for a mesh-wide admission rate `R`, and never more than
//! `K × C` with `K` nodes (each node alone admits at most `C`). Token
//! buckets: see `window.rs` (debts add up; spread load drains faster).
//! Domains that cannot overshoot are `strict_domains`.
//!
//! **Strict domains.** Hits of these domains go to the key's *owner*: the
//! live member (this node included) with the highest rendezvous score for
//! the key (gubernator's design). The owner counts them exactly in its own
//! memory counters; a request's hits for one owner travel in one `Hit`
//! call, calls to several owners run concurrently. An owner that does not
//! answer within the call timeout (100 ms unless [`MeshBackend::with_timeout`]
//! says otherwise) is replaced, for those hits, by a local *share* of the
//! limit, `⌈count / K⌉` (and `⌈burst / K⌉`) with `K` the live members, in
//! separate local counters; each such hit is counted in
//! `reaper_mesh_strict_fallbacks_total`. While members disagree on who is
//! live (a few gossip intervals after a change), two nodes may each count
//! a key as its owner.
//!
//! **Store.** Last-writer-wins per `(namespace, key)` (`lww.rs`): a write's
//! version is a hybrid logical clock reading and the writer's id; values
//! carry their absolute expiry; deletes write tombstones. Reads are served
//! by this node's replica. A PUT or DELETE is applied here, then sent to
//! the key's `replication_factor − 1` other owners (rendezvous hashing over
//! the live peers) and broadcast, without waiting, to every other live
//! peer so that every node can read it; it is answered once `write_quorum`
//! replicas (this node included) have acknowledged within the call
//! timeout. Otherwise it fails with "write quorum not reached: A of Q
//! replicas acknowledged" — **the local write stays**, and reaches the
//! other replicas later if they return (anti-entropy), so a failed write
//! may still take effect. With fewer live members than the quorum, writes
//! are refused at once and nothing is written. `create_only` and
//! `max_keys` are checked against this node's replica only: two nodes can
//! both create the same key (the later version wins), and a namespace can
//! briefly pass `max_keys` by the writes in flight; neither is
//! linearizable across nodes.
//!
//! **Anti-entropy.** When a peer appears (at start, a new or restarted
//! node, one back from the dead or a partition), this node pulls every
//! live store entry and tombstone the peer holds (`Sync`); then every few
//! seconds it pulls from one live peer, in turn, the entries newer than
//! its last pull (less a margin for clock skew). Counts need no such pull:
//! every count stream starts with a snapshot.
//!
//! **Faults.** [`MeshBackend::set_blocked`] cuts chosen peers off for
//! drills and tests: their gossip is dropped both ways, streams and writes
//! to them stop, and their calls are refused (UNAVAILABLE).
//!
//! Gossip, the peer service and the background tasks run inside
//! [`Backend::maintain`], until it is told to stop (`background.rs`).

mod background;
mod counts;
mod links;
mod lww;
mod membership;
mod replication;
mod service;
mod strict;
#[cfg(test)]
pub(crate) mod tests;
mod window;
mod wire;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reaper_proto::mesh::v1 as pb;
use reaper_proto::mesh::v1::mesh_client::MeshClient;
use reaper_proto::mesh::v1::mesh_server::MeshServer;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{Hit, MemoryCounters};
use tonic::transport::Channel;

use super::Put;
use super::settings::MeshConfig;
use super::{
    Backend, BackendError, BoxFuture, Health, NamespaceStats, PeerHealth, PutError, Stored,
};
use crate::clock::Clock;
use counts::MeshCounters;
use lww::{Entry, Hlc, LwwStore, Version, Write};
use membership::{Member, Membership};

/// How long a call to a peer may take, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// Counters and the store replicated between peers.
pub struct MeshBackend {
    node: Arc<Node>,
    /// The peer service's listener, until `maintain` serves it.
    listener: Mutex<Option<tokio::net::TcpListener>>,
}

/// What the backend, its tasks and its peer service share.
pub(crate) struct Node {
    config: MeshConfig,
    id: Arc<str>,
    generation: u64,
    /// Where this node gossips and serves its peers.
    local: SocketAddr,
    advertise: SocketAddr,
    timeout_us: AtomicU64,
    strict_domains: HashSet<String>,
    counters: MeshCounters,
    /// Strict-domain keys this node owns.
    strict: MemoryCounters,
    /// Strict-domain hits counted against a local share while their owner
    /// does not answer.
    fallback: MemoryCounters,
    store: LwwStore,
    hlc: Hlc,
    membership: Membership,
    links: links::Links,
    /// When each peer's last count batch arrived.
    received: Mutex<HashMap<String, Instant>>,
    /// One channel per peer incarnation.
    clients: Mutex<HashMap<Arc<str>, Client>>,
}

/// A peer's client, and the incarnation (generation, address) it reaches.
type Client = (u64, SocketAddr, MeshClient<Channel>);

impl MeshBackend {
    /// A node of the mesh; `listener` is bound to `config.addr` (TCP) and
    /// serves its peers. Gossip uses the same port over UDP; it starts,
    /// with the peer service, when [`Backend::maintain`] runs.
    pub fn new(
        config: &MeshConfig,
        listener: tokio::net::TcpListener,
    ) -> Result<Self, BackendError> {
        let unavailable = |reason: String| BackendError {
            backend: "mesh",
            reason,
        };
        let local = listener
            .local_addr()
            .map_err(|e| unavailable(format!("the peer listener has no address: {e}")))?;
        // Fail now, not in the background, if gossip cannot have the port.
        std::net::UdpSocket::bind(local)
            .map_err(|e| unavailable(format!("cannot gossip on {local}/UDP: {e}")))?;
        let generation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let node = Node {
            config: config.clone(),
            id: config.node_id.as_str().into(),
            generation,
            local,
            advertise: config.advertise.unwrap_or(local),
            timeout_us: AtomicU64::new(micros(DEFAULT_TIMEOUT)),
            strict_domains: config.strict_domains.iter().cloned().collect(),
            counters: MeshCounters::new(),
            strict: MemoryCounters::default(),
            fallback: MemoryCounters::default(),
            store: LwwStore::default(),
            hlc: Hlc::default(),
            membership: Membership::default(),
            links: links::Links::default(),
            received: Mutex::default(),
            clients: Mutex::default(),
        };
        Ok(MeshBackend {
            node: Arc::new(node),
            listener: Mutex::new(Some(listener)),
        })
    }

    /// The most a call to a peer (a strict hit, a replica's
    /// acknowledgement) may take before the fallback applies.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.node
            .timeout_us
            .store(micros(timeout), Ordering::Relaxed);
        self
    }

    /// The peer service as routes, to be driven in process (the
    /// `mesh_peer` fuzz target sends it arbitrary messages).
    pub fn peer_routes(&self) -> tonic::service::Routes {
        peer_service(&self.node, Clock::system())
    }

    /// Fault injection: cuts this node off from `nodes` (by node id) until
    /// called again with another list (empty: heals). Their gossip is
    /// dropped both ways, count streams and store writes to them stop, and
    /// their calls are refused. Both sides must block each other for a
    /// clean partition: gossip relayed by a third node still tells this
    /// node that a blocked peer lives, though this node no longer treats
    /// it as live.
    pub fn set_blocked(&self, nodes: Vec<String>) {
        self.node.membership.set_blocked(nodes);
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Node {
    fn timeout(&self) -> Duration {
        Duration::from_micros(self.timeout_us.load(Ordering::Relaxed))
    }

    fn me(&self) -> pb::Peer {
        pb::Peer {
            node: self.id.to_string(),
            generation: self.generation,
        }
    }

    fn note_batch(&self, node: &str) {
        let mut received = self.received.lock();
        match received.get_mut(node) {
            Some(at) => *at = Instant::now(),
            None => {
                received.insert(node.to_owned(), Instant::now());
            }
        }
    }

    /// A client for `member`'s peer service (one channel per incarnation,
    /// connected lazily, kept alive by HTTP/2 pings).
    fn client(&self, member: &Member) -> MeshClient<Channel> {
        let mut clients = self.clients.lock();
        if let Some((generation, grpc, client)) = clients.get(&member.id)
            && *generation == member.generation
            && *grpc == member.grpc
        {
            return client.clone();
        }
        let channel = Channel::from_shared(format!("http://{}", member.grpc)).map(|endpoint| {
            endpoint
                .connect_timeout(self.timeout().max(Duration::from_millis(50)))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(1))
                .keep_alive_timeout(Duration::from_secs(2))
                .keep_alive_while_idle(true)
                .connect_lazy()
        });
        let channel = match channel {
            Ok(channel) => channel,
            // A socket address always makes a valid URI; should it not,
            // calls to this peer fail (and fall back) instead of panicking.
            Err(_) => Channel::from_static("http://0.0.0.0:1").connect_lazy(),
        };
        let client = MeshClient::new(channel)
            .max_decoding_message_size(wire::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(wire::MAX_MESSAGE_BYTES);
        clients.insert(
            member.id.clone(),
            (member.generation, member.grpc, client.clone()),
        );
        client
    }

    fn health(&self) -> Health {
        let received = self.received.lock().clone();
        let peers = self
            .membership
            .members()
            .into_iter()
            .map(|m| PeerHealth {
                alive: m.alive && !self.membership.is_blocked(&m.id),
                streaming: self.links.streaming(&m.id),
                last_batch_ms: received
                    .get(&*m.id)
                    .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)),
                addr: m.addr.to_string(),
                node: m.id.to_string(),
            })
            .collect();
        Health {
            available: true,
            peers,
            node: Some(self.id.to_string()),
            ..Health::default()
        }
    }
}

impl std::fmt::Debug for MeshBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshBackend")
            .field("node", &self.node.id)
            .field("addr", &self.node.local)
            .finish_non_exhaustive()
    }
}

impl Backend for MeshBackend {
    fn kind(&self) -> &'static str {
        "mesh"
    }

    fn block_peers(&self, nodes: Vec<String>) -> bool {
        self.set_blocked(nodes);
        true
    }

    fn count<'a>(
        &'a self,
        domain: &'a str,
        hits: &'a [CounterHit],
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Vec<Hit>, BackendError>> {
        if self.node.strict_domains.contains(domain) {
            return Box::pin(async move { Ok(self.node.count_strict(hits, now_ms).await) });
        }
        let results = hits
            .iter()
            .map(|h| self.node.counters.hit(&h.key, &h.limit, h.hits, now_ms))
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
            .node
            .store
            .get(namespace, key, now_ms))))
    }

    fn put<'a>(&'a self, put: Put<'a>, now_ms: u64) -> BoxFuture<'a, Result<(), PutError>> {
        Box::pin(async move {
            let node = &self.node;
            node.check_quorum()?;
            let entry = Entry {
                value: Some(put.value),
                expires_at: put.expires_at,
                version: Version {
                    hlc: node.hlc.tick(now_ms),
                    node: node.id.clone(),
                },
            };
            node.store.write(
                Write {
                    namespace: put.namespace,
                    key: put.key,
                    entry: entry.clone(),
                    create_only: put.create_only,
                    max_keys: put.max_keys,
                },
                now_ms,
            )?;
            node.replicate(put.namespace, put.key, &entry).await?;
            Ok(())
        })
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            let node = &self.node;
            node.check_quorum()?;
            let live = node.store.live_expiry(namespace, key, now_ms);
            // Kept until the deleted value would have expired, within bounds.
            let expires_at = live
                .unwrap_or(0)
                .max(now_ms.saturating_add(lww::TOMBSTONE_MIN_MS))
                .min(now_ms.saturating_add(lww::TOMBSTONE_MAX_MS));
            let tombstone = Entry {
                value: None,
                expires_at,
                version: Version {
                    hlc: node.hlc.tick(now_ms),
                    node: node.id.clone(),
                },
            };
            node.store.apply(namespace, key, tombstone.clone(), now_ms);
            node.replicate(namespace, key, &tombstone).await?;
            Ok(live.is_some())
        })
    }

    fn namespaces(&self) -> Vec<NamespaceStats> {
        self.node.store.stats()
    }

    fn counters(&self) -> usize {
        self.node.counters.len() + self.node.strict.len() + self.node.fallback.len()
    }

    fn health(&self) -> Health {
        self.node.health()
    }

    fn maintain(
        self: Arc<Self>,
        clock: Clock,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        let listener = self.listener.lock().take();
        Box::pin(background::run(self.node.clone(), listener, clock, stop))
    }
}

/// The `reaper.mesh.v1.Mesh` service this node answers its peers with,
/// bounded to the messages a peer may send, its refusals normalised as the
/// API's are (a message that does not decode is INVALID_ARGUMENT).
fn peer_service(node: &Arc<Node>, clock: Clock) -> tonic::service::Routes {
    let service = MeshServer::new(service::Service {
        node: node.clone(),
        clock,
    })
    .max_decoding_message_size(wire::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(wire::MAX_MESSAGE_BYTES);
    let router = tonic::service::Routes::new(service)
        .into_axum_router()
        .layer(axum::middleware::from_fn(crate::grpc::normalise));
    tonic::service::Routes::from(router)
}
