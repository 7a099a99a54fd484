//! Entity data held outside requests — what a server loads from its
//! entities file and changes through its admin API — and how a request is
//! completed from it. A request's own data always wins: held data is added
//! only for entities the request refers to (directly, through attributes,
//! through parents, transitively) and carries no data for, so a request
//! never pays for entities it cannot reach.

use hashbrown::{HashMap, HashSet};
use std::sync::Arc;

use reaper_lang::request::{Entity, Limits, RequestError};
use reaper_lang::schema::Schema;
use reaper_lang::types::EntityTypeId;
use reaper_lang::value::{Uid, Value};

use crate::engine::Engine;
use crate::request::Request;
use crate::strings::Texts;
use crate::value::{EntityKey, Val};

/// Schema-valid entity data by reference. Cheap to clone (entities are
/// shared), so an update builds a new set beside the one requests read.
#[derive(Debug, Clone, Default)]
pub struct HeldEntities {
    by_uid: HashMap<Uid, Arc<Entity>>,
}

/// A borrowed [`Uid`], hashing as the owned one does, so lookups need no
/// allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct UidRef<'a> {
    ty: EntityTypeId,
    id: &'a str,
}

impl<'a> From<&'a Uid> for UidRef<'a> {
    fn from(uid: &'a Uid) -> Self {
        UidRef {
            ty: uid.ty,
            id: &uid.id,
        }
    }
}

impl hashbrown::Equivalent<Uid> for UidRef<'_> {
    fn equivalent(&self, uid: &Uid) -> bool {
        self.ty == uid.ty && self.id == uid.id
    }
}

impl HeldEntities {
    /// Entities validated against `schema` (see
    /// [`reaper_lang::request::decode_entities`]); a later entity with the
    /// same reference replaces an earlier one.
    pub fn new(entities: impl IntoIterator<Item = Entity>) -> Self {
        let mut held = Self::default();
        for entity in entities {
            held.insert(entity);
        }
        held
    }

    /// Validates a JSON array of entities against `schema`.
    pub fn from_json(
        schema: &Schema,
        json: &serde_json::Value,
        limits: &Limits,
    ) -> Result<Self, RequestError> {
        reaper_lang::request::decode_entities(schema, json, limits).map(Self::new)
    }

    pub fn insert(&mut self, entity: Entity) {
        self.by_uid.insert(entity.uid.clone(), Arc::new(entity));
    }

    pub fn remove(&mut self, uid: &Uid) -> bool {
        self.by_uid.remove(uid).is_some()
    }

    pub fn get(&self, uid: &Uid) -> Option<&Entity> {
        self.by_uid.get(uid).map(Arc::as_ref)
    }

    fn get_ref(&self, uid: UidRef<'_>) -> Option<&Entity> {
        self.by_uid.get(&uid).map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entity> {
        self.by_uid.values().map(Arc::as_ref)
    }
}

impl Engine {
    /// Decodes a request (as [`Engine::decode_request`]) and completes it
    /// from `held`.
    pub fn decode_request_with(
        &self,
        json: &str,
        held: &HeldEntities,
    ) -> Result<Request, RequestError> {
        let request = self.decode_request(json)?;
        Ok(self.complete_request(request, held))
    }

    /// Adds to `request` the held data of every entity it reaches and has
    /// no data for. The work is linear in the request's size plus the data
    /// added.
    pub fn complete_request(&self, request: Request, held: &HeldEntities) -> Request {
        if held.is_empty() {
            return request;
        }
        let added = self.reached(&request, held);
        if added.is_empty() {
            return request;
        }
        request.with_entities(self, &added)
    }

    /// The held entities `request` reaches without carrying their data.
    fn reached<'h>(&self, request: &Request, held: &'h HeldEntities) -> Vec<&'h Entity> {
        let texts = Texts::Local(&request.strings);
        let uid = |key: EntityKey| UidRef {
            ty: EntityTypeId(key.ty()),
            id: texts.text(self.strings(), key.id()),
        };
        let mut pending: Vec<UidRef<'_>> = Vec::new();
        let mut consider = |key: EntityKey| {
            if request.entity(key).is_none() {
                pending.push(uid(key));
            }
        };
        consider(request.principal);
        consider(request.resource);
        for value in &request.values {
            if let Val::Entity(key) = value {
                consider(*key);
            }
        }
        for parent in request.all_parents() {
            consider(*parent);
        }
        let mut added: Vec<&'h Entity> = Vec::new();
        let mut seen: HashSet<UidRef<'_>> = HashSet::new();
        while let Some(next) = pending.pop() {
            if !seen.insert(next) {
                continue;
            }
            let Some(entity) = held.get_ref(next) else {
                continue;
            };
            added.push(entity);
            pending.extend(entity.parents.iter().map(UidRef::from));
            for value in entity.attrs.iter().flatten() {
                entity_refs(value, &mut pending);
            }
        }
        // Entities the request itself has data for were never pending, but
        // a held entity may refer to one: keep the request's.
        added.retain(|entity| !request_has(request, self, &entity.uid));
        added
    }
}

fn request_has(request: &Request, engine: &Engine, uid: &Uid) -> bool {
    Texts::Local(&request.strings)
        .get(engine.strings(), &uid.id)
        .is_some_and(|sym| request.entity(EntityKey::new(uid.ty.0, sym)).is_some())
}

/// Every entity a value refers to.
fn entity_refs<'a>(value: &'a Value, out: &mut Vec<UidRef<'a>>) {
    match value {
        Value::Entity(uid) => out.push(UidRef::from(uid)),
        Value::Set(items) => items.iter().for_each(|v| entity_refs(v, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| entity_refs(v, out)),
        Value::Record(fields) => fields.iter().flatten().for_each(|v| entity_refs(v, out)),
        _ => {}
    }
}
