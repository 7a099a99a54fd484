//! Token buckets with a burst, as GCRA (the generic cell rate algorithm that
//! redis-cell and Stripe describe): instead of a token count refilled by a
//! timer, the counter keeps the *theoretical arrival time* (TAT), the moment
//! the bucket will be full again.
//!
//! With `P = period_ms ≥ 1`, `C = count ≥ 1` (tokens per period),
//! `B = burst` (capacity, in tokens), `n = hits ≥ 1`, `t = now_ms`:
//!
//! - Time is counted in units of `1/C` ms, so one token's emission interval
//!   (`P/C` ms) is exactly `P` units and `C` tokens per `P` ms is exact for
//!   every `C` (3 per 10 s is 10 000 units, i.e. 3333⅓ ms, per token). The
//!   hit's time is `N = t × C` units; all of this is `u128`.
//! - The counter holds `TAT` in those units, exactly, as
//!   `TAT = tat_ms × C − rem` with `0 ≤ rem < C` (so `tat_ms = ⌈TAT / C⌉`).
//!   A new bucket is full: `TAT = N`.
//! - Debt `D = max(0, TAT − N)`: the bucket is `D / P` tokens short of full,
//!   i.e. holds `B − D/P` tokens (a fraction, in general).
//! - `allowed` iff the bucket holds at least `n` tokens: `D + n × P ≤ B × P`.
//!   Then `TAT := N + D + n × P` (= `max(TAT, N) + n × P`). A refused hit
//!   changes nothing.
//! - `remaining = ⌊(B × P − D′) / P⌋`, the whole tokens left (`D′` the debt
//!   after the hit): exactly the largest hit a call at the same `t` would
//!   allow. `reset_ms = tat_ms − t` (0 if negative) `= ⌈D′ / C⌉`: the time
//!   until the bucket is full.
//! - Clock skew: a hit stamped before earlier hits sees a larger debt (fewer
//!   tokens), which is GCRA's own, conservative answer. With the tolerance
//!   `T = max(P, 1 s)` of the parent module: if the debt exceeds
//!   `B × P + T × C` (the clock is more than `T` behind the moment the bucket
//!   was last empty, possible only if it was stepped back) the bucket is
//!   rebased to empty at `t`: `TAT := N + B × P`, stored even if the hit is
//!   refused, so it refills from `t` instead of staying shut until the clock
//!   catches up.
//! - A changed `count` keeps `tat_ms` (the time until full; `rem` is clamped
//!   below the new `C`); a changed `burst` keeps `TAT`, and a bucket owing
//!   more than the new capacity refuses hits until it drains.
//! - `tat_ms` must fit in `u64`: a hit that would push the time the bucket is
//!   full past `u64::MAX` ms is refused (only buckets taking more than 500
//!   million years to refill ever meet this).
//! - Idle once `t ≥ tat_ms`: the bucket is full, like a new one.
//!
//! Guarantee, with no rounding slack: over hits at times
//! `t_i ≤ … ≤ t_j`, the allowed tokens total at most
//! `B + ⌊C × (t_j − t_i) / P⌋` (the debt is ≥ 0 before hit `i`, ≤ `B × P`
//! after hit `j`, and drains by at most `C × (t_j − t_i)` units in between).

use super::{Hit, div, div_ceil, saturate, skew_tolerance};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TokenBucket {
    period_ms: u64,
    /// `⌈TAT / C⌉`: the millisecond the bucket is full again.
    tat_ms: u64,
    /// `tat_ms × C − TAT`, below `C`.
    tat_rem: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`; `period_ms ≥ 1`.
    pub(super) fn new(period_ms: u64, now_ms: u64) -> Self {
        TokenBucket {
            period_ms,
            tat_ms: now_ms,
            tat_rem: 0,
        }
    }

    pub(super) fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// A bucket from the words [`TokenBucket::words`] gave.
    pub(super) fn from_words(period_ms: u64, [tat_ms, tat_rem, _]: [u64; 3]) -> Self {
        TokenBucket {
            period_ms,
            tat_ms,
            tat_rem,
        }
    }

    /// The state besides the period, as the store keeps it.
    pub(super) fn words(&self) -> [u64; 3] {
        [self.tat_ms, self.tat_rem, 0]
    }

    /// Takes `hits` tokens from a bucket of `burst` tokens refilled at
    /// `count` (≥ 1) tokens per period.
    pub(super) fn hit(&mut self, count: u64, burst: u64, hits: u64, now_ms: u64) -> Hit {
        let c = u128::from(count.max(1));
        let p = u128::from(self.period_ms);
        let now = u128::from(now_ms) * c;
        let rem = u128::from(self.tat_rem).min(c - 1);
        let tat = (u128::from(self.tat_ms) * c).saturating_sub(rem);
        // The largest TAT whose `tat_ms` fits in u64.
        let last = u128::from(u64::MAX) * c;
        let capacity = u128::from(burst) * p;
        let mut debt = tat.saturating_sub(now);
        let mut changed = false;
        let tolerance = u128::from(skew_tolerance(self.period_ms)) * c;
        if debt > capacity.saturating_add(tolerance) {
            debt = capacity.min(last - now);
            changed = true;
        }
        let after = debt.saturating_add(u128::from(hits) * p);
        let allowed = after <= capacity && after <= last - now;
        if allowed {
            debt = after;
            changed = true;
        }
        if changed {
            self.set_tat(now + debt, c);
        }
        Hit {
            allowed,
            remaining: saturate(div(capacity.saturating_sub(debt), p)),
            reset_ms: self.tat_ms.saturating_sub(now_ms),
        }
    }

    /// Stores `tat` (at most `u64::MAX × c` units).
    fn set_tat(&mut self, tat: u128, c: u128) {
        let ms = div_ceil(tat, c);
        self.tat_ms = saturate(ms);
        self.tat_rem = saturate(ms * c - tat);
    }

    pub(super) fn is_idle(&self, now_ms: u64) -> bool {
        now_ms >= self.tat_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(allowed, remaining, reset_ms)` of one hit.
    fn hit(b: &mut TokenBucket, count: u64, burst: u64, hits: u64, now: u64) -> (bool, u64, u64) {
        let h = b.hit(count, burst, hits, now);
        (h.allowed, h.remaining, h.reset_ms)
    }

    #[test]
    fn a_burst_then_a_steady_refill_at_exactly_the_rate() {
        // 10 per second, burst 5: a token every 100 ms.
        let mut b = TokenBucket::new(1000, 0);
        for i in 0..5 {
            assert_eq!(hit(&mut b, 10, 5, 1, 0), (true, 4 - i, 100 * (i + 1)));
        }
        assert_eq!(hit(&mut b, 10, 5, 1, 0), (false, 0, 500));
        // 0.99 of a token at 99 ms is not a token.
        assert_eq!(hit(&mut b, 10, 5, 1, 99), (false, 0, 401));
        for t in (100..=1000).step_by(100) {
            assert_eq!(hit(&mut b, 10, 5, 1, t), (true, 0, 500), "at {t}");
            assert_eq!(
                hit(&mut b, 10, 5, 1, t + 50),
                (false, 0, 450),
                "at {}",
                t + 50
            );
        }
    }

    #[test]
    fn hammering_gets_the_burst_plus_the_rate() {
        let mut b = TokenBucket::new(1000, 0);
        let allowed = (0..=10_000)
            .flat_map(|t| [t; 5])
            .filter(|&t| b.hit(10, 5, 1, t).allowed)
            .count();
        assert_eq!(allowed, 5 + 100);
    }

    #[test]
    fn fractional_rates_are_exact() {
        // 3 per 10 s, burst 3: after the burst, the k-th token arrives at
        // exactly 10 000 k / 3 ms, admitted at the first whole ms after.
        let mut b = TokenBucket::new(10_000, 0);
        let allowed: Vec<u64> = (0..=100_000)
            .flat_map(|t| [t; 3])
            .filter(|&t| b.hit(3, 3, 1, t).allowed)
            .collect();
        let mut expected = vec![0, 0, 0];
        expected.extend((1..=30).map(|k: u64| (10_000 * k).div_ceil(3)));
        assert_eq!(allowed, expected);
        // The time until full rounds up: ⌈3333⅓⌉.
        let mut b = TokenBucket::new(10_000, 0);
        assert_eq!(hit(&mut b, 3, 1, 1, 0), (true, 0, 3334));
        assert_eq!(hit(&mut b, 3, 1, 1, 3333), (false, 0, 1));
        assert_eq!(hit(&mut b, 3, 1, 1, 3334), (true, 0, 3334));
    }

    #[test]
    fn a_full_bucket_does_not_bank_fractions() {
        // Burst 1: a token that arrives into a full bucket is lost, so a
        // client polling each ms gets one per 3334 ms, not per 3333⅓. That is
        // the bucket's capacity, not rounding.
        let mut b = TokenBucket::new(10_000, 0);
        let allowed: Vec<u64> = (0..=10_002)
            .filter(|&t| b.hit(3, 1, 1, t).allowed)
            .collect();
        assert_eq!(allowed, [0, 3334, 6668, 10_002]);
    }

    #[test]
    fn large_hits_take_several_tokens_or_none() {
        let mut b = TokenBucket::new(1000, 0);
        // Never more than the burst at once, even from a full bucket.
        assert_eq!(hit(&mut b, 10, 5, 6, 0), (false, 5, 0));
        assert_eq!(b, TokenBucket::new(1000, 0));
        assert_eq!(hit(&mut b, 10, 5, 3, 0), (true, 2, 300));
        // A refused hit consumes nothing.
        assert_eq!(hit(&mut b, 10, 5, 3, 0), (false, 2, 300));
        assert_eq!(hit(&mut b, 10, 5, 2, 0), (true, 0, 500));
        // Refill is fractional in between: 2.5 tokens at 250 ms.
        assert_eq!(hit(&mut b, 10, 5, 3, 250), (false, 2, 250));
        assert_eq!(hit(&mut b, 10, 5, 2, 250), (true, 0, 450));
    }

    #[test]
    fn a_hit_stamped_earlier_sees_fewer_tokens() {
        let mut b = TokenBucket::new(1000, 0);
        b.hit(10, 5, 5, 1000);
        assert_eq!(hit(&mut b, 10, 5, 1, 990), (false, 0, 510));
        // Within the tolerance (1 s) of the empty point, no rebase: refused
        // until 1100.
        assert_eq!(hit(&mut b, 10, 5, 1, 0), (false, 0, 1500));
        assert_eq!(hit(&mut b, 10, 5, 1, 1099), (false, 0, 401));
        assert_eq!(hit(&mut b, 10, 5, 1, 1100), (true, 0, 500));
    }

    #[test]
    fn a_clock_stepped_back_leaves_the_bucket_empty_not_stuck() {
        let mut b = TokenBucket::new(1000, 0);
        b.hit(10, 5, 5, 100_000);
        assert_eq!(hit(&mut b, 10, 5, 1, 10_000), (false, 0, 500));
        assert_eq!(b.tat_ms, 10_500);
        assert_eq!(hit(&mut b, 10, 5, 1, 10_100), (true, 0, 500));
    }

    #[test]
    fn a_changed_count_keeps_the_time_until_full() {
        let mut b = TokenBucket::new(1000, 0);
        b.hit(10, 5, 5, 0);
        // 1 per second now: 500 ms short of full is half a token.
        assert_eq!(hit(&mut b, 1, 5, 1, 0), (true, 3, 1500));
        // 3 per 10 s leaves rem = 2; 1 per 10 s clamps it to 0 (TAT = 3334
        // units of 1 ms, not 3332).
        let mut b = TokenBucket::new(10_000, 0);
        b.hit(3, 2, 1, 0);
        assert_eq!((b.tat_ms, b.tat_rem), (3334, 2));
        assert_eq!(hit(&mut b, 1, 2, 1, 0), (true, 0, 13_334));
        assert_eq!((b.tat_ms, b.tat_rem), (13_334, 0));
    }

    #[test]
    fn huge_values_never_overflow() {
        let mut b = TokenBucket::new(u64::MAX, u64::MAX);
        let h = b.hit(u64::MAX, u64::MAX, u64::MAX, u64::MAX);
        // The bucket could never be full again within u64 milliseconds.
        assert!(!h.allowed);
        assert_eq!(h.remaining, u64::MAX);
        let mut b = TokenBucket::new(u64::MAX, 0);
        assert_eq!(hit(&mut b, 1, 2, 1, 0), (true, 1, u64::MAX));
        assert_eq!(hit(&mut b, 1, 2, 1, 0), (false, 1, u64::MAX));
        let mut b = TokenBucket::new(1000, 1_700_000_000_000);
        assert_eq!(
            hit(&mut b, u64::MAX, u64::MAX, u64::MAX, 1_700_000_000_000),
            (true, 0, 1000)
        );
        assert_eq!(
            hit(&mut b, u64::MAX, u64::MAX, 1, 1_700_000_000_000),
            (false, 0, 1000)
        );
        assert_eq!(hit(&mut b, u64::MAX, 0, 1, u64::MAX), (false, 0, 0));
    }

    #[test]
    fn idle_once_full() {
        let mut b = TokenBucket::new(1000, 0);
        assert!(b.is_idle(0));
        b.hit(10, 5, 2, 0);
        assert!(!b.is_idle(199));
        assert!(b.is_idle(200));
        // Burst 0 never admits anything and stays idle.
        let mut b = TokenBucket::new(1000, 0);
        assert_eq!(hit(&mut b, 10, 0, 1, 0), (false, 0, 0));
        assert!(b.is_idle(0));
    }
}
