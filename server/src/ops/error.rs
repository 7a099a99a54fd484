//! API errors: a status, a stable code, a message and (for a request that
//! does not conform to the schema) the field, as
//! `{ "error": { "code", "message", "field" } }`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reaper_lang::request::RequestError;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel in `Result`s on the hot path, which stay small.
    pub body: Box<ErrorBody>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// For a denied store access: the decision, with its reasons and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub decision: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_request`, `malformed_json`,
    /// `body_too_large`, `not_found`, …
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, as a JSON path (`principal.attrs.clearance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                error: ErrorDetail {
                    code,
                    message: message.into(),
                    field: None,
                },
                decision: None,
            }),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !field.is_empty() {
            self.body.error.field = Some(field);
        }
        self
    }

    /// A request the schema refuses (400, naming the field), or JSON that
    /// does not parse (400, naming the position).
    pub fn request(error: &RequestError) -> Self {
        let code = if error.path.is_empty() && error.message.starts_with("malformed JSON") {
            "malformed_json"
        } else {
            "invalid_request"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, error.to_string()).with_field(&error.path)
    }

    /// A 403 carrying the decision that denied.
    pub fn denied(mut error: ApiError, decision: super::authorize::DecisionBody) -> Self {
        error.body.decision = serde_json::to_value(&decision).ok();
        error
    }

    /// A body that is not the JSON the endpoint takes (serde's reading of it).
    pub fn json(error: &serde_json::Error) -> Self {
        let code = if error.is_data() {
            "invalid_request"
        } else {
            "malformed_json"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, error.to_string())
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A call without a valid bearer JWT (`[auth]`): 401, answered with a
    /// `WWW-Authenticate: Bearer error="invalid_token"` challenge.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, UNAUTHENTICATED, message)
    }
}

/// The code of a refused JWT (the admin token's is `unauthorized`).
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// RFC 6750's challenge, with the reason as `error_description` (a quoted
/// string of visible ASCII).
fn challenge(description: &str) -> axum::http::HeaderValue {
    let description: String = description
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect();
    axum::http::HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    ))
    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

/// The backend could not answer: 503.
impl From<crate::backend::BackendError> for ApiError {
    fn from(error: crate::backend::BackendError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backend_unavailable",
            error.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge =
            (self.body.error.code == UNAUTHENTICATED).then(|| challenge(&self.body.error.message));
        let mut response = (self.status, axum::Json(*self.body)).into_response();
        if let Some(value) = challenge {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
