//! TopHC's answer envelope `{scode, desc, message, message_cn, stack, data}` and this dialect's scode table.
//!
//! TopHC answers HTTP 200 whether a call succeeds or fails; only an unknown route is a 404 (and a
//! body over the configured limit a 413, as everywhere in ticketd). The outcome is in `scode`:
//! 0 is success, anything else an error. TopHC's public documents name no ticket-module codes, so
//! the 26xxx block below is ticketd's own; 10000 and 10001 are TopHC's platform-wide codes.
//!
//! | scode | message | message_cn | when |
//! |---|---|---|---|
//! | 0 | success | 成功 | the call (or the batch item) succeeded |
//! | 10000 | Manager server error | 服务器出错 | an internal failure (logged; the cause is not sent) |
//! | 10001 | Parse parameter error: %s | 参数解析出错: %s | a body that is not JSON (nor one of the relaxed forms the documents show), a missing or mistyped parameter, a malformed id, a body over the size limit (HTTP 413) |
//! | 10002 | Authentication failed: the token is missing, invalid or expired | 认证失败：令牌缺失、无效或已过期 | no `Authorization` header, an unknown scheme, an unknown, expired or revoked token, an inactive user |
//! | 10003 | Login failed: wrong tenant, user name or password | 登录失败：租户、用户名或密码错误 | `/v1/authentication/login` refused |
//! | 10004 | Route not found | 路由不存在 | an unknown path or method under `/v1/ticket/` or `/v1/authentication/` (HTTP 404) |
//! | 10005 | Too many requests, retry in N seconds | 请求过于频繁，请 N 秒后重试 | over the per-user request rate or the per-account login rate (HTTP 429 with `Retry-After`) |
//! | 10006 | Service busy, please retry later | 服务繁忙，请稍后重试 | the store is saturated, or the request took longer than the request timeout (HTTP 503 with `Retry-After`) |
//! | 26001 | Ticket not found | 工单不存在 | the ticket does not exist, is deleted, or is not visible to the caller |
//! | 26002 | The ticket's state does not allow this action | 工单当前状态不允许该操作 | e.g. passing a ticket that is already passed, or whose step was decided since it was read (the loser of two approvers racing), archiving a pending one, confirming twice |
//! | 26003 | Not your ticket | 不是您的工单 | an applicant-only action (submit, resubmit, withdraw, confirm, save, archive, delete) by someone else |
//! | 26004 | Not an approver of the current step | 您不是当前审批步骤的审批人 | `pass` / `overrule` by a user who is not an assignee of the ticket's current step nor of a decided one (an approver of a later step, or nobody's) |
//! | 26005 | Process not found | 流程不存在 | an unknown `process_uuid`, or one not available to the ticket's tenant |
//! | 26006 | Process in use | 流程正在使用中 | updating or deleting a process that a saved or pending ticket uses |
//! | 26007 | Validation failed: %s | 参数校验失败: %s | a well-formed parameter with an invalid value (blank name, unknown role, duplicate process name, …) |
//! | 26008 | Permission denied | 没有权限 | managing processes of a tenant one does not administer, entering a foreign tenant, submitting or saving a ticket of a tenant one has left |
//! | 26009 | Tenant not found | 租户不存在 | a `tenant_uuid` / `tenant` that names no tenant |

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use ticketd_core::{ConflictKind, DomainError, FieldError, StoreError};
use ticketd_http::auth::AuthError;
use ticketd_http::json::JsonBodyError;

/// One row of the scode table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scode {
    /// 0.
    Success,
    /// 10000.
    Internal,
    /// 10001.
    Parse,
    /// 10002.
    Unauthenticated,
    /// 10003.
    LoginFailed,
    /// 10004.
    RouteNotFound,
    /// 10005.
    Throttled,
    /// 10006.
    Busy,
    /// 26001.
    TicketNotFound,
    /// 26002.
    StateNotAllowed,
    /// 26003.
    NotYourTicket,
    /// 26004.
    NotApprover,
    /// 26005.
    ProcessNotFound,
    /// 26006.
    ProcessInUse,
    /// 26007.
    Validation,
    /// 26008.
    PermissionDenied,
    /// 26009.
    TenantNotFound,
}

impl Scode {
    /// The number sent as `scode`.
    pub fn code(self) -> i64 {
        match self {
            Self::Success => 0,
            Self::Internal => 10000,
            Self::Parse => 10001,
            Self::Unauthenticated => 10002,
            Self::LoginFailed => 10003,
            Self::RouteNotFound => 10004,
            Self::Throttled => 10005,
            Self::Busy => 10006,
            Self::TicketNotFound => 26001,
            Self::StateNotAllowed => 26002,
            Self::NotYourTicket => 26003,
            Self::NotApprover => 26004,
            Self::ProcessNotFound => 26005,
            Self::ProcessInUse => 26006,
            Self::Validation => 26007,
            Self::PermissionDenied => 26008,
            Self::TenantNotFound => 26009,
        }
    }

    /// English and Chinese messages; `%s` codes are completed with the detail.
    fn messages(self, detail: &str) -> (String, String) {
        let fixed = |en: &str, cn: &str| (en.to_owned(), cn.to_owned());
        match self {
            Self::Success => fixed("success", "成功"),
            Self::Internal => fixed("Manager server error", "服务器出错"),
            Self::Parse => (
                format!("Parse parameter error: {detail}"),
                format!("参数解析出错: {detail}"),
            ),
            Self::Unauthenticated => fixed(
                "Authentication failed: the token is missing, invalid or expired",
                "认证失败：令牌缺失、无效或已过期",
            ),
            Self::LoginFailed => fixed(
                "Login failed: wrong tenant, user name or password",
                "登录失败：租户、用户名或密码错误",
            ),
            Self::RouteNotFound => fixed("Route not found", "路由不存在"),
            Self::Throttled => (
                format!("Too many requests, retry in {detail} seconds"),
                format!("请求过于频繁，请 {detail} 秒后重试"),
            ),
            Self::Busy => fixed("Service busy, please retry later", "服务繁忙，请稍后重试"),
            Self::TicketNotFound => fixed("Ticket not found", "工单不存在"),
            Self::StateNotAllowed => fixed(
                "The ticket's state does not allow this action",
                "工单当前状态不允许该操作",
            ),
            Self::NotYourTicket => fixed("Not your ticket", "不是您的工单"),
            Self::NotApprover => fixed(
                "Not an approver of the current step",
                "您不是当前审批步骤的审批人",
            ),
            Self::ProcessNotFound => fixed("Process not found", "流程不存在"),
            Self::ProcessInUse => fixed("Process in use", "流程正在使用中"),
            Self::Validation => (
                format!("Validation failed: {detail}"),
                format!("参数校验失败: {detail}"),
            ),
            Self::PermissionDenied => fixed("Permission denied", "没有权限"),
            Self::TenantNotFound => fixed("Tenant not found", "租户不存在"),
        }
    }
}

/// The envelope of a success carrying `data`.
pub fn success(data: Value) -> Value {
    json!({
        "scode": 0,
        "desc": "",
        "message": "success",
        "message_cn": "成功",
        "stack": null,
        "data": data,
    })
}

/// A successful answer: HTTP 200 with `data` in the envelope.
#[derive(Debug)]
pub struct Reply(pub Value);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(success(self.0))).into_response()
    }
}

/// A failed call or batch item.
#[derive(Debug)]
pub struct ApiError {
    /// Which row of the table.
    pub scode: Scode,
    /// Details: the offending parameter, the core's message, the id concerned.
    pub desc: String,
    /// HTTP status (200 except for unknown routes, oversized bodies, throttling and overload).
    pub status: StatusCode,
    /// Seconds for `Retry-After` (throttling and overload only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error answered with HTTP 200.
    pub fn new(scode: Scode, desc: impl Into<String>) -> Self {
        Self {
            scode,
            desc: desc.into(),
            status: StatusCode::OK,
            retry_after: None,
        }
    }

    /// 10005 with HTTP 429: retry after `seconds`.
    pub fn throttled(seconds: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(seconds),
            ..Self::new(Scode::Throttled, seconds.to_string())
        }
    }

    /// 10006 with HTTP 503: retry after a second.
    pub fn busy(desc: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(1),
            ..Self::new(Scode::Busy, desc)
        }
    }

    /// 10001 with what could not be parsed.
    pub fn parse(desc: impl Into<String>) -> Self {
        Self::new(Scode::Parse, desc)
    }

    /// 26007 with what is invalid.
    pub fn invalid(desc: impl Into<String>) -> Self {
        Self::new(Scode::Validation, desc)
    }

    /// The envelope of this error; `data` echoes the identifiers of a batch item (else null).
    pub fn envelope(&self, data: Value) -> Value {
        let (message, message_cn) = self.scode.messages(&self.desc);
        let code = self.scode.code();
        json!({
            "scode": code,
            "desc": self.desc,
            "message": message,
            "message_cn": message_cn,
            "stack": [format!("module:ticketd-api-tophc,code:{code}")],
            "data": data,
        })
    }

    fn internal(cause: String) -> Self {
        // Logged once here; the client gets the opaque 10000.
        tracing::error!(%cause, "internal error");
        Self::new(Scode::Internal, "")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.envelope(Value::Null);
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
    ApiError::busy("the request took too long").into_response()
}

/// The answer to a request whose handler panicked (`ticketd_http::panics`): an internal error.
pub(crate) fn panicked(cause: String) -> Response {
    ApiError::internal(cause).into_response()
}

/// TopHC's names for the core's field names.
fn wire_field(field: &str) -> String {
    let (head, tail) = match field.find(['.', '[']) {
        Some(at) => field.split_at(at),
        None => (field, ""),
    };
    let head = match head {
        "title" => "ticket_name",
        "comment" => "reason",
        "kind" => "type",
        "id" => "ticket_uuid",
        "name" => "process_name",
        "levels" => "approval_list",
        "flow" | "flow_id" => "process_uuid",
        "org" | "org_id" => "tenant_uuid",
        other => other,
    };
    // `levels[1].selector` is entry 1 of approval_list: the selector is ticketd's own detail.
    let tail = tail.strip_suffix(".selector").unwrap_or(tail);
    format!("{head}{tail}")
}

fn describe(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", wire_field(&f.field), f.message))
        .collect();
    parts.join("; ")
}

/// The state-machine action names whose refusal means "only the applicant may do this".
const APPLICANT_ACTIONS: &[&str] = &[
    "submit", "resubmit", "withdraw", "close", "confirm", "archive", "delete", "edit", "save",
];

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let desc = error.to_string();
        match error {
            DomainError::NotFound { kind, .. } => Self::new(
                match kind {
                    "ticket" => Scode::TicketNotFound,
                    "flow" => Scode::ProcessNotFound,
                    "organization" => Scode::TenantNotFound,
                    "user" => Scode::Validation,
                    _ => Scode::TicketNotFound,
                },
                desc,
            ),
            DomainError::Unauthenticated => Self::new(Scode::Unauthenticated, desc),
            DomainError::Forbidden { action } => {
                let scode = if action == "approve" || action == "reject" {
                    Scode::NotApprover
                } else if APPLICANT_ACTIONS.contains(&action.as_str()) {
                    Scode::NotYourTicket
                } else {
                    Scode::PermissionDenied
                };
                Self::new(scode, desc)
            }
            DomainError::InvalidTransition { conflict, .. } => {
                let desc = match conflict {
                    ConflictKind::Busy => "the ticket is busy, try again".to_owned(),
                    // The state may not have changed (a level decided, the next one pending):
                    // "cannot pass a ticket that is pending" told a race's loser nothing.
                    ConflictKind::StateChanged => {
                        "the ticket moved on since it was read: its step was decided".to_owned()
                    }
                    _ => desc,
                };
                Self::new(Scode::StateNotAllowed, desc)
            }
            DomainError::Validation(fields) => {
                let unknown_flow = fields.iter().any(|f| {
                    matches!(f.field.as_str(), "flow" | "flow_id")
                        && matches!(f.code, "not_found" | "invalid")
                });
                if unknown_flow {
                    Self::new(Scode::ProcessNotFound, describe(&fields))
                } else {
                    Self::invalid(describe(&fields))
                }
            }
            DomainError::Conflict(message) => Self::invalid(message),
            DomainError::Store(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, "store unavailable");
                Self::busy("the store is busy")
            }
            DomainError::Store(store) => {
                Self::internal(format!("{store}: {:?}", std::error::Error::source(&store)))
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Internal(inner) => Self::from(inner),
            AuthError::Throttled(throttled) => Self::throttled(throttled.retry_after_secs),
            // TopHC's own words; `AuthError::message` is DRF's, which JumpServer clients read.
            AuthError::Missing => Self::new(
                Scode::Unauthenticated,
                "send the login token as Authorization: Bearer <token>",
            ),
            AuthError::MalformedToken => Self::new(
                Scode::Unauthenticated,
                "the Authorization header is malformed",
            ),
            AuthError::InvalidToken => Self::new(
                Scode::Unauthenticated,
                "the token is unknown, expired or logged out",
            ),
            other => Self::new(Scode::Unauthenticated, other.message()),
        }
    }
}

impl From<JsonBodyError> for ApiError {
    fn from(error: JsonBodyError) -> Self {
        let too_large = matches!(error, JsonBodyError::BodyTooLarge(_));
        let mut parsed = Self::parse(error.to_string());
        if too_large {
            parsed.too_large();
        }
        parsed
    }
}

impl ApiError {
    /// Makes a parse error the answer to a body over `body_limit_bytes`, read or declared.
    pub(crate) fn too_large(&mut self) {
        "the request body is too large".clone_into(&mut self.desc);
        self.status = StatusCode::PAYLOAD_TOO_LARGE;
    }
}

/// The 404 of unknown routes (and of known paths called with a method they do not serve,
/// as TopHC's Go router answers them).
pub async fn route_not_found(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> ApiError {
    // The original URI: inside a nested router the path has lost its prefix.
    ApiError {
        status: StatusCode::NOT_FOUND,
        ..ApiError::new(Scode::RouteNotFound, format!("{method} {}", uri.path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_field_names_are_reported_under_tophc_names() {
        assert_eq!(wire_field("title"), "ticket_name");
        assert_eq!(wire_field("levels[2].selector"), "approval_list[2]");
        assert_eq!(wire_field("name"), "process_name");
        assert_eq!(wire_field("something"), "something");
    }

    #[test]
    fn forbidden_decisions_and_applicant_actions_get_their_own_codes() {
        let forbid = |action: &str| {
            ApiError::from(DomainError::Forbidden {
                action: action.into(),
            })
            .scode
        };
        assert_eq!(forbid("approve"), Scode::NotApprover);
        assert_eq!(forbid("withdraw"), Scode::NotYourTicket);
        assert_eq!(forbid("manage flows"), Scode::PermissionDenied);
    }

    #[test]
    fn error_envelopes_carry_both_messages_and_a_stack() {
        let envelope = ApiError::parse("list is required").envelope(Value::Null);
        assert_eq!(envelope["scode"], 10001);
        assert_eq!(
            envelope["message"],
            "Parse parameter error: list is required"
        );
        assert_eq!(envelope["message_cn"], "参数解析出错: list is required");
        assert!(envelope["stack"].is_array());
        assert_eq!(success(Value::Null)["stack"], Value::Null);
    }
}
