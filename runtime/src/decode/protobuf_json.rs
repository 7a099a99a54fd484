//! The protobuf request written out as request JSON, for the precise
//! decoder: the error path of the protobuf decoder, so a protobuf request
//! is refused with the same message and field path as the JSON that says
//! the same thing. Repeats stay repeats (a second `action` becomes a
//! repeated key, which the precise decoder names); only what JSON cannot
//! say — malformed wire data, a `Value` with two kinds — is refused here.

use reaper_lang::excerpt::excerpt;
use reaper_lang::request::RequestError;

use super::protobuf::{entries, kind};
use super::wire::{LEN, VARINT, Wire};

pub(super) fn to_json(bytes: &[u8]) -> Result<String, RequestError> {
    let mut out = String::from("{");
    let mut entities = Vec::new();
    let mut action = false;
    let mut fields = Fields::new("", bytes);
    while let Some((number, wire_type)) = fields.next()? {
        let (key, path) = match number {
            1 => ("principal", "principal"),
            2 => ("action", "action"),
            3 => ("resource", "resource"),
            4 => ("context", "context"),
            5 => {
                let path = format!("entities[{}]", entities.len());
                let bytes = fields.bytes(wire_type)?;
                entities.push(entity(bytes, &path)?);
                continue;
            }
            _ => {
                fields.skip(wire_type)?;
                continue;
            }
        };
        let bytes = fields.bytes(wire_type)?;
        let value = match number {
            2 => {
                action = true;
                string(bytes, path)?
            }
            4 => record(bytes, path)?,
            _ => entity(bytes, path)?,
        };
        member(&mut out, key, &value);
    }
    if !action {
        // proto3: a string left out is "".
        member(&mut out, "action", "\"\"");
    }
    if !entities.is_empty() {
        member(&mut out, "entities", &format!("[{}]", entities.join(",")));
    }
    out.push('}');
    Ok(out)
}

fn member(out: &mut String, key: &str, value: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    out.push_str(&quoted(key));
    out.push(':');
    out.push_str(value);
}

fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn malformed(path: &str) -> RequestError {
    RequestError::at(path, "malformed protobuf")
}

/// The fields of one message, each read failure an error at its path.
struct Fields<'p, 'b> {
    path: &'p str,
    wire: Wire<'b>,
}

impl<'p, 'b> Fields<'p, 'b> {
    fn new(path: &'p str, bytes: &'b [u8]) -> Self {
        Fields {
            path,
            wire: Wire::new(bytes),
        }
    }

    fn next(&mut self) -> Result<Option<(u64, u8)>, RequestError> {
        self.wire.field().map_err(|_| malformed(self.path))
    }

    fn bytes(&mut self, wire_type: u8) -> Result<&'b [u8], RequestError> {
        self.wire
            .expect(wire_type, LEN)
            .and_then(|()| self.wire.bytes())
            .map_err(|_| malformed(self.path))
    }

    fn varint(&mut self, wire_type: u8) -> Result<u64, RequestError> {
        self.wire
            .expect(wire_type, VARINT)
            .and_then(|()| self.wire.varint())
            .map_err(|_| malformed(self.path))
    }

    fn skip(&mut self, wire_type: u8) -> Result<(), RequestError> {
        self.wire.skip(wire_type).map_err(|_| malformed(self.path))
    }
}

fn string(bytes: &[u8], path: &str) -> Result<String, RequestError> {
    std::str::from_utf8(bytes)
        .map(quoted)
        .map_err(|_| RequestError::at(path, "a string that is not UTF-8"))
}

/// An `Entity` as an object: `type` and `id` always (proto3 reads a
/// left-out string as ""), `attrs` and `parents` when given.
fn entity(bytes: &[u8], path: &str) -> Result<String, RequestError> {
    entity_or_reference(bytes, path, false)
}

/// An `EntityRef` (whose fields 3 and 4 are unknown fields, skipped).
fn reference(bytes: &[u8], path: &str) -> Result<String, RequestError> {
    entity_or_reference(bytes, path, true)
}

fn entity_or_reference(bytes: &[u8], path: &str, reference: bool) -> Result<String, RequestError> {
    let mut out = String::from("{");
    let (mut ty, mut id) = (false, false);
    let mut parents = Vec::new();
    let mut fields = Fields::new(path, bytes);
    while let Some((number, wire_type)) = fields.next()? {
        match number {
            1 | 2 => {
                let key = if number == 1 { "type" } else { "id" };
                *(if number == 1 { &mut ty } else { &mut id }) = true;
                let bytes = fields.bytes(wire_type)?;
                member(&mut out, key, &string(bytes, &format!("{path}.{key}"))?);
            }
            3 if !reference => {
                let bytes = fields.bytes(wire_type)?;
                member(&mut out, "attrs", &record(bytes, &format!("{path}.attrs"))?);
            }
            4 if !reference => {
                let bytes = fields.bytes(wire_type)?;
                let item = format!("{path}.parents[{}]", parents.len());
                parents.push(self::reference(bytes, &item)?);
            }
            _ => fields.skip(wire_type)?,
        }
    }
    for (given, key) in [(ty, "type"), (id, "id")] {
        if !given {
            member(&mut out, key, "\"\"");
        }
    }
    if !parents.is_empty() {
        member(&mut out, "parents", &format!("[{}]", parents.join(",")));
    }
    out.push('}');
    Ok(out)
}

/// A `Record` as an object, repeated keys kept.
fn record(bytes: &[u8], path: &str) -> Result<String, RequestError> {
    let mut out = String::from("{");
    for entry in entries(bytes) {
        let (key, value) = entry.map_err(|_| malformed(path))?;
        let value = self::value(value, &format!("{path}.{}", excerpt(key)))?;
        member(&mut out, key, &value);
    }
    out.push('}');
    Ok(out)
}

/// A `Value` as the JSON of its kind; `null` with no kind set.
fn value(bytes: &[u8], path: &str) -> Result<String, RequestError> {
    let mut found: Option<String> = None;
    let mut fields = Fields::new(path, bytes);
    while let Some((number, wire_type)) = fields.next()? {
        let json = match number {
            kind::BOOL => (fields.varint(wire_type)? != 0).to_string(),
            kind::INT => (fields.varint(wire_type)? as i64).to_string(),
            kind::STRING => string(fields.bytes(wire_type)?, path)?,
            kind::ENTITY => reference(fields.bytes(wire_type)?, path)?,
            kind::SET => {
                let mut items = Vec::new();
                let mut elements = Fields::new(path, fields.bytes(wire_type)?);
                while let Some((number, wire_type)) = elements.next()? {
                    if number != 1 {
                        elements.skip(wire_type)?;
                        continue;
                    }
                    let item = format!("{path}[{}]", items.len());
                    items.push(self::value(elements.bytes(wire_type)?, &item)?);
                }
                format!("[{}]", items.join(","))
            }
            kind::RECORD => record(fields.bytes(wire_type)?, path)?,
            _ => {
                fields.skip(wire_type)?;
                continue;
            }
        };
        if found.is_some() {
            return Err(RequestError::at(
                path,
                "a value sets more than one of its kinds",
            ));
        }
        found = Some(json);
    }
    Ok(found.unwrap_or_else(|| "null".into()))
}
