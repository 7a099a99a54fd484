//! Authorization: find the candidate rules through the index (by action,
//! resource type and literal scope, then by the tests unscoped rules start
//! with), evaluate them, and decide: allow iff some permit applies and no
//! forbid does. Rules that cannot apply are never looked at, so cost does
//! not grow with them.

use reaper_lang::eval::EvalError;
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::request::Request;
use crate::scratch::Scratch;
use crate::value::Val;
use crate::vm::{Env, Fault, Registers};

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

/// The work one decision did, to check what the index saves without
/// timing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Rules whose hoisted guard or code ran for the request (the tests
    /// an index node checks once for many rules are not counted).
    pub rules_evaluated: u32,
    /// Entities the request's ancestor walks visited during this decision
    /// (each entity's ancestry is walked at most once per request, so a
    /// second decision on the same request visits none).
    pub entities_visited: u32,
}

/// What happened to one candidate rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    Applied,
    /// Clause `clause` (an index into the rule's clauses) decided it does
    /// not apply; `part` is the operand of its top-level chain that did,
    /// when the clause is one.
    NotApplied {
        clause: usize,
        part: Option<usize>,
    },
    Failed {
        clause: usize,
        part: Option<usize>,
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

    /// Like [`Engine::authorize`], also saying how much work it took.
    pub fn authorize_with_work(&self, request: &Request) -> (Decision, Work) {
        let mut decision = Decision::default();
        let work = self.decide(request, &mut decision);
        (decision, work)
    }

    /// Like [`Engine::authorize`], reusing `out`'s storage.
    pub fn authorize_into(&self, request: &Request, out: &mut Decision) {
        self.decide(request, out);
    }

    #[inline]
    fn decide(&self, request: &Request, out: &mut Decision) -> Work {
        let visited_before = request.entities_visited();
        out.allow = false;
        out.reasons.clear();
        out.errors.clear();
        let mut run = RuleRun {
            engine: self,
            env: self.env(request),
            scratch: Scratch::default(),
            registers: Registers::new(),
            forbids: SmallVec::new(),
            permits: SmallVec::new(),
            errors: &mut out.errors,
            evaluated: 0,
        };
        // Candidates are evaluated straight from the index's lists; only the
        // few rules that apply are sorted, to report reasons in rule order.
        let env = self.env(request);
        self.for_each_selected(request, &env, |rule| run.rule(rule));
        let RuleRun {
            mut forbids,
            mut permits,
            evaluated,
            ..
        } = run;
        if !forbids.is_empty() {
            forbids.sort_unstable();
            out.reasons = forbids;
        } else if !permits.is_empty() {
            permits.sort_unstable();
            out.allow = true;
            out.reasons = permits;
        }
        out.errors.sort_by_key(|(rule, _)| *rule);
        Work {
            rules_evaluated: evaluated,
            entities_visited: request.entities_visited().saturating_sub(visited_before),
        }
    }

    /// Authorizes and explains: for each candidate rule, whether it applied
    /// and which clause decided it.
    pub fn explain(&self, request: &Request) -> Explanation {
        let decision = self.authorize(request);
        let env = self.env(request);
        let mut scratch = Scratch::default();
        let mut registers = Registers::new();
        let mut candidates = Vec::new();
        for rule in self.candidates(request) {
            let Some(info) = self.bundle.rules.get(rule as usize) else {
                continue;
            };
            let Some(function) = self.bundle.functions.get(info.function as usize) else {
                continue;
            };
            scratch.clear();
            let outcome = env.run::<true>(function, &mut registers, &mut scratch);
            // The deciding clause is the one whose code ran last, and its
            // deciding part the one whose code ran last within the clause.
            let last = outcome.executed.last().copied().unwrap_or(0);
            let clause = info
                .conditions
                .iter()
                .rposition(|c| c.start <= last)
                .unwrap_or(0);
            let part = info.conditions.get(clause).and_then(|c| {
                c.parts.iter().rposition(|p| {
                    outcome
                        .executed
                        .iter()
                        .any(|pc| (p.start..p.end).contains(pc))
                })
            });
            let result = match outcome.result {
                Ok(Val::Bool(true)) => RuleOutcome::Applied,
                Ok(Val::Bool(false)) => RuleOutcome::NotApplied { clause, part },
                Ok(_) | Err(Fault::NotApplicable) => RuleOutcome::Failed {
                    clause,
                    part,
                    error: EvalError::Malformed("a rule did not give a Bool"),
                },
                Err(Fault::Error(error)) => RuleOutcome::Failed {
                    clause,
                    part,
                    error: *error,
                },
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
            local: crate::strings::Texts::Local(&request.strings),
            values: &request.values,
            ips: &request.ips,
        }
    }

    /// The rules whose scope the request matches, in rule order (whatever
    /// their leading tests: explanations show every one).
    pub fn candidates(&self, request: &Request) -> Vec<u32> {
        let mut out = Vec::new();
        if let Some(bucket) = self.bucket(request.action, request.resource.ty()) {
            bucket.plan.for_each_rule(&mut |rule| out.push(rule));
        }
        self.for_each_candidate(request, |rule| out.push(rule));
        out.sort_unstable();
        out
    }

    /// Calls `visit` for each rule whose scope the request matches and
    /// whose leading tests do not rule it out (each rule once, not in rule
    /// order).
    #[inline]
    fn for_each_selected(&self, request: &Request, env: &Env<'_>, mut visit: impl FnMut(u32)) {
        if let Some(bucket) = self.bucket(request.action, request.resource.ty()) {
            bucket.plan.select(env, &mut visit);
        }
        self.for_each_candidate(request, visit);
    }

    /// Calls `visit` for each rule whose scope the request matches but for
    /// the index plan's: first the unscoped ones that stay linear, then
    /// those keyed by the principal, the resource or their ancestors (each
    /// rule once, not in rule order).
    #[inline]
    fn for_each_candidate(&self, request: &Request, mut visit: impl FnMut(u32)) {
        let Some(bucket) = self.bucket(request.action, request.resource.ty()) else {
            return;
        };
        for rule in bucket.any.iter() {
            visit(*rule);
        }
        for (keyed, key) in [
            (&bucket.principal_is, request.principal),
            (&bucket.resource_is, request.resource),
        ] {
            for rule in keyed.get(key).unwrap_or(&[]) {
                visit(*rule);
            }
        }
        // Ancestors are computed only when some rule is scoped by them.
        if !bucket.principal_in.is_empty() {
            bucket.principal_in.visit_in(
                request.principal,
                request.principal_ancestors(),
                &mut visit,
            );
        }
        if !bucket.resource_in.is_empty() {
            bucket
                .resource_in
                .visit_in(request.resource, request.resource_ancestors(), &mut visit);
        }
    }
}

/// The state of one authorization while its candidates run.
struct RuleRun<'a> {
    engine: &'a Engine,
    env: Env<'a>,
    scratch: Scratch,
    registers: Registers,
    forbids: SmallVec<[u32; 4]>,
    permits: SmallVec<[u32; 4]>,
    errors: &'a mut Vec<(u32, EvalError)>,
    /// Rules whose guard or code ran.
    evaluated: u32,
}

impl RuleRun<'_> {
    #[inline]
    fn rule(&mut self, rule: u32) {
        let Some(code) = self.engine.rule_code.get(rule as usize) else {
            return;
        };
        let forbid = code.forbid;
        self.evaluated = self.evaluated.saturating_add(1);
        if let Some(guard) = &code.guard {
            match self.env.guard(guard) {
                Some(false) => return,
                Some(true) if guard.whole => {
                    if forbid {
                        self.forbids.push(rule);
                    } else {
                        self.permits.push(rule);
                    }
                    return;
                }
                _ => {}
            }
        }
        let Some(function) = self.engine.bundle.functions.get(code.function as usize) else {
            return;
        };
        if !self.scratch.is_empty() {
            self.scratch.clear();
        }
        match self
            .env
            .eval(function, &mut self.registers, &mut self.scratch)
        {
            Ok(Val::Bool(true)) if forbid => self.forbids.push(rule),
            Ok(Val::Bool(true)) => self.permits.push(rule),
            Ok(Val::Bool(false)) => {}
            Ok(_) | Err(Fault::NotApplicable) => {
                self.errors
                    .push((rule, EvalError::Malformed("a rule did not give a Bool")));
            }
            Err(Fault::Error(error)) => self.errors.push((rule, *error)),
        }
    }
}
