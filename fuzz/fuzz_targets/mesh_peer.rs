//! Arbitrary messages from a "peer" to every method of a mesh node's peer
//! service (`reaper.mesh.v1.Mesh`), in process: the first byte picks the
//! method, the rest is the message (a count batch, strict hits, a store
//! write, a sync request). Whatever a peer sends, the node answers with a
//! status it means (never INTERNAL or UNKNOWN) and goes on answering; it
//! never panics.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 4] = [
    "/reaper.mesh.v1.Mesh/Counts",
    "/reaper.mesh.v1.Mesh/Hit",
    "/reaper.mesh.v1.Mesh/Replicate",
    "/reaper.mesh.v1.Mesh/Sync",
];

fn node() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static NODE: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let addr = listener.local_addr().expect("an address");
            let config = reaper_server::backend::settings::MeshConfig {
                node_id: "fuzzed".to_owned(),
                addr,
                advertise: None,
                peers: Vec::new(),
                cluster_id: "fuzz".to_owned(),
                batch_interval: std::time::Duration::from_millis(15),
                gossip_interval: std::time::Duration::from_millis(250),
                replication_factor: 1,
                write_quorum: 1,
                strict_domains: vec!["login".to_owned()],
            };
            let node = reaper_server::backend::mesh::MeshBackend::new(&config, listener)
                .expect("a mesh node");
            node.peer_routes().into_axum_router()
        });
        (runtime, router)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else {
        return;
    };
    let (runtime, router) = node();
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let (code, why) = runtime.block_on(reaper_fuzz::grpc_call(router, method, message));
    assert!(
        !matches!(code, tonic::Code::Internal | tonic::Code::Unknown),
        "{method}: {code:?} {why}"
    );
    // Still answering: a sync request for nothing.
    let (after, why) = runtime.block_on(reaper_fuzz::grpc_call(router, METHODS[3], &[]));
    assert!(
        !matches!(after, tonic::Code::Internal | tonic::Code::Unknown),
        "after {method}: {after:?} {why}"
    );
});
