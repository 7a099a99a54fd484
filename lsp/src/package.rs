//! Packages as the server sees them: the `*.reaper` files of one directory,
//! each read from its open buffer if the editor has one, else from disk;
//! checked together ([`check`]), then indexed for navigation ([`index`]).
//! Full syntax trees are cached per file, so after a keystroke only the
//! edited file is parsed again for the index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reaper_compiler::diagnostics::{self, Diagnostic};
use reaper_compiler::parse::{self, Parsed};
use reaper_compiler::source::{FileId, Sources};
use reaper_compiler::symbols::{Index, Raw, Recorded, file_names};
use reaper_compiler::{Checked, Keep};
use tower_lsp_server::ls_types::Uri;

use crate::text::{Encoding, LineIndex};

/// Which package a document belongs to: its directory, or the document
/// alone when it has no path (an untitled buffer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PackageKey {
    Dir(PathBuf),
    Alone(String),
}

impl PackageKey {
    pub fn of(uri: &Uri) -> PackageKey {
        match uri.to_file_path() {
            Some(path) => match path.parent() {
                Some(dir) => PackageKey::Dir(dir.to_path_buf()),
                None => PackageKey::Alone(uri.as_str().to_owned()),
            },
            None => PackageKey::Alone(uri.as_str().to_owned()),
        }
    }
}

/// One file of a package as it is now.
#[derive(Debug, Clone)]
pub struct Input {
    pub uri: Uri,
    /// Display name (the path), as `reaper check` names files.
    pub name: String,
    /// The text, or why the file on disk is not policy text.
    pub text: Result<Arc<str>, String>,
    /// The raw bytes, when read from disk (to report undecodable files as
    /// `reaper check` does).
    pub bytes: Option<Vec<u8>>,
}

/// The files of the package at `key`: every `*.reaper` file of the
/// directory, with `open` (uri → text) overriding what is on disk and adding
/// buffers not saved yet. Sorted by path, as `reaper check` orders them.
pub fn inputs(key: &PackageKey, open: &HashMap<Uri, Arc<str>>) -> Vec<Input> {
    let mut found: Vec<(String, Input)> = Vec::new();
    match key {
        PackageKey::Dir(dir) => {
            for path in policy_files(dir) {
                let Some(uri) = Uri::from_file_path(&path) else {
                    continue;
                };
                let name = path.display().to_string();
                let input = match open.get(&uri) {
                    Some(text) => Input {
                        uri,
                        name,
                        text: Ok(text.clone()),
                        bytes: None,
                    },
                    None => match std::fs::read(&path) {
                        Ok(bytes) => Input {
                            uri,
                            name,
                            text: Err(String::new()),
                            bytes: Some(bytes),
                        },
                        // Deleted meanwhile, or unreadable: not part of it.
                        Err(_) => continue,
                    },
                };
                found.push((path.display().to_string(), input));
            }
            for (uri, text) in open {
                let Some(path) = uri.to_file_path() else {
                    continue;
                };
                let in_dir = path.parent() == Some(dir.as_path());
                let listed = found.iter().any(|(_, i)| &i.uri == uri);
                if in_dir && !listed {
                    let name = path.display().to_string();
                    found.push((
                        name.clone(),
                        Input {
                            uri: uri.clone(),
                            name,
                            text: Ok(text.clone()),
                            bytes: None,
                        },
                    ));
                }
            }
        }
        PackageKey::Alone(_) => {
            for (uri, text) in open {
                if &PackageKey::of(uri) == key {
                    found.push((
                        uri.as_str().to_owned(),
                        Input {
                            uri: uri.clone(),
                            name: uri.as_str().to_owned(),
                            text: Ok(text.clone()),
                            bytes: None,
                        },
                    ));
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.into_iter().map(|(_, input)| input).collect()
}

/// The `*.reaper` files directly in `dir`.
fn policy_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "reaper") && p.is_file())
        .collect()
}

/// One file of a checked package.
#[derive(Debug)]
pub struct File {
    pub uri: Uri,
    pub lines: LineIndex,
    /// Whether the file decoded as text (and so was checked).
    pub valid: bool,
}

/// A package checked: what diagnostics need. Indexing comes after
/// ([`index`]) so diagnostics are published first.
#[derive(Debug)]
pub struct CheckedPackage {
    pub sources: Sources,
    pub files: Vec<File>,
    /// All diagnostics, decoding ones included, sorted as `reaper check` sorts them.
    pub diagnostics: Vec<Diagnostic>,
    pub checked: Checked,
    recorded: Option<Box<Recorded>>,
}

impl CheckedPackage {
    pub fn file_of(&self, uri: &Uri) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| &f.uri == uri)
            .map(|i| FileId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    pub fn file(&self, id: FileId) -> &File {
        &self.files[id.0 as usize]
    }

    pub fn text(&self, id: FileId) -> &str {
        &self.sources.file(id).text
    }
}

/// Checks a package's files as `reaper check` does, recording what each
/// name refers to for the index.
pub fn check(inputs: Vec<Input>, encoding: Encoding) -> CheckedPackage {
    let mut sources = Sources::new();
    let mut files = Vec::new();
    let mut valid = Vec::new();
    let mut diagnostics = Vec::new();
    for input in inputs {
        let id = FileId(u32::try_from(files.len()).unwrap_or(u32::MAX));
        let text: Result<Arc<str>, _> = match (input.text, input.bytes) {
            (Ok(text), _) => Ok(text),
            (Err(_), Some(bytes)) => parse::decode(id, &bytes).map(Arc::from),
            (Err(reason), None) => Ok(Arc::from(reason)),
        };
        let ok = text.is_ok();
        let text = text.unwrap_or_else(|undecodable| {
            diagnostics.push(undecodable.diagnostic);
            Arc::from(undecodable.lossy_text)
        });
        if ok {
            valid.push(id);
        }
        files.push(File {
            uri: input.uri,
            lines: LineIndex::new(&text, encoding),
            valid: ok,
        });
        sources.add(input.name, text);
    }
    let (checked, recorded) =
        reaper_compiler::check_files_recording(&sources, &valid, Keep::Diagnostics, true);
    diagnostics.extend(checked.diagnostics.iter().cloned());
    diagnostics::sort(&mut diagnostics);
    CheckedPackage {
        sources,
        files,
        diagnostics,
        checked,
        recorded,
    }
}

/// One file's full syntax tree and the names in it.
#[derive(Debug)]
pub struct ParsedFile {
    pub text: Arc<str>,
    pub id: FileId,
    pub parsed: Parsed,
    pub names: Vec<Raw>,
}

/// Full syntax trees by document, kept between analyses.
pub type ParseCache = HashMap<Uri, Arc<ParsedFile>>;

/// A package checked and indexed: everything requests read.
#[derive(Debug)]
pub struct Analysis {
    pub package: CheckedPackage,
    /// By file id; `None` for a file that is not text.
    pub parsed: Vec<Option<Arc<ParsedFile>>>,
    pub index: Index,
}

/// Indexes a checked package, parsing again only the files whose text
/// changed since `cache` saw them.
pub fn index(mut package: CheckedPackage, cache: &mut ParseCache) -> Analysis {
    let mut parsed = Vec::with_capacity(package.files.len());
    for (i, file) in package.files.iter().enumerate() {
        let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
        if !file.valid {
            parsed.push(None);
            continue;
        }
        let text = package.sources.file(id).text.clone();
        let reuse = cache
            .get(&file.uri)
            .filter(|p| p.id == id && p.text == text)
            .cloned();
        let entry = reuse.unwrap_or_else(|| {
            let tree = parse::parse(id, &text);
            let names = file_names(&tree.file, &text);
            let entry = Arc::new(ParsedFile {
                text: text.clone(),
                id,
                parsed: tree,
                names,
            });
            cache.insert(file.uri.clone(), entry.clone());
            entry
        });
        parsed.push(Some(entry));
    }
    let names: Vec<&[Raw]> = parsed
        .iter()
        .flatten()
        .map(|p| p.names.as_slice())
        .collect();
    let schema = std::mem::take(&mut package.checked.package.schema);
    let index = Index::new(&names, package.recorded.take(), schema);
    Analysis {
        package,
        parsed,
        index,
    }
}

/// The package's files as sources again, `file`'s text replaced by
/// `text` if given, with the ids of the files that are text.
pub fn sources(
    package: &CheckedPackage,
    replaced: Option<(FileId, &str)>,
) -> (Sources, Vec<FileId>) {
    let mut sources = Sources::new();
    let mut valid = Vec::new();
    for (id, source) in package.sources.files() {
        match replaced {
            Some((file, text)) if file == id => sources.add(source.name.clone(), text),
            _ => sources.add(source.name.clone(), source.text.clone()),
        };
        if package.file(id).valid {
            valid.push(id);
        }
    }
    (sources, valid)
}

/// The package checked again with `file`'s text replaced by `text`
/// (completion checks the text as if the half-typed part were not there),
/// returning what the checker recorded and the schema.
pub fn check_variant(
    package: &CheckedPackage,
    file: FileId,
    text: &str,
) -> Option<(Box<Recorded>, reaper_lang::schema::Schema)> {
    let (sources, valid) = sources(package, Some((file, text)));
    let (checked, recorded) =
        reaper_compiler::check_files_recording(&sources, &valid, Keep::Diagnostics, true);
    Some((recorded?, checked.package.schema))
}
