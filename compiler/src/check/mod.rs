//! Stage 4, types: checks a package's rules, limits, stores, http mapping
//! and tests against the schema the resolver built, producing the typed tree
//! and every diagnostic in one pass.

mod access;
mod calls;
mod expr;
mod facts;
mod http;
mod impossible;
mod limits;
mod lints;
mod rules;
mod stores;
mod tests;
pub mod types;

use std::collections::HashMap;

use crate::ast::{self, Item};
use crate::diagnostics::{self, Code, Diagnostic};
use crate::parse;
use crate::resolve::{self, Names};
use crate::source::{FileId, Sources, Span};
use crate::typed::{self, Origin};

pub use expr::Scope;

/// The result of checking a package: its typed tree (complete when there
/// are no errors) and all diagnostics, sorted by place.
#[derive(Debug)]
pub struct Checked {
    pub package: typed::Package,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks every file of `sources` as one package.
pub fn check(sources: &Sources) -> Checked {
    let ids: Vec<FileId> = sources.files().map(|(id, _)| id).collect();
    check_files(sources, &ids)
}

/// Parses and checks the files `ids` of `sources` as one package (the others
/// are only there to render diagnostics, like a file that is not UTF-8).
pub fn check_files(sources: &Sources, ids: &[FileId]) -> Checked {
    let mut diags = Vec::new();
    let mut files = Vec::with_capacity(ids.len());
    for id in ids {
        let parsed = parse::parse(*id, &sources.file(*id).text);
        diags.extend(parsed.diagnostics);
        files.push((*id, parsed.file));
    }
    let parse_errors: Vec<Span> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.primary.span)
        .collect();
    let mut checked = check_package(sources, &files, parse_errors);
    diags.append(&mut checked.diagnostics);
    diagnostics::sort(&mut diags);
    checked.diagnostics = diags;
    checked
}

/// Checks already parsed files as one package.
pub fn check_parsed(sources: &Sources, files: &[(FileId, ast::File)]) -> Checked {
    check_package(sources, files, Vec::new())
}

/// Checks parsed files; `parse_errors` are where parsing reported errors
/// (what did not parse may hold a declaration or use the checker misses).
fn check_package(
    sources: &Sources,
    files: &[(FileId, ast::File)],
    parse_errors: Vec<Span>,
) -> Checked {
    let mut diags = Vec::new();
    let trees: Vec<&ast::File> = files.iter().map(|(_, f)| f).collect();
    let broken_items: Vec<Span> = trees
        .iter()
        .flat_map(|t| t.items.iter())
        .filter_map(|i| match i {
            Item::Error(broken) => Some(broken.span),
            _ => None,
        })
        .collect();
    let names = resolve::resolve(&trees, &mut diags);
    let mut checker = Checker {
        sources,
        names,
        diags,
        package: typed::Package::default(),
        rule_ids: HashMap::new(),
        store_spans: HashMap::new(),
        parse_errors,
        broken_items,
    };
    checker.package.name = checker.package_name(&trees);
    checker.check_stores(&trees);
    for tree in &trees {
        for item in &tree.items {
            if let Item::Rule(rule) = item {
                checker.check_rule(rule);
            }
        }
    }
    checker.check_ratelimits(&trees);
    checker.check_http(&trees);
    checker.check_tests(&trees);
    checker.lint();
    checker.package.schema = std::mem::take(&mut checker.names.schema);
    let mut diagnostics = checker.diags;
    diagnostics::sort(&mut diagnostics);
    Checked {
        package: checker.package,
        diagnostics,
    }
}

pub(crate) struct Checker<'a> {
    sources: &'a Sources,
    names: Names,
    diags: Vec<Diagnostic>,
    package: typed::Package,
    /// Rule ids seen so far, with the span that gave each.
    rule_ids: HashMap<String, Span>,
    /// Where each store was declared.
    store_spans: HashMap<String, Span>,
    /// Where parsing reported errors.
    parse_errors: Vec<Span>,
    /// Items that did not parse.
    broken_items: Vec<Span>,
}

impl Checker<'_> {
    fn origin(&self, span: Span) -> Origin {
        let file = self.sources.file(span.file);
        Origin {
            file: file.name.clone(),
            line: file.line_col(span.start).line,
            span,
        }
    }

    /// Whether parsing reported errors (or left items out).
    fn has_parse_errors(&self) -> bool {
        !self.parse_errors.is_empty() || !self.broken_items.is_empty()
    }

    /// Whether `name` (an identifier, or a quoted string with its quotes)
    /// appears in an item that did not parse, which may declare it: then a
    /// use of the name is not reported as unknown.
    fn in_broken_item(&self, name: &str) -> bool {
        self.broken_items.iter().any(|span| {
            let text = self.sources.text(*span);
            text.match_indices(name).any(|(at, _)| {
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
                let after = text[at + name.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !word(c));
                before && after
            })
        })
    }

    /// Whether an error was reported inside `span`: a block that lost a
    /// statement to a syntax error, or a declaration left out as invalid.
    fn error_within(&self, span: Span) -> bool {
        let checked = self
            .diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.primary.span);
        self.parse_errors
            .iter()
            .copied()
            .chain(checked)
            .any(|e| e.file == span.file && e.start >= span.start && e.end <= span.end)
    }

    /// A checked condition with its canonical text, the texts of its
    /// chain's operands and its line, for explanations.
    fn condition(&self, condition: &ast::Condition, expr: typed::Expr) -> typed::Condition {
        let file = condition.span.file;
        let source = &self.sources.file(file).text;
        let keyword = match condition.kind {
            ast::ConditionKind::When => "when",
            ast::ConditionKind::Unless => "unless",
        };
        let text = format!(
            "{keyword} {}",
            crate::fmt::expr_text(file, source, &condition.expr)
        );
        let chain = match condition.kind {
            ast::ConditionKind::When => ast::BinaryOp::And,
            ast::ConditionKind::Unless => ast::BinaryOp::Or,
        };
        let mut operands = Vec::new();
        flatten(&condition.expr, chain, &mut operands);
        let parts = if operands.len() > 1 {
            operands
                .iter()
                .map(|e| crate::fmt::expr_text(file, source, e))
                .collect()
        } else {
            Vec::new()
        };
        typed::Condition {
            kind: condition.kind,
            expr,
            text,
            parts,
            line: self.origin(condition.span).line,
        }
    }

    fn store_span(&self, name: &str) -> Span {
        self.store_spans.get(name).copied().unwrap_or_default()
    }

    fn expr_cx(&mut self, scope: Scope) -> expr::ExprCx<'_> {
        expr::ExprCx {
            names: &mut self.names,
            diags: &mut self.diags,
            scope,
        }
    }

    /// The package name all files agree on.
    fn package_name(&mut self, trees: &[&ast::File]) -> Option<String> {
        let mut first: Option<&ast::Ident> = None;
        for tree in trees {
            let Some(name) = &tree.package else { continue };
            match first {
                None => first = Some(name),
                Some(first) if first.name != name.name => self.diags.push(
                    Diagnostic::new(
                        &Code::PACKAGE_MISMATCH,
                        name.span,
                        format!(
                            "this file is in package `{}`, but another is in `{}`",
                            name.name, first.name
                        ),
                    )
                    .label("different package")
                    .with_secondary(first.span, "first package declared here")
                    .help("all files of one policy directory belong to one package"),
                ),
                Some(_) => {}
            }
        }
        first.map(|n| n.name.clone())
    }
}

/// The operands of a chain of `op` (`a && b && (c && d)`: a, b, c, d).
pub(crate) fn flatten<'e>(expr: &'e ast::Expr, op: ast::BinaryOp, out: &mut Vec<&'e ast::Expr>) {
    match &expr.kind {
        ast::ExprKind::Binary { op: o, lhs, rhs } if *o == op => {
            flatten(lhs, op, out);
            flatten(rhs, op, out);
        }
        ast::ExprKind::Paren(inner) if is_chain(inner, op) => flatten(inner, op, out),
        _ => out.push(expr),
    }
}

fn is_chain(expr: &ast::Expr, op: ast::BinaryOp) -> bool {
    match &expr.kind {
        ast::ExprKind::Binary { op: o, .. } => *o == op,
        ast::ExprKind::Paren(inner) => is_chain(inner, op),
        _ => false,
    }
}
