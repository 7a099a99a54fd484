//! Huge, deep and repetitive input: refused with a bounded error, quickly,
//! without overflowing the stack.

use std::time::{Duration, Instant};

use reaper_lang::request::{Limits, decode};
use serde_json::{Value as Json, json};

use crate::fixture::{decode_json, refused, refused_text, schema, valid, with};

/// Measures `f`, which must finish within `limit` even in a debug build.
#[track_caller]
fn quickly<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    let took = start.elapsed();
    assert!(took < limit, "took {took:?} (limit {limit:?})");
    result
}

const TEN_MB: usize = 10 << 20;

#[test]
fn a_ten_megabyte_string_is_refused_quickly_naming_the_field() {
    let big = "x".repeat(TEN_MB);
    for (at, path) in [
        ("/principal/attrs/name", "principal.attrs.name"),
        ("/principal/id", "principal.id"),
        ("/principal/type", "principal.type"),
        ("/principal/attrs/tags/0", "principal.attrs.tags[0]"),
        ("/principal/attrs/home", "principal.attrs.home"),
        ("/principal/attrs/joined", "principal.attrs.joined"),
        ("/resource/attrs/owner/id", "resource.attrs.owner.id"),
    ] {
        let text = with(at, json!(big)).to_string();
        let error = quickly(Duration::from_secs(5), || {
            decode(&schema(), &text, &Limits::default()).unwrap_err()
        });
        assert_eq!(error.path, path);
        assert_eq!(
            error.message,
            format!("string of {TEN_MB} bytes exceeds the limit of 65536 bytes")
        );
    }
    // The limit is inclusive, and counts bytes, not characters.
    let at_limit = "é".repeat(32 << 10);
    decode_json(&with("/principal/attrs/name", json!(at_limit))).unwrap();
    refused(
        &with("/principal/attrs/name", json!(format!("{at_limit}x"))),
        "principal.attrs.name",
        "string of 65537 bytes exceeds the limit of 65536 bytes",
    );
}

/// The action name is held to the string limit like any string, and errors
/// quote user text (keys, names, ids) by a bounded excerpt: a 10 MB
/// attribute name must not become a 10 MB error message in a terminal or a
/// server's response.
#[test]
fn oversized_action_names_and_keys_give_bounded_errors() {
    let big = "x".repeat(TEN_MB);
    let mut request = valid();
    request["action"] = json!(big);
    refused(
        &request,
        "action",
        &format!("string of {TEN_MB} bytes exceeds the limit of 65536 bytes"),
    );
    request["action"] = json!("y".repeat(1000));
    refused(
        &request,
        "action",
        &format!("unknown action `{}… (1000 bytes)`", "y".repeat(60)),
    );

    let mut request = valid();
    request["principal"]["attrs"][big.as_str()] = json!(1);
    let error = decode_json(&request).unwrap_err();
    assert_eq!(
        error.path,
        format!("principal.attrs.{}… ({TEN_MB} bytes)", "x".repeat(60))
    );
    assert!(error.message.starts_with("unknown field"), "{error}");

    let mut request = valid();
    request["resource"]["parents"] = json!([{ "type": "Folder", "id": "f" }]);
    request["entities"] = json!([{ "type": "z".repeat(1000), "id": "f", "parents": [] }]);
    refused(
        &request,
        "entities[0].type",
        &format!("unknown entity type `{}… (1000 bytes)`", "z".repeat(60)),
    );
}

#[test]
fn sets_over_the_limit_are_refused() {
    let tags: Vec<String> = (0..10_001).map(|i| format!("t{i}")).collect();
    refused(
        &with("/principal/attrs/tags", json!(tags)),
        "principal.attrs.tags",
        "a set holds at most 10000 elements",
    );
    decode_json(&with("/principal/attrs/tags", json!(&tags[..10_000]))).unwrap();
    // Nested sets: the limit applies to each set.
    let limits = Limits {
        max_set_len: 2,
        ..Limits::default()
    };
    let text = with("/resource/attrs/matrix", json!([[1, 2], [3, 4, 5]])).to_string();
    let error = decode(&schema(), &text, &limits).unwrap_err();
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("resource.attrs.matrix[1]", "a set holds at most 2 elements")
    );
}

#[test]
fn requests_carry_a_bounded_number_of_entities() {
    // The principal and the resource have data: two of the three allowed.
    let limits = Limits {
        max_entities: 3,
        ..Limits::default()
    };
    let mut request = valid();
    request["entities"] = json!([
        { "type": "Team", "id": "a", "parents": [] },
        { "type": "Team", "id": "b", "parents": [] },
    ]);
    let error = decode(&schema(), &request.to_string(), &limits).unwrap_err();
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("entities[1]", "a request carries at most 3 entities")
    );
    // The default limit, 10,000.
    let teams: Vec<Json> = (0..10_000)
        .map(|i| json!({ "type": "Team", "id": format!("t{i}"), "parents": [] }))
        .collect();
    let mut request = valid();
    request["entities"] = json!(teams);
    refused(
        &request,
        "entities[9998]",
        "a request carries at most 10000 entities",
    );
}

/// `depth` nested arrays around `inner`.
fn nested_arrays(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_nesting_is_malformed_json_not_a_stack_overflow() {
    let deep = nested_arrays(100_000, "1");
    for at in ["\"matrix\":[[1,2],[3]]", "\"mfa\":true", "\"readers\":[]"] {
        let (key, _) = at.split_once(':').unwrap();
        let text = valid().to_string().replace(at, &format!("{key}:{deep}"));
        assert_ne!(text, valid().to_string(), "`{at}` not found");
        let error = quickly(Duration::from_secs(5), || {
            decode(&schema(), &text, &Limits::default()).unwrap_err()
        });
        assert_eq!(error.path, "");
        assert!(
            error
                .message
                .starts_with("malformed JSON: recursion limit exceeded"),
            "{error}"
        );
    }
    let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    refused_text(&objects, "", "malformed JSON: recursion limit exceeded");
    // Within the JSON limit, nesting deeper than the type is a type error.
    let text = valid()
        .to_string()
        .replace("[[1,2],[3]]", &nested_arrays(100, "1"));
    refused_text(
        &text,
        "resource.attrs.matrix[0][0]",
        "expected Int, found an array",
    );
}

#[test]
fn deep_nesting_in_a_small_stack() {
    // serde_json's recursion limit (128), not the size of the thread's stack,
    // is what stops deep input, so a quarter of the usual 2 MiB is plenty.
    // (Parsing up to the limit takes between 256 and 384 KiB.)
    let text = valid()
        .to_string()
        .replace("[[1,2],[3]]", &nested_arrays(100_000, "1"));
    let error = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || decode(&schema(), &text, &Limits::default()).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(error.message.starts_with("malformed JSON: "), "{error}");
}

/// `parents` is a set: it holds at most as many elements as any set, and is
/// deduplicated in linear time. (A linear scan per parent once made 50,000
/// distinct parents, a 1.8 MB request, cost 1.25 billion comparisons.)
#[test]
fn many_parents_are_refused_or_decoded_quickly() {
    let folders = |n: usize| -> Json {
        (0..n)
            .map(|i| json!({ "type": "Folder", "id": format!("f{i}") }))
            .collect()
    };
    let text = with("/resource/parents", folders(50_000)).to_string();
    let error = quickly(Duration::from_secs(2), || {
        decode(&schema(), &text, &Limits::default()).unwrap_err()
    });
    assert_eq!(
        (error.path.as_str(), error.message.as_str()),
        ("resource.parents", "an entity has at most 10000 parents")
    );
    let text = with("/resource/parents", folders(10_000)).to_string();
    let request = quickly(Duration::from_secs(2), || {
        decode(&schema(), &text, &Limits::default()).unwrap()
    });
    assert_eq!(
        request.entity(&request.resource).unwrap().parents.len(),
        10_000
    );
}

/// A repeated key is refused, not resolved "last one wins": a proxy or log
/// pipeline that keeps the first would see `{"action": "read", …,
/// "action": "delete"}` as a read while Reaper decides a delete.
#[test]
fn duplicate_keys_are_refused() {
    for (field, repeated, path) in [
        (
            r#""action":"read""#,
            r#""action":"read","action":"ping""#,
            "action",
        ),
        (r#""mfa":true"#, r#""mfa":true,"mfa":false"#, "context.mfa"),
        (
            r#""matrix":[[1,2],[3]]"#,
            r#""matrix":[[1,2],[3]],"matrix":[]"#,
            "resource.attrs.matrix",
        ),
    ] {
        let text = valid().to_string().replacen(field, repeated, 1);
        assert_ne!(text, valid().to_string(), "`{field}` not found");
        refused_text(&text, path, "this key is given twice in its object");
    }
    let text = r#"{"entities": [{"type": "Team", "id": "a", "id": "b"}]}"#;
    refused_text(
        text,
        "entities[0].id",
        "this key is given twice in its object",
    );
}
