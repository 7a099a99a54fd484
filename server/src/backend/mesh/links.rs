//! This node's count streams: one long-lived `Counts` call to every live
//! peer (as limitador's distributed storage streams its counters), fed
//! every batch interval with the counter states that changed.
//!
//! A stream starts with a snapshot of every live counter, so a peer that
//! joins, restarts or comes back from a partition learns the current
//! counts at once; batches queued before it are dropped (the snapshot is
//! newer). A stream that breaks is opened again after a short backoff,
//! snapshot first. A peer too slow to take batches as fast as they come
//! is marked lagging, and gets a snapshot instead of the batches it
//! missed. Links to peers that die, restart or are blocked are closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reaper_proto::mesh::v1 as pb;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

use super::Node;
use super::membership::Member;
use super::wire::{self, MAX_ENTRIES};
use crate::clock::Clock;

/// Batches waiting for one peer before it is marked lagging.
const QUEUE: usize = 64;
/// Longest wait between two attempts to open a stream.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

type Batch = Arc<[pb::CounterState]>;

#[derive(Default)]
pub(super) struct Links {
    links: Mutex<HashMap<Arc<str>, Link>>,
}

struct Link {
    generation: u64,
    grpc: std::net::SocketAddr,
    tx: mpsc::Sender<Batch>,
    lagged: Arc<AtomicBool>,
    streaming: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Links {
    /// One batch interval: opens links to new live peers, closes links to
    /// peers no longer live, and sends every link what changed.
    pub(super) fn tick(&self, node: &Arc<Node>, clock: Clock) {
        let changes = node.counters.take_changes();
        let batches: Vec<Batch> = changes
            .chunks(MAX_ENTRIES)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(key, state)| wire::state_to_wire(key, state))
                    .collect()
            })
            .collect();
        let live = node.membership.live_peers();
        let mut links = self.links.lock();
        links.retain(|id, link| {
            live.iter()
                .any(|m| m.id == *id && m.generation == link.generation && m.grpc == link.grpc)
        });
        for member in live {
            links
                .entry(member.id.clone())
                .or_insert_with(|| Link::open(node.clone(), member, clock));
        }
        for link in links.values() {
            for batch in &batches {
                if link.tx.try_send(batch.clone()).is_err() {
                    link.lagged.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Whether this node's stream to `id` is connected.
    pub(super) fn streaming(&self, id: &str) -> bool {
        self.links
            .lock()
            .get(id)
            .is_some_and(|link| link.streaming.load(Ordering::Acquire))
    }

    pub(super) fn close_all(&self) {
        self.links.lock().clear();
    }
}

impl Link {
    fn open(node: Arc<Node>, member: Member, clock: Clock) -> Link {
        let (tx, rx) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let streaming = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(
            node,
            member.clone(),
            rx,
            lagged.clone(),
            streaming.clone(),
            clock,
        ));
        Link {
            generation: member.generation,
            grpc: member.grpc,
            tx,
            lagged,
            streaming,
            task,
        }
    }
}

/// Keeps a stream to `member` open and fed until the link is dropped.
async fn run(
    node: Arc<Node>,
    member: Member,
    mut rx: mpsc::Receiver<Batch>,
    lagged: Arc<AtomicBool>,
    streaming: Arc<AtomicBool>,
    clock: Clock,
) {
    let base = node.config.batch_interval.max(Duration::from_millis(10));
    let mut backoff = base;
    loop {
        if stream(&node, &member, &mut rx, &lagged, &streaming, clock).await {
            backoff = base;
        }
        streaming.store(false, Ordering::Release);
        if rx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One stream, until it breaks; whether it was opened.
async fn stream(
    node: &Arc<Node>,
    member: &Member,
    rx: &mut mpsc::Receiver<Batch>,
    lagged: &AtomicBool,
    streaming: &AtomicBool,
    clock: Clock,
) -> bool {
    let mut client = node.client(member);
    let (out, outbound) = mpsc::channel::<pb::CountBatch>(8);
    let call = client.counts(ReceiverStream::new(outbound));
    let Ok(Ok(response)) = tokio::time::timeout(node.timeout(), call).await else {
        return false;
    };
    streaming.store(true, Ordering::Release);
    let mut inbound = response.into_inner();
    let from = node.me();
    // The snapshot supersedes whatever was queued.
    let mut snapshot = true;
    loop {
        if snapshot || lagged.swap(false, Ordering::AcqRel) {
            snapshot = false;
            while rx.try_recv().is_ok() {}
            let states = node.counters.snapshot(clock.now_ms());
            for chunk in states.chunks(MAX_ENTRIES) {
                let batch = pb::CountBatch {
                    from: Some(from.clone()),
                    counters: chunk
                        .iter()
                        .map(|(key, state)| wire::state_to_wire(key, state))
                        .collect(),
                };
                if out.send(batch).await.is_err() {
                    return true;
                }
                metrics::counter!("reaper_mesh_batches_sent_total").increment(1);
            }
        }
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { return true };
                if lagged.load(Ordering::Acquire) {
                    // Older than the snapshot about to be sent.
                    continue;
                }
                let batch = pb::CountBatch {
                    from: Some(from.clone()),
                    counters: batch.to_vec(),
                };
                if out.send(batch).await.is_err() {
                    return true;
                }
                metrics::counter!("reaper_mesh_batches_sent_total").increment(1);
            }
            message = inbound.message() => {
                // The answer stream carries nothing: any end is a break.
                if !matches!(message, Ok(Some(_))) {
                    return true;
                }
            }
        }
    }
}
