//! Flow facts for the policy generator, with the same algebra as the
//! checker's (`compiler/src/check/facts.rs`), so that the generator knows
//! exactly which optional reads are guarded and what `principal` and
//! `resource` are narrowed to.

/// Facts known true where an expression is generated, with the same
/// algebra as the checker's (`compiler/src/check/facts.rs`): `x has a` makes
/// `x.a` readable, `x is T` narrows `x` (replacing its declared types, and
/// intersecting an earlier narrowing); `&&` joins facts, `||` keeps what
/// both sides know. Keys are path texts with dots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    pub(super) present: Vec<(String, &'static str)>,
    pub(super) narrowed: Vec<(String, Vec<usize>)>,
}

impl Facts {
    pub(super) fn present(base: String, attr: &'static str) -> Facts {
        Facts {
            present: vec![(base, attr)],
            narrowed: Vec::new(),
        }
    }

    pub(super) fn narrowing(base: String, ty: usize) -> Facts {
        Facts {
            present: Vec::new(),
            narrowed: vec![(base, vec![ty])],
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.present.is_empty() && self.narrowed.is_empty()
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
        let narrowed = self
            .narrowed
            .iter()
            .filter_map(|(path, types)| {
                let theirs = other.narrowed(path)?;
                let mut joined = types.clone();
                joined.extend(theirs.iter().copied());
                joined.sort_unstable();
                joined.dedup();
                Some((path.clone(), joined))
            })
            .collect();
        Facts { present, narrowed }
    }
}
