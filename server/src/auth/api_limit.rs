//! The API's own rate limit, written in the policy as a `ratelimit`
//! domain: each call the auth layer covers is one rate-limit request
//! (descriptor `client` = the token's client claim or the peer's address,
//! `route` = the matched route or gRPC method), counted through the
//! backend exactly as Envoy's RLS requests are (`ops::ratelimit`), so the
//! limits are shared across sidecars when the backend is.

use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{Code, Descriptor, RateLimitRequest};

use super::AuthError;
use crate::AuthSettings;
use crate::ops::ApiError;
use crate::ops::ratelimit::{Outcome, decide};
use crate::state::Shared;

/// The claim naming the client unless `client_claim` says otherwise.
pub const DEFAULT_CLIENT_CLAIM: &str = "sub";

#[derive(Debug, Clone)]
pub struct ApiLimit {
    pub domain: String,
    pub client_claim: String,
}

/// Why a call may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// Over the limit: retry after this many seconds.
    Limited(u64),
    /// The backend could not count.
    Backend(ApiError),
}

impl ApiLimit {
    pub fn new(settings: &AuthSettings) -> Result<Option<ApiLimit>, AuthError> {
        let Some(limit) = &settings.rate_limit else {
            return Ok(None);
        };
        if limit.domain.trim().is_empty() {
            return Err(AuthError::Setting {
                key: "auth.rate_limit.domain".into(),
                reason: "names no domain".into(),
            });
        }
        Ok(Some(ApiLimit {
            domain: limit.domain.clone(),
            client_claim: limit
                .client_claim
                .clone()
                .unwrap_or_else(|| DEFAULT_CLIENT_CLAIM.to_owned()),
        }))
    }

    /// The domain must be one of the policy's.
    pub fn check(&self, engine: &Engine) -> Result<(), AuthError> {
        let domains = &engine.bundle().domains;
        if domains.iter().any(|d| d.name == self.domain) {
            return Ok(());
        }
        let known: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
        Err(AuthError::Setting {
            key: "auth.rate_limit.domain".into(),
            reason: format!(
                "the policy declares no ratelimit domain `{}` ({})",
                self.domain,
                if known.is_empty() {
                    "it declares none".to_owned()
                } else {
                    format!("it declares {}", known.join(", "))
                }
            ),
        })
    }

    /// Counts one call of `client` to `route`.
    pub async fn count(&self, shared: &Shared, client: &str, route: &str) -> Result<(), Refusal> {
        let world = shared.world();
        let request = RateLimitRequest {
            domain: self.domain.clone(),
            descriptors: vec![Descriptor::new(vec![("client", client), ("route", route)])],
            hits_addend: 1,
        };
        match decide(shared, &world, &request).await {
            Ok(Outcome::Decided(response)) if response.overall == Code::OverLimit => {
                let reset_ms = response
                    .statuses
                    .iter()
                    .filter(|s| s.code == Code::OverLimit)
                    .filter_map(|s| s.current())
                    .map(|c| c.reset_ms)
                    .max()
                    .unwrap_or(1000);
                metrics::counter!("reaper_api_rate_limited_total").increment(1);
                Err(Refusal::Limited(reset_ms.div_ceil(1000).max(1)))
            }
            Ok(_) => Ok(()),
            Err(error) => Err(Refusal::Backend(error.into())),
        }
    }
}
