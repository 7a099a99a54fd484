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

/// A run of values in a pool, packed in 8 bytes: the pool in the top two
/// bits of the start (pools hold far fewer than 2^30 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    start_and_pool: u32,
    pub len: u32,
}

const POOL_SHIFT: u32 = 30;
const START_MASK: u32 = (1 << POOL_SHIFT) - 1;

impl Slice {
    pub const EMPTY: Slice = Slice {
        start_and_pool: 0,
        len: 0,
    };

    pub fn new(pool: Pool, start: u32, len: u32) -> Self {
        let tag = match pool {
            Pool::Const => 0,
            Pool::Request => 1,
            Pool::Scratch => 2,
        };
        Self {
            start_and_pool: (start & START_MASK) | (tag << POOL_SHIFT),
            len,
        }
    }

    #[inline(always)]
    fn to_bits(self) -> u64 {
        u64::from(self.start_and_pool) | (u64::from(self.len) << 32)
    }

    #[inline(always)]
    fn from_bits(bits: u64) -> Self {
        Self {
            start_and_pool: bits as u32,
            len: (bits >> 32) as u32,
        }
    }

    #[inline(always)]
    pub fn start(self) -> u32 {
        self.start_and_pool & START_MASK
    }

    #[inline(always)]
    pub fn pool(self) -> Pool {
        match self.start_and_pool >> POOL_SHIFT {
            0 => Pool::Const,
            1 => Pool::Request,
            _ => Pool::Scratch,
        }
    }
}

/// An IP range in a pool's IP table (ranges are 18 bytes; keeping them out
/// of line keeps every value at 16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRef {
    pub index: u32,
    pub pool: Pool,
}

/// `repr(u64)` gives the tag a whole word and every payload fits the second,
/// so a value moves as two aligned words. (With the default layout, small
/// payloads sit right after a one-byte tag and values were written piecewise
/// and read whole, stalling store-to-load forwarding in the VM's hot loop.)
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Val {
    Bool(bool),
    /// Int, Duration and Timestamp: the checker keeps them apart.
    Int(i64),
    Str(Sym),
    Entity(EntityKey),
    Action(u32),
    Ip(IpRef),
    /// Sorted by [`Pools::cmp`] and free of duplicates.
    Set(Slice),
    /// One value per field of its record type, `Absent` for a missing one.
    Record(Slice),
    /// An optional field or attribute that is not there.
    Absent,
    /// `n` keys (strings, sorted by symbol, distinct) then their `n`
    /// values: the keys alone are a set.
    Map(Slice),
}

/// A value as two machine words, for the VM's register file: writing and
/// reading registers word by word keeps every load served by the store that
/// wrote it (a value written piecewise and read whole stalls the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Words(u64, u64);

impl Words {
    /// No value (a read that failed); two plain words return in registers,
    /// where an `Option<Val>` would go through memory.
    pub const NONE: Words = Words(u64::MAX, 0);

    #[inline(always)]
    pub fn bool(b: bool) -> Words {
        Words(0, u64::from(b))
    }

    #[inline(always)]
    pub fn as_bool(self) -> Option<bool> {
        (self.0 == 0).then_some(self.1 != 0)
    }

    /// Bool, Int, String, Entity or Action: equal exactly when the words are.
    #[inline(always)]
    pub fn is_scalar(self) -> bool {
        self.0 <= 4
    }

    #[inline(always)]
    pub fn entity(self) -> Option<EntityKey> {
        (self.0 == 3).then_some(EntityKey(self.1))
    }

    #[inline(always)]
    pub fn set(self) -> Option<Slice> {
        (self.0 == 6).then(|| Slice::from_bits(self.1))
    }
}

impl Val {
    #[inline(always)]
    pub fn to_words(self) -> Words {
        match self {
            Val::Bool(b) => Words(0, u64::from(b)),
            Val::Int(n) => Words(1, n as u64),
            Val::Str(sym) => Words(2, u64::from(sym)),
            Val::Entity(key) => Words(3, key.0),
            Val::Action(a) => Words(4, u64::from(a)),
            Val::Ip(r) => Words(5, u64::from(r.index) | (pool_bits(r.pool) << 32)),
            Val::Set(s) => Words(6, s.to_bits()),
            Val::Record(s) => Words(7, s.to_bits()),
            Val::Absent => Words(8, 0),
            Val::Map(s) => Words(9, s.to_bits()),
        }
    }

    #[inline(always)]
    pub fn from_words(w: Words) -> Val {
        match w.0 {
            0 => Val::Bool(w.1 != 0),
            1 => Val::Int(w.1 as i64),
            2 => Val::Str(w.1 as u32),
            3 => Val::Entity(EntityKey(w.1)),
            4 => Val::Action(w.1 as u32),
            5 => Val::Ip(IpRef {
                index: w.1 as u32,
                pool: pool_of_bits(w.1 >> 32),
            }),
            6 => Val::Set(Slice::from_bits(w.1)),
            7 => Val::Record(Slice::from_bits(w.1)),
            9 => Val::Map(Slice::from_bits(w.1)),
            _ => Val::Absent,
        }
    }
}

fn pool_bits(pool: Pool) -> u64 {
    match pool {
        Pool::Const => 0,
        Pool::Request => 1,
        Pool::Scratch => 2,
    }
}

fn pool_of_bits(bits: u64) -> Pool {
    match bits {
        0 => Pool::Const,
        1 => Pool::Request,
        _ => Pool::Scratch,
    }
}

/// The pools values may point into: values of the bundle's constants, of
/// the request, and built during evaluation; likewise IP ranges.
#[derive(Clone, Copy)]
pub struct Pools<'a> {
    pub constants: &'a [Val],
    pub request: &'a [Val],
    pub scratch: &'a [Val],
    pub constant_ips: &'a [IpNet],
    pub request_ips: &'a [IpNet],
    pub scratch_ips: &'a [IpNet],
}

impl<'a> Pools<'a> {
    /// The values of a slice. Slices are built by this crate over pools of
    /// the same evaluation, so they are in range; an out-of-range slice
    /// (impossible by construction) reads as empty rather than panicking.
    pub fn slice(&self, s: Slice) -> &'a [Val] {
        let pool = match s.pool() {
            Pool::Const => self.constants,
            Pool::Request => self.request,
            Pool::Scratch => self.scratch,
        };
        let start = s.start() as usize;
        pool.get(start..start + s.len as usize).unwrap_or(&[])
    }

    /// The range an IP value refers to (built by this crate, so present; a
    /// missing one reads as the empty IPv4 range rather than panicking).
    pub fn ip(&self, r: IpRef) -> IpNet {
        let table = match r.pool {
            Pool::Const => self.constant_ips,
            Pool::Request => self.request_ips,
            Pool::Scratch => self.scratch_ips,
        };
        table.get(r.index as usize).copied().unwrap_or_default()
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
            (Val::Ip(x), Val::Ip(y)) => self.ip(*x).cmp(&self.ip(*y)),
            (Val::Set(x), Val::Set(y))
            | (Val::Record(x), Val::Record(y))
            | (Val::Map(x), Val::Map(y)) => {
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

    /// A map's keys (a set) and values.
    pub fn map_parts(&self, map: Slice) -> (&'a [Val], &'a [Val]) {
        let all = self.slice(map);
        all.split_at(all.len() / 2)
    }

    /// The value of `key` in a map.
    pub fn get(&self, map: Slice, key: Sym) -> Option<Val> {
        let (keys, values) = self.map_parts(map);
        let index = keys
            .binary_search_by(|k| match k {
                Val::Str(sym) => sym.cmp(&key),
                _ => Ordering::Less,
            })
            .ok()?;
        values.get(index).copied()
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
        Val::Map(_) => 9,
    }
}

/// Lays out map entries as a map value's slice: keys (sorted by symbol,
/// the last of repeated keys kept) then values.
pub fn map_layout(mut entries: Vec<(Sym, Val)>) -> Vec<Val> {
    entries.reverse();
    entries.sort_by_key(|(k, _)| *k);
    entries.dedup_by_key(|(k, _)| *k);
    let mut out: Vec<Val> = entries.iter().map(|(k, _)| Val::Str(*k)).collect();
    out.extend(entries.iter().map(|(_, v)| *v));
    out
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
