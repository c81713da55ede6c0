//! `/v1/authentication/login` and `logout`: TopHC's password login (the password sent as its MD5 hex).

use crate::error::{ApiError, Reply, Scode};
use crate::extract::{Caller, Input};
use crate::tenant::{self, SYSTEM};
use axum::extract::State;
use serde_json::json;
use ticketd_core::credentials::PasswordForm;
use ticketd_core::identity::{ROLE_ORG_ADMIN, SYSTEM_ORG};
use ticketd_core::{Actor, DomainError, OrgId};
use ticketd_http::{AppState, now};

/// TopHC's `user_role` code: `system` for the super admin, `administrator` for a tenant admin
/// of the tenant logged into, `user` otherwise.
fn user_role(actor: &Actor, org: OrgId) -> &'static str {
    if actor.is_system_admin() {
        SYSTEM
    } else if actor.org_roles(org).contains(&ROLE_ORG_ADMIN) {
        "administrator"
    } else {
        "user"
    }
}

fn login_failed() -> ApiError {
    ApiError::new(Scode::LoginFailed, "wrong tenant, user name or password")
}

/// `POST /v1/authentication/login` with `{tenant, user, password, [is_ldap]}`.
///
/// `password` is the lowercase MD5 hex of the password (any case is accepted). `tenant` (a
/// tenant id or name, `system` for the system tenant) must be one the user belongs to; the
/// system tenant admits system administrators. Without it the user's own tenant is used.
/// `is_ldap` is accepted and ignored: ticketd checks its own password store.
pub(crate) async fn login(State(state): State<AppState>, input: Input) -> Result<Reply, ApiError> {
    let user = match input.opt("user")? {
        Some(user) => user,
        None => input
            .opt("username")?
            .ok_or_else(|| ApiError::parse("user is required"))?,
    };
    let password = input
        .text("password")?
        .ok_or_else(|| ApiError::parse("password is required"))?;
    ticketd_http::auth::admit_login(&state, &user)?;
    let tenant_raw = match input.opt("tenant")? {
        Some(t) => Some(t),
        None => input.opt("tenant_uuid")?,
    };
    let (actor, token, _expires) = match state
        .engine
        .login(&user, PasswordForm::Md5Hex, password.trim(), now())
        .await
    {
        Ok(session) => session,
        Err(DomainError::Unauthenticated) => return Err(login_failed()),
        Err(other) => return Err(other.into()),
    };
    let org = match tenant_raw.as_deref() {
        Some(raw) if raw.eq_ignore_ascii_case(SYSTEM) && actor.is_system_admin() => Ok(SYSTEM_ORG),
        Some(raw) => match state.engine.resolve_org(&actor, raw).await {
            Ok(org) => Ok(org.id),
            Err(DomainError::NotFound { .. } | DomainError::Forbidden { .. }) => {
                Err(login_failed())
            }
            Err(other) => Err(other.into()),
        },
        None => Ok(tenant::home_tenant(&actor)),
    };
    let org = match org {
        Ok(org) => org,
        Err(error) => {
            // The password was right but the tenant is not the user's: end the session just
            // opened so a refused login leaves no usable token behind.
            state.engine.logout(&token).await?;
            return Err(error);
        }
    };
    Ok(Reply(json!({
        "user_role": user_role(&actor, org),
        "token": token,
        "user_uuid": actor.id().to_string(),
        "user_name": actor.user.username,
        "ldap_enabled": false,
        "tenant_uuid": tenant::tenant_uuid(org),
        "tenant_name": tenant::tenant_name_of(&state, &actor, org).await,
        "default_cluster_uuid": "",
        "is_deploy_mode": false,
    })))
}

/// `POST /v1/authentication/logout`: ends the session of the presented token.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Caller { actor, token }: Caller,
) -> Result<Reply, ApiError> {
    if !token.is_empty() {
        state.engine.logout(&token).await?;
    }
    Ok(Reply(json!({
        "user_uuid": actor.id().to_string(),
        "user_name": actor.user.username,
        "tenant_uuid": tenant::tenant_uuid(tenant::home_tenant(&actor)),
    })))
}
