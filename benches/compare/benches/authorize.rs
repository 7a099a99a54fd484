//! Authorization, Reaper against cedar-policy and regorus (RVM), in one run:
//!
//! - `authorize/prepared/{engine}`: the document-sharing policy, the request
//!   already in the engine's input form (Reaper `Request`; Cedar `Request` +
//!   `Entities`; regorus input `Value` in a loaded `RegoVM`).
//! - `authorize/from_json/decode_and_authorize/{engine}`: the same from JSON
//!   text, and `authorize/from_json/decode/{engine}` the decoding alone.
//! - `authorize/e2e_1024/{engine}`: 1,024 varied requests (`varied`), JSON
//!   text in, decision out, each engine parsing its own JSON form; and
//!   `authorize/prepared_1024/{engine}` the same decisions with the inputs
//!   decoded outside the loop. One iteration is 1,024 decisions.
//! - `scaling/{engine}/{n}`: `n` rules, one of which applies; for regorus,
//!   `regorus_rvm` (literal rules, up to 1,000: the RVM cannot hold 10,000),
//!   `regorus_interpreter` (literal rules, every size) and `regorus_rvm_data`
//!   (one rule, the ids in `data`).
//!
//! Engines are built lazily, on a benchmark's first call, so a filter such as
//! `cargo bench --bench authorize -- scaling/reaper` builds only Reaper's.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reaper_compare::cedar::Cedar;
use reaper_compare::rego::{self, Interpreter, Rvm};
use reaper_compare::{scaling, varied};

const CEDAR_REQUEST: &str = include_str!("../policies/document-sharing/request.cedar.json");
const REGO_INPUT: &str = include_str!("../policies/document-sharing/request.rego.json");
#[cfg(feature = "reaper")]
const REAPER_REQUEST: &str = include_str!("../policies/document-sharing/request.reaper.json");

fn prepared(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize/prepared");

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("reaper", |b| {
            let (engine, request) = state.get_or_insert_with(|| {
                let engine = reaper::document_sharing();
                let request = reaper::decode(&engine, REAPER_REQUEST);
                assert!(reaper::authorize(&engine, &request).allow);
                (engine, request)
            });
            b.iter(|| engine.authorize(black_box(request)));
        });
    }

    let mut state = None;
    group.bench_function("cedar", |b| {
        let (cedar, input) = state.get_or_insert_with(|| {
            let cedar = Cedar::document_sharing();
            let input = cedar.decode(CEDAR_REQUEST);
            assert!(cedar.allows(&input));
            (cedar, input)
        });
        b.iter(|| cedar.authorize(black_box(input)));
    });

    let mut state = None;
    group.bench_function("regorus_rvm", |b| {
        let (rvm, input) = state.get_or_insert_with(|| {
            let mut rvm = Rvm::document_sharing();
            let input = rego::decode(REGO_INPUT);
            assert!(rvm.allows(&input));
            (rvm, input)
        });
        b.iter(|| rvm.eval(black_box(input)));
    });

    group.finish();
}

fn from_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize/from_json");

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("decode_and_authorize/reaper", |b| {
            let engine = state.get_or_insert_with(reaper::document_sharing);
            b.iter(|| {
                let request = reaper::decode(engine, black_box(REAPER_REQUEST));
                engine.authorize(&request)
            });
        });
        let mut state = None;
        group.bench_function("decode/reaper", |b| {
            let engine = state.get_or_insert_with(reaper::document_sharing);
            b.iter(|| reaper::decode(engine, black_box(REAPER_REQUEST)));
        });
    }

    let mut state = None;
    group.bench_function("decode_and_authorize/cedar", |b| {
        let cedar = state.get_or_insert_with(Cedar::document_sharing);
        b.iter(|| {
            let input = cedar.decode(black_box(CEDAR_REQUEST));
            cedar.authorize(&input)
        });
    });
    let mut state = None;
    group.bench_function("decode/cedar", |b| {
        let cedar = state.get_or_insert_with(Cedar::document_sharing);
        b.iter(|| cedar.decode(black_box(CEDAR_REQUEST)));
    });

    let mut state = None;
    group.bench_function("decode_and_authorize/regorus_rvm", |b| {
        let rvm = state.get_or_insert_with(Rvm::document_sharing);
        b.iter(|| {
            let input = rego::decode(black_box(REGO_INPUT));
            rvm.eval(&input)
        });
    });
    group.bench_function("decode/regorus_rvm", |b| {
        b.iter(|| rego::decode(black_box(REGO_INPUT)));
    });

    group.finish();
}

/// Criterion settings for the 1,024-request groups: one iteration is 1,024
/// decisions (up to about 150 ms for Cedar), so few samples.
fn configure_1024(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.throughput(Throughput::Elements(varied::COUNT as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

/// JSON text in, decision out, over the 1,024 varied requests: each engine
/// parses its own JSON form of each request and decides. Per-request time is
/// the iteration time / 1,024 (criterion's throughput line gives it as
/// elements per second).
fn e2e_1024(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize/e2e_1024");
    configure_1024(&mut group);
    let mut texts = None;
    let mut texts = || texts.get_or_insert_with(varied::benchmark_json).clone();

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("reaper", |b| {
            let (engine, requests) =
                state.get_or_insert_with(|| (reaper::document_sharing(), texts().0));
            b.iter(|| {
                let mut allowed = 0_usize;
                for text in requests.iter() {
                    let request = reaper::decode(engine, black_box(text));
                    allowed += usize::from(engine.authorize(&request).allow);
                }
                allowed
            });
        });
    }

    let mut state = None;
    group.bench_function("cedar", |b| {
        let (cedar, requests) = state.get_or_insert_with(|| (Cedar::document_sharing(), texts().1));
        b.iter(|| {
            let mut allowed = 0_usize;
            for text in requests.iter() {
                let input = cedar.decode(black_box(text));
                allowed += usize::from(cedar.allows(&input));
            }
            allowed
        });
    });

    let mut state = None;
    group.bench_function("regorus_rvm", |b| {
        let (rvm, requests) = state.get_or_insert_with(|| (Rvm::document_sharing(), texts().2));
        b.iter(|| {
            let mut allowed = 0_usize;
            for text in requests.iter() {
                let input = rego::decode(black_box(text));
                allowed += usize::from(rvm.allows(&input));
            }
            allowed
        });
    });

    group.finish();
}

/// The same 1,024 decisions with every request already in the engine's input
/// form (decoded outside the timed loop).
fn prepared_1024(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize/prepared_1024");
    configure_1024(&mut group);
    let mut texts = None;
    let mut texts = || texts.get_or_insert_with(varied::benchmark_json).clone();

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("reaper", |b| {
            let (engine, requests) = state.get_or_insert_with(|| {
                let engine = reaper::document_sharing();
                let requests: Vec<_> = texts()
                    .0
                    .iter()
                    .map(|t| reaper::decode(&engine, t))
                    .collect();
                (engine, requests)
            });
            b.iter(|| {
                let mut allowed = 0_usize;
                for request in requests.iter() {
                    allowed += usize::from(engine.authorize(black_box(request)).allow);
                }
                allowed
            });
        });
    }

    let mut state = None;
    group.bench_function("cedar", |b| {
        let (cedar, inputs) = state.get_or_insert_with(|| {
            let cedar = Cedar::document_sharing();
            let inputs: Vec<_> = texts().1.iter().map(|t| cedar.decode(t)).collect();
            (cedar, inputs)
        });
        b.iter(|| {
            let mut allowed = 0_usize;
            for input in inputs.iter() {
                allowed += usize::from(cedar.allows(black_box(input)));
            }
            allowed
        });
    });

    let mut state = None;
    group.bench_function("regorus_rvm", |b| {
        let (rvm, inputs) = state.get_or_insert_with(|| {
            let inputs: Vec<_> = texts().2.iter().map(|t| rego::decode(t)).collect();
            (Rvm::document_sharing(), inputs)
        });
        b.iter(|| {
            let mut allowed = 0_usize;
            for input in inputs.iter() {
                allowed += usize::from(rvm.allows(black_box(input)));
            }
            allowed
        });
    });

    group.finish();
}

fn scaling_series(c: &mut Criterion) {
    // A 10,000-rule Cedar or Rego evaluation takes milliseconds; fewer,
    // shorter samples keep the series to minutes on two cores.
    let configure =
        |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>| {
            group.sample_size(30);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(3));
        };

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut group = c.benchmark_group("scaling/reaper");
        configure(&mut group);
        for n in scaling::SIZES {
            let mut state = None;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                let (engine, request) = state.get_or_insert_with(|| {
                    let engine = reaper::scaling(n);
                    let json = scaling::scenario(n).reaper_json().to_string();
                    let request = reaper::decode(&engine, &json);
                    assert!(reaper::authorize(&engine, &request).allow);
                    (engine, request)
                });
                b.iter(|| engine.authorize(black_box(request)));
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("scaling/cedar");
    configure(&mut group);
    for n in scaling::SIZES {
        let mut state = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let (cedar, input) = state.get_or_insert_with(|| {
                let cedar = Cedar::new(reaper_compare::cedar::SCHEMA, &scaling::cedar_policies(n));
                let input = cedar.decode(&scaling::scenario(n).cedar_json().to_string());
                assert!(cedar.allows(&input));
                (cedar, input)
            });
            b.iter(|| cedar.authorize(black_box(input)));
        });
    }
    group.finish();

    // The literal n-rule Rego form on the RVM, where it fits (see
    // `scaling::rego_policy`: not at 10,000 rules).
    let mut group = c.benchmark_group("scaling/regorus_rvm");
    configure(&mut group);
    for n in scaling::RVM_LITERAL_SIZES {
        let mut state = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let (rvm, input) = state.get_or_insert_with(|| {
                let mut rvm = Rvm::new("scale.rego", &scaling::rego_policy(n), scaling::REGO_ALLOW);
                let input = rego::decode(&scaling::scenario(n).rego_input_json().to_string());
                assert!(rvm.allows(&input));
                (rvm, input)
            });
            b.iter(|| rvm.eval(black_box(input)));
        });
    }
    group.finish();

    // The same literal form on regorus's interpreter, at every size.
    let mut group = c.benchmark_group("scaling/regorus_interpreter");
    configure(&mut group);
    for n in scaling::SIZES {
        let mut state = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let (interpreter, input) = state.get_or_insert_with(|| {
                let mut interpreter =
                    Interpreter::new("scale.rego", &scaling::rego_policy(n), scaling::REGO_ALLOW);
                let input = rego::decode(&scaling::scenario(n).rego_input_json().to_string());
                assert!(interpreter.allows(&input));
                (interpreter, input)
            });
            b.iter(|| interpreter.eval(black_box(input)));
        });
    }
    group.finish();

    // The idiomatic data-driven Rego form on the RVM: one rule, n ids in `data`.
    let mut group = c.benchmark_group("scaling/regorus_rvm_data");
    configure(&mut group);
    for n in scaling::SIZES {
        let mut state = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let (rvm, input) = state.get_or_insert_with(|| {
                let mut rvm =
                    Rvm::new("scale.rego", scaling::REGO_DATA_POLICY, scaling::REGO_ALLOW)
                        .with_data(rego::decode(&scaling::rego_data(n).to_string()));
                let input = rego::decode(&scaling::scenario(n).rego_input_json().to_string());
                assert!(rvm.allows(&input));
                (rvm, input)
            });
            b.iter(|| rvm.eval(black_box(input)));
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    prepared,
    from_json,
    e2e_1024,
    prepared_1024,
    scaling_series
);
criterion_main!(benches);
