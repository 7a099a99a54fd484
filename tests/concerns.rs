//! All three concerns outside `test` blocks and inside them, end to end on
//! the real binary: `reaper eval --ratelimit` (Envoy's JSON, repeated hits
//! on a frozen clock), `reaper eval --http` (the `http` mapping), store
//! access with keys, rate-limit sequences and the name filter in
//! `reaper test`, and the language's IP ranges.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::{code, example, run, scratch, stderr, stdout, write};
use serde_json::{Value as Json, json};

fn lines(text: &str) -> Vec<Json> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Like lyft/ratelimit's integration tests: five logins a minute per
/// address, so the remaining count goes 4, 3, 2, 1, 0, then over the limit.
#[test]
fn ratelimit_counts_down_then_refuses() {
    let dir = scratch("eval-ratelimit");
    write(
        &dir,
        "login.json",
        r#"{"domain": "api", "descriptors": [{"entries": [
            {"key": "remote_address", "value": "203.0.113.7"},
            {"key": "path", "value": "/v1/login"}]}]}"#,
    );
    let out = run(
        &dir,
        &[
            "eval",
            &example("api-gateway"),
            "--ratelimit",
            "login.json",
            "--now",
            "2026-01-01T00:00:10Z",
            "--repeat",
            "6",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let answers = lines(&stdout(&out));
    let seen: Vec<(String, u64, String)> = answers
        .iter()
        .map(|a| {
            let status = &a["statuses"][0];
            (
                a["overall_code"].as_str().unwrap().to_owned(),
                status["limit_remaining"].as_u64().unwrap(),
                status["current_limit"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = [
        ("OK", 4),
        ("OK", 3),
        ("OK", 2),
        ("OK", 1),
        ("OK", 0),
        ("OVER_LIMIT", 0),
    ]
    .iter()
    .map(|(c, r)| ((*c).to_owned(), *r, "login".to_owned()))
    .collect();
    assert_eq!(seen, want);
    let last = &answers[5]["statuses"][0];
    assert_eq!(
        last["current_limit"],
        json!({ "name": "login", "requests_per_unit": 5, "unit": "MINUTE" })
    );
    assert_eq!(last["duration_until_reset"], "50s");
    // Every applying limit is reported: the 10-second per-address limit too.
    let names: Vec<&str> = last["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["per_ip", "login"]);
}

#[test]
fn ratelimit_requests_are_validated() {
    let dir = scratch("eval-ratelimit-invalid");
    write(
        &dir,
        "bad.json",
        r#"{"domain": "api", "descriptors": [{"entries": [{"key": "path"}]}]}"#,
    );
    let out = run(
        &dir,
        &["eval", &example("api-gateway"), "--ratelimit", "bad.json"],
    );
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "error: bad.json: invalid rate-limit request: `descriptors[0].entries[0].value`: missing\n"
    );
    write(
        &dir,
        "domain.json",
        r#"{"domain": "nope", "descriptors": []}"#,
    );
    let out = run(
        &dir,
        &[
            "eval",
            &example("api-gateway"),
            "--ratelimit",
            "domain.json",
        ],
    );
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "error: no rate-limit domain \"nope\" is declared\n"
    );
}

const GATEWAY_ENTITIES: &str = r#"[
  {"type": "User", "id": "ana", "attrs": {"plan": "pro", "suspended": false, "scopes": [], "projects": 2},
   "parents": [{"type": "Team", "id": "web"}]},
  {"type": "Team", "id": "web", "parents": [{"type": "Org", "id": "acme"}]},
  {"type": "Project", "id": "site", "attrs": {"org": {"type": "Org", "id": "acme"},
   "owner": {"type": "User", "id": "ana"}, "public": false, "archived": false}}
]"#;

fn http_request(method: &str, path: &str, headers: Json) -> String {
    let entities: Json = serde_json::from_str(GATEWAY_ENTITIES).unwrap();
    json!({
        "method": method,
        "path": path,
        "headers": headers,
        "source_ip": "10.0.4.2",
        "time": "2026-02-10T12:00:00Z",
        "entities": entities,
    })
    .to_string()
}

#[test]
fn http_requests_map_through_the_http_block() {
    let dir = scratch("eval-http");
    write(
        &dir,
        "delete.json",
        http_request(
            "DELETE",
            "/v1/projects/site?force=1",
            json!({ "x-user-id": "ana", "x-mfa": "true" }),
        ),
    );
    let out = run(
        &dir,
        &["eval", &example("api-gateway"), "--http", "delete.json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let answer: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["decision"], "allow", "{answer}");
    assert_eq!(answer["reasons"], json!(["owner"]));
    assert_eq!(
        answer["request"],
        json!({
            "principal": { "type": "User", "id": "ana" },
            "action": "delete",
            "resource": { "type": "Project", "id": "site" },
            "context": { "mfa": true, "now": "2026-02-10T12:00:00Z", "source_ip": "10.0.4.2" },
        })
    );

    // Without the MFA header the same request is refused by the policy.
    write(
        &dir,
        "no-mfa.json",
        http_request("DELETE", "/v1/projects/site", json!({ "x-user-id": "ana" })),
    );
    let out = run(
        &dir,
        &["eval", &example("api-gateway"), "--http", "no-mfa.json"],
    );
    let answer: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["decision"], "deny");
    assert_eq!(answer["reasons"], json!(["delete-needs-mfa"]));

    // No principal header, no route: denied, with the reason.
    for (file, method, path, headers, why) in [
        (
            "anonymous.json",
            "GET",
            "/v1/projects/site",
            json!({}),
            "mapping the principal failed: header `x-user-id` is missing",
        ),
        (
            "unrouted.json",
            "GET",
            "/v1/nowhere",
            json!({ "x-user-id": "ana" }),
            "no route matches GET /v1/nowhere",
        ),
    ] {
        write(&dir, file, http_request(method, path, headers));
        let out = run(&dir, &["eval", &example("api-gateway"), "--http", file]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let answer: Json = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(answer["decision"], "deny");
        assert_eq!(answer["errors"], json!([{ "mapping": why }]), "{answer}");
    }
}

#[test]
fn http_requests_are_validated() {
    let dir = scratch("eval-http-invalid");
    for (file, body, why) in [
        (
            "syntax.json",
            "{",
            "malformed JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            "twice.json",
            r#"{"method": "GET", "method": "PUT"}"#,
            "`method`: this key is given twice in its object",
        ),
        (
            "unknown.json",
            r#"{"verb": "GET"}"#,
            "`verb`: unknown field; expected one of method, path, host, headers, source_ip, time, entities",
        ),
        (
            "missing.json",
            r#"{"path": "/", "source_ip": "10.0.0.1"}"#,
            "`method`: missing",
        ),
        (
            "header.json",
            r#"{"method": "GET", "path": "/", "source_ip": "10.0.0.1", "headers": {"x-mfa": true}}"#,
            "`headers.x-mfa`: expected a string, found a boolean",
        ),
        (
            "address.json",
            r#"{"method": "GET", "path": "/", "source_ip": "10.0.0"}"#,
            "`source_ip`: ",
        ),
    ] {
        write(&dir, file, body);
        let out = run(&dir, &["eval", &example("api-gateway"), "--http", file]);
        assert_eq!(code(&out), 1, "{file}: {}", stdout(&out));
        let expected = format!("error: {file}: invalid HTTP request: {why}");
        assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
    }
}

/// Regression (issue 7, defect 2): an address is `in` a set of networks
/// when one of them holds it; it used to be compared for equality with the
/// set's elements, so `10.1.2.3 in [10.0.0.0/8]` was false.
#[test]
fn ip_in_a_set_of_ranges_is_containment() {
    let dir = scratch("ip-in-ranges");
    write(
        &dir,
        "policy.reaper",
        r#"entity User
entity Org { allowlist: Set<Ip> }
entity Repo { org: Org }
action pull on Repo by User
context { source_ip: Ip }

@id("org-networks")
permit pull on Repo when context.source_ip in resource.org.allowlist;

@id("literal")
permit pull on Repo when resource.org.allowlist.contains(context.source_ip) && context.source_ip in [192.168.0.0/16, 10.0.0.0/8];
"#,
    );
    let request = |ip: &str| {
        json!({
            "principal": { "type": "User", "id": "ana" },
            "action": "pull",
            "resource": { "type": "Repo", "id": "r", "attrs": { "org": { "type": "Org", "id": "o" } } },
            "context": { "source_ip": ip },
            "entities": [{ "type": "Org", "id": "o", "attrs": { "allowlist": ["10.0.0.0/8", "2001:db8::/32"] } }],
        })
        .to_string()
    };
    for (ip, reasons) in [
        ("10.1.2.3", json!(["org-networks", "literal"])),
        ("2001:db8::7", json!(["org-networks"])),
        ("11.1.2.3", json!([])),
    ] {
        write(&dir, "request.json", request(ip));
        let out = run(
            &dir,
            &["eval", "policy.reaper", "--request", "request.json"],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let answer: Json = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(answer["reasons"], reasons, "{ip}: {answer}");
    }
}

const SEQUENCES: &str = r#"ratelimit "api" {
  limit login: 2 per minute when descriptor has ip by descriptor.ip;
}

test "login sequence" {
  expect ratelimit "api" { ip: "1.2.3.4" } {
    2 hits => ok;
    1 hit => over_limit login, remaining 0, reset 1m;
    at 1m: 1 hit => ok, remaining 1;
  };
}

test "a wrong expectation" {
  expect ratelimit "api" { ip: "1.2.3.4" } {
    3 hits => ok;
  };
}
"#;

#[test]
fn test_runs_rate_limit_sequences_and_filters_by_name() {
    let dir = scratch("test-sequences");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    write(&dir.join("pkg"), "limits.reaper", SEQUENCES);
    let out = run(&dir, &["test", "pkg"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "running 2 tests in pkg\n",
        "test login sequence ... ok\n",
        "test a wrong expectation ... FAILED\n",
        "line 15: hit 3 (at 0ms) was over_limit, expected ok",
        "test result: FAILED. 1 passed; 1 failed\n",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    let out = run(&dir, &["test", "--filter", "login", "pkg"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("running 1 test in pkg\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).ends_with("test result: ok. 1 passed; 0 failed; 1 filtered out\n"),
        "{}",
        stdout(&out)
    );
}
