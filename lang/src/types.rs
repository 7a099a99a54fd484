//! The type model: the types a schema gives attributes and context fields, and
//! that the checker gives every expression.

use serde::{Deserialize, Serialize};

/// Index of an entity type in [`crate::schema::Schema::entity_types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityTypeId(pub u32);

/// Index of an action in [`crate::schema::Schema::actions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionId(pub u32);

/// A declared type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    Bool,
    /// 64-bit signed; arithmetic that overflows is an error, never a wrap.
    Int,
    String,
    /// An address or a CIDR range (an address is a range of one).
    Ip,
    /// Milliseconds.
    Duration,
    /// Milliseconds since the Unix epoch.
    Timestamp,
    /// A fixed-point number with four fractional digits, held as the
    /// number of ten-thousandths (Cedar's `decimal`).
    Decimal,
    Entity(EntityTypeId),
    Set(Box<Type>),
    /// `Map<String, T>`: string keys, values of one type.
    Map(Box<Type>),
    Record(RecordType),
}

/// A record's fields, sorted by name; a field's index is its slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordType {
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// Optional fields may be absent; reading one needs a `has` guard.
    pub optional: bool,
}

impl RecordType {
    /// Builds a record type, sorting fields by name so slots are canonical.
    pub fn new(mut fields: Vec<Field>) -> Self {
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        Self { fields }
    }

    /// The slot and field named `name`.
    pub fn field(&self, name: &str) -> Option<(u32, &Field)> {
        let index = self
            .fields
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()?;
        Some((slot(index), &self.fields[index]))
    }
}

/// A slot number; records hold far fewer than 2^32 fields.
fn slot(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The primitive type names, as written in policies.
pub const PRIMITIVE_NAMES: [(&str, Type); 7] = [
    ("Bool", Type::Bool),
    ("Int", Type::Int),
    ("String", Type::String),
    ("Ip", Type::Ip),
    ("Duration", Type::Duration),
    ("Timestamp", Type::Timestamp),
    ("Decimal", Type::Decimal),
];

/// The generic type names: `Set<T>` and `Map<String, T>`.
pub const GENERIC_NAMES: [&str; 2] = ["Set", "Map"];

/// The primitive type a name denotes, if it is one.
pub fn primitive(name: &str) -> Option<Type> {
    PRIMITIVE_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.clone())
}
