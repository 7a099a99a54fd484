//! One module per `reaper` subcommand.

pub mod check;
pub mod fmt;
