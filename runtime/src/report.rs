//! Decisions and explanations as JSON, the one form `reaper eval` prints
//! and the Python bindings return: `{"decision", "reasons", "errors",
//! "policy"}`, and for an explanation each candidate rule with the clause
//! (and the part of it) that decided.

use serde_json::{Value as Json, json};

use crate::{Decision, Engine, Explanation, RuleOutcome};

/// `{"decision": "allow", "reasons": [...], "errors": [...], "policy": hash}`
pub fn decision_json(engine: &Engine, decision: &Decision) -> Json {
    let reasons: Vec<&str> = decision
        .reasons
        .iter()
        .map(|r| engine.rule_id(*r))
        .collect();
    let errors: Vec<Json> = decision
        .errors
        .iter()
        .map(|(rule, error)| json!({ "rule": engine.rule_id(*rule), "error": error.to_string() }))
        .collect();
    json!({
        "decision": if decision.allow { "allow" } else { "deny" },
        "reasons": reasons,
        "errors": errors,
        "policy": engine.hash(),
    })
}

/// How one candidate was decided, for both forms of an explanation.
pub struct Account<'e> {
    pub id: &'e str,
    pub effect: &'static str,
    /// `applied`, `not_applied` or `error`.
    pub outcome: &'static str,
    /// The deciding clause: text, line, and whether it is an `unless`.
    pub clause: Option<&'e reaper_lang::bundle::ConditionInfo>,
    /// The deciding part of it, when the clause is a chain.
    pub part: Option<&'e str>,
    pub error: Option<String>,
    pub file: &'e str,
    pub line: u32,
}

/// Each candidate rule of an explanation, in the order it was decided.
pub fn accounts<'e>(engine: &'e Engine, explanation: &Explanation) -> Vec<Account<'e>> {
    let mut out = Vec::new();
    for (rule, outcome) in &explanation.candidates {
        let Some(info) = engine.bundle().rules.get(*rule as usize) else {
            continue;
        };
        let effect = match info.effect {
            reaper_lang::bundle::Effect::Permit => "permit",
            reaper_lang::bundle::Effect::Forbid => "forbid",
        };
        let (kind, clause, part, error) = match outcome {
            RuleOutcome::Applied => ("applied", None, None, None),
            RuleOutcome::NotApplied { clause, part } => ("not_applied", Some(*clause), *part, None),
            RuleOutcome::Failed {
                clause,
                part,
                error,
            } => ("error", Some(*clause), *part, Some(error.to_string())),
        };
        let clause = clause.and_then(|c| info.conditions.get(c));
        let part = clause
            .zip(part)
            .and_then(|(c, p)| c.parts.get(p))
            .map(|p| p.text.as_str());
        out.push(Account {
            id: &info.id,
            effect,
            outcome: kind,
            clause,
            part,
            error,
            file: &info.file,
            line: clause.map_or(info.line, |c| c.line),
        });
    }
    out
}

/// The explanation as JSON: the decision, then each candidate rule.
pub fn explain_json(engine: &Engine, explanation: &Explanation) -> Json {
    let mut out = decision_json(engine, &explanation.decision);
    let candidates: Vec<Json> = accounts(engine, explanation)
        .into_iter()
        .map(|a| {
            let mut row = json!({
                "rule": a.id,
                "effect": a.effect,
                "outcome": a.outcome,
                "file": a.file,
                "line": a.line,
            });
            if let Some(object) = row.as_object_mut() {
                if let Some(clause) = a.clause {
                    object.insert("clause".into(), json!(clause.text));
                }
                if let Some(part) = a.part {
                    object.insert("part".into(), json!(part));
                }
                if let Some(error) = a.error {
                    object.insert("error".into(), json!(error));
                }
            }
            row
        })
        .collect();
    if let Some(object) = out.as_object_mut() {
        object.insert("candidates".into(), Json::Array(candidates));
    }
    out
}
