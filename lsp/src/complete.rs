//! Completion: what may be typed at the cursor, judged from the text just
//! before it and the item it is in. After `x.` (or `x has `) the
//! receiver's type decides: its attributes (an entity narrowed by `is` or
//! `has` offers that type's), a record's fields, the context's fields for
//! the rule's actions, a descriptor's keys used elsewhere in the domain, the
//! request's fields, and the type's methods.

use std::collections::BTreeMap;

use reaper_compiler::ast::Item;
use reaper_compiler::check::{LIMIT_OPTIONS, PERIOD_UNITS, STORE_SETTINGS, methods_of_type};
use reaper_compiler::parse::ITEM_KEYWORDS;
use reaper_compiler::source::{FileId, Span};
use reaper_compiler::symbols::Symbol;
use reaper_compiler::typed::{RequestField, Ty};
use reaper_lang::schema::{STORE_ACTIONS, Schema};
use tower_lsp_server::ls_types::{CompletionItem, CompletionItemKind};

use crate::outline::built_in_types;
use crate::package::{Analysis, check_variant};

const IN_RULE: [&str; 17] = [
    "when",
    "unless",
    "on",
    "has",
    "like",
    "is",
    "in",
    "if",
    "then",
    "else",
    "principal",
    "resource",
    "action",
    "context",
    "true",
    "false",
    "store",
];
const IN_RATELIMIT: [&str; 8] = [
    "limit",
    "per",
    "when",
    "by",
    "has",
    "like",
    "in",
    "descriptor",
];
const IN_TEST: [&str; 12] = [
    "principal",
    "resource",
    "entity",
    "context",
    "expect",
    "permit",
    "deny",
    "ratelimit",
    "because",
    "matches",
    "allows",
    "on",
];
const IN_HTTP: [&str; 4] = ["principal", "context", "request", "param"];

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail,
        ..CompletionItem::default()
    }
}

/// Where the cursor is, as far as completion cares.
enum Place {
    TopLevel,
    Rule,
    RateLimit(String),
    Test,
    Store,
    Http,
    Declaration,
}

pub fn complete(analysis: &Analysis, file: FileId, offset: usize) -> Vec<CompletionItem> {
    let text = analysis.package.text(file);
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let word_start = after_last(before, |c| !(c.is_ascii_alphanumeric() || c == '_'));
    let prefix = &before[..word_start];
    let place = place(analysis, file, u32::try_from(offset).unwrap_or(u32::MAX));
    let trimmed = prefix.trim_end();
    if let Some(receiver) = prefix.strip_suffix('.') {
        return members(analysis, file, receiver, word_start, &place);
    }
    if let Some(receiver) = trimmed
        .strip_suffix(" has")
        .filter(|_| prefix.ends_with(' '))
    {
        return members(analysis, file, receiver.trim_end(), word_start, &place)
            .into_iter()
            .filter(|i| i.kind != Some(CompletionItemKind::METHOD))
            .collect();
    }
    if trimmed.ends_with("on store") {
        return names(
            analysis,
            |s| matches!(s, Symbol::Store(_)),
            CompletionItemKind::MODULE,
        );
    }
    let entity_types = || {
        names(
            analysis,
            |s| matches!(s, Symbol::EntityType(_)),
            CompletionItemKind::CLASS,
        )
    };
    if trimmed.ends_with(" is") || trimmed.ends_with("::") {
        return entity_types();
    }
    let keywords = |words: &[&str]| -> Vec<CompletionItem> {
        words
            .iter()
            .map(|k| item(k, CompletionItemKind::KEYWORD, None))
            .collect()
    };
    let actions_and_types = || {
        let mut out = names(
            analysis,
            |s| matches!(s, Symbol::Action(_)),
            CompletionItemKind::FUNCTION,
        );
        out.extend(entity_types());
        out
    };
    let mut out = Vec::new();
    match place {
        Place::TopLevel => out.extend(keywords(&ITEM_KEYWORDS)),
        Place::Declaration => {
            out.extend(
                built_in_types()
                    .map(|t| item(t, CompletionItemKind::STRUCT, Some("built-in type".into()))),
            );
            out.extend(entity_types());
            out.extend(names(
                analysis,
                |s| matches!(s, Symbol::TypeAlias(_)),
                CompletionItemKind::TYPE_PARAMETER,
            ));
            out.extend(keywords(&["in", "enum", "on", "by", "context"]));
        }
        Place::Rule => {
            out.extend(keywords(&IN_RULE));
            out.extend(actions_and_types());
        }
        Place::RateLimit(_) => {
            out.extend(keywords(&IN_RATELIMIT));
            out.extend(
                LIMIT_OPTIONS
                    .iter()
                    .map(|k| item(k, CompletionItemKind::KEYWORD, Some("limit option".into()))),
            );
            out.extend(
                PERIOD_UNITS
                    .iter()
                    .map(|(k, _)| item(k, CompletionItemKind::UNIT, Some("period".into()))),
            );
        }
        Place::Test => {
            out.extend(keywords(&IN_TEST));
            out.extend(actions_and_types());
        }
        Place::Store => {
            out.extend(STORE_SETTINGS.iter().map(|k| {
                item(
                    k,
                    CompletionItemKind::PROPERTY,
                    Some("store setting".into()),
                )
            }));
            out.extend(entity_types());
        }
        Place::Http => {
            out.extend(keywords(&IN_HTTP));
            out.extend(actions_and_types());
        }
    }
    dedup(out)
}

/// Where the text after the last character matching `stop` begins.
fn after_last(text: &str, stop: impl Fn(char) -> bool) -> usize {
    text.char_indices()
        .rev()
        .find(|(_, c)| stop(*c))
        .map_or(0, |(at, c)| at + c.len_utf8())
}

fn dedup(items: Vec<CompletionItem>) -> Vec<CompletionItem> {
    let mut seen = BTreeMap::new();
    for i in items {
        seen.entry(i.label.clone()).or_insert(i);
    }
    seen.into_values().collect()
}

/// The distinct declared names of one kind.
fn names(
    analysis: &Analysis,
    kind: impl Fn(&Symbol) -> bool,
    item_kind: CompletionItemKind,
) -> Vec<CompletionItem> {
    let mut out: BTreeMap<String, CompletionItem> = BTreeMap::new();
    for occurrence in analysis.index.occurrences() {
        if occurrence.declaration.is_some() && kind(&occurrence.symbol) {
            let name = occurrence.symbol.name();
            out.entry(name.to_owned()).or_insert_with(|| {
                item(name, item_kind, Some(occurrence.symbol.kind().to_owned()))
            });
        }
    }
    if matches!(item_kind, CompletionItemKind::FUNCTION) {
        for action in STORE_ACTIONS {
            out.entry(action.to_owned())
                .or_insert_with(|| item(action, item_kind, Some("built-in store action".into())));
        }
    }
    out.into_values().collect()
}

/// The item the cursor is in, from the last parse of the file.
fn place(analysis: &Analysis, file: FileId, offset: u32) -> Place {
    let Some(Some(parsed)) = analysis.parsed.get(file.0 as usize) else {
        return Place::TopLevel;
    };
    let text = analysis.package.text(file);
    let inside = |span: Span| span.start < offset && offset <= span.end;
    for it in &parsed.parsed.file.items {
        if !inside(it.span()) {
            continue;
        }
        return match it {
            Item::Rule(_) => Place::Rule,
            Item::RateLimit(decl) => Place::RateLimit(decl.domain.value.clone()),
            Item::Test(_) => Place::Test,
            Item::Store(_) => Place::Store,
            Item::Http(_) => Place::Http,
            Item::Entity(_) | Item::Action(_) | Item::Context(_) | Item::TypeAlias(_) => {
                Place::Declaration
            }
            // A half-typed item: judged by its first word.
            Item::Error(broken) => {
                let written = text.get(broken.span.range()).unwrap_or("");
                let first = written
                    .trim_start_matches(|c: char| c == '@' || !c.is_ascii_alphabetic())
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .find(|w| !w.is_empty() && *w != "id")
                    .unwrap_or("");
                match first {
                    "permit" | "forbid" => Place::Rule,
                    "ratelimit" => Place::RateLimit(domain_of(written)),
                    "test" => Place::Test,
                    "store" => Place::Store,
                    "http" => Place::Http,
                    "entity" | "action" | "context" | "type" => Place::Declaration,
                    _ => Place::TopLevel,
                }
            }
        };
    }
    Place::TopLevel
}

/// The domain of a half-typed `ratelimit "domain" {`.
fn domain_of(written: &str) -> String {
    written
        .split('"')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Completions after `receiver.` (or `receiver has `).
fn members(
    analysis: &Analysis,
    file: FileId,
    receiver: &str,
    word_start: usize,
    place: &Place,
) -> Vec<CompletionItem> {
    // The receiver: a path such as `principal.manager` ending at the dot.
    let path_start = after_last(receiver, |c| {
        !(c.is_ascii_alphanumeric() || c == '_' || c == '.')
    });
    let path = &receiver[path_start..];
    if path.is_empty() {
        return Vec::new();
    }
    if path == "store" {
        return STORE_ACTIONS
            .iter()
            .map(|a| {
                item(
                    a.trim_start_matches("store."),
                    CompletionItemKind::FUNCTION,
                    Some("built-in store action".into()),
                )
            })
            .collect();
    }
    if path == "descriptor" {
        return descriptor_keys(analysis, place);
    }
    let span = Span {
        file,
        start: u32::try_from(path_start).unwrap_or(u32::MAX),
        end: u32::try_from(receiver.len()).unwrap_or(u32::MAX),
    };
    if let Some(ty) = analysis.index.type_of(span) {
        return typed_members(analysis.index.schema(), ty);
    }
    // The receiver was not checked: the text around it does not parse yet.
    // Check it as if the member being typed were not there.
    let text = analysis.package.text(file);
    let mut variant = String::with_capacity(text.len());
    variant.push_str(&text[..receiver.len()]);
    let rest = &text[word_start..];
    let word_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    // `x.` becomes `x` and the rest of the line stays, so the rule parses.
    variant.push_str(&" ".repeat(word_start - receiver.len() + word_end));
    let after = &rest[word_end..];
    // Nothing more on the line: the statement ends here.
    if after
        .split('\n')
        .next()
        .is_some_and(|line| line.trim().is_empty())
    {
        variant.push(';');
    }
    variant.push_str(after);
    let Some((recorded, schema)) = check_variant(&analysis.package, file, &variant) else {
        return Vec::new();
    };
    recorded
        .types
        .iter()
        .rev()
        .find(|(s, ty)| *s == span && !ty.is_error())
        .map(|(_, ty)| typed_members(&schema, ty))
        .unwrap_or_default()
}

/// The attributes, fields and methods of a value of type `ty`.
fn typed_members(schema: &Schema, ty: &Ty) -> Vec<CompletionItem> {
    let show = |ty: &Ty| reaper_compiler::check::types::display(schema, ty);
    let mut out = Vec::new();
    let field = |name: &str, ty: &Ty, optional: bool, owner: &str| {
        let mark = if optional { "?" } else { "" };
        let mut it = item(
            name,
            CompletionItemKind::FIELD,
            Some(format!("{name}{mark}: {}", show(ty))),
        );
        it.documentation = Some(tower_lsp_server::ls_types::Documentation::String(format!(
            "{owner}{}",
            if optional {
                " (optional: guard it with `has`)"
            } else {
                ""
            }
        )));
        it
    };
    match ty {
        Ty::Entity(types) => {
            for id in types {
                if let Some(def) = schema.entity_type(*id) {
                    for f in &def.attrs.fields {
                        let owner = format!("attribute of `{}`", def.name);
                        out.push(field(&f.name, &Ty::from_type(&f.ty), f.optional, &owner));
                    }
                }
            }
        }
        Ty::Record(fields) => {
            for f in fields {
                out.push(field(&f.name, &f.ty, f.optional, "field"));
            }
        }
        Ty::Context(actions) => {
            for action in actions {
                for f in &schema.context_of(*action).fields {
                    out.push(field(
                        &f.name,
                        &Ty::from_type(&f.ty),
                        f.optional,
                        "context field",
                    ));
                }
            }
        }
        Ty::Request => {
            for (name, _, ty) in &RequestField::ALL {
                out.push(field(name, ty, false, "request field"));
            }
        }
        _ => {}
    }
    for (name, args) in methods_of_type(ty) {
        let mut it = item(
            name,
            CompletionItemKind::METHOD,
            Some(format!("method, {args} argument(s)")),
        );
        it.insert_text = Some(if args == 0 {
            format!("{name}()")
        } else {
            format!("{name}(")
        });
        out.push(it);
    }
    dedup(out)
}

/// Descriptor keys used in the package: in the cursor's rate-limit domain
/// when inside one, everywhere otherwise.
fn descriptor_keys(analysis: &Analysis, place: &Place) -> Vec<CompletionItem> {
    let domain_spans: Vec<Span> = match place {
        Place::RateLimit(domain) => analysis
            .parsed
            .iter()
            .flatten()
            .flat_map(|p| p.parsed.file.items.iter())
            .filter_map(|i| match i {
                Item::RateLimit(d) if &d.domain.value == domain => Some(d.span),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let within = |span: Span| {
        domain_spans.is_empty()
            || domain_spans
                .iter()
                .any(|d| d.file == span.file && d.start <= span.start && span.end <= d.end)
    };
    let mut out = BTreeMap::new();
    for occurrence in analysis.index.occurrences() {
        if let Symbol::DescriptorKey(key) = &occurrence.symbol
            && within(occurrence.span)
        {
            out.entry(key.clone()).or_insert_with(|| {
                item(
                    key,
                    CompletionItemKind::FIELD,
                    Some("descriptor key".into()),
                )
            });
        }
    }
    out.into_values().collect()
}
