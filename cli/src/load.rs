//! Reading policies from disk: expands paths into packages (a package is
//! the policy files of one directory), decodes each file, and reports IO
//! problems as errors that end the command with exit code 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reaper_compiler::diagnostics::Diagnostic;
use reaper_compiler::parse;
use reaper_compiler::source::{FileId, Sources};

/// A file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LoadError {
    pub path: String,
    pub reason: String,
}

impl LoadError {
    pub fn from_io(path: &Path, error: &std::io::Error) -> Self {
        let reason = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => error.to_string(),
        };
        Self {
            path: path.display().to_string(),
            reason,
        }
    }
}

/// One package's files, ready to check.
#[derive(Debug)]
pub struct Package {
    pub sources: Sources,
    /// Files that decoded as text; the others are in `sources` only to show
    /// their diagnostic.
    pub valid: Vec<FileId>,
    /// Diagnostics from decoding (not UTF-8, too large).
    pub diagnostics: Vec<Diagnostic>,
}

/// The `*.reaper` files a set of paths denotes: a file stands for itself, a
/// directory for every `*.reaper` file below it. Sorted, without repeats.
pub fn policy_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|e| LoadError::from_io(path, &e))?;
        if metadata.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError::from_io(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LoadError::from_io(dir, &e))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| LoadError::from_io(&path, &e))?;
        if file_type.is_dir() {
            // Hidden directories (.git) and build output hold no policies.
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden && path.file_name().is_none_or(|n| n != "target") {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "reaper") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads the packages the paths denote: the files named or found below
/// the directories named, grouped by the directory they are in.
pub fn packages(paths: &[PathBuf]) -> Result<Vec<Package>, LoadError> {
    let mut dirs: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in policy_files(paths)? {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        dirs.entry(dir).or_default().push(file);
    }
    dirs.into_values().map(|files| package(&files)).collect()
}

fn package(files: &[PathBuf]) -> Result<Package, LoadError> {
    let mut sources = Sources::new();
    let mut valid = Vec::new();
    let mut diagnostics = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| LoadError::from_io(path, &e))?;
        let name = path.display().to_string();
        let id = FileId(u32::try_from(sources.len()).unwrap_or(u32::MAX));
        match parse::decode(id, &bytes) {
            Ok(text) => {
                sources.add(name, text);
                valid.push(id);
            }
            Err(undecodable) => {
                sources.add(name, undecodable.lossy_text);
                diagnostics.push(undecodable.diagnostic);
            }
        }
    }
    Ok(Package {
        sources,
        valid,
        diagnostics,
    })
}
