//! Property tests: arbitrary JSON, anywhere in a request, never panics the
//! decoder, and an error names the field that was replaced.

use proptest::prelude::*;
use reaper_lang::request::{Limits, decode, from_json};
use serde_json::{Value as Json, json};

use crate::fixture::{decode_json, schema, with};

/// Every request shape a test above uses, as JSON pointers into `valid()`,
/// for the property tests to put arbitrary JSON into.
const POINTERS: [&str; 16] = [
    "",
    "/principal",
    "/principal/attrs",
    "/principal/attrs/tags",
    "/principal/attrs/teams",
    "/principal/attrs/address",
    "/principal/attrs/home",
    "/principal/attrs/joined",
    "/principal/attrs/session",
    "/resource",
    "/resource/attrs/owner",
    "/resource/attrs/matrix",
    "/resource/parents",
    "/context",
    "/context/ip",
    "/action",
];

fn arbitrary_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Json::String),
        prop::sample::select(vec![
            "User",
            "Team",
            "Document",
            "Folder",
            "Service",
            "read",
            "list",
            "ping",
            "alice",
            "10.0.0.0/8",
            "1h",
            "2026-01-01T00:00:00Z",
            "type",
            "id",
            "attrs",
            "parents",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        let key = prop_oneof![
            prop::sample::select(vec![
                "type",
                "id",
                "attrs",
                "parents",
                "principal",
                "action",
                "resource",
                "context",
                "entities",
                "age",
                "tags",
                "city",
                "ip",
                "mfa",
                "owner",
            ])
            .prop_map(str::to_owned),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|fields| Json::Object(fields.into_iter().collect())),
        ]
    })
}

/// The path the decoder reports for a JSON pointer (`/a/b/0` → `a.b[0]`).
fn path_of(pointer: &str) -> String {
    let mut path = String::new();
    for part in pointer.split('/').skip(1) {
        if part.parse::<usize>().is_ok() {
            path.push_str(&format!("[{part}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
        }
    }
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Arbitrary JSON never panics the decoder, as a value or as text.
    #[test]
    fn arbitrary_json_never_panics(json in arbitrary_json()) {
        let schema = schema();
        let _ = from_json(&schema, &json, &Limits::default());
        let _ = decode(&schema, &json.to_string(), &Limits::default());
    }

    /// Arbitrary JSON put anywhere into a valid request never panics, and an
    /// error names the field that was replaced (or one inside it), except
    /// that a replaced action may not apply to the principal or resource.
    #[test]
    fn a_replaced_field_is_the_one_named(
        pointer in prop::sample::select(POINTERS.to_vec()),
        json in arbitrary_json(),
    ) {
        let request = if pointer.is_empty() { json.clone() } else { with(pointer, json.clone()) };
        if let Err(error) = decode_json(&request) {
            let path = path_of(pointer);
            let named = error.path.starts_with(&path)
                || (pointer == "/action"
                    && ["principal.type", "resource.type"].contains(&error.path.as_str()));
            prop_assert!(named, "replaced `{}` with {}, error: {}", path, json, error);
        }
    }

    /// Arbitrary text never panics the decoder.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = decode(&schema(), &text, &Limits::default());
    }
}
