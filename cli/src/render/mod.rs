//! Rendering diagnostics for people, editors and tools: `human` (miette's
//! graphical report with source snippets), `short` (one line each, for
//! problem matchers) and `json` (an array of objects with ranges).

mod human;
mod json;
mod short;
mod snippet;

use reaper_compiler::diagnostics::{Diagnostic, Severity};
use reaper_compiler::source::{Sources, Span};

pub use human::Colors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Short,
    Json,
}

/// Diagnostics of one package with the sources they point into.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub sources: &'a Sources,
    pub diagnostics: &'a [Diagnostic],
}

/// Renders every batch in `format`; json renders all batches as one array.
pub fn render(format: Format, batches: &[Batch<'_>], colors: Colors) -> String {
    match format {
        Format::Human => batches.iter().map(|b| human::render(b, colors)).collect(),
        Format::Short => batches.iter().map(short::render).collect(),
        Format::Json => json::render(batches),
    }
}

/// Start and end of a span as 1-based line/column pairs.
pub fn range(sources: &Sources, span: Span) -> ((u32, u32), (u32, u32)) {
    let file = sources.file(span.file);
    let start = file.line_col(span.start);
    let end = file.line_col(span.end);
    ((start.line, start.column), (end.line, end.column))
}

/// Counts errors and warnings.
pub fn counts(batches: &[Batch<'_>]) -> (usize, usize) {
    let all = batches.iter().flat_map(|b| b.diagnostics.iter());
    all.fold((0, 0), |(e, w), d| match d.severity() {
        Severity::Error => (e + 1, w),
        Severity::Warning => (e, w + 1),
    })
}
