//! Whole-package warnings: declarations nothing uses, and actions or stores
//! that no permit rule can ever allow. They are only given for a package
//! without errors: a rule that did not parse or a name that did not resolve
//! may hold the very use they would miss.

use reaper_lang::types::ActionId;

use super::Checker;
use crate::diagnostics::{Code, Diagnostic};

impl Checker<'_> {
    pub(super) fn lint(&mut self) {
        if self.has_parse_errors() || self.diags.iter().any(Diagnostic::is_error) {
            return;
        }
        for (index, span) in self.names.entity_spans.iter().enumerate() {
            let Some(span) = span else { continue };
            let id = reaper_lang::types::EntityTypeId(reaper_lang::schema::index_u32(index));
            if !self.names.used_entities.contains(&id) {
                let name = self.names.entity_name(id);
                self.diags.push(
                    Diagnostic::new(
                        &Code::UNUSED_DECLARATION,
                        *span,
                        format!("entity type `{name}` is never used"),
                    )
                    .label("declared here, used nowhere")
                    .help(
                        "use it in an action, an attribute, a parent list or a rule, or remove it",
                    ),
                );
            }
        }
        let mut never_permitted = Vec::new();
        for (index, span) in self.names.action_spans.iter().enumerate() {
            let Some(span) = span else { continue };
            let id = ActionId(reaper_lang::schema::index_u32(index));
            // A group is never requested; its actions are reported instead.
            if self.names.is_group(id) {
                continue;
            }
            if !self.permits.actions.contains(&id) {
                never_permitted.push((*span, self.names.action_name(id).to_owned()));
            }
        }
        for store in &self.names.schema.stores {
            if !self.permits.any_store && !self.permits.stores.contains(&store.name) {
                never_permitted.push((
                    self.store_span(&store.name),
                    format!("store {}", store.name),
                ));
            }
        }
        for (span, what) in never_permitted {
            let (subject, consequence) = match what.strip_prefix("store ") {
                Some(store) => (
                    format!("store `{store}`"),
                    "every read and write of it is denied",
                ),
                None => (format!("action `{what}`"), "every request for it is denied"),
            };
            self.diags.push(
                Diagnostic::new(
                    &Code::ACTION_NEVER_PERMITTED,
                    span,
                    format!("no permit rule covers {subject}"),
                )
                .label(consequence)
                .help("add a `permit` rule for it, or remove it if it is unused"),
            );
        }
    }
}
