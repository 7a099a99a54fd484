//! The governor side of the rate-limit comparison: governor's keyed GCRA
//! limiter (`DefaultKeyedRateLimiter`: a `DashMap` of per-key states, the
//! quanta clock) with the equivalent of `policies/ratelimit/limits.reaper`'s
//! `per_user`: one state per `user_id`, 10⁹ cells a minute.
//!
//! governor has no descriptors or conditions: the caller picks the key. The
//! `per_user` condition (`descriptor has user_id`) is the caller's lookup of
//! the `user_id` entry ([`key`]); a descriptor without it is not limited.
//!
//! GCRA is a token bucket kept as one timestamp per key (the "theoretical
//! arrival time"): a quota of `n` per minute with a burst of `n` is a bucket
//! of `n` tokens refilled continuously at `n` a minute, which is Reaper's
//! `token_bucket` algorithm, not its default clock-aligned fixed window. No
//! limit is reached in the benchmarks, so the algorithms do the same work:
//! look up the key's state, read the clock, update the state.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ratelimit::{MAX_VALUE, SECONDS};

/// A keyed limiter by `user_id`.
pub type Limiter = DefaultKeyedRateLimiter<String>;

/// `per_user`: 10⁹ a minute, burst 10⁹ (so it never trips in a benchmark).
pub fn limiter() -> Limiter {
    assert_eq!(SECONDS, 60, "the quota below is per minute");
    let per_minute =
        NonZeroU32::new(u32::try_from(MAX_VALUE).expect("fits u32")).expect("non-zero");
    RateLimiter::keyed(Quota::per_minute(per_minute))
}

/// The key of a descriptor's entries: its `user_id`, if it has one (the
/// `per_user` condition).
pub fn key(entries: &[(&str, &str)]) -> Option<String> {
    entries
        .iter()
        .find(|(k, _)| *k == "user_id")
        .map(|(_, v)| (*v).to_owned())
}

/// One decision for `key`, one cell: `true` when within the quota.
pub fn check(limiter: &Limiter, key: &String) -> bool {
    limiter.check_key(key).is_ok()
}
