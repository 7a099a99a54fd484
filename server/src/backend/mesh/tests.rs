//! The mesh backend against itself: nodes in one process on real sockets
//! (127.0.0.1, port 0), short intervals, real time, and bounded polling
//! with deadlines wherever the mesh needs time to converge.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::CounterHit;
use reaper_runtime::ratelimit::counters::{CounterStore, Hit, Limit, MemoryCounters};
use tokio::sync::watch;

use super::counts::MeshCounters;
use super::lww::{Entry, Version};
use super::replication::quorum_error;
use super::*;

/// A window no test run crosses by chance.
const LONG: u64 = 30 * 24 * 3_600_000;
const DEADLINE: Duration = Duration::from_secs(10);

fn fixed(count: u64) -> Limit {
    Limit {
        count,
        period_ms: LONG,
        algorithm: Algorithm::FixedWindow,
    }
}

fn hit(key: &str, limit: Limit, hits: u64) -> CounterHit {
    CounterHit {
        key: key.as_bytes().into(),
        limit,
        hits,
    }
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A TCP listener on 127.0.0.1 whose port is also free for UDP.
async fn bind() -> tokio::net::TcpListener {
    loop {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        if std::net::UdpSocket::bind(addr).is_ok() {
            return listener;
        }
    }
}

fn config(id: &str, addr: SocketAddr, peers: Vec<SocketAddr>) -> MeshConfig {
    MeshConfig {
        node_id: id.to_owned(),
        addr,
        advertise: None,
        peers,
        cluster_id: "test".to_owned(),
        batch_interval: Duration::from_millis(10),
        gossip_interval: Duration::from_millis(50),
        replication_factor: 2,
        write_quorum: 1,
        strict_domains: vec!["strict".to_owned()],
    }
}

pub(crate) struct Running {
    pub(crate) backend: Arc<MeshBackend>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn node(&self) -> &Node {
        &self.backend.node
    }

    fn alive_peers(&self) -> usize {
        self.backend
            .health()
            .peers
            .iter()
            .filter(|p| p.alive)
            .count()
    }

    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }

    async fn count(&self, domain: &str, hits: &[CounterHit]) -> Vec<Hit> {
        let now = Clock::system().now_ms();
        self.backend.count(domain, hits, now).await.unwrap()
    }

    async fn put(&self, key: &str, value: &'static str) -> Result<(), PutError> {
        let now = Clock::system().now_ms();
        self.backend
            .put(
                Put {
                    namespace: "ns",
                    key,
                    value: Bytes::from_static(value.as_bytes()),
                    expires_at: now + 60_000,
                    create_only: false,
                    max_keys: None,
                },
                now,
            )
            .await
    }

    fn read(&self, key: &str) -> Option<Stored> {
        self.node().store.get("ns", key, Clock::system().now_ms())
    }

    fn seen(&self, key: &str) -> u64 {
        self.node()
            .counters
            .fixed_total(key.as_bytes(), LONG, Clock::system().now_ms())
    }
}

async fn start_with(
    id: &str,
    peers: Vec<SocketAddr>,
    edit: impl FnOnce(&mut MeshConfig),
) -> Running {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let mut config = config(id, addr, peers);
    edit(&mut config);
    let backend = Arc::new(MeshBackend::new(&config, listener).unwrap());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(backend.clone().maintain(Clock::system(), stopped));
    Running {
        backend,
        addr,
        stop,
        task,
    }
}

/// Three nodes that see each other alive.
pub(crate) async fn cluster(edit: impl Fn(&mut MeshConfig) + Copy) -> Vec<Running> {
    let first = start_with("n1", vec![], edit).await;
    let seed = vec![first.addr];
    let mut nodes = vec![first];
    for id in ["n2", "n3"] {
        nodes.push(start_with(id, seed.clone(), edit).await);
    }
    eventually("every node sees two live peers", || {
        nodes.iter().all(|n| n.alive_peers() == 2)
    })
    .await;
    nodes
}

/// A sequence of hits answered by one mesh node alone and by the memory
/// counters: identical answers, for every algorithm, including racing
/// (slightly late) timestamps, `hits == 0`, `count == 0` and changed
/// limits. (Past the skew tolerance, a clock stepped back may meet a
/// counter the memory store's amortised sweep dropped: that answer is
/// allowed to differ, by the memory counters' own rules.)
#[test]
fn one_node_answers_as_the_memory_counters() {
    let mesh = MeshCounters::new();
    let memory = MemoryCounters::default();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let algorithms = [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket { burst: 0 },
        Algorithm::TokenBucket { burst: 1 },
        Algorithm::TokenBucket { burst: 5 },
    ];
    let mut now: u64 = 1_800_000_000_000;
    for i in 0..20_000 {
        now = match random(20) {
            0 | 1 => now - random(900),
            _ => now + random(300),
        };
        let limit = Limit {
            count: [0, 1, 3, 10][random(4) as usize],
            period_ms: [1_000, 3_000][random(2) as usize],
            algorithm: algorithms[random(5) as usize],
        };
        // Few keys, so limits change under a key too.
        let key = format!("k{}", random(6));
        let hits = random(4);
        let expected = memory.hit(key.as_bytes(), &limit, hits, now);
        let got = mesh.hit(key.as_bytes(), &limit, hits, now);
        assert_eq!(got, expected, "hit {i}: {limit:?} ×{hits} at {now}");
        if i % 1_000 == 999 {
            mesh.sweep(now);
            memory.sweep(now);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_on_counts_and_store() {
    let nodes = cluster(|_| {}).await;

    // Hits spread over the three: each sees the total.
    for node in &nodes {
        for _ in 0..10 {
            node.count("api", &[hit("spread", fixed(1_000), 1)]).await;
        }
    }
    eventually("every node sees 30 hits", || {
        nodes.iter().all(|n| n.seen("spread") == 30)
    })
    .await;

    // Hits paced by propagation: the limit is exact.
    let mut allowed = 0;
    for i in 0..30 {
        let node = &nodes[i % 3];
        allowed += usize::from(node.count("api", &[hit("paced", fixed(10), 1)]).await[0].allowed);
        eventually("the hit reaches every node", || {
            nodes.iter().all(|n| n.seen("paced") == i as u64 + 1)
        })
        .await;
    }
    assert_eq!(allowed, 10);

    // Unpaced: at most C + the hits admitted elsewhere within one
    // propagation delay, never more than K × C.
    let mut allowed = 0;
    for i in 0..60 {
        let node = &nodes[i % 3];
        allowed += usize::from(node.count("api", &[hit("burst", fixed(10), 1)]).await[0].allowed);
    }
    assert!((10..=30).contains(&allowed), "{allowed}");

    // A write on one is read on the others, with the same expiry.
    nodes[0].put("a", "one").await.unwrap();
    let written = nodes[0].read("a").unwrap();
    eventually("the write reaches every node", || {
        nodes.iter().all(|n| n.read("a").as_ref() == Some(&written))
    })
    .await;

    // A delete too, and its tombstone beats an older write arriving late.
    let now = Clock::system().now_ms();
    assert!(nodes[1].backend.delete("ns", "a", now).await.unwrap());
    eventually("the delete reaches every node", || {
        nodes.iter().all(|n| n.read("a").is_none())
    })
    .await;
    let late = Entry {
        value: Some(Bytes::from_static(b"late")),
        expires_at: now + 60_000,
        version: Version {
            hlc: lww::Hlc::at_ms(now - 1_000),
            node: "n1".into(),
        },
    };
    assert!(!nodes[2].node().store.apply("ns", "a", late, now));
    assert!(nodes[2].read("a").is_none());

    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_their_quorum() {
    let nodes = cluster(|c| c.write_quorum = 2).await;
    nodes[0].put("q", "ok").await.unwrap();

    // The replicas refuse this node's calls: acknowledged by itself only.
    for other in &nodes[1..] {
        other.backend.set_blocked(vec!["n1".into()]);
    }
    let refused = nodes[0].put("q", "refused").await;
    assert_eq!(
        refused,
        Err(PutError::Unavailable(BackendError {
            backend: "mesh",
            reason: "write quorum not reached: 1 of 2 replicas acknowledged".into(),
        }))
    );
    // The local write stays.
    assert_eq!(nodes[0].read("q").unwrap().value, "refused");

    // Cut off from both: refused at once.
    nodes[0].backend.set_blocked(vec!["n2".into(), "n3".into()]);
    let now = Clock::system().now_ms();
    let refused = nodes[0].backend.delete("ns", "q", now).await;
    assert_eq!(refused, Err(quorum_error(1, 2)));
    assert_eq!(nodes[0].read("q").unwrap().value, "refused");

    // Healed: writes are acknowledged again.
    for node in &nodes {
        node.backend.set_blocked(vec![]);
    }
    eventually("n1 sees its peers live again", || {
        nodes[0].alive_peers() == 2
    })
    .await;
    nodes[0].put("q", "back").await.unwrap();
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_domains_allow_exactly_the_limit() {
    let nodes = cluster(|_| {}).await;
    let mut allowed = 0;
    for i in 0..30 {
        let answers = nodes[i % 3].count("strict", &[hit("s", fixed(7), 1)]).await;
        allowed += usize::from(answers[0].allowed);
    }
    assert_eq!(allowed, 7);

    // Several keys (and so owners) in one request: each counted exactly.
    let keys: Vec<String> = (0..12).map(|k| format!("multi{k}")).collect();
    let request: Vec<CounterHit> = keys.iter().map(|k| hit(k, fixed(2), 1)).collect();
    let mut allowed = vec![0; keys.len()];
    for i in 0..5 {
        let answers = nodes[i % 3].count("strict", &request).await;
        for (a, answer) in allowed.iter_mut().zip(&answers) {
            *a += usize::from(answer.allowed);
        }
    }
    assert_eq!(allowed, vec![2; keys.len()]);

    // An owner that refuses (or does not answer in time): a local share of
    // the limit, ⌈7 / 3⌉ = 3.
    let owner_id = nodes[0].node().membership.owners("n1", b"fallback", 1)[0].clone();
    let owner = nodes.iter().find(|n| *n.node().id == *owner_id).unwrap();
    let asker = nodes.iter().find(|n| *n.node().id != *owner_id).unwrap();
    owner.backend.set_blocked(vec![asker.node().id.to_string()]);
    let mut allowed = 0;
    for _ in 0..10 {
        allowed +=
            usize::from(asker.count("strict", &[hit("fallback", fixed(7), 1)]).await[0].allowed);
    }
    assert_eq!(allowed, 3);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_counts_until_its_window_ends_and_a_new_one_catches_up() {
    let mut nodes = cluster(|_| {}).await;
    for _ in 0..5 {
        nodes[2].count("api", &[hit("dying", fixed(100), 1)]).await;
    }
    eventually("n1 sees n3's hits", || nodes[0].seen("dying") == 5).await;
    nodes.pop().unwrap().stop().await;
    eventually("n1 and n2 see n3 dead", || {
        nodes.iter().all(|n| n.alive_peers() == 1)
    })
    .await;
    // The others keep serving, and n3's hits still count.
    let answer = nodes[0].count("api", &[hit("dying", fixed(100), 1)]).await;
    assert_eq!(answer[0].remaining, 100 - 6);
    assert_eq!(nodes[0].seen("dying"), 6);

    // A write while n3 is away, then n3 comes back (a new incarnation on a
    // new port): anti-entropy brings it the store.
    nodes[0].put("missed", "while away").await.unwrap();
    let back = start_with("n3", vec![nodes[0].addr], |_| {}).await;
    eventually("the new n3 reads the write it missed", || {
        back.read("missed").is_some_and(|s| s.value == "while away")
    })
    .await;
    // And its peers' counts, from their streams' snapshots (what its
    // previous life counted is not relayed: it lived in that life's memory,
    // and counts on the others until its window ends).
    eventually("the new n3 sees its peers' counts", || {
        back.seen("dying") == 1
    })
    .await;
    assert_eq!(nodes[0].seen("dying"), 6);
    back.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_isolates_and_healing_reconciles() {
    let nodes = cluster(|_| {}).await;
    nodes[2].backend.set_blocked(vec!["n1".into(), "n2".into()]);
    for node in &nodes[..2] {
        node.backend.set_blocked(vec!["n3".into()]);
    }
    eventually("the partition is seen on both sides", || {
        nodes[0].alive_peers() == 1 && nodes[1].alive_peers() == 1 && nodes[2].alive_peers() == 0
    })
    .await;

    for _ in 0..5 {
        nodes[2].count("api", &[hit("cut", fixed(100), 1)]).await;
    }
    nodes[2].put("island", "n3 only").await.unwrap();
    nodes[0].count("api", &[hit("cut", fixed(100), 1)]).await;
    eventually("n2 sees n1's hit", || nodes[1].seen("cut") == 1).await;
    // Batches flowed on the majority side; nothing crossed the partition.
    assert_eq!(nodes[0].seen("cut"), 1);
    assert!(nodes[0].read("island").is_none());

    for node in &nodes {
        node.backend.set_blocked(vec![]);
    }
    eventually("every node sees its peers again", || {
        nodes.iter().all(|n| n.alive_peers() == 2)
    })
    .await;
    eventually("counts reconcile", || {
        nodes.iter().all(|n| n.seen("cut") == 6)
    })
    .await;
    eventually("the island's write reaches the others", || {
        nodes.iter().all(|n| n.read("island").is_some())
    })
    .await;
    assert_eq!(nodes[0].backend.health().node.as_deref(), Some("n1"));
    eventually("n1 streams to both peers", || {
        let status = nodes[0].backend.health();
        status.peers.len() == 2 && status.peers.iter().all(|p| p.alive && p.streaming)
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}
