//! The audit log: administrative actions — the configuration at start,
//! policy reloads (who asked, which hash, the result), entity changes and
//! every admin API call — one JSON object per line, separate from decision
//! logs. The file is opened for appending only (created `0600`), never
//! truncated or rotated by Reaper, and each record is written with one
//! `write` so concurrent records never interleave. Without a file, records
//! go to the server's log under the target `reaper::audit`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::config::AuditSettings;

#[derive(Debug)]
pub struct AuditLog {
    file: Option<parking_lot::Mutex<File>>,
}

impl AuditLog {
    /// The server's log only.
    pub fn to_log() -> Self {
        AuditLog { file: None }
    }

    pub fn open(settings: &AuditSettings) -> Result<Self, String> {
        let Some(path) = &settings.file else {
            return Ok(AuditLog::to_log());
        };
        let file = open_append_only(path)
            .map_err(|e| format!("audit.file: cannot open {}: {e}", path.display()))?;
        Ok(AuditLog {
            file: Some(parking_lot::Mutex::new(file)),
        })
    }

    /// Records `event` with its details (an object) and the time.
    pub fn record(&self, now_ms: u64, event: &str, details: Value) {
        metrics::counter!("reaper_audit_records_total", "event" => event.to_owned()).increment(1);
        let time = jiff::Timestamp::from_millisecond(i64::try_from(now_ms).unwrap_or(i64::MAX))
            .map_or_else(|_| now_ms.to_string(), |t| t.to_string());
        let mut record = json!({ "time": time, "event": event });
        if let (Some(record), Value::Object(details)) = (record.as_object_mut(), details) {
            record.extend(details);
        }
        let Some(file) = &self.file else {
            tracing::info!(target: "reaper::audit", record = %record, "audit");
            return;
        };
        let mut line = record.to_string();
        line.push('\n');
        if let Err(error) = file.lock().write_all(line.as_bytes()) {
            metrics::counter!("reaper_audit_errors_total").increment(1);
            tracing::error!(%error, record = %record, "cannot write the audit log; the record is here instead");
        }
    }
}

fn open_append_only(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_one_line_each_and_keep_what_was_there() {
        let dir = std::env::temp_dir().join(format!("reaper-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let log = AuditLog::open(&AuditSettings {
            file: Some(path.clone()),
        })
        .unwrap();
        log.record(
            1_700_000_000_000,
            "reload",
            json!({ "result": "ok", "policy": "abc" }),
        );
        log.record(
            1_700_000_000_001,
            "admin",
            json!({ "path": "/v1/admin/reload" }),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], json!({ "earlier": true }));
        assert_eq!(lines[1]["event"], "reload");
        assert_eq!(lines[1]["policy"], "abc");
        assert_eq!(lines[1]["time"], "2023-11-14T22:13:20Z");
        assert_eq!(lines[2]["path"], "/v1/admin/reload");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
