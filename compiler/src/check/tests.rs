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
                    // It is checked against each expectation's action.
                    let (checked, _) = self.expr_cx(Scope::Data).check(value, &Facts::default());
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
        let mut context_errors: Vec<String> = Vec::new();
        for statement in &decl.statements {
            match statement {
                TestStmt::Expect(expect) => {
                    let env = TestEnv {
                        principal: principal.as_ref(),
                        resource: resource.as_ref(),
                        declared: &declared_at,
                        context: context.as_ref(),
                        context_span: decl.statements.iter().find_map(|s| match s {
                            TestStmt::Context(value, _) => Some(value.span),
                            _ => None,
                        }),
                        broken,
                    };
                    if let Some(checked) = self.expectation(expect, &env, &mut context_errors) {
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
        self.expr_cx(Scope::Data).check_entity_id(ty, &data.uid.id);
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
        context_errors: &mut Vec<String>,
    ) -> Option<typed::Expectation> {
        let action = self.names.action(&expect.action, &mut self.diags);
        if let Some(group) = action.filter(|a| self.names.is_group(*a)) {
            let name = self.names.action_name(group).to_owned();
            let members: Vec<String> = self
                .names
                .expand(group)
                .iter()
                .map(|a| format!("`{}`", self.names.action_name(*a)))
                .collect();
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_ACTION_GROUP,
                    expect.action.span,
                    format!("`{name}` is an action group; a request names one of its actions"),
                )
                .label("not an action of a request")
                .help(format!("expect one of {}", members.join(", "))),
            );
            return None;
        }
        let with = expect.with.as_ref().map(|record| {
            let (checked, _) = self.expr_cx(Scope::Data).check(record, &Facts::default());
            checked
        });
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
        let context_type = match action {
            Some(action) => self.names.schema.context_of(action).clone(),
            None => self.names.schema.context.clone(),
        };
        let context_required = context_type.fields.iter().any(|f| !f.optional);
        if context_required && env.context.is_none() && with.is_none() {
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
        // The context this expectation's request carries: the test's, with
        // the fields `with` gives over it.
        let mut fields: Vec<typed::FieldTy> = match env.context.map(|c| &c.ty) {
            Some(Ty::Record(fields)) => fields.clone(),
            _ => Vec::new(),
        };
        if let Some(Ty::Record(extra)) = with.as_ref().map(|w| &w.ty) {
            fields.retain(|f| !extra.iter().any(|e| e.name == f.name));
            fields.extend(extra.iter().cloned());
            fields.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let context_ok = [env.context, with.as_ref()]
            .iter()
            .flatten()
            .all(|c| matches!(c.ty, Ty::Record(_)));
        if context_ok
            && let Err(why) =
                record_conforms(&self.names.schema, &fields, &Ty::record(&context_type))
        {
            let span = match (&expect.with, env.context_span) {
                (Some(with), _) => Some(with.span),
                (None, Some(span)) => Some(span),
                (None, None) => None,
            };
            let message = format!("the context does not match its declaration: {why}");
            if let Some(span) = span
                && !context_errors.contains(&message)
            {
                let action_name = self.names.action_name(action).to_owned();
                let help = if reaper_lang::schema::STORE_ACTIONS.contains(&action_name.as_str()) {
                    "store actions carry `key` (writes also `ttl` and `size`): give them with `with { … }`".to_owned()
                } else {
                    format!(
                        "give every required context field of `{action_name}` with its declared type"
                    )
                };
                self.diags.push(
                    Diagnostic::new(&Code::INVALID_TEST_DATA, span, message.clone())
                        .label(if expect.with.is_some() {
                            "context with these fields"
                        } else {
                            "test context"
                        })
                        .help(help),
                );
                context_errors.push(message);
            }
        }
        // A store admits the principal types its `by` names.
        let store_types = self
            .names
            .store_principals
            .get(&resource.1)
            .filter(|_| resource.0 == self.names.store_entity());
        if let (Some(types), Some((ty, _))) = (store_types, env.principal)
            && !types.is_empty()
            && !types.contains(ty)
        {
            let type_name = self.names.entity_name(*ty).to_owned();
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_TEST_DATA,
                    expect.action.span,
                    format!("store `{}` is not accessed by a `{type_name}`", resource.1),
                )
                .label("the request would be rejected, not decided")
                .help(format!(
                    "add `{type_name}` to `store {} by [...]`, or test another principal",
                    resource.1
                )),
            );
            return None;
        }
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
                    let known = self.rule_ids.contains_key(&id.value);
                    if !known && !self.in_broken_item(&format!("{:?}", id.value)) {
                        let diagnostic = Diagnostic::new(
                            &Code::UNKNOWN_RULE,
                            id.span,
                            format!("no rule has id {:?}", id.value),
                        )
                        .label("unknown rule id")
                        .suggest(&id.value, self.rule_ids.keys().map(String::as_str));
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
            with,
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
        if expect.matches.is_none() && expect.allows.is_none() && expect.steps.is_none() {
            self.diags.push(
                Diagnostic::new(
                    &Code::INCOMPLETE_TEST,
                    expect.span,
                    "this expectation checks nothing",
                )
                .label("no `matches`, `allows` or sequence of hits")
                .help("add `matches [limit, …]`, `allows N` and/or `{ 5 hits => ok; 1 hit => over_limit; }`"),
            );
            ok = false;
        }
        let mut steps = Vec::new();
        let mut last_at = 0u64;
        for step in expect.steps.iter().flatten() {
            let (at_ms, checked) = self.limit_step(step, &limit_names, domain_errors, last_at);
            last_at = at_ms;
            match checked {
                Some(checked) => steps.push(checked),
                None => ok = false,
            }
        }
        let allows = expect.allows.as_ref().map(|a| a.value.unsigned_abs());
        let origin = self.origin(expect.span);
        ok.then(|| typed::LimitExpectation {
            domain: expect.domain.value.clone(),
            descriptor,
            matches,
            allows,
            steps,
            origin,
        })
    }

    /// One step of a sequence: when, how many hits, what they get. Also
    /// the time the next step starts from, even when this one is invalid.
    fn limit_step(
        &mut self,
        step: &ast::LimitStep,
        limit_names: &[String],
        domain_errors: bool,
        previous_ms: u64,
    ) -> (u64, Option<typed::LimitStep>) {
        let at_ms = match &step.at {
            None => previous_ms,
            Some(expr) => {
                match expr.kind {
                    ExprKind::Literal(ast::Literal::Duration(ms))
                        if ms.unsigned_abs() >= previous_ms =>
                    {
                        ms.unsigned_abs()
                    }
                    ExprKind::Literal(ast::Literal::Duration(_)) => {
                        self.diags.push(
                        Diagnostic::new(
                            &Code::INVALID_TEST_DATA,
                            expr.span,
                            "steps go forward in time",
                        )
                        .label("before the previous step")
                        .help("each `at` is the time since the sequence started, and never goes back"),
                    );
                        return (previous_ms, None);
                    }
                    ExprKind::Error => return (previous_ms, None),
                    _ => {
                        self.diags.push(
                            Diagnostic::new(
                                &Code::INVALID_TEST_DATA,
                                expr.span,
                                "`at` takes a duration",
                            )
                            .label("not a duration")
                            .help("write `at 30s:` or `at 1m:`"),
                        );
                        return (previous_ms, None);
                    }
                }
            }
        };
        (
            at_ms,
            self.step_checks(step, limit_names, domain_errors, at_ms),
        )
    }

    /// A step's outcome and details, checked.
    fn step_checks(
        &mut self,
        step: &ast::LimitStep,
        limit_names: &[String],
        domain_errors: bool,
        at_ms: u64,
    ) -> Option<typed::LimitStep> {
        let mut ok = true;
        if step.count.value < 1 {
            self.diags.push(
                Diagnostic::new(
                    &Code::INVALID_TEST_DATA,
                    step.count.span,
                    "a step sends at least one hit",
                )
                .label("no hits"),
            );
            ok = false;
        }
        let over_limit = match step.outcome.name.as_str() {
            "ok" => false,
            "over_limit" => true,
            other => {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_TEST_DATA,
                        step.outcome.span,
                        format!("unknown outcome `{other}`"),
                    )
                    .label("not an outcome")
                    .suggest(other, ["ok", "over_limit"])
                    .help("a step expects `ok` or `over_limit`"),
                );
                return None;
            }
        };
        let limit = match &step.limit {
            Some(name) if !limit_names.contains(&name.name) => {
                if !domain_errors {
                    self.diags.push(
                        Diagnostic::new(
                            &Code::UNKNOWN_LIMIT,
                            name.span,
                            format!("the domain has no limit `{}`", name.name),
                        )
                        .label("unknown limit")
                        .suggest(&name.name, limit_names.iter().map(String::as_str)),
                    );
                }
                return None;
            }
            other => other.as_ref().map(|n| n.name.clone()),
        };
        let (mut remaining, mut reset_ms) = (None, None);
        for detail in &step.details {
            match (
                detail.key.name.as_str(),
                detail.value.as_ref().map(|v| &v.kind),
            ) {
                ("remaining", Some(ExprKind::Literal(ast::Literal::Int(n)))) if *n >= 0 => {
                    remaining = Some(n.unsigned_abs());
                }
                ("reset", Some(ExprKind::Literal(ast::Literal::Duration(ms)))) if *ms >= 0 => {
                    reset_ms = Some(ms.unsigned_abs());
                }
                (_, Some(ExprKind::Error)) => ok = false,
                (key, _) => {
                    let diagnostic = Diagnostic::new(
                        &Code::INVALID_TEST_DATA,
                        detail.span,
                        format!("`{key}` is not something a step checks this way"),
                    )
                    .label("unknown check")
                    .suggest(key, ["remaining", "reset"])
                    .help("a step checks `remaining N` (hits left) and `reset DURATION` (time until the window resets)");
                    self.diags.push(diagnostic);
                    ok = false;
                }
            }
        }
        ok.then(|| typed::LimitStep {
            at_ms,
            hits: step.count.value.unsigned_abs(),
            over_limit,
            limit,
            remaining,
            reset_ms,
            line: self.origin(step.span).line,
        })
    }
}

/// What a test's expectations can refer to.
struct TestEnv<'a> {
    principal: Option<&'a Uid>,
    resource: Option<&'a Uid>,
    declared: &'a HashMap<Uid, Span>,
    /// The test's context, checked as data.
    context: Option<&'a typed::Expr>,
    context_span: Option<Span>,
    /// Whether a statement of the test did not parse.
    broken: bool,
}
