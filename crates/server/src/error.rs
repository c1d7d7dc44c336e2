//! The crate's error ([`ServerError`]: the server could not start or stopped) and the
//! answer a request gets when it cannot be served ([`ApiError`]: a status and a reason, as JSON).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lookbook_imaging::ImageError;
use lookbook_query::QueryError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A failed request.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub status: u16,
    /// Why, in words.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Index(#[from] lookbook_index::IndexError),
    #[error("the write token file {}: {reason}", path.display())]
    Token { path: std::path::PathBuf, reason: String },
}

/// A request that failed: its HTTP status and a reason a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Not the client's fault; the reason is logged as well as returned.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("{error}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    /// An upload that is not a usable photo: 413 when it is too big to decode, 400 otherwise.
    pub fn bad_image(error: ImageError) -> Self {
        let status = match error {
            ImageError::FileTooLarge { .. }
            | ImageError::TooManyPixels { .. }
            | ImageError::TooMuchMemory { .. }
            | ImageError::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ImageError::Io(_) | ImageError::Threads(_) | ImageError::BadSpec(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, format!("the uploaded image: {error}"))
    }
}

/// The engine's reasons as statuses: not found 404, bad request 400, a bad photo 400 or
/// 413, not loaded 503, the rest 500 (logged).
impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::NotFound(message) => ApiError::not_found(message),
            QueryError::BadRequest(message) => ApiError::bad_request(message),
            QueryError::BadImage(error) => ApiError::bad_image(error),
            QueryError::BadFile(bad) => ApiError::bad_image(bad.error),
            QueryError::Unavailable(message) => ApiError::unavailable(message),
            error @ QueryError::Model { .. } => ApiError::unavailable(error.to_string()),
            QueryError::Internal(message) => ApiError::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: self.status.as_u16(),
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
