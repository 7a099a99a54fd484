//! `POST /v1/ratelimit`: Envoy's `RateLimitRequest` in its proto3 JSON
//! form, answered as Envoy's `RateLimitResponse` plus Reaper's details
//! (which limit decided, every applying limit, shadow results). The policy
//! plans the counter hits, the backend counts them all in one round trip,
//! the policy reads the counts — the same steps the gRPC service takes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{RateLimitError, RateLimitRequest, RateLimitResponse, json};
use serde_json::json;

use super::{ApiError, Body, POLICY, header_value, json_response};
use crate::backend::BackendError;
use crate::state::{Shared, World};

/// What a rate-limit request got.
#[derive(Debug)]
pub enum Outcome {
    Decided(RateLimitResponse),
    /// The policy declares no such domain: OK for every descriptor, as
    /// lyft/ratelimit answers (and counted in a metric).
    UnknownDomain,
}

/// Counts `request` and decides, in `world`'s policy, through the backend.
pub async fn decide(
    shared: &Shared,
    world: &World,
    request: &RateLimitRequest,
) -> Result<Outcome, BackendError> {
    let engine = &world.engine;
    let started = std::time::Instant::now();
    let plan = match engine.plan_rate_limit(request) {
        Ok(plan) => plan,
        Err(RateLimitError::UnknownDomain(domain)) => {
            shared.metrics.unknown_domain(&domain);
            return Ok(Outcome::UnknownDomain);
        }
    };
    let now = shared.clock.now_ms();
    let hits = shared.backend.count(&plan.hits, now).await?;
    let response = Engine::complete_rate_limit(plan, hits);
    shared.metrics.rate_limit(
        world.limit_metrics.get(&request.domain).map(Vec::as_slice),
        request,
        &response,
        started.elapsed(),
    );
    Ok(Outcome::Decided(response))
}

/// Count the hits of an Envoy rate-limit request and decide.
#[utoipa::path(
    post,
    path = "/v1/ratelimit",
    tag = "decisions",
    request_body(content = Object, description = "Envoy's RateLimitRequest in proto3 JSON: domain, descriptors[].entries[].key/value, descriptors[].limit, descriptors[].hits_addend, hits_addend", content_type = "application/json"),
    responses(
        (status = 200, description = "Envoy's RateLimitResponse (overall_code, statuses) with Reaper's details", body = Object),
        (status = 400, description = "Malformed, or a field of the wrong kind", body = super::error::ErrorBody),
        (status = 503, description = "The backend could not count", body = super::error::ErrorBody),
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
