//! Decisions: authorization, batches, AuthZEN and rate limits, and the
//! errors a request can get.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use super::*;

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
