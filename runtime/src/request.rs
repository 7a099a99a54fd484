//! Requests in the engine's input form: strings interned against the
//! bundle, values flattened into one pool, entities sorted by key. An
//! entity's ancestors (transitively, cycles tolerated) are computed the
//! first time a rule scope or an `in` test asks about it and kept for the
//! rest of the request, so however many rules test one entity, and however
//! deep the hierarchy, a request walks each entity's ancestry at most once.

use std::cell::{Cell, OnceCell};

use reaper_lang::request as lang_request;
use reaper_lang::schema::index_u32;
use reaper_lang::value::{Uid, Value};
use rustc_hash::FxHashSet;
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::strings::LocalStrings;
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Val, map_layout, normalize_set};

/// One entity's data: attributes (a record in the request pool) and its
/// direct parents (a range of `Request::parents`).
#[derive(Debug, Clone)]
pub struct EntityData {
    pub key: EntityKey,
    pub attrs: Slice,
    parents: (u32, u32),
}

impl EntityData {
    /// `parents` is `(start, len)` in the request's parent list.
    pub(crate) fn new(key: EntityKey, attrs: Slice, parents: (u32, u32)) -> Self {
        EntityData {
            key,
            attrs,
            parents,
        }
    }
}

/// A schema-valid authorization request, prepared for evaluation. Not
/// `Sync`: its ancestor sets fill in as one evaluation asks for them.
#[derive(Debug, Clone)]
pub struct Request {
    pub principal: EntityKey,
    pub action: u32,
    pub resource: EntityKey,
    pub context: Slice,
    /// Where the principal's and the resource's data are in `entities`.
    pub(crate) principal_data: Option<u32>,
    pub(crate) resource_data: Option<u32>,
    pub(crate) entities: Vec<EntityData>,
    /// Every entity's direct parents, back to back.
    parents: Vec<EntityKey>,
    /// Each entity's ancestors, sorted, once asked for (by `entities` index).
    ancestors: Box<[OnceCell<Vec<EntityKey>>]>,
    /// Entities the ancestor walks have visited so far.
    visited: Cell<u32>,
    pub(crate) values: Vec<Val>,
    pub(crate) ips: Vec<ipnet::IpNet>,
    pub(crate) strings: LocalStrings,
}

/// Up to this many ancestors, a walk checks for repeats by scanning what
/// it has found (cheaper than hashing); beyond, it keeps a hash set.
const FEW_ANCESTORS: usize = 16;

impl Request {
    /// Assembles a request from its decoded parts.
    #[allow(clippy::too_many_arguments, reason = "the parts of one request, named")]
    pub(crate) fn new(
        principal: EntityKey,
        action: u32,
        resource: EntityKey,
        context: Slice,
        mut entities: Vec<EntityData>,
        parents: Vec<EntityKey>,
        values: Vec<Val>,
        ips: Vec<ipnet::IpNet>,
        strings: LocalStrings,
    ) -> Request {
        entities.sort_unstable_by_key(|e| e.key);
        let find = |key: EntityKey| {
            entities
                .binary_search_by_key(&key, |e| e.key)
                .ok()
                .map(index_u32)
        };
        let (principal_data, resource_data) = (find(principal), find(resource));
        let ancestors = std::iter::repeat_with(OnceCell::new)
            .take(entities.len())
            .collect();
        Request {
            principal,
            action,
            resource,
            context,
            principal_data,
            resource_data,
            entities,
            parents,
            ancestors,
            visited: Cell::new(0),
            values,
            ips,
            strings,
        }
    }

    /// Whether two entities carry data under one key (a request that
    /// does is refused).
    pub(crate) fn repeats_an_entity(&self) -> bool {
        self.entities
            .windows(2)
            .any(|pair| pair[0].key == pair[1].key)
    }

    pub fn entity(&self, key: EntityKey) -> Option<&EntityData> {
        self.entities.get(self.entity_index(key)?)
    }

    fn entity_index(&self, key: EntityKey) -> Option<usize> {
        // Entities are sorted by key when the request is assembled.
        self.entities.binary_search_by_key(&key, |e| e.key).ok()
    }

    /// The principal's ancestors, sorted.
    pub fn principal_ancestors(&self) -> &[EntityKey] {
        self.principal_data
            .map_or(&[], |index| self.ancestors_at(index as usize))
    }

    /// The resource's ancestors, sorted.
    pub fn resource_ancestors(&self) -> &[EntityKey] {
        self.resource_data
            .map_or(&[], |index| self.ancestors_at(index as usize))
    }

    /// Any entity's ancestors, sorted (none when the request has no data
    /// for it).
    pub fn ancestors(&self, key: EntityKey) -> &[EntityKey] {
        if key == self.principal {
            return self.principal_ancestors();
        }
        if key == self.resource {
            return self.resource_ancestors();
        }
        self.entity_index(key)
            .map_or(&[], |index| self.ancestors_at(index))
    }

    /// How many entities the request's ancestor walks have visited: each
    /// entity's ancestry is walked at most once per request, so this stays
    /// within the sum of the walked entities' ancestor counts.
    pub fn entities_visited(&self) -> u32 {
        self.visited.get()
    }

    /// `a in b`: equal, or `b` among `a`'s ancestors.
    pub fn is_in(&self, a: EntityKey, b: EntityKey) -> bool {
        a == b || self.ancestors(a).binary_search(&b).is_ok()
    }

    /// `a in [b, …]`: whether `a` is in any of `targets`; `None` when one
    /// of them is not an entity (the set is malformed).
    pub(crate) fn is_in_any(&self, a: EntityKey, targets: &[Val]) -> Option<bool> {
        let ancestors = self.ancestors(a);
        for target in targets {
            let Val::Entity(b) = target else { return None };
            if *b == a || ancestors.binary_search(b).is_ok() {
                return Some(true);
            }
        }
        Some(false)
    }

    fn ancestors_at(&self, index: usize) -> &[EntityKey] {
        match self.ancestors.get(index) {
            // An entity without parents has no ancestors: nothing to keep.
            Some(_) if self.parents_at(index).is_empty() => &[],
            Some(cell) => cell.get_or_init(|| self.walk(index)),
            None => &[],
        }
    }

    /// An entity's direct parents (none without data).
    pub(crate) fn parents_of(&self, key: EntityKey) -> &[EntityKey] {
        self.entity_index(key)
            .map_or(&[], |index| self.parents_at(index))
    }

    fn parents_at(&self, index: usize) -> &[EntityKey] {
        self.entities.get(index).map_or(&[], |data| {
            let (start, len) = data.parents;
            self.parents
                .get(start as usize..(start + len) as usize)
                .unwrap_or(&[])
        })
    }

    /// All ancestors of the entity at `index`, sorted: each reached entity
    /// is visited once (so cycles end), and an entity whose ancestors are
    /// already known contributes them without being walked again.
    fn walk(&self, index: usize) -> Vec<EntityKey> {
        let mut found: Vec<EntityKey> = Vec::with_capacity(8);
        let mut seen: FxHashSet<EntityKey> = FxHashSet::default();
        let mut stack: SmallVec<[EntityKey; 16]> = SmallVec::from_slice(self.parents_at(index));
        let mut visited: u32 = 0;
        let mut add = |key: EntityKey, found: &mut Vec<EntityKey>| {
            let new = if found.len() < FEW_ANCESTORS {
                !found.contains(&key)
            } else {
                if seen.is_empty() {
                    seen.extend(found.iter().copied());
                }
                seen.insert(key)
            };
            if new {
                found.push(key);
            }
            new
        };
        while let Some(next) = stack.pop() {
            if !add(next, &mut found) {
                continue;
            }
            visited += 1;
            let Some(at) = self.entity_index(next) else {
                continue;
            };
            match self.ancestors.get(at).and_then(OnceCell::get) {
                Some(known) => {
                    for ancestor in known.iter() {
                        add(*ancestor, &mut found);
                    }
                }
                None => stack.extend_from_slice(self.parents_at(at)),
            }
        }
        self.visited.set(self.visited.get().saturating_add(visited));
        found.sort_unstable();
        found
    }
}

impl Request {
    /// Every entity's direct parents, back to back.
    pub(crate) fn all_parents(&self) -> &[EntityKey] {
        &self.parents
    }

    /// The request with the data of `extra` added (entities it has no
    /// data for; see `held.rs`).
    pub(crate) fn with_entities(self, engine: &Engine, extra: &[&lang_request::Entity]) -> Request {
        let Request {
            principal,
            action,
            resource,
            context,
            mut entities,
            mut parents,
            values,
            ips,
            strings,
            ..
        } = self;
        let mut prep = Preparer {
            engine,
            values,
            ips,
            strings,
        };
        for entity in extra {
            prep.entity(entity, &mut entities, &mut parents);
        }
        Request::new(
            principal,
            action,
            resource,
            context,
            entities,
            parents,
            prep.values,
            prep.ips,
            prep.strings,
        )
    }
}

impl Engine {
    /// Prepares a schema-valid request for evaluation.
    pub fn prepare(&self, request: &lang_request::Request) -> Request {
        let mut prep = Preparer {
            engine: self,
            values: Vec::new(),
            ips: Vec::new(),
            strings: LocalStrings::default(),
        };
        let principal = prep.uid(&request.principal);
        let resource = prep.uid(&request.resource);
        let context = prep.record(&request.context);
        let mut entities: Vec<EntityData> = Vec::with_capacity(request.entities.len());
        let mut parents: Vec<EntityKey> = Vec::new();
        for entity in &request.entities {
            prep.entity(entity, &mut entities, &mut parents);
        }
        Request::new(
            principal,
            request.action.0,
            resource,
            context,
            entities,
            parents,
            prep.values,
            prep.ips,
            prep.strings,
        )
    }
}

struct Preparer<'e> {
    engine: &'e Engine,
    values: Vec<Val>,
    ips: Vec<ipnet::IpNet>,
    strings: LocalStrings,
}

impl Preparer<'_> {
    fn entity(
        &mut self,
        entity: &lang_request::Entity,
        entities: &mut Vec<EntityData>,
        parents: &mut Vec<EntityKey>,
    ) {
        let key = self.uid(&entity.uid);
        let attrs = self.record(&entity.attrs);
        let start = index_u32(parents.len());
        parents.extend(entity.parents.iter().map(|p| self.uid(p)));
        entities.push(EntityData {
            key,
            attrs,
            parents: (start, index_u32(parents.len()) - start),
        });
    }

    fn uid(&mut self, uid: &Uid) -> EntityKey {
        EntityKey::new(
            uid.ty.0,
            self.strings.intern(self.engine.strings(), &uid.id),
        )
    }

    fn value(&mut self, value: &Value) -> Val {
        match value {
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(n) | Value::Duration(n) | Value::Timestamp(n) | Value::Decimal(n) => {
                Val::Int(*n)
            }
            Value::String(s) => Val::Str(self.strings.intern(self.engine.strings(), s)),
            Value::Ip(ip) => {
                self.ips.push(*ip);
                Val::Ip(IpRef {
                    index: index_u32(self.ips.len() - 1),
                    pool: Pool::Request,
                })
            }
            Value::Entity(uid) => Val::Entity(self.uid(uid)),
            Value::Action(id) => Val::Action(id.0),
            Value::Set(items) => {
                let mut converted: Vec<Val> = items.iter().map(|v| self.value(v)).collect();
                let pools = Pools {
                    constants: self.engine.constants(),
                    request: &self.values,
                    scratch: &[],
                    constant_ips: &self.engine.constant_ips,
                    request_ips: &self.ips,
                    scratch_ips: &[],
                };
                // Interning changed the order (strings now sort by symbol).
                normalize_set(&pools, &mut converted);
                Val::Set(self.push(converted))
            }
            Value::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(key, value)| {
                        let key = self.strings.intern(self.engine.strings(), key);
                        (key, self.value(value))
                    })
                    .collect();
                Val::Map(self.push(map_layout(entries)))
            }
            Value::Record(slots) => Val::Record(self.record(slots)),
        }
    }

    fn record(&mut self, slots: &[Option<Value>]) -> Slice {
        let converted: Vec<Val> = slots
            .iter()
            .map(|slot| slot.as_ref().map_or(Val::Absent, |v| self.value(v)))
            .collect();
        self.push(converted)
    }

    fn push(&mut self, items: Vec<Val>) -> Slice {
        let start = index_u32(self.values.len());
        let len = index_u32(items.len());
        self.values.extend(items);
        Slice::new(Pool::Request, start, len)
    }
}
