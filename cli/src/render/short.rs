//! `file:line:col: severity[code]: message`, one line per diagnostic: the
//! shape editors' problem matchers and `grep` expect. The file name and the
//! message are escaped, line feeds included, so each diagnostic stays one
//! line and cannot drive the terminal.

use std::fmt::Write;

use reaper_lang::printable::printable_line;

use super::{Batch, range};

pub fn render(batch: &Batch<'_>) -> String {
    let mut out = String::new();
    for d in batch.diagnostics {
        let ((line, column), _) = range(batch.sources, d.primary.span);
        let file = printable_line(&batch.sources.file(d.primary.span.file).name);
        let _ = writeln!(
            out,
            "{file}:{line}:{column}: {}[{}]: {}",
            d.severity().as_str(),
            d.code.id,
            printable_line(&d.message)
        );
    }
    out
}
