//! The fixed schema the differential generator writes policies against: a
//! recursive hierarchy, several principal and resource types with shared and
//! distinct attributes, optional attributes, records, sets of every kind,
//! actions with and without `on`/`by`, a context and a store.

/// A declared type, as the generator tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum T {
    Bool,
    Int,
    Str,
    Ip,
    Dur,
    Ts,
    /// An entity of one of these types (empty: any type).
    Ent(Vec<usize>),
    Set(Box<T>),
    /// Fields sorted by name.
    Rec(Vec<Field>),
    Action,
}

impl T {
    pub fn set(elem: T) -> T {
        T::Set(Box::new(elem))
    }

    /// Whether a value of type `self` may stand where `want` is expected in
    /// `==`, sets and `if` branches (entity types join into unions).
    pub fn fits(&self, want: &T) -> bool {
        match (self, want) {
            (T::Ent(_), T::Ent(_)) => true,
            (T::Set(a), T::Set(b)) => a.fits(b),
            _ => self == want,
        }
    }

    /// Whether a literal of this type can be written (records with optional
    /// fields cannot: a literal's fields are all required).
    pub fn writable(&self) -> bool {
        match self {
            T::Set(elem) => elem.writable(),
            T::Rec(fields) => fields.iter().all(|f| !f.optional && f.ty.writable()),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: T,
    pub optional: bool,
}

fn req(name: &'static str, ty: T) -> Field {
    Field {
        name,
        ty,
        optional: false,
    }
}

fn opt(name: &'static str, ty: T) -> Field {
    Field {
        name,
        ty,
        optional: true,
    }
}

fn rec(mut fields: Vec<Field>) -> Vec<Field> {
    fields.sort_by_key(|f| f.name);
    fields
}

pub struct EntityDef {
    pub name: &'static str,
    pub parents: Vec<usize>,
    pub attrs: Vec<Field>,
}

pub struct ActionDef {
    pub name: &'static str,
    /// Resource types; empty: any.
    pub on: Vec<usize>,
    /// Principal types; empty: any.
    pub by: Vec<usize>,
}

pub const GROUP: usize = 0;
pub const ROLE: usize = 1;
pub const USER: usize = 2;
pub const SERVICE: usize = 3;
pub const FOLDER: usize = 4;
pub const DOC: usize = 5;
/// The built-in type, declared after the others.
pub const STORE: usize = 6;

/// Entity ids used everywhere, so literals, attributes and data collide.
pub const IDS: [&str; 3] = ["a", "b", "c"];
pub const STORE_NAME: &str = "cache";

pub struct Model {
    pub entities: Vec<EntityDef>,
    /// Declared actions, then the built-in store actions.
    pub actions: Vec<ActionDef>,
    pub context: Vec<Field>,
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
            },
            EntityDef {
                name: "Role",
                parents: vec![],
                attrs: vec![],
            },
            EntityDef {
                name: "User",
                parents: vec![GROUP, ROLE],
                attrs: rec(vec![
                    req("addr", T::Ip),
                    req("admin", T::Bool),
                    req("age", T::Int),
                    opt("email", T::Str),
                    req("friends", T::set(ent(USER))),
                    req("groups", T::set(ent(GROUP))),
                    req("joined", T::Ts),
                    opt("manager", ent(USER)),
                    req("name", T::Str),
                    req("profile", profile.clone()),
                    opt("quota", T::Int),
                    req("session", T::Dur),
                    req("tags", T::set(T::Str)),
                ]),
            },
            EntityDef {
                name: "Service",
                parents: vec![GROUP],
                attrs: rec(vec![
                    req("key", T::Str),
                    opt("level", T::Int),
                    req("name", T::Str),
                    req("nets", T::set(T::Ip)),
                ]),
            },
            EntityDef {
                name: "Folder",
                parents: vec![FOLDER],
                attrs: rec(vec![
                    req("depth", T::Int),
                    req("meta", meta.clone()),
                    req("name", T::Str),
                    req("owner", ent(USER)),
                ]),
            },
            EntityDef {
                name: "Doc",
                parents: vec![FOLDER],
                attrs: rec(vec![
                    req("created", T::Ts),
                    req("labels", T::set(T::Str)),
                    req("meta", meta),
                    req("name", T::Str),
                    req("nets", T::set(T::Ip)),
                    req("owner", ent(USER)),
                    req("public", T::Bool),
                    req("readers", T::set(ent(USER))),
                    req("size", T::Int),
                    opt("team", ent(GROUP)),
                    opt("ttl", T::Dur),
                ]),
            },
            EntityDef {
                name: "Store",
                parents: vec![],
                attrs: vec![],
            },
        ];
        let declared = vec![
            ActionDef {
                name: "read",
                on: vec![DOC],
                by: vec![USER],
            },
            ActionDef {
                name: "edit",
                on: vec![DOC],
                by: vec![USER],
            },
            ActionDef {
                name: "list",
                on: vec![FOLDER],
                by: vec![USER, SERVICE],
            },
            ActionDef {
                name: "touch",
                on: vec![DOC, FOLDER],
                by: vec![USER, SERVICE],
            },
            ActionDef {
                name: "ping",
                on: vec![],
                by: vec![],
            },
        ];
        // Store actions are done by the declared actions' principals: any
        // type, since `ping` has no `by` list.
        let store_by: Vec<usize> = if declared.iter().any(|a| a.by.is_empty()) {
            vec![]
        } else {
            let mut all: Vec<usize> = declared.iter().flat_map(|a| a.by.clone()).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let mut actions = declared;
        for name in ["store.read", "store.write", "store.delete"] {
            actions.push(ActionDef {
                name,
                on: vec![STORE],
                by: store_by.clone(),
            });
        }
        let context = rec(vec![
            opt("agent", T::Str),
            req("d", T::Dur),
            req("ds", T::set(T::Dur)),
            req("flags", T::set(T::Bool)),
            req("ip", T::Ip),
            req("mfa", T::Bool),
            req("n", T::Int),
            req("nets", T::set(T::Ip)),
            req("now", T::Ts),
            req("profiles", T::set(profile)),
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
        ]);
        Model {
            entities,
            actions,
            context,
        }
    }

    pub fn all_types(&self) -> Vec<usize> {
        (0..self.entities.len()).collect()
    }

    /// Declared (not built-in) actions usable by name in expressions.
    pub fn declared_actions(&self) -> usize {
        self.actions.len() - 3
    }

    pub fn show(&self, ty: &T) -> String {
        match ty {
            T::Bool => "Bool".into(),
            T::Int => "Int".into(),
            T::Str => "String".into(),
            T::Ip => "Ip".into(),
            T::Dur => "Duration".into(),
            T::Ts => "Timestamp".into(),
            T::Ent(types) => self.entities[types[0]].name.into(),
            T::Set(elem) => format!("Set<{}>", self.show(elem)),
            T::Rec(fields) => format!("{{ {} }}", self.fields(fields)),
            T::Action => "action".into(),
        }
    }

    fn fields(&self, fields: &[Field]) -> String {
        fields
            .iter()
            .map(|f| {
                format!(
                    "{}{}: {}",
                    f.name,
                    if f.optional { "?" } else { "" },
                    self.show(&f.ty)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The schema as policy source.
    pub fn source(&self) -> String {
        let mut out = String::from("package gen\n\n");
        for def in &self.entities[..STORE] {
            out.push_str("entity ");
            out.push_str(def.name);
            if !def.parents.is_empty() {
                let parents: Vec<&str> =
                    def.parents.iter().map(|p| self.entities[*p].name).collect();
                out.push_str(&format!(" in [{}]", parents.join(", ")));
            }
            if !def.attrs.is_empty() {
                out.push_str(&format!(" {{ {} }}", self.fields(&def.attrs)));
            }
            out.push('\n');
        }
        for def in &self.actions[..self.declared_actions()] {
            out.push_str("action ");
            out.push_str(def.name);
            let names = |types: &[usize]| -> String {
                let names: Vec<&str> = types.iter().map(|t| self.entities[*t].name).collect();
                format!("[{}]", names.join(", "))
            };
            if !def.on.is_empty() {
                out.push_str(&format!(" on {}", names(&def.on)));
            }
            if !def.by.is_empty() {
                out.push_str(&format!(" by {}", names(&def.by)));
            }
            out.push('\n');
        }
        out.push_str(&format!("context {{ {} }}\n", self.fields(&self.context)));
        out.push_str(&format!("store {STORE_NAME} {{ ttl 1m }}\n"));
        out
    }
}
