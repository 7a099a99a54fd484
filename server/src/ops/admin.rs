//! Operations both APIs offer: the status report, the admin token check
//! (`authorization: Bearer <token>`, an HTTP header or gRPC metadata) and
//! an admin-triggered reload.

use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::ApiError;
use crate::backend::{Health, NamespaceStats};
use crate::state::{ReloadRecord, Shared};

/// What is serving: the policy, its counts, the backend, the last reload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub policy: PolicyInfo,
    /// Entities the server holds.
    pub entities: usize,
    pub backend: BackendInfo,
    #[schema(value_type = Object)]
    pub last_reload: ReloadRecord,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    pub hash: String,
    pub package: Option<String>,
    /// RFC 3339.
    pub loaded_at: String,
    pub rules: usize,
    pub limits: usize,
    pub domains: Vec<String>,
    pub stores: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackendInfo {
    pub kind: &'static str,
    /// Live rate-limit counters.
    pub counters: usize,
    #[schema(value_type = Vec<Object>)]
    pub namespaces: Vec<NamespaceStats>,
    /// Whether it answers; Redis latency and errors, mesh peers, failovers.
    #[schema(value_type = Object)]
    pub health: Health,
}

/// The server's state now.
pub fn status(shared: &Shared) -> Status {
    let world = shared.world();
    let engine = &world.engine;
    let bundle = engine.bundle();
    Status {
        policy: PolicyInfo {
            hash: engine.hash().to_owned(),
            package: engine.package().map(str::to_owned),
            loaded_at: reaper_lang::literal::format_timestamp(
                i64::try_from(world.loaded_at).unwrap_or(i64::MAX),
            ),
            rules: bundle.rules.len(),
            limits: bundle.domains.iter().map(|d| d.limits.len()).sum(),
            domains: bundle.domains.iter().map(|d| d.name.clone()).collect(),
            stores: engine
                .schema()
                .stores
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        },
        entities: world.held.len(),
        backend: BackendInfo {
            kind: shared.backend.kind(),
            counters: shared.backend.counters(),
            namespaces: shared.backend.namespaces(),
            health: shared.backend.health(),
        },
        last_reload: shared.last_reload(),
    }
}

/// Checks the admin token: refused (403) when none is configured,
/// unauthorized (401) when the caller's is missing or wrong.
pub fn check_admin(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &shared.admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled: start the server with --admin-token-file",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("send the admin token as `authorization: Bearer <token>`")
        })?;
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::unauthorized("the admin token is wrong"));
    }
    Ok(())
}

/// Compares without an early exit, so timing does not tell how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reloads the policy and entity files now; a refused reload is an error
/// saying which policy keeps serving.
pub async fn reload(shared: &std::sync::Arc<Shared>) -> Result<ReloadRecord, ApiError> {
    shared.reload("admin").await.map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload_refused",
            format!(
                "{error}; policy {} keeps serving",
                shared.world().engine.hash()
            ),
        )
    })
}
