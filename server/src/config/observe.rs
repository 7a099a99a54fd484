//! The `[decision_log]`, `[audit]` and `[tracing]` sections: where decision
//! records and audit records go, and OpenTelemetry export. File-only.

use serde::Deserialize;

/// `[decision_log]`; off while no sink is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogSettings {}

/// `[audit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {}

/// `[tracing]`; off while no endpoint is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingSettings {}
