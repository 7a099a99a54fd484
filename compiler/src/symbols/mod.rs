//! What each name in a package refers to, for editors: declarations and
//! uses of entity types, aliases, actions, attributes, stores, limits and
//! rule ids, and the type of every checked expression. Names the syntax
//! alone settles come from the syntax trees ([`syntax`]); attribute reads,
//! whose owner depends on the receiver's type, and expression types are
//! recorded by the checker as it goes ([`Recorded`]).

mod syntax;

use std::collections::HashSet;

use reaper_lang::schema::Schema;

use crate::source::{FileId, Span};
use crate::typed::Ty;

pub use syntax::{Raw, file_names};

/// Whose attribute a name is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// An entity type's attribute, by the type's name.
    Entity(String),
    /// A context field: of the package's `context` or an action's.
    Context,
}

/// Something a name can stand for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    EntityType(String),
    TypeAlias(String),
    /// An action or action group, by its full name (`store.read` included).
    Action(String),
    Attribute {
        owner: Owner,
        name: String,
    },
    Store(String),
    Limit {
        domain: String,
        name: String,
    },
    /// A rule, by its `@id`.
    Rule(String),
    /// A descriptor entry's key; never declared, only used.
    DescriptorKey(String),
}

impl Symbol {
    /// The name as written in the source.
    pub fn name(&self) -> &str {
        match self {
            Symbol::EntityType(n)
            | Symbol::TypeAlias(n)
            | Symbol::Action(n)
            | Symbol::Store(n)
            | Symbol::Rule(n)
            | Symbol::DescriptorKey(n) => n,
            Symbol::Attribute { name, .. } | Symbol::Limit { name, .. } => name,
        }
    }

    /// What kind of thing it is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Symbol::EntityType(_) => "entity type",
            Symbol::TypeAlias(_) => "type alias",
            Symbol::Action(_) => "action",
            Symbol::Attribute {
                owner: Owner::Context,
                ..
            } => "context field",
            Symbol::Attribute { .. } => "attribute",
            Symbol::Store(_) => "store",
            Symbol::Limit { .. } => "limit",
            Symbol::Rule(_) => "rule",
            Symbol::DescriptorKey(_) => "descriptor key",
        }
    }
}

/// One place a symbol's name is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The name itself (inside the quotes, for a rule id).
    pub span: Span,
    pub symbol: Symbol,
    /// For a declaration: the declaring item or attribute, else `None`.
    pub declaration: Option<Span>,
}

/// What the checker records when asked ([`crate::check_files_recording`]).
#[derive(Debug, Default)]
pub struct Recorded {
    /// Each checked expression's span and type, in checking order.
    pub types: Vec<(Span, Ty)>,
    /// Attribute and descriptor-key uses, resolved against their receiver.
    pub uses: Vec<(Span, Symbol)>,
}

/// A package's symbols: every occurrence, sorted by place, and every
/// checked expression's type.
#[derive(Debug, Default)]
pub struct Index {
    occurrences: Vec<Occurrence>,
    types: Vec<(Span, Ty)>,
    schema: Schema,
}

impl Index {
    /// Puts together the names found in each file's syntax tree
    /// ([`file_names`]) and what the checker recorded; `schema` is the
    /// checked package's, to show types.
    pub fn new(files: &[&[Raw]], recorded: Option<Box<Recorded>>, schema: Schema) -> Index {
        let declared = Declared::of(files);
        let mut occurrences: Vec<Occurrence> = files
            .iter()
            .flat_map(|raws| raws.iter())
            .filter_map(|raw| raw.resolve(&declared))
            .collect();
        let (mut types, uses) = recorded.map_or_else(Default::default, |r| (r.types, r.uses));
        occurrences.extend(uses.into_iter().map(|(span, symbol)| Occurrence {
            span,
            symbol,
            declaration: None,
        }));
        occurrences.sort_by(|a, b| (a.span, &a.symbol).cmp(&(b.span, &b.symbol)));
        occurrences.dedup();
        types.sort_by_key(|(span, _)| (span.file, span.start, std::cmp::Reverse(span.end)));
        Index {
            occurrences,
            types,
            schema,
        }
    }

    pub fn occurrences(&self) -> &[Occurrence] {
        &self.occurrences
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The occurrences whose name covers `offset` (several when an
    /// attribute is read from an entity of several types).
    pub fn at(&self, file: FileId, offset: u32) -> Vec<&Occurrence> {
        self.occurrences
            .iter()
            .filter(|o| o.span.file == file && o.span.start <= offset && offset <= o.span.end)
            .collect()
    }

    /// Every occurrence of `symbol`, declarations included.
    pub fn references<'a>(&'a self, symbol: &'a Symbol) -> impl Iterator<Item = &'a Occurrence> {
        self.occurrences.iter().filter(move |o| &o.symbol == symbol)
    }

    /// `symbol` and every symbol tied to it by a name that stands for
    /// both: an attribute read from an entity of several types refers to
    /// each type's attribute, so renaming one renames them all.
    pub fn linked(&self, symbol: &Symbol) -> Vec<Symbol> {
        let mut found = vec![symbol.clone()];
        let mut next = 0;
        while next < found.len() {
            let spans: Vec<Span> = self.references(&found[next]).map(|o| o.span).collect();
            next += 1;
            for span in spans {
                for other in self.occurrences.iter().filter(|o| o.span == span) {
                    if !found.contains(&other.symbol) {
                        found.push(other.symbol.clone());
                    }
                }
            }
        }
        found
    }

    /// Where `symbol` is declared.
    pub fn declarations<'a>(&'a self, symbol: &'a Symbol) -> impl Iterator<Item = &'a Occurrence> {
        self.references(symbol).filter(|o| o.declaration.is_some())
    }

    /// The innermost checked expression covering `offset`, with its type as
    /// the checker showed it.
    pub fn type_at(&self, file: FileId, offset: u32) -> Option<(Span, String)> {
        self.types
            .iter()
            .filter(|(span, ty)| {
                span.file == file && span.start <= offset && offset <= span.end && !ty.is_error()
            })
            .min_by_key(|(span, _)| span.len())
            .map(|(span, ty)| (*span, self.show(ty)))
    }

    /// The type of the expression spanning exactly `span`, if it was checked.
    pub fn type_of(&self, span: Span) -> Option<&Ty> {
        self.types
            .iter()
            .rev()
            .find(|(s, ty)| *s == span && !ty.is_error())
            .map(|(_, ty)| ty)
    }

    /// A type as diagnostics show it.
    pub fn show(&self, ty: &Ty) -> String {
        crate::check::types::display(&self.schema, ty)
    }

    /// The descriptor keys used anywhere in the package.
    pub fn descriptor_keys(&self) -> Vec<(&str, Span)> {
        let mut seen = HashSet::new();
        self.occurrences
            .iter()
            .filter_map(|o| match &o.symbol {
                Symbol::DescriptorKey(key) if seen.insert(key.as_str()) => {
                    Some((key.as_str(), o.span))
                }
                _ => None,
            })
            .collect()
    }
}

/// The names a package declares, to settle names the syntax alone cannot
/// (`User` in a type: an entity type or an alias; a bare name: an action).
struct Declared<'a> {
    entities: HashSet<&'a str>,
    aliases: HashSet<&'a str>,
    actions: HashSet<&'a str>,
}

impl<'a> Declared<'a> {
    fn of(files: &[&'a [Raw]]) -> Declared<'a> {
        let mut declared = Declared {
            entities: HashSet::new(),
            aliases: HashSet::new(),
            actions: HashSet::new(),
        };
        for raw in files.iter().flat_map(|raws| raws.iter()) {
            if let Raw::Known(Occurrence {
                symbol,
                declaration: Some(_),
                ..
            }) = raw
            {
                match symbol {
                    Symbol::EntityType(n) => {
                        declared.entities.insert(n);
                    }
                    Symbol::TypeAlias(n) => {
                        declared.aliases.insert(n);
                    }
                    Symbol::Action(n) => {
                        declared.actions.insert(n);
                    }
                    _ => {}
                }
            }
        }
        declared
    }
}

impl Raw {
    fn resolve(&self, declared: &Declared<'_>) -> Option<Occurrence> {
        let occurrence = |span, symbol| {
            Some(Occurrence {
                span,
                symbol,
                declaration: None,
            })
        };
        match self {
            Raw::Known(occurrence) => Some(occurrence.clone()),
            Raw::TypeName(ident) if declared.entities.contains(ident.name.as_str()) => {
                occurrence(ident.span, Symbol::EntityType(ident.name.clone()))
            }
            Raw::TypeName(ident) if declared.aliases.contains(ident.name.as_str()) => {
                occurrence(ident.span, Symbol::TypeAlias(ident.name.clone()))
            }
            Raw::BareName(ident) if declared.actions.contains(ident.name.as_str()) => {
                occurrence(ident.span, Symbol::Action(ident.name.clone()))
            }
            Raw::TypeName(_) | Raw::BareName(_) => None,
        }
    }
}

#[cfg(test)]
mod tests;
