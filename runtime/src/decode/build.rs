//! The request under construction, shared by the JSON and protobuf
//! decoders: strings interned as they come, values written into the
//! request's pool, and every schema rule a decoder must hold a value to —
//! record slots filled once and required ones present, set and map sizes,
//! entity ids and parent types, action applicability, repeated entities.
//! A decoder drives it in its input's order; anything wrong is
//! [`Declined`](super::reader::Declined).

use std::borrow::Cow;

use reaper_lang::literal;
use reaper_lang::request::Limits;
use reaper_lang::schema::{EntityTypeDef, STORE_ACTIONS, Schema, index_u32};
use reaper_lang::types::{ActionId, RecordType, Type};

use super::reader::{Declined, Res};
use crate::engine::Engine;
use crate::request::{EntityData, Request};
use crate::strings::{LocalStrings, Texts};
use crate::value::{EntityKey, IpRef, Pool, Pools, Slice, Val, map_layout};

/// Records up to this many fields are scanned for a name.
const FEW_FIELDS: usize = 16;

pub(super) struct Builder<'e> {
    engine: &'e Engine,
    schema: &'e Schema,
    limits: Limits,
    values: Vec<Val>,
    ips: Vec<ipnet::IpNet>,
    strings: LocalStrings,
    /// Set elements being read (sets nest, so this is a stack).
    elements: Vec<Val>,
    entities: Vec<EntityData>,
    parents: Vec<EntityKey>,
}

/// Where an entity object stands, which says what it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// A parent or an entity value: `type` and `id` only.
    Reference,
    /// The principal or the resource: a reference, or data.
    Argument,
    /// An element of `entities`: data.
    Data,
}

impl Form {
    pub fn may_carry_data(self) -> bool {
        self != Form::Reference
    }

    /// What an object of this form that carries no data stands for.
    pub fn without_data(self, key: EntityKey) -> Res<EntityKey> {
        match self {
            Form::Data => Err(Declined),
            Form::Reference | Form::Argument => Ok(key),
        }
    }
}

/// Bits of the fields a message or object has shown, to refuse a repeated
/// one.
#[derive(Default)]
pub(super) struct Seen(u8);

impl Seen {
    pub fn first(&mut self, bit: u8) -> Res<()> {
        if self.0 & bit != 0 {
            return Err(Declined);
        }
        self.0 |= bit;
        Ok(())
    }
}

impl<'e> Builder<'e> {
    /// A builder for a request of `len` bytes, with room for what such a
    /// request usually holds, so that most need no regrowth (each guess is
    /// a few bytes of storage per input byte at most).
    pub fn new(engine: &'e Engine, len: usize) -> Self {
        let len = len.min(1 << 20);
        Builder {
            engine,
            schema: engine.schema(),
            limits: Limits::default(),
            values: Vec::with_capacity(len / 16 + 16),
            ips: Vec::new(),
            strings: LocalStrings::with_capacity(len / 32 + 8, len / 4 + 32),
            elements: Vec::with_capacity(16),
            entities: Vec::with_capacity(len / 96 + 2),
            parents: Vec::with_capacity(len / 96 + 2),
        }
    }

    /// The finished request, once the action applies to its principal and
    /// resource and no entity carries data twice.
    pub fn finish(
        self,
        principal: EntityKey,
        action: u32,
        resource: EntityKey,
        context: Slice,
    ) -> Res<Request> {
        self.applies(action, principal, resource)?;
        let request = Request::new(
            principal,
            action,
            resource,
            context,
            self.entities,
            self.parents,
            self.values,
            self.ips,
            self.strings,
        );
        if request.repeats_an_entity() {
            return Err(Declined);
        }
        Ok(request)
    }

    /// An action a request may name (not a group).
    pub fn action(&self, name: &str) -> Res<u32> {
        let action = self.engine.names.action(name).ok_or(Declined)?;
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
            let store_name = Texts::Local(&self.strings).text(self.engine.strings(), resource.id());
            if let Some(store) = self.schema.store(store_name)
                && !store.principal_types.is_empty()
                && !store.principal_types.iter().any(|t| t.0 == principal.ty())
            {
                return Err(Declined);
            }
        }
        Ok(())
    }

    pub fn context_type(&self, action: u32) -> &'e RecordType {
        self.schema.context_of(ActionId(action))
    }

    pub fn type_def(&self, ty: u32) -> Res<&'e EntityTypeDef> {
        self.schema.entity_types.get(ty as usize).ok_or(Declined)
    }

    pub fn entity_type(&self, name: &str) -> Res<u32> {
        self.engine.names.entity_type(name).ok_or(Declined)
    }

    pub fn entity_key(&mut self, ty: u32, id: &str) -> Res<EntityKey> {
        if id.len() > self.limits.max_string_bytes || !self.type_def(ty)?.allows_id(id) {
            return Err(Declined);
        }
        Ok(EntityKey::new(ty, self.intern(id)))
    }

    /// A string value (or map key) within the size limit, interned.
    pub fn string(&mut self, text: &str) -> Res<u32> {
        if text.len() > self.limits.max_string_bytes {
            return Err(Declined);
        }
        Ok(self.intern(text))
    }

    fn intern(&mut self, text: &str) -> u32 {
        self.strings.intern(self.engine.strings(), text)
    }

    /// Where the next entity's parents start; push them with [`Builder::parent`].
    pub fn parents_start(&self) -> usize {
        self.parents.len()
    }

    /// One more parent of the entity being read (its `count`-th, from 1).
    pub fn parent(&mut self, parent: EntityKey, count: usize) -> Res<()> {
        if count > self.limits.max_set_len {
            return Err(Declined);
        }
        self.parents.push(parent);
        Ok(())
    }

    /// Adds an entity's data: its parents are those pushed since
    /// `parents_start`, and must be of types its type admits.
    pub fn entity_data(
        &mut self,
        key: EntityKey,
        def: &EntityTypeDef,
        attrs: Slice,
        parents_start: usize,
    ) -> Res<()> {
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
        Ok(())
    }

    /// Reserves a record's slots; fill them with [`Builder::field`] and end
    /// with [`Builder::end_record`].
    pub fn begin_record(&mut self, ty: &RecordType) -> usize {
        let start = self.values.len();
        self.values.resize(start + ty.fields.len(), Val::Absent);
        start
    }

    /// The record field `name`: its slot and type.
    pub fn field<'r>(&self, ty: &'r RecordType, name: &str) -> Res<(usize, &'r Type)> {
        // A few fields are scanned, most skipped by their length alone;
        // many are searched (they are sorted by name).
        if ty.fields.len() <= FEW_FIELDS {
            return ty
                .fields
                .iter()
                .position(|f| f.name.len() == name.len() && f.name == name)
                .and_then(|slot| Some((slot, &ty.fields.get(slot)?.ty)))
                .ok_or(Declined);
        }
        let (slot, field) = ty.field(name).ok_or(Declined)?;
        Ok((slot as usize, &field.ty))
    }

    /// Fills a slot of the record that starts at `start`, once.
    pub fn fill(&mut self, start: usize, slot: usize, value: Val) -> Res<()> {
        let place = self.values.get_mut(start + slot).ok_or(Declined)?;
        // A slot filled twice is a repeated key.
        if !matches!(place, Val::Absent) {
            return Err(Declined);
        }
        *place = value;
        Ok(())
    }

    /// Ends a record: every required field is there.
    pub fn end_record(&self, ty: &RecordType, start: usize) -> Res<Slice> {
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

    /// A record given as `{}` (or not given).
    pub fn empty_record(&mut self, ty: &RecordType) -> Res<Slice> {
        let start = self.begin_record(ty);
        self.end_record(ty, start)
    }

    /// A value sent as text: strings, and the text forms of IPs,
    /// durations, timestamps and decimals.
    pub fn text_value(&mut self, ty: &Type, text: Cow<'_, str>) -> Res<Val> {
        if text.len() > self.limits.max_string_bytes {
            return Err(Declined);
        }
        Ok(match ty {
            Type::String => Val::Str(self.intern(&text)),
            Type::Ip => {
                let ip = literal::parse_ip(&text).map_err(|_| Declined)?;
                self.ips.push(ip);
                Val::Ip(IpRef {
                    index: index_u32(self.ips.len() - 1),
                    pool: Pool::Request,
                })
            }
            Type::Duration => Val::Int(literal::parse_duration(&text).map_err(|_| Declined)?),
            Type::Timestamp => Val::Int(literal::parse_timestamp(&text).map_err(|_| Declined)?),
            Type::Decimal => Val::Int(literal::parse_decimal(&text).map_err(|_| Declined)?),
            _ => return Err(Declined),
        })
    }

    /// Where a set's elements start; push them with [`Builder::element`].
    pub fn begin_set(&self) -> usize {
        self.elements.len()
    }

    pub fn element(&mut self, base: usize, value: Val) -> Res<()> {
        if self.elements.len() - base >= self.limits.max_set_len {
            return Err(Declined);
        }
        self.elements.push(value);
        Ok(())
    }

    /// The set of the elements pushed since `base`, sorted and distinct.
    pub fn end_set(&mut self, base: usize) -> Res<Val> {
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

    /// Whether a map holding `len` entries may take one more.
    pub fn map_has_room(&self, len: usize) -> Res<()> {
        if len >= self.limits.max_set_len {
            return Err(Declined);
        }
        Ok(())
    }

    /// A map of interned keys, each given once.
    pub fn map(&mut self, entries: Vec<(u32, Val)>) -> Res<Val> {
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
