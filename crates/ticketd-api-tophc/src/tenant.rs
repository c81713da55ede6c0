//! Tenants and roles: how TopHC's tenant and role ids map onto ticketd organizations and org roles.
//!
//! - A tenant is an organization. TopHC's system tenant, `system`, is the built-in SYSTEM
//!   organization where a ticket or an approval step names it, and the global scope (ROOT) where
//!   a process names it: a process of the system tenant serves every tenant, as the default
//!   process does. Both render as `system`.
//! - Role ids of an `approval_list` entry:
//!
//! | TopHC `role_uuid` | ticketd role | rendered `role_name` |
//! |---|---|---|
//! | `system`, `super_admin`, the system-admin role id | system administrator (any tenant) | 超级管理员 |
//! | the entry's own tenant uuid (as TopHC's default process writes it), `administrator`, `admin`, `tenant_admin`, `org_admin`, the org-admin role id | org admin of the entry's tenant | 租户管理员 |
//! | `auditor`, `tenant_auditor`, `org_auditor`, the org-auditor role id | org auditor of the entry's tenant | 租户审计员 |
//! | `user`, `member`, `tenant`, `org_user`, the org-user role id | org member of the entry's tenant | 租户 |
//!
//! ticketd has no custom roles yet, so any other id is refused as invalid (26007).

use crate::error::{ApiError, Scode};
use ticketd_core::identity::{
    DEFAULT_ORG, ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, ROLE_ORG_USER, ROLE_SYSTEM_ADMIN, ROOT_ORG,
    SYSTEM_ORG,
};
use ticketd_core::{Actor, DomainError, OrgId, RoleId};
use ticketd_http::AppState;

/// TopHC's id of the system tenant and of the super-admin role.
pub(crate) const SYSTEM: &str = "system";

/// The wire id of an organization: `system` for SYSTEM and ROOT, else the hyphenated uuid.
pub(crate) fn tenant_uuid(org: OrgId) -> String {
    if org == SYSTEM_ORG || org == ROOT_ORG {
        SYSTEM.to_owned()
    } else {
        org.to_string()
    }
}

/// The caller's own tenant: the first of their memberships in org-id order (the oldest tenant,
/// ids being time-ordered), else Default. Sorting makes the choice the same on every backend.
pub(crate) fn home_tenant(actor: &Actor) -> OrgId {
    actor
        .memberships
        .iter()
        .map(|m| m.org_id)
        .min()
        .unwrap_or(DEFAULT_ORG)
}

/// Resolves a tenant the caller names (id, name or `system`) to an organization they may
/// enter; `None` means their home tenant.
pub(crate) async fn resolve(
    state: &AppState,
    actor: &Actor,
    raw: Option<&str>,
) -> Result<(OrgId, String), ApiError> {
    let Some(raw) = raw else {
        let id = home_tenant(actor);
        return Ok((id, tenant_name_of(state, actor, id).await));
    };
    match state.engine.resolve_org(actor, raw).await {
        Ok(org) if org.id == SYSTEM_ORG => Ok((org.id, SYSTEM.to_owned())),
        Ok(org) => Ok((org.id, org.name)),
        Err(DomainError::NotFound { .. }) => Err(ApiError::new(
            Scode::TenantNotFound,
            format!("tenant {raw} not found"),
        )),
        Err(other) => Err(other.into()),
    }
}

/// The display name of a tenant the caller may enter (`system` for SYSTEM and ROOT; empty when
/// the caller may not see it).
pub(crate) async fn tenant_name_of(state: &AppState, actor: &Actor, org: OrgId) -> String {
    if org == SYSTEM_ORG || org == ROOT_ORG {
        return SYSTEM.to_owned();
    }
    match state.engine.resolve_org(actor, &org.to_string()).await {
        Ok(found) => found.name,
        Err(error) => {
            tracing::debug!(%error, %org, "tenant name not shown");
            String::new()
        }
    }
}

/// The ticketd role a TopHC role id of an approval step in `tenant` (as given: `raw_tenant`,
/// resolved: `org`) stands for.
pub(crate) fn role(raw_role: &str, raw_tenant: &str, org: OrgId) -> Result<RoleId, ApiError> {
    let text = raw_role.trim();
    let lower = text.to_ascii_lowercase();
    let as_id = RoleId::parse(text);
    let is = |names: &[&str], id: RoleId| names.contains(&lower.as_str()) || as_id == Some(id);
    if is(&["system", "super_admin", "superadmin"], ROLE_SYSTEM_ADMIN) {
        return Ok(ROLE_SYSTEM_ADMIN);
    }
    let names_the_tenant = (!raw_tenant.trim().is_empty() && text == raw_tenant.trim())
        || as_id == Some(RoleId(org.0));
    if names_the_tenant
        || is(
            &["administrator", "admin", "tenant_admin", "org_admin"],
            ROLE_ORG_ADMIN,
        )
    {
        return Ok(ROLE_ORG_ADMIN);
    }
    if is(
        &["auditor", "tenant_auditor", "org_auditor"],
        ROLE_ORG_AUDITOR,
    ) {
        return Ok(ROLE_ORG_AUDITOR);
    }
    if is(&["user", "member", "tenant", "org_user"], ROLE_ORG_USER) {
        return Ok(ROLE_ORG_USER);
    }
    Err(ApiError::invalid(format!("unknown role {text:?}")))
}

/// TopHC's display name of a role.
pub(crate) fn role_label(role: RoleId) -> &'static str {
    if role == ROLE_SYSTEM_ADMIN {
        "超级管理员"
    } else if role == ROLE_ORG_ADMIN {
        "租户管理员"
    } else if role == ROLE_ORG_AUDITOR {
        "租户审计员"
    } else {
        "租户"
    }
}

/// The role label of a user in a tenant, from their system role and their roles there.
pub(crate) fn user_label(is_system_admin: bool, org_roles: &[RoleId]) -> &'static str {
    if is_system_admin {
        role_label(ROLE_SYSTEM_ADMIN)
    } else if org_roles.contains(&ROLE_ORG_ADMIN) {
        role_label(ROLE_ORG_ADMIN)
    } else {
        role_label(ROLE_ORG_USER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tophc_role_ids_map_onto_ticketd_roles() {
        let org = OrgId(uuid::Uuid::from_u128(42));
        let tenant = org.to_string();
        assert_eq!(
            role("system", "system", SYSTEM_ORG).unwrap(),
            ROLE_SYSTEM_ADMIN
        );
        assert_eq!(role(&tenant, &tenant, org).unwrap(), ROLE_ORG_ADMIN);
        assert_eq!(role("administrator", "lts", org).unwrap(), ROLE_ORG_ADMIN);
        assert_eq!(
            role(&ROLE_ORG_USER.to_string(), &tenant, org).unwrap(),
            ROLE_ORG_USER
        );
        assert_eq!(role("Auditor", &tenant, org).unwrap(), ROLE_ORG_AUDITOR);
        assert_eq!(
            role("16802782-97f5-4b31-9c8c-3d80dd742189", &tenant, org)
                .unwrap_err()
                .scode,
            Scode::Validation
        );
        assert_eq!(tenant_uuid(ROOT_ORG), "system");
        assert_eq!(tenant_uuid(org), tenant);
    }
}
