//! `PUT|GET|DELETE /v1/store/{namespace}/{key}`: the TTL store over HTTP,
//! raw bytes in and out. Every call is an authorization request
//! (`store.read|write|delete` on `Store::"namespace"`) for the principal the
//! caller names in `x-reaper-principal` (`User::"ana"`, or the JSON
//! `{"type": "User", "id": "ana"}`) with the context it gives in
//! `x-reaper-context` (a JSON object of the package's context fields; the
//! server adds `key`, and for writes `ttl` and `size`). Denied → 403 with
//! the reasons.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reaper_lang::limits::StoreSpec;
use reaper_lang::literal;
use serde::Deserialize;

use super::authorize::{Decided, body, decide_only, prepare};
use super::{ApiError, Body, DECISION_ID, POLICY, header_value};
use crate::backend::{Put, PutError};
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
        (status = 400, description = "A missing or invalid principal or context", body = super::error::ErrorBody),
        (status = 403, description = "The policy denies the read", body = super::error::ErrorBody),
        (status = 404, description = "No such namespace, or no live value", body = super::error::ErrorBody),
    )
)]
pub async fn get(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let world = shared.world();
    store_spec(&world, &namespace)?;
    let decision = authorize(
        &shared,
        &world,
        &headers,
        "store.read",
        &namespace,
        &key,
        None,
    )?;
    let now = shared.clock.now_ms();
    let stored = shared.backend.get(&namespace, &key, now).await?;
    shared
        .metrics
        .store("read", if stored.is_some() { "hit" } else { "miss" });
    let Some(stored) = stored else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_key",
            format!("namespace `{namespace}` holds no live value for this key"),
        ));
    };
    let mut response = (StatusCode::OK, stored.value).into_response();
    let out = response.headers_mut();
    out.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    out.insert(
        "x-reaper-expires-at",
        header_value(&literal::format_timestamp(
            i64::try_from(stored.expires_at).unwrap_or(i64::MAX),
        )),
    );
    out.insert(
        "x-reaper-ttl-ms",
        header_value(&stored.expires_at.saturating_sub(now).to_string()),
    );
    tag(out, &world, &decision);
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
        (status = 400, description = "A bad TTL (or above the namespace's max_ttl), principal or context", body = super::error::ErrorBody),
        (status = 403, description = "The policy denies the write", body = super::error::ErrorBody),
        (status = 404, description = "No such namespace", body = super::error::ErrorBody),
        (status = 412, description = "`If-None-Match: *` and a live value exists", body = super::error::ErrorBody),
        (status = 413, description = "The value is larger than the namespace's max_value", body = super::error::ErrorBody),
        (status = 507, description = "The namespace holds max_keys keys", body = super::error::ErrorBody),
    )
)]
pub async fn put(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    params: Result<Query<PutParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()).with_field("ttl")
    })?;
    let world = shared.world();
    let spec = store_spec(&world, &namespace)?;
    let ttl_ms = match &params.ttl {
        Some(text) => {
            let ms = literal::parse_duration(text).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_ttl", e.to_string())
                    .with_field("ttl")
            })?;
            u64::try_from(ms).ok().filter(|ms| *ms > 0).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_ttl",
                    format!("the TTL `{text}` must be positive"),
                )
                .with_field("ttl")
            })?
        }
        None => spec.ttl_ms,
    };
    let size = body.0.len();
    let decision = authorize(
        &shared,
        &world,
        &headers,
        "store.write",
        &namespace,
        &key,
        Some((ttl_ms, size)),
    )?;
    if ttl_ms > spec.max_ttl_ms {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ttl_above_max",
            format!(
                "the TTL {} is above namespace `{namespace}`'s max_ttl {}",
                literal::format_duration(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
                literal::format_duration(i64::try_from(spec.max_ttl_ms).unwrap_or(i64::MAX)),
            ),
        )
        .with_field("ttl"));
    }
    if let Some(max) = spec.max_value_bytes
        && size as u64 > max
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
            format!(
                "the value is {size} bytes; namespace `{namespace}` holds values of at most {max} bytes"
            ),
        ));
    }
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
    let now = shared.clock.now_ms();
    let expires_at = now.saturating_add(ttl_ms);
    let result = shared
        .backend
        .put(
            Put {
                namespace: &namespace,
                key: &key,
                // A copy: the body may be a slice of a much larger read buffer,
                // which storing it would keep alive for the whole TTL.
                value: bytes::Bytes::copy_from_slice(&body.0),
                expires_at,
                create_only,
                max_keys: spec.max_keys,
            },
            now,
        )
        .await;
    match result {
        Ok(()) => {
            shared.metrics.store("write", "stored");
            let mut response = StatusCode::CREATED.into_response();
            let out = response.headers_mut();
            out.insert(
                "x-reaper-expires-at",
                header_value(&literal::format_timestamp(
                    i64::try_from(expires_at).unwrap_or(i64::MAX),
                )),
            );
            tag(out, &world, &decision);
            Ok(response)
        }
        Err(PutError::Exists) => {
            shared.metrics.store("write", "exists");
            Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "key_exists",
                "a live value exists and the write asked to create only (If-None-Match: *)",
            ))
        }
        Err(PutError::Full) => {
            shared.metrics.store("write", "full");
            Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "namespace_full",
                format!(
                    "namespace `{namespace}` holds its max_keys of {} keys; nothing is evicted to make room",
                    spec.max_keys.unwrap_or(0)
                ),
            ))
        }
        Err(PutError::Unavailable(e)) => Err(e.into()),
    }
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
        (status = 403, description = "The policy denies the delete", body = super::error::ErrorBody),
        (status = 404, description = "No such namespace, or no live value", body = super::error::ErrorBody),
    )
)]
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((namespace, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let world = shared.world();
    store_spec(&world, &namespace)?;
    let decision = authorize(
        &shared,
        &world,
        &headers,
        "store.delete",
        &namespace,
        &key,
        None,
    )?;
    let deleted = shared
        .backend
        .delete(&namespace, &key, shared.clock.now_ms())
        .await?;
    shared
        .metrics
        .store("delete", if deleted { "deleted" } else { "miss" });
    if !deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_key",
            format!("namespace `{namespace}` holds no live value for this key"),
        ));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    tag(response.headers_mut(), &world, &decision);
    Ok(response)
}

fn store_spec<'w>(world: &'w World, namespace: &str) -> Result<&'w StoreSpec, ApiError> {
    world.engine.store(namespace).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_namespace",
            format!("the policy declares no store `{namespace}`"),
        )
    })
}

fn tag(headers: &mut HeaderMap, world: &World, decided: &Decided) {
    headers.insert(DECISION_ID, header_value(&decided.id));
    headers.insert(POLICY, header_value(world.engine.hash()));
}

/// Authorizes a store access; a denial is a 403 carrying the decision.
fn authorize(
    shared: &Shared,
    world: &World,
    headers: &HeaderMap,
    action: &'static str,
    namespace: &str,
    key: &str,
    write: Option<(u64, usize)>,
) -> Result<Decided, ApiError> {
    let request = store_request(headers, action, namespace, key, write)?;
    let prepared = prepare(world, &request)?;
    let decided = decide_only(shared, &world.engine, &prepared, "store");
    if decided.decision.allow {
        return Ok(decided);
    }
    let decision = body(&world.engine, &decided);
    shared
        .metrics
        .store(action.trim_start_matches("store."), "denied");
    let mut error = ApiError::new(
        StatusCode::FORBIDDEN,
        "denied",
        format!(
            "the policy denies {action} on Store::\"{namespace}\"{}",
            if decision.reasons.is_empty() {
                " (no rule permits it)".to_owned()
            } else {
                format!(" (forbidden by {})", decision.reasons.join(", "))
            }
        ),
    );
    error.body.error.field = None;
    Err(ApiError::denied(error, decision))
}

/// The authorization request of a store access, as JSON text: the
/// principal header as the principal, the context header's fields plus
/// `key` (and for writes `ttl` and `size`) as the context. Written
/// directly (no JSON tree): this runs on every store call. The context
/// header is checked to be one JSON object first; a field it repeats
/// (`key`) is refused by the decoder, which refuses repeated keys.
fn store_request(
    headers: &HeaderMap,
    action: &str,
    namespace: &str,
    key: &str,
    write: Option<(u64, usize)>,
) -> Result<String, ApiError> {
    let invalid = |code, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, code, message).with_field(CONTEXT)
    };
    let fields = match headers.get(CONTEXT) {
        None => "",
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| invalid("invalid_request", "the context header is not text".into()))?
                .trim();
            serde_json::from_str::<&serde_json::value::RawValue>(text).map_err(|e| {
                invalid(
                    "malformed_json",
                    format!("malformed JSON in the context header: {e}"),
                )
            })?;
            let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
                return Err(invalid(
                    "invalid_request",
                    "the context header holds a JSON object of context fields".into(),
                ));
            };
            inner.trim()
        }
    };
    let mut out = String::with_capacity(160 + fields.len() + key.len());
    out.push_str("{\"principal\":");
    out.push_str(&principal(headers)?);
    out.push_str(",\"action\":");
    push_json_string(&mut out, action);
    out.push_str(",\"resource\":{\"type\":\"Store\",\"id\":");
    push_json_string(&mut out, namespace);
    out.push_str("},\"context\":{");
    if !fields.is_empty() {
        out.push_str(fields);
        out.push(',');
    }
    out.push_str("\"key\":");
    push_json_string(&mut out, key);
    if let Some((ttl_ms, size)) = write {
        out.push_str(",\"ttl\":");
        push_json_string(
            &mut out,
            &literal::format_duration(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
        );
        out.push_str(",\"size\":");
        out.push_str(&size.to_string());
    }
    out.push_str("}}");
    Ok(out)
}

fn push_json_string(out: &mut String, text: &str) {
    // Writing JSON into a String cannot fail.
    let _ = serde_json::to_writer(string_writer(out), text);
}

/// A `std::io::Write` over a `String` that only ever receives serde_json's
/// output, which is UTF-8.
fn string_writer(out: &mut String) -> impl std::io::Write + '_ {
    struct Writer<'a>(&'a mut String);
    impl std::io::Write for Writer<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
            self.0.push_str(text);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    Writer(out)
}

/// The principal header as an entity reference in request JSON.
fn principal(headers: &HeaderMap) -> Result<String, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "name the principal in the x-reaper-principal header: `User::\"ana\"`",
        )
        .with_field(PRINCIPAL)
    };
    let text = headers
        .get(PRINCIPAL)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?
        .trim();
    let (ty, id) = if text.starts_with('{') {
        // A reference only: the principal's data comes from the server's
        // entity data, never from the header.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Reference {
            #[serde(rename = "type")]
            ty: String,
            id: String,
        }
        let reference: Reference = serde_json::from_str(text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("the principal header holds `{{\"type\": …, \"id\": …}}`: {e}"),
            )
            .with_field(PRINCIPAL)
        })?;
        (reference.ty, reference.id)
    } else {
        let Some((ty, id)) = text.split_once("::") else {
            return Err(missing());
        };
        let id: String = serde_json::from_str(id).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the principal's id is a quoted string: `User::\"ana\"`",
            )
            .with_field(PRINCIPAL)
        })?;
        (ty.to_owned(), id)
    };
    let ty = ty.as_str();
    let mut out = String::with_capacity(24 + ty.len() + id.len());
    out.push_str("{\"type\":");
    push_json_string(&mut out, ty);
    out.push_str(",\"id\":");
    push_json_string(&mut out, &id);
    out.push('}');
    Ok(out)
}
