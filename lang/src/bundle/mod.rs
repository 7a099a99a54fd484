//! The compiled policy: everything the runtime needs, in one value that
//! encodes to a versioned, content-hashed binary ([`encode`], [`decode`]).
//! Identical contents give identical bytes. [`decode`] verifies a bundle
//! completely before returning it, so the runtime can trust every index.

mod disasm;
mod format;
mod verify;

pub use disasm::disassemble;
pub use format::{BundleError, FORMAT_VERSION, MAGIC, content_hash, decode, encode};

use serde::{Deserialize, Serialize};

use crate::bytecode::Function;
use crate::limits::LimitSpec;
use crate::schema::Schema;
use crate::types::{ActionId, EntityTypeId};

/// Deepest nesting of types and constants a bundle may hold; the parser
/// bounds source nesting lower than this.
pub const MAX_NESTING: usize = 300;

/// Most nodes the trees of a bundle's type table, or of its constant table,
/// may expand to in all. Entries refer to earlier entries, so a small table
/// can describe a DAG whose tree is exponentially large; decoding and
/// comparing walk the tree, so its size is what must be bounded.
pub const MAX_EXPANDED_NODES: usize = 1 << 22;

/// Depth and tree size of the entries of a flat table (types, constants)
/// whose entries refer to earlier ones; refuses a table nested deeper than
/// [`MAX_NESTING`] or expanding beyond [`MAX_EXPANDED_NODES`].
#[derive(Debug, Default)]
pub(crate) struct TableExtent {
    /// Per entry: (depth, nodes in its tree).
    entries: Vec<(usize, usize)>,
    total_nodes: usize,
}

impl TableExtent {
    pub(crate) fn with_capacity(entries: usize) -> Self {
        TableExtent {
            entries: Vec::with_capacity(entries),
            total_nodes: 0,
        }
    }

    /// Records the next entry, made of the earlier entries `children`
    /// (indexes the caller has checked are earlier). `what` names the entry
    /// in the error, e.g. "type 7".
    pub(crate) fn push(
        &mut self,
        what: &str,
        children: impl IntoIterator<Item = usize>,
    ) -> Result<(), String> {
        let (mut depth, mut nodes) = (1usize, 1usize);
        for child in children {
            let (child_depth, child_nodes) = self.entries[child];
            depth = depth.max(child_depth + 1);
            nodes = nodes.saturating_add(child_nodes);
        }
        if depth > MAX_NESTING {
            return Err(format!(
                "{what} is nested {depth} levels deep (limit {MAX_NESTING})"
            ));
        }
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        if self.total_nodes > MAX_EXPANDED_NODES {
            return Err(format!(
                "{what} takes the table beyond {MAX_EXPANDED_NODES} nodes when expanded"
            ));
        }
        self.entries.push((depth, nodes));
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    pub package: Option<String>,
    /// Interned strings; instructions and constants refer to them by index.
    pub strings: Vec<String>,
    pub schema: Schema,
    pub constants: Vec<Constant>,
    /// `like` patterns.
    pub patterns: Vec<Pattern>,
    /// For each entity attribute read, the slot per entity type.
    pub attr_tables: Vec<Vec<(EntityTypeId, u32)>>,
    /// For each context field read whose slot depends on the action, the
    /// slot per action.
    pub context_tables: Vec<Vec<(ActionId, u32)>>,
    pub functions: Vec<Function>,
    pub rules: Vec<Rule>,
    pub index: Vec<IndexEntry>,
    pub domains: Vec<Domain>,
    /// How an HTTP request becomes an authorization request (ext_authz).
    pub http: Option<HttpMapping>,
}

/// A constant. Sets and records refer to earlier constants by index, so the
/// table is flat and acyclic. Sets list their elements sorted and distinct.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Constant {
    Bool(bool),
    Int(i64),
    String(u32),
    Ip(ipnet::IpNet),
    Duration(i64),
    Timestamp(i64),
    /// Ten-thousandths.
    Decimal(i64),
    Entity(EntityTypeId, u32),
    Action(ActionId),
    Set(Vec<u32>),
    /// Entries: a key (a string index) and a value (an earlier constant),
    /// sorted by key text, each key once.
    Map(Vec<(u32, u32)>),
    Record(Vec<Option<u32>>),
}

pub use crate::pattern::{Pattern, PatternPart};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    Permit,
    Forbid,
}

/// A literal scope a rule's conditions require, which the index uses to
/// skip the rule for requests that cannot match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// No literal scope: a candidate for every request of its actions.
    Any,
    /// `principal == T::"id"` (type, string index).
    PrincipalIs(EntityTypeId, u32),
    /// `principal in T::"id"`
    PrincipalIn(EntityTypeId, u32),
    /// `resource == T::"id"`
    ResourceIs(EntityTypeId, u32),
    /// `resource in T::"id"`
    ResourceIn(EntityTypeId, u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub effect: Effect,
    pub annotations: Vec<(String, String)>,
    pub file: String,
    pub line: u32,
    /// The condition: a function returning a Bool.
    pub function: u32,
    pub scope: Scope,
    /// The `when`/`unless` clauses, in the order the function evaluates them.
    pub conditions: Vec<ConditionInfo>,
}

/// Where one clause's code starts in its rule's function, and what it says,
/// so an explanation can name the clause that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionInfo {
    pub unless: bool,
    /// The clause in canonical form, comments left out.
    pub text: String,
    pub line: u32,
    /// The first instruction of the clause's code.
    pub start: u32,
    /// The operands of the clause's top-level chain (`&&` in a `when`,
    /// `||` in an `unless`), each with its first instruction, so an
    /// explanation can name the one that decided; empty when the clause is
    /// not such a chain.
    pub parts: Vec<PartInfo>,
}

/// One operand of a clause's top-level chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub text: String,
    /// Its code: instructions `start` to `end` (excluded).
    pub start: u32,
    pub end: u32,
}

/// The rules that may apply to requests with this action and resource type,
/// in rule order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub action: ActionId,
    pub resource_type: EntityTypeId,
    pub rules: Vec<u32>,
}

/// The compiled `http` block: functions building the principal (an
/// entity), the context (a record) and, per route, the resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMapping {
    pub principal: u32,
    pub context: Option<u32>,
    /// The names of the fields of the record the context function returns,
    /// in slot order (it may leave optional context fields out).
    pub context_fields: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `None` matches any method.
    pub method: Option<String>,
    pub segments: Vec<Segment>,
    pub action: ActionId,
    pub resource: u32,
}

/// One `/`-separated piece of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    Literal(String),
    /// `{name}`: any one non-empty segment, read with `param("name")`.
    Param(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub limits: Vec<Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub spec: LimitSpec,
    /// A function returning a Bool; `None` when the limit has no condition.
    pub condition: Option<u32>,
    /// Functions returning the Strings that key the counter.
    pub keys: Vec<u32>,
    pub file: String,
    pub line: u32,
}
