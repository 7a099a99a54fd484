//! The schema a package declares: entity types with parents and attributes
//! (or a fixed list of ids), actions with the entity types they apply to,
//! their groups and their context records, and the retention stores.
//! Compiled into every bundle so the runtime can validate requests.

use crate::sensitive::Sensitive;
use serde::{Deserialize, Serialize};

use crate::limits::StoreSpec;
use crate::types::{ActionId, EntityTypeId, Field, RecordType, Type};

/// Name of the built-in entity type whose entities are `store` namespaces.
pub const STORE_ENTITY: &str = "Store";
/// Built-in actions on store namespaces, in id order after the declared ones.
pub const STORE_ACTIONS: [&str; 3] = ["store.read", "store.write", "store.delete"];

/// Context fields the built-in store actions add to the package's context:
/// the key every access names, and for writes the TTL the value will live
/// (the one asked for, or the store's default) and its size in bytes.
pub const STORE_CONTEXT_FIELDS: [(&str, Type, &[&str]); 3] = [
    (
        "key",
        Type::String,
        &["store.read", "store.write", "store.delete"],
    ),
    ("size", Type::Int, &["store.write"]),
    ("ttl", Type::Duration, &["store.write"]),
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub entity_types: Vec<EntityTypeDef>,
    pub actions: Vec<ActionDef>,
    /// The context of every action that declares none of its own.
    pub context: RecordType,
    /// The retention namespaces: the ids of the built-in `Store` type.
    pub stores: Vec<StoreSpec>,
    /// The fields marked `@sensitive`, redacted in decision logs.
    pub sensitive: Sensitive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityTypeDef {
    pub name: String,
    /// Entity types an entity of this type may have as parents (`in [...]`).
    pub parents: Vec<EntityTypeId>,
    pub attrs: RecordType,
    /// An enumerated type's ids (`entity App enum ["web", "cli"]`): no
    /// other entity of the type exists. `None` for ordinary types.
    pub ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDef {
    pub name: String,
    /// Resource types the action applies to; empty means any entity type.
    pub resource_types: Vec<EntityTypeId>,
    /// Principal types the action applies to; empty means any entity type.
    pub principal_types: Vec<EntityTypeId>,
    /// The groups the action is directly in (`action view in [readers]`).
    pub groups: Vec<ActionId>,
    /// Other actions are in this one: it names them together in rules and
    /// conditions, and no request names it.
    pub is_group: bool,
    /// The action's own context record; `None` means the package's.
    pub context: Option<RecordType>,
}

impl EntityTypeDef {
    /// Whether `id` can name an entity of this type.
    pub fn allows_id(&self, id: &str) -> bool {
        self.ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|i| i == id))
    }
}

impl Schema {
    pub fn entity_type(&self, id: EntityTypeId) -> Option<&EntityTypeDef> {
        self.entity_types.get(id.0 as usize)
    }

    pub fn entity_type_id(&self, name: &str) -> Option<EntityTypeId> {
        self.entity_types
            .iter()
            .position(|t| t.name == name)
            .map(|i| EntityTypeId(index_u32(i)))
    }

    pub fn action(&self, id: ActionId) -> Option<&ActionDef> {
        self.actions.get(id.0 as usize)
    }

    pub fn action_id(&self, name: &str) -> Option<ActionId> {
        self.actions
            .iter()
            .position(|a| a.name == name)
            .map(|i| ActionId(index_u32(i)))
    }

    /// The context record of requests for `action`.
    pub fn context_of(&self, action: ActionId) -> &RecordType {
        self.action(action)
            .and_then(|a| a.context.as_ref())
            .unwrap_or(&self.context)
    }

    /// The retention namespace `name`.
    pub fn store(&self, name: &str) -> Option<&StoreSpec> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// `action` and every action in it, directly or through nested groups,
    /// sorted. Group membership is acyclic (the checker refuses cycles);
    /// a cycle in a hostile bundle still ends, as each action is visited once.
    pub fn members(&self, action: ActionId) -> Vec<ActionId> {
        let mut members = vec![action];
        let mut next = 0;
        while let Some(current) = members.get(next).copied() {
            next += 1;
            for (index, def) in self.actions.iter().enumerate() {
                let id = ActionId(index_u32(index));
                if def.groups.contains(&current) && !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        members.sort();
        members
    }

    /// Renders a type as a policy would write it (`Set<User>`).
    pub fn display_type(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "Bool".into(),
            Type::Int => "Int".into(),
            Type::String => "String".into(),
            Type::Ip => "Ip".into(),
            Type::Duration => "Duration".into(),
            Type::Timestamp => "Timestamp".into(),
            Type::Decimal => "Decimal".into(),
            Type::Entity(id) => self
                .entity_type(*id)
                .map_or_else(|| format!("<entity #{}>", id.0), |t| t.name.clone()),
            Type::Set(elem) => format!("Set<{}>", self.display_type(elem)),
            Type::Map(value) => format!("Map<String, {}>", self.display_type(value)),
            Type::Record(record) => {
                let fields: Vec<String> = record
                    .fields
                    .iter()
                    .map(|f| {
                        let opt = if f.optional { "?" } else { "" };
                        format!("{}{opt}: {}", field_name(&f.name), self.display_type(&f.ty))
                    })
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
        }
    }
}

/// A field name as a declaration writes it: bare when it is an identifier,
/// quoted otherwise (`"x-api-key"`).
pub fn field_name(name: &str) -> String {
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The context of a store action: the package's context with the store
/// fields the action carries (see [`STORE_CONTEXT_FIELDS`]).
pub fn store_action_context(context: &RecordType, action: &str) -> RecordType {
    let mut fields = context.fields.clone();
    for (name, ty, actions) in STORE_CONTEXT_FIELDS {
        if actions.contains(&action) && context.field(name).is_none() {
            fields.push(Field {
                name: name.to_owned(),
                ty,
                optional: false,
            });
        }
    }
    RecordType::new(fields)
}

/// Converts a table index to the `u32` ids bundles use. Tables are bounded far
/// below 2^32 entries by the bundle verifier and by source size limits.
pub fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}
