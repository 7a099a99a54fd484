//! Reaper runtime: loads verified bundles and evaluates requests —
//! authorization decisions, rate-limit decisions with in-memory counters,
//! and retention limits. It depends on `reaper-lang` only, never on the
//! compiler.
//!
//! ```text
//! bytes ──Engine::load──▶ Engine ──prepare/decode_request──▶ Request ──authorize──▶ Decision
//!                            └──rate_limit(RateLimitRequest, now)──▶ RateLimitResponse
//! store::MemoryStore: the in-memory TTL store (namespaces, expiry, max_keys)
//! ```

mod authorize;
mod decode;
mod describe;
mod engine;
mod grid;
mod held;
pub mod http;
mod index;
mod json_fields;
pub mod ratelimit;
pub mod report;
mod request;
mod scratch;
pub mod store;
mod strings;
mod value;
mod vm;

pub use authorize::{Decision, Explanation, RuleOutcome, Work};
pub use engine::Engine;
pub use held::HeldEntities;
pub use reaper_lang::bundle::BundleError;
pub use reaper_lang::eval::EvalError;
pub use reaper_lang::request::RequestError;
pub use request::Request;
