//! A file's shape: document symbols (the outline), folding ranges and
//! semantic tokens. Symbols and folds come from the syntax tree; tokens from
//! the lexer, with names coloured by what the index says they are.

use std::collections::HashMap;

use reaper_compiler::ast::{self, Item};
use reaper_compiler::check::{LIMIT_OPTIONS, PERIOD_UNITS, STORE_SETTINGS};
use reaper_compiler::lex::{Tok, Tokens};
use reaper_compiler::source::{FileId, Span};
use reaper_compiler::symbols::Symbol;
use tower_lsp_server::ls_types::{
    DocumentSymbol, FoldingRange, FoldingRangeKind, SemanticToken, SemanticTokenModifier,
    SemanticTokenType, SemanticTokensLegend, SymbolKind,
};

use crate::diagnostics::range;
use crate::package::Analysis;

fn symbol(
    analysis: &Analysis,
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    span: Span,
    selection: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    #[allow(
        deprecated,
        reason = "`deprecated` is a required field of the LSP type"
    )]
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: range(&analysis.package, span),
        selection_range: range(&analysis.package, selection),
        children: (!children.is_empty()).then_some(children),
    }
}

/// The outline of one file: its declarations, with attributes, limits and
/// routes inside them.
pub fn document_symbols(analysis: &Analysis, file: FileId) -> Vec<DocumentSymbol> {
    let Some(Some(parsed)) = analysis.parsed.get(file.0 as usize) else {
        return Vec::new();
    };
    let attrs = |attrs: &[ast::AttrDecl]| -> Vec<DocumentSymbol> {
        attrs
            .iter()
            .map(|a| {
                let ty = analysis.package.sources.text(a.ty.span()).to_owned();
                symbol(
                    analysis,
                    a.name.name.clone(),
                    Some(ty),
                    SymbolKind::FIELD,
                    a.span,
                    a.name.span,
                    Vec::new(),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    for item in &parsed.parsed.file.items {
        match item {
            Item::Entity(d) => out.push(symbol(
                analysis,
                d.name.name.clone(),
                Some("entity".into()),
                SymbolKind::CLASS,
                d.span,
                d.name.span,
                attrs(d.attrs.as_deref().unwrap_or_default()),
            )),
            Item::Action(d) => {
                for name in &d.names {
                    out.push(symbol(
                        analysis,
                        name.name.clone(),
                        Some("action".into()),
                        SymbolKind::FUNCTION,
                        d.span,
                        name.span,
                        attrs(d.context.as_deref().unwrap_or_default()),
                    ));
                }
            }
            Item::Context(d) => out.push(symbol(
                analysis,
                "context".into(),
                None,
                SymbolKind::STRUCT,
                d.span,
                d.span,
                attrs(&d.attrs),
            )),
            Item::TypeAlias(d) => out.push(symbol(
                analysis,
                d.name.name.clone(),
                Some("type".into()),
                SymbolKind::TYPE_PARAMETER,
                d.span,
                d.name.span,
                Vec::new(),
            )),
            Item::Rule(rule) => {
                let id = rule
                    .annotations
                    .iter()
                    .find(|a| a.key.name == "id")
                    .and_then(|a| a.value.as_ref());
                let first_line = analysis
                    .package
                    .sources
                    .text(Span {
                        start: rule.effect_span.start,
                        ..rule.span
                    })
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(';')
                    .to_owned();
                let (name, detail) = match id {
                    Some(id) => (id.value.clone(), Some(first_line)),
                    None => (first_line, None),
                };
                out.push(symbol(
                    analysis,
                    name,
                    detail,
                    SymbolKind::METHOD,
                    rule.span,
                    rule.effect_span,
                    Vec::new(),
                ));
            }
            Item::RateLimit(d) => {
                let limits = d
                    .limits
                    .iter()
                    .map(|l| {
                        symbol(
                            analysis,
                            l.name.name.clone(),
                            Some("limit".into()),
                            SymbolKind::CONSTANT,
                            l.span,
                            l.name.span,
                            Vec::new(),
                        )
                    })
                    .collect();
                out.push(symbol(
                    analysis,
                    format!("ratelimit \"{}\"", d.domain.value),
                    None,
                    SymbolKind::NAMESPACE,
                    d.span,
                    d.domain.span,
                    limits,
                ));
            }
            Item::Store(d) => out.push(symbol(
                analysis,
                d.name.name.clone(),
                Some("store".into()),
                SymbolKind::OBJECT,
                d.span,
                d.name.span,
                Vec::new(),
            )),
            Item::Http(d) => {
                let routes = d
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        ast::HttpItem::Route(r) => Some(symbol(
                            analysis,
                            format!("{} \"{}\"", r.method.name, r.pattern.value),
                            Some(r.action.full_name()),
                            SymbolKind::KEY,
                            r.span,
                            r.pattern.span,
                            Vec::new(),
                        )),
                        _ => None,
                    })
                    .collect();
                out.push(symbol(
                    analysis,
                    "http".into(),
                    None,
                    SymbolKind::MODULE,
                    d.span,
                    d.span,
                    routes,
                ));
            }
            Item::Test(d) => out.push(symbol(
                analysis,
                format!("test \"{}\"", d.name.value),
                None,
                SymbolKind::EVENT,
                d.span,
                d.name.span,
                Vec::new(),
            )),
            Item::Error(_) => {}
        }
    }
    out
}

/// Declarations over several lines fold, and so do runs of comment lines.
pub fn folding_ranges(analysis: &Analysis, file: FileId) -> Vec<FoldingRange> {
    let Some(Some(parsed)) = analysis.parsed.get(file.0 as usize) else {
        return Vec::new();
    };
    let source = analysis.package.sources.file(file);
    let line = |at: u32| u32::try_from(source.line_of(at)).unwrap_or(u32::MAX);
    let fold = |start: u32, end: u32, kind: Option<FoldingRangeKind>| FoldingRange {
        start_line: start,
        start_character: None,
        end_line: end,
        end_character: None,
        kind,
        collapsed_text: None,
    };
    let mut out: Vec<FoldingRange> = parsed
        .parsed
        .file
        .items
        .iter()
        .map(Item::span)
        .filter_map(|span| {
            let (start, end) = (line(span.start), line(span.end.saturating_sub(1)));
            (end > start).then(|| fold(start, end, Some(FoldingRangeKind::Region)))
        })
        .collect();
    let mut run: Option<(u32, u32)> = None;
    for comment in parsed.parsed.comments.iter().filter(|c| !c.trailing) {
        let at = line(comment.span.start);
        run = match run {
            Some((start, end)) if at == end + 1 => Some((start, at)),
            Some((start, end)) => {
                if end > start {
                    out.push(fold(start, end, Some(FoldingRangeKind::Comment)));
                }
                Some((at, at))
            }
            None => Some((at, at)),
        };
    }
    if let Some((start, end)) = run
        && end > start
    {
        out.push(fold(start, end, Some(FoldingRangeKind::Comment)));
    }
    out.sort_by_key(|f| (f.start_line, f.end_line));
    out
}

/// Token types, in legend order.
const TYPES: [SemanticTokenType; 12] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::TYPE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::DECORATOR,
    SemanticTokenType::ENUM_MEMBER,
];

#[derive(Clone, Copy)]
enum Kind {
    Keyword = 0,
    String,
    Number,
    Comment,
    Operator,
    Type,
    Function,
    Property,
    Namespace,
    Variable,
    Decorator,
}

/// Modifiers, as bits in legend order.
const MODIFIERS: [SemanticTokenModifier; 2] = [
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DEFAULT_LIBRARY,
];
const DECLARATION: u32 = 1;
const DEFAULT_LIBRARY: u32 = 2;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

/// The built-in type names (`Int`, `Set`, …), as written in policies.
pub(crate) fn built_in_types() -> impl Iterator<Item = &'static str> {
    reaper_lang::types::PRIMITIVE_NAMES
        .iter()
        .map(|(name, _)| *name)
        .chain(reaper_lang::types::GENERIC_NAMES)
}

/// Every token of a file, classified, in the LSP's relative encoding.
pub fn semantic_tokens(analysis: &Analysis, file: FileId) -> Vec<SemanticToken> {
    let text = analysis.package.text(file);
    let names: HashMap<u32, (&Symbol, bool)> = analysis
        .index
        .occurrences()
        .iter()
        .filter(|o| o.span.file == file)
        .map(|o| (o.span.start, (&o.symbol, o.declaration.is_some())))
        .collect();
    let mut tokens = Tokens::new(file, text);
    let mut found: Vec<(usize, usize, Kind, u32)> = Vec::new();
    let mut after_at = false;
    for (start, tok, end) in tokens.by_ref() {
        let kind = match tok {
            Tok::Ident(name) => match names.get(&u32::try_from(start).unwrap_or(u32::MAX)) {
                Some((symbol, declared)) => {
                    let modifiers = if *declared { DECLARATION } else { 0 };
                    let kind = match symbol {
                        Symbol::EntityType(_) | Symbol::TypeAlias(_) => Kind::Type,
                        Symbol::Action(_) => Kind::Function,
                        Symbol::Attribute { .. } | Symbol::DescriptorKey(_) => Kind::Property,
                        Symbol::Store(_) => Kind::Namespace,
                        Symbol::Limit { .. } | Symbol::Rule(_) => Kind::Variable,
                    };
                    Some((kind, modifiers))
                }
                None if after_at => Some((Kind::Decorator, 0)),
                None if built_in_types().any(|t| t == name) => Some((Kind::Type, DEFAULT_LIBRARY)),
                // Contextual words: periods, limit options, store settings.
                None if PERIOD_UNITS.iter().any(|(unit, _)| *unit == name)
                    || LIMIT_OPTIONS.contains(&name)
                    || STORE_SETTINGS.contains(&name) =>
                {
                    Some((Kind::Keyword, 0))
                }
                None => None,
            },
            Tok::Str(_) | Tok::UnterminatedStr(_) | Tok::SingleQuoted(_) => Some((Kind::String, 0)),
            Tok::Int(_) | Tok::UnitNumber(_) | Tok::Decimal(_) | Tok::Ip(_) | Tok::Timestamp(_) => {
                Some((Kind::Number, 0))
            }
            Tok::At => Some((Kind::Decorator, 0)),
            other => {
                let text = other.text();
                if text.chars().all(|c| c.is_ascii_alphabetic() || c == '_') && !text.is_empty() {
                    Some((Kind::Keyword, 0))
                } else if text.chars().any(|c| "=!<>&|+-*".contains(c)) {
                    Some((Kind::Operator, 0))
                } else {
                    None
                }
            }
        };
        after_at = matches!(tok, Tok::At);
        if let Some((kind, modifiers)) = kind {
            found.push((start, end, kind, modifiers));
        }
    }
    let (comments, _) = tokens.finish();
    found.extend(
        comments
            .iter()
            .map(|c| (c.span.start as usize, c.span.end as usize, Kind::Comment, 0)),
    );
    found.sort_by_key(|t| t.0);
    let lines = &analysis.package.file(file).lines;
    let mut out = Vec::with_capacity(found.len());
    let (mut last_line, mut last_start) = (0, 0);
    for (start, end, kind, modifiers) in found {
        let from = lines.position(text, start);
        let to = lines.position(text, end);
        // Tokens never span lines here; one that would is left uncoloured.
        if to.line != from.line {
            continue;
        }
        let delta_line = from.line - last_line;
        let delta_start = if delta_line == 0 {
            from.character - last_start
        } else {
            from.character
        };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            length: to.character - from.character,
            token_type: kind as u32,
            token_modifiers_bitset: modifiers,
        });
        (last_line, last_start) = (from.line, from.character);
    }
    out
}
