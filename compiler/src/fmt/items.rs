//! Declarations, rules, blocks and test statements: one function per kind
//! of item, each returning the item's document.

use crate::ast::{
    ActionDecl, ActionScope, Annotation, Condition, ConditionKind, EntityData, EntityDecl, Expr,
    File, HttpItem, Ident, Item, LimitDecl, LimitExpectation, LimitStep, Per, RateLimitDecl,
    ResourceScope, Rule, Setting, StoreDecl, TestDecl, TestStmt, Verdict,
};

use super::doc::Doc;
use super::printer::{BRACES, BRACKETS, Gap, Printer};
use crate::source::Span;

impl<'a> Printer<'a> {
    pub(super) fn file(&mut self, file: &File) -> Doc<'a> {
        let mut docs = Vec::new();
        if let Some(package) = &file.package {
            docs.push(self.lead(Gap::START));
            docs.extend([self.kw("package"), Doc::Space, self.ident(package)]);
        }
        for (i, item) in file.items.iter().enumerate() {
            let gap = if i == 0 && file.package.is_none() {
                Gap::START
            } else {
                Gap::BETWEEN
            };
            docs.push(Doc::HardLine);
            docs.push(self.lead(gap));
            docs.push(self.item(item));
        }
        docs.push(Doc::HardLine);
        docs.push(self.rest(file.package.is_some() || !file.items.is_empty()));
        Doc::concat(docs)
    }

    fn item(&mut self, item: &Item) -> Doc<'a> {
        match item {
            Item::Entity(decl) => self.entity_decl(decl),
            Item::Action(decl) => self.action_decl(decl),
            Item::Context(decl) => Doc::concat(vec![
                self.kw("context"),
                Doc::Space,
                self.attr_decls(&decl.attrs),
            ]),
            Item::TypeAlias(decl) => Doc::concat(vec![
                self.kw("type"),
                Doc::Space,
                self.ident(&decl.name),
                Doc::Space,
                self.kw("="),
                Doc::Space,
                self.type_expr(&decl.ty),
            ]),
            Item::Rule(rule) => self.rule(rule),
            Item::RateLimit(decl) => self.ratelimit(decl),
            Item::Store(decl) => self.store(decl),
            Item::Http(decl) => {
                let head = self.kw("http");
                let body = self.block(&decl.items, Self::http_item);
                Doc::concat(vec![head, Doc::Space, body])
            }
            Item::Test(decl) => self.test(decl),
            Item::Error(broken) => self.copy(broken.span),
        }
    }

    fn entity_decl(&mut self, decl: &EntityDecl) -> Doc<'a> {
        let mut docs = vec![self.kw("entity"), Doc::Space, self.ident(&decl.name)];
        if decl.parents.is_empty() {
            // `in []` says nothing; the tree is the same without it.
            if self.skip("in") {
                self.skip("[");
                self.skip("]");
            }
        } else {
            docs.extend([Doc::Space, self.kw("in"), Doc::Space]);
            let synth = !self.next_is("[");
            docs.push(self.list(BRACKETS.added(synth), &decl.parents, Self::ident));
        }
        if let Some(attrs) = &decl.attrs {
            docs.extend([Doc::Space, self.attr_decls(attrs)]);
        }
        if let Some(ids) = &decl.ids {
            docs.extend([Doc::Space, self.kw("enum"), Doc::Space]);
            docs.push(self.list(BRACKETS, ids, |p, id| p.verbatim(id.span)));
        }
        Doc::concat(docs)
    }

    fn action_decl(&mut self, decl: &ActionDecl) -> Doc<'a> {
        let keyword = self.kw("action");
        let mut names = Vec::new();
        for (i, name) in decl.names.iter().enumerate() {
            if i > 0 {
                names.extend([self.sep(","), Doc::Line]);
            }
            names.push(self.ident(name));
        }
        self.skip(",");
        let mut docs = vec![
            keyword,
            Doc::Space,
            Doc::group(Doc::indent(Doc::concat(names))),
        ];
        for (keyword, types) in [
            ("in", &decl.groups),
            ("on", &decl.resources),
            ("by", &decl.principals),
        ] {
            if types.is_empty() {
                if self.skip(keyword) {
                    self.skip("[");
                    self.skip("]");
                }
            } else {
                docs.extend([
                    Doc::Space,
                    self.kw(keyword),
                    Doc::Space,
                    self.type_list(types),
                ]);
            }
        }
        if let Some(context) = &decl.context {
            // A comment before the action's `context` would end its line,
            // and a line that starts with `context` declares the package's:
            // the comment goes after the keyword instead.
            let keyword = if self.comment_pending() && self.skip("context") {
                Doc::text("context")
            } else {
                self.kw("context")
            };
            docs.extend([Doc::Space, keyword, Doc::Space, self.attr_decls(context)]);
        }
        Doc::concat(docs)
    }

    /// One type bare, several in brackets (`on [Folder, Document]`).
    fn type_list(&mut self, types: &[Ident]) -> Doc<'a> {
        match types {
            [one] => {
                let bracketed = self.skip("[");
                let doc = self.ident(one);
                if bracketed {
                    self.skip(",");
                    self.skip("]");
                }
                doc
            }
            _ => self.list(BRACKETS, types, Self::ident),
        }
    }

    pub(super) fn annotation(&mut self, annotation: &Annotation) -> Doc<'a> {
        let mut docs = vec![self.kw("@"), self.ident(&annotation.key)];
        if let Some(value) = &annotation.value {
            docs.extend([self.kw("("), self.verbatim(value.span), self.kw(")")]);
        }
        Doc::concat(docs)
    }

    fn rule(&mut self, rule: &Rule) -> Doc<'a> {
        let mut docs = Vec::new();
        for annotation in &rule.annotations {
            docs.push(self.annotation(annotation));
            docs.push(Doc::HardLine);
        }
        // Comments before the effect go above the rule, not inside its group,
        // where they would force the conditions onto their own lines.
        docs.push(self.lead(Gap::TIGHT));
        let mut head = vec![self.at(rule.effect_span, rule.effect.as_str())];
        match &rule.actions {
            ActionScope::Any => {}
            ActionScope::All(span) => head.extend([Doc::Space, self.at(*span, "*")]),
            ActionScope::One(action) => head.extend([Doc::Space, self.action_ref(action)]),
            ActionScope::List(actions, _) => {
                head.push(Doc::Space);
                head.push(self.list(BRACKETS, actions, Self::action_ref));
            }
        }
        match &rule.resource {
            None => {}
            Some(ResourceScope::Types { types, .. }) => {
                head.extend([Doc::Space, self.kw("on"), Doc::Space, self.type_list(types)]);
            }
            Some(ResourceScope::Store(name, _)) => head.extend([
                Doc::Space,
                self.kw("on"),
                Doc::Space,
                self.kw("store"),
                Doc::Space,
                self.ident(name),
            ]),
        }
        let mut tail = self.conditions(&rule.conditions);
        tail.push(self.sep(";"));
        head.push(Doc::indent(Doc::concat(tail)));
        docs.push(Doc::group(Doc::concat(head)));
        Doc::concat(docs)
    }

    /// Each clause starts a line of its own when the enclosing group breaks.
    fn conditions(&mut self, conditions: &[Condition]) -> Vec<Doc<'a>> {
        let mut docs = Vec::new();
        for condition in conditions {
            let keyword = match condition.kind {
                ConditionKind::When => self.kw("when"),
                ConditionKind::Unless => self.kw("unless"),
            };
            docs.extend([Doc::Line, keyword, Doc::Space, self.expr(&condition.expr)]);
        }
        docs
    }

    fn ratelimit(&mut self, decl: &RateLimitDecl) -> Doc<'a> {
        self.named_block("ratelimit", decl.domain.span, &decl.limits, Self::limit)
    }

    /// `keyword "name" { items }`, the name kept as written.
    fn named_block<T>(
        &mut self,
        keyword: &'static str,
        name: Span,
        items: &[T],
        item: impl FnMut(&mut Self, &T) -> Doc<'a>,
    ) -> Doc<'a> {
        Doc::concat(vec![
            self.kw(keyword),
            Doc::Space,
            self.verbatim(name),
            Doc::Space,
            self.block(items, item),
        ])
    }

    fn limit(&mut self, limit: &LimitDecl) -> Doc<'a> {
        let mut head = vec![
            self.kw("limit"),
            Doc::Space,
            self.ident(&limit.name),
            self.kw(":"),
            Doc::Space,
            self.verbatim(limit.count.span),
            Doc::Space,
            self.kw("per"),
            Doc::Space,
        ];
        head.push(match &limit.per {
            Per::Unit(unit) => self.ident(unit),
            Per::Duration(duration) => self.expr(duration),
        });
        for option in &limit.options {
            head.extend([self.sep(","), Doc::Space, self.setting(option)]);
        }
        let mut tail = self.conditions(&limit.conditions);
        if !limit.by.is_empty() {
            tail.extend([Doc::Line, self.kw("by"), Doc::Space]);
            for (i, key) in limit.by.iter().enumerate() {
                if i > 0 {
                    tail.extend([self.sep(","), Doc::Space]);
                }
                tail.push(self.expr(key));
            }
            self.skip(",");
        }
        tail.push(self.sep(";"));
        head.push(Doc::indent(Doc::concat(tail)));
        Doc::group(Doc::concat(head))
    }

    fn setting(&mut self, setting: &Setting) -> Doc<'a> {
        let key = self.ident(&setting.key);
        match &setting.value {
            Some(value) => Doc::concat(vec![key, Doc::Space, self.expr(value)]),
            None => key,
        }
    }

    fn store(&mut self, decl: &StoreDecl) -> Doc<'a> {
        let mut docs = vec![self.kw("store"), Doc::Space, self.ident(&decl.name)];
        if decl.principals.is_empty() {
            if self.skip("by") {
                self.skip("[");
                self.skip("]");
            }
        } else {
            docs.extend([
                Doc::Space,
                self.kw("by"),
                Doc::Space,
                self.type_list(&decl.principals),
            ]);
        }
        docs.extend([Doc::Space, self.list(BRACES, &decl.settings, Self::setting)]);
        Doc::concat(docs)
    }

    fn http_item(&mut self, item: &HttpItem) -> Doc<'a> {
        let docs = match item {
            HttpItem::Principal { value, .. } => self.assignment("principal", value),
            HttpItem::Context { value, .. } => self.assignment("context", value),
            HttpItem::Route(route) => vec![
                self.ident(&route.method),
                Doc::Space,
                self.verbatim(route.pattern.span),
                Doc::Space,
                self.kw("=>"),
                Doc::Space,
                self.action_ref(&route.action),
                Doc::Space,
                self.expr(&route.resource),
                self.sep(";"),
            ],
        };
        Doc::concat(docs)
    }

    fn assignment(&mut self, keyword: &'static str, value: &Expr) -> Vec<Doc<'a>> {
        vec![
            self.kw(keyword),
            Doc::Space,
            self.kw("="),
            Doc::Space,
            self.expr(value),
            self.sep(";"),
        ]
    }

    fn test(&mut self, decl: &TestDecl) -> Doc<'a> {
        self.named_block("test", decl.name.span, &decl.statements, Self::test_stmt)
    }

    fn test_stmt(&mut self, stmt: &TestStmt) -> Doc<'a> {
        let mut docs = match stmt {
            TestStmt::Principal(data) => self.entity_data("principal", data),
            TestStmt::Resource(data) => self.entity_data("resource", data),
            TestStmt::Entity(data) => self.entity_data("entity", data),
            TestStmt::Context(value, _) => vec![self.kw("context"), Doc::Space, self.expr(value)],
            TestStmt::Expect(expect) => {
                let verdict = match expect.verdict {
                    Verdict::Permit => "permit",
                    Verdict::Deny => "deny",
                };
                let mut docs = vec![
                    self.kw("expect"),
                    Doc::Space,
                    self.kw(verdict),
                    Doc::Space,
                    self.action_ref(&expect.action),
                ];
                if let Some(resource) = &expect.resource {
                    docs.extend([
                        Doc::Space,
                        self.kw("on"),
                        Doc::Space,
                        self.entity_lit(resource),
                    ]);
                }
                if let Some(with) = &expect.with {
                    docs.extend([Doc::Space, self.kw("with"), Doc::Space, self.expr(with)]);
                }
                if let Some(because) = &expect.because {
                    docs.extend([Doc::Space, self.kw("because"), Doc::Space]);
                    docs.push(self.list(BRACKETS, because, |p, s| p.verbatim(s.span)));
                }
                docs
            }
            TestStmt::ExpectLimit(expect) => self.expect_limit(expect),
            TestStmt::Error(span) => return self.copy(*span),
        };
        docs.push(self.sep(";"));
        Doc::concat(docs)
    }

    fn entity_data(&mut self, keyword: &'static str, data: &EntityData) -> Vec<Doc<'a>> {
        let mut docs = vec![self.kw(keyword), Doc::Space, self.entity_lit(&data.uid)];
        if let Some(attrs) = &data.attrs {
            docs.extend([Doc::Space, self.record(BRACES.breaking_first(), attrs)]);
        }
        if data.parents.is_empty() {
            if self.skip("in") {
                self.skip("[");
                self.skip("]");
            }
        } else {
            docs.extend([Doc::Space, self.kw("in"), Doc::Space]);
            let synth = !self.next_is("[");
            docs.push(self.list(BRACKETS.added(synth), &data.parents, Self::entity_lit));
        }
        docs
    }

    fn expect_limit(&mut self, expect: &LimitExpectation) -> Vec<Doc<'a>> {
        let mut docs = vec![
            self.kw("expect"),
            Doc::Space,
            self.kw("ratelimit"),
            Doc::Space,
            self.verbatim(expect.domain.span),
            Doc::Space,
            self.record(BRACES.breaking_first(), &expect.descriptor),
        ];
        if let Some(matches) = &expect.matches {
            docs.extend([Doc::Space, self.kw("matches"), Doc::Space]);
            docs.push(self.list(BRACKETS, matches, Self::ident));
        }
        if let Some(allows) = &expect.allows {
            docs.extend([
                Doc::Space,
                self.kw("allows"),
                Doc::Space,
                self.verbatim(allows.span),
            ]);
        }
        if let Some(steps) = &expect.steps {
            docs.extend([Doc::Space, self.block(steps, Self::limit_step)]);
        }
        docs
    }

    /// `at 1m: 3 hits => over_limit login, remaining 0;`
    fn limit_step(&mut self, step: &LimitStep) -> Doc<'a> {
        let mut docs = Vec::new();
        if let Some(at) = &step.at {
            docs.extend([
                self.kw("at"),
                Doc::Space,
                self.expr(at),
                self.kw(":"),
                Doc::Space,
            ]);
        }
        docs.extend([
            self.verbatim(step.count.span),
            Doc::Space,
            self.ident(&step.unit),
            Doc::Space,
            self.kw("=>"),
            Doc::Space,
            self.ident(&step.outcome),
        ]);
        if let Some(limit) = &step.limit {
            docs.extend([Doc::Space, self.ident(limit)]);
        }
        for detail in &step.details {
            docs.extend([self.sep(","), Doc::Space, self.setting(detail)]);
        }
        docs.push(self.sep(";"));
        Doc::concat(docs)
    }
}
