//! Envoy's external authorization: `Check` over gRPC, dry run, the
//! HTTP-service mode, and a policy without an `http` block.

use super::*;

#[tokio::test]
async fn ext_authz_allows_denies_and_explains() {
    let server = envoy_example(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    let policy = server.client().get("/v1/status").json()["policy"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner reads: OK, with the decision for upstream and the logs.
    let allowed = check(
        &mut client,
        check_request("GET", "/docs/plan?x=1", &[("x-user-id", "ana")]),
    )
    .await;
    assert_eq!(allowed.status.as_ref().unwrap().code, Code::Ok as i32);
    let Some(HttpResponse::OkResponse(ok)) = &allowed.http_response else {
        panic!("{allowed:?}")
    };
    let upstream: HashMap<_, _> = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(upstream["x-reaper-policy"], policy);
    let id = upstream["x-reaper-decision-id"].to_owned();
    assert_eq!(metadata_text(&allowed, "decision_id"), id);
    assert_eq!(metadata_text(&allowed, "rules"), "owner");
    assert_eq!(metadata_text(&allowed, "policy"), policy);
    assert_eq!(metadata_text(&allowed, "decision"), "allow");

    // Someone else: 403, with the reason.
    let response = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "bob")]),
    )
    .await;
    let (status, headers, body) = denied(&response);
    assert_eq!(status, 403);
    assert_eq!(body, "denied: no rule permits read on Doc::\"plan\"\n");
    assert_eq!(headers["x-reaper-policy"], policy);
    assert_eq!(metadata_text(&response, "decision"), "deny");

    // A forbid names itself.
    let response = check(
        &mut client,
        check_request("GET", "/docs/notes", &[("x-user-id", "eve")]),
    )
    .await;
    assert_eq!(denied(&response).2, "denied: forbidden by suspended\n");
    assert_eq!(metadata_text(&response, "rules"), "suspended");

    // Requests that map to no authorization request are denied with why.
    let cases = [
        (
            check_request("DELETE", "/docs/plan", &[("x-user-id", "ana")]),
            "no route matches DELETE /docs/plan",
        ),
        (
            check_request("GET", "/docs/plan", &[]),
            "mapping the principal failed",
        ),
        (
            check_request("GET", "/docs/plan", &[("x-user-id", "mallory")]),
            "unknown principal User::\"mallory\"",
        ),
        (
            check_request("GET", "/docs/ghost", &[("x-user-id", "ana")]),
            "unknown resource Doc::\"ghost\"",
        ),
    ];
    for (request, reason) in cases {
        let response = check(&mut client, request).await;
        let (status, _, body) = denied(&response);
        assert_eq!(status, 403);
        assert!(body.contains(reason), "{body} lacks {reason}");
    }
    let metrics = server.client().get("/metrics").text();
    for reason in ["no_route", "mapping_failed", "unknown_entity"] {
        assert!(
            metrics.contains(&format!(
                "reaper_ext_authz_unmapped_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }

    // Envoy's with_request_body: the body is never read, so a malformed
    // one (invalid JSON, binary bytes) does not change the answer.
    let mut with_body = check_request(
        "GET",
        "/docs/plan",
        &[("x-user-id", "ana"), ("content-type", "application/json")],
    );
    let http = with_body
        .attributes
        .as_mut()
        .unwrap()
        .request
        .as_mut()
        .unwrap()
        .http
        .as_mut()
        .unwrap();
    http.body = "{\"not\": json".into();
    http.raw_body = vec![0xff, 0x00, 0xfe];
    http.size = 3;
    let response = check(&mut client, with_body).await;
    assert_eq!(response.status.unwrap().code, Code::Ok as i32);

    // A check that is not an HTTP check at all.
    let empty = client.check(CheckRequest::default()).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(
        empty.message().contains("attributes.request.http"),
        "{}",
        empty.message()
    );
}

#[tokio::test]
async fn ext_authz_dry_run_allows_but_says_what_it_would_do() {
    let server = envoy_example(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    // Per route, from Envoy's context_extensions.
    let mut request = check_request("GET", "/docs/plan", &[("x-user-id", "bob")]);
    request
        .attributes
        .as_mut()
        .unwrap()
        .context_extensions
        .insert("reaper_dry_run".into(), "true".into());
    let response = check(&mut client, request).await;
    assert_eq!(response.status.as_ref().unwrap().code, Code::Ok as i32);
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("{response:?}")
    };
    assert!(
        ok.headers
            .iter()
            .any(|h| h.header.as_ref().unwrap().key == "x-reaper-dry-run")
    );
    assert_eq!(metadata_text(&response, "decision"), "deny");
    assert_eq!(metadata_text(&response, "dry_run"), "true");

    // For the whole server, with a deny status of its own.
    let dry = envoy_example(&["--dry-run"]);
    let mut client = AuthorizationClient::new(channel(&dry).await);
    let response = check(&mut client, check_request("GET", "/nowhere", &[])).await;
    assert_eq!(response.status.unwrap().code, Code::Ok as i32);
    let logged = dry.wait_for_log("dry run: the policy would deny", Duration::from_secs(30));
    assert!(logged.unwrap().contains("no route matches GET /nowhere"));

    let dir = scratch("grpc-deny-status");
    write(&dir, "reaper.toml", "[ext_authz]\ndeny_status = 401\n");
    let config = dir.join("reaper.toml").display().to_string();
    let custom = envoy_example(&["--config", &config]);
    let mut client = AuthorizationClient::new(channel(&custom).await);
    let response = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "bob")]),
    )
    .await;
    assert_eq!(denied(&response).0, 401);
}

/// Envoy's HTTP-service mode: the original request under /v1/ext_authz.
#[test]
fn ext_authz_http_service_mode_answers_200_or_403() {
    let server = envoy_example(&[]);
    let mut client = server.client();
    let allowed = client.send(
        "GET",
        "/v1/ext_authz/docs/plan?page=2",
        &[("x-user-id", "ana")],
        b"",
    );
    assert_eq!(allowed.status, 200);
    assert!(allowed.header("x-reaper-decision-id").is_some());
    assert!(allowed.header("x-reaper-policy").is_some());
    let denied = client.send(
        "GET",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "bob")],
        b"",
    );
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.text(),
        "denied: no rule permits read on Doc::\"plan\"\n"
    );
    // Any method; one no route takes is denied with why.
    let unrouted = client.send(
        "POST",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "ana")],
        b"{}",
    );
    assert_eq!(unrouted.status, 403);
    assert_eq!(
        unrouted.text(),
        "denied: no route matches POST /docs/plan\n"
    );
    // A write by the owner, with a body that is not JSON: allowed.
    let write = client.send(
        "PUT",
        "/v1/ext_authz/docs/plan",
        &[("x-user-id", "ana")],
        b"\xff\xfe",
    );
    assert_eq!(write.status, 200);

    let no_mapping = session_store(&[]);
    let refused = no_mapping.client().get("/v1/ext_authz/anything");
    assert_eq!(refused.status, 501);
    assert_eq!(refused.json()["error"]["code"], "no_http_mapping");
}

#[tokio::test]
async fn ext_authz_without_an_http_block_says_so() {
    let server = session_store(&[]);
    let mut client = AuthorizationClient::new(channel(&server).await);
    let error = client
        .check(check_request("GET", "/", &[]))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.message().contains("no `http` block"),
        "{}",
        error.message()
    );
}
