//! `reaper lsp`: the Reaper policy language server. It speaks LSP over
//! stdio and answers from the same front end as `reaper check`:
//! diagnostics with the CLI's codes, messages and labels, quick fixes,
//! hover, navigation and rename across a package's files, completion,
//! formatting, the outline, folding, semantic tokens and test code lenses.
//!
//! A package is the `*.reaper` files of one directory, open buffers
//! (saved or not) overriding the files on disk. See `docs/editors.md`.

mod complete;
mod diagnostics;
#[doc(hidden)]
pub mod fuzzing;
mod lenses;
mod navigate;
mod outline;
mod package;
mod server;
mod text;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tower_lsp_server::{LspService, Server};

/// Serves LSP on stdin/stdout until the client says `exit` or closes the
/// stream; whether it asked to shut down first (as the protocol wants:
/// otherwise the process should exit with 1).
pub async fn serve_stdio() -> bool {
    serve(tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves LSP on any byte streams (tests use pipes).
pub async fn serve<I, O>(input: I, output: O) -> bool
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let shut_down = Arc::new(AtomicBool::new(false));
    let flag = shut_down.clone();
    let (service, socket) = LspService::new(move |client| server::Server::new(client, flag));
    Server::new(input, output, socket).serve(service).await;
    shut_down.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests;
