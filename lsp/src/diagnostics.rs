//! Compiler diagnostics as LSP diagnostics, and the quick fixes their help
//! makes mechanical. Code, message, range, severity and labels are the ones
//! `reaper check --format json` prints: the labels (primary first) become
//! related information, followed by the help; the help is also published
//! as a hint diagnostic at the same range.

use std::collections::HashMap;

use reaper_compiler::ast::{self, BinaryOp, Expr, ExprKind, Item};
use reaper_compiler::diagnostics::{Code, Diagnostic, Severity};
use reaper_compiler::source::Span;
use serde_json::json;
use tower_lsp_server::ls_types::{
    self as lsp, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    TextEdit, Uri,
};

use crate::package::{Analysis, CheckedPackage};

/// The LSP diagnostics of every file of a package, by document (files
/// without diagnostics included, with none, to clear what was shown).
pub fn by_file(package: &CheckedPackage) -> HashMap<Uri, Vec<lsp::Diagnostic>> {
    let mut out: HashMap<Uri, Vec<lsp::Diagnostic>> = package
        .files
        .iter()
        .map(|f| (f.uri.clone(), Vec::new()))
        .collect();
    for diagnostic in &package.diagnostics {
        let uri = &package.file(diagnostic.primary.span.file).uri;
        if let Some(list) = out.get_mut(uri) {
            let shown = convert(package, diagnostic);
            let help = help_hint(&shown, diagnostic);
            list.push(shown);
            list.extend(help);
        }
    }
    out
}

/// The help as a hint of its own at the same place, as rust-analyzer shows
/// rustc's help: editors that show no related information (Neovim, Helix)
/// show it beside the message, which stays the CLI's.
fn help_hint(shown: &lsp::Diagnostic, diagnostic: &Diagnostic) -> Option<lsp::Diagnostic> {
    let help = diagnostic.help.as_ref()?;
    let primary = shown
        .related_information
        .as_ref()?
        .first()?
        .location
        .clone();
    Some(lsp::Diagnostic {
        range: shown.range,
        severity: Some(DiagnosticSeverity::HINT),
        code: shown.code.clone(),
        source: shown.source.clone(),
        message: format!("help: {help}"),
        related_information: Some(vec![DiagnosticRelatedInformation {
            location: primary,
            message: "original diagnostic".to_owned(),
        }]),
        ..lsp::Diagnostic::default()
    })
}

fn location(package: &CheckedPackage, span: Span) -> Location {
    let file = package.file(span.file);
    let text = package.text(span.file);
    Location::new(
        file.uri.clone(),
        file.lines
            .range(text, span.start as usize, span.end as usize),
    )
}

/// The range of a span in its file.
pub fn range(package: &CheckedPackage, span: Span) -> lsp::Range {
    location(package, span).range
}

pub fn convert(package: &CheckedPackage, diagnostic: &Diagnostic) -> lsp::Diagnostic {
    let primary = location(package, diagnostic.primary.span);
    let mut related: Vec<DiagnosticRelatedInformation> = std::iter::once(&diagnostic.primary)
        .chain(&diagnostic.secondary)
        .map(|label| DiagnosticRelatedInformation {
            location: location(package, label.span),
            message: label.message.clone(),
        })
        .collect();
    if let Some(help) = &diagnostic.help {
        related.push(DiagnosticRelatedInformation {
            location: primary.clone(),
            message: format!("help: {help}"),
        });
    }
    lsp::Diagnostic {
        range: primary.range,
        severity: Some(match diagnostic.severity() {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(diagnostic.code.id.to_owned())),
        code_description: None,
        source: Some("reaper".to_owned()),
        message: diagnostic.message.clone(),
        related_information: Some(related),
        tags: None,
        data: Some(json!({ "name": diagnostic.code.name, "help": diagnostic.help })),
    }
}

/// A mechanical fix for a diagnostic: a title and the edits that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<(Span, String)>,
}

/// The fixes a diagnostic's help spells out: rename to the suggestion,
/// guard an optional attribute with `has`, add a missing `;`.
pub fn fixes(analysis: &Analysis, diagnostic: &Diagnostic) -> Vec<Fix> {
    let span = diagnostic.primary.span;
    let help = diagnostic.help.as_deref().unwrap_or("");
    let mut fixes = Vec::new();
    if let Some(meant) = help
        .strip_prefix("did you mean `")
        .and_then(|rest| rest.strip_suffix("`?"))
    {
        let written = analysis.package.sources.text(span);
        let one_word = !written.is_empty() && !written.contains(char::is_whitespace);
        if one_word {
            fixes.push(Fix {
                title: format!("Change to `{meant}`"),
                edits: vec![(span, meant.to_owned())],
            });
        }
    }
    if diagnostic.code == &Code::SYNTAX_ERROR && diagnostic.message.starts_with("missing `;`") {
        let at = Span {
            end: span.start,
            ..span
        };
        fixes.push(Fix {
            title: "Add the missing `;`".to_owned(),
            edits: vec![(at, ";".to_owned())],
        });
    }
    if diagnostic.code == &Code::UNGUARDED_OPTIONAL
        && let Some(guard) = help
            .split_once('`')
            .and_then(|(_, rest)| rest.split_once(" && "))
            .map(|(guard, _)| guard)
        && let Some(at) = guard_place(analysis, span)
    {
        let at = Span {
            end: at.start,
            ..at
        };
        fixes.push(Fix {
            title: format!("Guard with `{guard}`"),
            edits: vec![(at, format!("{guard} && "))],
        });
    }
    fixes
}

/// Where a `has` guard for the read at `read` goes: before the operand of
/// `&&`/`||` (or the branch, or the whole condition) that contains it, so
/// the guard binds to exactly that part.
fn guard_place(analysis: &Analysis, read: Span) -> Option<Span> {
    let parsed = analysis.parsed.get(read.file.0 as usize)?.as_ref()?;
    let roots = parsed.parsed.file.items.iter().flat_map(item_exprs);
    for root in roots {
        if let Some(place) = conjunct(root, read) {
            return Some(place);
        }
    }
    None
}

/// The expressions an item holds at its top level.
fn item_exprs(item: &Item) -> Vec<&Expr> {
    match item {
        Item::Rule(rule) => rule.conditions.iter().map(|c| &c.expr).collect(),
        Item::RateLimit(decl) => decl
            .limits
            .iter()
            .flat_map(|l| l.conditions.iter().map(|c| &c.expr).chain(&l.by))
            .collect(),
        Item::Http(decl) => {
            decl.items
                .iter()
                .map(|i| match i {
                    ast::HttpItem::Principal { value, .. }
                    | ast::HttpItem::Context { value, .. } => value,
                    ast::HttpItem::Route(route) => &route.resource,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The largest part of `expr` holding `read` that a `&&` guard can precede.
fn conjunct(expr: &Expr, read: Span) -> Option<Span> {
    if !(expr.span.start <= read.start && read.end <= expr.span.end) {
        return None;
    }
    let splits = matches!(
        expr.kind,
        ExprKind::Binary {
            op: BinaryOp::And | BinaryOp::Or,
            ..
        } | ExprKind::If { .. }
            | ExprKind::Paren(_)
    );
    if splits {
        for child in expr.children() {
            if let Some(inner) = conjunct(child, read) {
                return Some(inner);
            }
        }
    }
    Some(expr.span)
}

/// A fix as LSP edits in one document.
pub fn edits(analysis: &Analysis, fix: &Fix) -> Vec<(Uri, TextEdit)> {
    fix.edits
        .iter()
        .map(|(span, text)| {
            let location = location(&analysis.package, *span);
            (location.uri, TextEdit::new(location.range, text.clone()))
        })
        .collect()
}
