//! The authenticated API (`[auth]`): bearer JWTs on the HTTP and gRPC
//! APIs, their claims as the caller's principal and context, and a rate
//! limit on the API itself written in the policy.
//!
//! - `keys.rs` reads the key files (JWKS, PEM, HMAC secret);
//! - `verify.rs` verifies a token (allow-listed algorithm, signature,
//!   `exp`/`nbf`/`aud`/`iss`) into claims or a [`Rejection`];
//! - `claims.rs` maps claims to the caller ([`Identity`]) and binds store
//!   calls and authorization requests to it;
//! - `api_limit.rs` counts each call in the policy's domain;
//! - `http_guard.rs` and `grpc_guard.rs` are the two transports' layers.
//!
//! [`Auth`] lives in `Shared` when `[auth]` is configured, and only then
//! are the layers installed: without it a request pays one branch. The
//! keys are re-read and the mapping and domain checked against the new
//! policy on every reload ([`stage`], then [`Auth::publish`] once the new
//! world is in); a failure refuses the reload and the old keys stay.

pub mod api_limit;
pub mod claims;
pub mod grpc_guard;
pub mod http_guard;
pub mod keys;
pub mod verify;

use std::sync::Arc;

use arc_swap::ArcSwap;
use reaper_runtime::Engine;

pub use claims::Identity;

use self::api_limit::ApiLimit;
use self::claims::Mapping;
use self::keys::KeySet;
use self::verify::Verifier;
use crate::AuthSettings;
use crate::ops::ApiError;
use crate::state::{LoadError, Shared};

/// `[auth]` does not hold: the setting at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("{key}: {reason}")]
    Setting { key: String, reason: String },
}

/// Why a call was not authenticated: the metric label
/// (`reaper_auth_rejected_total{reason}`) and what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub description: String,
}

impl Rejection {
    pub fn new(reason: &'static str, description: impl Into<String>) -> Self {
        Rejection {
            reason,
            description: description.into(),
        }
    }

    /// Counts the rejection and says it as the API does (401).
    pub fn into_error(self) -> ApiError {
        count_rejection(self.reason);
        ApiError::unauthenticated(self.description)
    }
}

/// Counts one refused call by reason.
pub fn count_rejection(reason: &'static str) {
    metrics::counter!("reaper_auth_rejected_total", "reason" => reason).increment(1);
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Health, readiness, metrics, the OpenAPI document, reflection.
    Open,
    /// The admin API: its own token.
    Admin,
    /// Envoy's services: the token only with `require_for_envoy`.
    Envoy,
    /// Reaper's API.
    Api,
}

/// The authenticated API's configuration and current keys.
#[derive(Debug)]
pub struct Auth {
    settings: AuthSettings,
    /// `None`: no token is required (only the rate limit is on).
    verifier: Option<Verifier>,
    keys: ArcSwap<KeySet>,
    pub mapping: Option<Mapping>,
    pub limit: Option<ApiLimit>,
    pub require_for_envoy: bool,
}

/// Keys read for a reload, published once the new world is.
#[derive(Debug)]
pub struct Staged(KeySet);

impl Auth {
    /// Checks `settings`, reads the keys and checks the mapping and the
    /// rate-limit domain against `engine`'s policy.
    pub fn build(settings: &AuthSettings, engine: &Engine) -> Result<Auth, AuthError> {
        let verifier = Verifier::new(settings)?;
        let mapping = Mapping::new(settings)?;
        if verifier.is_none() && mapping.is_some() {
            return Err(AuthError::Setting {
                key: if settings.principal.is_some() {
                    "auth.principal".into()
                } else {
                    "auth.context".into()
                },
                reason: "maps claims, but no token is required: set auth.jwks_file, auth.public_keys or auth.hmac_secret_file".into(),
            });
        }
        let auth = Auth {
            settings: settings.clone(),
            verifier,
            keys: ArcSwap::from_pointee(KeySet::default()),
            mapping,
            limit: ApiLimit::new(settings)?,
            require_for_envoy: settings.require_for_envoy.unwrap_or(false),
        };
        let Staged(keys) = auth.stage(engine)?;
        auth.keys.store(Arc::new(keys));
        Ok(auth)
    }

    /// Reads the keys again and checks the configuration against
    /// `engine`'s policy, without changing what serves.
    pub fn stage(&self, engine: &Engine) -> Result<Staged, AuthError> {
        if let Some(mapping) = &self.mapping {
            mapping.check(engine)?;
        }
        if let Some(limit) = &self.limit {
            limit.check(engine)?;
        }
        let keys = match &self.verifier {
            Some(verifier) => {
                let keys = KeySet::load(&self.settings)?;
                if !verifier.usable(&keys) {
                    return Err(AuthError::Setting {
                        key: "auth.algorithms".into(),
                        reason: "no configured key can verify any of these algorithms".into(),
                    });
                }
                keys
            }
            None => KeySet::default(),
        };
        Ok(Staged(keys))
    }

    /// Puts keys read by [`Auth::stage`] in use.
    pub fn publish(&self, staged: Staged) {
        self.keys.store(Arc::new(staged.0));
    }

    /// Whether calls must carry a token.
    pub fn requires_token(&self) -> bool {
        self.verifier.is_some()
    }

    /// The caller of a call in `scope` whose `authorization` value is
    /// `header`: `Ok(None)` when the scope needs no token.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Option<Identity>, Rejection> {
        let Some(verifier) = &self.verifier else {
            return Ok(None);
        };
        let token = bearer(header)?;
        let claims = verifier.verify(&self.keys.load(), token)?;
        let mut identity = match &self.mapping {
            Some(mapping) => mapping.identity(&claims)?,
            None => Identity::default(),
        };
        if let Some(limit) = &self.limit {
            identity.client = claims::lookup(&claims, &limit.client_claim).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        }
        Ok(Some(identity))
    }

    /// Whether a call in `scope` is checked at all.
    pub fn covers(&self, scope: Scope) -> bool {
        match scope {
            Scope::Open | Scope::Admin => false,
            Scope::Envoy => self.require_for_envoy,
            Scope::Api => true,
        }
    }

    /// Whether authorization requests are bound to the token's principal.
    pub fn binds_authorize(&self) -> bool {
        self.mapping
            .as_ref()
            .is_some_and(|m| m.authorize && m.principal.is_some())
    }
}

/// The token of an `authorization: Bearer <token>` value.
fn bearer(header: Option<&[u8]>) -> Result<&str, Rejection> {
    let Some(value) = header else {
        return Err(Rejection::new(
            "missing",
            "no bearer token: send `authorization: Bearer <jwt>`",
        ));
    };
    let text = std::str::from_utf8(value)
        .map_err(|_| Rejection::new("malformed", "the authorization header is not text"))?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Rejection::new(
            "missing",
            "no bearer token: send `authorization: Bearer <jwt>`",
        ));
    }
    Ok(token.trim())
}

/// Builds `[auth]` for a server that has just loaded its first policy;
/// an error here means the server cannot start.
pub fn attach(mut shared: Shared, settings: &AuthSettings) -> Result<Shared, LoadError> {
    if !settings.is_configured() {
        return Ok(shared);
    }
    let auth = Auth::build(settings, &shared.world().engine)?;
    tracing::info!(
        token = auth.requires_token(),
        principal = auth
            .mapping
            .as_ref()
            .and_then(|m| m.principal.as_ref())
            .map(|p| p.0.as_str()),
        rate_limit = auth.limit.as_ref().map(|l| l.domain.as_str()),
        "the API is authenticated"
    );
    shared.auth = Some(Arc::new(auth));
    Ok(shared)
}

/// For a reload: `auth`'s keys read again and its settings checked
/// against the new policy (nothing when `[auth]` is not configured).
pub fn stage(auth: Option<&Arc<Auth>>, engine: &Engine) -> Result<Option<Staged>, LoadError> {
    match auth {
        Some(auth) => Ok(Some(auth.stage(engine)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
