//! Envoy ext_authz checks, whatever the transport (the gRPC `Check`, or
//! the HTTP-service mode): an HTTP request is mapped through the policy's
//! `http` block to an authorization request, completed from the held
//! entity data, and decided. A request the mapping cannot turn into an
//! authorization request (no route matches, a header is missing, an entity
//! is unknown) is denied with that reason and counted — never an internal
//! error. In dry run the answer is always allow; what the policy would
//! have answered is logged and counted.

use reaper_runtime::http::{HttpMapError, HttpRequest};
use serde_json::Value as Json;

use super::authorize::{Decided, decide_only};
use crate::observe::RequestRef;
use crate::state::{Shared, World};

/// The policy has no `http` block: there is nothing to check with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the policy has no `http` block, so it cannot check HTTP requests (docs/language.md, section 11)"
)]
pub struct NoMapping;

/// The outcome of one check.
#[derive(Debug)]
pub struct Checked {
    /// What to answer: the policy's decision, or allow in dry run.
    pub allow: bool,
    /// What the policy decided: false when the request did not map.
    pub policy_allows: bool,
    pub dry_run: bool,
    /// Why, short and printable: for the denied body and the logs.
    pub reason: String,
    /// The ids of the rules that decided.
    pub rules: Vec<String>,
    pub decision_id: String,
    /// Why the request did not map (a metric label), if it did not.
    pub unmapped: Option<&'static str>,
}

/// Checks one HTTP request in `world`.
pub fn check(
    shared: &Shared,
    world: &World,
    request: &HttpRequest,
    dry_run: bool,
) -> Result<Checked, NoMapping> {
    let engine = &world.engine;
    let started = std::time::Instant::now();
    let outcome = match engine.map_http(request) {
        Err(HttpMapError::NoMapping) => return Err(NoMapping),
        Err(error @ HttpMapError::NoRoute { .. }) => Err(("no_route", error.to_string())),
        Err(error @ HttpMapError::Failed { .. }) => Err(("mapping_failed", error.to_string())),
        Ok(mapped) => match unknown_entity(world, &mapped.request) {
            Some(why) => Err(("unknown_entity", why)),
            None => {
                let text = mapped.request.to_string();
                match engine.decode_request_with(&text, &world.held) {
                    Err(error) => Err((
                        "invalid_request",
                        format!("the mapped request is invalid: {error}"),
                    )),
                    Ok(prepared) => Ok((
                        decide_only(
                            shared,
                            engine,
                            &prepared,
                            "ext_authz",
                            RequestRef::Json(&text),
                        ),
                        mapped.request,
                    )),
                }
            }
        },
    };
    let checked = match outcome {
        Ok((decided, request)) => decided_check(world, decided, &request, dry_run),
        Err((label, reason)) => {
            shared.metrics.unmapped(label);
            shared
                .metrics
                .decision("ext_authz", false, started.elapsed());
            Checked {
                allow: dry_run,
                policy_allows: false,
                dry_run,
                reason,
                rules: Vec::new(),
                decision_id: shared.ids.next(shared.clock.now_ms()),
                unmapped: Some(label),
            }
        }
    };
    if dry_run {
        let would = if checked.policy_allows {
            "allow"
        } else {
            "deny"
        };
        shared.metrics.dry_run(would);
        if !checked.policy_allows {
            tracing::info!(
                decision_id = %checked.decision_id,
                method = %request.method,
                path = %request.path,
                reason = %checked.reason,
                policy = %engine.hash(),
                "dry run: the policy would deny this request; allowed"
            );
        }
    }
    Ok(checked)
}

fn decided_check(world: &World, decided: Decided, request: &Json, dry_run: bool) -> Checked {
    let engine = &world.engine;
    let rules: Vec<String> = decided
        .decision
        .reasons
        .iter()
        .map(|r| engine.rule_id(*r).to_owned())
        .collect();
    let allow = decided.decision.allow;
    let reason = if allow {
        format!("allowed by {}", rules.join(", "))
    } else if rules.is_empty() {
        format!(
            "no rule permits {} on {}",
            request["action"].as_str().unwrap_or("?"),
            entity_text(&request["resource"])
        )
    } else {
        format!("forbidden by {}", rules.join(", "))
    };
    Checked {
        allow: allow || dry_run,
        policy_allows: allow,
        dry_run,
        reason,
        rules,
        decision_id: decided.id,
        unmapped: None,
    }
}

/// `User::"ana"` from `{"type": "User", "id": "ana"}`.
fn entity_text(entity: &Json) -> String {
    format!(
        "{}::{}",
        entity["type"].as_str().unwrap_or("?"),
        Json::from(entity["id"].as_str().unwrap_or("?"))
    )
}

/// Why the mapped principal or resource is unknown: an entity of a type
/// with attributes that the server holds no data for. (Deciding without
/// its attributes would only make rules fail at run time.)
fn unknown_entity(world: &World, request: &Json) -> Option<String> {
    let schema = world.engine.schema();
    ["principal", "resource"].into_iter().find_map(|role| {
        let entity = &request[role];
        let ty = schema.entity_type_id(entity["type"].as_str()?)?;
        let def = schema.entity_type(ty)?;
        if def.attrs.fields.is_empty() || def.ids.is_some() {
            return None;
        }
        let uid = reaper_lang::value::Uid {
            ty,
            id: entity["id"].as_str()?.to_owned(),
        };
        world.held.get(&uid).is_none().then(|| {
            format!(
                "unknown {role} {}: the server holds no data for it",
                entity_text(entity)
            )
        })
    })
}
