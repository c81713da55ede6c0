//! The authenticated caller of a use case and what their roles let them see and manage.

use crate::error::DomainError;
use crate::identity::{Membership, ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, SystemRole, User};
use crate::ids::{OrgId, RoleId, UserId};

/// An administrative use case, as [`Actor::may`] checks its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// Create a user (system administrators).
    CreateUser,
    /// Delete a user (system administrators).
    DeleteUser,
    /// Set a user's password without the current one (system administrators; not the user,
    /// or a stolen token would take the account for good).
    SetPassword,
    /// Create an organization (system administrators).
    CreateOrg,
    /// Rename an organization (system administrators).
    ChangeOrg,
    /// Delete an organization (system administrators).
    DeleteOrg,
    /// Add members to an organization, or change their roles (its managers).
    ManageMembers(OrgId),
    /// Create or change the organization's assets (its managers).
    ManageAssets(OrgId),
    /// Create or change the organization's nodes (its managers).
    ManageNodes(OrgId),
    /// Create, change or delete the organization's flows (its managers).
    ManageFlows(OrgId),
}

/// An authenticated user with their memberships, as every use case receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: User,
    /// Every (organization, role) the user holds.
    pub memberships: Vec<Membership>,
}

impl Actor {
    /// The user's id.
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// `"Name(username)"`.
    pub fn display(&self) -> String {
        self.user.display()
    }

    /// System administrators manage everything.
    pub fn is_system_admin(&self) -> bool {
        self.user.system_role == SystemRole::Admin
    }

    /// Whether the actor may open a ticket with another user as its applicant (system
    /// administrators: JumpServer's `tickets.add_superticket`).
    pub fn may_open_for_others(&self) -> bool {
        self.is_system_admin()
    }

    /// System auditors read everything.
    pub fn is_system_auditor(&self) -> bool {
        self.user.system_role == SystemRole::Auditor
    }

    /// The org roles held in `org`.
    pub fn org_roles(&self, org: OrgId) -> Vec<RoleId> {
        self.memberships
            .iter()
            .filter(|m| m.org_id == org)
            .map(|m| m.role_id)
            .collect()
    }

    /// Member of `org`, or a system admin or auditor (who may enter any organization).
    pub fn may_enter_org(&self, org: OrgId) -> bool {
        self.is_system_admin()
            || self.is_system_auditor()
            || self.memberships.iter().any(|m| m.org_id == org)
    }

    /// May manage flows, users and the catalog of `org`.
    pub fn may_manage_org(&self, org: OrgId) -> bool {
        self.is_system_admin() || self.org_roles(org).contains(&ROLE_ORG_ADMIN)
    }

    /// Whether this actor may take the administrative `action`: the check its use case makes
    /// first, which a dialect may also make before it reads a body (DRF answers a refusal
    /// before it validates).
    pub fn may(&self, action: AdminAction) -> Result<(), DomainError> {
        let (allowed, what) = match action {
            AdminAction::CreateUser => (self.is_system_admin(), "create user"),
            AdminAction::DeleteUser => (self.is_system_admin(), "delete user"),
            AdminAction::SetPassword => (self.is_system_admin(), "set password"),
            AdminAction::CreateOrg => (self.is_system_admin(), "create organization"),
            AdminAction::ChangeOrg => (self.is_system_admin(), "update organization"),
            AdminAction::DeleteOrg => (self.is_system_admin(), "delete organization"),
            AdminAction::ManageMembers(org) => (self.may_manage_org(org), "manage members"),
            AdminAction::ManageAssets(org) => (self.may_manage_org(org), "manage assets"),
            AdminAction::ManageNodes(org) => (self.may_manage_org(org), "manage nodes"),
            AdminAction::ManageFlows(org) => (self.may_manage_org(org), "manage flows"),
        };
        if allowed {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                action: what.into(),
            })
        }
    }

    /// May read every ticket of `org`.
    pub fn may_read_org(&self, org: OrgId) -> bool {
        self.is_system_admin()
            || self.is_system_auditor()
            || self
                .org_roles(org)
                .iter()
                .any(|r| *r == ROLE_ORG_ADMIN || *r == ROLE_ORG_AUDITOR)
    }

    /// Organizations whose tickets this actor reads in full (not counting system-wide roles).
    pub fn readable_orgs(&self) -> Vec<OrgId> {
        let mut orgs: Vec<OrgId> = self
            .memberships
            .iter()
            .filter(|m| m.role_id == ROLE_ORG_ADMIN || m.role_id == ROLE_ORG_AUDITOR)
            .map(|m| m.org_id)
            .collect();
        orgs.sort();
        orgs.dedup();
        orgs
    }
}
