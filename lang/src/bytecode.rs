//! The instruction set: a register machine with forward-only jumps, so every
//! function runs each instruction at most once and evaluation always
//! terminates. `docs/bytecode.md` documents each instruction.

use serde::{Deserialize, Serialize};

use crate::types::EntityTypeId;

/// A register of the current function's frame.
pub type Reg = u16;

/// The most registers a function may use. Expressions are at most 256
/// levels deep, so codegen needs far fewer.
pub const MAX_REGISTERS: u16 = 1024;

/// A request variable an instruction can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Var {
    Principal,
    Action,
    Resource,
    Context,
    Descriptor,
}

impl Var {
    pub fn name(self) -> &'static str {
        match self {
            Var::Principal => "principal",
            Var::Action => "action",
            Var::Resource => "resource",
            Var::Context => "context",
            Var::Descriptor => "descriptor",
        }
    }
}

/// A field of the HTTP request seen by the http mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpField {
    Method,
    Path,
    Host,
    SourceIp,
    Time,
}

impl HttpField {
    pub fn name(self) -> &'static str {
        match self {
            HttpField::Method => "method",
            HttpField::Path => "path",
            HttpField::Host => "host",
            HttpField::SourceIp => "source_ip",
            HttpField::Time => "time",
        }
    }
}

/// Two-operand instructions: `dst = a OP b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    Eq,
    Ne,
    /// Ordering of Int, Duration and Timestamp (all 64-bit integers).
    Lt,
    Le,
    Gt,
    Ge,
    /// Checked 64-bit arithmetic: overflow is a run-time error.
    Add,
    Sub,
    Mul,
    /// Entity `in` entity: equal, or an ancestor in the request's data.
    InEntity,
    /// Entity `in` a set of entities.
    InEntitySet,
    /// Value `in` set: membership.
    InSet,
    /// Ip `in` Ip: the left range lies within the right one.
    InRange,
    /// Ip `in` a set of Ips: the left range lies within one of them.
    InRanges,
    /// Every element of the right set is in the left one.
    ContainsAll,
    /// Some element of the right set is in the left one.
    ContainsAny,
    /// `ContainsAll` for sets of Ips: every range of the right set lies
    /// within a range of the left one.
    ContainsAllRanges,
    /// `ContainsAny` for sets of Ips.
    ContainsAnyRanges,
    /// String `+` String.
    Concat,
    /// `a.starts_with(b)` on strings.
    StartsWith,
    /// `a.ends_with(b)` on strings.
    EndsWith,
    /// `a.contains(b)` on strings: `b` occurs in `a`.
    ContainsText,
    /// `m.contains_key(k)` on a map.
    HasKey,
    /// `m.get(k)` on a map; an absent key is an error.
    GetKey,
}

impl BinaryOp {
    pub fn mnemonic(self) -> &'static str {
        match self {
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::InEntity => "in.entity",
            BinaryOp::InEntitySet => "in.entities",
            BinaryOp::InSet => "in.set",
            BinaryOp::InRange => "in.range",
            BinaryOp::InRanges => "in.ranges",
            BinaryOp::ContainsAll => "contains.all",
            BinaryOp::ContainsAny => "contains.any",
            BinaryOp::ContainsAllRanges => "contains.all.ranges",
            BinaryOp::ContainsAnyRanges => "contains.any.ranges",
            BinaryOp::Concat => "concat",
            BinaryOp::StartsWith => "starts_with",
            BinaryOp::EndsWith => "ends_with",
            BinaryOp::ContainsText => "contains.text",
            BinaryOp::HasKey => "has.key",
            BinaryOp::GetKey => "get.key",
        }
    }
}

/// One-operand instructions: `dst = OP src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    Not,
    /// Checked negation: negating the smallest Int is an error.
    Neg,
    /// Of a set or a map.
    IsEmpty,
    /// Elements of a set, entries of a map.
    Len,
    IsIpv4,
    IsIpv6,
    IsLoopback,
    IsMulticast,
    /// An entity reference's id, as a String.
    EntityId,
    /// `ip(s)` of a computed String; text that is not an address or range
    /// is an error (in a rate limit: the limit does not apply).
    ParseIp,
    /// `decimal(s)` of a computed String, failing like `ParseIp`.
    ParseDecimal,
    /// Timestamp to the midnight (UTC) that starts its day.
    ToDate,
    /// Timestamp to the Duration since its midnight (UTC).
    ToTime,
    /// Timestamp to its ISO day of the week (1 Monday … 7 Sunday).
    DayOfWeek,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    /// Duration to whole days, truncated toward zero.
    ToDays,
    ToHours,
    ToMinutes,
    ToSeconds,
    ToMilliseconds,
    /// A map's keys, as a set.
    Keys,
}

impl UnaryOp {
    pub fn mnemonic(self) -> &'static str {
        match self {
            UnaryOp::Not => "not",
            UnaryOp::Neg => "neg",
            UnaryOp::IsEmpty => "is_empty",
            UnaryOp::Len => "len",
            UnaryOp::IsIpv4 => "is_ipv4",
            UnaryOp::IsIpv6 => "is_ipv6",
            UnaryOp::IsLoopback => "is_loopback",
            UnaryOp::IsMulticast => "is_multicast",
            UnaryOp::EntityId => "id",
            UnaryOp::ParseIp => "parse.ip",
            UnaryOp::ParseDecimal => "parse.decimal",
            UnaryOp::ToDate => "to_date",
            UnaryOp::ToTime => "to_time",
            UnaryOp::DayOfWeek => "day_of_week",
            UnaryOp::Year => "year",
            UnaryOp::Month => "month",
            UnaryOp::Day => "day",
            UnaryOp::Hour => "hour",
            UnaryOp::Minute => "minute",
            UnaryOp::ToDays => "to_days",
            UnaryOp::ToHours => "to_hours",
            UnaryOp::ToMinutes => "to_minutes",
            UnaryOp::ToSeconds => "to_seconds",
            UnaryOp::ToMilliseconds => "to_milliseconds",
            UnaryOp::Keys => "keys",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `dst = constants[index]`
    Const {
        dst: Reg,
        index: u32,
    },
    /// `dst = var`
    Var {
        dst: Reg,
        var: Var,
    },
    /// `dst = src.field` for a record in `src`. Reading an absent field is
    /// an error.
    Field {
        dst: Reg,
        src: Reg,
        slot: u32,
    },
    /// `dst = src has field` for a record in `src`.
    HasField {
        dst: Reg,
        src: Reg,
        slot: u32,
    },
    /// `dst = src.attr` for an entity in `src`: `table` gives the slot for
    /// each entity type. A missing entity, an entity of a type not in the
    /// table, or an absent attribute is an error.
    Attr {
        dst: Reg,
        src: Reg,
        table: u32,
    },
    /// `dst = src has attr` for an entity in `src`: false for a missing
    /// entity or a type not in the table.
    HasAttr {
        dst: Reg,
        src: Reg,
        table: u32,
    },
    /// `dst = var.attr` for `principal` or `resource`: `Attr` on a variable,
    /// in one instruction (the most common read).
    AttrOf {
        dst: Reg,
        var: Var,
        table: u32,
    },
    /// `dst = var has attr` for `principal` or `resource`.
    HasAttrOf {
        dst: Reg,
        var: Var,
        table: u32,
    },
    /// `dst = context.field`: `Field` on the context, in one instruction.
    ContextField {
        dst: Reg,
        slot: u32,
    },
    /// `dst = context has field`.
    ContextHasField {
        dst: Reg,
        slot: u32,
    },
    /// `dst = context.field` when the field's slot depends on the action
    /// (actions with context records of their own): `table` gives the slot
    /// for each action. An action not in the table, or an absent field, is
    /// an error.
    ContextFieldOf {
        dst: Reg,
        table: u32,
    },
    /// `dst = context has field`, by action: false for an action not in
    /// the table.
    ContextHasFieldOf {
        dst: Reg,
        table: u32,
    },
    /// `dst = a OP constants[index]`.
    BinaryConst {
        op: BinaryOp,
        dst: Reg,
        a: Reg,
        index: u32,
    },
    /// `dst = constants[index] OP b`.
    ConstBinary {
        op: BinaryOp,
        dst: Reg,
        index: u32,
        b: Reg,
    },
    /// `dst = descriptor[key]`; an absent key makes the whole limit not
    /// apply (it is not an error).
    Entry {
        dst: Reg,
        key: u32,
    },
    /// `dst = descriptor has key`
    HasEntry {
        dst: Reg,
        key: u32,
    },
    /// `dst = src is ty`
    Is {
        dst: Reg,
        src: Reg,
        ty: EntityTypeId,
    },
    /// `dst = ty::(src)`: an entity reference from a computed id (http only).
    MakeEntity {
        dst: Reg,
        src: Reg,
        ty: EntityTypeId,
    },
    /// `dst = request.field` of the HTTP request (http only).
    HttpField {
        dst: Reg,
        field: HttpField,
    },
    /// `dst = header(name)`; an absent header is an error (http only).
    Header {
        dst: Reg,
        name: u32,
    },
    /// `dst = has_header(name)` (http only).
    HasHeader {
        dst: Reg,
        name: u32,
    },
    /// `dst = param(name)`: a path parameter of the matched route.
    Param {
        dst: Reg,
        name: u32,
    },
    /// `dst = src like patterns[pattern]`
    Like {
        dst: Reg,
        src: Reg,
        pattern: u32,
    },
    Unary {
        op: UnaryOp,
        dst: Reg,
        src: Reg,
    },
    Binary {
        op: BinaryOp,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `dst = [start, start+1, …, start+count-1]`: a set of register values.
    Set {
        dst: Reg,
        start: Reg,
        count: u16,
    },
    /// `dst = {…}`: a record whose slots are `count` registers from `start`.
    Record {
        dst: Reg,
        start: Reg,
        count: u16,
    },
    /// Continue at `target`, which is after this instruction.
    Jump {
        target: u32,
    },
    /// Continue at `target` (forward) if `cond` is false.
    JumpIfFalse {
        cond: Reg,
        target: u32,
    },
    /// Continue at `target` (forward) if `cond` is true.
    JumpIfTrue {
        cond: Reg,
        target: u32,
    },
    /// End the function with `src` as its result.
    Return {
        src: Reg,
    },
}

impl Op {
    /// Every register the instruction reads, then the one it writes.
    pub fn registers(&self) -> (Vec<Reg>, Option<Reg>) {
        match *self {
            Op::Const { dst, .. }
            | Op::Var { dst, .. }
            | Op::Entry { dst, .. }
            | Op::HasEntry { dst, .. }
            | Op::HttpField { dst, .. }
            | Op::Header { dst, .. }
            | Op::HasHeader { dst, .. }
            | Op::Param { dst, .. }
            | Op::AttrOf { dst, .. }
            | Op::HasAttrOf { dst, .. }
            | Op::ContextField { dst, .. }
            | Op::ContextHasField { dst, .. }
            | Op::ContextFieldOf { dst, .. }
            | Op::ContextHasFieldOf { dst, .. } => (Vec::new(), Some(dst)),
            Op::BinaryConst { dst, a, .. } => (vec![a], Some(dst)),
            Op::ConstBinary { dst, b, .. } => (vec![b], Some(dst)),
            Op::Field { dst, src, .. }
            | Op::HasField { dst, src, .. }
            | Op::Attr { dst, src, .. }
            | Op::HasAttr { dst, src, .. }
            | Op::Is { dst, src, .. }
            | Op::MakeEntity { dst, src, .. }
            | Op::Like { dst, src, .. }
            | Op::Unary { dst, src, .. } => (vec![src], Some(dst)),
            Op::Binary { dst, a, b, .. } => (vec![a, b], Some(dst)),
            Op::Set { dst, start, count } | Op::Record { dst, start, count } => (
                (0..count).map(|i| start.saturating_add(i)).collect(),
                Some(dst),
            ),
            Op::Jump { .. } => (Vec::new(), None),
            Op::JumpIfFalse { cond, .. } | Op::JumpIfTrue { cond, .. } => (vec![cond], None),
            Op::Return { src } => (vec![src], None),
        }
    }

    /// The jump target, for instructions that jump.
    pub fn target(&self) -> Option<u32> {
        match *self {
            Op::Jump { target }
            | Op::JumpIfFalse { target, .. }
            | Op::JumpIfTrue { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// A compiled function: a frame size and straight-line code with forward
/// jumps, ending in `Return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub registers: u16,
    pub code: Vec<Op>,
}
