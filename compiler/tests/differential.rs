//! Differential tests: the bytecode VM (`reaper-runtime`) must give the same
//! decision, reasons and errors as the reference evaluator
//! (`reaper_compiler::reference`) on every generated policy and request, and
//! on every request the examples' `test` blocks describe; and the same
//! limits must apply to generated rate-limit descriptors, with the same keys.
//!
//! Policies are generated as source text against a fixed schema
//! (`differential/model.rs`), type-directed so that each one checks
//! without errors (`differential/policy.rs`); requests carry random entity
//! data (`differential/requests.rs`); limits and descriptors come from
//! `differential/limits.rs`. All read a tape of random choices that proptest
//! shrinks. `PROPTEST_CASES` sets the number of cases (default 2000, a
//! quarter of that for limits). Two ignored tests help when hunting bugs:
//! `survey` runs many cases and prints one reproduction per kind of
//! disagreement, `coverage` prints what the generator exercises.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;
#[path = "differential/limits.rs"]
mod limits;
#[path = "differential/model.rs"]
mod model;
#[path = "differential/policy.rs"]
mod policy;
#[path = "differential/requests.rs"]
mod requests;
#[path = "differential/tape.rs"]
mod tape;

use std::fmt;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::Config;
use reaper_compiler::reference;

use reaper_compiler::source::Sources;
use reaper_compiler::test_cases::{Check, test_cases};
use reaper_compiler::typed::Package;
use reaper_lang::request::{Limits, Request};
use reaper_runtime::Engine;

use limits::LimitGen;
use model::Model;
use policy::{Policy, PolicyGen};
use requests::RequestGen;
use tape::Tape;

/// Requests tried against each generated policy.
const REQUESTS_PER_POLICY: usize = 8;
const MAX_RULES: usize = 12;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(Model::new)
}

/// A decision in a form both evaluators can be compared in: rule ids, and
/// errors by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    allow: bool,
    reasons: Vec<String>,
    errors: Vec<(String, &'static str)>,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(id, kind)| format!("{id}: {kind}"))
            .collect();
        write!(
            f,
            "{} reasons [{}] errors [{}]",
            if self.allow { "allow" } else { "deny" },
            self.reasons.join(", "),
            errors.join(", ")
        )
    }
}

fn reference_answer(package: &Package, request: &Request) -> Answer {
    let d = reference::authorize(package, request);
    Answer {
        allow: d.allow,
        reasons: d.reasons,
        errors: d
            .errors
            .iter()
            .map(|(id, e)| (id.clone(), e.kind()))
            .collect(),
    }
}

fn vm_answer(engine: &Engine, request: &Request) -> Answer {
    let prepared = engine.prepare(request);
    let d = engine.authorize(&prepared);
    Answer {
        allow: d.allow,
        reasons: d
            .reasons
            .iter()
            .map(|i| engine.rule_id(*i).to_owned())
            .collect(),
        errors: d
            .errors
            .iter()
            .map(|(i, e)| (engine.rule_id(*i).to_owned(), e.kind()))
            .collect(),
    }
}

/// Checks and compiles a policy: its typed package and a loaded engine.
fn build(source: &str) -> Result<(Package, Engine), String> {
    let mut sources = Sources::new();
    sources.add("policy.reaper", source);
    let checked = reaper_compiler::check(&sources);
    if checked.has_errors() {
        let errors: Vec<String> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let at = sources
                    .file(d.primary.span.file)
                    .line_col(d.primary.span.start);
                format!("{}:{}: {} {}", at.line, at.column, d.code.id, d.message)
            })
            .collect();
        return Err(format!(
            "the policy does not check (for a generated one, a generator bug):\n{}",
            errors.join("\n")
        ));
    }
    let bytes = reaper_compiler::compile(&sources)
        .map_err(|d| format!("checked policy does not compile: {d:#?}"))?;
    let engine = Engine::load(&bytes).map_err(|e| format!("bundle does not load: {e}"))?;
    Ok((checked.package, engine))
}

/// One generated case: a policy and requests for it.
struct Case {
    policy: Policy,
    requests: Vec<Request>,
}

impl Case {
    fn new(policy_tape: &[u32], request_tape: &[u32]) -> Case {
        let policy = PolicyGen::new(model(), Tape::new(policy_tape)).policy(MAX_RULES);
        let mut generator = RequestGen::new(model(), Tape::new(request_tape));
        let requests = (0..REQUESTS_PER_POLICY)
            .map(|_| generator.request(&policy.heads))
            .collect();
        Case { policy, requests }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The full text is in the failure message; keep the input short.
        write!(
            f,
            "Case {{ {} rules, {} requests }}",
            self.policy.rules.len(),
            self.requests.len()
        )
    }
}

/// Runs one case; on a disagreement, the message has everything needed to
/// reproduce it, and the smallest single rule that still disagrees.
fn run(case: &Case) -> Result<(), String> {
    let source = case.policy.source(model(), None);
    let (package, engine) =
        build(&source).map_err(|e| format!("{e}\n--- policy.reaper\n{source}"))?;
    for request in &case.requests {
        let json = requests::json(&package.schema, request);
        match reaper_lang::request::decode(&package.schema, &json, &Limits::default()) {
            Ok(decoded) if decoded == *request => {}
            Ok(decoded) => {
                return Err(format!(
                    "generator bug: request changes through JSON\n{json}\n{decoded:#?}"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "generator bug: request does not validate: {e}\n{json}"
                ));
            }
        }
        let expected = reference_answer(&package, request);
        let got = vm_answer(&engine, request);
        if expected != got {
            let reduced = reduce(&case.policy, request);
            return Err(format!(
                "the VM disagrees with the reference\n--- policy.reaper\n{source}\n--- request\n{json}\n--- reference: {expected}\n--- vm:        {got}\n{reduced}"
            ));
        }
    }
    Ok(())
}

/// The first rule that disagrees on its own: its index and both answers.
fn single_rule(policy: &Policy, request: &Request) -> Option<(usize, Answer, Answer)> {
    (0..policy.rules.len()).find_map(|i| {
        let source = policy.source(model(), Some(&[i]));
        let (package, engine) = build(&source).ok()?;
        let expected = reference_answer(&package, request);
        let got = vm_answer(&engine, request);
        (expected != got).then_some((i, expected, got))
    })
}

/// The first rule that disagrees on its own, for a failure message.
fn reduce(policy: &Policy, request: &Request) -> String {
    match single_rule(policy, request) {
        Some((i, expected, got)) => format!(
            "--- reduced: rule {i} alone disagrees\n{}\n--- reference: {expected}\n--- vm:        {got}",
            policy.rules[i]
        ),
        None => "--- no single rule disagrees on its own".into(),
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(any::<u32>(), 0..3000),
        proptest::collection::vec(any::<u32>(), 0..4000),
    )
        .prop_map(|(policy, requests)| Case::new(&policy, &requests))
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    Config {
        cases,
        max_shrink_iters: 4000,
        // Regressions are reported with their policy text; keep no files.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn vm_agrees_with_the_reference(case in case_strategy()) {
        if let Err(message) = run(&case) {
            prop_assert!(false, "{}", message);
        }
    }
}

/// Which limits apply to a descriptor, with their keys or error kinds.
type LimitAnswer = Vec<(String, Result<Vec<String>, &'static str>)>;

fn reference_limits(package: &Package, descriptor: &[(String, String)]) -> LimitAnswer {
    reference::matching_limits(package, limits::DOMAIN, descriptor)
        .into_iter()
        .map(|(name, keys)| (name, keys.map_err(|e| e.kind())))
        .collect()
}

fn vm_limits(engine: &Engine, descriptor: &[(String, String)]) -> LimitAnswer {
    engine
        .matching_limits(limits::DOMAIN, descriptor)
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                engine.limit_name(limits::DOMAIN, m.limit).to_owned(),
                m.key.map_err(|e| e.kind()),
            )
        })
        .collect()
}

/// A generated rate-limit domain and descriptors for it.
struct LimitCase {
    domain: String,
    descriptors: Vec<Vec<(String, String)>>,
}

impl fmt::Debug for LimitCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LimitCase {{ {} descriptors }}", self.descriptors.len())
    }
}

fn limit_case_strategy() -> impl Strategy<Value = LimitCase> {
    proptest::collection::vec(any::<u32>(), 0..1500).prop_map(|tape| {
        let mut generator = LimitGen::new(Tape::new(&tape));
        let domain = generator.domain();
        let descriptors = (0..REQUESTS_PER_POLICY)
            .map(|_| generator.descriptor())
            .collect();
        LimitCase {
            domain,
            descriptors,
        }
    })
}

fn run_limits(case: &LimitCase) -> Result<(), String> {
    let source = format!("{}\n{}", model().source(), case.domain);
    let (package, engine) =
        build(&source).map_err(|e| format!("{e}\n--- policy.reaper\n{source}"))?;
    for descriptor in &case.descriptors {
        let expected = reference_limits(&package, descriptor);
        let got = vm_limits(&engine, descriptor);
        if expected != got {
            return Err(format!(
                "the VM disagrees with the reference on which limits apply\n--- limits\n{}\n--- descriptor {descriptor:?}\n--- reference: {expected:?}\n--- vm:        {got:?}",
                case.domain
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: config().cases / 4, ..config() })]

    #[test]
    fn vm_limits_agree_with_the_reference(case in limit_case_strategy()) {
        if let Err(message) = run_limits(&case) {
            prop_assert!(false, "{}", message);
        }
    }
}

/// Every expectation of every example's tests: the VM and the reference
/// agree, and both give what the test expects.
#[test]
fn examples_agree_with_their_tests() {
    let mut checked_expectations = 0;
    for dir in common::example_dirs() {
        let sources = common::package_sources(&dir);
        let checked = reaper_compiler::check(&sources);
        assert!(
            !checked.has_errors(),
            "{}: {:#?}",
            dir.display(),
            checked.diagnostics
        );
        let bytes = reaper_compiler::compile(&sources).unwrap();
        let engine = Engine::load(&bytes).unwrap();
        let package = &checked.package;
        for case in test_cases(package) {
            for check in case.checks {
                let Check::Authorize {
                    description,
                    line,
                    request,
                    permit,
                    because,
                } = check
                else {
                    continue;
                };
                let place = format!(
                    "{} test {:?} line {line}: {description}",
                    dir.display(),
                    case.name
                );
                let reference = reference_answer(package, &request);
                let vm = vm_answer(&engine, &request);
                assert_eq!(reference, vm, "{place}: reference and VM disagree");
                assert_eq!(
                    reference.allow, permit,
                    "{place}: reference gives {reference}"
                );
                if let Some(because) = &because {
                    let mut want = because.clone();
                    want.sort();
                    let mut got = reference.reasons.clone();
                    got.sort();
                    assert_eq!(got, want, "{place}: reasons");
                }
                checked_expectations += 1;
            }
        }
        for test in &package.tests {
            for expect in &test.limit_expectations {
                let Some(matches) = &expect.matches else {
                    continue;
                };
                let mut got: Vec<String> =
                    reference::matching_limits(package, &expect.domain, &expect.descriptor)
                        .into_iter()
                        .filter(|(_, keys)| keys.is_ok())
                        .map(|(name, _)| name)
                        .collect();
                got.sort();
                let mut want = matches.clone();
                want.sort();
                assert_eq!(
                    got,
                    want,
                    "{} test {:?} line {}: matching limits",
                    dir.display(),
                    test.name,
                    expect.origin.line
                );
            }
        }
    }
    assert!(
        checked_expectations >= 30,
        "only {checked_expectations} expectations found"
    );
}

/// Prints what the generator exercises: typed operators and run-time
/// outcomes over many cases (`cargo test --test differential -- --ignored
/// --nocapture coverage`).
#[test]
#[ignore = "prints a coverage report"]
fn coverage() {
    use std::collections::BTreeMap;

    use reaper_compiler::typed::{Expr, ExprKind};

    fn walk(expr: &Expr, counts: &mut BTreeMap<String, usize>) {
        let key = match &expr.kind {
            ExprKind::Const(c) => {
                format!("const {}", format!("{c:?}").split('(').next().unwrap_or(""))
            }
            ExprKind::Var(v) => format!("var {}", v.as_str()),
            ExprKind::Binary { op, .. } => format!("binary {op:?}"),
            ExprKind::Unary { op, .. } => format!("unary {op:?}"),
            ExprKind::Attr(read) => format!(
                "attr {}",
                format!("{:?}", read.access).split(' ').next().unwrap_or("")
            ),
            ExprKind::Has(read) => format!(
                "has {}",
                format!("{:?}", read.access).split(' ').next().unwrap_or("")
            ),
            other => format!("{other:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_owned(),
        };
        *counts.entry(key).or_default() += 1;
        match &expr.kind {
            ExprKind::Set(items) => items.iter().for_each(|e| walk(e, counts)),
            ExprKind::Record(fields) => fields.iter().for_each(|(_, e)| walk(e, counts)),
            ExprKind::Attr(read) | ExprKind::Has(read) => walk(&read.base, counts),
            ExprKind::Is { base, .. } | ExprKind::Like { base, .. } => {
                walk(base, counts);
            }
            ExprKind::Unary { operand, .. } => walk(operand, counts),
            ExprKind::Binary { lhs, rhs, .. } => {
                walk(lhs, counts);
                walk(rhs, counts);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                walk(cond, counts);
                walk(then, counts);
                walk(otherwise, counts);
            }
            _ => {}
        }
    }

    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case_strategy();
    let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
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
        for rule in &checked.package.rules {
            let scope = reaper_compiler::lower::index::scope(rule, &checked.package.schema);
            let scope = format!("{scope:?}");
            *outcomes
                .entry(format!("scope {}", scope.split('(').next().unwrap_or("")))
                .or_default() += 1;
            for condition in &rule.conditions {
                walk(&condition.expr, &mut nodes);
            }
        }
        for request in &case.requests {
            for rule in &checked.package.rules {
                let outcome = match reference::rule_outcome(&checked.package, rule, request) {
                    reference::Outcome::Failed(e) => format!("rule failed: {}", e.kind()),
                    other => format!("rule {other:?}"),
                };
                *outcomes.entry(outcome).or_default() += 1;
            }
            let d = reference::authorize(&checked.package, request);
            let decision = match (d.allow, d.reasons.is_empty()) {
                (true, _) => "decision allow",
                (false, false) => "decision deny by forbid",
                (false, true) => "decision deny by default",
            };
            *outcomes.entry(decision.into()).or_default() += 1;
        }
    }
    let strategy = limit_case_strategy();
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let source = format!("{}\n{}", model().source(), case.domain);
        let (package, _) = build(&source).unwrap();
        let limits = package.domains.first().map_or(0, |d| d.limits.len());
        for descriptor in &case.descriptors {
            let answer = reference_limits(&package, descriptor);
            *outcomes.entry("limit not applicable".into()).or_default() += limits - answer.len();
            for (_, keys) in answer {
                let key = match keys {
                    Ok(_) => "limit applies".to_owned(),
                    Err(kind) => format!("limit failed: {kind}"),
                };
                *outcomes.entry(key).or_default() += 1;
            }
        }
    }
    println!("typed nodes over {cases} policies:");
    for (k, v) in &nodes {
        println!("  {v:>8}  {k}");
    }
    println!("outcomes:");
    for (k, v) in &outcomes {
        println!("  {v:>8}  {k}");
    }
}

/// Runs many cases without stopping at the first disagreement and prints
/// one single-rule reproduction per kind of disagreement (`cargo test
/// --test differential -- --ignored --nocapture survey`).
#[test]
#[ignore = "prints every kind of disagreement found"]
fn survey() {
    use std::collections::BTreeMap;

    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
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
            if reference_answer(&package, request) == vm_answer(&engine, request) {
                continue;
            }
            let (key, repro) = match single_rule(&case.policy, request) {
                Some((i, expected, got)) => {
                    let anonymous = |a: &Answer| {
                        let errors: Vec<&str> = a.errors.iter().map(|(_, k)| *k).collect();
                        format!("{} {} {:?}", a.allow, a.reasons.len(), errors)
                    };
                    (
                        format!(
                            "reference {} / vm {}",
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

/// Checks one hand-written policy and JSON request against both evaluators.
fn agree(source: &str, request: &str) -> Answer {
    let (package, engine) = build(source).unwrap();
    let request =
        reaper_lang::request::decode(&package.schema, request, &Limits::default()).unwrap();
    let expected = reference_answer(&package, &request);
    assert_eq!(
        expected,
        vm_answer(&engine, &request),
        "reference (left) and VM (right) disagree"
    );
    expected
}

/// Found by `vm_agrees_with_the_reference`: a rule scoped `resource in E`
/// ran twice (reasons and errors listed it twice) when the request's data
/// makes `E` its own ancestor through a cycle of parents.
#[test]
fn scoped_rule_runs_once_when_parents_form_a_cycle() {
    let source = r#"
        entity User
        entity Folder in [Folder]
        action list on Folder by User
        context { n: Int }
        @id("in-b") permit list on Folder when resource in Folder::"b";
        @id("fails") forbid list on Folder when resource in Folder::"b" && context.n + 1 > 0;
    "#;
    let answer = agree(
        source,
        r#"{
            "principal": {"type": "User", "id": "u"},
            "action": "list",
            "resource": {"type": "Folder", "id": "b", "parents": [{"type": "Folder", "id": "a"}]},
            "context": {"n": 9223372036854775807},
            "entities": [{"type": "Folder", "id": "a", "parents": [{"type": "Folder", "id": "b"}]}]
        }"#,
    );
    assert_eq!(answer.reasons, ["in-b"]);
    assert_eq!(answer.errors, [("fails".to_owned(), "overflow")]);
}

/// Found by `vm_limits_agree_with_the_reference`: a limit that reads an
/// entity's attribute (limits never have entity data) failed as
/// `malformed`, the error for bundles the compiler cannot produce, instead
/// of `missing-entity`; `has` and `in` already treated the entity as one
/// without data.
#[test]
fn limit_reading_an_entity_attribute_fails_as_a_missing_entity() {
    let source = r#"
        entity User { name: String }
        action read on User by User
        ratelimit "edge" {
          limit reads: 10 per minute when User::"a".name == "x";
          limit present: 10 per minute when !(User::"a" has name) by descriptor.user;
        }
    "#;
    let (package, engine) = build(source).unwrap();
    let descriptor = [("user".to_owned(), "u".to_owned())];
    let expected: LimitAnswer = vec![
        ("reads".into(), Err("missing-entity")),
        ("present".into(), Ok(vec!["u".into()])),
    ];
    assert_eq!(reference_limits(&package, &descriptor), expected);
    assert_eq!(vm_limits(&engine, &descriptor), expected);
}
