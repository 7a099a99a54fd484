//! What one evaluation builds as it runs: sets and records (in a value
//! pool), IP ranges parsed from text, and strings joined with `+`. Strings
//! are interned against the bundle's and the input's, so equal texts keep
//! equal symbols and string equality stays an integer comparison. Cleared
//! between rules; empty (and free) for the common rule that builds nothing.

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::strings::{Strings, Texts};
use crate::value::{Sym, Val};

#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub values: Vec<Val>,
    pub ips: Vec<IpNet>,
    strings: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, Sym>,
}

impl Scratch {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.ips.is_empty() && self.strings.is_empty()
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.ips.clear();
        if !self.strings.is_empty() {
            self.strings.clear();
            self.ids.clear();
        }
    }

    /// The symbol of `text`: the bundle's or the input's if they have it,
    /// else a new one past theirs.
    pub fn intern(&mut self, global: &Strings, local: Texts<'_>, text: &str) -> Sym {
        if let Some(sym) = global.get(text).or_else(|| local.get(global, text)) {
            return sym;
        }
        if let Some(sym) = self.ids.get(text) {
            return *sym;
        }
        let base = global.len().saturating_add(local.len());
        let sym = base.saturating_add(reaper_lang::schema::index_u32(self.strings.len()));
        self.strings.push(text.into());
        self.ids.insert(text.into(), sym);
        sym
    }

    /// The text of a symbol past the input's (`index` counts from there).
    pub fn text(&self, index: u32) -> &str {
        self.strings.get(index as usize).map_or("", |t| &**t)
    }
}
