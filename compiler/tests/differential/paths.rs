//! Readable paths for the policy generator: the variables, some entity
//! literals and their attribute chains, with the `has` guards each read
//! needs; reads of a wanted type (guarded by `if … has …` where the
//! guards are not known) and what `has` can test.

use std::rc::Rc;

use super::facts::Facts;
use super::{Env, HasNames, Path, PolicyGen, quote};
use crate::model::{APP, DOC, FOLDER, Field, GROUP, SERVICE, T, USER, field_name};

impl PolicyGen<'_, '_> {
    pub(super) fn paths_for(
        &mut self,
        principal: &[usize],
        resource: &[usize],
        context: &T,
        actions: &[usize],
    ) -> Rc<Vec<Path>> {
        let key = (principal.to_vec(), resource.to_vec(), actions.to_vec());
        if let Some(paths) = self.paths.get(&key) {
            return paths.clone();
        }
        let paths = Rc::new(self.paths(principal, resource, context));
        self.paths.insert(key, paths.clone());
        paths
    }

    /// Every readable path: variables, some entity literals, and attribute
    /// chains of up to three steps (at most two through entities).
    pub(super) fn paths(&self, principal: &[usize], resource: &[usize], context: &T) -> Vec<Path> {
        let root = |text: String, ty: T| Path {
            text,
            ty,
            guards: vec![],
            steps: 0,
            entity_hops: 0,
            last: None,
        };
        let mut roots = vec![
            root("principal".into(), T::Ent(principal.to_vec())),
            root("resource".into(), T::Ent(resource.to_vec())),
            root("context".into(), context.clone()),
        ];
        for (ty, id) in [
            (USER, "a"),
            (USER, "b"),
            (DOC, "a"),
            (GROUP, "b"),
            (FOLDER, "c"),
            (SERVICE, "a"),
            (APP, "web"),
        ] {
            roots.push(root(
                format!("{}::{}", self.type_name(ty), quote(id)),
                T::Ent(vec![ty]),
            ));
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
                            guards.push((path.text.clone(), field.name.to_owned()));
                        }
                        queue.push(Path {
                            text: attr_text(&path.text, field.name),
                            ty: field.ty.clone(),
                            guards,
                            steps: path.steps + 1,
                            entity_hops: path.entity_hops + hop,
                            last: Some((path.text.clone(), field.name)),
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
    pub(super) fn attrs_of(&self, ty: &T) -> Vec<Field> {
        match ty {
            T::Rec(fields) | T::Ctx(fields, _) => fields.clone(),
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
                            optional,
                            ..field.clone()
                        });
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// The names `has` can test on a value of type `ty`.
    pub(super) fn has_names(&self, ty: &T) -> HasNames {
        match ty {
            T::Rec(fields) => fields.iter().map(|f| (f.name, vec![])).collect(),
            T::Ctx(fields, conflicting) => fields
                .iter()
                .map(|f| f.name)
                .chain(conflicting.iter().copied())
                .map(|name| (name, vec![]))
                .collect(),
            T::Ent(types) => {
                let mut names: HasNames = Vec::new();
                for t in types {
                    for f in &self.model.entities[*t].attrs {
                        match names.iter_mut().find(|(n, _)| *n == f.name) {
                            Some((_, declaring)) => declaring.push(*t),
                            None => names.push((f.name, vec![*t])),
                        }
                    }
                }
                names
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn missing_guards(env: &Env, path: &Path) -> Vec<(String, String)> {
        path.guards
            .iter()
            .filter(|g| !env.knows(g))
            .cloned()
            .collect()
    }

    pub(super) fn guard_text(guards: &[(String, String)]) -> String {
        let tests: Vec<String> = guards
            .iter()
            .map(|(base, attr)| format!("{base} has {}", field_name(attr)))
            .collect();
        format!("({})", tests.join(" && "))
    }

    pub(super) fn guard_facts(guards: &[(String, String)]) -> Facts {
        guards.iter().fold(Facts::default(), |facts, (base, attr)| {
            facts.and(&Facts::present(base.clone(), attr.clone()))
        })
    }

    /// The text of `path`'s read; renders its last step as `["name"]` now
    /// and then.
    pub(super) fn path_text(&mut self, path: &Path) -> String {
        if let Some((base, attr)) = &path.last
            && self.tape.chance(10)
        {
            return format!("{base}[{}]", quote(attr));
        }
        path.text.clone()
    }

    /// A read of some path of type `want`, guarded by `if … has …` when a
    /// guard it needs is not known.
    pub(super) fn read(&mut self, want: &T, env: &Env) -> Option<String> {
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
}

/// The text of attribute `name` of `base`.
fn attr_text(base: &str, name: &str) -> String {
    let shown = field_name(name);
    if shown.starts_with('"') {
        format!("{base}[{shown}]")
    } else {
        format!("{base}.{shown}")
    }
}
