//! ZStack's error format: `{"error": ErrorCode}` with its `SYS.*`/`ID.*` codes and HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use ticketd_core::{ConflictKind, DomainError, FieldError, StoreError};
use ticketd_http::json::JsonBodyError;

/// An internal failure (`SYS.1000`).
pub(crate) const SYS_INTERNAL: &str = "SYS.1000";
/// The request took longer than the request timeout (`SYS.1001`).
pub(crate) const SYS_TIMEOUT: &str = "SYS.1001";
/// A resource that does not exist or is not visible (`SYS.1003`).
pub(crate) const SYS_NOT_FOUND: &str = "SYS.1003";
/// An operation the resource's state forbids (`SYS.1006`).
pub(crate) const SYS_OPERATION: &str = "SYS.1006";
/// A bad argument (`SYS.1007`).
pub(crate) const SYS_INVALID_ARGUMENT: &str = "SYS.1007";
/// A message class no service handles (`SYS.1008`).
pub(crate) const SYS_UNKNOWN_MESSAGE: &str = "SYS.1008";
/// A path no API is mapped to (`SYS.1009`).
pub(crate) const SYS_NO_ROUTE: &str = "SYS.1009";
/// The store is overloaded or shutting down (`SYS.1010`).
pub(crate) const SYS_NOT_READY: &str = "SYS.1010";
/// A method the path does not support (`SYS.1014`).
pub(crate) const SYS_UNSUPPORTED: &str = "SYS.1014";
/// Wrong account name or password (`ID.1000`).
pub(crate) const ID_AUTHENTICATION: &str = "ID.1000";
/// A missing, unknown or expired session (`ID.1001`).
pub(crate) const ID_INVALID_SESSION: &str = "ID.1001";
/// The caller may not do this (`ID.1002`).
pub(crate) const ID_PERMISSION_DENIED: &str = "ID.1002";

/// ZStack's description of each code it answers with (`conf/errorCodes/*.xml`).
fn description(code: &str) -> &'static str {
    match code {
        SYS_INTERNAL => "An internal error happened in system",
        SYS_TIMEOUT => "An operation timeout happened",
        SYS_NOT_FOUND => "A resource can not be found",
        SYS_OPERATION => "An operation failed",
        SYS_INVALID_ARGUMENT => "One or more API argument is invalid",
        SYS_UNKNOWN_MESSAGE => "Unknown message, no service can deal with the message",
        SYS_NO_ROUTE => "No route for message",
        SYS_NOT_READY => "Management server is not ready to serve",
        SYS_UNSUPPORTED => "The operation is not implemented or not supported yet",
        ID_AUTHENTICATION => "Unable to authenticate a user",
        ID_INVALID_SESSION => {
            "The session is invalid, either wrong session id or the session has been expired"
        }
        ID_PERMISSION_DENIED => "The user doesn't have permission to perform the operation",
        _ => "An operation failed",
    }
}

/// A failure answered in ZStack's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZsError {
    /// HTTP status of the REST answer (the message API always answers 200).
    pub(crate) status: StatusCode,
    /// `SYS.*` or `ID.*`.
    pub(crate) code: &'static str,
    /// What went wrong, in ZStack's wording where it has one.
    pub(crate) details: String,
    /// Seconds for `Retry-After` (throttling and overload only).
    pub(crate) retry_after: Option<u64>,
}

impl ZsError {
    /// A failed API call: ZStack answers these with 503 and the code in the body.
    pub(crate) fn failed(code: &'static str, details: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            details: details.into(),
            retry_after: None,
        }
    }

    /// `SYS.1010` with HTTP 429: the caller is over the request (or login) rate.
    pub(crate) fn throttled(seconds: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(seconds),
            ..Self::failed(
                SYS_NOT_READY,
                format!("too many requests, retry in {seconds} seconds"),
            )
        }
    }

    /// A 503 the caller should retry in a second (`SYS.1010` busy store, `SYS.1001` timeout).
    pub(crate) fn retry_soon(code: &'static str, details: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::failed(code, details)
        }
    }

    /// `SYS.1007`: a bad argument.
    pub(crate) fn argerr(details: impl Into<String>) -> Self {
        Self::failed(SYS_INVALID_ARGUMENT, details)
    }

    /// `SYS.1006`: the resource's state forbids the operation.
    pub(crate) fn operr(details: impl Into<String>) -> Self {
        Self::failed(SYS_OPERATION, details)
    }

    /// `SYS.1003`: no such resource (or not visible to the caller).
    pub(crate) fn not_found(details: impl Into<String>) -> Self {
        Self::failed(SYS_NOT_FOUND, details)
    }

    /// `ID.1001`: no valid session.
    pub(crate) fn session(details: impl Into<String>) -> Self {
        Self::failed(ID_INVALID_SESSION, details)
    }

    /// `ID.1002`: permission denied.
    pub(crate) fn denied(details: impl Into<String>) -> Self {
        Self::failed(ID_PERMISSION_DENIED, details)
    }

    /// An error of the REST layer itself (bad header, body or query string, unknown path),
    /// which ZStack answers before any API runs, with a 4xx status.
    pub(crate) fn rest(status: StatusCode, code: &'static str, details: impl Into<String>) -> Self {
        Self {
            status,
            code,
            details: details.into(),
            retry_after: None,
        }
    }

    /// `SYS.1000`: an internal failure. The cause is logged here, once, and not sent.
    pub(crate) fn internal(cause: &str) -> Self {
        tracing::error!(%cause, "internal error");
        Self::failed(SYS_INTERNAL, "internal error, see the server log")
    }

    /// The `ErrorCode` object.
    pub(crate) fn error_code(&self) -> Value {
        json!({
            "code": self.code,
            "description": description(self.code),
            "details": self.details,
            "elaboration": null,
            "opaque": null,
            "cause": null,
        })
    }
}

impl IntoResponse for ZsError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error_code()});
        match self.retry_after {
            Some(seconds) => {
                ticketd_http::limits::json_with_retry_after(self.status, body, seconds)
            }
            None => (self.status, axum::Json(body)).into_response(),
        }
    }
}

/// The answer to a request that ran longer than the configured request timeout.
pub(crate) fn timed_out() -> Response {
    ZsError::retry_soon(SYS_TIMEOUT, "the request took too long, please retry later")
        .into_response()
}

/// The answer to a request whose handler panicked (`ticketd_http::panics`): an internal error.
pub(crate) fn panicked(cause: String) -> Response {
    ZsError::internal(&cause).into_response()
}

/// `field[name]: message; …`, the way ZStack's interceptors word argument errors.
fn fields_text(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("field[{}]: {}", f.field, f.message))
        .collect();
    parts.join("; ")
}

impl From<StoreError> for ZsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "store unavailable");
                Self::retry_soon(SYS_NOT_READY, "the service is busy, please retry later")
            }
            StoreError::Reference { .. } => DomainError::from(error).into(),
            other => Self::internal(&format!("{other}: {:?}", std::error::Error::source(&other))),
        }
    }
}

impl From<DomainError> for ZsError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound { kind, id } => {
                Self::not_found(format!("unable to find {kind}[uuid:{id}]"))
            }
            DomainError::Unauthenticated => Self::session("the session is invalid or expired"),
            DomainError::Forbidden { action } => {
                Self::denied(format!("permission denied, not allowed to {action}"))
            }
            DomainError::InvalidTransition {
                conflict: ConflictKind::Busy,
                ..
            } => Self::operr("the resource is being changed by others, please retry"),
            DomainError::InvalidTransition { action, state, .. } => Self::operr(format!(
                "operation denied. the resource is in status of {state}, cannot do the operation[{action}]"
            )),
            DomainError::Validation(fields) => Self::argerr(fields_text(&fields)),
            DomainError::Conflict(message) => Self::argerr(message),
            DomainError::Store(store) => store.into(),
        }
    }
}

impl From<JsonBodyError> for ZsError {
    fn from(error: JsonBodyError) -> Self {
        match error {
            JsonBodyError::BodyTooLarge(_) => Self::body_too_large(),
            other => Self::rest(
                StatusCode::BAD_REQUEST,
                SYS_INVALID_ARGUMENT,
                other.to_string(),
            ),
        }
    }
}

impl ZsError {
    /// 413 for a body over `body_limit_bytes`, read or declared.
    pub(crate) fn body_too_large() -> Self {
        Self::rest(
            StatusCode::PAYLOAD_TOO_LARGE,
            SYS_INVALID_ARGUMENT,
            "the request body is too large",
        )
    }
}
