//! Roles and organization role bindings: `/api/v1/rbac/roles/` and `/api/v1/rbac/org-role-bindings/`.

use super::{
    Checks, contains_ci, core_error, list_answer, method_not_allowed, object_body, org_label_of,
    owning_org, page_items, path_id, query_bool,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{CallerInOrg, JsonBody};
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use ticketd_core::credentials::hmac_sha256;
use ticketd_core::identity::{Membership, ROOT_ORG, Role, RoleScope, SystemRole, User};
use ticketd_core::{AdminAction, OrgId, RoleId, UserId};
use ticketd_http::AppState;
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/rbac/roles/",
            get(list_roles).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/rbac/roles/{id}/",
            get(role_detail).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/rbac/org-role-bindings/",
            get(list_bindings)
                .post(create_bindings)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v1/rbac/org-role-bindings/{id}/",
            get(binding_detail)
                .delete(delete_binding)
                .fallback(method_not_allowed),
        )
}

/// A built-in role by id.
fn builtin(id: RoleId) -> Option<Role> {
    Role::builtins().into_iter().find(|r| r.id == id)
}

/// JumpServer's `display_name` of a role (the id when it is not a built-in one).
pub(super) fn display_name(id: RoleId) -> String {
    builtin(id).map_or_else(|| id.to_string(), |r| r.name)
}

/// A role as the user serializer lists it: `{"id","display_name"}`.
pub(super) fn role_ref(id: RoleId) -> Value {
    json!({"id": id.to_string(), "display_name": display_name(id)})
}

/// The one system role a list of system role ids means: the most powerful of them (ticketd
/// holds one system role per user); an empty list means an ordinary user.
pub(super) fn system_role_from(ids: &[Uuid]) -> Result<SystemRole, String> {
    let mut best = SystemRole::User;
    for id in ids {
        let role =
            SystemRole::parse(&id.to_string()).ok_or_else(|| crate::format::invalid_pk(*id))?;
        let rank = |r: SystemRole| match r {
            SystemRole::Admin => 2,
            SystemRole::Auditor => 1,
            SystemRole::User => 0,
        };
        if rank(role) > rank(best) {
            best = role;
        }
    }
    Ok(best)
}

/// Organization role ids, each of which must be a built-in organization role (checked before
/// any write so that a bad id never leaves a half-created user behind).
pub(super) fn org_roles_from(ids: &[Uuid]) -> Result<Vec<RoleId>, String> {
    let mut roles = Vec::new();
    for id in ids {
        let role = RoleId(*id);
        if !builtin(role).is_some_and(|r| r.scope == RoleScope::Org) {
            return Err(crate::format::invalid_pk(*id));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

fn scope_choice(scope: RoleScope) -> Value {
    match scope {
        RoleScope::System => json!({"value": "system", "label": "System"}),
        RoleScope::Org => json!({"value": "org", "label": "Organization"}),
    }
}

fn role_json(role: &Role) -> Value {
    json!({
        "id": role.id.to_string(),
        "name": role.name,
        "display_name": role.name,
        "scope": scope_choice(role.scope),
        "builtin": role.builtin,
        "comment": "",
        "created_by": "System",
    })
}

async fn list_roles(
    State(state): State<AppState>,
    _caller: CallerInOrg,
    query: Query,
    parts: Parts,
) -> Json<Value> {
    let search = query.text("search");
    let name = query.text("name");
    let scope = query.text("scope");
    let builtin_only = query_bool(&query, "builtin");
    let roles: Vec<Role> = Role::builtins()
        .into_iter()
        .filter(|r| name.as_ref().is_none_or(|n| r.name == *n))
        .filter(|r| search.as_ref().is_none_or(|s| contains_ci(&r.name, s)))
        .filter(|r| {
            scope
                .as_deref()
                .is_none_or(|s| scope_choice(r.scope)["value"] == s)
        })
        .filter(|r| builtin_only.is_none_or(|b| r.builtin == b))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = roles.len();
    let rows = page_items(roles, page).iter().map(role_json).collect();
    list_answer(&parts, &query, page, total, rows)
}

async fn role_detail(
    _caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&raw, "Role")?;
    let role = builtin(RoleId(id)).ok_or_else(|| ApiError::not_found("Role"))?;
    Ok(Json(role_json(&role)))
}

/// A stable id for an (organization, user, role) binding, which ticketd stores without one.
pub(super) fn binding_id(membership: &Membership) -> Uuid {
    let mut message = Vec::with_capacity(48);
    message.extend_from_slice(membership.org_id.uuid().as_bytes());
    message.extend_from_slice(membership.user_id.uuid().as_bytes());
    message.extend_from_slice(membership.role_id.uuid().as_bytes());
    let digest = hmac_sha256(b"ticketd org-role-binding", &message);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Every binding visible from the request's organization (all organizations from the global one).
async fn visible_bindings(
    state: &AppState,
    caller: &CallerInOrg,
) -> Result<Vec<Membership>, ApiError> {
    let orgs: Vec<OrgId> = if caller.org.id == ROOT_ORG {
        state
            .engine
            .orgs(&caller.actor)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect()
    } else {
        vec![caller.org.id]
    };
    let mut memberships = Vec::new();
    for org in orgs {
        memberships.extend(state.engine.members(&caller.actor, org).await?);
    }
    Ok(memberships)
}

/// Renders bindings with one load of the users and organizations they name.
async fn render_bindings(
    state: &AppState,
    caller: &CallerInOrg,
    bindings: &[Membership],
) -> Result<Vec<Value>, ApiError> {
    let users = state
        .engine
        .users(&caller.actor, Some(caller.org.id))
        .await?;
    let orgs = state.engine.orgs(&caller.actor).await?;
    Ok(bindings
        .iter()
        .map(|m| binding_json(m, users.iter().find(|u| u.id == m.user_id), &orgs))
        .collect())
}

fn binding_json(
    m: &Membership,
    user: Option<&User>,
    orgs: &[ticketd_core::identity::Org],
) -> Value {
    let user_ref = user.map_or_else(
        || json!({"id": m.user_id.to_string(), "name": "", "username": ""}),
        |u| json!({"id": u.id.to_string(), "name": u.name, "username": u.username}),
    );
    json!({
        "id": binding_id(m).to_string(),
        "user": user_ref,
        "role": {"id": m.role_id.to_string(), "name": display_name(m.role_id), "display_name": display_name(m.role_id)},
        "scope": scope_choice(RoleScope::Org),
        "org": m.org_id.to_string(),
        "org_name": org_label_of(orgs, m.org_id),
        "user_display": user.map(User::display).unwrap_or_default(),
        "role_display": display_name(m.role_id),
    })
}

async fn list_bindings(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let role = query.text("role");
    let user = query.text("user").or_else(|| query.text("user_id"));
    let bindings: Vec<Membership> = visible_bindings(&state, &caller)
        .await?
        .into_iter()
        .filter(|m| role.as_ref().is_none_or(|r| m.role_id.to_string() == *r))
        .filter(|m| user.as_ref().is_none_or(|u| m.user_id.to_string() == *u))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = bindings.len();
    let rows = render_bindings(&state, &caller, &page_items(bindings, page)).await?;
    Ok(list_answer(&parts, &query, page, total, rows))
}

async fn find_binding(
    state: &AppState,
    caller: &CallerInOrg,
    raw: &str,
) -> Result<Membership, ApiError> {
    let id = path_id(raw, "RoleBinding")?;
    visible_bindings(state, caller)
        .await?
        .into_iter()
        .find(|m| binding_id(m) == id)
        .ok_or_else(|| ApiError::not_found("RoleBinding"))
}

async fn binding_detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let binding = find_binding(&state, &caller, &raw).await?;
    let mut rows = render_bindings(&state, &caller, &[binding]).await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

/// `POST` takes one `{user, role[, org]}` object or a list of them (as the SDK sends).
async fn create_bindings(
    State(state): State<AppState>,
    caller: CallerInOrg,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // As DRF, the permission comes before the body: a caller who may not bind users in the
    // request's organization learns nothing of the body (an empty list answered them 201).
    // (In the global organization, whose bindings name their organizations, system
    // administrators only.)
    caller
        .actor
        .may(AdminAction::ManageMembers(caller.org.id))?;
    let (items, many) = match body {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    let mut wanted = Vec::with_capacity(items.len());
    for item in &items {
        object_body(item)?;
        let mut checks = Checks::default();
        let user = checks.required_id(item, "user");
        let role = checks.required_id(item, "role");
        let org_field = if item.get("org").is_some() {
            "org"
        } else {
            "org_id"
        };
        let org = match item.get(org_field) {
            None | Some(Value::Null) => None,
            Some(_) => checks.required_id(item, org_field),
        };
        let role = role.and_then(|r| match org_roles_from(&[r]) {
            Ok(roles) => roles.into_iter().next(),
            Err(message) => {
                checks.push("role", message);
                None
            }
        });
        checks.finish()?;
        let (Some(user), Some(role)) = (user, role) else {
            continue;
        };
        let org = match org {
            Some(org) => OrgId(org),
            None => owning_org(&caller.org)?,
        };
        if let Err(error) = state.engine.get_user(&caller.actor, UserId(user)).await {
            return Err(match error {
                ticketd_core::DomainError::NotFound { .. } => {
                    ApiError::field("user", crate::format::invalid_pk(user))
                }
                other => other.into(),
            });
        }
        wanted.push(Membership {
            org_id: org,
            user_id: UserId(user),
            role_id: role,
        });
    }
    for m in &wanted {
        state
            .engine
            .add_member(Some(&caller.actor), m.org_id, m.user_id, m.role_id)
            .await
            .map_err(core_error("Organization"))?;
    }
    let mut rows = render_bindings(&state, &caller, &wanted).await?;
    let answer = if many {
        Value::Array(rows)
    } else {
        rows.pop().unwrap_or(Value::Null)
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Removes one role of a user in an organization: the user keeps the others there.
async fn delete_binding(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let binding = find_binding(&state, &caller, &raw).await?;
    state
        .engine
        .remove_member_role(
            &caller.actor,
            binding.org_id,
            binding.user_id,
            binding.role_id,
            ticketd_http::now(),
        )
        .await
        .map_err(core_error("RoleBinding"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_ADMIN, ROLE_ORG_USER, ROLE_SYSTEM_ADMIN};

    #[test]
    fn the_most_powerful_system_role_wins() {
        assert_eq!(system_role_from(&[]), Ok(SystemRole::User));
        assert_eq!(
            system_role_from(&[
                ROLE_SYSTEM_ADMIN.uuid(),
                RoleId(ticketd_core::ids::builtin_uuid(3)).uuid()
            ]),
            Ok(SystemRole::Admin)
        );
        assert!(system_role_from(&[ROLE_ORG_ADMIN.uuid()]).is_err());
    }

    #[test]
    fn org_roles_must_be_built_in_org_roles() {
        assert_eq!(
            org_roles_from(&[ROLE_ORG_USER.uuid(), ROLE_ORG_USER.uuid()]),
            Ok(vec![ROLE_ORG_USER])
        );
        assert!(org_roles_from(&[ROLE_SYSTEM_ADMIN.uuid()]).is_err());
    }

    #[test]
    fn binding_ids_are_stable_and_distinct() {
        let user = UserId(Uuid::from_u128(7));
        let admin = Membership {
            org_id: DEFAULT_ORG,
            user_id: user,
            role_id: ROLE_ORG_ADMIN,
        };
        let member = Membership {
            role_id: ROLE_ORG_USER,
            ..admin
        };
        assert_eq!(binding_id(&admin), binding_id(&admin));
        assert_ne!(binding_id(&admin), binding_id(&member));
    }
}
