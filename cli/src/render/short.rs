//! `file:line:col: severity[code]: message`, one line per diagnostic: the
//! shape editors' problem matchers and `grep` expect.

use std::fmt::Write;

use super::{Batch, range};

pub fn render(batch: &Batch<'_>) -> String {
    let mut out = String::new();
    for d in batch.diagnostics {
        let ((line, column), _) = range(batch.sources, d.primary.span);
        let file = &batch.sources.file(d.primary.span.file).name;
        let _ = writeln!(
            out,
            "{file}:{line}:{column}: {}[{}]: {}",
            d.severity().as_str(),
            d.code.id,
            d.message
        );
    }
    out
}
