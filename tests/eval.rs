//! `reaper eval`, `reaper compile` and `reaper test` end to end, on the real
//! binary: the decision JSON and its exit codes, batches, explanations,
//! bundles (deterministic, equivalent to their source), and test reports
//! in both formats. Hostile bundles are in `hostile_bundles.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{PERMIT, code, example, reaper, run, scratch, stderr, stdout, workspace, write};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// The owner deletes without a second factor: `mfa-delete` forbids it.
const FORBID: &str = r#"{
  "principal": { "type": "User", "id": "alice", "attrs": { "clearance": 2, "contractor": false, "email": "alice@example.com" } },
  "action": "delete",
  "resource": { "type": "Document", "id": "plan", "attrs": { "owner": { "type": "User", "id": "alice" }, "public": false, "labels": [], "editors": [] } },
  "context": { "source_ip": "10.1.2.3", "mfa": false, "now": "2026-01-01T00:00:00Z" }
}"#;

/// A stranger edits a public document: no rule applies.
const DEFAULT_DENY: &str = r#"{
  "principal": { "type": "User", "id": "carol", "attrs": { "clearance": 0, "contractor": false } },
  "action": "edit",
  "resource": { "type": "Document", "id": "faq", "attrs": { "owner": { "type": "User", "id": "alice" }, "public": true, "labels": [], "editors": [] } },
  "context": { "source_ip": "203.0.113.9", "mfa": false, "now": "2026-01-01T00:00:00Z" }
}"#;

/// The owner reads her own public document: two permits apply.
const TWO_PERMITS: &str = r#"{
  "principal": { "type": "User", "id": "alice", "attrs": { "clearance": 2, "contractor": false } },
  "action": "read",
  "resource": { "type": "Document", "id": "faq", "attrs": { "owner": { "type": "User", "id": "alice" }, "public": true, "labels": [], "editors": [] } },
  "context": { "source_ip": "10.1.2.3", "mfa": false, "now": "2026-01-01T00:00:00Z" }
}"#;

/// Principal and resource without data: rules that read them fail.
const NO_DATA: &str = r#"{
  "principal": { "type": "User", "id": "a" },
  "action": "read",
  "resource": { "type": "Document", "id": "d" },
  "context": { "source_ip": "10.0.0.1", "mfa": true, "now": "2026-01-01T00:00:00Z" }
}"#;

/// One line of JSON, as a batch file wants it.
fn compact(request: &str) -> String {
    serde_json::from_str::<Json>(request).unwrap().to_string()
}

/// Runs `reaper eval POLICY --request FILE` (with `request` written to a
/// file of `dir`), which must succeed, and returns its output.
fn eval(dir: &Path, policy: &str, request: &str) -> Output {
    write(dir, "request.json", request);
    let out = run(dir, &["eval", policy, "--request", "request.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    out
}

fn eval_json(dir: &Path, policy: &str, request: &str) -> Json {
    let out = eval(dir, policy, request);
    assert_eq!(stderr(&out), "");
    serde_json::from_str(&stdout(&out)).expect("the decision is JSON")
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn eval_prints_the_decision_as_json() {
    let dir = scratch("eval-decisions");
    for (request, decision, reasons) in [
        (PERMIT, "allow", vec!["editors"]),
        (TWO_PERMITS, "allow", vec!["public-read", "owner-all"]),
        (FORBID, "deny", vec!["mfa-delete"]),
        (DEFAULT_DENY, "deny", vec![]),
    ] {
        let json = eval_json(&dir, &example("document-sharing"), request);
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["decision", "reasons", "errors", "policy"]);
        assert_eq!(json["decision"], decision, "{json}");
        assert_eq!(json["reasons"], json!(reasons), "{json}");
        assert_eq!(json["errors"], json!([]), "{json}");
        assert!(is_sha256_hex(json["policy"].as_str().unwrap()), "{json}");
    }
}

#[test]
fn rules_that_fail_are_listed_under_errors() {
    let dir = scratch("eval-errors");
    let json = eval_json(&dir, &example("document-sharing"), NO_DATA);
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["reasons"], json!([]));
    let errors = json["errors"].as_array().unwrap();
    assert!(
        errors.contains(&json!({
            "rule": "public-read",
            "error": "entity `Document::\"d\"` is not in the request",
        })),
        "{json}"
    );
    assert!(
        errors.contains(&json!({
            "rule": "contractors",
            "error": "entity `User::\"a\"` is not in the request",
        })),
        "{json}"
    );
}

#[test]
fn eval_reads_the_request_from_stdin() {
    let dir = scratch("eval-stdin");
    let mut child = reaper(&dir)
        .args(["eval", &example("document-sharing"), "--request", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(FORBID.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["reasons"], json!(["mfa-delete"]));
}

#[test]
fn batch_prints_one_line_per_request_and_fails_on_an_invalid_one() {
    let dir = scratch("eval-batch");
    let lines = [
        compact(PERMIT),
        r#"{"principal":{"type":"User","id":"a"},"action":"raed","resource":{"type":"Document","id":"d"}}"#.to_owned(),
        "   ".to_owned(),
        compact(DEFAULT_DENY),
        "{".to_owned(),
    ];
    write(&dir, "batch.jsonl", lines.join("\n") + "\n");
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--batch",
            "batch.jsonl",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(stderr(&out), "error: 2 invalid requests in batch.jsonl\n");
    let text = stdout(&out);
    let printed: Vec<&str> = text.lines().collect();
    assert_eq!(printed.len(), 4, "{text}");
    let rows: Vec<Json> = printed
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows[0]["line"], 1);
    assert_eq!(rows[0]["decision"], "allow");
    assert_eq!(rows[0]["reasons"], json!(["editors"]));
    assert_eq!(
        printed[1],
        r#"{"line":2,"invalid":"`action`: unknown action `raed`"}"#
    );
    // The blank line 3 is skipped, and the numbering keeps counting it.
    assert_eq!(rows[2]["line"], 4);
    assert_eq!(rows[2]["decision"], "deny");
    assert_eq!(rows[3]["line"], 5);
    assert!(
        rows[3]["invalid"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON: "),
        "{}",
        rows[3]
    );
}

#[test]
fn a_batch_of_valid_requests_succeeds() {
    let dir = scratch("eval-batch-ok");
    let lines = [compact(PERMIT), compact(FORBID), compact(DEFAULT_DENY)];
    write(&dir, "batch.jsonl", lines.join("\n"));
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--batch",
            "batch.jsonl",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let decisions: Vec<(String, u64)> = stdout(&out)
        .lines()
        .map(|line| {
            let row: Json = serde_json::from_str(line).unwrap();
            (
                row["decision"].as_str().unwrap().to_owned(),
                row["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("allow".to_owned(), 1),
            ("deny".to_owned(), 2),
            ("deny".to_owned(), 3)
        ]
    );
}

/// The line of an explanation about `rule`.
fn explained<'a>(text: &'a str, rule: &str) -> &'a str {
    text.lines()
        .find(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("+" | "-" | "!")) && words.next() == Some(rule)
        })
        .unwrap_or_else(|| panic!("`{rule}` is not a candidate in:\n{text}"))
}

#[test]
fn explain_names_the_candidates_and_the_deciding_clause() {
    let dir = scratch("eval-explain");
    write(&dir, "request.json", FORBID);
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--request",
            "request.json",
            "--explain",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("decision: deny\nreasons:  mfa-delete\npolicy:   "),
        "{text}"
    );
    assert!(
        text.contains("\n5 of 15 rules were candidates for this request:\n"),
        "{text}"
    );
    let line = explained(&text, "mfa-delete");
    assert!(line.starts_with("  + "), "{line}");
    assert!(line.contains(" forbid  applied (rules.reaper:"), "{line}");
    let line = explained(&text, "owner-all");
    assert!(line.contains(" permit  applied (rules.reaper:"), "{line}");
    let line = explained(&text, "office-only");
    assert!(line.starts_with("  - "), "{line}");
    assert!(
        line.contains(
            "not applied: `when \"confidential\" in resource.labels` was false (rules.reaper:"
        ),
        "{line}"
    );
    // Rules out of the request's literal scope are not candidates at all.
    assert!(!text.contains("admins"), "{text}");

    // With a second factor, the `unless` clause decides.
    write(
        &dir,
        "request.json",
        FORBID.replace(r#""mfa": false"#, r#""mfa": true"#),
    );
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--request",
            "request.json",
            "--explain",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("decision: allow\nreasons:  owner-all\n"),
        "{text}"
    );
    let line = explained(&text, "mfa-delete");
    assert!(
        line.contains("not applied: `unless context.mfa` was true (rules.reaper:"),
        "{line}"
    );

    // A failing rule names the error and the clause it happened in.
    write(&dir, "request.json", NO_DATA);
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--request",
            "request.json",
            "--explain",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains("reasons:  none (no rule applied)\n"),
        "{text}"
    );
    let line = explained(&text, "public-read");
    assert!(line.starts_with("  ! "), "{line}");
    assert!(
        line.contains(
            "error: entity `Document::\"d\"` is not in the request, in `when resource.public` (rules.reaper:"
        ),
        "{line}"
    );
}

/// Item 14 of issue 7: explanations for a batch, one JSON object per line,
/// naming the part of a clause that decided.
#[test]
fn explain_works_with_batch_as_json_lines() {
    let dir = scratch("eval-explain-batch");
    write(
        &dir,
        "batch.jsonl",
        format!("{}\n{}\n", compact(PERMIT), compact(DEFAULT_DENY)),
    );
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--batch",
            "batch.jsonl",
            "--explain",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows: Vec<Json> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, line) in rows.iter().zip([1, 2]) {
        assert_eq!(row["line"], line, "{row}");
        let candidates = row["candidates"].as_array().unwrap();
        assert!(!candidates.is_empty(), "{row}");
        for candidate in candidates {
            for key in ["rule", "effect", "outcome", "file", "line"] {
                assert!(candidate.get(key).is_some(), "no `{key}` in {candidate}");
            }
        }
    }
    // A `when a && b` decided by one operand names it.
    let deny = &rows[1];
    let parted = deny["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("part").is_some());
    assert!(parted.is_some(), "no candidate names a part: {deny}");
}

/// Compiles the document-sharing example to `dir/name`, returning the
/// hash `reaper compile` reports.
fn compile_example(dir: &Path, name: &str) -> String {
    let out = run(dir, &["compile", &example("document-sharing"), "-o", name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let bytes = std::fs::read(dir.join(name)).unwrap();
    let hash = format!("{:x}", Sha256::digest(&bytes[40..]));
    assert_eq!(
        stderr(&out),
        format!("wrote {name} ({} bytes, sha256 {hash})\n", bytes.len())
    );
    hash
}

#[test]
fn a_compiled_bundle_decides_like_its_source() {
    let dir = scratch("eval-bundle");
    let hash = compile_example(&dir, "docs.rpb");
    for request in [PERMIT, TWO_PERMITS, FORBID, DEFAULT_DENY, NO_DATA] {
        let from_source = stdout(&eval(&dir, &example("document-sharing"), request));
        let from_bundle = stdout(&eval(&dir, "docs.rpb", request));
        assert_eq!(from_source, from_bundle);
        let json: Json = serde_json::from_str(&from_bundle).unwrap();
        assert_eq!(json["policy"], hash);
    }
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    let dir = scratch("compile-twice");
    let first = compile_example(&dir, "a.rpb");
    let second = compile_example(&dir, "b.rpb");
    assert_eq!(first, second);
    assert_eq!(
        std::fs::read(dir.join("a.rpb")).unwrap(),
        std::fs::read(dir.join("b.rpb")).unwrap()
    );
}

#[test]
fn emit_asm_prints_a_listing() {
    let dir = scratch("compile-asm");
    let out = run(
        &dir,
        &["compile", &example("document-sharing"), "--emit", "asm"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let listing = stdout(&out);
    assert!(
        listing.starts_with("; reaper bundle, format 3\n; package docs\n"),
        "{listing}"
    );
    for expected in [
        "\nschema\n",
        "\n  entity User #2 in [Team, Role] { clearance: Int @0, contractor: Bool @1, email?: String @2 }\n",
        "\nconstants\n",
        "\nindex\n",
        "\nrule \"owner-all\" permit (rules.reaper:",
        "\n  scope any\n",
        "  clause @0: when principal == resource.owner (line ",
        "\nrule \"admins\" permit (rules.reaper:",
        "  scope principal in Role::\"admin\"\n",
    ] {
        assert!(listing.contains(expected), "no `{expected}` in:\n{listing}");
    }
    // `-o` writes the same listing to a file.
    let out = run(
        &dir,
        &[
            "compile",
            &example("document-sharing"),
            "--emit",
            "asm",
            "-o",
            "docs.asm",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        std::fs::read_to_string(dir.join("docs.asm")).unwrap(),
        listing
    );
}

#[test]
fn compiling_a_bundle_needs_an_output() {
    let dir = scratch("compile-no-output");
    let out = run(&dir, &["compile", &example("document-sharing")]);
    assert_eq!(code(&out), 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: say where to write the bundle with `-o FILE` (or `--emit asm` for a listing)\n",
            example("document-sharing")
        )
    );
}

#[test]
fn compiling_a_package_with_errors_prints_diagnostics_and_fails() {
    let dir = scratch("compile-errors");
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    write(
        &dir.join("broken"),
        "policy.reaper",
        "entity User\naction read on Document by User\npermit read on Document;\n",
    );
    let out = run(&dir, &["compile", "broken", "-o", "broken.rpb"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("E0100(unknown-entity-type)"), "{err}");
    assert!(err.contains("unknown entity type `Document`"), "{err}");
    assert!(err.contains("broken/policy.reaper:2:16"), "{err}");
    assert!(!dir.join("broken.rpb").exists(), "a bundle was written");
    let out = run(&dir, &["compile", "broken", "--emit", "asm"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
}

#[test]
fn the_examples_pass_their_tests() {
    let out = run(&workspace(), &["test", "examples"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("\ntest result: ok. "), "{text}");
    assert!(text.contains(" passed; 0 failed\n"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

const FAILING_TEST: &str = r#"entity User
entity Document { owner: User }
action read on Document by User

@id("owner-reads")
permit read on Document when principal == resource.owner;

test "strangers read" {
  principal User::"eve";
  resource Document::"plan" { owner: User::"alice" };
  expect permit read because ["owner-reads"];
}

test "owners read" {
  principal User::"alice";
  resource Document::"plan" { owner: User::"alice" };
  expect permit read because ["owner-reads"];
}
"#;

#[test]
fn a_failing_test_shows_expected_and_actual() {
    let dir = scratch("test-failing");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    write(&dir.join("pkg"), "policy.reaper", FAILING_TEST);
    let out = run(&dir, &["test", "pkg"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "running 2 tests in pkg\n",
        "test strangers read ... FAILED\n",
        "test owners read ... ok\n",
        "---- strangers read (pkg/policy.reaper:8) ----\n",
        "  expect permit read on Document::\"plan\" (line 11)\n",
        "    expected: permit because [owner-reads]\n",
        "    actual:   deny (no rule applied)\n",
        "\ntest result: FAILED. 1 passed; 1 failed\n",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}

#[test]
fn test_reports_as_json() {
    let dir = scratch("test-json");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    write(&dir.join("pkg"), "policy.reaper", FAILING_TEST);
    let out = run(&dir, &["test", "--format", "json", "pkg"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report: Json = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    let package = &report["packages"][0];
    assert_eq!(package["package"], "pkg");
    assert_eq!(package["compiled"], true);
    let tests = package["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0]["name"], "strangers read");
    assert_eq!(tests[0]["passed"], false);
    assert_eq!(tests[0]["line"], 8);
    assert_eq!(
        tests[0]["failures"][0],
        json!({
            "kind": "authorize",
            "description": "expect permit read on Document::\"plan\"",
            "line": 11,
            "expected": { "decision": "permit", "reasons": ["owner-reads"] },
            "actual": { "decision": "deny", "reasons": [], "errors": [] },
        }),
        "{}",
        tests[0]
    );
    assert_eq!(tests[1]["passed"], true);
    assert_eq!(tests[1]["failures"], json!([]));

    let out = run(&workspace(), &["test", "--format", "json", "examples"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Json = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(report["failed"], 0);
    assert!(report["passed"].as_u64().unwrap() > 0);
    let examples = std::fs::read_dir(workspace().join("examples"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(report["packages"].as_array().unwrap().len(), examples);
}

/// Test names, rule ids, entity ids and clause texts with ESC sequences, a
/// bell, a C1 control and a right-to-left override: `reaper test` and
/// `reaper eval --explain` print them escaped; the JSON report keeps them.
#[test]
fn control_characters_are_escaped_in_test_and_explain_output() {
    let dir = scratch("test-control-characters");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    write(
        &dir.join("pkg"),
        "policy.reaper",
        "entity User { name: String }\n\
         entity Document\n\
         action read on Document by User\n\
         @id(\"owner\u{1b}[2J\")\n\
         permit read on Document when principal.name == \"\u{1b}]0;pwned\u{7}\";\n\
         @id(\"blink\")\n\
         permit read on Document when principal.name == \"\u{1b}[5m\";\n\
         test \"strangers\u{1b}[31m read\u{202e}\" {\n\
           principal User::\"bob\u{9b}\" { name: \"bob\" };\n\
           resource Document::\"plan\";\n\
           expect permit read because [\"owner\u{1b}[2J\"];\n\
         }\n",
    );
    let raw = |text: &str| {
        text.chars()
            .any(|c| reaper_lang::printable::is_unsafe(c) && c != '\n')
    };
    let out = run(&dir, &["test", "pkg"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!raw(&text), "{text:?}");
    for expected in [
        "test strangers\\u{1b}[31m read\\u{202e} ... FAILED\n",
        "---- strangers\\u{1b}[31m read\\u{202e} (pkg/policy.reaper:8) ----\n",
        "expect permit read on Document::\"plan\"",
        "expected: permit because [owner\\u{1b}[2J]\n",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }

    let out = run(&dir, &["test", "--format", "json", "pkg"]);
    let report: Json = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let name = &report["packages"][0]["tests"][0]["name"];
    assert_eq!(name, "strangers\u{1b}[31m read\u{202e}");

    write(
        &dir,
        "request.json",
        r#"{"principal": {"type": "User", "id": "bob", "attrs": {"name": "\u001b]0;pwned\u0007"}},
            "action": "read", "resource": {"type": "Document", "id": "plan"}}"#,
    );
    let out = run(
        &dir,
        &["eval", "pkg", "--request", "request.json", "--explain"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!raw(&text), "{text:?}");
    assert!(text.contains("reasons:  owner\\u{1b}[2J\n"), "{text}");
    assert!(text.contains("+ owner\\u{1b}[2J"), "{text}");
    assert!(
        text.contains(r#"not applied: `when principal.name == "\u{1b}[5m"` was false"#),
        "{text}"
    );

    // A request the policy refuses quotes what it refuses, escaped too.
    write(
        &dir,
        "bad.json",
        r#"{"principal": {"type": "User", "id": "bob", "attrs": {"name": "x"}},
            "action": "re\u001b[2Jad", "resource": {"type": "Document", "id": "plan"}}"#,
    );
    let out = run(&dir, &["eval", "pkg", "--request", "bad.json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!raw(&stderr(&out)), "{:?}", stderr(&out));
}

#[test]
fn an_invalid_request_fails_naming_the_field() {
    let dir = scratch("eval-invalid");
    for (request, message) in [
        (
            PERMIT.replace(r#""clearance": 2"#, r#""clearance": "high""#),
            "`principal.attrs.clearance`: expected Int, found a string",
        ),
        (
            PERMIT.replace(r#""type": "Document""#, r#""type": "Doc""#),
            "`resource.type`: unknown entity type `Doc`",
        ),
        (
            PERMIT.replace(r#""action": "read""#, r#""action": "list""#),
            "`resource.type`: action `list` does not apply to a resource of type `Document`",
        ),
        (
            PERMIT.replace(
                r#""now": "2026-01-01T00:00:00Z""#,
                r#""now": "2026-13-01T00:00:00Z""#,
            ),
            "`context.now`: `2026-13-01T00:00:00Z` is not a timestamp: ",
        ),
        (
            PERMIT.replace(r#""mfa": true, "#, ""),
            "`context.mfa`: missing required field of type `Bool`",
        ),
        (
            "{".to_owned(),
            "malformed JSON: EOF while parsing an object",
        ),
    ] {
        write(&dir, "bad.json", &request);
        let out = run(
            &dir,
            &[
                "eval",
                &example("document-sharing"),
                "--request",
                "bad.json",
            ],
        );
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        let expected = format!("error: bad.json: invalid request: {message}");
        assert!(
            stderr(&out).starts_with(&expected),
            "`{}` should start with `{expected}`",
            stderr(&out)
        );
    }
}

#[test]
fn a_missing_request_file_is_an_io_error() {
    let dir = scratch("eval-missing");
    let out = run(
        &dir,
        &[
            "eval",
            &example("document-sharing"),
            "--request",
            "nowhere.json",
        ],
    );
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        "error: nowhere.json: no such file or directory\n"
    );
}
