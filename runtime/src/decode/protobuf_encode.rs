//! Requests written as Reaper's protobuf request
//! (`proto/reaper/v1/request.proto`): what a client's generated code would
//! send, for tests, benchmarks and tools that hold requests as data.

use reaper_lang::literal;
use reaper_lang::request::Request;
use reaper_lang::schema::Schema;
use reaper_lang::types::{RecordType, Type};
use reaper_lang::value::{Uid, Value};

use super::protobuf::kind;
use super::wire::{put_bytes, put_varint_field};
use crate::engine::Engine;

impl Engine {
    /// `request` in Reaper's protobuf form: every entity's data in
    /// `entities`, each with `attrs` set (so it is never taken for a
    /// reference).
    pub fn encode_request_protobuf(&self, request: &Request) -> Vec<u8> {
        let schema = self.schema();
        let mut out = Vec::with_capacity(256);
        // The principal and the resource as references; all data in
        // `entities`, so an entity that is both is given once.
        put_bytes(&mut out, 1, &reference(schema, &request.principal));
        put_bytes(&mut out, 3, &reference(schema, &request.resource));
        let action = schema
            .action(request.action)
            .map_or("", |a| a.name.as_str());
        put_bytes(&mut out, 2, action.as_bytes());
        let context = record(schema, &request.context, schema.context_of(request.action));
        put_bytes(&mut out, 4, &context);
        for e in &request.entities {
            put_bytes(&mut out, 5, &entity(schema, &e.uid, &e.attrs, &e.parents));
        }
        out
    }
}

fn entity(schema: &Schema, uid: &Uid, attrs: &[Option<Value>], parents: &[Uid]) -> Vec<u8> {
    let mut out = reference(schema, uid);
    let empty = RecordType::default();
    let ty = schema.entity_type(uid.ty).map_or(&empty, |t| &t.attrs);
    put_bytes(&mut out, 3, &record(schema, attrs, ty));
    for parent in parents {
        put_bytes(&mut out, 4, &reference(schema, parent));
    }
    out
}

fn reference(schema: &Schema, uid: &Uid) -> Vec<u8> {
    let mut out = Vec::new();
    let ty = schema.entity_type(uid.ty).map_or("", |t| t.name.as_str());
    put_bytes(&mut out, 1, ty.as_bytes());
    put_bytes(&mut out, 2, uid.id.as_bytes());
    out
}

fn record(schema: &Schema, slots: &[Option<Value>], ty: &RecordType) -> Vec<u8> {
    let mut out = Vec::new();
    for (field, slot) in ty.fields.iter().zip(slots) {
        if let Some(value) = slot {
            push_entry(
                &mut out,
                &field.name,
                &self::value(schema, value, &field.ty),
            );
        }
    }
    out
}

fn push_entry(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let mut entry = Vec::new();
    put_bytes(&mut entry, 1, key.as_bytes());
    put_bytes(&mut entry, 2, value);
    put_bytes(out, 1, &entry);
}

fn value(schema: &Schema, value: &Value, ty: &Type) -> Vec<u8> {
    let mut out = Vec::new();
    let empty = RecordType::default();
    let text = |out: &mut Vec<u8>, text: &str| put_bytes(out, kind::STRING, text.as_bytes());
    match value {
        Value::Bool(b) => put_varint_field(&mut out, kind::BOOL, u64::from(*b)),
        Value::Int(n) => put_varint_field(&mut out, kind::INT, *n as u64),
        Value::String(s) => text(&mut out, s),
        Value::Ip(net) => text(&mut out, &literal::format_ip(net)),
        Value::Duration(ms) => text(&mut out, &literal::format_duration(*ms)),
        Value::Timestamp(ms) => text(&mut out, &literal::format_timestamp(*ms)),
        Value::Decimal(n) => text(&mut out, &literal::format_decimal(*n)),
        Value::Entity(uid) => put_bytes(&mut out, kind::ENTITY, &reference(schema, uid)),
        Value::Action(id) => {
            text(&mut out, schema.action(*id).map_or("", |a| a.name.as_str()));
        }
        Value::Set(items) => {
            let element = match ty {
                Type::Set(element) => element,
                other => other,
            };
            let mut set = Vec::new();
            for item in items {
                put_bytes(&mut set, 1, &self::value(schema, item, element));
            }
            put_bytes(&mut out, kind::SET, &set);
        }
        Value::Map(entries) => {
            let item = match ty {
                Type::Map(item) => item,
                other => other,
            };
            let mut map = Vec::new();
            for (key, v) in entries {
                push_entry(&mut map, key, &self::value(schema, v, item));
            }
            put_bytes(&mut out, kind::RECORD, &map);
        }
        Value::Record(slots) => {
            let record = match ty {
                Type::Record(record) => record,
                _ => &empty,
            };
            put_bytes(&mut out, kind::RECORD, &self::record(schema, slots, record));
        }
    }
    out
}
