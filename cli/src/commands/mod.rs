//! One module per `reaper` subcommand.

pub mod check;
pub mod compile;
pub mod eval;
pub mod fmt;
pub mod lsp;
pub mod serve;
pub mod test;
