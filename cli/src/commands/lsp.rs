//! `reaper lsp`: runs the language server on stdin/stdout until the editor
//! ends the session. Editors start it; see `docs/editors.md`.

use crate::Outcome;
use crate::load::LoadError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it (VS Code's client does); stdio is
    /// the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: &Args) -> Result<Outcome, LoadError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| LoadError {
            path: "reaper lsp".into(),
            reason: format!("cannot start the runtime: {e}"),
        })?;
    // An `exit` without `shutdown` first ends with 1, as LSP specifies.
    Ok(if runtime.block_on(reaper_lsp::serve_stdio()) {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
