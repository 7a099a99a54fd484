//! Interned strings: the bundle's table, plus the strings a request brings
//! that the bundle does not know. Equal strings always get equal symbols,
//! so string equality in the VM is an integer comparison.

use rustc_hash::FxHashMap;

use crate::value::Sym;

#[derive(Debug, Default)]
pub struct Strings {
    texts: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, Sym>,
}

impl Strings {
    pub fn new(texts: &[String]) -> Self {
        let mut table = Strings::default();
        for (i, text) in texts.iter().enumerate() {
            let sym = reaper_lang::schema::index_u32(i);
            table.texts.push(text.as_str().into());
            // The compiler interns each string once; keep the first if not.
            table.ids.entry(text.as_str().into()).or_insert(sym);
        }
        table
    }

    pub fn get(&self, text: &str) -> Option<Sym> {
        self.ids.get(text).copied()
    }

    pub fn len(&self) -> u32 {
        reaper_lang::schema::index_u32(self.texts.len())
    }

    fn text(&self, sym: Sym) -> Option<&str> {
        self.texts.get(sym as usize).map(|t| &**t)
    }
}

/// Strings a request brought that the bundle does not have; their symbols
/// follow the bundle's.
#[derive(Debug, Default, Clone)]
pub struct LocalStrings {
    texts: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, Sym>,
}

impl LocalStrings {
    /// The symbol of `text`, interning it here if the bundle lacks it.
    pub fn intern(&mut self, global: &Strings, text: &str) -> Sym {
        if let Some(sym) = global.get(text) {
            return sym;
        }
        if let Some(sym) = self.ids.get(text) {
            return *sym;
        }
        let sym = global
            .len()
            .saturating_add(reaper_lang::schema::index_u32(self.texts.len()));
        self.texts.push(text.into());
        self.ids.insert(text.into(), sym);
        sym
    }

    /// The symbol this table gave `text`, if any.
    pub fn get(&self, text: &str) -> Option<Sym> {
        self.ids.get(text).copied()
    }

    pub fn len(&self) -> u32 {
        reaper_lang::schema::index_u32(self.texts.len())
    }

    /// The text of a symbol from either table; `""` for an unknown symbol,
    /// which only a malformed bundle could produce.
    pub fn text<'a>(&'a self, global: &'a Strings, sym: Sym) -> &'a str {
        match sym.checked_sub(global.len()) {
            None => global.text(sym).unwrap_or(""),
            Some(local) => self.texts.get(local as usize).map_or("", |t| &**t),
        }
    }
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
            Texts::Local(local) => local.get(text),
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
