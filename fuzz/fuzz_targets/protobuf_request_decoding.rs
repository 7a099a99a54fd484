//! Arbitrary bytes as a protobuf authorization request against the
//! examples' bundles: whatever the fast decoder accepts, the precise one
//! (the request written as JSON) accepts as the same request; anything
//! else is refused with an error. A decoded request is authorized and
//! explained, and the two must agree. Never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{authorize, example_engines};

fuzz_target!(|data: &[u8]| {
    for engine in example_engines() {
        if let Some(fast) = engine.decode_request_protobuf_fast(data) {
            match engine.decode_request_protobuf_precisely(data) {
                Ok(precise) => assert_eq!(
                    engine.describe_request(&fast),
                    engine.describe_request(&precise)
                ),
                Err(e) => panic!("the fast decoder accepts what the precise one refuses: {e}"),
            }
        }
        if let Ok(request) = engine.decode_request_protobuf(data) {
            authorize(engine, &request, true);
        }
    }
});
