//! Declared rate limits and store namespaces, as the checker validates them and
//! the runtime enforces them.

use serde::{Deserialize, Serialize};

use crate::types::EntityTypeId;

/// How a limit counts hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Counts per clock-aligned window, as lyft/ratelimit does.
    FixedWindow,
    /// Weighs the previous window's count by its overlap with the last period.
    SlidingWindow,
    /// Refills `count` tokens per period up to `burst` tokens.
    TokenBucket { burst: u64 },
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fixed_window",
            Algorithm::SlidingWindow => "sliding_window",
            Algorithm::TokenBucket { .. } => "token_bucket",
        }
    }
}

/// The numbers of one `limit`: at most `count` hits per `period_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LimitSpec {
    pub name: String,
    pub count: u64,
    pub period_ms: u64,
    pub algorithm: Algorithm,
    /// Counted and reported, never enforced.
    pub shadow: bool,
}

/// A retention namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreSpec {
    pub name: String,
    /// TTL of a write that names none.
    pub ttl_ms: u64,
    /// Largest TTL a write may ask for.
    pub max_ttl_ms: u64,
    /// Largest value in bytes; `None` means unbounded.
    pub max_value_bytes: Option<u64>,
    /// Most live keys; `None` means unbounded.
    pub max_keys: Option<u64>,
    /// The entity types that may access the store (`store s by [Service]`);
    /// empty means any type.
    pub principal_types: Vec<EntityTypeId>,
}
