//! Where decision records go: standard output, a file rotated by size, and
//! an HTTP endpoint that gets gzip-compressed batches of JSON lines. All are
//! fed by the decision log's writer thread. The HTTP sink compresses there
//! and hands finished batches to an upload task through a queue bounded in
//! bytes: while the endpoint is down the task retries the oldest batch with
//! exponential backoff, and batches that do not fit are dropped and counted
//! — memory stays bounded and the request path never waits.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::decision_log::{SettingError, dropped};
use crate::config::{DecisionLogSettings, FileSinkSettings, HttpSinkSettings};

/// Every sink the settings name.
pub struct Sinks {
    stdout: Option<BufWriter<std::io::Stdout>>,
    file: Option<FileSink>,
    http: Option<HttpSink>,
}

impl Sinks {
    pub fn open(settings: &DecisionLogSettings) -> Result<Sinks, SettingError> {
        Ok(Sinks {
            stdout: settings
                .stdout
                .unwrap_or(false)
                .then(|| BufWriter::with_capacity(64 << 10, std::io::stdout())),
            file: settings.file.as_ref().map(FileSink::open).transpose()?,
            http: settings.http.as_ref().map(HttpSink::start).transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.stdout.is_none() && self.file.is_none() && self.http.is_none()
    }

    /// How long the writer may wait before [`Sinks::tick`].
    pub fn flush_interval(&self) -> Duration {
        self.http.as_ref().map_or(Duration::from_millis(200), |h| {
            h.flush_interval.min(Duration::from_millis(200))
        })
    }

    /// One record, newline included.
    pub fn write(&mut self, line: &[u8]) {
        if let Some(stdout) = &mut self.stdout
            && stdout.write_all(line).is_err()
        {
            sink_error("stdout");
        }
        if let Some(file) = &mut self.file {
            file.write(line);
        }
        if let Some(http) = &mut self.http {
            http.write(line);
        }
    }

    /// Nothing came for a while: write out what is buffered.
    pub fn tick(&mut self) {
        self.flush_buffers(false);
    }

    pub fn flush(&mut self) {
        self.flush_buffers(true);
    }

    fn flush_buffers(&mut self, all: bool) {
        if let Some(stdout) = &mut self.stdout
            && stdout.flush().is_err()
        {
            sink_error("stdout");
        }
        if let Some(file) = &mut self.file {
            file.flush();
        }
        if let Some(http) = &mut self.http
            && (all || http.opened.elapsed() >= http.flush_interval)
        {
            http.ship();
        }
    }
}

fn sink_error(sink: &'static str) {
    metrics::counter!("reaper_decision_log_sink_errors_total", "sink" => sink).increment(1);
}

fn setting<T>(key: &str, value: Result<T, String>) -> Result<T, SettingError> {
    value.map_err(|message| SettingError {
        key: key.to_owned(),
        message,
    })
}

fn size(key: &str, text: Option<&str>, default: u64) -> Result<u64, SettingError> {
    match text {
        None => Ok(default),
        Some(text) => setting(
            key,
            reaper_lang::literal::parse_size(text)
                .map_err(|e| e.to_string())
                .and_then(|n| {
                    u64::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("`{text}` must be positive"))
                }),
        ),
    }
}

fn duration(key: &str, text: Option<&str>, default: Duration) -> Result<Duration, SettingError> {
    match text {
        None => Ok(default),
        Some(text) => setting(key, crate::config::parse_positive_duration(text)),
    }
}

/// A file of JSON lines; when the next line would take it past `max_size`,
/// `path` becomes `path.1`, `path.1` becomes `path.2`, and so on, the
/// oldest beyond `max_files` removed.
struct FileSink {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
    max_size: u64,
    max_files: u32,
}

impl FileSink {
    fn open(settings: &FileSinkSettings) -> Result<FileSink, SettingError> {
        let max_size = size("file.max_size", settings.max_size.as_deref(), 100 << 20)?;
        let max_files = settings.max_files.unwrap_or(5);
        let file = open_append(&settings.path).map_err(|e| SettingError {
            key: "file.path".into(),
            message: format!("cannot open {}: {e}", settings.path.display()),
        })?;
        let metadata = file.metadata().map_err(|e| SettingError {
            key: "file.path".into(),
            message: format!("cannot read {}: {e}", settings.path.display()),
        })?;
        Ok(FileSink {
            path: settings.path.clone(),
            out: BufWriter::with_capacity(64 << 10, file),
            written: metadata.len(),
            // Only a regular file is rotated: renaming `/dev/null` or a
            // FIFO away would put a plain file in its place.
            max_size: if rotates(&metadata) {
                max_size
            } else {
                u64::MAX
            },
            max_files,
        })
    }

    fn write(&mut self, line: &[u8]) {
        let len = line.len() as u64;
        if self.written > 0 && self.written + len > self.max_size {
            self.rotate();
        }
        match self.out.write_all(line) {
            Ok(()) => self.written += len,
            Err(_) => sink_error("file"),
        }
    }

    fn flush(&mut self) {
        if self.out.flush().is_err() {
            sink_error("file");
        }
    }

    fn rotate(&mut self) {
        self.flush();
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.max_files == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            if std::fs::rename(&self.path, numbered(1)).is_err() {
                sink_error("file");
            }
        }
        match open_append(&self.path) {
            Ok(file) => {
                self.out = BufWriter::with_capacity(64 << 10, file);
                self.written = 0;
            }
            // Keep writing to the old handle rather than lose records.
            Err(_) => sink_error("file"),
        }
    }
}

/// Whether a sink's file is one that rotation may rename: a regular file,
/// not a device or a pipe.
fn rotates(metadata: &std::fs::Metadata) -> bool {
    metadata.file_type().is_file()
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// A compressed batch on its way.
struct Batch {
    body: Bytes,
    records: u64,
}

struct HttpSink {
    batch: GzEncoder<Vec<u8>>,
    records: u64,
    max_records: u64,
    opened: Instant,
    flush_interval: Duration,
    queue: tokio::sync::mpsc::UnboundedSender<Batch>,
    /// Compressed bytes queued or being sent; bounded by `max_buffer`.
    buffered: Arc<AtomicUsize>,
    max_buffer: usize,
}

impl HttpSink {
    fn start(settings: &HttpSinkSettings) -> Result<HttpSink, SettingError> {
        let uri: hyper::Uri = setting(
            "http.url",
            settings
                .url
                .parse()
                .map_err(|e| format!("`{}` is not a URL: {e}", settings.url)),
        )?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(SettingError {
                key: "http.url".into(),
                message: format!(
                    "`{}`: give an http:// URL with a host (for TLS, send to a local collector that forwards)",
                    settings.url
                ),
            });
        }
        let mut headers = Vec::new();
        for (name, value) in settings.headers.iter().flat_map(BTreeMap::iter) {
            let name = setting(
                "http.headers",
                hyper::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a header name")),
            )?;
            let value = setting(
                "http.headers",
                hyper::header::HeaderValue::from_str(value)
                    .map_err(|_| format!("the value of `{name}` is not a header value")),
            )?;
            headers.push((name, value));
        }
        let max_records = settings.batch.unwrap_or(1000).max(1);
        let flush_interval = duration(
            "http.flush_interval",
            settings.flush_interval.as_deref(),
            Duration::from_secs(1),
        )?;
        let max_buffer = size("http.max_buffer", settings.max_buffer.as_deref(), 16 << 20)?;
        let uploader = Uploader {
            client: Client::builder(TokioExecutor::new()).build_http(),
            uri,
            headers,
            timeout: duration(
                "http.timeout",
                settings.timeout.as_deref(),
                Duration::from_secs(5),
            )?,
            min_backoff: duration(
                "http.min_backoff",
                settings.min_backoff.as_deref(),
                Duration::from_millis(100),
            )?,
            max_backoff: duration(
                "http.max_backoff",
                settings.max_backoff.as_deref(),
                Duration::from_secs(30),
            )?,
        };
        let runtime = setting(
            "http",
            tokio::runtime::Handle::try_current()
                .map_err(|_| "needs the server's runtime".to_owned()),
        )?;
        let (queue, batches) = tokio::sync::mpsc::unbounded_channel();
        let buffered = Arc::new(AtomicUsize::new(0));
        runtime.spawn(uploader.run(batches, Arc::clone(&buffered)));
        Ok(HttpSink {
            batch: GzEncoder::new(Vec::new(), Compression::fast()),
            records: 0,
            max_records,
            opened: Instant::now(),
            flush_interval,
            queue,
            buffered,
            max_buffer: usize::try_from(max_buffer).unwrap_or(usize::MAX),
        })
    }

    fn write(&mut self, line: &[u8]) {
        if self.records == 0 {
            self.opened = Instant::now();
        }
        if self.batch.write_all(line).is_err() {
            sink_error("http");
            return;
        }
        self.records += 1;
        if self.records >= self.max_records {
            self.ship();
        }
    }

    /// Closes the current batch and queues it, unless the queue is full.
    fn ship(&mut self) {
        if self.records == 0 {
            return;
        }
        let records = std::mem::take(&mut self.records);
        let encoder = std::mem::replace(
            &mut self.batch,
            GzEncoder::new(Vec::new(), Compression::fast()),
        );
        let body = match encoder.finish() {
            Ok(body) => body,
            Err(_) => {
                sink_error("http");
                dropped("http_error", records);
                return;
            }
        };
        let len = body.len();
        if self.buffered.load(Ordering::Acquire) + len > self.max_buffer {
            dropped("http_buffer_full", records);
            return;
        }
        self.buffered.fetch_add(len, Ordering::AcqRel);
        if self
            .queue
            .send(Batch {
                body: Bytes::from(body),
                records,
            })
            .is_err()
        {
            self.buffered.fetch_sub(len, Ordering::AcqRel);
            dropped("closed", records);
        }
    }
}

struct Uploader {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
}

impl Uploader {
    async fn run(
        self,
        mut batches: tokio::sync::mpsc::UnboundedReceiver<Batch>,
        buffered: Arc<AtomicUsize>,
    ) {
        while let Some(batch) = batches.recv().await {
            let mut delay = self.min_backoff;
            loop {
                match self.send(&batch).await {
                    Ok(()) => {
                        metrics::counter!("reaper_decision_log_sent_total")
                            .increment(batch.records);
                        break;
                    }
                    Err(Retry::No(reason)) => {
                        tracing::warn!(%reason, records = batch.records, "the decision-log endpoint refused a batch; dropped");
                        dropped("http_rejected", batch.records);
                        break;
                    }
                    Err(Retry::Yes(reason)) => {
                        sink_error("http");
                        tracing::warn!(%reason, retry_in = ?delay, "cannot send decision logs; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(self.max_backoff);
                    }
                }
            }
            buffered.fetch_sub(batch.body.len(), Ordering::AcqRel);
        }
    }

    async fn send(&self, batch: &Batch) -> Result<(), Retry> {
        let mut request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
            .header(hyper::header::CONTENT_ENCODING, "gzip");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(batch.body.clone()))
            .map_err(|e| Retry::No(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| Retry::Yes(format!("no answer in {:?}", self.timeout)))?
            .map_err(|e| Retry::Yes(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == hyper::StatusCode::TOO_MANY_REQUESTS
            || status == hyper::StatusCode::REQUEST_TIMEOUT
        {
            Err(Retry::Yes(format!("the endpoint answered {status}")))
        } else {
            Err(Retry::No(format!("the endpoint answered {status}")))
        }
    }
}

enum Retry {
    Yes(String),
    No(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_rotate() {
        let dir = std::env::temp_dir().join(format!("reaper-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("decisions.log");
        let mut sink = FileSink::open(&FileSinkSettings {
            path: path.clone(),
            max_size: Some("100B".into()),
            max_files: Some(2),
        })
        .unwrap();
        for _ in 0..5 {
            sink.write(&[b'x'; 60]);
        }
        sink.flush();
        assert!(dir.join("decisions.log.1").is_file());
        assert!(dir.join("decisions.log.2").is_file());
        assert!(!dir.join("decisions.log.3").exists());
        assert_eq!(std::fs::read(&path).unwrap().len(), 60);
        std::fs::remove_dir_all(&dir).unwrap();
        // A device is written to, never renamed (only its metadata is read
        // here).
        let null = std::fs::metadata("/dev/null").unwrap();
        assert!(!rotates(&null));
    }
}
