//! What the Reaper compiler and runtime must agree on: the type model, literal
//! text forms, the schema model, rate-limit and retention specifications.
//!
//! This crate never parses policies; the runtime depends on it and not on the
//! compiler.

pub mod limits;
pub mod literal;
pub mod schema;
pub mod types;
