//! Sensitive data: the attributes and context fields a policy marks
//! `@sensitive`, and the redaction of requests in that form before they are
//! written anywhere (decision logs). The marks live in the schema, so a
//! policy's author — who knows which fields hold secrets — decides, and the
//! compiler checks the marks against the declarations.

use serde::{Deserialize, Serialize};

use crate::schema::Schema;
use crate::types::EntityTypeId;

/// The text a masked value is replaced by.
pub const MASK: &str = "<masked>";

/// What happens to a sensitive value in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Redaction {
    /// The value is replaced by [`MASK`]: the log still says the field was
    /// there. `@sensitive`.
    Mask,
    /// The field is left out. `@sensitive("drop")`.
    Drop,
}

impl Redaction {
    /// The annotation value that selects it, `None` for the default.
    pub fn from_annotation(value: Option<&str>) -> Option<Redaction> {
        match value {
            None | Some("mask") => Some(Redaction::Mask),
            Some("drop") => Some(Redaction::Drop),
            Some(_) => None,
        }
    }
}

/// A sensitive field: its path from the record that declares it (an
/// entity type's attributes, or a context) through nested records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SensitiveField {
    pub path: Vec<String>,
    pub redaction: Redaction,
}

/// Every sensitive field of a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sensitive {
    /// Attributes, by entity type.
    pub attributes: Vec<(EntityTypeId, SensitiveField)>,
    /// Context fields: of the package's context or of any action's (a
    /// field marked in one action's context is redacted in every request,
    /// whatever its action: the log must not depend on getting the action
    /// right).
    pub context: Vec<SensitiveField>,
}

impl Sensitive {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.context.is_empty()
    }

    /// Writes a request in its JSON form (`docs/requests.md`) to `out`
    /// with its sensitive fields redacted: context fields, and the
    /// attributes of `principal`, `resource` and every entry of `entities`
    /// by their `type`. One pass over the text, nothing parsed into trees:
    /// what is not on the way to a sensitive field is copied as it came.
    /// Anything not in the expected shape is copied as it is (it holds no
    /// field the schema declares). `text` is a request the decoder accepted:
    /// it is checked only as far as redaction needs (an error when the
    /// structure on the way to a sensitive field is not JSON), and copied
    /// whole, unchecked, when the schema marks nothing.
    pub fn redact_request(
        &self,
        schema: &Schema,
        text: &str,
        out: &mut String,
    ) -> Result<(), NotJson> {
        if self.is_empty() {
            // Nothing to find: the text goes as it came.
            out.push_str(text.trim_matches([' ', '\t', '\n', '\r']));
            return Ok(());
        }
        let start = out.len();
        let result = self.redact_top(schema, text, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn redact_top(&self, schema: &Schema, text: &str, out: &mut String) -> Result<(), NotJson> {
        let mut scan = Scan { text, at: 0 };
        scan.space();
        if scan.peek() != Some(b'{') {
            let from = scan.at;
            scan.value()?;
            out.push_str(scan.slice(from, scan.at)?);
        } else {
            let context: Vec<&SensitiveField> = self.context.iter().collect();
            scan.object(out, |key, scan, out| match key {
                "context" => scan.fields(&context, 0, out).map(|()| Member::Written),
                "principal" | "resource" => {
                    self.entity(schema, scan, out).map(|()| Member::Written)
                }
                "entities" if scan.peek() == Some(b'[') => {
                    scan.at += 1;
                    out.push('[');
                    let mut first = true;
                    loop {
                        scan.space();
                        match scan.peek() {
                            Some(b']') => break,
                            Some(b',') if !first => {
                                scan.at += 1;
                                out.push(',');
                                scan.space();
                            }
                            _ if first => {}
                            _ => return Err(NotJson),
                        }
                        first = false;
                        self.entity(schema, scan, out)?;
                    }
                    scan.at += 1;
                    out.push(']');
                    Ok(Member::Written)
                }
                _ => Ok(Member::Copy),
            })?;
        }
        scan.space();
        if scan.at == text.len() {
            Ok(())
        } else {
            Err(NotJson)
        }
    }

    /// One entity (`{"type", "id", "attrs"?, …}`), its attributes redacted
    /// by its type, found first (it may come after `attrs`).
    fn entity(
        &self,
        schema: &Schema,
        scan: &mut Scan<'_>,
        out: &mut String,
    ) -> Result<(), NotJson> {
        let from = scan.at;
        let mut owner = None;
        if scan.peek() == Some(b'{') {
            let mut look = Scan {
                text: scan.text,
                at: from,
            };
            let mut sink = String::new();
            look.object(&mut sink, |key, look, _| {
                if key == "type" {
                    owner = look.string()?.and_then(|name| schema.entity_type_id(&name));
                    return Ok(Member::Skipped);
                }
                look.value()?;
                Ok(Member::Skipped)
            })?;
        }
        let paths: Vec<&SensitiveField> = self
            .attributes
            .iter()
            .filter(|(o, _)| Some(*o) == owner)
            .map(|(_, f)| f)
            .collect();
        if paths.is_empty() {
            scan.value()?;
            out.push_str(scan.slice(from, scan.at)?);
            return Ok(());
        }
        scan.object(out, |key, scan, out| match key {
            "attrs" => scan.fields(&paths, 0, out).map(|()| Member::Written),
            _ => Ok(Member::Copy),
        })
    }
}

/// The text is not JSON: a record cannot be redacted field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

impl std::fmt::Display for NotJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not JSON")
    }
}

impl std::error::Error for NotJson {}

/// What a member's handler did with its value.
enum Member {
    /// Nothing: copy it as it came.
    Copy,
    /// Wrote it (a masked or redacted value).
    Written,
    /// Consumed it and wrote nothing: the member is dropped.
    Skipped,
}

/// A cursor over JSON text. Every index it stops at is an ASCII token's
/// (or the end), so slices between them are whole characters.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn slice(&self, from: usize, to: usize) -> Result<&'a str, NotJson> {
        self.text.get(from..to).ok_or(NotJson)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips a string, at its opening quote.
    fn skip_string(&mut self) -> Result<(), NotJson> {
        let bytes = self.text.as_bytes();
        // Strings in requests are short: a plain loop beats memchr here.
        let mut i = self.at + 1;
        loop {
            match bytes.get(i) {
                Some(b'"') => {
                    self.at = i + 1;
                    return Ok(());
                }
                // An escape: the byte after the backslash never ends the
                // string.
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
                None => return Err(NotJson),
            }
        }
    }

    /// A string's text, unescaped; `None` when the value is not a string
    /// (it is skipped either way).
    fn string(&mut self) -> Result<Option<std::borrow::Cow<'a, str>>, NotJson> {
        if self.peek() != Some(b'"') {
            self.value()?;
            return Ok(None);
        }
        let from = self.at;
        self.skip_string()?;
        let raw = self.slice(from, self.at)?;
        let inner = self.slice(from + 1, self.at - 1)?;
        if !inner.contains('\\') {
            return Ok(Some(std::borrow::Cow::Borrowed(inner)));
        }
        serde_json::from_str::<String>(raw)
            .map(|s| Some(std::borrow::Cow::Owned(s)))
            .map_err(|_| NotJson)
    }

    /// Skips one value.
    fn value(&mut self) -> Result<(), NotJson> {
        self.space();
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.skip_string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Ok(());
                            }
                        }
                        Some(_) => {}
                        None => return Err(NotJson),
                    }
                    self.at += 1;
                }
            }
            Some(_) => {
                let from = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                if self.at == from {
                    Err(NotJson)
                } else {
                    Ok(())
                }
            }
            None => Err(NotJson),
        }
    }

    /// Copies an object member by member; `member` sees each key (its
    /// text) with the cursor at the value. A value that is not an object
    /// is copied whole.
    fn object(
        &mut self,
        out: &mut String,
        mut member: impl FnMut(&str, &mut Scan<'a>, &mut String) -> Result<Member, NotJson>,
    ) -> Result<(), NotJson> {
        self.space();
        if self.peek() != Some(b'{') {
            let from = self.at;
            self.value()?;
            out.push_str(self.slice(from, self.at)?);
            return Ok(());
        }
        self.at += 1;
        out.push('{');
        let mut first = true;
        let mut expect_comma = false;
        loop {
            self.space();
            match self.peek() {
                Some(b'}') => {
                    self.at += 1;
                    out.push('}');
                    return Ok(());
                }
                Some(b',') if expect_comma => {
                    self.at += 1;
                    self.space();
                }
                _ if !expect_comma => {}
                _ => return Err(NotJson),
            }
            expect_comma = true;
            let key_from = self.at;
            let key = self.string()?.ok_or(NotJson)?;
            let key_text = self.slice(key_from, self.at)?;
            self.space();
            if self.peek() != Some(b':') {
                return Err(NotJson);
            }
            self.at += 1;
            self.space();
            let mark = out.len();
            if !first {
                out.push(',');
            }
            out.push_str(key_text);
            out.push(':');
            let value_from = self.at;
            match member(&key, self, out)? {
                Member::Copy => {
                    self.value()?;
                    out.push_str(self.slice(value_from, self.at)?);
                }
                Member::Written => {}
                Member::Skipped => {
                    out.truncate(mark);
                    continue;
                }
            }
            first = false;
        }
    }

    /// A record's members, the fields `paths` name at `depth` masked,
    /// dropped or redacted further down.
    fn fields(
        &mut self,
        paths: &[&SensitiveField],
        depth: usize,
        out: &mut String,
    ) -> Result<(), NotJson> {
        self.object(out, |key, scan, out| {
            let here: Vec<&SensitiveField> = paths
                .iter()
                .copied()
                .filter(|f| f.path.get(depth).is_some_and(|p| p == key))
                .collect();
            if here.is_empty() {
                return Ok(Member::Copy);
            }
            if let Some(field) = here.iter().find(|f| f.path.len() == depth + 1) {
                scan.value()?;
                if field.redaction == Redaction::Drop {
                    return Ok(Member::Skipped);
                }
                out.push('"');
                out.push_str(MASK);
                out.push('"');
                return Ok(Member::Written);
            }
            scan.fields(&here, depth + 1, out).map(|()| Member::Written)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EntityTypeDef;
    use crate::types::RecordType;
    use serde_json::json;

    fn schema() -> Schema {
        Schema {
            entity_types: vec![EntityTypeDef {
                name: "User".into(),
                parents: vec![],
                attrs: RecordType::default(),
                ids: None,
            }],
            ..Schema::default()
        }
    }

    fn field(path: &[&str], redaction: Redaction) -> SensitiveField {
        SensitiveField {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            redaction,
        }
    }

    #[test]
    fn masks_and_drops_context_and_attributes_wherever_entities_appear() {
        let sensitive = Sensitive {
            attributes: vec![
                (EntityTypeId(0), field(&["ssn"], Redaction::Drop)),
                (
                    EntityTypeId(0),
                    field(&["profile", "phone"], Redaction::Mask),
                ),
            ],
            context: vec![field(&["password"], Redaction::Mask)],
        };
        let request = json!({
            "principal": {"type": "User", "id": "ana", "attrs": {"ssn": "1", "profile": {"phone": "2", "city": "x"}}},
            "action": "read",
            "resource": {"type": "Doc", "id": "d", "attrs": {"ssn": "kept: not a User"}},
            "context": {"password": "hunter2", "ip": "10.0.0.1"},
            "entities": [{"type": "User", "id": "bo", "attrs": {"ssn": "3"}}, 7]
        });
        let mut out = String::new();
        sensitive
            .redact_request(&schema(), &request.to_string(), &mut out)
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            json!({
                "principal": {"type": "User", "id": "ana", "attrs": {"profile": {"phone": MASK, "city": "x"}}},
                "action": "read",
                "resource": {"type": "Doc", "id": "d", "attrs": {"ssn": "kept: not a User"}},
                "context": {"password": MASK, "ip": "10.0.0.1"},
                "entities": [{"type": "User", "id": "bo", "attrs": {}}, 7]
            })
        );
    }

    #[test]
    fn escaped_keys_are_matched_and_dropping_the_first_member_keeps_json_valid() {
        let sensitive = Sensitive {
            attributes: vec![],
            context: vec![
                field(&["password"], Redaction::Drop),
                field(&["pin"], Redaction::Mask),
            ],
        };
        let text = r#"{"context": {"pass\u0077ord": "x", "pin": 1234, "ip": "10.0.0.1"}, "action": "read"}"#;
        let mut out = String::new();
        sensitive.redact_request(&schema(), text, &mut out).unwrap();
        assert_eq!(
            out,
            r#"{"context":{"pin":"<masked>","ip":"10.0.0.1"},"action":"read"}"#
        );
        assert!(
            sensitive
                .redact_request(&schema(), "{not json", &mut out)
                .is_err()
        );
    }

    #[test]
    fn absent_fields_stay_absent() {
        let sensitive = Sensitive {
            attributes: vec![],
            context: vec![field(&["password"], Redaction::Mask)],
        };
        let request = json!({"context": {"ip": "10.0.0.1"}});
        let mut out = String::new();
        sensitive
            .redact_request(&schema(), &request.to_string(), &mut out)
            .unwrap();
        assert_eq!(out, request.to_string());
    }

    /// The redaction as a tree walk: the reference the one-pass scanner is
    /// held to.
    fn reference(sensitive: &Sensitive, schema: &Schema, request: &mut serde_json::Value) {
        fn path(value: &mut serde_json::Value, path: &[String], redaction: Redaction) {
            let (Some((first, rest)), Some(object)) = (path.split_first(), value.as_object_mut())
            else {
                return;
            };
            if !rest.is_empty() {
                if let Some(inner) = object.get_mut(first.as_str()) {
                    path_into(inner, rest, redaction);
                }
            } else if redaction == Redaction::Drop {
                object.shift_remove(first.as_str());
            } else if let Some(slot) = object.get_mut(first.as_str()) {
                *slot = serde_json::Value::String(MASK.to_owned());
            }
        }
        fn path_into(value: &mut serde_json::Value, rest: &[String], redaction: Redaction) {
            path(value, rest, redaction);
        }
        let entity = |entity: &mut serde_json::Value| {
            let owner = entity
                .get("type")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| schema.entity_type_id(t));
            if let Some(attrs) = entity.get_mut("attrs") {
                for (o, f) in &sensitive.attributes {
                    if Some(*o) == owner {
                        path(attrs, &f.path, f.redaction);
                    }
                }
            }
        };
        let Some(object) = request.as_object_mut() else {
            return;
        };
        if let Some(context) = object.get_mut("context") {
            for f in &sensitive.context {
                path(context, &f.path, f.redaction);
            }
        }
        for key in ["principal", "resource"] {
            if let Some(e) = object.get_mut(key) {
                entity(e);
            }
        }
        if let Some(serde_json::Value::Array(list)) = object.get_mut("entities") {
            list.iter_mut().for_each(entity);
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z\\\\\"é\\n ]{0,6}".prop_map(serde_json::Value::String),
        ];
        let key = prop_oneof![
            Just("type".to_owned()),
            Just("attrs".to_owned()),
            Just("ssn".to_owned()),
            Just("profile".to_owned()),
            Just("phone".to_owned()),
            Just("password".to_owned()),
            Just("User".to_owned()),
            "[a-z\\\\\"]{1,4}",
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn the_scanner_redacts_as_the_tree_walk_does(
            principal in json_value(),
            context in json_value(),
            entities in proptest::collection::vec(json_value(), 0..3),
            user_typed in proptest::bool::ANY,
            pretty in proptest::bool::ANY,
        ) {
            let sensitive = Sensitive {
                attributes: vec![
                    (EntityTypeId(0), field(&["ssn"], Redaction::Drop)),
                    (EntityTypeId(0), field(&["profile", "phone"], Redaction::Mask)),
                ],
                context: vec![field(&["password"], Redaction::Mask), field(&["profile", "ssn"], Redaction::Drop)],
            };
            let mut principal = principal;
            if user_typed && let Some(object) = principal.as_object_mut() {
                object.insert("type".into(), json!("User"));
            }
            let mut entities = entities;
            for e in &mut entities {
                if let Some(object) = e.as_object_mut() {
                    object.insert("type".into(), json!("User"));
                }
            }
            let request = json!({"principal": principal, "context": context, "entities": entities, "action": "x"});
            let text = if pretty { serde_json::to_string_pretty(&request).unwrap() } else { request.to_string() };
            let mut out = String::new();
            sensitive.redact_request(&schema(), &text, &mut out).unwrap();
            let got: serde_json::Value = serde_json::from_str(&out).unwrap();
            let mut expected = request.clone();
            reference(&sensitive, &schema(), &mut expected);
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
