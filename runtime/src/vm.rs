//! The interpreter. A function runs on a small register file; jumps only go
//! forward, so each instruction runs at most once and evaluation always
//! ends. Every value of an unexpected kind (possible only with a bundle the
//! compiler did not produce) is a `Malformed` error, never a panic.

use reaper_lang::bytecode::{BinaryOp, Function, HttpField, Op, UnaryOp, Var};
use reaper_lang::eval::EvalError;
use reaper_lang::excerpt::excerpt;
use reaper_lang::literal;
use reaper_lang::value::{ip, time};

use crate::engine::Engine;
use crate::request::Request;
use crate::scratch::Scratch;
use crate::strings::Texts;
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Sym, Val, Words, normalize_set};

/// Why a function produced no value. Errors are boxed so a
/// `Result<Val, Fault>` stays 16 bytes and returns in registers; the box is
/// only allocated when something fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    Error(Box<EvalError>),
    /// A rate-limit function read a descriptor entry that is absent: the
    /// limit does not apply. Not an error.
    NotApplicable,
}

impl From<EvalError> for Fault {
    fn from(e: EvalError) -> Self {
        Fault::Error(Box::new(e))
    }
}

#[cold]
fn malformed() -> Fault {
    EvalError::Malformed("a value of the wrong kind").into()
}

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
    pub local: Texts<'a>,
    /// The request's value pool.
    pub values: &'a [Val],
    /// The request's IP ranges.
    pub ips: &'a [ipnet::IpNet],
}

/// The outcome of running a function, and (when tracing) the instructions
/// that ran, in order, but for the final `ret`.
pub(crate) struct Outcome {
    pub result: Result<Val, Fault>,
    pub executed: Vec<u32>,
}

/// A register file. Functions with at most 16 registers (nearly all) use a
/// fixed array indexed with a mask, so register access needs no bounds
/// check; larger functions use a heap file. One file serves every function
/// of a request in turn: codegen writes each register before reading it.
pub(crate) struct Registers {
    inline: [Words; INLINE_REGISTERS],
    heap: Vec<Val>,
}

const INLINE_REGISTERS: usize = 16;

impl Registers {
    pub fn new() -> Self {
        Self {
            inline: [Val::Absent.to_words(); INLINE_REGISTERS],
            heap: Vec::new(),
        }
    }
}

/// Register access for the interpreter.
trait RegFile {
    fn read(&self, r: u16) -> Val;
    fn write(&mut self, r: u16, value: Val);
    fn window(&self, start: u16, count: u16) -> Option<Vec<Val>>;
}

impl RegFile for [Words; INLINE_REGISTERS] {
    /// The verifier proves every operand is below the function's register
    /// count, which is at most 16 on this path, so the mask never changes a
    /// valid index; it only spares the bounds check.
    #[inline(always)]
    fn read(&self, r: u16) -> Val {
        Val::from_words(self[r as usize & (INLINE_REGISTERS - 1)])
    }

    #[inline(always)]
    fn write(&mut self, r: u16, value: Val) {
        self[r as usize & (INLINE_REGISTERS - 1)] = value.to_words();
    }

    fn window(&self, start: u16, count: u16) -> Option<Vec<Val>> {
        let words = self
            .as_slice()
            .get(start as usize..start as usize + count as usize)?;
        Some(words.iter().map(|w| Val::from_words(*w)).collect())
    }
}

impl RegFile for Vec<Val> {
    /// A stray index (impossible in a verified bundle) reads as `Absent`,
    /// which every instruction refuses as malformed.
    #[inline(always)]
    fn read(&self, r: u16) -> Val {
        self.as_slice()
            .get(r as usize)
            .copied()
            .unwrap_or(Val::Absent)
    }

    #[inline(always)]
    fn write(&mut self, r: u16, value: Val) {
        if let Some(slot) = self.get_mut(r as usize) {
            *slot = value;
        }
    }

    fn window(&self, start: u16, count: u16) -> Option<Vec<Val>> {
        self.as_slice()
            .get(start as usize..start as usize + count as usize)
            .map(<[Val]>::to_vec)
    }
}

impl Env<'_> {
    /// Runs a function for its value (no tracing).
    #[inline]
    pub fn eval(
        &self,
        function: &Function,
        registers: &mut Registers,
        scratch: &mut Scratch,
    ) -> Result<Val, Fault> {
        let mut executed = Vec::new();
        if function.registers as usize <= INLINE_REGISTERS {
            self.exec::<false, _>(function, &mut registers.inline, scratch, &mut executed)
        } else {
            self.run::<false>(function, registers, scratch).result
        }
    }

    pub fn run<const TRACE: bool>(
        &self,
        function: &Function,
        registers: &mut Registers,
        scratch: &mut Scratch,
    ) -> Outcome {
        let mut executed = Vec::new();
        let needed = function.registers as usize;
        let result = if needed <= INLINE_REGISTERS {
            self.exec::<TRACE, _>(function, &mut registers.inline, scratch, &mut executed)
        } else {
            if registers.heap.len() < needed {
                registers.heap.resize(needed, Val::Absent);
            }
            self.exec::<TRACE, _>(function, &mut registers.heap, scratch, &mut executed)
        };
        Outcome { result, executed }
    }

    fn pools<'p>(&'p self, scratch: &'p Scratch) -> Pools<'p> {
        Pools {
            constants: self.engine.constants(),
            request: self.values,
            scratch: &scratch.values,
            constant_ips: &self.engine.constant_ips,
            request_ips: self.ips,
            scratch_ips: &scratch.ips,
        }
    }

    /// The text of a symbol: the bundle's, the input's, or one this
    /// evaluation built.
    pub fn text<'s>(&'s self, scratch: &'s Scratch, sym: Sym) -> &'s str {
        let strings = self.engine.strings();
        match sym.checked_sub(strings.len().saturating_add(self.local.len())) {
            Some(index) => scratch.text(index),
            None => self.local.text(strings, sym),
        }
    }

    /// Whether this runs a rate limit's code (which has a descriptor and no
    /// request): there a value that cannot be computed makes the limit not
    /// apply, as a missing entry does.
    fn in_limit(&self) -> bool {
        self.request.is_none() && self.http.is_none()
    }

    /// A conversion of text that failed (`ip(…)`, `decimal(…)`).
    #[cold]
    fn invalid(&self, message: String) -> Fault {
        if self.in_limit() {
            Fault::NotApplicable
        } else {
            EvalError::InvalidValue(message).into()
        }
    }

    pub(crate) fn constant(&self, index: u32) -> Val {
        self.engine
            .constant_values
            .get(index as usize)
            .copied()
            .unwrap_or(Val::Absent)
    }

    fn exec<const TRACE: bool, R: RegFile>(
        &self,
        function: &Function,
        regs: &mut R,
        scratch: &mut Scratch,
        executed: &mut Vec<u32>,
    ) -> Result<Val, Fault> {
        let code = &function.code[..];
        let mut pc: usize = 0;
        loop {
            let Some(&op) = code.get(pc) else {
                return Err(EvalError::Malformed("the code ends without `ret`").into());
            };
            // The final `ret` belongs to no clause: the instructions before
            // it tell which clause, and which part of it, decided.
            if TRACE && !matches!(op, Op::Return { .. }) {
                executed.push(reaper_lang::schema::index_u32(pc));
            }
            pc += 1;
            match op {
                Op::Const { dst, index } => regs.write(dst, self.constant(index)),
                Op::Var { dst, var } => regs.write(dst, self.var(var)?),
                Op::AttrOf { dst, var, table } => regs.write(dst, self.attr_of(var, table)?),
                Op::HasAttrOf { dst, var, table } => {
                    regs.write(dst, Val::Bool(self.has_attr_of(var, table)))
                }
                Op::ContextField { dst, slot } => regs.write(dst, self.context_field(slot)?),
                Op::Entry { dst, key } => match self.entry(key) {
                    Some(value) => regs.write(dst, Val::Str(value)),
                    None => return Err(Fault::NotApplicable),
                },
                Op::HasEntry { dst, key } => regs.write(dst, Val::Bool(self.entry(key).is_some())),
                Op::Unary {
                    op: UnaryOp::Not,
                    dst,
                    src,
                } => match regs.read(src) {
                    Val::Bool(b) => regs.write(dst, Val::Bool(!b)),
                    _ => return Err(malformed()),
                },
                Op::Binary { op, dst, a, b } if op != BinaryOp::Concat => {
                    let value = self.binary(op, regs.read(a), regs.read(b), scratch)?;
                    regs.write(dst, value);
                }
                Op::BinaryConst { op, dst, a, index } if op != BinaryOp::Concat => {
                    let value = self.binary(op, regs.read(a), self.constant(index), scratch)?;
                    regs.write(dst, value);
                }
                Op::ConstBinary { op, dst, index, b } if op != BinaryOp::Concat => {
                    let value = self.binary(op, self.constant(index), regs.read(b), scratch)?;
                    regs.write(dst, value);
                }
                Op::Jump { target } => pc = target as usize,
                Op::JumpIfFalse { cond, target } => match regs.read(cond) {
                    Val::Bool(false) => pc = target as usize,
                    Val::Bool(true) => {}
                    _ => return Err(malformed()),
                },
                Op::JumpIfTrue { cond, target } => match regs.read(cond) {
                    Val::Bool(true) => pc = target as usize,
                    Val::Bool(false) => {}
                    _ => return Err(malformed()),
                },
                // Rebuilding a Bool rather than copying the register whole lets
                // the load be served from the store that wrote it.
                Op::Return { src } => {
                    return Ok(match regs.read(src) {
                        Val::Bool(b) => Val::Bool(b),
                        other => other,
                    });
                }
                other => self.cold_op(other, regs, scratch)?,
            }
        }
    }

    /// The instructions rule conditions rarely run, kept out of the hot loop
    /// so it stays small.
    #[inline(never)]
    fn cold_op<R: RegFile>(
        &self,
        op: Op,
        regs: &mut R,
        scratch: &mut Scratch,
    ) -> Result<(), Fault> {
        match op {
            Op::Binary {
                op: BinaryOp::Concat,
                dst,
                a,
                b,
            } => {
                let value = self.concat(regs.read(a), regs.read(b), scratch)?;
                regs.write(dst, value);
            }
            Op::BinaryConst {
                op: BinaryOp::Concat,
                dst,
                a,
                index,
            } => {
                let value = self.concat(regs.read(a), self.constant(index), scratch)?;
                regs.write(dst, value);
            }
            Op::ConstBinary {
                op: BinaryOp::Concat,
                dst,
                index,
                b,
            } => {
                let value = self.concat(self.constant(index), regs.read(b), scratch)?;
                regs.write(dst, value);
            }
            Op::ContextFieldOf { dst, table } => regs.write(dst, self.context_field_of(table)?),
            Op::ContextHasFieldOf { dst, table } => {
                let present = self.context_slot(table).is_some_and(|slot| {
                    self.request
                        .is_some_and(|r| self.has_field(r.context, slot, scratch))
                });
                regs.write(dst, Val::Bool(present));
            }
            Op::ContextHasField { dst, slot } => {
                let request = self.request.ok_or_else(malformed)?;
                regs.write(
                    dst,
                    Val::Bool(self.has_field(request.context, slot, scratch)),
                );
            }
            Op::Field { dst, src, slot } => {
                let Val::Record(record) = regs.read(src) else {
                    return Err(malformed());
                };
                regs.write(dst, self.field(record, slot, scratch)?);
            }
            Op::HasField { dst, src, slot } => {
                let Val::Record(record) = regs.read(src) else {
                    return Err(malformed());
                };
                regs.write(dst, Val::Bool(self.has_field(record, slot, scratch)));
            }
            Op::Attr { dst, src, table } => {
                let Val::Entity(key) = regs.read(src) else {
                    return Err(malformed());
                };
                // Rate limits carry no entity data: every entity is missing.
                let Some(request) = self.request else {
                    return Err(EvalError::MissingEntity(
                        self.engine.display_entity(key, self.local),
                    )
                    .into());
                };
                regs.write(dst, self.entity_attr(request, key, None, table)?);
            }
            Op::HasAttr { dst, src, table } => {
                let Val::Entity(key) = regs.read(src) else {
                    return Err(malformed());
                };
                let present = match self.request {
                    Some(request) => self.has_entity_attr(request, key, None, table),
                    None => false,
                };
                regs.write(dst, Val::Bool(present));
            }
            Op::Entry { dst, key } => {
                let value = self
                    .descriptor
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| *v);
                regs.write(dst, Val::Str(value.ok_or(Fault::NotApplicable)?));
            }
            Op::HasEntry { dst, key } => {
                let present = self.descriptor.iter().any(|(k, _)| *k == key);
                regs.write(dst, Val::Bool(present));
            }
            Op::Is { dst, src, ty } => {
                let Val::Entity(key) = regs.read(src) else {
                    return Err(malformed());
                };
                regs.write(dst, Val::Bool(key.ty() == ty.0));
            }
            Op::MakeEntity { dst, src, ty } => {
                let Val::Str(id) = regs.read(src) else {
                    return Err(malformed());
                };
                regs.write(dst, Val::Entity(EntityKey::new(ty.0, id)));
            }
            Op::HttpField { dst, field } => {
                let http = self.http.ok_or_else(malformed)?;
                let index = match field {
                    HttpField::Method => 0,
                    HttpField::Path => 1,
                    HttpField::Host => 2,
                    HttpField::SourceIp => 3,
                    HttpField::Time => 4,
                };
                regs.write(dst, http.fields.get(index).copied().ok_or_else(malformed)?);
            }
            Op::Header { dst, name } => {
                let http = self.http.ok_or_else(malformed)?;
                let Some((_, value)) = http.headers.iter().find(|(n, _)| *n == name) else {
                    return Err(
                        EvalError::MissingHeader(self.text(scratch, name).to_owned()).into(),
                    );
                };
                regs.write(dst, Val::Str(*value));
            }
            Op::HasHeader { dst, name } => {
                let http = self.http.ok_or_else(malformed)?;
                regs.write(dst, Val::Bool(http.headers.iter().any(|(n, _)| *n == name)));
            }
            Op::Param { dst, name } => {
                let http = self.http.ok_or_else(malformed)?;
                let value = http
                    .params
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .ok_or_else(malformed)?;
                regs.write(dst, Val::Str(value));
            }
            Op::Like { dst, src, pattern } => {
                let Val::Str(sym) = regs.read(src) else {
                    return Err(malformed());
                };
                let pattern = self
                    .engine
                    .bundle
                    .patterns
                    .get(pattern as usize)
                    .ok_or_else(malformed)?;
                regs.write(
                    dst,
                    Val::Bool(reaper_lang::pattern::matches(
                        pattern,
                        self.text(scratch, sym),
                    )),
                );
            }
            Op::Unary { op, dst, src } => {
                let value = self.unary(op, regs.read(src), scratch)?;
                regs.write(dst, value);
            }
            Op::Set { dst, start, count } | Op::Record { dst, start, count } => {
                let mut items: Vec<Val> = regs.window(start, count).ok_or_else(malformed)?;
                if let Op::Set { .. } = op {
                    normalize_set(&self.pools(scratch), &mut items);
                }
                let slice = Slice::new(
                    Pool::Scratch,
                    reaper_lang::schema::index_u32(scratch.values.len()),
                    reaper_lang::schema::index_u32(items.len()),
                );
                scratch.values.extend(items);
                let value = if let Op::Set { .. } = op {
                    Val::Set(slice)
                } else {
                    Val::Record(slice)
                };
                regs.write(dst, value);
            }
            Op::Const { .. }
            | Op::Var { .. }
            | Op::AttrOf { .. }
            | Op::HasAttrOf { .. }
            | Op::ContextField { .. }
            | Op::Binary { .. }
            | Op::BinaryConst { .. }
            | Op::ConstBinary { .. }
            | Op::Jump { .. }
            | Op::JumpIfFalse { .. }
            | Op::JumpIfTrue { .. }
            | Op::Return { .. } => return Err(malformed()),
        }
        Ok(())
    }

    /// A rule's hoisted guard, evaluated without the VM: `Some(result)`
    /// when every read succeeds, `None` when one fails (the rule must run).
    /// Values stay in machine words here: building enum values on the stack
    /// and reading them back whole stalls the CPU on this hot path.
    #[inline]
    pub fn guard(&self, guard: &crate::engine::Guard) -> Option<bool> {
        let value = self.guard_read(guard.read);
        if value == Words::NONE {
            return None;
        }
        let Some(test) = guard.test else {
            return value.as_bool();
        };
        self.guard_test(value, test)
    }

    /// A guard's operator applied to a read's value (not `NONE`) and its
    /// other operand; `None` when the other read or the operator fails.
    #[inline]
    pub(crate) fn guard_test(&self, value: Words, test: crate::engine::GuardTest) -> Option<bool> {
        use crate::engine::GuardOperand;
        let other = match test.other {
            GuardOperand::Constant(index) => self.constant(index).to_words(),
            GuardOperand::Read(read) => self.guard_read(read),
        };
        if other == Words::NONE {
            return None;
        }
        let (a, b) = if test.other_first {
            (other, value)
        } else {
            (value, other)
        };
        self.guard_binary(test.op, a, b)
    }

    /// The common operators on words directly; the others as usual.
    #[inline]
    pub(crate) fn guard_binary(&self, op: BinaryOp, a: Words, b: Words) -> Option<bool> {
        let request = self.request?;
        match op {
            BinaryOp::Eq | BinaryOp::Ne if a.is_scalar() && b.is_scalar() => {
                Some((a == b) == (op == BinaryOp::Eq))
            }
            BinaryOp::InEntity => Some(request.is_in(a.entity()?, b.entity()?)),
            BinaryOp::InEntitySet => {
                request.is_in_any(a.entity()?, self.input_pools().slice(b.set()?))
            }
            BinaryOp::InSet => Some(self.input_pools().contains(b.set()?, &Val::from_words(a))),
            _ => self
                .binary(
                    op,
                    Val::from_words(a),
                    Val::from_words(b),
                    &Scratch::default(),
                )
                .ok()?
                .to_words()
                .as_bool(),
        }
    }

    /// A guard's read, as words ([`Words::NONE`] when it fails).
    #[inline(never)]
    pub(crate) fn guard_read(&self, read: crate::engine::GuardRead) -> Words {
        use crate::engine::GuardRead;
        let Some(request) = self.request else {
            return Words::NONE;
        };
        let present = |value: Option<Val>| match value {
            Some(Val::Absent) | None => Words::NONE,
            Some(value) => value.to_words(),
        };
        match read {
            GuardRead::Has { var, table } => Words::bool(self.has_attr_of(var, table)),
            GuardRead::Attr { var, table } => {
                let (key, hint) = match var {
                    Var::Principal => (request.principal, request.principal_data),
                    Var::Resource => (request.resource, request.resource_data),
                    _ => return Words::NONE,
                };
                let (Some(index), Some(slot)) = (hint, self.engine.attr_slot(table, key.ty()))
                else {
                    return Words::NONE;
                };
                let Some(data) = request.entities.get(index as usize) else {
                    return Words::NONE;
                };
                present(attribute(request, data, slot))
            }
            GuardRead::ContextHas { slot } => {
                Words::bool(self.has_field(request.context, slot, &Scratch::default()))
            }
            GuardRead::Context { slot } => {
                if slot >= request.context.len {
                    return Words::NONE;
                }
                present(
                    request
                        .values
                        .get((request.context.start() + slot) as usize)
                        .copied(),
                )
            }
            GuardRead::Var { var } => match var {
                Var::Principal => Val::Entity(request.principal).to_words(),
                Var::Resource => Val::Entity(request.resource).to_words(),
                _ => Words::NONE,
            },
        }
    }

    /// The pools of the bundle and the input alone (guards build nothing).
    #[inline(always)]
    pub(crate) fn input_pools(&self) -> Pools<'_> {
        Pools {
            constants: self.engine.constants(),
            request: self.values,
            scratch: &[],
            constant_ips: &self.engine.constant_ips,
            request_ips: self.ips,
            scratch_ips: &[],
        }
    }

    /// A descriptor entry's value.
    #[inline(always)]
    pub fn entry(&self, key: Sym) -> Option<Sym> {
        self.descriptor
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// `principal.attr` / `resource.attr`.
    #[inline(always)]
    fn attr_of(&self, var: Var, table: u32) -> Result<Val, Fault> {
        let request = self.request.ok_or_else(malformed)?;
        let (key, hint) = match var {
            Var::Principal => (request.principal, request.principal_data),
            Var::Resource => (request.resource, request.resource_data),
            _ => return Err(malformed()),
        };
        self.entity_attr(request, key, hint, table)
    }

    #[inline(always)]
    fn has_attr_of(&self, var: Var, table: u32) -> bool {
        let Some(request) = self.request else {
            return false;
        };
        let (key, hint) = match var {
            Var::Principal => (request.principal, request.principal_data),
            Var::Resource => (request.resource, request.resource_data),
            _ => return false,
        };
        self.has_entity_attr(request, key, hint, table)
    }

    #[inline(always)]
    fn context_field(&self, slot: u32) -> Result<Val, Fault> {
        let request = self.request.ok_or_else(malformed)?;
        match request
            .values
            .get((request.context.start() + slot) as usize)
            .copied()
        {
            Some(Val::Absent) => Err(EvalError::MissingAttribute(format!("@{slot}")).into()),
            Some(value) if slot < request.context.len => Ok(value),
            _ => Err(malformed()),
        }
    }

    #[inline(always)]
    fn var(&self, var: Var) -> Result<Val, Fault> {
        let request = self.request.ok_or_else(malformed)?;
        Ok(match var {
            Var::Principal => Val::Entity(request.principal),
            Var::Resource => Val::Entity(request.resource),
            Var::Action => Val::Action(request.action),
            Var::Context => Val::Record(request.context),
            Var::Descriptor => return Err(malformed()),
        })
    }

    /// The slot of a per-action context table for the request's action.
    fn context_slot(&self, table: u32) -> Option<u32> {
        let request = self.request?;
        self.engine.context_slot(table, request.action)
    }

    /// `context.f` through a per-action table: a field the action's
    /// context lacks reads as absent.
    fn context_field_of(&self, table: u32) -> Result<Val, Fault> {
        let request = self.request.ok_or_else(malformed)?;
        let missing = || EvalError::MissingAttribute(format!("context field (table {table})"));
        let Some(slot) = self.context_slot(table) else {
            return Err(missing().into());
        };
        match request
            .values
            .get((request.context.start() + slot) as usize)
            .copied()
        {
            Some(Val::Absent) => Err(missing().into()),
            Some(value) if slot < request.context.len => Ok(value),
            _ => Err(malformed()),
        }
    }

    #[inline(never)]
    fn field(&self, record: Slice, slot: u32, scratch: &Scratch) -> Result<Val, Fault> {
        match self
            .pools(scratch)
            .slice(record)
            .get(slot as usize)
            .copied()
        {
            Some(Val::Absent) => Err(EvalError::MissingAttribute(format!("@{slot}")).into()),
            Some(value) => Ok(value),
            None => Err(malformed()),
        }
    }

    #[inline(never)]
    fn has_field(&self, record: Slice, slot: u32, scratch: &Scratch) -> bool {
        !matches!(
            self.pools(scratch).slice(record).get(slot as usize),
            None | Some(Val::Absent)
        )
    }

    /// An entity's attribute; `hint` is the entity's data index when known.
    #[inline]
    fn entity_attr(
        &self,
        request: &Request,
        key: EntityKey,
        hint: Option<u32>,
        table: u32,
    ) -> Result<Val, Fault> {
        let data = match hint {
            Some(index) => request.entities.get(index as usize),
            None => request.entity(key),
        };
        let Some(data) = data else {
            return Err(
                EvalError::MissingEntity(self.engine.display_entity(key, self.local)).into(),
            );
        };
        let slot = self
            .engine
            .attr_slot(table, key.ty())
            .ok_or_else(malformed)?;
        match attribute(request, data, slot) {
            Some(Val::Absent) => Err(EvalError::MissingAttribute(self.attr_name(key, slot)).into()),
            Some(value) => Ok(value),
            None => Err(malformed()),
        }
    }

    #[inline]
    fn has_entity_attr(
        &self,
        request: &Request,
        key: EntityKey,
        hint: Option<u32>,
        table: u32,
    ) -> bool {
        let data = match hint {
            Some(index) => request.entities.get(index as usize),
            None => request.entity(key),
        };
        match (data, self.engine.attr_slot(table, key.ty())) {
            (Some(data), Some(slot)) => {
                !matches!(attribute(request, data, slot), None | Some(Val::Absent))
            }
            _ => false,
        }
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

    /// `a + b` on strings: a new string, interned for this evaluation.
    #[inline(never)]
    fn concat(&self, a: Val, b: Val, scratch: &mut Scratch) -> Result<Val, Fault> {
        let (Val::Str(x), Val::Str(y)) = (a, b) else {
            return Err(malformed());
        };
        let joined = format!("{}{}", self.text(scratch, x), self.text(scratch, y));
        Ok(Val::Str(scratch.intern(
            self.engine.strings(),
            self.local,
            &joined,
        )))
    }

    #[inline(always)]
    fn binary(&self, op: BinaryOp, a: Val, b: Val, scratch: &Scratch) -> Result<Val, Fault> {
        let pools = self.pools(scratch);
        let ints = || match (a, b) {
            (Val::Int(x), Val::Int(y)) => Ok((x, y)),
            _ => Err(malformed()),
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
                _ => return Err(malformed()),
            },
            BinaryOp::InEntitySet => match (a, b) {
                (Val::Entity(x), Val::Set(set)) => {
                    let members = pools.slice(set);
                    match self.request {
                        Some(request) => request.is_in_any(x, members).ok_or_else(malformed)?,
                        None => {
                            let mut found = false;
                            for member in members {
                                let Val::Entity(y) = member else {
                                    return Err(malformed());
                                };
                                found = found || *y == x;
                            }
                            found
                        }
                    }
                }
                _ => return Err(malformed()),
            },
            BinaryOp::InSet => match b {
                Val::Set(set) => pools.contains(set, &a),
                _ => return Err(malformed()),
            },
            BinaryOp::InRange => match (a, b) {
                (Val::Ip(inner), Val::Ip(outer)) => ip::within(&pools.ip(inner), &pools.ip(outer)),
                _ => return Err(malformed()),
            },
            BinaryOp::InRanges => match (a, b) {
                (Val::Ip(inner), Val::Set(set)) => within_any(&pools, inner, set)?,
                _ => return Err(malformed()),
            },
            BinaryOp::ContainsAllRanges | BinaryOp::ContainsAnyRanges => match (a, b) {
                (Val::Set(outer), Val::Set(inner)) => {
                    let mut held = pools.slice(inner).iter().map(|v| match v {
                        Val::Ip(r) => within_any(&pools, *r, outer),
                        _ => Err(malformed()),
                    });
                    if op == BinaryOp::ContainsAllRanges {
                        held.try_fold(true, |all, h| h.map(|h| all && h))?
                    } else {
                        held.try_fold(false, |any, h| h.map(|h| any || h))?
                    }
                }
                _ => return Err(malformed()),
            },
            BinaryOp::StartsWith | BinaryOp::EndsWith | BinaryOp::ContainsText => match (a, b) {
                (Val::Str(x), Val::Str(y)) => {
                    let (x, y) = (self.text(scratch, x), self.text(scratch, y));
                    match op {
                        BinaryOp::StartsWith => x.starts_with(y),
                        BinaryOp::EndsWith => x.ends_with(y),
                        _ => x.contains(y),
                    }
                }
                _ => return Err(malformed()),
            },
            BinaryOp::HasKey => match (a, b) {
                (Val::Map(map), Val::Str(key)) => pools.get(map, key).is_some(),
                _ => return Err(malformed()),
            },
            BinaryOp::GetKey => match (a, b) {
                (Val::Map(map), Val::Str(key)) => {
                    return pools.get(map, key).ok_or_else(|| {
                        EvalError::MissingAttribute(format!(
                            "[{:?}]",
                            excerpt(self.text(scratch, key))
                        ))
                        .into()
                    });
                }
                _ => return Err(malformed()),
            },
            // Built in the cold path, which can intern the result.
            BinaryOp::Concat => return Err(malformed()),
            BinaryOp::ContainsAll | BinaryOp::ContainsAny => match (a, b) {
                (Val::Set(all), Val::Set(some)) => {
                    let mut members = pools.slice(some).iter();
                    if op == BinaryOp::ContainsAll {
                        members.all(|m| pools.contains(all, m))
                    } else {
                        members.any(|m| pools.contains(all, m))
                    }
                }
                _ => return Err(malformed()),
            },
        }))
    }

    fn unary(&self, op: UnaryOp, value: Val, scratch: &mut Scratch) -> Result<Val, Fault> {
        let pools = self.pools(scratch);
        let ms = |v: Val| match v {
            Val::Int(n) => Ok(n),
            _ => Err(malformed()),
        };
        Ok(match (op, value) {
            (UnaryOp::Not, Val::Bool(b)) => Val::Bool(!b),
            (UnaryOp::Neg, Val::Int(n)) => Val::Int(n.checked_neg().ok_or(EvalError::Overflow)?),
            (UnaryOp::IsEmpty, Val::Set(s)) => Val::Bool(s.len == 0),
            (UnaryOp::IsEmpty, Val::Map(m)) => Val::Bool(m.len == 0),
            (UnaryOp::Len, Val::Set(s)) => Val::Int(i64::from(s.len)),
            (UnaryOp::Len, Val::Map(m)) => Val::Int(i64::from(m.len / 2)),
            (UnaryOp::Keys, Val::Map(m)) => Val::Set(Slice::new(m.pool(), m.start(), m.len / 2)),
            (UnaryOp::IsIpv4, Val::Ip(net)) => Val::Bool(ip::is_ipv4(&pools.ip(net))),
            (UnaryOp::IsIpv6, Val::Ip(net)) => Val::Bool(!ip::is_ipv4(&pools.ip(net))),
            (UnaryOp::IsLoopback, Val::Ip(net)) => Val::Bool(ip::is_loopback(&pools.ip(net))),
            (UnaryOp::IsMulticast, Val::Ip(net)) => Val::Bool(ip::is_multicast(&pools.ip(net))),
            (UnaryOp::EntityId, Val::Entity(key)) => Val::Str(key.id()),
            (UnaryOp::ParseIp, Val::Str(sym)) => {
                let net = literal::parse_ip(self.text(scratch, sym))
                    .map_err(|e| self.invalid(e.to_string()))?;
                scratch.ips.push(net);
                Val::Ip(IpRef {
                    index: reaper_lang::schema::index_u32(scratch.ips.len() - 1),
                    pool: Pool::Scratch,
                })
            }
            (UnaryOp::ParseDecimal, Val::Str(sym)) => Val::Int(
                literal::parse_decimal(self.text(scratch, sym))
                    .map_err(|e| self.invalid(e.to_string()))?,
            ),
            (UnaryOp::ToDate, v) => Val::Int(time::to_date(ms(v)?).ok_or(EvalError::Overflow)?),
            (UnaryOp::ToTime, v) => Val::Int(time::to_time(ms(v)?)),
            (UnaryOp::DayOfWeek, v) => Val::Int(time::day_of_week(ms(v)?)),
            (UnaryOp::Year, v) => Val::Int(time::civil(ms(v)?).0),
            (UnaryOp::Month, v) => Val::Int(time::civil(ms(v)?).1),
            (UnaryOp::Day, v) => Val::Int(time::civil(ms(v)?).2),
            (UnaryOp::Hour, v) => Val::Int(time::hour(ms(v)?)),
            (UnaryOp::Minute, v) => Val::Int(time::minute(ms(v)?)),
            (UnaryOp::ToDays, v) => Val::Int(time::whole(ms(v)?, 86_400_000)),
            (UnaryOp::ToHours, v) => Val::Int(time::whole(ms(v)?, 3_600_000)),
            (UnaryOp::ToMinutes, v) => Val::Int(time::whole(ms(v)?, 60_000)),
            (UnaryOp::ToSeconds, v) => Val::Int(time::whole(ms(v)?, 1_000)),
            (UnaryOp::ToMilliseconds, v) => Val::Int(ms(v)?),
            _ => return Err(malformed()),
        })
    }

    fn is_in(&self, a: EntityKey, b: EntityKey) -> Result<bool, Fault> {
        Ok(match self.request {
            Some(request) => request.is_in(a, b),
            None => a == b,
        })
    }
}

/// An entity's attribute by slot. Entity data always lives in the request's
/// pool, so this reads it directly.
#[inline(always)]
fn attribute(request: &Request, data: &crate::request::EntityData, slot: u32) -> Option<Val> {
    if slot >= data.attrs.len {
        return None;
    }
    request
        .values
        .get((data.attrs.start() + slot) as usize)
        .copied()
}

/// Whether range `inner` lies within one of the ranges of `set`.
fn within_any(pools: &Pools<'_>, inner: IpRef, set: Slice) -> Result<bool, Fault> {
    let inner = pools.ip(inner);
    for outer in pools.slice(set) {
        let Val::Ip(outer) = outer else {
            return Err(malformed());
        };
        if ip::within(&inner, &pools.ip(*outer)) {
            return Ok(true);
        }
    }
    Ok(false)
}
