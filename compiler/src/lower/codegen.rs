//! Code generation: typed expressions to register code. Registers are
//! allocated like a stack (an expression's temporaries are released when it
//! is done), `&&`/`||`/`if` become forward jumps, constant subexpressions
//! become one `const` load.

use reaper_lang::bytecode::{self, BinaryOp, Function, HttpField, Op, Reg, UnaryOp};
use reaper_lang::value::Value;

use super::fold;
use super::pool::Pool;
use crate::typed::{
    Access, BinOp, Condition, ConditionKind, Expr, ExprKind, RequestField, UnOp, Var,
};

/// Why an expression cannot be lowered (features not in bundles yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

/// Where one condition's code lies: its first instruction, and the
/// `[start, end)` range of each operand of its top-level chain (empty when
/// the clause is not such a chain).
pub struct ClauseCode {
    pub start: u32,
    pub parts: Vec<(u32, u32)>,
}

pub struct FnBuilder<'p> {
    pool: &'p mut Pool,
    code: Vec<Op>,
    next: Reg,
    max: Reg,
}

impl<'p> FnBuilder<'p> {
    pub fn new(pool: &'p mut Pool) -> Self {
        Self {
            pool,
            code: Vec::new(),
            next: 0,
            max: 0,
        }
    }

    fn alloc(&mut self) -> Reg {
        let reg = self.next;
        self.next += 1;
        self.max = self.max.max(self.next);
        reg
    }

    fn release_to(&mut self, mark: Reg) {
        self.next = mark;
    }

    fn emit(&mut self, op: Op) -> usize {
        self.code.push(op);
        self.code.len() - 1
    }

    /// Points the jump at `at` to the next instruction to be emitted.
    fn patch(&mut self, at: usize) {
        let target = reaper_lang::schema::index_u32(self.code.len());
        match &mut self.code[at] {
            Op::Jump { target: t }
            | Op::JumpIfFalse { target: t, .. }
            | Op::JumpIfTrue { target: t, .. } => *t = target,
            _ => {}
        }
    }

    fn finish(mut self, result: Reg) -> Function {
        self.emit(Op::Return { src: result });
        Function {
            registers: self.max.max(1),
            code: self.code,
        }
    }

    /// A function returning whether all `when` conditions hold and no
    /// `unless` condition does, evaluated in order with short-circuit; also,
    /// per condition, its first instruction and those of the operands of its
    /// top-level chain (see [`Condition::parts`]).
    pub fn conditions(
        mut self,
        conditions: &[Condition],
    ) -> Result<(Function, Vec<ClauseCode>), Unsupported> {
        let result = self.alloc();
        if conditions.is_empty() {
            let index = self.pool.constant(&Value::Bool(true));
            self.emit(Op::Const { dst: result, index });
            return Ok((self.finish(result), Vec::new()));
        }
        let mut exits = Vec::new();
        let mut starts = Vec::with_capacity(conditions.len());
        for (i, condition) in conditions.iter().enumerate() {
            let start = reaper_lang::schema::index_u32(self.code.len());
            let parts = self.clause(condition, result)?;
            starts.push(ClauseCode { start, parts });
            if condition.kind == ConditionKind::Unless {
                self.emit(Op::Unary {
                    op: UnaryOp::Not,
                    dst: result,
                    src: result,
                });
            }
            if i + 1 < conditions.len() {
                exits.push(self.emit(Op::JumpIfFalse {
                    cond: result,
                    target: 0,
                }));
            }
        }
        for exit in exits {
            self.patch(exit);
        }
        Ok((self.finish(result), starts))
    }

    /// A clause's code: its top-level chain (`&&` in a `when`, `||` in an
    /// `unless`) one operand after another, each jumping to the clause's end
    /// when it decides, so an explanation can tell which operand did. The
    /// start of each operand, when the clause is such a chain.
    fn clause(&mut self, condition: &Condition, dst: Reg) -> Result<Vec<(u32, u32)>, Unsupported> {
        let chain = match condition.kind {
            ConditionKind::When => BinOp::And,
            ConditionKind::Unless => BinOp::Or,
        };
        let mut operands = Vec::new();
        flatten(&condition.expr, chain, &mut operands);
        if operands.len() < 2
            || operands.len() != condition.parts.len()
            || fold::constant(&condition.expr).is_some()
        {
            self.expr(&condition.expr, dst)?;
            return Ok(Vec::new());
        }
        let mut starts = Vec::with_capacity(operands.len());
        let mut exits = Vec::new();
        for (i, operand) in operands.iter().enumerate() {
            starts.push(reaper_lang::schema::index_u32(self.code.len()));
            self.expr(operand, dst)?;
            if i + 1 < operands.len() {
                exits.push(self.emit(if chain == BinOp::And {
                    Op::JumpIfFalse {
                        cond: dst,
                        target: 0,
                    }
                } else {
                    Op::JumpIfTrue {
                        cond: dst,
                        target: 0,
                    }
                }));
            }
        }
        for exit in exits {
            self.patch(exit);
        }
        let end = reaper_lang::schema::index_u32(self.code.len());
        let ends = starts.iter().skip(1).copied().chain([end]);
        Ok(starts.iter().copied().zip(ends).collect())
    }

    /// A function returning the value of one expression.
    pub fn value(mut self, expr: &Expr) -> Result<Function, Unsupported> {
        let result = self.alloc();
        self.expr(expr, result)?;
        Ok(self.finish(result))
    }

    /// Compiles `expr` so its value ends up in `dst`.
    fn expr(&mut self, expr: &Expr, dst: Reg) -> Result<(), Unsupported> {
        if !matches!(expr.kind, ExprKind::Const(_))
            && let Some(value) = fold::constant(expr)
        {
            let index = self.pool.constant(&value);
            self.emit(Op::Const { dst, index });
            return Ok(());
        }
        let mark = self.next;
        match &expr.kind {
            ExprKind::Const(c) => {
                let index = self.pool.constant(&fold::value_of(c));
                self.emit(Op::Const { dst, index });
            }
            ExprKind::Var(var) => {
                let var = match var {
                    Var::Principal => bytecode::Var::Principal,
                    Var::Action => bytecode::Var::Action,
                    Var::Resource => bytecode::Var::Resource,
                    Var::Context => bytecode::Var::Context,
                    Var::Descriptor => bytecode::Var::Descriptor,
                    // `request` is only read through its fields (`HttpField`).
                    Var::Request => return Err(Unsupported("the `request` variable as a value")),
                };
                self.emit(Op::Var { dst, var });
            }
            ExprKind::Set(items) => {
                let start = self.consecutive(items.iter())?;
                self.emit(Op::Set {
                    dst,
                    start,
                    count: count(items.len()),
                });
            }
            ExprKind::Record(fields) => {
                let start = self.consecutive(fields.iter().map(|(_, e)| e))?;
                self.emit(Op::Record {
                    dst,
                    start,
                    count: count(fields.len()),
                });
            }
            ExprKind::Attr(read) => self.access(&read.base, &read.access, dst, false)?,
            ExprKind::Has(read) => self.access(&read.base, &read.access, dst, true)?,
            ExprKind::Is { base, ty } => {
                self.expr(base, dst)?;
                self.emit(Op::Is {
                    dst,
                    src: dst,
                    ty: *ty,
                });
            }
            ExprKind::Like { base, pattern } => {
                self.expr(base, dst)?;
                let pattern = self.pool.pattern(fold::lower_pattern(pattern));
                self.emit(Op::Like {
                    dst,
                    src: dst,
                    pattern,
                });
            }
            ExprKind::Unary { op, operand } => {
                self.expr(operand, dst)?;
                self.emit(Op::Unary {
                    op: unary(*op),
                    dst,
                    src: dst,
                });
            }
            ExprKind::Binary {
                op: BinOp::And,
                lhs,
                rhs,
            } => self.short_circuit(lhs, rhs, dst, false)?,
            ExprKind::Binary {
                op: BinOp::Or,
                lhs,
                rhs,
            } => self.short_circuit(lhs, rhs, dst, true)?,
            ExprKind::Binary { op, lhs, rhs } => {
                let op_code = binary(*op).ok_or(Unsupported(
                    "a short-circuit operator outside its jump form",
                ))?;
                // A constant operand is read straight from the pool.
                if let Some(value) = fold::constant(rhs) {
                    self.expr(lhs, dst)?;
                    let index = self.pool.constant(&value);
                    self.emit(Op::BinaryConst {
                        op: op_code,
                        dst,
                        a: dst,
                        index,
                    });
                    self.release_to(mark);
                    return Ok(());
                }
                if let Some(value) = fold::constant(lhs) {
                    self.expr(rhs, dst)?;
                    let index = self.pool.constant(&value);
                    self.emit(Op::ConstBinary {
                        op: op_code,
                        dst,
                        index,
                        b: dst,
                    });
                    self.release_to(mark);
                    return Ok(());
                }
                self.expr(lhs, dst)?;
                let b = self.alloc();
                self.expr(rhs, b)?;
                self.emit(Op::Binary {
                    op: op_code,
                    dst,
                    a: dst,
                    b,
                });
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, dst)?;
                let to_else = self.emit(Op::JumpIfFalse {
                    cond: dst,
                    target: 0,
                });
                self.expr(then, dst)?;
                let to_end = self.emit(Op::Jump { target: 0 });
                self.patch(to_else);
                self.expr(otherwise, dst)?;
                self.patch(to_end);
            }
            ExprKind::DynEntity { ty, id } => {
                self.expr(id, dst)?;
                self.emit(Op::MakeEntity {
                    dst,
                    src: dst,
                    ty: *ty,
                });
            }
            ExprKind::Header(name) => {
                let name = self.pool.string(name);
                self.emit(Op::Header { dst, name });
            }
            ExprKind::HasHeader(name) => {
                let name = self.pool.string(name);
                self.emit(Op::HasHeader { dst, name });
            }
            ExprKind::Param(name) => {
                let name = self.pool.string(name);
                self.emit(Op::Param { dst, name });
            }
            ExprKind::Error => return Err(Unsupported("an expression with errors")),
        }
        self.release_to(mark);
        Ok(())
    }

    /// `lhs && rhs` (or `||` when `on` is true): skip `rhs` when `lhs`
    /// already decides.
    fn short_circuit(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        dst: Reg,
        on: bool,
    ) -> Result<(), Unsupported> {
        match fold::constant(lhs) {
            // A constant left side either decides (folded by the caller) or
            // leaves the right side as the whole value.
            Some(Value::Bool(b)) if b != on => return self.expr(rhs, dst),
            _ => {}
        }
        self.expr(lhs, dst)?;
        let skip = if on {
            self.emit(Op::JumpIfTrue {
                cond: dst,
                target: 0,
            })
        } else {
            self.emit(Op::JumpIfFalse {
                cond: dst,
                target: 0,
            })
        };
        self.expr(rhs, dst)?;
        self.patch(skip);
        Ok(())
    }

    /// Compiles expressions into consecutive fresh registers; returns the first.
    fn consecutive<'e>(
        &mut self,
        exprs: impl Iterator<Item = &'e Expr>,
    ) -> Result<Reg, Unsupported> {
        let exprs: Vec<&Expr> = exprs.collect();
        let start = self.next;
        let regs: Vec<Reg> = exprs.iter().map(|_| self.alloc()).collect();
        for (expr, reg) in exprs.iter().zip(regs) {
            self.expr(expr, reg)?;
        }
        Ok(start)
    }

    fn access(
        &mut self,
        base: &Expr,
        access: &Access,
        dst: Reg,
        has: bool,
    ) -> Result<(), Unsupported> {
        match access {
            Access::Descriptor { key } => {
                let key = self.pool.string(key);
                self.emit(if has {
                    Op::HasEntry { dst, key }
                } else {
                    Op::Entry { dst, key }
                });
            }
            Access::Context { slots } => {
                // Always through the table, even when the listed actions
                // agree on a slot: the rule's other actions lack the field,
                // and the table is what says so (a plain read would find
                // whatever field they have at that slot).
                let table = self.pool.context_table(slots);
                self.emit(if has {
                    Op::ContextHasFieldOf { dst, table }
                } else {
                    Op::ContextFieldOf { dst, table }
                });
            }
            Access::Record { slot } if matches!(base.kind, ExprKind::Var(Var::Context)) => {
                let slot = *slot;
                self.emit(if has {
                    Op::ContextHasField { dst, slot }
                } else {
                    Op::ContextField { dst, slot }
                });
            }
            Access::Entity { slots }
                if matches!(base.kind, ExprKind::Var(Var::Principal | Var::Resource)) =>
            {
                let var = if matches!(base.kind, ExprKind::Var(Var::Principal)) {
                    bytecode::Var::Principal
                } else {
                    bytecode::Var::Resource
                };
                let table = self.pool.attr_table(slots);
                self.emit(if has {
                    Op::HasAttrOf { dst, var, table }
                } else {
                    Op::AttrOf { dst, var, table }
                });
            }
            Access::Record { slot } => {
                self.expr(base, dst)?;
                let slot = *slot;
                self.emit(if has {
                    Op::HasField {
                        dst,
                        src: dst,
                        slot,
                    }
                } else {
                    Op::Field {
                        dst,
                        src: dst,
                        slot,
                    }
                });
            }
            Access::Entity { slots } => {
                self.expr(base, dst)?;
                let table = self.pool.attr_table(slots);
                self.emit(if has {
                    Op::HasAttr {
                        dst,
                        src: dst,
                        table,
                    }
                } else {
                    Op::Attr {
                        dst,
                        src: dst,
                        table,
                    }
                });
            }
            Access::Request(field) => {
                let field = match field {
                    RequestField::Method => HttpField::Method,
                    RequestField::Path => HttpField::Path,
                    RequestField::Host => HttpField::Host,
                    RequestField::SourceIp => HttpField::SourceIp,
                    RequestField::Time => HttpField::Time,
                };
                self.emit(Op::HttpField { dst, field });
            }
        }
        Ok(())
    }
}

fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn unary(op: UnOp) -> UnaryOp {
    match op {
        UnOp::Not => UnaryOp::Not,
        UnOp::Neg => UnaryOp::Neg,
        UnOp::IsEmpty => UnaryOp::IsEmpty,
        UnOp::Len => UnaryOp::Len,
        UnOp::IsIpv4 => UnaryOp::IsIpv4,
        UnOp::IsIpv6 => UnaryOp::IsIpv6,
        UnOp::IsLoopback => UnaryOp::IsLoopback,
        UnOp::IsMulticast => UnaryOp::IsMulticast,
        UnOp::EntityId => UnaryOp::EntityId,
        UnOp::ParseIp => UnaryOp::ParseIp,
        UnOp::ParseDecimal => UnaryOp::ParseDecimal,
        UnOp::ToDate => UnaryOp::ToDate,
        UnOp::ToTime => UnaryOp::ToTime,
        UnOp::DayOfWeek => UnaryOp::DayOfWeek,
        UnOp::Year => UnaryOp::Year,
        UnOp::Month => UnaryOp::Month,
        UnOp::Day => UnaryOp::Day,
        UnOp::Hour => UnaryOp::Hour,
        UnOp::Minute => UnaryOp::Minute,
        UnOp::ToDays => UnaryOp::ToDays,
        UnOp::ToHours => UnaryOp::ToHours,
        UnOp::ToMinutes => UnaryOp::ToMinutes,
        UnOp::ToSeconds => UnaryOp::ToSeconds,
        UnOp::ToMilliseconds => UnaryOp::ToMilliseconds,
        UnOp::Keys => UnaryOp::Keys,
    }
}

/// The instruction of a strict binary operator; `&&` and `||` have none,
/// as they compile to jumps.
fn binary(op: BinOp) -> Option<BinaryOp> {
    Some(match op {
        BinOp::Eq => BinaryOp::Eq,
        BinOp::Ne => BinaryOp::Ne,
        BinOp::Lt => BinaryOp::Lt,
        BinOp::Le => BinaryOp::Le,
        BinOp::Gt => BinaryOp::Gt,
        BinOp::Ge => BinaryOp::Ge,
        BinOp::Add => BinaryOp::Add,
        BinOp::Sub => BinaryOp::Sub,
        BinOp::Mul => BinaryOp::Mul,
        BinOp::InEntity => BinaryOp::InEntity,
        BinOp::InEntitySet => BinaryOp::InEntitySet,
        BinOp::InSet => BinaryOp::InSet,
        BinOp::InRange => BinaryOp::InRange,
        BinOp::InRanges => BinaryOp::InRanges,
        BinOp::ContainsAll => BinaryOp::ContainsAll,
        BinOp::ContainsAny => BinaryOp::ContainsAny,
        BinOp::ContainsAllRanges => BinaryOp::ContainsAllRanges,
        BinOp::ContainsAnyRanges => BinaryOp::ContainsAnyRanges,
        BinOp::Concat => BinaryOp::Concat,
        BinOp::StartsWith => BinaryOp::StartsWith,
        BinOp::EndsWith => BinaryOp::EndsWith,
        BinOp::ContainsText => BinaryOp::ContainsText,
        BinOp::HasKey => BinaryOp::HasKey,
        BinOp::GetKey => BinaryOp::GetKey,
        BinOp::And | BinOp::Or => return None,
    })
}

/// The operands of a chain of `op` in a typed expression (`&&` nodes
/// nest to the left; the typed tree has no parentheses).
fn flatten<'e>(expr: &'e Expr, op: BinOp, out: &mut Vec<&'e Expr>) {
    match &expr.kind {
        ExprKind::Binary { op: o, lhs, rhs } if *o == op => {
            flatten(lhs, op, out);
            flatten(rhs, op, out);
        }
        _ => out.push(expr),
    }
}
