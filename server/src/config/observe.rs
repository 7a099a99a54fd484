//! The `[decision_log]`, `[audit]` and `[tracing]` sections: where decision
//! records and audit records go, and OpenTelemetry export. File-only.
//! Values are checked when the server starts (`observe/`), which names the
//! key of any that does not hold.

use std::path::PathBuf;

use serde::Deserialize;

/// `[decision_log]`; off while no sink is named.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogSettings {
    /// Write records to standard output, one JSON object per line.
    pub stdout: Option<bool>,
    /// Write records to a file, rotated by size.
    pub file: Option<FileSinkSettings>,
    /// Send records in gzip-compressed batches to an HTTP endpoint.
    pub http: Option<HttpSinkSettings>,
    /// The fraction of decisions logged, 0 to 1 (1). Decisions in which a
    /// forbid failed are always logged.
    pub sample: Option<f64>,
    /// Which decisions are logged: `authorize` (also AuthZEN and gRPC),
    /// `ext_authz`, `rate_limit`, `store` (all).
    pub kinds: Option<Vec<String>>,
    /// Records waiting for the writer; past it, records are dropped and
    /// counted (65536).
    pub queue: Option<u64>,
}

/// `[decision_log.file]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkSettings {
    pub path: PathBuf,
    /// Rotate when the file would grow past this size: `100MiB`.
    pub max_size: Option<String>,
    /// Rotated files kept (`path.1` is the newest): 5.
    pub max_files: Option<u32>,
}

/// `[decision_log.http]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkSettings {
    /// `http://host:port/path`; records are POSTed as gzip-compressed JSON
    /// lines (`application/x-ndjson`).
    pub url: String,
    /// Records per batch (1000).
    pub batch: Option<u64>,
    /// A batch is sent when full or this old: `1s`.
    pub flush_interval: Option<String>,
    /// Compressed batches waiting to be sent, at most this many bytes; past
    /// it new batches are dropped and counted: `16MiB`.
    pub max_buffer: Option<String>,
    /// One attempt's timeout: `5s`.
    pub timeout: Option<String>,
    /// The first retry's delay, doubled each time: `100ms`.
    pub min_backoff: Option<String>,
    /// The longest delay between retries: `30s`.
    pub max_backoff: Option<String>,
    /// Extra request headers, such as an `authorization` for the collector.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
}

/// `[audit]`: administrative actions, append-only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The audit file, opened for appending only; without it, audit records
    /// go to the server's log (target `reaper::audit`).
    pub file: Option<PathBuf>,
}

/// `[tracing]`; off while no endpoint is named.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingSettings {
    /// The OTLP collector: `http://127.0.0.1:4317` (gRPC) or
    /// `http://127.0.0.1:4318/v1/traces` (HTTP).
    pub endpoint: Option<String>,
    /// `grpc` (default) or `http` (protobuf over HTTP).
    pub protocol: Option<String>,
    /// The fraction of new traces sampled, 0 to 1 (1); a request that comes
    /// with a sampled parent is traced whatever the ratio.
    pub sample_ratio: Option<f64>,
    /// `service.name` of the spans: `reaper`.
    pub service_name: Option<String>,
}
