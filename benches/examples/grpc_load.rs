//! A closed-loop load generator for `reaper serve` over gRPC (HTTP/2, many
//! streams per connection) and over HTTP/1.1 (keep-alive), so both APIs are
//! measured by one tool in one run. `ghz` is not available here, and
//! h2load reports no percentiles. Each worker sends its next request when
//! the last is answered; latencies are recorded per request (after a
//! warm-up) and reported as percentiles. Loopback only; bounded by
//! `--seconds`.
//!
//! ```text
//! cargo run --release -p reaper-benches --example grpc_load -- \
//!     --addr 127.0.0.1:8081 --call ratelimit1 --connections 4 --concurrency 64 --seconds 10
//! ```
//!
//! Calls: `ratelimit1`, `ratelimit5` (Envoy's ShouldRateLimit with one or
//! five descriptors, on examples/api-gateway), `check` (Envoy's ext_authz
//! Check, on examples/envoy), `authorize` (Reaper's Authorize, on
//! examples/document-sharing: the request of benches/http/authorize.json),
//! `authorize-http` (the same request, POST /v1/authorize over HTTP/1.1).
//! Prints one JSON line: requests, seconds, rps, p50/p90/p99/max in µs,
//! errors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use prost::Message;
use reaper_proto::BytesCodec;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Why a run cannot go on: a bad flag, an unreadable example, a server
/// that refuses connections. `main` prints it and exits non-zero.
type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    addr: SocketAddr,
    call: String,
    connections: usize,
    concurrency: usize,
    seconds: f64,
    warmup: f64,
}

fn args() -> Result<Args, Error> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
        call: "ratelimit1".into(),
        connections: 4,
        concurrency: 64,
        seconds: 10.0,
        warmup: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{flag}: `{value}` is not {what}");
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|_| number("IP:PORT"))?,
            "--call" => args.call = value,
            "--connections" => args.connections = value.parse().map_err(|_| number("a count"))?,
            "--concurrency" => args.concurrency = value.parse().map_err(|_| number("a count"))?,
            "--seconds" => args.seconds = value.parse().map_err(|_| number("a number"))?,
            "--warmup" => args.warmup = value.parse().map_err(|_| number("a number"))?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if !args.addr.ip().is_loopback() {
        return Err(format!("{}: load goes to loopback addresses only", args.addr).into());
    }
    Ok(args)
}

/// The messages one call sends, cycled through by each worker.
fn messages(call: &str) -> Result<(Option<&'static str>, Vec<Bytes>), Error> {
    let descriptor = |entries: &[(&str, String)]| RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).to_owned(),
                value: v.clone(),
            })
            .collect(),
        ..RateLimitDescriptor::default()
    };
    let rls = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
    match call {
        "ratelimit1" | "ratelimit5" => {
            let five = call == "ratelimit5";
            let bodies = (0..1_000)
                .map(|i| {
                    let mut descriptors = vec![descriptor(&[
                        ("remote_address", format!("203.0.113.{}", i % 250)),
                        ("path", "/v1/projects/p".to_owned()),
                    ])];
                    if five {
                        descriptors.push(descriptor(&[
                            ("user_id", format!("user-{i}")),
                            ("plan", "pro".into()),
                            ("method", "POST".into()),
                            ("org_id", format!("org-{}", i % 50)),
                        ]));
                        descriptors.push(descriptor(&[
                            ("path", "/v1/search/x".into()),
                            ("user_id", format!("user-{i}")),
                        ]));
                        descriptors.push(descriptor(&[("generic_key", "export".into())]));
                        descriptors.push(descriptor(&[("x-api-key", format!("key-{}", i % 10))]));
                    }
                    Bytes::from(
                        RateLimitRequest {
                            domain: "api".into(),
                            descriptors,
                            hits_addend: 0,
                        }
                        .encode_to_vec(),
                    )
                })
                .collect();
            Ok((Some(rls), bodies))
        }
        "check" => {
            let check = |user: &str, path: &str| {
                CheckRequest {
                attributes: Some(AttributeContext {
                    source: Some(Peer {
                        address: Some(envoy_types::pb::envoy::config::core::v3::Address {
                            address: Some(envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(
                                envoy_types::pb::envoy::config::core::v3::SocketAddress {
                                    address: "203.0.113.9".into(),
                                    ..Default::default()
                                },
                            )),
                        }),
                        ..Peer::default()
                    }),
                    request: Some(Request {
                        http: Some(HttpRequest {
                            method: "GET".into(),
                            path: path.into(),
                            host: "docs.example.com".into(),
                            headers: [
                                ("x-user-id".to_owned(), user.to_owned()),
                                ("user-agent".to_owned(), "curl/8.5.0".to_owned()),
                                ("accept".to_owned(), "*/*".to_owned()),
                            ]
                            .into(),
                            ..HttpRequest::default()
                        }),
                        ..Request::default()
                    }),
                    ..AttributeContext::default()
                }),
            }
            };
            let bodies = [
                ("ana", "/docs/plan"),
                ("bob", "/docs/plan"),
                ("ana", "/docs/readme"),
                ("eve", "/docs/notes"),
            ]
            .iter()
            .map(|(user, path)| Bytes::from(check(user, path).encode_to_vec()))
            .collect();
            Ok((Some("/envoy.service.auth.v3.Authorization/Check"), bodies))
        }
        "authorize" | "authorize-http" => {
            let json = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/http/authorize.json"
            ))?;
            if call == "authorize-http" {
                return Ok((None, vec![Bytes::from(json)]));
            }
            // The same request in protobuf, as the runtime encodes it.
            let mut sources = reaper_compiler::source::Sources::new();
            for file in ["schema", "rules"] {
                let path = format!(
                    "{}/../examples/document-sharing/{file}.reaper",
                    env!("CARGO_MANIFEST_DIR")
                );
                let text = std::fs::read_to_string(&path)?;
                sources.add(path, text);
            }
            let bundle = reaper_compiler::compile(&sources).map_err(|d| {
                format!("document-sharing does not compile: {} diagnostics", d.len())
            })?;
            let engine = reaper_runtime::Engine::load(&bundle)?;
            let request = reaper_lang::request::decode(
                engine.schema(),
                &json,
                &reaper_lang::request::Limits::default(),
            )?;
            Ok((
                Some("/reaper.v1.Reaper/Authorize"),
                vec![Bytes::from(engine.encode_request_protobuf(&request))],
            ))
        }
        other => Err(format!(
            "unknown call {other} (ratelimit1, ratelimit5, check, authorize, authorize-http)"
        )
        .into()),
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("grpc_load: {error}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Error> {
    let args = args()?;
    let (method, bodies) = messages(&args.call)?;
    // One core for the load, as the server takes the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.seconds);
    let tallies = runtime.block_on(async {
        let mut tasks: Vec<tokio::task::JoinHandle<Result<Tally, Error>>> = Vec::new();
        match method {
            Some(method) => {
                let mut channels = Vec::new();
                for _ in 0..args.connections.max(1) {
                    let channel =
                        tonic::transport::Channel::from_shared(format!("http://{}", args.addr))?
                            .connect()
                            .await?;
                    channels.push(channel);
                }
                for worker in 0..args.concurrency {
                    let channel = channels[worker % channels.len()].clone();
                    let bodies = bodies.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut grpc = tonic::client::Grpc::new(channel);
                        let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
                        let mut tally = Tally::default();
                        let mut i = worker;
                        loop {
                            let sent = Instant::now();
                            if sent >= end {
                                return Ok(tally);
                            }
                            grpc.ready().await?;
                            let body = bodies[i % bodies.len()].clone();
                            i += 1;
                            let result = grpc
                                .unary(tonic::Request::new(body), path.clone(), BytesCodec)
                                .await;
                            if sent >= measure_from {
                                match result {
                                    Ok(_) => tally.latencies_us.push(micros(sent.elapsed())),
                                    Err(_) => tally.errors += 1,
                                }
                            }
                        }
                    }));
                }
            }
            None => {
                for _ in 0..args.concurrency {
                    let body = bodies[0].clone();
                    let addr = args.addr;
                    tasks.push(tokio::spawn(async move {
                        http_worker(addr, body, measure_from, end).await
                    }));
                }
            }
        }
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await??);
        }
        Ok::<_, Error>(tallies)
    })?;
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let mut all: Vec<u32> = tallies.into_iter().flat_map(|t| t.latencies_us).collect();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"call\":\"{}\",\"requests\":{},\"seconds\":{},\"rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\"errors\":{},\"connections\":{},\"concurrency\":{}}}",
        args.call,
        all.len(),
        args.seconds,
        all.len() as f64 / args.seconds,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        all.last().copied().unwrap_or(0),
        errors,
        args.connections,
        args.concurrency,
    );
    Ok(())
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// One keep-alive HTTP/1.1 connection posting `body` to /v1/authorize.
async fn http_worker(
    addr: SocketAddr,
    body: Bytes,
    measure_from: Instant,
    end: Instant,
) -> Result<Tally, Error> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true).ok();
    let mut stream = BufReader::new(stream);
    let head = format!(
        "POST /v1/authorize HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    let mut tally = Tally::default();
    let mut line = String::new();
    loop {
        let sent = Instant::now();
        if sent >= end {
            return Ok(tally);
        }
        stream.get_mut().write_all(&request).await?;
        let mut length = 0usize;
        let mut status_ok = false;
        let mut first = true;
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Err("the server closed the connection".into());
            }
            let trimmed = line.trim_end();
            if first {
                status_ok = trimmed.split_whitespace().nth(1) == Some("200");
                first = false;
            } else if trimmed.is_empty() {
                break;
            } else if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut sink = vec![0; length];
        stream.read_exact(&mut sink).await?;
        if sent >= measure_from {
            if status_ok {
                tally.latencies_us.push(micros(sent.elapsed()));
            } else {
                tally.errors += 1;
            }
        }
    }
}
