//! Extractors: the authenticated caller, the requested organization, and bounded JSON bodies.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;
use ticketd_core::Actor;
use ticketd_core::identity::Org;
use ticketd_http::AppState;
use ticketd_http::auth::{authenticate, requested_org};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let actor = authenticate(state, parts).await?;
        let caller = Caller(actor);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The caller plus the organization named by `oid` / `X-JMS-ORG` (Default when absent).
#[derive(Debug, Clone)]
pub(crate) struct CallerInOrg {
    pub(crate) actor: Actor,
    #[allow(
        dead_code,
        reason = "used by the ticket routes of the JumpServer issue"
    )]
    pub(crate) org: Org,
}

impl FromRequestParts<AppState> for CallerInOrg {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(actor) = Caller::from_request_parts(parts, state).await?;
        let raw = requested_org(parts).unwrap_or_default();
        let org = org_for(state, &actor, &raw).await?;
        Ok(Self { actor, org })
    }
}

/// The organization `raw` names (an id, a name, an alias; empty: Default) if the actor may enter
/// it; an unknown one is JumpServer's 400 `org_not_found`.
pub(crate) async fn org_for(state: &AppState, actor: &Actor, raw: &str) -> Result<Org, ApiError> {
    match state.engine.resolve_org(actor, raw).await {
        Ok(org) => Ok(org),
        Err(ticketd_core::DomainError::NotFound { .. }) => Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!("The organization `{raw}` does not exist"),
            "org_not_found",
        )),
        Err(other) => Err(other.into()),
    }
}

/// A JSON body parsed within the size and depth limits (an empty body is `null`).
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::detail(status, "Request body is too large.", "request_too_large")
                } else {
                    ApiError::detail(
                        StatusCode::BAD_REQUEST,
                        rejection.body_text(),
                        "parse_error",
                    )
                }
            })?;
        let value = ticketd_http::json::parse_body(&bytes, state.settings.json_max_depth)?;
        Ok(Self(value))
    }
}

/// Reads a required, non-blank string field; collects errors DRF-style.
pub(crate) fn required_str(
    body: &Value,
    field: &str,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match body.get(field) {
        None | Some(Value::Null) => {
            errors.push((field.into(), "This field is required.".into()));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push((field.into(), "This field may not be blank.".into()));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push((field.into(), "Not a valid string.".into()));
            None
        }
    }
}
