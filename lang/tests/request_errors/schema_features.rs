//! Requests against a schema with the language's newer features: decimals
//! and maps in attributes, an enumerated entity type, an action group, an
//! action with its own context, and stores with the principals that may
//! use them. Each feature's errors name the field and say what is wrong.

use reaper_lang::limits::StoreSpec;
use reaper_lang::request::{Limits, RequestError, decode};
use reaper_lang::schema::{STORE_ACTIONS, Schema, store_action_context};
use reaper_lang::types::{ActionId, EntityTypeId, RecordType, Type};
use reaper_lang::value::Value;
use serde_json::{Value as Json, json};

use crate::fixture::{action, entity_type, field, optional};

const USER: EntityTypeId = EntityTypeId(0);
const REPO: EntityTypeId = EntityTypeId(1);
const APP: EntityTypeId = EntityTypeId(2);
const SERVICE: EntityTypeId = EntityTypeId(3);
const STORE: EntityTypeId = EntityTypeId(4);

/// ```text
/// entity User { score: Decimal, tz: Duration }
/// entity Repo { roles: Map<String, Set<User>> }
/// entity App enum ["web", "cli"]
/// entity Service
/// action readers
/// action pull in [readers] on Repo by User
/// action push on Repo by User context { force: Bool }
/// action launch on App by User
/// context { now?: Timestamp }
/// store sessions by [User] { ttl 1h }
/// ```
fn schema() -> Schema {
    let mut app = entity_type("App", &[], vec![]);
    app.ids = Some(vec!["web".into(), "cli".into()]);
    let mut store = entity_type("Store", &[], vec![]);
    store.ids = Some(vec!["sessions".into()]);
    let mut readers = action("readers", &[REPO], &[USER]);
    readers.is_group = true;
    let mut pull = action("pull", &[REPO], &[USER]);
    pull.groups = vec![ActionId(0)];
    let mut push = action("push", &[REPO], &[USER]);
    push.context = Some(RecordType::new(vec![field("force", Type::Bool)]));
    let context = RecordType::new(vec![optional("now", Type::Timestamp)]);
    let mut actions = vec![readers, pull, push, action("launch", &[APP], &[USER])];
    for name in STORE_ACTIONS {
        let mut def = action(name, &[STORE], &[USER, SERVICE]);
        def.context = Some(store_action_context(&context, name));
        actions.push(def);
    }
    Schema {
        entity_types: vec![
            entity_type(
                "User",
                &[],
                vec![field("score", Type::Decimal), field("tz", Type::Duration)],
            ),
            entity_type(
                "Repo",
                &[],
                vec![field(
                    "roles",
                    Type::Map(Box::new(Type::Set(Box::new(Type::Entity(USER))))),
                )],
            ),
            app,
            entity_type("Service", &[], vec![]),
            store,
        ],
        actions,
        context,
        stores: vec![StoreSpec {
            name: "sessions".into(),
            ttl_ms: 3_600_000,
            max_ttl_ms: 3_600_000,
            max_value_bytes: None,
            max_keys: None,
            principal_types: vec![USER],
        }],
        sensitive: Default::default(),
    }
}

fn user() -> Json {
    json!({ "type": "User", "id": "ana", "attrs": { "score": "1.5", "tz": "-5h" } })
}

fn request(action: &str, resource: Json, context: Json) -> Json {
    json!({ "principal": user(), "action": action, "resource": resource, "context": context })
}

fn repo(roles: Json) -> Json {
    json!({ "type": "Repo", "id": "r", "attrs": { "roles": roles } })
}

fn decoded(request: &Json) -> Result<reaper_lang::request::Request, RequestError> {
    decode(&schema(), &request.to_string(), &Limits::default())
}

#[track_caller]
fn refused(request: &Json, path: &str, message: &str) {
    let error = decoded(request).expect_err("the request should be refused");
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        (path, message),
        "for {request}"
    );
}

#[test]
fn decimals_are_exact_strings_or_numbers() {
    let ok = decoded(&request("pull", repo(json!({})), json!({}))).unwrap();
    let attrs = &ok.entities[0].attrs;
    assert_eq!(attrs[0], Some(Value::Decimal(15_000)));
    assert_eq!(
        attrs[1],
        Some(Value::Duration(-18_000_000)),
        "a negative duration"
    );
    let mut as_number = request("pull", repo(json!({})), json!({}));
    as_number["principal"]["attrs"]["score"] = json!(12.25);
    assert_eq!(
        decoded(&as_number).unwrap().entities[0].attrs[0],
        Some(Value::Decimal(122_500))
    );
    for (value, message) in [
        (
            json!("1.23456"),
            "`1.23456` is not a decimal: decimals have at most four fractional digits",
        ),
        (
            json!(1e-7),
            "`1e-7` is not a decimal: expected digits with an optional fraction, as in `12.5`",
        ),
        (json!(true), "expected Decimal, found a boolean"),
    ] {
        let mut bad = request("pull", repo(json!({})), json!({}));
        bad["principal"]["attrs"]["score"] = value;
        refused(&bad, "principal.attrs.score", message);
    }
}

#[test]
fn maps_are_objects_with_values_of_one_type() {
    let ok = decoded(&request(
        "pull",
        repo(json!({ "admin": [{ "type": "User", "id": "ana" }], "read": [] })),
        json!({}),
    ))
    .unwrap();
    let Some(Value::Map(entries)) = &ok.entities[1].attrs[0] else {
        panic!("{ok:?}");
    };
    assert_eq!(
        entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["admin", "read"]
    );
    refused(
        &request("pull", repo(json!({ "admin": [1] })), json!({})),
        "resource.attrs.roles[\"admin\"][0]",
        "expected a `User` reference, found a number",
    );
    refused(
        &request("pull", repo(json!([])), json!({})),
        "resource.attrs.roles",
        "expected Map<String, Set<User>>, found an array",
    );
}

#[test]
fn an_enumerated_type_refuses_other_ids() {
    let app = |id: &str| json!({ "type": "App", "id": id });
    decoded(&request("launch", app("web"), json!({}))).unwrap();
    refused(
        &request("launch", app("mobile"), json!({})),
        "resource.id",
        "`App` has no entity \"mobile\" (declared: \"web\", \"cli\")",
    );
}

#[test]
fn a_request_never_names_an_action_group() {
    refused(
        &request("readers", repo(json!({})), json!({})),
        "action",
        "`readers` is an action group; a request names one of its actions (pull)",
    );
}

#[test]
fn an_action_with_its_own_context_is_checked_against_it() {
    decoded(&request("push", repo(json!({})), json!({ "force": true }))).unwrap();
    refused(
        &request("push", repo(json!({})), json!({})),
        "context.force",
        "missing required field of type `Bool`",
    );
    refused(
        &request(
            "push",
            repo(json!({})),
            json!({ "force": true, "now": "2026-01-01T00:00:00Z" }),
        ),
        "context.now",
        "unknown field (declared: force)",
    );
}

#[test]
fn store_requests_carry_the_key_and_name_a_declared_store_by_an_admitted_principal() {
    let sessions = json!({ "type": "Store", "id": "sessions" });
    let write = json!({ "key": "user:ana:1", "ttl": "30m", "size": 12 });
    decoded(&request("store.write", sessions.clone(), write.clone())).unwrap();
    refused(
        &request("store.read", sessions.clone(), json!({})),
        "context.key",
        "missing required field of type `String`",
    );
    refused(
        &request(
            "store.read",
            json!({ "type": "Store", "id": "cache" }),
            json!({ "key": "k" }),
        ),
        "resource.id",
        "`Store` has no entity \"cache\" (declared: \"sessions\")",
    );
    let mut by_service = request("store.read", sessions, json!({ "key": "k" }));
    by_service["principal"] = json!({ "type": "Service", "id": "api" });
    refused(
        &by_service,
        "principal.type",
        "store `sessions` is accessed by `User`, not by a `Service`",
    );
}
