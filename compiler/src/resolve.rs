//! Stage 3, names: collects the declarations of every file of a package into
//! one schema and symbol table: entity types (enumerated ones with their
//! ids), type aliases, actions with their groups and context records, the
//! package context, and who may access each store. Reports duplicate
//! declarations, unknown type names and malformed groups; the checker then
//! resolves every use against [`Names`].

mod sensitive;

use std::collections::{HashMap, HashSet};

use reaper_lang::schema::{
    ActionDef, EntityTypeDef, STORE_ACTIONS, STORE_CONTEXT_FIELDS, STORE_ENTITY, Schema, index_u32,
    store_action_context,
};
use reaper_lang::types::{self, ActionId, EntityTypeId, Field, RecordType, Type};

use crate::ast::{self, Item};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;

/// The package's declared names, with where each was declared.
#[derive(Debug, Default)]
pub struct Names {
    pub schema: Schema,
    entity_ids: HashMap<String, EntityTypeId>,
    action_ids: HashMap<String, ActionId>,
    /// Declaration span per entity type; `None` for built-ins.
    pub entity_spans: Vec<Option<Span>>,
    /// Declaration span per action; `None` for built-ins.
    pub action_spans: Vec<Option<Span>>,
    /// Entity types referenced anywhere but their own declaration.
    pub used_entities: HashSet<EntityTypeId>,
    /// Names whose declaration did not parse: unknown, but already reported.
    broken: HashSet<String>,
    /// Attributes left out of the schema because their type did not resolve
    /// (already reported), by owner (`None`: the context). Reading one is
    /// not reported again.
    pub dropped_attrs: HashSet<(Option<EntityTypeId>, String)>,
    /// Actions whose `on` list named a type that did not resolve: their
    /// resource types are unknown, not "any type".
    pub partial_resources: HashSet<ActionId>,
    /// Actions whose `by` list named a type that did not resolve.
    pub partial_principals: HashSet<ActionId>,
    /// Type aliases by name: the declaration, and the type once resolved
    /// (`None` while resolving, to catch cycles, or after an error).
    aliases: HashMap<String, (ast::TypeExpr, Span, Option<Option<Type>>)>,
    /// Who may access each declared store: its `by` list, or the default
    /// (every declared action's principals); empty means any type.
    pub store_principals: HashMap<String, Vec<EntityTypeId>>,
    /// Aliases being resolved, innermost last.
    alias_stack: Vec<String>,
    /// What the checker found each name and expression to be, when asked
    /// to record it (for editors: [`crate::symbols`]).
    pub(crate) recorded: Option<Box<crate::symbols::Recorded>>,
}

impl Names {
    pub fn store_entity(&self) -> EntityTypeId {
        self.entity_ids
            .get(STORE_ENTITY)
            .copied()
            .unwrap_or(EntityTypeId(0))
    }

    pub fn all_entity_types(&self) -> Vec<EntityTypeId> {
        (0..self.schema.entity_types.len())
            .map(|i| EntityTypeId(index_u32(i)))
            .collect()
    }

    pub fn all_actions(&self) -> Vec<ActionId> {
        (0..self.schema.actions.len())
            .map(|i| ActionId(index_u32(i)))
            .collect()
    }

    pub fn entity_name(&self, id: EntityTypeId) -> &str {
        self.schema.entity_type(id).map_or("?", |t| t.name.as_str())
    }

    pub fn action_name(&self, id: ActionId) -> &str {
        self.schema.action(id).map_or("?", |a| a.name.as_str())
    }

    pub fn action_names(&self) -> impl Iterator<Item = &str> {
        self.schema.actions.iter().map(|a| a.name.as_str())
    }

    /// Whether `id` is an action group (named in another action's `in`).
    pub fn is_group(&self, id: ActionId) -> bool {
        self.schema.action(id).is_some_and(|a| a.is_group)
    }

    /// The actions an action or group stands for in a rule or a condition:
    /// itself, or every action in the group (nested groups included).
    pub fn expand(&self, id: ActionId) -> Vec<ActionId> {
        if !self.is_group(id) {
            return vec![id];
        }
        self.schema
            .members(id)
            .into_iter()
            .filter(|m| !self.is_group(*m))
            .collect()
    }

    fn entity_names(&self) -> impl Iterator<Item = &str> {
        self.schema.entity_types.iter().map(|t| t.name.as_str())
    }

    /// Looks up an entity type by name; reports it if unknown.
    pub fn entity(
        &mut self,
        name: &ast::Ident,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<EntityTypeId> {
        self.entity_use(name, None, diags)
    }

    /// Like [`Names::entity`], not counting a reference from `from` itself
    /// (`entity Folder in [Folder]` does not make `Folder` used).
    fn entity_use(
        &mut self,
        name: &ast::Ident,
        from: Option<EntityTypeId>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<EntityTypeId> {
        if let Some(id) = self.entity_ids.get(&name.name).copied() {
            if from != Some(id) {
                self.used_entities.insert(id);
            }
            return Some(id);
        }
        if self.broken.contains(&name.name) {
            return None;
        }
        let mut diagnostic = Diagnostic::new(
            &Code::UNKNOWN_ENTITY_TYPE,
            name.span,
            format!("unknown entity type `{}`", name.name),
        )
        .label("not declared")
        .suggest(&name.name, self.entity_names());
        if diagnostic.help.is_none() {
            diagnostic = diagnostic.help(format!("declare it: `entity {}`", name.name));
        }
        diags.push(diagnostic);
        None
    }

    /// Looks up an action; reports it if unknown.
    pub fn action(&self, action: &ast::ActionRef, diags: &mut Vec<Diagnostic>) -> Option<ActionId> {
        let name = action.full_name();
        if let Some(id) = self.action_ids.get(&name) {
            return Some(*id);
        }
        if self.broken.contains(&name) {
            return None;
        }
        let mut diagnostic = Diagnostic::new(
            &Code::UNKNOWN_ACTION,
            action.span,
            format!("unknown action `{name}`"),
        )
        .label("not declared")
        .suggest(&name, self.action_names());
        if diagnostic.help.is_none() {
            diagnostic = if action.store {
                diagnostic.help(format!("store actions are {}", STORE_ACTIONS.join(", ")))
            } else {
                diagnostic.help(format!("declare it: `action {name} on …`"))
            };
        }
        diags.push(diagnostic);
        None
    }

    pub fn action_by_name(&self, name: &str) -> Option<ActionId> {
        self.action_ids.get(name).copied()
    }

    /// Whether `attr` of `owner` was left out of the schema after an error.
    pub fn is_dropped(&self, owner: Option<EntityTypeId>, attr: &str) -> bool {
        self.dropped_attrs.contains(&(owner, attr.to_owned()))
    }

    /// Remembers the declared attributes that `record` lacks: their types
    /// did not resolve, and that was reported.
    fn note_dropped(
        &mut self,
        owner: Option<EntityTypeId>,
        declared: &[ast::AttrDecl],
        record: &RecordType,
    ) {
        for attr in declared {
            if record.field(&attr.name.name).is_none() {
                self.dropped_attrs.insert((owner, attr.name.name.clone()));
            }
        }
    }

    /// The type an alias stands for, resolving it on first use; `None`
    /// (reported) when it does not resolve or refers to itself.
    fn alias(&mut self, name: &ast::Ident, diags: &mut Vec<Diagnostic>) -> Option<Type> {
        let (expr, span, state) = self.aliases.get(&name.name)?.clone();
        match state {
            Some(resolved) => resolved,
            None if self.resolving_alias(&name.name) => {
                diags.push(
                    Diagnostic::new(
                        &Code::RECURSIVE_TYPE_ALIAS,
                        name.span,
                        format!("type alias `{}` refers to itself", name.name),
                    )
                    .label("used in its own definition")
                    .with_secondary(span, "declared here")
                    .help("a type cannot contain itself; use an entity type to refer back"),
                );
                // Mark it resolved (as an error) so the cycle is reported once.
                if let Some(entry) = self.aliases.get_mut(&name.name) {
                    entry.2 = Some(None);
                }
                None
            }
            None => {
                self.alias_stack.push(name.name.clone());
                let resolved = declared_type(self, &expr, None, diags);
                self.alias_stack.pop();
                if let Some(entry) = self.aliases.get_mut(&name.name)
                    && entry.2.is_none()
                {
                    entry.2 = Some(resolved.clone());
                }
                resolved
            }
        }
    }

    fn resolving_alias(&self, name: &str) -> bool {
        self.alias_stack.iter().any(|n| n == name)
    }
}

/// Builds the schema from the declarations of all files, in file order.
pub fn resolve(files: &[&ast::File], diags: &mut Vec<Diagnostic>) -> Names {
    let mut names = Names::default();
    let items = || files.iter().flat_map(|f| f.items.iter());
    for item in items() {
        if let Item::Error(ast::BrokenItem {
            declares: Some((_, name)),
            ..
        }) = item
        {
            names.broken.insert(name.name.clone());
        }
    }

    // Entity type names first: attributes and actions may refer to any of them.
    let mut entity_decls = Vec::new();
    for item in items() {
        if let Item::Entity(decl) = item {
            let index = names.entity_ids.get(&decl.name.name).map(|id| id.0);
            if let Some(previous) =
                earlier(index, &names.entity_spans, decl.name.name == STORE_ENTITY)
            {
                diags.push(duplicate("entity type", &decl.name, previous));
                continue;
            }
            let id = EntityTypeId(index_u32(names.schema.entity_types.len()));
            names.entity_ids.insert(decl.name.name.clone(), id);
            names.entity_spans.push(Some(decl.name.span));
            names.schema.entity_types.push(EntityTypeDef {
                name: decl.name.name.clone(),
                parents: Vec::new(),
                attrs: RecordType::default(),
                ids: None,
            });
            entity_decls.push((id, decl));
        }
    }
    // The built-in `Store` type: its entities are the declared stores.
    let store = EntityTypeId(index_u32(names.schema.entity_types.len()));
    names.entity_ids.insert(STORE_ENTITY.into(), store);
    names.entity_spans.push(None);
    let mut store_names: Vec<String> = Vec::new();
    for item in items() {
        if let Item::Store(decl) = item
            && !store_names.contains(&decl.name.name)
        {
            store_names.push(decl.name.name.clone());
        }
    }
    names.schema.entity_types.push(EntityTypeDef {
        name: STORE_ENTITY.into(),
        parents: Vec::new(),
        attrs: RecordType::default(),
        ids: Some(store_names),
    });

    collect_aliases(&mut names, items().collect(), diags);

    for (id, decl) in entity_decls {
        let mut parents = Vec::new();
        for parent in &decl.parents {
            if let Some(parent) = names.entity_use(parent, Some(id), diags)
                && !parents.contains(&parent)
            {
                parents.push(parent);
            }
        }
        let attrs = match &decl.attrs {
            Some(attrs) => {
                let record = record_type(&mut names, attrs, Some(id), diags);
                names.note_dropped(Some(id), attrs, &record);
                record
            }
            None => RecordType::default(),
        };
        let ids = decl.ids.as_ref().map(|ids| enum_ids(ids, diags));
        let def = &mut names.schema.entity_types[id.0 as usize];
        def.parents = parents;
        def.attrs = attrs;
        def.ids = ids;
    }
    // Resolve every alias, used or not, so each is checked once.
    let alias_names: Vec<(String, Span)> = names
        .aliases
        .iter()
        .map(|(name, (_, span, _))| (name.clone(), *span))
        .collect();
    for (name, span) in alias_names {
        names.alias(&ast::Ident { name, span }, diags);
    }

    let mut context_span: Option<Span> = None;
    for item in items() {
        if let Item::Context(decl) = item {
            if let Some(previous) = context_span {
                diags.push(
                    Diagnostic::new(
                        &Code::DUPLICATE_DECLARATION,
                        decl.span,
                        "the context is declared twice",
                    )
                    .label("second declaration")
                    .with_secondary(previous, "first declared here")
                    .help("declare all context fields in one `context { … }`"),
                );
                continue;
            }
            context_span = Some(decl.span);
            names.schema.context = record_type(&mut names, &decl.attrs, None, diags);
            let context = names.schema.context.clone();
            names.note_dropped(None, &decl.attrs, &context);
            if !names.schema.entity_types[store.0 as usize]
                .ids
                .as_ref()
                .is_none_or(Vec::is_empty)
            {
                reserved_store_fields(&decl.attrs, diags);
            }
        }
    }

    let action_decls = declare_actions(&mut names, items().collect(), diags);
    resolve_groups(&mut names, &action_decls, diags);
    declare_store_actions(&mut names, items().collect(), store, diags);
    sensitive::mark(&mut names, files, diags);
    names
}

/// The ids of an enumerated type, each once.
fn enum_ids(ids: &[ast::StrLit], diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for id in ids {
        if let Some(previous) = seen.get(id.value.as_str()) {
            diags.push(
                Diagnostic::new(
                    &Code::DUPLICATE_DECLARATION,
                    id.span,
                    format!("id {:?} is listed twice", id.value),
                )
                .label("listed again here")
                .with_secondary(*previous, "first listed here"),
            );
            continue;
        }
        seen.insert(&id.value, id.span);
        out.push(id.value.clone());
    }
    out
}

/// Collects `type` declarations; they resolve when first used.
fn collect_aliases(names: &mut Names, items: Vec<&Item>, diags: &mut Vec<Diagnostic>) {
    for item in items {
        let Item::TypeAlias(decl) = item else {
            continue;
        };
        let name = &decl.name;
        let clash = if types::primitive(&name.name).is_some()
            || types::GENERIC_NAMES.contains(&name.name.as_str())
        {
            Some(None)
        } else if let Some(id) = names.entity_ids.get(&name.name) {
            Some(names.entity_spans.get(id.0 as usize).copied().flatten())
        } else {
            names
                .aliases
                .get(&name.name)
                .map(|(_, span, _)| Some(*span))
        };
        if let Some(previous) = clash {
            diags.push(duplicate("type", name, previous));
            continue;
        }
        names
            .aliases
            .insert(name.name.clone(), (decl.ty.clone(), name.span, None));
    }
}

/// With stores declared, the context may not declare the fields store
/// actions add (`key`, `ttl`, `size`): each would mean two things.
fn reserved_store_fields(attrs: &[ast::AttrDecl], diags: &mut Vec<Diagnostic>) {
    for attr in attrs {
        if STORE_CONTEXT_FIELDS
            .iter()
            .any(|(name, _, _)| *name == attr.name.name)
        {
            diags.push(
                Diagnostic::new(
                    &Code::DUPLICATE_DECLARATION,
                    attr.name.span,
                    format!(
                        "context field `{}` is reserved: store actions carry it",
                        attr.name.name
                    ),
                )
                .label("declared here")
                .help("store reads, writes and deletes set `context.key` (and writes `context.ttl` and `context.size`); rename this field"),
            );
        }
    }
}

/// Declares every action, with its `on`, `by` and context record; groups
/// are linked afterwards, as they may be declared in any order.
fn declare_actions<'a>(
    names: &mut Names,
    items: Vec<&'a Item>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(ActionId, &'a ast::ActionDecl)> {
    let mut declared = Vec::new();
    for item in items {
        let Item::Action(decl) = item else { continue };
        let resource_types = type_list(names, &decl.resources, diags);
        let principal_types = type_list(names, &decl.principals, diags);
        let context = decl.context.as_ref().map(|attrs| {
            let record = record_type(names, attrs, None, diags);
            // Own context fields that did not resolve are reported already.
            for attr in attrs {
                if record.field(&attr.name.name).is_none() {
                    names.dropped_attrs.insert((None, attr.name.name.clone()));
                }
            }
            record
        });
        let unresolved =
            |list: &[ast::Ident]| list.iter().any(|t| !names.entity_ids.contains_key(&t.name));
        let (partial_resources, partial_principals) =
            (unresolved(&decl.resources), unresolved(&decl.principals));
        for name in &decl.names {
            let index = names.action_ids.get(&name.name).map(|id| id.0);
            if let Some(previous) = earlier(index, &names.action_spans, false) {
                diags.push(duplicate("action", name, previous));
                continue;
            }
            let id = ActionId(index_u32(names.schema.actions.len()));
            if partial_resources {
                names.partial_resources.insert(id);
            }
            if partial_principals {
                names.partial_principals.insert(id);
            }
            names.action_ids.insert(name.name.clone(), id);
            names.action_spans.push(Some(name.span));
            names.schema.actions.push(ActionDef {
                name: name.name.clone(),
                resource_types: resource_types.clone(),
                principal_types: principal_types.clone(),
                groups: Vec::new(),
                is_group: false,
                context: context.clone(),
            });
            declared.push((id, &**decl));
        }
    }
    declared
}

/// Links actions to their groups (`in [readers]`), refuses cycles and
/// groups that declare what only actions can (`on`, `by`, `context`), and
/// gives each group the union of its members' types.
fn resolve_groups(
    names: &mut Names,
    declared: &[(ActionId, &ast::ActionDecl)],
    diags: &mut Vec<Diagnostic>,
) {
    for (id, decl) in declared {
        let mut groups = Vec::new();
        for group in &decl.groups {
            let reference = ast::ActionRef {
                store: false,
                name: group.clone(),
                span: group.span,
            };
            let Some(group_id) = names.action(&reference, diags) else {
                continue;
            };
            if names
                .action_spans
                .get(group_id.0 as usize)
                .copied()
                .flatten()
                .is_none()
            {
                diags.push(
                    Diagnostic::new(
                        &Code::INVALID_ACTION_GROUP,
                        group.span,
                        format!("built-in action `{}` is not a group", group.name),
                    )
                    .label("not a group"),
                );
                continue;
            }
            if !groups.contains(&group_id) {
                groups.push(group_id);
            }
        }
        groups.sort();
        if let Some(def) = names.schema.actions.get_mut(id.0 as usize) {
            def.groups = groups;
        }
    }
    let groups: HashSet<ActionId> = names
        .schema
        .actions
        .iter()
        .flat_map(|a| a.groups.iter().copied())
        .collect();
    for group in &groups {
        if let Some(def) = names.schema.actions.get_mut(group.0 as usize) {
            def.is_group = true;
        }
    }
    // A group declares only its name (and the groups it is in).
    for (id, decl) in declared {
        if !groups.contains(id) {
            continue;
        }
        let extra = if !decl.resources.is_empty() {
            Some("on")
        } else if !decl.principals.is_empty() {
            Some("by")
        } else if decl.context.is_some() {
            Some("context")
        } else {
            None
        };
        if let Some(what) = extra {
            let name = names.action_name(*id).to_owned();
            diags.push(
                Diagnostic::new(
                    &Code::INVALID_ACTION_GROUP,
                    decl.span,
                    format!("action group `{name}` declares `{what}`"),
                )
                .label("a group applies through its actions")
                .help(format!(
                    "declare `{what}` on the actions in `{name}`, and declare the group alone: `action {name}`"
                )),
            );
        }
    }
    // Cycles: an action may not be (transitively) in itself.
    for (id, decl) in declared {
        if names
            .schema
            .action(*id)
            .is_some_and(|a| !a.groups.is_empty())
            && in_own_group(&names.schema, *id)
        {
            let name = names.action_name(*id).to_owned();
            diags.push(
                Diagnostic::new(
                    &Code::INVALID_ACTION_GROUP,
                    decl.span,
                    format!("action `{name}` is in a group that is in `{name}`"),
                )
                .label("groups form a cycle")
                .help("groups nest like a tree: no action is in itself"),
            );
            if let Some(def) = names.schema.actions.get_mut(id.0 as usize) {
                def.groups.clear();
            }
        }
    }
    let mut union = Vec::new();
    for group in &groups {
        let members = names.expand(*group);
        let join = |of: &dyn Fn(&ActionDef) -> &Vec<EntityTypeId>| -> Vec<EntityTypeId> {
            let mut types = Vec::new();
            for member in &members {
                let Some(def) = names.schema.action(*member) else {
                    continue;
                };
                if of(def).is_empty() {
                    return Vec::new();
                }
                types.extend(of(def).iter().copied());
            }
            types.sort();
            types.dedup();
            types
        };
        union.push((
            *group,
            join(&|a: &ActionDef| &a.resource_types),
            join(&|a: &ActionDef| &a.principal_types),
        ));
    }
    for (group, resources, principals) in union {
        if let Some(def) = names.schema.actions.get_mut(group.0 as usize) {
            def.resource_types = resources;
            def.principal_types = principals;
        }
    }
}

/// Whether `action` is reachable from its own groups.
fn in_own_group(schema: &Schema, action: ActionId) -> bool {
    let mut seen: Vec<ActionId> = schema
        .action(action)
        .map(|a| a.groups.clone())
        .unwrap_or_default();
    let mut next = 0;
    while let Some(current) = seen.get(next).copied() {
        next += 1;
        if current == action {
            return true;
        }
        for parent in schema.action(current).map_or(&[][..], |a| &a.groups) {
            if !seen.contains(parent) {
                seen.push(*parent);
            }
        }
    }
    false
}

/// The built-in store actions. Each store is accessed by the principals its
/// `by` names, or by default by whoever does the declared actions (every
/// type some action names in `by`; any type if one leaves it open); the
/// store actions' principals are those of all stores. Their context is the
/// package's with the store fields (`key`, and for writes `ttl`, `size`).
fn declare_store_actions(
    names: &mut Names,
    items: Vec<&Item>,
    store: EntityTypeId,
    diags: &mut Vec<Diagnostic>,
) {
    let declared: Vec<&ActionDef> = names
        .schema
        .actions
        .iter()
        .filter(|a| !a.is_group)
        .collect();
    let open = declared.is_empty() || declared.iter().any(|a| a.principal_types.is_empty());
    let mut default: Vec<EntityTypeId> = if open {
        Vec::new()
    } else {
        declared
            .iter()
            .flat_map(|a| a.principal_types.iter().copied())
            .collect()
    };
    default.sort();
    default.dedup();
    let mut all: Option<Vec<EntityTypeId>> = Some(Vec::new());
    let mut any_store = false;
    for item in items {
        let Item::Store(decl) = item else { continue };
        if names.store_principals.contains_key(&decl.name.name) {
            continue;
        }
        any_store = true;
        let principals = if decl.principals.is_empty() {
            default.clone()
        } else {
            type_list(names, &decl.principals, diags)
        };
        all = match (all, principals.is_empty()) {
            (Some(mut so_far), false) => {
                so_far.extend(principals.iter().copied());
                Some(so_far)
            }
            _ => None,
        };
        names
            .store_principals
            .insert(decl.name.name.clone(), principals);
    }
    let mut store_principals = match all {
        Some(types) if any_store => types,
        _ if any_store => Vec::new(),
        _ => default,
    };
    store_principals.sort();
    store_principals.dedup();
    for name in STORE_ACTIONS {
        names
            .action_ids
            .insert(name.into(), ActionId(index_u32(names.schema.actions.len())));
        names.action_spans.push(None);
        names.schema.actions.push(ActionDef {
            name: name.into(),
            resource_types: vec![store],
            principal_types: store_principals.clone(),
            groups: Vec::new(),
            is_group: false,
            context: Some(store_action_context(&names.schema.context, name)),
        });
    }
}

/// Where `name` was declared before: `Some(Some(span))` for an earlier
/// declaration, `Some(None)` for a built-in, `None` if it is new.
fn earlier(index: Option<u32>, spans: &[Option<Span>], builtin: bool) -> Option<Option<Span>> {
    if builtin {
        return Some(None);
    }
    index.map(|i| spans.get(i as usize).copied().flatten())
}

fn duplicate(what: &str, name: &ast::Ident, previous: Option<Span>) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        &Code::DUPLICATE_DECLARATION,
        name.span,
        format!("{what} `{}` is declared twice", name.name),
    )
    .label("declared again here");
    match previous {
        Some(span) => diagnostic
            .with_secondary(span, "first declared here")
            .help("remove one declaration, or rename it"),
        None => diagnostic.help(format!("`{}` is built in; choose another name", name.name)),
    }
}

fn type_list(
    names: &mut Names,
    list: &[ast::Ident],
    diags: &mut Vec<Diagnostic>,
) -> Vec<EntityTypeId> {
    let mut ids: Vec<EntityTypeId> = list.iter().filter_map(|t| names.entity(t, diags)).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn record_type(
    names: &mut Names,
    attrs: &[ast::AttrDecl],
    owner: Option<EntityTypeId>,
    diags: &mut Vec<Diagnostic>,
) -> RecordType {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for attr in attrs {
        if let Some(previous) = seen.get(attr.name.name.as_str()) {
            let name = ast::Ident {
                name: attr.name.name.clone(),
                span: attr.name.span,
            };
            diags.push(duplicate("attribute", &name, Some(*previous)));
            continue;
        }
        seen.insert(&attr.name.name, attr.name.span);
        let Some(ty) = declared_type(names, &attr.ty, owner, diags) else {
            continue;
        };
        fields.push(Field {
            name: attr.name.name.clone(),
            ty,
            optional: attr.optional,
        });
    }
    RecordType::new(fields)
}

/// Resolves a written type; `None` (after a diagnostic) if a name is unknown.
fn declared_type(
    names: &mut Names,
    ty: &ast::TypeExpr,
    owner: Option<EntityTypeId>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Type> {
    match ty {
        ast::TypeExpr::Named(name) => {
            if let Some(primitive) = types::primitive(&name.name) {
                return Some(primitive);
            }
            if names.entity_ids.contains_key(&name.name) {
                return names.entity_use(name, owner, diags).map(Type::Entity);
            }
            if names.aliases.contains_key(&name.name) {
                return names.alias(name, diags);
            }
            if names.broken.contains(&name.name) {
                // Its declaration did not parse; that error is enough.
                return None;
            }
            let aliases: Vec<String> = names.aliases.keys().cloned().collect();
            let candidates: Vec<&str> = types::PRIMITIVE_NAMES
                .iter()
                .map(|(n, _)| *n)
                .chain(types::GENERIC_NAMES)
                .chain(names.entity_names())
                .chain(aliases.iter().map(String::as_str))
                .collect();
            let mut diagnostic = Diagnostic::new(
                &Code::UNKNOWN_TYPE,
                name.span,
                format!("unknown type `{}`", name.name),
            )
            .label("not a type")
            .suggest(&name.name, candidates);
            if diagnostic.help.is_none() {
                diagnostic = diagnostic.help(
                    "types are Bool, Int, String, Ip, Duration, Timestamp, Decimal, Set<T>, Map<String, T>, records `{ … }`, entity types and `type` aliases",
                );
            }
            diags.push(diagnostic);
            None
        }
        ast::TypeExpr::Generic { name, args, .. } => {
            // A malformed generic was reported by the parser.
            let last = args.last()?;
            let inner = declared_type(names, last, owner, diags)?;
            match (name.name.as_str(), args.len()) {
                ("Set", 1) => Some(Type::Set(Box::new(inner))),
                ("Map", 2) => Some(Type::Map(Box::new(inner))),
                _ => None,
            }
        }
        ast::TypeExpr::Record(fields, _) => {
            Some(Type::Record(record_type(names, fields, owner, diags)))
        }
    }
}
