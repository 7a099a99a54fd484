//! JSON text to `serde_json::Value`, refusing an object that repeats a key.
//!
//! serde_json keeps the last of repeated keys. A proxy or log pipeline in
//! front of Reaper may keep the first, so `{"action": "read", "action":
//! "delete"}` could be audited as a read and decided as a delete; Reaper
//! refuses it and names where the key repeats. Otherwise this builds the
//! same value as `serde_json::from_str`, with the same recursion limit.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

use crate::excerpt::excerpt;

/// How a message names the kind of a JSON value ("expected a string,
/// found a number").
pub fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Why text is not acceptable JSON.
#[derive(Debug)]
pub enum JsonError {
    /// Not JSON at all (serde_json's message, with line and column).
    Syntax(serde_json::Error),
    /// An object repeats a key; `path` leads to the second occurrence, as
    /// in `entities[2].attrs.name`.
    DuplicateKey { path: String },
}

/// Parses `text` as a single JSON value whose objects have distinct keys.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|json| deserializer.end().map(|()| json));
    match (parsed, duplicate.into_inner()) {
        (Ok(json), _) => Ok(json),
        (Err(_), Some(mut segments)) => {
            segments.reverse();
            Err(JsonError::DuplicateKey {
                path: render(&segments),
            })
        }
        (Err(error), None) => Err(JsonError::Syntax(error)),
    }
}

/// One step of the path to a repeated key, innermost first while unwinding.
enum Segment {
    Key(String),
    Index(usize),
}

fn render(segments: &[Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&excerpt(key));
            }
            Segment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// Builds a `Json`, noting where a key repeats. The path is assembled only
/// while an error unwinds, so well-formed input pays nothing for it.
#[derive(Clone, Copy)]
struct Strict<'c> {
    /// Set when a key repeats; each enclosing level then adds its step.
    duplicate: &'c RefCell<Option<Vec<Segment>>>,
}

impl Strict<'_> {
    fn on_error<E>(self, segment: impl FnOnce() -> Segment) -> impl FnOnce(E) -> E {
        move |error| {
            if let Some(segments) = self.duplicate.borrow_mut().as_mut() {
                segments.push(segment());
            }
            error
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        // JSON text has no NaN or infinity, so `from_f64` always succeeds.
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq
            .next_element_seed(self)
            .map_err(self.on_error(|| Segment::Index(items.len())))?
        {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match map.next_value_seed(self) {
                Ok(value) => value,
                Err(error) => return Err(self.on_error(|| Segment::Key(key))(error)),
            };
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(vec![Segment::Key(key)]);
                return Err(de::Error::custom("duplicate key"));
            }
            object.insert(key, value);
        }
        Ok(Json::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate_at(text: &str) -> String {
        match parse(text) {
            Err(JsonError::DuplicateKey { path }) => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn builds_what_serde_json_builds() {
        let text = r#"{"b": [1, -2, 3.5, "x", null, true, {"z": {}, "a": []}], "a": 18446744073709551615}"#;
        let strict = parse(text).unwrap();
        let loose: Json = serde_json::from_str(text).unwrap();
        assert_eq!(strict, loose);
        assert_eq!(
            strict.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["b", "a"],
            "keys keep their order"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_with_its_path() {
        assert_eq!(duplicate_at(r#"{"a": 1, "a": 2}"#), "a");
        assert_eq!(
            duplicate_at(r#"{"e": [{"x": 1}, {"attrs": {"n": 1, "m": 2, "n": 3}}]}"#),
            "e[1].attrs.n"
        );
        assert_eq!(duplicate_at(r#"[{}, [{"k": 1, "k": 1}]]"#), "[1][0].k");
        // The same key in different objects is fine.
        parse(r#"{"a": {"a": 1}, "b": {"a": 2}}"#).unwrap();
    }

    #[test]
    fn malformed_text_keeps_serde_json_s_message() {
        for text in ["", "{", r#"{"a": 1} x"#, "[1,]", &"[".repeat(1000)] {
            let JsonError::Syntax(error) = parse(text).unwrap_err() else {
                panic!("{text}");
            };
            let loose = serde_json::from_str::<Json>(text).unwrap_err();
            assert_eq!(error.to_string(), loose.to_string(), "{text}");
        }
    }
}
