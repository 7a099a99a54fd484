//! Request validation as hostile input meets it: every way a JSON request
//! can fail to conform to the schema is refused with an error naming the
//! field (its JSON path) and saying what is wrong, and no input — malformed,
//! huge or deeply nested — panics the decoder or overflows its stack.
//!
//! `lang` cannot compile policies, so the schema is built by hand: it has an
//! attribute of every type (optional ones, sets, nested sets, records,
//! entity references), entity types with and without parents and
//! attributes, actions limited by principal and resource type, an action
//! that applies to any type, and a context with required and optional
//! fields.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use reaper_lang::request::{Limits, Request, RequestError, decode, from_json};
use reaper_lang::schema::{ActionDef, EntityTypeDef, Schema};
use reaper_lang::types::{ActionId, EntityTypeId, Field, RecordType, Type};
use reaper_lang::value::{Uid, Value};
use serde_json::{Value as Json, json};

const TEAM: EntityTypeId = EntityTypeId(0);
const USER: EntityTypeId = EntityTypeId(1);
const DOCUMENT: EntityTypeId = EntityTypeId(2);
const FOLDER: EntityTypeId = EntityTypeId(3);

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        ty,
        optional: false,
    }
}

fn optional(name: &str, ty: Type) -> Field {
    Field {
        optional: true,
        ..field(name, ty)
    }
}

fn set(ty: Type) -> Type {
    Type::Set(Box::new(ty))
}

fn entity_type(name: &str, parents: &[EntityTypeId], attrs: Vec<Field>) -> EntityTypeDef {
    EntityTypeDef {
        name: name.to_owned(),
        parents: parents.to_vec(),
        attrs: RecordType::new(attrs),
    }
}

fn action(name: &str, on: &[EntityTypeId], by: &[EntityTypeId]) -> ActionDef {
    ActionDef {
        name: name.to_owned(),
        resource_types: on.to_vec(),
        principal_types: by.to_vec(),
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
fn schema() -> Schema {
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
    }
}

fn user_attrs() -> Json {
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
fn valid() -> Json {
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
fn with(at: &str, value: Json) -> Json {
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
fn without(at: &str) -> Json {
    let mut request = valid();
    let (parent, key) = at.rsplit_once('/').unwrap();
    let object = request
        .pointer_mut(parent)
        .and_then(Json::as_object_mut)
        .unwrap_or_else(|| panic!("no object `{parent}` in the request"));
    assert!(object.shift_remove(key).is_some(), "no `{at}` to remove");
    request
}

fn decode_json(request: &Json) -> Result<Request, RequestError> {
    decode(&schema(), &request.to_string(), &Limits::default())
}

/// Decodes `request`, which must be refused with exactly `path` and `message`.
#[track_caller]
fn refused(request: &Json, path: &str, message: &str) {
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
fn refused_text(text: &str, path: &str, message_start: &str) -> RequestError {
    let error = decode(&schema(), text, &Limits::default()).expect_err("should be refused");
    assert_eq!(error.path, path, "{error}");
    assert!(
        error.message.starts_with(message_start),
        "message `{}` should start with `{message_start}`",
        error.message
    );
    error
}

#[test]
fn the_base_request_decodes() {
    let request = decode_json(&valid()).unwrap();
    assert_eq!(
        request.principal,
        Uid {
            ty: USER,
            id: "alice".into()
        }
    );
    assert_eq!(request.action, ActionId(0));
    assert_eq!(request.resource.ty, DOCUMENT);
    // Context slots in name order: ip, mfa, now (absent).
    assert_eq!(request.context.len(), 3);
    assert_eq!(request.context[1], Some(Value::Bool(true)));
    assert_eq!(request.context[2], None);
    assert_eq!(request.entities.len(), 2);
    let alice = request.entity(&request.principal).unwrap();
    // Slots in name order: active, address, age, home, joined, manager,
    // name, nickname, session, tags, teams.
    assert_eq!(alice.attrs.len(), 11);
    assert_eq!(alice.attrs[2], Some(Value::Int(42)));
    assert_eq!(alice.attrs[5], None);
    assert_eq!(alice.attrs[8], Some(Value::Duration(5_400_000)));
    assert_eq!(
        alice.attrs[1],
        Some(Value::Record(vec![
            Some(Value::String("Paris".into())),
            None
        ]))
    );
    let plan = request.entity(&request.resource).unwrap();
    assert_eq!(
        plan.parents,
        vec![Uid {
            ty: FOLDER,
            id: "projects".into()
        }]
    );
    // Sets are sorted and deduplicated; the nesting is preserved.
    assert_eq!(
        plan.attrs[0],
        Some(Value::Set(vec![
            Value::Set(vec![Value::Int(1), Value::Int(2)]),
            Value::Set(vec![Value::Int(3)]),
        ]))
    );
}

#[test]
fn the_error_display_names_the_field() {
    let error = decode_json(&with("/principal/attrs/age", json!("old"))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`principal.attrs.age`: expected Int, found a string"
    );
    let error = decode(&schema(), "{", &Limits::default()).unwrap_err();
    assert!(error.to_string().starts_with("malformed JSON: "), "{error}");
}

#[test]
fn malformed_json_is_refused_with_its_position() {
    let error = refused_text(r#"{"principal": "#, "", "malformed JSON: ");
    assert!(error.message.contains("line 1"), "{error}");
    refused_text("", "", "malformed JSON: ");
    refused_text(r#"{"action": "read",}"#, "", "malformed JSON: ");
    refused_text(r#"{"action": 'read'}"#, "", "malformed JSON: ");
    refused_text(r#"{} {}"#, "", "malformed JSON: trailing characters");
    refused_text("{\"action\": \"\\ud800\"}", "", "malformed JSON: ");
}

#[test]
fn the_request_must_be_an_object() {
    refused_text("[]", "", "expected an object, found an array");
    refused_text(r#""read""#, "", "expected an object, found a string");
    refused_text("null", "", "expected an object, found null");
    refused_text("42", "", "expected an object, found a number");
    refused_text("true", "", "expected an object, found a boolean");
}

#[test]
fn principal_action_and_resource_are_required() {
    refused(&without("/principal"), "principal", "missing");
    refused(&without("/action"), "action", "missing");
    refused(&without("/resource"), "resource", "missing");
    refused_text("{}", "principal", "missing");
    refused(
        &with("/action", json!(7)),
        "action",
        "expected an action name, found a number",
    );
    refused(
        &with("/principal", json!("alice")),
        "principal",
        "expected an object, found a string",
    );
    refused(
        &with("/principal", json!({ "id": "alice" })),
        "principal.type",
        "missing",
    );
    refused(
        &with("/principal", json!({ "type": "User" })),
        "principal.id",
        "missing",
    );
    refused(
        &with("/resource/id", json!(12)),
        "resource.id",
        "expected a string, found a number",
    );
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let mut request = valid();
    request["principle"] = json!({});
    refused(
        &request,
        "principle",
        "unknown field; expected one of principal, action, resource, context, entities",
    );
    let mut request = valid();
    request["principal"]["attr"] = json!({});
    refused(
        &request,
        "principal.attr",
        "unknown field; expected one of type, id, attrs, parents",
    );
    refused(
        &with(
            "/resource/attrs/owner",
            json!({ "type": "User", "id": "bob", "attrs": {} }),
        ),
        "resource.attrs.owner.attrs",
        "unknown field; expected one of type, id",
    );
    refused(
        &with(
            "/resource/parents/0",
            json!({ "type": "Folder", "id": "f", "parents": [] }),
        ),
        "resource.parents[0].parents",
        "unknown field; expected one of type, id",
    );
}

#[test]
fn unknown_entity_types_are_refused() {
    refused(
        &with("/principal/type", json!("Usr")),
        "principal.type",
        "unknown entity type `Usr`",
    );
    refused(
        &with("/resource/type", json!(3)),
        "resource.type",
        "expected a string, found a number",
    );
    refused(
        &with("/resource/attrs/owner/type", json!("Account")),
        "resource.attrs.owner.type",
        "unknown entity type `Account`",
    );
    refused(
        &with("/resource/parents/0/type", json!("Drive")),
        "resource.parents[0].type",
        "unknown entity type `Drive`",
    );
}

#[test]
fn unknown_actions_are_refused() {
    refused(
        &with("/action", json!("raed")),
        "action",
        "unknown action `raed`",
    );
    refused(&with("/action", json!("")), "action", "unknown action ``");
    // Names are exact: no case folding.
    refused(
        &with("/action", json!("Read")),
        "action",
        "unknown action `Read`",
    );
}

#[test]
fn actions_apply_only_to_their_principal_and_resource_types() {
    refused(
        &with("/principal", json!({ "type": "Team", "id": "eng" })),
        "principal.type",
        "action `read` does not apply to a principal of type `Team`",
    );
    refused(
        &with("/resource", json!({ "type": "Folder", "id": "f" })),
        "resource.type",
        "action `read` does not apply to a resource of type `Folder`",
    );
    let mut request = valid();
    request["action"] = json!("list");
    refused(
        &request,
        "resource.type",
        "action `list` does not apply to a resource of type `Document`",
    );
    // `ping` declares neither: any principal and resource type will do.
    let mut request = valid();
    request["action"] = json!("ping");
    request["principal"] = json!({ "type": "Service", "id": "cron" });
    request["resource"] = json!({ "type": "Team", "id": "eng" });
    decode_json(&request).unwrap();
}

#[test]
fn required_attributes_must_be_present() {
    refused(
        &without("/principal/attrs/age"),
        "principal.attrs.age",
        "missing required field of type `Int`",
    );
    refused(
        &without("/resource/attrs/matrix"),
        "resource.attrs.matrix",
        "missing required field of type `Set<Set<Int>>`",
    );
    refused(
        &without("/principal/attrs/address/city"),
        "principal.attrs.address.city",
        "missing required field of type `String`",
    );
    // Data without `attrs` means `attrs: {}`: the first missing attribute
    // (in name order) is named.
    refused(
        &with(
            "/principal",
            json!({ "type": "User", "id": "alice", "parents": [] }),
        ),
        "principal.attrs.active",
        "missing required field of type `Bool`",
    );
    // Optional attributes may be left out.
    let mut request = valid();
    request["principal"]["attrs"]["manager"] = json!({ "type": "User", "id": "carol" });
    request["principal"]["attrs"]["nickname"] = json!("Al");
    request["principal"]["attrs"]["address"]["zip"] = json!(75001);
    decode_json(&request).unwrap();
}

#[test]
fn unknown_attributes_are_refused_listing_the_declared_ones() {
    let mut request = valid();
    request["principal"]["attrs"]["agee"] = json!(1);
    refused(
        &request,
        "principal.attrs.agee",
        "unknown field (declared: active, address, age, home, joined, manager, name, nickname, session, tags, teams)",
    );
    refused(
        &with("/principal/attrs/address/street", json!("x")),
        "principal.attrs.address.street",
        "unknown field (declared: city, zip)",
    );
    let mut request = valid();
    request["entities"] = json!([{ "type": "Team", "id": "eng", "attrs": { "size": 3 } }]);
    refused(
        &request,
        "entities[0].attrs.size",
        "unknown field (no fields are declared)",
    );
    let mut request = valid();
    request["context"]["mfaa"] = json!(true);
    refused(
        &request,
        "context.mfaa",
        "unknown field (declared: ip, mfa, now)",
    );
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    let cases: [(&str, Json, &str, &str); 20] = [
        (
            "/principal/attrs/active",
            json!("yes"),
            "principal.attrs.active",
            "expected Bool, found a string",
        ),
        (
            "/principal/attrs/active",
            json!(1),
            "principal.attrs.active",
            "expected Bool, found a number",
        ),
        (
            "/principal/attrs/age",
            json!("42"),
            "principal.attrs.age",
            "expected Int, found a string",
        ),
        (
            "/principal/attrs/age",
            json!(true),
            "principal.attrs.age",
            "expected Int, found a boolean",
        ),
        (
            "/principal/attrs/name",
            json!(5),
            "principal.attrs.name",
            "expected String, found a number",
        ),
        (
            "/principal/attrs/name",
            json!(["Alice"]),
            "principal.attrs.name",
            "expected String, found an array",
        ),
        (
            "/principal/attrs/home",
            json!(167_837_955),
            "principal.attrs.home",
            "expected Ip, found a number",
        ),
        (
            "/principal/attrs/session",
            json!(5_400_000),
            "principal.attrs.session",
            "expected Duration, found a number",
        ),
        (
            "/principal/attrs/joined",
            json!(1_767_225_600),
            "principal.attrs.joined",
            "expected Timestamp, found a number",
        ),
        (
            "/principal/attrs/joined",
            json!({ "seconds": 1 }),
            "principal.attrs.joined",
            "expected Timestamp, found an object",
        ),
        (
            "/resource/attrs/owner",
            json!("bob"),
            "resource.attrs.owner",
            "expected a `User` reference, found a string",
        ),
        (
            "/resource/attrs/owner",
            json!(["User", "bob"]),
            "resource.attrs.owner",
            "expected a `User` reference, found an array",
        ),
        (
            "/principal/attrs/tags",
            json!("a"),
            "principal.attrs.tags",
            "expected Set<String>, found a string",
        ),
        (
            "/principal/attrs/tags",
            json!({ "a": true }),
            "principal.attrs.tags",
            "expected Set<String>, found an object",
        ),
        (
            "/principal/attrs/tags",
            json!(["a", 1]),
            "principal.attrs.tags[1]",
            "expected String, found a number",
        ),
        (
            "/resource/attrs/matrix",
            json!([[1], 2]),
            "resource.attrs.matrix[1]",
            "expected Set<Int>, found a number",
        ),
        (
            "/resource/attrs/matrix",
            json!([[1], [2, "3"]]),
            "resource.attrs.matrix[1][1]",
            "expected Int, found a string",
        ),
        (
            "/principal/attrs/address",
            json!(["Paris"]),
            "principal.attrs.address",
            "expected { city: String, zip?: Int }, found an array",
        ),
        (
            "/principal/attrs/address/city",
            json!(null),
            "principal.attrs.address.city",
            "expected String, found null",
        ),
        (
            "/context/mfa",
            json!("true"),
            "context.mfa",
            "expected Bool, found a string",
        ),
    ];
    for (at, value, path, message) in cases {
        refused(&with(at, value), path, message);
    }
    // `null` is not "absent", even for an optional attribute.
    let mut request = valid();
    request["principal"]["attrs"]["nickname"] = Json::Null;
    refused(
        &request,
        "principal.attrs.nickname",
        "expected String, found null",
    );
}

#[test]
fn integers_must_fit_in_64_bits() {
    for (number, shown) in [
        ("1e30", "1e+30"),
        ("1.5", "1.5"),
        ("42.0", "42.0"),
        ("-0.5", "-0.5"),
        ("9223372036854775808", "9223372036854775808"),
        ("18446744073709551615", "18446744073709551615"),
        // serde_json keeps only an `f64` for integers below i64::MIN, and
        // floats show as it renders them, not as they were sent (`1e30`
        // becomes `1e+30`): the message quotes a number the user never
        // wrote. Reported; harmless, as the path names the field.
        ("-9223372036854775809", "-9.223372036854776e+18"),
        // `-0` is an integer in JSON's grammar, but serde_json reads it as
        // the float -0.0 (to keep the sign), so it is refused, as `-0.0`.
        ("-0", "-0.0"),
    ] {
        let text = valid()
            .to_string()
            .replace(r#""age":42"#, &format!(r#""age":{number}"#));
        refused_text(
            &text,
            "principal.attrs.age",
            &format!("`{shown}` is not a 64-bit integer"),
        );
    }
    for (number, value) in [
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
        ("0", 0),
    ] {
        let text = valid()
            .to_string()
            .replace(r#""age":42"#, &format!(r#""age":{number}"#));
        let request = decode(&schema(), &text, &Limits::default()).unwrap();
        assert_eq!(
            request.entity(&request.principal).unwrap().attrs[2],
            Some(Value::Int(value))
        );
    }
    // Numbers too large even for a float are malformed JSON.
    let text = valid().to_string().replace(r#""age":42"#, r#""age":1e999"#);
    refused_text(&text, "", "malformed JSON: number out of range");
}

#[test]
fn malformed_ips_durations_and_timestamps_are_refused() {
    let cases = [
        (
            "/principal/attrs/home",
            "10.0.0.256",
            "principal.attrs.home",
            "`10.0.0.256` is not an IP address or CIDR range: ",
        ),
        (
            "/principal/attrs/home",
            "10.1.2.3/8",
            "principal.attrs.home",
            "`10.1.2.3/8` is not an IP address or CIDR range: host bits are set",
        ),
        (
            "/principal/attrs/home",
            "10.0.0.0/33",
            "principal.attrs.home",
            "`10.0.0.0/33` is not an IP address or CIDR range: the prefix length must be 0 to 32",
        ),
        (
            "/principal/attrs/home",
            "",
            "principal.attrs.home",
            "`` is not an IP address or CIDR range: ",
        ),
        (
            "/context/ip",
            "localhost",
            "context.ip",
            "`localhost` is not an IP address or CIDR range: ",
        ),
        (
            "/principal/attrs/session",
            "90x",
            "principal.attrs.session",
            "`90x` is not a duration: units are ms, s, m, h and d",
        ),
        (
            "/principal/attrs/session",
            "30m1h",
            "principal.attrs.session",
            "`30m1h` is not a duration: units must appear once each, largest first",
        ),
        (
            "/principal/attrs/session",
            "",
            "principal.attrs.session",
            "`` is not a duration: it is empty",
        ),
        (
            "/principal/attrs/session",
            "-5m",
            "principal.attrs.session",
            "`-5m` is not a duration: ",
        ),
        (
            "/principal/attrs/session",
            "99999999999999999999d",
            "principal.attrs.session",
            "`99999999999999999999d` is not a duration: a number is too large",
        ),
        (
            "/principal/attrs/session",
            "9999999999999999d",
            "principal.attrs.session",
            "`9999999999999999d` is not a duration: it does not fit in 64 bits of milliseconds",
        ),
        (
            "/principal/attrs/joined",
            "2026-13-01T00:00:00Z",
            "principal.attrs.joined",
            "`2026-13-01T00:00:00Z` is not a timestamp: ",
        ),
        (
            "/principal/attrs/joined",
            "2026-01-01",
            "principal.attrs.joined",
            "`2026-01-01` is not a timestamp: it needs a time and an offset",
        ),
        (
            "/principal/attrs/joined",
            "2026-01-01T00:00:00",
            "principal.attrs.joined",
            "`2026-01-01T00:00:00` is not a timestamp: ",
        ),
        (
            "/principal/attrs/joined",
            "2026-01-01T00:00:00.0001Z",
            "principal.attrs.joined",
            "`2026-01-01T00:00:00.0001Z` is not a timestamp: precision is limited to milliseconds",
        ),
    ];
    for (at, text, path, message_start) in cases {
        let request = with(at, json!(text));
        refused_text(&request.to_string(), path, message_start);
    }
    // The accepted forms.
    for (at, text) in [
        ("/principal/attrs/home", "2001:db8::1"),
        ("/principal/attrs/home", "10.0.0.0/8"),
        ("/principal/attrs/session", "500ms"),
        ("/principal/attrs/session", "1d2h3m4s5ms"),
        ("/principal/attrs/joined", "2026-01-01T01:00:00.123+01:00"),
    ] {
        decode_json(&with(at, json!(text))).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn entity_references_must_have_the_declared_type() {
    refused(
        &with(
            "/resource/attrs/owner",
            json!({ "type": "Team", "id": "eng" }),
        ),
        "resource.attrs.owner",
        "expected a `User` reference, found a `Team`",
    );
    refused(
        &with(
            "/resource/attrs/readers",
            json!([{ "type": "User", "id": "a" }, { "type": "Service", "id": "b" }]),
        ),
        "resource.attrs.readers[1]",
        "expected a `User` reference, found a `Service`",
    );
    refused(
        &with("/resource/attrs/owner", json!({ "type": "User" })),
        "resource.attrs.owner.id",
        "missing",
    );
}

#[test]
fn parents_must_be_of_an_allowed_type() {
    refused(
        &with(
            "/resource/parents",
            json!([{ "type": "Folder", "id": "a" }, { "type": "Team", "id": "eng" }]),
        ),
        "resource.parents[1]",
        "a `Document` cannot have a parent of type `Team`",
    );
    let mut request = valid();
    request["action"] = json!("ping");
    request["principal"] =
        json!({ "type": "Service", "id": "cron", "parents": [{ "type": "Service", "id": "x" }] });
    refused(
        &request,
        "principal.parents[0]",
        "a `Service` cannot have a parent of type `Service`",
    );
    refused(
        &with("/resource/parents", json!({ "type": "Folder", "id": "a" })),
        "resource.parents",
        "expected an array of entity references, found an object",
    );
    refused(
        &with("/resource/parents", json!(["projects"])),
        "resource.parents[0]",
        "expected an object, found a string",
    );
    // Repeated parents are kept once.
    let request = decode_json(&with(
        "/resource/parents",
        json!([{ "type": "Folder", "id": "a" }, { "type": "Folder", "id": "a" }]),
    ))
    .unwrap();
    assert_eq!(request.entity(&request.resource).unwrap().parents.len(), 1);
}

#[test]
fn an_entitys_data_is_given_once() {
    let team = json!({ "type": "Team", "id": "eng", "parents": [] });
    let mut request = valid();
    request["entities"] =
        json!([team.clone(), { "type": "Team", "id": "ops", "parents": [] }, team]);
    refused(&request, "entities[2]", "this entity's data is given twice");
    // The principal's data counts.
    let mut request = valid();
    request["entities"] = json!([{ "type": "User", "id": "alice", "attrs": user_attrs() }]);
    refused(&request, "entities[0]", "this entity's data is given twice");
    // Principal and resource are the same entity, with data twice.
    let mut request = valid();
    request["action"] = json!("ping");
    request["principal"] = json!({ "type": "Service", "id": "s", "attrs": {} });
    request["resource"] = json!({ "type": "Service", "id": "s", "parents": [] });
    refused(&request, "resource", "this entity's data is given twice");
    // The same id with another type is another entity.
    let mut request = valid();
    request["entities"] = json!([{ "type": "Team", "id": "alice", "parents": [] }]);
    decode_json(&request).unwrap();
}

#[test]
fn entities_must_be_an_array_of_entity_data() {
    let mut request = valid();
    request["entities"] = json!({ "type": "Team", "id": "eng", "parents": [] });
    refused(
        &request,
        "entities",
        "expected an array of entities, found an object",
    );
    request["entities"] = json!("eng");
    refused(
        &request,
        "entities",
        "expected an array of entities, found a string",
    );
    request["entities"] = json!([7]);
    refused(
        &request,
        "entities[0]",
        "expected an object, found a number",
    );
    request["entities"] = json!([{ "type": "Team", "id": "eng" }]);
    refused(
        &request,
        "entities[0]",
        "entity `Team::\"eng\"` has neither `attrs` nor `parents`",
    );
    request["entities"] = json!([]);
    decode_json(&request).unwrap();
}

#[test]
fn the_context_must_hold_its_required_fields() {
    refused(
        &without("/context"),
        "context.ip",
        "missing required field of type `Ip`",
    );
    refused(
        &without("/context/mfa"),
        "context.mfa",
        "missing required field of type `Bool`",
    );
    refused(
        &with("/context", json!([])),
        "context",
        "expected an object, found an array",
    );
    refused(
        &with("/context", Json::Null),
        "context",
        "expected an object, found null",
    );
    refused(
        &with("/context/now", json!("yesterday")),
        "context.now",
        "`yesterday` is not a timestamp: it needs a time and an offset, as in `2026-01-01T00:00:00Z`",
    );
}

#[test]
fn a_context_without_required_fields_may_be_left_out() {
    let mut relaxed = schema();
    relaxed.context = RecordType::new(vec![optional("now", Type::Timestamp)]);
    let mut request = valid();
    request.as_object_mut().unwrap().shift_remove("context");
    let decoded = decode(&relaxed, &request.to_string(), &Limits::default()).unwrap();
    assert_eq!(decoded.context, vec![None]);
}

/// Measures `f`, which must finish within `limit` even in a debug build.
#[track_caller]
fn quickly<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    let took = start.elapsed();
    assert!(took < limit, "took {took:?} (limit {limit:?})");
    result
}

const TEN_MB: usize = 10 << 20;

#[test]
fn a_ten_megabyte_string_is_refused_quickly_naming_the_field() {
    let big = "x".repeat(TEN_MB);
    for (at, path) in [
        ("/principal/attrs/name", "principal.attrs.name"),
        ("/principal/id", "principal.id"),
        ("/principal/type", "principal.type"),
        ("/principal/attrs/tags/0", "principal.attrs.tags[0]"),
        ("/principal/attrs/home", "principal.attrs.home"),
        ("/principal/attrs/joined", "principal.attrs.joined"),
        ("/resource/attrs/owner/id", "resource.attrs.owner.id"),
    ] {
        let text = with(at, json!(big)).to_string();
        let error = quickly(Duration::from_secs(5), || {
            decode(&schema(), &text, &Limits::default()).unwrap_err()
        });
        assert_eq!(error.path, path);
        assert_eq!(
            error.message,
            format!("string of {TEN_MB} bytes exceeds the limit of 65536 bytes")
        );
    }
    // The limit is inclusive, and counts bytes, not characters.
    let at_limit = "é".repeat(32 << 10);
    decode_json(&with("/principal/attrs/name", json!(at_limit))).unwrap();
    refused(
        &with("/principal/attrs/name", json!(format!("{at_limit}x"))),
        "principal.attrs.name",
        "string of 65537 bytes exceeds the limit of 65536 bytes",
    );
}

/// The action name is held to the string limit like any string, and errors
/// quote user text (keys, names, ids) by a bounded excerpt: a 10 MB
/// attribute name must not become a 10 MB error message in a terminal or a
/// server's response.
#[test]
fn oversized_action_names_and_keys_give_bounded_errors() {
    let big = "x".repeat(TEN_MB);
    let mut request = valid();
    request["action"] = json!(big);
    refused(
        &request,
        "action",
        &format!("string of {TEN_MB} bytes exceeds the limit of 65536 bytes"),
    );
    request["action"] = json!("y".repeat(1000));
    refused(
        &request,
        "action",
        &format!("unknown action `{}… (1000 bytes)`", "y".repeat(60)),
    );

    let mut request = valid();
    request["principal"]["attrs"][big.as_str()] = json!(1);
    let error = decode_json(&request).unwrap_err();
    assert_eq!(
        error.path,
        format!("principal.attrs.{}… ({TEN_MB} bytes)", "x".repeat(60))
    );
    assert!(error.message.starts_with("unknown field"), "{error}");

    let mut request = valid();
    request["resource"]["parents"] = json!([{ "type": "Folder", "id": "f" }]);
    request["entities"] = json!([{ "type": "z".repeat(1000), "id": "f", "parents": [] }]);
    refused(
        &request,
        "entities[0].type",
        &format!("unknown entity type `{}… (1000 bytes)`", "z".repeat(60)),
    );
}

#[test]
fn sets_over_the_limit_are_refused() {
    let tags: Vec<String> = (0..10_001).map(|i| format!("t{i}")).collect();
    refused(
        &with("/principal/attrs/tags", json!(tags)),
        "principal.attrs.tags",
        "a set holds at most 10000 elements",
    );
    decode_json(&with("/principal/attrs/tags", json!(&tags[..10_000]))).unwrap();
    // Nested sets: the limit applies to each set.
    let limits = Limits {
        max_set_len: 2,
        ..Limits::default()
    };
    let text = with("/resource/attrs/matrix", json!([[1, 2], [3, 4, 5]])).to_string();
    let error = decode(&schema(), &text, &limits).unwrap_err();
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("resource.attrs.matrix[1]", "a set holds at most 2 elements")
    );
}

#[test]
fn requests_carry_a_bounded_number_of_entities() {
    // The principal and the resource have data: two of the three allowed.
    let limits = Limits {
        max_entities: 3,
        ..Limits::default()
    };
    let mut request = valid();
    request["entities"] = json!([
        { "type": "Team", "id": "a", "parents": [] },
        { "type": "Team", "id": "b", "parents": [] },
    ]);
    let error = decode(&schema(), &request.to_string(), &limits).unwrap_err();
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("entities[1]", "a request carries at most 3 entities")
    );
    // The default limit, 10,000.
    let teams: Vec<Json> = (0..10_000)
        .map(|i| json!({ "type": "Team", "id": format!("t{i}"), "parents": [] }))
        .collect();
    let mut request = valid();
    request["entities"] = json!(teams);
    refused(
        &request,
        "entities[9998]",
        "a request carries at most 10000 entities",
    );
}

/// `depth` nested arrays around `inner`.
fn nested_arrays(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_nesting_is_malformed_json_not_a_stack_overflow() {
    let deep = nested_arrays(100_000, "1");
    for at in ["\"matrix\":[[1,2],[3]]", "\"mfa\":true", "\"readers\":[]"] {
        let (key, _) = at.split_once(':').unwrap();
        let text = valid().to_string().replace(at, &format!("{key}:{deep}"));
        assert_ne!(text, valid().to_string(), "`{at}` not found");
        let error = quickly(Duration::from_secs(5), || {
            decode(&schema(), &text, &Limits::default()).unwrap_err()
        });
        assert_eq!(error.path, "");
        assert!(
            error
                .message
                .starts_with("malformed JSON: recursion limit exceeded"),
            "{error}"
        );
    }
    let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    refused_text(&objects, "", "malformed JSON: recursion limit exceeded");
    // Within the JSON limit, nesting deeper than the type is a type error.
    let text = valid()
        .to_string()
        .replace("[[1,2],[3]]", &nested_arrays(100, "1"));
    refused_text(
        &text,
        "resource.attrs.matrix[0][0]",
        "expected Int, found an array",
    );
}

#[test]
fn deep_nesting_in_a_small_stack() {
    // serde_json's recursion limit (128), not the size of the thread's stack,
    // is what stops deep input, so a quarter of the usual 2 MiB is plenty.
    // (Parsing up to the limit takes between 256 and 384 KiB.)
    let text = valid()
        .to_string()
        .replace("[[1,2],[3]]", &nested_arrays(100_000, "1"));
    let error = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || decode(&schema(), &text, &Limits::default()).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(error.message.starts_with("malformed JSON: "), "{error}");
}

/// `parents` is a set: it holds at most as many elements as any set, and is
/// deduplicated in linear time. (A linear scan per parent once made 50,000
/// distinct parents, a 1.8 MB request, cost 1.25 billion comparisons.)
#[test]
fn many_parents_are_refused_or_decoded_quickly() {
    let folders = |n: usize| -> Json {
        (0..n)
            .map(|i| json!({ "type": "Folder", "id": format!("f{i}") }))
            .collect()
    };
    let text = with("/resource/parents", folders(50_000)).to_string();
    let error = quickly(Duration::from_secs(2), || {
        decode(&schema(), &text, &Limits::default()).unwrap_err()
    });
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("resource.parents", "an entity has at most 10000 parents")
    );
    let text = with("/resource/parents", folders(10_000)).to_string();
    let request = quickly(Duration::from_secs(2), || {
        decode(&schema(), &text, &Limits::default()).unwrap()
    });
    assert_eq!(
        request.entity(&request.resource).unwrap().parents.len(),
        10_000
    );
}

/// A repeated key is refused, not resolved "last one wins": a proxy or log
/// pipeline that keeps the first would see `{"action": "read", …,
/// "action": "delete"}` as a read while Reaper decides a delete.
#[test]
fn duplicate_keys_are_refused() {
    for (field, repeated, path) in [
        (
            r#""action":"read""#,
            r#""action":"read","action":"ping""#,
            "action",
        ),
        (r#""mfa":true"#, r#""mfa":true,"mfa":false"#, "context.mfa"),
        (
            r#""matrix":[[1,2],[3]]"#,
            r#""matrix":[[1,2],[3]],"matrix":[]"#,
            "resource.attrs.matrix",
        ),
    ] {
        let text = valid().to_string().replacen(field, repeated, 1);
        assert_ne!(text, valid().to_string(), "`{field}` not found");
        refused_text(&text, path, "this key is given twice in its object");
    }
    let text = r#"{"entities": [{"type": "Team", "id": "a", "id": "b"}]}"#;
    refused_text(
        text,
        "entities[0].id",
        "this key is given twice in its object",
    );
}

/// Every request shape a test above uses, as JSON pointers into `valid()`,
/// for the property tests to put arbitrary JSON into.
const POINTERS: [&str; 16] = [
    "",
    "/principal",
    "/principal/attrs",
    "/principal/attrs/tags",
    "/principal/attrs/teams",
    "/principal/attrs/address",
    "/principal/attrs/home",
    "/principal/attrs/joined",
    "/principal/attrs/session",
    "/resource",
    "/resource/attrs/owner",
    "/resource/attrs/matrix",
    "/resource/parents",
    "/context",
    "/context/ip",
    "/action",
];

fn arbitrary_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Json::String),
        prop::sample::select(vec![
            "User",
            "Team",
            "Document",
            "Folder",
            "Service",
            "read",
            "list",
            "ping",
            "alice",
            "10.0.0.0/8",
            "1h",
            "2026-01-01T00:00:00Z",
            "type",
            "id",
            "attrs",
            "parents",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        let key = prop_oneof![
            prop::sample::select(vec![
                "type",
                "id",
                "attrs",
                "parents",
                "principal",
                "action",
                "resource",
                "context",
                "entities",
                "age",
                "tags",
                "city",
                "ip",
                "mfa",
                "owner",
            ])
            .prop_map(str::to_owned),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|fields| Json::Object(fields.into_iter().collect())),
        ]
    })
}

/// The path the decoder reports for a JSON pointer (`/a/b/0` → `a.b[0]`).
fn path_of(pointer: &str) -> String {
    let mut path = String::new();
    for part in pointer.split('/').skip(1) {
        if part.parse::<usize>().is_ok() {
            path.push_str(&format!("[{part}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
        }
    }
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Arbitrary JSON never panics the decoder, as a value or as text.
    #[test]
    fn arbitrary_json_never_panics(json in arbitrary_json()) {
        let schema = schema();
        let _ = from_json(&schema, &json, &Limits::default());
        let _ = decode(&schema, &json.to_string(), &Limits::default());
    }

    /// Arbitrary JSON put anywhere into a valid request never panics, and an
    /// error names the field that was replaced (or one inside it), except
    /// that a replaced action may not apply to the principal or resource.
    #[test]
    fn a_replaced_field_is_the_one_named(
        pointer in prop::sample::select(POINTERS.to_vec()),
        json in arbitrary_json(),
    ) {
        let request = if pointer.is_empty() { json.clone() } else { with(pointer, json.clone()) };
        if let Err(error) = decode_json(&request) {
            let path = path_of(pointer);
            let named = error.path.starts_with(&path)
                || (pointer == "/action"
                    && ["principal.type", "resource.type"].contains(&error.path.as_str()));
            prop_assert!(named, "replaced `{}` with {}, error: {}", path, json, error);
        }
    }

    /// Arbitrary text never panics the decoder.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = decode(&schema(), &text, &Limits::default());
    }
}
