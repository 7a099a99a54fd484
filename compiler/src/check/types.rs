//! Relations between expression types: unification (for `==`, sets, `if`),
//! conformance of a value's type to a declared type (test data, the http
//! context), and how types are named in messages.

use reaper_lang::schema::Schema;
use reaper_lang::types::Type;

use crate::typed::{FieldTy, Ty, field};

/// The one type both `a` and `b` can be seen as, if any. Entity types join
/// into a union; `[]` takes the other side's set type; errors absorb.
pub fn unify(a: &Ty, b: &Ty) -> Option<Ty> {
    match (a, b) {
        (Ty::Error, other) | (other, Ty::Error) => Some(other.clone()),
        (Ty::Entity(x), Ty::Entity(y)) => {
            let mut joined = x.clone();
            joined.extend(y.iter().copied());
            joined.sort();
            joined.dedup();
            Some(Ty::Entity(joined))
        }
        (Ty::EmptySet, Ty::Set(t)) | (Ty::Set(t), Ty::EmptySet) => Some(Ty::Set(t.clone())),
        (Ty::Set(x), Ty::Set(y)) => unify(x, y).map(|t| Ty::Set(Box::new(t))),
        (Ty::Map(x), Ty::Map(y)) => unify(x, y).map(|t| Ty::Map(Box::new(t))),
        (Ty::Record(x), Ty::Record(y)) => {
            if x.len() != y.len() {
                return None;
            }
            let mut fields = Vec::with_capacity(x.len());
            for (fx, fy) in x.iter().zip(y) {
                if fx.name != fy.name || fx.optional != fy.optional {
                    return None;
                }
                fields.push(FieldTy {
                    name: fx.name.clone(),
                    ty: unify(&fx.ty, &fy.ty)?,
                    optional: fx.optional,
                });
            }
            Some(Ty::Record(fields))
        }
        _ if a == b => Some(a.clone()),
        _ => None,
    }
}

/// Whether a value of type `ty` may stand where `expected` is declared;
/// `Err` says why not, naming the field when a record does not fit.
pub fn conforms(schema: &Schema, ty: &Ty, expected: &Type) -> Result<(), String> {
    let ok = match (ty, expected) {
        (Ty::Error, _) | (Ty::EmptySet, Type::Set(_)) => true,
        (Ty::Bool, Type::Bool)
        | (Ty::Int, Type::Int)
        | (Ty::String, Type::String)
        | (Ty::Ip, Type::Ip)
        | (Ty::Duration, Type::Duration)
        | (Ty::Timestamp, Type::Timestamp)
        | (Ty::Decimal, Type::Decimal) => true,
        (Ty::Entity(ids), Type::Entity(want)) => ids.iter().all(|id| id == want),
        (Ty::Set(elem), Type::Set(want)) => return conforms(schema, elem, want),
        (Ty::Map(value), Type::Map(want)) => return conforms(schema, value, want),
        // In data, a record literal stands for a map: `{ "admin": [...] }`.
        (Ty::Record(fields), Type::Map(want)) => {
            for f in fields {
                conforms(schema, &f.ty, want)
                    .map_err(|why| format!("entry {:?}: {why}", f.name))?;
            }
            return Ok(());
        }
        (Ty::Record(fields), Type::Record(want)) => {
            return record_conforms(schema, fields, &Ty::record(want));
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected `{}`, found `{}`",
            schema.display_type(expected),
            display(schema, ty)
        ))
    }
}

/// A record value fits a declared record if it has every required field,
/// no undeclared field, and each field fits.
pub fn record_conforms(schema: &Schema, fields: &[FieldTy], want: &Ty) -> Result<(), String> {
    let Ty::Record(want) = want else {
        return Err("expected a record".into());
    };
    for f in fields {
        let Some((_, declared_field)) = field(want, &f.name) else {
            return Err(format!("field `{}` is not declared", f.name));
        };
        let declared_type = declared(&declared_field.ty);
        if let Some(declared_type) = declared_type {
            conforms(schema, &f.ty, &declared_type)
                .map_err(|why| format!("field `{}`: {why}", f.name))?;
        }
    }
    for w in want {
        if !w.optional && field(fields, &w.name).is_none() {
            return Err(format!("required field `{}` is missing", w.name));
        }
    }
    Ok(())
}

/// The declared type an expression type stands for, when it is one.
pub fn declared(ty: &Ty) -> Option<Type> {
    Some(match ty {
        Ty::Bool => Type::Bool,
        Ty::Int => Type::Int,
        Ty::String => Type::String,
        Ty::Ip => Type::Ip,
        Ty::Duration => Type::Duration,
        Ty::Timestamp => Type::Timestamp,
        Ty::Decimal => Type::Decimal,
        Ty::Entity(ids) if ids.len() == 1 => Type::Entity(ids[0]),
        Ty::Set(elem) => Type::Set(Box::new(declared(elem)?)),
        Ty::Map(value) => Type::Map(Box::new(declared(value)?)),
        Ty::Record(fields) => Type::Record(reaper_lang::types::RecordType::new(
            fields
                .iter()
                .map(|f| {
                    Some(reaper_lang::types::Field {
                        name: f.name.clone(),
                        ty: declared(&f.ty)?,
                        optional: f.optional,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        )),
        _ => return None,
    })
}

/// A type name in backticks after its indefinite article: "an `Int`",
/// "a `User`" (an initial `U` is usually read "you").
pub fn article(name: &str) -> String {
    let an = name.starts_with(['A', 'E', 'I', 'O', 'a', 'e', 'i', 'o']);
    format!("{} `{name}`", if an { "an" } else { "a" })
}

/// Names a type for a message (`Set<String>`, `User or Team`).
pub fn display(schema: &Schema, ty: &Ty) -> String {
    match ty {
        Ty::Entity(ids) => ids
            .iter()
            .map(|id| schema.display_type(&Type::Entity(*id)))
            .collect::<Vec<_>>()
            .join(" or "),
        Ty::Set(elem) => format!("Set<{}>", display(schema, elem)),
        Ty::EmptySet => "Set (empty)".into(),
        Ty::Map(value) => format!("Map<String, {}>", display(schema, value)),
        Ty::Record(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{}{}: {}",
                        reaper_lang::schema::field_name(&f.name),
                        if f.optional { "?" } else { "" },
                        display(schema, &f.ty)
                    )
                })
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        Ty::Context(_) => "context".into(),
        Ty::Decimal => "Decimal".into(),
        Ty::Action => "action".into(),
        Ty::Descriptor => "descriptor".into(),
        Ty::Request => "request".into(),
        Ty::Error => "{error}".into(),
        Ty::Bool => "Bool".into(),
        Ty::Int => "Int".into(),
        Ty::String => "String".into(),
        Ty::Ip => "Ip".into(),
        Ty::Duration => "Duration".into(),
        Ty::Timestamp => "Timestamp".into(),
    }
}
