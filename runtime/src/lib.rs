//! Reaper runtime: loads verified bundles and evaluates requests.
//! It depends on `reaper-lang` only, never on the compiler.

pub mod ratelimit;
