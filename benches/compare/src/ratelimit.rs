//! The limitador side of the rate-limit comparison: an in-memory
//! `RateLimiter` holding the equivalent of `policies/ratelimit/limits.reaper`,
//! asked the way limitador-server answers Envoy's `ShouldRateLimit`: the
//! descriptors bound as the CEL list `descriptors`, then
//! `check_rate_limited_and_update` with a hit of 1.

use std::collections::HashMap;

use limitador::RateLimiter;
use limitador::limit::{Context, Expression, Limit, Namespace, Predicate};

pub const REAPER_LIMITS: &str = include_str!("../policies/ratelimit/limits.reaper");

pub const DOMAIN: &str = "edge";
pub const MAX_VALUE: u64 = 1_000_000_000;
pub const SECONDS: u64 = 60;

/// The limit `per_user`, as limitador's CEL condition and variable.
pub fn limit() -> Limit {
    let condition = Predicate::parse("'user_id' in descriptors[0]").expect("CEL condition");
    let variable = Expression::parse("descriptors[0].user_id").expect("CEL variable");
    let mut limit = Limit::new(DOMAIN, MAX_VALUE, SECONDS, [condition], [variable]);
    limit.set_name("per_user".to_owned());
    limit
}

/// An in-memory limiter holding [`limit`].
pub fn limiter() -> RateLimiter {
    let limiter = RateLimiter::new(10_000);
    limiter.add_limit(limit());
    limiter
}

pub fn namespace() -> Namespace {
    DOMAIN.into()
}

/// The request context for one descriptor, as limitador-server builds it from
/// Envoy's descriptor entries.
pub fn context(entries: &[(&str, &str)]) -> Context<'static> {
    let descriptor: HashMap<String, String> = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut ctx = Context::default();
    ctx.list_binding("descriptors".to_owned(), vec![descriptor]);
    ctx
}

/// One decision with a hit of 1: `true` when the request is within limits.
pub fn check(limiter: &RateLimiter, namespace: &Namespace, ctx: &Context<'_>) -> bool {
    !limiter
        .check_rate_limited_and_update(namespace, ctx, 1)
        .expect("limitador check")
        .limited
}
