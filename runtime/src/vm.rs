//! The interpreter. A function runs on a small register file; jumps only go
//! forward, so each instruction runs at most once and evaluation always
//! ends. Every value of an unexpected kind (possible only with a bundle the
//! compiler did not produce) is a `Malformed` error, never a panic.

use reaper_lang::bytecode::{BinaryOp, Function, HttpField, Op, UnaryOp, Var};
use reaper_lang::eval::EvalError;
use reaper_lang::value::ip;

use crate::engine::Engine;
use crate::request::Request;
use crate::strings::LocalStrings;
use crate::value::{EntityKey, Pool, Pools, Slice, Sym, Val, normalize_set};

/// Why a function produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    Error(EvalError),
    /// A rate-limit function read a descriptor entry that is absent: the
    /// limit does not apply. Not an error.
    NotApplicable,
}

impl From<EvalError> for Fault {
    fn from(e: EvalError) -> Self {
        Fault::Error(e)
    }
}

const MALFORMED: Fault = Fault::Error(EvalError::Malformed("a value of the wrong kind"));

/// The HTTP request the http mapping reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpEnv {
    /// method, path, host, source_ip, time (in `HttpField` order).
    pub fields: Vec<Val>,
    /// Headers whose names the bundle reads: (name, value).
    pub headers: Vec<(Sym, Sym)>,
    /// The matched route's parameters: (name, value).
    pub params: Vec<(Sym, Sym)>,
}

/// What a function may read.
pub(crate) struct Env<'a> {
    pub engine: &'a Engine,
    pub request: Option<&'a Request>,
    /// Rate-limit descriptor entries: (key, value); a key the bundle never
    /// reads is `Sym::MAX`.
    pub descriptor: &'a [(Sym, Sym)],
    pub http: Option<&'a HttpEnv>,
    /// Strings the input brought beyond the bundle's.
    pub local: &'a LocalStrings,
    /// The request's value pool.
    pub values: &'a [Val],
}

/// The outcome of running a function, and (when tracing) the last
/// instruction that ran before it returned or failed.
pub(crate) struct Outcome {
    pub result: Result<Val, Fault>,
    pub last_pc: u32,
}

/// Registers kept on the stack for the common small function.
const INLINE_REGISTERS: usize = 8;

impl Env<'_> {
    pub fn run<const TRACE: bool>(&self, function: &Function, scratch: &mut Vec<Val>) -> Outcome {
        let registers = function.registers as usize;
        if registers <= INLINE_REGISTERS {
            let mut regs = [Val::Bool(false); INLINE_REGISTERS];
            self.exec::<TRACE>(function, &mut regs, scratch)
        } else {
            let mut regs = vec![Val::Bool(false); registers];
            self.exec::<TRACE>(function, &mut regs, scratch)
        }
    }

    fn pools<'p>(&'p self, scratch: &'p [Val]) -> Pools<'p> {
        Pools {
            constants: self.engine.constants(),
            request: self.values,
            scratch,
        }
    }

    fn text(&self, sym: Sym) -> &str {
        self.local.text(self.engine.strings(), sym)
    }

    fn exec<const TRACE: bool>(
        &self,
        function: &Function,
        regs: &mut [Val],
        scratch: &mut Vec<Val>,
    ) -> Outcome {
        let mut pc: usize = 0;
        let mut last_pc: u32 = 0;
        let result = loop {
            let Some(op) = function.code.get(pc) else {
                break Err(Fault::Error(EvalError::Malformed(
                    "the code ends without `ret`",
                )));
            };
            // The final `ret` belongs to no clause: the instruction before it
            // tells which clause ended the evaluation.
            if TRACE && !matches!(op, Op::Return { .. }) {
                last_pc = reaper_lang::schema::index_u32(pc);
            }
            match self.step(*op, regs, scratch) {
                Ok(Step::Next) => pc += 1,
                Ok(Step::Jump(target)) => pc = target as usize,
                Ok(Step::Return(value)) => break Ok(value),
                Err(fault) => break Err(fault),
            }
        };
        Outcome { result, last_pc }
    }

    #[inline(always)]
    fn step(&self, op: Op, regs: &mut [Val], scratch: &mut Vec<Val>) -> Result<Step, Fault> {
        match op {
            Op::Const { dst, index } => {
                let value = self
                    .engine
                    .constant_values
                    .get(index as usize)
                    .copied()
                    .ok_or(MALFORMED)?;
                put(regs, dst, value)?;
            }
            Op::Var { dst, var } => {
                let request = self.request.ok_or(MALFORMED)?;
                let value = match var {
                    Var::Principal => Val::Entity(request.principal),
                    Var::Resource => Val::Entity(request.resource),
                    Var::Action => Val::Action(request.action),
                    Var::Context => Val::Record(request.context),
                    Var::Descriptor => return Err(MALFORMED),
                };
                put(regs, dst, value)?;
            }
            Op::Field { dst, src, slot } => {
                let Val::Record(record) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                let value = self
                    .pools(scratch)
                    .slice(record)
                    .get(slot as usize)
                    .copied()
                    .ok_or(MALFORMED)?;
                if let Val::Absent = value {
                    return Err(EvalError::MissingAttribute(format!("@{slot}")).into());
                }
                put(regs, dst, value)?;
            }
            Op::HasField { dst, src, slot } => {
                let Val::Record(record) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                let value = self
                    .pools(scratch)
                    .slice(record)
                    .get(slot as usize)
                    .copied();
                put(
                    regs,
                    dst,
                    Val::Bool(!matches!(value, None | Some(Val::Absent))),
                )?;
            }
            Op::Attr { dst, src, table } => {
                let Val::Entity(key) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                let request = self.request.ok_or(MALFORMED)?;
                let Some(data) = request.entity(key) else {
                    return Err(EvalError::MissingEntity(
                        self.engine.display_entity(key, self.local),
                    )
                    .into());
                };
                let slot = self.attr_slot(table, key).ok_or(MALFORMED)?;
                let value = self
                    .pools(scratch)
                    .slice(data.attrs)
                    .get(slot as usize)
                    .copied()
                    .ok_or(MALFORMED)?;
                if let Val::Absent = value {
                    return Err(EvalError::MissingAttribute(self.attr_name(key, slot)).into());
                }
                put(regs, dst, value)?;
            }
            Op::HasAttr { dst, src, table } => {
                let Val::Entity(key) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                let present = match (
                    self.request.and_then(|r| r.entity(key)),
                    self.attr_slot(table, key),
                ) {
                    (Some(data), Some(slot)) => {
                        let value = self
                            .pools(scratch)
                            .slice(data.attrs)
                            .get(slot as usize)
                            .copied();
                        !matches!(value, None | Some(Val::Absent))
                    }
                    _ => false,
                };
                put(regs, dst, Val::Bool(present))?;
            }
            Op::Entry { dst, key } => {
                let value = self
                    .descriptor
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| *v);
                put(regs, dst, Val::Str(value.ok_or(Fault::NotApplicable)?))?;
            }
            Op::HasEntry { dst, key } => {
                let present = self.descriptor.iter().any(|(k, _)| *k == key);
                put(regs, dst, Val::Bool(present))?;
            }
            Op::Is { dst, src, ty } => {
                let Val::Entity(key) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                put(regs, dst, Val::Bool(key.ty() == ty.0))?;
            }
            Op::MakeEntity { dst, src, ty } => {
                let Val::Str(id) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                put(regs, dst, Val::Entity(EntityKey::new(ty.0, id)))?;
            }
            Op::HttpField { dst, field } => {
                let http = self.http.ok_or(MALFORMED)?;
                let index = match field {
                    HttpField::Method => 0,
                    HttpField::Path => 1,
                    HttpField::Host => 2,
                    HttpField::SourceIp => 3,
                    HttpField::Time => 4,
                };
                put(regs, dst, http.fields.get(index).copied().ok_or(MALFORMED)?)?;
            }
            Op::Header { dst, name } => {
                let http = self.http.ok_or(MALFORMED)?;
                let Some((_, value)) = http.headers.iter().find(|(n, _)| *n == name) else {
                    return Err(EvalError::MissingHeader(self.text(name).to_owned()).into());
                };
                put(regs, dst, Val::Str(*value))?;
            }
            Op::HasHeader { dst, name } => {
                let http = self.http.ok_or(MALFORMED)?;
                put(
                    regs,
                    dst,
                    Val::Bool(http.headers.iter().any(|(n, _)| *n == name)),
                )?;
            }
            Op::Param { dst, name } => {
                let http = self.http.ok_or(MALFORMED)?;
                let value = http
                    .params
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .ok_or(MALFORMED)?;
                put(regs, dst, Val::Str(value))?;
            }
            Op::Like { dst, src, pattern } => {
                let Val::Str(sym) = get(regs, src)? else {
                    return Err(MALFORMED);
                };
                let pattern = self
                    .engine
                    .bundle
                    .patterns
                    .get(pattern as usize)
                    .ok_or(MALFORMED)?;
                put(
                    regs,
                    dst,
                    Val::Bool(reaper_lang::pattern::matches(pattern, self.text(sym))),
                )?;
            }
            Op::Unary { op, dst, src } => {
                let value = unary(op, get(regs, src)?)?;
                put(regs, dst, value)?;
            }
            Op::Binary { op, dst, a, b } => {
                let value = self.binary(op, get(regs, a)?, get(regs, b)?, scratch)?;
                put(regs, dst, value)?;
            }
            Op::Set { dst, start, count } | Op::Record { dst, start, count } => {
                let first = start as usize;
                let mut items: Vec<Val> = regs
                    .get(first..first + count as usize)
                    .ok_or(MALFORMED)?
                    .to_vec();
                if let Op::Set { .. } = op {
                    normalize_set(&self.pools(scratch), &mut items);
                }
                let slice = Slice {
                    pool: Pool::Scratch,
                    start: reaper_lang::schema::index_u32(scratch.len()),
                    len: reaper_lang::schema::index_u32(items.len()),
                };
                scratch.extend(items);
                let value = if let Op::Set { .. } = op {
                    Val::Set(slice)
                } else {
                    Val::Record(slice)
                };
                put(regs, dst, value)?;
            }
            Op::Jump { target } => return Ok(Step::Jump(target)),
            Op::JumpIfFalse { cond, target } => match get(regs, cond)? {
                Val::Bool(false) => return Ok(Step::Jump(target)),
                Val::Bool(true) => {}
                _ => return Err(MALFORMED),
            },
            Op::JumpIfTrue { cond, target } => match get(regs, cond)? {
                Val::Bool(true) => return Ok(Step::Jump(target)),
                Val::Bool(false) => {}
                _ => return Err(MALFORMED),
            },
            Op::Return { src } => return Ok(Step::Return(get(regs, src)?)),
        }
        Ok(Step::Next)
    }

    fn attr_slot(&self, table: u32, key: EntityKey) -> Option<u32> {
        let entries = self.engine.bundle.attr_tables.get(table as usize)?;
        entries
            .iter()
            .find(|(ty, _)| ty.0 == key.ty())
            .map(|(_, slot)| *slot)
    }

    fn attr_name(&self, key: EntityKey, slot: u32) -> String {
        let schema = &self.engine.bundle.schema;
        let name = schema
            .entity_types
            .get(key.ty() as usize)
            .and_then(|t| t.attrs.fields.get(slot as usize))
            .map_or("?", |f| f.name.as_str());
        format!("{}.{name}", self.engine.display_entity(key, self.local))
    }

    fn binary(&self, op: BinaryOp, a: Val, b: Val, scratch: &[Val]) -> Result<Val, Fault> {
        let pools = self.pools(scratch);
        let ints = || match (a, b) {
            (Val::Int(x), Val::Int(y)) => Ok((x, y)),
            _ => Err(MALFORMED),
        };
        Ok(Val::Bool(match op {
            BinaryOp::Eq => pools.eq(&a, &b),
            BinaryOp::Ne => !pools.eq(&a, &b),
            BinaryOp::Lt => ints().map(|(x, y)| x < y)?,
            BinaryOp::Le => ints().map(|(x, y)| x <= y)?,
            BinaryOp::Gt => ints().map(|(x, y)| x > y)?,
            BinaryOp::Ge => ints().map(|(x, y)| x >= y)?,
            BinaryOp::Add => {
                return Ok(Val::Int(ints().and_then(|(x, y)| {
                    x.checked_add(y).ok_or(EvalError::Overflow.into())
                })?));
            }
            BinaryOp::Sub => {
                return Ok(Val::Int(ints().and_then(|(x, y)| {
                    x.checked_sub(y).ok_or(EvalError::Overflow.into())
                })?));
            }
            BinaryOp::Mul => {
                return Ok(Val::Int(ints().and_then(|(x, y)| {
                    x.checked_mul(y).ok_or(EvalError::Overflow.into())
                })?));
            }
            BinaryOp::InEntity => match (a, b) {
                (Val::Entity(x), Val::Entity(y)) => self.is_in(x, y)?,
                _ => return Err(MALFORMED),
            },
            BinaryOp::InEntitySet => match (a, b) {
                (Val::Entity(x), Val::Set(set)) => {
                    let mut found = false;
                    for member in pools.slice(set) {
                        let Val::Entity(y) = member else {
                            return Err(MALFORMED);
                        };
                        if self.is_in(x, *y)? {
                            found = true;
                            break;
                        }
                    }
                    found
                }
                _ => return Err(MALFORMED),
            },
            BinaryOp::InSet => match b {
                Val::Set(set) => pools.contains(set, &a),
                _ => return Err(MALFORMED),
            },
            BinaryOp::InRange => match (a, b) {
                (Val::Ip(inner), Val::Ip(outer)) => ip::within(&inner, &outer),
                _ => return Err(MALFORMED),
            },
            BinaryOp::ContainsAll | BinaryOp::ContainsAny => match (a, b) {
                (Val::Set(all), Val::Set(some)) => {
                    let mut members = pools.slice(some).iter();
                    if op == BinaryOp::ContainsAll {
                        members.all(|m| pools.contains(all, m))
                    } else {
                        members.any(|m| pools.contains(all, m))
                    }
                }
                _ => return Err(MALFORMED),
            },
        }))
    }

    fn is_in(&self, a: EntityKey, b: EntityKey) -> Result<bool, Fault> {
        Ok(match self.request {
            Some(request) => request.is_in(a, b),
            None => a == b,
        })
    }
}

fn unary(op: UnaryOp, value: Val) -> Result<Val, Fault> {
    Ok(match (op, value) {
        (UnaryOp::Not, Val::Bool(b)) => Val::Bool(!b),
        (UnaryOp::Neg, Val::Int(n)) => Val::Int(n.checked_neg().ok_or(EvalError::Overflow)?),
        (UnaryOp::IsEmpty, Val::Set(s)) => Val::Bool(s.len == 0),
        (UnaryOp::Len, Val::Set(s)) => Val::Int(i64::from(s.len)),
        (UnaryOp::IsIpv4, Val::Ip(net)) => Val::Bool(ip::is_ipv4(&net)),
        (UnaryOp::IsIpv6, Val::Ip(net)) => Val::Bool(!ip::is_ipv4(&net)),
        (UnaryOp::IsLoopback, Val::Ip(net)) => Val::Bool(ip::is_loopback(&net)),
        (UnaryOp::IsMulticast, Val::Ip(net)) => Val::Bool(ip::is_multicast(&net)),
        _ => return Err(MALFORMED),
    })
}

enum Step {
    Next,
    Jump(u32),
    Return(Val),
}

#[inline(always)]
fn get(regs: &[Val], r: u16) -> Result<Val, Fault> {
    regs.get(r as usize).copied().ok_or(MALFORMED)
}

#[inline(always)]
fn put(regs: &mut [Val], r: u16, value: Val) -> Result<(), Fault> {
    *regs.get_mut(r as usize).ok_or(MALFORMED)? = value;
    Ok(())
}
