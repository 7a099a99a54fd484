//! The entity data the server holds, in two layers: the entities file (as
//! last read) and the changes made through the admin API since (upserts and
//! deletions, which win over the file). Both are kept as JSON so that a new
//! policy's schema can validate them again: the data a world serves is
//! always valid for that world's schema.

use std::collections::HashMap;

use reaper_lang::request::{Entity, Limits, RequestError};
use reaper_lang::schema::Schema;
use reaper_runtime::HeldEntities;
use serde_json::Value as Json;

/// An entity's reference as text: (type, id).
pub type EntityRef = (String, String);

#[derive(Debug, Default, Clone)]
pub struct EntityLayers {
    /// The entities file's array.
    file: Vec<Json>,
    /// Admin changes: `Some` an upsert, `None` a deletion.
    changes: HashMap<EntityRef, Option<Json>>,
}

/// Why entity data was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    #[error("{0}")]
    Invalid(#[from] RequestError),
    #[error("malformed JSON: {0}")]
    Malformed(String),
}

impl EntityLayers {
    /// Replaces the file layer with the text of an entities file (a JSON
    /// array). The text is only parsed here; see [`EntityLayers::held`].
    pub fn with_file(&self, text: &str) -> Result<EntityLayers, EntityError> {
        let json = reaper_lang::json::parse(text).map_err(|e| EntityError::Invalid(e.into()))?;
        let Json::Array(items) = json else {
            return Err(EntityError::Malformed(
                "an entities file holds a JSON array of entities".into(),
            ));
        };
        Ok(EntityLayers {
            file: items,
            changes: self.changes.clone(),
        })
    }

    /// The data for `schema`: the file's entities, then the admin changes.
    pub fn held(&self, schema: &Schema) -> Result<HeldEntities, EntityError> {
        let limits = Limits::default();
        let file = reaper_lang::request::decode_entities(
            schema,
            &Json::Array(self.file.clone()),
            &limits,
        )?;
        let mut held = HeldEntities::new(
            file.into_iter()
                .filter(|e| !self.changes.contains_key(&reference(schema, e))),
        );
        let upserts: Vec<Json> = self.changes.values().flatten().cloned().collect();
        let changed = reaper_lang::request::decode_entities(schema, &Json::Array(upserts), &limits)
            .map_err(|e| {
                EntityError::Invalid(RequestError::at(
                    "",
                    format!("an entity changed through the admin API: {e}"),
                ))
            })?;
        for entity in changed {
            held.insert(entity);
        }
        Ok(held)
    }

    /// Validates `json` (an array of entities) against `schema`; on success
    /// records the upserts and returns them.
    pub fn upsert(&mut self, schema: &Schema, json: &Json) -> Result<Vec<Entity>, EntityError> {
        let entities = reaper_lang::request::decode_entities(schema, json, &Limits::default())?;
        if let Json::Array(items) = json {
            for (item, entity) in items.iter().zip(&entities) {
                self.changes
                    .insert(reference(schema, entity), Some(item.clone()));
            }
        }
        Ok(entities)
    }

    /// Records the deletion of `reference`.
    pub fn delete(&mut self, reference: EntityRef) {
        self.changes.insert(reference, None);
    }
}

fn reference(schema: &Schema, entity: &Entity) -> EntityRef {
    let ty = schema
        .entity_type(entity.uid.ty)
        .map_or_else(String::new, |def| def.name.clone());
    (ty, entity.uid.id.clone())
}
