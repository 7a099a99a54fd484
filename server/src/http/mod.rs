//! The HTTP API: one router built by [`router`], which tests drive with
//! `tower::ServiceExt::oneshot` and the server serves. Every route is
//! declared through `utoipa-axum`'s `routes!`, so the OpenAPI document
//! (`GET /v1/openapi.json`) is generated from the same handlers it
//! describes. Errors are `{ "error": { "code", "message", "field"? } }`
//! with the status that fits; limits (body size, timeout) are tower layers.

mod admin;
mod authorize;
mod authzen;
mod ext_authz;
mod ratelimit;
mod store;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::ops::ApiError;

use crate::state::Shared;

/// The header carrying a decision's id.
pub const DECISION_ID: HeaderName = HeaderName::from_static("x-reaper-decision-id");
/// The header naming the policy hash that decided.
pub const POLICY: HeaderName = HeaderName::from_static("x-reaper-policy");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Reaper",
        description = "Authorization, rate limits and a TTL store, decided by one policy. See docs/serve.md."
    ),
    tags(
        (name = "decisions", description = "Authorization and rate-limit decisions"),
        (name = "authzen", description = "The OpenID AuthZEN 1.0 Authorization API"),
        (name = "store", description = "The TTL store, authorized by the policy"),
        (name = "operations", description = "Status, health, metrics and administration"),
    )
)]
struct ApiDoc;

/// The whole API: the router and the OpenAPI document describing it.
pub fn router(shared: Arc<Shared>) -> Router {
    let (router, api) = api_parts();
    let document = Arc::new(api);
    let max_body = shared.limits.max_body_bytes;
    let timeout = shared.limits.request_timeout;
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let document = Arc::clone(&document);
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        // Envoy's HTTP-service mode: every method, any path under the
        // prefix (documented by hand in the OpenAPI document).
        .route(
            &format!("{}/{{*path}}", ext_authz::PREFIX),
            axum::routing::any(ext_authz::check),
        )
        .route(
            &format!("{}/", ext_authz::PREFIX),
            axum::routing::any(ext_authz::check),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // `[auth]`: bearer JWTs and the API's rate limit, inside the
        // timeout; not installed at all when not configured.
        .layer(tower::util::option_layer(shared.auth.is_some().then(
            || {
                axum::middleware::from_fn_with_state(
                    Arc::clone(&shared),
                    crate::auth::http_guard::guard,
                )
            },
        )))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Outermost, so timeouts are counted too.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            observe,
        ))
        .with_state(shared)
}

/// The routes and the OpenAPI document, before state is attached.
pub fn api_parts() -> (Router<Arc<Shared>>, utoipa::openapi::OpenApi) {
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(authorize::authorize))
        .routes(routes!(authorize::batch))
        .routes(routes!(authzen::evaluation))
        .routes(routes!(authzen::evaluations))
        .routes(routes!(ratelimit::rate_limit))
        .routes(routes!(store::get, store::put, store::delete))
        .routes(routes!(admin::status))
        .routes(routes!(admin::reload))
        .routes(routes!(admin::upsert_entities))
        .routes(routes!(admin::block_peers))
        .routes(routes!(admin::delete_entity))
        .routes(routes!(admin::live))
        .routes(routes!(admin::ready))
        .routes(routes!(admin::metrics))
        .split_for_parts();
    api.paths.paths.insert(
        "/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This OpenAPI document"))
                .tag("operations")
                .response(
                    "200",
                    utoipa::openapi::Response::new("The OpenAPI 3 document"),
                ),
        ),
    );
    api.paths.paths.insert(
        "/v1/ext_authz/{path}".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("Envoy ext_authz, HTTP-service mode (every method)"))
                .description(Some("Envoy forwards the original request's method, path (under this prefix) and allowed headers. 200: allowed; the deny status (403 by default): denied, with a one-line reason. Both carry x-reaper-decision-id and x-reaper-policy. See docs/serve.md."))
                .tag("decisions")
                .response("200", utoipa::openapi::Response::new("Allowed"))
                .response("403", utoipa::openapi::Response::new("Denied (ext_authz.deny_status), text body `denied: <reason>`"))
                .response("501", utoipa::openapi::Response::new("The policy has no `http` block")),
        ),
    );
    (router, api)
}

/// Counts every response by route and status.
async fn observe(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| static_route(p.as_str()));
    let admin = route.starts_with("/v1/admin/").then(|| {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<crate::listener::PeerAddr>>()
            .map(|c| c.0.0.to_string());
        (
            request.method().to_string(),
            request.uri().path().to_owned(),
            peer,
        )
    });
    let span = crate::observe::tracing::request_span(
        &crate::observe::tracing::Headers(request.headers()),
        || {
            tracing::info_span!(
                "http.request",
                otel.name = %format_args!("{} {route}", request.method()),
                otel.kind = "server",
                http.request.method = %request.method(),
                http.route = route,
                http.response.status_code = tracing::field::Empty,
            )
        },
    );
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if let Some((method, path, peer)) = admin {
        // Every admin call, refused ones included: who asked what, and the
        // answer.
        shared.audit.record(
            shared.clock.now_ms(),
            "admin",
            serde_json::json!({
                "method": method,
                "path": path,
                "peer": peer,
                "status": response.status().as_u16(),
            }),
        );
    }
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        // The timeout layer answers with an empty body; say it as every
        // other error is said.
        response = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request was not answered within http.request_timeout",
        )
        .into_response();
    }
    shared.metrics.http(route, response.status().as_u16());
    response
}

/// Every route pattern, so metric labels need no allocation.
const ROUTES: &[&str] = &[
    "/v1/authorize",
    "/v1/authorize/batch",
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/v1/ratelimit",
    "/v1/store/{namespace}/{key}",
    "/v1/status",
    "/v1/admin/reload",
    "/v1/admin/entities",
    "/v1/admin/mesh/blocked",
    "/v1/admin/entities/{type}/{id}",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/v1/openapi.json",
    "/v1/ext_authz/{*path}",
    "/v1/ext_authz/",
];

fn static_route(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// A request body, with body-size and read errors as API errors.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is larger than the server accepts (http.max_body)",
                ))
            }
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                rejection.body_text(),
            )),
        }
    }
}

impl Body {
    /// The body as UTF-8 text (JSON must be).
    pub fn text(&self) -> Result<&str, ApiError> {
        std::str::from_utf8(&self.0).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!(
                    "malformed JSON: the body is not UTF-8 (at byte {})",
                    e.valid_up_to()
                ),
            )
        })
    }
}

/// A JSON response from bytes already serialised.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A header value from text the server made (hashes, ids): always valid.
pub fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("?"))
}
