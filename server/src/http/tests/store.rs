//! The TTL store over HTTP: expiry on the server's clock, limits, and
//! authorization by the policy.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use super::*;

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
