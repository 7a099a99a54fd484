//! The two ignored tests that help when hunting bugs: `coverage` prints
//! what the generators exercise (typed nodes, rule heads, requests and
//! run-time outcomes), `survey` runs many cases without stopping at the
//! first disagreement and prints one reproduction per kind.

use std::collections::BTreeMap;

use proptest::strategy::{Strategy, ValueTree};
use reaper_compiler::reference;
use reaper_compiler::source::Sources;
use reaper_compiler::typed::{Access, Expr, ExprKind, Rule, Var};
use reaper_lang::schema::Schema;

use super::policy::Policy;
use super::{
    Answer, build, case_strategy, limit_case_strategy, model, reference_answer, reference_limits,
    requests, single_rule, vm_answer,
};

type Counts = BTreeMap<String, usize>;

fn cases(default: usize) -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn count(counts: &mut Counts, key: impl Into<String>) {
    *counts.entry(key.into()).or_default() += 1;
}

/// The first word of a value's debug form (`Context` of `Context { … }`).
fn variant(debug: &str) -> &str {
    debug.split([' ', '(', '{']).next().unwrap_or("")
}

/// Counts the nodes of `expr`; `rule` (none in a limit) tells reads of a
/// narrowed `principal` or `resource` apart.
fn walk(expr: &Expr, rule: Option<&Rule>, counts: &mut Counts) {
    let key = match &expr.kind {
        ExprKind::Const(c) => format!("const {}", variant(&format!("{c:?}"))),
        ExprKind::Var(v) => format!("var {}", v.as_str()),
        ExprKind::Binary { op, .. } => format!("binary {op:?}"),
        ExprKind::Unary { op, .. } => format!("unary {op:?}"),
        ExprKind::Attr(read) => format!("attr {}", variant(&format!("{:?}", read.access))),
        ExprKind::Has(read) => format!("has {}", variant(&format!("{:?}", read.access))),
        other => variant(&format!("{other:?}")).to_owned(),
    };
    count(counts, key);
    if let ExprKind::Attr(read) | ExprKind::Has(read) = &expr.kind
        && read.name.contains('-')
    {
        count(counts, "quoted attribute name");
    }
    if let (ExprKind::Attr(read), Some(rule)) = (&expr.kind, rule)
        && let Access::Entity { slots } = &read.access
    {
        let declared = match read.base.kind {
            ExprKind::Var(Var::Principal) => Some(&rule.principal_types),
            ExprKind::Var(Var::Resource) => Some(&rule.resource_types),
            _ => None,
        };
        if declared.is_some_and(|types| slots.len() < types.len()) {
            count(counts, "attr of a narrowed principal or resource");
        }
    }
    if let (ExprKind::Attr(read) | ExprKind::Has(read), Some(rule)) = (&expr.kind, rule)
        && let Access::Context { slots } = &read.access
        && slots.len() < rule.actions.len()
    {
        count(counts, "context field some of the rule's actions lack");
    }
    match &expr.kind {
        ExprKind::Set(items) => items.iter().for_each(|e| walk(e, rule, counts)),
        ExprKind::Record(fields) => fields.iter().for_each(|(_, e)| walk(e, rule, counts)),
        ExprKind::Attr(read) | ExprKind::Has(read) => walk(&read.base, rule, counts),
        ExprKind::Is { base, .. } | ExprKind::Like { base, .. } => walk(base, rule, counts),
        ExprKind::Unary { operand, .. } => walk(operand, rule, counts),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk(lhs, rule, counts);
            walk(rhs, rule, counts);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            walk(cond, rule, counts);
            walk(then, rule, counts);
            walk(otherwise, rule, counts);
        }
        _ => {}
    }
}

/// What a rule's head and conditions use that the typed tree does not
/// show: groups, stores, per-action contexts, `unless` clauses.
fn heads(text: &str, rule: &Rule, schema: &Schema, counts: &mut Counts) {
    let head = text
        .split("\n  ")
        .next()
        .unwrap_or("")
        .lines()
        .last()
        .unwrap_or("");
    let words: Vec<&str> = head
        .split([' ', '[', ']', ','])
        .filter(|w| !w.is_empty())
        .collect();
    let model = model();
    if model
        .groups()
        .iter()
        .any(|g| words.contains(&model.actions[*g].name))
    {
        count(counts, "head names a group");
    }
    if head.contains(" on store ") {
        count(counts, "head on store NAME");
    } else if words.contains(&"Store") {
        count(counts, "head on Store");
    }
    let mut contexts = rule.actions.iter().map(|a| schema.context_of(*a));
    if let Some(first) = contexts.next()
        && contexts.any(|c| c != first)
    {
        count(counts, "rule whose actions have different contexts");
    }
    if text.contains("\n  unless !(") {
        count(counts, "`unless !(guard)` then a read");
    }
    if text.contains("(!(") && text.contains(") || ") {
        count(counts, "`!(guard) || read`");
    }
}

/// Prints what the generator exercises: typed operators, rule heads,
/// requests and run-time outcomes over many cases (`cargo test --test
/// differential -- --ignored --nocapture coverage`).
#[test]
#[ignore = "prints a coverage report"]
fn coverage() {
    let cases = cases(500);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case_strategy();
    let mut nodes = Counts::new();
    let mut shapes = Counts::new();
    let mut outcomes = Counts::new();
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let source = case.policy.source(model(), None);
        let mut sources = Sources::new();
        sources.add("policy.reaper", source.as_str());
        let checked = reaper_compiler::check(&sources);
        assert!(
            !checked.has_errors(),
            "{source}\n{:#?}",
            checked.diagnostics
        );
        let package = &checked.package;
        for (rule, text) in package.rules.iter().zip(&case.policy.rules) {
            let scope = reaper_compiler::lower::index::scope(rule, &package.schema);
            count(
                &mut outcomes,
                format!("scope {}", variant(&format!("{scope:?}"))),
            );
            heads(text, rule, &package.schema, &mut shapes);
            for condition in &rule.conditions {
                walk(&condition.expr, Some(rule), &mut nodes);
            }
        }
        for request in &case.requests {
            let action = package.schema.action(request.action).unwrap();
            count(&mut shapes, format!("request action {}", action.name));
            let ty = package.schema.entity_type(request.resource.ty).unwrap();
            count(&mut shapes, format!("request resource {}", ty.name));
            for rule in &package.rules {
                let outcome = match reference::rule_outcome(package, rule, request) {
                    reference::Outcome::Failed(e) => format!("rule failed: {}", e.kind()),
                    other => format!("rule {other:?}"),
                };
                count(&mut outcomes, outcome);
            }
            let d = reference::authorize(package, request);
            let decision = match (d.allow, d.reasons.is_empty()) {
                (true, _) => "decision allow",
                (false, false) => "decision deny by forbid",
                (false, true) => "decision deny by default",
            };
            count(&mut outcomes, decision);
        }
    }
    let mut limit_nodes = Counts::new();
    let strategy = limit_case_strategy();
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let source = format!("{}\n{}", model().source(), case.domain);
        let (package, _) = build(&source).unwrap();
        for limit in package.domains.iter().flat_map(|d| &d.limits) {
            for expr in limit.conditions.iter().map(|c| &c.expr).chain(&limit.by) {
                walk(expr, None, &mut limit_nodes);
            }
        }
        let limits = package.domains.first().map_or(0, |d| d.limits.len());
        for descriptor in &case.descriptors {
            let answer = reference_limits(&package, descriptor);
            *outcomes.entry("limit not applicable".into()).or_default() += limits - answer.len();
            for (_, keys) in answer {
                let key = match keys {
                    Ok(_) => "limit applies".to_owned(),
                    Err(kind) => format!("limit failed: {kind}"),
                };
                count(&mut outcomes, key);
            }
        }
    }
    for (title, counts) in [
        ("typed nodes in rules", &nodes),
        ("typed nodes in limits", &limit_nodes),
        ("rules and requests", &shapes),
        ("outcomes", &outcomes),
    ] {
        println!("{title} over {cases} cases:");
        for (k, v) in counts {
            println!("  {v:>8}  {k}");
        }
    }
}

/// Runs many cases without stopping at the first disagreement and prints
/// one single-rule reproduction per kind of disagreement (`cargo test
/// --test differential -- --ignored --nocapture survey`).
#[test]
#[ignore = "prints every kind of disagreement found"]
fn survey() {
    let cases = cases(2000);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case_strategy();
    let mut kinds: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let source = case.policy.source(model(), None);
        let (package, engine) = match build(&source) {
            Ok(built) => built,
            Err(e) => {
                let entry = kinds
                    .entry(format!("build: {}", e.lines().nth(1).unwrap_or("")))
                    .or_insert((0, source.clone()));
                entry.0 += 1;
                continue;
            }
        };
        for request in &case.requests {
            let expected = reference_answer(&package, request);
            let malformed = expected.errors.iter().any(|(_, k)| *k == "malformed");
            if !malformed && expected == vm_answer(&engine, request) {
                continue;
            }
            let single = if malformed {
                malformed_rule(&case.policy, request)
            } else {
                single_rule(&case.policy, request)
            };
            let (key, repro) = match single {
                Some((i, expected, got)) => {
                    let anonymous = |a: &Answer| {
                        let errors: Vec<&str> = a.errors.iter().map(|(_, k)| *k).collect();
                        format!("{} {} {:?}", a.allow, a.reasons.len(), errors)
                    };
                    (
                        format!(
                            "{}reference {} / vm {}",
                            if malformed { "malformed: " } else { "" },
                            anonymous(&expected),
                            anonymous(&got)
                        ),
                        format!(
                            "{}\n--- request\n{}\n--- reference: {expected}\n--- vm:        {got}",
                            case.policy.rules[i],
                            requests::json(&package.schema, request)
                        ),
                    )
                }
                None => ("several rules together".into(), source.clone()),
            };
            let entry = kinds.entry(key).or_insert((0, repro));
            entry.0 += 1;
        }
    }
    for (key, (count, repro)) in &kinds {
        println!("=== {count} x {key}\n{repro}\n");
    }
    println!("{} kinds of disagreement over {cases} cases", kinds.len());
}

/// The first rule the reference evaluator finds malformed on its own: its
/// index and both answers.
fn malformed_rule(
    policy: &Policy,
    request: &reaper_lang::request::Request,
) -> Option<(usize, Answer, Answer)> {
    (0..policy.rules.len()).find_map(|i| {
        let source = policy.source(model(), Some(&[i]));
        let (package, engine) = build(&source).ok()?;
        let expected = reference_answer(&package, request);
        let malformed = expected.errors.iter().any(|(_, k)| *k == "malformed");
        malformed.then(|| (i, expected, vm_answer(&engine, request)))
    })
}
