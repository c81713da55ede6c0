//! Identity routes: the caller's profile and password login returning a Bearer token.

use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, org_for, required_str};
use crate::format::{Zone, datetime};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use ticketd_core::Actor;
use ticketd_core::credentials::PasswordForm;
use ticketd_http::{AppState, now};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/profile/", get(profile))
        .route("/api/v1/authentication/auth/", post(login))
        .route("/api/v1/authentication/tokens/", post(login))
}

fn role_display(role: ticketd_core::identity::SystemRole) -> &'static str {
    match role {
        ticketd_core::identity::SystemRole::Admin => "SystemAdmin",
        ticketd_core::identity::SystemRole::Auditor => "SystemAuditor",
        ticketd_core::identity::SystemRole::User => "User",
    }
}

pub(crate) fn user_json(
    actor: &Actor,
    zone: chrono_tz::Tz,
    org: Option<ticketd_core::OrgId>,
) -> Value {
    let user = &actor.user;
    let org_roles: Vec<Value> = actor
        .memberships
        .iter()
        .filter(|m| org.is_none_or(|o| o == m.org_id))
        .map(|m| json!({"id": m.role_id.to_string(), "org_id": m.org_id.to_string()}))
        .collect();
    json!({
        "id": user.id.to_string(),
        "name": user.name,
        "username": user.username,
        "email": user.email,
        "wechat": "",
        "phone": null,
        "mfa_level": {"value": 0, "label": "Disabled"},
        "source": {"value": "local", "label": "Local"},
        "groups": [],
        "system_roles": [{"id": user.system_role.role_id().to_string(), "display_name": role_display(user.system_role)}],
        "org_roles": org_roles,
        "is_superuser": actor.is_system_admin(),
        "is_service_account": false,
        "is_valid": user.is_active,
        "is_expired": false,
        "is_active": user.is_active,
        "date_joined": datetime(user.created_at, zone),
        "date_updated": datetime(user.updated_at, zone),
        "created_by": "System",
        "comment": "",
    })
}

/// The caller's profile. It belongs to no organization: without an `oid`/`X-JMS-ORG` it answers
/// any authenticated user, with their roles in every organization, as JumpServer does (org-scoped
/// routes refuse a user who is not a member of Default); a named organization is still resolved
/// and checked, and only its roles shown.
async fn profile(
    State(state): State<AppState>,
    Caller(actor): Caller,
    parts: axum::http::request::Parts,
    Zone(zone): Zone,
) -> Result<Json<Value>, ApiError> {
    let org = match ticketd_http::auth::requested_org(&parts).filter(|raw| !raw.trim().is_empty()) {
        Some(raw) => Some(org_for(&state, &actor, &raw).await?.id),
        None => None,
    };
    Ok(Json(user_json(&actor, zone, org)))
}

async fn login(
    State(state): State<AppState>,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    crate::format::object_body(&body)?;
    let mut errors = Vec::new();
    let username = required_str(&body, "username", &mut errors);
    let password = required_str(&body, "password", &mut errors);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Fields(errors));
    };
    ticketd_http::auth::admit_login(&state, &username)?;
    let (actor, token, expires) = state
        .engine
        .login(&username, PasswordForm::Plain, &password, now())
        .await
        .map_err(|e| match e {
            ticketd_core::DomainError::Unauthenticated => ApiError::detail(
                axum::http::StatusCode::BAD_REQUEST,
                "The username or password you entered is incorrect, please enter it again.",
                "password_failed",
            ),
            other => other.into(),
        })?;
    Ok(Json(json!({
        "token": token,
        "keyword": "Bearer",
        "date_expired": datetime(expires, zone),
        "user": user_json(&actor, zone, None),
    })))
}
