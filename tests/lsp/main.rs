//! `reaper lsp` tested as an editor drives it: the real binary, JSON-RPC
//! over its stdio ([`client`]). [`cases`] are data-driven (a directory of
//! policies with cursor markers and a list of requests; one snapshot of all
//! the answers per case, rendered by [`render`]); [`identity`] holds the
//! published diagnostics to `reaper check --format json`, and formatting
//! to `reaper fmt`, on the same files; [`sessions`] opens, edits and closes
//! documents across a package, saved and not; [`robustness`] sends random
//! edit sequences and requests and requires answers, a live server and no
//! stale diagnostics. [`text`] converts positions (UTF-16, as negotiated).
//!
//! Run with `cargo test -p reaper-cli --test lsp`; review new snapshots
//! (`tests/lsp/snapshots/`) before accepting them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "../common/mod.rs"]
mod common;

mod cases;
mod client;
mod identity;
mod render;
mod robustness;
mod sessions;
mod text;
