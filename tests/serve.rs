//! `reaper serve` as users run it: the real binary on an ephemeral
//! loopback port, over real sockets. Endpoints end to end, hot reload under
//! load (1,000 reloads, no failed and no mixed-policy response), the file
//! watch and SIGHUP, refused reloads, graceful shutdown, and bad
//! configuration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::server::{Client, Server};
use common::{code, example, run, scratch, stderr, workspace, write};

const CONTEXT: &str = r#"{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}"#;

fn session_store() -> Server {
    let entities = format!("{}/entities.json", example("session-store"));
    Server::start(
        &workspace(),
        &[
            &example("session-store"),
            "--entities",
            &entities,
            "--no-watch",
        ],
    )
}

#[test]
fn the_session_store_example_serves_decisions_the_store_and_metrics() {
    let server = session_store();
    let mut client = server.client();
    let decision = client.post_json(
        "/v1/authorize",
        &format!(
            r#"{{"principal":{{"type":"Service","id":"api"}},"action":"store.read","resource":{{"type":"Store","id":"sessions"}},"context":{}}}"#,
            CONTEXT.replace('}', r#","key":"user:ana:1"}"#)
        ),
    );
    assert_eq!(decision.status, 200, "{}", decision.text());
    assert_eq!(decision.json()["decision"], "allow");
    assert_eq!(
        decision.json()["reasons"],
        serde_json::json!(["backend-sessions"])
    );
    assert!(decision.header("x-reaper-decision-id").is_some());

    let headers = [
        ("x-reaper-principal", "Service::\"api\""),
        ("x-reaper-context", CONTEXT),
    ];
    let put = client.send(
        "PUT",
        "/v1/store/sessions/user:ana:1?ttl=2h",
        &headers,
        b"\x00binary\xff",
    );
    assert_eq!(put.status, 201, "{}", put.text());
    let get = client.send("GET", "/v1/store/sessions/user:ana:1", &headers, b"");
    assert_eq!(get.status, 200);
    assert_eq!(get.body, b"\x00binary\xff");
    let ttl: u64 = get.header("x-reaper-ttl-ms").unwrap().parse().unwrap();
    assert!(ttl > 7_100_000 && ttl <= 7_200_000, "{ttl}");

    let denied = client.send(
        "GET",
        "/v1/store/sessions/user:ana:1",
        &[
            ("x-reaper-principal", "Service::\"reports\""),
            ("x-reaper-context", CONTEXT),
        ],
        b"",
    );
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json()["decision"]["reasons"],
        serde_json::json!(["prod-only"])
    );

    let status = client.get("/v1/status").json();
    assert_eq!(status["policy"]["package"], "sessions");
    assert_eq!(status["entities"], 8);
    assert_eq!(status["backend"]["namespaces"][0]["keys"], 1);
    let metrics = client.get("/metrics").text();
    assert!(
        metrics.contains("reaper_store_keys{namespace=\"sessions\"} 1"),
        "{metrics}"
    );
    assert_eq!(client.get("/health/ready").status, 200);
    assert_eq!(client.get("/v1/openapi.json").status, 200);
}

fn probe_policy(permit: bool) -> String {
    let effect = if permit { "permit" } else { "forbid" };
    format!(
        "package probe\nentity User\nentity Doc\naction read on Doc by User\n\
         @id(\"base\") permit read on Doc;\n\
         @id(\"probe\") {effect} read on Doc when principal == User::\"probe\";\n"
    )
}

const PROBE: &str = r#"{"principal":{"type":"User","id":"probe"},"action":"read","resource":{"type":"Doc","id":"d"}}"#;

/// A client sends requests without pause while the policy file is
/// rewritten 1,000 times between two versions that decide the probe
/// differently, each rewrite followed by a reload: no request fails, and
/// every response's decision is the one its policy hash gives.
#[test]
fn hot_reload_under_load_never_fails_and_never_mixes_policies() {
    let dir = scratch("serve-reload-load");
    write(&dir, "policy.reaper", probe_policy(true));
    write(&dir, "admin.token", "sesame\n");
    let server = Server::start(
        &dir,
        &[
            "policy.reaper",
            "--admin-token-file",
            "admin.token",
            "--no-watch",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut seen: HashMap<String, (String, u64)> = HashMap::new();
                let mut failed = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(600);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let response = client.post_json("/v1/authorize", PROBE);
                    if response.status != 200 {
                        failed.push(response.text());
                        continue;
                    }
                    let body = response.json();
                    let policy = body["policy"].as_str().unwrap_or_default().to_owned();
                    let decision = body["decision"].as_str().unwrap_or_default().to_owned();
                    assert_eq!(response.header("x-reaper-policy"), Some(policy.as_str()));
                    let entry = seen.entry(policy.clone()).or_insert((decision.clone(), 0));
                    assert_eq!(entry.0, decision, "policy {policy} decided both ways");
                    entry.1 += 1;
                }
                (seen, failed)
            })
        })
        .collect();

    let mut admin = server.client();
    let token = [("authorization", "Bearer sesame")];
    for i in 0..1_000 {
        write(&dir, "policy.reaper", probe_policy(i % 2 == 1));
        let reload = admin.send("POST", "/v1/admin/reload", &token, b"");
        assert_eq!(reload.status, 200, "reload {i}: {}", reload.text());
        if i == 500 {
            // A broken policy mid-run is refused; the old one keeps serving.
            let serving = admin.get("/v1/status").json()["policy"]["hash"].clone();
            write(
                &dir,
                "policy.reaper",
                "package probe\nentity User\npermit reed on Nothing;\n",
            );
            let refused = admin.send("POST", "/v1/admin/reload", &token, b"");
            assert_eq!(refused.status, 422, "{}", refused.text());
            let status = admin.get("/v1/status").json();
            assert_eq!(status["policy"]["hash"], serving);
            assert_eq!(status["last_reload"]["ok"], false);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut all: HashMap<String, (String, u64)> = HashMap::new();
    for client in clients {
        let (seen, failed) = client.join().unwrap_or_else(|_| panic!("a client failed"));
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        for (policy, (decision, count)) in seen {
            let entry = all.entry(policy.clone()).or_insert((decision.clone(), 0));
            assert_eq!(
                entry.0, decision,
                "policy {policy} decided both ways across clients"
            );
            entry.1 += count;
        }
    }
    eprintln!("responses by policy: {all:?}");
    assert_eq!(all.len(), 2, "two policies served: {all:?}");
    let decisions: Vec<&str> = all.values().map(|(d, _)| d.as_str()).collect();
    assert!(
        decisions.contains(&"allow") && decisions.contains(&"deny"),
        "{all:?}"
    );
    let total: u64 = all.values().map(|(_, n)| n).sum();
    assert!(total > 100, "only {total} requests during the reloads");
    let metrics = admin.get("/metrics").text();
    assert!(
        metrics.contains("reaper_reloads_total{result=\"ok\"} 1000"),
        "{metrics}"
    );
}

#[test]
fn a_changed_policy_file_or_sighup_reloads_and_a_broken_file_keeps_the_old_policy() {
    let dir = scratch("serve-watch");
    write(&dir, "policy.reaper", probe_policy(true));
    let server = Server::start(&dir, &["policy.reaper"]);
    let mut client = server.client();
    assert_eq!(
        client.post_json("/v1/authorize", PROBE).json()["decision"],
        "allow"
    );
    let wait_for = |client: &mut Client, decision: &str, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client.post_json("/v1/authorize", PROBE).json()["decision"] == decision {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}: the decision never became {decision}");
    };
    write(&dir, "policy.reaper", probe_policy(false));
    wait_for(&mut client, "deny", "file watch");
    write(
        &dir,
        "policy.reaper",
        "package probe\nthis is not a policy\n",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.get("/v1/status").json();
        if status["last_reload"]["ok"] == false {
            assert!(
                status["last_reload"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("does not compile"),
                "{status}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken file was never noticed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        client.post_json("/v1/authorize", PROBE).json()["decision"],
        "deny"
    );
    drop(server);

    // SIGHUP, without the watch.
    write(&dir, "policy.reaper", probe_policy(true));
    let server = Server::start(&dir, &["policy.reaper", "--no-watch"]);
    let mut client = server.client();
    write(&dir, "policy.reaper", probe_policy(false));
    server.signal("HUP");
    wait_for(&mut client, "deny", "SIGHUP");
}

/// SIGTERM: a request in flight completes; new connections are refused;
/// the process exits 0.
#[test]
fn sigterm_drains_in_flight_requests_then_exits_cleanly() {
    let mut server = session_store();
    let mut slow = server.client();
    // Half a request: the server is waiting for the rest of the body.
    let body = format!(
        r#"{{"principal":{{"type":"Service","id":"api"}},"action":"store.read","resource":{{"type":"Store","id":"sessions"}},"context":{}}}"#,
        CONTEXT.replace('}', r#","key":"k"}"#)
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    slow.write_head(
        "POST",
        "/v1/authorize",
        &[("content-type", "application/json")],
        body.len(),
    );
    slow.write_raw(first);
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(server.addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    slow.write_raw(rest);
    let response = slow.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["decision"], "allow");
    assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
    let logs = server.drain_logs().join("\n");
    assert!(logs.contains("shutting down"), "{logs}");
}

/// Past `http.max_connections`, a new connection waits until one closes.
#[test]
fn connections_past_the_cap_wait_for_one_to_close() {
    let dir = scratch("serve-connection-cap");
    write(&dir, "policy.reaper", probe_policy(true));
    let server = Server::start_with_env(
        &dir,
        &["policy.reaper", "--no-watch"],
        &[("REAPER_HTTP_MAX_CONNECTIONS", "2")],
    );
    let mut first = server.client();
    let mut second = server.client();
    assert_eq!(first.post_json("/v1/authorize", PROBE).status, 200);
    assert_eq!(second.post_json("/v1/authorize", PROBE).status, 200);
    // The kernel takes the third connection, but the server does not.
    let mut third = server.client();
    third.set_read_timeout(Duration::from_millis(500));
    third.write_head("POST", "/v1/authorize", &[], PROBE.len());
    third.write_raw(PROBE.as_bytes());
    assert!(third.try_read_response().is_err(), "answered past the cap");
    drop(first);
    third.set_read_timeout(Duration::from_secs(30));
    let response = third.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(second.post_json("/v1/authorize", PROBE).status, 200);
}

/// A client that connects and sends nothing (or trickles a request) is
/// closed after `http.idle_timeout`, so it cannot hold a place under the
/// connection cap.
#[test]
fn silent_connections_are_closed_after_the_idle_timeout() {
    let dir = scratch("serve-idle");
    write(&dir, "policy.reaper", probe_policy(true));
    let server = Server::start_with_env(
        &dir,
        &["policy.reaper", "--no-watch"],
        &[
            ("REAPER_HTTP_MAX_CONNECTIONS", "1"),
            ("REAPER_HTTP_REQUEST_TIMEOUT", "300ms"),
            ("REAPER_HTTP_IDLE_TIMEOUT", "300ms"),
        ],
    );
    let mut silent = std::net::TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut silent, b"POST /v1/authorize HTTP/1.1\r\n").unwrap();
    // The only place is taken until the silent client is closed.
    let mut client = server.client();
    let response = client.post_json("/v1/authorize", PROBE);
    assert_eq!(response.status, 200);
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut silent, &mut rest);
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn bad_configuration_and_broken_policies_are_refused_at_start() {
    let dir = scratch("serve-bad-config");
    let output = run(&dir, &["serve"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("no policy to serve"),
        "{}",
        stderr(&output)
    );

    write(&dir, "reaper.toml", "[http]\nport = 1\n");
    let output = run(&dir, &["serve", "p.reaper", "--config", "reaper.toml"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("reaper.toml: unknown field `port`"),
        "{}",
        stderr(&output)
    );

    let output = common::reaper(&dir)
        .args(["serve", "p.reaper"])
        .env("REAPER_LOG_FORMAT", "xml")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("REAPER_LOG_FORMAT"),
        "{}",
        stderr(&output)
    );

    write(&dir, "p.reaper", "package p\nentity User\npermit raed;\n");
    let output = run(
        &dir,
        &[
            "serve",
            "p.reaper",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "off",
        ],
    );
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("does not compile"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("p.reaper:3"),
        "{}",
        stderr(&output)
    );
}

/// Flags beat the environment, which beats the file.
#[test]
fn flags_override_the_environment_which_overrides_the_config_file() {
    let dir = scratch("serve-precedence");
    write(&dir, "policy.reaper", probe_policy(true));
    write(&dir, "other.reaper", probe_policy(false));
    write(
        &dir,
        "reaper.toml",
        "policy = \"other.reaper\"\n[http]\nmax_body = \"1MiB\"\n",
    );
    // The file names `other`, the env `policy`: env wins; the body limit
    // comes from the env too.
    let server = {
        let mut command = common::reaper(&dir);
        command
            .args([
                "serve",
                "--config",
                "reaper.toml",
                "--http",
                "127.0.0.1:0",
                "--grpc",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--no-watch",
            ])
            .env("REAPER_POLICY", "policy.reaper")
            .env("REAPER_HTTP_MAX_BODY", "100B");
        Server::spawn(command)
    };
    let mut client = server.client();
    assert_eq!(
        client.post_json("/v1/authorize", PROBE).json()["decision"],
        "allow"
    );
    let big = client.post_json("/v1/authorize", &" ".repeat(101));
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"]["code"], "body_too_large");
}
