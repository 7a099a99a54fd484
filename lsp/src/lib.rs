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

use tower_lsp_server::{LspService, Server};

/// Serves LSP on stdin/stdout until the client says `exit` or closes the
/// stream.
pub async fn serve_stdio() {
    serve(tokio::io::stdin(), tokio::io::stdout()).await;
}

/// Serves LSP on any byte streams (tests use pipes).
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) = LspService::new(server::Server::new);
    Server::new(input, output, socket).serve(service).await;
}

#[cfg(test)]
mod tests;
