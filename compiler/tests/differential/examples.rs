//! Requests from the typed `test` blocks of a package: entity data and
//! context written as typed constant expressions, turned into values by a
//! small evaluator of its own (independent of the compiler's folding).

use reaper_compiler::typed::{self, Const, ExprKind, Package, UnOp};
use reaper_lang::request::{Entity, Request};
use reaper_lang::types::{RecordType, Type};
use reaper_lang::value::{Uid, Value};

/// A constant expression of declared type `ty`.
pub fn value(expr: &typed::Expr, ty: &Type) -> Value {
    match (&expr.kind, ty) {
        (ExprKind::Const(c), _) => match c {
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(n) => Value::Int(*n),
            Const::String(s) => Value::String(s.clone()),
            Const::Ip(net) => Value::Ip(*net),
            Const::Duration(ms) => Value::Duration(*ms),
            Const::Timestamp(ms) => Value::Timestamp(*ms),
            Const::Entity(ty, id) => Value::Entity(Uid {
                ty: *ty,
                id: id.clone(),
            }),
            Const::Action(id) => Value::Action(*id),
        },
        (
            ExprKind::Unary {
                op: UnOp::Neg,
                operand,
            },
            _,
        ) => match value(operand, ty) {
            Value::Int(n) => Value::Int(-n),
            Value::Duration(ms) => Value::Duration(-ms),
            other => panic!("negation of {other:?} in test data"),
        },
        (ExprKind::Set(items), Type::Set(elem)) => {
            Value::set(items.iter().map(|e| value(e, elem)).collect())
        }
        (ExprKind::Record(fields), Type::Record(record)) => {
            Value::Record(record_value(fields, record))
        }
        (kind, ty) => panic!("test data {kind:?} is not a constant of type {ty:?}"),
    }
}

/// A record literal's fields in the slots of the declared record type.
fn record_value(fields: &[(String, typed::Expr)], record: &RecordType) -> Vec<Option<Value>> {
    record
        .fields
        .iter()
        .map(|f| {
            fields
                .iter()
                .find(|(name, _)| *name == f.name)
                .map(|(_, e)| value(e, &f.ty))
        })
        .collect()
}

/// One expectation of a test, as a request and what the test expects.
pub struct Expected {
    pub test: String,
    pub line: u32,
    pub request: Request,
    pub permit: bool,
    pub because: Option<Vec<String>>,
}

pub fn requests(package: &Package) -> Vec<Expected> {
    let schema = &package.schema;
    let mut out = Vec::new();
    for test in &package.tests {
        let entities: Vec<Entity> = test
            .entities
            .iter()
            .map(|data| {
                let def = schema.entity_type(data.ty).expect("declared type");
                Entity {
                    uid: Uid {
                        ty: data.ty,
                        id: data.id.clone(),
                    },
                    attrs: data
                        .attrs
                        .iter()
                        .zip(&def.attrs.fields)
                        .map(|(e, f)| e.as_ref().map(|e| value(e, &f.ty)))
                        .collect(),
                    parents: data
                        .parents
                        .iter()
                        .map(|(ty, id)| Uid {
                            ty: *ty,
                            id: id.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        let context = match &test.context {
            Some(typed::Expr {
                kind: ExprKind::Record(fields),
                ..
            }) => record_value(fields, &schema.context),
            Some(other) => panic!("test context {other:?} is not a record"),
            None => vec![None; schema.context.fields.len()],
        };
        let Some((pty, pid)) = &test.principal else {
            continue;
        };
        for expect in &test.expectations {
            out.push(Expected {
                test: test.name.clone(),
                line: expect.origin.line,
                request: Request {
                    principal: Uid {
                        ty: *pty,
                        id: pid.clone(),
                    },
                    action: expect.action,
                    resource: Uid {
                        ty: expect.resource.0,
                        id: expect.resource.1.clone(),
                    },
                    context: context.clone(),
                    entities: entities.clone(),
                },
                permit: expect.verdict == typed::Verdict::Permit,
                because: expect.because.clone(),
            });
        }
    }
    out
}
