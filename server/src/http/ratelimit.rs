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
use reaper_runtime::ratelimit::{Code, RateLimitError, RateLimitRequest, RateLimitResponse, json};
use serde_json::json;

use super::{ApiError, Body, POLICY, header_value, json_response};
use crate::backend::BackendError;
use crate::state::Shared;

/// Why a rate-limit decision could not be made.
#[derive(Debug)]
pub enum Refused {
    /// The backend could not count.
    Backend(BackendError),
}

/// Counts `request` and decides, in `engine`'s policy, through the
/// backend. An unknown domain answers OK for every descriptor (as
/// lyft/ratelimit does) and is counted in a metric.
pub async fn decide(
    shared: &Shared,
    engine: &Engine,
    request: &RateLimitRequest,
) -> Result<RateLimitResponse, Refused> {
    let started = std::time::Instant::now();
    let plan = match engine.plan_rate_limit(request) {
        Ok(plan) => plan,
        Err(RateLimitError::UnknownDomain(domain)) => {
            shared.metrics.unknown_domain(&domain);
            return Ok(RateLimitResponse {
                overall: Code::Ok,
                statuses: Vec::new(),
            });
        }
    };
    let now = shared.clock.now_ms();
    let hits = shared
        .backend
        .count(&plan.hits, now)
        .await
        .map_err(Refused::Backend)?;
    let response = Engine::complete_rate_limit(plan, hits);
    shared
        .metrics
        .rate_limit(engine, &request.domain, &response, started.elapsed());
    Ok(response)
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
    let response = decide(&shared, engine, &request)
        .await
        .map_err(|refused| match refused {
            Refused::Backend(e) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backend_unavailable",
                e.to_string(),
            ),
        })?;
    let out = if response.statuses.is_empty() && !request.descriptors.is_empty() {
        // An unknown domain: OK for each descriptor, as lyft/ratelimit says.
        json!({
            "overall_code": "OK",
            "statuses": request.descriptors.iter().map(|_| json!({ "code": "OK" })).collect::<Vec<_>>(),
            "policy": engine.hash(),
            "unknown_domain": true,
        })
    } else {
        json::encode(engine, &request.domain, &response)
    };
    let mut http = json_response(StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default());
    http.headers_mut()
        .insert(POLICY, header_value(engine.hash()));
    Ok(http)
}
