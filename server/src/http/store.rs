//! `PUT|GET|DELETE /v1/store/{namespace}/{key}`: the TTL store over HTTP,
//! raw bytes in and out. Every call is an authorization request
//! (`store.read|write|delete` on `Store::"namespace"`) for the principal the
//! caller names in `x-reaper-principal` (`User::"ana"`, or the JSON
//! `{"type": "User", "id": "ana"}`) with the context it gives in
//! `x-reaper-context` (a JSON object of the package's context fields; the
//! server adds `key`, and for writes `ttl` and `size`). Denied → 403 with
//! the reasons. The work is `ops::store`'s; this module reads headers and
//! writes them.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reaper_lang::literal;
use serde::Deserialize;

use super::{ApiError, Body, DECISION_ID, POLICY, header_value};
use crate::auth::Identity;
use crate::ops::authorize::Decided;
use crate::ops::store::{self as ops, Caller, CallerFields, Write};
use crate::state::{Shared, World};

pub const PRINCIPAL: &str = "x-reaper-principal";
pub const CONTEXT: &str = "x-reaper-context";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutParams {
    /// The value's TTL in policy syntax (`30m`, `2h`); the namespace's
    /// `ttl` when absent.
    pub ttl: Option<String>,
}

/// Read a value.
#[utoipa::path(
    get,
    path = "/v1/store/{namespace}/{key}",
    tag = "store",
    params(
        ("namespace" = String, Path, description = "A store declared in the policy"),
        ("key" = String, Path, description = "The key"),
        ("x-reaper-principal" = String, Header, description = "Who reads: `User::\"ana\"`"),
        ("x-reaper-context" = Option<String>, Header, description = "The package's context fields, as a JSON object"),
    ),
    responses(
        (status = 200, description = "The value, as stored",
         headers(("x-reaper-expires-at" = String, description = "Absolute expiry, RFC 3339 (UTC, fractions of a second when not whole)"),
                 ("x-reaper-ttl-ms" = u64, description = "Milliseconds the value has left"))),
        (status = 400, description = "A missing or invalid principal or context", body = crate::ops::error::ErrorBody),
        (status = 403, description = "The policy denies the read", body = crate::ops::error::ErrorBody),
        (status = 404, description = "No such namespace, or no live value", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn get(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    identity: Option<Extension<Arc<Identity>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let world = shared.world();
    let caller = caller(&headers, identity.as_deref().map(Arc::as_ref));
    let got = ops::get(&shared, &world, &namespace, &key, &caller).await?;
    let mut response = (StatusCode::OK, got.value).into_response();
    let out = response.headers_mut();
    out.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    out.insert("x-reaper-expires-at", expires_at(got.expires_at));
    out.insert("x-reaper-ttl-ms", header_value(&got.ttl_ms.to_string()));
    tag(out, &world, &got.decided);
    Ok(response)
}

/// Write a value (create or replace; `If-None-Match: *` creates only).
#[utoipa::path(
    put,
    path = "/v1/store/{namespace}/{key}",
    tag = "store",
    params(
        ("namespace" = String, Path, description = "A store declared in the policy"),
        ("key" = String, Path, description = "The key"),
        PutParams,
        ("x-reaper-principal" = String, Header, description = "Who writes: `User::\"ana\"`"),
        ("x-reaper-context" = Option<String>, Header, description = "The package's context fields, as a JSON object"),
        ("if-none-match" = Option<String>, Header, description = "`*`: create only; refused with 412 if a live value exists"),
    ),
    request_body(content = Vec<u8>, description = "The value: any bytes", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored",
         headers(("x-reaper-expires-at" = String, description = "Absolute expiry"))),
        (status = 400, description = "A bad TTL (or above the namespace's max_ttl), principal or context", body = crate::ops::error::ErrorBody),
        (status = 403, description = "The policy denies the write", body = crate::ops::error::ErrorBody),
        (status = 404, description = "No such namespace", body = crate::ops::error::ErrorBody),
        (status = 412, description = "`If-None-Match: *` and a live value exists", body = crate::ops::error::ErrorBody),
        (status = 413, description = "The value is larger than the namespace's max_value", body = crate::ops::error::ErrorBody),
        (status = 507, description = "The namespace holds max_keys keys", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn put(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    params: Result<Query<PutParams>, axum::extract::rejection::QueryRejection>,
    identity: Option<Extension<Arc<Identity>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()).with_field("ttl")
    })?;
    let create_only = match headers.get(axum::http::header::IF_NONE_MATCH) {
        Some(v) if v.as_bytes() == b"*" => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "only `If-None-Match: *` (create only) is supported",
            )
            .with_field("if-none-match"));
        }
        None => false,
    };
    let world = shared.world();
    let write = Write {
        value: body.0,
        ttl: params.ttl.as_deref(),
        create_only,
    };
    let caller = caller(&headers, identity.as_deref().map(Arc::as_ref));
    let stored = ops::put(&shared, &world, &namespace, &key, &caller, write)
        .await
        .map_err(|mut e| {
            if e.body.error.code == "key_exists" {
                e.body.error.message.push_str(" (If-None-Match: *)");
            }
            e
        })?;
    let mut response = StatusCode::CREATED.into_response();
    let out = response.headers_mut();
    out.insert("x-reaper-expires-at", expires_at(stored.expires_at));
    tag(out, &world, &stored.decided);
    Ok(response)
}

/// Delete a value.
#[utoipa::path(
    delete,
    path = "/v1/store/{namespace}/{key}",
    tag = "store",
    params(
        ("namespace" = String, Path, description = "A store declared in the policy"),
        ("key" = String, Path, description = "The key"),
        ("x-reaper-principal" = String, Header, description = "Who deletes: `Service::\"api\"`"),
        ("x-reaper-context" = Option<String>, Header, description = "The package's context fields, as a JSON object"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The policy denies the delete", body = crate::ops::error::ErrorBody),
        (status = 404, description = "No such namespace, or no live value", body = crate::ops::error::ErrorBody),
    )
)]
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    identity: Option<Extension<Arc<Identity>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let world = shared.world();
    let caller = caller(&headers, identity.as_deref().map(Arc::as_ref));
    let decided = ops::delete(&shared, &world, &namespace, &key, &caller).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tag(response.headers_mut(), &world, &decided);
    Ok(response)
}

/// The caller as the principal and context headers name it, and as its
/// token says (`[auth]`).
fn caller<'a>(headers: &'a HeaderMap, identity: Option<&'a Identity>) -> Caller<'a> {
    Caller {
        principal: headers.get(PRINCIPAL).map(|v| v.to_str().unwrap_or("")),
        context: headers.get(CONTEXT).map(|v| {
            // Not text: a context that is not a JSON object either.
            v.to_str().unwrap_or("\u{0}")
        }),
        fields: CallerFields {
            principal: PRINCIPAL,
            context: CONTEXT,
        },
        identity,
    }
}

fn expires_at(ms: u64) -> HeaderValue {
    header_value(&literal::format_timestamp(
        i64::try_from(ms).unwrap_or(i64::MAX),
    ))
}

fn tag(headers: &mut HeaderMap, world: &World, decided: &Decided) {
    headers.insert(DECISION_ID, header_value(&decided.id));
    headers.insert(POLICY, header_value(world.engine.hash()));
}
