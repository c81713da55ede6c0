//! `/api/v1/users/users/`: user administration in JumpServer's user serializer shape.

use super::roles::{display_name, org_roles_from, role_ref, system_role_from};
use super::{
    Checks, contains_ci, core_error, list_answer, method_not_allowed, object_body, page_items,
    path_id, query_bool,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{CallerInOrg, JsonBody};
use crate::format::Zone;
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono_tz::Tz;
use serde_json::{Value, json};
use ticketd_core::AdminAction;
use ticketd_core::engine::NewUserInput;
use ticketd_core::identity::{
    DEFAULT_ORG, Membership, ROLE_ORG_ADMIN, ROLE_ORG_USER, ROOT_ORG, SYSTEM_ORG, SystemRole, User,
    UserChange, valid_email,
};
use ticketd_core::{Actor, DomainError, OrgId, RoleId, UserId};
use ticketd_http::{AppState, now};
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/users/users/",
            get(list).post(create).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/users/users/invite/",
            post(invite).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/users/users/{id}/",
            get(detail)
                .put(update)
                .patch(update)
                .delete(destroy)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v1/users/users/{id}/remove/",
            post(remove_from_org).fallback(method_not_allowed),
        )
}

/// Where org roles given with a user are held: the request's organization, or Default when the
/// request is in the global or system organization (which have no members).
fn membership_org(org: OrgId) -> OrgId {
    if org == ROOT_ORG || org == SYSTEM_ORG {
        DEFAULT_ORG
    } else {
        org
    }
}

/// A user in JumpServer's user serializer shape, with the org roles held in `org`.
fn user_json(user: &User, memberships: &[Membership], org: OrgId, zone: Tz) -> Value {
    let actor = Actor {
        user: user.clone(),
        memberships: memberships
            .iter()
            .filter(|m| m.user_id == user.id && m.org_id == org)
            .copied()
            .collect(),
    };
    let mut value = crate::users::user_json(&actor, zone, Some(org));
    let org_roles: Vec<Value> = actor
        .memberships
        .iter()
        .map(|m| role_ref(m.role_id))
        .collect();
    let is_org_admin = actor.is_system_admin()
        || actor
            .memberships
            .iter()
            .any(|m| m.role_id == ROLE_ORG_ADMIN);
    if let Value::Object(object) = &mut value {
        object.insert("org_roles".into(), Value::Array(org_roles));
        object.insert("is_org_admin".into(), Value::Bool(is_org_admin));
        object.insert("labels".into(), json!([]));
        object.insert("avatar_url".into(), json!("/static/img/avatar/user.png"));
        object.insert("last_login".into(), Value::Null);
        object.insert("mfa_enabled".into(), Value::Bool(false));
        object.insert("need_update_password".into(), Value::Bool(false));
        object.insert("login_blocked".into(), Value::Bool(false));
    }
    value
}

/// The list filters of JumpServer's `UserFilter` that ticketd can answer.
struct Filters {
    id: Option<String>,
    username: Option<String>,
    email: Option<String>,
    name: Option<String>,
    search: Option<String>,
    is_active: Option<bool>,
    system_roles: Option<String>,
    org_roles: Option<String>,
}

impl Filters {
    fn from_query(query: &Query) -> Self {
        Self {
            id: query.text("id"),
            username: query.text("username"),
            email: query.text("email"),
            name: query.text("name"),
            search: query.text("search"),
            is_active: query_bool(query, "is_active"),
            system_roles: query.text("system_roles"),
            org_roles: query.text("org_roles"),
        }
    }

    fn matches(&self, user: &User, memberships: &[Membership]) -> bool {
        let exact =
            |wanted: &Option<String>, actual: &str| wanted.as_ref().is_none_or(|w| w == actual);
        let role_matches = |wanted: &str, role: RoleId| {
            wanted.eq_ignore_ascii_case(&role.to_string())
                || wanted.eq_ignore_ascii_case(&display_name(role))
        };
        exact(&self.id, &user.id.to_string())
            && exact(&self.username, &user.username)
            && exact(&self.email, &user.email)
            && exact(&self.name, &user.name)
            && self.search.as_ref().is_none_or(|s| {
                contains_ci(&user.username, s)
                    || contains_ci(&user.email, s)
                    || contains_ci(&user.name, s)
            })
            && self.is_active.is_none_or(|a| user.is_active == a)
            && self
                .system_roles
                .as_ref()
                .is_none_or(|r| role_matches(r, user.system_role.role_id()))
            && self.org_roles.as_ref().is_none_or(|r| {
                memberships
                    .iter()
                    .any(|m| m.user_id == user.id && role_matches(r, m.role_id))
            })
    }
}

/// `order` as DRF's ordering filter reads it: comma-separated fields, each descending with a
/// leading `-`, unknown ones ignored; the username decides last (the list comes by username).
/// Until 2026-12-07 it was ignored.
fn sort_users(users: &mut [User], query: &Query) {
    let keys: Vec<(String, bool)> = query
        .parts("order")
        .into_iter()
        .map(|key| match key.strip_prefix('-') {
            Some(field) => (field.to_owned(), true),
            None => (key, false),
        })
        .filter(|(field, _)| {
            matches!(
                field.as_str(),
                "username" | "name" | "email" | "date_joined" | "is_active"
            )
        })
        .collect();
    if keys.is_empty() {
        return;
    }
    users.sort_by(|a, b| {
        keys.iter()
            .map(|(field, descending)| {
                let order = match field.as_str() {
                    "name" => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                    "email" => a.email.to_lowercase().cmp(&b.email.to_lowercase()),
                    "date_joined" => a.created_at.cmp(&b.created_at),
                    "is_active" => a.is_active.cmp(&b.is_active),
                    _ => a.username.cmp(&b.username),
                };
                if *descending { order.reverse() } else { order }
            })
            .find(|order| order.is_ne())
            .unwrap_or_else(|| a.username.cmp(&b.username))
    });
}

async fn list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    caller.may_view_directory("users")?;
    let users = state
        .engine
        .users(&caller.actor, Some(caller.org.id))
        .await?;
    let org = membership_org(caller.org.id);
    let memberships = state.engine.members(&caller.actor, org).await?;
    let filters = Filters::from_query(&query);
    let mut matching: Vec<User> = users
        .into_iter()
        .filter(|u| filters.matches(u, &memberships))
        .collect();
    sort_users(&mut matching, &query);
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = matching.len();
    let rows = page_items(matching, page)
        .iter()
        .map(|u| user_json(u, &memberships, org, zone))
        .collect();
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// A user of the request's organization, as its list shows them (or the caller): JumpServer's
/// users are the organization's members, so another organization's member is not found here,
/// even by a caller who shares another organization with them.
async fn org_user(state: &AppState, caller: &CallerInOrg, id: UserId) -> Result<User, ApiError> {
    state
        .engine
        .get_user_in(&caller.actor, Some(caller.org.id), id)
        .await
        .map_err(core_error("User"))
}

async fn detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.may_view_directory("users")?;
    let id = UserId(path_id(&raw, "User")?);
    let user = org_user(&state, &caller, id).await?;
    let org = membership_org(caller.org.id);
    let memberships = state.engine.members(&caller.actor, org).await?;
    Ok(Json(user_json(&user, &memberships, org, zone)))
}

/// The fields of a create or update body, validated; `None` means "not given".
struct UserFields {
    username: Option<String>,
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    system_role: Option<SystemRole>,
    org_roles: Option<Vec<RoleId>>,
    is_active: Option<bool>,
}

/// Reads a user body; with `required`, `username`, `name` and `email` must be present (POST and
/// PUT), otherwise every field is optional (PATCH).
fn read_user_fields(body: &Value, required: bool) -> Result<UserFields, ApiError> {
    object_body(body)?;
    let mut checks = Checks::default();
    let username = checks.text(body, "username", required);
    let name = checks.text(body, "name", required);
    let email = checks.text(body, "email", required);
    if email.as_deref().is_some_and(|e| !valid_email(e)) {
        checks.push("email", "Enter a valid email address.");
    }
    // Passwords are taken as sent: surrounding spaces may be part of them.
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            checks.push("password", "Not a valid string.");
            None
        }
    };
    let strategy = checks.optional_text(body, "password_strategy");
    if strategy.as_deref() == Some("custom") && password.is_none() && required {
        checks.push("password", "This field is required.");
    }
    let system_role =
        checks
            .optional_ids(body, "system_roles")
            .and_then(|ids| match system_role_from(&ids) {
                Ok(role) => Some(role),
                Err(message) => {
                    checks.push("system_roles", message);
                    None
                }
            });
    let org_roles =
        checks
            .optional_ids(body, "org_roles")
            .and_then(|ids| match org_roles_from(&ids) {
                Ok(roles) => Some(roles),
                Err(message) => {
                    checks.push("org_roles", message);
                    None
                }
            });
    let is_active = checks.optional_bool(body, "is_active");
    checks.finish()?;
    Ok(UserFields {
        username,
        name,
        email,
        password,
        system_role,
        org_roles,
        is_active,
    })
}

/// A taken username is a field error on `username`, as Django's unique check reports it.
fn username_taken(error: DomainError) -> ApiError {
    match error {
        DomainError::Conflict(_) => {
            ApiError::field("username", "User with this username already exists.")
        }
        other => core_error("User")(other),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // As DRF: a caller who may not create users learns nothing of what the body lacks.
    caller.actor.may(AdminAction::CreateUser)?;
    let fields = read_user_fields(&body, true)?;
    let org = membership_org(caller.org.id);
    let roles = fields
        .org_roles
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| vec![ROLE_ORG_USER]);
    let input = NewUserInput {
        username: fields.username.unwrap_or_default(),
        name: fields.name.unwrap_or_default(),
        email: fields.email.unwrap_or_default(),
        system_role: fields.system_role.unwrap_or(SystemRole::User),
        password: fields.password,
        orgs: roles.iter().map(|r| (org, *r)).collect(),
    };
    let mut user = state
        .engine
        .create_user(Some(&caller.actor), input, now())
        .await
        .map_err(username_taken)?;
    if fields.is_active == Some(false) {
        let inactive = UserChange {
            is_active: Some(false),
            ..UserChange::default()
        };
        user = state
            .engine
            .update_user(&caller.actor, user.id, inactive, now())
            .await
            .map_err(core_error("User"))?;
    }
    let memberships: Vec<Membership> = roles
        .iter()
        .map(|role| Membership {
            org_id: org,
            user_id: user.id,
            role_id: *role,
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(user_json(&user, &memberships, org, zone)),
    ))
}

/// `PUT` (every required field) and `PATCH` (only what is sent): profile fields through
/// `update_user`, the password through `set_password`, org roles in the request's organization
/// through the membership use cases.
async fn update(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    method: Method,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    // `PUT` sends every required field, `PATCH` only what changes.
    let partial = method == Method::PATCH;
    let id = UserId(path_id(&raw, "User")?);
    // As the detail: a body that changes nothing answers the user, so another user's answer
    // needs the right to read it (a plain member read a co-member's through `PATCH {}`).
    if id != caller.actor.id() {
        caller.may_view_directory("users")?;
    }
    let stored = org_user(&state, &caller, id).await?;
    let fields = read_user_fields(&body, !partial)?;
    let org = membership_org(caller.org.id);
    let held: Vec<RoleId> = state
        .engine
        .members(&caller.actor, org)
        .await?
        .into_iter()
        .filter(|m| m.user_id == id)
        .map(|m| m.role_id)
        .collect();
    let roles_change = fields
        .org_roles
        .filter(|wanted| wanted.len() != held.len() || wanted.iter().any(|r| !held.contains(r)));
    // Refused role changes must not leave the profile half-updated: ask the core's rule before
    // writing anything (the membership use cases check it again).
    if roles_change.is_some() {
        caller.actor.may(AdminAction::ManageMembers(org))?;
    }
    if fields.password.is_some() {
        caller.actor.may(AdminAction::SetPassword)?;
    }
    // Only the fields sent, of which the core writes those that differ from what it reads: an
    // organization admin changes a member's org roles with the unchanged profile fields that
    // clients send along, and a field not sent cannot undo a concurrent change of it.
    let change = UserChange {
        username: fields.username,
        name: fields.name,
        email: fields.email,
        system_role: fields.system_role,
        is_active: fields.is_active,
    };
    let user = if change.is_empty() {
        stored
    } else {
        state
            .engine
            .update_user(&caller.actor, id, change, now())
            .await
            .map_err(username_taken)?
    };
    if let Some(password) = &fields.password {
        state
            .engine
            .set_password(Some(&caller.actor), id, password)
            .await
            .map_err(core_error("User"))?;
    }
    if let Some(roles) = roles_change {
        state
            .engine
            .set_member_roles(&caller.actor, org, id, &roles, now())
            .await
            .map_err(core_error("User"))?;
    }
    let memberships = state.engine.members(&caller.actor, org).await?;
    Ok(Json(user_json(&user, &memberships, org, zone)))
}

async fn destroy(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = UserId(path_id(&raw, "User")?);
    org_user(&state, &caller, id).await?;
    state
        .engine
        .delete_user(&caller.actor, id, now())
        .await
        .map_err(core_error("User"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST {id}/remove/`: takes the user out of the request's organization (not a deletion).
async fn remove_from_org(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = UserId(path_id(&raw, "User")?);
    org_user(&state, &caller, id).await?;
    state
        .engine
        .remove_member(&caller.actor, membership_org(caller.org.id), id, now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST invite/` with `{"users": [...], "org_roles": [...]}`: adds existing users to the
/// request's organization with those roles.
async fn invite(
    State(state): State<AppState>,
    caller: CallerInOrg,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller
        .actor
        .may(AdminAction::ManageMembers(membership_org(caller.org.id)))?;
    object_body(&body)?;
    let mut checks = Checks::default();
    let users = checks.optional_ids(&body, "users");
    let roles = checks.optional_ids(&body, "org_roles");
    if body.get("users").is_none() {
        checks.push("users", "This field is required.");
    }
    if body.get("org_roles").is_none() {
        checks.push("org_roles", "This field is required.");
    }
    let roles = roles.and_then(|ids| match org_roles_from(&ids) {
        Ok(roles) => Some(roles),
        Err(message) => {
            checks.push("org_roles", message);
            None
        }
    });
    checks.finish()?;
    let (users, roles) = (users.unwrap_or_default(), roles.unwrap_or_default());
    let org = membership_org(caller.org.id);
    for user in &users {
        if let Err(error) = state.engine.get_user(&caller.actor, UserId(*user)).await {
            return Err(match error {
                DomainError::NotFound { .. } => {
                    ApiError::field("users", crate::format::invalid_pk(user))
                }
                other => other.into(),
            });
        }
    }
    for user in &users {
        for role in &roles {
            state
                .engine
                .add_member(Some(&caller.actor), org, UserId(*user), *role)
                .await
                .map_err(core_error("User"))?;
        }
    }
    let ids = |list: Vec<Uuid>| list.iter().map(Uuid::to_string).collect::<Vec<_>>();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "users": ids(users),
            "org_roles": roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_report_missing_and_mistyped_fields_together() {
        let Err(ApiError::Fields(errors)) = read_user_fields(
            &json!({"username": 3, "system_roles": "x", "is_active": "maybe"}),
            true,
        ) else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["username", "name", "email", "system_roles", "is_active"]
        );
        let partial = read_user_fields(&json!({"name": "Bob"}), false).unwrap();
        assert_eq!(partial.name.as_deref(), Some("Bob"));
        assert!(partial.username.is_none());
    }
}
