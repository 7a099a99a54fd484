//! The TTL store, whatever the transport. Every access is an
//! authorization request (`store.read|write|delete` on
//! `Store::"namespace"`) for the principal the caller names (`User::"ana"`,
//! or the JSON `{"type": "User", "id": "ana"}`) with the context fields it
//! gives (a JSON object; the server adds `key`, and for writes `ttl` and
//! `size`). A denial is a 403 / PERMISSION_DENIED carrying the decision.

use axum::http::StatusCode;
use bytes::Bytes;
use reaper_lang::limits::StoreSpec;
use reaper_runtime::store::access::{self, AccessError};

use super::ApiError;
use super::authorize::{Decided, body, decide_only, prepare};
use crate::backend::{Put, PutError};
use crate::observe::RequestRef;
use crate::state::{Shared, World};
use tracing::Instrument;

/// Who accesses the store, as the transport gives it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `User::"ana"` or `{"type": "User", "id": "ana"}`.
    pub principal: Option<&'a str>,
    /// A JSON object of context fields.
    pub context: Option<&'a str>,
    /// How errors name the two (HTTP headers, gRPC fields).
    pub fields: CallerFields,
    /// The caller as its bearer token says (`[auth]`): its principal wins
    /// over the one named (a different one is refused), and its mapped
    /// context fields are the claims'.
    pub identity: Option<&'a crate::auth::Identity>,
}

#[derive(Debug, Clone, Copy)]
pub struct CallerFields {
    pub principal: &'static str,
    pub context: &'static str,
}

/// A live value and the decision that let it be read.
#[derive(Debug)]
pub struct Got {
    pub value: Bytes,
    pub expires_at: u64,
    /// Milliseconds the value has left.
    pub ttl_ms: u64,
    pub decided: Decided,
}

/// A write: the value, its TTL in policy syntax (the namespace's `ttl`
/// when `None`), and whether only a create may happen.
#[derive(Debug)]
pub struct Write<'a> {
    pub value: Bytes,
    pub ttl: Option<&'a str>,
    pub create_only: bool,
}

/// A stored value's absolute expiry and the decision that let it be
/// written.
#[derive(Debug)]
pub struct Stored {
    pub expires_at: u64,
    pub decided: Decided,
}

/// Reads a live value.
pub async fn get(
    shared: &Shared,
    world: &World,
    namespace: &str,
    key: &str,
    caller: &Caller<'_>,
) -> Result<Got, ApiError> {
    store_spec(world, namespace)?;
    let decided = authorize(shared, world, caller, "store.read", namespace, key, None)?;
    let now = shared.clock.now_ms();
    let stored = shared
        .backend
        .get(namespace, key, now)
        .instrument(crate::traced_span!("store.get", namespace = namespace))
        .await?;
    shared
        .metrics
        .store("read", if stored.is_some() { "hit" } else { "miss" });
    let stored = stored.ok_or_else(|| no_such_key(namespace))?;
    Ok(Got {
        value: stored.value,
        expires_at: stored.expires_at,
        ttl_ms: stored.expires_at.saturating_sub(now),
        decided,
    })
}

/// Writes a value (create or replace, or create only).
pub async fn put(
    shared: &Shared,
    world: &World,
    namespace: &str,
    key: &str,
    caller: &Caller<'_>,
    write: Write<'_>,
) -> Result<Stored, ApiError> {
    let spec = store_spec(world, namespace)?;
    let ttl_ms = match write.ttl.filter(|t| !t.is_empty()) {
        Some(text) => access::parse_ttl(text).map_err(access_error)?,
        None => spec.ttl_ms,
    };
    let size = write.value.len();
    let decided = authorize(
        shared,
        world,
        caller,
        "store.write",
        namespace,
        key,
        Some((ttl_ms, size)),
    )?;
    access::check_write(spec, ttl_ms, size).map_err(access_error)?;
    let now = shared.clock.now_ms();
    let expires_at = now.saturating_add(ttl_ms);
    let result = shared
        .backend
        .put(
            Put {
                namespace,
                key,
                // A copy: the value may be a slice of a much larger read
                // buffer, which storing it would keep alive for the whole TTL.
                value: Bytes::copy_from_slice(&write.value),
                expires_at,
                create_only: write.create_only,
                max_keys: spec.max_keys,
            },
            now,
        )
        .instrument(crate::traced_span!("store.put", namespace = namespace))
        .await;
    match result {
        Ok(()) => {
            shared.metrics.store("write", "stored");
            Ok(Stored {
                expires_at,
                decided,
            })
        }
        Err(PutError::Exists) => {
            shared.metrics.store("write", "exists");
            Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "key_exists",
                "a live value exists and the write asked to create only",
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

/// Deletes a live value.
pub async fn delete(
    shared: &Shared,
    world: &World,
    namespace: &str,
    key: &str,
    caller: &Caller<'_>,
) -> Result<Decided, ApiError> {
    store_spec(world, namespace)?;
    let decided = authorize(shared, world, caller, "store.delete", namespace, key, None)?;
    let deleted = shared
        .backend
        .delete(namespace, key, shared.clock.now_ms())
        .instrument(crate::traced_span!("store.delete", namespace = namespace))
        .await?;
    shared
        .metrics
        .store("delete", if deleted { "deleted" } else { "miss" });
    if !deleted {
        return Err(no_such_key(namespace));
    }
    Ok(decided)
}

fn no_such_key(namespace: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_key",
        format!("namespace `{namespace}` holds no live value for this key"),
    )
}

fn store_spec<'w>(world: &'w World, namespace: &str) -> Result<&'w StoreSpec, ApiError> {
    world
        .engine
        .store(namespace)
        .ok_or_else(|| access_error(AccessError::UnknownNamespace(namespace.to_owned())))
}

/// A refused store access as the API answers it.
fn access_error(error: AccessError) -> ApiError {
    let message = error.to_string();
    match error {
        AccessError::UnknownNamespace(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_namespace", message)
        }
        AccessError::InvalidTtl(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_ttl", message).with_field("ttl")
        }
        AccessError::TtlAboveMax { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "ttl_above_max", message).with_field("ttl")
        }
        AccessError::ValueTooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "value_too_large", message)
        }
    }
}

/// Authorizes a store access; a denial is a 403 carrying the decision.
fn authorize(
    shared: &Shared,
    world: &World,
    caller: &Caller<'_>,
    action: &'static str,
    namespace: &str,
    key: &str,
    write: Option<(u64, usize)>,
) -> Result<Decided, ApiError> {
    let request = store_request(caller, action, namespace, key, write)?;
    let prepared =
        prepare(world, &request).map_err(|e| crate::auth::claims::explain(caller.identity, e))?;
    let decided = decide_only(
        shared,
        &world.engine,
        &prepared,
        "store",
        RequestRef::Json(&request),
    );
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

/// The authorization request of a store access
/// ([`access::access_request`]) for the caller's principal and context
/// fields; the context is checked to be one JSON object first.
fn store_request(
    caller: &Caller<'_>,
    action: &str,
    namespace: &str,
    key: &str,
    write: Option<(u64, usize)>,
) -> Result<String, ApiError> {
    let invalid = |code, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, code, message).with_field(caller.fields.context)
    };
    let fields = match caller.context.map(str::trim) {
        None | Some("") => "",
        Some(text) => {
            serde_json::from_str::<&serde_json::value::RawValue>(text).map_err(|e| {
                invalid(
                    "malformed_json",
                    format!("malformed JSON in the context: {e}"),
                )
            })?;
            let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
                return Err(invalid(
                    "invalid_request",
                    "the context is a JSON object of context fields".into(),
                ));
            };
            inner.trim()
        }
    };
    let bound;
    let fields = match caller.identity.filter(|i| !i.context.is_empty()) {
        Some(identity) => {
            bound = crate::auth::claims::bound_context_fields(identity, fields)
                .map_err(|e| e.with_field(caller.fields.context))?;
            bound.as_str()
        }
        None => fields,
    };
    Ok(access::access_request(
        &principal(caller)?,
        action,
        namespace,
        key,
        fields,
        write,
    ))
}

/// The caller's principal as an entity reference in request JSON.
fn principal(caller: &Caller<'_>) -> Result<String, ApiError> {
    let field = caller.fields.principal;
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("name the principal in {field}: `User::\"ana\"`"),
        )
        .with_field(field)
    };
    let named = caller.principal.map(str::trim).filter(|t| !t.is_empty());
    let bound = caller.identity.and_then(|i| i.principal.as_ref());
    let text = match (named, bound) {
        (Some(text), _) => text,
        // The token names the principal; the header may be left out.
        (None, Some((ty, id))) => return Ok(access::entity_reference(ty, id)),
        (None, None) => return Err(missing()),
    };
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
                format!("the principal is `{{\"type\": …, \"id\": …}}`: {e}"),
            )
            .with_field(field)
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
            .with_field(field)
        })?;
        (ty.to_owned(), id)
    };
    if let Some(identity) = caller.identity {
        crate::auth::claims::check_principal(identity, &ty, &id)?;
    }
    Ok(access::entity_reference(&ty, &id))
}
