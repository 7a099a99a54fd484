//! The runtime's hot paths, Reaper alone (the side-by-side comparison with
//! Cedar, regorus and limitador is `benches/compare`):
//! - authorize on the document-sharing example, request prepared (target
//!   ≤ 100 ns) and from JSON;
//! - the scaling series, 10 to 10,000 rules with one applying (target: the
//!   10,000-rule time ≤ 2× the 10-rule time);
//! - the mixed-shape series, `reaper_benches::policy(n)` for 10 to 10,000
//!   rules, one request per action (target: each action's 10,000-rule time
//!   within 3× of its 10-rule time);
//! - a rate-limit decision in process (target ≤ 100 ns);
//! - compiling a 10,000-rule policy end to end (target ≤ 200 ms).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use reaper_benches::{
    DOCUMENT_REQUEST, MIXED_REQUESTS, SCALING_REQUEST, compile_dir, compile_text, policy,
    scaling_policy,
};
use reaper_runtime::ratelimit::{Descriptor, RateLimitRequest};
use reaper_runtime::{Decision, Engine};

fn load(bytes: &[u8]) -> Engine {
    Engine::load(bytes).unwrap_or_else(|e| panic!("bundle: {e}"))
}

fn authorize(c: &mut Criterion) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/document-sharing");
    let engine = load(&compile_dir(&examples).unwrap_or_else(|e| panic!("{e}")));
    let request = engine
        .decode_request(DOCUMENT_REQUEST)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.authorize(&request).allow);
    let mut group = c.benchmark_group("authorize");
    let mut decision = Decision::default();
    group.bench_function("document_sharing/prepared", |b| {
        b.iter(|| {
            engine.authorize_into(black_box(&request), &mut decision);
            black_box(decision.allow)
        });
    });
    group.bench_function("document_sharing/from_json", |b| {
        b.iter(|| {
            let request = engine
                .decode_request(black_box(DOCUMENT_REQUEST))
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(engine.authorize(&request).allow)
        });
    });
    group.bench_function("document_sharing/decode_only", |b| {
        b.iter(|| black_box(engine.decode_request(black_box(DOCUMENT_REQUEST)).is_ok()));
    });
    group.finish();

    let mut group = c.benchmark_group("scaling");
    for rules in [10, 100, 1_000, 10_000] {
        let engine = load(&compile_text(&scaling_policy(rules)).unwrap_or_else(|e| panic!("{e}")));
        let request = engine
            .decode_request(SCALING_REQUEST)
            .unwrap_or_else(|e| panic!("{e}"));
        let check = engine.authorize(&request);
        assert!(
            check.allow && check.reasons.len() == 1,
            "exactly one rule applies"
        );
        let mut decision = Decision::default();
        group.bench_with_input(BenchmarkId::new("reaper", rules), &rules, |b, _| {
            b.iter(|| {
                engine.authorize_into(black_box(&request), &mut decision);
                black_box(decision.allow)
            });
        });
    }
    group.finish();
}

/// Every action of the generated schema on `policy(n)`: the rules of all
/// eight shapes share the buckets, so this measures what the index skips.
fn scaling_mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling_mixed");
    for rules in [10, 100, 1_000, 10_000] {
        let engine = load(&compile_text(&policy(rules)).unwrap_or_else(|e| panic!("{e}")));
        for (action, json) in MIXED_REQUESTS {
            let request = engine
                .decode_request(json)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            let mut decision = Decision::default();
            group.bench_with_input(BenchmarkId::new(*action, rules), &rules, |b, _| {
                b.iter(|| {
                    engine.authorize_into(black_box(&request), &mut decision);
                    black_box(decision.allow)
                });
            });
        }
    }
    group.finish();
}

fn rate_limit(c: &mut Criterion) {
    let text = "ratelimit \"edge\" {\n  limit per_user: 1_000_000_000 per minute when descriptor has user_id by descriptor.user_id;\n}\n";
    let engine = load(&compile_text(text).unwrap_or_else(|e| panic!("{e}")));
    let request = RateLimitRequest::new("edge", vec![Descriptor::new(vec![("user_id", "alice")])]);
    let now = 1_767_225_600_000;
    let mut group = c.benchmark_group("ratelimit");
    group.bench_function("one_descriptor", |b| {
        b.iter(|| {
            black_box(
                engine
                    .rate_limit(black_box(&request), now)
                    .map(|r| r.overall),
            )
        });
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let text = policy(10_000);
    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    group.bench_function("10000_rules", |b| {
        b.iter(|| compile_text(black_box(&text)).map(|bytes| bytes.len()));
    });
    group.finish();
}

criterion_group!(benches, authorize, scaling_mixed, rate_limit, compile);
criterion_main!(benches);
