//! Checking of `test` blocks: entity data and context conform to the schema,
//! expectations name declared actions, rules, domains and limits, and every
//! expectation has the principal, resource and context it needs.

use std::collections::HashMap;

use reaper_lang::types::EntityTypeId;

use super::Checker;
use super::expr::Scope;
use super::facts::Facts;
use super::types::{conforms, record_conforms};
use crate::ast::{self, ExprKind, Item, Literal, TestStmt};
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::typed::{self, Ty};

type Uid = (EntityTypeId, String);

impl Checker<'_> {
    pub(super) fn check_tests(&mut self, trees: &[&ast::File]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for tree in trees {
            for item in &tree.items {
                let Item::Test(decl) = item else { continue };
                if let Some(previous) = seen.get(&decl.name.value) {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::DUPLICATE_TEST,
                            decl.name.span,
                            format!("test {:?} is declared twice", decl.name.value),
                        )
                        .label("declared again here")
                        .with_secondary(*previous, "first declared here")
                        .help("test names identify failures; give each test its own"),
                    );
                } else {
                    seen.insert(decl.name.value.clone(), decl.name.span);
                }
                let test = self.test(decl);
                self.package.tests.push(test);
            }
        }
    }

    fn test(&mut self, decl: &ast::TestDecl) -> typed::Test {
        let mut principal: Option<Uid> = None;
        let mut resource: Option<Uid> = None;
        let mut entities: Vec<typed::TestEntity> = Vec::new();
        let mut declared_at: HashMap<Uid, Span> = HashMap::new();
        let mut context: Option<typed::Expr> = None;
        // A statement that did not parse, or an entity of an unknown type
        // (both reported), may be what a later expectation needs.
        let mut broken = decl
            .statements
            .iter()
            .any(|s| matches!(s, TestStmt::Error(_)));
        for statement in &decl.statements {
            match statement {
                TestStmt::Principal(data) | TestStmt::Resource(data) | TestStmt::Entity(data) => {
                    let Some(entity) = self.test_entity(data) else {
                        broken = true;
                        continue;
                    };
                    let uid = (entity.ty, entity.id.clone());
                    if let Some(previous) = declared_at.get(&uid) {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_TEST_DATA,
                                data.uid.span,
                                "this entity is declared twice in the test",
                            )
                            .label("declared again here")
                            .with_secondary(*previous, "first declared here"),
                        );
                        continue;
                    }
                    declared_at.insert(uid.clone(), data.uid.span);
                    let role = match statement {
                        TestStmt::Principal(_) => Some(("principal", &mut principal)),
                        TestStmt::Resource(_) => Some(("resource", &mut resource)),
                        _ => None,
                    };
                    if let Some((what, slot)) = role {
                        if slot.is_some() {
                            self.diags.push(
                                Diagnostic::new(
                                    &Code::INVALID_TEST_DATA,
                                    data.span,
                                    format!("a test has one {what}"),
                                )
                                .label(format!("second {what}"))
                                .help("declare further entities with `entity Type::\"id\" …;`"),
                            );
                        } else {
                            *slot = Some(uid);
                        }
                    }
                    entities.push(entity);
                }
                TestStmt::Context(value, span) => {
                    let (checked, _) = self.expr_cx(Scope::Data).check(value, &Facts::default());
                    if let Ty::Record(fields) = &checked.ty {
                        let want = Ty::record(&self.names.schema.context);
                        if let Err(why) = record_conforms(&self.names.schema, fields, &want) {
                            self.diags.push(
                                Diagnostic::new(
                                    &Code::INVALID_TEST_DATA,
                                    value.span,
                                    format!("the context does not match its declaration: {why}"),
                                )
                                .label("test context"),
                            );
                        }
                    }
                    if context.is_some() {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_TEST_DATA,
                                *span,
                                "a test has one context",
                            )
                            .label("second context"),
                        );
                    } else {
                        context = Some(checked);
                    }
                }
                TestStmt::Expect(_) | TestStmt::ExpectLimit(_) | TestStmt::Error(_) => {}
            }
        }

        let mut expectations = Vec::new();
        let mut limit_expectations = Vec::new();
        for statement in &decl.statements {
            match statement {
                TestStmt::Expect(expect) => {
                    let env = TestEnv {
                        principal: principal.as_ref(),
                        resource: resource.as_ref(),
                        declared: &declared_at,
                        has_context: context.is_some(),
                        broken,
                    };
                    if let Some(checked) = self.expectation(expect, &env) {
                        expectations.push(checked);
                    }
                }
                TestStmt::ExpectLimit(expect) => {
                    if let Some(checked) = self.limit_expectation(expect) {
                        limit_expectations.push(checked);
                    }
                }
                _ => {}
            }
        }
        let origin = self.origin(decl.span);
        typed::Test {
            name: decl.name.value.clone(),
            principal,
            entities,
            context,
            expectations,
            limit_expectations,
            origin,
        }
    }

    /// Checks one entity's data against its type's declaration.
    fn test_entity(&mut self, data: &ast::EntityData) -> Option<typed::TestEntity> {
        let ty = self.names.entity(&data.uid.ty, &mut self.diags)?;
        let def = self.names.schema.entity_type(ty)?.clone();
        // In backticks, as user input is in messages.
        let uid_text = format!("`{}::{:?}`", def.name, data.uid.id.value);
        let mut attrs: Vec<Option<typed::Expr>> = vec![None; def.attrs.fields.len()];
        // Attributes a misspelled one was taken for: not also reported missing.
        let mut meant: Vec<&str> = Vec::new();
        for field in data.attrs.iter().flatten() {
            let Some((slot, declared)) = def.attrs.field(&field.name.name) else {
                if self.names.is_dropped(Some(ty), &field.name.name) {
                    continue;
                }
                let candidates: Vec<&str> =
                    def.attrs.fields.iter().map(|f| f.name.as_str()).collect();
                meant.extend(did_you_mean(&field.name.name, candidates.iter().copied()));
                let diagnostic = Diagnostic::new(
                    &Code::UNKNOWN_ATTRIBUTE,
                    field.name.span,
                    format!("`{}` has no attribute `{}`", def.name, field.name.name),
                )
                .label("unknown attribute")
                .suggest(&field.name.name, candidates);
                self.diags.push(diagnostic);
                continue;
            };
            let (value, _) = self
                .expr_cx(Scope::Data)
                .check(&field.value, &Facts::default());
            if let Err(why) = conforms(&self.names.schema, &value.ty, &declared.ty) {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_TEST_DATA,
                        field.value.span,
                        format!("attribute `{}` of {uid_text}: {why}", field.name.name),
                    )
                    .label("wrong type"),
                );
            }
            if let Some(place) = attrs.get_mut(slot as usize) {
                *place = Some(value);
            }
        }
        let missing: Vec<&str> = def
            .attrs
            .fields
            .iter()
            .zip(&attrs)
            .filter(|(f, v)| !f.optional && v.is_none() && !meant.contains(&f.name.as_str()))
            .map(|(f, _)| f.name.as_str())
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_TEST_DATA,
                    data.uid.span,
                    format!("{uid_text} lacks required attributes: {list}"),
                )
                .label("incomplete entity")
                .help(format!(
                    "add them to its attributes, as in `{{ {}: … }}`",
                    missing[0]
                )),
            );
        }
        let mut parents = Vec::new();
        for parent in &data.parents {
            let Some(parent_ty) = self.names.entity(&parent.ty, &mut self.diags) else {
                continue;
            };
            if !def.parents.contains(&parent_ty) {
                let allowed: Vec<String> = def
                    .parents
                    .iter()
                    .map(|p| format!("`{}`", self.names.entity_name(*p)))
                    .collect();
                let help = if allowed.is_empty() {
                    format!(
                        "`{}` entities have no parents; declare `entity {} in [{}]`",
                        def.name, def.name, parent.ty.name
                    )
                } else {
                    format!(
                        "`{}` entities may have parents of type {}",
                        def.name,
                        allowed.join(" or ")
                    )
                };
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_TEST_DATA,
                        parent.span,
                        format!("a `{}` cannot be in a `{}`", def.name, parent.ty.name),
                    )
                    .label("parent type not allowed")
                    .help(help),
                );
                continue;
            }
            parents.push((parent_ty, parent.id.value.clone()));
        }
        Some(typed::TestEntity {
            ty,
            id: data.uid.id.value.clone(),
            attrs,
            parents,
        })
    }

    fn expectation(
        &mut self,
        expect: &ast::Expectation,
        env: &TestEnv<'_>,
    ) -> Option<typed::Expectation> {
        let action = self.names.action(&expect.action, &mut self.diags);
        let resource = match &expect.resource {
            Some(lit) => {
                let ty = self.names.entity(&lit.ty, &mut self.diags)?;
                let uid = (ty, lit.id.value.clone());
                if !env.declared.contains_key(&uid) && env.broken {
                    return None;
                }
                if !env.declared.contains_key(&uid) {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::INCOMPLETE_TEST,
                            lit.span,
                            format!(
                                "this test declares no entity `{}::{:?}`",
                                lit.ty.name, lit.id.value
                            ),
                        )
                        .label("unknown to this test")
                        .help(format!(
                            "declare it: `entity {}::{:?} {{ … }};`",
                            lit.ty.name, lit.id.value
                        )),
                    );
                    return None;
                }
                Some(uid)
            }
            None => env.resource.cloned(),
        };
        let mut missing = Vec::new();
        let mut statements = Vec::new();
        if env.principal.is_none() {
            missing.push("a principal");
            statements.push("`principal Type::\"id\" { … };`");
        }
        if resource.is_none() {
            missing.push("a resource");
            statements.push("`resource Type::\"id\" { … };`");
        }
        let context_required = self.names.schema.context.fields.iter().any(|f| !f.optional);
        if context_required && !env.has_context {
            missing.push("a context");
            statements.push("`context { … };`");
        }
        // A statement that did not parse (reported) may have given them.
        if !missing.is_empty() && env.broken {
            return None;
        }
        if !missing.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    &Code::INCOMPLETE_TEST,
                    expect.span,
                    format!("this expectation needs {}", missing.join(" and ")),
                )
                .label("incomplete request")
                .help(format!("add {} to the test", statements.join(" and "))),
            );
            return None;
        }
        let (action, resource) = (action?, resource?);
        if let Some(def) = self.names.schema.action(action) {
            let fits = |types: &[EntityTypeId], uid: Option<&Uid>| {
                types.is_empty() || uid.is_none_or(|(ty, _)| types.contains(ty))
            };
            let principal_fits = fits(&def.principal_types, env.principal);
            if !fits(&def.resource_types, Some(&resource)) || !principal_fits {
                let (role, uid) = if principal_fits {
                    ("resource", &resource)
                } else {
                    ("principal", env.principal.unwrap_or(&resource))
                };
                let type_name = self.names.entity_name(uid.0).to_owned();
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_TEST_DATA,
                        expect.action.span,
                        format!(
                            "action `{}` does not apply to a `{type_name}` {role}",
                            def.name
                        ),
                    )
                    .label("the request would be rejected, not decided")
                    .help("test an action declared for these entity types"),
                );
                return None;
            }
        }
        let because = match &expect.because {
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    let known = self.package.rules.iter().any(|r| r.id == id.value);
                    if !known && !self.in_broken_item(&format!("{:?}", id.value)) {
                        let diagnostic = Diagnostic::new(
                            &Code::UNKNOWN_RULE,
                            id.span,
                            format!("no rule has id {:?}", id.value),
                        )
                        .label("unknown rule id")
                        .suggest(&id.value, self.package.rules.iter().map(|r| r.id.as_str()));
                        self.diags.push(diagnostic);
                    }
                    out.push(id.value.clone());
                }
                Some(out)
            }
            None => None,
        };
        Some(typed::Expectation {
            verdict: match expect.verdict {
                ast::Verdict::Permit => typed::Verdict::Permit,
                ast::Verdict::Deny => typed::Verdict::Deny,
            },
            action,
            resource,
            because,
            origin: self.origin(expect.span),
        })
    }

    fn limit_expectation(
        &mut self,
        expect: &ast::LimitExpectation,
    ) -> Option<typed::LimitExpectation> {
        let Some(domain) = self
            .package
            .domains
            .iter()
            .find(|d| d.name == expect.domain.value)
        else {
            if self.in_broken_item(&format!("{:?}", expect.domain.value)) {
                return None;
            }
            let diagnostic = Diagnostic::new(
                &Code::UNKNOWN_LIMIT,
                expect.domain.span,
                format!("no rate-limit domain {:?}", expect.domain.value),
            )
            .label("unknown domain")
            .suggest(
                &expect.domain.value,
                self.package.domains.iter().map(|d| d.name.as_str()),
            );
            self.diags.push(diagnostic);
            return None;
        };
        let limit_names: Vec<String> = domain.limits.iter().map(|l| l.spec.name.clone()).collect();
        // A limit that did not parse or was invalid (reported) is missing.
        let domain_errors = self.error_within(domain.origin.span);
        let mut descriptor = Vec::new();
        let mut ok = true;
        for entry in &expect.descriptor {
            match &entry.value.kind {
                ExprKind::Literal(Literal::String(value)) => {
                    descriptor.push((entry.name.name.clone(), value.clone()))
                }
                ExprKind::Error => ok = false,
                _ => {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::INVALID_TEST_DATA,
                            entry.value.span,
                            "descriptor values are strings",
                        )
                        .label("not a string literal")
                        .help("Envoy sends descriptor entries as text: write `key: \"value\"`"),
                    );
                    ok = false;
                }
            }
        }
        let mut matches = None;
        if let Some(names) = &expect.matches {
            let mut out = Vec::new();
            for name in names {
                if !limit_names.contains(&name.name) && domain_errors {
                    ok = false;
                } else if !limit_names.contains(&name.name) {
                    let diagnostic = Diagnostic::new(
                        &Code::UNKNOWN_LIMIT,
                        name.span,
                        format!(
                            "domain {:?} has no limit `{}`",
                            expect.domain.value, name.name
                        ),
                    )
                    .label("unknown limit")
                    .suggest(&name.name, limit_names.iter().map(String::as_str));
                    self.diags.push(diagnostic);
                    ok = false;
                }
                out.push(name.name.clone());
            }
            matches = Some(out);
        }
        if expect.matches.is_none() && expect.allows.is_none() {
            self.diags.push(
                Diagnostic::new(
                    &Code::INCOMPLETE_TEST,
                    expect.span,
                    "this expectation checks nothing",
                )
                .label("no `matches` or `allows`")
                .help("add `matches [limit, …]` and/or `allows N`"),
            );
            ok = false;
        }
        let allows = expect.allows.as_ref().map(|a| a.value.unsigned_abs());
        let origin = self.origin(expect.span);
        ok.then(|| typed::LimitExpectation {
            domain: expect.domain.value.clone(),
            descriptor,
            matches,
            allows,
            origin,
        })
    }
}

/// What a test's expectations can refer to.
struct TestEnv<'a> {
    principal: Option<&'a Uid>,
    resource: Option<&'a Uid>,
    declared: &'a HashMap<Uid, Span>,
    has_context: bool,
    /// Whether a statement of the test did not parse.
    broken: bool,
}
