//! OpenTelemetry tracing: a span per request (HTTP and gRPC) continuing the
//! caller's W3C trace context (`traceparent`/`tracestate` headers or gRPC
//! metadata — so an Envoy trace continues through Reaper), with children
//! for decoding, evaluation, backend round trips and the store, exported
//! over OTLP (gRPC or HTTP) by a batch processor on the server's runtime.
//!
//! Off by default, and then free: spans are made through [`request_span`]
//! and [`traced_span!`], which read one relaxed atomic and make
//! `Span::none()` when tracing is off, so the request path builds no span
//! at all. Sampling is decided once, at the request's root (the caller's
//! `sampled` flag, else `sample_ratio`); a request left out builds no span
//! either, its steps included.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TracingSettings;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// New traces (no caller's context) kept.
static NEW_TRACES: super::EvenSample = super::EvenSample::new();

/// Whether spans are being made and exported.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A step of a traced request: a span when the request is traced (the
/// current span is one), `Span::none()` (nothing built) otherwise.
#[macro_export]
macro_rules! traced_span {
    ($($arg:tt)*) => {
        if $crate::observe::tracing::enabled() && !::tracing::Span::current().is_none() {
            ::tracing::info_span!($($arg)*)
        } else {
            ::tracing::Span::none()
        }
    };
}

/// The exporter and its provider; dropping it (or [`Tracing::shutdown`])
/// sends what is left.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

/// A `[tracing]` setting that does not hold.
#[derive(Debug, thiserror::Error)]
#[error("tracing.{key}: {message}")]
pub struct TracingError {
    pub key: &'static str,
    pub message: String,
}

impl Tracing {
    /// The layer to add to the subscriber, and the exporter behind it;
    /// `None` when no endpoint is set. Call within a tokio runtime: the
    /// batch processor and the exporter run on it.
    pub fn start<S>(
        settings: &TracingSettings,
    ) -> Result<Option<(Tracing, impl tracing_subscriber::Layer<S> + Send + Sync)>, TracingError>
    where
        S: tracing::Subscriber
            + Send
            + Sync
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let Some(endpoint) = settings.endpoint.as_deref() else {
            return Ok(None);
        };
        let ratio = settings.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&ratio) || ratio.is_nan() {
            return Err(TracingError {
                key: "sample_ratio",
                message: format!("{ratio} is not a fraction between 0 and 1"),
            });
        }
        let uri: hyper::Uri = endpoint.parse().map_err(|e| TracingError {
            key: "endpoint",
            message: format!("`{endpoint}` is not a URL: {e}"),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(TracingError {
                key: "endpoint",
                message: format!("`{endpoint}`: give an http:// or https:// URL with a host"),
            });
        }
        let timeout = Duration::from_secs(5);
        let exporter = match settings.protocol.as_deref().unwrap_or("grpc") {
            "grpc" => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .build(),
            "http" => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .with_http_client(
                    opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None),
                )
                .build(),
            other => {
                return Err(TracingError {
                    key: "protocol",
                    message: format!("`{other}` is not `grpc` or `http`"),
                });
            }
        }
        .map_err(|e| TracingError {
            key: "endpoint",
            message: e.to_string(),
        })?;
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
        NEW_TRACES.set(ratio);
        let service = settings
            .service_name
            .clone()
            .unwrap_or_else(|| "reaper".to_owned());
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            // Sampling is decided before a root span is made
            // (`request_span`): what reaches the provider is kept.
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("reaper"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.is_span()));
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some((Tracing { provider }, layer)))
    }

    /// Exports what is left; spans stop being made.
    pub fn shutdown(&self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "could not export the last spans");
        }
        let _ = self.provider.shutdown();
    }
}

use tracing_subscriber::Layer as _;

/// The root span of a request, continuing the caller's trace (the W3C
/// trace context in `carrier`): made by `make` when the caller sampled its
/// trace, or, without a caller's trace, for `sample_ratio` of requests;
/// `Span::none()` otherwise and when tracing is off.
pub fn request_span(
    carrier: &dyn Extractor,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let parent = TraceContextPropagator::new().extract(carrier);
    let caller = parent.span().span_context().clone();
    let sampled = if caller.is_valid() {
        caller.is_sampled()
    } else {
        NEW_TRACES.take()
    };
    if !sampled {
        return tracing::Span::none();
    }
    let span = make();
    if caller.is_valid() {
        let _ = span.set_parent(parent);
    }
    span
}

/// The current span's trace id, for decision logs; `None` when tracing is
/// off or the trace is not sampled (its id would lead nowhere).
pub fn current_trace_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled())
        .then(|| span_context.trace_id().to_string())
}

/// HTTP headers as a trace-context carrier.
pub struct Headers<'a>(pub &'a hyper::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(hyper::header::HeaderName::as_str)
            .collect()
    }
}
