//! Generates well-typed rules as source text, type-directed: every
//! expression is generated for a wanted type, in an environment that knows
//! the types of `principal` and `resource` (narrowed by `is` and `has`), the
//! rule's context record (one per action when they differ), and which
//! optional attributes and map entries are known present (by `has` and
//! `contains_key`, where true or, through `!`, `||`, `unless` and `else`,
//! where false), exactly as the checker tracks them, so every generated
//! policy checks without errors.

use std::collections::HashMap;
use std::rc::Rc;

#[path = "conditions.rs"]
mod conditions;
#[path = "exprs.rs"]
mod exprs;
#[path = "facts.rs"]
mod facts;
#[path = "families.rs"]
mod families;
#[path = "maps.rs"]
mod maps;
#[path = "paths.rs"]
mod paths;

pub use exprs::{STRINGS, quote};
use facts::{Facts, Flow};

use super::model::{APP, DOC, FOLDER, Field, GROUP, Model, ROLE, SERVICE, STORE, T, USER};
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
    /// The actions the rule covers (groups expanded).
    pub actions: Vec<usize>,
    pub resource_types: Vec<usize>,
    /// `on store NAME`.
    pub store: Option<&'static str>,
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
    /// Canonical text: `x.a`, or `x["a-b"]` for a name that is not an
    /// identifier. Facts are keyed by it: the checker treats `x.a` and
    /// `x["a"]` as one path.
    text: String,
    ty: T,
    /// `(base, attr)`: the `base has attr` tests that must be known true to
    /// read this path, in order.
    guards: Vec<(String, String)>,
    steps: u8,
    entity_hops: u8,
    /// The base's text and the last attribute, to write `x["a"]` now and then.
    last: Option<(String, &'static str)>,
}

/// What is known where an expression is generated.
#[derive(Clone)]
struct Env {
    declared_principal: Vec<usize>,
    declared_resource: Vec<usize>,
    /// The type of `context` in this rule.
    context: Rc<T>,
    /// The rule's actions: the key of its context in the path cache.
    actions: Vec<usize>,
    facts: Facts,
    /// The types `principal` and `resource` have here (narrowed by facts).
    principal: Vec<usize>,
    resource: Vec<usize>,
    paths: Rc<Vec<Path>>,
}

impl Env {
    fn knows(&self, guard: &(String, String)) -> bool {
        self.facts.has(&guard.0, &guard.1)
    }
}

/// Names `has` can test, each with the entity types that declare it
/// (empty for records and contexts).
type HasNames = Vec<(&'static str, Vec<usize>)>;

/// The types of `principal` and `resource`, and the rule's actions.
type PathKey = (Vec<usize>, Vec<usize>, Vec<usize>);

pub struct PolicyGen<'m, 't> {
    model: &'m Model,
    tape: Tape<'t>,
    /// Readable paths by the types of `principal` and `resource` and the
    /// rule's actions.
    paths: HashMap<PathKey, Rc<Vec<Path>>>,
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
        let (mut rules, mut heads): (Vec<String>, Vec<Head>) =
            (0..count).map(|i| self.rule(i)).unzip();
        let (family_rules, family_heads) = families::families(self.model, &mut self.tape, count);
        rules.extend(family_rules);
        heads.extend(family_heads);
        Policy { rules, heads }
    }

    fn action_name(&self, action: usize) -> &'static str {
        self.model.actions[action].name
    }

    fn type_name(&self, ty: usize) -> &'static str {
        self.model.entities[ty].name
    }

    /// Actions, groups standing for their members.
    fn expand(&self, named: &[usize]) -> Vec<usize> {
        let mut actions: Vec<usize> = named.iter().flat_map(|a| self.model.expand(*a)).collect();
        actions.sort_unstable();
        actions.dedup();
        actions
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

        let listed: Vec<usize> = match self.tape.pick(4) {
            0 => model.requestable(),
            1 => {
                text.push_str(" *");
                model.requestable()
            }
            2 => {
                let action = self.tape.pick(model.actions.len());
                text.push(' ');
                text.push_str(self.action_name(action));
                self.expand(&[action])
            }
            _ => {
                let mut named = Vec::new();
                for _ in 0..=self.tape.pick(3) {
                    let action = self.tape.pick(model.actions.len());
                    if !named.contains(&action) {
                        named.push(action);
                    }
                }
                let names: Vec<&str> = named.iter().map(|a| self.action_name(*a)).collect();
                text.push_str(&format!(" [{}]", names.join(", ")));
                self.expand(&named)
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
        let mut store = None;
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
                if self.tape.chance(60) {
                    let name = self.tape.choose(&model.stores).name;
                    text.push_str(&format!(" on store {name}"));
                    store = Some(name);
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
        let by_actions = |actions: &[usize]| -> Vec<usize> {
            if actions.iter().any(|a| model.actions[*a].by.is_empty()) {
                model.all_types()
            } else {
                let mut types: Vec<usize> = actions
                    .iter()
                    .flat_map(|a| model.actions[*a].by.clone())
                    .collect();
                types.sort_unstable();
                types.dedup();
                types
            }
        };
        // In a rule on one store, the store's actions are done by the
        // store's principals, its other actions by their own.
        let principal: Vec<usize> = match store.and_then(|s| model.store(s)) {
            Some(def) => {
                let (store_actions, others): (Vec<usize>, Vec<usize>) =
                    kept.iter().partition(|a| model.is_store_action(**a));
                let mut types = match store_actions.is_empty() {
                    true => Vec::new(),
                    false if def.principals.is_empty() => model.all_types(),
                    false => def.principals.clone(),
                };
                if !others.is_empty() {
                    types.extend(by_actions(&others));
                    types.sort_unstable();
                    types.dedup();
                }
                types
            }
            None => by_actions(&kept),
        };
        let head = Head {
            actions: kept.clone(),
            resource_types: resource.clone(),
            store,
        };
        let context = self.context_type(&kept);
        let mut env = self.env(principal, resource, context, kept);

        for _ in 0..self.tape.pick(4) {
            let unless = self.tape.chance(30);
            text.push_str(if unless { "\n  unless " } else { "\n  when " });
            // What a `when` clause establishes where true, or an `unless`
            // where false, holds in the later clauses.
            let flow = if unless && self.tape.chance(25) {
                // `unless !(x has a)`: later clauses may read `x.a`.
                let (guard, flow) = self.guard_clause(&env);
                text.push_str(&format!("!({guard})"));
                flow.not()
            } else if !unless && self.tape.chance(25) {
                let (guard, flow) = self.guard_clause(&env);
                text.push_str(&guard);
                flow
            } else if !unless && self.tape.chance(25) {
                let scope = self.scope_test(&env);
                text.push_str(&scope);
                if self.tape.chance(60) {
                    let (rest, flow) = self.bool_expr(&env, 3);
                    text.push_str(" && ");
                    text.push_str(&rest);
                    flow
                } else {
                    Flow::none()
                }
            } else {
                let (condition, flow) = self.bool_expr(&env, 4);
                text.push_str(&condition);
                flow
            };
            env = self.with(
                &env,
                if unless {
                    &flow.when_false
                } else {
                    &flow.when_true
                },
            );
        }
        text.push(';');
        (text, head)
    }

    /// The type of `context` in a rule over `actions`: their context record
    /// when they share one, else the fields read per action.
    fn context_type(&self, actions: &[usize]) -> T {
        let model = self.model;
        let Some(first) = actions.first() else {
            return T::Rec(model.context.clone());
        };
        let first = &model.actions[*first].context;
        if actions.iter().all(|a| model.actions[*a].context == *first) {
            return T::Rec(first.clone());
        }
        let mut names: Vec<&'static str> = actions
            .iter()
            .flat_map(|a| model.actions[*a].context.iter().map(|f| f.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut readable = Vec::new();
        let mut conflicting = Vec::new();
        for name in names {
            let fields: Vec<Option<&Field>> = actions
                .iter()
                .map(|a| model.actions[*a].context.iter().find(|f| f.name == name))
                .collect();
            let present: Vec<&Field> = fields.iter().flatten().copied().collect();
            if present.iter().all(|f| f.ty == present[0].ty) {
                readable.push(Field {
                    name,
                    ty: present[0].ty.clone(),
                    optional: present.len() < fields.len() || present.iter().any(|f| f.optional),
                    alias: None,
                });
            } else {
                conflicting.push(name);
            }
        }
        T::Ctx(readable, conflicting)
    }

    fn env(
        &mut self,
        principal: Vec<usize>,
        resource: Vec<usize>,
        context: T,
        actions: Vec<usize>,
    ) -> Env {
        let context = Rc::new(context);
        let paths = self.paths_for(&principal, &resource, &context, &actions);
        Env {
            declared_principal: principal.clone(),
            declared_resource: resource.clone(),
            context,
            actions,
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
        let paths = self.paths_for(&principal, &resource, &env.context, &env.actions);
        Env {
            declared_principal: env.declared_principal.clone(),
            declared_resource: env.declared_resource.clone(),
            context: env.context.clone(),
            actions: env.actions.clone(),
            facts,
            principal,
            resource,
            paths,
        }
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
            *self.tape.choose(&[GROUP, ROLE, FOLDER, USER, APP])
        };
        let id = *self.tape.choose(self.model.ids(ty));
        let entity = format!("{}::{}", self.type_name(ty), quote(id));
        match self.tape.pick(3) {
            0 => format!("{var} == {entity}"),
            1 => format!("{entity} == {var}"),
            _ => {
                let ancestor = match ty {
                    USER => *self.tape.choose(&[GROUP, ROLE, USER]),
                    SERVICE | APP => *self.tape.choose(&[GROUP, ty]),
                    DOC => *self.tape.choose(&[FOLDER, DOC]),
                    other => other,
                };
                let id = *self.tape.choose(self.model.ids(ancestor));
                format!("{var} in {}::{}", self.type_name(ancestor), quote(id))
            }
        }
    }
}
