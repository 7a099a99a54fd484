//! The engine: a verified bundle turned into evaluation tables. Loading is
//! the only expensive step; an engine is immutable afterwards and can be
//! shared by any number of threads (the server swaps whole engines).

use std::sync::Arc;

use reaper_lang::bundle::{self, Bundle, BundleError, Constant, Scope};
use reaper_lang::limits::StoreSpec;
use reaper_lang::schema::Schema;
use rustc_hash::FxHashMap;

use crate::ratelimit::counters::{CounterStore, MemoryCounters};
use crate::strings::Strings;
use crate::value::{EntityKey, Pool, Pools, Slice, Val, normalize_set};

/// The rules that may apply to requests with one action and resource type,
/// split by literal scope so a request looks up only its own.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub any: Box<[u32]>,
    pub principal_is: FxHashMap<EntityKey, Box<[u32]>>,
    pub principal_in: FxHashMap<EntityKey, Box<[u32]>>,
    pub resource_is: FxHashMap<EntityKey, Box<[u32]>>,
    pub resource_in: FxHashMap<EntityKey, Box<[u32]>>,
}

pub struct Engine {
    pub(crate) bundle: Bundle,
    hash: String,
    strings: Strings,
    /// The pool sets and records of constants point into.
    constants: Vec<Val>,
    /// The value of each bundle constant.
    pub(crate) constant_values: Vec<Val>,
    /// `buckets_by[action × type count + type]`, an index into `buckets`.
    buckets_by: Vec<Option<u32>>,
    pub(crate) buckets: Vec<Bucket>,
    pub(crate) counters: Arc<dyn CounterStore>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("package", &self.bundle.package)
            .field("hash", &self.hash)
            .field("rules", &self.bundle.rules.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Decodes and verifies bundle bytes, then builds the engine. Rate-limit
    /// counters start empty, in memory.
    pub fn load(bytes: &[u8]) -> Result<Engine, BundleError> {
        Self::load_with_counters(bytes, Arc::new(MemoryCounters::default()))
    }

    /// Like [`Engine::load`], keeping rate-limit state in `counters` (so a
    /// reloaded policy can keep counting where the old one was).
    pub fn load_with_counters(
        bytes: &[u8],
        counters: Arc<dyn CounterStore>,
    ) -> Result<Engine, BundleError> {
        let bundle = bundle::decode(bytes)?;
        let hash = bundle::content_hash(bytes).unwrap_or_default();
        Ok(Self::build(bundle, hash, counters))
    }

    fn build(bundle: Bundle, hash: String, counters: Arc<dyn CounterStore>) -> Engine {
        let strings = Strings::new(&bundle.strings);
        let (constants, constant_values) = constant_pool(&bundle);
        let type_count = bundle.schema.entity_types.len();
        let mut buckets_by = vec![None; bundle.schema.actions.len() * type_count];
        let mut buckets = Vec::with_capacity(bundle.index.len());
        for entry in &bundle.index {
            let mut any = Vec::new();
            let mut bucket = Bucket::default();
            let mut keyed: [FxHashMap<EntityKey, Vec<u32>>; 4] = Default::default();
            for rule in &entry.rules {
                let Some(info) = bundle.rules.get(*rule as usize) else {
                    continue;
                };
                match info.scope {
                    Scope::Any => any.push(*rule),
                    Scope::PrincipalIs(ty, id) => keyed[0]
                        .entry(EntityKey::new(ty.0, id))
                        .or_default()
                        .push(*rule),
                    Scope::PrincipalIn(ty, id) => keyed[1]
                        .entry(EntityKey::new(ty.0, id))
                        .or_default()
                        .push(*rule),
                    Scope::ResourceIs(ty, id) => keyed[2]
                        .entry(EntityKey::new(ty.0, id))
                        .or_default()
                        .push(*rule),
                    Scope::ResourceIn(ty, id) => keyed[3]
                        .entry(EntityKey::new(ty.0, id))
                        .or_default()
                        .push(*rule),
                }
            }
            bucket.any = any.into();
            let [principal_is, principal_in, resource_is, resource_in] = keyed;
            let boxed = |m: FxHashMap<EntityKey, Vec<u32>>| {
                m.into_iter()
                    .map(|(k, v)| (k, v.into_boxed_slice()))
                    .collect()
            };
            bucket.principal_is = boxed(principal_is);
            bucket.principal_in = boxed(principal_in);
            bucket.resource_is = boxed(resource_is);
            bucket.resource_in = boxed(resource_in);
            let slot = entry.action.0 as usize * type_count + entry.resource_type.0 as usize;
            if let Some(place) = buckets_by.get_mut(slot) {
                *place = Some(reaper_lang::schema::index_u32(buckets.len()));
            }
            buckets.push(bucket);
        }
        Engine {
            bundle,
            hash,
            strings,
            constants,
            constant_values,
            buckets_by,
            buckets,
            counters,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.bundle.schema
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The bundle's sha256 content hash, in hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn package(&self) -> Option<&str> {
        self.bundle.package.as_deref()
    }

    /// The id of a rule, by index (as decisions report them).
    pub fn rule_id(&self, rule: u32) -> &str {
        self.bundle
            .rules
            .get(rule as usize)
            .map_or("?", |r| r.id.as_str())
    }

    /// A retention namespace's limits.
    pub fn store(&self, name: &str) -> Option<&StoreSpec> {
        self.bundle.stores.iter().find(|s| s.name == name)
    }

    pub(crate) fn strings(&self) -> &Strings {
        &self.strings
    }

    pub(crate) fn constants(&self) -> &[Val] {
        &self.constants
    }

    pub(crate) fn bucket(&self, action: u32, resource_type: u32) -> Option<&Bucket> {
        let type_count = self.bundle.schema.entity_types.len();
        let slot = (action as usize)
            .checked_mul(type_count)?
            .checked_add(resource_type as usize)?;
        let index = (*self.buckets_by.get(slot)?)?;
        self.buckets.get(index as usize)
    }

    /// Renders an entity reference for messages (`User::"alice"`).
    pub(crate) fn display_entity(
        &self,
        key: EntityKey,
        local: &crate::strings::LocalStrings,
    ) -> String {
        let ty = self
            .bundle
            .schema
            .entity_types
            .get(key.ty() as usize)
            .map_or("?", |t| t.name.as_str());
        format!("{ty}::{:?}", local.text(&self.strings, key.id()))
    }
}

/// Turns the bundle's constant table into VM values: every set's members
/// are re-sorted in the VM's value order (strings order by symbol here).
fn constant_pool(bundle: &Bundle) -> (Vec<Val>, Vec<Val>) {
    let mut pool: Vec<Val> = Vec::new();
    let mut values: Vec<Val> = Vec::with_capacity(bundle.constants.len());
    for constant in &bundle.constants {
        // The verifier guarantees parts refer to earlier constants.
        let part = |i: u32, values: &[Val]| values.get(i as usize).copied().unwrap_or(Val::Absent);
        let value = match constant {
            Constant::Bool(b) => Val::Bool(*b),
            Constant::Int(n) | Constant::Duration(n) | Constant::Timestamp(n) => Val::Int(*n),
            Constant::String(s) => Val::Str(*s),
            Constant::Ip(ip) => Val::Ip(*ip),
            Constant::Entity(ty, id) => Val::Entity(EntityKey::new(ty.0, *id)),
            Constant::Action(a) => Val::Action(a.0),
            Constant::Set(items) => {
                let mut members: Vec<Val> = items.iter().map(|i| part(*i, &values)).collect();
                let pools = Pools {
                    constants: &pool,
                    request: &[],
                    scratch: &[],
                };
                normalize_set(&pools, &mut members);
                Val::Set(push(&mut pool, members))
            }
            Constant::Record(slots) => {
                let fields: Vec<Val> = slots
                    .iter()
                    .map(|s| s.map_or(Val::Absent, |i| part(i, &values)))
                    .collect();
                Val::Record(push(&mut pool, fields))
            }
        };
        values.push(value);
    }
    (pool, values)
}

fn push(pool: &mut Vec<Val>, items: Vec<Val>) -> Slice {
    let start = reaper_lang::schema::index_u32(pool.len());
    let len = reaper_lang::schema::index_u32(items.len());
    pool.extend(items);
    Slice {
        pool: Pool::Const,
        start,
        len,
    }
}
