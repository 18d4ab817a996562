//! The one error type a client sees. Every status a route can answer is a variant, so the
//! OpenAPI spec lists them, and each renders the contract's body:
//! `{"error": "human readable", "code": "machine_code"}` (plus `field` when one field is at fault).

use poem_openapi::{ApiResponse, Object, payload::Json};
use sea_orm::{DbErr, SqlErr};

/// The contract's JSON error body.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// What went wrong, for a program: stable, snake_case.
    pub code: String,
    /// The request field at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "ApiError::from_rejected_request")]
pub enum ApiError {
    /// The request is malformed, of the wrong type, or a field is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but not allowed to do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with existing data (a taken username, say).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is larger than this service accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many requests; retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A fault of ours; the cause is in the log under the request id.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency (database, Redis) is unreachable, or the service has more work queued than
    /// it can do in good time (`overloaded`, with `Retry-After`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] Option<u64>),
}

pub type ApiResult<T> = Result<T, ApiError>;

fn body(code: &str, error: impl Into<String>, field: Option<&str>) -> Json<ErrorBody> {
    Json(ErrorBody { error: error.into(), code: code.into(), field: field.map(Into::into) })
}

impl ApiError {
    /// A field failed validation: a 400 that names it.
    pub fn invalid_field(field: &str, error: impl Into<String>) -> Self {
        Self::BadRequest(body("invalid_field", error, Some(field)))
    }

    pub fn bad_request(code: &str, error: impl Into<String>) -> Self {
        Self::BadRequest(body(code, error, None))
    }

    pub fn unauthorized(code: &str, error: impl Into<String>) -> Self {
        Self::Unauthorized(body(code, error, None))
    }

    pub fn forbidden(error: impl Into<String>) -> Self {
        Self::Forbidden(body("forbidden", error, None))
    }

    /// A 403 with a code of its own (`blocked`).
    pub fn forbidden_as(code: &str, error: impl Into<String>) -> Self {
        Self::Forbidden(body(code, error, None))
    }

    /// A browser page whose origin is not in `CORS_ALLOWED_ORIGINS`: its preflight, or its
    /// WebSocket upgrade.
    pub fn origin_not_allowed(origin: &str) -> Self {
        Self::Forbidden(body(
            "origin_not_allowed",
            format!("pages of origin {origin:?} may not call this API from a browser"),
            None,
        ))
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::NotFound(body("not_found", error, None))
    }

    pub fn conflict(code: &str, error: impl Into<String>) -> Self {
        Self::Conflict(body(code, error, None))
    }

    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::too_many("rate_limited", "too many requests, slow down", retry_after_seconds)
    }

    /// A 429 of another kind than the rate limit (too many connections, say).
    pub fn too_many(code: &str, error: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::TooManyRequests(body(code, error, None), retry_after_seconds.max(1))
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::Unavailable(body("unavailable", error, None), None)
    }

    /// Shedding load: more requests wait than the service can answer in good time.
    pub fn overloaded(error: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::unavailable_as("overloaded", error, retry_after_seconds)
    }

    /// A 503 of another kind than a dependency down (`replica_full`, say): retry later, or
    /// elsewhere.
    pub fn unavailable_as(code: &str, error: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::Unavailable(body(code, error, None), Some(retry_after_seconds.max(1)))
    }

    /// A server fault: the cause goes to the log, the client gets an opaque message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::Internal(body("internal", "internal error", None))
    }

    pub fn body(&self) -> &ErrorBody {
        match self {
            Self::BadRequest(b)
            | Self::Unauthorized(b)
            | Self::Forbidden(b)
            | Self::NotFound(b)
            | Self::Conflict(b)
            | Self::PayloadTooLarge(b)
            | Self::TooManyRequests(b, _)
            | Self::Internal(b)
            | Self::Unavailable(b, _) => b,
        }
    }

    /// Requests poem-openapi could not parse (malformed JSON, wrong types, unknown fields,
    /// missing parameters) become 400s with the parser's reason, which names the field.
    fn from_rejected_request(err: poem::Error) -> Self {
        if err.status() == poem::http::StatusCode::PAYLOAD_TOO_LARGE {
            return Self::payload_too_large();
        }
        Self::rejected(&err.to_string())
    }

    fn rejected(reason: &str) -> Self {
        Self::BadRequest(body("invalid_request", reason, quoted_field(reason).as_deref()))
    }

    pub fn payload_too_large() -> Self {
        Self::PayloadTooLarge(body("payload_too_large", "request body too large", None))
    }

    /// Any poem error outside the typed routes (unknown path, wrong method, a missing bearer
    /// token, a body poem-openapi could not parse) rendered as the contract's JSON with its
    /// own status.
    pub fn from_poem(err: &poem::Error) -> poem::Response {
        use poem::{IntoResponse, http::StatusCode};
        let error = match err.status() {
            StatusCode::NOT_FOUND => Self::not_found("no such route"),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            StatusCode::UNAUTHORIZED => {
                Self::unauthorized("missing_token", "an `Authorization: Bearer` access token is required")
            }
            StatusCode::BAD_REQUEST => Self::rejected(&err.to_string()),
            s if s.is_server_error() => Self::internal(err),
            StatusCode::METHOD_NOT_ALLOWED => {
                return Self::bad_request("method_not_allowed", "method not allowed on this route")
                    .with_status(StatusCode::METHOD_NOT_ALLOWED);
            }
            s => return Self::bad_request("invalid_request", err.to_string()).with_status(s),
        };
        error.into_response()
    }

    /// This error's body with another status (for the few statuses without a variant).
    fn with_status(self, status: poem::http::StatusCode) -> poem::Response {
        use poem::IntoResponse;
        let mut resp = self.into_response();
        resp.set_status(status);
        resp
    }
}

/// poem-openapi's messages quote the offending body field (``field `x` ``) or parameter
/// (``parameter `x` ``); name it too.
fn quoted_field(reason: &str) -> Option<String> {
    let after = reason.split("field `").nth(1).or_else(|| reason.split("parameter `").nth(1))?;
    Some(after.split('`').next()?.to_owned())
}

impl From<DbErr> for ApiError {
    /// The one place where database failures become statuses: a unique violation is a conflict,
    /// a lost connection is a 503 (retryable), anything else a 500.
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Self::conflict("conflict", "already exists");
        }
        if crate::db::is_unreachable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return Self::unavailable("database unavailable");
        }
        Self::internal(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_contract_shape() {
        let err = ApiError::not_found("no such user");
        let json = serde_json::to_value(err.body()).unwrap();
        assert_eq!(json, serde_json::json!({"error": "no such user", "code": "not_found"}));
    }

    #[test]
    fn a_rejected_parameter_is_named() {
        let err = ApiError::rejected("failed to parse parameter `q`: Type \"string\" expects an input value.");
        assert_eq!(err.body().field.as_deref(), Some("q"));
    }

    #[test]
    fn a_field_error_names_the_field() {
        let err = ApiError::invalid_field("username", "must be 3 to 32 characters");
        let json = serde_json::to_value(err.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "must be 3 to 32 characters", "code": "invalid_field", "field": "username"})
        );
    }
}
