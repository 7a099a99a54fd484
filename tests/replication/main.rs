//! Replicated backends end to end: real `reaper serve` processes on
//! loopback sharing a real `redis-server` (started by the test on free
//! ports), or forming a peer mesh. One module per backend: `redis`
//! (exact limits across sidecars, shared sessions, Redis stopped and
//! restarted), `mesh` (convergence, overshoot, strict domains, quorum
//! writes, `kill -9`, restart and catch-up, partitions). The config files
//! are the ones `docs/serve.md` shows (`examples/replicated/*.toml`);
//! addresses are overridden by flags.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "../common/mod.rs"]
mod common;
mod mesh;
mod redis;
#[path = "../common/redis.rs"]
mod redis_harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::server::{Client, Response, Server};
use common::{example, scratch, workspace, write};
use serde_json::{Value, json};

/// The admin token every server of these tests is started with.
const TOKEN: &str = "replication-test-token";

/// The admin token's file, written once: tests start servers in parallel,
/// and `scratch` empties its directory each time it is called.
fn token_file() -> &'static PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| write(&scratch("replication-token"), "token", TOKEN))
}

/// The example's policy, entities and an admin token, then `extra`.
fn replicated(config: &str, extra: &[&str]) -> Server {
    try_replicated(config, extra).unwrap_or_else(|why| panic!("{why}"))
}

/// [`replicated`], or why the server did not start.
fn try_replicated(config: &str, extra: &[&str]) -> Result<Server, String> {
    let dir = example("replicated");
    let token = token_file();
    let mut args: Vec<String> = vec![
        dir.clone(),
        "--config".into(),
        format!("{dir}/{config}"),
        "--entities".into(),
        format!("{dir}/entities.json"),
        "--admin-token-file".into(),
        token.display().to_string(),
        "--no-watch".into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::try_start(&workspace(), &args, &[])
}

/// One rate-limit request over HTTP: the descriptor's entries.
fn rate_limit(client: &mut Client, domain: &str, entries: &[(&str, &str)]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect();
    let body = json!({ "domain": domain, "descriptors": [{ "entries": entries }] });
    let reply = client.post_json("/v1/ratelimit", &body.to_string());
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn allowed(reply: &Value) -> bool {
    match reply["overall_code"].as_str() {
        Some("OK") => true,
        Some("OVER_LIMIT") => false,
        other => panic!("unexpected code {other:?} in {reply}"),
    }
}

const SERVICE: [(&str, &str); 1] = [("x-reaper-principal", "Service::\"api\"")];

fn put(client: &mut Client, key: &str, ttl: &str, value: &[u8]) -> Response {
    client.send(
        "PUT",
        &format!("/v1/store/sessions/{key}?ttl={ttl}"),
        &SERVICE,
        value,
    )
}

fn get(client: &mut Client, key: &str) -> Response {
    client.send("GET", &format!("/v1/store/sessions/{key}"), &SERVICE, b"")
}

fn status(server: &Server) -> Value {
    let reply = server.client().get("/v1/status");
    assert_eq!(reply.status, 200);
    reply.json()
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; how long
/// it took.
fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// A key no earlier run used (Redis outlives nothing here, but windows do
/// not restart between tests of one process).
fn unique(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// Free loopback ports for `count` servers.
fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}
