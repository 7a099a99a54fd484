//! Quorum replication of store writes: a write applied here is sent to the
//! key's `replication_factor − 1` other owners (rendezvous hashing over the
//! live peers) and, without waiting, to every other live peer; it succeeds
//! once `write_quorum` replicas (this node included) have acknowledged
//! within the call timeout. Receiving writes is in `service.rs`, the
//! last-writer-wins store in `lww.rs`.

use reaper_proto::mesh::v1 as pb;

use super::lww::Entry;
use super::{Node, wire};
use crate::backend::BackendError;

pub(super) fn quorum_error(acked: usize, quorum: usize) -> BackendError {
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
    /// Sends a local write to the replicas and every other live peer;
    /// succeeds once `write_quorum` replicas (this node included) have it.
    pub(super) async fn replicate(
        &self,
        namespace: &str,
        key: &str,
        entry: &Entry,
    ) -> Result<(), BackendError> {
        let span = crate::traced_span!("mesh.quorum_write", namespace = namespace);
        tracing::Instrument::instrument(self.replicate_traced(namespace, key, entry), span).await
    }

    async fn replicate_traced(
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
    pub(super) fn check_quorum(&self) -> Result<(), BackendError> {
        let quorum = self.config.write_quorum.max(1);
        let live = self.membership.live_count();
        if live < quorum {
            metrics::counter!("reaper_mesh_quorum_failures_total").increment(1);
            return Err(quorum_error(live, quorum));
        }
        Ok(())
    }
}
