//! Canonical formatting of policy files (`reaper fmt`).
//!
//! The formatter prints the syntax tree, not the source text: the output
//! depends on the tree, the comments and where the source had blank lines,
//! never on its spacing or line breaks. **Invariants** (each has tests):
//! formatting is idempotent, never changes the tree ([`tree_fingerprint`]
//! before and after are equal), keeps every comment exactly once and in
//! order, and refuses files with syntax errors.
//!
//! Files: `printer.rs` walks the tree and the source's tokens together and
//! places comments; `items.rs` and `expr.rs` say how each construct is laid
//! out; `doc.rs` decides line breaks; `fingerprint.rs` renders trees.
//!
//! Style:
//! - Lines are at most 100 columns, indentation is 2 spaces. A line is
//!   longer only when nothing in it can break (a long string); a trailing
//!   comment does not count.
//! - Items keep the source's separation, but a run of blank lines becomes
//!   one; there is no blank line at the start or end of the file, after an
//!   opening brace or before a closing one. Blocks (`ratelimit`, `http`,
//!   `test`) have one statement per line and keep single blank lines; a
//!   list keeps them between its elements when it is one per line.
//! - Entity, context and store declarations, records, sets and argument
//!   lists are flat if they fit (`{ a: 1, b: 2 }`, `[a, b]`, `f(a, b)`;
//!   empty: `{}`, `[]`), else one element per line with a trailing comma.
//!   When lists share a line, the last one breaks first
//!   (`entity Doc in [Folder] {`), except in test data, where the record
//!   breaks before the short list after it (`} matches [a, b] allows 5;`).
//! - Entity parents, in declarations and test data, are always bracketed
//!   (`in [Team]`); `in []` is dropped, as are `on []` / `by []` in action
//!   declarations (they declare nothing). Types after `on` / `by` are bare
//!   when there is one and bracketed when there are several.
//! - Annotations go one per line above their rule. A rule or a `limit` is
//!   one line if it fits; otherwise every `when` / `unless` (and a limit's
//!   `by`) starts a line indented 2 more. A condition that is still too
//!   long breaks before each `&&` (or each `||`) of its top-level chain,
//!   the operator leading a line indented 2 more. Nested chains and `if`
//!   (before `then` and `else`) break the same way, inner ones only if
//!   needed; a chain that is the first operand of the other operator
//!   (`a && b || c`) breaks one level deeper, so precedence shows.
//! - Operators have one space around them; `!x` and `-x` have none.
//!   Parentheses are printed exactly where the tree has them. Numbers,
//!   durations, sizes, IPs, timestamps, strings and `like` patterns keep
//!   their source spelling; a negation folded into an integer (`- 5`) is
//!   printed `-5`.
//! - Comments: a comment that followed code on its line stays at the end
//!   of the line of the token it followed, after one space; any other
//!   comment gets its own line, indented like the token after it (or like
//!   the block's statements when it comes before a closing brace). A
//!   comment ends its line, so the construct holding it is laid out broken.
//!   Comments before a `,` or `;` move after it, so a separator never
//!   starts a line; comments before a list, or before the effect of an
//!   annotated rule, stay outside it and leave its layout alone.

mod doc;
mod expr;
mod fingerprint;
mod items;
mod printer;
#[cfg(test)]
mod tests;

use crate::ast;
use crate::diagnostics::Diagnostic;
use crate::parse::parse;
use crate::source::FileId;

pub use fingerprint::tree_fingerprint;

/// Formats one file. A file with syntax errors is not formatted: its
/// diagnostics (warnings included) are returned instead. The text ends in
/// one newline, or is empty when the file has neither code nor comments.
pub fn format_source(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse(file, text);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parsed.diagnostics);
    }
    Ok(format_parsed(file, text, &parsed.file, &parsed.comments).0)
}

/// An expression of `text` in canonical form on one line, comments left
/// out (`resource.owner == principal && context.mfa`): how explanations and
/// listings quote conditions.
pub fn expr_text(file: FileId, text: &str, expr: &ast::Expr) -> String {
    let mut printer = printer::Printer::for_span(file, text, expr.span);
    let doc = printer.expr(expr);
    doc::render_flat(&doc)
}

/// The formatted text, and how many tokens the printer expected but did not
/// find in the source (always zero for a correct printer).
fn format_parsed(
    file: FileId,
    text: &str,
    tree: &ast::File,
    comments: &[crate::lex::Comment],
) -> (String, usize) {
    let mut printer = printer::Printer::new(file, text, comments);
    let doc = printer.file(tree);
    debug_assert_eq!(
        printer.mismatches, 0,
        "the printer lost its place in the source"
    );
    (doc::render(&doc), printer.mismatches)
}
