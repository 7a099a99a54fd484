//! Which limits of a domain can apply to a descriptor, found once at load
//! from each limit's code, so that a descriptor tries only those (issue 8:
//! 100 limits against 100 descriptors used to run 10,000 limit functions).
//!
//! A limit is filed under the one descriptor requirement its code makes
//! first, when that requirement is certain to end the limit as *not
//! applying* (never as an error) when unmet:
//!
//! - its condition starts `entry k` (`descriptor.k`): without `k` the VM
//!   stops at once with "not applicable". If it then compares the entry
//!   with a string constant `c` (`descriptor.k == "c"`) and a false result
//!   travels untouched to the function's `ret`, the limit is filed under
//!   `(k, c)`: it applies only when `k`'s first value is `c`;
//! - its condition starts `has.entry k` and a false result travels
//!   untouched to `ret` (`descriptor has k && …`): filed under `k`;
//! - it has no condition and its first key starts `entry k`
//!   (`by descriptor.k`): filed under `k`.
//!
//! Every other limit is tried for every descriptor. A condition that can
//! fail for another reason (reading an entity attribute) is never looked
//! past, so errors are reported exactly as before.
//!
//! **Invariant:** for every descriptor, the limits the index skips are
//! exactly limits whose evaluation would end "not applicable"; candidates
//! are visited in declaration order. The compiler's differential test
//! checks `matching_limits` (which uses the index) against the reference
//! evaluator, which tries every limit.

use reaper_lang::bundle::{Bundle, Constant};
use reaper_lang::bytecode::{BinaryOp, Op};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::value::Sym;

/// The limits a descriptor must try, in declaration order.
pub(crate) type Candidates = SmallVec<[u32; 16]>;

/// One domain's limits filed by the descriptor data they need.
#[derive(Debug, Default)]
pub(crate) struct LimitIndex {
    /// Limits with no requirement found: tried for every descriptor.
    always: Box<[u32]>,
    /// Limits that apply only if the descriptor has the key.
    by_key: FxHashMap<Sym, Box<[u32]>>,
    /// Limits that apply only if the key's first value is the string.
    by_value: FxHashMap<(Sym, Sym), Box<[u32]>>,
    /// The keys of `by_value`, so that other values are never looked up.
    value_keys: SmallVec<[Sym; 4]>,
}

/// Up to this many limits in a domain, every descriptor tries them all:
/// looking the descriptor's keys up costs more than the few evaluations
/// it could save.
const FEW_LIMITS: usize = 4;

/// What a limit needs of a descriptor to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    Key(Sym),
    Value(Sym, Sym),
}

impl LimitIndex {
    /// The index of one domain's limits: `(condition, keys)` functions.
    pub(crate) fn new<'a>(
        bundle: &Bundle,
        limits: impl IntoIterator<Item = (Option<u32>, &'a [u32])>,
    ) -> Self {
        let limits: Vec<_> = limits.into_iter().collect();
        if limits.len() <= FEW_LIMITS {
            return LimitIndex {
                always: (0..reaper_lang::schema::index_u32(limits.len())).collect(),
                ..LimitIndex::default()
            };
        }
        let mut always = Vec::new();
        let mut by_key: FxHashMap<Sym, Vec<u32>> = FxHashMap::default();
        let mut by_value: FxHashMap<(Sym, Sym), Vec<u32>> = FxHashMap::default();
        for (index, (condition, keys)) in limits.into_iter().enumerate() {
            let index = reaper_lang::schema::index_u32(index);
            match need(bundle, condition, keys) {
                Need::Nothing => always.push(index),
                Need::Key(key) => by_key.entry(key).or_default().push(index),
                Need::Value(key, value) => by_value.entry((key, value)).or_default().push(index),
            }
        }
        let mut value_keys: SmallVec<[Sym; 4]> = by_value.keys().map(|(k, _)| *k).collect();
        value_keys.sort_unstable();
        value_keys.dedup();
        LimitIndex {
            always: always.into(),
            by_key: by_key.into_iter().map(|(k, v)| (k, v.into())).collect(),
            by_value: by_value.into_iter().map(|(k, v)| (k, v.into())).collect(),
            value_keys,
        }
    }

    /// The limits a descriptor must try, into `out`: `keys[i]` is entry
    /// `i`'s key symbol (`Sym::MAX` for keys no limit reads) and `value(i)`
    /// the symbol of its value, if the bundle has that string.
    pub(crate) fn candidates(
        &self,
        keys: &[Sym],
        value: impl Fn(usize) -> Option<Sym>,
        out: &mut Candidates,
    ) {
        out.clear();
        out.extend_from_slice(&self.always);
        if self.by_key.is_empty() && self.by_value.is_empty() {
            return;
        }
        let mut sources = usize::from(!self.always.is_empty());
        for (i, key) in keys.iter().enumerate() {
            // Limits read a key's first entry only.
            if *key == Sym::MAX || keys[..i].contains(key) {
                continue;
            }
            if let Some(limits) = self.by_key.get(key) {
                out.extend_from_slice(limits);
                sources += 1;
            }
            if self.value_keys.contains(key)
                && let Some(limits) = value(i).and_then(|v| self.by_value.get(&(*key, v)))
            {
                out.extend_from_slice(limits);
                sources += 1;
            }
        }
        // Each list is sorted and a limit is filed once: merging is sorting.
        if sources > 1 {
            out.sort_unstable();
        }
    }
}

/// What the limit with this condition and these keys needs to apply.
fn need(bundle: &Bundle, condition: Option<u32>, keys: &[u32]) -> Need {
    let code = |function: u32| {
        bundle
            .functions
            .get(function as usize)
            .map_or(&[][..], |f| f.code.as_slice())
    };
    let Some(condition) = condition else {
        return match keys.first().map(|f| code(*f).first()) {
            Some(Some(Op::Entry { key, .. })) => Need::Key(*key),
            _ => Need::Nothing,
        };
    };
    let code = code(condition);
    match code {
        [Op::Entry { dst, key }, rest @ ..] => {
            let compared = match rest.first() {
                Some(Op::BinaryConst {
                    op: BinaryOp::Eq,
                    dst: result,
                    a,
                    index,
                }) if a == dst => Some((*result, *index)),
                Some(Op::ConstBinary {
                    op: BinaryOp::Eq,
                    dst: result,
                    index,
                    b,
                }) if b == dst => Some((*result, *index)),
                _ => None,
            };
            match compared {
                Some((result, index)) if false_returns(code, 2, result) => {
                    match bundle.constants.get(index as usize) {
                        Some(Constant::String(value)) => Need::Value(*key, *value),
                        _ => Need::Key(*key),
                    }
                }
                _ => Need::Key(*key),
            }
        }
        [Op::HasEntry { dst, key }, ..] if false_returns(code, 1, *dst) => Need::Key(*key),
        _ => Need::Nothing,
    }
}

/// Whether a false value in `register`, from instruction `at` on, reaches
/// `ret` of that register untouched: through jumps on it only (forward
/// ones, so the walk ends even in a bundle the verifier let through).
fn false_returns(code: &[Op], mut at: usize, register: u16) -> bool {
    loop {
        match code.get(at) {
            Some(Op::Return { src }) => return *src == register,
            Some(Op::JumpIfFalse { cond, target })
                if *cond == register && *target as usize > at =>
            {
                at = *target as usize;
            }
            Some(Op::JumpIfTrue { cond, .. }) if *cond == register => at += 1,
            _ => return false,
        }
    }
}
