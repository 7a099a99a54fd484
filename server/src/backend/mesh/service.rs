//! The peer service (`reaper.mesh.v1.Mesh`) a node serves on its port:
//! count streams in, strict hits for the keys it owns, store writes and
//! anti-entropy reads. Calls from a blocked peer, or naming no sender, are
//! refused with UNAVAILABLE; what a call may carry is bounded (`wire.rs`).

use std::sync::Arc;

use reaper_proto::mesh::v1 as pb;
use reaper_proto::mesh::v1::mesh_server::Mesh;
use reaper_runtime::ratelimit::counters::CounterStore;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::Node;
use super::wire::{self, MAX_ENTRIES, MAX_MESSAGE_BYTES};
use crate::clock::Clock;

pub(super) struct Service {
    pub node: Arc<Node>,
    pub clock: Clock,
}

impl Service {
    /// The sender, if it may call.
    fn admit(&self, from: Option<&pb::Peer>) -> Result<pb::Peer, Status> {
        let Some(from) = from else {
            return Err(Status::invalid_argument("the call names no sender"));
        };
        if self.node.membership.is_blocked(&from.node) {
            return Err(Status::unavailable(format!(
                "node `{}` is cut off from this node",
                from.node
            )));
        }
        Ok(from.clone())
    }
}

fn too_many(what: &str) -> Status {
    Status::resource_exhausted(format!("more than {MAX_ENTRIES} {what} in one message"))
}

#[tonic::async_trait]
impl Mesh for Service {
    type CountsStream = ReceiverStream<Result<pb::CountAck, Status>>;

    async fn counts(
        &self,
        request: Request<Streaming<pb::CountBatch>>,
    ) -> Result<Response<Self::CountsStream>, Status> {
        let mut inbound = request.into_inner();
        let node = self.node.clone();
        let clock = self.clock;
        // The answer stream stays open while the reader runs; when it
        // stops (the sender is blocked, its stream broke or is malformed),
        // its end tells the sender to reconnect.
        let (done, answer) = mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    () = done.closed() => return,
                    message = inbound.message() => match message {
                        Ok(Some(batch)) => batch,
                        _ => return,
                    },
                };
                let Some(from) = batch.from else {
                    let _ = done
                        .send(Err(Status::invalid_argument("the batch names no sender")))
                        .await;
                    return;
                };
                if node.membership.is_blocked(&from.node) {
                    let _ = done.send(Err(Status::unavailable("cut off"))).await;
                    return;
                }
                if batch.counters.len() > MAX_ENTRIES {
                    let _ = done.send(Err(too_many("counters"))).await;
                    return;
                }
                metrics::counter!("reaper_mesh_batches_received_total").increment(1);
                let peer = node.counters.incarnation(&from.node, from.generation);
                node.note_batch(&from.node);
                let states = batch.counters.into_iter().filter_map(wire::state_from_wire);
                node.counters.apply_peer(peer, states, clock.now_ms());
            }
        });
        Ok(Response::new(ReceiverStream::new(answer)))
    }

    async fn hit(
        &self,
        request: Request<pb::HitRequest>,
    ) -> Result<Response<pb::HitResponse>, Status> {
        let request = request.into_inner();
        self.admit(request.from.as_ref())?;
        if request.hits.len() > MAX_ENTRIES {
            return Err(too_many("hits"));
        }
        let mut results = Vec::with_capacity(request.hits.len());
        for hit in &request.hits {
            let Some(limit) = wire::strict_from_wire(hit) else {
                return Err(Status::invalid_argument("a hit has no known algorithm"));
            };
            let counted = self
                .node
                .strict
                .hit(&hit.key, &limit, hit.hits, request.now_ms);
            results.push(wire::hit_to_wire(&counted));
        }
        Ok(Response::new(pb::HitResponse { results }))
    }

    async fn replicate(
        &self,
        request: Request<pb::ReplicateRequest>,
    ) -> Result<Response<pb::ReplicateResponse>, Status> {
        let request = request.into_inner();
        self.admit(request.from.as_ref())?;
        if request.entries.len() > MAX_ENTRIES {
            return Err(too_many("entries"));
        }
        let now = self.clock.now_ms();
        for entry in request.entries {
            let (namespace, key, entry) = wire::entry_from_wire(entry);
            self.node.hlc.observe(entry.version.hlc);
            self.node.store.apply(&namespace, &key, entry, now);
        }
        Ok(Response::new(pb::ReplicateResponse {}))
    }

    type SyncStream = ReceiverStream<Result<pb::SyncChunk, Status>>;

    async fn sync(
        &self,
        request: Request<pb::SyncRequest>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let request = request.into_inner();
        self.admit(request.from.as_ref())?;
        let entries = self
            .node
            .store
            .since(request.since_hlc, self.clock.now_ms());
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            // Chunks well under the message bound, whatever the values.
            let mut chunk = pb::SyncChunk::default();
            let mut bytes = 0;
            for (namespace, key, entry) in &entries {
                let entry = wire::entry_to_wire(namespace, key, entry);
                bytes += entry.key.len() + entry.namespace.len() + entry.value.len() + 64;
                chunk.entries.push(entry);
                if chunk.entries.len() >= MAX_ENTRIES / 4 || bytes >= MAX_MESSAGE_BYTES / 4 {
                    if tx.send(Ok(std::mem::take(&mut chunk))).await.is_err() {
                        return;
                    }
                    bytes = 0;
                }
            }
            if !chunk.entries.is_empty() {
                let _ = tx.send(Ok(chunk)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
