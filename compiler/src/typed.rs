//! The typed tree: what the checker produces from a package's syntax trees.
//! Names are resolved to ids and slots, operators to their typed meaning.
//! Lowering to bytecode and the reference evaluator both start here.
//!
//! **Invariant:** a [`Package`] whose check produced no error is well typed:
//! every operand has the type its operator needs, every optional attribute
//! read is guarded, every id and slot is in range of [`Package::schema`].

use reaper_lang::limits::LimitSpec;
use reaper_lang::schema::Schema;
use reaper_lang::types::{ActionId, EntityTypeId, RecordType, Type};

pub use crate::ast::{ConditionKind, Effect, PatternPart, Var};
use crate::source::Span;

/// The type of an expression: a declared [`Type`] or one of the shapes only
/// expressions have.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int,
    String,
    Ip,
    Duration,
    Timestamp,
    Decimal,
    /// An entity of one of these types (sorted, deduplicated, non-empty).
    Entity(Vec<EntityTypeId>),
    Set(Box<Ty>),
    /// `[]`: a set of anything, until context says what.
    EmptySet,
    /// `Map<String, T>`.
    Map(Box<Ty>),
    /// Fields sorted by name; a field's index is its slot.
    Record(Vec<FieldTy>),
    /// The context of a rule whose actions have different context records
    /// (sorted action ids): its fields are read through the action.
    Context(Vec<ActionId>),
    /// An action (the `action` variable and bare action names).
    Action,
    /// A rate-limit descriptor: string entries, any of which may be absent.
    Descriptor,
    /// The HTTP request seen by the `http` mapping.
    Request,
    /// Already reported; absorbs further errors.
    Error,
}

impl Ty {
    pub fn from_type(ty: &Type) -> Ty {
        match ty {
            Type::Bool => Ty::Bool,
            Type::Int => Ty::Int,
            Type::String => Ty::String,
            Type::Ip => Ty::Ip,
            Type::Duration => Ty::Duration,
            Type::Timestamp => Ty::Timestamp,
            Type::Decimal => Ty::Decimal,
            Type::Entity(id) => Ty::Entity(vec![*id]),
            Type::Set(elem) => Ty::Set(Box::new(Ty::from_type(elem))),
            Type::Map(value) => Ty::Map(Box::new(Ty::from_type(value))),
            Type::Record(record) => Ty::record(record),
        }
    }

    /// The type of a value of a declared record type.
    pub fn record(record: &RecordType) -> Ty {
        Ty::Record(
            record
                .fields
                .iter()
                .map(|f| FieldTy {
                    name: f.name.clone(),
                    ty: Ty::from_type(&f.ty),
                    optional: f.optional,
                })
                .collect(),
        )
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Ty::Error)
    }
}

/// A field of a record type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldTy {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
}

/// The slot and field named `name` in record fields sorted by name.
pub fn field<'a>(fields: &'a [FieldTy], name: &str) -> Option<(u32, &'a FieldTy)> {
    let index = fields
        .binary_search_by(|f| f.name.as_str().cmp(name))
        .ok()?;
    Some((reaper_lang::schema::index_u32(index), &fields[index]))
}

/// A value known at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Const {
    Bool(bool),
    Int(i64),
    String(String),
    Ip(ipnet::IpNet),
    Duration(i64),
    Timestamp(i64),
    Decimal(i64),
    Entity(EntityTypeId, String),
    Action(ActionId),
}

impl Const {
    /// The constant as a value.
    pub fn to_value(&self) -> reaper_lang::value::Value {
        use reaper_lang::value::{Uid, Value};
        match self {
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(n) => Value::Int(*n),
            Const::String(s) => Value::String(s.clone()),
            Const::Ip(net) => Value::Ip(*net),
            Const::Duration(ms) => Value::Duration(*ms),
            Const::Timestamp(ms) => Value::Timestamp(*ms),
            Const::Decimal(n) => Value::Decimal(*n),
            Const::Entity(ty, id) => Value::Entity(Uid {
                ty: *ty,
                id: id.clone(),
            }),
            Const::Action(id) => Value::Action(*id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

/// An attribute read (`base.name`) or test (`base has name`): boxed whole,
/// base included, so the node costs one allocation and every other
/// expression node stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRead {
    pub base: Expr,
    pub name: String,
    pub access: Access,
}

impl Expr {
    pub fn unary(op: UnOp, operand: Expr, ty: Ty, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
            ty,
            span,
        }
    }

    pub fn binary(op: BinOp, lhs: Expr, rhs: Expr, ty: Ty, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            ty,
            span,
        }
    }
}

/// How an attribute is found in its base value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A record field, by slot.
    Record { slot: u32 },
    /// A field of the context of a rule whose actions have different
    /// context records: the slot for each action that has the field.
    Context { slots: Vec<(ActionId, u32)> },
    /// An entity attribute: the slot for each possible entity type (the
    /// base's type list, in order).
    Entity { slots: Vec<(EntityTypeId, u32)> },
    /// A descriptor entry, by key.
    Descriptor { key: String },
    /// A field of the HTTP request.
    Request(RequestField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestField {
    Method,
    Path,
    Host,
    SourceIp,
    Time,
}

impl RequestField {
    pub const ALL: [(&'static str, RequestField, Ty); 5] = [
        ("host", RequestField::Host, Ty::String),
        ("method", RequestField::Method, Ty::String),
        ("path", RequestField::Path, Ty::String),
        ("source_ip", RequestField::SourceIp, Ty::Ip),
        ("time", RequestField::Time, Ty::Timestamp),
    ];
}

/// An operator with its operand types resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    /// `<`, `<=`, `>`, `>=` on Int, Duration or Timestamp.
    Lt,
    Le,
    Gt,
    Ge,
    /// Checked 64-bit arithmetic (Int, Duration, Timestamp ± Duration).
    Add,
    Sub,
    Mul,
    /// Entity `in` entity: equal, or an ancestor.
    InEntity,
    /// Entity `in` a set of entities: `InEntity` for any member.
    InEntitySet,
    /// Value `in` set: membership.
    InSet,
    /// Ip `in` Ip: range containment.
    InRange,
    /// Ip `in` a set of Ips: containment in any of them.
    InRanges,
    /// `set.contains_all(other)`
    ContainsAll,
    /// `set.contains_any(other)`
    ContainsAny,
    /// `contains_all` on sets of Ips: by containment.
    ContainsAllRanges,
    /// `contains_any` on sets of Ips: by containment.
    ContainsAnyRanges,
    /// String `+` String.
    Concat,
    /// `s.starts_with(t)`
    StartsWith,
    /// `s.ends_with(t)`
    EndsWith,
    /// `s.contains(t)` on strings.
    ContainsText,
    /// `map.contains_key(k)`
    HasKey,
    /// `map.get(k)`: an absent key is an error.
    GetKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    Not,
    /// Checked negation of Int or Duration.
    Neg,
    /// `set.is_empty()`
    IsEmpty,
    /// `set.len()`
    Len,
    IsIpv4,
    IsIpv6,
    IsLoopback,
    IsMulticast,
    /// `e.id()`: an entity reference's id.
    EntityId,
    /// `ip(s)` of a computed string.
    ParseIp,
    /// `decimal(s)` of a computed string.
    ParseDecimal,
    ToDate,
    ToTime,
    DayOfWeek,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    ToDays,
    ToHours,
    ToMinutes,
    ToSeconds,
    ToMilliseconds,
    /// `map.keys()`
    Keys,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Const(Const),
    Var(Var),
    /// `Type::(expr)`
    DynEntity {
        ty: EntityTypeId,
        id: Box<Expr>,
    },
    Set(Vec<Expr>),
    /// A record literal's fields, sorted by name (as in its [`Ty::Record`]);
    /// optional fields it leaves out are absent.
    Record(Vec<(String, Expr)>),
    Attr(Box<FieldRead>),
    Has(Box<FieldRead>),
    Is {
        base: Box<Expr>,
        ty: EntityTypeId,
    },
    Like {
        base: Box<Expr>,
        pattern: Vec<PatternPart>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `header("name")` in the http mapping.
    Header(String),
    /// `has_header("name")` in the http mapping.
    HasHeader(String),
    /// `param("name")` in an http route.
    Param(String),
    /// Already reported.
    Error,
}

/// Where a declaration was written, for messages at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub span: Span,
}

impl Origin {
    /// The file's name without its directory. A package is one directory,
    /// so this names the file uniquely within it, and it does not depend on
    /// where the compiler ran (rule ids and bundles use it).
    pub fn file_name(&self) -> &str {
        self.file.rsplit(['/', '\\']).next().unwrap_or(&self.file)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub expr: Expr,
    /// The clause in canonical form (`when resource.public`), comments left
    /// out, for explanations.
    pub text: String,
    /// The operands of the clause's top-level chain (`&&` of a `when`, `||`
    /// of an `unless`) in canonical form, when it is one.
    pub parts: Vec<String>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `@id`, or `file:line` when the rule has none.
    pub id: String,
    /// Annotations other than `@id`, in source order.
    pub annotations: Vec<(String, String)>,
    pub effect: Effect,
    /// The actions the rule covers, sorted.
    pub actions: Vec<ActionId>,
    /// The resource types the rule can apply to, sorted.
    pub resource_types: Vec<EntityTypeId>,
    /// The principal types the rule can apply to, sorted.
    pub principal_types: Vec<EntityTypeId>,
    /// `on store NAME`: the resource must be `Store::"NAME"`.
    pub store: Option<String>,
    /// In source order; all `when`s must hold and no `unless`.
    pub conditions: Vec<Condition>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub spec: LimitSpec,
    pub conditions: Vec<Condition>,
    /// String expressions keying the counter.
    pub by: Vec<Expr>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub limits: Vec<Limit>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None` matches any method.
    pub method: Option<String>,
    pub pattern: Vec<RouteSegment>,
    pub action: ActionId,
    /// An entity expression of one type.
    pub resource: Expr,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSegment {
    Literal(String),
    /// `{name}`: one path segment, bound to `param("name")`.
    Param(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMapping {
    pub principal: Expr,
    /// A record of the context type; `None` when the schema has no context fields.
    pub context: Option<Expr>,
    pub routes: Vec<Route>,
    pub origin: Origin,
}

/// Entity data written in a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEntity {
    pub ty: EntityTypeId,
    pub id: String,
    /// Attribute values in slot order; `None` for an absent optional one.
    pub attrs: Vec<Option<Expr>>,
    pub parents: Vec<(EntityTypeId, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Permit,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub verdict: Verdict,
    pub action: ActionId,
    /// The resource's entity; the test's `resource` unless `on` names another.
    pub resource: (EntityTypeId, String),
    /// `with { … }`: context fields over the test's, for this expectation.
    pub with: Option<Expr>,
    /// Exact reasons expected, when given.
    pub because: Option<Vec<String>>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExpectation {
    pub domain: String,
    pub descriptor: Vec<(String, String)>,
    pub matches: Option<Vec<String>>,
    pub allows: Option<u64>,
    /// A sequence of hits on shared counters, with what each step expects.
    pub steps: Vec<LimitStep>,
    pub origin: Origin,
}

/// `at 1m: 3 hits => over_limit login, remaining 0, reset 30s;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStep {
    /// Milliseconds from the start of the sequence.
    pub at_ms: u64,
    pub hits: u64,
    pub over_limit: bool,
    /// The limit closest to tripping after the last hit.
    pub limit: Option<String>,
    pub remaining: Option<u64>,
    pub reset_ms: Option<u64>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub name: String,
    pub principal: Option<(EntityTypeId, String)>,
    pub entities: Vec<TestEntity>,
    /// The context record (slot order), if the test gives one.
    pub context: Option<Expr>,
    pub expectations: Vec<Expectation>,
    pub limit_expectations: Vec<LimitExpectation>,
    pub origin: Origin,
}

/// A checked package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub name: Option<String>,
    pub schema: Schema,
    pub rules: Vec<Rule>,
    pub domains: Vec<Domain>,
    pub http: Option<HttpMapping>,
    pub tests: Vec<Test>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See `ast::tests::nodes_stay_small`.
    #[test]
    fn nodes_stay_small() {
        assert!(
            std::mem::size_of::<Expr>() <= 88,
            "{}",
            std::mem::size_of::<Expr>()
        );
    }
}
