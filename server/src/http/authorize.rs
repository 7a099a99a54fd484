//! `POST /v1/authorize` and `POST /v1/authorize/batch`: the request JSON
//! of `docs/requests.md`, completed from the entity data the server holds,
//! decided by the world the request started in (`ops::authorize`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ApiError, Body, DECISION_ID, POLICY, header_value, json_response};
use crate::auth::Identity;
use crate::auth::claims::{bind_authorize, explain};
use crate::observe::RequestRef;
use crate::ops::authorize::{DecisionBody, MAX_BATCH, decide, prepare};
use crate::state::Shared;

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
        (status = 400, description = "Malformed JSON (with its position) or a request the schema refuses (with the field)", body = crate::ops::error::ErrorBody),
        (status = 413, description = "The body is too large", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    identity: Option<Extension<Arc<Identity>>>,
    body: Body,
) -> Result<Response, ApiError> {
    let identity = identity.as_deref().map(Arc::as_ref);
    let text = &*bind_authorize(identity, body.text()?)?;
    let world = shared.world();
    let request = prepare(&world, text).map_err(|e| explain(identity, e))?;
    Ok(decision_response(&decide(
        &shared,
        &world.engine,
        &request,
        "authorize",
        RequestRef::Json(text),
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
    Error(crate::ops::error::ErrorBody),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    /// One per request, in order.
    pub results: Vec<BatchItem>,
    /// The policy that decided them all.
    pub policy: String,
}

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
        (status = 400, description = "The batch itself is malformed", body = crate::ops::error::ErrorBody),
        (status = 413, description = "The body is too large", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn batch(
    State(shared): State<Arc<Shared>>,
    identity: Option<Extension<Arc<Identity>>>,
    body: Body,
) -> Result<Response, ApiError> {
    let identity = identity.as_deref().map(Arc::as_ref);
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
        .map(|raw| {
            let text = bind_authorize(identity, raw.get())?;
            let request = prepare(&world, &text).map_err(|e| explain(identity, e))?;
            Ok::<_, ApiError>((request, text))
        })
        .enumerate()
        .map(|(i, prepared)| match prepared {
            Ok((request, text)) => BatchItem::Decision(decide(
                &shared,
                &world.engine,
                &request,
                "authorize",
                RequestRef::Json(&text),
            )),
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
