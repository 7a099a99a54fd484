//! Requests in the engine's input form: strings interned against the
//! bundle, values flattened into one pool, and each entity's ancestors
//! computed once (transitively, cycles tolerated) so `in` is a lookup.

use reaper_lang::request::{self as lang_request, Limits, RequestError};
use reaper_lang::value::{Uid, Value};

use crate::engine::Engine;
use crate::strings::LocalStrings;
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Val, normalize_set};

/// One entity's data: attributes (a record in the request pool) and all
/// its ancestors, sorted.
#[derive(Debug, Clone)]
pub struct EntityData {
    pub key: EntityKey,
    pub attrs: Slice,
    ancestors: (u32, u32),
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
    ancestors: Vec<EntityKey>,
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

    /// The sorted ancestors of an entity with data (empty for one without).
    pub fn ancestors(&self, key: EntityKey) -> &[EntityKey] {
        match self.entity(key) {
            Some(data) => {
                let (start, len) = data.ancestors;
                self.ancestors
                    .get(start as usize..(start + len) as usize)
                    .unwrap_or(&[])
            }
            None => &[],
        }
    }

    /// `a in b`: equal, or `b` among `a`'s ancestors.
    pub fn is_in(&self, a: EntityKey, b: EntityKey) -> bool {
        a == b || self.ancestors(a).binary_search(&b).is_ok()
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
        let mut parents: Vec<Vec<EntityKey>> = Vec::with_capacity(request.entities.len());
        for entity in &request.entities {
            let key = prep.uid(&entity.uid);
            let attrs = prep.record(&entity.attrs);
            entities.push(EntityData {
                key,
                attrs,
                ancestors: (0, 0),
            });
            parents.push(entity.parents.iter().map(|p| prep.uid(p)).collect());
        }
        let mut order: Vec<usize> = (0..entities.len()).collect();
        order.sort_by_key(|i| entities[*i].key);
        let mut entities: Vec<EntityData> = order.iter().map(|i| entities[*i].clone()).collect();
        let parents: Vec<Vec<EntityKey>> = order
            .iter()
            .map(|i| std::mem::take(&mut parents[*i]))
            .collect();
        let ancestors = ancestor_closure(&mut entities, &parents);
        let find = |key: EntityKey| {
            entities
                .binary_search_by_key(&key, |e| e.key)
                .ok()
                .map(reaper_lang::schema::index_u32)
        };
        let (principal_data, resource_data) = (find(principal), find(resource));
        Request {
            principal,
            action: request.action.0,
            resource,
            context,
            principal_data,
            resource_data,
            entities,
            ancestors,
            values: prep.values,
            ips: prep.ips,
            strings: prep.strings,
        }
    }
}

/// Fills each entity's ancestor range: everything reachable through parents
/// (of entities that have data), each once, sorted. `entities` is sorted by
/// key and `parents` is parallel to it.
fn ancestor_closure(entities: &mut [EntityData], parents: &[Vec<EntityKey>]) -> Vec<EntityKey> {
    let index_of = |key: EntityKey, entities: &[EntityData]| {
        entities.binary_search_by_key(&key, |e| e.key).ok()
    };
    let mut all = Vec::new();
    for i in 0..entities.len() {
        let mut found: rustc_hash::FxHashSet<EntityKey> = rustc_hash::FxHashSet::default();
        let mut stack: Vec<EntityKey> = parents[i].clone();
        while let Some(next) = stack.pop() {
            if !found.insert(next) {
                continue;
            }
            if let Some(j) = index_of(next, entities) {
                stack.extend(parents[j].iter().copied());
            }
        }
        let mut found: Vec<EntityKey> = found.into_iter().collect();
        found.sort_unstable();
        let start = reaper_lang::schema::index_u32(all.len());
        entities[i].ancestors = (start, reaper_lang::schema::index_u32(found.len()));
        all.extend(found);
    }
    all
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
            Value::Int(n) | Value::Duration(n) | Value::Timestamp(n) => Val::Int(*n),
            Value::String(s) => Val::Str(self.strings.intern(self.engine.strings(), s)),
            Value::Ip(ip) => {
                self.ips.push(*ip);
                Val::Ip(IpRef {
                    index: reaper_lang::schema::index_u32(self.ips.len() - 1),
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
                };
                // Interning changed the order (strings now sort by symbol).
                normalize_set(&pools, &mut converted);
                Val::Set(self.push(converted))
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
        let start = reaper_lang::schema::index_u32(self.values.len());
        let len = reaper_lang::schema::index_u32(items.len());
        self.values.extend(items);
        Slice::new(Pool::Request, start, len)
    }
}
