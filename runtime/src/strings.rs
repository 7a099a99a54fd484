//! Interned strings: the bundle's table, plus the strings a request brings
//! that the bundle does not know. Equal strings always get equal symbols,
//! so string equality in the VM is an integer comparison.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;
use hashbrown::hash_table::HashTable;

use crate::value::Sym;

/// The bundle's strings. Its hasher, randomly seeded per engine, also
/// indexes every request's own strings, so a request string is hashed
/// once to look it up in both tables.
#[derive(Debug, Default)]
pub struct Strings {
    texts: Vec<Box<str>>,
    index: HashTable<Sym>,
    hasher: DefaultHashBuilder,
}

impl Strings {
    pub fn new(texts: &[String]) -> Self {
        let mut table = Strings::default();
        for text in texts {
            let sym = reaper_lang::schema::index_u32(table.texts.len());
            table.texts.push(text.as_str().into());
            // The compiler interns each string once; keep the first if not.
            let hash = table.hash(text);
            if table.find(hash, text).is_none() {
                let (texts, hasher) = (&table.texts, &table.hasher);
                table.index.insert_unique(hash, sym, |sym| {
                    hasher.hash_one(texts.get(*sym as usize).map_or("", |t| &**t))
                });
            }
        }
        table
    }

    pub fn get(&self, text: &str) -> Option<Sym> {
        self.find(self.hash(text), text)
    }

    fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    fn find(&self, hash: u64, text: &str) -> Option<Sym> {
        self.index
            .find(hash, |sym| self.text(*sym) == Some(text))
            .copied()
    }

    pub fn len(&self) -> u32 {
        reaper_lang::schema::index_u32(self.texts.len())
    }

    fn text(&self, sym: Sym) -> Option<&str> {
        self.texts.get(sym as usize).map(|t| &**t)
    }
}

/// Strings a request brought that the bundle does not have; their symbols
/// follow the bundle's. The texts sit back to back in one buffer, so a
/// request's strings cost no allocation each; the index hashes with the
/// bundle table's hasher, randomly seeded (request strings are chosen by
/// clients).
#[derive(Debug, Default, Clone)]
pub struct LocalStrings {
    buffer: String,
    /// Where each text ends in `buffer` (it starts where the previous ends).
    ends: Vec<u32>,
    index: HashTable<Sym>,
}

impl LocalStrings {
    /// A table with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> Self {
        LocalStrings {
            buffer: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
            index: HashTable::with_capacity(strings),
        }
    }

    /// The symbol of `text`, interning it here if the bundle lacks it.
    pub fn intern(&mut self, global: &Strings, text: &str) -> Sym {
        let hash = global.hash(text);
        if let Some(sym) = global.find(hash, text) {
            return sym;
        }
        let base = global.len();
        let (buffer, ends) = (&self.buffer, &self.ends);
        let found = self.index.find(hash, |sym| {
            local_text(buffer, ends, sym.wrapping_sub(base)) == text
        });
        if let Some(sym) = found {
            return *sym;
        }
        let sym = base.saturating_add(reaper_lang::schema::index_u32(self.ends.len()));
        self.buffer.push_str(text);
        self.ends
            .push(reaper_lang::schema::index_u32(self.buffer.len()));
        let (buffer, ends) = (&self.buffer, &self.ends);
        self.index.insert_unique(hash, sym, |sym| {
            global.hash(local_text(buffer, ends, sym.wrapping_sub(base)))
        });
        sym
    }

    /// The symbol this table gave `text`, if any.
    pub fn get(&self, global: &Strings, text: &str) -> Option<Sym> {
        let base = global.len();
        let hash = global.hash(text);
        self.index
            .find(hash, |sym| {
                local_text(&self.buffer, &self.ends, sym.wrapping_sub(base)) == text
            })
            .copied()
    }

    pub fn len(&self) -> u32 {
        reaper_lang::schema::index_u32(self.ends.len())
    }

    /// The text of a symbol from either table; `""` for an unknown symbol,
    /// which only a malformed bundle could produce.
    pub fn text<'a>(&'a self, global: &'a Strings, sym: Sym) -> &'a str {
        match sym.checked_sub(global.len()) {
            None => global.text(sym).unwrap_or(""),
            Some(local) => local_text(&self.buffer, &self.ends, local),
        }
    }
}

/// The `local`-th text of a buffer of back-to-back texts.
fn local_text<'a>(buffer: &'a str, ends: &[u32], local: u32) -> &'a str {
    let local = local as usize;
    let end = ends.get(local).map_or(0, |e| *e as usize);
    let start = match local.checked_sub(1) {
        Some(previous) => ends.get(previous).map_or(0, |e| *e as usize),
        None => 0,
    };
    buffer.get(start..end).unwrap_or("")
}

/// Where the symbols past the bundle's come from: a request's own table, or
/// texts borrowed from the input (a rate-limit descriptor's values, which
/// need no copy).
#[derive(Debug, Clone, Copy)]
pub enum Texts<'a> {
    Local(&'a LocalStrings),
    Borrowed(&'a [&'a str]),
}

impl<'a> Texts<'a> {
    /// How many symbols this table adds past the bundle's.
    pub fn len(self) -> u32 {
        match self {
            Texts::Local(local) => local.len(),
            Texts::Borrowed(texts) => reaper_lang::schema::index_u32(texts.len()),
        }
    }

    /// The symbol this table gives `text`, if it has it.
    pub fn get(self, global: &Strings, text: &str) -> Option<Sym> {
        match self {
            Texts::Local(local) => local.get(global, text),
            Texts::Borrowed(texts) => texts.iter().position(|t| *t == text).map(|i| {
                global
                    .len()
                    .saturating_add(reaper_lang::schema::index_u32(i))
            }),
        }
    }

    pub fn text(self, global: &'a Strings, sym: Sym) -> &'a str {
        match (sym.checked_sub(global.len()), self) {
            (None, _) => global.text(sym).unwrap_or(""),
            (Some(_), Texts::Local(local)) => local.text(global, sym),
            (Some(i), Texts::Borrowed(texts)) => texts.get(i as usize).copied().unwrap_or(""),
        }
    }
}
