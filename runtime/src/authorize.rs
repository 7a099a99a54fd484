//! Authorization: find the candidate rules through the index (by action,
//! resource type and literal scope), evaluate them, and decide: allow iff
//! some permit applies and no forbid does. Rules that cannot apply are never
//! looked at, so cost does not grow with them.

use reaper_lang::bundle::Effect;
use reaper_lang::eval::EvalError;
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::request::Request;
use crate::value::{EntityKey, Val};
use crate::vm::{Env, Fault};

/// The answer to an authorization request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    /// The rules that decided, by index, in rule order: the permits that
    /// applied when allowed, the forbids that applied when denied by them,
    /// none when denied by default. [`Engine::rule_id`] names them.
    pub reasons: SmallVec<[u32; 4]>,
    /// Rules that failed at run time (and so did not apply), in rule order.
    pub errors: Vec<(u32, EvalError)>,
}

/// What happened to one candidate rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    Applied,
    /// Clause `clause` (an index into the rule's clauses) decided it does
    /// not apply.
    NotApplied {
        clause: usize,
    },
    Failed {
        clause: usize,
        error: EvalError,
    },
}

/// A decision with, for each candidate rule, how it was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    pub candidates: Vec<(u32, RuleOutcome)>,
}

impl Engine {
    pub fn authorize(&self, request: &Request) -> Decision {
        let mut decision = Decision::default();
        self.authorize_into(request, &mut decision);
        decision
    }

    /// Like [`Engine::authorize`], reusing `out`'s storage.
    pub fn authorize_into(&self, request: &Request, out: &mut Decision) {
        out.allow = false;
        out.reasons.clear();
        out.errors.clear();
        let mut forbids: SmallVec<[u32; 4]> = SmallVec::new();
        let mut permits: SmallVec<[u32; 4]> = SmallVec::new();
        let env = self.env(request);
        let mut scratch: Vec<Val> = Vec::new();
        for rule in self.candidates(request) {
            let Some(info) = self.bundle.rules.get(rule as usize) else {
                continue;
            };
            let Some(function) = self.bundle.functions.get(info.function as usize) else {
                continue;
            };
            scratch.clear();
            match env.run::<false>(function, &mut scratch).result {
                Ok(Val::Bool(true)) => match info.effect {
                    Effect::Permit => permits.push(rule),
                    Effect::Forbid => forbids.push(rule),
                },
                Ok(Val::Bool(false)) => {}
                Ok(_) | Err(Fault::NotApplicable) => out
                    .errors
                    .push((rule, EvalError::Malformed("a rule did not give a Bool"))),
                Err(Fault::Error(error)) => out.errors.push((rule, error)),
            }
        }
        if !forbids.is_empty() {
            out.reasons = forbids;
        } else if !permits.is_empty() {
            out.allow = true;
            out.reasons = permits;
        }
    }

    /// Authorizes and explains: for each candidate rule, whether it applied
    /// and which clause decided it.
    pub fn explain(&self, request: &Request) -> Explanation {
        let decision = self.authorize(request);
        let env = self.env(request);
        let mut scratch = Vec::new();
        let mut candidates = Vec::new();
        for rule in self.candidates(request) {
            let Some(info) = self.bundle.rules.get(rule as usize) else {
                continue;
            };
            let Some(function) = self.bundle.functions.get(info.function as usize) else {
                continue;
            };
            scratch.clear();
            let outcome = env.run::<true>(function, &mut scratch);
            // The deciding clause is the one whose code ran last.
            let clause = info
                .conditions
                .iter()
                .rposition(|c| c.start <= outcome.last_pc)
                .unwrap_or(0);
            let result = match outcome.result {
                Ok(Val::Bool(true)) => RuleOutcome::Applied,
                Ok(Val::Bool(false)) => RuleOutcome::NotApplied { clause },
                Ok(_) | Err(Fault::NotApplicable) => RuleOutcome::Failed {
                    clause,
                    error: EvalError::Malformed("a rule did not give a Bool"),
                },
                Err(Fault::Error(error)) => RuleOutcome::Failed { clause, error },
            };
            candidates.push((rule, result));
        }
        Explanation {
            decision,
            candidates,
        }
    }

    fn env<'a>(&'a self, request: &'a Request) -> Env<'a> {
        Env {
            engine: self,
            request: Some(request),
            descriptor: &[],
            http: None,
            local: &request.strings,
            values: &request.values,
        }
    }

    /// The rules whose scope the request matches, in rule order.
    pub fn candidates(&self, request: &Request) -> SmallVec<[u32; 16]> {
        let mut out: SmallVec<[u32; 16]> = SmallVec::new();
        let Some(bucket) = self.bucket(request.action, request.resource.ty()) else {
            return out;
        };
        out.extend_from_slice(&bucket.any);
        let sources = [
            lookup_is(&bucket.principal_is, request.principal),
            lookup_is(&bucket.resource_is, request.resource),
        ];
        let mut merged = false;
        for rules in sources.into_iter().flatten() {
            out.extend_from_slice(rules);
            merged = true;
        }
        merged |= lookup_in(&bucket.principal_in, request, request.principal, &mut out);
        merged |= lookup_in(&bucket.resource_in, request, request.resource, &mut out);
        if merged {
            out.sort_unstable();
        }
        out
    }
}

fn lookup_is(map: &rustc_hash::FxHashMap<EntityKey, Box<[u32]>>, key: EntityKey) -> Option<&[u32]> {
    if map.is_empty() {
        return None;
    }
    map.get(&key).map(|rules| &**rules)
}

/// Adds the rules scoped `in E` for `E` the entity itself or any ancestor.
fn lookup_in(
    map: &rustc_hash::FxHashMap<EntityKey, Box<[u32]>>,
    request: &Request,
    key: EntityKey,
    out: &mut SmallVec<[u32; 16]>,
) -> bool {
    if map.is_empty() {
        return false;
    }
    let mut found = false;
    for candidate in std::iter::once(key).chain(request.ancestors(key).iter().copied()) {
        if let Some(rules) = map.get(&candidate) {
            out.extend_from_slice(rules);
            found = true;
        }
    }
    found
}
