//! Type checking of expressions: every syntax node gets a type and a typed
//! counterpart, and every misuse a diagnostic. Errors produce [`Ty::Error`],
//! which absorbs further errors so one mistake is reported once.

use reaper_lang::types::EntityTypeId;

use super::facts::{Facts, Flow, path};
use super::types::{article, display, unify};
use crate::ast::{self, BinaryOp, ExprKind, Literal, UnaryOp, Var};
use crate::diagnostics::{Code, Diagnostic};
use crate::resolve::Names;
use crate::source::Span;
use crate::typed::{self, BinOp, Const, Ty, UnOp};

/// Which variables and functions an expression may use.
#[derive(Debug, Clone)]
pub enum Scope {
    /// A rule's condition, for requests with one of `actions`.
    Rule {
        principal: Ty,
        resource: Ty,
        actions: Vec<reaper_lang::types::ActionId>,
    },
    /// A rate limit's condition or `by` key.
    Limit,
    /// The http mapping; `params` are the route's path parameters, `None`
    /// outside a route.
    Http { params: Option<Vec<String>> },
    /// Test data: values only.
    Data,
}

pub struct ExprCx<'a> {
    pub names: &'a mut Names,
    pub diags: &'a mut Vec<Diagnostic>,
    pub scope: Scope,
}

/// A checked expression and the facts known when it is true or false.
pub type Checked = (typed::Expr, Flow);

impl ExprCx<'_> {
    /// Checks a `when`/`unless` condition: it must be a `Bool`.
    pub fn condition(&mut self, expr: &ast::Expr, facts: &Facts) -> Checked {
        let (typed, added) = self.check(expr, facts);
        if !matches!(typed.ty, Ty::Bool | Ty::Error) {
            let found = self.show(&typed.ty);
            self.diags.push(
                Diagnostic::new(
                    &Code::CONDITION_NOT_BOOL,
                    expr.span,
                    format!("condition is `{found}`, not `Bool`"),
                )
                .label("expected a `Bool`")
                .help("compare it to something, as in `x == …`, or test it with `has`"),
            );
        }
        (typed, added)
    }

    /// Checks `expr` where `facts` hold; returns the typed expression and
    /// the facts it establishes when true and when false.
    pub fn check(&mut self, expr: &ast::Expr, facts: &Facts) -> Checked {
        let checked = self.check_node(expr, facts);
        if let Some(recorded) = self.names.recorded.as_mut() {
            recorded.types.push((expr.span, checked.0.ty.clone()));
        }
        checked
    }

    fn check_node(&mut self, expr: &ast::Expr, facts: &Facts) -> Checked {
        let span = expr.span;
        let node = |kind, ty| typed::Expr { kind, ty, span };
        match &expr.kind {
            ExprKind::Literal(lit) => {
                let (value, ty) = match lit {
                    Literal::Bool(b) => (Const::Bool(*b), Ty::Bool),
                    Literal::Int(n) | Literal::Size(n) => (Const::Int(*n), Ty::Int),
                    Literal::String(s) => (Const::String(s.clone()), Ty::String),
                    Literal::Ip(ip) => (Const::Ip(*ip), Ty::Ip),
                    Literal::Duration(ms) => (Const::Duration(*ms), Ty::Duration),
                    Literal::Timestamp(ms) => (Const::Timestamp(*ms), Ty::Timestamp),
                    Literal::Decimal(n) => (Const::Decimal(*n), Ty::Decimal),
                };
                (node(typed::ExprKind::Const(value), ty), Flow::none())
            }
            ExprKind::Var(var) => (self.var(*var, span, facts), Flow::none()),
            ExprKind::Entity(lit) => {
                let kind = match self.names.entity(&lit.ty, self.diags) {
                    Some(ty) => {
                        self.check_entity_id(ty, &lit.id);
                        (
                            typed::ExprKind::Const(Const::Entity(ty, lit.id.value.clone())),
                            Ty::Entity(vec![ty]),
                        )
                    }
                    None => (typed::ExprKind::Error, Ty::Error),
                };
                (node(kind.0, kind.1), Flow::none())
            }
            ExprKind::DynEntity { ty, id } => (self.dyn_entity(ty, id, span, facts), Flow::none()),
            ExprKind::Set(items) => (self.set(items, span, facts), Flow::none()),
            ExprKind::Record(fields) => (self.record(fields, span, facts), Flow::none()),
            ExprKind::Attr { base, name } => (self.attr(base, name, span, facts), Flow::none()),
            ExprKind::Has { base, name } => self.has(base, name, span, facts),
            ExprKind::Is { base, ty } => self.is(base, ty, span, facts),
            ExprKind::Like { base, pattern, .. } => {
                let base = self.expect(base, facts, &Ty::String, "`like` matches strings");
                let kind = typed::ExprKind::Like {
                    base: Box::new(base),
                    pattern: pattern.clone(),
                };
                (node(kind, Ty::Bool), Flow::none())
            }
            ExprKind::Call { name, args } => (self.call(name, args, span, facts), Flow::none()),
            ExprKind::Method { recv, name, args } => self.method(recv, name, args, span, facts),
            ExprKind::Unary { op, operand } => self.unary(*op, operand, span, facts),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span, facts),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_then_else(cond, then, otherwise, span, facts),
            ExprKind::Paren(inner) => self.check(inner, facts),
            ExprKind::Name(name) => (self.name(name), Flow::none()),
            ExprKind::Error => (node(typed::ExprKind::Error, Ty::Error), Flow::none()),
        }
    }

    /// An id an enumerated type does not declare can name no entity.
    pub fn check_entity_id(&mut self, ty: EntityTypeId, id: &ast::StrLit) {
        let Some(def) = self.names.schema.entity_type(ty) else {
            return;
        };
        let Some(ids) = def.ids.as_ref().filter(|_| !def.allows_id(&id.value)) else {
            return;
        };
        let name = def.name.clone();
        let diagnostic = Diagnostic::new(
            &Code::UNKNOWN_ENTITY_ID,
            id.span,
            format!("`{name}` has no entity {:?}", id.value),
        )
        .label("not one of its ids")
        .suggest(&id.value, ids.iter().map(String::as_str));
        let diagnostic = if diagnostic.help.is_some() {
            diagnostic
        } else if ids.is_empty() {
            diagnostic.help(format!("`{name}` declares no ids"))
        } else {
            let listed: Vec<String> = ids.iter().map(|i| format!("{i:?}")).collect();
            diagnostic.help(format!("`{name}` is one of {}", listed.join(", ")))
        };
        self.diags.push(diagnostic);
    }

    /// Checks `expr` and requires type `want`; `why` explains the need.
    pub fn expect(&mut self, expr: &ast::Expr, facts: &Facts, want: &Ty, why: &str) -> typed::Expr {
        let (typed, _) = self.check(expr, facts);
        if typed.ty != *want && !typed.ty.is_error() {
            self.mismatch(expr.span, want, &typed.ty, why);
        }
        typed
    }

    pub fn mismatch(&mut self, span: Span, want: &Ty, found: &Ty, why: &str) {
        let (want, found) = (self.show(want), self.show(found));
        self.diags.push(
            Diagnostic::new(
                &Code::TYPE_MISMATCH,
                span,
                format!("expected `{want}`, found `{found}`"),
            )
            .label(format!("this is `{found}`"))
            .help(why.to_owned()),
        );
    }

    pub fn show(&self, ty: &Ty) -> String {
        display(&self.names.schema, ty)
    }

    fn var(&mut self, var: Var, span: Span, facts: &Facts) -> typed::Expr {
        let ty = match (&self.scope, var) {
            (Scope::Rule { principal, .. }, Var::Principal) => {
                narrowed(facts, "principal").unwrap_or_else(|| principal.clone())
            }
            (Scope::Rule { resource, .. }, Var::Resource) => {
                narrowed(facts, "resource").unwrap_or_else(|| resource.clone())
            }
            (Scope::Rule { .. }, Var::Action) => Ty::Action,
            (Scope::Rule { actions, .. }, Var::Context) => context_type(self.names, actions),
            (Scope::Limit, Var::Descriptor) => Ty::Descriptor,
            (Scope::Http { .. }, Var::Request) => Ty::Request,
            (scope, var) => {
                let (place, available) = match scope {
                    Scope::Rule { .. } => (
                        "in a rule",
                        "`principal`, `action`, `resource` and `context`",
                    ),
                    Scope::Limit => ("in a rate limit", "`descriptor`"),
                    Scope::Http { .. } => (
                        "in the http mapping",
                        "`request`, `header(…)`, `has_header(…)` and `param(…)`",
                    ),
                    Scope::Data => ("in test data", "no variables: write literal values"),
                };
                self.diags.push(
                    Diagnostic::new(
                        &Code::UNKNOWN_VARIABLE,
                        span,
                        format!("`{}` is not available {place}", var.as_str()),
                    )
                    .label("not available here")
                    .help(format!("available {place}: {available}")),
                );
                Ty::Error
            }
        };
        typed::Expr {
            kind: if ty.is_error() {
                typed::ExprKind::Error
            } else {
                typed::ExprKind::Var(var)
            },
            ty,
            span,
        }
    }

    /// A bare name: an action (`action == read`), or a mistake.
    fn name(&mut self, name: &ast::Ident) -> typed::Expr {
        let span = name.span;
        if matches!(self.scope, Scope::Rule { .. })
            && let Some(action) = self.names.action_by_name(&name.name)
        {
            return typed::Expr {
                kind: typed::ExprKind::Const(Const::Action(action)),
                ty: Ty::Action,
                span,
            };
        }
        let variables = [
            "principal",
            "action",
            "resource",
            "context",
            "descriptor",
            "request",
        ];
        let candidates: Vec<&str> = variables
            .into_iter()
            .chain(self.names.action_names())
            .collect();
        let diagnostic = Diagnostic::new(
            &Code::UNKNOWN_VARIABLE,
            span,
            format!("unknown name `{}`", name.name),
        )
        .label("not a variable or an action")
        .suggest(&name.name, candidates);
        let diagnostic = if diagnostic.help.is_none() {
            diagnostic.help("strings are quoted (\"text\") and entities are written `Type::\"id\"`")
        } else {
            diagnostic
        };
        self.diags.push(diagnostic);
        error(span)
    }

    fn dyn_entity(
        &mut self,
        ty: &ast::Ident,
        id: &ast::Expr,
        span: Span,
        facts: &Facts,
    ) -> typed::Expr {
        let id = self.expect(id, facts, &Ty::String, "an entity id is a `String`");
        if !matches!(self.scope, Scope::Http { .. }) {
            self.diags.push(
                Diagnostic::new(
                    &Code::UNKNOWN_FUNCTION,
                    span,
                    "computed entity references are only allowed in the http mapping",
                )
                .label("`Type::(…)` outside `http { … }`")
                .help(format!("write a literal reference: `{}::\"id\"`", ty.name)),
            );
            return error(span);
        }
        match self.names.entity(ty, self.diags) {
            Some(entity) => typed::Expr {
                kind: typed::ExprKind::DynEntity {
                    ty: entity,
                    id: Box::new(id),
                },
                ty: Ty::Entity(vec![entity]),
                span,
            },
            None => error(span),
        }
    }

    fn set(&mut self, items: &[ast::Expr], span: Span, facts: &Facts) -> typed::Expr {
        let mut elem: Option<Ty> = None;
        let mut typed_items = Vec::with_capacity(items.len());
        let mut reported = false;
        for item in items {
            let (typed, _) = self.check(item, facts);
            elem = match elem {
                None => Some(typed.ty.clone()),
                Some(so_far) => match unify(&so_far, &typed.ty) {
                    Some(joined) => Some(joined),
                    None => {
                        if !reported {
                            reported = true;
                            let (a, b) = (self.show(&so_far), self.show(&typed.ty));
                            self.diags.push(
                                Diagnostic::new(
                                    &Code::MIXED_SET,
                                    item.span,
                                    format!("a set of `{a}` cannot hold {}", article(&b)),
                                )
                                .label(format!("this is `{b}`"))
                                .with_secondary(
                                    items[0].span,
                                    format!("the set holds `{a}` from here"),
                                )
                                .help("all elements of a set have one type"),
                            );
                        }
                        Some(so_far)
                    }
                },
            };
            typed_items.push(typed);
        }
        let ty = match elem {
            None => Ty::EmptySet,
            Some(_) if reported => Ty::Error,
            Some(Ty::Error) => Ty::Error,
            Some(t) => Ty::Set(Box::new(t)),
        };
        typed::Expr {
            kind: typed::ExprKind::Set(typed_items),
            ty,
            span,
        }
    }

    fn record(&mut self, fields: &[ast::RecordField], span: Span, facts: &Facts) -> typed::Expr {
        let mut typed_fields: Vec<(String, typed::Expr)> = Vec::with_capacity(fields.len());
        for field in fields {
            if let Some(first) = fields.iter().find(|f| f.name.name == field.name.name)
                && !std::ptr::eq(first, field)
            {
                self.diags.push(
                    Diagnostic::new(
                        &Code::DUPLICATE_DECLARATION,
                        field.name.span,
                        format!("field `{}` is given twice", field.name.name),
                    )
                    .label("given again here")
                    .with_secondary(first.name.span, "first given here"),
                );
                continue;
            }
            let (typed, _) = self.check(&field.value, facts);
            typed_fields.push((field.name.name.clone(), typed));
        }
        typed_fields.sort_by(|a, b| a.0.cmp(&b.0));
        let ty = Ty::Record(
            typed_fields
                .iter()
                .map(|(name, e)| typed::FieldTy {
                    name: name.clone(),
                    ty: e.ty.clone(),
                    optional: false,
                })
                .collect(),
        );
        typed::Expr {
            kind: typed::ExprKind::Record(typed_fields),
            ty,
            span,
        }
    }

    fn is(&mut self, base: &ast::Expr, ty: &ast::Ident, span: Span, facts: &Facts) -> Checked {
        let (typed_base, _) = self.check(base, facts);
        let Some(target) = self.names.entity(ty, self.diags) else {
            return (error(span), Flow::none());
        };
        let mut added = Flow::none();
        match &typed_base.ty {
            Ty::Entity(types) => {
                if !types.contains(&target) {
                    let possible = self.show(&typed_base.ty);
                    self.diags.push(
                        Diagnostic::new(
                            &Code::CONSTANT_CONDITION,
                            span,
                            format!(
                                "this is always false: the value is `{possible}`, never `{}`",
                                ty.name
                            ),
                        )
                        .label("always false")
                        .help("the schema fixes which types are possible here (the actions' `by` and `on` lists, the attribute's type)"),
                    );
                }
                if let Some(p) = path(base) {
                    let others: Vec<EntityTypeId> =
                        types.iter().copied().filter(|t| *t != target).collect();
                    added = Flow {
                        when_true: Facts::narrowing(p.clone(), vec![target]),
                        when_false: Facts::narrowing(p, others),
                    };
                }
            }
            Ty::Error => {}
            other => {
                let found = other.clone();
                self.mismatch(
                    base.span,
                    &Ty::Entity(vec![target]),
                    &found,
                    "`is` tests an entity's type",
                );
            }
        }
        let kind = typed::ExprKind::Is {
            base: Box::new(typed_base),
            ty: target,
        };
        (
            typed::Expr {
                kind,
                ty: Ty::Bool,
                span,
            },
            added,
        )
    }

    fn unary(&mut self, op: UnaryOp, operand: &ast::Expr, span: Span, facts: &Facts) -> Checked {
        let (typed, flow) = self.check(operand, facts);
        let (op, ty, flow) = match op {
            UnaryOp::Not => {
                if !matches!(typed.ty, Ty::Bool | Ty::Error) {
                    let found = typed.ty.clone();
                    self.mismatch(operand.span, &Ty::Bool, &found, "`!` negates a `Bool`");
                }
                (UnOp::Not, Ty::Bool, flow.not())
            }
            UnaryOp::Neg => {
                if !matches!(typed.ty, Ty::Int | Ty::Duration | Ty::Decimal | Ty::Error) {
                    let found = typed.ty.clone();
                    self.mismatch(
                        operand.span,
                        &Ty::Int,
                        &found,
                        "`-` negates an `Int`, a `Duration` or a `Decimal`",
                    );
                }
                let ty = typed.ty.clone();
                (UnOp::Neg, ty, Flow::none())
            }
        };
        (typed::Expr::unary(op, typed, ty, span), flow)
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
        facts: &Facts,
    ) -> Checked {
        match op {
            BinaryOp::And => {
                let (l, fl) = self.condition_operand(lhs, facts, "&&");
                let inner = facts.and(&fl.when_true);
                let (r, fr) = self.condition_operand(rhs, &inner, "&&");
                (
                    typed::Expr::binary(BinOp::And, l, r, Ty::Bool, span),
                    Flow::and(&fl, &fr),
                )
            }
            BinaryOp::Or => {
                let (l, fl) = self.condition_operand(lhs, facts, "||");
                let inner = facts.and(&fl.when_false);
                let (r, fr) = self.condition_operand(rhs, &inner, "||");
                (
                    typed::Expr::binary(BinOp::Or, l, r, Ty::Bool, span),
                    Flow::or(&fl, &fr),
                )
            }
            _ => {
                let (l, _) = self.check(lhs, facts);
                let (r, _) = self.check(rhs, facts);
                (self.operator(op, l, r, span), Flow::none())
            }
        }
    }

    fn condition_operand(&mut self, expr: &ast::Expr, facts: &Facts, op: &str) -> Checked {
        let (typed, added) = self.check(expr, facts);
        if !matches!(typed.ty, Ty::Bool | Ty::Error) {
            let found = typed.ty.clone();
            self.mismatch(
                expr.span,
                &Ty::Bool,
                &found,
                &format!("`{op}` combines `Bool` conditions"),
            );
        }
        (typed, added)
    }

    /// Resolves an overloaded operator from its operand types.
    fn operator(
        &mut self,
        op: BinaryOp,
        l: typed::Expr,
        r: typed::Expr,
        span: Span,
    ) -> typed::Expr {
        if l.ty.is_error() || r.ty.is_error() {
            let ty = match op {
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => Ty::Error,
                _ => Ty::Bool,
            };
            return typed::Expr::binary(BinOp::Eq, l, r, ty, span);
        }
        if let Some(group) = [&l, &r].into_iter().find_map(|e| self.group_constant(e))
            && matches!(op, BinaryOp::Eq | BinaryOp::Ne)
        {
            let name = self.names.action_name(group).to_owned();
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_ACTION_GROUP,
                    span,
                    format!("`{name}` is an action group: no request's action equals it"),
                )
                .label("always false")
                .help(format!("test membership with `action in {name}`")),
            );
            return error_bool(span);
        }
        let typed_op: Option<(BinOp, Ty)> = match op {
            // Descriptors and the HTTP request are read through their fields,
            // never compared whole; a context that differs by action too.
            BinaryOp::Eq | BinaryOp::Ne
                if matches!(l.ty, Ty::Descriptor | Ty::Request | Ty::Context(_))
                    || matches!(r.ty, Ty::Context(_)) =>
            {
                None
            }
            BinaryOp::Eq | BinaryOp::Ne => unify(&l.ty, &r.ty).map(|_| {
                let op = if op == BinaryOp::Eq {
                    BinOp::Eq
                } else {
                    BinOp::Ne
                };
                (op, Ty::Bool)
            }),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ordered = matches!(l.ty, Ty::Int | Ty::Duration | Ty::Timestamp | Ty::Decimal)
                    && l.ty == r.ty;
                ordered.then(|| {
                    let op = match op {
                        BinaryOp::Lt => BinOp::Lt,
                        BinaryOp::Le => BinOp::Le,
                        BinaryOp::Gt => BinOp::Gt,
                        _ => BinOp::Ge,
                    };
                    (op, Ty::Bool)
                })
            }
            BinaryOp::Add => match (&l.ty, &r.ty) {
                (Ty::Int, Ty::Int) => Some((BinOp::Add, Ty::Int)),
                (Ty::Duration, Ty::Duration) => Some((BinOp::Add, Ty::Duration)),
                (Ty::Timestamp, Ty::Duration) => Some((BinOp::Add, Ty::Timestamp)),
                (Ty::Decimal, Ty::Decimal) => Some((BinOp::Add, Ty::Decimal)),
                (Ty::String, Ty::String) => Some((BinOp::Concat, Ty::String)),
                _ => None,
            },
            BinaryOp::Sub => match (&l.ty, &r.ty) {
                (Ty::Int, Ty::Int) => Some((BinOp::Sub, Ty::Int)),
                (Ty::Duration, Ty::Duration) | (Ty::Timestamp, Ty::Timestamp) => {
                    Some((BinOp::Sub, Ty::Duration))
                }
                (Ty::Timestamp, Ty::Duration) => Some((BinOp::Sub, Ty::Timestamp)),
                (Ty::Decimal, Ty::Decimal) => Some((BinOp::Sub, Ty::Decimal)),
                _ => None,
            },
            BinaryOp::Mul => match (&l.ty, &r.ty) {
                (Ty::Int, Ty::Int) => Some((BinOp::Mul, Ty::Int)),
                _ => None,
            },
            BinaryOp::In if l.ty == Ty::Action => {
                return self.action_in(l, r, span);
            }
            BinaryOp::In => self.in_operator(&l, &r),
            BinaryOp::And | BinaryOp::Or => None,
        };
        let Some((typed_op, ty)) = typed_op else {
            let (a, b) = (self.show(&l.ty), self.show(&r.ty));
            let help = match op {
                _ if matches!(l.ty, Ty::Context(_)) || matches!(r.ty, Ty::Context(_)) => {
                    "this rule's actions have different context records: compare its fields, not the whole context"
                }
                BinaryOp::Eq | BinaryOp::Ne => "both sides of a comparison have the same type",
                BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                    "ordering compares two `Int`s, `Duration`s, `Timestamp`s or `Decimal`s"
                }
                BinaryOp::In => {
                    "`in` tests an entity against an entity or a set of entities, a value against a set, or an `Ip` against a range or a set of ranges"
                }
                BinaryOp::Add => {
                    "`+` adds `Int`s, `Duration`s, `Decimal`s or a `Duration` to a `Timestamp`, and joins `String`s"
                }
                _ => {
                    "arithmetic works on `Int`s, on `Duration`s, on `Decimal`s, and on a `Timestamp` with a `Duration`"
                }
            };
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    span,
                    format!("`{}` cannot be applied to `{a}` and `{b}`", op.as_str()),
                )
                .label(format!("`{a}` {} `{b}`", op.as_str()))
                .help(help),
            );
            return typed::Expr {
                kind: typed::ExprKind::Error,
                ty: Ty::Error,
                span,
            };
        };
        if let (Some(a), Some(b)) = (int_const(&l), int_const(&r)) {
            let folded = match typed_op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                _ => Some(0),
            };
            if folded.is_none() {
                self.diags.push(
                    Diagnostic::new(&Code::CONSTANT_OVERFLOW, span, "this arithmetic always overflows 64 bits")
                        .label("overflows")
                        .help("integers are 64-bit; an overflow at run time is an error that stops the rule"),
                );
            }
        }
        if typed_op == BinOp::InEntity || typed_op == BinOp::InEntitySet {
            self.check_reachable(&l, &r, span);
        }
        typed::Expr::binary(typed_op, l, r, ty, span)
    }

    /// The action group a constant names, if it is one.
    fn group_constant(&self, expr: &typed::Expr) -> Option<reaper_lang::types::ActionId> {
        match expr.kind {
            typed::ExprKind::Const(Const::Action(id)) if self.names.is_group(id) => Some(id),
            _ => None,
        }
    }

    /// `action in a`, `action in [a, g]`: membership in the actions named,
    /// groups standing for their actions. Actions are constants, so the
    /// set is too.
    fn action_in(&mut self, l: typed::Expr, r: typed::Expr, span: Span) -> typed::Expr {
        let named: Option<Vec<reaper_lang::types::ActionId>> = match &r.kind {
            typed::ExprKind::Const(Const::Action(id)) => Some(vec![*id]),
            typed::ExprKind::Set(items) => items
                .iter()
                .map(|item| match item.kind {
                    typed::ExprKind::Const(Const::Action(id)) => Some(id),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        let Some(named) = named.filter(|_| matches!(r.ty, Ty::Action | Ty::Set(_) | Ty::EmptySet))
        else {
            let b = self.show(&r.ty);
            self.diags.push(
                Diagnostic::new(
                    &Code::TYPE_MISMATCH,
                    span,
                    format!("`in` cannot be applied to `action` and `{b}`"),
                )
                .label(format!("`action` in `{b}`"))
                .help(
                    "write `action in read` or `action in [read, edit]`, naming actions or groups",
                ),
            );
            return error_bool(span);
        };
        let mut actions: Vec<reaper_lang::types::ActionId> =
            named.iter().flat_map(|a| self.names.expand(*a)).collect();
        actions.sort();
        actions.dedup();
        let r_span = r.span;
        let consts: Vec<typed::Expr> = actions
            .iter()
            .map(|a| typed::Expr {
                kind: typed::ExprKind::Const(Const::Action(*a)),
                ty: Ty::Action,
                span: r_span,
            })
            .collect();
        let set = typed::Expr {
            kind: typed::ExprKind::Set(consts),
            ty: if actions.is_empty() {
                Ty::EmptySet
            } else {
                Ty::Set(Box::new(Ty::Action))
            },
            span: r_span,
        };
        typed::Expr::binary(BinOp::InSet, l, set, Ty::Bool, span)
    }

    fn in_operator(&self, l: &typed::Expr, r: &typed::Expr) -> Option<(BinOp, Ty)> {
        match (&l.ty, &r.ty) {
            (Ty::Entity(_), Ty::Entity(_)) => Some((BinOp::InEntity, Ty::Bool)),
            (Ty::Entity(_), Ty::Set(elem)) if matches!(**elem, Ty::Entity(_)) => {
                Some((BinOp::InEntitySet, Ty::Bool))
            }
            (Ty::Ip, Ty::Ip) => Some((BinOp::InRange, Ty::Bool)),
            // An address is in a set of networks when one of them holds it.
            (Ty::Ip, Ty::Set(elem)) if **elem == Ty::Ip => Some((BinOp::InRanges, Ty::Bool)),
            (Ty::Ip, Ty::EmptySet) => Some((BinOp::InRanges, Ty::Bool)),
            (_, Ty::EmptySet) => Some((BinOp::InSet, Ty::Bool)),
            (value, Ty::Set(elem)) => unify(value, elem).map(|_| (BinOp::InSet, Ty::Bool)),
            _ => None,
        }
    }

    /// Warns when `x in y` can never hold: no type of `x` can have a type of
    /// `y` among its ancestors.
    fn check_reachable(&mut self, l: &typed::Expr, r: &typed::Expr, span: Span) {
        let Ty::Entity(from) = &l.ty else { return };
        let to: Vec<EntityTypeId> = match &r.ty {
            Ty::Entity(types) => types.clone(),
            Ty::Set(elem) => match &**elem {
                Ty::Entity(types) => types.clone(),
                _ => return,
            },
            _ => return,
        };
        let schema = &self.names.schema;
        let reachable = from.iter().any(|start| {
            let mut seen = vec![*start];
            let mut next = 0;
            while next < seen.len() {
                let current = seen[next];
                next += 1;
                if to.contains(&current) {
                    return true;
                }
                for parent in schema.entity_type(current).map_or(&[][..], |t| &t.parents) {
                    if !seen.contains(parent) {
                        seen.push(*parent);
                    }
                }
            }
            false
        });
        if !reachable {
            let (a, b) = (self.show(&l.ty), self.show(&Ty::Entity(to)));
            self.diags.push(
                Diagnostic::new(&Code::CONSTANT_CONDITION, span, format!("this is always false: `{a}` entities are never in `{b}`"))
                    .label("always false")
                    .help(format!("the schema does not let `{a}` have `{b}` among its ancestors (`entity … in [ … ]`)")),
            );
        }
    }

    fn if_then_else(
        &mut self,
        cond: &ast::Expr,
        then: &ast::Expr,
        otherwise: &ast::Expr,
        span: Span,
        facts: &Facts,
    ) -> Checked {
        let (c, fc) = self.condition_operand(cond, facts, "if");
        let (t, ft) = self.check(then, &facts.and(&fc.when_true));
        let (e, fe) = self.check(otherwise, &facts.and(&fc.when_false));
        let ty = match unify(&t.ty, &e.ty) {
            Some(ty) => ty,
            None => {
                let (a, b) = (self.show(&t.ty), self.show(&e.ty));
                self.diags.push(
                    Diagnostic::new(
                        &Code::TYPE_MISMATCH,
                        otherwise.span,
                        format!("`if` branches differ: `{a}` and `{b}`"),
                    )
                    .label(format!("this is `{b}`"))
                    .with_secondary(then.span, format!("this is `{a}`"))
                    .help("both branches of an `if` have the same type"),
                );
                Ty::Error
            }
        };
        let flow = if ty == Ty::Bool {
            Flow::choose(&fc, &ft, &fe)
        } else {
            Flow::none()
        };
        (
            typed::Expr {
                kind: typed::ExprKind::If {
                    cond: Box::new(c),
                    then: Box::new(t),
                    otherwise: Box::new(e),
                },
                ty,
                span,
            },
            flow,
        )
    }
}

/// The type of `context` in a rule over `actions`: the record they share,
/// or, when their context records differ, a context read per action.
pub fn context_type(names: &Names, actions: &[reaper_lang::types::ActionId]) -> Ty {
    let schema = &names.schema;
    let mut records = actions.iter().map(|a| schema.context_of(*a));
    match records.next() {
        None => Ty::record(&schema.context),
        Some(first) if records.all(|r| r == first) => Ty::record(first),
        Some(_) => Ty::Context(actions.to_vec()),
    }
}

fn narrowed(facts: &Facts, var: &str) -> Option<Ty> {
    facts.narrowed(var).map(|types| Ty::Entity(types.to_vec()))
}

fn int_const(e: &typed::Expr) -> Option<i64> {
    match e.kind {
        typed::ExprKind::Const(Const::Int(n)) => Some(n),
        _ => None,
    }
}

/// An error in a `Bool` position (already reported).
fn error_bool(span: Span) -> typed::Expr {
    typed::Expr {
        kind: typed::ExprKind::Error,
        ty: Ty::Bool,
        span,
    }
}

pub fn error(span: Span) -> typed::Expr {
    typed::Expr {
        kind: typed::ExprKind::Error,
        ty: Ty::Error,
        span,
    }
}
