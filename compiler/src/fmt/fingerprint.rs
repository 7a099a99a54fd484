//! A span-free S-expression of a syntax tree. Two files have the same
//! fingerprint exactly when their trees are equal ignoring spans and depths,
//! which is how the formatter proves it never changes what a file means.

use std::fmt::Write as _;

use crate::ast::*;

/// Renders `file` as a compact S-expression without spans.
pub fn tree_fingerprint(file: &File) -> String {
    let mut w = Sexp::default();
    w.open("file");
    match &file.package {
        Some(name) => w.node("package", |w| w.ident(name)),
        None => w.atom("-"),
    }
    for item in &file.items {
        w.item(item);
    }
    w.close();
    w.out
}

#[derive(Default)]
struct Sexp {
    out: String,
}

impl Sexp {
    fn open(&mut self, head: &str) {
        self.out.push('(');
        self.out.push_str(head);
    }

    fn close(&mut self) {
        self.out.push(')');
    }

    fn node(&mut self, head: &str, body: impl FnOnce(&mut Self)) {
        self.open(head);
        body(self);
        self.close();
    }

    fn atom(&mut self, atom: impl std::fmt::Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.out, " {atom}");
    }

    /// Strings are quoted and escaped, so they cannot be confused with
    /// atoms or structure.
    fn string(&mut self, s: &str) {
        let _ = write!(self.out, " {s:?}");
    }

    fn ident(&mut self, ident: &Ident) {
        self.string(&ident.name);
    }

    fn idents(&mut self, head: &str, idents: &[Ident]) {
        self.node(head, |w| idents.iter().for_each(|i| w.ident(i)));
    }

    fn flag(&mut self, flag: bool) {
        self.atom(if flag { "t" } else { "f" });
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Entity(d) => self.node("entity", |w| {
                w.ident(&d.name);
                w.idents("parents", &d.parents);
                match &d.attrs {
                    Some(attrs) => w.attr_decls(attrs),
                    None => w.atom("-"),
                }
                if let Some(ids) = &d.ids {
                    w.node("enum", |w| ids.iter().for_each(|id| w.string(&id.value)));
                }
            }),
            Item::Action(d) => self.node("action", |w| {
                w.idents("names", &d.names);
                w.idents("in", &d.groups);
                w.idents("on", &d.resources);
                w.idents("by", &d.principals);
                if let Some(context) = &d.context {
                    w.attr_decls(context);
                }
            }),
            Item::Context(d) => self.node("context", |w| w.attr_decls(&d.attrs)),
            Item::TypeAlias(d) => self.node("type", |w| {
                w.ident(&d.name);
                w.type_expr(&d.ty);
            }),
            Item::Rule(rule) => self.rule(rule),
            Item::RateLimit(d) => self.node("ratelimit", |w| {
                w.string(&d.domain.value);
                d.limits.iter().for_each(|l| w.limit(l));
            }),
            Item::Store(d) => self.node("store", |w| {
                w.ident(&d.name);
                w.idents("by", &d.principals);
                d.settings.iter().for_each(|s| w.setting(s));
            }),
            Item::Http(d) => self.node("http", |w| d.items.iter().for_each(|i| w.http_item(i))),
            Item::Test(d) => self.node("test", |w| {
                w.string(&d.name.value);
                d.statements.iter().for_each(|s| w.test_stmt(s));
            }),
            Item::Error(_) => self.atom("error"),
        }
    }

    fn attr_decls(&mut self, attrs: &[AttrDecl]) {
        self.node("attrs", |w| {
            for attr in attrs {
                w.node("attr", |w| {
                    w.annotations(&attr.annotations);
                    w.field_name(&attr.name);
                    w.flag(attr.optional);
                    w.type_expr(&attr.ty);
                });
            }
        });
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named(name) => self.ident(name),
            TypeExpr::Generic { name, args, .. } => self.node("generic", |w| {
                w.ident(name);
                args.iter().for_each(|a| w.type_expr(a));
            }),
            TypeExpr::Record(attrs, _) => self.attr_decls(attrs),
        }
    }

    fn annotations(&mut self, annotations: &[Annotation]) {
        for a in annotations {
            self.node("@", |w| {
                w.ident(&a.key);
                match &a.value {
                    Some(value) => w.string(&value.value),
                    None => w.atom("-"),
                }
            });
        }
    }

    fn rule(&mut self, rule: &Rule) {
        self.node("rule", |w| {
            w.annotations(&rule.annotations);
            w.atom(rule.effect.as_str());
            match &rule.actions {
                ActionScope::Any => w.atom("any"),
                ActionScope::All(_) => w.atom("*"),
                ActionScope::One(a) => w.node("one", |w| w.action_ref(a)),
                ActionScope::List(list, _) => {
                    w.node("list", |w| list.iter().for_each(|a| w.action_ref(a)));
                }
            }
            match &rule.resource {
                None => w.atom("-"),
                Some(ResourceScope::Types { types, .. }) => w.idents("on", types),
                Some(ResourceScope::Store(name, _)) => w.node("on-store", |w| w.ident(name)),
            }
            w.conditions(&rule.conditions);
        });
    }

    fn conditions(&mut self, conditions: &[Condition]) {
        for c in conditions {
            let head = match c.kind {
                ConditionKind::When => "when",
                ConditionKind::Unless => "unless",
            };
            self.node(head, |w| w.expr(&c.expr));
        }
    }

    fn action_ref(&mut self, action: &ActionRef) {
        self.string(&action.full_name());
        self.flag(action.store);
    }

    fn limit(&mut self, limit: &LimitDecl) {
        self.node("limit", |w| {
            w.ident(&limit.name);
            w.atom(limit.count.value);
            match &limit.per {
                Per::Unit(unit) => w.node("per", |w| w.ident(unit)),
                Per::Duration(d) => w.node("per", |w| w.expr(d)),
            }
            limit.options.iter().for_each(|s| w.setting(s));
            w.conditions(&limit.conditions);
            w.node("by", |w| limit.by.iter().for_each(|e| w.expr(e)));
        });
    }

    fn setting(&mut self, setting: &Setting) {
        self.node("setting", |w| {
            w.ident(&setting.key);
            if let Some(value) = &setting.value {
                w.expr(value);
            }
        });
    }

    fn http_item(&mut self, item: &HttpItem) {
        match item {
            HttpItem::Principal { value, .. } => self.node("principal", |w| w.expr(value)),
            HttpItem::Context { value, .. } => self.node("context", |w| w.expr(value)),
            HttpItem::Route(route) => self.node("route", |w| {
                w.ident(&route.method);
                w.string(&route.pattern.value);
                w.action_ref(&route.action);
                w.expr(&route.resource);
            }),
        }
    }

    fn test_stmt(&mut self, stmt: &TestStmt) {
        match stmt {
            TestStmt::Principal(d) => self.node("principal", |w| w.entity_data(d)),
            TestStmt::Resource(d) => self.node("resource", |w| w.entity_data(d)),
            TestStmt::Entity(d) => self.node("entity", |w| w.entity_data(d)),
            TestStmt::Context(value, _) => self.node("context", |w| w.expr(value)),
            TestStmt::Expect(e) => self.node("expect", |w| {
                w.atom(match e.verdict {
                    Verdict::Permit => "permit",
                    Verdict::Deny => "deny",
                });
                w.action_ref(&e.action);
                match &e.resource {
                    Some(lit) => w.entity_lit(lit),
                    None => w.atom("-"),
                }
                match &e.with {
                    Some(with) => w.node("with", |w| w.expr(with)),
                    None => w.atom("-"),
                }
                match &e.because {
                    Some(ids) => w.node("because", |w| ids.iter().for_each(|s| w.string(&s.value))),
                    None => w.atom("-"),
                }
            }),
            TestStmt::ExpectLimit(e) => self.node("expect-limit", |w| {
                w.string(&e.domain.value);
                w.fields(&e.descriptor);
                match &e.matches {
                    Some(names) => w.idents("matches", names),
                    None => w.atom("-"),
                }
                match &e.allows {
                    Some(n) => w.atom(n.value),
                    None => w.atom("-"),
                }
                for step in e.steps.iter().flatten() {
                    w.node("step", |w| {
                        match &step.at {
                            Some(at) => w.expr(at),
                            None => w.atom("-"),
                        }
                        w.atom(step.count.value);
                        w.ident(&step.unit);
                        w.ident(&step.outcome);
                        match &step.limit {
                            Some(limit) => w.ident(limit),
                            None => w.atom("-"),
                        }
                        step.details.iter().for_each(|d| w.setting(d));
                    });
                }
            }),
            TestStmt::Error(_) => self.atom("error"),
        }
    }

    fn entity_data(&mut self, data: &EntityData) {
        self.entity_lit(&data.uid);
        match &data.attrs {
            Some(fields) => self.fields(fields),
            None => self.atom("-"),
        }
        self.node("in", |w| data.parents.iter().for_each(|p| w.entity_lit(p)));
    }

    fn entity_lit(&mut self, lit: &EntityLit) {
        self.node("uid", |w| {
            w.ident(&lit.ty);
            w.string(&lit.id.value);
        });
    }

    fn fields(&mut self, fields: &[RecordField]) {
        self.node("record", |w| {
            for f in fields {
                w.node("field", |w| {
                    w.field_name(&f.name);
                    w.expr(&f.value);
                });
            }
        });
    }

    fn field_name(&mut self, name: &FieldName) {
        self.string(&name.name);
        self.flag(name.quoted);
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Literal(lit) => self.literal(lit),
            ExprKind::Var(var) => self.atom(var.as_str()),
            ExprKind::Entity(lit) => self.entity_lit(lit),
            ExprKind::DynEntity { ty, id } => self.node("dyn", |w| {
                w.ident(ty);
                w.expr(id);
            }),
            ExprKind::Set(items) => self.node("set", |w| items.iter().for_each(|e| w.expr(e))),
            ExprKind::Record(fields) => self.fields(fields),
            ExprKind::Attr { base, name } => self.node(".", |w| {
                w.expr(base);
                w.field_name(name);
            }),
            ExprKind::Has { base, name } => self.node("has", |w| {
                w.expr(base);
                w.field_name(name);
            }),
            ExprKind::Is { base, ty } => self.node("is", |w| {
                w.expr(base);
                w.ident(ty);
            }),
            ExprKind::Like { base, pattern, .. } => self.node("like", |w| {
                w.expr(base);
                for part in pattern {
                    match part {
                        PatternPart::Wildcard => w.atom("*"),
                        PatternPart::Literal(text) => w.string(text),
                    }
                }
            }),
            ExprKind::Call { name, args } => self.node("call", |w| {
                w.ident(name);
                args.iter().for_each(|a| w.expr(a));
            }),
            ExprKind::Method { recv, name, args } => self.node("method", |w| {
                w.ident(name);
                w.expr(recv);
                args.iter().for_each(|a| w.expr(a));
            }),
            ExprKind::Unary { op, operand } => {
                let head = match op {
                    UnaryOp::Not => "!",
                    UnaryOp::Neg => "neg",
                };
                self.node(head, |w| w.expr(operand));
            }
            ExprKind::Binary { op, lhs, rhs } => self.node(op.as_str(), |w| {
                w.expr(lhs);
                w.expr(rhs);
            }),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.node("if", |w| {
                w.expr(cond);
                w.expr(then);
                w.expr(otherwise);
            }),
            ExprKind::Paren(inner) => self.node("paren", |w| w.expr(inner)),
            ExprKind::Name(name) => self.node("name", |w| w.ident(name)),
            ExprKind::Error => self.atom("error"),
        }
    }

    fn literal(&mut self, lit: &Literal) {
        match lit {
            Literal::Bool(b) => self.atom(b),
            Literal::Int(n) => self.node("int", |w| w.atom(n)),
            Literal::String(s) => self.string(s),
            Literal::Ip(net) => self.node("ip", |w| w.atom(net)),
            Literal::Duration(ms) => self.node("duration", |w| w.atom(ms)),
            Literal::Size(bytes) => self.node("size", |w| w.atom(bytes)),
            Literal::Timestamp(ms) => self.node("timestamp", |w| w.atom(ms)),
            Literal::Decimal(n) => self.node("decimal", |w| w.atom(n)),
        }
    }
}
