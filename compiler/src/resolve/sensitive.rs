//! `@sensitive` marks on declared fields: each is checked (fields take no
//! other annotation, and its value is `mask` or `drop`) and collected into
//! the schema as a path from the record that holds it — an entity type's
//! attributes or a context — through nested records, including records
//! named by type aliases. Decision logs redact what the schema lists.

use reaper_lang::sensitive::{Redaction, SensitiveField};
use reaper_lang::types::EntityTypeId;

use super::Names;
use crate::ast::{self, AttrDecl, Item, TypeExpr};
use crate::diagnostics::{Code, Diagnostic};

/// The annotation fields take.
const SENSITIVE: &str = "sensitive";

/// Deeper alias chains than this are not followed: only recursive aliases
/// (already reported) get there.
const MAX_DEPTH: usize = 32;

/// Checks every field's annotations and records the sensitive fields of
/// entity types and contexts in `names.schema.sensitive`.
pub(super) fn mark(names: &mut Names, files: &[&ast::File], diags: &mut Vec<Diagnostic>) {
    for item in files.iter().flat_map(|f| f.items.iter()) {
        match item {
            Item::Entity(decl) => {
                let Some(attrs) = &decl.attrs else { continue };
                check_annotations(attrs, diags);
                let Some(id) = names.entity_ids.get(&decl.name.name).copied() else {
                    continue;
                };
                for field in collect(names, attrs) {
                    push_attribute(names, id, field);
                }
            }
            Item::Context(decl) => {
                check_annotations(&decl.attrs, diags);
                for field in collect(names, &decl.attrs) {
                    push_context(names, field);
                }
            }
            Item::Action(decl) => {
                let Some(attrs) = &decl.context else { continue };
                check_annotations(attrs, diags);
                for field in collect(names, attrs) {
                    push_context(names, field);
                }
            }
            Item::TypeAlias(decl) => check_type(&decl.ty, diags, false),
            _ => {}
        }
    }
}

fn push_attribute(names: &mut Names, id: EntityTypeId, field: SensitiveField) {
    let attributes = &mut names.schema.sensitive.attributes;
    if !attributes
        .iter()
        .any(|(o, f)| *o == id && f.path == field.path)
    {
        attributes.push((id, field));
    }
}

fn push_context(names: &mut Names, field: SensitiveField) {
    let context = &mut names.schema.sensitive.context;
    if !context.iter().any(|f| f.path == field.path) {
        context.push(field);
    }
}

/// Checks the annotations of fields and of the records nested in their
/// types.
fn check_annotations(attrs: &[AttrDecl], diags: &mut Vec<Diagnostic>) {
    check_fields(attrs, diags, false);
}

/// `in_collection`: the fields are inside a set or map, whose elements logs
/// cannot name one by one.
fn check_fields(attrs: &[AttrDecl], diags: &mut Vec<Diagnostic>, in_collection: bool) {
    for attr in attrs {
        let mut seen = false;
        for annotation in &attr.annotations {
            if annotation.key.name != SENSITIVE {
                diags.push(
                    Diagnostic::new(
                        &Code::UNKNOWN_SETTING,
                        annotation.key.span,
                        format!("a field has no annotation `@{}`", annotation.key.name),
                    )
                    .label("unknown annotation")
                    .help("fields take `@sensitive` (or `@sensitive(\"drop\")`): decision logs mask the value"),
                );
                continue;
            }
            if seen {
                diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        annotation.span,
                        "a field is marked `@sensitive` twice",
                    )
                    .label("second mark"),
                );
                continue;
            }
            seen = true;
            let value = annotation.value.as_ref();
            if Redaction::from_annotation(value.map(|v| v.value.as_str())).is_none() {
                let span = value.map_or(annotation.span, |v| v.span);
                diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        span,
                        format!(
                            "`@sensitive` takes \"mask\" or \"drop\", not \"{}\"",
                            value.map_or("", |v| v.value.as_str())
                        ),
                    )
                    .label("not a redaction")
                    .help("`@sensitive` masks the value in logs; `@sensitive(\"drop\")` leaves the field out"),
                );
            }
            if in_collection {
                diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        annotation.span,
                        "`@sensitive` cannot mark a field of a set's or map's elements",
                    )
                    .label("inside a set or map")
                    .help("mark the attribute or field that holds the set or map"),
                );
            }
        }
        check_type(&attr.ty, diags, in_collection);
    }
}

fn check_type(ty: &TypeExpr, diags: &mut Vec<Diagnostic>, in_collection: bool) {
    match ty {
        TypeExpr::Named(_) => {}
        TypeExpr::Generic { args, .. } => {
            for arg in args {
                check_type(arg, diags, true);
            }
        }
        TypeExpr::Record(fields, _) => check_fields(fields, diags, in_collection),
    }
}

/// The sensitive fields under `attrs`, by path.
fn collect(names: &Names, attrs: &[AttrDecl]) -> Vec<SensitiveField> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    collect_into(names, attrs, &mut path, &mut out, 0);
    out
}

fn collect_into(
    names: &Names,
    attrs: &[AttrDecl],
    path: &mut Vec<String>,
    out: &mut Vec<SensitiveField>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for attr in attrs {
        path.push(attr.name.name.clone());
        let redaction = attr
            .annotations
            .iter()
            .find(|a| a.key.name == SENSITIVE)
            .and_then(|a| Redaction::from_annotation(a.value.as_ref().map(|v| v.value.as_str())));
        match redaction {
            // The whole value goes: nothing under it needs a mark of its own.
            Some(redaction) => out.push(SensitiveField {
                path: path.clone(),
                redaction,
            }),
            None => {
                if let Some(fields) = record_fields(names, &attr.ty, depth) {
                    collect_into(names, fields, path, out, depth + 1);
                }
            }
        }
        path.pop();
    }
}

/// The fields of a record type, written inline or through aliases.
fn record_fields<'a>(names: &'a Names, ty: &'a TypeExpr, depth: usize) -> Option<&'a [AttrDecl]> {
    match ty {
        TypeExpr::Record(fields, _) => Some(fields),
        TypeExpr::Named(name) if depth <= MAX_DEPTH => {
            let (aliased, _, _) = names.aliases.get(&name.name)?;
            record_fields(names, aliased, depth + 1)
        }
        _ => None,
    }
}
