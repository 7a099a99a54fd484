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
