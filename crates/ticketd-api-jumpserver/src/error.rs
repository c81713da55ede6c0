//! JumpServer's error format: `{"detail","code"}`, DRF field maps for validation, and status codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use ticketd_core::{ConflictKind, DomainError, FieldError, StoreError};
use ticketd_http::auth::AuthError;
use ticketd_http::json::JsonBodyError;

/// An error answered in JumpServer's shapes.
#[derive(Debug)]
pub enum ApiError {
    /// `{"detail","code"}` with a status.
    Detail {
        /// HTTP status.
        status: StatusCode,
        /// Message.
        detail: String,
        /// Stable code.
        code: &'static str,
    },
    /// A DRF validation map: `{"field": ["message"]}`.
    Fields(Vec<(String, String)>),
    /// 401 with `WWW-Authenticate`.
    Unauthenticated(&'static str, &'static str),
    /// 429 with `Retry-After` (seconds), as DRF's throttling answers.
    Throttled(u64),
    /// 503 with `Retry-After: 1`: the store is saturated or the request ran out of time.
    Unavailable(&'static str),
    /// An internal failure: logged once here, opaque to the client.
    Internal(String),
}

impl ApiError {
    /// 400 with one field message.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::Fields(vec![(name.to_owned(), message.into())])
    }

    /// A `{"detail","code"}` error.
    pub fn detail(status: StatusCode, detail: impl Into<String>, code: &'static str) -> Self {
        Self::Detail {
            status,
            detail: detail.into(),
            code,
        }
    }

    /// 404 for an object of JumpServer model `model`.
    /// 413 for a body over `body_limit_bytes`, read or declared.
    pub(crate) fn body_too_large() -> Self {
        Self::detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large.",
            "request_too_large",
        )
    }

    pub fn not_found(model: &str) -> Self {
        Self::detail(
            StatusCode::NOT_FOUND,
            format!("{model} object does not exist."),
            "object_does_not_exist",
        )
    }
}

/// A core message (lowercase) with its first letter capitalised.
pub(crate) fn capitalize(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The starts of the core's messages that JumpServer words without a period: "Please select a
/// ticket flow", "The selected ticket flow is not available", "The ticket flow `x` does not
/// exist".
const JUMPSERVER_UNPUNCTUATED: [&str; 3] = [
    "please select a ticket flow",
    "the selected ticket flow is not available",
    "the ticket flow `",
];

/// A core message (lowercase, no period) in DRF's sentence style.
pub(crate) fn sentence(message: &str) -> String {
    let mut out = capitalize(message);
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Maps core field names onto JumpServer's.
fn wire_field(field: &str) -> String {
    match field {
        "date_expired" => "apply_date_expired".into(),
        "date_start" => "apply_date_start".into(),
        "accounts" => "apply_accounts".into(),
        "assets" => "apply_assets".into(),
        "nodes" => "apply_nodes".into(),
        "actions" => "apply_actions".into(),
        "flow" => "non_field_errors".into(),
        other => other.split(['.', '[']).next().unwrap_or(other).to_owned(),
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound { kind, .. } => Self::not_found(match kind {
                "ticket" => "Ticket",
                "flow" => "TicketFlow",
                "user" => "User",
                "organization" => "Organization",
                "grant" => "AssetPermission",
                other => other,
            }),
            DomainError::Unauthenticated => {
                Self::Unauthenticated("Invalid token.", "authentication_failed")
            }
            DomainError::Forbidden { .. } => Self::detail(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
                "permission_denied",
            ),
            DomainError::InvalidTransition {
                conflict,
                action,
                state,
            } => match conflict {
                ConflictKind::AlreadyProcessed => Self::detail(
                    StatusCode::CONFLICT,
                    "The ticket status has changed. Please refresh the page and try again.",
                    "ticket_already_processed",
                ),
                ConflictKind::StateChanged => Self::detail(
                    StatusCode::CONFLICT,
                    "The ticket status has changed. Please refresh the page and try again.",
                    "ticket_state_changed",
                ),
                ConflictKind::NotAllowedInState => Self::detail(
                    StatusCode::CONFLICT,
                    format!("Cannot {action} a ticket that is {state}."),
                    "ticket_state_not_allowed",
                ),
                ConflictKind::Busy => {
                    Self::detail(StatusCode::CONFLICT, "Please try again", "please_try_again")
                }
            },
            DomainError::Validation(fields) => Self::Fields(
                fields
                    .into_iter()
                    .map(|FieldError { field, message, .. }| {
                        // JumpServer words its flow choice errors without a period.
                        let text = if JUMPSERVER_UNPUNCTUATED
                            .iter()
                            .any(|start| message.starts_with(start))
                        {
                            capitalize(&message)
                        } else {
                            sentence(&message)
                        };
                        (wire_field(&field), text)
                    })
                    .collect(),
            ),
            DomainError::Conflict(message) => Self::field("non_field_errors", sentence(&message)),
            DomainError::Store(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, "store unavailable");
                Self::Unavailable("The service is busy. Please try again later.")
            }
            DomainError::Store(store) => {
                Self::Internal(format!("{store}: {:?}", std::error::Error::source(&store)))
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing => Self::Unauthenticated(error.message(), "not_authenticated"),
            AuthError::Throttled(throttled) => Self::Throttled(throttled.retry_after_secs),
            AuthError::Internal(inner) => Self::from(inner),
            _ => Self::Unauthenticated(error.message(), "authentication_failed"),
        }
    }
}

impl From<JsonBodyError> for ApiError {
    fn from(error: JsonBodyError) -> Self {
        match error {
            JsonBodyError::BodyTooLarge(_) => Self::body_too_large(),
            other => Self::detail(StatusCode::BAD_REQUEST, other.to_string(), "parse_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Detail {
                status,
                detail,
                code,
            } => (status, axum::Json(json!({"detail": detail, "code": code}))).into_response(),
            Self::Fields(fields) => {
                let mut map = Map::new();
                for (field, message) in fields {
                    let entry = map.entry(field).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = entry {
                        list.push(Value::String(message));
                    }
                }
                (StatusCode::BAD_REQUEST, axum::Json(Value::Object(map))).into_response()
            }
            Self::Unauthenticated(detail, code) => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"detail": detail, "code": code})),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Signature realm="api",headers="(request-target) date""#,
                    ),
                );
                response
            }
            Self::Throttled(seconds) => ticketd_http::limits::json_with_retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "detail": format!("Request was throttled. Expected available in {seconds} seconds."),
                    "code": "throttled",
                }),
                seconds,
            ),
            Self::Unavailable(detail) => ticketd_http::limits::json_with_retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"detail": detail, "code": "service_unavailable"}),
                1,
            ),
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"detail": "Server internal error", "code": "error"})),
                )
                    .into_response()
            }
        }
    }
}

/// The answer to a request that ran longer than the configured request timeout.
pub(crate) fn timed_out() -> Response {
    ApiError::Unavailable("The request took too long. Please try again later.").into_response()
}

/// The answer to a request whose handler panicked (`ticketd_http::panics`): an internal error.
pub(crate) fn panicked(cause: String) -> Response {
    ApiError::Internal(cause).into_response()
}

/// The JSON 404 for unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::detail(StatusCode::NOT_FOUND, "Not found.", "not_found")
}

/// DRF's 405 for a method a route does not support.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
        "method_not_allowed",
    )
}
