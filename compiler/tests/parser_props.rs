//! Property tests of the front end on hostile input: arbitrary bytes and
//! arbitrary sequences of real tokens must never panic the lexer, parser,
//! resolver or checker, and every diagnostic must point inside its file.

#[path = "common/tokens.rs"]
mod tokens;

use proptest::prelude::*;
use reaper_compiler::source::{FileId, Sources};

fn check_text(text: &str) {
    let mut sources = Sources::new();
    sources.add("fuzz.reaper", text);
    let checked = reaper_compiler::check(&sources);
    for d in &checked.diagnostics {
        let span = d.primary.span;
        assert!(
            span.start <= span.end && span.end as usize <= text.len(),
            "span {span:?} outside {} bytes",
            text.len()
        );
        assert!(
            text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize)
        );
    }
    // Formatting never panics either, and never formats a broken file.
    if let Ok(formatted) = reaper_compiler::fmt::format_source(FileId(0), text) {
        assert!(
            !checked
                .diagnostics
                .iter()
                .any(|d| d.code.id.starts_with("E00")),
            "formatted a file with syntax errors"
        );
        let again = reaper_compiler::fmt::format_source(FileId(0), &formatted);
        assert_eq!(
            again.as_deref(),
            Ok(formatted.as_str()),
            "formatting is not idempotent"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        match reaper_compiler::parse::decode(FileId(0), &bytes) {
            Ok(text) => check_text(&text),
            Err(undecodable) => prop_assert_eq!(undecodable.diagnostic.code.id, "E0001"),
        }
    }

    #[test]
    fn arbitrary_token_sequences_never_panic(text in tokens::token_text(120)) {
        check_text(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check_text(&text);
    }
}
