//! Interning tables of a bundle under construction: strings, constants,
//! `like` patterns and attribute tables. Each value gets one index, in
//! order of first use, so the same package always gives the same bundle.

use indexmap::IndexSet;

use reaper_lang::bundle::{Constant, Pattern};
use reaper_lang::schema::index_u32;
use reaper_lang::types::{ActionId, EntityTypeId};
use reaper_lang::value::Value;

/// Each table is an insertion-ordered set: one copy of each value, found
/// by hash, its position its index (a `Vec` beside a `HashMap` would hold
/// every string of a large policy twice).
#[derive(Debug, Default)]
pub struct Pool {
    pub strings: IndexSet<String>,
    pub constants: IndexSet<Constant>,
    pub patterns: IndexSet<Pattern>,
    pub attr_tables: IndexSet<Vec<(EntityTypeId, u32)>>,
    pub context_tables: IndexSet<Vec<(ActionId, u32)>>,
}

fn intern<T: Eq + std::hash::Hash>(items: &mut IndexSet<T>, item: T) -> u32 {
    index_u32(items.insert_full(item).0)
}

impl Pool {
    pub fn string(&mut self, s: &str) -> u32 {
        match self.strings.get_index_of(s) {
            Some(id) => index_u32(id),
            None => intern(&mut self.strings, s.to_owned()),
        }
    }

    /// The constant for a value; sets and records intern their parts first.
    pub fn constant(&mut self, value: &Value) -> u32 {
        let constant = match value {
            Value::Bool(b) => Constant::Bool(*b),
            Value::Int(n) => Constant::Int(*n),
            Value::String(s) => Constant::String(self.string(s)),
            Value::Ip(ip) => Constant::Ip(*ip),
            Value::Duration(ms) => Constant::Duration(*ms),
            Value::Timestamp(ms) => Constant::Timestamp(*ms),
            Value::Decimal(n) => Constant::Decimal(*n),
            Value::Entity(uid) => Constant::Entity(uid.ty, self.string(&uid.id)),
            Value::Action(id) => Constant::Action(*id),
            Value::Set(items) => {
                let mut ids: Vec<u32> = items.iter().map(|v| self.constant(v)).collect();
                // Sets list elements in constant order, which the runtime
                // re-sorts by its own value order when it loads them.
                ids.sort_unstable();
                ids.dedup();
                Constant::Set(ids)
            }
            Value::Map(entries) => Constant::Map(
                entries
                    .iter()
                    .map(|(k, v)| (self.string(k), self.constant(v)))
                    .collect(),
            ),
            Value::Record(slots) => Constant::Record(
                slots
                    .iter()
                    .map(|s| s.as_ref().map(|v| self.constant(v)))
                    .collect(),
            ),
        };
        intern(&mut self.constants, constant)
    }

    pub fn pattern(&mut self, pattern: Pattern) -> u32 {
        intern(&mut self.patterns, pattern)
    }

    pub fn attr_table(&mut self, slots: &[(EntityTypeId, u32)]) -> u32 {
        match self.attr_tables.get_index_of(slots) {
            Some(id) => index_u32(id),
            None => intern(&mut self.attr_tables, slots.to_vec()),
        }
    }

    pub fn context_table(&mut self, slots: &[(ActionId, u32)]) -> u32 {
        match self.context_tables.get_index_of(slots) {
            Some(id) => index_u32(id),
            None => intern(&mut self.context_tables, slots.to_vec()),
        }
    }
}
