//! Rate-limit decisions in process, Reaper against limitador and governor's
//! keyed GCRA limiter, in one run:
//!
//! - `ratelimit/prepared/{engine}`: one descriptor `user_id = alice`, the
//!   request already built (Reaper `RateLimitRequest`; limitador `Context`
//!   with the `descriptors` binding; governor the key `"alice"`), one hit
//!   counted per decision.
//! - `ratelimit/from_descriptor/{engine}`: the same, building the request from
//!   the descriptor's entries on every iteration, as a server does per call.
//!
//! All three count in memory and read a clock on every decision (Reaper and
//! limitador the wall clock, governor quanta's monotonic clock); the limit is
//! 10⁹ a minute, so every decision in a run is OK.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use reaper_compare::{gcra, ratelimit};

const ENTRIES: [(&str, &str); 1] = [("user_id", "alice")];

fn prepared(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/prepared");

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("reaper", |b| {
            let (engine, request, response) = state.get_or_insert_with(|| {
                let engine = reaper::rate_limits();
                let request = reaper::rate_limit_request(&ENTRIES);
                assert!(reaper::rate_limit(&engine, &request));
                let response = reaper::rate_limit_at(&engine, &request, reaper::now_ms());
                (engine, request, response)
            });
            b.iter(|| {
                reaper::rate_limit_into(engine, black_box(request), reaper::now_ms(), response)
            });
            assert!(reaper::rate_limit(engine, request), "still within limits");
        });
    }

    let mut state = None;
    group.bench_function("limitador", |b| {
        let (limiter, ns, ctx) = state.get_or_insert_with(|| {
            let limiter = ratelimit::limiter();
            let ns = ratelimit::namespace();
            let ctx = ratelimit::context(&ENTRIES);
            assert!(ratelimit::check(&limiter, &ns, &ctx));
            (limiter, ns, ctx)
        });
        b.iter(|| limiter.check_rate_limited_and_update(ns, black_box(ctx), 1));
        assert!(ratelimit::check(limiter, ns, ctx), "still within limits");
    });

    let mut state = None;
    group.bench_function("governor", |b| {
        let (limiter, key) = state.get_or_insert_with(|| {
            let limiter = gcra::limiter();
            let key = gcra::key(&ENTRIES).expect("a user_id");
            assert!(gcra::check(&limiter, &key));
            (limiter, key)
        });
        b.iter(|| limiter.check_key(black_box(key)));
        assert!(gcra::check(limiter, key), "still within limits");
    });

    group.finish();
}

fn from_descriptor(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/from_descriptor");

    #[cfg(feature = "reaper")]
    {
        use reaper_compare::reaper;
        let mut state = None;
        group.bench_function("reaper", |b| {
            let engine = state.get_or_insert_with(reaper::rate_limits);
            b.iter(|| {
                let request = reaper::rate_limit_request(black_box(&ENTRIES));
                reaper::rate_limit_at(engine, &request, reaper::now_ms())
            });
        });
    }

    let mut state = None;
    group.bench_function("limitador", |b| {
        let (limiter, ns) =
            state.get_or_insert_with(|| (ratelimit::limiter(), ratelimit::namespace()));
        b.iter(|| {
            let ctx = ratelimit::context(black_box(&ENTRIES));
            limiter.check_rate_limited_and_update(ns, &ctx, 1)
        });
    });

    let mut state = None;
    group.bench_function("governor", |b| {
        let limiter = state.get_or_insert_with(gcra::limiter);
        b.iter(|| gcra::key(black_box(&ENTRIES)).map(|key| limiter.check_key(&key)));
    });

    group.finish();
}

criterion_group!(benches, prepared, from_descriptor);
criterion_main!(benches);
