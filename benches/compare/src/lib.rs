//! Shared setup of the comparison benchmarks: the equivalent policies and
//! requests for Reaper, cedar-policy, regorus (RVM), limitador and governor, and the
//! code that prepares each engine's input outside the timed loops. The
//! benches (`benches/`) time; the tests (`tests/`) check that every engine
//! gives the same decisions, so the comparison is honest.

pub mod cedar;
pub mod gcra;
pub mod ratelimit;
#[cfg(feature = "reaper")]
pub mod reaper;
pub mod rego;
pub mod scaling;
pub mod scenario;
pub mod varied;
