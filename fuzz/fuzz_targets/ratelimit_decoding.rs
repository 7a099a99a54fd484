//! Arbitrary text as an Envoy rate-limit request in its JSON form (what
//! `reaper eval --ratelimit` reads): `ratelimit::json::decode` refuses it
//! with an error naming a field, or decodes it; a decoded request is
//! decided by both example engines (at a fixed time) and each response
//! encoded. Never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::example_engines;
use reaper_lang::request::Limits;
use reaper_runtime::ratelimit::json;

/// 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = json::decode(text, &Limits::default()) else {
        return;
    };
    for engine in example_engines() {
        if let Ok(response) = engine.rate_limit(&request, NOW_MS) {
            let _ = json::encode(engine, &request.domain, &response);
        }
    }
});
