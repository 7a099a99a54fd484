//! Maps for the policy generator: map-typed reads, keys the checker can
//! recognise again, `m.contains_key(k)` (a guard) and `m.get(k)` (read
//! where the guard is known, or under `if m.contains_key(k)`).

use super::exprs::quote;
use super::facts::{Facts, Flow, KEY};
use super::{Env, Path, PolicyGen};
use crate::model::{MAP_KEYS, T};

impl PolicyGen<'_, '_> {
    /// A map-typed read (every map type has one through an entity
    /// literal), or an `if` of two.
    pub(super) fn map_expr(&mut self, ty: &T, env: &Env, depth: u32) -> String {
        if depth > 0 && self.tape.chance(20) {
            return self.if_expr(ty, env, depth);
        }
        self.read(ty, env)
            .unwrap_or_else(|| panic!("no read of type {ty:?}"))
    }

    /// Readable map paths (whose values fit `value`, if given).
    pub(super) fn map_paths(env: &Env, value: Option<&T>) -> Vec<Path> {
        env.paths
            .iter()
            .filter(|p| match &p.ty {
                T::Map(v) => value.is_none_or(|want| v.fits(want)),
                _ => false,
            })
            .filter(|p| PolicyGen::missing_guards(env, p).is_empty())
            .cloned()
            .collect()
    }

    /// The text of a readable map path.
    pub(super) fn map_path(&mut self, env: &Env, value: Option<&T>) -> String {
        let maps = Self::map_paths(env, value);
        let path = self.tape.choose(&maps).clone();
        self.path_text(&path)
    }

    /// A key for `contains_key`/`get` that the checker can recognise again
    /// (it has a path): a literal, a readable `String` path, or an entity
    /// path's `.id()`. Its text is canonical, so a guard and a read of one
    /// key are written alike.
    pub(super) fn key_expr(&mut self, env: &Env) -> String {
        let choice = self.tape.pick(5);
        let readable = |p: &&Path| Self::missing_guards(env, p).is_empty();
        if choice == 3 {
            let strings: Vec<&Path> = env
                .paths
                .iter()
                .filter(|p| p.ty == T::Str)
                .filter(readable)
                .collect();
            if !strings.is_empty() {
                return self.tape.choose(&strings).text.clone();
            }
        }
        if choice == 4 {
            let entities: Vec<&Path> = env
                .paths
                .iter()
                .filter(|p| matches!(p.ty, T::Ent(_)))
                .filter(readable)
                .collect();
            if !entities.is_empty() {
                return format!("{}.id()", self.tape.choose(&entities).text);
            }
        }
        quote(self.tape.choose::<&str>(&MAP_KEYS))
    }

    /// `m.get(k)` of a value that fits `want`: directly where the entry is
    /// known present, else under `if m.contains_key(k)`.
    pub(super) fn get_expr(&mut self, want: &T, env: &Env) -> Option<String> {
        let maps = Self::map_paths(env, Some(want));
        if maps.is_empty() {
            return None;
        }
        let known: Vec<(String, String)> = env
            .facts
            .present
            .iter()
            .filter_map(|(base, attr)| {
                let key = attr.strip_prefix(KEY)?;
                maps.iter()
                    .any(|m| m.text == *base)
                    .then(|| (base.clone(), key.to_owned()))
            })
            .collect();
        if !known.is_empty() && self.tape.chance(70) {
            let (map, key) = self.tape.choose(&known).clone();
            return Some(format!("{map}.get({key})"));
        }
        let map = self.tape.choose(&maps).text.clone();
        let key = self.key_expr(env);
        let alt = if want.writable() {
            self.literal(want)
        } else {
            return None;
        };
        Some(format!(
            "(if {map}.contains_key({key}) then {map}.get({key}) else {alt})"
        ))
    }

    /// `m.contains_key(k)`, which makes `m.get(k)` readable where true.
    pub(super) fn contains_key(&mut self, env: &Env) -> (String, Flow) {
        let maps: Vec<String> = env
            .paths
            .iter()
            .filter(|p| matches!(p.ty, T::Map(_)) && Self::missing_guards(env, p).is_empty())
            .map(|p| p.text.clone())
            .collect();
        let map = self.tape.choose(&maps).clone();
        let key = self.key_expr(env);
        let fact = Facts::present(map.clone(), format!("{KEY}{key}"));
        (format!("{map}.contains_key({key})"), Flow::when_true(fact))
    }
}
