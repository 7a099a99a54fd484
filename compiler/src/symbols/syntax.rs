//! The names a syntax tree settles by itself: every declaration, and uses
//! of entity types, actions, stores, limits and rule ids. A type name
//! (entity type or alias?) and a bare name in a condition (an action?) are
//! settled once every file's declarations are known ([`super::Index::new`]).

use reaper_lang::schema::STORE_ENTITY;

use super::{Occurrence, Owner, Symbol};
use crate::ast::{self, ActionScope, Expr, ExprKind, Item, ResourceScope, TestStmt, TypeExpr};
use crate::source::Span;

/// A name found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Known(Occurrence),
    /// A name in a type: an entity type, an alias or a primitive.
    TypeName(ast::Ident),
    /// A bare name in a condition: an action, or a mistake.
    BareName(ast::Ident),
}

/// Every name in `file`, whose text is `text` (to find rule ids inside
/// their quotes).
pub fn file_names(file: &ast::File, text: &str) -> Vec<Raw> {
    let mut walker = Walker {
        text,
        out: Vec::new(),
    };
    for item in &file.items {
        walker.item(item);
    }
    walker.out
}

struct Walker<'t> {
    text: &'t str,
    out: Vec<Raw>,
}

impl Walker<'_> {
    fn push(&mut self, span: Span, symbol: Symbol, declaration: Option<Span>) {
        self.out.push(Raw::Known(Occurrence {
            span,
            symbol,
            declaration,
        }));
    }

    fn entity(&mut self, ident: &ast::Ident) {
        self.push(ident.span, Symbol::EntityType(ident.name.clone()), None);
    }

    /// `Type::"id"`: the type, and for `Store::"name"` the store it names.
    fn entity_lit(&mut self, lit: &ast::EntityLit) {
        self.entity(&lit.ty);
        if lit.ty.name == STORE_ENTITY {
            let span = self.inside_quotes(&lit.id);
            self.push(span, Symbol::Store(lit.id.value.clone()), None);
        }
    }

    /// A string literal's contents, without its quotes when it has no
    /// escapes (so renaming it replaces exactly the name).
    fn inside_quotes(&self, lit: &ast::StrLit) -> Span {
        let written = self.text.get(lit.span.range()).unwrap_or("");
        if written.len() == lit.value.len() + 2 && written.starts_with('"') {
            Span {
                file: lit.span.file,
                start: lit.span.start + 1,
                end: lit.span.end - 1,
            }
        } else {
            lit.span
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Entity(decl) => {
                self.push(
                    decl.name.span,
                    Symbol::EntityType(decl.name.name.clone()),
                    Some(decl.span),
                );
                for parent in &decl.parents {
                    self.entity(parent);
                }
                let owner = Owner::Entity(decl.name.name.clone());
                for attr in decl.attrs.iter().flatten() {
                    self.attr_decl(attr, &owner);
                }
            }
            Item::Action(decl) => {
                for name in &decl.names {
                    self.push(
                        name.span,
                        Symbol::Action(name.name.clone()),
                        Some(decl.span),
                    );
                }
                for group in &decl.groups {
                    self.push(group.span, Symbol::Action(group.name.clone()), None);
                }
                for ty in decl.resources.iter().chain(&decl.principals) {
                    self.entity(ty);
                }
                for attr in decl.context.iter().flatten() {
                    self.attr_decl(attr, &Owner::Context);
                }
            }
            Item::Context(decl) => {
                for attr in &decl.attrs {
                    self.attr_decl(attr, &Owner::Context);
                }
            }
            Item::TypeAlias(decl) => {
                self.push(
                    decl.name.span,
                    Symbol::TypeAlias(decl.name.name.clone()),
                    Some(decl.span),
                );
                self.type_expr(&decl.ty);
            }
            Item::Rule(rule) => self.rule(rule),
            Item::RateLimit(decl) => {
                for limit in &decl.limits {
                    let symbol = Symbol::Limit {
                        domain: decl.domain.value.clone(),
                        name: limit.name.name.clone(),
                    };
                    self.push(limit.name.span, symbol, Some(limit.span));
                    for condition in &limit.conditions {
                        self.expr(&condition.expr);
                    }
                    for key in &limit.by {
                        self.expr(key);
                    }
                }
            }
            Item::Store(decl) => {
                self.push(
                    decl.name.span,
                    Symbol::Store(decl.name.name.clone()),
                    Some(decl.span),
                );
                for ty in &decl.principals {
                    self.entity(ty);
                }
            }
            Item::Http(decl) => {
                for item in &decl.items {
                    match item {
                        ast::HttpItem::Principal { value, .. }
                        | ast::HttpItem::Context { value, .. } => self.expr(value),
                        ast::HttpItem::Route(route) => {
                            self.action_ref(&route.action);
                            self.expr(&route.resource);
                        }
                    }
                }
            }
            Item::Test(decl) => self.test(decl),
            Item::Error(_) => {}
        }
    }

    fn attr_decl(&mut self, attr: &ast::AttrDecl, owner: &Owner) {
        let symbol = Symbol::Attribute {
            owner: owner.clone(),
            name: attr.name.name.clone(),
        };
        self.push(attr.name.span, symbol, Some(attr.span));
        self.type_expr(&attr.ty);
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named(ident) => self.out.push(Raw::TypeName(ident.clone())),
            TypeExpr::Generic { args, .. } => {
                for arg in args {
                    self.type_expr(arg);
                }
            }
            // Fields of an anonymous record belong to no named owner.
            TypeExpr::Record(fields, _) => {
                for field in fields {
                    self.type_expr(&field.ty);
                }
            }
        }
    }

    fn action_ref(&mut self, action: &ast::ActionRef) {
        self.push(action.name.span, Symbol::Action(action.full_name()), None);
    }

    fn rule(&mut self, rule: &ast::Rule) {
        for annotation in &rule.annotations {
            if annotation.key.name == "id"
                && let Some(value) = &annotation.value
            {
                let span = self.inside_quotes(value);
                self.push(span, Symbol::Rule(value.value.clone()), Some(rule.span));
            }
        }
        match &rule.actions {
            ActionScope::Any | ActionScope::All(_) => {}
            ActionScope::One(action) => self.action_ref(action),
            ActionScope::List(actions, _) => {
                for action in actions {
                    self.action_ref(action);
                }
            }
        }
        match &rule.resource {
            Some(ResourceScope::Types { types, .. }) => {
                for ty in types {
                    self.entity(ty);
                }
            }
            Some(ResourceScope::Store(name, _)) => {
                self.push(name.span, Symbol::Store(name.name.clone()), None);
            }
            None => {}
        }
        for condition in &rule.conditions {
            self.expr(&condition.expr);
        }
    }

    /// Entity types, bare action names and context fields written in test
    /// data; attribute reads are the checker's ([`super::Recorded`]).
    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Entity(lit) => self.entity_lit(lit),
            ExprKind::DynEntity { ty, .. } | ExprKind::Is { ty, .. } => self.entity(ty),
            ExprKind::Name(ident) => self.out.push(Raw::BareName(ident.clone())),
            _ => {}
        }
        for child in expr.children() {
            self.expr(child);
        }
    }

    fn test(&mut self, decl: &ast::TestDecl) {
        for statement in &decl.statements {
            match statement {
                TestStmt::Principal(data) | TestStmt::Resource(data) | TestStmt::Entity(data) => {
                    self.entity_data(data);
                }
                TestStmt::Context(expr, _) => self.context_record(expr),
                TestStmt::Expect(expect) => {
                    self.action_ref(&expect.action);
                    if let Some(resource) = &expect.resource {
                        self.entity_lit(resource);
                    }
                    if let Some(with) = &expect.with {
                        self.context_record(with);
                    }
                    for id in expect.because.iter().flatten() {
                        let span = self.inside_quotes(id);
                        self.push(span, Symbol::Rule(id.value.clone()), None);
                    }
                }
                TestStmt::ExpectLimit(expect) => {
                    let domain = &expect.domain.value;
                    for entry in &expect.descriptor {
                        let key = Symbol::DescriptorKey(entry.name.name.clone());
                        self.push(entry.name.span, key, None);
                    }
                    let steps = expect.steps.iter().flatten();
                    let limits = expect
                        .matches
                        .iter()
                        .flatten()
                        .chain(steps.filter_map(|s| s.limit.as_ref()));
                    for limit in limits {
                        let symbol = Symbol::Limit {
                            domain: domain.clone(),
                            name: limit.name.clone(),
                        };
                        self.push(limit.span, symbol, None);
                    }
                }
                TestStmt::Error(_) => {}
            }
        }
    }

    fn entity_data(&mut self, data: &ast::EntityData) {
        self.entity_lit(&data.uid);
        let owner = Owner::Entity(data.uid.ty.name.clone());
        for field in data.attrs.iter().flatten() {
            let symbol = Symbol::Attribute {
                owner: owner.clone(),
                name: field.name.name.clone(),
            };
            self.push(field.name.span, symbol, None);
            self.expr(&field.value);
        }
        for parent in &data.parents {
            self.entity_lit(parent);
        }
    }

    /// A test's context record: its top-level fields are context fields.
    fn context_record(&mut self, expr: &Expr) {
        if let ExprKind::Record(fields) = &expr.kind {
            for field in fields {
                let symbol = Symbol::Attribute {
                    owner: Owner::Context,
                    name: field.name.name.clone(),
                };
                self.push(field.name.span, symbol, None);
                self.expr(&field.value);
            }
        } else {
            self.expr(expr);
        }
    }
}
