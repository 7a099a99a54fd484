//! The gRPC services' auth layer, the HTTP one's twin: health and
//! reflection pass, `Reload` keeps the admin token, Envoy's `Check` and
//! `ShouldRateLimit` pass unless `require_for_envoy`; Reaper's own calls
//! need a valid JWT in the `authorization` metadata (UNAUTHENTICATED with
//! the reason otherwise) and are counted in the API's rate limit
//! (RESOURCE_EXHAUSTED, with `retry-after` metadata, over it).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;

use super::Scope;
use super::api_limit::Refusal;
use crate::state::Shared;

/// What a gRPC method (its full path) needs.
pub fn scope(method: &str) -> Scope {
    if method.starts_with("/grpc.health.") || method.starts_with("/grpc.reflection.") {
        Scope::Open
    } else if method == "/reaper.v1.Reaper/Reload" {
        Scope::Admin
    } else if method.starts_with("/envoy.service.") {
        Scope::Envoy
    } else {
        Scope::Api
    }
}

/// The layer's function (see the module header).
pub async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(auth) = shared.auth.clone() else {
        return next.run(request).await;
    };
    let method = request.uri().path().to_owned();
    if !auth.covers(scope(&method)) {
        return next.run(request).await;
    }
    let identity = match auth.authenticate(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    ) {
        Ok(identity) => identity,
        Err(rejection) => {
            super::count_rejection(rejection.reason);
            return Status::unauthenticated(rejection.description).into_http();
        }
    };
    if let Some(limit) = &auth.limit {
        let client = identity
            .as_ref()
            .and_then(|i| i.client.clone())
            .unwrap_or_else(|| {
                request
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(TcpConnectInfo::remote_addr)
                    .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
            });
        match limit.count(&shared, &client, &method).await {
            Ok(()) => {}
            Err(Refusal::Limited(seconds)) => {
                let mut status = Status::resource_exhausted(format!(
                    "this client is over the API's rate limit; retry in {seconds} s"
                ));
                if let Ok(value) = seconds.to_string().parse() {
                    status.metadata_mut().insert("retry-after", value);
                }
                return status.into_http();
            }
            Err(Refusal::Backend(error)) => return Status::from(error).into_http(),
        }
    }
    if let Some(identity) = identity {
        request.extensions_mut().insert(Arc::new(identity));
    }
    next.run(request).await
}
