//! Health, reflection, the limits on calls (message size, concurrency,
//! deadlines), metrics and shutdown.

use super::*;

#[tokio::test]
async fn health_reflection_limits_and_metrics() {
    let dir = scratch("grpc-limits");
    write(&dir, "reaper.toml", "[grpc]\nmax_message = \"1KiB\"\n");
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    let channel = channel(&server).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "envoy.service.ratelimit.v3.RateLimitService",
        "envoy.service.auth.v3.Authorization",
        "reaper.v1.Reaper",
    ] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }

    // Reflection lists the services, as grpcurl asks.
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"reaper.v1.Reaper"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // A message over grpc.max_message: RESOURCE_EXHAUSTED, and the server
    // goes on.
    let mut client = AuthorizationClient::new(channel.clone());
    let big = check_request(
        "GET",
        "/docs/plan",
        &[("x-user-id", "ana"), ("x-pad", &"p".repeat(2_000))],
    );
    let error = client.check(big).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");
    let ok = check(
        &mut client,
        check_request("GET", "/docs/plan", &[("x-user-id", "ana")]),
    )
    .await;
    assert_eq!(ok.status.unwrap().code, Code::Ok as i32);

    // An unknown method.
    let unknown = raw_call(&server, "/reaper.v1.Reaper/Nope", Vec::new()).await;
    assert_eq!(unknown.code(), Code::Unimplemented);

    let metrics = server.client().get("/metrics").text();
    assert!(
        metrics.contains("reaper_grpc_requests_total{method=\"/envoy.service.auth.v3.Authorization/Check\",code=\"RESOURCE_EXHAUSTED\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reaper_grpc_requests_total{method=\"/envoy.service.auth.v3.Authorization/Check\",code=\"OK\"} 1"),
        "{metrics}"
    );
}

/// Past grpc.max_concurrent_requests, calls are refused, not queued.
#[tokio::test]
async fn calls_past_the_concurrency_limit_are_refused() {
    let dir = scratch("grpc-concurrency");
    write(&dir, "reaper.toml", "[grpc]\nmax_concurrent_requests = 1\n");
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    // Large batches, each on its own connection, all at once: each holds
    // its place while its megabyte arrives and is decided.
    let batch = big_batch();
    let mut calls = Vec::new();
    for _ in 0..6 {
        let mut client = ReaperClient::new(channel(&server).await);
        let batch = batch.clone();
        calls.push(tokio::spawn(async move {
            client.authorize_batch(batch).await.map(|_| ())
        }));
    }
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 1,
        "six concurrent calls with a limit of one, none refused"
    );
    assert!(refused < 6, "the first call must be answered");
}

/// A stream of one message, for the reflection call.
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> {
    tonic::codegen::tokio_stream::iter([item])
}

#[tokio::test]
async fn deadlines_and_shutdown() {
    let dir = scratch("grpc-deadline");
    // A short drain: the refused upload is still arriving when SIGTERM comes.
    write(
        &dir,
        "reaper.toml",
        "[grpc]\nrequest_timeout = \"1ms\"\n[shutdown]\ndrain_timeout = \"1s\"\n",
    );
    let config = dir.join("reaper.toml").display().to_string();
    let server = envoy_example(&["--config", &config]);
    let mut client = ReaperClient::new(channel(&server).await);
    // A batch of many requests cannot be decided in a millisecond.
    let many = big_batch();
    let error = client.authorize_batch(many).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    drop(client);

    // SIGTERM: the gRPC listener stops with the HTTP one.
    let mut server = server;
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(30)), Some(0));
}
