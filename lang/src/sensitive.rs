//! Sensitive data: the attributes and context fields a policy marks
//! `@sensitive`, and the redaction of requests in that form before they are
//! written anywhere (decision logs). The marks live in the schema, so a
//! policy's author — who knows which fields hold secrets — decides, and the
//! compiler checks the marks against the declarations.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
    /// by their `type`. Values are not parsed into trees: objects on the
    /// way to a sensitive field are split into raw members, everything else
    /// is copied as it came. Anything not in the expected shape is copied
    /// as it is (it holds no field the schema declares). Fails only when
    /// `text` is not JSON.
    pub fn redact_request(
        &self,
        schema: &Schema,
        text: &str,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        let value: &RawValue = serde_json::from_str(text)?;
        if self.is_empty() {
            out.push_str(value.get());
            return Ok(());
        }
        let context: Vec<&SensitiveField> = self.context.iter().collect();
        write_object(value, out, |key, member, out| match key {
            "context" => redact_fields(member, &context, 0, out).map(|()| true),
            "principal" | "resource" => self.redact_entity(schema, member, out).map(|()| true),
            "entities" => {
                let Ok(list) = serde_json::from_str::<Vec<&RawValue>>(member.get()) else {
                    return Ok(false);
                };
                out.push('[');
                for (i, entity) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.redact_entity(schema, entity, out)?;
                }
                out.push(']');
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    /// One entity (`{"type", "id", "attrs"?, …}`), its attributes redacted
    /// by its type.
    fn redact_entity(
        &self,
        schema: &Schema,
        entity: &RawValue,
        out: &mut String,
    ) -> Result<(), serde_json::Error> {
        #[derive(Deserialize)]
        struct Typed<'a> {
            #[serde(borrow, rename = "type")]
            ty: Option<std::borrow::Cow<'a, str>>,
        }
        let owner = serde_json::from_str::<Typed<'_>>(entity.get())
            .ok()
            .and_then(|t| t.ty)
            .and_then(|name| schema.entity_type_id(&name));
        let paths: Vec<&SensitiveField> = self
            .attributes
            .iter()
            .filter(|(o, _)| Some(*o) == owner)
            .map(|(_, f)| f)
            .collect();
        if paths.is_empty() {
            out.push_str(entity.get());
            return Ok(());
        }
        write_object(entity, out, |key, member, out| match key {
            "attrs" => redact_fields(member, &paths, 0, out).map(|()| true),
            _ => Ok(false),
        })
    }
}

/// An object's members, in order, values left raw. Keys borrow the text
/// unless they hold escapes.
struct Members<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    members.push((key.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

/// Writes an object member by member: `member` writes a member's value and
/// says `true`, or says `false` to have it copied. A value that is not an
/// object is copied whole.
fn write_object(
    value: &RawValue,
    out: &mut String,
    mut member: impl FnMut(&str, &RawValue, &mut String) -> Result<bool, serde_json::Error>,
) -> Result<(), serde_json::Error> {
    let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(value.get()) else {
        out.push_str(value.get());
        return Ok(());
    };
    out.push('{');
    let mut first = true;
    for (key, raw) in &members {
        let mark = out.len();
        if !first {
            out.push(',');
        }
        push_key(out, key);
        let start = out.len();
        if !member(key, raw, out)? {
            out.push_str(raw.get());
        }
        if out.len() == start {
            // Nothing written for the value: the member is dropped.
            out.truncate(mark);
            continue;
        }
        first = false;
    }
    out.push('}');
    Ok(())
}

fn push_key(out: &mut String, key: &str) {
    // A string always serializes.
    out.push_str(&serde_json::to_string(key).unwrap_or_default());
    out.push(':');
}

/// A record's members, the fields `paths` name at `depth` masked, dropped
/// (nothing written) or redacted further down.
fn redact_fields(
    value: &RawValue,
    paths: &[&SensitiveField],
    depth: usize,
    out: &mut String,
) -> Result<(), serde_json::Error> {
    write_object(value, out, |key, member, out| {
        let here: Vec<&SensitiveField> = paths
            .iter()
            .copied()
            .filter(|f| f.path.get(depth).is_some_and(|p| p == key))
            .collect();
        if here.is_empty() {
            return Ok(false);
        }
        if let Some(field) = here.iter().find(|f| f.path.len() == depth + 1) {
            if field.redaction == Redaction::Mask {
                out.push('"');
                out.push_str(MASK);
                out.push('"');
            }
            return Ok(true);
        }
        redact_fields(member, &here, depth + 1, out).map(|()| true)
    })
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
}
