//! The runtime's hot paths, Reaper alone (the side-by-side comparison with
//! Cedar, regorus and limitador is `benches/compare`):
//! - authorize on the document-sharing example, request prepared (target
//!   ≤ 100 ns), from JSON (target ≤ 2 µs) and from protobuf, beside the
//!   precise decoder the one-pass one replaced;
//! - the scaling series, 10 to 10,000 rules with one applying (target: the
//!   10,000-rule time ≤ 2× the 10-rule time);
//! - the mixed-shape series, `reaper_benches::policy(n)` for 10 to 10,000
//!   rules, one request per action (target: each action's 10,000-rule time
//!   within 3× of its 10-rule time);
//! - a rate-limit decision in process (target ≤ 100 ns); at scale (100
//!   limits × 100 descriptors), threads contending for one key, and a
//!   million keys' insertion and memory;
//! - compiling a 10,000-rule policy end to end (target ≤ 200 ms).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use reaper_benches::{
    DOCUMENT_REQUEST, MIXED_REQUESTS, SCALING_REQUEST, compile_dir, compile_text, many_descriptors,
    many_limits_policy, policy, scaling_policy,
};
use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::counters::{CounterStore, Limit, MemoryCounters};
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
    // The same request in protobuf, as the gRPC API receives it.
    let protobuf = engine.encode_request_protobuf(&engine.describe_request(&request));
    group.bench_function("document_sharing/from_protobuf", |b| {
        b.iter(|| {
            let request = engine
                .decode_request_protobuf(black_box(&protobuf))
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(engine.authorize(&request).allow)
        });
    });
    group.bench_function("document_sharing/decode_protobuf_only", |b| {
        b.iter(|| black_box(engine.decode_request_protobuf(black_box(&protobuf)).is_ok()));
    });
    // The precise decoder alone, the path before the one-pass decoder (and
    // still the error path).
    group.bench_function("document_sharing/decode_precisely", |b| {
        b.iter(|| {
            black_box(
                engine
                    .decode_request_precisely(black_box(DOCUMENT_REQUEST))
                    .is_ok(),
            )
        });
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

/// Rate limits at scale (issue 8): 100 limits against 100 descriptors, each
/// descriptor with exactly one applying limit.
fn rate_limit_at_scale(c: &mut Criterion) {
    let engine = load(&compile_text(&many_limits_policy(100)).unwrap_or_else(|e| panic!("{e}")));
    let descriptors = many_descriptors(100)
        .into_iter()
        .map(|entries| Descriptor {
            entries,
            ..Descriptor::default()
        })
        .collect();
    let request = RateLimitRequest::new("edge", descriptors);
    let now = 1_767_225_600_000;
    let check = engine.rate_limit(&request, now).unwrap();
    assert!(
        check.statuses.iter().all(|s| s.limits.len() == 1),
        "exactly one limit applies to each descriptor"
    );
    let mut response = check;
    let mut group = c.benchmark_group("ratelimit");
    group.bench_function("many_descriptors/100x100", |b| {
        b.iter(|| {
            engine
                .rate_limit_into(black_box(&request), now, &mut response)
                .unwrap();
            black_box(response.overall)
        });
    });
    group.finish();
}

/// Threads hitting one fixed-window key at once (issue 8): the time for each
/// of N threads to make one hit, so perfect scaling keeps it flat.
fn rate_limit_contended(c: &mut Criterion) {
    let limit = Limit {
        count: u64::MAX / 2,
        period_ms: 365 * 86_400_000,
        algorithm: Algorithm::FixedWindow,
    };
    let now = 1_767_225_600_000;
    let mut group = c.benchmark_group("ratelimit/contended");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for threads in [1, 2, 4] {
        let store = MemoryCounters::default();
        group.bench_function(format!("{threads}threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                black_box(store.hit(b"shared", &limit, 1, now));
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

/// Inserting a million counter keys into an empty store, and the store's
/// own byte accounting per key (printed once; see also
/// `examples/ratelimit_memory.rs` for resident memory).
fn rate_limit_keys_memory(c: &mut Criterion) {
    const KEYS: u32 = 1_000_000;
    let limit = Limit {
        count: 10,
        period_ms: 60_000,
        algorithm: Algorithm::FixedWindow,
    };
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("edge/per_user/user-{i:07}").into_bytes())
        .collect();
    let fill = |store: &MemoryCounters| {
        for key in &keys {
            black_box(store.hit(key, &limit, 1, 1_000));
        }
    };
    let store = MemoryCounters::default();
    fill(&store);
    eprintln!(
        "ratelimit/keys_memory: {} counters, {:.1} bytes per key (heap_bytes)",
        store.len(),
        store.heap_bytes() as f64 / f64::from(KEYS)
    );
    drop(store);
    let mut group = c.benchmark_group("ratelimit/keys_memory");
    group.sample_size(10);
    group.bench_function("insert_1M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let store = MemoryCounters::default();
                let start = Instant::now();
                fill(&store);
                total += start.elapsed();
            }
            total
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

criterion_group!(
    benches,
    authorize,
    scaling_mixed,
    rate_limit,
    rate_limit_at_scale,
    rate_limit_contended,
    rate_limit_keys_memory,
    compile
);
criterion_main!(benches);
