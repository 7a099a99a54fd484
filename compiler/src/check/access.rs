//! Type checking of attribute reads (`x.a`, `x["a"]`) and presence tests
//! (`x has a`) on entities, records, descriptors and the HTTP request,
//! including the rule that an optional attribute is read only under a guard.

use reaper_lang::types::EntityTypeId;

use super::expr::{Checked, ExprCx, error};
use super::facts::{Facts, Flow, path};
use super::types::{article, unify};
use crate::ast::{self, FieldName};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, Access, RequestField, Ty, field};

impl ExprCx<'_> {
    pub(super) fn attr(
        &mut self,
        base: &ast::Expr,
        name: &FieldName,
        span: Span,
        facts: &Facts,
    ) -> typed::Expr {
        let (mut typed_base, _) = self.check(base, facts);
        narrow(&mut typed_base, base, facts);
        let attr = name.name.as_str();
        let resolved: Option<(Access, Ty, bool)> = match &typed_base.ty {
            Ty::Error => None,
            Ty::Entity(types) => self.entity_attr(base, types, name),
            Ty::Record(fields) => match field(fields, attr) {
                Some((slot, f)) => Some((Access::Record { slot }, f.ty.clone(), f.optional)),
                None if is_context(base) && self.names.is_dropped(None, attr) => None,
                None => {
                    let candidates: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                    let what = if is_context(base) {
                        "the context".to_owned()
                    } else {
                        "this record".to_owned()
                    };
                    self.unknown_attr(name, &what, &candidates);
                    None
                }
            },
            Ty::Context(actions) => self.context_field(actions, name),
            Ty::Descriptor => Some((
                Access::Descriptor {
                    key: attr.to_owned(),
                },
                Ty::String,
                false,
            )),
            Ty::Map(_) => {
                self.diags.push(
                    Diagnostic::new(
                        &Code::TYPE_MISMATCH,
                        name.span,
                        format!("a map has no attribute `{attr}`"),
                    )
                    .label("not an attribute")
                    .help(format!(
                        "read an entry with `.get(\"{attr}\")`, after testing it with `.contains_key(\"{attr}\")`"
                    )),
                );
                None
            }
            Ty::Request => match RequestField::ALL.iter().find(|(n, _, _)| *n == attr) {
                Some((_, field, ty)) => Some((Access::Request(*field), ty.clone(), false)),
                None => {
                    let candidates: Vec<&str> =
                        RequestField::ALL.iter().map(|(n, _, _)| *n).collect();
                    self.unknown_attr(name, "the request", &candidates);
                    None
                }
            },
            other => {
                let found = self.show(other);
                self.diags.push(
                    Diagnostic::new(
                        &Code::TYPE_MISMATCH,
                        name.span,
                        format!("`{found}` has no attributes"),
                    )
                    .label(format!("`.{attr}` on {}", article(&found)))
                    .help("attributes belong to entities, records, the context and descriptors"),
                );
                None
            }
        };
        let Some((access, ty, optional)) = resolved else {
            return error(span);
        };
        self.record_access(base, name, &access);
        if optional {
            let guarded = path(base).is_some_and(|p| facts.has(&p, attr));
            if !guarded {
                let base_text = describe(base);
                let (test, read) = (has_text(name), attr_text(&base_text, name));
                self.diags.push(
                    Diagnostic::new(
                        &Code::UNGUARDED_OPTIONAL,
                        span,
                        format!("`{attr}` is optional and may be absent"),
                    )
                    .label("read without a `has` guard")
                    .help(format!(
                        "test it first: `{base_text} has {test} && {read} …` (or use `if {base_text} has {test} then … else …`)"
                    )),
                );
            }
        }
        typed::Expr {
            kind: typed::ExprKind::Attr(Box::new(typed::FieldRead {
                base: typed_base,
                name: attr.to_owned(),
                access,
            })),
            ty,
            span,
        }
    }

    /// An attribute every possible type of the entity declares, with one type.
    fn entity_attr(
        &mut self,
        base: &ast::Expr,
        types: &[EntityTypeId],
        name: &FieldName,
    ) -> Option<(Access, Ty, bool)> {
        let schema = &self.names.schema;
        let FieldLookup {
            slots,
            missing,
            ty,
            optional,
            conflict,
        } = look_up(
            types
                .iter()
                .filter_map(|id| Some((*id, &schema.entity_type(*id)?.attrs))),
            &name.name,
        );
        let base_text = describe(base);
        // An attribute whose declared type did not resolve was reported there.
        if types
            .iter()
            .any(|id| self.names.is_dropped(Some(*id), &name.name))
        {
            return None;
        }
        if slots.is_empty() {
            let candidates: Vec<String> = types
                .iter()
                .filter_map(|id| schema.entity_type(*id))
                .flat_map(|t| t.attrs.fields.iter().map(|f| f.name.clone()))
                .collect();
            let owner = self.show(&Ty::Entity(types.to_vec()));
            let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            self.unknown_attr(name, &format!("`{owner}`"), &refs);
            return None;
        }
        if !missing.is_empty() {
            let lacking = self.show(&Ty::Entity(missing));
            let all = self.show(&Ty::Entity(types.to_vec()));
            let having: Vec<EntityTypeId> = slots.iter().map(|(t, _)| *t).collect();
            let read = attr_text(&base_text, name);
            let help = match having.as_slice() {
                [one] => format!(
                    "narrow it first: `{base_text} is {} && {read} …` (or test `{base_text} has {} && {read} …`)",
                    self.show(&Ty::Entity(vec![*one])),
                    has_text(name)
                ),
                _ => format!(
                    "test it first: `{base_text} has {} && {read} …` holds only for the types that declare it",
                    has_text(name)
                ),
            };
            self.diags.push(
                Diagnostic::new(
                    &Code::UNKNOWN_ATTRIBUTE,
                    name.span,
                    format!("`{lacking}` has no attribute `{}`", name.name),
                )
                .label(format!("`{base_text}` may be `{all}`"))
                .help(help),
            );
            return None;
        }
        if conflict {
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    name.span,
                    format!(
                        "attribute `{}` has different types on the possible types of `{base_text}`",
                        name.name
                    ),
                )
                .label("ambiguous type")
                .help(format!("narrow `{base_text}` with `is` first")),
            );
            return None;
        }
        ty.map(|ty| (Access::Entity { slots }, ty, optional))
    }

    pub(super) fn has(
        &mut self,
        base: &ast::Expr,
        name: &FieldName,
        span: Span,
        facts: &Facts,
    ) -> Checked {
        let (mut typed_base, _) = self.check(base, facts);
        narrow(&mut typed_base, base, facts);
        let attr = name.name.as_str();
        // The types that declare the attribute: `has` is false for the others,
        // so where it holds the value is one of these.
        let mut declaring: Option<Vec<EntityTypeId>> = None;
        let access = match &typed_base.ty {
            Ty::Error => None,
            Ty::Context(actions) => {
                let schema = &self.names.schema;
                let slots: Vec<(reaper_lang::types::ActionId, u32)> = actions
                    .iter()
                    .filter_map(|a| Some((*a, schema.context_of(*a).field(attr)?.0)))
                    .collect();
                if slots.is_empty() && self.names.is_dropped(None, attr) {
                    None
                } else if slots.is_empty() {
                    let candidates = context_fields(schema, actions);
                    let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
                    self.unknown_attr(name, "the context", &refs);
                    None
                } else {
                    Some(context_access(actions, slots))
                }
            }
            Ty::Entity(types) => {
                let schema = &self.names.schema;
                let slots: Vec<(EntityTypeId, u32)> = types
                    .iter()
                    .filter_map(|id| {
                        let (slot, _) = schema.entity_type(*id)?.attrs.field(attr)?;
                        Some((*id, slot))
                    })
                    .collect();
                if slots.is_empty()
                    && types
                        .iter()
                        .any(|id| self.names.is_dropped(Some(*id), attr))
                {
                    None
                } else if slots.is_empty() {
                    let candidates: Vec<String> = types
                        .iter()
                        .filter_map(|id| schema.entity_type(*id))
                        .flat_map(|t| t.attrs.fields.iter().map(|f| f.name.clone()))
                        .collect();
                    let owner = self.show(&Ty::Entity(types.clone()));
                    let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
                    self.unknown_attr(name, &format!("`{owner}`"), &refs);
                    None
                } else {
                    if slots.len() < types.len() {
                        declaring = Some(slots.iter().map(|(t, _)| *t).collect());
                    }
                    Some(Access::Entity { slots })
                }
            }
            Ty::Record(fields) => match field(fields, attr) {
                Some((slot, _)) => Some(Access::Record { slot }),
                None if is_context(base) && self.names.is_dropped(None, attr) => None,
                None => {
                    let candidates: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                    let what = if is_context(base) {
                        "the context"
                    } else {
                        "this record"
                    };
                    self.unknown_attr(name, what, &candidates);
                    None
                }
            },
            Ty::Descriptor => Some(Access::Descriptor {
                key: attr.to_owned(),
            }),
            other => {
                let found = self.show(other);
                self.diags.push(
                    Diagnostic::new(
                        &Code::TYPE_MISMATCH,
                        base.span,
                        format!("`has` cannot test {}", article(&found)),
                    )
                    .label(format!("this is `{found}`"))
                    .help(
                        "`has` tests attributes of entities, records, the context and descriptors",
                    ),
                );
                None
            }
        };
        let Some(access) = access else {
            return (error(span), Flow::none());
        };
        self.record_access(base, name, &access);
        let added = path(base).map_or_else(Flow::none, |p| {
            let present = Facts::present(p.clone(), attr.to_owned());
            Flow::when_true(match declaring {
                Some(types) => present.and(&Facts::narrowing(p, types)),
                None => present,
            })
        });
        let kind = typed::ExprKind::Has(Box::new(typed::FieldRead {
            base: typed_base,
            name: attr.to_owned(),
            access,
        }));
        (
            typed::Expr {
                kind,
                ty: Ty::Bool,
                span,
            },
            added,
        )
    }

    /// `context.f` in a rule whose actions have different context records:
    /// the field's slot for each action that has it. A field some of the
    /// actions lack reads like an optional one (it needs a `has` guard).
    fn context_field(
        &mut self,
        actions: &[reaper_lang::types::ActionId],
        name: &FieldName,
    ) -> Option<(Access, Ty, bool)> {
        let schema = &self.names.schema;
        let FieldLookup {
            slots,
            missing,
            ty,
            optional,
            conflict,
        } = look_up(
            actions.iter().map(|a| (*a, schema.context_of(*a))),
            &name.name,
        );
        // Absent for the actions that lack it: read like an optional field.
        let optional = optional || !missing.is_empty();
        if slots.is_empty() {
            if self.names.is_dropped(None, &name.name) {
                return None;
            }
            let candidates = context_fields(schema, actions);
            let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            self.unknown_attr(name, "the context", &refs);
            return None;
        }
        if conflict {
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    name.span,
                    format!(
                        "context field `{}` has different types for this rule's actions",
                        name.name
                    ),
                )
                .label("ambiguous type")
                .help("write a rule for the actions whose contexts agree"),
            );
            return None;
        }
        ty.map(|ty| (context_access(actions, slots), ty, optional))
    }

    /// Notes what an attribute name refers to, when recording for editors.
    fn record_access(&mut self, base: &ast::Expr, name: &FieldName, access: &Access) {
        use crate::symbols::{Owner, Symbol};
        if self.names.recorded.is_none() {
            return;
        }
        let attribute = |owner| Symbol::Attribute {
            owner,
            name: name.name.clone(),
        };
        let symbols: Vec<Symbol> = match access {
            Access::Entity { slots } => slots
                .iter()
                .filter_map(|(ty, _)| self.names.schema.entity_type(*ty))
                .map(|t| attribute(Owner::Entity(t.name.clone())))
                .collect(),
            Access::Context { .. } => vec![attribute(Owner::Context)],
            Access::Record { .. } if is_context(base) => vec![attribute(Owner::Context)],
            Access::Descriptor { key } => vec![Symbol::DescriptorKey(key.clone())],
            Access::Record { .. } | Access::Request(_) => Vec::new(),
        };
        if let Some(recorded) = self.names.recorded.as_mut() {
            recorded
                .uses
                .extend(symbols.into_iter().map(|symbol| (name.span, symbol)));
        }
    }

    fn unknown_attr(&mut self, name: &FieldName, owner: &str, candidates: &[&str]) {
        let diagnostic = Diagnostic::new(
            &Code::UNKNOWN_ATTRIBUTE,
            name.span,
            format!("{owner} has no attribute `{}`", name.name),
        )
        .label("unknown attribute")
        .suggest(&name.name, candidates.iter().copied());
        let diagnostic = if diagnostic.help.is_none() && !candidates.is_empty() {
            let what = if owner == "the request" {
                "request fields"
            } else {
                "declared attributes"
            };
            diagnostic.help(format!("{what}: {}", candidates.join(", ")))
        } else {
            diagnostic
        };
        self.diags.push(diagnostic);
    }
}

/// Narrows a checked base by what the facts know about its path (`x is T`,
/// `x has a`): variables are narrowed when read; attribute chains here.
fn narrow(typed: &mut typed::Expr, base: &ast::Expr, facts: &Facts) {
    if let (Ty::Entity(types), Some(p)) = (&typed.ty, path(base))
        && let Some(known) = facts.narrowed(&p)
    {
        let narrowed: Vec<EntityTypeId> = types
            .iter()
            .copied()
            .filter(|t| known.contains(t))
            .collect();
        if !narrowed.is_empty() {
            typed.ty = Ty::Entity(narrowed);
        }
    }
}

/// Every field any of the actions' contexts has, for suggestions.
/// A field looked up in several records: those of an entity's possible
/// types, or the context records of a rule's actions.
struct FieldLookup<K> {
    /// The slot in each record that has the field.
    slots: Vec<(K, u32)>,
    /// The records that lack it.
    missing: Vec<K>,
    /// Its type, joined over the records that have it.
    ty: Option<Ty>,
    /// Whether it is optional in one of them.
    optional: bool,
    /// Whether two of its types do not join (`ty` is then the first).
    conflict: bool,
}

fn look_up<'r, K: Copy>(
    records: impl Iterator<Item = (K, &'r reaper_lang::types::RecordType)>,
    name: &str,
) -> FieldLookup<K> {
    let mut found = FieldLookup {
        slots: Vec::new(),
        missing: Vec::new(),
        ty: None,
        optional: false,
        conflict: false,
    };
    for (key, record) in records {
        let Some((slot, field)) = record.field(name) else {
            found.missing.push(key);
            continue;
        };
        found.slots.push((key, slot));
        found.optional |= field.optional;
        let this = Ty::from_type(&field.ty);
        found.ty = match found.ty.take() {
            None => Some(this),
            Some(prev) => unify(&prev, &this).or_else(|| {
                found.conflict = true;
                Some(prev)
            }),
        };
    }
    found
}

/// How a field of the context of `actions` (records that differ) is read,
/// given the slot of each action that has it: by that slot when every
/// action has it at the same one, else through a table, which also says
/// the field is absent for the actions it does not list.
fn context_access(
    actions: &[reaper_lang::types::ActionId],
    slots: Vec<(reaper_lang::types::ActionId, u32)>,
) -> Access {
    match slots.first() {
        Some((_, slot)) if slots.len() == actions.len() && slots.iter().all(|(_, s)| s == slot) => {
            Access::Record { slot: *slot }
        }
        _ => Access::Context { slots },
    }
}

fn context_fields(
    schema: &reaper_lang::schema::Schema,
    actions: &[reaper_lang::types::ActionId],
) -> Vec<String> {
    let mut names: Vec<String> = actions
        .iter()
        .flat_map(|a| schema.context_of(*a).fields.iter().map(|f| f.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// How `has` names an attribute: bare, or quoted when not an identifier.
fn has_text(name: &FieldName) -> String {
    reaper_lang::schema::field_name(&name.name)
}

/// How an attribute read is written: `x.a`, or `x["a-b"]`.
fn attr_text(base: &str, name: &FieldName) -> String {
    let shown = reaper_lang::schema::field_name(&name.name);
    if shown.starts_with('"') {
        format!("{base}[{shown}]")
    } else {
        format!("{base}.{shown}")
    }
}

fn is_context(expr: &ast::Expr) -> bool {
    matches!(expr.kind, ast::ExprKind::Var(ast::Var::Context))
}

/// A short rendering of a path expression for help texts (`principal.manager`).
fn describe(expr: &ast::Expr) -> String {
    match &expr.kind {
        ast::ExprKind::Var(var) => var.as_str().to_owned(),
        ast::ExprKind::Attr { base, name } if !name.quoted => {
            format!("{}.{}", describe(base), name.name)
        }
        ast::ExprKind::Attr { base, name } => format!("{}[{:?}]", describe(base), name.name),
        ast::ExprKind::Paren(inner) => describe(inner),
        ast::ExprKind::Entity(lit) => format!("{}::{:?}", lit.ty.name, lit.id.value),
        _ => "the value".to_owned(),
    }
}
