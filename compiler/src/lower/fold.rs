//! Constant folding: the value of an expression that depends on nothing in
//! the request and cannot fail. Anything that could fail at run time
//! (overflow) or that depends on request data (entity hierarchies,
//! attributes) is left for the VM, so folding never changes a decision or
//! hides an error.

use reaper_lang::literal;
use reaper_lang::pattern;
use reaper_lang::value::{Uid, Value, ip, time};

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

fn unary(op: UnOp, value: Value) -> Option<Value> {
    Some(match (op, value) {
        (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
        (UnOp::Neg, Value::Int(n)) => Value::Int(n.checked_neg()?),
        (UnOp::Neg, Value::Duration(n)) => Value::Duration(n.checked_neg()?),
        (UnOp::Neg, Value::Decimal(n)) => Value::Decimal(n.checked_neg()?),
        (UnOp::IsEmpty, Value::Set(items)) => Value::Bool(items.is_empty()),
        (UnOp::IsEmpty, Value::Map(entries)) => Value::Bool(entries.is_empty()),
        (UnOp::Len, Value::Set(items)) => Value::Int(i64::try_from(items.len()).ok()?),
        (UnOp::Len, Value::Map(entries)) => Value::Int(i64::try_from(entries.len()).ok()?),
        (UnOp::Keys, Value::Map(entries)) => {
            Value::set(entries.into_iter().map(|(k, _)| Value::String(k)).collect())
        }
        (UnOp::EntityId, Value::Entity(Uid { id, .. })) => Value::String(id),
        // A conversion that would fail is left to run time, which reports it.
        (UnOp::ParseIp, Value::String(text)) => Value::Ip(literal::parse_ip(&text).ok()?),
        (UnOp::ParseDecimal, Value::String(text)) => {
            Value::Decimal(literal::parse_decimal(&text).ok()?)
        }
        (UnOp::ToDate, Value::Timestamp(ms)) => Value::Timestamp(time::to_date(ms)?),
        (UnOp::ToTime, Value::Timestamp(ms)) => Value::Duration(time::to_time(ms)),
        (UnOp::DayOfWeek, Value::Timestamp(ms)) => Value::Int(time::day_of_week(ms)),
        (UnOp::Year, Value::Timestamp(ms)) => Value::Int(time::civil(ms).0),
        (UnOp::Month, Value::Timestamp(ms)) => Value::Int(time::civil(ms).1),
        (UnOp::Day, Value::Timestamp(ms)) => Value::Int(time::civil(ms).2),
        (UnOp::Hour, Value::Timestamp(ms)) => Value::Int(time::hour(ms)),
        (UnOp::Minute, Value::Timestamp(ms)) => Value::Int(time::minute(ms)),
        (UnOp::ToDays, Value::Duration(ms)) => Value::Int(time::whole(ms, 86_400_000)),
        (UnOp::ToHours, Value::Duration(ms)) => Value::Int(time::whole(ms, 3_600_000)),
        (UnOp::ToMinutes, Value::Duration(ms)) => Value::Int(time::whole(ms, 60_000)),
        (UnOp::ToSeconds, Value::Duration(ms)) => Value::Int(time::whole(ms, 1_000)),
        (UnOp::ToMilliseconds, Value::Duration(ms)) => Value::Int(ms),
        (UnOp::IsIpv4, Value::Ip(net)) => Value::Bool(ip::is_ipv4(&net)),
        (UnOp::IsIpv6, Value::Ip(net)) => Value::Bool(!ip::is_ipv4(&net)),
        (UnOp::IsLoopback, Value::Ip(net)) => Value::Bool(ip::is_loopback(&net)),
        (UnOp::IsMulticast, Value::Ip(net)) => Value::Bool(ip::is_multicast(&net)),
        _ => return None,
    })
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
    let (a, b) = (constant(lhs)?, constant(rhs)?);
    let int = |v: &Value| match v {
        Value::Int(n) | Value::Duration(n) | Value::Timestamp(n) | Value::Decimal(n) => Some(*n),
        _ => None,
    };
    let rewrap = |result: i64| match (&a, &b, op) {
        (Value::Timestamp(_), Value::Timestamp(_), BinOp::Sub) => Value::Duration(result),
        (Value::Timestamp(_), _, _) => Value::Timestamp(result),
        (Value::Duration(_), _, _) => Value::Duration(result),
        (Value::Decimal(_), _, _) => Value::Decimal(result),
        _ => Value::Int(result),
    };
    let texts = || match (&a, &b) {
        (Value::String(x), Value::String(y)) => Some((x.as_str(), y.as_str())),
        _ => None,
    };
    let ranges = |set: &Value| match set {
        Value::Set(items) => items
            .iter()
            .map(|v| match v {
                Value::Ip(net) => Some(*net),
                _ => None,
            })
            .collect::<Option<Vec<_>>>(),
        _ => None,
    };
    Some(match op {
        BinOp::Eq => Value::Bool(a == b),
        BinOp::Ne => Value::Bool(a != b),
        BinOp::Lt => Value::Bool(int(&a)? < int(&b)?),
        BinOp::Le => Value::Bool(int(&a)? <= int(&b)?),
        BinOp::Gt => Value::Bool(int(&a)? > int(&b)?),
        BinOp::Ge => Value::Bool(int(&a)? >= int(&b)?),
        BinOp::Add => rewrap(int(&a)?.checked_add(int(&b)?)?),
        BinOp::Sub => rewrap(int(&a)?.checked_sub(int(&b)?)?),
        BinOp::Mul => rewrap(int(&a)?.checked_mul(int(&b)?)?),
        BinOp::InSet => match &b {
            Value::Set(items) => Value::Bool(items.contains(&a)),
            _ => return None,
        },
        BinOp::InRange => match (&a, &b) {
            (Value::Ip(inner), Value::Ip(outer)) => Value::Bool(ip::within(inner, outer)),
            _ => return None,
        },
        BinOp::InRanges => match &a {
            Value::Ip(inner) => Value::Bool(ranges(&b)?.iter().any(|o| ip::within(inner, o))),
            _ => return None,
        },
        BinOp::ContainsAllRanges | BinOp::ContainsAnyRanges => {
            let (outer, inner) = (ranges(&a)?, ranges(&b)?);
            let mut held = inner.iter().map(|i| outer.iter().any(|o| ip::within(i, o)));
            Value::Bool(if op == BinOp::ContainsAllRanges {
                held.all(|h| h)
            } else {
                held.any(|h| h)
            })
        }
        BinOp::Concat => {
            let (x, y) = texts()?;
            Value::String(format!("{x}{y}"))
        }
        BinOp::StartsWith => texts().map(|(x, y)| Value::Bool(x.starts_with(y)))?,
        BinOp::EndsWith => texts().map(|(x, y)| Value::Bool(x.ends_with(y)))?,
        BinOp::ContainsText => texts().map(|(x, y)| Value::Bool(x.contains(y)))?,
        // Maps are never constants: they come from request data.
        BinOp::HasKey | BinOp::GetKey => return None,
        BinOp::ContainsAll => match (&a, &b) {
            (Value::Set(all), Value::Set(some)) => {
                Value::Bool(some.iter().all(|v| all.contains(v)))
            }
            _ => return None,
        },
        BinOp::ContainsAny => match (&a, &b) {
            (Value::Set(all), Value::Set(some)) => {
                Value::Bool(some.iter().any(|v| all.contains(v)))
            }
            _ => return None,
        },
        // Hierarchies live in the request's entity data.
        BinOp::InEntity | BinOp::InEntitySet | BinOp::And | BinOp::Or => return None,
    })
}
