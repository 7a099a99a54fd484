//! Sensitive data: the attributes and context fields a policy marks
//! `@sensitive`, and the redaction of requests in that form before they are
//! written anywhere (decision logs). The marks live in the schema, so a
//! policy's author — who knows which fields hold secrets — decides, and the
//! compiler checks the marks against the declarations.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

    /// Redacts a request in its JSON form (`docs/requests.md`) in place:
    /// context fields, and the attributes of `principal`, `resource` and
    /// every entry of `entities` by their `type`. Anything that is not in
    /// the expected shape is left as it is (the request was refused anyway,
    /// and the log shows why).
    pub fn redact_request(&self, schema: &Schema, request: &mut Value) {
        if self.is_empty() {
            return;
        }
        let Some(object) = request.as_object_mut() else {
            return;
        };
        if let Some(context) = object.get_mut("context") {
            for field in &self.context {
                redact_path(context, &field.path, field.redaction);
            }
        }
        if self.attributes.is_empty() {
            return;
        }
        for key in ["principal", "resource"] {
            if let Some(entity) = object.get_mut(key) {
                self.redact_entity(schema, entity);
            }
        }
        if let Some(Value::Array(entities)) = object.get_mut("entities") {
            for entity in entities {
                self.redact_entity(schema, entity);
            }
        }
    }

    /// Redacts the context record alone.
    pub fn redact_context(&self, context: &mut Value) {
        for field in &self.context {
            redact_path(context, &field.path, field.redaction);
        }
    }

    /// Redacts one entity's `attrs` by its `type`.
    pub fn redact_entity(&self, schema: &Schema, entity: &mut Value) {
        let Some(object) = entity.as_object_mut() else {
            return;
        };
        let Some(type_id) = object
            .get("type")
            .and_then(Value::as_str)
            .and_then(|name| schema.entity_type_id(name))
        else {
            return;
        };
        let Some(attrs) = object.get_mut("attrs") else {
            return;
        };
        for (owner, field) in &self.attributes {
            if *owner == type_id {
                redact_path(attrs, &field.path, field.redaction);
            }
        }
    }
}

fn redact_path(value: &mut Value, path: &[String], redaction: Redaction) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(object) = value.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        match redaction {
            Redaction::Mask => {
                if let Some(slot) = object.get_mut(first.as_str()) {
                    *slot = Value::String(MASK.to_owned());
                }
            }
            Redaction::Drop => {
                object.shift_remove(first.as_str());
            }
        }
    } else if let Some(inner) = object.get_mut(first.as_str()) {
        redact_path(inner, rest, redaction);
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
        let mut request = json!({
            "principal": {"type": "User", "id": "ana", "attrs": {"ssn": "1", "profile": {"phone": "2", "city": "x"}}},
            "action": "read",
            "resource": {"type": "Doc", "id": "d", "attrs": {"ssn": "kept: not a User"}},
            "context": {"password": "hunter2", "ip": "10.0.0.1"},
            "entities": [{"type": "User", "id": "bo", "attrs": {"ssn": "3"}}, 7]
        });
        sensitive.redact_request(&schema(), &mut request);
        assert_eq!(
            request,
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
    fn absent_fields_stay_absent() {
        let sensitive = Sensitive {
            attributes: vec![],
            context: vec![field(&["password"], Redaction::Mask)],
        };
        let mut request = json!({"context": {"ip": "10.0.0.1"}});
        sensitive.redact_request(&schema(), &mut request);
        assert_eq!(request, json!({"context": {"ip": "10.0.0.1"}}));
    }
}
