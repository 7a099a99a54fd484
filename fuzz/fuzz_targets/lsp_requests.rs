//! Arbitrary text as an open document: the language server checks and
//! indexes it, then answers every request (hover, definition, references,
//! rename, completion, quick fixes, outline, folding, semantic tokens,
//! lenses) at positions taken from the input. Nothing may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first bytes choose positions, the rest is the document.
    let (head, body) = data.split_at(data.len().min(8));
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let offsets: Vec<usize> = head.iter().map(|b| usize::from(*b) * text.len() / 255).collect();
    reaper_lsp::fuzzing::every_request(text, &offsets);
});
