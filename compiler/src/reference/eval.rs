//! Expression evaluation for the reference evaluator: one function per kind
//! of typed node, values as [`reaper_lang::value::Value`], errors as
//! [`EvalError`]. Operands are evaluated left to right as the typed tree
//! holds them; `&&`, `||` and `if` evaluate only what they need.

use reaper_lang::eval::EvalError;
use reaper_lang::pattern::{self, PatternPart as Glob};
use reaper_lang::request::Request;
use reaper_lang::schema::Schema;
use reaper_lang::value::{Uid, Value};

use super::ops::{self, OpError};
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
        ops::unary(op, value).map_err(|e| self.op_error(e))
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
        match op {
            BinOp::InEntity => {
                let (Value::Entity(a), Value::Entity(b)) = (&l, &r) else {
                    return malformed("entity `in` on non-entities");
                };
                Ok(Value::Bool(self.descends(a, b)))
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
                Ok(Value::Bool(found))
            }
            _ => ops::binary(op, l, r).map_err(|e| self.op_error(e)),
        }
    }

    fn op_error(&self, error: OpError) -> Halt {
        match error {
            OpError::Error(e) => Halt::Error(e),
            OpError::Invalid(message) => self.invalid(message),
        }
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
