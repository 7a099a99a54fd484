//! The hand-built schema, a valid request for it, and helpers that edit a
//! request and check how it is refused.

use reaper_lang::request::{Limits, Request, RequestError, decode};
use reaper_lang::schema::{ActionDef, EntityTypeDef, Schema};
use reaper_lang::types::{EntityTypeId, Field, RecordType, Type};
use serde_json::{Value as Json, json};

pub(crate) const TEAM: EntityTypeId = EntityTypeId(0);
pub(crate) const USER: EntityTypeId = EntityTypeId(1);
pub(crate) const DOCUMENT: EntityTypeId = EntityTypeId(2);
pub(crate) const FOLDER: EntityTypeId = EntityTypeId(3);

pub(crate) fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        ty,
        optional: false,
    }
}

pub(crate) fn optional(name: &str, ty: Type) -> Field {
    Field {
        optional: true,
        ..field(name, ty)
    }
}

pub(crate) fn set(ty: Type) -> Type {
    Type::Set(Box::new(ty))
}

pub(crate) fn entity_type(
    name: &str,
    parents: &[EntityTypeId],
    attrs: Vec<Field>,
) -> EntityTypeDef {
    EntityTypeDef {
        name: name.to_owned(),
        parents: parents.to_vec(),
        attrs: RecordType::new(attrs),
        ids: None,
    }
}

pub(crate) fn action(name: &str, on: &[EntityTypeId], by: &[EntityTypeId]) -> ActionDef {
    ActionDef {
        name: name.to_owned(),
        resource_types: on.to_vec(),
        principal_types: by.to_vec(),
        groups: Vec::new(),
        is_group: false,
        context: None,
    }
}

/// ```text
/// entity Team in [Team]
/// entity User in [Team] {
///   active: Bool, age: Int, name: String, home: Ip, session: Duration,
///   joined: Timestamp, manager?: User, nickname?: String, tags: Set<String>,
///   teams: Set<Team>, address: { city: String, zip?: Int },
/// }
/// entity Document in [Folder] { owner: User, readers: Set<User>, matrix: Set<Set<Int>> }
/// entity Folder in [Folder]
/// entity Service
/// action read on Document by User
/// action list on Folder by User
/// action ping            // any principal, any resource
/// context { ip: Ip, mfa: Bool, now?: Timestamp }
/// ```
pub(crate) fn schema() -> Schema {
    let address = RecordType::new(vec![
        field("city", Type::String),
        optional("zip", Type::Int),
    ]);
    Schema {
        entity_types: vec![
            entity_type("Team", &[TEAM], vec![]),
            entity_type(
                "User",
                &[TEAM],
                vec![
                    field("active", Type::Bool),
                    field("age", Type::Int),
                    field("name", Type::String),
                    field("home", Type::Ip),
                    field("session", Type::Duration),
                    field("joined", Type::Timestamp),
                    optional("manager", Type::Entity(USER)),
                    optional("nickname", Type::String),
                    field("tags", set(Type::String)),
                    field("teams", set(Type::Entity(TEAM))),
                    field("address", Type::Record(address)),
                ],
            ),
            entity_type(
                "Document",
                &[FOLDER],
                vec![
                    field("owner", Type::Entity(USER)),
                    field("readers", set(Type::Entity(USER))),
                    field("matrix", set(set(Type::Int))),
                ],
            ),
            entity_type("Folder", &[FOLDER], vec![]),
            entity_type("Service", &[], vec![]),
        ],
        actions: vec![
            action("read", &[DOCUMENT], &[USER]),
            action("list", &[FOLDER], &[USER]),
            action("ping", &[], &[]),
        ],
        context: RecordType::new(vec![
            field("ip", Type::Ip),
            field("mfa", Type::Bool),
            optional("now", Type::Timestamp),
        ]),
        stores: Vec::new(),
        sensitive: Default::default(),
    }
}

pub(crate) fn user_attrs() -> Json {
    json!({
        "active": true,
        "age": 42,
        "name": "Alice",
        "home": "10.1.2.3",
        "session": "1h30m",
        "joined": "2026-01-01T00:00:00Z",
        "tags": ["a", "b"],
        "teams": [{ "type": "Team", "id": "eng" }],
        "address": { "city": "Paris" },
    })
}

/// A request that conforms; each test breaks one thing in it.
pub(crate) fn valid() -> Json {
    json!({
        "principal": { "type": "User", "id": "alice", "attrs": user_attrs() },
        "action": "read",
        "resource": {
            "type": "Document",
            "id": "plan",
            "attrs": {
                "owner": { "type": "User", "id": "bob" },
                "readers": [],
                "matrix": [[1, 2], [3]],
            },
            "parents": [{ "type": "Folder", "id": "projects" }],
        },
        "context": { "ip": "10.0.0.1", "mfa": true },
    })
}

/// `valid()` with the value at JSON pointer `at` replaced by `value` (or
/// added, when the object holding it lacks the member).
pub(crate) fn with(at: &str, value: Json) -> Json {
    let mut request = valid();
    if let Some(place) = request.pointer_mut(at) {
        *place = value;
        return request;
    }
    let (parent, key) = at.rsplit_once('/').unwrap();
    request
        .pointer_mut(parent)
        .and_then(Json::as_object_mut)
        .unwrap_or_else(|| panic!("no object `{parent}` in the request"))
        .insert(key.to_owned(), value);
    request
}

/// `valid()` without the member at JSON pointer `at`.
pub(crate) fn without(at: &str) -> Json {
    let mut request = valid();
    let (parent, key) = at.rsplit_once('/').unwrap();
    let object = request
        .pointer_mut(parent)
        .and_then(Json::as_object_mut)
        .unwrap_or_else(|| panic!("no object `{parent}` in the request"));
    assert!(object.shift_remove(key).is_some(), "no `{at}` to remove");
    request
}

pub(crate) fn decode_json(request: &Json) -> Result<Request, RequestError> {
    decode(&schema(), &request.to_string(), &Limits::default())
}

/// Decodes `request`, which must be refused with exactly `path` and `message`.
#[track_caller]
pub(crate) fn refused(request: &Json, path: &str, message: &str) {
    let error = decode_json(request).expect_err("the request should be refused");
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        (path, message),
        "for {request}"
    );
}

/// Like [`refused`], for text that is not built from `valid()`, comparing
/// the start of the message.
#[track_caller]
pub(crate) fn refused_text(text: &str, path: &str, message_start: &str) -> RequestError {
    let error = decode(&schema(), text, &Limits::default()).expect_err("should be refused");
    assert_eq!(error.path, path, "{error}");
    assert!(
        error.message.starts_with(message_start),
        "message `{}` should start with `{message_start}`",
        error.message
    );
    error
}
