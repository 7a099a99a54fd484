//! `reaper serve` over gRPC, as Envoy and tonic clients call it: the real
//! binary on ephemeral loopback ports, clients generated from the same
//! protos (envoy-types for Envoy's services, `reaper-proto` for Reaper's).
//! Every RPC's success and error paths: lyft/ratelimit's classic sequence,
//! `hits_addend`, overrides, shadow limits and unknown domains; ext_authz
//! allow, deny, unmapped requests, bodies and dry run; Reaper's own API;
//! health, reflection, limits and metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::server::Server;
use common::{example, scratch, workspace, write};
use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::envoy::config::core::v3::{SocketAddress, socket_address::PortSpecifier};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::{
    Entry, RateLimitOverride,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code as RlsCode;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use reaper_proto::v1 as pb;
use reaper_proto::v1::reaper_client::ReaperClient;
use tonic::Code;
use tonic::transport::Channel;

/// The Envoy example: an `http` block, the `edge` rate-limit domain, and
/// entity data.
fn envoy_example(extra: &[&str]) -> Server {
    let dir = example("envoy");
    let entities = format!("{dir}/entities.json");
    let mut args = vec![dir.as_str(), "--entities", &entities, "--no-watch"];
    args.extend_from_slice(extra);
    Server::start(&workspace(), &args)
}

/// The session-store example: stores, no `http` block.
fn session_store(extra: &[&str]) -> Server {
    let dir = example("session-store");
    let entities = format!("{dir}/entities.json");
    let mut args = vec![dir.as_str(), "--entities", &entities, "--no-watch"];
    args.extend_from_slice(extra);
    Server::start(&workspace(), &args)
}

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.grpc_uri())
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.grpc_uri()))
}

fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        ..RateLimitDescriptor::default()
    }
}

fn rls_request(domain: &str, descriptors: Vec<RateLimitDescriptor>) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_owned(),
        descriptors,
        hits_addend: 0,
    }
}

/// A user id no other test (or earlier run) has counted.
fn fresh_user(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{nanos}")
}

/// Waits, if need be, for a fresh clock-aligned minute.
async fn fresh_minute(margin: Duration) {
    tokio::time::sleep(common::until_fresh_minute(margin)).await;
}

async fn should_rate_limit(
    client: &mut RateLimitServiceClient<Channel>,
    request: RateLimitRequest,
) -> RateLimitResponse {
    client
        .should_rate_limit(request)
        .await
        .unwrap_or_else(|e| panic!("ShouldRateLimit: {e}"))
        .into_inner()
}

#[tokio::test]
async fn rls_counts_down_like_lyft_then_answers_over_limit() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    fresh_minute(Duration::from_secs(20)).await;
    let user = fresh_user("classic");
    for expected in (0..20).rev() {
        let response = should_rate_limit(
            &mut client,
            rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
        )
        .await;
        assert_eq!(response.overall_code, RlsCode::Ok as i32);
        let status = &response.statuses[0];
        assert_eq!(status.code, RlsCode::Ok as i32);
        assert_eq!(status.limit_remaining, expected);
        let limit = status.current_limit.as_ref().unwrap();
        assert_eq!(limit.name, "per_user");
        assert_eq!(limit.requests_per_unit, 20);
        assert_eq!(limit.unit, 2, "MINUTE");
        let reset = status.duration_until_reset.unwrap();
        assert!((0..=60).contains(&reset.seconds), "{reset:?}");
    }
    let over = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
    )
    .await;
    assert_eq!(over.overall_code, RlsCode::OverLimit as i32);
    assert_eq!(over.statuses[0].code, RlsCode::OverLimit as i32);
    assert_eq!(over.statuses[0].limit_remaining, 0);
    // No response headers unless configured.
    assert!(over.response_headers_to_add.is_empty());
}

#[tokio::test]
async fn rls_hits_addend_overrides_and_mixed_descriptors() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    fresh_minute(Duration::from_secs(20)).await;

    // hits_addend 0 counts 1; 5 counts 5; a descriptor's own wins.
    let user = fresh_user("addend");
    let mut request = rls_request("edge", vec![descriptor(&[("user_id", &user)])]);
    request.hits_addend = 0;
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        19
    );
    request.hits_addend = 5;
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        14
    );
    request.descriptors[0].hits_addend =
        Some(envoy_types::pb::google::protobuf::UInt64Value { value: 10 });
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        4
    );
    let over = should_rate_limit(&mut client, request).await;
    assert_eq!(over.statuses[0].code, RlsCode::OverLimit as i32);

    // Envoy's per-descriptor override replaces the policy's numbers.
    let user = fresh_user("override");
    let mut overridden = descriptor(&[("user_id", &user)]);
    overridden.limit = Some(RateLimitOverride {
        requests_per_unit: 2,
        unit: 3, // HOUR
    });
    let request = rls_request("edge", vec![overridden]);
    let first = should_rate_limit(&mut client, request.clone()).await;
    let limit = first.statuses[0].current_limit.as_ref().unwrap();
    assert_eq!((limit.requests_per_unit, limit.unit), (2, 3));
    assert_eq!(first.statuses[0].limit_remaining, 1);
    should_rate_limit(&mut client, request.clone()).await;
    assert_eq!(
        should_rate_limit(&mut client, request).await.overall_code,
        RlsCode::OverLimit as i32
    );

    // Two descriptors, only the first over: overall over, statuses in order.
    let (spent, fresh) = (fresh_user("spent"), fresh_user("fresh"));
    let mut spend = rls_request("edge", vec![descriptor(&[("user_id", &spent)])]);
    spend.hits_addend = 20;
    should_rate_limit(&mut client, spend).await;
    let both = should_rate_limit(
        &mut client,
        rls_request(
            "edge",
            vec![
                descriptor(&[("user_id", &spent)]),
                descriptor(&[("user_id", &fresh)]),
            ],
        ),
    )
    .await;
    assert_eq!(both.overall_code, RlsCode::OverLimit as i32);
    let codes: Vec<i32> = both.statuses.iter().map(|s| s.code).collect();
    assert_eq!(codes, [RlsCode::OverLimit as i32, RlsCode::Ok as i32]);
    assert_eq!(both.statuses[1].limit_remaining, 19);

    // A descriptor no limit applies to: OK, no current limit.
    let none = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("path", "/")])]),
    )
    .await;
    assert_eq!(none.statuses[0].code, RlsCode::Ok as i32);
    assert!(none.statuses[0].current_limit.is_none());
}

#[tokio::test]
async fn shadow_limits_count_but_never_refuse_and_unknown_domains_pass() {
    let server = envoy_example(&["--ratelimit-headers"]);
    let channel = channel(&server).await;
    let mut client = RateLimitServiceClient::new(channel.clone());
    let mut reaper = ReaperClient::new(channel);
    fresh_minute(Duration::from_secs(20)).await;
    let user = fresh_user("writer");
    // `writes` (5 a minute, shadow) applies to PUTs; `per_user` (20) too.
    for _ in 0..7 {
        let response = should_rate_limit(
            &mut client,
            rls_request(
                "edge",
                vec![descriptor(&[("user_id", &user), ("method", "PUT")])],
            ),
        )
        .await;
        assert_eq!(response.overall_code, RlsCode::Ok as i32);
    }
    // Reaper's own API shows the shadow limit tripped.
    let detail = reaper
        .rate_limit(pb::RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![
                    pb::rate_limit_descriptor::Entry {
                        key: "user_id".into(),
                        value: user.clone(),
                    },
                    pb::rate_limit_descriptor::Entry {
                        key: "method".into(),
                        value: "PUT".into(),
                    },
                ],
                ..Default::default()
            }],
            hits_addend: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detail.overall_code, pb::Code::Ok as i32);
    let limits = &detail.statuses[0].limits;
    let writes = limits.iter().find(|l| l.name == "writes").unwrap();
    assert!(writes.shadow && !writes.allowed, "{writes:?}");
    let per_user = limits.iter().find(|l| l.name == "per_user").unwrap();
    assert_eq!(
        (per_user.count, per_user.period_ms, per_user.remaining),
        (20, 60_000, 12)
    );
    // The current limit is the enforced one, not the tripped shadow.
    assert_eq!(
        detail.statuses[0].current_limit.as_ref().unwrap().name,
        "per_user"
    );

    // The x-ratelimit headers (switched on with --ratelimit-headers).
    let response = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
    )
    .await;
    let headers: HashMap<_, _> = response
        .response_headers_to_add
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers["x-ratelimit-limit"], "20, 20;w=60");
    assert_eq!(headers["x-ratelimit-remaining"], "11");
    let reset: u64 = headers["x-ratelimit-reset"].parse().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");

    // An unknown domain: OK for each descriptor, as lyft answers, counted.
    let unknown = should_rate_limit(
        &mut client,
        rls_request(
            "nope",
            vec![descriptor(&[("user_id", "x")]), descriptor(&[("a", "b")])],
        ),
    )
    .await;
    assert_eq!(unknown.overall_code, RlsCode::Ok as i32);
    assert_eq!(unknown.statuses.len(), 2);
    let metrics = server.client().get("/metrics").text();
    assert!(
        metrics.contains("reaper_ratelimit_unknown_domain_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "reaper_grpc_requests_total{method=\"/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit\",code=\"OK\"} 9"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_rate_limit_requests_name_the_field() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    let refused = |request: RateLimitRequest| {
        let mut client = client.clone();
        async move { client.should_rate_limit(request).await.unwrap_err() }
    };
    let empty_domain = refused(rls_request("", vec![descriptor(&[("user_id", "a")])])).await;
    assert_eq!(empty_domain.code(), Code::InvalidArgument);
    assert!(
        empty_domain.message().starts_with("domain:"),
        "{}",
        empty_domain.message()
    );

    let none = refused(rls_request("edge", vec![])).await;
    assert_eq!(none.code(), Code::InvalidArgument);
    assert!(
        none.message().starts_with("descriptors:"),
        "{}",
        none.message()
    );

    let mut bad_unit = descriptor(&[("user_id", "a")]);
    bad_unit.limit = Some(RateLimitOverride {
        requests_per_unit: 1,
        unit: 0,
    });
    let unit = refused(rls_request(
        "edge",
        vec![descriptor(&[("k", "v")]), bad_unit],
    ))
    .await;
    assert_eq!(unit.code(), Code::InvalidArgument);
    assert!(
        unit.message().starts_with("descriptors[1].limit.unit"),
        "{}",
        unit.message()
    );

    let long = "x".repeat(70_000);
    let too_long = refused(rls_request("edge", vec![descriptor(&[("user_id", &long)])])).await;
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long
            .message()
            .contains("descriptors[0].entries[0].value"),
        "{}",
        too_long.message()
    );

    // A message that is not protobuf of that type at all.
    let garbage = raw_call(
        &server,
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    )
    .await;
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    // The server is still answering.
    should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", "b")])]),
    )
    .await;
}

/// Sends `bytes` as the message of `method`, whatever they are.
async fn raw_call(server: &Server, method: &'static str, bytes: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel(server).await);
    grpc.ready().await.unwrap();
    let result: Result<tonic::Response<()>, tonic::Status> = grpc
        .unary(
            tonic::Request::new(bytes),
            tonic::codegen::http::uri::PathAndQuery::from_static(method),
            RawCodec,
        )
        .await;
    result.expect_err("garbage must be refused")
}

/// A codec that sends bytes as they are and ignores what comes back.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        bytes::Buf::advance(src, n);
        Ok(Some(()))
    }
}

fn check_request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(envoy_types::pb::envoy::config::core::v3::Address {
                    address: Some(Address::SocketAddress(SocketAddress {
                        address: "203.0.113.9".into(),
                        port_specifier: Some(PortSpecifier::PortValue(52_000)),
                        ..SocketAddress::default()
                    })),
                }),
                ..Peer::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: "docs.example.com".into(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

async fn check(client: &mut AuthorizationClient<Channel>, request: CheckRequest) -> CheckResponse {
    client
        .check(request)
        .await
        .unwrap_or_else(|e| panic!("Check: {e}"))
        .into_inner()
}

/// The denied response's HTTP status, headers and body.
fn denied(response: &CheckResponse) -> (i32, HashMap<String, String>, String) {
    assert_eq!(
        response.status.as_ref().unwrap().code,
        Code::PermissionDenied as i32
    );
    match response.http_response.as_ref().unwrap() {
        HttpResponse::DeniedResponse(denied) => (
            denied.status.unwrap().code,
            denied
                .headers
                .iter()
                .filter_map(|h| h.header.as_ref())
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect(),
            denied.body.clone(),
        ),
        other => panic!("not denied: {other:?}"),
    }
}

fn metadata_text(response: &CheckResponse, key: &str) -> String {
    use envoy_types::pb::google::protobuf::value::Kind;
    match response.dynamic_metadata.as_ref().unwrap().fields[key]
        .kind
        .as_ref()
        .unwrap()
    {
        Kind::StringValue(s) => s.clone(),
        Kind::ListValue(list) => list
            .values
            .iter()
            .map(|v| match &v.kind {
                Some(Kind::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        Kind::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn ext_authz_allows_denies_and_explains() {
    let server = envoy_example(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    let policy = server.client().get("/v1/status").json()["policy"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner reads: OK, with the decision for upstream and the logs.
    let allowed = check(
        &mut client,
        check_request("GET", "/docs/plan?x=1", &[("x-user-id", "ana")]),
    )
    .await;
    assert_eq!(allowed.status.as_ref().unwrap().code, Code::Ok as i32);
    let Some(HttpResponse::OkResponse(ok)) = &allowed.http_response else {
        panic!("{allowed:?}")
    };
    let upstream: HashMap<_, _> = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(upstream["x-reaper-policy"], policy);
    let id = upstream["x-reaper-decision-id"].to_owned();
    assert_eq!(metadata_text(&allowed, "decision_id"), id);
    assert_eq!(metadata_text(&allowed, "rules"), "owner");
    assert_eq!(metadata_text(&allowed, "policy"), policy);
    assert_eq!(metadata_text(&allowed, "decision"), "allow");

    // Someone else: 403, with the reason.
    let response = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "bob")]),
    )
    .await;
    let (status, headers, body) = denied(&response);
    assert_eq!(status, 403);
    assert_eq!(body, "denied: no rule permits read on Doc::\"plan\"\n");
    assert_eq!(headers["x-reaper-policy"], policy);
    assert_eq!(metadata_text(&response, "decision"), "deny");

    // A forbid names itself.
    let response = check(
        &mut client,
        check_request("GET", "/docs/notes", &[("x-user-id", "eve")]),
    )
    .await;
    assert_eq!(denied(&response).2, "denied: forbidden by suspended\n");
    assert_eq!(metadata_text(&response, "rules"), "suspended");

    // Requests that map to no authorization request are denied with why.
    let cases = [
        (
            check_request("DELETE", "/docs/plan", &[("x-user-id", "ana")]),
            "no route matches DELETE /docs/plan",
        ),
        (
            check_request("GET", "/docs/plan", &[]),
            "mapping the principal failed",
        ),
        (
            check_request("GET", "/docs/plan", &[("x-user-id", "mallory")]),
            "unknown principal User::\"mallory\"",
        ),
        (
            check_request("GET", "/docs/ghost", &[("x-user-id", "ana")]),
            "unknown resource Doc::\"ghost\"",
        ),
    ];
    for (request, reason) in cases {
        let response = check(&mut client, request).await;
        let (status, _, body) = denied(&response);
        assert_eq!(status, 403);
        assert!(body.contains(reason), "{body} lacks {reason}");
    }
    let metrics = server.client().get("/metrics").text();
    for reason in ["no_route", "mapping_failed", "unknown_entity"] {
        assert!(
            metrics.contains(&format!(
                "reaper_ext_authz_unmapped_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }

    // Envoy's with_request_body: the body is never read, so a malformed
    // one (invalid JSON, binary bytes) does not change the answer.
    let mut with_body = check_request(
        "GET",
        "/docs/plan",
        &[("x-user-id", "ana"), ("content-type", "application/json")],
    );
    let http = with_body
        .attributes
        .as_mut()
        .unwrap()
        .request
        .as_mut()
        .unwrap()
        .http
        .as_mut()
        .unwrap();
    http.body = "{\"not\": json".into();
    http.raw_body = vec![0xff, 0x00, 0xfe];
    http.size = 3;
    let response = check(&mut client, with_body).await;
    assert_eq!(response.status.unwrap().code, Code::Ok as i32);

    // A check that is not an HTTP check at all.
    let empty = client.check(CheckRequest::default()).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(
        empty.message().contains("attributes.request.http"),
        "{}",
        empty.message()
    );
}

#[tokio::test]
async fn ext_authz_dry_run_allows_but_says_what_it_would_do() {
    let server = envoy_example(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    // Per route, from Envoy's context_extensions.
    let mut request = check_request("GET", "/docs/plan", &[("x-user-id", "bob")]);
    request
        .attributes
        .as_mut()
        .unwrap()
        .context_extensions
        .insert("reaper_dry_run".into(), "true".into());
    let response = check(&mut client, request).await;
    assert_eq!(response.status.as_ref().unwrap().code, Code::Ok as i32);
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("{response:?}")
    };
    assert!(
        ok.headers
            .iter()
            .any(|h| h.header.as_ref().unwrap().key == "x-reaper-dry-run")
    );
    assert_eq!(metadata_text(&response, "decision"), "deny");
    assert_eq!(metadata_text(&response, "dry_run"), "true");

    // For the whole server, with a deny status of its own.
    let dry = envoy_example(&["--dry-run"]);
    let mut client = AuthorizationClient::new(channel(&dry).await);
    let response = check(&mut client, check_request("GET", "/nowhere", &[])).await;
    assert_eq!(response.status.unwrap().code, Code::Ok as i32);
    let logged = dry.wait_for_log("dry run: the policy would deny", Duration::from_secs(30));
    assert!(logged.unwrap().contains("no route matches GET /nowhere"));

    let dir = scratch("grpc-deny-status");
    write(&dir, "reaper.toml", "[ext_authz]\ndeny_status = 401\n");
    let config = dir.join("reaper.toml").display().to_string();
    let custom = envoy_example(&["--config", &config]);
    let mut client = AuthorizationClient::new(channel(&custom).await);
    let response = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "bob")]),
    )
    .await;
    assert_eq!(denied(&response).0, 401);
}

/// Envoy's HTTP-service mode: the original request under /v1/ext_authz.
#[test]
fn ext_authz_http_service_mode_answers_200_or_403() {
    let server = envoy_example(&[]);
    let mut client = server.client();
    let allowed = client.send(
        "GET",
        "/v1/ext_authz/docs/plan?page=2",
        &[("x-user-id", "ana")],
        b"",
    );
    assert_eq!(allowed.status, 200);
    assert!(allowed.header("x-reaper-decision-id").is_some());
    assert!(allowed.header("x-reaper-policy").is_some());
    let denied = client.send(
        "GET",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "bob")],
        b"",
    );
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.text(),
        "denied: no rule permits read on Doc::\"plan\"\n"
    );
    // Any method; one no route takes is denied with why.
    let unrouted = client.send(
        "POST",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "ana")],
        b"{}",
    );
    assert_eq!(unrouted.status, 403);
    assert_eq!(
        unrouted.text(),
        "denied: no route matches POST /docs/plan\n"
    );
    // A write by the owner, with a body that is not JSON: allowed.
    let write = client.send(
        "PUT",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "ana")],
        b"\xff\xfe",
    );
    assert_eq!(write.status, 200);

    let no_mapping = session_store(&[]);
    let refused = no_mapping.client().get("/v1/ext_authz/anything");
    assert_eq!(refused.status, 501);
    assert_eq!(refused.json()["error"]["code"], "no_http_mapping");
}

#[tokio::test]
async fn ext_authz_without_an_http_block_says_so() {
    let server = session_store(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    let error = client
        .check(check_request("GET", "/", &[]))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.message().contains("no `http` block"),
        "{}",
        error.message()
    );
}

const CONTEXT: &str = r#"{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}"#;

fn entity(ty: &str, id: &str) -> pb::Entity {
    pb::Entity {
        r#type: ty.into(),
        id: id.into(),
        ..pb::Entity::default()
    }
}

fn authorize_request(principal: &str, action: &str, mfa: bool) -> pb::AuthorizeRequest {
    let text = |s: &str| pb::Value {
        kind: Some(pb::value::Kind::String(s.into())),
    };
    pb::AuthorizeRequest {
        principal: Some(entity("Service", principal)),
        action: action.into(),
        resource: Some(entity("Store", "sessions")),
        context: Some(pb::Record {
            fields: HashMap::from([
                ("source_ip".to_owned(), text("10.2.0.15")),
                ("now".to_owned(), text("2026-03-01T12:00:00Z")),
                (
                    "mfa".to_owned(),
                    pb::Value {
                        kind: Some(pb::value::Kind::Bool(mfa)),
                    },
                ),
                ("key".to_owned(), text("k")),
            ]),
        }),
        entities: Vec::new(),
    }
}

#[tokio::test]
async fn reapers_own_api_reads_like_the_http_api() {
    let server = session_store(&[]);
    let mut client = ReaperClient::new(channel(&server).await);
    let http = server
        .client()
        .post_json(
            "/v1/authorize",
            &format!(
                r#"{{"principal":{{"type":"Service","id":"api"}},"action":"store.read","resource":{{"type":"Store","id":"sessions"}},"context":{}}}"#,
                CONTEXT.replace('}', r#","key":"k"}"#)
            ),
        )
        .json();

    let response = client
        .authorize(authorize_request("api", "store.read", false))
        .await
        .unwrap();
    let policy = response
        .metadata()
        .get("x-reaper-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let decided = response.into_inner();
    assert_eq!(decided.decision, pb::Effect::Allow as i32);
    assert_eq!(http["decision"], "allow");
    assert_eq!(
        decided.reasons,
        http["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(decided.policy, policy);
    assert_eq!(decided.decision_id.len(), 36);

    // A request the schema refuses names the field.
    let error = client
        .authorize(authorize_request("api", "store.raed", false))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().starts_with("action"), "{}", error.message());

    // A batch: a bad item fails alone.
    let batch = client
        .authorize_batch(pb::AuthorizeBatchRequest {
            requests: vec![
                authorize_request("api", "store.read", false),
                authorize_request("api", "store.raed", false),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 2);
    assert!(matches!(
        batch.results[0].result,
        Some(pb::batch_result::Result::Decision(_))
    ));
    let Some(pb::batch_result::Result::Error(error)) = &batch.results[1].result else {
        panic!("{batch:?}")
    };
    assert_eq!(error.field, "requests[1].action");

    // The store: put, get, create-only, delete; refusals as statuses.
    let caller = |principal: &str| {
        Some(pb::Caller {
            principal: principal.into(),
            context: CONTEXT.into(),
        })
    };
    let put = |key: &str, principal: &str, create_only: bool| pb::StorePutRequest {
        namespace: "sessions".into(),
        key: key.into(),
        caller: caller(principal),
        value: b"hello".to_vec(),
        ttl: "10m".into(),
        create_only,
    };
    let stored = client
        .store_put(put("s1", "Service::\"api\"", false))
        .await
        .unwrap()
        .into_inner();
    assert!(stored.expires_at_ms > 0);
    let got = client
        .store_get(pb::StoreGetRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.value, b"hello");
    assert_eq!(got.expires_at_ms, stored.expires_at_ms);
    assert!(
        got.ttl_ms <= 600_000 && got.ttl_ms > 500_000,
        "{}",
        got.ttl_ms
    );
    // The same value over HTTP.
    let over_http = server.client().send(
        "GET",
        "/v1/store/sessions/s1",
        &[
            ("x-reaper-principal", "Service::\"api\""),
            ("x-reaper-context", CONTEXT),
        ],
        b"",
    );
    assert_eq!(over_http.body, b"hello");

    let exists = client
        .store_put(put("s1", "Service::\"api\"", true))
        .await
        .unwrap_err();
    assert_eq!(exists.code(), Code::AlreadyExists);
    let denied = client
        .store_put(put("s2", "User::\"nobody\"", false))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let no_principal = client
        .store_put(pb::StorePutRequest {
            caller: None,
            ..put("s3", "", false)
        })
        .await
        .unwrap_err();
    assert_eq!(no_principal.code(), Code::InvalidArgument);
    assert!(
        no_principal.message().starts_with("caller.principal"),
        "{}",
        no_principal.message()
    );
    let no_namespace = client
        .store_get(pb::StoreGetRequest {
            namespace: "nope".into(),
            key: "k".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(no_namespace.code(), Code::NotFound);
    let too_long = client
        .store_put(pb::StorePutRequest {
            ttl: "1000d".into(),
            ..put("s4", "Service::\"api\"", false)
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long.message().starts_with("ttl:"),
        "{}",
        too_long.message()
    );
    // Only the auth service deletes sessions.
    let refused = client
        .store_delete(pb::StoreDeleteRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("no rule permits it"),
        "{}",
        refused.message()
    );
    client
        .store_delete(pb::StoreDeleteRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"auth\""),
        })
        .await
        .unwrap();
    let gone = client
        .store_get(pb::StoreGetRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Status mirrors /v1/status.
    let status = client
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let http_status = server.client().get("/v1/status").json();
    let info = status.policy.unwrap();
    assert_eq!(info.hash, http_status["policy"]["hash"]);
    assert_eq!(info.stores, ["sessions", "login_attempts"]);
    assert_eq!(status.entities, http_status["entities"].as_u64().unwrap());
    assert_eq!(status.backend.unwrap().kind, "memory");

    // Reload needs the admin token, which this server has none of.
    let reload = client.reload(pb::ReloadRequest {}).await.unwrap_err();
    assert_eq!(reload.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn reapers_rate_limit_and_batch_refusals() {
    let server = envoy_example(&[]);
    let mut client = ReaperClient::new(channel(&server).await);
    let entry = |key: &str, value: &str| pb::rate_limit_descriptor::Entry {
        key: key.into(),
        value: value.into(),
    };
    // An unknown domain: OK, and said so.
    let unknown = client
        .rate_limit(pb::RateLimitRequest {
            domain: "nope".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![entry("user_id", "a")],
                ..Default::default()
            }],
            hits_addend: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unknown.unknown_domain);
    assert_eq!(unknown.overall_code, pb::Code::Ok as i32);
    // A bad override unit names the field.
    let error = client
        .rate_limit(pb::RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![entry("user_id", "a")],
                limit: Some(pb::rate_limit_descriptor::Override {
                    requests_per_unit: 1,
                    unit: 42,
                }),
                hits_addend: None,
            }],
            hits_addend: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("descriptors[0].limit.unit"),
        "{}",
        error.message()
    );
    // A batch over 10,000 requests is refused whole.
    let too_many = client
        .authorize_batch(pb::AuthorizeBatchRequest {
            requests: vec![pb::AuthorizeRequest::default(); 10_001],
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert!(
        too_many.message().starts_with("requests:"),
        "{}",
        too_many.message()
    );
}

#[tokio::test]
async fn reload_takes_the_admin_token_from_metadata() {
    let dir = scratch("grpc-reload");
    write(&dir, "token", "sesame\n");
    let token = dir.join("token").display().to_string();
    let server = session_store(&["--admin-token-file", &token]);
    let mut client = ReaperClient::new(channel(&server).await);
    let mut wrong = tonic::Request::new(pb::ReloadRequest {});
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        client.reload(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut right = tonic::Request::new(pb::ReloadRequest {});
    right
        .metadata_mut()
        .insert("authorization", "Bearer sesame".parse().unwrap());
    let record = client
        .reload(right)
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(record.ok);
    assert_eq!(record.trigger, "admin");
}

#[tokio::test]
async fn health_reflection_limits_and_metrics() {
    let dir = scratch("grpc-limits");
    write(&dir, "reaper.toml", "[grpc]\nmax_message = \"1KiB\"\n");
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    let channel = channel(&server).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "envoy.service.ratelimit.v3.RateLimitService",
        "envoy.service.auth.v3.Authorization",
        "reaper.v1.Reaper",
    ] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }

    // Reflection lists the services, as grpcurl asks.
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"reaper.v1.Reaper"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // A message over grpc.max_message: RESOURCE_EXHAUSTED, and the server
    // goes on.
    let mut client = AuthorizationClient::new(channel.clone());
    let big = check_request(
        "GET",
        "/docs/plan",
        &[("x-user-id", "ana"), ("x-pad", &"p".repeat(2_000))],
    );
    let error = client.check(big).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");
    let ok = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "ana")]),
    )
    .await;
    assert_eq!(ok.status.unwrap().code, Code::Ok as i32);

    // An unknown method.
    let unknown = raw_call(&server, "/reaper.v1.Reaper/Nope", Vec::new()).await;
    assert_eq!(unknown.code(), Code::Unimplemented);

    let metrics = server.client().get("/metrics").text();
    assert!(
        metrics.contains("reaper_grpc_requests_total{method=\"/envoy.service.auth.v3.Authorization/Check\",code=\"RESOURCE_EXHAUSTED\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reaper_grpc_requests_total{method=\"/envoy.service.auth.v3.Authorization/Check\",code=\"OK\"} 1"),
        "{metrics}"
    );
}

/// Past grpc.max_concurrent_requests, calls are refused, not queued.
#[tokio::test]
async fn calls_past_the_concurrency_limit_are_refused() {
    let dir = scratch("grpc-concurrency");
    write(&dir, "reaper.toml", "[grpc]\nmax_concurrent_requests = 1\n");
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    // Large batches, each on its own connection, all at once: each holds
    // its place while its megabyte arrives and is decided.
    let batch = pb::AuthorizeBatchRequest {
        requests: (0..10_000)
            .map(|i| pb::AuthorizeRequest {
                principal: Some(entity("User", "ana")),
                action: "read".into(),
                resource: Some(entity("Doc", &format!("doc-{i}"))),
                context: Some(pb::Record {
                    fields: HashMap::from([
                        (
                            "source_ip".to_owned(),
                            pb::Value {
                                kind: Some(pb::value::Kind::String("10.0.0.1".into())),
                            },
                        ),
                        (
                            "now".to_owned(),
                            pb::Value {
                                kind: Some(pb::value::Kind::String("2026-03-01T12:00:00Z".into())),
                            },
                        ),
                    ]),
                }),
                entities: Vec::new(),
            })
            .collect(),
    };
    let mut calls = Vec::new();
    for _ in 0..6 {
        let mut client = ReaperClient::new(channel(&server).await);
        let batch = batch.clone();
        calls.push(tokio::spawn(async move {
            client.authorize_batch(batch).await.map(|_| ())
        }));
    }
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 1,
        "six concurrent calls with a limit of one, none refused"
    );
    assert!(refused < 6, "the first call must be answered");
}

/// A stream of one message, for the reflection call.
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> {
    tonic::codegen::tokio_stream::iter([item])
}

#[tokio::test]
async fn deadlines_and_shutdown() {
    let dir = scratch("grpc-deadline");
    // A short drain: the refused upload is still arriving when SIGTERM comes.
    write(
        &dir,
        "reaper.toml",
        "[grpc]\nrequest_timeout = \"1ms\"\n[shutdown]\ndrain_timeout = \"1s\"\n",
    );
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    let mut client = ReaperClient::new(channel(&server).await);
    // A batch of many requests cannot be decided in a millisecond.
    let many = pb::AuthorizeBatchRequest {
        requests: (0..10_000)
            .map(|i| pb::AuthorizeRequest {
                principal: Some(entity("User", "ana")),
                action: "read".into(),
                resource: Some(entity("Doc", &format!("d{i}"))),
                context: Some(pb::Record {
                    fields: HashMap::from([
                        (
                            "source_ip".to_owned(),
                            pb::Value {
                                kind: Some(pb::value::Kind::String("10.0.0.1".into())),
                            },
                        ),
                        (
                            "now".to_owned(),
                            pb::Value {
                                kind: Some(pb::value::Kind::String("2026-03-01T12:00:00Z".into())),
                            },
                        ),
                    ]),
                }),
                entities: Vec::new(),
            })
            .collect(),
    };
    let error = client.authorize_batch(many).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    drop(client);

    // SIGTERM: the gRPC listener stops with the HTTP one.
    let mut server = server;
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
}
