//! Would a SIMD JSON parser pay for Reaper's request decoding? The
//! document-sharing request (0.6 KB) through general-purpose parsers —
//! serde_json's validating skip and tree, simd-json's tape and tree,
//! sonic-rs's tree — beside Reaper's whole one-pass decode (parse, check
//! against the schema, intern, build the evaluation form). A parser's
//! time alone is what a faster parser could at most save.

#![allow(clippy::unwrap_used, reason = "benchmarks abort on setup errors")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const REQUEST: &str = include_str!("../policies/document-sharing/request.reaper.json");

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_parsers");
    group.bench_function("serde_json/validate_only", |b| {
        b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(black_box(REQUEST)).is_ok())
    });
    group.bench_function("serde_json/value", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(REQUEST)).is_ok())
    });
    // simd-json parses in place: each iteration copies the text first, as
    // a server would copy a request body it does not own.
    let mut buffer = REQUEST.as_bytes().to_vec();
    group.bench_function("simd_json/tape", |b| {
        b.iter(|| {
            buffer.copy_from_slice(REQUEST.as_bytes());
            simd_json::to_tape(black_box(&mut buffer)).is_ok()
        })
    });
    group.bench_function("simd_json/borrowed_value", |b| {
        b.iter(|| {
            buffer.copy_from_slice(REQUEST.as_bytes());
            simd_json::to_borrowed_value(black_box(&mut buffer)).is_ok()
        })
    });
    group.bench_function("sonic_rs/value", |b| {
        b.iter(|| sonic_rs::from_str::<sonic_rs::Value>(black_box(REQUEST)).is_ok())
    });
    #[cfg(feature = "reaper")]
    {
        let engine = reaper_compare::reaper::document_sharing();
        assert!(engine.decode_request_fast(REQUEST).is_some());
        group.bench_function("reaper/decode_request", |b| {
            b.iter(|| engine.decode_request(black_box(REQUEST)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
