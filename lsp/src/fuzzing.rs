//! Every request the server answers, on one text at given offsets, without
//! the protocol: for the property test beside it and the `lsp_requests`
//! fuzz target. Not an API.

use std::sync::Arc;

use reaper_compiler::source::FileId;
use tower_lsp_server::ls_types::Uri;

use crate::package::{self, Analysis, Input, ParseCache};
use crate::text::Encoding;
use crate::{complete, diagnostics, lenses, navigate, outline};

/// A one-file package checked and indexed as the server does it.
pub(crate) fn analysis(text: &str) -> Analysis {
    #[allow(clippy::expect_used, reason = "a constant, valid URI")]
    let uri: Uri = "file:///reaper-fuzz/a.reaper".parse().expect("a valid URI");
    let inputs = vec![Input {
        uri,
        name: "a.reaper".to_owned(),
        text: Ok(Arc::from(text)),
        bytes: None,
    }];
    let checked = package::check(inputs, Encoding::Utf16);
    package::index(checked, &mut ParseCache::new())
}

/// Checks `text`, then asks every whole-file request and every positional
/// request at each of `offsets` (clamped to the text, moved back to a
/// character boundary).
pub fn every_request(text: &str, offsets: &[usize]) {
    let analysis = analysis(text);
    let file = FileId(0);
    let uri = analysis.package.file(file).uri.clone();
    let _ = diagnostics::by_file(&analysis.package);
    for d in &analysis.package.diagnostics {
        let _ = diagnostics::fixes(&analysis, d);
    }
    let _ = outline::document_symbols(&analysis, file);
    let _ = outline::folding_ranges(&analysis, file);
    let _ = outline::semantic_tokens(&analysis, file);
    let _ = lenses::lenses(&analysis, file, &uri);
    for offset in offsets {
        let mut offset = (*offset).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let at = u32::try_from(offset).unwrap_or(u32::MAX);
        let _ = navigate::hover(&analysis, file, at);
        let _ = navigate::definition(&analysis, file, at);
        let _ = navigate::references(&analysis, file, at, true);
        let _ = navigate::rename(&analysis, file, at, "renamed");
        let _ = complete::complete(&analysis, file, offset);
    }
}
