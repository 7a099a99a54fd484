//! The syntax tree: what the parser produces and the formatter prints. Every
//! node has a span. Names are not resolved and nothing is typed here.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal: its decoded value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub package: Option<Ident>,
    pub items: Vec<Item>,
}

/// Large declarations are boxed: a policy is mostly rules, and a file's
/// item list should cost a pointer per rule, not the largest item's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Entity(Box<EntityDecl>),
    Action(Box<ActionDecl>),
    Context(ContextDecl),
    TypeAlias(Box<TypeAliasDecl>),
    Rule(Box<Rule>),
    RateLimit(Box<RateLimitDecl>),
    Store(Box<StoreDecl>),
    Http(HttpDecl),
    Test(Box<TestDecl>),
    /// A stretch of tokens that did not parse; a diagnostic says why.
    Error(BrokenItem),
}

/// An item that did not parse, and the name it was declaring if that much
/// was readable (so uses of the name are not reported as unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenItem {
    pub span: Span,
    pub declares: Option<(DeclKind, Ident)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    Entity,
    Action,
    TypeAlias,
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Entity(d) => d.span,
            Item::Action(d) => d.span,
            Item::Context(d) => d.span,
            Item::TypeAlias(d) => d.span,
            Item::Rule(d) => d.span,
            Item::RateLimit(d) => d.span,
            Item::Store(d) => d.span,
            Item::Http(d) => d.span,
            Item::Test(d) => d.span,
            Item::Error(broken) => broken.span,
        }
    }
}

/// `entity Document in [Folder] { owner: User, labels: Set<String> }`, or
/// `entity App enum ["web", "cli"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityDecl {
    pub name: Ident,
    pub parents: Vec<Ident>,
    /// `None` when the declaration has no braces at all.
    pub attrs: Option<Vec<AttrDecl>>,
    /// An enumerated type's ids (`enum ["web", "cli"]`).
    pub ids: Option<Vec<StrLit>>,
    pub span: Span,
}

/// `email?: String`, `"x-role"?: String`, `@sensitive password: String`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDecl {
    /// `@sensitive` (or `@sensitive("drop")`): decision logs mask the value.
    pub annotations: Vec<Annotation>,
    pub name: FieldName,
    pub optional: bool,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr {
    /// A primitive (`Int`), an entity type (`User`) or an alias (`Tasks`).
    Named(Ident),
    /// `Set<T>` or `Map<String, T>`: the generic's name and arguments.
    Generic {
        name: Ident,
        args: Vec<TypeExpr>,
        span: Span,
    },
    Record(Vec<AttrDecl>, Span),
}

impl TypeExpr {
    /// Height of the type's tree; the parser keeps it below [`MAX_EXPR_DEPTH`].
    pub fn depth(&self) -> u32 {
        match self {
            TypeExpr::Named(_) => 1,
            TypeExpr::Generic { args, .. } => {
                1 + args.iter().map(TypeExpr::depth).max().unwrap_or(0)
            }
            TypeExpr::Record(fields, _) => {
                1 + fields.iter().map(|f| f.ty.depth()).max().unwrap_or(0)
            }
        }
    }

    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(ident) => ident.span,
            TypeExpr::Generic { span, .. } | TypeExpr::Record(_, span) => *span,
        }
    }
}

/// `type Tasks = Set<Task>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeAliasDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `action read, edit in [viewers] on [Document] by [User] context { … }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDecl {
    pub names: Vec<Ident>,
    /// The groups the actions are in.
    pub groups: Vec<Ident>,
    pub resources: Vec<Ident>,
    pub principals: Vec<Ident>,
    /// The actions' own context record.
    pub context: Option<Vec<AttrDecl>>,
    pub span: Span,
}

/// `context { source_ip: Ip, mfa: Bool }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextDecl {
    pub attrs: Vec<AttrDecl>,
    pub span: Span,
}

/// `@id("owner-all")`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub key: Ident,
    pub value: Option<StrLit>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Permit,
    Forbid,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        }
    }
}

/// `@id("x") permit read on Document when resource.public;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub annotations: Vec<Annotation>,
    pub effect: Effect,
    pub effect_span: Span,
    pub actions: ActionScope,
    pub resource: Option<ResourceScope>,
    pub conditions: Vec<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionScope {
    /// No action written: every action.
    Any,
    /// `*`: every action, said explicitly.
    All(Span),
    /// `read`
    One(ActionRef),
    /// `[read, edit]`
    List(Vec<ActionRef>, Span),
}

/// An action name, or a built-in store action (`store.read`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    pub store: bool,
    pub name: Ident,
    pub span: Span,
}

impl ActionRef {
    /// The name as the schema knows it (`store.read` for store actions).
    pub fn full_name(&self) -> String {
        if self.store {
            format!("store.{}", self.name.name)
        } else {
            self.name.name.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceScope {
    /// `on Document` or `on [Document, Folder]`.
    Types { types: Vec<Ident>, span: Span },
    /// `on store sessions`
    Store(Ident, Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    When,
    Unless,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub expr: Expr,
    pub span: Span,
}

/// `ratelimit "edge" { limit ...; }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitDecl {
    pub domain: StrLit,
    pub limits: Vec<LimitDecl>,
    pub span: Span,
}

/// `limit per_user: 100 per minute, burst 20 when … by descriptor.user_id;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitDecl {
    pub name: Ident,
    pub count: IntLit,
    pub per: Per,
    pub options: Vec<Setting>,
    pub conditions: Vec<Condition>,
    pub by: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntLit {
    pub value: i64,
    pub span: Span,
}

/// The period of a limit: a unit name (`minute`) or a duration (`10s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Per {
    Unit(Ident),
    /// A duration literal, or an error expression if it was malformed.
    Duration(Expr),
}

/// A `name` or `name value` pair: limit options, store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: Ident,
    pub value: Option<Expr>,
    pub span: Span,
}

/// `store sessions by [Service] { ttl 30m, max_ttl 24h }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDecl {
    pub name: Ident,
    /// The principal types that may access the store; empty: the default.
    pub principals: Vec<Ident>,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// `http { principal = …; context = …; GET "/docs/{id}" => read Document::(param("id")); }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpDecl {
    pub items: Vec<HttpItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpItem {
    Principal { value: Expr, span: Span },
    Context { value: Expr, span: Span },
    Route(Route),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, … or `*` for any method.
    pub method: Ident,
    pub pattern: StrLit,
    pub action: ActionRef,
    pub resource: Expr,
    pub span: Span,
}

/// `test "name" { … }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDecl {
    pub name: StrLit,
    pub statements: Vec<TestStmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestStmt {
    Principal(EntityData),
    Resource(EntityData),
    Entity(EntityData),
    Context(Expr, Span),
    Expect(Expectation),
    ExpectLimit(LimitExpectation),
    /// A statement that did not parse.
    Error(Span),
}

/// `User::"alice" { department: "eng" } in [Team::"eng"]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityData {
    pub uid: EntityLit,
    pub attrs: Option<Vec<RecordField>>,
    pub parents: Vec<EntityLit>,
    pub span: Span,
}

/// `Type::"id"`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityLit {
    pub ty: Ident,
    pub id: StrLit,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Permit,
    Deny,
}

/// `expect deny delete on Document::"x" with { key: "k" } because ["mfa-delete"];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub verdict: Verdict,
    pub action: ActionRef,
    pub resource: Option<EntityLit>,
    /// Context fields for this expectation alone, over the test's context.
    pub with: Option<Expr>,
    pub because: Option<Vec<StrLit>>,
    pub span: Span,
}

/// `expect ratelimit "edge" { path: "/login" } matches [login] allows 5;`,
/// optionally with a sequence of hits: `{ 5 hits => ok; at 1m: 1 hit => ok; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExpectation {
    pub domain: StrLit,
    pub descriptor: Vec<RecordField>,
    pub descriptor_span: Span,
    pub matches: Option<Vec<Ident>>,
    pub allows: Option<IntLit>,
    pub steps: Option<Vec<LimitStep>>,
    pub span: Span,
}

/// `at 1m: 3 hits => over_limit login, remaining 0, reset 30s;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStep {
    /// `at DURATION`: when, from the start of the sequence.
    pub at: Option<Expr>,
    pub count: IntLit,
    /// `hit` or `hits`.
    pub unit: Ident,
    /// `ok` or `over_limit`.
    pub outcome: Ident,
    /// The limit expected to be closest to tripping.
    pub limit: Option<Ident>,
    /// `remaining N`, `reset DURATION`.
    pub details: Vec<Setting>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    pub name: FieldName,
    pub value: Expr,
    pub span: Span,
}

/// A field or attribute name: `name` or `"name with-dashes"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldName {
    pub name: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Height of this node's tree (a leaf is 1). The parser refuses trees
    /// taller than [`MAX_EXPR_DEPTH`], so recursive passes cannot overflow.
    pub depth: u32,
}

/// The tallest expression tree the parser builds.
pub const MAX_EXPR_DEPTH: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    String(String),
    Ip(ipnet::IpNet),
    /// Milliseconds.
    Duration(i64),
    /// Bytes; a size is an `Int` once checked.
    Size(i64),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Ten-thousandths.
    Decimal(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    Principal,
    Action,
    Resource,
    Context,
    Descriptor,
    Request,
}

impl Var {
    pub fn as_str(self) -> &'static str {
        match self {
            Var::Principal => "principal",
            Var::Action => "action",
            Var::Resource => "resource",
            Var::Context => "context",
            Var::Descriptor => "descriptor",
            Var::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
        }
    }
}

/// One piece of a `like` pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternPart {
    /// `*`: any run of characters, possibly empty.
    Wildcard,
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Literal(Literal),
    Var(Var),
    /// `Type::"id"` (boxed, like the names below: rare, large payloads
    /// would make every node of every tree larger).
    Entity(Box<EntityLit>),
    /// `Type::(expr)`: an entity from a computed id (HTTP mappings only).
    DynEntity {
        ty: Ident,
        id: Box<Expr>,
    },
    /// `[a, b]`
    Set(Vec<Expr>),
    /// `{ a: 1, "b-c": 2 }`
    Record(Vec<RecordField>),
    /// `base.name` or `base["name"]`
    Attr {
        base: Box<Expr>,
        name: FieldName,
    },
    /// `base has name`
    Has {
        base: Box<Expr>,
        name: FieldName,
    },
    /// `base is Type`
    Is {
        base: Box<Expr>,
        ty: Ident,
    },
    /// `base like "pat*"`
    Like {
        base: Box<Expr>,
        pattern: Vec<PatternPart>,
        pattern_span: Span,
    },
    /// `name(args)`: a built-in function such as `ip("::1")`.
    Call {
        name: Box<Ident>,
        args: Vec<Expr>,
    },
    /// `recv.name(args)`: a built-in method such as `labels.contains("x")`.
    Method {
        recv: Box<Expr>,
        name: Box<Ident>,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Parentheses are kept so the formatter reproduces them.
    Paren(Box<Expr>),
    /// A bare name. None is defined; the checker reports it with a suggestion.
    Name(Ident),
    /// An expression that did not parse; a diagnostic says why.
    Error,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        let mut expr = Self {
            kind,
            span,
            depth: 1,
        };
        expr.depth = 1 + expr.max_child_depth();
        expr
    }

    /// The greatest depth among the direct sub-expressions (0 for a leaf);
    /// computed without allocating, as every node the parser builds asks.
    fn max_child_depth(&self) -> u32 {
        let max = |items: &[Expr]| items.iter().map(|e| e.depth).max().unwrap_or(0);
        match &self.kind {
            ExprKind::Literal(_)
            | ExprKind::Var(_)
            | ExprKind::Entity(_)
            | ExprKind::Name(_)
            | ExprKind::Error => 0,
            ExprKind::DynEntity { id: inner, .. }
            | ExprKind::Attr { base: inner, .. }
            | ExprKind::Has { base: inner, .. }
            | ExprKind::Is { base: inner, .. }
            | ExprKind::Like { base: inner, .. }
            | ExprKind::Unary { operand: inner, .. }
            | ExprKind::Paren(inner) => inner.depth,
            ExprKind::Set(items) | ExprKind::Call { args: items, .. } => max(items),
            ExprKind::Record(fields) => fields.iter().map(|f| f.value.depth).max().unwrap_or(0),
            ExprKind::Method { recv, args, .. } => recv.depth.max(max(args)),
            ExprKind::Binary { lhs, rhs, .. } => lhs.depth.max(rhs.depth),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => cond.depth.max(then.depth).max(otherwise.depth),
        }
    }

    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Literal(_)
            | ExprKind::Var(_)
            | ExprKind::Entity(_)
            | ExprKind::Name(_)
            | ExprKind::Error => Vec::new(),
            ExprKind::DynEntity { id, .. } => vec![id],
            ExprKind::Set(items) => items.iter().collect(),
            ExprKind::Record(fields) => fields.iter().map(|f| &f.value).collect(),
            ExprKind::Attr { base, .. }
            | ExprKind::Has { base, .. }
            | ExprKind::Is { base, .. }
            | ExprKind::Like { base, .. } => vec![base],
            ExprKind::Call { args, .. } => args.iter().collect(),
            ExprKind::Method { recv, args, .. } => {
                std::iter::once(&**recv).chain(args.iter()).collect()
            }
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => vec![cond, then, otherwise],
            ExprKind::Paren(inner) => vec![inner],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large policy's syntax trees are mostly expression nodes and items
    /// (`docs/benchmarks.md`, Memory): rare, large payloads are boxed so
    /// these stay small.
    #[test]
    fn nodes_stay_small() {
        assert!(
            std::mem::size_of::<Expr>() <= 72,
            "{}",
            std::mem::size_of::<Expr>()
        );
        assert!(
            std::mem::size_of::<Item>() <= 64,
            "{}",
            std::mem::size_of::<Item>()
        );
    }
}
