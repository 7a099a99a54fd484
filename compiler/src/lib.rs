//! The Reaper policy compiler: source text in, checked policy and diagnostics
//! out. No IO happens here; the CLI reads files and renders diagnostics.
//!
//! Stages, in data-flow order: [`lex`] → [`parse`] → [`resolve`] →
//! [`check`] (producing the [`typed`] tree) → [`lower`] (producing a bundle).

pub mod ast;
pub mod check;
pub mod diagnostics;
pub mod fmt;
pub mod lex;
pub mod lower;
pub mod parse;
pub mod reference;
pub mod resolve;
pub mod source;
pub mod symbols;
pub mod test_cases;
pub mod typed;

pub use check::{Checked, Keep, check, check_files, check_files_keeping, check_files_recording};

use diagnostics::Diagnostic;
use source::Sources;

/// Checks and compiles a package to bundle bytes, or returns its
/// diagnostics if it has errors. Warnings do not stop compilation.
pub fn compile(sources: &Sources) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let ids: Vec<source::FileId> = sources.files().map(|(id, _)| id).collect();
    let checked = check_files_keeping(sources, &ids, Keep::Bytecode);
    // Without errors there is a bundle (a rule that did not lower is one).
    match checked.bundle {
        Some(bundle) if !checked.has_errors() => Ok(reaper_lang::bundle::encode(&bundle)),
        _ => Err(checked.diagnostics),
    }
}

/// Lowers an already checked package, if it has no errors.
pub fn compile_checked(checked: &Checked) -> Result<reaper_lang::bundle::Bundle, Vec<Diagnostic>> {
    if checked.has_errors() {
        return Err(checked.diagnostics.clone());
    }
    if checked.keep != Keep::Typed {
        let unsupported = lower::Unsupported("a package whose rules were not kept");
        return Err(vec![lower::internal_error(&unsupported)]);
    }
    // A checked package without errors always lowers; anything else is a
    // compiler bug, reported rather than hidden.
    lower::lower(&checked.package).map_err(|unsupported| vec![lower::internal_error(&unsupported)])
}
