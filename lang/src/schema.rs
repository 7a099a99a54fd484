//! The schema a package declares: entity types with parents and attributes,
//! actions with the entity types they apply to, and the request context.
//! Compiled into every bundle so the runtime can validate requests.

use serde::{Deserialize, Serialize};

use crate::types::{ActionId, EntityTypeId, RecordType, Type};

/// Name of the built-in entity type whose entities are `store` namespaces.
pub const STORE_ENTITY: &str = "Store";
/// Built-in actions on store namespaces, in id order after the declared ones.
pub const STORE_ACTIONS: [&str; 3] = ["store.read", "store.write", "store.delete"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub entity_types: Vec<EntityTypeDef>,
    pub actions: Vec<ActionDef>,
    pub context: RecordType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityTypeDef {
    pub name: String,
    /// Entity types an entity of this type may have as parents (`in [...]`).
    pub parents: Vec<EntityTypeId>,
    pub attrs: RecordType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDef {
    pub name: String,
    /// Resource types the action applies to; empty means any entity type.
    pub resource_types: Vec<EntityTypeId>,
    /// Principal types the action applies to; empty means any entity type.
    pub principal_types: Vec<EntityTypeId>,
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

    /// Renders a type as a policy would write it (`Set<User>`).
    pub fn display_type(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "Bool".into(),
            Type::Int => "Int".into(),
            Type::String => "String".into(),
            Type::Ip => "Ip".into(),
            Type::Duration => "Duration".into(),
            Type::Timestamp => "Timestamp".into(),
            Type::Entity(id) => self
                .entity_type(*id)
                .map_or_else(|| format!("<entity #{}>", id.0), |t| t.name.clone()),
            Type::Set(elem) => format!("Set<{}>", self.display_type(elem)),
            Type::Record(record) => {
                let fields: Vec<String> = record
                    .fields
                    .iter()
                    .map(|f| {
                        let opt = if f.optional { "?" } else { "" };
                        format!("{}{opt}: {}", f.name, self.display_type(&f.ty))
                    })
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
        }
    }
}

/// Converts a table index to the `u32` ids bundles use. Tables are bounded far
/// below 2^32 entries by the bundle verifier and by source size limits.
pub fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}
