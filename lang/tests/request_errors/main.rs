//! Request validation as hostile input meets it: every way a JSON request
//! can fail to conform to the schema is refused with an error naming the
//! field (its JSON path) and saying what is wrong, and no input — malformed,
//! huge or deeply nested — panics the decoder or overflows its stack.
//!
//! `lang` cannot compile policies, so the schema is built by hand: it has an
//! attribute of every type (optional ones, sets, nested sets, records,
//! entity references), entity types with and without parents and
//! attributes, actions limited by principal and resource type, an action
//! that applies to any type, and a context with required and optional
//! fields.
//!
//! `fixture` holds the schema and the request builders; `conformance` the
//! errors of requests that do not fit the schema; `schema_features` those
//! of the schema's newer features (decimals, maps, enumerated types, action
//! groups, per-action contexts, stores); `hostile` the bounds on huge, deep
//! and repetitive input; `properties` what arbitrary JSON may not do.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod conformance;
mod fixture;
mod hostile;
mod properties;
mod schema_features;
