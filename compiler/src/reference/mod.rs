//! The reference evaluator: a plain tree walk over the [typed](crate::typed)
//! tree that defines what a decision is, used as the test oracle for the
//! bytecode VM. It shares nothing with lowering or the runtime except the
//! leaf helpers every evaluator must agree on (`like` matching, IP facts,
//! and a rule's [scope](crate::lower::index::scope)).
//!
//! **Invariant:** this module favours being obviously right over being fast:
//! no folding, no caching, no interning; each operator is one match arm that
//! reads like the language reference (`docs/language.md` §6–§9).

mod eval;
pub(crate) mod ops;
#[cfg(test)]
mod tests;

use reaper_lang::eval::EvalError;
use reaper_lang::request::Request;
use reaper_lang::value::Uid;

use crate::lower::index::{RuleScope, scope};
use crate::typed::{Condition, ConditionKind, Effect, Package, Rule};

use eval::{Evaluator, Halt, Input};

/// The answer to one authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    /// The ids of the rules that determined the decision, in rule order: the
    /// forbids that applied, else the permits that applied, else none.
    pub reasons: Vec<String>,
    /// Every rule that was evaluated and failed, with its first error, in
    /// rule order.
    pub errors: Vec<(String, EvalError)>,
}

/// What evaluating one rule for one request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its head or scope does not match: it was not evaluated at all.
    NotCandidate,
    /// Evaluated; whether all its conditions held.
    Applies(bool),
    /// Evaluated, and failed with this (first) error.
    Failed(EvalError),
}

/// Decides `request` against the rules of `package` (`docs/language.md` §8).
pub fn authorize(package: &Package, request: &Request) -> Decision {
    let mut forbids = Vec::new();
    let mut permits = Vec::new();
    let mut errors = Vec::new();
    for rule in &package.rules {
        match rule_outcome(package, rule, request) {
            Outcome::NotCandidate | Outcome::Applies(false) => {}
            Outcome::Applies(true) => match rule.effect {
                Effect::Forbid => forbids.push(rule.id.clone()),
                Effect::Permit => permits.push(rule.id.clone()),
            },
            Outcome::Failed(error) => errors.push((rule.id.clone(), error)),
        }
    }
    let (allow, reasons) = if !forbids.is_empty() {
        (false, forbids)
    } else if !permits.is_empty() {
        (true, permits)
    } else {
        (false, Vec::new())
    };
    Decision {
        allow,
        reasons,
        errors,
    }
}

/// Evaluates one rule for `request`.
pub fn rule_outcome(package: &Package, rule: &Rule, request: &Request) -> Outcome {
    if !is_candidate(package, rule, request) {
        return Outcome::NotCandidate;
    }
    let evaluator = Evaluator::new(&package.schema, Input::Request(request));
    match conditions_hold(&evaluator, &rule.conditions) {
        Ok(holds) => Outcome::Applies(holds),
        Err(Halt::Error(error)) => Outcome::Failed(error),
        // Only descriptor reads stop this way, and rules cannot read one.
        Err(Halt::NotApplicable) => Outcome::Failed(EvalError::Malformed("descriptor in a rule")),
    }
}

/// Whether the rule's head (action, resource type) and its literal scope
/// match the request, so that its conditions are evaluated at all.
pub fn is_candidate(package: &Package, rule: &Rule, request: &Request) -> bool {
    if !rule.actions.contains(&request.action)
        || !rule.resource_types.contains(&request.resource.ty)
    {
        return false;
    }
    match scope(rule, &package.schema) {
        RuleScope::Any => true,
        RuleScope::PrincipalIs(uid) => request.principal == uid,
        RuleScope::ResourceIs(uid) => request.resource == uid,
        RuleScope::PrincipalIn(uid) => descends(request, &request.principal, &uid),
        RuleScope::ResourceIn(uid) => descends(request, &request.resource, &uid),
    }
}

/// Whether `entity` is `ancestor` or has it among its transitive parents.
/// Only entities whose data the request carries have parents; cycles in the
/// data are visited once.
pub fn descends(request: &Request, entity: &Uid, ancestor: &Uid) -> bool {
    let mut seen: Vec<&Uid> = vec![entity];
    let mut next = 0;
    while let Some(current) = seen.get(next).copied() {
        next += 1;
        if current == ancestor {
            return true;
        }
        for parent in request.entity(current).map_or(&[][..], |e| &e.parents) {
            if !seen.contains(&parent) {
                seen.push(parent);
            }
        }
    }
    false
}

/// `when`s true and `unless`es false, in order, stopping at the first clause
/// that decides `false` or fails.
fn conditions_hold(evaluator: &Evaluator<'_>, conditions: &[Condition]) -> Result<bool, Halt> {
    for condition in conditions {
        let value = evaluator.eval_bool(&condition.expr)?;
        let wanted = condition.kind == ConditionKind::When;
        if value != wanted {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The limits of `domain` that apply to one descriptor (its entries, in
/// order), in declaration order, each with its `by` key values or the error
/// that stopped it. A limit whose conditions are false, or whose conditions
/// or keys read an entry the descriptor lacks, does not apply and is left
/// out (`docs/language.md` §9.3–§9.4). An unknown domain has no limits.
pub fn matching_limits(
    package: &Package,
    domain: &str,
    descriptor: &[(String, String)],
) -> Vec<(String, Result<Vec<String>, EvalError>)> {
    let Some(domain) = package.domains.iter().find(|d| d.name == domain) else {
        return Vec::new();
    };
    let evaluator = Evaluator::new(&package.schema, Input::Descriptor(descriptor));
    let mut out = Vec::new();
    for limit in &domain.limits {
        let keys = conditions_hold(&evaluator, &limit.conditions).and_then(|holds| {
            if !holds {
                return Ok(None);
            }
            limit
                .by
                .iter()
                .map(|key| evaluator.eval_string(key))
                .collect::<Result<Vec<String>, Halt>>()
                .map(Some)
        });
        match keys {
            Ok(Some(keys)) => out.push((limit.spec.name.clone(), Ok(keys))),
            Ok(None) | Err(Halt::NotApplicable) => {}
            Err(Halt::Error(error)) => out.push((limit.spec.name.clone(), Err(error))),
        }
    }
    out
}
