//! Owned values: what a validated request carries and what the reference
//! evaluator computes with. The runtime converts them to its compact,
//! interned form once per request.

use std::fmt;

use ipnet::IpNet;

use crate::literal;
use crate::types::{ActionId, EntityTypeId};

/// An entity's identity: its type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid {
    pub ty: EntityTypeId,
    pub id: String,
}

/// A value of one of the language's types.
///
/// Sets are sorted and free of duplicates (by this type's `Ord`), so equal
/// sets are equal vectors. Records hold one slot per field of their type, in
/// the type's (name) order; `None` is an absent optional field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Bool(bool),
    Int(i64),
    String(String),
    Ip(IpNet),
    Duration(i64),
    Timestamp(i64),
    Entity(Uid),
    Action(ActionId),
    Set(Vec<Value>),
    Record(Vec<Option<Value>>),
}

impl Value {
    /// Builds a set value: sorts and removes duplicates.
    pub fn set(mut items: Vec<Value>) -> Value {
        items.sort();
        items.dedup();
        Value::Set(items)
    }
}

/// Facts about IP values shared by every evaluator. A range is loopback or
/// multicast when it lies entirely within that block.
pub mod ip {
    use ipnet::IpNet;

    pub fn is_ipv4(net: &IpNet) -> bool {
        matches!(net, IpNet::V4(_))
    }

    pub fn is_loopback(net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => n.network().is_loopback() && n.prefix_len() >= 8,
            IpNet::V6(n) => n.prefix_len() == 128 && n.network().is_loopback(),
        }
    }

    pub fn is_multicast(net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => n.network().is_multicast() && n.prefix_len() >= 4,
            IpNet::V6(n) => n.network().is_multicast() && n.prefix_len() >= 8,
        }
    }

    /// Whether `inner` lies within `outer` (false across address families).
    pub fn within(inner: &IpNet, outer: &IpNet) -> bool {
        outer.contains(inner)
    }
}

/// Renders a value as a policy literal would be written; entity and action
/// names need a schema, so they show their ids (see `Schema::display_value`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Duration(ms) => f.write_str(&literal::format_duration(*ms)),
            Value::Timestamp(ms) => f.write_str(&literal::format_timestamp(*ms)),
            Value::Entity(uid) => write!(f, "#{}::{:?}", uid.ty.0, uid.id),
            Value::Action(id) => write!(f, "action#{}", id.0),
            Value::Set(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Record(slots) => {
                f.write_str("{")?;
                for (i, slot) in slots.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match slot {
                        Some(v) => write!(f, "#{i}: {v}")?,
                        None => write!(f, "#{i}: -")?,
                    }
                }
                f.write_str("}")
            }
        }
    }
}
