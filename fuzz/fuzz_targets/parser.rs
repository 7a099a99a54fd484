//! Arbitrary bytes as a policy file: decoding, parsing, checking, rendering
//! the diagnostics and formatting must never panic. Every diagnostic renders
//! in every format (human, short, JSON) with a human report of bounded size;
//! formatting is checked to be idempotent; a policy that compiles must give
//! a bundle the runtime loads and runs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reaper_cli::render::{self, Batch, Colors, Format};
use reaper_compiler::diagnostics::Diagnostic;
use reaper_compiler::source::{FileId, Sources};

/// Most one diagnostic's human report may take: a long line is shown as
/// windows, so the size does not grow with the input.
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// Renders `diagnostics` the way `reaper check` prints them, in every format.
fn render_everywhere(sources: &Sources, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        let batch = Batch {
            sources,
            diagnostics: std::slice::from_ref(diagnostic),
        };
        for colors in [Colors::Off, Colors::On] {
            let report = render::render(Format::Human, &[batch], colors);
            assert!(
                report.len() <= MAX_REPORT_BYTES * 4,
                "a {} report of {} bytes",
                diagnostic.code.id,
                report.len()
            );
        }
    }
    let batch = Batch {
        sources,
        diagnostics,
    };
    let short = render::render(Format::Short, &[batch], Colors::Off);
    assert_eq!(short.lines().count(), diagnostics.len(), "one line each");
    let json = render::render(Format::Json, &[batch], Colors::Off);
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
        panic!("the JSON report does not parse: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = match reaper_compiler::parse::decode(FileId(0), data) {
        Ok(text) => text,
        Err(undecodable) => {
            // Shown over the lossy text, as `reaper check` shows it.
            let mut sources = Sources::new();
            sources.add("fuzz.reaper", undecodable.lossy_text);
            render_everywhere(&sources, &[undecodable.diagnostic]);
            return;
        }
    };
    let mut sources = Sources::new();
    sources.add("fuzz.reaper", text.as_str());
    let checked = reaper_compiler::check(&sources);
    render_everywhere(&sources, &checked.diagnostics);
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
