//! Arbitrary text as an HTTP request in its JSON form (what
//! `reaper eval --http` reads): `HttpRequest::from_json` refuses it naming a
//! field, or decodes it; a decoded request is mapped through the
//! api-gateway's `http` block (the document-sharing bundle has none, so
//! refuses it), and a mapped request, with the entity data given, is
//! decoded, authorized and explained, the two agreeing as in
//! `request_decoding`. Never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_fuzz::{authorize, example_engines};
use reaper_runtime::http::HttpRequest;

/// 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((request, entities)) = HttpRequest::from_json(text, NOW_MS) else {
        return;
    };
    for engine in example_engines() {
        let Ok(mapped) = engine.map_http(&request) else {
            continue;
        };
        let mut full = mapped.request;
        if let (Some(object), Some(entities)) = (full.as_object_mut(), entities.clone()) {
            object.insert("entities".into(), entities);
        }
        if let Ok(request) = engine.decode_request(&full.to_string()) {
            authorize(engine, &request, true);
        }
    }
});
