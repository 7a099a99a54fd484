//! What every store access means, whoever serves it (`reaper serve`, the
//! Python bindings): the authorization request it is (`store.read|write|
//! delete` on `Store::"namespace"`, with `key`, and for writes `ttl` and
//! `size`, added to the caller's context) and the namespace limits a write
//! is held to. The transports map [`AccessError`] to their own answers.

use reaper_lang::limits::StoreSpec;
use reaper_lang::literal;
use thiserror::Error;

/// A store access refused before or besides the policy's decision.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessError {
    #[error("the policy declares no store `{0}`")]
    UnknownNamespace(String),
    #[error("{0}")]
    InvalidTtl(String),
    #[error(
        "the TTL {} is above namespace `{namespace}`'s max_ttl {}",
        duration(*ttl_ms),
        duration(*max_ttl_ms)
    )]
    TtlAboveMax {
        namespace: String,
        ttl_ms: u64,
        max_ttl_ms: u64,
    },
    #[error(
        "the value is {size} bytes; namespace `{namespace}` holds values of at most {max} bytes"
    )]
    ValueTooLarge {
        namespace: String,
        size: u64,
        max: u64,
    },
}

fn duration(ms: u64) -> String {
    literal::format_duration(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A TTL in policy syntax (`"30m"`), above zero, in ms.
pub fn parse_ttl(text: &str) -> Result<u64, AccessError> {
    let ms = literal::parse_duration(text).map_err(|e| AccessError::InvalidTtl(e.to_string()))?;
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .ok_or_else(|| AccessError::InvalidTtl(format!("the TTL `{text}` must be positive")))
}

/// The TTL a write gets (the namespace's default when it names none), if
/// the namespace takes a value of `size` bytes for that long.
pub fn check_write(spec: &StoreSpec, ttl_ms: u64, size: usize) -> Result<(), AccessError> {
    if ttl_ms > spec.max_ttl_ms {
        return Err(AccessError::TtlAboveMax {
            namespace: spec.name.clone(),
            ttl_ms,
            max_ttl_ms: spec.max_ttl_ms,
        });
    }
    if let Some(max) = spec.max_value_bytes
        && size as u64 > max
    {
        return Err(AccessError::ValueTooLarge {
            namespace: spec.name.clone(),
            size: size as u64,
            max,
        });
    }
    Ok(())
}

/// The authorization request of a store access, as JSON text:
/// `principal` (an entity reference in request JSON) as the principal,
/// `context_fields` (the inside of a JSON object, possibly empty) plus
/// `key` (and for writes `ttl` and `size`) as the context. Written directly
/// (no JSON tree): this runs on every store call. A field the caller's
/// context repeats (`key`) is refused by the decoder, which refuses
/// repeated keys.
pub fn access_request(
    principal: &str,
    action: &str,
    namespace: &str,
    key: &str,
    context_fields: &str,
    write: Option<(u64, usize)>,
) -> String {
    let mut out = String::with_capacity(160 + context_fields.len() + key.len());
    out.push_str("{\"principal\":");
    out.push_str(principal);
    out.push_str(",\"action\":");
    push_json_string(&mut out, action);
    out.push_str(",\"resource\":{\"type\":\"Store\",\"id\":");
    push_json_string(&mut out, namespace);
    out.push_str("},\"context\":{");
    if !context_fields.is_empty() {
        out.push_str(context_fields);
        out.push(',');
    }
    out.push_str("\"key\":");
    push_json_string(&mut out, key);
    if let Some((ttl_ms, size)) = write {
        out.push_str(",\"ttl\":");
        push_json_string(&mut out, &duration(ttl_ms));
        out.push_str(",\"size\":");
        out.push_str(&size.to_string());
    }
    out.push_str("}}");
    out
}

/// An entity reference in request JSON.
pub fn entity_reference(ty: &str, id: &str) -> String {
    let mut out = String::with_capacity(24 + ty.len() + id.len());
    out.push_str("{\"type\":");
    push_json_string(&mut out, ty);
    out.push_str(",\"id\":");
    push_json_string(&mut out, id);
    out.push('}');
    out
}

/// Appends `text` as a JSON string.
pub fn push_json_string(out: &mut String, text: &str) {
    // Most texts (names, ids, keys) need no escape: copy them whole.
    if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(text.len() + 2);
        out.push('"');
        out.push_str(text);
        out.push('"');
        return;
    }
    // Serialising a `str` cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_json_whatever_the_key() {
        let key = "a\"b\\c\n\u{1}é";
        let text = access_request(
            &entity_reference("User", "ana"),
            "store.write",
            "sessions",
            key,
            "\"mfa\": true",
            Some((90_000, 12)),
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["context"]["key"], key);
        assert_eq!(json["context"]["ttl"], "1m30s");
        assert_eq!(json["context"]["size"], 12);
        assert_eq!(json["context"]["mfa"], true);
        assert_eq!(json["principal"]["id"], "ana");
    }

    proptest::proptest! {
        /// Whatever the text (quotes, backslashes, control characters,
        /// any Unicode), it comes back from a JSON parser unchanged, on
        /// the fast path and the escaping one alike.
        #[test]
        fn any_text_is_written_as_a_json_string(text in "\\PC*|[\"\\\\\u{0}-\u{1f}a-z]*") {
            let mut out = String::new();
            push_json_string(&mut out, &text);
            let back: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(back, text);
        }
    }

    #[test]
    fn ttls_are_positive_durations() {
        assert_eq!(parse_ttl("2h"), Ok(7_200_000));
        assert!(
            matches!(parse_ttl("0s"), Err(AccessError::InvalidTtl(m)) if m.contains("positive"))
        );
        assert!(matches!(parse_ttl("soon"), Err(AccessError::InvalidTtl(_))));
    }
}
