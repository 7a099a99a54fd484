//! Differential tests: the bytecode VM (`reaper-runtime`) must give the same
//! decision, reasons and errors as the reference evaluator
//! (`reaper_compiler::reference`) on every generated policy and request, and
//! on every request the examples' `test` blocks describe; and the same
//! limits must apply to generated rate-limit descriptors, with the same keys.
//! A checked policy must never go wrong: the reference evaluator finding it
//! `malformed` fails the test even when the VM agrees.
//!
//! Policies are generated as source text against a fixed schema
//! (`differential/model.rs`), type-directed so that each one checks
//! without errors (`differential/policy.rs` and the files it includes);
//! requests carry random entity data (`differential/requests.rs`); limits
//! and descriptors come from `differential/limits.rs`. Each request's JSON,
//! and edits of it, also go through both request decoders, which must
//! agree (`differential/decoding.rs`). All read a tape of
//! random choices that proptest shrinks. `PROPTEST_CASES` sets the number
//! of cases (default 2000, a quarter of that for limits). Two ignored tests
//! help when hunting bugs (`differential/report.rs`): `survey` runs many
//! cases and prints one reproduction per kind of disagreement, `coverage`
//! prints what the generator exercises. Each bug they found has a
//! regression test at the end of this file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;
#[path = "differential/decoding.rs"]
mod decoding;
#[path = "differential/limits.rs"]
mod limits;
#[path = "differential/model.rs"]
mod model;
#[path = "differential/policy.rs"]
mod policy;
#[path = "differential/report.rs"]
mod report;
#[path = "differential/requests.rs"]
mod requests;
#[path = "differential/tape.rs"]
mod tape;

use std::fmt;
use std::sync::OnceLock;

use proptest::prelude::*;
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
        decoding::agree(&engine, &json, request)?;
        let expected = reference_answer(&package, request);
        if expected.errors.iter().any(|(_, kind)| *kind == "malformed") {
            return Err(format!(
                "a checked policy went wrong: the reference evaluator finds it malformed\n--- policy.reaper\n{source}\n--- request\n{json}\n--- reference: {expected}"
            ));
        }
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

/// The limits `rate_limit` counted for a descriptor (or found failing),
/// in declaration order, as [`vm_limits`] gives them (keys left out: the
/// response has none; `Ok(vec![])` stands for "counted").
fn counted_limits(engine: &Engine, descriptor: &[(String, String)]) -> LimitAnswer {
    let request = reaper_runtime::ratelimit::RateLimitRequest::new(
        limits::DOMAIN,
        vec![reaper_runtime::ratelimit::Descriptor::new(
            descriptor.to_vec(),
        )],
    );
    let response = engine.rate_limit(&request, 1_767_225_600_000).unwrap();
    let status = &response.statuses[0];
    let mut out: Vec<(u32, Result<Vec<String>, &'static str>)> = status
        .limits
        .iter()
        .map(|l| (l.limit, Ok(vec![])))
        .chain(status.errors.iter().map(|(l, e)| (*l, Err(e.kind()))))
        .collect();
    out.sort_by_key(|(l, _)| *l);
    out.into_iter()
        .map(|(l, r)| (engine.limit_name(limits::DOMAIN, l).to_owned(), r))
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
        if expected.iter().any(|(_, keys)| *keys == Err("malformed")) {
            return Err(format!(
                "a checked limit went wrong: the reference evaluator finds it malformed\n--- limits\n{}\n--- descriptor {descriptor:?}\n--- reference: {expected:?}",
                case.domain
            ));
        }
        let got = vm_limits(&engine, descriptor);
        if expected != got {
            return Err(format!(
                "the VM disagrees with the reference on which limits apply\n--- limits\n{}\n--- descriptor {descriptor:?}\n--- reference: {expected:?}\n--- vm:        {got:?}",
                case.domain
            ));
        }
        let counted = counted_limits(&engine, descriptor);
        let applying: LimitAnswer = got
            .iter()
            .map(|(name, keys)| (name.clone(), keys.clone().map(|_| vec![])))
            .collect();
        if counted != applying {
            return Err(format!(
                "rate_limit counts other limits than apply\n--- limits\n{}\n--- descriptor {descriptor:?}\n--- applying: {got:?}\n--- counted:  {counted:?}",
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

/// Found by `vm_agrees_with_the_reference`: in a rule over actions with
/// different context records, a field only some of them have is absent for
/// the others. Lowering read it with the plain context op when every action
/// that has it has it at one slot, so for `read` (whose context has `n` at
/// that slot) the VM found `origin` present and read `n` as an `Ip`.
#[test]
fn context_field_some_actions_lack_is_absent_for_the_others() {
    let source = r#"
        entity User
        action read on User by User
        action launch on User by User context { origin: Ip }
        context { n: Int }
        @id("has-origin") permit [read, launch] when context has origin;
        @id("v4") permit [read, launch] when (if context has origin then context.origin else 10.1.2.3).is_ipv4();
    "#;
    let answer = agree(
        source,
        r#"{
            "principal": {"type": "User", "id": "a"},
            "action": "read",
            "resource": {"type": "User", "id": "a"},
            "context": {"n": 1}
        }"#,
    );
    assert_eq!(answer.reasons, ["v4"]);
    assert_eq!(answer.errors, []);
}

/// Found by `vm_agrees_with_the_reference`: a rule `on store cache` covers
/// `ping`, which names no `on` or `by`, so a `Role` may ping
/// `Store::"cache"`; the checker typed `principal` as the store's `by` list
/// (`User`) and accepted `principal.name`, which the reference evaluator
/// found malformed (the VM: a missing entity).
#[test]
fn rule_on_a_store_sees_principals_of_actions_without_by() {
    let source = r#"
        entity User { name: String }
        entity Role
        action ping
        action read on Role by User
        store cache by [User] { ttl 1m }
        @id("named") permit [ping, store.read] on store cache when principal.name == "x";
    "#;
    // Refusing the policy, or the request, would each be a fix.
    let Ok((package, engine)) = build(source) else {
        return;
    };
    let request = r#"{
        "principal": {"type": "Role", "id": "a"},
        "action": "ping",
        "resource": {"type": "Store", "id": "cache"},
        "context": {}
    }"#;
    let Ok(request) = reaper_lang::request::decode(&package.schema, request, &Limits::default())
    else {
        return;
    };
    let answer = reference_answer(&package, &request);
    assert_eq!(answer, vm_answer(&engine, &request));
    let malformed = answer.errors.iter().any(|(_, kind)| *kind == "malformed");
    assert!(!malformed, "{answer}");
}

/// Found while extending the generator's schema: a type alias whose type
/// ends with `>` swallowed the `action` or `context` declaration on the
/// next line (the chunker read `> action` as a comparison going on).
#[test]
fn type_alias_ending_in_a_generic_ends_before_an_action() {
    let source = r#"
        entity User { tags: Tags }
        type Tags = Set<String>
        action read on User by User
        type Limits = Map<String, Int>
        context { n: Int }
        @id("r") permit read when context.n > 1;
    "#;
    build(source).unwrap();
}
