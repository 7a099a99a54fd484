//! Requests in the engine's input form: strings interned against the
//! bundle, values flattened into one pool, entities sorted by key. The
//! ancestors of the principal and the resource — what rule scopes and most
//! `in` tests ask about — are computed once (transitively, cycles
//! tolerated); for any other entity `in` walks its parents when asked, so
//! preparing a request stays linear in its size however deep the hierarchy.

use reaper_lang::request::{self as lang_request, Limits, RequestError};
use reaper_lang::schema::index_u32;
use reaper_lang::value::{Uid, Value};
use rustc_hash::FxHashSet;

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

/// A schema-valid authorization request, prepared for evaluation.
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
    /// The principal's and the resource's ancestors, sorted.
    principal_ancestors: Box<[EntityKey]>,
    resource_ancestors: Box<[EntityKey]>,
    pub(crate) values: Vec<Val>,
    pub(crate) ips: Vec<ipnet::IpNet>,
    pub(crate) strings: LocalStrings,
}

impl Request {
    pub fn entity(&self, key: EntityKey) -> Option<&EntityData> {
        // Entities are sorted by key when the request is prepared.
        let i = self.entities.binary_search_by_key(&key, |e| e.key).ok()?;
        self.entities.get(i)
    }

    /// The principal's ancestors, sorted.
    pub fn principal_ancestors(&self) -> &[EntityKey] {
        &self.principal_ancestors
    }

    /// The resource's ancestors, sorted.
    pub fn resource_ancestors(&self) -> &[EntityKey] {
        &self.resource_ancestors
    }

    /// `a in b`: equal, or `b` among `a`'s ancestors.
    pub fn is_in(&self, a: EntityKey, b: EntityKey) -> bool {
        if a == b {
            return true;
        }
        match self.known_ancestors(a) {
            Some(ancestors) => ancestors.binary_search(&b).is_ok(),
            None => self.walk_ancestors(a, |ancestor| ancestor == b),
        }
    }

    /// `a in [b, …]`: whether `a` is in any of `targets`; `None` when one
    /// of them is not an entity (the set is malformed).
    pub(crate) fn is_in_any(&self, a: EntityKey, targets: &[Val]) -> Option<bool> {
        let computed;
        let ancestors = match self.known_ancestors(a) {
            Some(ancestors) => ancestors,
            None if targets.len() <= 1 => {
                // One walk either way: stop as soon as the target is found.
                return match targets.first() {
                    Some(Val::Entity(b)) => Some(self.is_in(a, *b)),
                    Some(_) => None,
                    None => Some(false),
                };
            }
            None => {
                computed = self.ancestors_of(a);
                &computed
            }
        };
        for target in targets {
            let Val::Entity(b) = target else { return None };
            if *b == a || ancestors.binary_search(b).is_ok() {
                return Some(true);
            }
        }
        Some(false)
    }

    fn known_ancestors(&self, key: EntityKey) -> Option<&[EntityKey]> {
        if key == self.principal {
            Some(&self.principal_ancestors)
        } else if key == self.resource {
            Some(&self.resource_ancestors)
        } else {
            None
        }
    }

    fn parents_of(&self, key: EntityKey) -> &[EntityKey] {
        self.entity(key).map_or(&[], |data| {
            let (start, len) = data.parents;
            self.parents
                .get(start as usize..(start + len) as usize)
                .unwrap_or(&[])
        })
    }

    /// All of `key`'s ancestors, sorted.
    fn ancestors_of(&self, key: EntityKey) -> Vec<EntityKey> {
        let mut all = Vec::new();
        self.walk_ancestors(key, |ancestor| {
            all.push(ancestor);
            false
        });
        all.sort_unstable();
        all
    }

    /// Visits each ancestor of `from` once (through parents of entities
    /// that have data, so cycles end) until `stop` returns true; returns
    /// whether it did.
    fn walk_ancestors(&self, from: EntityKey, mut stop: impl FnMut(EntityKey) -> bool) -> bool {
        let mut seen: FxHashSet<EntityKey> = FxHashSet::default();
        let mut stack: Vec<EntityKey> = self.parents_of(from).to_vec();
        while let Some(next) = stack.pop() {
            if !seen.insert(next) {
                continue;
            }
            if stop(next) {
                return true;
            }
            stack.extend_from_slice(self.parents_of(next));
        }
        false
    }
}

impl Engine {
    /// Parses, validates and prepares a request from JSON text.
    pub fn decode_request(&self, json: &str) -> Result<Request, RequestError> {
        let request = lang_request::decode(self.schema(), json, &Limits::default())?;
        Ok(self.prepare(&request))
    }

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
            let key = prep.uid(&entity.uid);
            let attrs = prep.record(&entity.attrs);
            let start = index_u32(parents.len());
            parents.extend(entity.parents.iter().map(|p| prep.uid(p)));
            entities.push(EntityData {
                key,
                attrs,
                parents: (start, index_u32(parents.len()) - start),
            });
        }
        entities.sort_unstable_by_key(|e| e.key);
        let find = |key: EntityKey| {
            entities
                .binary_search_by_key(&key, |e| e.key)
                .ok()
                .map(index_u32)
        };
        let (principal_data, resource_data) = (find(principal), find(resource));
        let mut request = Request {
            principal,
            action: request.action.0,
            resource,
            context,
            principal_data,
            resource_data,
            entities,
            parents,
            principal_ancestors: Box::default(),
            resource_ancestors: Box::default(),
            values: prep.values,
            ips: prep.ips,
            strings: prep.strings,
        };
        request.principal_ancestors = request.ancestors_of(principal).into();
        request.resource_ancestors = request.ancestors_of(resource).into();
        request
    }
}

struct Preparer<'e> {
    engine: &'e Engine,
    values: Vec<Val>,
    ips: Vec<ipnet::IpNet>,
    strings: LocalStrings,
}

impl Preparer<'_> {
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
