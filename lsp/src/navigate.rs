//! Hover, go to definition, find references and rename: all answered from
//! the package's symbol index ([`reaper_compiler::symbols`]).

use std::collections::HashMap;

use reaper_compiler::ast::Item;
use reaper_compiler::lex::{Tok, Tokens};
use reaper_compiler::source::{FileId, Span};
use reaper_compiler::symbols::{Occurrence, Owner, Symbol};
use tower_lsp_server::ls_types::{
    Hover, HoverContents, Location, MarkupContent, MarkupKind, TextEdit, Uri, WorkspaceEdit,
};

use crate::diagnostics::range;
use crate::package::Analysis;

/// Lines of a declaration a hover shows before eliding the rest.
const HOVER_LINES: usize = 12;

/// The occurrence under the cursor, if a name is there.
pub fn symbol_at(analysis: &Analysis, file: FileId, offset: u32) -> Option<&Occurrence> {
    analysis.index.at(file, offset).into_iter().next()
}

pub fn hover(analysis: &Analysis, file: FileId, offset: u32) -> Option<Hover> {
    let mut parts = Vec::new();
    let mut span = None;
    let occurrences = analysis.index.at(file, offset);
    if let Some(first) = occurrences.first() {
        span = Some(first.span);
        parts.push(describe_symbol(analysis, &first.symbol, &occurrences));
    }
    if let Some(rule) = rule_at(analysis, file, offset) {
        parts.push(rule);
    }
    if let Some((expr, ty)) = analysis.index.type_at(file, offset) {
        let text = analysis.package.sources.text(expr);
        let shown = if text.len() <= 80 && !text.contains('\n') {
            format!("```reaper\n{text}: {ty}\n```")
        } else {
            format!("type: `{ty}`")
        };
        parts.push(shown);
        span.get_or_insert(expr);
    }
    if parts.is_empty() {
        return None;
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: parts.join("\n\n---\n\n"),
        }),
        range: span.map(|s| range(&analysis.package, s)),
    })
}

/// What a symbol is and where it is declared.
fn describe_symbol(analysis: &Analysis, symbol: &Symbol, all: &[&Occurrence]) -> String {
    let kind = symbol.kind();
    let mut head = match symbol {
        Symbol::Attribute {
            owner: Owner::Entity(_),
            name,
        } => {
            let owners: Vec<String> = all
                .iter()
                .filter_map(|o| match &o.symbol {
                    Symbol::Attribute {
                        owner: Owner::Entity(owner),
                        ..
                    } => Some(format!("`{owner}`")),
                    _ => None,
                })
                .collect();
            format!("{kind} `{name}` of {}", owners.join(", "))
        }
        Symbol::Limit { domain, name } => format!("{kind} `{name}` in ratelimit \"{domain}\""),
        Symbol::Rule(id) => format!("{kind} `{id}`"),
        other => format!("{kind} `{}`", other.name()),
    };
    head = format!("**{head}**");
    let declarations: Vec<String> = all
        .iter()
        .flat_map(|o| analysis.index.declarations(&o.symbol))
        .filter_map(|o| o.declaration)
        .map(|span| excerpt(analysis.package.sources.text(span)))
        .collect();
    if declarations.is_empty() {
        let built_in = match symbol {
            Symbol::DescriptorKey(_) => "an entry of the descriptors the caller sends",
            Symbol::Action(name) if name.starts_with("store.") => "a built-in store action",
            Symbol::EntityType(_) => "a built-in entity type",
            _ => "not declared in this package",
        };
        return format!("{head}\n\n{built_in}");
    }
    let code: Vec<String> = declarations
        .into_iter()
        .map(|d| format!("```reaper\n{d}\n```"))
        .collect();
    format!("{head}\n\n{}", code.join("\n"))
}

/// At most [`HOVER_LINES`] lines of a declaration.
fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= HOVER_LINES {
        return text.to_owned();
    }
    let mut shown = lines[..HOVER_LINES].join("\n");
    shown.push_str("\n  …");
    shown
}

/// "rule `id` (permit)" when the cursor is on a rule's effect keyword.
fn rule_at(analysis: &Analysis, file: FileId, offset: u32) -> Option<String> {
    let parsed = analysis.parsed.get(file.0 as usize)?.as_ref()?;
    parsed.parsed.file.items.iter().find_map(|item| match item {
        Item::Rule(rule) if rule.effect_span.start <= offset && offset <= rule.effect_span.end => {
            let id = rule
                .annotations
                .iter()
                .find(|a| a.key.name == "id")
                .and_then(|a| a.value.as_ref())
                .map_or("(no @id)".to_owned(), |v| format!("`{}`", v.value));
            let line = analysis
                .package
                .sources
                .file(file)
                .line_col(rule.span.start)
                .line;
            Some(format!(
                "**{} rule** {id}, line {line}",
                rule.effect.as_str()
            ))
        }
        _ => None,
    })
}

fn location(analysis: &Analysis, span: Span) -> Location {
    Location::new(
        analysis.package.file(span.file).uri.clone(),
        range(&analysis.package, span),
    )
}

pub fn definition(analysis: &Analysis, file: FileId, offset: u32) -> Vec<Location> {
    analysis
        .index
        .at(file, offset)
        .iter()
        .flat_map(|o| analysis.index.declarations(&o.symbol))
        .map(|o| location(analysis, o.span))
        .collect()
}

pub fn references(
    analysis: &Analysis,
    file: FileId,
    offset: u32,
    include_declaration: bool,
) -> Vec<Location> {
    let Some(at) = symbol_at(analysis, file, offset) else {
        return Vec::new();
    };
    linked_occurrences(analysis, &at.symbol)
        .into_iter()
        .filter(|o| include_declaration || o.declaration.is_none())
        .map(|o| location(analysis, o.span))
        .collect()
}

/// Every occurrence of `symbol` and of the symbols linked to it (an
/// attribute read through a union of types), each place once.
fn linked_occurrences<'a>(analysis: &'a Analysis, symbol: &Symbol) -> Vec<&'a Occurrence> {
    let linked = analysis.index.linked(symbol);
    let mut seen = std::collections::HashSet::new();
    analysis
        .index
        .occurrences()
        .iter()
        .filter(|o| linked.contains(&o.symbol) && seen.insert(o.span))
        .collect()
}

/// Why a rename cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub struct RenameError(pub String);

/// The name under the cursor, if it can be renamed.
pub fn prepare_rename(
    analysis: &Analysis,
    file: FileId,
    offset: u32,
) -> Result<(Span, String), RenameError> {
    let at = symbol_at(analysis, file, offset)
        .ok_or_else(|| RenameError("there is no name to rename here".to_owned()))?;
    if matches!(at.symbol, Symbol::DescriptorKey(_)) {
        return Err(RenameError(
            "descriptor keys are chosen by the caller (Envoy's rate-limit actions), not declared here"
                .to_owned(),
        ));
    }
    if analysis.index.declarations(&at.symbol).next().is_none() {
        return Err(RenameError(format!(
            "{} `{}` is not declared in this package",
            at.symbol.kind(),
            at.symbol.name()
        )));
    }
    Ok((at.span, at.symbol.name().to_owned()))
}

/// Every occurrence of the symbol under the cursor, renamed to `new_name`.
pub fn rename(
    analysis: &Analysis,
    file: FileId,
    offset: u32,
    new_name: &str,
) -> Result<WorkspaceEdit, RenameError> {
    prepare_rename(analysis, file, offset)?;
    let Some(at) = symbol_at(analysis, file, offset) else {
        return Err(RenameError("there is no name to rename here".to_owned()));
    };
    let valid = match at.symbol {
        Symbol::Rule(_) => !new_name.is_empty() && !new_name.contains(['"', '\\', '\n', '\r']),
        _ => is_identifier(new_name),
    };
    if !valid {
        return Err(RenameError(format!(
            "`{new_name}` is not a valid {} name",
            at.symbol.kind()
        )));
    }
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for occurrence in linked_occurrences(analysis, &at.symbol) {
        let written = analysis.package.sources.text(occurrence.span);
        let text = if written.starts_with('"') {
            format!("\"{new_name}\"")
        } else {
            new_name.to_owned()
        };
        let location = location(analysis, occurrence.span);
        changes
            .entry(location.uri)
            .or_default()
            .push(TextEdit::new(location.range, text));
    }
    Ok(WorkspaceEdit {
        changes: Some(changes),
        document_changes: None,
        change_annotations: None,
    })
}

/// Whether `name` lexes as one identifier (not a keyword).
fn is_identifier(name: &str) -> bool {
    let mut tokens = Tokens::new(FileId(0), name);
    matches!(
        (tokens.next(), tokens.next()),
        (Some((0, Tok::Ident(_), end)), None) if end == name.len()
    )
}
