//! Rules that can never apply, found the way Cedar's validator finds
//! "impossible policies": a `when` clause that is always false (or an
//! `unless` always true) because it is a constant, because it compares the
//! principal or the resource with an entity of a type it can never have, or
//! because it tests for an action the rule does not cover. Each kind has its
//! own warning code and says why; the rule is still compiled.

use reaper_lang::types::{ActionId, EntityTypeId};
use reaper_lang::value::Value;

use super::Checker;
use crate::ast::ConditionKind;
use crate::diagnostics::{Code, Diagnostic};
use crate::lower::fold;
use crate::source::Span;
use crate::typed::{self, BinOp, Const, Expr, ExprKind, Ty, UnOp, Var};

/// Why a condition has a fixed value, and where.
struct Reason {
    code: &'static Code,
    span: Span,
    why: String,
    help: String,
}

/// What the rule's head fixes about its requests.
struct Head<'r> {
    actions: &'r [ActionId],
    principal: &'r [EntityTypeId],
    resource: &'r [EntityTypeId],
    store: Option<&'r str>,
}

impl Checker<'_> {
    /// Warns, once per rule, when a clause makes the rule impossible.
    pub(super) fn warn_impossible(&mut self, rule: &typed::Rule) {
        if rule.actions.is_empty() {
            return;
        }
        let head = Head {
            actions: &rule.actions,
            principal: &rule.principal_types,
            resource: &rule.resource_types,
            store: rule.store.as_deref(),
        };
        for condition in &rule.conditions {
            let reason = match condition.kind {
                ConditionKind::When => self.decided(&condition.expr, &head, false),
                ConditionKind::Unless => self.decided(&condition.expr, &head, true),
            };
            let Some(reason) = reason else { continue };
            // The sub-expression's own "always false" warning says less.
            self.diags.retain(|d| {
                !(d.code == &Code::CONSTANT_CONDITION && d.primary.span == reason.span)
            });
            let label = match condition.kind {
                ConditionKind::When => "always false",
                ConditionKind::Unless => "always true, in an `unless`",
            };
            self.diags.push(
                Diagnostic::new(
                    reason.code,
                    reason.span,
                    format!("rule `{}` can never apply: {}", rule.id, reason.why),
                )
                .label(label)
                .help(reason.help),
            );
            return;
        }
    }

    /// Why `expr` is `truth` for every request the rule can see, if it is:
    /// false makes a `when` impossible, true an `unless`.
    fn decided(&self, expr: &Expr, head: &Head<'_>, truth: bool) -> Option<Reason> {
        if fold::constant(expr) == Some(Value::Bool(truth)) {
            let (why, help) = if truth {
                (
                    "this `unless` condition is always true",
                    "remove the rule, or fix the condition",
                )
            } else {
                (
                    "this condition is always false",
                    "remove the rule, or fix the condition (is a `!` or an `unless` missing?)",
                )
            };
            return Some(Reason {
                code: &Code::CONDITION_ALWAYS_FALSE,
                span: expr.span,
                why: why.into(),
                help: help.into(),
            });
        }
        // `&&` is false when either side is and true when both are; `||`
        // the other way round.
        let (either, both) = if truth {
            (BinOp::Or, BinOp::And)
        } else {
            (BinOp::And, BinOp::Or)
        };
        match &expr.kind {
            ExprKind::Binary { op, lhs, rhs } if *op == either => self
                .decided(lhs, head, truth)
                .or_else(|| self.decided(rhs, head, truth)),
            ExprKind::Binary { op, lhs, rhs } if *op == both => {
                let left = self.decided(lhs, head, truth)?;
                self.decided(rhs, head, truth)?;
                Some(Reason {
                    span: expr.span,
                    ..left
                })
            }
            ExprKind::Unary {
                op: UnOp::Not,
                operand,
            } => self.decided(operand, head, !truth),
            _ if truth => self.always(expr, head),
            _ => self.never(expr, head),
        }
    }

    /// Why a comparison or type test is false for every request the rule
    /// can see, if it is.
    fn never(&self, expr: &Expr, head: &Head<'_>) -> Option<Reason> {
        match &expr.kind {
            ExprKind::Binary { op, lhs, rhs } => self.never_binary(*op, lhs, rhs, expr, head),
            ExprKind::Is { base, ty } => {
                let (var, types) = self.entity_var(base, head)?;
                (!types.contains(ty)).then(|| self.wrong_type(var, *ty, types, expr.span, head))
            }
            _ => None,
        }
    }

    /// Why a comparison or type test is true for every request the rule can
    /// see, if it is.
    fn always(&self, expr: &Expr, head: &Head<'_>) -> Option<Reason> {
        match &expr.kind {
            ExprKind::Is { base, ty } => {
                let (var, types) = self.entity_var(base, head)?;
                (types == [*ty]).then(|| Reason {
                    code: if var == Var::Principal {
                        &Code::PRINCIPAL_NEVER_MATCHES
                    } else {
                        &Code::RESOURCE_NEVER_MATCHES
                    },
                    span: expr.span,
                    why: format!(
                        "the {} is always a `{}`, so this `unless` always holds",
                        var.as_str(),
                        self.names.entity_name(*ty)
                    ),
                    help: "remove the rule, or the condition".into(),
                })
            }
            ExprKind::Binary {
                op: BinOp::Ne,
                lhs,
                rhs,
            } => self.never_binary(BinOp::Eq, lhs, rhs, expr, head),
            ExprKind::Binary {
                op: BinOp::Eq | BinOp::InSet,
                lhs,
                rhs,
            } if is_action(lhs) => {
                let named = actions_named(rhs)?;
                head.actions
                    .iter()
                    .all(|a| named.contains(a))
                    .then(|| Reason {
                        code: &Code::ACTION_NEVER_MATCHES,
                        span: expr.span,
                        why: "every action of this rule passes this `unless` test".into(),
                        help: "remove the rule, or the condition".into(),
                    })
            }
            _ => None,
        }
    }

    fn never_binary(
        &self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        expr: &Expr,
        head: &Head<'_>,
    ) -> Option<Reason> {
        match op {
            BinOp::Eq | BinOp::InSet if is_action(lhs) || is_action(rhs) => {
                let named = actions_named(rhs).or_else(|| actions_named(lhs))?;
                if head.actions.iter().any(|a| named.contains(a)) {
                    return None;
                }
                let covered: Vec<String> = head
                    .actions
                    .iter()
                    .map(|a| format!("`{}`", self.names.action_name(*a)))
                    .collect();
                let tested: Vec<String> = named
                    .iter()
                    .map(|a| format!("`{}`", self.names.action_name(*a)))
                    .collect();
                Some(Reason {
                    code: &Code::ACTION_NEVER_MATCHES,
                    span: expr.span,
                    why: format!(
                        "it covers {} but tests for {}",
                        covered.join(", "),
                        tested.join(", ")
                    ),
                    help: "list the action in the rule's head (`permit [read, write] …`), or remove the condition"
                        .into(),
                })
            }
            BinOp::Eq | BinOp::InEntity | BinOp::InEntitySet => {
                let (var, types, other) = match self.entity_var(lhs, head) {
                    Some((var, types)) => (var, types, rhs),
                    None if op == BinOp::Eq => {
                        let (var, types) = self.entity_var(rhs, head)?;
                        (var, types, lhs)
                    }
                    None => return None,
                };
                let target = match (&other.kind, &other.ty) {
                    (ExprKind::Const(Const::Entity(ty, _)), _) => *ty,
                    _ => return None,
                };
                let possible = if op == BinOp::Eq {
                    types.contains(&target)
                } else {
                    types.iter().any(|t| self.reaches(*t, target))
                };
                (!possible).then(|| self.wrong_type(var, target, types, expr.span, head))
            }
            _ => None,
        }
    }

    /// `principal` or `resource` with the types the rule allows it.
    fn entity_var<'h>(&self, expr: &Expr, head: &Head<'h>) -> Option<(Var, &'h [EntityTypeId])> {
        match (&expr.kind, &expr.ty) {
            (ExprKind::Var(Var::Principal), Ty::Entity(_)) if !head.principal.is_empty() => {
                Some((Var::Principal, head.principal))
            }
            (ExprKind::Var(Var::Resource), Ty::Entity(_)) if !head.resource.is_empty() => {
                Some((Var::Resource, head.resource))
            }
            _ => None,
        }
    }

    /// Whether an entity of type `from` can have `to` among its ancestors
    /// (or be one).
    fn reaches(&self, from: EntityTypeId, to: EntityTypeId) -> bool {
        let schema = &self.names.schema;
        let mut seen = vec![from];
        let mut next = 0;
        while let Some(current) = seen.get(next).copied() {
            next += 1;
            if current == to {
                return true;
            }
            for parent in schema.entity_type(current).map_or(&[][..], |t| &t.parents) {
                if !seen.contains(parent) {
                    seen.push(*parent);
                }
            }
        }
        false
    }

    fn wrong_type(
        &self,
        var: Var,
        wanted: EntityTypeId,
        types: &[EntityTypeId],
        span: Span,
        head: &Head<'_>,
    ) -> Reason {
        let possible: Vec<String> = types
            .iter()
            .map(|t| format!("`{}`", self.names.entity_name(*t)))
            .collect();
        let wanted = self.names.entity_name(wanted);
        let (code, help) = match (var, head.store) {
            (Var::Principal, Some(store)) => (
                &Code::PRINCIPAL_NEVER_MATCHES,
                format!(
                    "store `{store}` is accessed by {}; to let a `{wanted}` in, declare `store {store} by [...]` with it",
                    possible.join(" or ")
                ),
            ),
            (Var::Principal, None) => (
                &Code::PRINCIPAL_NEVER_MATCHES,
                format!(
                    "the actions' `by` lists fix the principal's types; add `{wanted}` to them, or fix the condition"
                ),
            ),
            _ => (
                &Code::RESOURCE_NEVER_MATCHES,
                format!(
                    "the rule's `on` (or its actions' `on` lists) fixes the resource's types; add `{wanted}`, or fix the condition"
                ),
            ),
        };
        Reason {
            code,
            span,
            why: format!(
                "the {} is never {} here, only {}",
                var.as_str(),
                article(wanted),
                possible.join(" or ")
            ),
            help,
        }
    }
}

fn article(name: &str) -> String {
    super::types::article(name)
}

fn is_action(expr: &Expr) -> bool {
    matches!(expr.kind, ExprKind::Var(Var::Action))
}

/// The actions a constant action expression names (one, or a set).
fn actions_named(expr: &Expr) -> Option<Vec<ActionId>> {
    match &expr.kind {
        ExprKind::Const(Const::Action(id)) => Some(vec![*id]),
        ExprKind::Set(items) => items
            .iter()
            .map(|item| match item.kind {
                ExprKind::Const(Const::Action(id)) => Some(id),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
