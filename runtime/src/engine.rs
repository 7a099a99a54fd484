//! The engine: a verified bundle turned into evaluation tables. Loading is
//! the only expensive step; an engine is immutable afterwards and can be
//! shared by any number of threads (the server swaps whole engines).

use std::sync::Arc;

use reaper_lang::bundle::{self, Bundle, BundleError, Constant, Scope};
use reaper_lang::bytecode::{Op, Var};
use reaper_lang::limits::StoreSpec;
use reaper_lang::schema::Schema;
use rustc_hash::FxHashMap;

use crate::grid::Grid;
use crate::index::Plan;
use crate::ratelimit::counters::{CounterStore, MemoryCounters};
use crate::strings::Strings;
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Val, map_layout, normalize_set};

/// The rules that may apply to requests with one action and resource type,
/// split by literal scope so a request looks up only its own; unscoped
/// rules are further grouped by the tests they start with (`index.rs`).
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    /// Unscoped rules no node takes: each runs (guard, then code).
    pub any: Box<[u32]>,
    /// Unscoped rules grouped by their leading tests.
    pub plan: Plan,
    pub principal_is: Keyed,
    pub principal_in: Keyed,
    pub resource_is: Keyed,
    pub resource_in: Keyed,
}

/// How to run one rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleCode {
    pub function: u32,
    pub forbid: bool,
    /// A test that, when definitely false, means the rule does not apply.
    pub guard: Option<Guard>,
}

/// A rule's first test, hoisted out of its code: the code starts by reading
/// request data (and maybe comparing it with a constant or a second read),
/// and returns at once when the result is false — or, for a *whole* guard,
/// returns the result either way. Checking it without running the VM
/// decides most rules of common shapes (`resource.public`,
/// `principal == resource.owner`, `"x" in resource.labels`). Whenever a read
/// fails (missing data), the rule runs in the VM and reports as usual, so
/// the answer is always the one the code would give.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Guard {
    pub read: GuardRead,
    pub test: Option<GuardTest>,
    /// The guard's result is the rule's result (true included).
    pub whole: bool,
}

/// A read a guard may start with: free of side effects, and either cheap
/// and exact or failing (then the VM runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GuardRead {
    /// `principal has a`, `resource has a`
    Has { var: Var, table: u32 },
    /// `principal.a`, `resource.a`
    Attr { var: Var, table: u32 },
    /// `context has f`
    ContextHas { slot: u32 },
    /// `context.f`
    Context { slot: u32 },
    /// `principal`, `resource`
    Var { var: Var },
}

impl GuardRead {
    /// The read the instruction performs, and its destination.
    pub(crate) fn of(op: Op) -> Option<(GuardRead, u16)> {
        Some(match op {
            Op::HasAttrOf { dst, var, table } => (GuardRead::Has { var, table }, dst),
            Op::AttrOf { dst, var, table } => (GuardRead::Attr { var, table }, dst),
            Op::ContextHasField { dst, slot } => (GuardRead::ContextHas { slot }, dst),
            Op::ContextField { dst, slot } => (GuardRead::Context { slot }, dst),
            Op::Var { dst, var } if matches!(var, Var::Principal | Var::Resource) => {
                (GuardRead::Var { var }, dst)
            }
            _ => return None,
        })
    }
}

/// An operator applied to the guard's value and another operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct GuardTest {
    pub op: reaper_lang::bytecode::BinaryOp,
    pub other: GuardOperand,
    /// The other operand is the left one (`"x" in resource.labels`).
    pub other_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GuardOperand {
    Constant(u32),
    Read(GuardRead),
}

impl Guard {
    /// The guard the function's code starts with, if it has one.
    fn of(function: &reaper_lang::bytecode::Function) -> Option<Guard> {
        let code = &function.code;
        let (read, first) = GuardRead::of(*code.first()?)?;
        let test = |op, other, other_first| GuardTest {
            op,
            other,
            other_first,
        };
        let (test, dst, at) = match code.get(1).copied() {
            Some(Op::BinaryConst { op, dst, a, index }) if a == first => {
                (Some(test(op, GuardOperand::Constant(index), false)), dst, 2)
            }
            Some(Op::ConstBinary { op, dst, index, b }) if b == first => {
                (Some(test(op, GuardOperand::Constant(index), true)), dst, 2)
            }
            Some(second) => match (GuardRead::of(second), code.get(2).copied()) {
                (Some((other, o)), Some(Op::Binary { op, dst, a, b }))
                    if o != first && a == first && b == o =>
                {
                    (Some(test(op, GuardOperand::Read(other), false)), dst, 3)
                }
                (Some((other, o)), Some(Op::Binary { op, dst, a, b }))
                    if o != first && a == o && b == first =>
                {
                    (Some(test(op, GuardOperand::Read(other), true)), dst, 3)
                }
                _ => (None, first, 1),
            },
            None => return None,
        };
        if matches!(code.get(at), Some(Op::Return { src }) if *src == dst) {
            return Some(Guard {
                read,
                test,
                whole: true,
            });
        }
        // False must end the function with that very value: follow the
        // path a false value takes through jumps on it (forward only, so the
        // walk ends) and require it to reach `ret` of it untouched.
        let mut at = at;
        loop {
            match *code.get(at)? {
                Op::Return { src } => {
                    return (src == dst).then_some(Guard {
                        read,
                        test,
                        whole: false,
                    });
                }
                Op::JumpIfFalse { cond, target } if cond == dst => at = target as usize,
                Op::JumpIfTrue { cond, .. } if cond == dst => at += 1,
                _ => return None,
            }
        }
    }
}

/// Rules keyed by a literal entity. A few keys are scanned in a short list
/// (cheaper than hashing); many go in a hash map.
#[derive(Debug)]
pub(crate) enum Keyed {
    Few(Box<[(EntityKey, Box<[u32]>)]>),
    Many(FxHashMap<EntityKey, Box<[u32]>>),
}

impl Default for Keyed {
    fn default() -> Self {
        Keyed::Few(Box::default())
    }
}

/// Up to this many keys, a list scan beats a hash lookup.
const FEW_KEYS: usize = 8;

impl Keyed {
    fn new(map: FxHashMap<EntityKey, Vec<u32>>) -> Self {
        if map.len() <= FEW_KEYS {
            let mut few: Vec<(EntityKey, Box<[u32]>)> = map
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect();
            few.sort_by_key(|(k, _)| *k);
            Keyed::Few(few.into_boxed_slice())
        } else {
            Keyed::Many(
                map.into_iter()
                    .map(|(k, v)| (k, v.into_boxed_slice()))
                    .collect(),
            )
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Keyed::Few(few) => few.is_empty(),
            Keyed::Many(map) => map.is_empty(),
        }
    }

    /// The rules keyed exactly by `key`.
    #[inline]
    pub fn get(&self, key: EntityKey) -> Option<&[u32]> {
        match self {
            Keyed::Few(few) => few
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, rules)| &**rules),
            Keyed::Many(map) => map.get(&key).map(|rules| &**rules),
        }
    }

    /// Visits the rules keyed by `key` or by one of its (sorted)
    /// `ancestors`.
    #[inline]
    pub fn visit_in(&self, key: EntityKey, ancestors: &[EntityKey], visit: &mut impl FnMut(u32)) {
        match self {
            Keyed::Few(few) => {
                for (k, rules) in few.iter() {
                    if *k == key || ancestors.binary_search(k).is_ok() {
                        rules.iter().for_each(|r| visit(*r));
                    }
                }
            }
            // More ancestors than keyed rules: look each key up among the
            // (sorted) ancestors, so the probe costs the smaller side.
            Keyed::Many(map) if ancestors.len() > map.len() => {
                for (k, rules) in map {
                    if *k == key || ancestors.binary_search(k).is_ok() {
                        rules.iter().for_each(|r| visit(*r));
                    }
                }
            }
            Keyed::Many(map) => {
                // In a cycle an entity is among its own ancestors: visit it once.
                let others = ancestors.iter().filter(|a| **a != key);
                for candidate in std::iter::once(&key).chain(others) {
                    if let Some(rules) = map.get(candidate) {
                        rules.iter().for_each(|r| visit(*r));
                    }
                }
            }
        }
    }
}

pub struct Engine {
    pub(crate) bundle: Bundle,
    hash: String,
    strings: Strings,
    /// The pool sets and records of constants point into.
    constants: Vec<Val>,
    /// The value of each bundle constant.
    pub(crate) constant_values: Vec<Val>,
    /// The IP ranges constants refer to.
    pub(crate) constant_ips: Vec<ipnet::IpNet>,
    /// By (action, resource type), an index into `buckets`.
    buckets_by: Grid,
    pub(crate) buckets: Vec<Bucket>,
    /// By (attribute table, entity type), the attribute's slot.
    attr_slots: Grid,
    /// By (context table, action), the context field's slot.
    context_slots: Grid,
    /// For each rule, how to run it.
    pub(crate) rule_code: Box<[RuleCode]>,
    /// For each domain, its limits prepared for evaluation and indexed.
    pub(crate) limit_code: Vec<crate::ratelimit::DomainCode>,
    /// The descriptor keys limits read.
    pub(crate) entry_keys: Vec<(Box<str>, crate::value::Sym)>,
    pub(crate) counters: Arc<dyn CounterStore>,
    /// Type and action names, for decoding requests.
    pub(crate) names: crate::decode::Names,
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
        let ConstantPool {
            pool: constants,
            values: constant_values,
            ips: constant_ips,
        } = constant_pool(&bundle);
        let type_count = bundle.schema.entity_types.len();
        let mut bucket_cells = Vec::with_capacity(bundle.index.len());
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
            let (plan, linear) = Plan::build(&bundle, &constant_values, &any);
            bucket.any = linear.into();
            bucket.plan = plan;
            let [principal_is, principal_in, resource_is, resource_in] = keyed;
            bucket.principal_is = Keyed::new(principal_is);
            bucket.principal_in = Keyed::new(principal_in);
            bucket.resource_is = Keyed::new(resource_is);
            bucket.resource_in = Keyed::new(resource_in);
            bucket_cells.push((
                entry.action.0,
                entry.resource_type.0,
                reaper_lang::schema::index_u32(buckets.len()),
            ));
            buckets.push(bucket);
        }
        let buckets_by = Grid::new(bundle.schema.actions.len(), type_count, bucket_cells);
        let attr_slots = Grid::new(
            bundle.attr_tables.len(),
            type_count,
            bundle
                .attr_tables
                .iter()
                .enumerate()
                .flat_map(|(table, slots)| {
                    let table = reaper_lang::schema::index_u32(table);
                    slots.iter().map(move |(ty, slot)| (table, ty.0, *slot))
                }),
        );
        let context_slots = Grid::new(
            bundle.context_tables.len(),
            bundle.schema.actions.len(),
            bundle
                .context_tables
                .iter()
                .enumerate()
                .flat_map(|(table, slots)| {
                    let table = reaper_lang::schema::index_u32(table);
                    slots
                        .iter()
                        .map(move |(action, slot)| (table, action.0, *slot))
                }),
        );
        let rule_code = bundle
            .rules
            .iter()
            .map(|r| RuleCode {
                function: r.function,
                forbid: r.effect == bundle::Effect::Forbid,
                guard: bundle
                    .functions
                    .get(r.function as usize)
                    .and_then(Guard::of),
            })
            .collect();
        let limit_code = crate::ratelimit::limit_codes(&bundle);
        let names = crate::decode::Names::new(&bundle.schema);
        let entry_keys = crate::ratelimit::entry_keys(&bundle);
        Engine {
            rule_code,
            limit_code,
            entry_keys,
            bundle,
            hash,
            strings,
            constants,
            constant_values,
            constant_ips,
            buckets_by,
            buckets,
            attr_slots,
            context_slots,
            counters,
            names,
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
        self.bundle.schema.store(name)
    }

    pub(crate) fn strings(&self) -> &Strings {
        &self.strings
    }

    pub(crate) fn constants(&self) -> &[Val] {
        &self.constants
    }

    /// The slot of attribute table `table` for entity type `ty`.
    pub(crate) fn attr_slot(&self, table: u32, ty: u32) -> Option<u32> {
        self.attr_slots.get(table, ty)
    }

    /// The slot of context table `table` for action `action`.
    pub(crate) fn context_slot(&self, table: u32, action: u32) -> Option<u32> {
        self.context_slots.get(table, action)
    }

    pub(crate) fn bucket(&self, action: u32, resource_type: u32) -> Option<&Bucket> {
        let index = self.buckets_by.get(action, resource_type)?;
        self.buckets.get(index as usize)
    }

    /// Renders an entity reference for messages (`User::"alice"`).
    pub(crate) fn display_entity(
        &self,
        key: EntityKey,
        local: crate::strings::Texts<'_>,
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

/// The bundle's constants as VM values.
struct ConstantPool {
    /// What sets and records of constants point into.
    pool: Vec<Val>,
    /// The value of each bundle constant.
    values: Vec<Val>,
    ips: Vec<ipnet::IpNet>,
}

/// Turns the bundle's constant table into VM values: every set's members
/// are re-sorted in the VM's value order (strings order by symbol here).
fn constant_pool(bundle: &Bundle) -> ConstantPool {
    let mut pool: Vec<Val> = Vec::new();
    let mut ips: Vec<ipnet::IpNet> = Vec::new();
    let mut values: Vec<Val> = Vec::with_capacity(bundle.constants.len());
    for constant in &bundle.constants {
        // The verifier guarantees parts refer to earlier constants.
        let part = |i: u32, values: &[Val]| values.get(i as usize).copied().unwrap_or(Val::Absent);
        let value = match constant {
            Constant::Bool(b) => Val::Bool(*b),
            Constant::Int(n)
            | Constant::Duration(n)
            | Constant::Timestamp(n)
            | Constant::Decimal(n) => Val::Int(*n),
            Constant::String(s) => Val::Str(*s),
            Constant::Ip(ip) => {
                ips.push(*ip);
                Val::Ip(IpRef {
                    index: reaper_lang::schema::index_u32(ips.len() - 1),
                    pool: Pool::Const,
                })
            }
            Constant::Entity(ty, id) => Val::Entity(EntityKey::new(ty.0, *id)),
            Constant::Action(a) => Val::Action(a.0),
            Constant::Set(items) => {
                let mut members: Vec<Val> = items.iter().map(|i| part(*i, &values)).collect();
                let pools = Pools {
                    constants: &pool,
                    request: &[],
                    scratch: &[],
                    constant_ips: &ips,
                    request_ips: &[],
                    scratch_ips: &[],
                };
                normalize_set(&pools, &mut members);
                Val::Set(push(&mut pool, members))
            }
            Constant::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(key, value)| (*key, part(*value, &values)))
                    .collect();
                Val::Map(push(&mut pool, map_layout(entries)))
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
    ConstantPool { pool, values, ips }
}

fn push(pool: &mut Vec<Val>, items: Vec<Val>) -> Slice {
    let start = reaper_lang::schema::index_u32(pool.len());
    let len = reaper_lang::schema::index_u32(items.len());
    pool.extend(items);
    Slice::new(Pool::Const, start, len)
}
