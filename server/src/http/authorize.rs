//! `POST /v1/authorize` and `POST /v1/authorize/batch`: the request JSON
//! of `docs/requests.md`, completed from the entity data the server holds,
//! decided by the world the request started in.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use reaper_runtime::{Decision, Engine, Request};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ApiError, Body, DECISION_ID, POLICY, header_value, json_response};
use crate::state::{Shared, World};

/// A decision as the API answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionBody {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The ids of the rules that decided.
    pub reasons: Vec<String>,
    /// Rules that failed at run time (and so did not apply).
    pub errors: Vec<RuleError>,
    /// The hash of the policy that decided.
    pub policy: String,
    /// Unique, time-ordered to the millisecond; also in the
    /// `x-reaper-decision-id` header, and in the log line of a decision in
    /// which a forbid failed.
    pub decision_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleError {
    pub rule: String,
    pub error: String,
}

/// A decision and its id.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    pub id: String,
}

/// Decides a prepared request, records the metrics, and says it as the
/// API does.
pub fn decide(
    shared: &Shared,
    engine: &Engine,
    request: &Request,
    kind: &'static str,
) -> DecisionBody {
    body(engine, &decide_only(shared, engine, request, kind))
}

/// Decides a prepared request and records the metrics; a forbid that
/// failed is logged and counted here, whatever the caller answers.
pub fn decide_only(
    shared: &Shared,
    engine: &Engine,
    request: &Request,
    kind: &'static str,
) -> Decided {
    let started = std::time::Instant::now();
    let decision = engine.authorize(request);
    shared
        .metrics
        .decision(kind, decision.allow, started.elapsed());
    let id = shared.ids.next(shared.clock.now_ms());
    let forbid_failed = decision.errors.iter().any(|(rule, _)| {
        engine
            .bundle()
            .rules
            .get(*rule as usize)
            .is_some_and(|r| r.effect == reaper_lang::bundle::Effect::Forbid)
    });
    if forbid_failed {
        // A forbid that fails may hide a denial: say so loudly.
        shared.metrics.forbid_error();
        for (rule, error) in &decision.errors {
            tracing::warn!(
                decision_id = %id,
                rule = engine.rule_id(*rule),
                error = %error,
                allow = decision.allow,
                "a rule failed at run time; if it is a forbid, it may hide a denial"
            );
        }
    }
    Decided { decision, id }
}

/// A decision as the API says it.
pub fn body(engine: &Engine, decided: &Decided) -> DecisionBody {
    let decision = &decided.decision;
    DecisionBody {
        decision: if decision.allow { "allow" } else { "deny" },
        reasons: decision
            .reasons
            .iter()
            .map(|r| engine.rule_id(*r).to_owned())
            .collect(),
        errors: decision
            .errors
            .iter()
            .map(|(rule, error)| RuleError {
                rule: engine.rule_id(*rule).to_owned(),
                error: error.to_string(),
            })
            .collect(),
        policy: engine.hash().to_owned(),
        decision_id: decided.id.clone(),
    }
}

/// Decodes one request in `world`, completing it from held entity data.
pub fn prepare(world: &World, json: &str) -> Result<Request, ApiError> {
    world
        .engine
        .decode_request_with(json, &world.held)
        .map_err(|e| ApiError::request(&e))
}

/// The response for one decision: its JSON, with the id and the policy in
/// headers.
pub fn decision_response(body: &DecisionBody) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = json_response(StatusCode::OK, bytes);
    let headers = response.headers_mut();
    headers.insert(DECISION_ID, header_value(&body.decision_id));
    headers.insert(POLICY, header_value(&body.policy));
    response
}

/// Decide one authorization request.
#[utoipa::path(
    post,
    path = "/v1/authorize",
    tag = "decisions",
    request_body(content = Object, description = "An authorization request (docs/requests.md)", content_type = "application/json"),
    responses(
        (status = 200, description = "The decision", body = DecisionBody,
         headers(("x-reaper-decision-id" = String, description = "The decision's id"),
                 ("x-reaper-policy" = String, description = "The policy hash that decided"))),
        (status = 400, description = "Malformed JSON (with its position) or a request the schema refuses (with the field)", body = super::error::ErrorBody),
        (status = 413, description = "The body is too large", body = super::error::ErrorBody),
    )
)]
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    body: Body,
) -> Result<Response, ApiError> {
    let text = body.text()?;
    let world = shared.world();
    let request = prepare(&world, text)?;
    Ok(decision_response(&decide(
        &shared,
        &world.engine,
        &request,
        "authorize",
    )))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Authorization requests, each as `/v1/authorize` takes it.
    #[schema(value_type = Vec<Object>)]
    pub requests: Vec<Box<RawValue>>,
}

/// One answer of a batch: a decision, or why that request was refused.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Decision(DecisionBody),
    Error(super::error::ErrorBody),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    /// One per request, in order.
    pub results: Vec<BatchItem>,
    /// The policy that decided them all.
    pub policy: String,
}

/// Most requests one batch may carry.
pub const MAX_BATCH: usize = 10_000;

/// Decide many requests at once: one answer each, in order; a bad request
/// gets an error in its place and does not fail the others. All are
/// decided by one policy.
#[utoipa::path(
    post,
    path = "/v1/authorize/batch",
    tag = "decisions",
    request_body(content = BatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per request, in order", body = BatchResponse),
        (status = 400, description = "The batch itself is malformed", body = super::error::ErrorBody),
        (status = 413, description = "The body is too large", body = super::error::ErrorBody),
    )
)]
pub async fn batch(State(shared): State<Arc<Shared>>, body: Body) -> Result<Response, ApiError> {
    let text = body.text()?;
    let batch: BatchRequest = serde_json::from_str(text).map_err(|e| ApiError::json(&e))?;
    if batch.requests.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("a batch holds at most {MAX_BATCH} requests"),
        )
        .with_field("requests"));
    }
    let world = shared.world();
    let results = batch
        .requests
        .iter()
        .enumerate()
        .map(|(i, raw)| match prepare(&world, raw.get()) {
            Ok(request) => {
                BatchItem::Decision(decide(&shared, &world.engine, &request, "authorize"))
            }
            Err(mut error) => {
                let field = error.body.error.field.take();
                error.body.error.field = Some(match field {
                    Some(f) => format!("requests[{i}].{f}"),
                    None => format!("requests[{i}]"),
                });
                BatchItem::Error(*error.body)
            }
        })
        .collect();
    let response = BatchResponse {
        results,
        policy: world.engine.hash().to_owned(),
    };
    let mut out = json_response(
        StatusCode::OK,
        serde_json::to_vec(&response).unwrap_or_default(),
    );
    out.headers_mut()
        .insert(POLICY, header_value(world.engine.hash()));
    Ok(out)
}
