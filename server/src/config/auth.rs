//! The `[auth]` section: the JWTs the HTTP and gRPC APIs require, how their
//! claims become the caller's principal and context, and the rate limit on
//! the API itself. File-only. These are the settings as written; the
//! server checks them (keys readable, algorithms known, the mapping and the
//! rate-limit domain fitting the policy) when it starts, in `auth/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[auth]`; no token is asked for while it is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// A JSON Web Key Set (`{"keys": [...]}`) of the keys tokens are
    /// signed with; re-read on every reload.
    pub jwks_file: Option<PathBuf>,
    /// PEM public keys (RSA, EC or Ed25519), each a path or
    /// `{ file = "...", kid = "..." }`; re-read on every reload.
    #[serde(default)]
    pub public_keys: Vec<PublicKeySetting>,
    /// A shared secret for HS256/384/512 (surrounding whitespace ignored,
    /// at least 32 bytes). HMAC algorithms are refused without it.
    pub hmac_secret_file: Option<PathBuf>,
    /// The algorithms a token may be signed with: `["RS256", "ES256"]`.
    /// Required with any key; `none` is never accepted.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in policy syntax: `60s`.
    pub leeway: Option<String>,
    /// When set, a token's `aud` must name one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// When set, a token's `iss` must be one of these.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Whether Envoy's services (ext_authz `Check`, RLS `ShouldRateLimit`,
    /// and `/v1/ext_authz/`) require the token too; `false`: they rely on
    /// the transport (mTLS) as Envoy usually does.
    pub require_for_envoy: Option<bool>,
    /// `[auth.principal]`: the token names the caller's principal.
    pub principal: Option<PrincipalMapping>,
    /// `[auth.context]`: context field ← claim (a dotted path reaches
    /// into nested claims: `org.tenant`).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// `[auth.rate_limit]`: every API call counted in a policy domain.
    pub rate_limit: Option<ApiRateLimitSettings>,
}

/// A PEM public key: a path, or a path and the `kid` tokens name it by.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PublicKeySetting {
    Path(PathBuf),
    Keyed { file: PathBuf, kid: Option<String> },
}

impl PublicKeySetting {
    pub fn file(&self) -> &PathBuf {
        match self {
            PublicKeySetting::Path(file) | PublicKeySetting::Keyed { file, .. } => file,
        }
    }

    pub fn kid(&self) -> Option<&str> {
        match self {
            PublicKeySetting::Path(_) => None,
            PublicKeySetting::Keyed { kid, .. } => kid.as_deref(),
        }
    }
}

/// `[auth.principal]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalMapping {
    /// The principal's entity type: `Service`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The claim holding its id: `sub` by default.
    pub id_claim: Option<String>,
    /// Whether `/v1/authorize` (and gRPC `Authorize`) decide for the
    /// token's principal only.
    #[serde(default)]
    pub authorize: bool,
}

/// `[auth.rate_limit]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRateLimitSettings {
    /// A `ratelimit` domain of the policy: `reaper_api`.
    pub domain: String,
    /// The claim naming the client (`sub` by default); the peer's address
    /// when no token is required or the token lacks the claim.
    pub client_claim: Option<String>,
}

impl AuthSettings {
    /// Whether any `[auth]` setting is given.
    pub fn is_configured(&self) -> bool {
        *self != AuthSettings::default()
    }
}
