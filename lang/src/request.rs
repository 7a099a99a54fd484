//! Authorization requests: their JSON form (see `docs/requests.md`) and its
//! validation against a schema. A request that does not conform gets an
//! error naming the offending field; it is never silently denied.

use std::collections::HashSet;

use serde_json::{Map, Value as Json};
use thiserror::Error;

use crate::excerpt::excerpt;
use crate::json::{self, JsonError, kind};
use crate::literal;
use crate::schema::{STORE_ACTIONS, Schema};
use crate::types::{ActionId, EntityTypeId, RecordType, Type};
use crate::value::{Uid, Value};

/// Bounds on what one request may carry; beyond them the request is refused
/// with an error instead of consuming memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string, in bytes.
    pub max_string_bytes: usize,
    /// Most elements in one set, and most parents of one entity.
    pub max_set_len: usize,
    /// Most entities (principal and resource included).
    pub max_entities: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_string_bytes: 64 << 10,
            max_set_len: 10_000,
            max_entities: 10_000,
        }
    }
}

/// Why a request was refused: the JSON path of the offending field and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("`{path}`: ") })]
pub struct RequestError {
    pub path: String,
    pub message: String,
}

impl RequestError {
    pub fn at(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// Text that is not JSON, or repeats a key, refused as any request is.
impl From<JsonError> for RequestError {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::Syntax(e) => RequestError::at("", format!("malformed JSON: {e}")),
            JsonError::DuplicateKey { path } => {
                RequestError::at(&path, "this key is given twice in its object")
            }
        }
    }
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError::at(path, message))
}

/// An entity's data: attributes by slot, and parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub uid: Uid,
    pub attrs: Vec<Option<Value>>,
    pub parents: Vec<Uid>,
}

/// A schema-valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub principal: Uid,
    pub action: ActionId,
    pub resource: Uid,
    /// Context fields by slot of the schema's context record.
    pub context: Vec<Option<Value>>,
    /// Every entity whose data the request carries.
    pub entities: Vec<Entity>,
}

impl Request {
    pub fn entity(&self, uid: &Uid) -> Option<&Entity> {
        self.entities.iter().find(|e| e.uid == *uid)
    }
}

/// Parses and validates a request from JSON text. An object that repeats
/// a key is refused, as anything that reads it differently could be told
/// one request and Reaper another.
pub fn decode(schema: &Schema, text: &str, limits: &Limits) -> Result<Request, RequestError> {
    from_json(schema, &json::parse(text)?, limits)
}

/// Validates a request already parsed as JSON.
pub fn from_json(schema: &Schema, json: &Json, limits: &Limits) -> Result<Request, RequestError> {
    let decoder = Decoder { schema, limits };
    let object = decoder.object(json, "")?;
    decoder.only_keys(
        object,
        "",
        &["principal", "action", "resource", "context", "entities"],
    )?;

    let mut entities = Entities::default();
    let principal = decoder.entity_arg(
        required(object, "", "principal")?,
        "principal",
        &mut entities,
    )?;
    let resource =
        decoder.entity_arg(required(object, "", "resource")?, "resource", &mut entities)?;
    let action_name = match required(object, "", "action")? {
        json @ Json::String(_) => decoder.string(json, "action")?,
        other => {
            return err(
                "action",
                format!("expected an action name, found {}", kind(other)),
            );
        }
    };
    let Some(action) = schema.action_id(action_name) else {
        return err(
            "action",
            format!("unknown action `{}`", excerpt(action_name)),
        );
    };
    if let Some(def) = schema.action(action) {
        if def.is_group {
            let members: Vec<&str> = schema
                .members(action)
                .into_iter()
                .filter(|m| *m != action)
                .filter_map(|m| schema.action(m))
                .filter(|m| !m.is_group)
                .map(|m| m.name.as_str())
                .collect();
            return err(
                "action",
                format!(
                    "`{action_name}` is an action group; a request names one of its actions ({})",
                    members.join(", ")
                ),
            );
        }
        for (what, uid, types) in [
            ("principal", &principal, &def.principal_types),
            ("resource", &resource, &def.resource_types),
        ] {
            if !types.is_empty() && !types.contains(&uid.ty) {
                return err(
                    &format!("{what}.type"),
                    format!(
                        "action `{action_name}` does not apply to a {what} of type `{}`",
                        type_name(schema, uid.ty)
                    ),
                );
            }
        }
        store_access(schema, action_name, &principal, &resource)?;
    }
    let context_type = schema.context_of(action);
    let context = match object.get("context") {
        Some(json) => decoder.record(json, "context", context_type)?,
        None => decoder.record(&Json::Object(Map::new()), "context", context_type)?,
    };
    if let Some(list) = object.get("entities") {
        let Json::Array(items) = list else {
            return err(
                "entities",
                format!("expected an array of entities, found {}", kind(list)),
            );
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("entities[{i}]");
            let (uid, data) = decoder.entity_object(item, &path)?;
            match data {
                Some(entity) => entities.push(entity, &path, limits)?,
                None => {
                    return err(
                        &path,
                        format!(
                            "entity `{}` has neither `attrs` nor `parents`",
                            show_uid(schema, &uid)
                        ),
                    );
                }
            }
        }
    }
    Ok(Request {
        principal,
        action,
        resource,
        context,
        entities: entities.list,
    })
}

/// Validates entity data held outside requests (a server's `--entities`
/// file, an admin upsert): a JSON array of entity objects with data, each
/// checked against the schema as a request's `entities` are. Errors name
/// the item (`[3].attrs.clearance`). `max_entities` does not apply: a
/// server may hold more entities than one request may carry.
pub fn decode_entities(
    schema: &Schema,
    json: &Json,
    limits: &Limits,
) -> Result<Vec<Entity>, RequestError> {
    let decoder = Decoder { schema, limits };
    let Json::Array(items) = json else {
        return err(
            "",
            format!("expected an array of entities, found {}", kind(json)),
        );
    };
    let unbounded = Limits {
        max_entities: usize::MAX,
        ..*limits
    };
    let mut entities = Entities::default();
    for (i, item) in items.iter().enumerate() {
        let path = format!("[{i}]");
        let (uid, data) = decoder.entity_object(item, &path)?;
        let entity = match data {
            Some(entity) => entity,
            // `{type, id}` alone: an entity with no attributes or parents
            // (refused if its type requires attributes).
            None => {
                let def = schema
                    .entity_type(uid.ty)
                    .map_or_else(|| err(&path, "unknown entity type"), Ok)?;
                let attrs =
                    decoder.record(&Json::Object(Map::new()), &join(&path, "attrs"), &def.attrs)?;
                Entity {
                    uid,
                    attrs,
                    parents: Vec::new(),
                }
            }
        };
        entities.push(entity, &path, &unbounded)?;
    }
    Ok(entities.list)
}

/// A store access names a declared store, by a principal of a type the
/// store admits (`store sessions by [Service]`).
fn store_access(
    schema: &Schema,
    action_name: &str,
    principal: &Uid,
    resource: &Uid,
) -> Result<(), RequestError> {
    if !STORE_ACTIONS.contains(&action_name) {
        return Ok(());
    }
    let Some(store) = schema.store(&resource.id) else {
        // The resource is a `Store`, whose ids were checked already.
        return Ok(());
    };
    if !store.principal_types.is_empty() && !store.principal_types.contains(&principal.ty) {
        let allowed: Vec<String> = store
            .principal_types
            .iter()
            .map(|t| format!("`{}`", type_name(schema, *t)))
            .collect();
        return err(
            "principal.type",
            format!(
                "store `{}` is accessed by {}, not by a `{}`",
                excerpt(&store.name),
                allowed.join(" or "),
                type_name(schema, principal.ty)
            ),
        );
    }
    Ok(())
}

/// The entities a request carries data for, each once.
#[derive(Default)]
struct Entities {
    list: Vec<Entity>,
    seen: HashSet<Uid>,
}

impl Entities {
    fn push(&mut self, entity: Entity, path: &str, limits: &Limits) -> Result<(), RequestError> {
        if self.list.len() >= limits.max_entities {
            return err(
                path,
                format!("a request carries at most {} entities", limits.max_entities),
            );
        }
        if !self.seen.insert(entity.uid.clone()) {
            return err(path, "this entity's data is given twice");
        }
        self.list.push(entity);
        Ok(())
    }
}

fn required<'a>(
    object: &'a Map<String, Json>,
    path: &str,
    key: &str,
) -> Result<&'a Json, RequestError> {
    object
        .get(key)
        .map_or_else(|| err(&join(path, key), "missing"), Ok)
}

/// `path.key`, quoting a long key by an excerpt: paths appear in errors.
fn join(path: &str, key: &str) -> String {
    let key = excerpt(key);
    if path.is_empty() {
        key.into_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(schema: &Schema, ty: EntityTypeId) -> &str {
    schema.entity_type(ty).map_or("?", |t| t.name.as_str())
}

fn show_uid(schema: &Schema, uid: &Uid) -> String {
    format!("{}::{:?}", type_name(schema, uid.ty), excerpt(&uid.id))
}

struct Decoder<'a> {
    schema: &'a Schema,
    limits: &'a Limits,
}

impl Decoder<'_> {
    fn object<'j>(
        &self,
        json: &'j Json,
        path: &str,
    ) -> Result<&'j Map<String, Json>, RequestError> {
        match json {
            Json::Object(map) => Ok(map),
            other => err(path, format!("expected an object, found {}", kind(other))),
        }
    }

    fn only_keys(
        &self,
        object: &Map<String, Json>,
        path: &str,
        allowed: &[&str],
    ) -> Result<(), RequestError> {
        match object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => err(
                &join(path, key),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ),
            None => Ok(()),
        }
    }

    fn string<'j>(&self, json: &'j Json, path: &str) -> Result<&'j str, RequestError> {
        match json {
            Json::String(s) if s.len() > self.limits.max_string_bytes => err(
                path,
                format!(
                    "string of {} bytes exceeds the limit of {} bytes",
                    s.len(),
                    self.limits.max_string_bytes
                ),
            ),
            Json::String(s) => Ok(s),
            other => err(path, format!("expected a string, found {}", kind(other))),
        }
    }

    fn uid(&self, json: &Json, path: &str) -> Result<Uid, RequestError> {
        let object = self.object(json, path)?;
        self.only_keys(object, path, &["type", "id"])?;
        self.uid_fields(object, path)
    }

    fn uid_fields(&self, object: &Map<String, Json>, path: &str) -> Result<Uid, RequestError> {
        let type_path = join(path, "type");
        let ty = self.string(required(object, path, "type")?, &type_path)?;
        let Some(ty) = self.schema.entity_type_id(ty) else {
            return err(&type_path, format!("unknown entity type `{}`", excerpt(ty)));
        };
        let id_path = join(path, "id");
        let id = self.string(required(object, path, "id")?, &id_path)?;
        if let Some(def) = self.schema.entity_type(ty)
            && let Some(ids) = def.ids.as_ref().filter(|_| !def.allows_id(id))
        {
            let known: Vec<String> = ids.iter().map(|i| format!("{:?}", excerpt(i))).collect();
            let known = if known.is_empty() {
                "none is declared".to_owned()
            } else {
                format!("declared: {}", known.join(", "))
            };
            return err(
                &id_path,
                format!("`{}` has no entity {:?} ({known})", def.name, excerpt(id)),
            );
        }
        Ok(Uid {
            ty,
            id: id.to_owned(),
        })
    }

    /// The principal or resource: a reference, with data if it has any.
    fn entity_arg(
        &self,
        json: &Json,
        path: &str,
        entities: &mut Entities,
    ) -> Result<Uid, RequestError> {
        let (uid, data) = self.entity_object(json, path)?;
        if let Some(entity) = data {
            entities.push(entity, path, self.limits)?;
        }
        Ok(uid)
    }

    /// `{type, id}` is a reference; with `attrs` or `parents` it is data.
    fn entity_object(
        &self,
        json: &Json,
        path: &str,
    ) -> Result<(Uid, Option<Entity>), RequestError> {
        let object = self.object(json, path)?;
        self.only_keys(object, path, &["type", "id", "attrs", "parents"])?;
        let uid = self.uid_fields(object, path)?;
        if !object.contains_key("attrs") && !object.contains_key("parents") {
            return Ok((uid, None));
        }
        let def = self
            .schema
            .entity_type(uid.ty)
            .map_or_else(|| err(path, "unknown entity type"), Ok)?;
        let attrs_path = join(path, "attrs");
        let empty = Json::Object(Map::new());
        let attrs = self.record(
            object.get("attrs").unwrap_or(&empty),
            &attrs_path,
            &def.attrs,
        )?;
        let mut parents = Vec::new();
        if let Some(list) = object.get("parents") {
            let parents_path = join(path, "parents");
            let Json::Array(items) = list else {
                return err(
                    &parents_path,
                    format!(
                        "expected an array of entity references, found {}",
                        kind(list)
                    ),
                );
            };
            if items.len() > self.limits.max_set_len {
                return err(
                    &parents_path,
                    format!("an entity has at most {} parents", self.limits.max_set_len),
                );
            }
            let mut seen = HashSet::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{parents_path}[{i}]");
                let parent = self.uid(item, &item_path)?;
                if !def.parents.contains(&parent.ty) {
                    return err(
                        &item_path,
                        format!(
                            "a `{}` cannot have a parent of type `{}`",
                            def.name,
                            type_name(self.schema, parent.ty)
                        ),
                    );
                }
                if seen.insert(parent.clone()) {
                    parents.push(parent);
                }
            }
        }
        Ok((
            uid.clone(),
            Some(Entity {
                uid,
                attrs,
                parents,
            }),
        ))
    }

    fn record(
        &self,
        json: &Json,
        path: &str,
        ty: &RecordType,
    ) -> Result<Vec<Option<Value>>, RequestError> {
        let object = self.object(json, path)?;
        let mut slots: Vec<Option<Value>> = vec![None; ty.fields.len()];
        for (key, value) in object {
            let field_path = join(path, key);
            let Some((slot, field)) = ty.field(key) else {
                let known: Vec<&str> = ty.fields.iter().map(|f| f.name.as_str()).collect();
                let hint = if known.is_empty() {
                    "no fields are declared".to_owned()
                } else {
                    format!("declared: {}", known.join(", "))
                };
                return err(&field_path, format!("unknown field ({hint})"));
            };
            if let Some(place) = slots.get_mut(slot as usize) {
                *place = Some(self.value(value, &field_path, &field.ty)?);
            }
        }
        for (field, slot) in ty.fields.iter().zip(&slots) {
            if !field.optional && slot.is_none() {
                return err(
                    &join(path, &field.name),
                    format!(
                        "missing required field of type `{}`",
                        self.schema.display_type(&field.ty)
                    ),
                );
            }
        }
        Ok(slots)
    }

    fn mismatch<T>(&self, json: &Json, path: &str, ty: &Type) -> Result<T, RequestError> {
        err(
            path,
            format!(
                "expected {}, found {}",
                self.schema.display_type(ty),
                kind(json)
            ),
        )
    }

    /// The text of a value sent as a string (strings, IPs, durations,
    /// timestamps).
    fn text<'j>(&self, json: &'j Json, path: &str, ty: &Type) -> Result<&'j str, RequestError> {
        match json {
            Json::String(_) => self.string(json, path),
            other => self.mismatch(other, path, ty),
        }
    }

    fn value(&self, json: &Json, path: &str, ty: &Type) -> Result<Value, RequestError> {
        let mismatch = |json: &Json| self.mismatch::<Value>(json, path, ty);
        match ty {
            Type::Bool => match json {
                Json::Bool(b) => Ok(Value::Bool(*b)),
                other => mismatch(other),
            },
            Type::Int => match json {
                Json::Number(n) => match n.as_i64() {
                    Some(i) => Ok(Value::Int(i)),
                    None => err(path, format!("`{n}` is not a 64-bit integer")),
                },
                other => mismatch(other),
            },
            Type::String => Ok(Value::String(self.text(json, path, ty)?.to_owned())),
            Type::Ip => {
                let text = self.text(json, path, ty)?;
                literal::parse_ip(text)
                    .map(Value::Ip)
                    .or_else(|e| err(path, e.to_string()))
            }
            Type::Duration => {
                let text = self.text(json, path, ty)?;
                literal::parse_duration(text)
                    .map(Value::Duration)
                    .or_else(|e| err(path, e.to_string()))
            }
            Type::Timestamp => {
                let text = self.text(json, path, ty)?;
                literal::parse_timestamp(text)
                    .map(Value::Timestamp)
                    .or_else(|e| err(path, e.to_string()))
            }
            Type::Decimal => {
                // A string is exact; a JSON number is read as the text it
                // prints as, so `12.5` is 12.5 and `1e-7` is refused.
                let text = match json {
                    Json::Number(n) => n.to_string(),
                    Json::String(_) => self.string(json, path)?.to_owned(),
                    other => return mismatch(other),
                };
                literal::parse_decimal(&text)
                    .map(Value::Decimal)
                    .or_else(|e| err(path, e.to_string()))
            }
            Type::Map(value_type) => {
                let Json::Object(object) = json else {
                    return mismatch(json);
                };
                if object.len() > self.limits.max_set_len {
                    return err(
                        path,
                        format!("a map holds at most {} entries", self.limits.max_set_len),
                    );
                }
                let mut entries = Vec::with_capacity(object.len());
                for (key, item) in object {
                    if key.len() > self.limits.max_string_bytes {
                        return err(
                            path,
                            format!(
                                "a key of {} bytes exceeds the limit of {} bytes",
                                key.len(),
                                self.limits.max_string_bytes
                            ),
                        );
                    }
                    let item =
                        self.value(item, &format!("{path}[{:?}]", excerpt(key)), value_type)?;
                    entries.push((key.clone(), item));
                }
                Ok(Value::map(entries))
            }
            Type::Entity(want) => {
                if !json.is_object() {
                    return err(
                        path,
                        format!(
                            "expected a `{}` reference, found {}",
                            type_name(self.schema, *want),
                            kind(json)
                        ),
                    );
                }
                let uid = self.uid(json, path)?;
                if uid.ty != *want {
                    return err(
                        path,
                        format!(
                            "expected a `{}` reference, found a `{}`",
                            type_name(self.schema, *want),
                            type_name(self.schema, uid.ty)
                        ),
                    );
                }
                Ok(Value::Entity(uid))
            }
            Type::Set(elem) => {
                let Json::Array(items) = json else {
                    return mismatch(json);
                };
                if items.len() > self.limits.max_set_len {
                    return err(
                        path,
                        format!("a set holds at most {} elements", self.limits.max_set_len),
                    );
                }
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    values.push(self.value(item, &format!("{path}[{i}]"), elem)?);
                }
                Ok(Value::set(values))
            }
            Type::Record(record) if !json.is_object() => mismatch(json),
            Type::Record(record) => Ok(Value::Record(self.record(json, path, record)?)),
        }
    }
}
