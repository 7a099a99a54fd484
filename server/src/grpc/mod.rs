//! The gRPC listener: Envoy's rate-limit service (RLS v3), Envoy's external
//! authorization (ext_authz v3), Reaper's own service (`proto/reaper/v1`),
//! `grpc.health.v1` and server reflection, on one tonic server over the
//! same [`Shared`] state as the HTTP API.
//!
//! One layer ([`observe`]) wraps every call: it bounds calls in flight
//! (`grpc.max_concurrent_requests` → RESOURCE_EXHAUSTED) and their time
//! (`grpc.request_timeout` or the client's shorter `grpc-timeout` →
//! DEADLINE_EXCEEDED), turns tonic's own refusals into the statuses the
//! API promises (an undecodable message is INVALID_ARGUMENT, not INTERNAL;
//! an oversized one RESOURCE_EXHAUSTED, not OUT_OF_RANGE), and counts every
//! call by method and status.

pub mod ext_authz;
pub mod ratelimit;
mod reaper;
mod status;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::middleware::Next;
use bytes::Bytes;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use http_body::{Frame, SizeHint};
use reaper_proto::v1::reaper_server::ReaperServer;
use tokio::sync::Semaphore;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

pub use self::status::code_name;
use crate::config::GrpcLimits;
use crate::state::{Shared, World};

/// The services the health service reports on, besides the server as a
/// whole (`""`).
const SERVICES: [&str; 3] = [
    "envoy.service.ratelimit.v3.RateLimitService",
    "envoy.service.auth.v3.Authorization",
    "reaper.v1.Reaper",
];

/// Every gRPC method the server answers, so metric labels need no
/// allocation; anything else is counted as `other`.
const METHODS: &[&str] = &[
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    "/envoy.service.auth.v3.Authorization/Check",
    "/reaper.v1.Reaper/Authorize",
    "/reaper.v1.Reaper/AuthorizeBatch",
    "/reaper.v1.Reaper/RateLimit",
    "/reaper.v1.Reaper/StoreGet",
    "/reaper.v1.Reaper/StorePut",
    "/reaper.v1.Reaper/StoreDelete",
    "/reaper.v1.Reaper/Status",
    "/reaper.v1.Reaper/Reload",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The gRPC services, as a router: what [`serve`] serves, and what
/// in-process tests drive. The health reporter says SERVING for every
/// service (a policy is loaded once `Shared` exists).
pub async fn routes(
    shared: Arc<Shared>,
    limits: GrpcLimits,
) -> Result<(axum::Router, tonic_health::server::HealthReporter), GrpcError> {
    let max = limits.max_message_bytes;
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in std::iter::once("").chain(SERVICES) {
        health
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = |builder: tonic_reflection::server::Builder<'static>| {
        builder
            .register_encoded_file_descriptor_set(reaper_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection(tonic_reflection::server::Builder::configure())
        .build_v1()
        .map_err(|e| GrpcError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection(tonic_reflection::server::Builder::configure())
        .build_v1alpha()
        .map_err(|e| GrpcError::Reflection(e.to_string()))?;
    let routes = Routes::builder()
        .add_service(
            RateLimitServiceServer::new(ratelimit::Rls {
                shared: Arc::clone(&shared),
            })
            .max_decoding_message_size(max),
        )
        .add_service(
            AuthorizationServer::new(ext_authz::ExtAuthz {
                shared: Arc::clone(&shared),
            })
            .max_decoding_message_size(max),
        )
        .add_service(
            ReaperServer::new(reaper::ReaperService {
                shared: Arc::clone(&shared),
            })
            .max_decoding_message_size(max),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .clone()
        .routes();
    // `[auth]`: bearer JWTs and the API's rate limit, inside `observe`;
    // not installed at all when not configured.
    let auth = tower::util::option_layer(shared.auth.is_some().then(|| {
        axum::middleware::from_fn_with_state(Arc::clone(&shared), crate::auth::grpc_guard::guard)
    }));
    let guard = Arc::new(Guard {
        shared,
        permits: Semaphore::new(limits.max_concurrent_requests),
        timeout: limits.request_timeout,
    });
    let router = routes
        .into_axum_router()
        .layer(auth)
        .layer(axum::middleware::from_fn_with_state(guard, observe));
    Ok((router, health))
}

/// Serves gRPC on `listener` until `shutdown` resolves, then lets calls in
/// flight finish (the caller bounds how long). Over TLS with `tls`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    health: tonic_health::server::HealthReporter,
    tls: Option<crate::tls::Acceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GrpcError> {
    let signal = async move {
        shutdown.await;
        for service in std::iter::once("").chain(SERVICES) {
            health
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
    };
    let server = tonic::transport::Server::builder()
        // Envoy keeps long-lived connections with many streams: detect
        // a dead peer rather than holding its streams forever.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_routes(Routes::from(router));
    match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            server
                .serve_with_incoming_shutdown(incoming, signal)
                .await?;
        }
        Some(tls) => {
            let incoming = crate::listener::tls_incoming(listener, tls);
            server
                .serve_with_incoming_shutdown(incoming, signal)
                .await?;
        }
    }
    Ok(())
}

/// Adds the metadata every Reaper answer carries: the policy that decided
/// and, for a decision, its id.
pub(crate) fn tagged<T>(
    mut response: tonic::Response<T>,
    world: &World,
    decision_id: Option<&str>,
) -> tonic::Response<T> {
    let metadata = response.metadata_mut();
    if let Ok(value) = world.engine.hash().parse() {
        metadata.insert("x-reaper-policy", value);
    }
    if let Some(Ok(value)) = decision_id.map(str::parse) {
        metadata.insert("x-reaper-decision-id", value);
    }
    response
}

struct Guard {
    shared: Arc<Shared>,
    permits: Semaphore,
    timeout: Duration,
}

/// Bounds, normalises and counts one call (see the module header).
async fn observe(
    State(guard): State<Arc<Guard>>,
    request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let method = static_method(request.uri().path());
    let Ok(_permit) = guard.permits.try_acquire() else {
        return refused(
            &guard,
            method,
            Status::resource_exhausted(
                "the server is answering grpc.max_concurrent_requests calls; retry later",
            ),
        );
    };
    let deadline = grpc_timeout(request.headers()).map_or(guard.timeout, |t| t.min(guard.timeout));
    let started = tokio::time::Instant::now();
    let late = || {
        Status::deadline_exceeded(format!(
            "the call was not answered within {} ms",
            deadline.as_millis()
        ))
    };
    let span = crate::observe::tracing::request_span(
        &crate::observe::tracing::Headers(request.headers()),
        || {
            tracing::info_span!(
                "grpc.request",
                otel.name = method,
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.method = method,
            )
        },
    );
    let call = tracing::Instrument::instrument(next.run(request), span);
    let response = match tokio::time::timeout(deadline, call).await {
        // An answer that came too late is not sent: the caller has given
        // up on it (what it changed, such as a counter, stays changed).
        Ok(_) if started.elapsed() > deadline => return refused(&guard, method, late()),
        Ok(response) => response,
        Err(_) => return refused(&guard, method, late()),
    };
    // An error is a trailers-only response: the status is in the headers.
    if let Some(status) = Status::from_header_map(response.headers()) {
        return match normalised(&status) {
            Some(replacement) => refused(&guard, method, replacement),
            None => {
                guard.shared.metrics.grpc(method, code_name(status.code()));
                response
            }
        };
    }
    let shared = Arc::clone(&guard.shared);
    response.map(|body| {
        axum::body::Body::new(Observed {
            body,
            method,
            shared: Some(shared),
        })
    })
}

/// Replaces tonic's own refusals of a call by the statuses they should have
/// been (an undecodable message is INVALID_ARGUMENT, not INTERNAL), for a
/// service outside the API's layer: the mesh's peer service.
pub(crate) async fn normalise(
    request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    match Status::from_header_map(response.headers()).and_then(|s| normalised(&s)) {
        Some(replacement) => replacement.into_http::<axum::body::Body>(),
        None => response,
    }
}

/// The status tonic's own refusals should have been.
fn normalised(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal if message.starts_with("failed to decode Protobuf message") => Some(
            Status::invalid_argument(format!("malformed message: {message}")),
        ),
        Code::OutOfRange if message.contains("message length too large") => Some(
            Status::resource_exhausted(format!("{message} (grpc.max_message)")),
        ),
        _ => None,
    }
}

fn refused(guard: &Guard, method: &'static str, status: Status) -> axum::response::Response {
    guard.shared.metrics.grpc(method, code_name(status.code()));
    status.into_http::<axum::body::Body>()
}

fn static_method(path: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == path)
        .copied()
        .unwrap_or("other")
}

/// The client's `grpc-timeout` (`100m`, `5S`), if it sent a valid one.
fn grpc_timeout(headers: &axum::http::HeaderMap) -> Option<Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A response body that counts the call when its trailers (which carry
/// the status of a successful call) go by.
struct Observed {
    body: axum::body::Body,
    method: &'static str,
    /// Taken when counted, so a call is counted once.
    shared: Option<Arc<Shared>>,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
        {
            let code = Status::from_header_map(trailers).map_or(Code::Ok, |s| s.code());
            if let Some(shared) = self.shared.take() {
                shared.metrics.grpc(self.method, code_name(code));
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
