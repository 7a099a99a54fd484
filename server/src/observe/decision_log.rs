//! Decision logs, after OPA's: one JSON record per authorization, ext_authz
//! check, rate-limit decision and store access, with the request (fields
//! the policy marks `@sensitive` masked or dropped), the result, the rules
//! that decided, run-time errors, latency and the trace id.
//!
//! The request path only decides whether to log (kind switch, sampling)
//! and hands the raw pieces to a bounded queue with `try_send`: when the
//! queue is full the record is dropped and counted, never waited for. One
//! writer thread formats records (redaction included) and feeds the sinks
//! (`sinks.rs`). A decision in which a forbid failed is always logged.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{Code, RateLimitRequest, RateLimitResponse};
use serde::Serialize;
use serde_json::Value;

use super::EvenSample;
use super::sinks::Sinks;
use crate::config::DecisionLogSettings;

/// The kinds of record, as `kind` says them and `kinds` in the
/// configuration switches them.
pub const KINDS: [&str; 4] = ["authorize", "ext_authz", "rate_limit", "store"];

/// The record a decision leaves, before formatting.
pub struct Record {
    pub time_ms: u64,
    pub decision_id: String,
    /// `authorize`, `authzen`, `ext_authz`, `store` or `rate_limit`.
    pub kind: &'static str,
    pub engine: Arc<Engine>,
    pub request: LoggedRequest,
    /// `allow`/`deny`, or `ok`/`over_limit`.
    pub result: &'static str,
    pub reasons: Vec<String>,
    pub errors: Vec<(String, String)>,
    pub forbid_errored: bool,
    pub latency: Duration,
    pub trace_id: Option<String>,
}

/// The request as it came, in whatever form is cheapest to keep.
pub enum LoggedRequest {
    /// Request JSON (`docs/requests.md`), as received or as mapped.
    Json(String),
    /// Reaper's protobuf request, written out as JSON by the writer.
    Protobuf(Vec<u8>),
    RateLimit(RateLimitRequest),
}

/// How a decision is handed to the log: borrowed, copied only when the
/// decision is logged.
#[derive(Clone, Copy)]
pub enum RequestRef<'a> {
    Json(&'a str),
    Protobuf(&'a [u8]),
}

impl RequestRef<'_> {
    pub fn to_owned(self) -> LoggedRequest {
        match self {
            RequestRef::Json(text) => LoggedRequest::Json(text.to_owned()),
            RequestRef::Protobuf(bytes) => LoggedRequest::Protobuf(bytes.to_vec()),
        }
    }
}

/// The decision log; cheap to clone, and one branch per decision when off.
#[derive(Clone, Default)]
pub struct DecisionLog {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("on", &self.inner.is_some())
            .finish()
    }
}

struct Inner {
    queue: SyncSender<Message>,
    /// Which of [`KINDS`] are logged, by bit.
    kinds: u8,
    sample: EvenSample,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

enum Message {
    Record(Box<Record>),
    /// Write out what is buffered, then say so.
    Flush(std::sync::mpsc::Sender<()>),
}

/// A setting that does not hold, by its key.
#[derive(Debug, thiserror::Error)]
#[error("decision_log.{key}: {message}")]
pub struct SettingError {
    pub key: String,
    pub message: String,
}

impl DecisionLog {
    /// Off: nothing is logged.
    pub fn off() -> Self {
        DecisionLog { inner: None }
    }

    /// Starts the writer thread and the sinks the settings name; off when
    /// they name none. Call within a tokio runtime (the HTTP sink uploads
    /// from a task).
    pub fn start(settings: &DecisionLogSettings) -> Result<Self, SettingError> {
        let sinks = Sinks::open(settings)?;
        if sinks.is_empty() {
            return Ok(DecisionLog::off());
        }
        let sample = settings.sample.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample) || sample.is_nan() {
            return Err(SettingError {
                key: "sample".into(),
                message: format!("{sample} is not a fraction between 0 and 1"),
            });
        }
        let mut kinds = 0u8;
        match &settings.kinds {
            None => kinds = u8::MAX,
            Some(list) => {
                for kind in list {
                    let bit = KINDS
                        .iter()
                        .position(|k| k == kind)
                        .ok_or_else(|| SettingError {
                            key: "kinds".into(),
                            message: format!(
                                "`{kind}` is not a kind of decision ({})",
                                KINDS.join(", ")
                            ),
                        })?;
                    kinds |= 1 << bit;
                }
            }
        }
        let capacity = settings.queue.unwrap_or(65_536).max(1);
        let (queue, records) =
            std::sync::mpsc::sync_channel(usize::try_from(capacity).unwrap_or(usize::MAX));
        let flush_every = sinks.flush_interval();
        let writer = std::thread::Builder::new()
            .name("reaper-decision-log".into())
            .spawn(move || write_records(records, sinks, flush_every))
            .map_err(|e| SettingError {
                key: "file".into(),
                message: format!("cannot start the writer thread: {e}"),
            })?;
        let even = EvenSample::new();
        even.set(sample);
        Ok(DecisionLog {
            inner: Some(Arc::new(Inner {
                queue,
                kinds,
                sample: even,
                writer: parking_lot::Mutex::new(Some(writer)),
            })),
        })
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether a decision of `kind` is logged: its kind is switched on and
    /// the sample takes it, or `always` (a forbid failed).
    pub fn wants(&self, kind: &str, always: bool) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        if always {
            return true;
        }
        let bit = match kind {
            "authorize" | "authzen" => 0,
            "ext_authz" => 1,
            "rate_limit" => 2,
            _ => 3,
        };
        if inner.kinds & (1 << bit) == 0 {
            return false;
        }
        inner.sample.take()
    }

    /// Queues a record; a full queue drops it (counted), never blocks.
    pub fn log(&self, record: Record) {
        let Some(inner) = &self.inner else {
            return;
        };
        match inner.queue.try_send(Message::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => dropped("queue_full", 1),
            Err(TrySendError::Disconnected(_)) => dropped("closed", 1),
        }
    }

    /// Writes out every queued record and what the sinks buffer (the HTTP
    /// sink's upload continues on its own); waits at most `timeout`.
    pub fn flush(&self, timeout: Duration) {
        let Some(inner) = &self.inner else {
            return;
        };
        let (done, wait) = std::sync::mpsc::channel();
        if inner.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The queue closes when `self.queue` drops, after this; the writer
        // then flushes and ends. Join it so a stopping server loses nothing.
        if let Some(writer) = self.writer.lock().take() {
            let (done, wait) = std::sync::mpsc::channel();
            if self.queue.send(Message::Flush(done)).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(5));
            }
            drop(writer);
        }
    }
}

/// Counts records dropped before any sink had them.
pub fn dropped(reason: &'static str, records: u64) {
    metrics::counter!("reaper_decision_log_dropped_total", "reason" => reason).increment(records);
}

/// How often the writer drains the queue.
const DRAIN_EVERY: Duration = Duration::from_millis(5);

/// The writer thread. It polls rather than blocking in `recv`: a sender
/// wakes a receiver that waits, and a wake-up per record (a futex call and
/// a context switch on a loaded machine) cost more than formatting the
/// record. Records wait at most [`DRAIN_EVERY`] in the queue.
fn write_records(records: Receiver<Message>, mut sinks: Sinks, flush_every: Duration) {
    let mut line = Vec::with_capacity(1024);
    let mut ticked = std::time::Instant::now();
    let mut counted: Vec<(&'static str, metrics::Counter)> = Vec::new();
    loop {
        loop {
            match records.try_recv() {
                Ok(Message::Record(record)) => {
                    line.clear();
                    format_record(&record, &mut line);
                    line.push(b'\n');
                    sinks.write(&line);
                    let counter = match counted.iter().find(|(kind, _)| *kind == record.kind) {
                        Some((_, counter)) => counter,
                        None => {
                            let counter = metrics::counter!("reaper_decision_log_records_total", "kind" => record.kind);
                            counted.push((record.kind, counter));
                            &counted[counted.len() - 1].1
                        }
                    };
                    counter.increment(1);
                }
                Ok(Message::Flush(done)) => {
                    sinks.flush();
                    let _ = done.send(());
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    sinks.flush();
                    return;
                }
            }
        }
        if ticked.elapsed() >= flush_every {
            sinks.tick();
            ticked = std::time::Instant::now();
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    decision_id: &'a str,
    kind: &'a str,
    policy: &'a str,
    result: &'a str,
    reasons: &'a [String],
    errors: Vec<RuleError<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    forbid_errored: bool,
    latency_us: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
}

#[derive(Serialize)]
struct RuleError<'a> {
    rule: &'a str,
    error: &'a str,
}

/// One record as a JSON line (without the newline).
pub fn format_record(record: &Record, out: &mut Vec<u8>) {
    let time = jiff::Timestamp::from_millisecond(i64::try_from(record.time_ms).unwrap_or(i64::MAX))
        .map_or_else(|_| record.time_ms.to_string(), |t| t.to_string());
    let line = Line {
        time,
        decision_id: &record.decision_id,
        kind: record.kind,
        policy: record.engine.hash(),
        result: record.result,
        reasons: &record.reasons,
        errors: record
            .errors
            .iter()
            .map(|(rule, error)| RuleError { rule, error })
            .collect(),
        forbid_errored: record.forbid_errored,
        latency_us: record.latency.as_secs_f64() * 1e6,
        trace_id: record.trace_id.as_deref(),
    };
    // Writing plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    // The request goes last, written as text (redacted without building a
    // tree): `…,"request":{…}}`.
    out.pop();
    out.extend_from_slice(b",\"request\":");
    let mut request = String::new();
    let schema = record.engine.schema();
    match &record.request {
        LoggedRequest::Json(text) => redacted(text, schema, &mut request),
        LoggedRequest::Protobuf(bytes) => match Engine::protobuf_request_json(bytes) {
            Ok(text) => redacted(&text, schema, &mut request),
            Err(error) => quoted(&format!("(not a valid request: {error})"), &mut request),
        },
        LoggedRequest::RateLimit(limit) => request = rate_limit_request(limit).to_string(),
    }
    // Raw values keep the sender's layout; a line break there would split
    // the record. JSON strings cannot hold raw line breaks, so any is
    // whitespace between tokens, and goes.
    if request.contains(['\n', '\r']) {
        request.retain(|c| c != '\n' && c != '\r');
    }
    out.extend_from_slice(request.as_bytes());
    out.push(b'}');
}

/// Request JSON with its sensitive fields redacted; text that is not JSON
/// cannot be redacted field by field, so it is left out.
fn redacted(text: &str, schema: &reaper_lang::schema::Schema, out: &mut String) {
    if schema.sensitive.redact_request(schema, text, out).is_err() {
        out.clear();
        quoted("(not JSON; left out)", out);
    }
}

fn quoted(text: &str, out: &mut String) {
    out.push_str(&Value::String(text.to_owned()).to_string());
}

fn rate_limit_request(request: &RateLimitRequest) -> Value {
    let descriptors: Vec<Value> = request
        .descriptors
        .iter()
        .map(|d| {
            let entries: Vec<Value> = d
                .entries
                .iter()
                .map(|(key, value)| serde_json::json!({ "key": key, "value": value }))
                .collect();
            let mut descriptor = serde_json::json!({ "entries": entries });
            if let Some(hits) = d.hits_addend {
                descriptor["hits_addend"] = hits.into();
            }
            descriptor
        })
        .collect();
    serde_json::json!({
        "domain": request.domain,
        "descriptors": descriptors,
        "hits_addend": request.hits_addend,
    })
}

/// The result and reasons of a rate-limit decision: `over_limit` names the
/// limits that tripped.
pub fn rate_limit_result(
    engine: &Engine,
    domain: &str,
    response: &RateLimitResponse,
) -> (&'static str, Vec<String>, Vec<(String, String)>) {
    let over = response.overall == Code::OverLimit;
    let mut reasons: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for status in &response.statuses {
        for limit in &status.limits {
            if !limit.allowed {
                let name = engine.limit_name(domain, limit.limit);
                if !reasons.iter().any(|r| r == name) {
                    reasons.push(name.to_owned());
                }
            }
        }
        for (limit, error) in &status.errors {
            errors.push((
                engine.limit_name(domain, *limit).to_owned(),
                error.to_string(),
            ));
        }
    }
    (if over { "over_limit" } else { "ok" }, reasons, errors)
}
