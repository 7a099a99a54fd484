//! The fast decoder against the precise one on the document-sharing
//! bundle: the same meaning for every accepted request, whatever the key
//! order and spelling, and a decline wherever the precise decoder refuses.
//! Generated policies and mutated requests are compared in the
//! differential tests (`compiler/tests/differential/decoding.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use crate::Engine;

const BUNDLE: &[u8] = include_bytes!("../../../tests/golden/document-sharing.rpb");

fn engine() -> Engine {
    Engine::load(BUNDLE).unwrap()
}

const ALICE_READS: &str = r#"{
  "principal": {"type": "User", "id": "alice", "attrs": {"clearance": 2, "contractor": false, "email": "alice@example.com"}, "parents": [{"type": "Team", "id": "eng"}]},
  "action": "read",
  "resource": {"type": "Document", "id": "plan", "attrs": {"owner": {"type": "User", "id": "bob"}, "public": false, "labels": ["internal", "b", "a", "b"], "editors": [{"type": "User", "id": "alice"}]}, "parents": [{"type": "Folder", "id": "projects"}, {"type": "Folder", "id": "projects"}]},
  "context": {"source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z"},
  "entities": [{"type": "Team", "id": "eng", "parents": [{"type": "Team", "id": "all"}]}, {"type": "Team", "id": "all", "parents": [{"type": "Team", "id": "eng"}]}]
}"#;

/// Both decoders accept `json` and mean the same request.
fn same(engine: &Engine, json: &str) {
    let precise = engine
        .decode_request_precisely(json)
        .unwrap_or_else(|e| panic!("{e}\n{json}"));
    let fast = engine
        .decode_request_fast(json)
        .unwrap_or_else(|| panic!("the fast path declined a valid request\n{json}"));
    assert_eq!(
        engine.describe_request(&fast),
        engine.describe_request(&precise),
        "{json}"
    );
    assert_eq!(
        engine.authorize(&fast),
        engine.authorize(&precise),
        "{json}"
    );
}

/// The precise decoder refuses `json` and the fast path declines it.
fn refused(engine: &Engine, json: &str) {
    assert!(engine.decode_request_precisely(json).is_err(), "{json}");
    assert!(engine.decode_request_fast(json).is_none(), "{json}");
}

#[test]
fn accepts_what_the_precise_decoder_accepts_in_any_key_order() {
    let engine = engine();
    same(&engine, ALICE_READS);
    // The context before the action, attrs before their type.
    same(
        &engine,
        r#"{"context": {"mfa": false, "now": "2026-01-01T00:00:00Z", "source_ip": "192.168.100.7"},
            "resource": {"attrs": {"public": true, "labels": [], "editors": [], "owner": {"id": "bob", "type": "User"}}, "id": "d", "type": "Document"},
            "principal": {"id": "x", "type": "User"}, "action": "read"}"#,
    );
    // Escapes spell the same strings.
    same(
        &engine,
        &ALICE_READS
            .replace(r#""alice""#, r#""\u0061lice""#)
            .replace(r#""internal""#, r#""in\/ternal\n\ud83d\ude00""#),
    );
}

#[test]
fn declines_what_the_precise_decoder_refuses() {
    let engine = engine();
    let edits: &[(&str, &str)] = &[
        (r#""action": "read""#, r#""action": "fly""#),
        (
            r#""action": "read""#,
            r#""action": "read", "action": "read""#,
        ),
        (r#""clearance": 2"#, r#""clearance": 2.0"#),
        (r#""clearance": 2"#, r#""clearance": -0"#),
        (r#""clearance": 2"#, r#""clearance": 9223372036854775808"#),
        (r#""clearance": 2"#, r#""clearance": "2""#),
        (r#""clearance": 2, "#, ""),
        (r#""mfa": true"#, r#""mfa": true, "extra": 1"#),
        (r#""mfa": true"#, r#""mfa": null"#),
        (r#""10.1.2.3""#, r#""10.1.2.300""#),
        (r#""2026-01-01T00:00:00Z""#, r#""yesterday""#),
        (
            r#"{"type": "Folder", "id": "projects"}, "#,
            r#"{"type": "Team", "id": "t"}, "#,
        ),
        (
            r#""type": "Team", "id": "all", "parents""#,
            r#""type": "Team", "id": "eng", "parents""#,
        ),
        (
            r#"{"type": "Team", "id": "eng", "parents""#,
            r#"{"type": "Team", "id": "eng", "bogus": 1, "parents""#,
        ),
        (r#""public": false"#, r#""public": false, "public": false"#),
        (r#""labels": ["internal""#, r#""labels": ["internal", 3"#),
        (
            r#""editors": [{"type": "User", "id": "alice"}]"#,
            r#""editors": [{"type": "Team", "id": "alice"}]"#,
        ),
        (r#""internal""#, "\"in\u{1}ternal\""),
        (r#""internal""#, r#""\ud800""#),
        (
            r#"{"type": "Team", "id": "all", "parents": [{"type": "Team", "id": "eng"}]}"#,
            r#"{"type": "Team", "id": "all"}"#,
        ),
    ];
    for (from, to) in edits {
        assert!(ALICE_READS.contains(from), "{from}");
        refused(&engine, &ALICE_READS.replacen(from, to, 1));
    }
    refused(&engine, &format!("{ALICE_READS} x"));
    refused(&engine, "");
    refused(&engine, "[]");
    refused(&engine, "{}");
}

#[test]
fn ancestors_are_walked_once_per_entity() {
    let engine = engine();
    let request = engine.decode_request(ALICE_READS).unwrap();
    let eng = request.principal_ancestors().to_vec();
    assert_eq!(eng.len(), 2, "eng and all, through a cycle");
    let visited = request.entities_visited();
    for _ in 0..100 {
        assert_eq!(request.principal_ancestors(), &eng[..]);
        let _ = engine.authorize(&request);
    }
    let after = request.entities_visited();
    assert!(after <= visited + 4, "{visited} then {after}");
}

fn alice_as_protobuf(engine: &Engine) -> Vec<u8> {
    let data = reaper_lang::request::decode(
        engine.schema(),
        ALICE_READS,
        &reaper_lang::request::Limits::default(),
    )
    .unwrap();
    engine.encode_request_protobuf(&data)
}

#[test]
fn protobuf_requests_mean_what_the_same_json_means() {
    let engine = engine();
    let bytes = alice_as_protobuf(&engine);
    let json = engine.decode_request_precisely(ALICE_READS).unwrap();
    let fast = engine.decode_request_protobuf_fast(&bytes).unwrap();
    let precise = engine.decode_request_protobuf_precisely(&bytes).unwrap();
    assert_eq!(
        engine.describe_request(&fast),
        engine.describe_request(&json)
    );
    assert_eq!(
        engine.describe_request(&precise),
        engine.describe_request(&json)
    );
    // Unknown fields are skipped, as protobuf readers do.
    let mut extended = bytes.clone();
    extended.extend_from_slice(&[0x78, 0x01]);
    assert!(engine.decode_request_protobuf_fast(&extended).is_some());
}

#[test]
fn protobuf_errors_are_the_json_errors() {
    let engine = engine();
    let bytes = alice_as_protobuf(&engine);
    let error = |bytes: &[u8]| {
        assert!(engine.decode_request_protobuf_fast(bytes).is_none());
        engine
            .decode_request_protobuf(bytes)
            .unwrap_err()
            .to_string()
    };
    // A second `action` field.
    let mut twice = bytes.clone();
    twice.extend_from_slice(&[0x12, 4, b'r', b'e', b'a', b'd']);
    assert_eq!(
        error(&twice),
        "`action`: this key is given twice in its object"
    );
    assert_eq!(error(&[]), "`principal`: missing");
    assert_eq!(error(&bytes[..bytes.len() - 1]), "malformed protobuf");
    // A field whose length runs past its message: the message is named.
    let mut cut = bytes.clone();
    let at = cut.windows(9).position(|w| w == b"clearance").unwrap() + 9;
    assert_eq!(cut[at + 1], 2, "the value's length");
    cut[at + 1] = 9;
    assert_eq!(error(&cut), "`entities[0].attrs`: malformed protobuf");
    // A value of the wrong kind, in a request written by hand.
    let string = |text: &str| {
        let mut value = Vec::new();
        super::wire::put_bytes(&mut value, 3, text.as_bytes());
        value
    };
    let mut context = Vec::new();
    for (key, value) in [
        ("source_ip", "10.1.2.3"),
        ("mfa", "yes"),
        ("now", "2026-01-01T00:00:00Z"),
    ] {
        let mut entry = Vec::new();
        super::wire::put_bytes(&mut entry, 1, key.as_bytes());
        super::wire::put_bytes(&mut entry, 2, &string(value));
        super::wire::put_bytes(&mut context, 1, &entry);
    }
    let reference = |ty: &str, id: &str| {
        let mut out = Vec::new();
        super::wire::put_bytes(&mut out, 1, ty.as_bytes());
        super::wire::put_bytes(&mut out, 2, id.as_bytes());
        out
    };
    let mut request = Vec::new();
    super::wire::put_bytes(&mut request, 1, &reference("User", "a"));
    super::wire::put_bytes(&mut request, 2, b"read");
    super::wire::put_bytes(&mut request, 3, &reference("Document", "d"));
    super::wire::put_bytes(&mut request, 4, &context);
    let json = r#"{"principal": {"type": "User", "id": "a"}, "action": "read",
        "resource": {"type": "Document", "id": "d"},
        "context": {"source_ip": "10.1.2.3", "mfa": "yes", "now": "2026-01-01T00:00:00Z"}}"#;
    let expected = engine.decode_request(json).unwrap_err().to_string();
    assert!(expected.starts_with("`context.mfa`: "), "{expected}");
    assert_eq!(error(&request), expected);
}

/// The fuzz target's seed, written by hand from the protobuf definition,
/// is the benchmarks' document-sharing request.
#[test]
fn the_protobuf_seed_is_alice_reading_plan() {
    let engine = engine();
    let seed = include_bytes!("../../../fuzz/seeds/protobuf_request_decoding/alice-reads-plan.bin");
    let json = r#"{
      "principal": {"type": "User", "id": "alice", "attrs": {"clearance": 2, "contractor": false, "email": "alice@example.com"}, "parents": [{"type": "Team", "id": "eng"}]},
      "action": "read",
      "resource": {"type": "Document", "id": "plan", "attrs": {"owner": {"type": "User", "id": "bob"}, "public": false, "labels": ["internal"], "editors": [{"type": "User", "id": "alice"}]}, "parents": [{"type": "Folder", "id": "projects"}]},
      "context": {"source_ip": "10.1.2.3", "mfa": true, "now": "2026-01-01T00:00:00Z"},
      "entities": [{"type": "Team", "id": "eng", "parents": [{"type": "Team", "id": "all"}]}]
    }"#;
    let from_json = engine.decode_request(json).unwrap();
    let from_protobuf = engine.decode_request_protobuf_fast(seed).unwrap();
    assert_eq!(
        engine.describe_request(&from_protobuf),
        engine.describe_request(&from_json)
    );
}
