//! What `reaper serve` leaves behind for auditors and operators: decision
//! logs (`decision_log.rs`, sinks in `sinks.rs`), the audit log of
//! administrative actions (`audit.rs`) and OpenTelemetry tracing
//! (`tracing.rs`). See docs/observability.md.

pub mod audit;
pub mod decision_log;
mod sinks;
pub mod tracing;

pub use audit::AuditLog;
pub use decision_log::{DecisionLog, LoggedRequest, Record, RequestRef};

use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps exactly a fraction of what it is asked about, spread evenly (the
/// n-th is kept when the running quota passes a whole one): decision-log
/// sampling and the ratio of new traces.
#[derive(Debug)]
pub struct EvenSample {
    /// Kept per million.
    ppm: AtomicU64,
    seen: AtomicU64,
}

impl EvenSample {
    pub const fn new() -> Self {
        EvenSample {
            ppm: AtomicU64::new(1_000_000),
            seen: AtomicU64::new(0),
        }
    }

    /// `fraction` in [0, 1] (checked by the caller).
    pub fn set(&self, fraction: f64) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a fraction in [0, 1], scaled"
        )]
        let ppm = (fraction * 1_000_000.0).round() as u64;
        self.ppm.store(ppm.min(1_000_000), Ordering::Relaxed);
    }

    pub fn take(&self) -> bool {
        let ppm = self.ppm.load(Ordering::Relaxed);
        if ppm >= 1_000_000 {
            return true;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        (n + 1) * ppm / 1_000_000 > n * ppm / 1_000_000
    }
}

impl Default for EvenSample {
    fn default() -> Self {
        Self::new()
    }
}
