//! Envoy's rate-limit service (RLS v3): counting as lyft/ratelimit does,
//! the request fields Envoy sends, and refusals that name the field.

use super::*;

#[tokio::test]
async fn rls_counts_down_like_lyft_then_answers_over_limit() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    fresh_minute(Duration::from_secs(20)).await;
    let user = fresh_user("classic");
    for expected in (0..20).rev() {
        let response = should_rate_limit(
            &mut client,
            rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
        )
        .await;
        assert_eq!(response.overall_code, RlsCode::Ok as i32);
        let status = &response.statuses[0];
        assert_eq!(status.code, RlsCode::Ok as i32);
        assert_eq!(status.limit_remaining, expected);
        let limit = status.current_limit.as_ref().unwrap();
        assert_eq!(limit.name, "per_user");
        assert_eq!(limit.requests_per_unit, 20);
        assert_eq!(limit.unit, 2, "MINUTE");
        let reset = status.duration_until_reset.unwrap();
        assert!((0..=60).contains(&reset.seconds), "{reset:?}");
    }
    let over = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
    )
    .await;
    assert_eq!(over.overall_code, RlsCode::OverLimit as i32);
    assert_eq!(over.statuses[0].code, RlsCode::OverLimit as i32);
    assert_eq!(over.statuses[0].limit_remaining, 0);
    // No response headers unless configured.
    assert!(over.response_headers_to_add.is_empty());
}

#[tokio::test]
async fn rls_hits_addend_overrides_and_mixed_descriptors() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    fresh_minute(Duration::from_secs(20)).await;

    // hits_addend 0 counts 1; 5 counts 5; a descriptor's own wins.
    let user = fresh_user("addend");
    let mut request = rls_request("edge", vec![descriptor(&[("user_id", &user)])]);
    request.hits_addend = 0;
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        19
    );
    request.hits_addend = 5;
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        14
    );
    request.descriptors[0].hits_addend =
        Some(envoy_types::pb::google::protobuf::UInt64Value { value: 10 });
    assert_eq!(
        should_rate_limit(&mut client, request.clone())
            .await
            .statuses[0]
            .limit_remaining,
        4
    );
    let over = should_rate_limit(&mut client, request).await;
    assert_eq!(over.statuses[0].code, RlsCode::OverLimit as i32);

    // Envoy's per-descriptor override replaces the policy's numbers.
    let user = fresh_user("override");
    let mut overridden = descriptor(&[("user_id", &user)]);
    overridden.limit = Some(RateLimitOverride {
        requests_per_unit: 2,
        unit: 3, // HOUR
    });
    let request = rls_request("edge", vec![overridden]);
    let first = should_rate_limit(&mut client, request.clone()).await;
    let limit = first.statuses[0].current_limit.as_ref().unwrap();
    assert_eq!((limit.requests_per_unit, limit.unit), (2, 3));
    assert_eq!(first.statuses[0].limit_remaining, 1);
    should_rate_limit(&mut client, request.clone()).await;
    assert_eq!(
        should_rate_limit(&mut client, request).await.overall_code,
        RlsCode::OverLimit as i32
    );

    // Two descriptors, only the first over: overall over, statuses in order.
    let (spent, fresh) = (fresh_user("spent"), fresh_user("fresh"));
    let mut spend = rls_request("edge", vec![descriptor(&[("user_id", &spent)])]);
    spend.hits_addend = 20;
    should_rate_limit(&mut client, spend).await;
    let both = should_rate_limit(
        &mut client,
        rls_request(
            "edge",
            vec![
                descriptor(&[("user_id", &spent)]),
                descriptor(&[("user_id", &fresh)]),
            ],
        ),
    )
    .await;
    assert_eq!(both.overall_code, RlsCode::OverLimit as i32);
    let codes: Vec<i32> = both.statuses.iter().map(|s| s.code).collect();
    assert_eq!(codes, [RlsCode::OverLimit as i32, RlsCode::Ok as i32]);
    assert_eq!(both.statuses[1].limit_remaining, 19);

    // A descriptor no limit applies to: OK, no current limit.
    let none = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("path", "/")])]),
    )
    .await;
    assert_eq!(none.statuses[0].code, RlsCode::Ok as i32);
    assert!(none.statuses[0].current_limit.is_none());
}

#[tokio::test]
async fn shadow_limits_count_but_never_refuse_and_unknown_domains_pass() {
    let server = envoy_example(&["--ratelimit-headers"]);
    let channel = channel(&server).await;
    let mut client = RateLimitServiceClient::new(channel.clone());
    let mut reaper = ReaperClient::new(channel);
    fresh_minute(Duration::from_secs(20)).await;
    let user = fresh_user("writer");
    // `writes` (5 a minute, shadow) applies to PUTs; `per_user` (20) too.
    for _ in 0..7 {
        let response = should_rate_limit(
            &mut client,
            rls_request(
                "edge",
                vec![descriptor(&[("user_id", &user), ("method", "PUT")])],
            ),
        )
        .await;
        assert_eq!(response.overall_code, RlsCode::Ok as i32);
    }
    // Reaper's own API shows the shadow limit tripped.
    let detail = reaper
        .rate_limit(pb::RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![pb::RateLimitDescriptor {
                entries: vec![
                    pb::rate_limit_descriptor::Entry {
                        key: "user_id".into(),
                        value: user.clone(),
                    },
                    pb::rate_limit_descriptor::Entry {
                        key: "method".into(),
                        value: "PUT".into(),
                    },
                ],
                ..Default::default()
            }],
            hits_addend: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detail.overall_code, pb::Code::Ok as i32);
    let limits = &detail.statuses[0].limits;
    let writes = limits.iter().find(|l| l.name == "writes").unwrap();
    assert!(writes.shadow && !writes.allowed, "{writes:?}");
    let per_user = limits.iter().find(|l| l.name == "per_user").unwrap();
    assert_eq!(
        (per_user.count, per_user.period_ms, per_user.remaining),
        (20, 60_000, 12)
    );
    // The current limit is the enforced one, not the tripped shadow.
    assert_eq!(
        detail.statuses[0].current_limit.as_ref().unwrap().name,
        "per_user"
    );

    // The x-ratelimit headers (switched on with --ratelimit-headers).
    let response = should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", &user)])]),
    )
    .await;
    let headers: HashMap<_, _> = response
        .response_headers_to_add
        .iter()
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers["x-ratelimit-limit"], "20, 20;w=60");
    assert_eq!(headers["x-ratelimit-remaining"], "11");
    let reset: u64 = headers["x-ratelimit-reset"].parse().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");

    // An unknown domain: OK for each descriptor, as lyft answers, counted.
    let unknown = should_rate_limit(
        &mut client,
        rls_request(
            "nope",
            vec![descriptor(&[("user_id", "x")]), descriptor(&[("a", "b")])],
        ),
    )
    .await;
    assert_eq!(unknown.overall_code, RlsCode::Ok as i32);
    assert_eq!(unknown.statuses.len(), 2);
    let metrics = server.client().get("/metrics").text();
    assert!(
        metrics.contains("reaper_ratelimit_unknown_domain_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "reaper_grpc_requests_total{method=\"/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit\",code=\"OK\"} 9"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_rate_limit_requests_name_the_field() {
    let server = envoy_example(&[]);
    let mut client = RateLimitServiceClient::new(channel(&server).await);
    let refused = |request: RateLimitRequest| {
        let mut client = client.clone();
        async move { client.should_rate_limit(request).await.unwrap_err() }
    };
    let empty_domain = refused(rls_request("", vec![descriptor(&[("user_id", "a")])])).await;
    assert_eq!(empty_domain.code(), Code::InvalidArgument);
    assert!(
        empty_domain.message().starts_with("domain:"),
        "{}",
        empty_domain.message()
    );

    let none = refused(rls_request("edge", vec![])).await;
    assert_eq!(none.code(), Code::InvalidArgument);
    assert!(
        none.message().starts_with("descriptors:"),
        "{}",
        none.message()
    );

    let mut bad_unit = descriptor(&[("user_id", "a")]);
    bad_unit.limit = Some(RateLimitOverride {
        requests_per_unit: 1,
        unit: 0,
    });
    let unit = refused(rls_request(
        "edge",
        vec![descriptor(&[("k", "v")]), bad_unit],
    ))
    .await;
    assert_eq!(unit.code(), Code::InvalidArgument);
    assert!(
        unit.message().starts_with("descriptors[1].limit.unit"),
        "{}",
        unit.message()
    );

    let long = "x".repeat(70_000);
    let too_long = refused(rls_request("edge", vec![descriptor(&[("user_id", &long)])])).await;
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long
            .message()
            .contains("descriptors[0].entries[0].value"),
        "{}",
        too_long.message()
    );

    // A message that is not protobuf of that type at all.
    let garbage = raw_call(
        &server,
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
    )
    .await;
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    // The server is still answering.
    should_rate_limit(
        &mut client,
        rls_request("edge", vec![descriptor(&[("user_id", "b")])]),
    )
    .await;
}
