//! Decision logs, the audit log and OpenTelemetry tracing of the real
//! `reaper serve`, over real sockets on loopback: records checked against
//! the documented JSON schema (`docs/decision-log.schema.json`), masking of
//! `@sensitive` fields, the HTTP sink against a receiver in the test
//! (including its outage: requests are not slowed, memory is bounded and
//! drops are counted), and spans received by an OTLP receiver in the test
//! that continue the caller's trace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Client, Server};
use common::{scratch, workspace, write};
use serde_json::{Value, json};

const USERS: &str = r#"[
  {"type": "User", "id": "ana", "attrs": {"name": "Ana", "email": "ana@example.com", "score": 1}},
  {"type": "User", "id": "max", "attrs": {"name": "Max", "email": "max@example.com", "score": 8}},
  {"type": "Doc", "id": "d1", "attrs": {"owner": {"type": "User", "id": "ana"}}}
]"#;

/// A directory with the test policy, its entities and `reaper.toml`.
fn setup(name: &str, config: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::copy(
        workspace().join("tests/observability/policy.reaper"),
        dir.join("policy.reaper"),
    )
    .unwrap();
    write(&dir, "entities.json", USERS);
    write(&dir, "admin.token", "s3cret\n");
    write(&dir, "reaper.toml", config);
    dir
}

fn start(dir: &Path) -> Server {
    Server::start(
        dir,
        &[
            "policy.reaper",
            "--entities",
            "entities.json",
            "--config",
            "reaper.toml",
            "--admin-token-file",
            "admin.token",
        ],
    )
}

fn authorize(client: &mut Client, user: &str, context: Value) -> Value {
    let body = json!({
        "principal": {"type": "User", "id": user, "attrs": {"name": user, "email": format!("{user}@mail.test"), "score": if user == "max" { 8 } else { 1 }}},
        "action": "read",
        "resource": {"type": "Doc", "id": "d1"},
        "context": context,
    });
    // Pretty-printed: the record must still be one line.
    let response = client.post_json(
        "/v1/authorize",
        &serde_json::to_string_pretty(&body).unwrap(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn stop(mut server: Server) {
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace().join("docs/decision-log.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, record: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{record}\n{errors:#?}");
}

#[test]
fn file_records_follow_the_schema_mask_sensitive_fields_and_audit_admin_actions() {
    let dir = setup(
        "observability_file",
        r#"
[decision_log]
file = { path = "decisions.log" }

[audit]
file = "audit.log"
"#,
    );
    let server = start(&dir);
    let mut client = server.client();
    let allowed = authorize(
        &mut client,
        "ana",
        json!({"token": "t0k3n", "card": {"number": "4111"}, "ip": "10.0.0.1"}),
    );
    assert_eq!(allowed["decision"], "allow");
    // Max's score overflows the forbid: logged, and flagged.
    let errored = authorize(&mut client, "max", json!({}));
    assert_eq!(errored["errors"][0]["rule"], "score-guard");
    let limited = client.post_json(
        "/v1/ratelimit",
        r#"{"domain": "api", "descriptors": [{"entries": [{"key": "user", "value": "ana"}]}]}"#,
    );
    assert_eq!(limited.status, 200, "{}", limited.text());
    let stored = client.send(
        "PUT",
        "/v1/store/notes/n1",
        &[("x-reaper-principal", "Service::\"api\"")],
        b"hello",
    );
    assert_eq!(stored.status, 201, "{}", stored.text());
    let reload = client.send(
        "POST",
        "/v1/admin/reload",
        &[("authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(reload.status, 200, "{}", reload.text());
    let refused = client.send(
        "POST",
        "/v1/admin/reload",
        &[("authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(refused.status, 401);
    stop(server);

    let records = lines(&dir.join("decisions.log"));
    let validator = schema();
    for record in &records {
        assert_valid(&validator, record);
    }
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["authorize", "authorize", "rate_limit", "store"],
        "{records:#?}"
    );

    let first = &records[0];
    assert_eq!(first["decision_id"], allowed["decision_id"]);
    assert_eq!(first["policy"], allowed["policy"]);
    assert_eq!(first["result"], "allow");
    assert_eq!(first["reasons"], json!(["owner-reads"]));
    let request = &first["request"];
    assert_eq!(request["principal"]["attrs"]["email"], "<masked>");
    assert_eq!(request["principal"]["attrs"]["name"], "ana");
    assert_eq!(request["context"]["card"], "<masked>");
    assert_eq!(request["context"]["ip"], "10.0.0.1");
    assert!(
        request["context"].get("token").is_none(),
        "dropped: {request}"
    );
    let text = std::fs::read_to_string(dir.join("decisions.log")).unwrap();
    for secret in ["t0k3n", "4111", "ana@mail.test", "max@mail.test"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the decision log"
        );
    }

    let second = &records[1];
    assert_eq!(second["result"], "deny");
    assert_eq!(second["forbid_errored"], true);
    assert_eq!(second["errors"][0]["rule"], "score-guard");

    assert_eq!(records[2]["result"], "ok");
    assert_eq!(records[2]["request"]["domain"], "api");
    assert_eq!(records[3]["request"]["action"], "store.write");
    assert_eq!(records[3]["request"]["context"]["key"], "n1");

    let audit = lines(&dir.join("audit.log"));
    let events: Vec<&str> = audit.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["start", "reload", "admin", "admin"], "{audit:#?}");
    assert_eq!(audit[0]["admin_token"], true);
    assert!(
        !audit[0].to_string().contains("s3cret"),
        "the token leaked: {}",
        audit[0]
    );
    assert_eq!(audit[1]["trigger"], "admin");
    assert_eq!(audit[1]["result"], "ok");
    assert_eq!(audit[2]["status"], 200);
    assert_eq!(audit[3]["status"], 401);
}

#[test]
fn sampling_and_kind_switches_keep_errored_forbids() {
    let dir = setup(
        "observability_sampling",
        r#"
[decision_log]
file = { path = "decisions.log" }
sample = 0.25
kinds = ["authorize"]
"#,
    );
    let server = start(&dir);
    let mut client = server.client();
    for _ in 0..40 {
        authorize(&mut client, "ana", json!({}));
    }
    for _ in 0..3 {
        authorize(&mut client, "max", json!({}));
    }
    let limited = client.post_json(
        "/v1/ratelimit",
        r#"{"domain": "api", "descriptors": [{"entries": [{"key": "user", "value": "bo"}]}]}"#,
    );
    assert_eq!(limited.status, 200);
    stop(server);
    let records = lines(&dir.join("decisions.log"));
    let plain = records
        .iter()
        .filter(|r| r["forbid_errored"].is_null())
        .count();
    let errored = records
        .iter()
        .filter(|r| r["forbid_errored"] == true)
        .count();
    assert_eq!(plain, 10, "a quarter of 40: {records:#?}");
    assert_eq!(errored, 3, "every errored forbid");
    assert!(records.iter().all(|r| r["kind"] == "authorize"));
}

#[test]
fn bad_settings_stop_the_server_with_the_key() {
    for (config, expected) in [
        (
            "[decision_log]\nsample = 2.0\nstdout = true\n",
            "decision_log.sample",
        ),
        (
            "[decision_log]\nkinds = [\"authz\"]\nstdout = true\n",
            "decision_log.kinds",
        ),
        (
            "[decision_log.http]\nurl = \"ftp://x\"\n",
            "decision_log.http.url",
        ),
        (
            "[decision_log.file]\npath = \"no/such/dir/d.log\"\n",
            "decision_log.file.path",
        ),
        ("[tracing]\nendpoint = \"nowhere\"\n", "tracing.endpoint"),
        (
            "[tracing]\nendpoint = \"http://127.0.0.1:1\"\nprotocol = \"udp\"\n",
            "tracing.protocol",
        ),
        ("[audit]\nfile = \"no/such/dir/a.log\"\n", "audit.file"),
    ] {
        let dir = setup("observability_bad", config);
        let output = common::run(
            &dir,
            &[
                "serve",
                "policy.reaper",
                "--config",
                "reaper.toml",
                "--http",
                "127.0.0.1:0",
                "--grpc",
                "off",
            ],
        );
        assert_ne!(common::code(&output), 0, "{config}");
        let stderr = common::stderr(&output);
        assert!(stderr.contains(expected), "{config}: {stderr}");
    }
}

/// A decision-log collector: HTTP/1.1, gzip-compressed JSON lines. While
/// `down`, it answers 503.
struct Receiver {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (is_down, kept, stopped) = (Arc::clone(&down), Arc::clone(&records), Arc::clone(&stop));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let (is_down, kept) = (Arc::clone(&is_down), Arc::clone(&kept));
                std::thread::spawn(move || serve_collector(stream, &is_down, &kept));
            }
        });
        Receiver {
            addr,
            down,
            records,
            stop,
        }
    }

    fn records(&self) -> Vec<Value> {
        self.records.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_collector(stream: std::net::TcpStream, down: &AtomicBool, kept: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_ascii_lowercase());
        }
        let length: usize = head
            .iter()
            .find_map(|h| h.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            head.iter().any(|h| h == "content-encoding: gzip"),
            "{head:?}"
        );
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = if down.load(Ordering::Relaxed) {
            "503 Service Unavailable"
        } else {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
            let mut kept = kept.lock().unwrap();
            kept.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
            "200 OK"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn metric(client: &mut Client, name: &str) -> f64 {
    let text = client.get("/metrics").text();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn the_http_sink_batches_survives_an_outage_and_drops_what_does_not_fit() {
    let receiver = Receiver::start();
    let dir = setup(
        "observability_http",
        &format!(
            r#"
[decision_log.http]
url = "http://{}/logs"
batch = 5
flush_interval = "100ms"
max_buffer = "1KiB"
min_backoff = "50ms"
max_backoff = "200ms"
"#,
            receiver.addr
        ),
    );
    let server = start(&dir);
    let mut client = server.client();
    for _ in 0..10 {
        authorize(&mut client, "ana", json!({"card": {"number": "4111"}}));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.records().len() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let received = receiver.records();
    assert_eq!(received.len(), 10);
    let validator = schema();
    for record in &received {
        assert_valid(&validator, record);
        assert_eq!(record["request"]["context"]["card"], "<masked>");
    }

    // The collector goes down: requests are answered as fast as before,
    // batches beyond the buffer are dropped and counted.
    receiver.down.store(true, Ordering::Relaxed);
    let mut slowest = Duration::ZERO;
    for _ in 0..400 {
        let started = Instant::now();
        authorize(&mut client, "ana", json!({}));
        slowest = slowest.max(started.elapsed());
    }
    // Generous for a loaded 2-core machine; a request waiting on the sink
    // would wait for retries (50–200 ms each) or the 5 s timeout.
    assert!(
        slowest < Duration::from_secs(2),
        "a request took {slowest:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut drops = 0.0;
    while drops == 0.0 && Instant::now() < deadline {
        drops = metric(
            &mut client,
            "reaper_decision_log_dropped_total{reason=\"http_buffer_full\"}",
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(drops > 0.0, "no drops counted");
    assert!(metric(&mut client, "reaper_decision_log_sink_errors_total") > 0.0);

    // Back up: what was kept arrives; nothing is lost twice or doubled.
    receiver.down.store(false, Ordering::Relaxed);
    for _ in 0..5 {
        authorize(&mut client, "ana", json!({}));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = 0;
    while Instant::now() < deadline {
        let now = receiver.records().len();
        if now > 10 && now == last {
            break;
        }
        last = now;
        std::thread::sleep(Duration::from_millis(300));
    }
    let received = receiver.records();
    let ids: std::collections::HashSet<&str> = received
        .iter()
        .map(|r| r["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), received.len(), "a record arrived twice");
    let sent = received.len() as f64 - 10.0;
    let dropped = metric(&mut client, "reaper_decision_log_dropped_total");
    assert!(sent > 0.0, "nothing arrived after the outage");
    assert_eq!(
        sent + dropped,
        405.0,
        "every record arrived or was counted dropped"
    );
    stop(server);
}

mod tracing_otlp;
