//! Request JSON (`docs/requests.md`) read in one pass into a [`Builder`].
//! Keys come in any order: a `context` read before its `action`, or
//! `attrs` before their entity's `type`, is stepped over and read once
//! what it depends on is known.

use reaper_lang::literal;
use reaper_lang::types::{RecordType, Type};

use super::build::{Builder, Form, Seen};
use super::reader::{Declined, Members, Reader, Res};
use crate::engine::Engine;
use crate::request::Request;
use crate::value::{EntityKey, Slice, Val};

pub(super) fn decode(engine: &Engine, text: &str) -> Res<Request> {
    Decoder {
        build: Builder::new(engine, text.len()),
        reader: Reader::new(text),
    }
    .request()
}

struct Decoder<'e, 't> {
    build: Builder<'e>,
    reader: Reader<'t>,
}

impl<'e> Decoder<'e, '_> {
    fn request(mut self) -> Res<Request> {
        let (mut principal, mut resource, mut action) = (None, None, None);
        let (mut context, mut context_at) = (None, None);
        let mut seen = Seen::default();
        let mut members = Members::default();
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            match &*key {
                "principal" => {
                    seen.first(1)?;
                    principal = Some(self.entity(Form::Argument)?);
                }
                "resource" => {
                    seen.first(2)?;
                    resource = Some(self.entity(Form::Argument)?);
                }
                "action" => {
                    seen.first(4)?;
                    let name = self.reader.string()?;
                    action = Some(self.build.action(&name)?);
                }
                "context" => {
                    seen.first(8)?;
                    match action {
                        Some(action) => {
                            context = Some(self.record(self.build.context_type(action))?);
                        }
                        None => {
                            context_at = Some(self.reader.position());
                            self.reader.skip()?;
                        }
                    }
                }
                "entities" => {
                    seen.first(16)?;
                    let mut items = Members::default();
                    self.reader.begin_array()?;
                    while self.reader.item(&mut items)? {
                        self.entity(Form::Data)?;
                    }
                }
                _ => return Err(Declined),
            }
        }
        self.reader.end()?;
        let (Some(principal), Some(resource), Some(action)) = (principal, resource, action) else {
            return Err(Declined);
        };
        let context_type = self.build.context_type(action);
        let context = match (context, context_at) {
            (Some(context), _) => context,
            (None, Some(at)) => {
                self.reader.seek(at);
                self.record(context_type)?
            }
            // No context: an empty object, valid when every field is optional.
            (None, None) => self.build.empty_record(context_type)?,
        };
        self.build.finish(principal, action, resource, context)
    }

    /// An entity object: `{type, id}`, with `attrs` and `parents` when it
    /// carries data (which its form says it may or must).
    fn entity(&mut self, form: Form) -> Res<EntityKey> {
        let mut seen = Seen::default();
        let mut members = Members::default();
        let (mut ty, mut id) = (None, None);
        let (mut attrs, mut attrs_at) = (None, None);
        let parents_start = self.build.parents_start();
        let mut has_parents = false;
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            match &*key {
                "type" => {
                    seen.first(1)?;
                    let name = self.reader.string()?;
                    ty = Some(self.build.entity_type(&name)?);
                }
                "id" => {
                    seen.first(2)?;
                    id = Some(self.reader.string()?);
                }
                "attrs" if form.may_carry_data() => {
                    seen.first(4)?;
                    match ty {
                        Some(ty) => attrs = Some(self.record(&self.build.type_def(ty)?.attrs)?),
                        None => {
                            attrs_at = Some(self.reader.position());
                            self.reader.skip()?;
                        }
                    }
                }
                "parents" if form.may_carry_data() => {
                    seen.first(8)?;
                    has_parents = true;
                    let mut items = Members::default();
                    let mut count = 0;
                    self.reader.begin_array()?;
                    while self.reader.item(&mut items)? {
                        count += 1;
                        let parent = self.entity(Form::Reference)?;
                        self.build.parent(parent, count)?;
                    }
                }
                _ => return Err(Declined),
            }
        }
        let (Some(ty), Some(id)) = (ty, id) else {
            return Err(Declined);
        };
        let key = self.build.entity_key(ty, &id)?;
        if attrs.is_none() && attrs_at.is_none() && !has_parents {
            return form.without_data(key);
        }
        let def = self.build.type_def(ty)?;
        let attrs = match (attrs, attrs_at) {
            (Some(attrs), _) => attrs,
            (None, Some(at)) => {
                let resume = self.reader.position();
                self.reader.seek(at);
                let attrs = self.record(&def.attrs)?;
                self.reader.seek(resume);
                attrs
            }
            (None, None) => self.build.empty_record(&def.attrs)?,
        };
        self.build.entity_data(key, def, attrs, parents_start)?;
        Ok(key)
    }

    fn record(&mut self, ty: &'e RecordType) -> Res<Slice> {
        let start = self.build.begin_record(ty);
        let mut members = Members::default();
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            let (slot, field_type) = self.build.field(ty, &key)?;
            let value = self.value(field_type)?;
            self.build.fill(start, slot, value)?;
        }
        self.build.end_record(ty, start)
    }

    fn value(&mut self, ty: &'e Type) -> Res<Val> {
        Ok(match ty {
            Type::Bool => Val::Bool(self.reader.bool()?),
            Type::Int => Val::Int(self.reader.int()?),
            Type::Decimal if self.reader.peek() != Some(b'"') => {
                // A JSON number is read as the text serde_json prints it as.
                let text = self.reader.number()?;
                let number: serde_json::Number = text.parse().map_err(|_| Declined)?;
                Val::Int(literal::parse_decimal(&number.to_string()).map_err(|_| Declined)?)
            }
            Type::String | Type::Ip | Type::Duration | Type::Timestamp | Type::Decimal => {
                let text = self.reader.string()?;
                self.build.text_value(ty, text)?
            }
            Type::Entity(want) => {
                let key = self.entity(Form::Reference)?;
                if key.ty() != want.0 {
                    return Err(Declined);
                }
                Val::Entity(key)
            }
            Type::Set(element) => {
                let base = self.build.begin_set();
                let mut members = Members::default();
                self.reader.begin_array()?;
                while self.reader.item(&mut members)? {
                    let value = self.value(element)?;
                    self.build.element(base, value)?;
                }
                self.build.end_set(base)?
            }
            Type::Map(item) => {
                let mut entries: Vec<(u32, Val)> = Vec::new();
                let mut members = Members::default();
                self.reader.begin_object()?;
                while let Some(key) = self.reader.key(&mut members)? {
                    self.build.map_has_room(entries.len())?;
                    let key = self.build.string(&key)?;
                    let value = self.value(item)?;
                    entries.push((key, value));
                }
                self.build.map(entries)?
            }
            Type::Record(record) => Val::Record(self.record(record)?),
        })
    }
}
