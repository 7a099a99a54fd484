//! The binary layout of a bundle:
//!
//! ```text
//! magic "RPRB" | version u16 | reserved u16 | sha256 [32] | count u32 |
//! count × (section id u32, offset u32, length u32) | section bytes…
//! ```
//!
//! Integers are little-endian; each section is a postcard-encoded value.
//! The hash covers every byte after itself. Sections appear in id order,
//! each exactly once, back to back. Recursive values (types, constants) are
//! stored as flat tables whose entries refer to earlier entries, so decoding
//! never recurses on attacker-controlled depth.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::{
    Bundle, Constant, Domain, HttpMapping, IndexEntry, Pattern, Rule, TableExtent, verify,
};
use crate::bytecode::Function;
use crate::limits::StoreSpec;
use crate::schema::{ActionDef, EntityTypeDef, Schema};
use crate::sensitive::Sensitive;
use crate::types::{ActionId, EntityTypeId, Field, RecordType, Type};

pub const MAGIC: [u8; 4] = *b"RPRB";
pub const FORMAT_VERSION: u16 = 3;
/// Magic, version, reserved bytes, then the sha256 of everything after it.
const HASH_END: usize = 4 + 2 + 2 + 32;
/// The fixed header: up to the hash, then the section count.
const HEADER_LEN: usize = HASH_END + 4;
const ENTRY_LEN: usize = 12;

/// Why bytes are not a usable bundle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BundleError {
    #[error("not a Reaper bundle (bad magic bytes)")]
    BadMagic,
    #[error(
        "bundle format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u16 },
    #[error("bundle header has reserved bytes set ({0:#06x}): written by a newer Reaper?")]
    ReservedBytes(u16),
    #[error("bundle is truncated: {0}")]
    Truncated(&'static str),
    #[error("bundle content hash does not match: the bundle is corrupted")]
    HashMismatch,
    #[error("bundle section table is malformed: {0}")]
    BadSectionTable(String),
    #[error("bundle section `{section}` does not decode: {reason}")]
    BadSection {
        section: &'static str,
        reason: String,
    },
    #[error("bundle is inconsistent: {0}")]
    Invalid(String),
}

const SECTIONS: [&str; 12] = [
    "meta",
    "strings",
    "schema",
    "constants",
    "patterns",
    "attr_tables",
    "context_tables",
    "functions",
    "rules",
    "index",
    "domains",
    "http",
];

#[derive(Serialize, Deserialize)]
struct Meta {
    package: Option<String>,
}

/// The schema as flat tables (see the module docs).
#[derive(Serialize, Deserialize)]
struct SchemaSection {
    types: Vec<TypeNode>,
    entity_types: Vec<EntityTypeNode>,
    actions: Vec<ActionNode>,
    context: Vec<FieldNode>,
    stores: Vec<StoreSpec>,
    sensitive: Sensitive,
}

#[derive(Serialize, Deserialize)]
struct ActionNode {
    name: String,
    resource_types: Vec<EntityTypeId>,
    principal_types: Vec<EntityTypeId>,
    groups: Vec<ActionId>,
    is_group: bool,
    context: Option<Vec<FieldNode>>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Hash)]
enum TypeNode {
    Bool,
    Int,
    String,
    Ip,
    Duration,
    Timestamp,
    Decimal,
    Entity(EntityTypeId),
    Set(u32),
    Map(u32),
    Record(Vec<FieldNode>),
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Hash)]
struct FieldNode {
    name: String,
    ty: u32,
    optional: bool,
}

#[derive(Serialize, Deserialize)]
struct EntityTypeNode {
    name: String,
    parents: Vec<EntityTypeId>,
    attrs: Vec<FieldNode>,
    ids: Option<Vec<String>>,
}

/// Encodes a bundle. The same bundle always gives the same bytes.
///
/// Sections are measured, then written straight into one buffer of the
/// final size: a large policy's bundle is tens of megabytes, and encoding
/// sections apart and copying them, or growing the buffer, would hold that
/// two or three times over.
pub fn encode(bundle: &Bundle) -> Vec<u8> {
    let meta = Meta {
        package: bundle.package.clone(),
    };
    let schema = flatten_schema(&bundle.schema);
    // The sections in section-id order: measured, then written.
    macro_rules! encode_sections {
        ($($section:expr),* $(,)?) => {{
            let mut out = header(&[$(encoded_len($section)),*]);
            $(write_section($section, &mut out);)*
            out
        }};
    }
    let mut out = encode_sections!(
        &meta,
        &bundle.strings,
        &schema,
        &bundle.constants,
        &bundle.patterns,
        &bundle.attr_tables,
        &bundle.context_tables,
        &bundle.functions,
        &bundle.rules,
        &bundle.index,
        &bundle.domains,
        &bundle.http,
    );
    let hash = Sha256::digest(&out[HASH_END..]);
    out[HASH_END - hash.len()..HASH_END].copy_from_slice(&hash);
    out
}

/// A buffer with room for the whole bundle, holding its header (the hash
/// left zero) and section table, for sections of these sizes.
fn header(sizes: &[usize; SECTIONS.len()]) -> Vec<u8> {
    let table_len = sizes.len() * ENTRY_LEN;
    let body_len = 4 + table_len + sizes.iter().sum::<usize>();
    let mut out = Vec::with_capacity(HASH_END + body_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.resize(HASH_END, 0);
    out.extend_from_slice(&u32_of(sizes.len()).to_le_bytes());
    let mut offset = HEADER_LEN + table_len;
    for (id, size) in sizes.iter().enumerate() {
        out.extend_from_slice(&u32_of(id + 1).to_le_bytes());
        out.extend_from_slice(&u32_of(offset).to_le_bytes());
        out.extend_from_slice(&u32_of(*size).to_le_bytes());
        offset += size;
    }
    out
}

/// Appends a section's encoding to `out`.
fn write_section<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Appending plain data to a Vec cannot fail.
    let _ = postcard::serialize_with_flavor::<T, Append<'_>, ()>(value, Append(out));
}

/// A postcard output that appends to a buffer in place.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The encoded length of a section's value.
fn encoded_len<T: Serialize>(value: &T) -> usize {
    // Measuring plain data cannot fail.
    postcard::experimental::serialized_size(value).unwrap_or(0)
}

/// The sha256 content hash recorded in a bundle's header, in hex.
pub fn content_hash(bytes: &[u8]) -> Option<String> {
    let hash = bytes.get(8..HASH_END)?;
    Some(hash.iter().map(|b| format!("{b:02x}")).collect())
}

/// Decodes and verifies a bundle. Every failure is a typed error; no input
/// makes this panic.
pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() < 4 {
        return Err(BundleError::Truncated("shorter than the magic bytes"));
    }
    if bytes[..4] != MAGIC {
        return Err(BundleError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(BundleError::Truncated("shorter than the header"));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Err(BundleError::UnsupportedVersion { found: version });
    }
    let reserved = u16::from_le_bytes([bytes[6], bytes[7]]);
    if reserved != 0 {
        return Err(BundleError::ReservedBytes(reserved));
    }
    if Sha256::digest(&bytes[HASH_END..]).as_slice() != &bytes[8..HASH_END] {
        return Err(BundleError::HashMismatch);
    }
    let count = read_u32(bytes, HASH_END) as usize;
    if count != SECTIONS.len() {
        return Err(BundleError::BadSectionTable(format!(
            "{count} sections, expected {}",
            SECTIONS.len()
        )));
    }
    let data_start = HEADER_LEN + count * ENTRY_LEN;
    if bytes.len() < data_start {
        return Err(BundleError::Truncated("the section table is cut off"));
    }
    let mut sections: Vec<&[u8]> = Vec::with_capacity(count);
    let mut expected_offset = data_start;
    for (index, name) in SECTIONS.iter().enumerate() {
        let entry = HEADER_LEN + index * ENTRY_LEN;
        let id = read_u32(bytes, entry) as usize;
        let offset = read_u32(bytes, entry + 4) as usize;
        let len = read_u32(bytes, entry + 8) as usize;
        if id != index + 1 {
            return Err(BundleError::BadSectionTable(format!(
                "section {} has id {id}",
                index + 1
            )));
        }
        if offset != expected_offset {
            return Err(BundleError::BadSectionTable(format!(
                "section `{name}` does not follow the previous one"
            )));
        }
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= bytes.len())
            .ok_or(BundleError::Truncated("a section runs past the end"))?;
        sections.push(&bytes[offset..end]);
        expected_offset = end;
    }
    if expected_offset != bytes.len() {
        return Err(BundleError::BadSectionTable(
            "bytes after the last section".into(),
        ));
    }

    let meta: Meta = section(&sections, 0)?;
    let schema_section: SchemaSection = section(&sections, 2)?;
    let bundle = Bundle {
        package: meta.package,
        strings: section(&sections, 1)?,
        schema: rebuild_schema(schema_section)?,
        constants: section::<Vec<Constant>>(&sections, 3)?,
        patterns: section::<Vec<Pattern>>(&sections, 4)?,
        attr_tables: section(&sections, 5)?,
        context_tables: section(&sections, 6)?,
        functions: section::<Vec<Function>>(&sections, 7)?,
        rules: section::<Vec<Rule>>(&sections, 8)?,
        index: section::<Vec<IndexEntry>>(&sections, 9)?,
        domains: section::<Vec<Domain>>(&sections, 10)?,
        http: section::<Option<HttpMapping>>(&sections, 11)?,
    };
    verify::verify(&bundle)?;
    Ok(bundle)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn section<T: DeserializeOwned>(sections: &[&[u8]], index: usize) -> Result<T, BundleError> {
    let name = SECTIONS[index];
    let bytes = sections[index];
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| BundleError::BadSection {
            section: name,
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(BundleError::BadSection {
            section: name,
            reason: format!("{} unread bytes at the end", rest.len()),
        });
    }
    Ok(value)
}

/// Interns every type of the schema into a table, children first.
fn flatten_schema(schema: &Schema) -> SchemaSection {
    struct Interner {
        types: Vec<TypeNode>,
        ids: HashMap<TypeNode, u32>,
    }
    impl Interner {
        fn ty(&mut self, ty: &Type) -> u32 {
            let node = match ty {
                Type::Bool => TypeNode::Bool,
                Type::Int => TypeNode::Int,
                Type::String => TypeNode::String,
                Type::Ip => TypeNode::Ip,
                Type::Duration => TypeNode::Duration,
                Type::Timestamp => TypeNode::Timestamp,
                Type::Decimal => TypeNode::Decimal,
                Type::Entity(id) => TypeNode::Entity(*id),
                Type::Set(elem) => TypeNode::Set(self.ty(elem)),
                Type::Map(value) => TypeNode::Map(self.ty(value)),
                Type::Record(record) => TypeNode::Record(self.fields(record)),
            };
            if let Some(id) = self.ids.get(&node) {
                return *id;
            }
            let id = u32_of(self.types.len());
            self.types.push(node.clone());
            self.ids.insert(node, id);
            id
        }

        fn fields(&mut self, record: &RecordType) -> Vec<FieldNode> {
            record
                .fields
                .iter()
                .map(|f| FieldNode {
                    name: f.name.clone(),
                    ty: self.ty(&f.ty),
                    optional: f.optional,
                })
                .collect()
        }
    }
    let mut interner = Interner {
        types: Vec::new(),
        ids: HashMap::new(),
    };
    let entity_types = schema
        .entity_types
        .iter()
        .map(|t| EntityTypeNode {
            name: t.name.clone(),
            parents: t.parents.clone(),
            attrs: interner.fields(&t.attrs),
            ids: t.ids.clone(),
        })
        .collect();
    let actions = schema
        .actions
        .iter()
        .map(|a| ActionNode {
            name: a.name.clone(),
            resource_types: a.resource_types.clone(),
            principal_types: a.principal_types.clone(),
            groups: a.groups.clone(),
            is_group: a.is_group,
            context: a.context.as_ref().map(|c| interner.fields(c)),
        })
        .collect();
    let context = interner.fields(&schema.context);
    SchemaSection {
        types: interner.types,
        entity_types,
        actions,
        context,
        stores: schema.stores.clone(),
        sensitive: schema.sensitive.clone(),
    }
}

/// Rebuilds the nested schema from its flat tables, after checking that
/// every reference points backwards and nesting stays within bounds.
fn rebuild_schema(section: SchemaSection) -> Result<Schema, BundleError> {
    let invalid = |why: String| Err(BundleError::Invalid(why));
    let entity_count = section.entity_types.len();
    let mut types: Vec<Type> = Vec::with_capacity(section.types.len());
    let mut extent = TableExtent::with_capacity(section.types.len());
    for (index, node) in section.types.iter().enumerate() {
        let earlier = |id: u32, what: &str| -> Result<usize, BundleError> {
            let id = id as usize;
            if id < index {
                Ok(id)
            } else {
                Err(BundleError::Invalid(format!(
                    "type {index} refers to {what} {id}, not an earlier type"
                )))
            }
        };
        let children: Vec<usize> = match node {
            TypeNode::Set(elem) => vec![earlier(*elem, "element type")?],
            TypeNode::Map(value) => vec![earlier(*value, "value type")?],
            TypeNode::Record(fields) => fields
                .iter()
                .map(|field| earlier(field.ty, "field type"))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        // Bound the tree before building it: each entry clones its children.
        extent
            .push(&format!("type {index}"), children.iter().copied())
            .map_err(BundleError::Invalid)?;
        let ty = match node {
            TypeNode::Bool => Type::Bool,
            TypeNode::Int => Type::Int,
            TypeNode::String => Type::String,
            TypeNode::Ip => Type::Ip,
            TypeNode::Duration => Type::Duration,
            TypeNode::Timestamp => Type::Timestamp,
            TypeNode::Decimal => Type::Decimal,
            TypeNode::Entity(id) => {
                if id.0 as usize >= entity_count {
                    return invalid(format!(
                        "type {index} names entity type {} of {entity_count}",
                        id.0
                    ));
                }
                Type::Entity(*id)
            }
            TypeNode::Set(_) => Type::Set(Box::new(types[children[0]].clone())),
            TypeNode::Map(_) => Type::Map(Box::new(types[children[0]].clone())),
            TypeNode::Record(fields) => Type::Record(record(fields, &types)?),
        };
        types.push(ty);
    }
    let field_types = |fields: &[FieldNode]| -> Result<RecordType, BundleError> {
        if let Some(bad) = fields.iter().find(|f| f.ty as usize >= types.len()) {
            return Err(BundleError::Invalid(format!(
                "field `{}` refers to type {} of {}",
                bad.name,
                bad.ty,
                types.len()
            )));
        }
        record(fields, &types)
    };
    let mut entity_types = Vec::with_capacity(entity_count);
    for node in &section.entity_types {
        entity_types.push(EntityTypeDef {
            name: node.name.clone(),
            parents: node.parents.clone(),
            attrs: field_types(&node.attrs)?,
            ids: node.ids.clone(),
        });
    }
    let mut actions = Vec::with_capacity(section.actions.len());
    for node in section.actions {
        let context = match &node.context {
            Some(fields) => Some(field_types(fields)?),
            None => None,
        };
        actions.push(ActionDef {
            name: node.name,
            resource_types: node.resource_types,
            principal_types: node.principal_types,
            groups: node.groups,
            is_group: node.is_group,
            context,
        });
    }
    let schema = Schema {
        entity_types,
        actions,
        context: field_types(&section.context)?,
        stores: section.stores,
        sensitive: section.sensitive,
    };
    check_sensitive(&schema)?;
    Ok(schema)
}

/// Every `@sensitive` mark names a field the schema declares: an attribute
/// of its entity type, or a field of the package's or some action's context,
/// through nested records.
fn check_sensitive(schema: &Schema) -> Result<(), BundleError> {
    fn resolves(record: &RecordType, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        match (record.field(first), rest.is_empty()) {
            (Some(_), true) => true,
            (Some((_, field)), false) => match &field.ty {
                Type::Record(inner) => resolves(inner, rest),
                _ => false,
            },
            (None, _) => false,
        }
    }
    for (owner, field) in &schema.sensitive.attributes {
        let declared = schema
            .entity_type(*owner)
            .is_some_and(|def| resolves(&def.attrs, &field.path));
        if !declared {
            return Err(BundleError::Invalid(format!(
                "a sensitive mark names attribute `{}` of entity type {}, which has no such attribute",
                field.path.join("."),
                owner.0
            )));
        }
    }
    for field in &schema.sensitive.context {
        let declared = resolves(&schema.context, &field.path)
            || schema
                .actions
                .iter()
                .filter_map(|a| a.context.as_ref())
                .any(|context| resolves(context, &field.path));
        if !declared {
            return Err(BundleError::Invalid(format!(
                "a sensitive mark names context field `{}`, which no context declares",
                field.path.join(".")
            )));
        }
    }
    Ok(())
}

/// A record type from field nodes whose types are all in `types`; field
/// names must be sorted and distinct, as slots depend on it.
fn record(fields: &[FieldNode], types: &[Type]) -> Result<RecordType, BundleError> {
    if fields.windows(2).any(|w| w[0].name >= w[1].name) {
        return Err(BundleError::Invalid(
            "record fields are not sorted and distinct".into(),
        ));
    }
    Ok(RecordType {
        fields: fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                ty: types[f.ty as usize].clone(),
                optional: f.optional,
            })
            .collect(),
    })
}
