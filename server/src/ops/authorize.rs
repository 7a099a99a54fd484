//! Deciding authorization requests, whatever the transport: decode in the
//! world the request started in (completed from the held entity data),
//! decide, record metrics, log a forbid that failed, and say the decision
//! as both APIs do.

use std::sync::Arc;

use reaper_runtime::{Decision, Engine, Request};
use serde::Serialize;

use super::ApiError;
use crate::observe::{Record, RequestRef};
use crate::state::{Shared, World};

/// Most requests one batch may carry.
pub const MAX_BATCH: usize = 10_000;

/// A decision as the API answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionBody {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The ids of the rules that decided.
    pub reasons: Vec<String>,
    /// Rules that failed at run time (and so did not apply).
    pub errors: Vec<RuleError>,
    /// The hash of the policy that decided.
    pub policy: String,
    /// Unique, time-ordered to the millisecond; also in the
    /// `x-reaper-decision-id` header, and in the log line of a decision in
    /// which a forbid failed.
    pub decision_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleError {
    pub rule: String,
    pub error: String,
}

/// A decision and its id.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    pub id: String,
}

/// Decides a prepared request, records the metrics, and says it as the
/// API does.
pub fn decide(
    shared: &Shared,
    engine: &Arc<Engine>,
    request: &Request,
    kind: &'static str,
    logged: RequestRef<'_>,
) -> DecisionBody {
    body(engine, &decide_only(shared, engine, request, kind, logged))
}

/// Decides a prepared request and records the metrics and the decision
/// log; a forbid that failed is logged and counted here, whatever the
/// caller answers. `logged` is the request as the decision log shows it.
pub fn decide_only(
    shared: &Shared,
    engine: &Arc<Engine>,
    request: &Request,
    kind: &'static str,
    logged: RequestRef<'_>,
) -> Decided {
    let started = std::time::Instant::now();
    let decision = {
        let _span = crate::traced_span!("evaluate").entered();
        engine.authorize(request)
    };
    let latency = started.elapsed();
    shared.metrics.decision(kind, decision.allow, latency);
    let now = shared.clock.now_ms();
    let id = shared.ids.next(now);
    let forbid_failed = decision.errors.iter().any(|(rule, _)| {
        engine
            .bundle()
            .rules
            .get(*rule as usize)
            .is_some_and(|r| r.effect == reaper_lang::bundle::Effect::Forbid)
    });
    if forbid_failed {
        // A forbid that fails may hide a denial: say so loudly.
        shared.metrics.forbid_error();
        for (rule, error) in &decision.errors {
            tracing::warn!(
                decision_id = %id,
                rule = engine.rule_id(*rule),
                error = %error,
                allow = decision.allow,
                "a rule failed at run time; if it is a forbid, it may hide a denial"
            );
        }
    }
    if shared.decisions.wants(kind, forbid_failed) {
        shared.decisions.log(Record {
            time_ms: now,
            decision_id: id.clone(),
            kind,
            engine: Arc::clone(engine),
            request: logged.to_owned(),
            result: verdict(&decision),
            reasons: reason_ids(engine, &decision),
            errors: decision
                .errors
                .iter()
                .map(|(rule, error)| (engine.rule_id(*rule).to_owned(), error.to_string()))
                .collect(),
            forbid_errored: forbid_failed,
            latency,
            trace_id: crate::observe::tracing::current_trace_id(),
        });
    }
    Decided { decision, id }
}

/// `allow` or `deny`, as answers and decision logs say it.
fn verdict(decision: &Decision) -> &'static str {
    if decision.allow { "allow" } else { "deny" }
}

/// The ids of the rules that decided.
fn reason_ids(engine: &Engine, decision: &Decision) -> Vec<String> {
    decision
        .reasons
        .iter()
        .map(|r| engine.rule_id(*r).to_owned())
        .collect()
}

/// A decision as the API says it.
pub fn body(engine: &Engine, decided: &Decided) -> DecisionBody {
    let decision = &decided.decision;
    DecisionBody {
        decision: verdict(decision),
        reasons: reason_ids(engine, decision),
        errors: decision
            .errors
            .iter()
            .map(|(rule, error)| RuleError {
                rule: engine.rule_id(*rule).to_owned(),
                error: error.to_string(),
            })
            .collect(),
        policy: engine.hash().to_owned(),
        decision_id: decided.id.clone(),
    }
}

/// Decodes one request in `world`, completing it from held entity data.
pub fn prepare(world: &World, json: &str) -> Result<Request, ApiError> {
    let _span = crate::traced_span!("decode").entered();
    world
        .engine
        .decode_request_with(json, &world.held)
        .map_err(|e| ApiError::request(&e))
}
