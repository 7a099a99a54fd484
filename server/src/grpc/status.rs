//! gRPC statuses for the server's errors: one mapping from the API error
//! (which carries an HTTP status and a stable code) to the gRPC code that
//! means the same, so the two APIs fail alike. The message keeps the field
//! at fault (`principal.attrs.clearance: …`) and, for a denied store
//! access, the deciding rules.

use axum::http::StatusCode;
use tonic::{Code, Status};

use crate::ops::ApiError;

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        let code = match error.status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => Code::InvalidArgument,
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::FORBIDDEN => Code::PermissionDenied,
            StatusCode::UNAUTHORIZED => Code::Unauthenticated,
            StatusCode::PRECONDITION_FAILED => Code::AlreadyExists,
            StatusCode::INSUFFICIENT_STORAGE | StatusCode::TOO_MANY_REQUESTS => {
                Code::ResourceExhausted
            }
            StatusCode::REQUEST_TIMEOUT => Code::DeadlineExceeded,
            StatusCode::UNPROCESSABLE_ENTITY => Code::FailedPrecondition,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            _ => Code::Internal,
        };
        let detail = &error.body.error;
        let message = match &detail.field {
            Some(field) if !detail.message.starts_with(field.as_str()) => {
                format!("{field}: {}", detail.message)
            }
            _ => detail.message.clone(),
        };
        let mut status = Status::new(code, message);
        if let Ok(value) = detail.code.parse() {
            status.metadata_mut().insert("x-reaper-error", value);
        }
        status
    }
}

/// The name of a gRPC code, as metrics label it (`OK`, `INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
