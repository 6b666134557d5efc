//! The native API's error shape: `{"error": {"code", "message"}}` with a
//! fitting status.

use crate::credentials::CredentialError;
use crate::relay_handle::RelayGone;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answer of the native API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A `snake_case` code for programs.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<RelayGone> for ApiError {
    fn from(e: RelayGone) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string())
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        let (status, code) = match &e {
            CredentialError::InvalidId => (StatusCode::BAD_REQUEST, "invalid_live_id"),
            CredentialError::InvalidCode => (StatusCode::BAD_REQUEST, "invalid_live_code"),
            CredentialError::Exists => (StatusCode::CONFLICT, "already_exists"),
            CredentialError::RelayGone => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            CredentialError::Random(_) | CredentialError::Store(_) => {
                tracing::error!(error = %e, "credential change failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}
