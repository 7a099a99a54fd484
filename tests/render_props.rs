//! Property tests of the renderers on hostile input: the diagnostics of
//! arbitrary bytes, arbitrary token sequences and very long lines render in
//! every format without panicking, each diagnostic's human report stays
//! small whatever the line length, nothing a terminal would obey is printed
//! raw, and the short format keeps one line per diagnostic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "../compiler/tests/common/tokens.rs"]
mod tokens;

use proptest::prelude::*;
use reaper_cli::render::{self, Batch, Colors, Format};
use reaper_compiler::diagnostics::Diagnostic;
use reaper_compiler::parse;
use reaper_compiler::source::{FileId, Sources};
use reaper_lang::printable::is_unsafe;

/// Most a single diagnostic's human report may take. Windows keep a long
/// line to a few hundred columns; a report holds a handful of lines, a
/// message and help quoting at most the input.
fn report_limit(input_len: usize) -> usize {
    16 * 1024 + 4 * input_len.min(4 * 1024)
}

/// Loads bytes the way `reaper check` does: undecodable files keep their
/// lossy text to show their one diagnostic.
fn load(bytes: &[u8]) -> (Sources, Vec<Diagnostic>) {
    let mut sources = Sources::new();
    match parse::decode(FileId(0), bytes) {
        Ok(text) => {
            sources.add("fuzz.reaper", text);
            let diagnostics = reaper_compiler::check(&sources).diagnostics;
            (sources, diagnostics)
        }
        Err(undecodable) => {
            sources.add("fuzz.reaper", undecodable.lossy_text);
            (sources, vec![undecodable.diagnostic])
        }
    }
}

/// Whether `text` holds a character a terminal would obey (line feeds and
/// tabs are layout).
fn raw_controls(text: &str) -> bool {
    text.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t')
}

fn render_all(bytes: &[u8]) {
    let (sources, diagnostics) = load(bytes);
    for (i, diagnostic) in diagnostics.iter().enumerate() {
        let batch = Batch {
            sources: &sources,
            diagnostics: std::slice::from_ref(diagnostic),
        };
        let human = render::render(Format::Human, &[batch], Colors::Off);
        assert!(
            human.len() <= report_limit(bytes.len()),
            "diagnostic {i} ({}) renders to {} bytes",
            diagnostic.code.id,
            human.len()
        );
        assert!(!raw_controls(&human), "{human:?}");
        let colored = render::render(Format::Human, &[batch], Colors::On);
        assert!(colored.len() <= 4 * report_limit(bytes.len()));
    }
    let batch = Batch {
        sources: &sources,
        diagnostics: &diagnostics,
    };
    let short = render::render(Format::Short, &[batch], Colors::Off);
    assert!(!raw_controls(&short), "{short:?}");
    assert_eq!(short.lines().count(), diagnostics.len(), "{short}");
    let json = render::render(Format::Json, &[batch], Colors::Off);
    let parsed: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(
        parsed.as_array().map(Vec::len),
        Some(diagnostics.len()),
        "{json}"
    );
}

/// One line: `columns` characters of a list, then tokens, so diagnostics
/// land far to the right (past column 65,535 for the longest).
fn long_line() -> impl Strategy<Value = String> {
    (0usize..30_000, tokens::token_text(60)).prop_map(|(items, tokens)| {
        format!(
            "entity User\npermit when principal in [{}{tokens}",
            "User::\"u\", ".repeat(items)
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_render_in_every_format(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        render_all(&bytes);
    }

    #[test]
    fn arbitrary_token_sequences_render_in_every_format(text in tokens::token_text(120)) {
        render_all(text.as_bytes());
    }

    #[test]
    fn arbitrary_characters_render_in_every_format(chars in proptest::collection::vec(any::<char>(), 0..200)) {
        render_all(chars.into_iter().collect::<String>().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn long_lines_render_in_bounded_windows(text in long_line()) {
        render_all(text.as_bytes());
    }
}
