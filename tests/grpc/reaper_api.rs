//! Reaper's own service: every RPC beside its HTTP endpoint, its refusals,
//! and the admin token in metadata.

use super::*;

fn authorize_request(principal: &str, action: &str, mfa: bool) -> pb::AuthorizeRequest {
    let text = |s: &str| pb::Value {
        kind: Some(pb::value::Kind::String(s.into())),
    };
    pb::AuthorizeRequest {
        principal: Some(entity("Service", principal)),
        action: action.into(),
        resource: Some(entity("Store", "sessions")),
        context: Some(pb::Record {
            fields: HashMap::from([
                ("source_ip".to_owned(), text("10.2.0.15")),
                ("now".to_owned(), text("2026-03-01T12:00:00Z")),
                (
                    "mfa".to_owned(),
                    pb::Value {
                        kind: Some(pb::value::Kind::Bool(mfa)),
                    },
                ),
                ("key".to_owned(), text("k")),
            ]),
        }),
        entities: Vec::new(),
    }
}

#[tokio::test]
async fn reapers_own_api_reads_like_the_http_api() {
    let server = session_store(&[]);
    let mut client = ReaperClient::new(channel(&server).await);
    let http = server
        .client()
        .post_json(
            "/v1/authorize",
            &format!(
                r#"{{"principal":{{"type":"Service","id":"api"}},"action":"store.read","resource":{{"type":"Store","id":"sessions"}},"context":{}}}"#,
                CONTEXT.replace('}', r#","key":"k"}"#)
            ),
        )
        .json();

    let response = client
        .authorize(authorize_request("api", "store.read", false))
        .await
        .unwrap();
    let policy = response
        .metadata()
        .get("x-reaper-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let decided = response.into_inner();
    assert_eq!(decided.decision, pb::Effect::Allow as i32);
    assert_eq!(http["decision"], "allow");
    assert_eq!(
        decided.reasons,
        http["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(decided.policy, policy);
    assert_eq!(decided.decision_id.len(), 36);

    // A request the schema refuses names the field.
    let error = client
        .authorize(authorize_request("api", "store.raed", false))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().starts_with("action"), "{}", error.message());

    // A batch: a bad item fails alone.
    let batch = client
        .authorize_batch(pb::AuthorizeBatchRequest {
            requests: vec![
                authorize_request("api", "store.read", false),
                authorize_request("api", "store.raed", false),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 2);
    assert!(matches!(
        batch.results[0].result,
        Some(pb::batch_result::Result::Decision(_))
    ));
    let Some(pb::batch_result::Result::Error(error)) = &batch.results[1].result else {
        panic!("{batch:?}")
    };
    assert_eq!(error.field, "requests[1].action");

    // The store: put, get, create-only, delete; refusals as statuses.
    let caller = |principal: &str| {
        Some(pb::Caller {
            principal: principal.into(),
            context: CONTEXT.into(),
        })
    };
    let put = |key: &str, principal: &str, create_only: bool| pb::StorePutRequest {
        namespace: "sessions".into(),
        key: key.into(),
        caller: caller(principal),
        value: b"hello".to_vec(),
        ttl: "10m".into(),
        create_only,
    };
    let stored = client
        .store_put(put("s1", "Service::\"api\"", false))
        .await
        .unwrap()
        .into_inner();
    assert!(stored.expires_at_ms > 0);
    let got = client
        .store_get(pb::StoreGetRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.value, b"hello");
    assert_eq!(got.expires_at_ms, stored.expires_at_ms);
    assert!(
        got.ttl_ms <= 600_000 && got.ttl_ms > 500_000,
        "{}",
        got.ttl_ms
    );
    // The same value over HTTP.
    let over_http = server.client().send(
        "GET",
        "/v1/store/sessions/s1",
        &[
            ("x-reaper-principal", "Service::\"api\""),
            ("x-reaper-context", CONTEXT),
        ],
        b"",
    );
    assert_eq!(over_http.body, b"hello");

    let exists = client
        .store_put(put("s1", "Service::\"api\"", true))
        .await
        .unwrap_err();
    assert_eq!(exists.code(), Code::AlreadyExists);
    let denied = client
        .store_put(put("s2", "User::\"nobody\"", false))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let no_principal = client
        .store_put(pb::StorePutRequest {
            caller: None,
            ..put("s3", "", false)
        })
        .await
        .unwrap_err();
    assert_eq!(no_principal.code(), Code::InvalidArgument);
    assert!(
        no_principal.message().starts_with("caller.principal"),
        "{}",
        no_principal.message()
    );
    let no_namespace = client
        .store_get(pb::StoreGetRequest {
            namespace: "nope".into(),
            key: "k".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(no_namespace.code(), Code::NotFound);
    let too_long = client
        .store_put(pb::StorePutRequest {
            ttl: "1000d".into(),
            ..put("s4", "Service::\"api\"", false)
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long.message().starts_with("ttl:"),
        "{}",
        too_long.message()
    );
    // Only the auth service deletes sessions.
    let refused = client
        .store_delete(pb::StoreDeleteRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("no rule permits it"),
        "{}",
        refused.message()
    );
    client
        .store_delete(pb::StoreDeleteRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"auth\""),
        })
        .await
        .unwrap();
    let gone = client
        .store_get(pb::StoreGetRequest {
            namespace: "sessions".into(),
            key: "s1".into(),
            caller: caller("Service::\"api\""),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Status mirrors /v1/status.
    let status = client
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let http_status = server.client().get("/v1/status").json();
    let info = status.policy.unwrap();
    assert_eq!(info.hash, http_status["policy"]["hash"]);
    assert_eq!(info.stores, ["sessions", "login_attempts"]);
    assert_eq!(status.entities, http_status["entities"].as_u64().unwrap());
    assert_eq!(status.backend.unwrap().kind, "memory");

    // Reload needs the admin token, which this server has none of.
    let reload = client.reload(pb::ReloadRequest {}).await.unwrap_err();
    assert_eq!(reload.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn reapers_rate_limit_and_batch_refusals() {
    let server = envoy_example(&[]);
    let mut client = ReaperClient::new(channel(&server).await);
    let entry = |key: &str, value: &str| pb::rate_limit_descriptor::Entry {
        key: key.into(),
        value: value.into(),
    };
    // An unknown domain: OK, and said so.
    let unknown = client
        .rate_limit(pb::RateLimitRequest {
            domain: "nope".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![entry("user_id", "a")],
                ..Default::default()
            }],
            hits_addend: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unknown.unknown_domain);
    assert_eq!(unknown.overall_code, pb::Code::Ok as i32);
    // A bad override unit names the field.
    let error = client
        .rate_limit(pb::RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![entry("user_id", "a")],
                limit: Some(pb::rate_limit_descriptor::Override {
                    requests_per_unit: 1,
                    unit: 42,
                }),
                hits_addend: None,
            }],
            hits_addend: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("descriptors[0].limit.unit"),
        "{}",
        error.message()
    );
    // A batch over 10,000 requests is refused whole.
    let too_many = client
        .authorize_batch(pb::AuthorizeBatchRequest {
            requests: vec![pb::AuthorizeRequest::default(); 10_001],
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert!(
        too_many.message().starts_with("requests:"),
        "{}",
        too_many.message()
    );
}

#[tokio::test]
async fn reload_takes_the_admin_token_from_metadata() {
    let dir = scratch("grpc-reload");
    write(&dir, "token", "sesame\n");
    let token = dir.join("token").display().to_string();
    let server = session_store(&["--admin-token-file", &token]);
    let mut client = ReaperClient::new(channel(&server).await);
    let mut wrong = tonic::Request::new(pb::ReloadRequest {});
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        client.reload(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut right = tonic::Request::new(pb::ReloadRequest {});
    right
        .metadata_mut()
        .insert("authorization", "Bearer sesame".parse().unwrap());
    let record = client
        .reload(right)
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(record.ok);
    assert_eq!(record.trigger, "admin");
}
