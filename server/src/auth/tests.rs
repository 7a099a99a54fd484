//! `[auth]` checked without sockets: settings refused with the key at
//! fault, every kind of bad token refused with its reason, and the HTTP
//! layer driven with `oneshot` (401 and its challenge, open routes, the
//! token's principal in the store, the API's rate limit).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use reaper_runtime::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Auth, AuthError};
use crate::AuthSettings;
use crate::backend::memory::MemoryBackend;
use crate::clock::Clock;
use crate::config::Limits;
use crate::http::tests::Source;
use crate::state::{Options, Shared};

const POLICY: &str = r#"
package a
entity Team
entity Service in [Team] { env: String }
entity Doc
action read on Doc by Service
context { tenant?: String, level?: Int }
store notes by [Service] { ttl 10m, max_ttl 1h }
@id("notes") permit [store.read, store.write] on store notes when principal in Team::"backend";
@id("docs") permit read on Doc when principal in Team::"backend" && context has tenant && context.tenant == "acme";
ratelimit "reaper_api" { limit per_client: 2 per minute when descriptor.client like "limited*" by descriptor.client; }
"#;

const ENTITIES: &str = r#"[
  { "type": "Team", "id": "backend" },
  { "type": "Service", "id": "api", "attrs": { "env": "prod" }, "parents": [{ "type": "Team", "id": "backend" }] },
  { "type": "Service", "id": "billing", "attrs": { "env": "prod" } }
]"#;

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/auth")
}

fn engine() -> Engine {
    let source = Source(Mutex::new(POLICY.to_owned()));
    Engine::load(&crate::state::PolicyLoader::load(&source).unwrap()).unwrap()
}

fn settings(toml: &str) -> AuthSettings {
    let dir = keys_dir().display().to_string();
    toml::from_str(&toml.replace("KEYS", &dir)).unwrap()
}

const BASE: &str = r#"
public_keys = ["KEYS/rsa.pub.pem", { file = "KEYS/ec.pub.pem", kid = "ec-1" }]
algorithms = ["RS256", "ES256"]
audiences = ["reaper"]
issuers = ["https://issuer.test"]
"#;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(alg: Algorithm, key_file: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(keys_dir().join(key_file)).unwrap();
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Claims of a valid token; each with its own client id (`cid`), so the
/// API's rate limit counts every token apart unless a test says not.
fn claims(sub: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cid = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"sub": sub, "aud": "reaper", "iss": "https://issuer.test", "exp": now() + 600, "cid": format!("c{cid}")})
}

fn reason(auth: &Auth, token: &str) -> &'static str {
    auth.authenticate(Some(format!("Bearer {token}").as_bytes()))
        .err()
        .map_or("accepted", |r| r.reason)
}

#[test]
fn every_bad_token_is_refused_with_its_reason() {
    let auth = Auth::build(&settings(BASE), &engine()).unwrap();
    let good = |c: &Value| sign(Algorithm::RS256, "rsa.pem", None, c);
    assert_eq!(reason(&auth, &good(&claims("api"))), "accepted");
    assert_eq!(
        reason(
            &auth,
            &sign(Algorithm::ES256, "ec.pem", Some("ec-1"), &claims("api"))
        ),
        "accepted"
    );
    let mut expired = claims("api");
    expired["exp"] = json!(now() - 3600);
    assert_eq!(reason(&auth, &good(&expired)), "expired");
    let mut early = claims("api");
    early["nbf"] = json!(now() + 3600);
    assert_eq!(reason(&auth, &good(&early)), "not_yet_valid");
    let mut audience = claims("api");
    audience["aud"] = json!("elsewhere");
    assert_eq!(reason(&auth, &good(&audience)), "audience");
    let mut issuer = claims("api");
    issuer["iss"] = json!("https://evil.test");
    assert_eq!(reason(&auth, &good(&issuer)), "issuer");
    let mut no_exp = claims("api");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(&auth, &good(&no_exp)), "missing_claim");
    assert_eq!(
        reason(
            &auth,
            &sign(Algorithm::RS256, "rsa2.pem", None, &claims("api"))
        ),
        "signature"
    );
    assert_eq!(
        reason(
            &auth,
            &sign(Algorithm::ES256, "ec.pem", Some("nope"), &claims("api"))
        ),
        "unknown_key"
    );
    // RS384 is not allowed, though the key could verify it.
    assert_eq!(
        reason(
            &auth,
            &sign(Algorithm::RS384, "rsa.pem", None, &claims("api"))
        ),
        "algorithm"
    );
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("api"),
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    assert_eq!(reason(&auth, &hs), "algorithm");
    let token = good(&claims("api"));
    let (_, rest) = token.split_once('.').unwrap();
    let payload = rest.split_once('.').unwrap().0;
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert_eq!(reason(&auth, &none), "algorithm");
    assert_eq!(reason(&auth, "garbage"), "malformed");
    assert_eq!(
        auth.authenticate(None).err().map(|r| r.reason),
        Some("missing")
    );
    assert_eq!(
        auth.authenticate(Some(b"Basic abc"))
            .err()
            .map(|r| r.reason),
        Some("missing")
    );
}

#[test]
fn an_hmac_secret_must_be_configured_for_hs256() {
    let dir = crate::http::tests::TempDir::new();
    let secret = dir.0.join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let settings: AuthSettings = toml::from_str(&format!(
        "hmac_secret_file = {:?}\nalgorithms = [\"HS256\"]",
        secret.display().to_string()
    ))
    .unwrap();
    let auth = Auth::build(&settings, &engine()).unwrap();
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "api", "exp": now() + 60}),
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    assert_eq!(reason(&auth, &hs), "accepted");
    std::fs::write(&secret, "short").unwrap();
    let error = Auth::build(&settings, &engine()).unwrap_err().to_string();
    assert!(error.starts_with("auth.hmac_secret_file: "), "{error}");
}

fn build_error(toml: &str) -> String {
    match Auth::build(&settings(toml), &engine()) {
        Ok(_) => panic!("accepted {toml}"),
        Err(AuthError::Setting { key, reason }) => format!("{key}: {reason}"),
    }
}

#[test]
fn settings_that_do_not_hold_are_refused_naming_the_key() {
    let cases = [
        (
            r#"public_keys = ["KEYS/missing.pem"]
algorithms = ["RS256"]"#,
            "auth.public_keys[0]: cannot read",
        ),
        (
            r#"jwks_file = "KEYS/missing.json"
algorithms = ["RS256"]"#,
            "auth.jwks_file: cannot read",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["RS257"]"#,
            "auth.algorithms: unknown algorithm `RS257`",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["none"]"#,
            "auth.algorithms: `none`",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]"#,
            "auth.algorithms: required",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["ES256"]"#,
            "auth.algorithms: no configured key",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pem"]
algorithms = ["RS256"]"#,
            "auth.public_keys[0]: ",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["RS256"]
principal = { type = "User" }"#,
            "auth.principal.type: the policy declares no entity type `User`",
        ),
        (
            r#"public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["RS256"]
context = { region = "region" }"#,
            "auth.context.region: no action of the policy has a context field `region`",
        ),
        (
            r#"rate_limit = { domain = "api" }"#,
            "auth.rate_limit.domain: the policy declares no ratelimit domain `api`",
        ),
        (
            r#"principal = { type = "Service" }"#,
            "auth.principal: maps claims, but no token is required",
        ),
    ];
    for (toml, expected) in cases {
        let error = build_error(toml);
        assert!(error.starts_with(expected), "{toml}\n→ {error}");
    }
}

#[test]
fn a_jwks_is_read_and_its_keys_found_by_kid() {
    let auth = Auth::build(
        &settings(
            r#"jwks_file = "KEYS/jwks.json"
algorithms = ["RS256", "ES256"]"#,
        ),
        &engine(),
    )
    .unwrap();
    let c = json!({"sub": "api", "exp": now() + 60});
    assert_eq!(
        reason(&auth, &sign(Algorithm::RS256, "rsa.pem", Some("rsa-1"), &c)),
        "accepted"
    );
    assert_eq!(
        reason(&auth, &sign(Algorithm::RS256, "rsa.pem", None, &c)),
        "accepted"
    );
    assert_eq!(
        reason(
            &auth,
            &sign(Algorithm::RS256, "rsa2.pem", Some("rsa-2"), &c)
        ),
        "unknown_key"
    );
}

struct App {
    app: axum::Router,
}

fn app(toml: &str) -> App {
    let dir = crate::http::tests::TempDir::new();
    let entities = dir.0.join("entities.json");
    std::fs::write(&entities, ENTITIES).unwrap();
    let shared = Shared::new(
        Arc::new(Source(Mutex::new(POLICY.to_owned()))),
        Arc::new(MemoryBackend::new()),
        crate::metrics::Metrics::install(),
        Options {
            entities_file: Some(entities),
            admin_token: None,
            limits: Limits::default(),
            envoy: crate::config::EnvoyOptions::default(),
            clock: Clock::system(),
            decisions: crate::observe::DecisionLog::off(),
            audit: crate::observe::AuditLog::to_log(),
        },
    )
    .unwrap();
    let shared = Arc::new(super::attach(shared, &settings(toml)).unwrap());
    App {
        app: crate::http::router(shared),
    }
}

impl App {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, json)
    }
}

const MAPPED: &str = r#"
public_keys = ["KEYS/rsa.pub.pem"]
algorithms = ["RS256"]
principal = { type = "Service", authorize = true }
context = { tenant = "tenant_id", level = "org.level" }
rate_limit = { domain = "reaper_api", client_claim = "cid" }
"#;

#[tokio::test]
async fn the_http_api_needs_a_token_and_binds_the_caller_to_it() {
    let app = app(MAPPED);
    let (status, headers, body) = app.call("POST", "/v1/authorize", None, &[], "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge
            .starts_with("Bearer error=\"invalid_token\", error_description=\"no bearer token"),
        "{challenge}"
    );
    for open in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/v1/openapi.json",
    ] {
        assert_eq!(
            app.call("GET", open, None, &[], "").await.0,
            StatusCode::OK,
            "{open}"
        );
    }

    let mut c = claims("api");
    c["tenant_id"] = json!("acme");
    let token = sign(Algorithm::RS256, "rsa.pem", None, &c);
    let read = r#"{"action":"read","resource":{"type":"Doc","id":"d"}}"#;
    let (status, _, body) = app
        .call("POST", "/v1/authorize", Some(&token), &[], read)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "allow");
    let other = r#"{"principal":{"type":"Service","id":"billing"},"action":"read","resource":{"type":"Doc","id":"d"}}"#;
    let (status, _, body) = app
        .call("POST", "/v1/authorize", Some(&token), &[], other)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "principal_mismatch");

    // The store: the token's principal, with or without the header.
    let (status, _, body) = app
        .call("PUT", "/v1/store/notes/k", Some(&token), &[], "v")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = app
        .call(
            "GET",
            "/v1/store/notes/k",
            Some(&token),
            &[("x-reaper-principal", "Service::\"billing\"")],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "principal_mismatch");

    // A claim of the wrong type for its field.
    let mut bad = claims("api");
    bad["org"] = json!({"level": "high"});
    let bad = sign(Algorithm::RS256, "rsa.pem", None, &bad);
    let (status, headers, body) = app
        .call("POST", "/v1/authorize", Some(&bad), &[], read)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("claim `org.level`") && message.contains("`context.level`"),
        "{message}"
    );
    assert!(headers.contains_key("www-authenticate"));

    // The API's limit: 2 a minute per client; another client still gets
    // through.
    let mut limited = claims("api");
    limited["tenant_id"] = json!("acme");
    limited["cid"] = json!("limited-1");
    let limited = sign(Algorithm::RS256, "rsa.pem", None, &limited);
    for _ in 0..2 {
        let (status, _, body) = app
            .call("POST", "/v1/authorize", Some(&limited), &[], read)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = app
        .call("POST", "/v1/authorize", Some(&limited), &[], read)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let billing = sign(Algorithm::RS256, "rsa.pem", None, &claims("billing"));
    let (status, _, body) = app
        .call("POST", "/v1/authorize", Some(&billing), &[], read)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn routes_are_open_admin_envoy_or_api() {
    use super::{Scope, grpc_guard, http_guard};
    for (route, scope) in [
        ("/health/live", Scope::Open),
        ("/health/ready", Scope::Open),
        ("/metrics", Scope::Open),
        ("/v1/openapi.json", Scope::Open),
        ("/v1/admin/reload", Scope::Admin),
        ("/v1/admin/entities/{type}/{id}", Scope::Admin),
        ("/v1/ext_authz/{*path}", Scope::Envoy),
        ("/v1/ext_authz/", Scope::Envoy),
        ("/v1/authorize", Scope::Api),
        ("/access/v1/evaluation", Scope::Api),
        ("/v1/store/{namespace}/{key}", Scope::Api),
        ("/v1/status", Scope::Api),
        ("/v1/ratelimit", Scope::Api),
    ] {
        assert_eq!(http_guard::scope(route), scope, "{route}");
    }
    for (method, scope) in [
        ("/grpc.health.v1.Health/Check", Scope::Open),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Scope::Open,
        ),
        ("/reaper.v1.Reaper/Reload", Scope::Admin),
        ("/envoy.service.auth.v3.Authorization/Check", Scope::Envoy),
        (
            "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
            Scope::Envoy,
        ),
        ("/reaper.v1.Reaper/Status", Scope::Api),
        ("/reaper.v1.Reaper/StorePut", Scope::Api),
    ] {
        assert_eq!(grpc_guard::scope(method), scope, "{method}");
    }
}
