//! Reading the fields of JSON requests the runtime decodes itself (Envoy's
//! rate-limit request, an HTTP request): every refusal names the field's
//! path, as authorization requests' do (`reaper_lang::request`).

use reaper_lang::excerpt::excerpt;
use reaper_lang::json::kind;
use reaper_lang::request::{Limits, RequestError};
use serde_json::{Map, Value as Json};

pub fn err<T>(path: &str, message: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError::at(path, message))
}

/// A field written in snake or lower camel case (proto3 JSON takes both).
pub fn field<'j>(object: &'j Map<String, Json>, snake: &str, camel: &str) -> Option<&'j Json> {
    object.get(snake).or_else(|| object.get(camel))
}

pub fn object<'j>(json: &'j Json, path: &str) -> Result<&'j Map<String, Json>, RequestError> {
    match json {
        Json::Object(map) => Ok(map),
        other => err(path, format!("expected an object, found {}", kind(other))),
    }
}

/// Refuses unknown keys, and a field given in both spellings.
pub fn only_keys(
    object: &Map<String, Json>,
    path: &str,
    allowed: &[(&str, &str)],
) -> Result<(), RequestError> {
    let join = |key: &str| {
        if path.is_empty() {
            excerpt(key).into_owned()
        } else {
            format!("{path}.{}", excerpt(key))
        }
    };
    for key in object.keys() {
        if !allowed.iter().any(|(s, c)| s == key || c == key) {
            let names: Vec<&str> = allowed.iter().map(|(s, _)| *s).collect();
            return err(
                &join(key),
                format!("unknown field; expected one of {}", names.join(", ")),
            );
        }
    }
    for (snake, camel) in allowed {
        if snake != camel && object.contains_key(*snake) && object.contains_key(*camel) {
            return err(
                &join(camel),
                format!("`{snake}` is given twice (as `{camel}` too)"),
            );
        }
    }
    Ok(())
}

pub fn string<'j>(json: &'j Json, path: &str, limits: &Limits) -> Result<&'j str, RequestError> {
    match json {
        Json::String(s) if s.len() > limits.max_string_bytes => err(
            path,
            format!(
                "string of {} bytes exceeds the limit of {} bytes",
                s.len(),
                limits.max_string_bytes
            ),
        ),
        Json::String(s) => Ok(s),
        other => err(path, format!("expected a string, found {}", kind(other))),
    }
}
