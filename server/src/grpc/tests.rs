//! Arbitrary protobuf messages to every gRPC method, in process (no
//! sockets): whatever the bytes, the server answers with a gRPC status it
//! means — never a panic, never INTERNAL or UNKNOWN — and goes on
//! answering. Messages are random bytes, and random sequences of
//! well-formed protobuf fields, which get past the wire format into field
//! validation.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use proptest::prelude::*;
use tonic::Code;
use tower::ServiceExt;

use crate::config::GrpcLimits;
use crate::http::tests::harness;

const METHODS: [&str; 10] = [
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    "/envoy.service.auth.v3.Authorization/Check",
    "/reaper.v1.Reaper/Authorize",
    "/reaper.v1.Reaper/AuthorizeBatch",
    "/reaper.v1.Reaper/RateLimit",
    "/reaper.v1.Reaper/StoreGet",
    "/reaper.v1.Reaper/StorePut",
    "/reaper.v1.Reaper/StoreDelete",
    "/reaper.v1.Reaper/Status",
    "/grpc.health.v1.Health/Check",
];

/// One gRPC call's frame: uncompressed, length-prefixed.
fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// Calls `method` with `message`; the gRPC status code it answered.
async fn call(router: &axum::Router, method: &str, message: &[u8]) -> Code {
    let request = Request::post(method)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(frame(message)))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{method}");
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return status.code();
    }
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    tonic::Status::from_header_map(&trailers).map_or(Code::Unknown, |s| s.code())
}

/// A protobuf field: a tag, a wire type, and a payload of that type.
fn field() -> impl Strategy<Value = Vec<u8>> {
    (
        1u32..16,
        0u8..4,
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(tag, kind, number, bytes)| {
            let mut out = Vec::new();
            let wire = [0u32, 1, 2, 5][usize::from(kind)];
            varint(u64::from((tag << 3) | wire), &mut out);
            match wire {
                0 => varint(number, &mut out),
                1 => out.extend_from_slice(&number.to_le_bytes()),
                2 => {
                    varint(bytes.len() as u64, &mut out);
                    out.extend_from_slice(&bytes);
                }
                _ => out.extend_from_slice(&number.to_le_bytes()[..4]),
            }
            out
        })
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(field(), 0..8).prop_map(|fields| fields.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_messages_never_break_a_method(method in 0..METHODS.len(), bytes in message()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let h = harness();
        runtime.block_on(async {
            let (router, _health) = super::routes(Arc::clone(&h.shared), GrpcLimits::default()).await.unwrap();
            let code = call(&router, METHODS[method], &bytes).await;
            prop_assert!(!matches!(code, Code::Internal | Code::Unknown), "{} answered {code:?}", METHODS[method]);
            // And the server goes on answering.
            prop_assert_eq!(call(&router, "/reaper.v1.Reaper/Status", &[]).await, Code::Ok);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_well_formed_check_is_decided() {
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
        HttpRequest, Request as Attrs,
    };
    use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
    use prost::Message;
    let h = harness();
    let (router, _health) = super::routes(Arc::clone(&h.shared), GrpcLimits::default())
        .await
        .unwrap();
    let check = |user: &str| CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Attrs {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/docs/d1".into(),
                    headers: [("x-user-id".to_owned(), user.to_owned())].into(),
                    ..HttpRequest::default()
                }),
                ..Attrs::default()
            }),
            ..AttributeContext::default()
        }),
    };
    // Unknown resource Doc::"d1": denied (PERMISSION_DENIED is the check's
    // answer, carried in an OK call).
    let code = call(
        &router,
        "/envoy.service.auth.v3.Authorization/Check",
        &check("ana").encode_to_vec(),
    )
    .await;
    assert_eq!(code, Code::Ok);
}
