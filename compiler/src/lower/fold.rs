//! Constant folding: the value of an expression that depends on nothing in
//! the request and cannot fail. Anything that could fail at run time
//! (overflow) or that depends on request data (entity hierarchies,
//! attributes) is left for the VM, so folding never changes a decision or
//! hides an error.

use reaper_lang::pattern;
use reaper_lang::value::Value;

use crate::reference::ops;
use crate::typed::{BinOp, Const, Expr, ExprKind, UnOp};

/// The value of `expr` if it is a constant.
pub fn constant(expr: &Expr) -> Option<Value> {
    match &expr.kind {
        ExprKind::Const(c) => Some(value_of(c)),
        ExprKind::Set(items) => items
            .iter()
            .map(constant)
            .collect::<Option<Vec<_>>>()
            .map(Value::set),
        ExprKind::Record(fields) => fields
            .iter()
            .map(|(_, e)| constant(e).map(Some))
            .collect::<Option<Vec<_>>>()
            .map(Value::Record),
        ExprKind::Unary { op, operand } => unary(*op, constant(operand)?),
        ExprKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => match constant(cond)? {
            Value::Bool(true) => constant(then),
            Value::Bool(false) => constant(otherwise),
            _ => None,
        },
        ExprKind::Like { base, pattern } => match constant(base)? {
            Value::String(text) => Some(Value::Bool(pattern::matches(
                &lower_pattern(pattern),
                &text,
            ))),
            _ => None,
        },
        ExprKind::Is { base, ty } => match constant(base)? {
            Value::Entity(uid) => Some(Value::Bool(uid.ty == *ty)),
            _ => None,
        },
        _ => None,
    }
}

pub fn value_of(c: &Const) -> Value {
    c.to_value()
}

pub fn lower_pattern(parts: &[crate::ast::PatternPart]) -> pattern::Pattern {
    parts
        .iter()
        .map(|p| match p {
            crate::ast::PatternPart::Wildcard => pattern::PatternPart::Wildcard,
            crate::ast::PatternPart::Literal(s) => pattern::PatternPart::Literal(s.clone()),
        })
        .collect()
}

/// A conversion that would fail, or arithmetic that would overflow, is
/// left to run time, which reports it.
fn unary(op: UnOp, value: Value) -> Option<Value> {
    ops::unary(op, value).ok()
}

fn binary(op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<Value> {
    // Short-circuit operators fold on their left side alone when it decides.
    match op {
        BinOp::And => {
            return match constant(lhs)? {
                Value::Bool(false) => Some(Value::Bool(false)),
                Value::Bool(true) => constant(rhs),
                _ => None,
            };
        }
        BinOp::Or => {
            return match constant(lhs)? {
                Value::Bool(true) => Some(Value::Bool(true)),
                Value::Bool(false) => constant(rhs),
                _ => None,
            };
        }
        _ => {}
    }
    match op {
        // Hierarchies live in the request's entity data.
        BinOp::InEntity | BinOp::InEntitySet => None,
        _ => ops::binary(op, constant(lhs)?, constant(rhs)?).ok(),
    }
}
