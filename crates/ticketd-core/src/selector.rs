//! Approver selectors: which users of an organization may decide a level, and how they are matched.

use crate::error::FieldError;
use crate::identity::{DirectoryEntry, ROLE_ORG_ADMIN, ROLE_SYSTEM_ADMIN};
use crate::ids::{OrgId, RoleId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who may decide a level. Stored as JSON; the shapes follow JumpServer v4's user selector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Selector {
    /// Every user of the organization.
    All,
    /// An explicit list of users.
    Ids {
        /// The users.
        ids: Vec<UserId>,
    },
    /// Users whose attributes match every rule.
    Attrs {
        /// The rules, all of which must match.
        attrs: Vec<AttrRule>,
    },
    /// Users holding a given role in a given organization (TopHC's tenant + role chain).
    RolePairs {
        /// The (organization, role) pairs; holding any one of them matches.
        pairs: Vec<RolePair>,
    },
}

/// One `(organization, role)` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePair {
    /// Where the role is held.
    pub org_id: OrgId,
    /// The role; the system-admin role id means a system administrator.
    pub role_id: RoleId,
}

/// One attribute rule: `name <match> value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrRule {
    /// The user attribute: `system_roles`, `org_roles`, `username`, `name`, `email`, `id`.
    pub name: String,
    /// The operator; JumpServer's default is `exact`.
    #[serde(rename = "match", default = "default_match")]
    pub op: MatchOp,
    /// The operand: a string, or a list for `in`, `m2m` and `m2m_all`; `"*"` matches anything.
    pub value: Value,
}

fn default_match() -> MatchOp {
    MatchOp::Exact
}

/// Comparison operators of attribute rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// Equal (case-sensitive).
    Exact,
    /// Not equal.
    Not,
    /// One of a list.
    In,
    /// Contains (case-insensitive).
    Contains,
    /// Starts with (case-insensitive).
    Startswith,
    /// Ends with (case-insensitive).
    Endswith,
    /// Holds any of the listed values (for multi-valued attributes such as roles).
    M2m,
    /// Holds all of the listed values.
    M2mAll,
}

/// JumpServer's pre-v4.1 approval strategies, translated into selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyStrategy {
    /// System administrators.
    SuperAdmin,
    /// Organization administrators.
    OrgAdmin,
    /// System or organization administrators.
    SuperOrgAdmin,
    /// The listed users.
    CustomUser,
}

impl LegacyStrategy {
    /// Parses `super_admin`, `org_admin`, `super_org_admin`, `custom_user`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "super_admin" => Some(Self::SuperAdmin),
            "org_admin" => Some(Self::OrgAdmin),
            "super_org_admin" => Some(Self::SuperOrgAdmin),
            "custom_user" => Some(Self::CustomUser),
            _ => None,
        }
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::OrgAdmin => "org_admin",
            Self::SuperOrgAdmin => "super_org_admin",
            Self::CustomUser => "custom_user",
        }
    }

    /// The equivalent selector (as JumpServer's v4.1 migration defines it).
    ///
    /// `super_org_admin` means "a system admin or an org admin": attribute rules are AND-ed, so
    /// it becomes one `m2m` rule on `any_roles` (system and org roles together), which is an OR.
    pub fn to_selector(self, users: Vec<UserId>) -> Selector {
        let roles = |name: &str, role: RoleId| AttrRule {
            name: name.into(),
            op: MatchOp::M2m,
            value: Value::Array(vec![Value::String(role.to_string())]),
        };
        match self {
            Self::SuperAdmin => Selector::Attrs {
                attrs: vec![roles("system_roles", ROLE_SYSTEM_ADMIN)],
            },
            Self::OrgAdmin => Selector::Attrs {
                attrs: vec![roles("org_roles", ROLE_ORG_ADMIN)],
            },
            Self::SuperOrgAdmin => Selector::Attrs {
                attrs: vec![AttrRule {
                    name: "any_roles".into(),
                    op: MatchOp::M2m,
                    value: Value::Array(vec![
                        Value::String(ROLE_SYSTEM_ADMIN.to_string()),
                        Value::String(ROLE_ORG_ADMIN.to_string()),
                    ]),
                }],
            },
            Self::CustomUser => Selector::Ids { ids: users },
        }
    }

    /// Recognises a selector produced by [`LegacyStrategy::to_selector`], for rendering old clients' view.
    pub fn from_selector(selector: &Selector) -> Option<Self> {
        [Self::SuperAdmin, Self::OrgAdmin, Self::SuperOrgAdmin]
            .into_iter()
            .find(|s| &s.to_selector(Vec::new()) == selector)
            .or(match selector {
                Selector::Ids { .. } => Some(Self::CustomUser),
                _ => None,
            })
    }
}

const ATTR_NAMES: &[&str] = &[
    "system_roles",
    "org_roles",
    "any_roles",
    "username",
    "name",
    "email",
    "id",
];

impl Selector {
    /// Checks the selector's shape; errors are reported under `field`.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self {
            Selector::All => {}
            Selector::Ids { ids } if ids.is_empty() => {
                errors.push(FieldError::new(field, "required", "ids must not be empty"))
            }
            Selector::Ids { .. } => {}
            Selector::Attrs { attrs } if attrs.is_empty() => errors.push(FieldError::new(
                field,
                "required",
                "attrs must not be empty",
            )),
            Selector::Attrs { attrs } => {
                for (i, rule) in attrs.iter().enumerate() {
                    if !ATTR_NAMES.contains(&rule.name.as_str()) {
                        errors.push(FieldError::new(
                            format!("{field}.attrs[{i}].name"),
                            "invalid",
                            format!("unknown attribute {:?}", rule.name),
                        ));
                    }
                    let list_op = matches!(rule.op, MatchOp::In | MatchOp::M2m | MatchOp::M2mAll);
                    // An empty list would make `m2m_all` match everyone: refuse it for every op.
                    let shape_ok = match &rule.value {
                        Value::String(_) => true,
                        Value::Array(items) => {
                            list_op && !items.is_empty() && items.iter().all(Value::is_string)
                        }
                        _ => false,
                    };
                    if !shape_ok {
                        errors.push(FieldError::new(
                            format!("{field}.attrs[{i}].value"),
                            "invalid",
                            "value must be a string, or a list of strings for in, m2m and m2m_all",
                        ));
                    }
                }
            }
            Selector::RolePairs { pairs } if pairs.is_empty() => errors.push(FieldError::new(
                field,
                "required",
                "pairs must not be empty",
            )),
            Selector::RolePairs { .. } => {}
        }
        errors
    }

    /// Whether a user of `org` (described by `entry`) matches. Inactive users never match.
    ///
    /// `pair_roles` answers role-pair questions about other organizations: it is called with
    /// `(org, user)` and returns the org roles the user holds there.
    pub fn matches(
        &self,
        entry: &DirectoryEntry,
        pair_roles: &dyn Fn(OrgId, UserId) -> Vec<RoleId>,
    ) -> bool {
        entry.user.is_active && self.names(entry, pair_roles)
    }

    /// Whether the rule names the user, active or not: JumpServer counts a deactivated user
    /// among a level's users when it decides whether the applicant is the only one (see
    /// `machine::build_steps`), though no opening assigns them.
    pub fn names(
        &self,
        entry: &DirectoryEntry,
        pair_roles: &dyn Fn(OrgId, UserId) -> Vec<RoleId>,
    ) -> bool {
        match self {
            Selector::All => true,
            Selector::Ids { ids } => ids.contains(&entry.user.id),
            Selector::Attrs { attrs } => attrs.iter().all(|rule| rule.matches(entry)),
            Selector::RolePairs { pairs } => pairs.iter().any(|pair| {
                if pair.role_id == ROLE_SYSTEM_ADMIN {
                    entry.user.system_role == crate::identity::SystemRole::Admin
                } else {
                    pair_roles(pair.org_id, entry.user.id).contains(&pair.role_id)
                }
            }),
        }
    }

    /// The organizations whose memberships [`Selector::matches`] needs beyond the ticket's own.
    pub fn foreign_orgs(&self) -> Vec<OrgId> {
        match self {
            Selector::RolePairs { pairs } => pairs.iter().map(|p| p.org_id).collect(),
            _ => Vec::new(),
        }
    }
}

impl AttrRule {
    /// Whether `entry` has a value of the rule's attribute that the operator accepts.
    ///
    /// Build steps test every rule against every user of the directory at each opening, so
    /// this reads the values in place (role ids are written into a buffer on the stack)
    /// instead of collecting them as new strings per user.
    fn matches(&self, entry: &DirectoryEntry) -> bool {
        let (single, list): (Option<&str>, &[Value]) = match &self.value {
            Value::String(s) => (Some(s.as_str()), &[]),
            Value::Array(items) => (None, items.as_slice()),
            _ => return false,
        };
        if !ATTR_NAMES.contains(&self.name.as_str()) {
            return false;
        }
        let operands = || {
            single
                .into_iter()
                .chain(list.iter().filter_map(Value::as_str))
        };
        if operands().any(|o| o == "*") {
            return true;
        }
        let any_value = |pred: &dyn Fn(&str) -> bool| self.any_value(entry, pred);
        let lower = |s: &str| s.to_lowercase();
        match self.op {
            MatchOp::Exact => operands()
                .next()
                .is_some_and(|first| any_value(&|v| v == first)),
            MatchOp::Not => !any_value(&|v| operands().any(|o| o == v)),
            MatchOp::In | MatchOp::M2m => any_value(&|v| operands().any(|o| o == v)),
            MatchOp::M2mAll => {
                operands().next().is_some() && operands().all(|o| any_value(&|v| v == o))
            }
            MatchOp::Contains => any_value(&|v| operands().any(|o| lower(v).contains(&lower(o)))),
            MatchOp::Startswith => {
                any_value(&|v| operands().any(|o| lower(v).starts_with(&lower(o))))
            }
            MatchOp::Endswith => any_value(&|v| operands().any(|o| lower(v).ends_with(&lower(o)))),
        }
    }

    /// Whether `pred` holds for any value of the rule's attribute (ids hyphenated, lowercase).
    fn any_value(&self, entry: &DirectoryEntry, pred: &dyn Fn(&str) -> bool) -> bool {
        let user = &entry.user;
        let id_holds = |id: uuid::Uuid| {
            pred(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            )
        };
        let system_role = || id_holds(user.system_role.role_id().0);
        let org_roles = || entry.org_roles.iter().any(|role| id_holds(role.0));
        match self.name.as_str() {
            "system_roles" => system_role(),
            "org_roles" => org_roles(),
            "any_roles" => system_role() || org_roles(),
            "username" => pred(&user.username),
            "name" => pred(&user.name),
            "email" => pred(&user.email),
            "id" => id_holds(user.id.0),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
