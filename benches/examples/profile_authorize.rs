//! Runs the document-sharing authorization in a loop, for profilers
//! (`valgrind --tool=callgrind`, `perf record`): `profile_authorize N`
//! times the prepared request, `profile_authorize N json` decodes the
//! JSON each time too.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks abort on setup errors"
)]
use std::hint::black_box;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/document-sharing");
    let bytes = reaper_benches::compile_dir(&dir).unwrap_or_default();
    let Ok(engine) = reaper_runtime::Engine::load(&bytes) else {
        return;
    };
    let Ok(request) = engine.decode_request(reaper_benches::DOCUMENT_REQUEST) else {
        return;
    };
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let from_json = std::env::args().nth(2).is_some_and(|mode| mode == "json");
    let mut decision = reaper_runtime::Decision::default();
    let mut allowed = 0u64;
    for _ in 0..iterations {
        if from_json {
            let Ok(request) = engine.decode_request(black_box(reaper_benches::DOCUMENT_REQUEST))
            else {
                return;
            };
            engine.authorize_into(&request, &mut decision);
        } else {
            engine.authorize_into(black_box(&request), &mut decision);
        }
        allowed += u64::from(decision.allow);
    }
    println!("{allowed}");
}
