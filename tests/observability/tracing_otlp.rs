//! OpenTelemetry: an OTLP trace receiver in the test (the collector's gRPC
//! service, from opentelemetry-proto) gets the spans of a request that came
//! with a W3C `traceparent`: the server span is the caller's child, and
//! decoding and evaluation are the server span's children, all in the
//! caller's trace; the decision log names the trace.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

use super::{authorize, lines, setup, start, stop};

#[derive(Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn spans_continue_the_callers_trace_with_children_for_each_step() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let collector = Collector::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(collector.clone());
    runtime.spawn(async move {
        let incoming = tokio_stream_incoming(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });

    let dir = setup(
        "observability_tracing",
        &format!(
            r#"
[tracing]
endpoint = "http://{addr}"
sample_ratio = 0.0

[decision_log]
file = {{ path = "decisions.log" }}
"#
        ),
    );
    let server = start(&dir);
    let mut client = server.client();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let body = json!({
        "principal": {"type": "User", "id": "ana"},
        "action": "read",
        "resource": {"type": "Doc", "id": "d1"},
    });
    // Sampled by the caller: traced although the ratio for new traces is 0.
    let response = client.send(
        "POST",
        "/v1/authorize",
        &[
            ("content-type", "application/json"),
            ("traceparent", &format!("00-{trace_id}-{parent}-01")),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    // Not sampled, no parent: ratio 0 keeps it out.
    authorize(&mut client, "ana", json!({}));

    let deadline = Instant::now() + Duration::from_secs(30);
    let named = |spans: &[Span], name: &str| spans.iter().find(|s| s.name == name).cloned();
    let mut spans = Vec::new();
    while Instant::now() < deadline {
        spans = collector.spans.lock().unwrap().clone();
        if named(&spans, "evaluate").is_some() && named(&spans, "decode").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let server_span = named(&spans, "POST /v1/authorize").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(hex(&server_span.trace_id), trace_id);
    assert_eq!(hex(&server_span.parent_span_id), parent);
    for child in ["decode", "evaluate"] {
        let span = named(&spans, child).unwrap_or_else(|| panic!("no {child}: {names:?}"));
        assert_eq!(hex(&span.trace_id), trace_id, "{child}");
        assert_eq!(span.parent_span_id, server_span.span_id, "{child}'s parent");
    }
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == trace_id),
        "the unsampled request was traced: {names:?}"
    );

    // gRPC metadata carries the context as Envoy sends it.
    let grpc_trace = "0af7651916cd43dd8448eb211c80319c";
    let grpc_parent = "b7ad6b7169203331";
    let uri = server.grpc_uri();
    runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(uri)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = reaper_proto::v1::reaper_client::ReaperClient::new(channel);
        let entity = |ty: &str, id: &str| reaper_proto::v1::Entity {
            r#type: ty.into(),
            id: id.into(),
            ..Default::default()
        };
        let mut request = tonic::Request::new(reaper_proto::v1::AuthorizeRequest {
            principal: Some(entity("User", "ana")),
            action: "read".into(),
            resource: Some(entity("Doc", "d1")),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{grpc_trace}-{grpc_parent}-01").parse().unwrap(),
        );
        let answer = client.authorize(request).await.unwrap().into_inner();
        assert_eq!(answer.reasons, ["owner-reads"]);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut grpc_spans = Vec::new();
    while Instant::now() < deadline {
        grpc_spans = collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| hex(&s.trace_id) == grpc_trace)
            .cloned()
            .collect::<Vec<_>>();
        if named(&grpc_spans, "evaluate").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let names: Vec<&str> = grpc_spans.iter().map(|s| s.name.as_str()).collect();
    let root =
        named(&grpc_spans, "/reaper.v1.Reaper/Authorize").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(hex(&root.parent_span_id), grpc_parent);
    for child in ["decode", "evaluate"] {
        let span = named(&grpc_spans, child).unwrap_or_else(|| panic!("no {child}: {names:?}"));
        assert_eq!(span.parent_span_id, root.span_id, "{child}'s parent");
    }
    stop(server);

    let records = lines(&dir.join("decisions.log"));
    assert_eq!(records[0]["trace_id"], trace_id);
    assert!(records[1].get("trace_id").is_none(), "{}", records[1]);
    assert_eq!(records[2]["trace_id"], grpc_trace);
}

/// The listener as tonic's incoming stream.
fn tokio_stream_incoming(
    listener: tokio::net::TcpListener,
) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
}
