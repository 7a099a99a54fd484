//! Operations: `GET /v1/status`, `POST /v1/admin/reload`, entity data
//! changes under `/v1/admin/entities`, `GET /health/live`,
//! `GET /health/ready` and `GET /metrics`. Admin endpoints need the admin
//! token (`Authorization: Bearer …`); without one configured they are
//! refused with 403.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, Body, json_response};
use crate::ops::admin as ops;
use crate::state::Shared;

/// What is serving: the policy, its counts, the backend, the last reload.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "operations",
    responses((status = 200, description = "The server's state", body = ops::Status))
)]
pub async fn status(State(shared): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&ops::status(&shared)).unwrap_or_default(),
    )
}

/// Reload the policy and entity files now.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Reloaded: the hash now serving", body = Object),
        (status = 401, description = "Missing or wrong admin token", body = crate::ops::error::ErrorBody),
        (status = 403, description = "No admin token is configured", body = crate::ops::error::ErrorBody),
        (status = 422, description = "The policy or entity data was refused; the previous policy keeps serving", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn reload(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ops::check_admin(&shared, &headers)?;
    let record = ops::reload(&shared).await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&record).unwrap_or_default(),
    ))
}

/// Cut this mesh node off from some peers, for partition drills: their
/// gossip, count streams and store replication are dropped both ways until
/// a later call heals them (`{"nodes": []}`).
#[utoipa::path(
    put,
    path = "/v1/admin/mesh/blocked",
    tag = "operations",
    security(("admin_token" = [])),
    request_body(content = Object, content_type = "application/json",
        description = "`{\"nodes\": [\"node-b\"]}`: the node ids to cut off"),
    responses(
        (status = 200, description = "Blocked: the node ids now cut off", body = Object),
        (status = 400, description = "Not a list of node ids", body = crate::ops::error::ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = crate::ops::error::ErrorBody),
        (status = 409, description = "The backend is not a mesh", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn block_peers(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    ops::check_admin(&shared, &headers)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Blocked {
        nodes: Vec<String>,
    }
    let blocked: Blocked = serde_json::from_str(body.text()?).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("expected {{\"nodes\": [node ids]}}: {e}"),
        )
    })?;
    let nodes = blocked.nodes;
    if !shared.backend.block_peers(nodes.clone()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_mesh",
            format!(
                "the {} backend has no peers to block",
                shared.backend.kind()
            ),
        ));
    }
    tracing::warn!(?nodes, "mesh peers blocked through the admin API");
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({ "blocked": nodes })).unwrap_or_default(),
    ))
}

/// Add or replace entities (a JSON array, as in the entities file).
#[utoipa::path(
    put,
    path = "/v1/admin/entities",
    tag = "operations",
    security(("admin_token" = [])),
    request_body(content = Vec<Object>, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored: how many", body = Object),
        (status = 400, description = "An entity is not valid for the schema (all are refused)", body = crate::ops::error::ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = crate::ops::error::ErrorBody),
        (status = 403, description = "No admin token is configured", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn upsert_entities(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    ops::check_admin(&shared, &headers)?;
    let json = reaper_lang::json::parse(body.text()?).map_err(|e| ApiError::request(&e.into()))?;
    let count = shared.upsert_entities(&json).await.map_err(|e| match e {
        crate::entities::EntityError::Invalid(e) => ApiError::request(&e),
        crate::entities::EntityError::Malformed(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m)
        }
    })?;
    tracing::info!(count, "entities upserted through the admin API");
    let references: Vec<serde_json::Value> = json
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| json!({ "type": e.get("type"), "id": e.get("id") }))
                .collect()
        })
        .unwrap_or_default();
    shared.audit.record(
        shared.clock.now_ms(),
        "entities",
        json!({ "operation": "upsert", "count": count, "entities": references }),
    );
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({ "upserted": count, "entities": shared.world().held.len() }))
            .unwrap_or_default(),
    ))
}

/// Delete an entity's data.
#[utoipa::path(
    delete,
    path = "/v1/admin/entities/{type}/{id}",
    tag = "operations",
    security(("admin_token" = [])),
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong admin token", body = crate::ops::error::ErrorBody),
        (status = 403, description = "No admin token is configured", body = crate::ops::error::ErrorBody),
        (status = 404, description = "The server holds no data for this entity", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn delete_entity(
    State(shared): State<Arc<Shared>>,
    Path((ty, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ops::check_admin(&shared, &headers)?;
    if shared.delete_entity((ty.clone(), id.clone())).await {
        tracing::info!(entity_type = %ty, id = %id, "entity deleted through the admin API");
        shared.audit.record(
            shared.clock.now_ms(),
            "entities",
            json!({ "operation": "delete", "entities": [{ "type": ty, "id": id }] }),
        );
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_entity",
            format!("the server holds no data for {ty}::{:?}", id),
        ))
    }
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Live", body = Object)))]
pub async fn live() -> Response {
    json_response(StatusCode::OK, br#"{"status":"live"}"#.to_vec())
}

/// A policy is loaded and requests are answered.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, description = "Ready", body = Object)))]
pub async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let world = shared.world();
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({ "status": "ready", "policy": world.engine.hash() }))
            .unwrap_or_default(),
    )
}

/// Prometheus metrics, in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain")))]
pub async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let world = shared.world();
    let text = shared.metrics.render(&world, &*shared.backend);
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}
