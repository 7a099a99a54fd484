//! What each operator does to values, except what needs the evaluator
//! (`&&` and `||`, which short-circuit, and `in` over the entity
//! hierarchy): one definition shared by the reference evaluator and by
//! constant folding, so a folded constant is what evaluation gives.

use reaper_lang::eval::EvalError;
use reaper_lang::excerpt::excerpt;
use reaper_lang::literal;
use reaper_lang::value::{Value, ip, time};

use crate::typed::{BinOp, UnOp};

/// Why an operator gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpError {
    Error(EvalError),
    /// A conversion of text that is not what it should be (`ip("x")`): an
    /// error in a rule, "does not apply" in a limit.
    Invalid(String),
}

impl From<EvalError> for OpError {
    fn from(error: EvalError) -> Self {
        OpError::Error(error)
    }
}

type Op<T> = Result<T, OpError>;

/// Operands of a kind the typed tree promises cannot reach this operator.
fn malformed<T>(what: &'static str) -> Op<T> {
    Err(OpError::Error(EvalError::Malformed(what)))
}

pub(crate) fn unary(op: UnOp, value: Value) -> Op<Value> {
    let result = match (op, value) {
        (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
        (UnOp::Neg, Value::Int(n)) => Value::Int(n.checked_neg().ok_or(EvalError::Overflow)?),
        (UnOp::Neg, Value::Duration(n)) => {
            Value::Duration(n.checked_neg().ok_or(EvalError::Overflow)?)
        }
        (UnOp::Neg, Value::Decimal(n)) => {
            Value::Decimal(n.checked_neg().ok_or(EvalError::Overflow)?)
        }
        (UnOp::IsEmpty, Value::Set(items)) => Value::Bool(items.is_empty()),
        (UnOp::IsEmpty, Value::Map(entries)) => Value::Bool(entries.is_empty()),
        (UnOp::Len, Value::Set(items)) => {
            Value::Int(i64::try_from(items.len()).map_err(|_| EvalError::Overflow)?)
        }
        (UnOp::Len, Value::Map(entries)) => {
            Value::Int(i64::try_from(entries.len()).map_err(|_| EvalError::Overflow)?)
        }
        (UnOp::Keys, Value::Map(entries)) => {
            Value::set(entries.into_iter().map(|(k, _)| Value::String(k)).collect())
        }
        (UnOp::EntityId, Value::Entity(uid)) => Value::String(uid.id),
        (UnOp::ParseIp, Value::String(text)) => match literal::parse_ip(&text) {
            Ok(net) => Value::Ip(net),
            Err(e) => return Err(OpError::Invalid(e.to_string())),
        },
        (UnOp::ParseDecimal, Value::String(text)) => match literal::parse_decimal(&text) {
            Ok(n) => Value::Decimal(n),
            Err(e) => return Err(OpError::Invalid(e.to_string())),
        },
        (UnOp::ToDate, Value::Timestamp(ms)) => {
            Value::Timestamp(time::to_date(ms).ok_or(EvalError::Overflow)?)
        }
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
        _ => return malformed("operand of a unary operator"),
    };
    Ok(result)
}

pub(crate) fn binary(op: BinOp, l: Value, r: Value) -> Op<Value> {
    let result = match op {
        // Decided by the evaluator: short-circuits, the entity hierarchy.
        BinOp::And | BinOp::Or | BinOp::InEntity | BinOp::InEntitySet => {
            return malformed("an operator that needs the evaluator");
        }
        BinOp::Eq => Value::Bool(l == r),
        BinOp::Ne => Value::Bool(l != r),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let (a, b) = ordered(&l, &r)?;
            Value::Bool(match op {
                BinOp::Lt => a < b,
                BinOp::Le => a <= b,
                BinOp::Gt => a > b,
                _ => a >= b,
            })
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul => arithmetic(op, l, r)?,
        BinOp::InSet => match &r {
            Value::Set(members) => Value::Bool(members.contains(&l)),
            _ => return malformed("membership in a non-set"),
        },
        BinOp::InRange => match (&l, &r) {
            (Value::Ip(inner), Value::Ip(outer)) => Value::Bool(ip::within(inner, outer)),
            _ => return malformed("range containment on non-IPs"),
        },
        BinOp::InRanges => match (&l, &r) {
            (Value::Ip(inner), Value::Set(outers)) => {
                Value::Bool(ranges(outers)?.iter().any(|o| ip::within(inner, o)))
            }
            _ => return malformed("range containment on non-IPs"),
        },
        BinOp::ContainsAllRanges | BinOp::ContainsAnyRanges => match (&l, &r) {
            (Value::Set(outer), Value::Set(inner)) => {
                let outer = ranges(outer)?;
                let mut held = ranges(inner)?
                    .into_iter()
                    .map(|i| outer.iter().any(|o| ip::within(&i, o)));
                Value::Bool(if op == BinOp::ContainsAllRanges {
                    held.all(|h| h)
                } else {
                    held.any(|h| h)
                })
            }
            _ => return malformed("set method on non-sets"),
        },
        BinOp::Concat => match (l, r) {
            (Value::String(a), Value::String(b)) => Value::String(a + &b),
            _ => return malformed("`+` on non-strings"),
        },
        BinOp::StartsWith | BinOp::EndsWith | BinOp::ContainsText => match (&l, &r) {
            (Value::String(a), Value::String(b)) => Value::Bool(match op {
                BinOp::StartsWith => a.starts_with(b.as_str()),
                BinOp::EndsWith => a.ends_with(b.as_str()),
                _ => a.contains(b.as_str()),
            }),
            _ => return malformed("string method on non-strings"),
        },
        BinOp::HasKey | BinOp::GetKey => match (&l, &r) {
            (Value::Map(entries), Value::String(key)) => {
                let found = entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                match (op, found) {
                    (BinOp::HasKey, found) => Value::Bool(found.is_some()),
                    (_, Some(value)) => value.clone(),
                    (_, None) => {
                        return Err(
                            EvalError::MissingAttribute(format!("[{:?}]", excerpt(key))).into()
                        );
                    }
                }
            }
            _ => return malformed("map method on a non-map"),
        },
        BinOp::ContainsAll | BinOp::ContainsAny => {
            let (Value::Set(set), Value::Set(other)) = (&l, &r) else {
                return malformed("set method on non-sets");
            };
            let mut members = other.iter().map(|v| set.contains(v));
            Value::Bool(if op == BinOp::ContainsAll {
                members.all(|m| m)
            } else {
                members.any(|m| m)
            })
        }
    };
    Ok(result)
}

/// Two values ordered by `<`: both Int, Duration, Timestamp or Decimal.
fn ordered(l: &Value, r: &Value) -> Op<(i64, i64)> {
    match (l, r) {
        (Value::Int(a), Value::Int(b))
        | (Value::Duration(a), Value::Duration(b))
        | (Value::Timestamp(a), Value::Timestamp(b))
        | (Value::Decimal(a), Value::Decimal(b)) => Ok((*a, *b)),
        _ => malformed("ordering of unordered values"),
    }
}

/// The ranges of a set of IPs.
fn ranges(set: &[Value]) -> Op<Vec<ipnet::IpNet>> {
    set.iter()
        .map(|v| match v {
            Value::Ip(net) => Ok(*net),
            _ => malformed("a set of IPs holding a non-IP"),
        })
        .collect()
}

/// Checked 64-bit `+`, `-`, `*` with the unit rules of `docs/language.md` §6.4.
fn arithmetic(op: BinOp, l: Value, r: Value) -> Op<Value> {
    let overflow = || OpError::Error(EvalError::Overflow);
    let result = match (op, l, r) {
        (BinOp::Add, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_add(b).ok_or_else(overflow)?)
        }
        (BinOp::Sub, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_sub(b).ok_or_else(overflow)?)
        }
        (BinOp::Mul, Value::Int(a), Value::Int(b)) => {
            Value::Int(a.checked_mul(b).ok_or_else(overflow)?)
        }
        (BinOp::Add, Value::Duration(a), Value::Duration(b)) => {
            Value::Duration(a.checked_add(b).ok_or_else(overflow)?)
        }
        (BinOp::Sub, Value::Duration(a), Value::Duration(b)) => {
            Value::Duration(a.checked_sub(b).ok_or_else(overflow)?)
        }
        (BinOp::Add, Value::Timestamp(a), Value::Duration(b)) => {
            Value::Timestamp(a.checked_add(b).ok_or_else(overflow)?)
        }
        (BinOp::Sub, Value::Timestamp(a), Value::Duration(b)) => {
            Value::Timestamp(a.checked_sub(b).ok_or_else(overflow)?)
        }
        (BinOp::Sub, Value::Timestamp(a), Value::Timestamp(b)) => {
            Value::Duration(a.checked_sub(b).ok_or_else(overflow)?)
        }
        (BinOp::Add, Value::Decimal(a), Value::Decimal(b)) => {
            Value::Decimal(a.checked_add(b).ok_or_else(overflow)?)
        }
        (BinOp::Sub, Value::Decimal(a), Value::Decimal(b)) => {
            Value::Decimal(a.checked_sub(b).ok_or_else(overflow)?)
        }
        _ => return malformed("arithmetic on these values"),
    };
    Ok(result)
}
