//! `reaper serve` with `[auth]`, as users run it: the real binary on
//! ephemeral loopback ports, tokens signed in the test with the fixed test
//! keys of `tests/auth/` (RSA 2048 and EC P-256, and a JWKS of them).
//! Every kind of bad token gets its 401 and reason; claims become the
//! principal and context of store calls and of `/v1/authorize`; the API's
//! own rate limit answers 429 per client; gRPC asks for the token too; a
//! rotated JWKS is picked up on SIGHUP and the admin reload; a
//! configuration that does not hold stops `reaper serve` with the key and
//! the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::{Response, Server};
use common::{scratch, stderr, workspace, write};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reaper_proto::v1 as pb;
use reaper_proto::v1::reaper_client::ReaperClient;
use serde_json::{Value, json};

fn keys() -> PathBuf {
    workspace().join("tests/auth")
}

fn key(name: &str) -> String {
    keys().join(name).display().to_string()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims of a valid token for `sub`.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "aud": "reaper", "iss": "https://issuer.test", "exp": now() + 600, "tenant_id": "acme"})
}

fn sign_with(alg: Algorithm, key_file: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(keys().join(key_file)).unwrap();
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::HS256 => EncodingKey::from_secret(&pem),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn sign(claims: &Value) -> String {
    sign_with(Algorithm::RS256, "rsa.pem", Some("rsa-1"), claims)
}

/// The `[auth]` every test starts from: the JWKS, RS256 and ES256, an
/// audience and an issuer, and the claims mapping.
fn auth_section(jwks: &str, extra: &str) -> String {
    format!(
        r#"[auth]
jwks_file = {jwks:?}
algorithms = ["RS256", "ES256"]
audiences = ["reaper"]
issuers = ["https://issuer.test"]
leeway = "5s"

[auth.principal]
type = "Service"
id_claim = "sub"
authorize = true

[auth.context]
tenant = "tenant_id"
level = "org.level"
{extra}"#
    )
}

/// Starts the server on the test policy with `config` as its file.
fn serve(dir: &Path, config: &str, extra: &[&str]) -> Server {
    let config = write(dir, "reaper.toml", config);
    let policy = key("policy.reaper");
    let entities = key("entities.json");
    let config = config.display().to_string();
    let mut args = vec![
        policy.as_str(),
        "--entities",
        &entities,
        "--no-watch",
        "--config",
        &config,
    ];
    args.extend_from_slice(extra);
    Server::start(dir, &args)
}

fn call(server: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Response {
    call_with(server, method, path, token, &[], body)
}

fn call_with(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(bearer) = &bearer {
        all.push(("authorization", bearer));
    }
    server.client().send(method, path, &all, body.as_bytes())
}

const READ: &str = r#"{"action":"read","resource":{"type":"Doc","id":"d"}}"#;

fn assert_refused(response: &Response, reason: &str) {
    assert_eq!(response.status, 401, "{}", response.text());
    let body = response.json();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(reason), "{message} (expected {reason})");
    let challenge = response.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
}

#[test]
fn every_bad_token_gets_401_with_its_reason_and_a_valid_one_passes() {
    let dir = scratch("auth-tokens");
    write(&dir, "admin-token", "s3cret");
    let server = serve(
        &dir,
        &format!(
            "admin_token_file = {:?}\n{}",
            dir.join("admin-token").display().to_string(),
            auth_section(&key("jwks.json"), "")
        ),
        &[],
    );
    let ok = call(
        &server,
        "POST",
        "/v1/authorize",
        Some(&sign(&claims("api"))),
        READ,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["decision"], "allow");
    let es = sign_with(Algorithm::ES256, "ec.pem", Some("ec-1"), &claims("api"));
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&es), READ).status,
        200
    );

    assert_refused(
        &call(&server, "POST", "/v1/authorize", None, READ),
        "no bearer token",
    );
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims("api");
        change(&mut c);
        sign(&c)
    };
    let cases: Vec<(String, &str)> = vec![
        (with(&|c| c["exp"] = json!(now() - 3600)), "expired"),
        (with(&|c| c["nbf"] = json!(now() + 3600)), "not valid yet"),
        (with(&|c| c["aud"] = json!("someone-else")), "audience"),
        (with(&|c| c["iss"] = json!("https://evil.test")), "issuer"),
        (
            sign_with(Algorithm::RS256, "rsa2.pem", Some("rsa-1"), &claims("api")),
            "signature does not verify",
        ),
        (
            sign_with(Algorithm::RS256, "rsa2.pem", Some("rsa-9"), &claims("api")),
            "no key has the token's kid `rsa-9`",
        ),
        (
            sign_with(Algorithm::HS256, "jwks.json", None, &claims("api")),
            "signed with `HS256`, which auth.algorithms does not allow",
        ),
        ("not-a-jwt".to_owned(), "not a JWT"),
    ];
    for (token, reason) in &cases {
        assert_refused(
            &call(&server, "POST", "/v1/authorize", Some(token), READ),
            reason,
        );
    }
    // `alg: none`, by hand: the claims of a valid token, no signature.
    let valid = sign(&claims("api"));
    let payload = valid.split('.').nth(1).unwrap();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert_refused(
        &call(&server, "POST", "/v1/authorize", Some(&none), READ),
        "`alg: none`",
    );

    // The store and status need the token too; health, readiness, metrics
    // and the OpenAPI document do not; the admin API keeps its own token.
    assert_eq!(call(&server, "GET", "/v1/status", None, "").status, 401);
    assert_eq!(
        call(&server, "GET", "/v1/store/notes/k", None, "").status,
        401
    );
    for open in ["/health/live", "/health/ready", "/v1/openapi.json"] {
        assert_eq!(call(&server, "GET", open, None, "").status, 200, "{open}");
    }
    let reload = call_with(
        &server,
        "POST",
        "/v1/admin/reload",
        None,
        &[("authorization", "Bearer s3cret")],
        "",
    );
    assert_eq!(reload.status, 200, "{}", reload.text());
    let metrics = call(&server, "GET", "/metrics", None, "").text();
    for reason in [
        "missing",
        "expired",
        "not_yet_valid",
        "audience",
        "issuer",
        "signature",
        "unknown_key",
        "algorithm",
        "malformed",
    ] {
        assert!(
            metrics.contains(&format!(
                "reaper_auth_rejected_total{{reason=\"{reason}\"}}"
            )),
            "{reason} not counted:\n{metrics}"
        );
    }
}

#[test]
fn claims_become_the_principal_and_context_of_store_calls_and_decisions() {
    let dir = scratch("auth-claims");
    let server = serve(&dir, &auth_section(&key("jwks.json"), ""), &[]);
    let api = sign(&claims("api"));

    // The store: the token's subject writes and reads, no header needed.
    let put = call(
        &server,
        "PUT",
        "/v1/store/notes/k?ttl=5m",
        Some(&api),
        "hello",
    );
    assert_eq!(put.status, 201, "{}", put.text());
    let get = call(&server, "GET", "/v1/store/notes/k", Some(&api), "");
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.body, b"hello");
    // A header naming the same principal is fine; another is refused.
    let same = call_with(
        &server,
        "GET",
        "/v1/store/notes/k",
        Some(&api),
        &[("x-reaper-principal", "Service::\"api\"")],
        "",
    );
    assert_eq!(same.status, 200);
    let other = call_with(
        &server,
        "GET",
        "/v1/store/notes/k",
        Some(&api),
        &[("x-reaper-principal", "Service::\"billing\"")],
        "",
    );
    assert_eq!(other.status, 403, "{}", other.text());
    assert_eq!(other.json()["error"]["code"], "principal_mismatch");
    // The policy decides with the token's principal: `intruder` is in no
    // team.
    let intruder = sign(&claims("intruder"));
    let denied = call(&server, "GET", "/v1/store/notes/k", Some(&intruder), "");
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.json()["error"]["code"], "denied");

    // `/v1/authorize` is bound to the token: principal and tenant.
    let decided = call(&server, "POST", "/v1/authorize", Some(&api), READ).json();
    assert_eq!(decided["decision"], "allow", "{decided}");
    let mut elsewhere = claims("api");
    elsewhere["tenant_id"] = json!("globex");
    let decided = call(
        &server,
        "POST",
        "/v1/authorize",
        Some(&sign(&elsewhere)),
        READ,
    )
    .json();
    assert_eq!(decided["decision"], "deny", "{decided}");
    let named = r#"{"principal":{"type":"Service","id":"billing"},"action":"read","resource":{"type":"Doc","id":"d"}}"#;
    let refused = call(&server, "POST", "/v1/authorize", Some(&api), named);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"]["code"], "principal_mismatch");
    let tenant =
        r#"{"action":"read","resource":{"type":"Doc","id":"d"},"context":{"tenant":"globex"}}"#;
    let refused = call(&server, "POST", "/v1/authorize", Some(&api), tenant);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"]["code"], "context_mismatch");

    // A claim of the wrong type for its field: named, with the field.
    let mut wrong = claims("api");
    wrong["org"] = json!({"level": "high"});
    let wrong = sign(&wrong);
    for response in [
        call(&server, "POST", "/v1/authorize", Some(&wrong), READ),
        call(&server, "GET", "/v1/store/notes/k", Some(&wrong), ""),
    ] {
        assert_eq!(response.status, 401, "{}", response.text());
        let message = response.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("claim `org.level`") && message.contains("`context.level`"),
            "{message}"
        );
    }
    // A principal claim of the wrong type.
    let mut numeric = claims("api");
    numeric["sub"] = json!(42);
    assert_refused(
        &call(
            &server,
            "POST",
            "/v1/authorize",
            Some(&sign(&numeric)),
            READ,
        ),
        "claim `sub` (the principal's id): expected a string, found a number",
    );
}

#[test]
fn the_api_rate_limit_refuses_one_client_while_another_gets_through() {
    let dir = scratch("auth-ratelimit");
    let server = serve(
        &dir,
        &auth_section(
            &key("jwks.json"),
            "\n[auth.rate_limit]\ndomain = \"reaper_api\"\n",
        ),
        &[],
    );
    // `per_client` is 5 a minute, clock-aligned: start in a fresh minute.
    std::thread::sleep(common::until_fresh_minute(Duration::from_secs(10)));
    let api = sign(&claims("api"));
    for i in 0..5 {
        let ok = call(&server, "POST", "/v1/authorize", Some(&api), READ);
        assert_eq!(ok.status, 200, "call {i}: {}", ok.text());
    }
    let limited = call(&server, "POST", "/v1/authorize", Some(&api), READ);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let billing = sign(&claims("billing"));
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&billing), READ).status,
        200
    );
    // Counted through the policy's domain like any rate-limit request.
    let metrics = call(&server, "GET", "/metrics", None, "").text();
    assert!(
        metrics.contains(
            "reaper_ratelimit_over_limit_total{domain=\"reaper_api\",limit=\"per_client\"} 1"
        ),
        "{metrics}"
    );
}

/// A gRPC request carrying `token` in its `authorization` metadata.
fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn grpc_asks_for_the_token_but_envoy_services_are_exempt() {
    let dir = scratch("auth-grpc");
    let server = serve(&dir, &auth_section(&key("jwks.json"), ""), &[]);
    let channel = tonic::transport::Channel::from_shared(server.grpc_uri())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ReaperClient::new(channel.clone());
    let refused = client.status(pb::StatusRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(refused.message().contains("no bearer token"), "{refused:?}");

    let token = sign(&claims("api"));
    let status = client
        .status(with_token(&token, pb::StatusRequest {}))
        .await
        .unwrap();
    assert_eq!(status.into_inner().policy.unwrap().package, "authapi");
    // The principal and tenant come from the token.
    let decided = client
        .authorize(with_token(
            &token,
            pb::AuthorizeRequest {
                action: "read".into(),
                resource: Some(pb::Entity {
                    r#type: "Doc".into(),
                    id: "d".into(),
                    ..pb::Entity::default()
                }),
                ..pb::AuthorizeRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.decision, pb::Effect::Allow as i32, "{decided:?}");
    let mut expired = claims("api");
    expired["exp"] = json!(now() - 3600);
    let refused = client
        .status(with_token(&sign(&expired), pb::StatusRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(refused.message().contains("expired"), "{refused:?}");

    // Envoy's ext_authz answers without a token (it relies on mTLS).
    let mut envoy =
        envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::new(
            channel,
        );
    let check = envoy
        .check(envoy_types::pb::envoy::service::auth::v3::CheckRequest::default())
        .await;
    if let Err(status) = check {
        assert_ne!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    }
}

#[test]
fn a_rotated_jwks_is_picked_up_on_sighup_and_admin_reload() {
    let dir = scratch("auth-rotation");
    let jwks = dir.join("jwks.json");
    std::fs::copy(keys().join("jwks.json"), &jwks).unwrap();
    write(&dir, "admin-token", "s3cret");
    let server = serve(
        &dir,
        &format!(
            "admin_token_file = {:?}\n{}",
            dir.join("admin-token").display().to_string(),
            auth_section(&jwks.display().to_string(), "")
        ),
        &[],
    );
    let old = sign(&claims("api"));
    let new = sign_with(Algorithm::RS256, "rsa2.pem", Some("rsa-2"), &claims("api"));
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&old), READ).status,
        200
    );
    assert_refused(
        &call(&server, "POST", "/v1/authorize", Some(&new), READ),
        "no key has the token's kid `rsa-2`",
    );

    // Rotate: the new key in, the old one out; SIGHUP.
    std::fs::copy(keys().join("jwks-rotated.json"), &jwks).unwrap();
    server.signal("HUP");
    server
        .wait_for_log("policy reloaded", Duration::from_secs(30))
        .unwrap_or_else(|seen| panic!("no reload: {seen:?}"));
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&new), READ).status,
        200
    );
    assert_refused(
        &call(&server, "POST", "/v1/authorize", Some(&old), READ),
        "no key has the token's kid `rsa-1`",
    );

    // A broken JWKS refuses the reload, reported as a refused policy
    // reload is, and the keys in use stay.
    std::fs::write(&jwks, "{ not json").unwrap();
    let admin = [("authorization", "Bearer s3cret")];
    let refused = call_with(&server, "POST", "/v1/admin/reload", None, &admin, "");
    assert_eq!(refused.status, 422, "{}", refused.text());
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.starts_with("auth.jwks_file: "), "{message}");
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&new), READ).status,
        200
    );
    let status = call(&server, "GET", "/v1/status", Some(&new), "").json();
    assert_eq!(status["last_reload"]["ok"], false, "{status}");

    // Rotating back through the admin endpoint.
    std::fs::copy(keys().join("jwks.json"), &jwks).unwrap();
    let reloaded = call_with(&server, "POST", "/v1/admin/reload", None, &admin, "");
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    assert_eq!(
        call(&server, "POST", "/v1/authorize", Some(&old), READ).status,
        200
    );
}

/// Runs `reaper serve` with `config`, expecting it to refuse to start
/// (bounded: a server that does start is killed); its exit code and
/// stderr.
fn refused_start(dir: &Path, config: &str) -> (i32, String) {
    let config = write(dir, "reaper.toml", config);
    let mut child = common::reaper(dir)
        .args([
            "serve",
            &key("policy.reaper"),
            "--entities",
            &key("entities.json"),
        ])
        .args(["--no-watch", "--http", "127.0.0.1:0", "--grpc", "off"])
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            return (output.status.code().unwrap_or(-1), stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("reaper serve started with {}", config.display());
}

#[test]
fn a_configuration_that_does_not_hold_stops_the_server_naming_the_key() {
    let dir = scratch("auth-bad-config");
    let jwks = key("jwks.json");
    let cases = [
        (
            auth_section("/nonexistent/jwks.json", ""),
            "auth.jwks_file: cannot read `/nonexistent/jwks.json`",
        ),
        (
            auth_section(&jwks, "").replace(r#"["RS256", "ES256"]"#, r#"["RS256", "XS512"]"#),
            "auth.algorithms: unknown algorithm `XS512`",
        ),
        (
            auth_section(&jwks, "").replace(r#"["RS256", "ES256"]"#, r#"["HS256"]"#),
            "auth.algorithms: `HS256` is an HMAC algorithm: allowed only with auth.hmac_secret_file",
        ),
        (
            auth_section(&jwks, "").replace(r#"type = "Service""#, r#"type = "Robot""#),
            "auth.principal.type: the policy declares no entity type `Robot`",
        ),
        (
            auth_section(&jwks, "region = \"region\"\n"),
            "auth.context.region: no action of the policy has a context field `region`",
        ),
        (
            auth_section(&jwks, "\n[auth.rate_limit]\ndomain = \"api\"\n"),
            "auth.rate_limit.domain: the policy declares no ratelimit domain `api` (it declares reaper_api)",
        ),
    ];
    for (config, expected) in cases {
        let (code, stderr) = refused_start(&dir, &config);
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains(expected), "expected {expected}:\n{stderr}");
    }
}
