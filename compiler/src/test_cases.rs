//! `test` blocks as concrete cases: requests built from the test data and
//! the expectations to check against an engine's answers. The CLI runs
//! them (`reaper test`); the compiler only builds them.

use reaper_lang::request::{Entity, Request};
use reaper_lang::schema::Schema;
use reaper_lang::types::{RecordType, Type};
use reaper_lang::value::{Uid, Value};

use crate::lower::fold;
use crate::typed::{self, ExprKind, Package};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub file: String,
    pub line: u32,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Authorize {
        /// `expect permit edit on Document::"x"`, as a reader would say it.
        description: String,
        line: u32,
        request: Box<Request>,
        permit: bool,
        /// Exactly these rule ids, in any order, when given.
        because: Option<Vec<String>>,
    },
    RateLimit {
        description: String,
        line: u32,
        domain: String,
        descriptor: Vec<(String, String)>,
        /// Exactly these limits apply, in any order, when given.
        matches: Option<Vec<String>>,
        /// This many hits in a row are allowed and the next is not.
        allows: Option<u64>,
        /// Hits sent in order on shared counters, each with what it expects.
        steps: Vec<typed::LimitStep>,
    },
    /// Test data the compiler could not turn into values.
    Invalid {
        description: String,
        line: u32,
        reason: String,
    },
}

/// The cases of every test of a checked package without errors.
pub fn test_cases(package: &Package) -> Vec<TestCase> {
    package
        .tests
        .iter()
        .map(|test| case(package, test))
        .collect()
}

fn case(package: &Package, test: &typed::Test) -> TestCase {
    let schema = &package.schema;
    let mut checks = Vec::new();
    let data = entities(schema, test);
    for expect in &test.expectations {
        let context = context_value(schema, test.context.as_ref(), expect);
        let action = schema
            .action(expect.action)
            .map_or("?", |a| a.name.as_str());
        let verdict = match expect.verdict {
            typed::Verdict::Permit => "permit",
            typed::Verdict::Deny => "deny",
        };
        let resource_name = schema
            .entity_type(expect.resource.0)
            .map_or("?", |t| t.name.as_str());
        let description = format!(
            "expect {verdict} {action} on {resource_name}::{:?}",
            expect.resource.1
        );
        let line = expect.origin.line;
        let (Some(principal), Ok(entities), Some(context)) = (&test.principal, &data, context)
        else {
            let reason = data
                .as_ref()
                .err()
                .cloned()
                .unwrap_or_else(|| "the test data is not constant".into());
            checks.push(Check::Invalid {
                description,
                line,
                reason,
            });
            continue;
        };
        let request = Request {
            principal: uid(principal),
            action: expect.action,
            resource: uid(&expect.resource),
            context,
            entities: entities.clone(),
        };
        checks.push(Check::Authorize {
            description,
            line,
            request: Box::new(request),
            permit: expect.verdict == typed::Verdict::Permit,
            because: expect.because.clone(),
        });
    }
    for expect in &test.limit_expectations {
        let entries: Vec<String> = expect
            .descriptor
            .iter()
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        checks.push(Check::RateLimit {
            description: format!(
                "expect ratelimit {:?} {{ {} }}",
                expect.domain,
                entries.join(", ")
            ),
            line: expect.origin.line,
            domain: expect.domain.clone(),
            descriptor: expect.descriptor.clone(),
            matches: expect.matches.clone(),
            allows: expect.allows,
            steps: expect.steps.clone(),
        });
    }
    TestCase {
        name: test.name.clone(),
        file: test.origin.file_name().to_owned(),
        line: test.origin.line,
        checks,
    }
}

/// The context of an expectation's request: the test's, with the fields of
/// its `with` over it, laid out for its action's context record.
fn context_value(
    schema: &Schema,
    context: Option<&typed::Expr>,
    expect: &typed::Expectation,
) -> Option<Vec<Option<Value>>> {
    let record = schema.context_of(expect.action);
    let mut fields: Vec<(String, typed::Expr)> = Vec::new();
    for expr in [context, expect.with.as_ref()].into_iter().flatten() {
        let ExprKind::Record(given) = &expr.kind else {
            return None;
        };
        for (name, value) in given {
            fields.retain(|(n, _)| n != name);
            fields.push((name.clone(), value.clone()));
        }
    }
    record
        .fields
        .iter()
        .map(
            |declared| match fields.iter().find(|(name, _)| *name == declared.name) {
                Some((_, e)) => value(e, &declared.ty).map(Some),
                None => Some(None),
            },
        )
        .collect()
}

fn uid((ty, id): &(reaper_lang::types::EntityTypeId, String)) -> Uid {
    Uid {
        ty: *ty,
        id: id.clone(),
    }
}

fn entities(schema: &Schema, test: &typed::Test) -> Result<Vec<Entity>, String> {
    let mut out = Vec::with_capacity(test.entities.len());
    for entity in &test.entities {
        let def = schema.entity_type(entity.ty).ok_or("unknown entity type")?;
        let mut attrs = Vec::with_capacity(def.attrs.fields.len());
        for (field, expr) in def.attrs.fields.iter().zip(&entity.attrs) {
            attrs.push(match expr {
                Some(expr) => Some(value(expr, &field.ty).ok_or_else(|| {
                    format!(
                        "attribute `{}` of {}::{:?} is not a constant",
                        field.name, def.name, entity.id
                    )
                })?),
                None => None,
            });
        }
        out.push(Entity {
            uid: Uid {
                ty: entity.ty,
                id: entity.id.clone(),
            },
            attrs,
            parents: entity.parents.iter().map(uid).collect(),
        });
    }
    Ok(out)
}

/// The value of a constant test-data expression, laid out for its declared
/// type (a record literal fills its declared record's slots by name).
fn value(expr: &typed::Expr, ty: &Type) -> Option<Value> {
    match (&expr.kind, ty) {
        (ExprKind::Record(_), Type::Record(record)) => {
            record_value(expr, record).map(Value::Record)
        }
        (ExprKind::Set(items), Type::Set(elem)) => items
            .iter()
            .map(|item| value(item, elem))
            .collect::<Option<Vec<_>>>()
            .map(Value::set),
        (ExprKind::Record(entries), Type::Map(elem)) => entries
            .iter()
            .map(|(key, item)| Some((key.clone(), value(item, elem)?)))
            .collect::<Option<Vec<_>>>()
            .map(Value::map),
        _ => fold::constant(expr),
    }
}

fn record_value(expr: &typed::Expr, record: &RecordType) -> Option<Vec<Option<Value>>> {
    let ExprKind::Record(fields) = &expr.kind else {
        return None;
    };
    record
        .fields
        .iter()
        .map(
            |declared| match fields.iter().find(|(name, _)| *name == declared.name) {
                Some((_, e)) => value(e, &declared.ty).map(Some),
                None => Some(None),
            },
        )
        .collect()
}
