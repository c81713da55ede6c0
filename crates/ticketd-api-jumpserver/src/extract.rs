//! Extractors: the authenticated caller, the requested organization, and bounded JSON or form bodies.

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
use ticketd_http::form;

/// A route's path variables, percent-decoded. One that does not decode to UTF-8 (`%FF`) names
/// nothing: JumpServer's JSON 404, where axum's own rejection answered 400 in plain text.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<T> FromRequestParts<AppState> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| match rejection {
                axum::extract::rejection::PathRejection::FailedToDeserializePathParams(_) => {
                    ApiError::detail(StatusCode::NOT_FOUND, "Not found.", "not_found")
                }
                // A route without the parameter its handler reads: a defect.
                other => ApiError::Internal(other.body_text()),
            })
    }
}

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
    pub(crate) org: Org,
}

impl CallerInOrg {
    /// JumpServer's view permissions on an organization's users and flows (`users.view_user`,
    /// `tickets.view_ticketflow`), which its built-in user role lacks: its org admins and
    /// auditors, and system admins and auditors, as for reading all its tickets. A plain member
    /// read every user's e-mail address and every flow's approvers until 2026-12-07.
    pub(crate) fn may_view_directory(&self, what: &str) -> Result<(), ticketd_core::DomainError> {
        if self.actor.may_read_org(self.org.id) {
            Ok(())
        } else {
            Err(ticketd_core::DomainError::Forbidden {
                action: format!("view {what}"),
            })
        }
    }
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

/// A request body within the size limit, as DRF's parsers read it: JSON within the depth limit,
/// or a URL-encoded or multipart form read into an object of strings ([`form_object`]). Any
/// other media type, or none, is read as JSON. An empty body is an empty object, as DRF reads a
/// request without a body (so a create without one names each required field); a literal
/// `null` stays `null`.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::body_too_large()
                } else {
                    ApiError::detail(
                        StatusCode::BAD_REQUEST,
                        rejection.body_text(),
                        "parse_error",
                    )
                }
            })?;
        let fields = match form::body_media(content_type.as_deref()) {
            form::BodyMedia::UrlEncoded if !form::looks_like_json(&bytes) => {
                form::urlencoded_fields(&bytes)
            }
            form::BodyMedia::Multipart(boundary) => form::multipart_fields(&bytes, boundary),
            _ if bytes.is_empty() => return Ok(Self(Value::Object(serde_json::Map::new()))),
            // DRF reads only an absent body as empty; one of blanks goes to its JSON parser,
            // which finds no value in it.
            _ if bytes.iter().all(u8::is_ascii_whitespace) => {
                let message = serde_json::from_slice::<Value>(&bytes)
                    .err()
                    .map_or_else(|| "no value".to_owned(), |error| error.to_string());
                return Err(ticketd_http::json::JsonBodyError::Syntax(message).into());
            }
            _ => {
                let value = ticketd_http::json::parse_body(&bytes, state.settings.json_max_depth)?;
                return Ok(Self(value));
            }
        };
        let fields = fields.map_err(|error| {
            ApiError::detail(StatusCode::BAD_REQUEST, error.to_string(), "parse_error")
        })?;
        let value = form_object(fields);
        if ticketd_http::json::holds_nul(&value) {
            return Err(ticketd_http::json::JsonBodyError::NulCharacter.into());
        }
        Ok(Self(value))
    }
}

/// Fields that are lists in JumpServer's serializers. A form gives every field as text; DRF
/// reads a list field's every value (`getlist`), so one value is a list of one, and any other
/// field's last value.
const FORM_LIST_FIELDS: &[&str] = &[
    "apply_assets",
    "apply_nodes",
    "apply_accounts",
    "apply_actions",
    "cc_users",
    "tickets",
    "assets",
    "nodes",
    "accounts",
    "actions",
    "users",
    "system_roles",
    "org_roles",
    "ip_group",
];

/// A form's fields as the JSON object the routes read: strings, and arrays of strings for
/// [`FORM_LIST_FIELDS`]. A form without fields is no body (`null`), as an empty JSON body is.
pub(crate) fn form_object(fields: Vec<(String, String)>) -> Value {
    if fields.is_empty() {
        return Value::Null;
    }
    let mut object = serde_json::Map::new();
    for (name, text) in fields {
        if FORM_LIST_FIELDS.contains(&name.as_str()) {
            let entry = object
                .entry(name)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(text));
            }
        } else {
            object.insert(name, Value::String(text));
        }
    }
    Value::Object(object)
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
