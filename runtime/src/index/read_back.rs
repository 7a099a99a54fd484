//! Reading a rule's verified bytecode back into the tests it starts with:
//! an `&&` chain (whatever code follows it) or a whole `||` chain, each test
//! a read, maybe an operator, maybe negated. Only code whose every path is
//! accounted for is read; anything else leaves the rule linear.

use reaper_lang::bytecode::{BinaryOp, Function, Op, Reg, UnaryOp};

use super::{Atom, AtomTest, Shape};
use crate::engine::{GuardOperand, GuardRead, GuardTest};

/// Whether a value leaving `at` in `reg` reaches `ret reg` unchanged,
/// through jumps on it: `on` is the value (jumps taken when it matches).
fn reaches_return(code: &[Op], mut at: usize, reg: Reg, on: bool) -> bool {
    // Jumps go forward (the verifier checks it); the bound is for safety.
    for _ in 0..=code.len() {
        match code.get(at) {
            Some(Op::Return { src }) => return *src == reg,
            Some(Op::JumpIfFalse { cond, target }) if *cond == reg => {
                at = if on { at + 1 } else { *target as usize };
            }
            Some(Op::JumpIfTrue { cond, target }) if *cond == reg => {
                at = if on { *target as usize } else { at + 1 };
            }
            _ => return false,
        }
    }
    false
}

/// The operators that give a Bool and never fail but for their operands'
/// kinds.
fn is_test(op: BinaryOp) -> bool {
    !matches!(
        op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Concat | BinaryOp::GetKey
    )
}

/// The test starting at `at`: the atom, its result register, and where the
/// code goes on.
fn atom_at(code: &[Op], at: usize) -> Option<(Atom, Reg, usize)> {
    let (read, first) = GuardRead::of(*code.get(at)?)?;
    let binary = |op, other, other_first| {
        AtomTest::Binary(GuardTest {
            op,
            other,
            other_first,
        })
    };
    let (test, mut dst, mut next) = match *code.get(at + 1)? {
        Op::BinaryConst { op, dst, a, index } if a == first && is_test(op) => (
            binary(op, GuardOperand::Constant(index), false),
            dst,
            at + 2,
        ),
        Op::ConstBinary { op, dst, index, b } if b == first && is_test(op) => {
            (binary(op, GuardOperand::Constant(index), true), dst, at + 2)
        }
        Op::Like { dst, src, pattern } if src == first => (AtomTest::Like(pattern), dst, at + 2),
        Op::Is { dst, src, ty } if src == first => (AtomTest::Is(ty.0), dst, at + 2),
        second => match (GuardRead::of(second), code.get(at + 2)) {
            (Some((other, o)), Some(Op::Binary { op, dst, a, b }))
                if o != first && is_test(*op) && (*a, *b) == (first, o) =>
            {
                (binary(*op, GuardOperand::Read(other), false), *dst, at + 3)
            }
            (Some((other, o)), Some(Op::Binary { op, dst, a, b }))
                if o != first && is_test(*op) && (*a, *b) == (o, first) =>
            {
                (binary(*op, GuardOperand::Read(other), true), *dst, at + 3)
            }
            _ => (AtomTest::Value, first, at + 1),
        },
    };
    let mut negate = false;
    if let Some(Op::Unary {
        op: UnaryOp::Not,
        dst: negated,
        src,
    }) = code.get(next)
        && *src == dst
    {
        negate = true;
        dst = *negated;
        next += 1;
    }
    Some((Atom { read, test, negate }, dst, next))
}

/// Reads the function back into the chain of tests it starts with.
pub(super) fn shape(function: &Function) -> Option<Shape> {
    let code = &function.code[..];
    let mut atoms = Vec::new();
    // None until the first jump says which chain this is.
    let mut any: Option<bool> = None;
    let mut at = 0;
    while let Some((atom, dst, next)) = atom_at(code, at) {
        match code.get(next) {
            Some(Op::Return { src }) if *src == dst => {
                atoms.push(atom);
                return Some(if any == Some(true) {
                    Shape::Any(atoms)
                } else {
                    Shape::All(atoms)
                });
            }
            Some(Op::JumpIfFalse { cond, target })
                if *cond == dst
                    && any != Some(true)
                    && reaches_return(code, *target as usize, dst, false) =>
            {
                any = Some(false);
            }
            Some(Op::JumpIfTrue { cond, target })
                if *cond == dst
                    && any != Some(false)
                    && reaches_return(code, *target as usize, dst, true) =>
            {
                any = Some(true);
            }
            _ => break,
        }
        atoms.push(atom);
        at = next + 1;
    }
    // An `&&` chain may end in code the index does not read; a `||` may not.
    (any == Some(false) && !atoms.is_empty()).then_some(Shape::All(atoms))
}
