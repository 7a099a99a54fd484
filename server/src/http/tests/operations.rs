//! Operations: admin endpoints, entity data, reloads, status, metrics and
//! the OpenAPI document.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use super::*;

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
        ("put", "/v1/admin/mesh/blocked"),
        ("get", "/health/live"),
        ("get", "/health/ready"),
        ("get", "/metrics"),
        ("get", "/v1/openapi.json"),
        ("get", "/v1/ext_authz/{path}"),
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

#[tokio::test]
async fn the_partition_drill_needs_the_token_a_node_list_and_a_mesh() {
    let h = harness();
    let block = |headers: &'static [(&'static str, &'static str)], body: &'static str| {
        call(
            &h.app,
            Method::PUT,
            "/v1/admin/mesh/blocked",
            headers,
            Body::from(body),
        )
    };
    assert_eq!(
        block(&[], r#"{"nodes":["b"]}"#).await.status,
        StatusCode::UNAUTHORIZED
    );
    let malformed = block(&[("authorization", "Bearer sesame")], r#"{"node":"b"}"#).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["error"]["code"], "invalid_request");
    let memory = block(&[("authorization", "Bearer sesame")], r#"{"nodes":["b"]}"#).await;
    assert_eq!(memory.status, StatusCode::CONFLICT);
    assert_eq!(
        memory.json()["error"]["message"],
        "the memory backend has no peers to block"
    );
}
