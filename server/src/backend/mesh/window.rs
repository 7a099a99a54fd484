//! The three counting algorithms of `runtime/src/ratelimit/counters/`,
//! restated for a mesh: a node counts only its own hits in its own state,
//! and decides with what its peers last reported for the same counter
//! added in. With nothing from peers, every answer is exactly the memory
//! counters' (same skew rules, same rounding; a unit test holds them to
//! it). Pure functions: no locks, no clocks.
//!
//! With `P = period_ms`, `C = count`, `n = hits`, `t = now_ms`:
//!
//! - **Fixed window.** Own state `(S, k)`. Peers count if their window
//!   starts at the same `S`. `total = k + Σ k_peer`; `allowed = total ≤ C`.
//!   Over-limit hits are counted (in `k`), as lyft and the memory counters
//!   do, so peers see them too.
//! - **Sliding window.** Own state `(S, cur, prev)`. A peer at `S` adds its
//!   `(cur, prev)`; a peer still at `S − P` adds its `cur` to `prev` (it has
//!   not rolled yet); a peer already at `S + P` (a clock slightly ahead)
//!   adds its `prev` to `cur`. Then the memory algorithm's estimate on the
//!   sums: `w = ⌈prev_Σ × (P − e) / P⌉`, `allowed = w + cur_Σ + n ≤ C`; only
//!   allowed hits are counted.
//! - **Token bucket (GCRA).** Each node's debt `D_i = max(0, TAT_i − N)` is
//!   what it alone still owes the bucket; the mesh's bucket owes
//!   `D = Σ D_i`. `allowed = D + n × T ≤ B × T` (`T = P / C`, in the units
//!   of `token_bucket.rs`). Debts drain in parallel — while `m` nodes owe,
//!   the sum drains `m` times as fast as one bucket would — so an allowed
//!   hit adds `m × n × T` to the node's own debt, `m` being this node and
//!   the peers it sees owing. Under load spread over `k` nodes the mesh then
//!   admits the bucket's sustained rate, `C` per period, not `k × C`; the
//!   price is a smaller burst while several nodes owe (down to `B / k` once
//!   the debts are charged). With no peer owing (`m = 1`) it is exactly the
//!   memory bucket. Strict domains are the exact answer for spread load.

use reaper_lang::limits::Algorithm;
use reaper_runtime::ratelimit::counters::{Hit, Limit, Skew, skew, skew_tolerance, window_start};

/// The memory counters' rules before counting (`hits == 0` counts as 1,
/// `period_ms == 0` is 1 ms, a count of 0 refuses everything).
pub(super) use reaper_runtime::ratelimit::counters::normalize;

use super::counts::PeerIndex;

/// What one node alone counted for one counter key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Fixed {
        period: u64,
        start: u64,
        count: u64,
    },
    Sliding {
        period: u64,
        start: u64,
        current: u64,
        previous: u64,
    },
    Bucket {
        period: u64,
        tat_ms: u64,
        tat_rem: u64,
    },
}

impl State {
    pub(super) fn period(&self) -> u64 {
        match *self {
            State::Fixed { period, .. }
            | State::Sliding { period, .. }
            | State::Bucket { period, .. } => period,
        }
    }

    /// Whether the state counts `limit`'s algorithm and period.
    pub(super) fn counts(&self, limit: &Limit) -> bool {
        let same_kind = matches!(
            (self, limit.algorithm),
            (State::Fixed { .. }, Algorithm::FixedWindow)
                | (State::Sliding { .. }, Algorithm::SlidingWindow)
                | (State::Bucket { .. }, Algorithm::TokenBucket { .. })
        );
        same_kind && self.period() == limit.period_ms
    }

    /// Whether the state says nothing a fresh counter would not (the
    /// memory counters' rule): dropping it at `now_ms` changes no answer.
    pub(super) fn is_idle(&self, now_ms: u64) -> bool {
        match *self {
            State::Fixed { period, start, .. } => {
                now_ms.checked_sub(start).is_some_and(|e| e >= period)
            }
            State::Sliding {
                period,
                start,
                current,
                previous,
            } => match now_ms.checked_sub(start) {
                None => current == 0 && previous == 0,
                Some(elapsed) => match elapsed / period.max(1) {
                    0 => current == 0 && previous == 0,
                    1 => current == 0,
                    _ => true,
                },
            },
            State::Bucket { tat_ms, .. } => now_ms >= tat_ms,
        }
    }

    /// Whether `self`, from the same sender, is older than `held`: a stale
    /// batch overtaken by a snapshot. Counts only grow within a window and
    /// windows only move forward (a clock stepped back is the exception,
    /// then the newer state waits until the held one ends).
    pub(super) fn is_older_than(&self, held: &State) -> bool {
        match (*self, *held) {
            (
                State::Fixed {
                    start: a, count: x, ..
                },
                State::Fixed {
                    start: b, count: y, ..
                },
            ) => a < b || (a == b && x < y),
            (
                State::Sliding {
                    start: a,
                    current: x,
                    ..
                },
                State::Sliding {
                    start: b,
                    current: y,
                    ..
                },
            ) => a < b || (a == b && x < y),
            (State::Bucket { tat_ms: a, .. }, State::Bucket { tat_ms: b, .. }) => a < b,
            _ => false,
        }
    }
}

/// A new state for `limit` at `now_ms`, before its first hit.
pub(super) fn fresh(limit: &Limit, now_ms: u64) -> State {
    let period = limit.period_ms;
    match limit.algorithm {
        Algorithm::FixedWindow => State::Fixed {
            period,
            start: window_start(now_ms, period),
            count: 0,
        },
        Algorithm::SlidingWindow => State::Sliding {
            period,
            start: window_start(now_ms, period),
            current: 0,
            previous: 0,
        },
        Algorithm::TokenBucket { .. } => State::Bucket {
            period,
            tat_ms: now_ms,
            tat_rem: 0,
        },
    }
}

/// Counts `hits` (normalized) on `own` (which counts `limit`), with the
/// peers' latest states for the same key. Returns the answer.
pub(super) fn hit(
    own: &mut State,
    peers: &[(PeerIndex, State)],
    limit: &Limit,
    hits: u64,
    now_ms: u64,
) -> Hit {
    match (own, limit.algorithm) {
        (
            State::Fixed {
                period,
                start,
                count,
            },
            Algorithm::FixedWindow,
        ) => {
            let at = roll_fixed(*period, start, count, now_ms);
            *count = count.saturating_add(hits);
            let total = peers
                .iter()
                .filter_map(|(_, p)| match *p {
                    State::Fixed {
                        period: pp,
                        start: ps,
                        count: pc,
                    } if pp == *period && ps == *start => Some(pc),
                    _ => None,
                })
                .fold(*count, u64::saturating_add);
            Hit {
                allowed: total <= limit.count,
                remaining: limit.count.saturating_sub(total),
                reset_ms: *period - (at - *start),
            }
        }
        (
            State::Sliding {
                period,
                start,
                current,
                previous,
            },
            Algorithm::SlidingWindow,
        ) => {
            let p = *period;
            let at = roll_sliding(p, start, current, previous, now_ms);
            let (mut cur_sum, mut prev_sum) = (u128::from(*current), u128::from(*previous));
            for (_, peer) in peers {
                let State::Sliding {
                    period: pp,
                    start: ps,
                    current: pc,
                    previous: pv,
                } = *peer
                else {
                    continue;
                };
                if pp != p {
                    continue;
                }
                if ps == *start {
                    cur_sum += u128::from(pc);
                    prev_sum += u128::from(pv);
                } else if ps.checked_add(p) == Some(*start) {
                    prev_sum += u128::from(pc);
                } else if start.checked_add(p) == Some(ps) {
                    cur_sum += u128::from(pv);
                }
            }
            let left = p - (at - *start);
            let weighed = (prev_sum * u128::from(left)).div_ceil(u128::from(p));
            let allowed = weighed + cur_sum + u128::from(hits) <= u128::from(limit.count);
            if allowed {
                *current = current.saturating_add(hits);
                cur_sum += u128::from(hits);
            }
            let used = weighed + cur_sum;
            let reset_ms = if cur_sum > 0 {
                left.saturating_add(p)
            } else if prev_sum > 0 {
                left
            } else {
                0
            };
            Hit {
                allowed,
                remaining: saturate(u128::from(limit.count).saturating_sub(used)),
                reset_ms,
            }
        }
        (
            State::Bucket {
                period,
                tat_ms,
                tat_rem,
            },
            Algorithm::TokenBucket { burst },
        ) => {
            let c = u128::from(limit.count.max(1));
            let p = u128::from(*period);
            let now = u128::from(now_ms) * c;
            let last = u128::from(u64::MAX) * c;
            let capacity = u128::from(burst) * p;
            let mut debt = bucket_tat(*tat_ms, *tat_rem, c).saturating_sub(now);
            let mut changed = false;
            let tolerance = u128::from(skew_tolerance(*period)) * c;
            if debt > capacity.saturating_add(tolerance) {
                debt = capacity.min(last - now);
                changed = true;
            }
            let peer_debts = peers.iter().filter_map(|(_, s)| match *s {
                State::Bucket {
                    period: pp,
                    tat_ms: pt,
                    tat_rem: pr,
                } if pp == *period => Some(bucket_tat(pt, pr, c).saturating_sub(now)),
                _ => None,
            });
            let (others, owing) = peer_debts.fold((0u128, 1u128), |(sum, owing), d| {
                (sum.saturating_add(d), owing + u128::from(d > 0))
            });
            let cost = u128::from(hits) * p;
            // Charged once per node that owes, since each node's debt
            // drains on its own: together they drain at one bucket's rate.
            let own_after = debt.saturating_add(cost.saturating_mul(owing));
            let allowed = debt.saturating_add(cost).saturating_add(others) <= capacity
                && own_after <= last - now;
            if allowed {
                debt = own_after;
                changed = true;
            }
            if changed {
                let tat = now + debt;
                let ms = tat.div_ceil(c);
                *tat_ms = saturate(ms);
                *tat_rem = saturate(ms * c - tat);
            }
            let total = debt.saturating_add(others);
            let full_at = saturate(now.saturating_add(total).div_ceil(c));
            Hit {
                allowed,
                remaining: saturate(capacity.saturating_sub(total) / p),
                reset_ms: full_at.saturating_sub(now_ms),
            }
        }
        // The caller restarts a state that does not count the limit; never
        // reached, answered as a refusal rather than a panic.
        _ => Hit {
            allowed: false,
            remaining: 0,
            reset_ms: limit.period_ms,
        },
    }
}

/// `TAT` in units of `1/C` ms from its stored form.
fn bucket_tat(tat_ms: u64, tat_rem: u64, c: u128) -> u128 {
    let rem = u128::from(tat_rem).min(c - 1);
    (u128::from(tat_ms) * c).saturating_sub(rem)
}

/// Moves a fixed window to `now_ms`'s; the time the hit is taken at.
fn roll_fixed(period: u64, start: &mut u64, count: &mut u64, now_ms: u64) -> u64 {
    match skew(*start, now_ms, period) {
        Skew::Ahead => {
            let s = window_start(now_ms, period);
            if s != *start {
                *start = s;
                *count = 0;
            }
            now_ms
        }
        Skew::Behind => *start,
        Skew::SteppedBack => {
            *start = window_start(now_ms, period);
            now_ms
        }
    }
}

/// Moves a sliding window to `now_ms`'s; the time the hit is taken at.
fn roll_sliding(
    period: u64,
    start: &mut u64,
    current: &mut u64,
    previous: &mut u64,
    now_ms: u64,
) -> u64 {
    match skew(*start, now_ms, period) {
        Skew::Ahead => {
            let s = window_start(now_ms, period);
            if s != *start {
                *previous = if s - *start == period { *current } else { 0 };
                *current = 0;
                *start = s;
            }
            now_ms
        }
        Skew::Behind => *start,
        Skew::SteppedBack => {
            *start = window_start(now_ms, period);
            now_ms
        }
    }
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    /// `nodes` nodes, each seeing the others' latest state at once, hit in
    /// turn every `every_ms` for `for_ms`: how many hits the mesh admits.
    fn spread(nodes: usize, limit: &Limit, every_ms: u64, for_ms: u64) -> u64 {
        let start = 1_800_000_000_000;
        let mut states: Vec<State> = (0..nodes).map(|_| fresh(limit, start)).collect();
        let mut admitted = 0;
        let mut now = start;
        let mut turn = 0;
        while now < start + for_ms {
            let peers: Vec<(PeerIndex, State)> = (0..nodes)
                .filter(|j| *j != turn)
                .map(|j| (PeerIndex::try_from(j).unwrap_or(0), states[j]))
                .collect();
            admitted += u64::from(hit(&mut states[turn], &peers, limit, 1, now).allowed);
            turn = (turn + 1) % nodes;
            now += every_ms;
        }
        admitted
    }

    /// Spread over three nodes at ten times the rate, a token bucket of 60
    /// per minute (burst 10) admits about one minute's worth per minute, as
    /// one bucket does, not three.
    #[test]
    fn a_token_bucket_keeps_its_rate_under_load_spread_over_nodes() {
        let limit = Limit {
            count: 60,
            period_ms: 60_000,
            algorithm: Algorithm::TokenBucket { burst: 10 },
        };
        let one = spread(1, &limit, 100, 600_000);
        let three = spread(3, &limit, 100, 600_000);
        // One node: the burst, then one a second for ten minutes (the
        // last second's token comes as the run ends).
        assert_eq!(one, 10 + 599);
        // Three: the same rate, within a burst.
        assert!(three <= one && three + 10 >= 600, "{three} of {one}");
    }
}
