//! The VM's values: small and `Copy`. Strings are interned symbols, entity
//! references are packed into one `u64`, and sets and records are slices of
//! one of three pools (the bundle's constants, the request's values, or
//! values built during evaluation), so moving a value never allocates.

use std::cmp::Ordering;

use ipnet::IpNet;

/// An interned string: an index into the bundle's strings, or past them
/// into the strings of the request being evaluated.
pub type Sym = u32;

/// An entity reference: its type in the high half, its id symbol in the low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey(pub u64);

impl EntityKey {
    pub fn new(ty: u32, id: Sym) -> Self {
        Self((u64::from(ty) << 32) | u64::from(id))
    }

    pub fn ty(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn id(self) -> Sym {
        (self.0 & 0xffff_ffff) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Const,
    Request,
    Scratch,
}

/// A run of values in a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub pool: Pool,
    pub start: u32,
    pub len: u32,
}

impl Slice {
    pub const EMPTY: Slice = Slice {
        pool: Pool::Const,
        start: 0,
        len: 0,
    };
}

#[derive(Debug, Clone, Copy)]
pub enum Val {
    Bool(bool),
    /// Int, Duration and Timestamp: the checker keeps them apart.
    Int(i64),
    Str(Sym),
    Entity(EntityKey),
    Action(u32),
    Ip(IpNet),
    /// Sorted by [`Pools::cmp`] and free of duplicates.
    Set(Slice),
    /// One value per field of its record type, `Absent` for a missing one.
    Record(Slice),
    /// An optional field or attribute that is not there.
    Absent,
}

/// The three pools values may point into.
#[derive(Clone, Copy)]
pub struct Pools<'a> {
    pub constants: &'a [Val],
    pub request: &'a [Val],
    pub scratch: &'a [Val],
}

impl<'a> Pools<'a> {
    /// The values of a slice. Slices are built by this crate over pools of
    /// the same evaluation, so they are in range; an out-of-range slice
    /// (impossible by construction) reads as empty rather than panicking.
    pub fn slice(&self, s: Slice) -> &'a [Val] {
        let pool = match s.pool {
            Pool::Const => self.constants,
            Pool::Request => self.request,
            Pool::Scratch => self.scratch,
        };
        let start = s.start as usize;
        pool.get(start..start + s.len as usize).unwrap_or(&[])
    }

    /// A total order on values: by kind, then by content. Strings order by
    /// symbol, which is consistent within one evaluation (equal strings have
    /// equal symbols), which is all sets need.
    pub fn cmp(&self, a: &Val, b: &Val) -> Ordering {
        match (a, b) {
            (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
            (Val::Int(x), Val::Int(y)) => x.cmp(y),
            (Val::Str(x), Val::Str(y)) | (Val::Action(x), Val::Action(y)) => x.cmp(y),
            (Val::Entity(x), Val::Entity(y)) => x.cmp(y),
            (Val::Ip(x), Val::Ip(y)) => x.cmp(y),
            (Val::Set(x), Val::Set(y)) | (Val::Record(x), Val::Record(y)) => {
                let (xs, ys) = (self.slice(*x), self.slice(*y));
                for (p, q) in xs.iter().zip(ys) {
                    let order = self.cmp(p, q);
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                xs.len().cmp(&ys.len())
            }
            (Val::Absent, Val::Absent) => Ordering::Equal,
            _ => rank(a).cmp(&rank(b)),
        }
    }

    pub fn eq(&self, a: &Val, b: &Val) -> bool {
        match (a, b) {
            (Val::Bool(x), Val::Bool(y)) => x == y,
            (Val::Int(x), Val::Int(y)) => x == y,
            (Val::Str(x), Val::Str(y)) | (Val::Action(x), Val::Action(y)) => x == y,
            (Val::Entity(x), Val::Entity(y)) => x == y,
            _ => self.cmp(a, b) == Ordering::Equal,
        }
    }

    /// Whether a sorted set contains `v`.
    pub fn contains(&self, set: Slice, v: &Val) -> bool {
        let items = self.slice(set);
        if items.len() <= 8 {
            items.iter().any(|item| self.eq(item, v))
        } else {
            items.binary_search_by(|item| self.cmp(item, v)).is_ok()
        }
    }
}

fn rank(v: &Val) -> u8 {
    match v {
        Val::Bool(_) => 0,
        Val::Int(_) => 1,
        Val::Str(_) => 2,
        Val::Entity(_) => 3,
        Val::Action(_) => 4,
        Val::Ip(_) => 5,
        Val::Set(_) => 6,
        Val::Record(_) => 7,
        Val::Absent => 8,
    }
}

/// Sorts values into set order and removes duplicates.
pub fn normalize_set(pools: &Pools<'_>, items: &mut Vec<Val>) {
    items.sort_by(|a, b| pools.cmp(a, b));
    items.dedup_by(|a, b| pools.eq(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_small() {
        assert!(
            std::mem::size_of::<Val>() <= 24,
            "{}",
            std::mem::size_of::<Val>()
        );
    }

    #[test]
    fn entity_keys_pack_type_and_id() {
        let key = EntityKey::new(7, 42);
        assert_eq!((key.ty(), key.id()), (7, 42));
    }
}
