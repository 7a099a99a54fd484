//! `reaper serve` over gRPC, as Envoy and tonic clients call it: the real
//! binary on ephemeral loopback ports, clients generated from the same
//! protos (envoy-types for Envoy's services, `reaper-proto` for Reaper's).
//! Every RPC's success and error paths, one module per concern:
//! `ratelimit` (lyft/ratelimit's classic sequence, `hits_addend`,
//! overrides, shadow limits, unknown domains), `ext_authz` (allow, deny,
//! unmapped requests, bodies, dry run, HTTP-service mode), `reaper_api`
//! (Reaper's own service), `operations` (health, reflection, limits,
//! deadlines, metrics, shutdown). This file holds what they share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "../common/mod.rs"]
mod common;
mod ext_authz;
mod operations;
mod ratelimit;
mod reaper_api;

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

/// Sends `bytes` as the message of `method`, whatever they are; the
/// status it is refused with.
async fn raw_call(server: &Server, method: &'static str, bytes: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel(server).await);
    grpc.ready().await.unwrap();
    let result = grpc
        .unary(
            tonic::Request::new(bytes::Bytes::from(bytes)),
            tonic::codegen::http::uri::PathAndQuery::from_static(method),
            reaper_proto::BytesCodec,
        )
        .await;
    result.expect_err("garbage must be refused")
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

const CONTEXT: &str = r#"{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}"#;

fn entity(ty: &str, id: &str) -> pb::Entity {
    pb::Entity {
        r#type: ty.into(),
        id: id.into(),
        ..pb::Entity::default()
    }
}

/// 10,000 authorization requests in one batch (about a megabyte): slow
/// to send and to decide.
fn big_batch() -> pb::AuthorizeBatchRequest {
    let text = |s: &str| pb::Value {
        kind: Some(pb::value::Kind::String(s.into())),
    };
    pb::AuthorizeBatchRequest {
        requests: (0..10_000)
            .map(|i| pb::AuthorizeRequest {
                principal: Some(entity("User", "ana")),
                action: "read".into(),
                resource: Some(entity("Doc", &format!("doc-{i}"))),
                context: Some(pb::Record {
                    fields: HashMap::from([
                        ("source_ip".to_owned(), text("10.0.0.1")),
                        ("now".to_owned(), text("2026-03-01T12:00:00Z")),
                    ]),
                }),
                entities: Vec::new(),
            })
            .collect(),
    }
}
