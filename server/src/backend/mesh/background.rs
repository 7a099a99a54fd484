//! What a node runs inside `Backend::maintain`, until told to stop: gossip
//! and the peer service, membership rounds (with a full anti-entropy pull
//! from every peer met), count batches to the peers, the sweep of expired
//! counters and keys, and the periodic pull of newer store entries from
//! one live peer in turn.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reaper_proto::mesh::v1 as pb;

use super::lww::Hlc;
use super::membership::{self, Member};
use super::{Node, peer_service, wire};
use crate::clock::Clock;

/// How often expired counters and keys are reclaimed.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const SWEEP_BUDGET: usize = 16_384;

/// How often a node pulls newer store entries from one peer, and how far
/// before its last pull it asks from (clock skew between writers).
const SYNC_EVERY: Duration = Duration::from_secs(3);
const SYNC_MARGIN_MS: u64 = 10_000;

/// A peer incarnation: node id and generation.
type Incarnation = (Arc<str>, u64);

/// Gossip, the peer service and the background tasks, until `stop`.
pub(super) async fn run(
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
    let routes = peer_service(&node, clock);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
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

impl Node {
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
}
