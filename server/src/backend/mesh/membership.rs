//! Who is in the mesh: chitchat's gossip (UDP, on the node's port) and its
//! phi-accrual failure detector, read into a member table this node
//! decides with; which members own a key (rendezvous hashing); and the
//! fault injection that cuts chosen peers off.
//!
//! The gossip carries membership and one key per node, `grpc` (where its
//! peer service listens), never counts or store entries. A member is
//! *live* when the failure detector says so and it is not blocked; a dead
//! member stays in the table (for status) until chitchat forgets it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::{
    ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId, FailureDetectorConfig,
};
use parking_lot::RwLock;

use crate::backend::settings::MeshConfig;

/// The gossip key holding a node's peer-gRPC address.
pub(super) const GRPC_KEY: &str = "grpc";

/// One member as this node last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub id: Arc<str>,
    pub generation: u64,
    /// Its gossip address.
    pub addr: SocketAddr,
    /// Its peer service.
    pub grpc: SocketAddr,
    /// By the failure detector.
    pub alive: bool,
}

/// The member table and the blocked peers.
#[derive(Default)]
pub(super) struct Membership {
    /// Peers (not this node), one per node id: its newest incarnation.
    members: RwLock<Vec<Member>>,
    blocked_ids: RwLock<HashSet<String>>,
    /// The gossip addresses of blocked peers, read by the transport.
    blocked_addrs: Arc<RwLock<HashSet<SocketAddr>>>,
    /// The incarnations live at the last update, blocked ones left out.
    was_live: RwLock<HashSet<(Arc<str>, u64)>>,
}

impl Membership {
    pub(super) fn members(&self) -> Vec<Member> {
        self.members.read().clone()
    }

    /// Live peers, not blocked.
    pub(super) fn live_peers(&self) -> Vec<Member> {
        let blocked = self.blocked_ids.read();
        self.members
            .read()
            .iter()
            .filter(|m| m.alive && !blocked.contains(&*m.id))
            .cloned()
            .collect()
    }

    pub(super) fn live_peer(&self, id: &str) -> Option<Member> {
        self.live_peers().into_iter().find(|m| &*m.id == id)
    }

    pub(super) fn is_blocked(&self, id: &str) -> bool {
        self.blocked_ids.read().contains(id)
    }

    pub(super) fn set_blocked(&self, ids: Vec<String>) {
        let ids: HashSet<String> = ids.into_iter().collect();
        {
            // A peer blocked or unblocked is met again when it is next
            // live and unblocked, however short the cut: what it wrote
            // meanwhile is pulled then.
            let before = self.blocked_ids.read();
            self.was_live
                .write()
                .retain(|(id, _)| !before.contains(&**id) && !ids.contains(&**id));
        }
        *self.blocked_ids.write() = ids;
        self.refresh_blocked_addrs();
    }

    fn refresh_blocked_addrs(&self) {
        let blocked = self.blocked_ids.read();
        let addrs = self
            .members
            .read()
            .iter()
            .filter(|m| blocked.contains(&*m.id))
            .flat_map(|m| [m.addr, m.grpc])
            .collect();
        *self.blocked_addrs.write() = addrs;
    }

    /// Replaces the table from chitchat's view; returns the peers that
    /// became live (new, restarted, or back from the dead or a partition).
    pub(super) fn update(&self, mut seen: Vec<Member>) -> Vec<Member> {
        // One entry per node id: the newest generation.
        seen.sort_by(|a, b| a.id.cmp(&b.id).then(b.generation.cmp(&a.generation)));
        seen.dedup_by(|later, first| later.id == first.id);
        let live: HashSet<(Arc<str>, u64)> = {
            let blocked = self.blocked_ids.read();
            seen.iter()
                .filter(|m| m.alive && !blocked.contains(&*m.id))
                .map(|m| (m.id.clone(), m.generation))
                .collect()
        };
        let joined = {
            let was_live = self.was_live.read();
            seen.iter()
                .filter(|m| {
                    let incarnation = (m.id.clone(), m.generation);
                    live.contains(&incarnation) && !was_live.contains(&incarnation)
                })
                .cloned()
                .collect()
        };
        *self.was_live.write() = live;
        let (alive, dead) =
            seen.iter().fold(
                (0u32, 0u32),
                |(a, d), m| {
                    if m.alive { (a + 1, d) } else { (a, d + 1) }
                },
            );
        metrics::gauge!("reaper_mesh_peers", "state" => "alive").set(f64::from(alive));
        metrics::gauge!("reaper_mesh_peers", "state" => "dead").set(f64::from(dead));
        *self.members.write() = seen;
        self.refresh_blocked_addrs();
        joined
    }

    /// The `n` members owning `key`, best first: rendezvous hashing over the
    /// live members' ids, this node's included.
    pub(super) fn owners(&self, me: &str, key: &[u8], n: usize) -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = self.live_peers().into_iter().map(|m| m.id).collect();
        ids.push(me.into());
        ids.sort_by_key(|id| std::cmp::Reverse(score(id, key)));
        ids.truncate(n);
        ids
    }

    /// Live members, this node included.
    pub(super) fn live_count(&self) -> usize {
        self.live_peers().len() + 1
    }
}

/// A rendezvous score: FNV-1a over the node id and the key, then a 64-bit
/// finalizer. Every node, of any build, must compute the same score, so
/// no seeded or std hasher.
fn score(node: &str, key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in node.as_bytes().iter().chain([0xff].iter()).chain(key) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finalizer spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Starts gossiping from `listen` (UDP), through a transport that drops
/// what blocked peers send and what is sent to them.
pub(super) async fn start_gossip(
    config: &MeshConfig,
    id: &ChitchatId,
    listen: SocketAddr,
    grpc: SocketAddr,
    membership: &Membership,
) -> anyhow::Result<ChitchatHandle> {
    let interval = config.gossip_interval.max(Duration::from_millis(10));
    let chitchat = ChitchatConfig {
        chitchat_id: id.clone(),
        cluster_id: config.cluster_id.clone(),
        gossip_interval: interval,
        listen_addr: listen,
        seed_nodes: config.peers.iter().map(ToString::to_string).collect(),
        // Phi accrual on the gossip heartbeats: with a heartbeat seen every
        // interval or so, a silent node is declared dead after about 8
        // intervals (a second or two at the default interval).
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: 8.0,
            sampling_window_size: 1_000,
            max_interval: (interval * 20).max(Duration::from_secs(2)),
            initial_interval: interval,
            // Dead members are forgotten after an hour (their states
            // stop counting long before, when their windows end).
            dead_node_grace_period: Duration::from_secs(3_600),
        },
        marked_for_deletion_grace_period: Duration::from_secs(3_600),
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: chitchat::ProtocolVersion::V0,
    };
    let transport = Filtered {
        blocked: membership.blocked_addrs.clone(),
    };
    chitchat::spawn_chitchat(
        chitchat,
        vec![(GRPC_KEY.to_owned(), grpc.to_string())],
        &transport,
    )
    .await
}

/// Reads chitchat's view into members (this node left out).
pub(super) async fn read_members(handle: &ChitchatHandle) -> Vec<Member> {
    let chitchat = handle.chitchat();
    let chitchat = chitchat.lock().await;
    let me = chitchat.self_chitchat_id().clone();
    let live: HashSet<&ChitchatId> = chitchat.live_nodes().collect();
    let mut out = Vec::new();
    for (id, state) in chitchat.node_states() {
        if id.node_id == me.node_id {
            continue;
        }
        let grpc = state
            .get(GRPC_KEY)
            .and_then(|text| text.parse().ok())
            .unwrap_or(id.gossip_advertise_addr);
        out.push(Member {
            id: id.node_id.clone(),
            generation: id.generation_id,
            addr: id.gossip_advertise_addr,
            grpc,
            alive: live.contains(id),
        });
    }
    out
}

/// Chitchat's UDP transport, minus blocked peers.
struct Filtered {
    blocked: Arc<RwLock<HashSet<SocketAddr>>>,
}

struct FilteredSocket {
    inner: Box<dyn Socket>,
    blocked: Arc<RwLock<HashSet<SocketAddr>>>,
}

#[tonic::async_trait]
impl Transport for Filtered {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(FilteredSocket {
            inner,
            blocked: self.blocked.clone(),
        }))
    }
}

#[tonic::async_trait]
impl Socket for FilteredSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        if self.blocked.read().contains(&to) {
            return Ok(SendOutcome { num_bytes_sent: 0 });
        }
        self.inner.send(to, envelope).await
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            let outcome = self.inner.recv().await?;
            if !self.blocked.read().contains(&outcome.from_addr) {
                return Ok(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_agree_and_move_only_the_keys_of_a_leaving_member() {
        let members = |ids: &[&str]| {
            let m = Membership::default();
            m.update(
                ids.iter()
                    .enumerate()
                    .map(|(i, id)| Member {
                        id: (*id).into(),
                        generation: 1,
                        addr: SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)),
                        grpc: SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)),
                        alive: true,
                    })
                    .collect(),
            );
            m
        };
        let from_a = members(&["b", "c"]);
        let from_b = members(&["a", "c"]);
        let without_c = members(&["b"]);
        let mut moved = 0;
        for i in 0..1_000u32 {
            let key = i.to_le_bytes();
            let owner = from_a.owners("a", &key, 1);
            assert_eq!(owner, from_b.owners("b", &key, 1));
            let after = without_c.owners("a", &key, 1);
            if owner[0].as_ref() != "c" {
                assert_eq!(owner, after);
            } else {
                moved += 1;
            }
        }
        // About a third each.
        assert!((250..420).contains(&moved), "{moved}");
    }
}
