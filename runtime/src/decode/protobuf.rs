//! Reaper's protobuf request (`proto/reaper/v1/request.proto`) read in one
//! pass into a [`Builder`], as the JSON decoder reads JSON. Length-delimited
//! parts that depend on another part (the context on the action, `attrs`
//! on the entity's type) are kept as byte ranges and read when it is known.

use reaper_lang::literal;
use reaper_lang::types::{RecordType, Type};

use super::build::{Builder, Form, Seen};
use super::reader::{Declined, Res};
use super::wire::{LEN, VARINT, Wire};
use crate::engine::Engine;
use crate::request::Request;
use crate::value::{EntityKey, Slice, Val};

pub(super) fn decode(engine: &Engine, bytes: &[u8]) -> Res<Request> {
    Decoder {
        build: Builder::new(engine, bytes.len()),
    }
    .request(bytes)
}

/// `Value`'s kinds, by field number.
pub(super) mod kind {
    pub const BOOL: u64 = 1;
    pub const INT: u64 = 2;
    pub const STRING: u64 = 3;
    pub const ENTITY: u64 = 4;
    pub const SET: u64 = 5;
    pub const RECORD: u64 = 6;
}

struct Decoder<'e> {
    build: Builder<'e>,
}

impl<'e> Decoder<'e> {
    fn request(mut self, bytes: &[u8]) -> Res<Request> {
        let (mut principal, mut resource, mut action, mut context) = (None, None, None, None);
        let mut seen = Seen::default();
        let mut wire = Wire::new(bytes);
        while let Some((number, wire_type)) = wire.field()? {
            match number {
                1 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(1)?;
                    principal = Some(self.entity(wire.bytes()?, Form::Argument)?);
                }
                2 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(2)?;
                    action = Some(wire.string()?);
                }
                3 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(4)?;
                    resource = Some(self.entity(wire.bytes()?, Form::Argument)?);
                }
                4 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(8)?;
                    context = Some(wire.bytes()?);
                }
                5 => {
                    wire.expect(wire_type, LEN)?;
                    self.entity(wire.bytes()?, Form::Data)?;
                }
                _ => wire.skip(wire_type)?,
            }
        }
        let (Some(principal), Some(resource)) = (principal, resource) else {
            return Err(Declined);
        };
        let action = self.build.action(action.unwrap_or(""))?;
        let context_type = self.build.context_type(action);
        let context = match context {
            Some(bytes) => self.record(bytes, context_type)?,
            None => self.build.empty_record(context_type)?,
        };
        self.build.finish(principal, action, resource, context)
    }

    /// An `Entity` (data when `attrs` is set or parents are given, which
    /// its form says it may or must carry), or an `EntityRef`
    /// (`Form::Reference`, whose fields 3 and 4 are unknown, so skipped).
    fn entity(&mut self, bytes: &[u8], form: Form) -> Res<EntityKey> {
        let (mut ty, mut id, mut attrs) = (None, None, None);
        let mut seen = Seen::default();
        let parents_start = self.build.parents_start();
        let mut parents = 0;
        let mut wire = Wire::new(bytes);
        while let Some((number, wire_type)) = wire.field()? {
            match number {
                1 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(1)?;
                    ty = Some(wire.string()?);
                }
                2 => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(2)?;
                    id = Some(wire.string()?);
                }
                3 if form.may_carry_data() => {
                    wire.expect(wire_type, LEN)?;
                    seen.first(4)?;
                    attrs = Some(wire.bytes()?);
                }
                4 if form.may_carry_data() => {
                    wire.expect(wire_type, LEN)?;
                    parents += 1;
                    let parent = self.entity(wire.bytes()?, Form::Reference)?;
                    self.build.parent(parent, parents)?;
                }
                _ => wire.skip(wire_type)?,
            }
        }
        let ty = self.build.entity_type(ty.unwrap_or(""))?;
        let key = self.build.entity_key(ty, id.unwrap_or(""))?;
        if attrs.is_none() && parents == 0 {
            return form.without_data(key);
        }
        let def = self.build.type_def(ty)?;
        let attrs = match attrs {
            Some(bytes) => self.record(bytes, &def.attrs)?,
            None => self.build.empty_record(&def.attrs)?,
        };
        self.build.entity_data(key, def, attrs, parents_start)?;
        Ok(key)
    }

    /// A `Record` read as a record of type `ty`.
    fn record(&mut self, bytes: &[u8], ty: &'e RecordType) -> Res<Slice> {
        let start = self.build.begin_record(ty);
        for entry in entries(bytes) {
            let (name, value) = entry?;
            let (slot, field_type) = self.build.field(ty, name)?;
            let value = self.value(value, field_type)?;
            self.build.fill(start, slot, value)?;
        }
        self.build.end_record(ty, start)
    }

    /// A `Value` of type `ty`: exactly one kind set, the one the type takes.
    fn value(&mut self, bytes: &[u8], ty: &'e Type) -> Res<Val> {
        let mut wire = Wire::new(bytes);
        let mut found = None;
        while let Some((number, wire_type)) = wire.field()? {
            if !(kind::BOOL..=kind::RECORD).contains(&number) {
                wire.skip(wire_type)?;
                continue;
            }
            if found.is_some() {
                return Err(Declined);
            }
            let expected = if matches!(number, kind::BOOL | kind::INT) {
                VARINT
            } else {
                LEN
            };
            wire.expect(wire_type, expected)?;
            found = Some(match expected {
                VARINT => Payload::Varint(number, wire.varint()?),
                _ => Payload::Bytes(number, wire.bytes()?),
            });
        }
        Ok(match (ty, found.ok_or(Declined)?) {
            (Type::Bool, Payload::Varint(kind::BOOL, n)) => Val::Bool(n != 0),
            (Type::Int, Payload::Varint(kind::INT, n)) => Val::Int(n as i64),
            (Type::Decimal, Payload::Varint(kind::INT, n)) => {
                Val::Int(literal::parse_decimal(&(n as i64).to_string()).map_err(|_| Declined)?)
            }
            (
                Type::String | Type::Ip | Type::Duration | Type::Timestamp | Type::Decimal,
                Payload::Bytes(kind::STRING, bytes),
            ) => {
                let text = std::str::from_utf8(bytes).map_err(|_| Declined)?;
                self.build.text_value(ty, text.into())?
            }
            (Type::Entity(want), Payload::Bytes(kind::ENTITY, bytes)) => {
                let key = self.entity(bytes, Form::Reference)?;
                if key.ty() != want.0 {
                    return Err(Declined);
                }
                Val::Entity(key)
            }
            (Type::Set(element), Payload::Bytes(kind::SET, bytes)) => {
                let base = self.build.begin_set();
                let mut wire = Wire::new(bytes);
                while let Some((number, wire_type)) = wire.field()? {
                    if number != 1 {
                        wire.skip(wire_type)?;
                        continue;
                    }
                    wire.expect(wire_type, LEN)?;
                    let value = self.value(wire.bytes()?, element)?;
                    self.build.element(base, value)?;
                }
                self.build.end_set(base)?
            }
            (Type::Map(item), Payload::Bytes(kind::RECORD, bytes)) => {
                let mut entries_read: Vec<(u32, Val)> = Vec::new();
                for entry in entries(bytes) {
                    let (key, value) = entry?;
                    self.build.map_has_room(entries_read.len())?;
                    let key = self.build.string(key)?;
                    let value = self.value(value, item)?;
                    entries_read.push((key, value));
                }
                self.build.map(entries_read)?
            }
            (Type::Record(record), Payload::Bytes(kind::RECORD, bytes)) => {
                Val::Record(self.record(bytes, record)?)
            }
            _ => return Err(Declined),
        })
    }
}

/// A `Value`'s one kind: its field number and payload.
enum Payload<'b> {
    Varint(u64, u64),
    Bytes(u64, &'b [u8]),
}

/// The entries of a `Record` (a `map<string, Value>`): each key (`""`
/// when left out) and its value's bytes (empty, no kind set, when left out).
pub(super) fn entries(bytes: &[u8]) -> impl Iterator<Item = Res<(&str, &[u8])>> {
    let mut wire = Wire::new(bytes);
    std::iter::from_fn(move || {
        loop {
            let (number, wire_type) = match wire.field() {
                Ok(Some(field)) => field,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if number != 1 {
                if let Err(e) = wire.skip(wire_type) {
                    return Some(Err(e));
                }
                continue;
            }
            return Some(
                wire.expect(wire_type, LEN)
                    .and_then(|()| entry(wire.bytes()?)),
            );
        }
    })
}

fn entry(bytes: &[u8]) -> Res<(&str, &[u8])> {
    let (mut key, mut value) = (None, None);
    let mut wire = Wire::new(bytes);
    while let Some((number, wire_type)) = wire.field()? {
        match number {
            1 => {
                wire.expect(wire_type, LEN)?;
                key = Some(wire.string()?);
            }
            2 => {
                wire.expect(wire_type, LEN)?;
                value = Some(wire.bytes()?);
            }
            _ => wire.skip(wire_type)?,
        }
    }
    Ok((key.unwrap_or(""), value.unwrap_or(&[])))
}
