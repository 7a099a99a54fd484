//! The HTTP API's auth layer, installed only when `[auth]` is configured:
//! open routes (health, readiness, metrics, the OpenAPI document) and the
//! admin API (its own token) pass; Envoy's HTTP-service ext_authz passes
//! unless `require_for_envoy`; every other route needs a valid bearer JWT
//! (401 with `WWW-Authenticate` otherwise), then is counted in the API's
//! rate limit (429 with `Retry-After` over it). The caller's [`Identity`]
//! goes to the handlers as a request extension.

use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_limit::Refusal;
use super::{Identity, Scope};
use crate::ops::ApiError;
use crate::state::Shared;

/// What an HTTP route pattern needs.
pub fn scope(route: &str) -> Scope {
    match route {
        "/health/live" | "/health/ready" | "/metrics" | "/v1/openapi.json" => Scope::Open,
        r if r.starts_with("/v1/admin/") => Scope::Admin,
        r if r.starts_with("/v1/ext_authz/") => Scope::Envoy,
        _ => Scope::Api,
    }
}

/// The layer's function (see the module header).
pub async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(auth) = shared.auth.clone() else {
        return next.run(request).await;
    };
    // An unknown path is a 404 whoever asks.
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    if !auth.covers(scope(&route)) {
        return next.run(request).await;
    }
    let identity = match auth.authenticate(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    ) {
        Ok(identity) => identity,
        Err(rejection) => return rejection.into_error().into_response(),
    };
    if auth.binds_authorize() && route.starts_with("/access/v1/") {
        // AuthZEN names its subject in the body; with decisions bound to
        // the token's principal it would be a way around the binding.
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "principal_mismatch",
            "decisions are bound to the token's principal (auth.principal.authorize): use /v1/authorize",
        )
        .into_response();
    }
    if let Some(limit) = &auth.limit {
        let client = identity
            .as_ref()
            .and_then(|i| i.client.clone())
            .unwrap_or_else(|| peer(&request));
        match limit.count(&shared, &client, &route).await {
            Ok(()) => {}
            Err(Refusal::Limited(seconds)) => return limited(seconds),
            Err(Refusal::Backend(error)) => return error.into_response(),
        }
    }
    if let Some(identity) = identity {
        request.extensions_mut().insert(Arc::new(identity));
    }
    next.run(request).await
}

/// The caller's identity, for handlers.
pub fn identity(extensions: &axum::http::Extensions) -> Option<Arc<Identity>> {
    extensions.get::<Arc<Identity>>().cloned()
}

fn peer(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<crate::listener::PeerAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string())
}

fn limited(seconds: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this client is over the API's rate limit; retry in {seconds} s"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
