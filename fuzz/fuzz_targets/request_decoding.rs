//! Arbitrary text as an authorization request against the document-sharing
//! and api-gateway bundles: `Engine::decode_request` must refuse it with an
//! error naming a field, or decode it; a decoded request is authorized and
//! explained, and the two must agree rule by rule. Never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{authorize, example_engines};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for engine in example_engines() {
        if let Ok(request) = engine.decode_request(text) {
            authorize(engine, &request, true);
        }
    }
});
