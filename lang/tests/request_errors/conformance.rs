//! Requests that do not fit the schema: missing, unknown and mistyped
//! fields, entity types, actions, parents and context.

use reaper_lang::request::{Limits, decode};
use reaper_lang::types::{ActionId, RecordType, Type};
use reaper_lang::value::{Uid, Value};
use serde_json::{Value as Json, json};

use crate::fixture::{
    DOCUMENT, FOLDER, USER, decode_json, optional, refused, refused_text, schema, user_attrs,
    valid, with, without,
};

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
            "--5m",
            "principal.attrs.session",
            "`--5m` is not a duration: ",
        ),
        (
            "/principal/attrs/session",
            "-",
            "principal.attrs.session",
            "`-` is not a duration: ",
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
        // A time zone west of UTC is a negative offset.
        ("/principal/attrs/session", "-5h"),
        ("/principal/attrs/session", "-1h30m"),
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
