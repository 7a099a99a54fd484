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
//! | strict domains | hits counted exactly by the key's owner (rendezvous hashing) | here, `service.rs` |
//! | store | last-writer-wins with hybrid-logical-clock versions; quorum writes | `lww.rs`, here |
//! | anti-entropy | a node pulls newer store entries from a peer on meeting it, then periodically | here, `service.rs` |
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
//! [`Backend::maintain`], until it is told to stop.

mod counts;
mod links;
mod lww;
mod membership;
mod service;
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
use reaper_lang::limits::Algorithm;
use reaper_proto::mesh::v1 as pb;
use reaper_proto::mesh::v1::mesh_client::MeshClient;
use reaper_proto::mesh::v1::mesh_server::MeshServer;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{CounterStore, Hit, Limit, MemoryCounters};
use tonic::transport::Channel;

use super::settings::MeshConfig;
use super::store::Put;
use super::{
    Backend, BackendError, BoxFuture, Health, NamespaceStats, PeerHealth, PutError, Stored,
};
use crate::clock::Clock;
use counts::MeshCounters;
use lww::{Entry, Hlc, LwwStore, Version, Write};
use membership::{Member, Membership};

/// How long a call to a peer may take, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// How often expired counters and keys are reclaimed.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const SWEEP_BUDGET: usize = 16_384;

/// How often a node pulls newer store entries from one peer, and how far
/// before its last pull it asks from (clock skew between writers).
const SYNC_EVERY: Duration = Duration::from_secs(3);
const SYNC_MARGIN_MS: u64 = 10_000;

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

/// A peer incarnation: node id and generation.
type Incarnation = (Arc<str>, u64);

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

    /// Fault injection: cuts this node off from `nodes` (by node id) until
    /// called again with another list (empty: heals). Their gossip is
    /// dropped both ways, count streams and store writes to them stop, and
    /// their calls are refused. Both sides must block each other for a
    /// clean partition: gossip relayed by a third node still tells this
    /// node that a blocked peer lives, though this node no longer treats
    /// it as live.
    /// The peer service as routes, to be driven in process (the
    /// `mesh_peer` fuzz target sends it arbitrary messages).
    pub fn peer_routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::new(peer_service(&self.node, Clock::system()))
    }

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

fn quorum_error(acked: usize, quorum: usize) -> BackendError {
    BackendError {
        backend: "mesh",
        reason: format!("write quorum not reached: {acked} of {quorum} replicas acknowledged"),
    }
}

/// The rendezvous key of a store key.
fn store_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(namespace.len() + key.len() + 1);
    out.extend_from_slice(namespace.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
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

    /// Counts strict-domain hits at their owners.
    async fn count_strict(&self, hits: &[CounterHit], now_ms: u64) -> Vec<Hit> {
        let mut results: Vec<Option<Hit>> = vec![None; hits.len()];
        let mut remote: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, hit) in hits.iter().enumerate() {
            let owner = self.membership.owners(&self.id, &hit.key, 1);
            match owner.first() {
                Some(owner) if *owner != self.id => {
                    remote.entry(owner.clone()).or_default().push(i)
                }
                _ => results[i] = Some(self.strict.hit(&hit.key, &hit.limit, hit.hits, now_ms)),
            }
        }
        let mut calls = Vec::new();
        for (owner, indices) in remote {
            let Some(member) = self.membership.live_peer(&owner) else {
                calls.push((indices, None));
                continue;
            };
            let mut client = self.client(&member);
            let request = pb::HitRequest {
                from: Some(self.me()),
                now_ms,
                hits: indices
                    .iter()
                    .filter_map(|i| hits.get(*i))
                    .map(|h| wire::strict_to_wire(&h.key, &h.limit, h.hits))
                    .collect(),
            };
            let timeout = self.timeout();
            let call = tokio::spawn(async move {
                match tokio::time::timeout(timeout, client.hit(request)).await {
                    Ok(Ok(response)) => Some(response.into_inner().results),
                    _ => None,
                }
            });
            calls.push((indices, Some(call)));
        }
        for (indices, call) in calls {
            let answered = match call {
                Some(call) => call.await.ok().flatten(),
                None => None,
            };
            match answered {
                Some(answers) if answers.len() == indices.len() => {
                    for (i, answer) in indices.iter().zip(&answers) {
                        if let Some(slot) = results.get_mut(*i) {
                            *slot = Some(wire::hit_from_wire(answer));
                        }
                    }
                }
                _ => {
                    for i in indices {
                        if let (Some(hit), Some(slot)) = (hits.get(i), results.get_mut(i)) {
                            *slot = Some(self.fallback_hit(hit, now_ms));
                        }
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Hit {
                    allowed: false,
                    remaining: 0,
                    reset_ms: 0,
                })
            })
            .collect()
    }

    /// A strict hit whose owner did not answer: counted here against this
    /// node's share of the limit.
    fn fallback_hit(&self, hit: &CounterHit, now_ms: u64) -> Hit {
        metrics::counter!("reaper_mesh_strict_fallbacks_total").increment(1);
        let k = self.membership.live_count() as u64;
        let algorithm = match hit.limit.algorithm {
            Algorithm::TokenBucket { burst } => Algorithm::TokenBucket {
                burst: burst.div_ceil(k),
            },
            other => other,
        };
        let share = Limit {
            count: hit.limit.count.div_ceil(k),
            algorithm,
            ..hit.limit
        };
        self.fallback.hit(&hit.key, &share, hit.hits, now_ms)
    }

    /// Sends a local write to the replicas and every other live peer;
    /// succeeds once `write_quorum` replicas (this node included) have it.
    async fn replicate(
        &self,
        namespace: &str,
        key: &str,
        entry: &Entry,
    ) -> Result<(), BackendError> {
        let quorum = self.config.write_quorum.max(1);
        let want = self.config.replication_factor.max(1) - 1;
        let mut peers = self.membership.live_peers();
        let rendezvous = store_key(namespace, key);
        let ranked = self.membership.owners(&self.id, &rendezvous, usize::MAX);
        peers.sort_by_key(|m| ranked.iter().position(|id| *id == m.id));
        let request = pb::ReplicateRequest {
            from: Some(self.me()),
            entries: vec![wire::entry_to_wire(namespace, key, entry)],
        };
        let (acks_tx, mut acks) = tokio::sync::mpsc::channel(peers.len().max(1));
        let timeout = self.timeout();
        let mut replicas = 0;
        for (rank, member) in peers.iter().enumerate() {
            let mut client = self.client(member);
            let request = request.clone();
            let acks_tx = (rank < want).then(|| acks_tx.clone());
            replicas += usize::from(acks_tx.is_some());
            tokio::spawn(async move {
                let ok = matches!(
                    tokio::time::timeout(timeout, client.replicate(request)).await,
                    Ok(Ok(_))
                );
                if !ok {
                    metrics::counter!("reaper_mesh_replication_errors_total").increment(1);
                }
                if let Some(tx) = acks_tx {
                    let _ = tx.send(ok).await;
                }
            });
        }
        drop(acks_tx);
        let mut acked = 1;
        let mut answered = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while acked < quorum && answered < replicas {
            match tokio::time::timeout_at(deadline, acks.recv()).await {
                Ok(Some(ok)) => {
                    answered += 1;
                    acked += usize::from(ok);
                }
                _ => break,
            }
        }
        if acked < quorum {
            metrics::counter!("reaper_mesh_quorum_failures_total").increment(1);
            return Err(quorum_error(acked, quorum));
        }
        Ok(())
    }

    /// Refuses a write at once when too few members live for its quorum.
    fn check_quorum(&self) -> Result<(), BackendError> {
        let quorum = self.config.write_quorum.max(1);
        let live = self.membership.live_count();
        if live < quorum {
            metrics::counter!("reaper_mesh_quorum_failures_total").increment(1);
            return Err(quorum_error(live, quorum));
        }
        Ok(())
    }

    /// Pulls `member`'s store entries newer than `since_hlc`; how many were
    /// newer than this node's.
    async fn sync_from(&self, member: &Member, since_hlc: u64, clock: Clock) -> Option<usize> {
        let mut client = self.client(member);
        let request = pb::SyncRequest {
            from: Some(self.me()),
            since_hlc,
        };
        // A large store takes several chunks: each gets its own bound.
        let step = self.timeout().max(Duration::from_millis(500));
        let mut stream = tokio::time::timeout(step, client.sync(request))
            .await
            .ok()?
            .ok()?
            .into_inner();
        let mut applied = 0;
        loop {
            match tokio::time::timeout(step, stream.message()).await {
                Ok(Ok(Some(chunk))) => {
                    let now = clock.now_ms();
                    for entry in chunk.entries {
                        let (namespace, key, entry) = wire::entry_from_wire(entry);
                        self.hlc.observe(entry.version.hlc);
                        applied += usize::from(self.store.apply(&namespace, &key, entry, now));
                    }
                }
                Ok(Ok(None)) => return Some(applied),
                _ => return None,
            }
        }
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
        Box::pin(run(self.node.clone(), listener, clock, stop))
    }
}

/// Gossip, the peer service and the background tasks, until `stop`.
/// The `reaper.mesh.v1.Mesh` service this node answers its peers with,
/// bounded to the messages a peer may send.
fn peer_service(node: &Arc<Node>, clock: Clock) -> MeshServer<service::Service> {
    MeshServer::new(service::Service {
        node: node.clone(),
        clock,
    })
    .max_decoding_message_size(wire::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(wire::MAX_MESSAGE_BYTES)
}

async fn run(
    node: Arc<Node>,
    listener: Option<tokio::net::TcpListener>,
    clock: Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(listener) = listener else {
        tracing::error!("the mesh backend is already running");
        return;
    };
    let chitchat_id =
        chitchat::ChitchatId::new(node.id.to_string(), node.generation, node.advertise);
    let gossip = match membership::start_gossip(
        &node.config,
        &chitchat_id,
        node.local,
        node.advertise,
        &node.membership,
    )
    .await
    {
        Ok(gossip) => gossip,
        Err(error) => {
            tracing::error!(%error, addr = %node.local, "the mesh cannot gossip");
            let _ = stop.changed().await;
            return;
        }
    };
    let service = peer_service(&node, clock);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    tracing::info!(node = %node.id, addr = %node.local, "mesh node started");

    let mut members =
        tokio::time::interval(node.config.gossip_interval.max(Duration::from_millis(10)));
    let mut batches =
        tokio::time::interval(node.config.batch_interval.max(Duration::from_millis(1)));
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    let mut sync = tokio::time::interval(SYNC_EVERY);
    for timer in [&mut members, &mut batches, &mut sweep, &mut sync] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    // Pulls in flight; a full pull answers which incarnation it was for
    // and whether it succeeded.
    let mut syncs: tokio::task::JoinSet<Option<(Incarnation, bool)>> = tokio::task::JoinSet::new();
    // Peers met but not yet fully pulled from (a failed pull is retried
    // every membership round while they live), and those being pulled.
    let mut unsynced: HashSet<Incarnation> = HashSet::new();
    let mut pulling: HashSet<Incarnation> = HashSet::new();
    // Where the next periodic pull starts from, and whom it asks.
    let mut synced_ms = 0u64;
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = members.tick() => {
                let seen = membership::read_members(&gossip).await;
                for member in node.membership.update(seen) {
                    // Someone new: take everything it holds.
                    unsynced.insert((member.id.clone(), member.generation));
                }
                // Forgotten incarnations are never pulled.
                let known: HashSet<Incarnation> = node
                    .membership
                    .members()
                    .into_iter()
                    .map(|m| (m.id, m.generation))
                    .collect();
                unsynced.retain(|incarnation| known.contains(incarnation));
                for member in node.membership.live_peers() {
                    let incarnation = (member.id.clone(), member.generation);
                    if unsynced.contains(&incarnation) && pulling.insert(incarnation.clone()) {
                        let node = node.clone();
                        syncs.spawn(async move {
                            let ok = node.sync_from(&member, 0, clock).await.is_some();
                            Some((incarnation, ok))
                        });
                    }
                }
            }
            _ = batches.tick() => node.links.tick(&node, clock),
            _ = sweep.tick() => {
                let now = clock.now_ms();
                node.counters.sweep(now);
                node.strict.sweep_some(now, SWEEP_BUDGET);
                node.fallback.sweep_some(now, SWEEP_BUDGET);
                node.store.purge(now);
            }
            _ = sync.tick() => {
                let live = node.membership.live_peers();
                if !live.is_empty() {
                    let member = live[turn % live.len()].clone();
                    turn = turn.wrapping_add(1);
                    let since = Hlc::at_ms(synced_ms.saturating_sub(SYNC_MARGIN_MS));
                    synced_ms = clock.now_ms();
                    let node = node.clone();
                    syncs.spawn(async move {
                        node.sync_from(&member, since, clock).await;
                        None
                    });
                }
            }
            Some(done) = syncs.join_next(), if !syncs.is_empty() => {
                if let Ok(Some((incarnation, ok))) = done {
                    pulling.remove(&incarnation);
                    if ok {
                        unsynced.remove(&incarnation);
                    }
                }
            }
        }
    }
    // Stopping is abrupt, as a crash would be: peers see the streams break
    // and the gossip fall silent.
    syncs.abort_all();
    server.abort();
    node.links.close_all();
    node.clients.lock().clear();
    let _ = gossip.shutdown().await;
    tracing::info!(node = %node.id, "mesh node stopped");
}
