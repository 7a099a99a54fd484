//! Interning tables of a bundle under construction: strings, constants,
//! `like` patterns and attribute tables. Each value gets one index, in
//! order of first use, so the same package always gives the same bundle.

use std::collections::HashMap;

use reaper_lang::bundle::{Constant, Pattern};
use reaper_lang::schema::index_u32;
use reaper_lang::types::{ActionId, EntityTypeId};
use reaper_lang::value::Value;

#[derive(Debug, Default)]
pub struct Pool {
    pub strings: Vec<String>,
    string_ids: HashMap<String, u32>,
    pub constants: Vec<Constant>,
    constant_ids: HashMap<Constant, u32>,
    pub patterns: Vec<Pattern>,
    pattern_ids: HashMap<Pattern, u32>,
    pub attr_tables: Vec<Vec<(EntityTypeId, u32)>>,
    attr_table_ids: HashMap<Vec<(EntityTypeId, u32)>, u32>,
    pub context_tables: Vec<Vec<(ActionId, u32)>>,
    context_table_ids: HashMap<Vec<(ActionId, u32)>, u32>,
}

fn intern<T: Clone + Eq + std::hash::Hash>(
    items: &mut Vec<T>,
    ids: &mut HashMap<T, u32>,
    item: T,
) -> u32 {
    if let Some(id) = ids.get(&item) {
        return *id;
    }
    let id = index_u32(items.len());
    items.push(item.clone());
    ids.insert(item, id);
    id
}

impl Pool {
    pub fn string(&mut self, s: &str) -> u32 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        intern(&mut self.strings, &mut self.string_ids, s.to_owned())
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
        intern(&mut self.constants, &mut self.constant_ids, constant)
    }

    pub fn pattern(&mut self, pattern: Pattern) -> u32 {
        intern(&mut self.patterns, &mut self.pattern_ids, pattern)
    }

    pub fn attr_table(&mut self, slots: &[(EntityTypeId, u32)]) -> u32 {
        intern(
            &mut self.attr_tables,
            &mut self.attr_table_ids,
            slots.to_vec(),
        )
    }

    pub fn context_table(&mut self, slots: &[(ActionId, u32)]) -> u32 {
        intern(
            &mut self.context_tables,
            &mut self.context_table_ids,
            slots.to_vec(),
        )
    }
}
