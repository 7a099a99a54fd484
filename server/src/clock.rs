//! The server's one clock: wall time in milliseconds since the epoch,
//! advanced by tokio's clock. Under `tokio::time::pause` it stands still
//! until a test advances it, so windows, TTLs and expiry are tested
//! without sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_ms: u64,
    start: Instant,
}

impl Clock {
    /// A clock reading the system time now, then tokio's clock.
    pub fn system() -> Self {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self::starting_at(start_ms)
    }

    /// A clock that reads `start_ms` now.
    pub fn starting_at(start_ms: u64) -> Self {
        Clock {
            start_ms,
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.start_ms.saturating_add(elapsed)
    }

    /// The tokio instant at which this clock reads `ms` (now, if past).
    pub fn instant_at(&self, ms: u64) -> Instant {
        let offset = ms.saturating_sub(self.start_ms);
        self.start
            .checked_add(std::time::Duration::from_millis(offset))
            .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(86_400 * 365))
    }
}
