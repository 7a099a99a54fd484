//! Checking of authorization rules: ids and annotations, the action and
//! resource scope, the principal types that follow from them, and the
//! `when`/`unless` conditions.

use reaper_lang::types::{ActionId, EntityTypeId};

use super::Checker;
use super::expr::Scope;
use super::facts::Facts;
use crate::ast::{self, ActionScope, ConditionKind, ResourceScope};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::typed::{self, Ty};

impl Checker<'_> {
    pub(super) fn check_rule(&mut self, rule: &ast::Rule) {
        let origin = self.origin(rule.span);
        let (id, annotations) = self.annotations(rule);
        // A package is one directory, so a file's name is unique within it
        // and ids stay the same wherever the policy is checked from.
        let id = id.unwrap_or_else(|| {
            let id = format!("{}:{}", origin.file_name(), origin.line);
            self.rule_ids.entry(id.clone()).or_insert(rule.span);
            id
        });

        let listed = self.rule_actions(&rule.actions);
        let (resource_types, store, complete) = self.resource_scope(rule, &listed);
        // Actions that cannot apply to the scoped resource types drop out.
        let actions: Vec<ActionId> = listed
            .iter()
            .copied()
            .filter(|a| applies(self.resource_types_of(*a), &resource_types))
            .collect();
        // An unknown type in `on` was reported; the rule's reach is unknown.
        if complete {
            self.warn_inapplicable(rule, &listed, &actions, &resource_types);
        }
        let principal_types = match &store {
            Some(name) => self.store_principal_types(name, &actions),
            None => self.principal_types(&actions),
        };

        let entity_ty = |types: &[EntityTypeId]| {
            if types.is_empty() {
                Ty::Error
            } else {
                Ty::Entity(types.to_vec())
            }
        };
        let scope = Scope::Rule {
            principal: entity_ty(&principal_types),
            resource: entity_ty(&resource_types),
            actions: actions.clone(),
        };
        let conditions = self.conditions(&rule.conditions, &scope);
        let typed_rule = typed::Rule {
            id,
            annotations,
            effect: rule.effect,
            actions,
            resource_types,
            principal_types,
            store,
            conditions,
            origin,
        };
        if complete {
            self.warn_impossible(&typed_rule);
        }
        self.keep_rule(typed_rule);
    }

    /// Checks `when`/`unless` clauses in order: they are evaluated in order
    /// and all must hold, so what a `when` establishes (or an `unless`
    /// refutes) is known in the clauses after it.
    pub(super) fn conditions(
        &mut self,
        clauses: &[ast::Condition],
        scope: &Scope,
    ) -> Vec<typed::Condition> {
        let mut facts = Facts::default();
        let mut conditions = Vec::with_capacity(clauses.len());
        for condition in clauses {
            let (expr, flow) = self
                .expr_cx(scope.clone())
                .condition(&condition.expr, &facts);
            facts = match condition.kind {
                ConditionKind::When => facts.and(&flow.when_true),
                ConditionKind::Unless => facts.and(&flow.when_false),
            };
            conditions.push(self.condition(condition, expr));
        }
        conditions
    }

    /// The rule's `@id` (checked for uniqueness) and its other annotations.
    fn annotations(&mut self, rule: &ast::Rule) -> (Option<String>, Vec<(String, String)>) {
        let mut id: Option<String> = None;
        let mut others = Vec::new();
        for annotation in &rule.annotations {
            let value = annotation.value.as_ref().map(|v| v.value.clone());
            if annotation.key.name != "id" {
                others.push((annotation.key.name.clone(), value.unwrap_or_default()));
                continue;
            }
            let Some(value) = value else {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        annotation.span,
                        "`@id` needs a name",
                    )
                    .label("no value")
                    .help("write `@id(\"rule-name\")`"),
                );
                continue;
            };
            if id.is_some() {
                self.diags.push(
                    Diagnostic::new(
                        &Code::INVALID_SETTING,
                        annotation.span,
                        "a rule has one `@id`",
                    )
                    .label("second `@id`"),
                );
                continue;
            }
            let span = annotation
                .value
                .as_ref()
                .map_or(annotation.span, |v| v.span);
            if let Some(previous) = self.rule_ids.get(&value) {
                self.diags.push(
                    Diagnostic::new(
                        &Code::DUPLICATE_RULE_ID,
                        span,
                        format!("rule id `{value}` is used twice"),
                    )
                    .label("used again here")
                    .with_secondary(*previous, "first used here")
                    .help("rule ids name rules in decisions; each must be unique"),
                );
            } else {
                self.rule_ids.insert(value.clone(), span);
            }
            id = Some(value);
        }
        (id, others)
    }

    /// The actions a rule's head names, groups standing for their actions.
    fn rule_actions(&mut self, scope: &ActionScope) -> Vec<ActionId> {
        let named: Vec<ActionId> = match scope {
            ActionScope::Any | ActionScope::All(_) => self.names.all_actions(),
            ActionScope::One(action) => self
                .names
                .action(action, &mut self.diags)
                .into_iter()
                .collect(),
            ActionScope::List(list, _) => list
                .iter()
                .filter_map(|a| self.names.action(a, &mut self.diags))
                .collect(),
        };
        let mut actions: Vec<ActionId> = named.iter().flat_map(|a| self.names.expand(*a)).collect();
        actions.sort();
        actions.dedup();
        actions
    }

    fn resource_types_of(&self, action: ActionId) -> &[EntityTypeId] {
        self.names
            .schema
            .action(action)
            .map_or(&[][..], |a| a.resource_types.as_slice())
    }

    /// The resource types the rule ranges over, its store if it names one,
    /// and whether every type it names resolved.
    fn resource_scope(
        &mut self,
        rule: &ast::Rule,
        actions: &[ActionId],
    ) -> (Vec<EntityTypeId>, Option<String>, bool) {
        let (types, store) = match &rule.resource {
            None => {
                let mut types = Vec::new();
                for action in actions {
                    let of = self.resource_types_of(*action);
                    if of.is_empty() && self.names.partial_resources.contains(action) {
                        // Its `on` list did not resolve (reported): its
                        // resources are unknown, which reads as an error type.
                        continue;
                    }
                    if of.is_empty() {
                        return (self.names.all_entity_types(), None, true);
                    }
                    types.extend_from_slice(of);
                }
                types.sort();
                types.dedup();
                (types, None)
            }
            Some(ResourceScope::Types { types, .. }) => {
                let mut ids: Vec<EntityTypeId> = types
                    .iter()
                    .filter_map(|t| self.names.entity(t, &mut self.diags))
                    .collect();
                if ids.len() < types.len() {
                    return (ids, None, false);
                }
                ids.sort();
                ids.dedup();
                (ids, None)
            }
            Some(ResourceScope::Store(name, _)) => {
                // A store declared with errors (reported) still exists.
                if !self.store_spans.contains_key(&name.name) && !self.in_broken_item(&name.name) {
                    let diagnostic = Diagnostic::new(
                        &Code::UNKNOWN_STORE,
                        name.span,
                        format!("unknown store `{}`", name.name),
                    )
                    .label("no such store")
                    .suggest(&name.name, self.store_spans.keys().map(String::as_str));
                    let diagnostic = if diagnostic.help.is_none() {
                        diagnostic.help(format!("declare it: `store {} {{ ttl 1h }}`", name.name))
                    } else {
                        diagnostic
                    };
                    self.diags.push(diagnostic);
                }
                (vec![self.names.store_entity()], Some(name.name.clone()))
            }
        };
        (types, store, true)
    }

    /// Who may be the principal of a rule on one store: the store's `by`
    /// list (or its default) for the store actions the rule covers, and
    /// their own `by` lists for its other actions.
    fn store_principal_types(&self, store: &str, actions: &[ActionId]) -> Vec<EntityTypeId> {
        // The store's `by` list admits principals to its own actions; any
        // other action keeps the principals its declaration allows.
        let (store_actions, others): (Vec<ActionId>, Vec<ActionId>) =
            actions.iter().partition(|a| {
                self.names.schema.action(**a).is_some_and(|def| {
                    reaper_lang::schema::STORE_ACTIONS.contains(&def.name.as_str())
                })
            });
        let mut types = match self.names.store_principals.get(store) {
            Some(types) if !types.is_empty() && !store_actions.is_empty() => types.clone(),
            Some(_) if !store_actions.is_empty() => return self.names.all_entity_types(),
            _ => self.principal_types(&store_actions),
        };
        if !others.is_empty() {
            types.extend(self.principal_types(&others));
            types.sort();
            types.dedup();
        }
        types
    }

    /// Warns about listed actions that can never apply to the rule's resources.
    fn warn_inapplicable(
        &mut self,
        rule: &ast::Rule,
        listed: &[ActionId],
        kept: &[ActionId],
        resources: &[EntityTypeId],
    ) {
        let explicit = matches!(rule.actions, ActionScope::One(_) | ActionScope::List(..));
        let scope_span = match &rule.resource {
            Some(ResourceScope::Types { span, .. } | ResourceScope::Store(_, span)) => *span,
            None => rule.effect_span,
        };
        if kept.is_empty() && !listed.is_empty() {
            let on = self.describe_types(resources);
            self.diags.push(
                Diagnostic::new(
                    &Code::RULE_NEVER_APPLIES,
                    scope_span,
                    format!("this rule never applies: none of its actions apply to {on}"),
                )
                .label("no action applies here")
                .with_secondary(rule.effect_span, "this rule")
                .help("check the `on` types of the actions' declarations"),
            );
            return;
        }
        if !explicit {
            return;
        }
        for action in listed.iter().filter(|a| !kept.contains(a)) {
            let span =
                action_span(&rule.actions, self.names.action_name(*action)).unwrap_or(scope_span);
            let on = self.describe_types(resources);
            let name = self.names.action_name(*action).to_owned();
            self.diags.push(
                Diagnostic::new(
                    &Code::RULE_NEVER_APPLIES,
                    span,
                    format!("action `{name}` does not apply to {on}"),
                )
                .label("never applies here")
                .help(format!(
                    "remove `{name}` from this rule, or add the type to `action {name} on …`"
                )),
            );
        }
    }

    fn describe_types(&self, types: &[EntityTypeId]) -> String {
        let names: Vec<String> = types
            .iter()
            .map(|t| format!("`{}`", self.names.entity_name(*t)))
            .collect();
        if names.is_empty() {
            "these resources".into()
        } else {
            names.join(" or ")
        }
    }

    /// Principal types the actions allow: their `by` lists, or any type.
    fn principal_types(&self, actions: &[ActionId]) -> Vec<EntityTypeId> {
        let mut types = Vec::new();
        for action in actions {
            let Some(def) = self.names.schema.action(*action) else {
                continue;
            };
            if def.principal_types.is_empty() && self.names.partial_principals.contains(action) {
                // Its `by` list did not resolve (reported): unknown, not any.
                continue;
            }
            if def.principal_types.is_empty() {
                return self.names.all_entity_types();
            }
            types.extend_from_slice(&def.principal_types);
        }
        types.sort();
        types.dedup();
        types
    }
}

/// Whether an action whose resource types are `of` (empty: any) can apply to
/// one of `resources`.
fn applies(of: &[EntityTypeId], resources: &[EntityTypeId]) -> bool {
    of.is_empty() || of.iter().any(|t| resources.contains(t))
}

fn action_span(scope: &ActionScope, name: &str) -> Option<Span> {
    let refs: Vec<&ast::ActionRef> = match scope {
        ActionScope::One(action) => vec![action],
        ActionScope::List(list, _) => list.iter().collect(),
        _ => Vec::new(),
    };
    refs.into_iter()
        .find(|a| a.full_name() == name)
        .map(|a| a.span)
}
