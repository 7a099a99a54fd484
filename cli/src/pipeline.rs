//! The steps several commands share: one package from a path, checked and
//! compiled, or a bundle file loaded; diagnostics rendered to stderr.

use std::path::{Path, PathBuf};

use reaper_compiler::diagnostics::{self, Diagnostic};
use reaper_compiler::{Checked, Keep};
use reaper_lang::bundle::{Bundle, MAGIC};
use reaper_runtime::Engine;

use crate::load::{self, LoadError, Package};
use crate::render::{self, Batch, Colors, Format};

/// A checked package and all its diagnostics (decoding ones included).
pub struct CheckedPackage {
    pub package: Package,
    pub checked: Checked,
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckedPackage {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Prints the diagnostics (errors and warnings) to stderr.
    pub fn report(&self, colors: Colors) {
        if self.diagnostics.is_empty() {
            return;
        }
        let batch = Batch {
            sources: &self.package.sources,
            diagnostics: &self.diagnostics,
        };
        eprint!("{}", render::render(Format::Human, &[batch], colors));
    }
}

/// Loads and checks the packages under `paths`, keeping of their rules what
/// `keep` says.
pub fn check_all(paths: &[PathBuf], keep: Keep) -> Result<Vec<CheckedPackage>, LoadError> {
    let packages = load::packages(paths)?;
    if packages.is_empty() {
        return Err(LoadError {
            path: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: "no `*.reaper` files found".into(),
        });
    }
    Ok(packages
        .into_iter()
        .map(|package| check(package, keep))
        .collect())
}

pub fn check(mut package: Package, keep: Keep) -> CheckedPackage {
    let checked = reaper_compiler::check_files_keeping(&package.sources, &package.valid, keep);
    let mut all = std::mem::take(&mut package.diagnostics);
    all.extend(checked.diagnostics.iter().cloned());
    diagnostics::sort(&mut all);
    CheckedPackage {
        package,
        checked,
        diagnostics: all,
    }
}

/// The one package at `path`; a path holding several is a usage error.
pub fn check_one(path: &Path, keep: Keep) -> Result<CheckedPackage, LoadError> {
    let mut all = check_all(&[path.to_path_buf()], keep)?;
    if all.len() > 1 {
        return Err(LoadError {
            path: path.display().to_string(),
            reason: format!(
                "holds {} packages (directories of policy files); name one of them",
                all.len()
            ),
        });
    }
    all.pop().ok_or_else(|| LoadError {
        path: path.display().to_string(),
        reason: "no `*.reaper` files found".into(),
    })
}

/// Lowers a checked package without errors to its bundle (or takes the
/// bundle lowered while checking, with [`Keep::Bytecode`]).
pub fn bundle(checked: &mut CheckedPackage) -> Result<Bundle, Vec<Diagnostic>> {
    if checked.has_errors() {
        return Err(checked.diagnostics.clone());
    }
    match checked.checked.bundle.take() {
        Some(bundle) => Ok(bundle),
        None => reaper_compiler::compile_checked(&checked.checked),
    }
}

/// The extension bundles are written with, by convention.
const BUNDLE_EXTENSION: &str = "rpb";

/// Whether a file is a compiled bundle rather than policy source: it is
/// named `*.rpb` (so a damaged one is reported as a bad bundle, not as
/// unreadable source) or starts with the bundle magic bytes.
pub fn is_bundle(path: &Path) -> bool {
    use std::io::Read;
    if path.extension().is_some_and(|ext| ext == BUNDLE_EXTENSION) {
        return true;
    }
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == MAGIC)
}

/// An engine for `path`: a bundle file, or a package compiled on the fly.
/// `None` after printing diagnostics when the package has errors.
pub fn engine(path: &Path, colors: Colors) -> Result<Option<Engine>, LoadError> {
    if is_bundle(path) {
        let bytes = std::fs::read(path).map_err(|e| LoadError::from_io(path, &e))?;
        return Engine::load(&bytes).map(Some).map_err(|e| LoadError {
            path: path.display().to_string(),
            reason: e.to_string(),
        });
    }
    let mut checked = check_one(path, Keep::Bytecode)?;
    checked.report(colors);
    match bundle(&mut checked) {
        Ok(bundle) => {
            let bytes = reaper_lang::bundle::encode(&bundle);
            Engine::load(&bytes).map(Some).map_err(|e| LoadError {
                path: path.display().to_string(),
                reason: format!("internal error: the compiled bundle does not verify: {e}"),
            })
        }
        Err(_) => Ok(None),
    }
}
