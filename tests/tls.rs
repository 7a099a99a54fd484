//! `reaper serve` over TLS and mTLS (`[tls]`), the real binary over real
//! loopback sockets: HTTPS and gRPC answer with the test CA trusted, plain
//! text to a TLS port gets no answer, client certificates are required (or
//! optional) and checked against `tls.client_ca`, a handshake cannot hold
//! a place under the connection cap, certificates are reloaded when their
//! files change (a broken change keeps the old ones), and settings that do
//! not hold stop the server naming the key and the file. Certificates are
//! made in the test (`common/pki.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::Server;
use common::{example, scratch, stderr, write};
use pki::{Ca, Leaf};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tonic::transport::{Channel, Endpoint, Uri};

/// How long a test waits for something the server does in the background,
/// on a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// A directory with a CA, a server certificate (`server.pem`,
/// `server-key.pem`) and the CA's certificate (`ca.pem`).
struct Pki {
    dir: PathBuf,
    ca: Ca,
    server: Leaf,
    cert: PathBuf,
    key: PathBuf,
    ca_file: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = scratch(name);
        let ca = Ca::new("Reaper test CA");
        let server = ca.server("reaper-1", 1);
        let (cert, key) = server.write(&dir, "server");
        let ca_file = write(&dir, "ca.pem", ca.pem());
        Pki {
            dir,
            ca,
            server,
            cert,
            key,
            ca_file,
        }
    }

    /// A `[tls]` section with the server's files, and `extra` lines.
    fn section(&self, extra: &str) -> String {
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n{extra}",
            self.cert.display(),
            self.key.display()
        )
    }

    /// `[tls]` requiring client certificates from the CA.
    fn mtls_section(&self, extra: &str) -> String {
        self.section(&format!(
            "client_ca = \"{}\"\n{extra}",
            self.ca_file.display()
        ))
    }

    /// Starts `reaper serve` on the Envoy example's policy with `config`.
    fn serve(&self, config: &str) -> Server {
        let config = write(&self.dir, "reaper.toml", config);
        let policy = example("envoy");
        let entities = format!("{policy}/entities.json");
        Server::start(
            &self.dir,
            &[
                policy.as_str(),
                "--entities",
                &entities,
                "--no-watch",
                "--config",
                config.to_str().unwrap(),
            ],
        )
    }

    /// A client trusting the test CA, presenting `identity`.
    fn client(&self, identity: Option<&Leaf>, alpn: &[u8]) -> Arc<ClientConfig> {
        client_config(&self.ca.der(), identity, alpn)
    }
}

fn client_config(
    trusted: &CertificateDer<'static>,
    identity: Option<&Leaf>,
    alpn: &[u8],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// An HTTPS answer, and the certificate the server presented.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    server_cert: CertificateDer<'static>,
}

/// `GET path` over HTTP/1.1 and TLS, on a new connection; why not.
fn https(addr: SocketAddr, config: &Arc<ClientConfig>, path: &str) -> Result<Answer, String> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut connection = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut tls = rustls::Stream::new(&mut connection, &mut tcp);
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut bytes = Vec::new();
    if let Err(e) = tls.read_to_end(&mut bytes)
        && bytes.is_empty()
    {
        return Err(format!("read: {e}"));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    let server_cert = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("no server certificate")?
        .clone()
        .into_owned();
    Ok(Answer {
        status,
        body,
        server_cert,
    })
}

/// A tonic channel over rustls (no tonic TLS feature needed).
async fn grpc_channel(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Channel, String> {
    let connector = tokio_rustls::TlsConnector::from(config);
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(PATIENCE)
        .timeout(PATIENCE)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e:?}"))
}

/// The gRPC health of the whole server, over TLS with `config`.
async fn grpc_health(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<i32, String> {
    let channel = grpc_channel(addr, config).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|answer| answer.into_inner().status)
        .map_err(|status| format!("{status:?}"))
}

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;

/// What a plain-text HTTP request to `addr` gets back (bounded).
fn plain_http(addr: SocketAddr) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = tcp.write_all(b"GET /v1/status HTTP/1.1\r\nhost: localhost\r\n\r\n");
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    bytes
}

/// The value of a Prometheus sample (`name{labels}`), 0 when absent.
fn metric(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Polls `check` until it gives a value or [`PATIENCE`] runs out.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn https_and_grpc_answer_over_tls_and_plain_text_gets_nothing() {
    let pki = Pki::new("tls-basic");
    let server = pki.serve(&pki.section(""));
    let trusting = pki.client(None, b"http/1.1");

    let answer = https(server.addr, &trusting, "/v1/status").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("\"policy\""), "{}", answer.body);
    assert_eq!(answer.server_cert, pki.server.der);

    // A client that does not trust the CA refuses the server.
    let other_ca = Ca::new("Some other CA");
    let distrusting = client_config(&other_ca.der(), None, b"http/1.1");
    let refused = https(server.addr, &distrusting, "/v1/status").unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = plain_http(server.addr);
    assert!(
        !plain.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&plain)
    );

    // gRPC over TLS (ALPN h2): health, and Reaper's own API.
    let grpc = server.grpc.unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let status = grpc_health(grpc, pki.client(None, b"h2")).await.unwrap();
        assert_eq!(status, SERVING);
        let channel = grpc_channel(grpc, pki.client(None, b"h2")).await.unwrap();
        let mut reaper = reaper_proto::v1::reaper_client::ReaperClient::new(channel);
        let status = reaper
            .status(reaper_proto::v1::StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(!status.policy.unwrap().hash.is_empty());
        // Plain-text gRPC to the TLS port fails.
        let plain = Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect_timeout(PATIENCE)
            .timeout(PATIENCE)
            .connect()
            .await;
        if let Ok(channel) = plain {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let answer = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            assert!(answer.is_err(), "{answer:?}");
        }
    });
}

#[test]
fn mtls_refuses_clients_without_a_certificate_from_the_ca() {
    let pki = Pki::new("tls-mtls");
    let server = pki.serve(&pki.mtls_section(""));
    let envoy = pki.ca.client("envoy");
    let stranger = Ca::new("Unrelated CA").client("envoy");

    let valid = https(
        server.addr,
        &pki.client(Some(&envoy), b"http/1.1"),
        "/v1/status",
    )
    .unwrap();
    assert_eq!(valid.status, 200, "{}", valid.body);

    let anonymous = https(server.addr, &pki.client(None, b"http/1.1"), "/v1/status").unwrap_err();
    assert!(anonymous.contains("CertificateRequired"), "{anonymous}");
    let wrong_ca = https(
        server.addr,
        &pki.client(Some(&stranger), b"http/1.1"),
        "/v1/status",
    )
    .unwrap_err();
    assert!(
        wrong_ca.contains("alert") || wrong_ca.contains("reset"),
        "{wrong_ca}"
    );

    let grpc = server.grpc.unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let status = grpc_health(grpc, pki.client(Some(&envoy), b"h2"))
            .await
            .unwrap();
        assert_eq!(status, SERVING);
        let anonymous = grpc_health(grpc, pki.client(None, b"h2")).await;
        assert!(anonymous.is_err(), "{anonymous:?}");
        let wrong_ca = grpc_health(grpc, pki.client(Some(&stranger), b"h2")).await;
        assert!(wrong_ca.is_err(), "{wrong_ca:?}");
    });

    // The refusals are counted, by listener.
    let client = pki.client(Some(&envoy), b"http/1.1");
    for listener in ["http", "grpc"] {
        let sample = format!("reaper_tls_handshake_failures_total{{listener=\"{listener}\"}}");
        eventually(&sample, || {
            let metrics = https(server.addr, &client, "/metrics").ok()?.body;
            (metric(&metrics, &sample) >= 2.0).then_some(())
        });
    }
}

#[test]
fn optional_client_auth_answers_without_a_certificate_but_not_with_a_bad_one() {
    let pki = Pki::new("tls-mtls-optional");
    let server = pki.serve(&pki.mtls_section("client_auth = \"optional\"\n"));
    let anonymous = https(server.addr, &pki.client(None, b"http/1.1"), "/v1/status").unwrap();
    assert_eq!(anonymous.status, 200);
    let envoy = pki.ca.client("envoy");
    let valid = https(
        server.addr,
        &pki.client(Some(&envoy), b"http/1.1"),
        "/v1/status",
    )
    .unwrap();
    assert_eq!(valid.status, 200);
    let stranger = Ca::new("Unrelated CA").client("envoy");
    let refused = https(
        server.addr,
        &pki.client(Some(&stranger), b"http/1.1"),
        "/v1/status",
    );
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_silent_handshake_gives_its_place_under_the_cap_back() {
    let pki = Pki::new("tls-handshake-timeout");
    let config = format!(
        "[http]\nmax_connections = 1\n\n{}",
        pki.section("handshake_timeout = \"300ms\"\n")
    );
    let server = pki.serve(&config);
    // Takes the one place and says nothing.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    let started = Instant::now();
    // Waits in the backlog until the silent handshake times out.
    let answer = https(server.addr, &pki.client(None, b"http/1.1"), "/v1/status").unwrap();
    assert_eq!(answer.status, 200);
    // The silent connection was closed by the server.
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the silent connection is still open: {other:?}"),
    }
    assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());
}

#[test]
fn certificates_reload_when_their_files_change_and_a_broken_change_keeps_the_old_ones() {
    let pki = Pki::new("tls-reload");
    let server = pki.serve(&pki.section("reload_interval = \"100ms\"\n"));
    let client = pki.client(None, b"http/1.1");
    let presented = || https(server.addr, &client, "/v1/status").map(|a| a.server_cert);
    let reloads = |result: &str| {
        let metrics = https(server.addr, &client, "/metrics").unwrap().body;
        metric(
            &metrics,
            &format!("reaper_tls_reloads_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(presented().unwrap(), pki.server.der);
    assert_eq!(reloads("ok"), 0.0);
    // Counts are compared with what came before: on a loaded machine a
    // check may catch a certificate written before its key (a failed
    // reload, which is right).
    let reloaded = |before: f64| move || (reloads("ok") > before).then_some(());

    // A new certificate and key (another serial and subject).
    let second = pki.ca.server("reaper-2", 2);
    let ok = reloads("ok");
    second.write(&pki.dir, "server");
    eventually("the new certificate", || {
        presented().ok().filter(|cert| *cert == second.der)
    });
    eventually("a reload counted", reloaded(ok));

    // A certificate file that is not PEM: the old certificate stays.
    let errors = reloads("error");
    std::fs::write(&pki.cert, "not a certificate\n").unwrap();
    eventually("a failed reload", || {
        (reloads("error") > errors).then_some(())
    });
    let line = server
        .wait_for_log("holds no PEM certificate", PATIENCE)
        .unwrap();
    assert!(line.contains("TLS certificates not reloaded"), "{line}");
    assert!(line.contains("tls.cert"), "{line}");
    assert_eq!(presented().unwrap(), second.der);

    // A certificate that does not match the key: the same.
    let third = pki.ca.server("reaper-3", 3);
    let errors = reloads("error");
    std::fs::write(&pki.cert, &third.cert_pem).unwrap();
    eventually("a second failed reload", || {
        (reloads("error") > errors).then_some(())
    });
    let line = server
        .wait_for_log("is not the private key", PATIENCE)
        .unwrap();
    assert!(line.contains("TLS certificates not reloaded"), "{line}");
    let answer = https(server.addr, &client, "/v1/status").unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.server_cert, second.der);
    // A change that did not load is not tried again while the files stay.
    let errors = reloads("error");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reloads("error"), errors);

    // Its key arrives: the pair loads.
    let ok = reloads("ok");
    std::fs::write(&pki.key, &third.key_pem).unwrap();
    eventually("the third certificate", || {
        presented().ok().filter(|cert| *cert == third.der)
    });
    eventually("a second reload counted", reloaded(ok));
}

#[test]
fn sighup_reloads_the_certificates_at_once() {
    let pki = Pki::new("tls-sighup");
    // Too long an interval for the files to be checked on their own.
    let server = pki.serve(&pki.section("reload_interval = \"1h\"\n"));
    let client = pki.client(None, b"http/1.1");
    let second = pki.ca.server("reaper-2", 2);
    second.write(&pki.dir, "server");
    server.signal("HUP");
    eventually("the new certificate", || {
        https(server.addr, &client, "/v1/status")
            .ok()
            .filter(|answer| answer.server_cert == second.der)
    });
}

/// Runs `reaper serve` with `config`, expecting it to refuse to start
/// (bounded: a server that does start is killed); its exit code and
/// stderr.
fn refused_start(dir: &Path, config: &str) -> (i32, String) {
    let config = write(dir, "reaper.toml", config);
    let policy = example("envoy");
    let mut child = common::reaper(dir)
        .args(["serve", &policy, "--no-watch"])
        .args(["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            return (output.status.code().unwrap_or(-1), stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("reaper serve started with {}", config.display());
}

#[test]
fn tls_settings_that_do_not_hold_stop_the_server_naming_the_key_and_the_file() {
    let pki = Pki::new("tls-bad-config");
    let dir = &pki.dir;
    let other = pki.ca.server("other", 9);
    let (_, other_key) = other.write(dir, "other");
    let garbage = write(dir, "garbage.pem", "not PEM at all\n");
    let missing = dir.join("missing.pem");
    let (cert, key, ca) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
        pki.ca_file.display().to_string(),
    );
    let (other_key, garbage, missing) = (
        other_key.display().to_string(),
        garbage.display().to_string(),
        missing.display().to_string(),
    );
    let tls = |cert: &str, key: &str, extra: &str| {
        format!("[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n{extra}")
    };
    let cases = [
        (
            tls(&missing, &key, ""),
            format!("tls.cert: cannot read `{missing}`"),
        ),
        (
            tls(&cert, &missing, ""),
            format!("tls.key: cannot read `{missing}`"),
        ),
        (
            tls(&cert, &other_key, ""),
            format!("tls.key: `{other_key}` is not the private key of the certificate in `{cert}`"),
        ),
        (
            tls(&garbage, &key, ""),
            format!("tls.cert: `{garbage}` holds no PEM certificate"),
        ),
        (
            tls(&cert, &cert, ""),
            format!("tls.key: `{cert}` holds no PEM private key"),
        ),
        (
            tls(&cert, &key, &format!("client_ca = \"{garbage}\"\n")),
            format!("tls.client_ca: `{garbage}` holds no PEM certificate"),
        ),
        (
            tls(&cert, &key, &format!("client_ca = \"{missing}\"\n")),
            format!("tls.client_ca: cannot read `{missing}`"),
        ),
        (
            tls(
                &cert,
                &key,
                &format!("client_ca = \"{ca}\"\nclient_auth = \"maybe\"\n"),
            ),
            "tls.client_auth: `maybe` is not `required` or `optional`".to_owned(),
        ),
        (
            tls(&cert, &key, "min_version = \"1.1\"\n"),
            "tls.min_version: `1.1`".to_owned(),
        ),
        (
            format!("[tls]\ncert = \"{cert}\"\n"),
            "tls.key: required with `tls.cert`".to_owned(),
        ),
    ];
    for (config, expected) in cases {
        let (code, stderr) = refused_start(dir, &config);
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains(&expected), "expected {expected}:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
