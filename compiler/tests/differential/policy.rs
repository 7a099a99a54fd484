//! Generates well-typed rules as source text, type-directed: every
//! expression is generated for a wanted type, in an environment that knows
//! the types of `principal` and `resource` (narrowed by `is`) and which
//! optional attributes are known present (by `has`), exactly as the checker
//! tracks them, so every generated policy checks without errors.

use std::collections::HashMap;
use std::rc::Rc;

#[path = "exprs.rs"]
mod exprs;
#[path = "facts.rs"]
mod facts;

pub use exprs::{STRINGS, quote};
use facts::Facts;

use super::model::{DOC, FOLDER, Field, GROUP, IDS, Model, ROLE, STORE, STORE_NAME, T, USER};
use super::tape::Tape;

/// A policy: the model's schema and some rules.
#[derive(Clone)]
pub struct Policy {
    pub rules: Vec<String>,
    /// Each rule's actions and resource types, so requests can aim at them.
    pub heads: Vec<Head>,
}

#[derive(Debug, Clone)]
pub struct Head {
    pub actions: Vec<usize>,
    pub resource_types: Vec<usize>,
}

impl Policy {
    /// The whole policy text, with only the rules `keep` (all when `None`).
    pub fn source(&self, model: &Model, keep: Option<&[usize]>) -> String {
        let mut out = model.source();
        for (i, rule) in self.rules.iter().enumerate() {
            if keep.is_none_or(|k| k.contains(&i)) {
                out.push('\n');
                out.push_str(rule);
                out.push('\n');
            }
        }
        out
    }
}

/// Something readable: a variable, an entity literal or an attribute chain.
#[derive(Debug, Clone)]
struct Path {
    text: String,
    ty: T,
    /// `(base, attr)`: the `base has attr` tests that must be known true to
    /// read this path, in order.
    guards: Vec<(String, &'static str)>,
    steps: u8,
    entity_hops: u8,
}

/// What is known where an expression is generated.
#[derive(Clone)]
struct Env {
    declared_principal: Vec<usize>,
    declared_resource: Vec<usize>,
    facts: Facts,
    /// The types `principal` and `resource` have here (narrowed by facts).
    principal: Vec<usize>,
    resource: Vec<usize>,
    paths: Rc<Vec<Path>>,
}

impl Env {
    fn knows(&self, guard: &(String, &'static str)) -> bool {
        self.facts.present.contains(guard)
    }
}

/// The types of `principal` and `resource`.
type Types = (Vec<usize>, Vec<usize>);

pub struct PolicyGen<'m, 't> {
    model: &'m Model,
    tape: Tape<'t>,
    /// Readable paths by the types of `principal` and `resource`.
    paths: HashMap<Types, Rc<Vec<Path>>>,
}

impl<'m, 't> PolicyGen<'m, 't> {
    pub fn new(model: &'m Model, tape: Tape<'t>) -> Self {
        Self {
            model,
            tape,
            paths: HashMap::new(),
        }
    }

    pub fn policy(&mut self, max_rules: usize) -> Policy {
        let count = 1 + self.tape.pick(max_rules);
        let (rules, heads) = (0..count).map(|i| self.rule(i)).unzip();
        Policy { rules, heads }
    }

    fn action_name(&self, action: usize) -> &'static str {
        self.model.actions[action].name
    }

    fn type_name(&self, ty: usize) -> &'static str {
        self.model.entities[ty].name
    }

    fn rule(&mut self, index: usize) -> (String, Head) {
        let model = self.model;
        let mut text = String::new();
        if !self.tape.chance(10) {
            text.push_str(&format!("@id(\"r{index}\")\n"));
        }
        if self.tape.chance(5) {
            text.push_str("@owner(\"gen\")\n");
        }
        text.push_str(if self.tape.chance(40) {
            "forbid"
        } else {
            "permit"
        });

        let all_actions: Vec<usize> = (0..model.actions.len()).collect();
        let listed: Vec<usize> = match self.tape.pick(4) {
            0 => all_actions,
            1 => {
                text.push_str(" *");
                all_actions
            }
            2 => {
                let action = self.tape.pick(model.actions.len());
                text.push(' ');
                text.push_str(self.action_name(action));
                vec![action]
            }
            _ => {
                let mut list = Vec::new();
                for _ in 0..=self.tape.pick(3) {
                    let action = self.tape.pick(model.actions.len());
                    if !list.contains(&action) {
                        list.push(action);
                    }
                }
                let names: Vec<&str> = list.iter().map(|a| self.action_name(*a)).collect();
                text.push_str(&format!(" [{}]", names.join(", ")));
                list.sort_unstable();
                list
            }
        };
        // The resource types the listed actions reach.
        let reachable: Vec<usize> = if listed.iter().any(|a| model.actions[*a].on.is_empty()) {
            model.all_types()
        } else {
            let mut types: Vec<usize> = listed
                .iter()
                .flat_map(|a| model.actions[*a].on.clone())
                .collect();
            types.sort_unstable();
            types.dedup();
            types
        };
        let resource: Vec<usize> = match self.tape.pick(5) {
            0 | 1 => reachable,
            2 => {
                let ty = *self.tape.choose(&reachable);
                text.push_str(&format!(" on {}", self.type_name(ty)));
                vec![ty]
            }
            3 => {
                let mut list = vec![*self.tape.choose(&reachable)];
                for _ in 0..self.tape.pick(3) {
                    let ty = self.tape.pick(model.entities.len());
                    if !list.contains(&ty) {
                        list.push(ty);
                    }
                }
                let names: Vec<&str> = list.iter().map(|t| self.type_name(*t)).collect();
                text.push_str(&format!(" on [{}]", names.join(", ")));
                list.sort_unstable();
                list
            }
            _ if reachable.contains(&STORE) => {
                if self.tape.chance(50) {
                    text.push_str(&format!(" on store {STORE_NAME}"));
                } else {
                    text.push_str(" on Store");
                }
                vec![STORE]
            }
            _ => reachable,
        };
        let kept: Vec<usize> = listed
            .iter()
            .copied()
            .filter(|a| {
                let on = &model.actions[*a].on;
                on.is_empty() || on.iter().any(|t| resource.contains(t))
            })
            .collect();
        let principal: Vec<usize> = if kept.iter().any(|a| model.actions[*a].by.is_empty()) {
            model.all_types()
        } else {
            let mut types: Vec<usize> = kept
                .iter()
                .flat_map(|a| model.actions[*a].by.clone())
                .collect();
            types.sort_unstable();
            types.dedup();
            types
        };
        let head = Head {
            actions: kept,
            resource_types: resource.clone(),
        };
        let mut env = self.env(principal, resource);

        for _ in 0..self.tape.pick(4) {
            let unless = self.tape.chance(30);
            text.push_str(if unless { "\n  unless " } else { "\n  when " });
            // What a `when` clause establishes holds in the later clauses.
            let added = if !unless && self.tape.chance(25) {
                let (guard, added) = self.guard_clause(&env);
                text.push_str(&guard);
                added
            } else if !unless && self.tape.chance(25) {
                let scope = self.scope_test(&env);
                text.push_str(&scope);
                if self.tape.chance(60) {
                    let (rest, added) = self.bool_expr(&env, 3);
                    text.push_str(" && ");
                    text.push_str(&rest);
                    added
                } else {
                    Facts::default()
                }
            } else {
                let (condition, added) = self.bool_expr(&env, 4);
                text.push_str(&condition);
                added
            };
            if !unless {
                env = self.with(&env, &added);
            }
        }
        text.push(';');
        (text, head)
    }

    fn env(&mut self, principal: Vec<usize>, resource: Vec<usize>) -> Env {
        let paths = self.paths_for(&principal, &resource);
        Env {
            declared_principal: principal.clone(),
            declared_resource: resource.clone(),
            facts: Facts::default(),
            principal,
            resource,
            paths,
        }
    }

    /// `env` where `added` is also known.
    fn with(&mut self, env: &Env, added: &Facts) -> Env {
        let facts = env.facts.and(added);
        let principal = facts
            .narrowed("principal")
            .unwrap_or(&env.declared_principal)
            .clone();
        let resource = facts
            .narrowed("resource")
            .unwrap_or(&env.declared_resource)
            .clone();
        let paths = self.paths_for(&principal, &resource);
        Env {
            declared_principal: env.declared_principal.clone(),
            declared_resource: env.declared_resource.clone(),
            facts,
            principal,
            resource,
            paths,
        }
    }

    fn paths_for(&mut self, principal: &[usize], resource: &[usize]) -> Rc<Vec<Path>> {
        let key = (principal.to_vec(), resource.to_vec());
        if let Some(paths) = self.paths.get(&key) {
            return paths.clone();
        }
        let paths = Rc::new(self.paths(principal, resource));
        self.paths.insert(key, paths.clone());
        paths
    }

    /// Every readable path: variables, some entity literals, and attribute
    /// chains of up to three steps (at most two through entities).
    fn paths(&self, principal: &[usize], resource: &[usize]) -> Vec<Path> {
        let model = self.model;
        let mut roots = vec![
            Path {
                text: "principal".into(),
                ty: T::Ent(principal.to_vec()),
                guards: vec![],
                steps: 0,
                entity_hops: 0,
            },
            Path {
                text: "resource".into(),
                ty: T::Ent(resource.to_vec()),
                guards: vec![],
                steps: 0,
                entity_hops: 0,
            },
            Path {
                text: "context".into(),
                ty: T::Rec(model.context.clone()),
                guards: vec![],
                steps: 0,
                entity_hops: 0,
            },
        ];
        for (ty, id) in [
            (USER, "a"),
            (USER, "b"),
            (DOC, "a"),
            (GROUP, "b"),
            (FOLDER, "c"),
            (3, "a"),
        ] {
            roots.push(Path {
                text: format!("{}::{}", self.type_name(ty), quote(id)),
                ty: T::Ent(vec![ty]),
                guards: vec![],
                steps: 0,
                entity_hops: 0,
            });
        }
        let mut out = Vec::new();
        let mut queue = roots;
        while let Some(path) = queue.pop() {
            if path.steps < 3 {
                let hop = u8::from(matches!(path.ty, T::Ent(_)));
                if path.entity_hops + hop <= 2 {
                    for field in self.attrs_of(&path.ty) {
                        let mut guards = path.guards.clone();
                        if field.optional {
                            guards.push((path.text.clone(), field.name));
                        }
                        queue.push(Path {
                            text: format!("{}.{}", path.text, field.name),
                            ty: field.ty.clone(),
                            guards,
                            steps: path.steps + 1,
                            entity_hops: path.entity_hops + hop,
                        });
                    }
                }
            }
            out.push(path);
        }
        out.sort_by(|a, b| a.text.cmp(&b.text));
        out
    }

    /// The attributes readable on a value of type `ty`: a record's fields,
    /// or the attributes every possible entity type declares with one type.
    fn attrs_of(&self, ty: &T) -> Vec<Field> {
        match ty {
            T::Rec(fields) => fields.clone(),
            T::Ent(types) if !types.is_empty() => {
                let defs: Vec<&Vec<Field>> = types
                    .iter()
                    .map(|t| &self.model.entities[*t].attrs)
                    .collect();
                let mut out = Vec::new();
                for field in defs[0] {
                    let mut optional = field.optional;
                    let everywhere = defs[1..].iter().all(|attrs| {
                        attrs.iter().any(|f| {
                            let same = f.name == field.name && f.ty == field.ty;
                            if same {
                                optional |= f.optional;
                            }
                            same
                        })
                    });
                    if everywhere {
                        out.push(Field {
                            name: field.name,
                            ty: field.ty.clone(),
                            optional,
                        });
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    fn missing_guards(env: &Env, path: &Path) -> Vec<(String, &'static str)> {
        path.guards
            .iter()
            .filter(|g| !env.knows(g))
            .cloned()
            .collect()
    }

    fn guard_text(guards: &[(String, &'static str)]) -> String {
        let tests: Vec<String> = guards
            .iter()
            .map(|(base, attr)| format!("{base} has {attr}"))
            .collect();
        format!("({})", tests.join(" && "))
    }

    fn guard_facts(guards: &[(String, &'static str)]) -> Facts {
        guards.iter().fold(Facts::default(), |facts, (base, attr)| {
            facts.and(&Facts::present(base.clone(), attr))
        })
    }

    /// The text of `path`'s read, renders its last step as `["name"]` now
    /// and then.
    fn path_text(&mut self, path: &Path) -> String {
        if path.steps > 0
            && self.tape.chance(10)
            && let Some((base, attr)) = path.text.rsplit_once('.')
        {
            return format!("{base}[{}]", quote(attr));
        }
        path.text.clone()
    }

    /// A read of some path of type `want`, guarded by `if … has …` when a
    /// guard it needs is not known.
    fn read(&mut self, want: &T, env: &Env) -> Option<String> {
        let fitting: Vec<&Path> = env
            .paths
            .iter()
            .filter(|p| {
                p.ty.fits(want) && (want.writable() || Self::missing_guards(env, p).is_empty())
            })
            .collect();
        // Mostly the variables: entity literals have many more paths.
        let root = *self.tape.choose(&[
            "principal",
            "resource",
            "context",
            "principal",
            "resource",
            "context",
            "",
        ]);
        let rooted: Vec<&Path> = fitting
            .iter()
            .copied()
            .filter(|p| p.text.starts_with(root))
            .collect();
        let candidates = if rooted.is_empty() { fitting } else { rooted };
        if candidates.is_empty() {
            return None;
        }
        let path = (*self.tape.choose(&candidates)).clone();
        let missing = Self::missing_guards(env, &path);
        let text = self.path_text(&path);
        if missing.is_empty() {
            return Some(text);
        }
        let alt = self.literal(want);
        Some(format!(
            "(if {} then {text} else {alt})",
            Self::guard_text(&missing)
        ))
    }

    /// A condition that establishes facts: `principal is T`, or the `has`
    /// tests some path needs.
    fn guard_clause(&mut self, env: &Env) -> (String, Facts) {
        let narrowable: Vec<(&str, Vec<usize>)> =
            [("principal", &env.principal), ("resource", &env.resource)]
                .into_iter()
                .filter(|(_, types)| types.len() > 1)
                .map(|(v, t)| (v, t.clone()))
                .collect();
        if !narrowable.is_empty() && self.tape.chance(50) {
            let (var, types) = self.tape.choose(&narrowable).clone();
            let ty = *self.tape.choose(&types);
            let text = format!("{var} is {}", self.type_name(ty));
            return (text, Facts::narrowing(var.to_owned(), ty));
        }
        let optional: Vec<Path> = env
            .paths
            .iter()
            .filter(|p| !Self::missing_guards(env, p).is_empty())
            .cloned()
            .collect();
        if optional.is_empty() {
            return ("true".into(), Facts::default());
        }
        let path = self.tape.choose(&optional).clone();
        let missing = Self::missing_guards(env, &path);
        (Self::guard_text(&missing), Self::guard_facts(&missing))
    }

    /// A literal entity test the rule index can use as the rule's scope.
    fn scope_test(&mut self, env: &Env) -> String {
        let var = if self.tape.chance(50) {
            "resource"
        } else {
            "principal"
        };
        let types = if var == "principal" {
            &env.principal
        } else {
            &env.resource
        };
        let ty = if self.tape.chance(80) && !types.is_empty() {
            *self.tape.choose(types)
        } else {
            *self.tape.choose(&[GROUP, ROLE, FOLDER, USER])
        };
        let id = *self.tape.choose(&IDS);
        let entity = format!("{}::{}", self.type_name(ty), quote(id));
        match self.tape.pick(3) {
            0 => format!("{var} == {entity}"),
            1 => format!("{entity} == {var}"),
            _ => {
                let ancestor = match ty {
                    USER => *self.tape.choose(&[GROUP, ROLE, USER]),
                    3 => *self.tape.choose(&[GROUP, 3]),
                    DOC => *self.tape.choose(&[FOLDER, DOC]),
                    other => other,
                };
                format!("{var} in {}::{}", self.type_name(ancestor), quote(id))
            }
        }
    }
}
