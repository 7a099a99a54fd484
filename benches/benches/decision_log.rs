//! What a decision-log record costs (docs/benchmarks.md, "Observability
//! overhead"): the request path's part (deciding to log, copying the
//! request, queueing) and the writer thread's (formatting the JSON line,
//! with `@sensitive` redaction of the request text), on the
//! document-sharing request `benches/http/observability.sh` sends, beside
//! the decision itself in the same run.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use reaper_runtime::Engine;
use reaper_server::observe::decision_log::{LoggedRequest, Record, format_record};

fn record(engine: &Arc<Engine>, request: &str) -> Record {
    Record {
        time_ms: 1_764_000_000_000,
        decision_id: "01a2237f-b016-77a9-ba9e-0daf5eafdb5f".to_owned(),
        kind: "authorize",
        engine: Arc::clone(engine),
        request: LoggedRequest::Json(request.to_owned()),
        result: "allow",
        reasons: vec!["owner-reads".to_owned()],
        errors: Vec::new(),
        forbid_errored: false,
        latency: Duration::from_nanos(2_500),
        trace_id: None,
    }
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bytes = reaper_benches::compile_dir(&root.join("examples/document-sharing")).unwrap();
    let engine = Arc::new(Engine::load(&bytes).unwrap());
    let request = std::fs::read_to_string(root.join("benches/http/authorize.json")).unwrap();
    assert!(
        !engine.schema().sensitive.is_empty(),
        "the example marks `email`"
    );
    let mut group = c.benchmark_group("decision_log");
    group.bench_function("decide_from_json", |b| {
        b.iter(|| {
            let prepared = engine.decode_request(black_box(&request)).unwrap();
            black_box(engine.authorize(&prepared))
        })
    });
    group.bench_function("record_on_request_path", |b| {
        b.iter(|| black_box(record(&engine, black_box(&request))))
    });
    let masked = record(&engine, &request);
    let mut line = Vec::with_capacity(2048);
    group.bench_function("format_line_masked", |b| {
        b.iter(|| {
            line.clear();
            format_record(black_box(&masked), &mut line);
            black_box(line.len())
        })
    });
    let mut unmarked = reaper_lang::bundle::decode(&bytes).unwrap();
    unmarked.schema.sensitive = Default::default();
    let plain_engine = Arc::new(Engine::load(&reaper_lang::bundle::encode(&unmarked)).unwrap());
    let plain = record(&plain_engine, &request);
    group.bench_function("format_line_unmarked", |b| {
        b.iter(|| {
            line.clear();
            format_record(black_box(&plain), &mut line);
            black_box(line.len())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
