//! Sliding windows, approximated from two fixed windows as Cloudflare
//! describes: the previous window's hits are assumed spread evenly over it
//! and weighed by how much of it the last period still covers.
//!
//! With `P = period_ms ≥ 1`, `C = count ≥ 1`, `n = hits ≥ 1`, `t = now_ms`:
//!
//! - Windows are clock-aligned as for fixed windows: `S(t) = t − (t mod P)`.
//! - The counter holds `(S, cur, prev)`: its window's start, the hits counted
//!   in that window and in the one before. At `t`: if `S(t) = S + P`, then
//!   `prev := cur, cur := 0`; if `S(t) > S + P`, both are 0; `S := S(t)`.
//! - With `e = t − S` (`0 ≤ e < P`), the estimate of hits in the last period
//!   is `prev × (P − e) / P + cur`, a rational number. The weighed previous
//!   count is rounded **up**: `w = ⌈prev × (P − e) / P⌉` (`u128`). Because
//!   `cur`, `n` and `C` are integers, `w + cur + n ≤ C` holds exactly when the
//!   unrounded estimate satisfies `estimate + n ≤ C`: the decision has no
//!   rounding error at all.
//! - `allowed = w + cur + n ≤ C`; only an allowed hit is counted:
//!   `cur := cur + n`. Unlike a fixed window, refused hits are not counted:
//!   they would stay in the estimate for up to two periods, so a client that
//!   keeps retrying while refused would keep the estimate above `C` and never
//!   get through again.
//! - `remaining = C − (w + cur)` after the hit (0 if negative): exactly the
//!   largest hit a call at the same `t` would allow.
//! - `reset_ms` is the time until the estimate is 0 again, i.e. until every
//!   counted hit has aged out: `(P − e) + P` (the end of the next window) if
//!   `cur > 0`; else `P − e` (the end of this window) if `prev > 0`; else 0.
//!   It can be up to `2P`.
//! - Clock skew (see the parent module), with tolerance `T = max(P, 1 s)`:
//!   `S − T ≤ t < S` is treated as `t = S`; `t < S − T` moves the counter
//!   back to `S(t)`, keeping `cur` and `prev`.
//! - Idle once both counts have aged out: `t ≥ S + 2P`, or `t ≥ S + P` with
//!   `cur = 0`, or `cur = prev = 0`.
//!
//! A client that never stops gets about `C − 1` hits per period for large
//! `C`, and one hit per two periods for `C = 1`: the estimate assumes the
//! previous window's hits were spread over it, so one hit late in a window
//! still weighs (rounded up, exactly as the rational estimate does) until the
//! next window ends.

use super::{Hit, Skew, div_ceil, saturate, skew, window_start};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlidingWindow {
    period_ms: u64,
    /// `S`, a multiple of `period_ms`.
    start_ms: u64,
    /// Allowed hits counted in the window starting at `S`.
    current: u64,
    /// Allowed hits counted in the window before it.
    previous: u64,
}

impl SlidingWindow {
    /// An empty counter in the window of `now_ms`; `period_ms ≥ 1`.
    pub(super) fn new(period_ms: u64, now_ms: u64) -> Self {
        SlidingWindow {
            period_ms,
            start_ms: window_start(now_ms, period_ms),
            current: 0,
            previous: 0,
        }
    }

    pub(super) fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// A counter from the words [`SlidingWindow::words`] gave.
    pub(super) fn from_words(period_ms: u64, [start_ms, current, previous]: [u64; 3]) -> Self {
        SlidingWindow {
            period_ms,
            start_ms,
            current,
            previous,
        }
    }

    /// The state besides the period, as the store keeps it.
    pub(super) fn words(&self) -> [u64; 3] {
        [self.start_ms, self.current, self.previous]
    }

    /// Moves the counter to the window of `now_ms`; returns the time the hit
    /// is taken to happen at, in `[start_ms, start_ms + period_ms)`.
    fn roll(&mut self, now_ms: u64) -> u64 {
        let period = self.period_ms;
        match skew(self.start_ms, now_ms, period) {
            Skew::Ahead => {
                let start = window_start(now_ms, period);
                if start != self.start_ms {
                    self.previous = if start - self.start_ms == period {
                        self.current
                    } else {
                        0
                    };
                    self.current = 0;
                    self.start_ms = start;
                }
                now_ms
            }
            Skew::Behind => self.start_ms,
            Skew::SteppedBack => {
                self.start_ms = window_start(now_ms, period);
                now_ms
            }
        }
    }

    /// `w = ⌈prev × (P − e) / P⌉` at `at` in the current window.
    fn weighed_previous(&self, at: u64) -> u128 {
        let period = self.period_ms;
        let left = period - (at - self.start_ms);
        div_ceil(
            u128::from(self.previous) * u128::from(left),
            u128::from(period),
        )
    }

    /// Counts `hits` against `limit` hits per sliding period.
    pub(super) fn hit(&mut self, limit: u64, hits: u64, now_ms: u64) -> Hit {
        let at = self.roll(now_ms);
        let weighed = self.weighed_previous(at);
        let allowed = weighed + u128::from(self.current) + u128::from(hits) <= u128::from(limit);
        if allowed {
            // Cannot saturate: the sum is at most `limit`.
            self.current = self.current.saturating_add(hits);
        }
        let used = weighed + u128::from(self.current);
        let left = self.period_ms - (at - self.start_ms);
        let reset_ms = if self.current > 0 {
            left.saturating_add(self.period_ms)
        } else if self.previous > 0 {
            left
        } else {
            0
        };
        Hit {
            allowed,
            remaining: saturate(u128::from(limit).saturating_sub(used)),
            reset_ms,
        }
    }

    pub(super) fn is_idle(&self, now_ms: u64) -> bool {
        match now_ms.checked_sub(self.start_ms) {
            None => self.current == 0 && self.previous == 0,
            Some(elapsed) => match elapsed / self.period_ms {
                0 => self.current == 0 && self.previous == 0,
                1 => self.current == 0,
                _ => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(allowed, remaining, reset_ms)` of one hit.
    fn hit(c: &mut SlidingWindow, limit: u64, hits: u64, now: u64) -> (bool, u64, u64) {
        let h = c.hit(limit, hits, now);
        (h.allowed, h.remaining, h.reset_ms)
    }

    #[test]
    fn exactly_count_hits_are_allowed_in_a_first_window() {
        let mut c = SlidingWindow::new(1000, 0);
        for i in 0..10 {
            // Hits in the current window age out at the end of the next one.
            assert_eq!(hit(&mut c, 10, 1, i), (true, 9 - i, 2000 - i));
        }
        assert_eq!(hit(&mut c, 10, 1, 10), (false, 0, 1990));
        // Refused hits are not counted.
        assert_eq!(c.current, 10);
    }

    #[test]
    fn the_previous_window_weighs_by_its_overlap_rounded_up() {
        let mut c = SlidingWindow::new(1000, 0);
        c.hit(10, 10, 500);
        // e = 0: w = ⌈10 × 1000/1000⌉ = 10.
        assert_eq!(hit(&mut c, 10, 1, 1000), (false, 0, 1000));
        // e = 100: w = ⌈10 × 900/1000⌉ = 9, one hit fits.
        assert_eq!(hit(&mut c, 10, 1, 1100), (true, 0, 1900));
        assert_eq!(hit(&mut c, 10, 1, 1100), (false, 0, 1900));
        // e = 250: w = ⌈7.5⌉ = 8, cur = 1: one more fits.
        assert_eq!(hit(&mut c, 10, 1, 1250), (true, 0, 1750));
        // e = 500: w = 5, cur = 2: three fit.
        assert_eq!(hit(&mut c, 10, 1, 1500), (true, 2, 1500));
        assert_eq!(hit(&mut c, 10, 1, 1500), (true, 1, 1500));
        assert_eq!(hit(&mut c, 10, 1, 1500), (true, 0, 1500));
        // e = 999: w = ⌈10 × 1/1000⌉ = 1 (the rational estimate is 5.01).
        assert_eq!(hit(&mut c, 10, 4, 1999), (true, 0, 1001));
        assert_eq!(c.current, 9);
        // Next window: prev = 9; e = 0: w = 9.
        assert_eq!(hit(&mut c, 10, 1, 2000), (true, 0, 2000));
        // e = 1: w = ⌈9 × 999/1000⌉ = ⌈8.991⌉ = 9, cur = 1.
        assert_eq!(hit(&mut c, 10, 1, 2001), (false, 0, 1999));
        // e = 112: w = ⌈9 × 888/1000⌉ = ⌈7.992⌉ = 8.
        assert_eq!(hit(&mut c, 10, 1, 2112), (true, 0, 1888));
    }

    #[test]
    fn windows_two_periods_old_no_longer_count() {
        let mut c = SlidingWindow::new(1000, 0);
        c.hit(10, 10, 0);
        c.hit(10, 1, 1999);
        // At 3500: prev = 0 (the 1000 window's one hit is from two windows
        // back); cur = 0.
        assert_eq!(hit(&mut c, 10, 10, 3500), (true, 0, 1500));
    }

    #[test]
    fn reset_is_when_counted_hits_have_aged_out() {
        let mut c = SlidingWindow::new(1000, 0);
        assert_eq!(hit(&mut c, 5, 1, 300), (true, 4, 1700));
        // Only previous-window hits left: they weigh until this window ends.
        let refused = c.hit(5, 100, 1300);
        assert_eq!((refused.allowed, refused.reset_ms), (false, 700));
        // w = ⌈1 × 700/1000⌉ = 1.
        assert_eq!(refused.remaining, 4);
        c.roll(2400);
        assert_eq!(c, SlidingWindow::new(1000, 2400));
    }

    #[test]
    fn a_refused_large_hit_leaves_room_for_a_smaller_one() {
        let mut c = SlidingWindow::new(1000, 0);
        c.hit(10, 8, 0);
        assert_eq!(hit(&mut c, 10, 3, 1), (false, 2, 1999));
        assert_eq!(hit(&mut c, 10, 2, 2), (true, 0, 1998));
    }

    #[test]
    fn count_one_admits_one_hit_per_two_periods_under_constant_load() {
        let mut c = SlidingWindow::new(100, 0);
        let allowed: Vec<u64> = (0..1000).filter(|&t| c.hit(1, 1, t).allowed).collect();
        assert_eq!(allowed, [0, 200, 400, 600, 800]);
    }

    #[test]
    fn large_counts_admit_nearly_count_per_period_under_constant_load() {
        let mut c = SlidingWindow::new(1000, 0);
        let allowed = (0..100_000).filter(|&t| c.hit(100, 1, t).allowed).count();
        // 100 in the first window, then ~99 per window.
        assert!((9_900..=10_000).contains(&allowed), "{allowed}");
    }

    #[test]
    fn a_slightly_late_timestamp_counts_in_the_current_window() {
        let mut c = SlidingWindow::new(1000, 0);
        c.hit(10, 10, 500);
        c.hit(10, 1, 1500);
        // 900 is behind the counter's window (1000) by less than a period:
        // taken as t = 1000, where w = 10.
        assert_eq!(hit(&mut c, 10, 1, 900), (false, 0, 2000));
        assert_eq!((c.start_ms, c.current, c.previous), (1000, 1, 10));
    }

    #[test]
    fn a_clock_stepped_back_moves_the_window_and_keeps_the_counts() {
        let mut c = SlidingWindow::new(1000, 10_000);
        c.hit(10, 4, 10_000);
        c.hit(10, 5, 11_000);
        assert_eq!(hit(&mut c, 10, 2, 3_000), (false, 1, 2000));
        assert_eq!((c.start_ms, c.current, c.previous), (3_000, 5, 4));
        // Then time runs forward from the new clock.
        assert_eq!(hit(&mut c, 10, 5, 4_000), (true, 0, 2000));
    }

    #[test]
    fn huge_values_saturate() {
        let mut c = SlidingWindow::new(1000, 0);
        assert_eq!(hit(&mut c, u64::MAX, u64::MAX, 0), (true, 0, 2000));
        assert_eq!(hit(&mut c, u64::MAX, 1, 0), (false, 0, 2000));
        // prev = u64::MAX, weighed at e = 1: ⌈(2⁶⁴−1) × 999/1000⌉.
        let h = c.hit(u64::MAX, u64::MAX, 1001);
        assert!(!h.allowed);
        assert_eq!(
            h.remaining,
            u64::MAX - (u64::MAX / 1000 * 999 + 615 * 999 / 1000 + 1)
        );
        let mut c = SlidingWindow::new(u64::MAX, u64::MAX);
        assert_eq!(hit(&mut c, 1, 1, u64::MAX), (true, 0, u64::MAX));
        assert_eq!(hit(&mut c, 1, 1, 3), (false, 0, u64::MAX));
    }

    #[test]
    fn idle_once_counted_hits_have_aged_out() {
        let mut c = SlidingWindow::new(1000, 0);
        assert!(c.is_idle(0));
        c.hit(5, 1, 100);
        assert!(!c.is_idle(100));
        assert!(!c.is_idle(1999));
        assert!(c.is_idle(2000));
        // Only previous hits: idle when the current window ends.
        let mut c = SlidingWindow::new(1000, 0);
        c.hit(5, 1, 100);
        c.roll(1500);
        assert!(!c.is_idle(1999));
        assert!(c.is_idle(2000));
        assert!(!c.is_idle(0));
    }
}
