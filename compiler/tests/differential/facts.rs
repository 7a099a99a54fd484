//! Flow facts for the policy generator, with the same algebra as the
//! checker's (`compiler/src/check/facts.rs`), so that the generator knows
//! exactly which optional reads and map entries are guarded and what
//! `principal` and `resource` are narrowed to.

/// Facts known true where an expression is generated, with the same
/// algebra as the checker's: `x has a` makes `x.a` readable (and narrows
/// `x` to the types that declare `a`), `m.contains_key(k)` makes
/// `m.get(k)` readable, `x is T` narrows `x` (replacing its declared types,
/// and intersecting an earlier narrowing); `&&` joins facts, `||` keeps
/// what both sides know. Keys are canonical path texts (see `Path`); a map
/// entry's fact is `(map, KEY + key)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    pub(super) present: Vec<(String, String)>,
    pub(super) narrowed: Vec<(String, Vec<usize>)>,
}

/// Marks a map entry's fact apart from an attribute's.
pub(super) const KEY: char = '\u{4}';

/// What an expression establishes when true and when false.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Flow {
    pub(super) when_true: Facts,
    pub(super) when_false: Facts,
}

impl Flow {
    pub(super) fn none() -> Flow {
        Flow::default()
    }

    pub(super) fn when_true(facts: Facts) -> Flow {
        Flow {
            when_true: facts,
            when_false: Facts::default(),
        }
    }

    /// `!e`.
    pub(super) fn not(self) -> Flow {
        Flow {
            when_true: self.when_false,
            when_false: self.when_true,
        }
    }

    /// `a && b`, with `b` generated where `a` is true.
    pub(super) fn and(a: &Flow, b: &Flow) -> Flow {
        Flow {
            when_true: a.when_true.and(&b.when_true),
            when_false: a.when_false.or(&a.when_true.and(&b.when_false)),
        }
    }

    /// `a || b`, with `b` generated where `a` is false.
    pub(super) fn or(a: &Flow, b: &Flow) -> Flow {
        Flow {
            when_true: a.when_true.or(&a.when_false.and(&b.when_true)),
            when_false: a.when_false.and(&b.when_false),
        }
    }

    /// `if c then x else y` of type `Bool`.
    pub(super) fn choose(c: &Flow, then: &Flow, otherwise: &Flow) -> Flow {
        Flow {
            when_true: c
                .when_true
                .and(&then.when_true)
                .or(&c.when_false.and(&otherwise.when_true)),
            when_false: c
                .when_true
                .and(&then.when_false)
                .or(&c.when_false.and(&otherwise.when_false)),
        }
    }
}

impl Facts {
    pub(super) fn present(base: String, attr: String) -> Facts {
        Facts {
            present: vec![(base, attr)],
            narrowed: Vec::new(),
        }
    }

    pub(super) fn narrowing(base: String, types: Vec<usize>) -> Facts {
        Facts {
            present: Vec::new(),
            narrowed: vec![(base, types)],
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.present.is_empty() && self.narrowed.is_empty()
    }

    pub(super) fn has(&self, base: &str, attr: &str) -> bool {
        self.present.iter().any(|(b, a)| b == base && a == attr)
    }

    pub(super) fn narrowed(&self, path: &str) -> Option<&Vec<usize>> {
        self.narrowed
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, types)| types)
    }

    pub(super) fn and(&self, other: &Facts) -> Facts {
        if other.is_empty() {
            return self.clone();
        }
        let mut out = self.clone();
        for fact in &other.present {
            if !out.present.contains(fact) {
                out.present.push(fact.clone());
            }
        }
        for (path, types) in &other.narrowed {
            let joined = match out.narrowed(path) {
                Some(existing) => existing
                    .iter()
                    .copied()
                    .filter(|t| types.contains(t))
                    .collect(),
                None => types.clone(),
            };
            out.narrowed.push((path.clone(), joined));
        }
        out
    }

    pub(super) fn or(&self, other: &Facts) -> Facts {
        let present = self
            .present
            .iter()
            .filter(|f| other.present.contains(f))
            .cloned()
            .collect();
        let mut narrowed: Vec<(String, Vec<usize>)> = Vec::new();
        for (path, _) in &self.narrowed {
            if narrowed.iter().any(|(p, _)| p == path) {
                continue;
            }
            let (Some(mine), Some(theirs)) = (self.narrowed(path), other.narrowed(path)) else {
                continue;
            };
            let mut joined = mine.clone();
            joined.extend(theirs.iter().copied());
            joined.sort_unstable();
            joined.dedup();
            narrowed.push((path.clone(), joined));
        }
        Facts { present, narrowed }
    }
}
