//! Fixed windows aligned to the clock, counted as lyft/ratelimit counts them.
//!
//! With `P = period_ms ≥ 1`, `C = count ≥ 1`, `n = hits ≥ 1`, `t = now_ms`:
//!
//! - The window holding `t` starts at `S(t) = t − (t mod P)`: a `per minute`
//!   window starts at each whole minute of the epoch, on every instance.
//! - The counter holds `(S, k)`: its window's start and its count. A hit at
//!   `t` with `S(t) > S` opens a new window: `S := S(t)`, `k := 0`.
//! - Every hit is counted, over the limit or not: `k := k + n` (saturating at
//!   `u64::MAX`). This is lyft's behaviour; a client that keeps hammering
//!   stays refused until the window ends, and the window end always resets.
//! - `allowed = k ≤ C`, `remaining = C − k` (0 if negative),
//!   `reset_ms = S + P − t` (the window end).
//! - Clock skew (see the parent module), with tolerance `T = max(P, 1 s)`:
//!   `S − T ≤ t < S` counts in the counter's window as if at `t = S` (so
//!   `reset_ms = P`); `t < S − T` moves the window back to `S(t)`, keeping
//!   `k`.
//! - Idle once `t ≥ S + P`: the next hit opens a new window anyway.

use super::{Hit, Skew, skew, window_start};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FixedWindow {
    period_ms: u64,
    /// `S`, a multiple of `period_ms`.
    start_ms: u64,
    /// `k`, hits counted in the window (allowed or not).
    count: u64,
}

impl FixedWindow {
    /// An empty counter in the window of `now_ms`; `period_ms ≥ 1`.
    pub(super) fn new(period_ms: u64, now_ms: u64) -> Self {
        FixedWindow {
            period_ms,
            start_ms: window_start(now_ms, period_ms),
            count: 0,
        }
    }

    pub(super) fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// A counter from the words [`FixedWindow::words`] gave.
    pub(super) fn from_words(period_ms: u64, [start_ms, count, _]: [u64; 3]) -> Self {
        FixedWindow {
            period_ms,
            start_ms,
            count,
        }
    }

    /// The state besides the period, as the store keeps it: `[S, k, 0]`.
    pub(super) fn words(&self) -> [u64; 3] {
        [self.start_ms, self.count, 0]
    }

    /// Counts `hits` against `limit` hits per window.
    pub(super) fn hit(&mut self, limit: u64, hits: u64, now_ms: u64) -> Hit {
        let period = self.period_ms;
        let at = match skew(self.start_ms, now_ms, period) {
            Skew::Ahead => {
                let start = window_start(now_ms, period);
                if start != self.start_ms {
                    self.start_ms = start;
                    self.count = 0;
                }
                now_ms
            }
            Skew::Behind => self.start_ms,
            Skew::SteppedBack => {
                self.start_ms = window_start(now_ms, period);
                now_ms
            }
        };
        self.count = self.count.saturating_add(hits);
        Hit {
            allowed: self.count <= limit,
            remaining: limit.saturating_sub(self.count),
            // `start_ms ≤ at < start_ms + period` in every branch above.
            reset_ms: period - (at - self.start_ms),
        }
    }

    pub(super) fn is_idle(&self, now_ms: u64) -> bool {
        now_ms
            .checked_sub(self.start_ms)
            .is_some_and(|elapsed| elapsed >= self.period_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(allowed, remaining, reset_ms)` of one hit.
    fn hit(c: &mut FixedWindow, limit: u64, hits: u64, now: u64) -> (bool, u64, u64) {
        let h = c.hit(limit, hits, now);
        (h.allowed, h.remaining, h.reset_ms)
    }

    #[test]
    fn exactly_count_hits_are_allowed_per_window() {
        let mut c = FixedWindow::new(1000, 5000);
        assert_eq!(hit(&mut c, 3, 1, 5000), (true, 2, 1000));
        assert_eq!(hit(&mut c, 3, 1, 5100), (true, 1, 900));
        assert_eq!(hit(&mut c, 3, 1, 5999), (true, 0, 1));
        assert_eq!(hit(&mut c, 3, 1, 5999), (false, 0, 1));
    }

    #[test]
    fn windows_are_aligned_to_the_clock() {
        // A window starts at each whole period of the epoch, not at the
        // first hit.
        let mut c = FixedWindow::new(1000, 1234);
        assert_eq!(hit(&mut c, 2, 1, 1234), (true, 1, 766));
        assert_eq!(hit(&mut c, 2, 1, 1999), (true, 0, 1));
        assert_eq!(hit(&mut c, 2, 1, 2000), (true, 1, 1000));
        let mut minute = FixedWindow::new(60_000, 1_700_000_012_345);
        // 1_700_000_012_345 mod 60_000 = 32_345.
        assert_eq!(hit(&mut minute, 5, 1, 1_700_000_012_345), (true, 4, 27_655));
    }

    #[test]
    fn rollover_starts_from_zero() {
        let mut c = FixedWindow::new(1000, 0);
        for _ in 0..5 {
            c.hit(3, 1, 10);
        }
        assert_eq!(hit(&mut c, 3, 1, 999), (false, 0, 1));
        assert_eq!(hit(&mut c, 3, 1, 1000), (true, 2, 1000));
        // Skipping windows also starts from zero.
        assert_eq!(hit(&mut c, 3, 3, 7500), (true, 0, 500));
    }

    #[test]
    fn refused_hits_are_counted_like_lyft() {
        let mut c = FixedWindow::new(1000, 0);
        assert_eq!(hit(&mut c, 3, 5, 0), (false, 0, 1000));
        // The 5 refused hits used the window up.
        assert_eq!(hit(&mut c, 3, 1, 1), (false, 0, 999));
        assert_eq!(c.count, 6);
    }

    #[test]
    fn a_hit_of_several_units_may_exactly_fill_the_window() {
        let mut c = FixedWindow::new(1000, 0);
        assert_eq!(hit(&mut c, 10, 7, 0), (true, 3, 1000));
        assert_eq!(hit(&mut c, 10, 3, 0), (true, 0, 1000));
        assert_eq!(hit(&mut c, 10, 1, 0), (false, 0, 1000));
    }

    #[test]
    fn a_slightly_late_timestamp_counts_in_the_current_window() {
        // A thread that read the clock at 1999 takes the lock after one that
        // opened the window at 2000: its hit counts in the open window.
        let mut c = FixedWindow::new(1000, 2000);
        assert_eq!(hit(&mut c, 2, 1, 2000), (true, 1, 1000));
        assert_eq!(hit(&mut c, 2, 1, 1999), (true, 0, 1000));
        assert_eq!(hit(&mut c, 2, 1, 1000), (false, 0, 1000));
        assert_eq!(c.start_ms, 2000);
        // The window is not reset by the late hits.
        assert_eq!(hit(&mut c, 2, 1, 2001), (false, 0, 999));
    }

    #[test]
    fn a_clock_stepped_back_moves_the_window_and_keeps_the_count() {
        let mut c = FixedWindow::new(1000, 10_000);
        c.hit(2, 2, 10_000);
        // Stepped back 5 s: not stuck until 11 000, not reset either.
        assert_eq!(hit(&mut c, 2, 1, 5_000), (false, 0, 1000));
        assert_eq!(c.start_ms, 5_000);
        assert_eq!(hit(&mut c, 2, 1, 6_000), (true, 1, 1000));
    }

    #[test]
    fn huge_values_saturate() {
        let mut c = FixedWindow::new(1000, 0);
        assert_eq!(hit(&mut c, 10, u64::MAX, 0), (false, 0, 1000));
        assert_eq!(hit(&mut c, 10, u64::MAX, 0), (false, 0, 1000));
        assert_eq!(c.count, u64::MAX);
        let mut c = FixedWindow::new(1000, u64::MAX);
        assert_eq!(
            hit(&mut c, u64::MAX, u64::MAX, u64::MAX),
            (true, 0, 1000 - u64::MAX % 1000)
        );
        let mut c = FixedWindow::new(u64::MAX, u64::MAX);
        assert_eq!(
            hit(&mut c, u64::MAX, 1, u64::MAX),
            (true, u64::MAX - 1, u64::MAX)
        );
        assert_eq!(hit(&mut c, 1, 1, 0), (false, 0, u64::MAX));
        assert!(!c.is_idle(u64::MAX - 1));
    }

    #[test]
    fn idle_once_the_window_has_ended() {
        let mut c = FixedWindow::new(1000, 3500);
        c.hit(5, 1, 3500);
        assert!(!c.is_idle(2000));
        assert!(!c.is_idle(3999));
        assert!(c.is_idle(4000));
        assert!(c.is_idle(u64::MAX));
    }
}
