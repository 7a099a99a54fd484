//! Arbitrary HTTP requests to `reaper serve`'s router, on the session-store
//! example with its entity data and an admin token: the first byte picks
//! the method, the text up to the first newline is the path (and query),
//! then `name: value` header lines up to an empty line, then the body.
//! Every answer is below 500 (or 503/507, which are about the backend),
//! and JSON when it says so; a value stored before fuzzing stays readable.
//! Never panics.

#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use reaper_server::state::{Options, PolicyLoader, Shared};
use tower::ServiceExt;

struct Example;

impl PolicyLoader for Example {
    fn load(&self) -> Result<Vec<u8>, String> {
        let mut sources = reaper_compiler::source::Sources::new();
        for file in ["schema", "rules", "stores"] {
            let path = format!("{}/../examples/session-store/{file}.reaper", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            sources.add(path, text);
        }
        reaper_compiler::compile(&sources).map_err(|d| format!("{} diagnostics", d.len()))
    }

    fn watched(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

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
        let entities = format!("{}/../examples/session-store/entities.json", env!("CARGO_MANIFEST_DIR"));
        let shared = Shared::new(
            Arc::new(Example),
            Arc::new(reaper_server::backend::memory::MemoryBackend::new()),
            reaper_server::metrics::Metrics::install(),
            Options {
                entities_file: Some(entities.into()),
                admin_token: Some("sesame".into()),
                limits: reaper_server::Limits::default(),
                envoy: reaper_server::EnvoyOptions::default(),
                clock: runtime.block_on(async { reaper_server::clock::Clock::system() }),
            },
        )
        .expect("the example loads");
        let app = reaper_server::http::router(Arc::new(shared));
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
