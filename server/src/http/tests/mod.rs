//! Router tests: every endpoint's success and error paths, driven with
//! `tower::ServiceExt::oneshot` against a server state built from policy
//! text (no sockets). Time-dependent behaviour runs under
//! `tokio::time::pause`, on the server's clock.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use crate::backend::memory::MemoryBackend;
use crate::clock::Clock;
use crate::config::Limits;
use crate::state::{Options, PolicyLoader, Shared};

mod decisions;
mod hostile;
mod operations;
mod store;

pub const POLICY: &str = r#"
package t

entity Team in [Team]
entity User in [Team] { level: Int, email?: String }
entity Service in [Team] { env: String }
entity Doc { owner: User, public: Bool }
action read, edit on Doc by User
context { mfa: Bool }

@id("public-read") permit read on Doc when resource.public;
@id("owner") permit [read, edit] on Doc when principal == resource.owner;
@id("admins") permit * on Doc when principal in Team::"admins";
@id("needs-mfa") forbid edit on Doc when principal.level > 5 unless context.mfa;
// Overflows for a level of 2 or more: a forbid that fails.
@id("overflow") forbid edit on Doc when principal.level > 1 && principal.level * 4611686018427387904 > 0;

store sessions by [Service, User] { ttl 30m, max_ttl 2h, max_value 16B, max_keys 2 }
@id("backend-store")
permit [store.read, store.write, store.delete] on store sessions when principal in Team::"backend";

http {
  principal = User::(header("x-user-id"));
  context = { mfa: has_header("x-mfa") };
  GET "/docs/{id}" => read Doc::(param("id"));
  PUT "/docs/{id}" => edit Doc::(param("id"));
}

ratelimit "edge" {
  limit per_user: 3 per minute when descriptor has user_id by descriptor.user_id;
  limit search: 1 per minute, shadow when descriptor has path && descriptor.path == "/search" by descriptor.user_id;
}
"#;

pub const ENTITIES: &str = r#"[
  { "type": "Team", "id": "backend" },
  { "type": "Team", "id": "admins" },
  { "type": "Team", "id": "ops", "parents": [{ "type": "Team", "id": "admins" }] },
  { "type": "User", "id": "ana", "attrs": { "level": 1 }, "parents": [{ "type": "Team", "id": "ops" }] },
  { "type": "User", "id": "bo", "attrs": { "level": 1 } },
  { "type": "Service", "id": "api", "attrs": { "env": "prod" }, "parents": [{ "type": "Team", "id": "backend" }] }
]"#;

/// Policy text that tests can change, compiled on every load.
pub struct Source(pub Mutex<String>);

impl PolicyLoader for Source {
    fn load(&self) -> Result<Vec<u8>, String> {
        let mut sources = reaper_compiler::source::Sources::new();
        sources.add("policy.reaper", self.0.lock().clone());
        reaper_compiler::compile(&sources).map_err(|diagnostics| {
            diagnostics
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn watched(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

pub struct Harness {
    pub shared: Arc<Shared>,
    pub app: Router,
    pub source: Arc<Source>,
    pub entities: PathBuf,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("reaper-server-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn harness_with(policy: &str, token: Option<&str>, limits: Limits, clock: Clock) -> Harness {
    let dir = TempDir::new();
    let entities = dir.0.join("entities.json");
    std::fs::write(&entities, ENTITIES).unwrap();
    let source = Arc::new(Source(Mutex::new(policy.to_owned())));
    let shared = Arc::new(
        Shared::new(
            source.clone(),
            Arc::new(MemoryBackend::new()),
            crate::metrics::Metrics::install(),
            Options {
                entities_file: Some(entities.clone()),
                admin_token: token.map(str::to_owned),
                limits,
                envoy: crate::config::EnvoyOptions::default(),
                clock,
                decisions: crate::observe::DecisionLog::off(),
                audit: crate::observe::AuditLog::to_log(),
            },
        )
        .unwrap(),
    );
    Harness {
        app: super::router(shared.clone()),
        shared,
        source,
        entities,
        _dir: dir,
    }
}

pub fn harness() -> Harness {
    harness_with(POLICY, Some("sesame"), Limits::default(), Clock::system())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn post(app: &Router, uri: &str, body: Json) -> Reply {
    call(app, Method::POST, uri, &[], body.to_string()).await
}

pub fn doc_request(principal: &str, action: &str, owner: &str, public: bool) -> Json {
    json!({
        "principal": { "type": "User", "id": principal },
        "action": action,
        "resource": { "type": "Doc", "id": "d", "attrs": { "owner": { "type": "User", "id": owner }, "public": public } },
        "context": { "mfa": false },
    })
}

/// A caller the session policy lets into the store.
pub const STORE_HEADERS: [(&str, &str); 2] = [
    ("x-reaper-principal", "Service::\"api\""),
    ("x-reaper-context", "{\"mfa\": false}"),
];
