//! The fixed schema the differential generator writes policies against: a
//! recursive hierarchy, several principal and resource types with shared and
//! distinct attributes (some quoted, some declared through type aliases),
//! optional attributes, records, maps and sets of every kind, an enumerated
//! entity type, actions with and without `on`/`by`, nested action groups,
//! actions with their own context records, a package context and three
//! stores with different principals.

/// A declared type, as the generator tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum T {
    Bool,
    Int,
    Str,
    Ip,
    Dur,
    Ts,
    Dec,
    /// An entity of one of these types (empty: any type).
    Ent(Vec<usize>),
    Set(Box<T>),
    /// `Map<String, T>`.
    Map(Box<T>),
    /// Fields sorted by name.
    Rec(Vec<Field>),
    /// The context of a rule whose actions have different context records:
    /// the fields that read alike for all of them (optional where some
    /// action lacks one), and the fields whose types differ between the
    /// actions (only `has` can test those).
    Ctx(Vec<Field>, Vec<&'static str>),
    Action,
}

impl T {
    pub fn set(elem: T) -> T {
        T::Set(Box::new(elem))
    }

    pub fn map(value: T) -> T {
        T::Map(Box::new(value))
    }

    /// Whether a value of type `self` may stand where `want` is expected in
    /// `==`, sets and `if` branches (entity types join into unions).
    pub fn fits(&self, want: &T) -> bool {
        match (self, want) {
            (T::Ent(_), T::Ent(_)) => true,
            (T::Set(a), T::Set(b)) | (T::Map(a), T::Map(b)) => a.fits(b),
            _ => self == want,
        }
    }

    /// Whether a literal of this type can be written (records with optional
    /// fields cannot: a literal's fields are all required; maps have no
    /// literal outside test data).
    pub fn writable(&self) -> bool {
        match self {
            T::Set(elem) => elem.writable(),
            T::Rec(fields) => fields.iter().all(|f| !f.optional && f.ty.writable()),
            T::Map(_) | T::Ctx(..) => false,
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: T,
    pub optional: bool,
    /// The type alias the declaration names instead of writing the type.
    pub alias: Option<&'static str>,
}

fn req(name: &'static str, ty: T) -> Field {
    Field {
        name,
        ty,
        optional: false,
        alias: None,
    }
}

fn opt(name: &'static str, ty: T) -> Field {
    Field {
        name,
        ty,
        optional: true,
        alias: None,
    }
}

impl Field {
    fn via(mut self, alias: &'static str) -> Field {
        self.alias = Some(alias);
        self
    }
}

fn rec(mut fields: Vec<Field>) -> Vec<Field> {
    fields.sort_by_key(|f| f.name);
    fields
}

/// An attribute or field name as source writes it: bare when it is an
/// identifier, quoted otherwise.
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

pub struct EntityDef {
    pub name: &'static str,
    pub parents: Vec<usize>,
    pub attrs: Vec<Field>,
    /// An enumerated type's ids.
    pub ids: Option<Vec<&'static str>>,
}

pub struct ActionDef {
    pub name: &'static str,
    /// Resource types; empty: any (for a group: the union of its members').
    pub on: Vec<usize>,
    /// Principal types; empty: any.
    pub by: Vec<usize>,
    /// The groups the action is directly in.
    pub groups: Vec<usize>,
    /// Whether other actions are in this one.
    pub is_group: bool,
    /// The context record of its requests, sorted by name.
    pub context: Vec<Field>,
    /// Whether it declares its context (`action x … context { … }`).
    pub own_context: bool,
}

pub struct StoreDef {
    pub name: &'static str,
    /// Its `by` list as written (empty: none written).
    pub by: Vec<usize>,
    /// Who may access it: `by`, or the default; empty means any type.
    pub principals: Vec<usize>,
    pub ttl: &'static str,
}

pub const GROUP: usize = 0;
pub const ROLE: usize = 1;
pub const USER: usize = 2;
pub const SERVICE: usize = 3;
pub const FOLDER: usize = 4;
pub const DOC: usize = 5;
/// `entity App enum ["web", "cli"]`.
pub const APP: usize = 6;
/// The built-in type, declared after the others.
pub const STORE: usize = 7;

/// Entity ids of ordinary types, used everywhere, so literals, attributes
/// and data collide.
pub const IDS: [&str; 3] = ["a", "b", "c"];
pub const APP_IDS: [&str; 2] = ["web", "cli"];
/// Keys of map values in requests and in `contains_key`/`get` calls.
pub const MAP_KEYS: [&str; 5] = ["a", "b", "", "x-y", "web"];

/// Type aliases, in declaration order. `Labels` names another alias.
const ALIASES: [(&str, &str); 6] = [
    ("Tags", "Set<String>"),
    ("Labels", "Tags"),
    ("Quotas", "Map<String, Int>"),
    ("Friends", "Set<User>"),
    ("Meta", "{ kind: String, rev?: Int, sizes: Set<Int> }"),
    ("Profile", "{ home: Ip, score: Int }"),
];

pub struct Model {
    pub entities: Vec<EntityDef>,
    /// Declared actions and groups (in declaration order, as the schema
    /// numbers them), then the built-in store actions.
    pub actions: Vec<ActionDef>,
    pub context: Vec<Field>,
    pub stores: Vec<StoreDef>,
}

impl Model {
    pub fn new() -> Model {
        let ent = |t: usize| T::Ent(vec![t]);
        let meta = T::Rec(rec(vec![
            req("kind", T::Str),
            opt("rev", T::Int),
            req("sizes", T::set(T::Int)),
        ]));
        let profile = T::Rec(rec(vec![req("home", T::Ip), req("score", T::Int)]));
        let entities = vec![
            EntityDef {
                name: "Group",
                parents: vec![GROUP],
                attrs: rec(vec![
                    req("level", T::Int),
                    req("name", T::Str),
                    opt("owner", ent(USER)),
                ]),
                ids: None,
            },
            EntityDef {
                name: "Role",
                parents: vec![],
                attrs: vec![],
                ids: None,
            },
            EntityDef {
                name: "User",
                parents: vec![GROUP, ROLE],
                attrs: rec(vec![
                    req("addr", T::Ip),
                    req("admin", T::Bool),
                    req("age", T::Int),
                    req("apps", T::set(ent(APP))),
                    req("balance", T::Dec),
                    opt("email", T::Str),
                    req("friends", T::set(ent(USER))).via("Friends"),
                    req("groups", T::set(ent(GROUP))),
                    req("joined", T::Ts),
                    opt("manager", ent(USER)),
                    req("name", T::Str),
                    req("profile", profile.clone()).via("Profile"),
                    opt("quota", T::Int),
                    req("quotas", T::map(T::Int)).via("Quotas"),
                    req("session", T::Dur),
                    req("tags", T::set(T::Str)).via("Tags"),
                    opt("x-dept", T::Str),
                ]),
                ids: None,
            },
            EntityDef {
                name: "Service",
                parents: vec![GROUP],
                attrs: rec(vec![
                    req("app", ent(APP)),
                    req("key", T::Str),
                    opt("level", T::Int),
                    req("name", T::Str),
                    req("nets", T::set(T::Ip)),
                    req("weights", T::map(T::Dec)),
                ]),
                ids: None,
            },
            EntityDef {
                name: "Folder",
                parents: vec![FOLDER],
                attrs: rec(vec![
                    req("acl", T::map(T::set(ent(USER)))),
                    req("depth", T::Int),
                    req("meta", meta.clone()).via("Meta"),
                    req("name", T::Str),
                    req("owner", ent(USER)),
                ]),
                ids: None,
            },
            EntityDef {
                name: "Doc",
                parents: vec![FOLDER],
                attrs: rec(vec![
                    req("content-type", T::Str),
                    req("created", T::Ts),
                    req("labels", T::set(T::Str)).via("Labels"),
                    req("meta", meta).via("Meta"),
                    req("name", T::Str),
                    req("nets", T::set(T::Ip)),
                    req("owner", ent(USER)),
                    opt("price", T::Dec),
                    req("props", T::map(T::Str)),
                    req("public", T::Bool),
                    req("readers", T::set(ent(USER))),
                    req("size", T::Int),
                    opt("team", ent(GROUP)),
                    opt("ttl", T::Dur),
                ]),
                ids: None,
            },
            EntityDef {
                name: "App",
                parents: vec![GROUP],
                attrs: vec![],
                ids: Some(APP_IDS.to_vec()),
            },
            EntityDef {
                name: "Store",
                parents: vec![],
                attrs: vec![],
                ids: None, // set below, from the stores
            },
        ];
        let context = rec(vec![
            opt("agent", T::Str),
            req("amount", T::Dec),
            req("d", T::Dur),
            req("ds", T::set(T::Dur)),
            req("flags", T::set(T::Bool)),
            req("headers", T::map(T::Str)),
            req("ip", T::Ip),
            req("mfa", T::Bool),
            req("n", T::Int),
            req("nets", T::set(T::Ip)),
            req("now", T::Ts),
            req("profiles", T::set(profile)),
            req("rates", T::set(T::Dec)),
            req(
                "rec",
                T::Rec(rec(vec![
                    req("a", T::Int),
                    req("at", T::Ts),
                    opt("b", T::Str),
                ])),
            ),
            req("tags", T::set(T::Str)),
            req("times", T::set(T::Ts)),
            opt("who", ent(USER)),
            opt("x-trace", T::Str),
        ]);
        let action = |name, on: Vec<usize>, by: Vec<usize>, groups: Vec<usize>| ActionDef {
            name,
            on,
            by,
            groups,
            is_group: false,
            context: context.clone(),
            own_context: false,
        };
        // Groups are declared before and after their members; `readers` is
        // in `docs`, so `docs` holds read, edit, touch and approve.
        const DOCS: usize = 0;
        const READERS: usize = 3;
        let mut approve = action("approve", vec![DOC], vec![USER], vec![DOCS]);
        approve.own_context = true;
        // `agent` is a String in the package context: a rule over both
        // cannot read it. `key` is also what store actions add.
        approve.context = rec(vec![
            req("agent", T::Int),
            req("amount", T::Dec),
            req("key", T::Str),
            req("n", T::Int),
            opt("note", T::Str),
            opt("origin", T::Ip),
            req("x-trace", T::Str),
        ]);
        let mut launch = action("launch", vec![APP], vec![USER, SERVICE], vec![]);
        launch.own_context = true;
        // `note` and `origin` are at other slots than in `approve`'s.
        launch.context = rec(vec![
            req("d", T::Dur),
            req("n", T::Int),
            opt("note", T::Str),
            req("now", T::Ts),
            req("origin", T::Ip),
        ]);
        let mut actions = vec![
            action("docs", vec![], vec![], vec![]),
            action("read", vec![DOC], vec![USER], vec![READERS]),
            action("edit", vec![DOC], vec![USER], vec![READERS]),
            action("readers", vec![], vec![], vec![DOCS]),
            action("list", vec![FOLDER], vec![USER, SERVICE], vec![]),
            action("touch", vec![DOC, FOLDER], vec![USER, SERVICE], vec![DOCS]),
            action("ping", vec![], vec![], vec![]),
            approve,
            launch,
        ];
        for group in [DOCS, READERS] {
            actions[group].is_group = true;
        }
        // A group's types are the union of its members'.
        for group in [READERS, DOCS] {
            let members = members_of(&actions, group);
            for pick in [0, 1] {
                let mut types: Vec<usize> = Vec::new();
                let mut any = false;
                for m in &members {
                    let list = if pick == 0 {
                        &actions[*m].on
                    } else {
                        &actions[*m].by
                    };
                    any |= list.is_empty();
                    types.extend(list);
                }
                types.sort_unstable();
                types.dedup();
                if any {
                    types.clear();
                }
                if pick == 0 {
                    actions[group].on = types;
                } else {
                    actions[group].by = types;
                }
            }
        }
        // A store without `by` is accessed by every type some action names
        // in `by`, or by any type when some action leaves `by` open (`ping`).
        let open = actions.iter().any(|a| !a.is_group && a.by.is_empty());
        let mut default: Vec<usize> = if open {
            vec![]
        } else {
            actions.iter().flat_map(|a| a.by.clone()).collect()
        };
        default.sort_unstable();
        default.dedup();
        let store = |name, by: Vec<usize>, ttl| StoreDef {
            name,
            principals: if by.is_empty() {
                default.clone()
            } else {
                by.clone()
            },
            by,
            ttl,
        };
        let stores = vec![
            store("cache", vec![USER, SERVICE], "1m"),
            store("vault", vec![SERVICE], "1h"),
            store("scratch", vec![], "30s"),
        ];
        let mut entities = entities;
        entities[STORE].ids = Some(stores.iter().map(|s| s.name).collect());
        // Store actions are done by the principals of all stores.
        let store_by: Vec<usize> = if stores.iter().any(|s| s.principals.is_empty()) {
            vec![]
        } else {
            let mut all: Vec<usize> = stores.iter().flat_map(|s| s.principals.clone()).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        for name in ["store.read", "store.write", "store.delete"] {
            let mut fields = context.clone();
            fields.push(req("key", T::Str));
            if name == "store.write" {
                fields.push(req("size", T::Int));
                fields.push(req("ttl", T::Dur));
            }
            actions.push(ActionDef {
                name,
                on: vec![STORE],
                by: store_by.clone(),
                groups: vec![],
                is_group: false,
                context: rec(fields),
                own_context: false,
            });
        }
        Model {
            entities,
            actions,
            context,
            stores,
        }
    }

    pub fn all_types(&self) -> Vec<usize> {
        (0..self.entities.len()).collect()
    }

    /// The ids an entity of type `ty` can have.
    pub fn ids(&self, ty: usize) -> &[&'static str] {
        match &self.entities[ty].ids {
            Some(ids) => ids,
            None => &IDS,
        }
    }

    pub fn is_store_action(&self, action: usize) -> bool {
        self.actions[action].name.starts_with("store.")
    }

    /// The actions a request can name: not groups.
    pub fn requestable(&self) -> Vec<usize> {
        (0..self.actions.len())
            .filter(|a| !self.actions[*a].is_group)
            .collect()
    }

    /// The actions that can be written as values (`action == read`): not
    /// groups (comparing with a group is an error) nor store actions.
    pub fn value_actions(&self) -> Vec<usize> {
        (0..self.actions.len())
            .filter(|a| !self.actions[*a].is_group && !self.is_store_action(*a))
            .collect()
    }

    /// The groups.
    pub fn groups(&self) -> Vec<usize> {
        (0..self.actions.len())
            .filter(|a| self.actions[*a].is_group)
            .collect()
    }

    /// The actions `action` stands for in a rule or an `in`: itself, or a
    /// group's members (through nested groups), sorted.
    pub fn expand(&self, action: usize) -> Vec<usize> {
        if self.actions[action].is_group {
            members_of(&self.actions, action)
        } else {
            vec![action]
        }
    }

    pub fn store(&self, name: &str) -> Option<&StoreDef> {
        self.stores.iter().find(|s| s.name == name)
    }

    pub fn show(&self, ty: &T) -> String {
        match ty {
            T::Bool => "Bool".into(),
            T::Int => "Int".into(),
            T::Str => "String".into(),
            T::Ip => "Ip".into(),
            T::Dur => "Duration".into(),
            T::Ts => "Timestamp".into(),
            T::Dec => "Decimal".into(),
            T::Ent(types) => self.entities[types[0]].name.into(),
            T::Set(elem) => format!("Set<{}>", self.show(elem)),
            T::Map(value) => format!("Map<String, {}>", self.show(value)),
            T::Rec(fields) | T::Ctx(fields, _) => format!("{{ {} }}", self.fields(fields)),
            T::Action => "action".into(),
        }
    }

    fn fields(&self, fields: &[Field]) -> String {
        fields
            .iter()
            .map(|f| {
                format!(
                    "{}{}: {}",
                    field_name(f.name),
                    if f.optional { "?" } else { "" },
                    f.alias.map_or_else(|| self.show(&f.ty), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn names(&self, types: &[usize]) -> String {
        let names: Vec<&str> = types.iter().map(|t| self.entities[*t].name).collect();
        format!("[{}]", names.join(", "))
    }

    /// The schema as policy source.
    pub fn source(&self) -> String {
        let mut out = String::from("package gen\n\n");
        for (name, ty) in ALIASES {
            out.push_str(&format!("type {name} = {ty}\n"));
        }
        for def in &self.entities[..STORE] {
            out.push_str("entity ");
            out.push_str(def.name);
            if !def.parents.is_empty() {
                out.push_str(&format!(" in {}", self.names(&def.parents)));
            }
            if let Some(ids) = &def.ids {
                let ids: Vec<String> = ids.iter().map(|i| format!("{i:?}")).collect();
                out.push_str(&format!(" enum [{}]", ids.join(", ")));
            } else if !def.attrs.is_empty() {
                out.push_str(&format!(" {{ {} }}", self.fields(&def.attrs)));
            }
            out.push('\n');
        }
        let declared = self
            .actions
            .iter()
            .filter(|a| !a.name.starts_with("store."));
        for def in declared {
            out.push_str("action ");
            out.push_str(def.name);
            if !def.groups.is_empty() {
                let groups: Vec<&str> = def.groups.iter().map(|g| self.actions[*g].name).collect();
                out.push_str(&format!(" in [{}]", groups.join(", ")));
            }
            if !def.is_group {
                if !def.on.is_empty() {
                    out.push_str(&format!(" on {}", self.names(&def.on)));
                }
                if !def.by.is_empty() {
                    out.push_str(&format!(" by {}", self.names(&def.by)));
                }
            }
            if def.own_context {
                out.push_str(&format!(" context {{ {} }}", self.fields(&def.context)));
            }
            out.push('\n');
        }
        // On a line of its own: the package's context, not `launch`'s.
        out.push_str(&format!("context {{ {} }}\n", self.fields(&self.context)));
        for store in &self.stores {
            out.push_str(&format!("store {}", store.name));
            if !store.by.is_empty() {
                out.push_str(&format!(" by {}", self.names(&store.by)));
            }
            out.push_str(&format!(" {{ ttl {} }}\n", store.ttl));
        }
        out
    }
}

/// The actions in `group`, directly or through nested groups, that are not
/// groups themselves, sorted.
fn members_of(actions: &[ActionDef], group: usize) -> Vec<usize> {
    let mut seen = vec![group];
    let mut next = 0;
    while let Some(current) = seen.get(next).copied() {
        next += 1;
        for (i, def) in actions.iter().enumerate() {
            if def.groups.contains(&current) && !seen.contains(&i) {
                seen.push(i);
            }
        }
    }
    let mut members: Vec<usize> = seen
        .into_iter()
        .filter(|a| !actions[*a].is_group && *a != group)
        .collect();
    members.sort_unstable();
    members
}
