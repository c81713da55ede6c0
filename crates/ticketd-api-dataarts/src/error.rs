//! DataArts' error format: `{"error_code","error_msg"}` with the codes this dialect answers.
//!
//! | HTTP | `error_code` | meaning |
//! |---|---|---|
//! | 400 | `DLS.1000` | a query parameter, header, path segment or body field is invalid or missing |
//! | 404 | `DLS.1001` | the service ticket does not exist in this workspace and project, or is not visible |
//! | 409 | `DLS.1002` | the ticket's status does not allow the action (already decided, withdrawn, …) |
//! | 403 | `DLS.1003` | the caller may not do this: not the ticket's approver (approve, reject) or applicant (withdraw) |
//! | 403 | `DLS.1004` | the `workspace` does not exist or the caller is not a member of it |
//! | 409 | `DLS.1005` | a concurrent change won, or a uniqueness rule; the call may be retried |
//! | 413 | `DLS.1006` | the request body is larger than the configured limit |
//! | 503 | `DLS.1007` | the store is saturated, or the request took longer than the request timeout; `Retry-After: 1` |
//! | 500 | `DLS.9999` | internal failure (the cause is logged, never returned) |
//! | 401 | `APIGW.0301` | no credentials, an unknown or expired `X-Auth-Token`, or an AK/SK signature that fails verification |
//! | 401 | `APIGW.0307` | the AK/SK request's `X-Sdk-Date` is more than the allowed skew (15 minutes) from the server clock: sign again |
//! | 404 | `APIGW.0101` | no such API under `/v1/{project_id}/security` (unknown path or method) |
//! | 429 | `APIGW.0308` | over the per-user request rate: retry after the seconds in `Retry-After` |
//!
//! The `APIGW.*` codes are those of Huawei Cloud's API gateway, which answers authentication and
//! routing failures before a request reaches DataArts.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use ticketd_core::{ConflictKind, DomainError, FieldError, StoreError};
use ticketd_http::json::JsonBodyError;

/// Invalid input.
pub const VALIDATION: &str = "DLS.1000";
/// Unknown or invisible service ticket.
pub const NOT_FOUND: &str = "DLS.1001";
/// The ticket's status does not allow the action.
pub const WRONG_STATE: &str = "DLS.1002";
/// Not the ticket's approver (or applicant, for a withdrawal).
pub const NOT_ALLOWED: &str = "DLS.1003";
/// Unknown workspace, or not a member.
pub const WORKSPACE: &str = "DLS.1004";
/// Concurrent change or uniqueness conflict.
pub const CONFLICT: &str = "DLS.1005";
/// Body too large.
pub const TOO_LARGE: &str = "DLS.1006";
/// The store is saturated or the request ran out of time.
pub const BUSY: &str = "DLS.1007";
/// Internal failure.
pub const INTERNAL: &str = "DLS.9999";
/// Over the request rate.
pub const THROTTLED: &str = "APIGW.0308";
/// Authentication failed.
pub const AUTH_FAILED: &str = "APIGW.0301";
/// The signed request is too old (or too far in the future).
pub const AUTH_EXPIRED: &str = "APIGW.0307";
/// No such API.
pub const NO_SUCH_API: &str = "APIGW.0101";

/// An error answered in DataArts' shape.
#[derive(Debug)]
pub enum ApiError {
    /// A 4xx answer with its code and message.
    Wire {
        /// HTTP status.
        status: StatusCode,
        /// `error_code`.
        code: &'static str,
        /// `error_msg`.
        message: String,
    },
    /// 429 `APIGW.0308` with `Retry-After` (seconds).
    Throttled(u64),
    /// 503 `DLS.1007` with `Retry-After: 1`.
    Busy(&'static str),
    /// An internal failure: logged once here, opaque to the client.
    Internal(String),
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Wire {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `DLS.1000`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, VALIDATION, message)
    }

    /// 404 `DLS.1001` for a service ticket id.
    pub fn ticket_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            format!("the service ticket {id} does not exist"),
        )
    }

    /// 401 `APIGW.0301`.
    pub fn unauthenticated(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            AUTH_FAILED,
            format!("Incorrect IAM authentication information: {reason}"),
        )
    }

    /// 403 `DLS.1004`.
    pub fn workspace(raw: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            WORKSPACE,
            format!("the workspace {raw:?} does not exist or you are not a member of it"),
        )
    }

    /// 403 `DLS.1004` for a caller who is a member of no workspace.
    pub fn no_workspace() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            WORKSPACE,
            "you are not a member of any workspace",
        )
    }

    /// 404 `APIGW.0101`.
    pub fn no_such_api() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NO_SUCH_API,
            "The API does not exist or has not been published in the environment",
        )
    }

    /// The code and message, as a batch result's `message` reports them.
    pub fn summary(&self) -> String {
        match self {
            Self::Wire { code, message, .. } => format!("{code}: {message}"),
            Self::Throttled(seconds) => {
                format!(
                    "{THROTTLED}: the throttling threshold has been reached, retry in {seconds} seconds"
                )
            }
            Self::Busy(message) => format!("{BUSY}: {message}"),
            Self::Internal(_) => format!("{INTERNAL}: internal error"),
        }
    }
}

/// The DataArts name of a core state, for messages.
pub fn status_name(state: &str) -> &str {
    match state {
        "pending" => "WAITING_APPROVE",
        "approved" => "APPROVED",
        "rejected" => "REJECT",
        "closed" => "REVOKE",
        other => other,
    }
}

fn fields_message(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    parts.join("; ")
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound { kind: "ticket", id } => Self::ticket_not_found(&id),
            DomainError::NotFound {
                kind: "organization",
                id,
            } => Self::workspace(&id),
            DomainError::NotFound { kind, id } => Self::new(
                StatusCode::NOT_FOUND,
                NOT_FOUND,
                format!("{kind} {id} does not exist"),
            ),
            DomainError::Unauthenticated => Self::unauthenticated("invalid credentials"),
            DomainError::Forbidden { action } => Self::new(
                StatusCode::FORBIDDEN,
                NOT_ALLOWED,
                match action.as_str() {
                    "approve" | "reject" => {
                        format!("only the ticket's approver may {action} it")
                    }
                    "withdraw" => "only the ticket's applicant may withdraw it".to_owned(),
                    _ => format!("you are not allowed to {action}"),
                },
            ),
            DomainError::InvalidTransition {
                action,
                state,
                conflict,
            } => match conflict {
                ConflictKind::Busy => Self::new(
                    StatusCode::CONFLICT,
                    CONFLICT,
                    "the service ticket is being changed concurrently; try again",
                ),
                ConflictKind::StateChanged => Self::new(
                    StatusCode::CONFLICT,
                    WRONG_STATE,
                    format!(
                        "cannot {action}: the service ticket changed or you already decided it ({})",
                        status_name(state)
                    ),
                ),
                ConflictKind::AlreadyProcessed | ConflictKind::NotAllowedInState => Self::new(
                    StatusCode::CONFLICT,
                    WRONG_STATE,
                    format!(
                        "cannot {action} a service ticket whose status is {}",
                        status_name(state)
                    ),
                ),
            },
            DomainError::Validation(fields) => Self::invalid(fields_message(&fields)),
            DomainError::Conflict(message) => Self::new(StatusCode::CONFLICT, CONFLICT, message),
            DomainError::Store(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, "store unavailable");
                Self::Busy("the service is busy, please retry later")
            }
            DomainError::Store(store) => {
                Self::Internal(format!("{store}: {:?}", std::error::Error::source(&store)))
            }
        }
    }
}

impl From<JsonBodyError> for ApiError {
    fn from(error: JsonBodyError) -> Self {
        match error {
            JsonBodyError::BodyTooLarge(_) => Self::body_too_large(),
            other => Self::invalid(other.to_string()),
        }
    }
}

impl ApiError {
    /// 413 `DLS.1006` for a body over `body_limit_bytes`, read or declared.
    pub(crate) fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            TOO_LARGE,
            "the request body is too large",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Wire {
                status,
                code,
                message,
            } => (
                status,
                axum::Json(json!({"error_code": code, "error_msg": message})),
            )
                .into_response(),
            Self::Throttled(seconds) => retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                THROTTLED,
                format!("The throttling threshold has been reached: retry in {seconds} seconds"),
                seconds,
            ),
            Self::Busy(message) => {
                retry_after(StatusCode::SERVICE_UNAVAILABLE, BUSY, message.to_owned(), 1)
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"error_code": INTERNAL, "error_msg": "internal error"})),
                )
                    .into_response()
            }
        }
    }
}

fn retry_after(status: StatusCode, code: &str, message: String, seconds: u64) -> Response {
    ticketd_http::limits::json_with_retry_after(
        status,
        json!({"error_code": code, "error_msg": message}),
        seconds,
    )
}

/// The answer to a request that ran longer than the configured request timeout.
pub(crate) fn timed_out() -> Response {
    ApiError::Busy("the request took too long, please retry later").into_response()
}

/// The answer to a request whose handler panicked (`ticketd_http::panics`): an internal error.
pub(crate) fn panicked(cause: String) -> Response {
    ApiError::Internal(cause).into_response()
}

/// The answer to an unknown path or method under the dialect's prefix.
pub(crate) async fn no_such_api() -> ApiError {
    ApiError::no_such_api()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_onto_the_documented_codes() {
        let code = |e: DomainError| match ApiError::from(e) {
            ApiError::Wire { status, code, .. } => (status.as_u16(), code),
            ApiError::Throttled(_) => (429, THROTTLED),
            ApiError::Busy(_) => (503, BUSY),
            ApiError::Internal(_) => (500, INTERNAL),
        };
        assert_eq!(code(DomainError::ticket_not_found("x")), (404, NOT_FOUND));
        assert_eq!(
            code(DomainError::Forbidden {
                action: "approve".into()
            }),
            (403, NOT_ALLOWED)
        );
        assert_eq!(
            code(DomainError::InvalidTransition {
                action: "approve",
                state: "approved",
                conflict: ConflictKind::AlreadyProcessed
            }),
            (409, WRONG_STATE)
        );
        assert_eq!(
            code(DomainError::invalid("approver", "invalid", "nope")),
            (400, VALIDATION)
        );
        assert_eq!(code(DomainError::Unauthenticated), (401, AUTH_FAILED));
        assert_eq!(
            code(DomainError::Store(StoreError::Unavailable("full".into()))),
            (503, BUSY)
        );
        assert_eq!(
            code(DomainError::Store(ticketd_core::StoreError::NotFound)),
            (500, INTERNAL)
        );
    }
}
