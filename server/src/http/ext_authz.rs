//! `/v1/ext_authz/{path}`: Envoy's ext_authz filter in HTTP-service mode.
//! Envoy forwards the original request's method, path (under this prefix)
//! and the headers its `allowed_headers` lets through; the answer is 200
//! (allowed) or the deny status (403 by default) with a one-line reason,
//! and the decision id and policy hash in headers either way, for Envoy's
//! `allowed_upstream_headers` / `allowed_client_headers` to pass on. The
//! check itself is `ops::ext_authz`'s, as for the gRPC `Check`.
//!
//! The client address is `x-envoy-external-address`, else the first
//! `x-forwarded-for` entry, else the connection's peer. Dry run is the
//! server's setting only: a per-request switch would be a header, which a
//! client could send itself.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reaper_runtime::http::HttpRequest;

use super::{ApiError, DECISION_ID, POLICY, header_value};
use crate::listener::PeerAddr;
use crate::state::Shared;

/// Where Envoy's `path_prefix` points.
pub const PREFIX: &str = "/v1/ext_authz";

/// Checks the request Envoy forwarded.
pub async fn check(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The body plays no part in the check, but is read to its end (within
    // `http.max_body`) so that the connection stays reusable: an unread
    // body makes the server close it, and Envoy pools these connections.
    let _ = axum::body::to_bytes(body, usize::MAX).await;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = path_and_query
        .strip_prefix(PREFIX)
        .unwrap_or(path_and_query);
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip());
    let Some(source) = client_address(&parts.headers).or(peer) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no client address: forward x-forwarded-for or x-envoy-external-address",
        )
        .into_response();
    };
    let http = HttpRequest {
        method: parts.method.as_str().to_ascii_uppercase(),
        path,
        host: parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        source_ip: ipnet::IpNet::from(source),
        time_ms: i64::try_from(shared.clock.now_ms()).unwrap_or(i64::MAX),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
    };
    let world = shared.world();
    let checked = match crate::ops::ext_authz::check(&shared, &world, &http, shared.envoy.dry_run) {
        Ok(checked) => checked,
        Err(no_mapping) => {
            return ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "no_http_mapping",
                no_mapping.to_string(),
            )
            .into_response();
        }
    };
    let mut response = if checked.allow {
        StatusCode::OK.into_response()
    } else {
        let status =
            StatusCode::from_u16(shared.envoy.deny_status).unwrap_or(StatusCode::FORBIDDEN);
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            format!("denied: {}\n", checked.reason),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(DECISION_ID, header_value(&checked.decision_id));
    headers.insert(POLICY, header_value(world.engine.hash()));
    if checked.dry_run && !checked.policy_allows {
        headers.insert("x-reaper-dry-run", HeaderValue::from_static("deny"));
    }
    response
}

fn client_address(headers: &HeaderMap) -> Option<std::net::IpAddr> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("x-envoy-external-address")
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| {
            text("x-forwarded-for")
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        })
}
