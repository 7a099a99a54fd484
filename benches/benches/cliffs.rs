//! The worst cases ("cliffs") of the runtime, Reaper alone, through the
//! public API only, so that a change in how they are handled shows up as a
//! before/after figure (`docs/benchmarks.md`, "Cliffs"):
//!
//! - `cliffs/deep_in/100_rules_1000_deep`: 100 rules
//!   `permit read on Document when resource.owner in Team::"g-i"`, none of
//!   which applies, over a request whose `resource.owner` sits at the bottom
//!   of a 1,000-deep chain of teams: each rule walks the whole chain.
//! - `cliffs/many_parents/10000_unmatched`: 10,000 rules scoped
//!   `principal in Team::"t-i"` and a principal with 10,000 parents, none of
//!   which is a `t-i`.
//! - `cliffs/ratelimit/100_limits_100_descriptors`: a domain of 100 limits
//!   that all apply to each of a request's 100 descriptors (10,000 counters
//!   per decision); `.../from_json` decodes the Envoy JSON first.
//! - `cliffs/decode/{entities,parents,set_elements}/{10,100,1000}`:
//!   `Engine::decode_request` alone on a request carrying `n` entities, a
//!   principal with `n` parents, a set attribute of `n` elements; the slope
//!   between 10 and 1,000 is the cost per entity, parent or element.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use reaper_benches::compile_text;
use reaper_runtime::ratelimit::{Code, Descriptor, RateLimitRequest, RateLimitResponse};
use reaper_runtime::{Decision, Engine};

/// The schema of every authorization cliff: a resource's owner is a `User`,
/// which may be in teams, and teams nest.
const SCHEMA: &str = "package cliffs
entity Team in [Team]
entity User in [Team]
entity Document { owner: User, labels: Set<String> }
action read on Document by User
";

fn engine(rules: &str) -> Engine {
    let bytes = compile_text(&format!("{SCHEMA}{rules}")).unwrap_or_else(|e| panic!("{e}"));
    Engine::load(&bytes).unwrap_or_else(|e| panic!("bundle: {e}"))
}

/// A request for `read` of `Document::"d"` owned by `User::"owner"`, from
/// `User::"p"`. `principal_parents` lists the principal's parent teams,
/// `labels` the document's labels and `entities` the other entities' JSON.
fn request(principal_parents: &[String], labels: &[String], entities: &[String]) -> String {
    let parents: Vec<String> = principal_parents
        .iter()
        .map(|id| format!(r#"{{"type":"Team","id":"{id}"}}"#))
        .collect();
    let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
    format!(
        r#"{{"principal":{{"type":"User","id":"p","parents":[{}]}},"action":"read","resource":{{"type":"Document","id":"d","attrs":{{"owner":{{"type":"User","id":"owner"}},"labels":[{}]}}}},"entities":[{}]}}"#,
        parents.join(","),
        labels.join(","),
        entities.join(",")
    )
}

/// A team's data: its id and its parent, if any.
fn team(id: &str, parent: Option<&str>) -> String {
    match parent {
        Some(parent) => {
            format!(
                r#"{{"type":"Team","id":"{id}","parents":[{{"type":"Team","id":"{parent}"}}]}}"#
            )
        }
        None => format!(r#"{{"type":"Team","id":"{id}","parents":[]}}"#),
    }
}

fn decide(engine: &Engine, text: &str) -> (reaper_runtime::Request, Decision) {
    let request = engine
        .decode_request(text)
        .unwrap_or_else(|e| panic!("{e}"));
    let decision = engine.authorize(&request);
    (request, decision)
}

fn deep_in(c: &mut Criterion) {
    const RULES: usize = 100;
    const DEPTH: usize = 1_000;
    let mut rules = String::new();
    for i in 0..RULES {
        let _ = writeln!(
            rules,
            "@id(\"r{i}\")\npermit read on Document when resource.owner in Team::\"g-{i}\";"
        );
    }
    let engine = engine(&rules);
    // The owner is in c-0, in c-1, …, in c-999; no `g-i` is on the chain.
    let mut entities =
        vec![r#"{"type":"User","id":"owner","parents":[{"type":"Team","id":"c-0"}]}"#.to_owned()];
    for k in 0..DEPTH {
        let parent = (k + 1 < DEPTH).then(|| format!("c-{}", k + 1));
        entities.push(team(&format!("c-{k}"), parent.as_deref()));
    }
    let (request, decision) = decide(&engine, &request(&[], &[], &entities));
    assert!(
        !decision.allow && decision.errors.is_empty(),
        "no rule applies, none fails"
    );

    let mut group = c.benchmark_group("cliffs/deep_in");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut decision = Decision::default();
    group.bench_function("100_rules_1000_deep", |b| {
        b.iter(|| {
            engine.authorize_into(black_box(&request), &mut decision);
            black_box(decision.allow)
        });
    });
    group.finish();
}

fn many_parents(c: &mut Criterion) {
    const RULES: usize = 10_000;
    const PARENTS: usize = 10_000;
    let mut rules = String::new();
    for i in 0..RULES {
        let _ = writeln!(
            rules,
            "@id(\"r{i}\")\npermit read on Document when principal in Team::\"t-{i}\";"
        );
    }
    let engine = engine(&rules);
    let parents: Vec<String> = (0..PARENTS).map(|k| format!("m-{k}")).collect();
    let (request, decision) = decide(&engine, &request(&parents, &[], &[]));
    assert!(
        !decision.allow && decision.errors.is_empty(),
        "no rule applies, none fails"
    );

    let mut group = c.benchmark_group("cliffs/many_parents");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut decision = Decision::default();
    group.bench_function("10000_unmatched", |b| {
        b.iter(|| {
            engine.authorize_into(black_box(&request), &mut decision);
            black_box(decision.allow)
        });
    });
    group.finish();
}

fn ratelimit(c: &mut Criterion) {
    const LIMITS: usize = 100;
    const DESCRIPTORS: usize = 100;
    let mut text = String::from("ratelimit \"edge\" {\n");
    for i in 0..LIMITS {
        let _ = writeln!(
            text,
            "  limit l{i}: 1_000_000_000 per minute when descriptor has user_id by descriptor.user_id;"
        );
    }
    text.push_str("}\n");
    let bytes = compile_text(&text).unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::load(&bytes).unwrap_or_else(|e| panic!("bundle: {e}"));
    let descriptors: Vec<Descriptor> = (0..DESCRIPTORS)
        .map(|k| {
            Descriptor::new(vec![
                ("user_id", format!("u{k}")),
                ("path", "/v1/docs".to_owned()),
            ])
        })
        .collect();
    let request = RateLimitRequest::new("edge", descriptors);
    let now = 1_767_225_600_000;
    let response = engine
        .rate_limit(&request, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(response.overall, Code::Ok);
    assert_eq!(response.statuses.len(), DESCRIPTORS);
    for descriptor in &request.descriptors {
        let matching = engine
            .matching_limits("edge", &descriptor.entries)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            matching.len(),
            LIMITS,
            "every limit applies to every descriptor"
        );
    }

    let json = {
        let descriptors: Vec<String> = (0..DESCRIPTORS)
            .map(|k| format!(r#"{{"entries":[{{"key":"user_id","value":"u{k}"}},{{"key":"path","value":"/v1/docs"}}]}}"#))
            .collect();
        format!(
            r#"{{"domain":"edge","descriptors":[{}]}}"#,
            descriptors.join(",")
        )
    };
    let limits = reaper_lang::request::Limits::default();
    assert_eq!(
        reaper_runtime::ratelimit::json::decode(&json, &limits).map_err(|e| e.to_string()),
        Ok(request.clone())
    );

    let mut group = c.benchmark_group("cliffs/ratelimit");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut out = RateLimitResponse {
        overall: Code::Ok,
        statuses: Vec::new(),
    };
    group.bench_function("100_limits_100_descriptors", |b| {
        b.iter(|| {
            engine
                .rate_limit_into(black_box(&request), now, &mut out)
                .unwrap_or_else(|e| panic!("{e:?}"));
            black_box(out.overall)
        });
    });
    group.bench_function("100_limits_100_descriptors/from_json", |b| {
        b.iter(|| {
            let request = reaper_runtime::ratelimit::json::decode(black_box(&json), &limits)
                .unwrap_or_else(|e| panic!("{e}"));
            engine
                .rate_limit_into(&request, now, &mut out)
                .unwrap_or_else(|e| panic!("{e:?}"));
            black_box(out.overall)
        });
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let engine = engine("@id(\"r\")\npermit read on Document when principal in Team::\"t\";\n");
    let mut group = c.benchmark_group("cliffs/decode");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for n in [10_usize, 100, 1_000] {
        let ids: Vec<String> = (0..n).map(|k| format!("x-{k}")).collect();
        let entities: Vec<String> = ids.iter().map(|id| team(id, None)).collect();
        let cases = [
            ("entities", request(&[], &[], &entities)),
            ("parents", request(&ids, &[], &[])),
            ("set_elements", request(&[], &ids, &[])),
        ];
        for (what, text) in cases {
            decide(&engine, &text);
            group.bench_with_input(BenchmarkId::new(what, n), &text, |b, text| {
                b.iter(|| engine.decode_request(black_box(text)).is_ok());
            });
        }
    }
    group.finish();
}

criterion_group!(benches, deep_in, many_parents, ratelimit, decode);
criterion_main!(benches);
