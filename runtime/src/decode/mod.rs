//! Request JSON straight into the engine's form, in one pass: strings are
//! interned, values land in the request's pool, and every value is checked
//! against the schema as it is read — no `serde_json::Value`, no paths
//! built. The fast path only says *that* it declines an input; the precise
//! decoder (`reaper_lang::request`, then [`Engine::prepare`]) then decides,
//! naming the offending field. So every error is exactly as precise as the
//! precise decoder's, and the fast path must only ever accept what the
//! precise one accepts, with the same meaning (the property tests in
//! `tests.rs` hold it to that).
//!
//! Parts of a request that depend on another part not read yet are stepped
//! over and read when it is: a `context` before its `action`, `attrs`
//! before their entity's `type`.

mod reader;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use reaper_lang::literal;
use reaper_lang::request::{self as lang_request, Limits, RequestError};
use reaper_lang::schema::{STORE_ACTIONS, Schema, index_u32};
use reaper_lang::types::{ActionId, RecordType, Type};
use rustc_hash::FxHashMap;

use crate::engine::Engine;
use crate::request::{EntityData, Request};
use crate::strings::LocalStrings;
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Val, map_layout};
use reader::{Declined, Members, Reader, Res};

/// Name lookups the decoder does for every entity and request, built once
/// per engine.
#[derive(Debug, Default)]
pub(crate) struct Names {
    entity_types: NameTable,
    actions: NameTable,
}

impl Names {
    pub fn new(schema: &Schema) -> Self {
        Names {
            entity_types: NameTable::new(schema.entity_types.iter().map(|t| t.name.as_str())),
            actions: NameTable::new(schema.actions.iter().map(|a| a.name.as_str())),
        }
    }

    pub fn entity_type(&self, name: &str) -> Option<u32> {
        self.entity_types.get(name)
    }

    pub fn action(&self, name: &str) -> Option<u32> {
        self.actions.get(name)
    }
}

/// Names to their indexes: a few are compared one by one (cheaper than
/// hashing the name), many are hashed.
#[derive(Debug)]
enum NameTable {
    Few(Vec<Box<str>>),
    Many(FxHashMap<Box<str>, u32>),
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable::Few(Vec::new())
    }
}

/// Up to this many names, a scan beats hashing.
const FEW_NAMES: usize = 8;

impl NameTable {
    fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Self {
        if names.len() <= FEW_NAMES {
            return NameTable::Few(names.map(Box::from).collect());
        }
        let mut map = FxHashMap::default();
        for (i, name) in names.enumerate() {
            // The first of repeated names wins, as the schema's lookups do.
            map.entry(Box::from(name)).or_insert(index_u32(i));
        }
        NameTable::Many(map)
    }

    fn get(&self, name: &str) -> Option<u32> {
        match self {
            NameTable::Few(names) => names.iter().position(|n| **n == *name).map(index_u32),
            NameTable::Many(map) => map.get(name).copied(),
        }
    }
}

impl Engine {
    /// Parses, validates and prepares a request from JSON text (see
    /// `docs/requests.md`). A request that is not valid gets an error
    /// naming the offending field.
    pub fn decode_request(&self, json: &str) -> Result<Request, RequestError> {
        match Decoder::new(self, json).request() {
            Ok(request) => Ok(request),
            Err(Declined) => self.decode_request_precisely(json),
        }
    }

    /// The fast path alone: `None` where it declines (and
    /// [`Engine::decode_request`] would ask the precise decoder). For tests
    /// and fuzzers that hold the two to the same answers.
    #[doc(hidden)]
    pub fn decode_request_fast(&self, json: &str) -> Option<Request> {
        Decoder::new(self, json).request().ok()
    }

    /// The precise decoder alone: a JSON tree validated field by field,
    /// then prepared. [`Engine::decode_request`] gives the same results
    /// faster; this is its error path and its test oracle.
    pub fn decode_request_precisely(&self, json: &str) -> Result<Request, RequestError> {
        let request = lang_request::decode(self.schema(), json, &Limits::default())?;
        Ok(self.prepare(&request))
    }
}

/// Bits of the keys an object has shown, to refuse a repeated one.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn first(&mut self, bit: u8) -> Res<()> {
        if self.0 & bit != 0 {
            return Err(Declined);
        }
        self.0 |= bit;
        Ok(())
    }
}

struct Decoder<'e, 't> {
    engine: &'e Engine,
    schema: &'e Schema,
    limits: Limits,
    reader: Reader<'t>,
    values: Vec<Val>,
    ips: Vec<ipnet::IpNet>,
    strings: LocalStrings,
    /// Set elements being read (sets nest, so this is a stack).
    elements: Vec<Val>,
    entities: Vec<EntityData>,
    parents: Vec<EntityKey>,
}

/// What the top-level object has given so far.
#[derive(Default)]
struct Parts {
    principal: Option<EntityKey>,
    resource: Option<EntityKey>,
    action: Option<u32>,
    context: Option<Slice>,
    /// Where a `context` read before the action starts.
    context_at: Option<usize>,
}

impl<'e, 't> Decoder<'e, 't> {
    fn new(engine: &'e Engine, text: &'t str) -> Self {
        Decoder {
            engine,
            schema: engine.schema(),
            limits: Limits::default(),
            reader: Reader::new(text),
            // Room for a typical request, so most need no regrowth.
            values: Vec::with_capacity(64),
            ips: Vec::new(),
            strings: LocalStrings::with_capacity(16, 256),
            elements: Vec::with_capacity(16),
            entities: Vec::with_capacity(8),
            parents: Vec::with_capacity(8),
        }
    }

    fn request(mut self) -> Res<Request> {
        let mut parts = Parts::default();
        let mut seen = Seen::default();
        let mut members = Members::default();
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            match &*key {
                "principal" => {
                    seen.first(1)?;
                    parts.principal = Some(self.entity(false)?);
                }
                "resource" => {
                    seen.first(2)?;
                    parts.resource = Some(self.entity(false)?);
                }
                "action" => {
                    seen.first(4)?;
                    parts.action = Some(self.action()?);
                }
                "context" => {
                    seen.first(8)?;
                    match parts.action {
                        Some(action) => parts.context = Some(self.context(action)?),
                        None => {
                            parts.context_at = Some(self.reader.position());
                            self.reader.skip()?;
                        }
                    }
                }
                "entities" => {
                    seen.first(16)?;
                    self.entity_list()?;
                }
                _ => return Err(Declined),
            }
        }
        self.reader.end()?;
        let (Some(principal), Some(resource), Some(action)) =
            (parts.principal, parts.resource, parts.action)
        else {
            return Err(Declined);
        };
        self.applies(action, principal, resource)?;
        let context = match (parts.context, parts.context_at) {
            (Some(context), _) => context,
            (None, Some(at)) => {
                self.reader.seek(at);
                self.context(action)?
            }
            // No context: an empty object, valid when every field is optional.
            (None, None) => self.empty_record(self.schema.context_of(ActionId(action)))?,
        };
        let Decoder {
            values,
            ips,
            strings,
            entities,
            parents,
            ..
        } = self;
        let request = Request::new(
            principal, action, resource, context, entities, parents, values, ips, strings,
        );
        if request.repeats_an_entity() {
            return Err(Declined);
        }
        Ok(request)
    }

    fn action(&mut self) -> Res<u32> {
        let name = self.reader.string()?;
        let action = self.engine.names.action(&name).ok_or(Declined)?;
        let def = self.schema.actions.get(action as usize).ok_or(Declined)?;
        if def.is_group {
            return Err(Declined);
        }
        Ok(action)
    }

    /// The action's principal and resource types, and a store's principals.
    fn applies(&self, action: u32, principal: EntityKey, resource: EntityKey) -> Res<()> {
        let def = self.schema.actions.get(action as usize).ok_or(Declined)?;
        for (key, types) in [
            (principal, &def.principal_types),
            (resource, &def.resource_types),
        ] {
            if !types.is_empty() && !types.iter().any(|t| t.0 == key.ty()) {
                return Err(Declined);
            }
        }
        if STORE_ACTIONS.contains(&def.name.as_str()) {
            let store_name = self.text(resource);
            if let Some(store) = self.schema.store(store_name)
                && !store.principal_types.is_empty()
                && !store.principal_types.iter().any(|t| t.0 == principal.ty())
            {
                return Err(Declined);
            }
        }
        Ok(())
    }

    fn text(&self, key: EntityKey) -> &str {
        crate::strings::Texts::Local(&self.strings).text(self.engine.strings(), key.id())
    }

    fn context(&mut self, action: u32) -> Res<Slice> {
        let ty = self.schema.context_of(ActionId(action));
        self.record(ty)
    }

    /// The principal or the resource (`in_list` false), or an element of
    /// `entities` (which must carry data): `{type, id}` with `attrs` and
    /// `parents` when it has data.
    fn entity(&mut self, in_list: bool) -> Res<EntityKey> {
        let mut seen = Seen::default();
        let mut members = Members::default();
        let (mut ty, mut id) = (None, None);
        let mut attrs_at = None;
        let mut attrs = None;
        let parents_start = self.parents.len();
        let mut has_parents = false;
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            match &*key {
                "type" => {
                    seen.first(1)?;
                    ty = Some(self.entity_type()?);
                }
                "id" => {
                    seen.first(2)?;
                    id = Some(self.reader.string()?);
                }
                "attrs" => {
                    seen.first(4)?;
                    match ty {
                        Some(ty) => attrs = Some(self.record(&self.type_def(ty)?.attrs)?),
                        None => {
                            attrs_at = Some(self.reader.position());
                            self.reader.skip()?;
                        }
                    }
                }
                "parents" => {
                    seen.first(8)?;
                    has_parents = true;
                    self.parent_list()?;
                }
                _ => return Err(Declined),
            }
        }
        let (Some(ty), Some(id)) = (ty, id) else {
            return Err(Declined);
        };
        let key = self.entity_key(ty, id)?;
        let has_attrs = attrs.is_some() || attrs_at.is_some();
        if !has_attrs && !has_parents {
            return if in_list { Err(Declined) } else { Ok(key) };
        }
        let def = self.type_def(ty)?;
        let attrs = match (attrs, attrs_at) {
            (Some(attrs), _) => attrs,
            (None, Some(at)) => {
                let resume = self.reader.position();
                self.reader.seek(at);
                let attrs = self.record(&def.attrs)?;
                self.reader.seek(resume);
                attrs
            }
            (None, None) => self.empty_record(&def.attrs)?,
        };
        let parents = self.parents.get_mut(parents_start..).ok_or(Declined)?;
        if parents
            .iter()
            .any(|p| !def.parents.iter().any(|t| t.0 == p.ty()))
        {
            return Err(Declined);
        }
        // Order does not matter and repeats count once.
        parents.sort_unstable();
        let unique = dedup_len(parents);
        self.parents.truncate(parents_start + unique);
        if self.entities.len() >= self.limits.max_entities {
            return Err(Declined);
        }
        self.entities.push(EntityData::new(
            key,
            attrs,
            (index_u32(parents_start), index_u32(unique)),
        ));
        Ok(key)
    }

    fn entity_list(&mut self) -> Res<()> {
        let mut members = Members::default();
        self.reader.begin_array()?;
        while self.reader.item(&mut members)? {
            self.entity(true)?;
        }
        Ok(())
    }

    fn parent_list(&mut self) -> Res<()> {
        let mut members = Members::default();
        let mut count = 0;
        self.reader.begin_array()?;
        while self.reader.item(&mut members)? {
            count += 1;
            if count > self.limits.max_set_len {
                return Err(Declined);
            }
            let parent = self.uid()?;
            self.parents.push(parent);
        }
        Ok(())
    }

    fn type_def(&self, ty: u32) -> Res<&'e reaper_lang::schema::EntityTypeDef> {
        self.schema.entity_types.get(ty as usize).ok_or(Declined)
    }

    fn entity_type(&mut self) -> Res<u32> {
        let name = self.reader.string()?;
        self.engine.names.entity_type(&name).ok_or(Declined)
    }

    fn entity_key(&mut self, ty: u32, id: Cow<'_, str>) -> Res<EntityKey> {
        if id.len() > self.limits.max_string_bytes || !self.type_def(ty)?.allows_id(&id) {
            return Err(Declined);
        }
        Ok(EntityKey::new(ty, self.intern(&id)))
    }

    /// An entity reference: exactly `type` and `id`.
    fn uid(&mut self) -> Res<EntityKey> {
        let mut seen = Seen::default();
        let mut members = Members::default();
        let (mut ty, mut id) = (None, None);
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            match &*key {
                "type" => {
                    seen.first(1)?;
                    ty = Some(self.entity_type()?);
                }
                "id" => {
                    seen.first(2)?;
                    id = Some(self.reader.string()?);
                }
                _ => return Err(Declined),
            }
        }
        let (Some(ty), Some(id)) = (ty, id) else {
            return Err(Declined);
        };
        self.entity_key(ty, id)
    }

    fn intern(&mut self, text: &str) -> u32 {
        self.strings.intern(self.engine.strings(), text)
    }

    fn string(&mut self) -> Res<Cow<'t, str>> {
        let text = self.reader.string()?;
        if text.len() > self.limits.max_string_bytes {
            return Err(Declined);
        }
        Ok(text)
    }

    /// A record's fields, straight into their slots of the pool.
    fn record(&mut self, ty: &'e RecordType) -> Res<Slice> {
        let start = self.values.len();
        self.values.resize(start + ty.fields.len(), Val::Absent);
        let mut members = Members::default();
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            let (slot, field) = ty.field(&key).ok_or(Declined)?;
            let value = self.value(&field.ty)?;
            let place = self.values.get_mut(start + slot as usize).ok_or(Declined)?;
            // A slot filled twice is a repeated key.
            if !matches!(place, Val::Absent) {
                return Err(Declined);
            }
            *place = value;
        }
        self.required(ty, start)
    }

    /// A record given as `{}` (or not given).
    fn empty_record(&mut self, ty: &'e RecordType) -> Res<Slice> {
        let start = self.values.len();
        self.values.resize(start + ty.fields.len(), Val::Absent);
        self.required(ty, start)
    }

    fn required(&self, ty: &RecordType, start: usize) -> Res<Slice> {
        let slots = self.values.get(start..).ok_or(Declined)?;
        let missing = ty
            .fields
            .iter()
            .zip(slots)
            .any(|(field, value)| !field.optional && matches!(value, Val::Absent));
        if missing {
            return Err(Declined);
        }
        Ok(Slice::new(
            Pool::Request,
            index_u32(start),
            index_u32(ty.fields.len()),
        ))
    }

    fn value(&mut self, ty: &'e Type) -> Res<Val> {
        Ok(match ty {
            Type::Bool => Val::Bool(self.reader.bool()?),
            Type::Int => Val::Int(self.reader.int()?),
            Type::String => {
                let text = self.string()?;
                Val::Str(self.intern(&text))
            }
            Type::Ip => {
                let ip = literal::parse_ip(&self.string()?).map_err(|_| Declined)?;
                self.ips.push(ip);
                Val::Ip(IpRef {
                    index: index_u32(self.ips.len() - 1),
                    pool: Pool::Request,
                })
            }
            Type::Duration => Val::Int(parse(&self.string()?, literal::parse_duration)?),
            Type::Timestamp => Val::Int(parse(&self.string()?, literal::parse_timestamp)?),
            Type::Decimal => {
                let n = if self.reader.peek() == Some(b'"') {
                    parse(&self.string()?, literal::parse_decimal)?
                } else {
                    // A JSON number is read as the text serde_json prints it as.
                    let text = self.reader.number()?;
                    let number: serde_json::Number = text.parse().map_err(|_| Declined)?;
                    parse(&number.to_string(), literal::parse_decimal)?
                };
                Val::Int(n)
            }
            Type::Entity(want) => {
                let key = self.uid()?;
                if key.ty() != want.0 {
                    return Err(Declined);
                }
                Val::Entity(key)
            }
            Type::Set(element) => self.set(element)?,
            Type::Map(value) => self.map(value)?,
            Type::Record(record) => Val::Record(self.record(record)?),
        })
    }

    fn set(&mut self, element: &'e Type) -> Res<Val> {
        let base = self.elements.len();
        let mut members = Members::default();
        self.reader.begin_array()?;
        while self.reader.item(&mut members)? {
            if self.elements.len() - base >= self.limits.max_set_len {
                return Err(Declined);
            }
            let value = self.value(element)?;
            self.elements.push(value);
        }
        let pools = Pools {
            constants: self.engine.constants(),
            request: &self.values,
            scratch: &[],
            constant_ips: &self.engine.constant_ips,
            request_ips: &self.ips,
            scratch_ips: &[],
        };
        let items = self.elements.get_mut(base..).ok_or(Declined)?;
        items.sort_by(|a, b| pools.cmp(a, b));
        let mut unique = 0;
        for i in 0..items.len() {
            if unique == 0 || !pools.eq(&items[unique - 1], &items[i]) {
                items.swap(unique, i);
                unique += 1;
            }
        }
        let start = index_u32(self.values.len());
        self.values.extend_from_slice(&items[..unique]);
        self.elements.truncate(base);
        Ok(Val::Set(Slice::new(
            Pool::Request,
            start,
            index_u32(unique),
        )))
    }

    fn map(&mut self, value: &'e Type) -> Res<Val> {
        let mut entries: Vec<(u32, Val)> = Vec::new();
        let mut members = Members::default();
        self.reader.begin_object()?;
        while let Some(key) = self.reader.key(&mut members)? {
            if entries.len() >= self.limits.max_set_len || key.len() > self.limits.max_string_bytes
            {
                return Err(Declined);
            }
            let key = self.intern(&key);
            let item = self.value(value)?;
            entries.push((key, item));
        }
        // Equal texts intern to equal symbols: a repeat is a repeated key.
        let mut keys: Vec<u32> = entries.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Declined);
        }
        let layout = map_layout(entries);
        let start = index_u32(self.values.len());
        let len = index_u32(layout.len());
        self.values.extend(layout);
        Ok(Val::Map(Slice::new(Pool::Request, start, len)))
    }
}

fn parse<T, E>(text: &str, parse: impl Fn(&str) -> Result<T, E>) -> Res<T> {
    parse(text).map_err(|_| Declined)
}

/// Removes adjacent repeats from a sorted slice in place; the new length.
fn dedup_len<T: PartialEq + Copy>(items: &mut [T]) -> usize {
    let mut unique = 0;
    for i in 0..items.len() {
        if unique == 0 || items[unique - 1] != items[i] {
            items[unique] = items[i];
            unique += 1;
        }
    }
    unique
}
