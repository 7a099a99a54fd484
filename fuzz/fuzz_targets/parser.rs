//! Arbitrary bytes as a policy file: decoding, parsing, checking and
//! formatting must never panic. Formatting is checked to be idempotent; a
//! policy that compiles must give a bundle the runtime loads and runs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_compiler::source::{FileId, Sources};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = reaper_compiler::parse::decode(FileId(0), data) else {
        return;
    };
    let mut sources = Sources::new();
    sources.add("fuzz.reaper", text.as_str());
    let _ = reaper_compiler::check(&sources);
    if let Ok(formatted) = reaper_compiler::fmt::format_source(FileId(0), &text) {
        match reaper_compiler::fmt::format_source(FileId(0), &formatted) {
            Ok(again) => assert_eq!(again, formatted, "formatting is not idempotent"),
            Err(diagnostics) => panic!("formatted text does not parse: {diagnostics:?}"),
        }
    }
    if let Ok(bytes) = reaper_compiler::compile(&sources) {
        match reaper_runtime::Engine::load(&bytes) {
            Ok(engine) => reaper_fuzz::exercise(&engine, true),
            Err(e) => panic!("a compiled bundle does not load: {e}"),
        }
    }
});
