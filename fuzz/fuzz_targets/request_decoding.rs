//! Arbitrary text as an authorization request against the document-sharing
//! and api-gateway bundles: `Engine::decode_request` must refuse it with an
//! error naming a field, or decode it; a decoded request is authorized and
//! explained, and the two must agree rule by rule. The fast decoder must
//! accept exactly what the precise one accepts, meaning the same request.
//! Never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{authorize, example_engines};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for engine in example_engines() {
        let fast = engine.decode_request_fast(text);
        let precise = engine.decode_request_precisely(text);
        match (&fast, &precise) {
            (Some(fast), Ok(precise)) => assert_eq!(
                engine.describe_request(fast),
                engine.describe_request(precise)
            ),
            (None, Err(_)) => {}
            _ => panic!("the decoders disagree on whether {text:?} is a request"),
        }
        if let Ok(request) = engine.decode_request(text) {
            authorize(engine, &request, true);
        }
    }
});
