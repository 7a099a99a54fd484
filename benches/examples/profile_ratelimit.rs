//! Runs one rate-limit decision in a loop, for profilers.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]

use std::hint::black_box;

use reaper_runtime::ratelimit::{Descriptor, RateLimitRequest};

fn main() {
    let text = "ratelimit \"edge\" {\n  limit per_user: 1_000_000_000 per minute when descriptor has user_id by descriptor.user_id;\n}\n";
    let bytes = reaper_benches::compile_text(text).unwrap();
    let engine = reaper_runtime::Engine::load(&bytes).unwrap();
    let request = RateLimitRequest::new("edge", vec![Descriptor::new(vec![("user_id", "alice")])]);
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut ok = 0u64;
    let mut response = engine.rate_limit(&request, 1_767_225_600_000).unwrap();
    for _ in 0..iterations {
        engine
            .rate_limit_into(black_box(&request), 1_767_225_600_000, &mut response)
            .unwrap();
        ok += u64::from(response.overall == reaper_runtime::ratelimit::Code::Ok);
    }
    println!("{ok}");
}
