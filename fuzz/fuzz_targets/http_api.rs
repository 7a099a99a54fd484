//! Arbitrary HTTP requests to `reaper serve`'s router, on the session-store
//! example with its entity data and an admin token: the first byte picks
//! the method, the text up to the first newline is the path (and query),
//! then `name: value` header lines up to an empty line, then the body.
//! Every answer is below 500 (or 503/507, which are about the backend),
//! and JSON when it says so; a value stored before fuzzing stays readable.
//! Never panics.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const PRINCIPAL: (&str, &str) = ("x-reaper-principal", "Service::\"api\"");
const CONTEXT: (&str, &str) = (
    "x-reaper-context",
    r#"{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}"#,
);

fn server() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let shared = reaper_fuzz::example_server("session-store", &["schema", "rules", "stores"], &runtime);
        let app = reaper_server::http::router(shared);
        let stored = runtime.block_on(send(&app, Method::PUT, "/v1/store/sessions/kept", &[PRINCIPAL, CONTEXT], b"safe".to_vec()));
        assert_eq!(stored.0, StatusCode::CREATED);
        (runtime, app)
    })
}

async fn send(app: &axum::Router, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, Option<String>, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let Ok(request) = request.body(Body::from(body)) else {
        return (StatusCode::OK, None, Vec::new());
    };
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    (status, content_type, bytes.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let method = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH][usize::from(first) % 5].clone();
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let path = lines.next().unwrap_or("/");
    let uri = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(": ")).collect();
    let (runtime, app) = server();
    runtime.block_on(async {
        let (status, content_type, bytes) = send(app, method.clone(), &uri, &headers, body.as_bytes().to_vec()).await;
        let code = status.as_u16();
        assert!(code < 500 || code == 503 || code == 507, "{method} {uri}: {status}");
        if content_type.as_deref() == Some("application/json") {
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON as announced");
        }
        let (status, _, bytes) = send(app, Method::GET, "/v1/store/sessions/kept", &[PRINCIPAL, CONTEXT], Vec::new()).await;
        assert_eq!((status, bytes.as_slice()), (StatusCode::OK, b"safe".as_slice()));
    });
});
