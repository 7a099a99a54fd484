//! The Reaper policy compiler: source text in, checked policy and diagnostics
//! out. No IO happens here; the CLI reads files and renders diagnostics.
//!
//! Stages, in data-flow order: [`lex`] → [`parse`] → [`resolve`] →
//! [`check`] (producing the [`typed`] tree).

pub mod ast;
pub mod check;
pub mod diagnostics;
pub mod fmt;
pub mod lex;
pub mod parse;
pub mod resolve;
pub mod source;
pub mod typed;

pub use check::{Checked, check, check_files};
