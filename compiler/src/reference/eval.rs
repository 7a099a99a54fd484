//! Expression evaluation for the reference evaluator: one function per kind
//! of typed node, values as [`reaper_lang::value::Value`], errors as
//! [`EvalError`]. Operands are evaluated left to right as the typed tree
//! holds them; `&&`, `||` and `if` evaluate only what they need.

use reaper_lang::eval::EvalError;
use reaper_lang::excerpt::excerpt;
use reaper_lang::literal;
use reaper_lang::pattern::{self, PatternPart as Glob};
use reaper_lang::request::Request;
use reaper_lang::schema::Schema;
use reaper_lang::value::{Uid, Value, ip, time};

use crate::typed::{Access, BinOp, Expr, ExprKind, PatternPart, UnOp, Var};

/// Why evaluation stopped without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Halt {
    /// A run-time error: the rule (or limit) does not apply and reports it.
    Error(EvalError),
    /// A descriptor entry was read that the descriptor lacks: the limit
    /// quietly does not apply.
    NotApplicable,
}

impl From<EvalError> for Halt {
    fn from(error: EvalError) -> Self {
        Halt::Error(error)
    }
}

type Eval<T> = Result<T, Halt>;

/// A value of a kind the typed tree promises cannot reach this node.
fn malformed<T>(what: &'static str) -> Eval<T> {
    Err(Halt::Error(EvalError::Malformed(what)))
}

/// What the variables of an expression are bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    /// A rule: `principal`, `action`, `resource`, `context` and entity data.
    Request(&'a Request),
    /// A rate limit: `descriptor`, its entries in order.
    Descriptor(&'a [(String, String)]),
}

pub(crate) struct Evaluator<'a> {
    schema: &'a Schema,
    input: Input<'a>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(schema: &'a Schema, input: Input<'a>) -> Self {
        Self { schema, input }
    }

    pub(crate) fn eval_bool(&self, expr: &Expr) -> Eval<bool> {
        match self.eval(expr)? {
            Value::Bool(b) => Ok(b),
            _ => malformed("expected a Bool"),
        }
    }

    pub(crate) fn eval_string(&self, expr: &Expr) -> Eval<String> {
        match self.eval(expr)? {
            Value::String(s) => Ok(s),
            _ => malformed("expected a String"),
        }
    }

    pub(crate) fn eval(&self, expr: &Expr) -> Eval<Value> {
        match &expr.kind {
            ExprKind::Const(c) => Ok(c.to_value()),
            ExprKind::Var(var) => self.var(*var),
            ExprKind::Set(items) => {
                let values = items
                    .iter()
                    .map(|item| self.eval(item))
                    .collect::<Eval<Vec<Value>>>()?;
                Ok(Value::set(values))
            }
            // Fields are sorted by name, as are the slots of the record type.
            ExprKind::Record(fields) => {
                let slots = fields
                    .iter()
                    .map(|(_, e)| self.eval(e).map(Some))
                    .collect::<Eval<Vec<Option<Value>>>>()?;
                Ok(Value::Record(slots))
            }
            ExprKind::Attr(read) => self.attr(&read.base, &read.name, &read.access),
            ExprKind::Has(read) => self.has(&read.base, &read.access).map(Value::Bool),
            ExprKind::Is { base, ty } => match self.eval(base)? {
                Value::Entity(uid) => Ok(Value::Bool(uid.ty == *ty)),
                _ => malformed("`is` on a non-entity"),
            },
            ExprKind::Like { base, pattern } => {
                let text = self.eval_string(base)?;
                Ok(Value::Bool(pattern::matches(&glob(pattern), &text)))
            }
            ExprKind::Unary { op, operand } => self.unary(*op, operand),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                if self.eval_bool(cond)? {
                    self.eval(then)
                } else {
                    self.eval(otherwise)
                }
            }
            ExprKind::DynEntity { .. }
            | ExprKind::Header(_)
            | ExprKind::HasHeader(_)
            | ExprKind::Param(_) => malformed("http"),
            ExprKind::Error => malformed("an expression that did not check"),
        }
    }

    fn request(&self) -> Eval<&'a Request> {
        match self.input {
            Input::Request(request) => Ok(request),
            Input::Descriptor(_) => malformed("a rule variable in a rate limit"),
        }
    }

    fn var(&self, var: Var) -> Eval<Value> {
        let request = self.request()?;
        Ok(match var {
            Var::Principal => Value::Entity(request.principal.clone()),
            Var::Resource => Value::Entity(request.resource.clone()),
            Var::Action => Value::Action(request.action),
            Var::Context => Value::Record(request.context.clone()),
            // The descriptor is only read through `.key` and `has key`.
            Var::Descriptor => return malformed("the descriptor as a value"),
            Var::Request => return malformed("http"),
        })
    }

    /// An entity's data. A rate limit has none: its conditions see
    /// entities as a rule sees entities its request carries no data for.
    fn entity(&self, uid: &Uid) -> Option<&'a reaper_lang::request::Entity> {
        match self.input {
            Input::Request(request) => request.entity(uid),
            Input::Descriptor(_) => None,
        }
    }

    /// Entity `in`: equal, or an ancestor through the entities with data.
    fn descends(&self, entity: &Uid, ancestor: &Uid) -> bool {
        match self.input {
            Input::Request(request) => super::descends(request, entity, ancestor),
            Input::Descriptor(_) => entity == ancestor,
        }
    }

    /// `base.name`: an entity attribute, a record field or a descriptor entry.
    fn attr(&self, base: &Expr, name: &str, access: &Access) -> Eval<Value> {
        match access {
            Access::Descriptor { key } => match self.descriptor_entry(key)? {
                Some(value) => Ok(Value::String(value.to_owned())),
                None => Err(Halt::NotApplicable),
            },
            Access::Record { slot } => match self.eval(base)? {
                Value::Record(slots) => match slots.get(*slot as usize) {
                    Some(Some(value)) => Ok(value.clone()),
                    Some(None) => Err(EvalError::MissingAttribute(name.to_owned()).into()),
                    None => malformed("record slot out of range"),
                },
                _ => malformed("field of a non-record"),
            },
            Access::Context { slots } => {
                let request = self.request()?;
                let slot = slots
                    .iter()
                    .find(|(action, _)| *action == request.action)
                    .map(|(_, slot)| *slot);
                match slot.and_then(|s| request.context.get(s as usize)) {
                    Some(Some(value)) => Ok(value.clone()),
                    // A field the action's context lacks reads as absent.
                    Some(None) | None => Err(EvalError::MissingAttribute(name.to_owned()).into()),
                }
            }
            Access::Entity { slots } => {
                let Value::Entity(uid) = self.eval(base)? else {
                    return malformed("attribute of a non-entity");
                };
                let Some(slot) = slot_for(slots, &uid) else {
                    return malformed("attribute the entity's type lacks");
                };
                let Some(data) = self.entity(&uid) else {
                    return Err(EvalError::MissingEntity(self.show(&uid)).into());
                };
                match data.attrs.get(slot as usize) {
                    Some(Some(value)) => Ok(value.clone()),
                    Some(None) => Err(EvalError::MissingAttribute(name.to_owned()).into()),
                    None => malformed("entity slot out of range"),
                }
            }
            Access::Request(_) => malformed("http"),
        }
    }

    /// `base has name`.
    fn has(&self, base: &Expr, access: &Access) -> Eval<bool> {
        match access {
            Access::Descriptor { key } => Ok(self.descriptor_entry(key)?.is_some()),
            Access::Record { slot } => match self.eval(base)? {
                Value::Record(slots) => Ok(slots.get(*slot as usize).is_some_and(Option::is_some)),
                _ => malformed("`has` on a non-record"),
            },
            Access::Context { slots } => {
                let request = self.request()?;
                Ok(slots
                    .iter()
                    .find(|(action, _)| *action == request.action)
                    .and_then(|(_, slot)| request.context.get(*slot as usize))
                    .is_some_and(Option::is_some))
            }
            Access::Entity { slots } => {
                let Value::Entity(uid) = self.eval(base)? else {
                    return malformed("`has` on a non-entity");
                };
                // A type that does not declare the attribute never has it;
                // an entity the request carries no data for has nothing.
                let Some(slot) = slot_for(slots, &uid) else {
                    return Ok(false);
                };
                Ok(self
                    .entity(&uid)
                    .is_some_and(|data| data.attrs.get(slot as usize).is_some_and(Option::is_some)))
            }
            Access::Request(_) => malformed("http"),
        }
    }

    /// The first entry of the descriptor with `key`.
    fn descriptor_entry(&self, key: &str) -> Eval<Option<&'a str>> {
        match self.input {
            Input::Descriptor(entries) => Ok(entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())),
            Input::Request(_) => malformed("the descriptor in a rule"),
        }
    }

    /// A conversion of text that failed: an error in a rule; in a rate
    /// limit the limit does not apply, as when an entry is missing.
    fn invalid(&self, message: String) -> Halt {
        match self.input {
            Input::Request(_) => Halt::Error(EvalError::InvalidValue(message)),
            Input::Descriptor(_) => Halt::NotApplicable,
        }
    }

    fn unary(&self, op: UnOp, operand: &Expr) -> Eval<Value> {
        let value = self.eval(operand)?;
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
                Err(e) => return Err(self.invalid(e.to_string())),
            },
            (UnOp::ParseDecimal, Value::String(text)) => match literal::parse_decimal(&text) {
                Ok(n) => Value::Decimal(n),
                Err(e) => return Err(self.invalid(e.to_string())),
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

    fn binary(&self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Eval<Value> {
        // The two short-circuiting operators evaluate `rhs` only if needed.
        match op {
            BinOp::And => {
                return Ok(Value::Bool(self.eval_bool(lhs)? && self.eval_bool(rhs)?));
            }
            BinOp::Or => {
                return Ok(Value::Bool(self.eval_bool(lhs)? || self.eval_bool(rhs)?));
            }
            _ => {}
        }
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
        let result = match op {
            BinOp::And | BinOp::Or => return malformed("unreachable"),
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
            BinOp::InEntity => {
                let (Value::Entity(a), Value::Entity(b)) = (&l, &r) else {
                    return malformed("entity `in` on non-entities");
                };
                Value::Bool(self.descends(a, b))
            }
            BinOp::InEntitySet => {
                let (Value::Entity(a), Value::Set(members)) = (&l, &r) else {
                    return malformed("entity `in` set on non-entities");
                };
                let mut found = false;
                for member in members {
                    let Value::Entity(b) = member else {
                        return malformed("a set of entities holding a non-entity");
                    };
                    found |= self.descends(a, b);
                }
                Value::Bool(found)
            }
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
                            return Err(EvalError::MissingAttribute(format!(
                                "[{:?}]",
                                excerpt(key)
                            ))
                            .into());
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

    /// How an entity is named in an error message.
    fn show(&self, uid: &Uid) -> String {
        let ty = self
            .schema
            .entity_type(uid.ty)
            .map_or("?", |t| t.name.as_str());
        format!("{ty}::{:?}", uid.id)
    }
}

/// The slot of the attribute for the entity's actual type.
fn slot_for(slots: &[(reaper_lang::types::EntityTypeId, u32)], uid: &Uid) -> Option<u32> {
    slots
        .iter()
        .find(|(ty, _)| *ty == uid.ty)
        .map(|(_, slot)| *slot)
}

fn glob(parts: &[PatternPart]) -> Vec<Glob> {
    parts
        .iter()
        .map(|part| match part {
            PatternPart::Wildcard => Glob::Wildcard,
            PatternPart::Literal(text) => Glob::Literal(text.clone()),
        })
        .collect()
}

/// Two values ordered by `<`: both Int, Duration, Timestamp or Decimal.
fn ordered(l: &Value, r: &Value) -> Eval<(i64, i64)> {
    match (l, r) {
        (Value::Int(a), Value::Int(b))
        | (Value::Duration(a), Value::Duration(b))
        | (Value::Timestamp(a), Value::Timestamp(b))
        | (Value::Decimal(a), Value::Decimal(b)) => Ok((*a, *b)),
        _ => malformed("ordering of unordered values"),
    }
}

/// The ranges of a set of IPs.
fn ranges(set: &[Value]) -> Eval<Vec<ipnet::IpNet>> {
    set.iter()
        .map(|v| match v {
            Value::Ip(net) => Ok(*net),
            _ => malformed("a set of IPs holding a non-IP"),
        })
        .collect()
}

/// Checked 64-bit `+`, `-`, `*` with the unit rules of `docs/language.md` §6.4.
fn arithmetic(op: BinOp, l: Value, r: Value) -> Eval<Value> {
    let overflow = || Halt::Error(EvalError::Overflow);
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
