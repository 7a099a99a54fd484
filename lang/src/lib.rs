//! What the Reaper compiler and runtime must agree on: the type model,
//! literal text forms, the schema model, rate-limit and store
//! specifications, values and requests, the instruction set and the bundle
//! format with its verifier.
//!
//! This crate never parses policies; the runtime depends on it and not on
//! the compiler.

pub mod bundle;
pub mod bytecode;
pub mod eval;
pub mod excerpt;
pub mod json;
pub mod limits;
pub mod literal;
pub mod pattern;
pub mod plural;
pub mod printable;
pub mod request;
pub mod schema;
pub mod sensitive;
pub mod types;
pub mod value;
