//! Rate-limit decisions, whatever the transport: the policy plans the
//! counter hits, the backend counts them all in one round trip, the policy
//! reads the counts.

use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{RateLimitError, RateLimitRequest, RateLimitResponse};

use std::sync::Arc;

use tracing::Instrument;

use crate::backend::BackendError;
use crate::observe::decision_log;
use crate::observe::{LoggedRequest, Record};
use crate::state::{Shared, World};

/// What a rate-limit request got.
#[derive(Debug)]
pub enum Outcome {
    Decided(RateLimitResponse),
    /// The policy declares no such domain: OK for every descriptor, as
    /// lyft/ratelimit answers (and counted in a metric).
    UnknownDomain,
}

/// Counts `request` and decides, in `world`'s policy, through the backend.
pub async fn decide(
    shared: &Shared,
    world: &World,
    request: &RateLimitRequest,
) -> Result<Outcome, BackendError> {
    let engine = &world.engine;
    let started = std::time::Instant::now();
    let plan = match engine.plan_rate_limit(request) {
        Ok(plan) => plan,
        Err(RateLimitError::UnknownDomain(domain)) => {
            shared.metrics.unknown_domain(&domain);
            return Ok(Outcome::UnknownDomain);
        }
    };
    let now = shared.clock.now_ms();
    let hits = shared
        .backend
        .count(&request.domain, &plan.hits, now)
        .instrument(crate::traced_span!(
            "backend.count",
            backend = shared.backend.kind()
        ))
        .await?;
    let response = Engine::complete_rate_limit(plan, hits);
    let latency = started.elapsed();
    shared.metrics.rate_limit(
        world.limit_metrics.get(&request.domain).map(Vec::as_slice),
        request,
        &response,
        latency,
    );
    let errored = response.statuses.iter().any(|s| !s.errors.is_empty());
    if shared.decisions.wants("rate_limit", errored) {
        let (result, reasons, errors) =
            decision_log::rate_limit_result(engine, &request.domain, &response);
        shared.decisions.log(Record {
            time_ms: now,
            decision_id: shared.ids.next(now),
            kind: "rate_limit",
            engine: Arc::clone(engine),
            request: LoggedRequest::RateLimit(request.clone()),
            result,
            reasons,
            errors,
            forbid_errored: false,
            latency,
            trace_id: crate::observe::tracing::current_trace_id(),
        });
    }
    Ok(Outcome::Decided(response))
}
