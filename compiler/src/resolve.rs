//! Stage 3, names: collects the declarations of every file of a package into
//! one schema and symbol table. Reports duplicate declarations and unknown
//! type names; the checker then resolves every use against [`Names`].

use std::collections::{HashMap, HashSet};

use reaper_lang::schema::{
    ActionDef, EntityTypeDef, STORE_ACTIONS, STORE_ENTITY, Schema, index_u32,
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
            });
            entity_decls.push((id, decl));
        }
    }
    let store = EntityTypeId(index_u32(names.schema.entity_types.len()));
    names.entity_ids.insert(STORE_ENTITY.into(), store);
    names.entity_spans.push(None);
    names.schema.entity_types.push(EntityTypeDef {
        name: STORE_ENTITY.into(),
        parents: Vec::new(),
        attrs: RecordType::default(),
    });

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
        let def = &mut names.schema.entity_types[id.0 as usize];
        def.parents = parents;
        def.attrs = attrs;
    }

    for item in items() {
        if let Item::Action(decl) = item {
            let resource_types = type_list(&mut names, &decl.resources, diags);
            let principal_types = type_list(&mut names, &decl.principals, diags);
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
                });
            }
        }
    }
    // Store actions are done by whoever does the declared actions: their
    // principals are all types the declared actions name in `by` (any type
    // if some action leaves its principals open). So `forbid *` can still
    // read principal attributes.
    let declared = &names.schema.actions;
    let open = declared.is_empty() || declared.iter().any(|a| a.principal_types.is_empty());
    let mut store_principals: Vec<EntityTypeId> = if open {
        Vec::new()
    } else {
        declared
            .iter()
            .flat_map(|a| a.principal_types.iter().copied())
            .collect()
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
        });
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
        }
    }
    names
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
            diags.push(duplicate("attribute", &attr.name, Some(*previous)));
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
            if names.broken.contains(&name.name) {
                // Its declaration did not parse; that error is enough.
                return None;
            }
            let candidates: Vec<&str> = types::PRIMITIVE_NAMES
                .iter()
                .map(|(n, _)| *n)
                .chain(["Set"])
                .chain(names.entity_names())
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
                    "types are Bool, Int, String, Ip, Duration, Timestamp, Set<T>, records `{ … }` and entity types",
                );
            }
            diags.push(diagnostic);
            None
        }
        ast::TypeExpr::Set(inner, _) => {
            declared_type(names, inner, owner, diags).map(|t| Type::Set(Box::new(t)))
        }
        ast::TypeExpr::Record(fields, _) => {
            Some(Type::Record(record_type(names, fields, owner, diags)))
        }
    }
}
