//! `POST /v1/ratelimit`: Envoy's `RateLimitRequest` in its proto3 JSON
//! form, answered as Envoy's `RateLimitResponse` plus Reaper's details
//! (which limit decided, every applying limit, shadow results). The policy
//! plans the counter hits, the backend counts them all in one round trip,
//! the policy reads the counts (`ops::ratelimit`, as the gRPC services).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use reaper_runtime::ratelimit::json;
use serde_json::json;

use super::{ApiError, Body, POLICY, header_value, json_response};
use crate::ops::ratelimit::{Outcome, decide};
use crate::state::Shared;

/// Count the hits of an Envoy rate-limit request and decide.
#[utoipa::path(
    post,
    path = "/v1/ratelimit",
    tag = "decisions",
    request_body(content = Object, description = "Envoy's RateLimitRequest in proto3 JSON: domain, descriptors[].entries[].key/value, descriptors[].limit, descriptors[].hits_addend, hits_addend", content_type = "application/json"),
    responses(
        (status = 200, description = "Envoy's RateLimitResponse (overall_code, statuses) with Reaper's details", body = Object),
        (status = 400, description = "Malformed, or a field of the wrong kind", body = crate::ops::error::ErrorBody),
        (status = 503, description = "The backend could not count", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    body: Body,
) -> Result<Response, ApiError> {
    let text = body.text()?;
    let request = json::decode(text, &reaper_lang::request::Limits::default())
        .map_err(|e| ApiError::request(&e))?;
    let world = shared.world();
    let engine = &world.engine;
    let outcome = decide(&shared, &world, &request).await?;
    let out = match outcome {
        Outcome::Decided(response) => json::encode_to_vec(engine, &request.domain, &response),
        Outcome::UnknownDomain => serde_json::to_vec(&json!({
            "overall_code": "OK",
            "statuses": request.descriptors.iter().map(|_| json!({ "code": "OK" })).collect::<Vec<_>>(),
            "policy": engine.hash(),
            "unknown_domain": true,
        }))
        .unwrap_or_default(),
    };
    let mut http = json_response(StatusCode::OK, out);
    http.headers_mut()
        .insert(POLICY, header_value(engine.hash()));
    Ok(http)
}
