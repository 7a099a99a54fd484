//! Router tests: every endpoint's success and error paths, driven with
//! `tower::ServiceExt::oneshot` against a server state built from policy
//! text (no sockets). Time-dependent behaviour runs under
//! `tokio::time::pause`, on the server's clock.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use crate::backend::memory::MemoryBackend;
use crate::clock::Clock;
use crate::config::Limits;
use crate::state::{Options, PolicyLoader, Shared};

pub const POLICY: &str = r#"
package t

entity Team in [Team]
entity User in [Team] { level: Int, email?: String }
entity Service in [Team] { env: String }
entity Doc { owner: User, public: Bool }
action read, edit on Doc by User
context { mfa: Bool }

@id("public-read") permit read on Doc when resource.public;
@id("owner") permit [read, edit] on Doc when principal == resource.owner;
@id("admins") permit * on Doc when principal in Team::"admins";
@id("needs-mfa") forbid edit on Doc when principal.level > 5 unless context.mfa;
// Overflows for a level of 2 or more: a forbid that fails.
@id("overflow") forbid edit on Doc when principal.level > 1 && principal.level * 4611686018427387904 > 0;

store sessions by [Service, User] { ttl 30m, max_ttl 2h, max_value 16B, max_keys 2 }
@id("backend-store")
permit [store.read, store.write, store.delete] on store sessions when principal in Team::"backend";

ratelimit "edge" {
  limit per_user: 3 per minute when descriptor has user_id by descriptor.user_id;
  limit search: 1 per minute, shadow when descriptor has path && descriptor.path == "/search" by descriptor.user_id;
}
"#;

pub const ENTITIES: &str = r#"[
  { "type": "Team", "id": "backend" },
  { "type": "Team", "id": "admins" },
  { "type": "Team", "id": "ops", "parents": [{ "type": "Team", "id": "admins" }] },
  { "type": "User", "id": "ana", "attrs": { "level": 1 }, "parents": [{ "type": "Team", "id": "ops" }] },
  { "type": "User", "id": "bo", "attrs": { "level": 1 } },
  { "type": "Service", "id": "api", "attrs": { "env": "prod" }, "parents": [{ "type": "Team", "id": "backend" }] }
]"#;

/// Policy text that tests can change, compiled on every load.
pub struct Source(pub Mutex<String>);

impl PolicyLoader for Source {
    fn load(&self) -> Result<Vec<u8>, String> {
        let mut sources = reaper_compiler::source::Sources::new();
        sources.add("policy.reaper", self.0.lock().clone());
        reaper_compiler::compile(&sources).map_err(|diagnostics| {
            diagnostics
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn watched(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

pub struct Harness {
    pub shared: Arc<Shared>,
    pub app: Router,
    pub source: Arc<Source>,
    pub entities: PathBuf,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("reaper-server-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn harness_with(policy: &str, token: Option<&str>, limits: Limits, clock: Clock) -> Harness {
    let dir = TempDir::new();
    let entities = dir.0.join("entities.json");
    std::fs::write(&entities, ENTITIES).unwrap();
    let source = Arc::new(Source(Mutex::new(policy.to_owned())));
    let shared = Arc::new(
        Shared::new(
            source.clone(),
            Arc::new(MemoryBackend::new()),
            crate::metrics::Metrics::install(),
            Options {
                entities_file: Some(entities.clone()),
                admin_token: token.map(str::to_owned),
                limits,
                clock,
            },
        )
        .unwrap(),
    );
    Harness {
        app: super::router(shared.clone()),
        shared,
        source,
        entities,
        _dir: dir,
    }
}

pub fn harness() -> Harness {
    harness_with(POLICY, Some("sesame"), Limits::default(), Clock::system())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(app: &Router, uri: &str, body: Json) -> Reply {
    call(app, Method::POST, uri, &[], body.to_string()).await
}

fn doc_request(principal: &str, action: &str, owner: &str, public: bool) -> Json {
    json!({
        "principal": { "type": "User", "id": principal },
        "action": action,
        "resource": { "type": "Doc", "id": "d", "attrs": { "owner": { "type": "User", "id": owner }, "public": public } },
        "context": { "mfa": false },
    })
}

#[tokio::test]
async fn authorize_answers_with_the_decision_its_id_and_the_policy_hash() {
    let h = harness();
    let reply = post(
        &h.app,
        "/v1/authorize",
        doc_request("bo", "edit", "bo", false),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["decision"], "allow");
    assert_eq!(body["reasons"], json!(["owner"]));
    let hash = h.shared.world().engine.hash().to_owned();
    assert_eq!(body["policy"], hash);
    assert_eq!(reply.headers["x-reaper-policy"], hash.as_str());
    assert_eq!(
        reply.headers["x-reaper-decision-id"],
        body["decision_id"].as_str().unwrap()
    );

    let reply = post(
        &h.app,
        "/v1/authorize",
        doc_request("bo", "edit", "ana", false),
    )
    .await;
    assert_eq!(reply.json()["decision"], "deny");
    assert_eq!(reply.json()["reasons"], json!([]));
}

#[tokio::test]
async fn held_entity_data_completes_requests_and_a_requests_own_data_wins() {
    let h = harness();
    // `ana` is in `ops`, which is in `admins`: only the held data says so.
    let reply = post(
        &h.app,
        "/v1/authorize",
        doc_request("ana", "read", "bo", false),
    )
    .await;
    assert_eq!(reply.json()["decision"], "allow", "{}", reply.json());
    assert_eq!(reply.json()["reasons"], json!(["admins"]));
    // The request gives ana's data itself, without parents: no admin.
    let mut request = doc_request("ana", "read", "bo", false);
    request["principal"]["attrs"] = json!({ "level": 1 });
    let reply = post(&h.app, "/v1/authorize", request).await;
    assert_eq!(reply.json()["decision"], "deny");
}

#[tokio::test]
async fn a_failing_forbid_is_reported_and_counted() {
    let h = harness();
    let mut request = doc_request("bo", "edit", "bo", false);
    request["principal"]["attrs"] = json!({ "level": 3 });
    let reply = post(&h.app, "/v1/authorize", request).await;
    let body = reply.json();
    assert_eq!(body["decision"], "allow");
    assert_eq!(body["errors"][0]["rule"], "overflow");
    let metrics = call(&h.app, Method::GET, "/metrics", &[], Body::empty()).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("reaper_forbid_errors_total"), "{text}");
}

#[tokio::test]
async fn bad_requests_get_400_naming_the_field_or_the_position() {
    let h = harness();
    let mut request = doc_request("bo", "edit", "bo", false);
    request["context"]["mfa"] = json!("yes");
    let reply = post(&h.app, "/v1/authorize", request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], "invalid_request");
    assert_eq!(reply.json()["error"]["field"], "context.mfa");

    let reply = call(
        &h.app,
        Method::POST,
        "/v1/authorize",
        &[],
        "{\"principal\": [1,",
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], "malformed_json");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{}",
        reply.json()
    );

    let reply = call(&h.app, Method::POST, "/v1/authorize", &[], vec![0xff, 0xfe]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], "malformed_json");

    let reply = call(&h.app, Method::GET, "/v1/authorize", &[], Body::empty()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["error"]["code"], "method_not_allowed");
    let reply = call(&h.app, Method::GET, "/v2/nothing", &[], Body::empty()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let limits = Limits {
        max_body_bytes: 64,
        ..Limits::default()
    };
    let h = harness_with(POLICY, None, limits, Clock::system());
    let reply = call(&h.app, Method::POST, "/v1/authorize", &[], vec![b' '; 65]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"]["code"], "body_too_large");
}

#[tokio::test(start_paused = true)]
async fn a_request_not_answered_in_time_gets_408() {
    let limits = Limits {
        request_timeout: std::time::Duration::from_secs(2),
        ..Limits::default()
    };
    let h = harness_with(POLICY, None, limits, Clock::system());
    // A body that never ends: the handler waits for it until the timeout.
    let stalled = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
    let reply = call(
        &h.app,
        Method::POST,
        "/v1/authorize",
        &[],
        Body::from_stream(stalled),
    )
    .await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(reply.json()["error"]["code"], "timeout");
}

#[tokio::test]
async fn a_batch_answers_each_request_in_order_and_a_bad_one_fails_alone() {
    let h = harness();
    let mut bad = doc_request("bo", "edit", "bo", false);
    bad["action"] = json!("fly");
    let body = json!({ "requests": [doc_request("bo", "edit", "bo", false), bad, doc_request("bo", "read", "ana", true)] });
    let reply = post(&h.app, "/v1/authorize/batch", body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let results = reply.json()["results"].clone();
    assert_eq!(results[0]["decision"], "allow");
    assert_eq!(results[1]["error"]["field"], "requests[1].action");
    assert_eq!(results[2]["reasons"], json!(["public-read"]));

    let reply = post(&h.app, "/v1/authorize/batch", json!({ "request": [] })).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authzen_evaluations_map_onto_reaper_requests() {
    let h = harness();
    let evaluation = json!({
        "subject": { "type": "User", "id": "ana" },
        "action": { "name": "edit" },
        "resource": { "type": "Doc", "id": "d", "properties": { "owner": { "type": "User", "id": "bo" }, "public": false } },
        "context": { "mfa": true },
    });
    let reply = call(
        &h.app,
        Method::POST,
        "/access/v1/evaluation",
        &[("x-request-id", "r-1")],
        evaluation.to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.json()["decision"], true);
    assert_eq!(reply.json()["context"]["reasons"], json!(["admins"]));
    assert_eq!(reply.headers["x-request-id"], "r-1");

    // Properties become attributes; parents still come from held data.
    let mut with_props = evaluation.clone();
    with_props["subject"]["properties"] = json!({ "level": 9 });
    with_props["context"]["mfa"] = json!(false);
    let reply = post(&h.app, "/access/v1/evaluation", with_props).await;
    assert_eq!(reply.json()["decision"], false);
    assert_eq!(reply.json()["context"]["reasons"], json!(["needs-mfa"]));

    let mut wrong = evaluation.clone();
    wrong["subject"]["properties"] = json!({ "level": "high" });
    let reply = post(&h.app, "/access/v1/evaluation", wrong).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["field"], "subject.properties.level");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`subject.properties.level`"),
        "{}",
        reply.json()
    );
    // A key given twice, or a field AuthZEN does not define, is refused.
    let twice = r#"{"subject":{"type":"User","id":"ana"},"action":{"name":"read"},"resource":{"type":"Doc","id":"d"},"context":{"mfa":true,"mfa":false}}"#;
    let reply = call(&h.app, Method::POST, "/access/v1/evaluation", &[], twice).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["field"], "context.mfa");
    let mut unknown = evaluation.clone();
    unknown["subject"]["role"] = json!("admin");
    assert_eq!(
        post(&h.app, "/access/v1/evaluation", unknown).await.status,
        StatusCode::BAD_REQUEST
    );

    let batch = json!({
        "subject": { "type": "User", "id": "bo" },
        "resource": { "type": "Doc", "id": "d", "properties": { "owner": { "type": "User", "id": "bo" }, "public": false } },
        "context": { "mfa": false },
        "evaluations": [ { "action": { "name": "read" } }, { "action": { "name": "edit" }, "subject": { "type": "User", "id": "ana" } }, { "action": { "name": "edit" } } ],
        "options": { "evaluations_semantic": "permit_on_first_permit" }
    });
    let reply = post(&h.app, "/access/v1/evaluations", batch.clone()).await;
    assert_eq!(reply.json()["evaluations"].as_array().unwrap().len(), 1);
    let mut all = batch;
    all["options"]["evaluations_semantic"] = json!("execute_all");
    let reply = post(&h.app, "/access/v1/evaluations", all).await;
    let decisions: Vec<bool> = reply.json()["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_bool().unwrap())
        .collect();
    assert_eq!(decisions, [true, true, true]);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_count_down_then_go_over_and_shadow_limits_never_deny() {
    let h = harness_with(
        POLICY,
        None,
        Limits::default(),
        Clock::starting_at(1_800_000_000_000),
    );
    let request = json!({ "domain": "edge", "descriptors": [{ "entries": [{ "key": "user_id", "value": "ana" }, { "key": "path", "value": "/search" }] }] });
    let mut seen = Vec::new();
    for _ in 0..4 {
        let reply = post(&h.app, "/v1/ratelimit", request.clone()).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        let status = &body["statuses"][0];
        seen.push((
            body["overall_code"].as_str().unwrap().to_owned(),
            status["current_limit"]["name"].as_str().unwrap().to_owned(),
            status["limit_remaining"].as_u64().unwrap(),
        ));
    }
    let expected = [
        ("OK", "per_user", 2),
        ("OK", "per_user", 1),
        ("OK", "per_user", 0),
        ("OVER_LIMIT", "per_user", 0),
    ];
    let seen: Vec<(&str, &str, u64)> = seen
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
        .collect();
    assert_eq!(seen, expected);
    // The shadow limit went over on the second hit and never denied alone.
    let body = post(&h.app, "/v1/ratelimit", json!({ "domain": "edge", "descriptors": [{ "entries": [{ "key": "user_id", "value": "bo" }, { "key": "path", "value": "/search" }] }] })).await.json();
    assert_eq!(body["overall_code"], "OK");
    let body = post(&h.app, "/v1/ratelimit", json!({ "domain": "edge", "descriptors": [{ "entries": [{ "key": "user_id", "value": "bo" }, { "key": "path", "value": "/search" }] }] })).await.json();
    assert_eq!(body["overall_code"], "OK");
    assert_eq!(body["statuses"][0]["limits"][1]["name"], "search");
    assert_eq!(body["statuses"][0]["limits"][1]["allowed"], false);

    // A new window: counting starts again.
    tokio::time::advance(std::time::Duration::from_secs(60)).await;
    let body = post(&h.app, "/v1/ratelimit", request).await.json();
    assert_eq!(body["overall_code"], "OK");

    // Unknown domains answer OK, as lyft/ratelimit does.
    let body = post(
        &h.app,
        "/v1/ratelimit",
        json!({ "domain": "nope", "descriptors": [{ "entries": [{ "key": "a", "value": "b" }] }] }),
    )
    .await
    .json();
    assert_eq!(body["overall_code"], "OK");
    assert_eq!(body["unknown_domain"], true);

    let reply = post(
        &h.app,
        "/v1/ratelimit",
        json!({ "domain": "edge", "descriptors": [{ "entries": [{ "key": "user_id" }] }] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("descriptors[0].entries[0]"),
        "{}",
        reply.json()
    );
}

const STORE_HEADERS: [(&str, &str); 2] = [
    ("x-reaper-principal", "Service::\"api\""),
    ("x-reaper-context", "{\"mfa\": false}"),
];

#[tokio::test(start_paused = true)]
async fn the_store_writes_reads_expires_and_reclaims_on_the_servers_clock() {
    let h = harness_with(
        POLICY,
        None,
        Limits::default(),
        Clock::starting_at(1_800_000_000_000),
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(h.shared.backend.clone().maintain(h.shared.clock, stop));
    let put = call(
        &h.app,
        Method::PUT,
        "/v1/store/sessions/s1?ttl=1s",
        &STORE_HEADERS,
        "hello",
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    assert_eq!(put.headers["x-reaper-expires-at"], "2027-01-15T08:00:01Z");
    tokio::time::advance(std::time::Duration::from_millis(999)).await;
    let get = call(
        &h.app,
        Method::GET,
        "/v1/store/sessions/s1",
        &STORE_HEADERS,
        Body::empty(),
    )
    .await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.body, "hello");
    assert_eq!(get.headers["x-reaper-ttl-ms"], "1");
    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    let get = call(
        &h.app,
        Method::GET,
        "/v1/store/sessions/s1",
        &STORE_HEADERS,
        Body::empty(),
    )
    .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    // The expiry task reclaims it within a second.
    tokio::time::advance(std::time::Duration::from_millis(1_000)).await;
    tokio::task::yield_now().await;
    assert_eq!(h.shared.backend.namespaces()[0].keys, 0);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn the_store_enforces_its_limits_and_the_policy() {
    let h = harness();
    let app = &h.app;
    let put = |key: &'static str, query: &'static str, body: &'static str| async move {
        call(
            app,
            Method::PUT,
            &format!("/v1/store/sessions/{key}{query}"),
            &STORE_HEADERS,
            body,
        )
        .await
    };
    assert_eq!(put("a", "", "1").await.status, StatusCode::CREATED);
    // Default TTL: 30m.
    let get = call(
        app,
        Method::GET,
        "/v1/store/sessions/a",
        &STORE_HEADERS,
        Body::empty(),
    )
    .await;
    assert!(
        get.headers["x-reaper-ttl-ms"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 29 * 60_000
    );
    let reply = put("b", "?ttl=3h", "1").await;
    assert_eq!(
        (reply.status, reply.json()["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("ttl_above_max"))
    );
    let reply = put("b", "?ttl=soon", "1").await;
    assert_eq!(reply.json()["error"]["code"], "invalid_ttl");
    let reply = put("b", "", "this value is far too long").await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(put("b", "", "2").await.status, StatusCode::CREATED);
    let reply = put("c", "", "3").await;
    assert_eq!(
        (reply.status, reply.json()["error"]["code"].clone()),
        (StatusCode::INSUFFICIENT_STORAGE, json!("namespace_full"))
    );
    // Overwriting an existing key is not a new key.
    assert_eq!(put("b", "", "4").await.status, StatusCode::CREATED);
    let mut create_only = STORE_HEADERS.to_vec();
    create_only.push(("if-none-match", "*"));
    let reply = call(app, Method::PUT, "/v1/store/sessions/b", &create_only, "5").await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    // Someone the policy does not let in.
    let outsider = [
        ("x-reaper-principal", "User::\"bo\""),
        ("x-reaper-context", "{\"mfa\": false}"),
    ];
    let reply = call(
        app,
        Method::GET,
        "/v1/store/sessions/b",
        &outsider,
        Body::empty(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["decision"]["decision"], "deny");
    // No principal, a bad context, an unknown namespace.
    let reply = call(app, Method::GET, "/v1/store/sessions/b", &[], Body::empty()).await;
    assert_eq!(reply.json()["error"]["field"], "x-reaper-principal");
    // The header names the principal; it cannot bring its data.
    let forged = [
        (
            "x-reaper-principal",
            r#"{"type":"Service","id":"x","parents":[{"type":"Team","id":"backend"}]}"#,
        ),
        STORE_HEADERS[1],
    ];
    let reply = call(
        app,
        Method::GET,
        "/v1/store/sessions/b",
        &forged,
        Body::empty(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("x-reaper-principal"))
    );
    let reply = call(
        app,
        Method::PUT,
        "/v1/store/sessions/b?ttl=1h&ttl=2h",
        &STORE_HEADERS,
        "1",
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("ttl"))
    );
    let reply = call(
        app,
        Method::GET,
        "/v1/store/sessions/b",
        &[STORE_HEADERS[0], ("x-reaper-context", "{\"mfa\": 1}")],
        Body::empty(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("context.mfa"))
    );
    let reply = call(
        app,
        Method::GET,
        "/v1/store/nothing/b",
        &STORE_HEADERS,
        Body::empty(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("no_such_namespace"))
    );
    // Delete, then it is gone.
    assert_eq!(
        call(
            app,
            Method::DELETE,
            "/v1/store/sessions/b",
            &STORE_HEADERS,
            Body::empty()
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            app,
            Method::DELETE,
            "/v1/store/sessions/b",
            &STORE_HEADERS,
            Body::empty()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            app,
            Method::GET,
            "/v1/store/sessions/b",
            &STORE_HEADERS,
            Body::empty()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn admin_endpoints_need_the_token_and_refuse_without_one_configured() {
    let h = harness();
    let reload = call(&h.app, Method::POST, "/v1/admin/reload", &[], Body::empty()).await;
    assert_eq!(reload.status, StatusCode::UNAUTHORIZED);
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &[("authorization", "Bearer nope")],
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::UNAUTHORIZED);
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &[("authorization", "Bearer sesame")],
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::OK);
    assert_eq!(reload.json()["trigger"], "admin");

    let closed = harness_with(POLICY, None, Limits::default(), Clock::system());
    let reload = call(
        &closed.app,
        Method::POST,
        "/v1/admin/reload",
        &[("authorization", "Bearer sesame")],
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::FORBIDDEN);
    assert_eq!(reload.json()["error"]["code"], "admin_disabled");
}

#[tokio::test]
async fn entities_change_at_run_time_and_survive_reloads() {
    let h = harness();
    let auth = [("authorization", "Bearer sesame")];
    // bo joins admins.
    let upsert = json!([{ "type": "User", "id": "bo", "attrs": { "level": 1 }, "parents": [{ "type": "Team", "id": "admins" }] }]);
    let reply = call(
        &h.app,
        Method::PUT,
        "/v1/admin/entities",
        &auth,
        upsert.to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let decide = || {
        post(
            &h.app,
            "/v1/authorize",
            doc_request("bo", "read", "ana", false),
        )
    };
    assert_eq!(decide().await.json()["reasons"], json!(["admins"]));
    // A reload reads the file again; the admin change stays on top.
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::OK);
    assert_eq!(decide().await.json()["reasons"], json!(["admins"]));
    // Invalid data is refused whole.
    let bad = json!([{ "type": "User", "id": "cy", "attrs": {} }]);
    let reply = call(
        &h.app,
        Method::PUT,
        "/v1/admin/entities",
        &auth,
        bad.to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["field"], "[0].attrs.level");
    // Deleting bo's data: bo is no admin again.
    let reply = call(
        &h.app,
        Method::DELETE,
        "/v1/admin/entities/User/bo",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(decide().await.json()["decision"], "deny");
    let reply = call(
        &h.app,
        Method::DELETE,
        "/v1/admin/entities/User/bo",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Deleting what the server does not hold records nothing: the file may
    // bring the entity later.
    let reply = call(
        &h.app,
        Method::DELETE,
        "/v1/admin/entities/User/cy",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let mut file: Json = serde_json::from_str(ENTITIES).unwrap();
    file.as_array_mut().unwrap().push(json!({ "type": "User", "id": "cy", "attrs": { "level": 1 }, "parents": [{ "type": "Team", "id": "admins" }] }));
    std::fs::write(&h.entities, file.to_string()).unwrap();
    assert_eq!(
        call(
            &h.app,
            Method::POST,
            "/v1/admin/reload",
            &auth,
            Body::empty()
        )
        .await
        .status,
        StatusCode::OK
    );
    let reply = post(
        &h.app,
        "/v1/authorize",
        doc_request("cy", "read", "ana", false),
    )
    .await;
    assert_eq!(reply.json()["reasons"], json!(["admins"]));
}

#[tokio::test]
async fn a_broken_policy_or_entity_file_is_refused_and_the_old_world_keeps_serving() {
    let h = harness();
    let auth = [("authorization", "Bearer sesame")];
    let before = h.shared.world().engine.hash().to_owned();
    *h.source.0.lock() = POLICY.replace("permit read on Doc", "permit raed on Doc");
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reload.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("raed"),
        "{}",
        reload.json()
    );
    let status = call(&h.app, Method::GET, "/v1/status", &[], Body::empty())
        .await
        .json();
    assert_eq!(status["policy"]["hash"], before.as_str());
    assert_eq!(status["last_reload"]["ok"], false);
    assert_eq!(
        post(
            &h.app,
            "/v1/authorize",
            doc_request("bo", "edit", "bo", false)
        )
        .await
        .json()["policy"],
        before.as_str()
    );

    // The policy is fixed, but the entity file breaks: still refused.
    *h.source.0.lock() = POLICY.to_owned();
    std::fs::write(
        &h.entities,
        r#"[{ "type": "User", "id": "x", "attrs": { "level": "high" } }]"#,
    )
    .unwrap();
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reload.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[0].attrs.level"),
        "{}",
        reload.json()
    );
    let metrics = String::from_utf8_lossy(
        &call(&h.app, Method::GET, "/metrics", &[], Body::empty())
            .await
            .body,
    )
    .into_owned();
    assert!(
        metrics.contains("reaper_reloads_total{result=\"error\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn counters_and_store_contents_survive_a_reload_with_a_new_policy() {
    let h = harness();
    let auth = [("authorization", "Bearer sesame")];
    let request = json!({ "domain": "edge", "descriptors": [{ "entries": [{ "key": "user_id", "value": "cy" }] }] });
    post(&h.app, "/v1/ratelimit", request.clone()).await;
    assert_eq!(
        call(
            &h.app,
            Method::PUT,
            "/v1/store/sessions/k",
            &STORE_HEADERS,
            "v"
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // A new rule, and a store whose limit tightened.
    *h.source.0.lock() = POLICY.replace("max_value 16B", "max_value 8B")
        + "\n@id(\"extra\") permit read on Doc when principal.level > 100;\n";
    let reload = call(
        &h.app,
        Method::POST,
        "/v1/admin/reload",
        &auth,
        Body::empty(),
    )
    .await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.json());
    assert_ne!(reload.json()["policy"], json!(null));
    let body = post(&h.app, "/v1/ratelimit", request).await.json();
    assert_eq!(
        body["statuses"][0]["limit_remaining"], 1,
        "the count went on: {body}"
    );
    let get = call(
        &h.app,
        Method::GET,
        "/v1/store/sessions/k",
        &STORE_HEADERS,
        Body::empty(),
    )
    .await;
    assert_eq!(get.body, "v");
    let reply = call(
        &h.app,
        Method::PUT,
        "/v1/store/sessions/k",
        &STORE_HEADERS,
        "nine byte",
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn status_health_and_metrics_describe_the_server() {
    let h = harness();
    let status = call(&h.app, Method::GET, "/v1/status", &[], Body::empty())
        .await
        .json();
    assert_eq!(status["policy"]["package"], "t");
    assert_eq!(status["policy"]["rules"], 6);
    assert_eq!(status["policy"]["limits"], 2);
    assert_eq!(status["policy"]["stores"], json!(["sessions"]));
    assert_eq!(status["entities"], 6);
    assert_eq!(status["backend"]["kind"], "memory");
    assert_eq!(status["last_reload"]["trigger"], "start");
    assert_eq!(
        call(&h.app, Method::GET, "/health/live", &[], Body::empty())
            .await
            .status,
        StatusCode::OK
    );
    let ready = call(&h.app, Method::GET, "/health/ready", &[], Body::empty()).await;
    assert_eq!(ready.json()["policy"], status["policy"]["hash"]);
    post(
        &h.app,
        "/v1/authorize",
        doc_request("bo", "edit", "bo", false),
    )
    .await;
    let metrics = String::from_utf8_lossy(
        &call(&h.app, Method::GET, "/metrics", &[], Body::empty())
            .await
            .body,
    )
    .into_owned();
    for name in [
        "reaper_decisions_total{kind=\"authorize\",result=\"allow\"}",
        "reaper_decision_duration_seconds_bucket",
        "reaper_policy_info{hash=",
        "reaper_http_requests_total{route=\"/v1/authorize\",status=\"200\"}",
        "reaper_entities",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

/// Every route the server answers is in the OpenAPI document, and every
/// documented path is served.
#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let h = harness();
    let reply = call(&h.app, Method::GET, "/v1/openapi.json", &[], Body::empty()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let served = [
        ("post", "/v1/authorize"),
        ("post", "/v1/authorize/batch"),
        ("post", "/access/v1/evaluation"),
        ("post", "/access/v1/evaluations"),
        ("post", "/v1/ratelimit"),
        ("get", "/v1/store/{namespace}/{key}"),
        ("put", "/v1/store/{namespace}/{key}"),
        ("delete", "/v1/store/{namespace}/{key}"),
        ("get", "/v1/status"),
        ("post", "/v1/admin/reload"),
        ("put", "/v1/admin/entities"),
        ("delete", "/v1/admin/entities/{type}/{id}"),
        ("get", "/health/live"),
        ("get", "/health/ready"),
        ("get", "/metrics"),
        ("get", "/v1/openapi.json"),
    ];
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        served.len(),
        "documented: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in served {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
        // ...and the router answers it (anything but the 404/405 fallbacks).
        let uri = path
            .replace("{namespace}", "sessions")
            .replace("{key}", "k")
            .replace("{type}", "User")
            .replace("{id}", "x");
        let reply = call(
            &h.app,
            method.to_uppercase().parse().unwrap(),
            &uri,
            &[],
            Body::empty(),
        )
        .await;
        let is_json = reply
            .headers
            .get("content-type")
            .is_some_and(|t| t == "application/json");
        let code = if is_json {
            reply
                .json()
                .get("error")
                .map_or(json!(null), |e| e["code"].clone())
        } else {
            json!(null)
        };
        assert!(
            code != "not_found" && code != "method_not_allowed",
            "{method} {path}: {code}"
        );
    }
}

mod hostile {
    //! Whatever a client sends, the server answers with a status below 500
    //! (or 503/507, which are about the backend, not the request), never
    //! panics, and loses no stored data.

    use super::*;
    use proptest::prelude::*;

    const PATHS: &[&str] = &[
        "/v1/authorize",
        "/v1/authorize/batch",
        "/access/v1/evaluation",
        "/access/v1/evaluations",
        "/v1/ratelimit",
        "/v1/store/sessions/k",
        "/v1/store/sessions/%FF%00",
        "/v1/store/nope/k",
        "/v1/admin/reload",
        "/v1/admin/entities",
        "/v1/admin/entities/User/bo",
        "/v1/status",
        "/metrics",
        "/nowhere",
    ];

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            // JSON-ish text, often almost valid.
            "[{}\\[\\]\":,0-9a-z \\-.]{0,80}".prop_map(String::into_bytes),
            Just(br#"{"principal":{"type":"User","id":"bo"},"action":"read","resource":{"type":"Doc","id":"d"}}"#.to_vec()),
            Just(br#"{"domain":"edge","descriptors":[{"entries":[{"key":"user_id","value":"x"}],"hits_addend":"9"}]}"#.to_vec()),
            Just(br#"{"requests":[1,{},null]}"#.to_vec()),
        ]
    }

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Service::\"api\"".to_owned()),
            Just("{\"mfa\": false}".to_owned()),
            Just("Bearer sesame".to_owned()),
            "[ -~]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn no_request_breaks_the_server_or_its_data(
            requests in proptest::collection::vec(
                (0..5usize, 0..PATHS.len(), body(), proptest::collection::vec((0..4usize, header_value()), 0..3)),
                1..8,
            )
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let h = harness();
                let put = call(&h.app, Method::PUT, "/v1/store/sessions/kept", &STORE_HEADERS, "safe").await;
                assert_eq!(put.status, StatusCode::CREATED);
                for (method, path, body, headers) in requests {
                    let method = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH][method].clone();
                    let names = ["x-reaper-principal", "x-reaper-context", "authorization", "if-none-match"];
                    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (names[*n], v.as_str())).collect();
                    let reply = call(&h.app, method.clone(), PATHS[path], &headers, body).await;
                    let status = reply.status.as_u16();
                    assert!(status < 500 || status == 503 || status == 507, "{method} {}: {status} {:?}", PATHS[path], reply.body);
                    if reply.headers.get("content-type").is_some_and(|t| t == "application/json") {
                        reply.json();
                    }
                }
                let get = call(&h.app, Method::GET, "/v1/store/sessions/kept", &STORE_HEADERS, Body::empty()).await;
                assert_eq!(get.body, "safe");
            });
        }
    }
}
