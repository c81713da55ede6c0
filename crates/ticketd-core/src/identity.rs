//! Organizations, users, roles and memberships: who exists and what they hold.

use crate::ids::{OrgId, RoleId, UserId, builtin_uuid};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The global (root) organization.
pub const ROOT_ORG: OrgId = OrgId(builtin_uuid(0));
/// The default organization, named "Default".
pub const DEFAULT_ORG: OrgId = OrgId(builtin_uuid(2));
/// The system organization.
pub const SYSTEM_ORG: OrgId = OrgId(builtin_uuid(4));

/// Built-in role: system administrator.
pub const ROLE_SYSTEM_ADMIN: RoleId = RoleId(builtin_uuid(1));
/// Built-in role: system auditor.
pub const ROLE_SYSTEM_AUDITOR: RoleId = RoleId(builtin_uuid(2));
/// Built-in role: ordinary system user.
pub const ROLE_SYSTEM_USER: RoleId = RoleId(builtin_uuid(3));
/// Built-in role: organization administrator.
pub const ROLE_ORG_ADMIN: RoleId = RoleId(builtin_uuid(5));
/// Built-in role: organization auditor.
pub const ROLE_ORG_AUDITOR: RoleId = RoleId(builtin_uuid(6));
/// Built-in role: organization member.
pub const ROLE_ORG_USER: RoleId = RoleId(builtin_uuid(7));

/// The longest lifetime a token may be given, in seconds: 100 years (of 365.25 days).
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 3_155_760_000;

/// Whether `username` may name an account: 1 to 128 characters, none of them spaces or control
/// characters (so it travels in any dialect's login form and header).
pub fn valid_username(username: &str) -> bool {
    !username.is_empty()
        && username.chars().count() <= 128
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
}

/// Django's e-mail check in short (JumpServer's model field): something, `@`, and a domain with
/// a dot (or `localhost`).
pub fn valid_email(email: &str) -> bool {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && (domain.contains('.') || domain == "localhost")
                && !email.chars().any(char::is_whitespace)
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// The `constraint` of a store's `Conflict` when a user would take another user's e-mail
/// address ([`email_holder`]).
pub const EMAIL_TAKEN: &str = "users.email";

/// Which of `users` (id, address) holds `email` ignoring case, other than `owner`; an empty
/// address collides with none. JumpServer keeps addresses unique; the stores apply this inside
/// the transaction that writes the user, so two users created at once cannot both take one.
pub fn email_holder<'a>(
    users: impl IntoIterator<Item = (UserId, &'a str)>,
    email: &str,
    owner: Option<UserId>,
) -> Option<UserId> {
    if email.is_empty() {
        return None;
    }
    let wanted = email.to_lowercase();
    users
        .into_iter()
        .find(|(id, address)| Some(*id) != owner && address.to_lowercase() == wanted)
        .map(|(id, _)| id)
}

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    /// Its id.
    pub id: OrgId,
    /// Its unique name (case-insensitive).
    pub name: String,
    /// True for ROOT, DEFAULT and SYSTEM.
    pub builtin: bool,
    /// Free text about it (JumpServer's `comment`).
    pub comment: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Org {
    /// The built-in organizations, created on first start.
    pub fn builtins(now: DateTime<Utc>) -> [Org; 3] {
        [
            Org {
                id: ROOT_ORG,
                name: "GLOBAL".into(),
                builtin: true,
                comment: String::new(),
                created_at: now,
            },
            Org {
                id: DEFAULT_ORG,
                name: "Default".into(),
                builtin: true,
                comment: String::new(),
                created_at: now,
            },
            Org {
                id: SYSTEM_ORG,
                name: "SYSTEM".into(),
                builtin: true,
                comment: String::new(),
                created_at: now,
            },
        ]
    }

    /// Maps the special names `DEFAULT`, `ROOT`, `GLOBAL` and `SYSTEM` (any case) to built-in ids.
    pub fn builtin_alias(text: &str) -> Option<OrgId> {
        match text.to_ascii_uppercase().as_str() {
            "DEFAULT" => Some(DEFAULT_ORG),
            "ROOT" | "GLOBAL" => Some(ROOT_ORG),
            "SYSTEM" => Some(SYSTEM_ORG),
            _ => None,
        }
    }
}

/// Whether a role applies system-wide or inside one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleScope {
    /// Held system-wide (one per user).
    System,
    /// Held inside an organization.
    Org,
}

/// A role, built-in or custom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Display name.
    pub name: String,
    /// System or organization scope.
    pub scope: RoleScope,
    /// True for the six built-in roles.
    pub builtin: bool,
}

impl Role {
    /// The built-in roles.
    pub fn builtins() -> Vec<Role> {
        let role = |id, name: &str, scope| Role {
            id,
            name: name.into(),
            scope,
            builtin: true,
        };
        vec![
            role(ROLE_SYSTEM_ADMIN, "SystemAdmin", RoleScope::System),
            role(ROLE_SYSTEM_AUDITOR, "SystemAuditor", RoleScope::System),
            role(ROLE_SYSTEM_USER, "User", RoleScope::System),
            role(ROLE_ORG_ADMIN, "OrgAdmin", RoleScope::Org),
            role(ROLE_ORG_AUDITOR, "OrgAuditor", RoleScope::Org),
            role(ROLE_ORG_USER, "OrgUser", RoleScope::Org),
        ]
    }
}

/// A user's one system-wide role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemRole {
    /// Manages everything; sees every organization.
    Admin,
    /// Reads everything; changes nothing.
    Auditor,
    /// An ordinary user.
    User,
}

impl SystemRole {
    /// The built-in role id this system role corresponds to.
    pub fn role_id(self) -> RoleId {
        match self {
            Self::Admin => ROLE_SYSTEM_ADMIN,
            Self::Auditor => ROLE_SYSTEM_AUDITOR,
            Self::User => ROLE_SYSTEM_USER,
        }
    }

    /// The stable lowercase name used in storage and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Auditor => "auditor",
            Self::User => "user",
        }
    }

    /// Parses the stable name (also accepts `system_admin`-style and role-id forms).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" | "system_admin" | "systemadmin" | "00000000-0000-0000-0000-000000000001" => {
                Some(Self::Admin)
            }
            "auditor"
            | "system_auditor"
            | "systemauditor"
            | "00000000-0000-0000-0000-000000000002" => Some(Self::Auditor),
            "user" | "system_user" | "00000000-0000-0000-0000-000000000003" => Some(Self::User),
            _ => None,
        }
    }
}

/// A user account (without credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// E-mail address (may be empty).
    pub email: String,
    /// The system-wide role.
    pub system_role: SystemRole,
    /// Inactive users cannot authenticate and are never resolved as approvers.
    pub is_active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// `"Name(username)"`, the display form every dialect uses.
    pub fn display(&self) -> String {
        format!("{}({})", self.name, self.username)
    }
}

/// The profile fields a change of a user gives; the others stay as stored, so concurrent
/// changes of different fields both stay (a rename written with the rest of the row it had read
/// undid a deactivation made meanwhile).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    /// A new username.
    pub username: Option<String>,
    /// A new display name.
    pub name: Option<String>,
    /// A new e-mail address.
    pub email: Option<String>,
    /// A new system role.
    pub system_role: Option<SystemRole>,
    /// Activated or deactivated.
    pub is_active: Option<bool>,
}

impl UserChange {
    /// Every profile field of `user`.
    pub fn all_of(user: &User) -> Self {
        Self {
            username: Some(user.username.clone()),
            name: Some(user.name.clone()),
            email: Some(user.email.clone()),
            system_role: Some(user.system_role),
            is_active: Some(user.is_active),
        }
    }

    /// The change without the fields it gives as `stored` has them: no change, they neither
    /// need the rights to change them nor overwrite a concurrent change.
    pub fn without_unchanged(self, stored: &User) -> Self {
        fn changed<T: PartialEq>(given: Option<T>, stored: &T) -> Option<T> {
            given.filter(|given| given != stored)
        }
        Self {
            username: changed(self.username, &stored.username),
            name: changed(self.name, &stored.name),
            email: changed(self.email, &stored.email),
            system_role: changed(self.system_role, &stored.system_role),
            is_active: changed(self.is_active, &stored.is_active),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The field by which it takes the rights of a system administrator away from `stored`,
    /// if it does: a demotion (`system_roles`), or a deactivation of an active one
    /// (`is_active`).
    pub fn unmakes_admin(&self, stored: &User) -> Option<&'static str> {
        if stored.system_role != SystemRole::Admin || !stored.is_active {
            None
        } else if self
            .system_role
            .is_some_and(|role| role != SystemRole::Admin)
        {
            Some("system_roles")
        } else if self.is_active == Some(false) {
            Some("is_active")
        } else {
            None
        }
    }
}

/// Why a store refuses a change that would leave no active system administrator: nobody could
/// administer the service any more, nor approve the default flow's level of administrators.
pub const LAST_ADMIN: &str =
    "the last active system administrator cannot be demoted, deactivated or deleted";

/// The name and the username of a stored [`User::display`], which is all a ticket keeps of a
/// user whose account was deleted; a text not of that form is both.
pub fn display_parts(display: &str) -> (&str, &str) {
    display
        .strip_suffix(')')
        .and_then(|inner| inner.rsplit_once('('))
        .unwrap_or((display, display))
}

/// One role a user holds in one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The organization.
    pub org_id: OrgId,
    /// The user.
    pub user_id: UserId,
    /// The role held there.
    pub role_id: RoleId,
}

/// A user as seen from inside one organization, for approver resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The user.
    pub user: User,
    /// The org roles the user holds in that organization.
    pub org_roles: Vec<RoleId>,
}

/// The three password verifiers stored for each user.
///
/// JumpServer clients send the password, TopHC clients its MD5 hex and ZStack clients its
/// SHA-512 hex; storing an argon2 hash of each form lets every dialect's login check the same
/// password without ever storing a fast hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordHashes {
    /// argon2 PHC string of the password.
    pub plain: String,
    /// argon2 PHC string of the lowercase MD5 hex of the password.
    pub md5_hex: String,
    /// argon2 PHC string of the lowercase SHA-512 hex of the password.
    pub sha512_hex: String,
}

/// What a store needs to create a user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The user row.
    pub user: User,
    /// Password verifiers, if a password is set.
    pub password: Option<PasswordHashes>,
    /// The organizations it joins, with the role in each, written in the same transaction: a
    /// user written first and joined after was left in no organization by a crash between.
    pub memberships: Vec<(OrgId, RoleId)>,
}

/// Whether a token is long-lived (API), a login session, or the one the operator sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A private API token (`Authorization: Token …`).
    Api,
    /// A login session token (`Bearer`, TopHC token, ZStack session).
    Session,
    /// The API token `TICKETD_ADMIN_TOKEN` sets: admin holds one at most, so a new value
    /// revokes the one it replaces.
    Operator,
}

impl TokenKind {
    /// Stable storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Session => "session",
            Self::Operator => "operator",
        }
    }

    /// The kind a storage name names; an unknown name is an API token, as before kinds
    /// were added.
    pub fn from_stored(text: &str) -> Self {
        match text {
            "session" => Self::Session,
            "operator" => Self::Operator,
            _ => Self::Api,
        }
    }
}

/// A stored token: only its SHA-256 is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token text.
    pub token_hash: [u8; 32],
    /// Owner.
    pub user_id: UserId,
    /// API token or session.
    pub kind: TokenKind,
    /// Expiry; `None` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// An access key for HTTP Signature authentication.
///
/// The secret must stay recoverable for HMAC verification; it is only ever returned once, by
/// the call that creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    /// The key id (`keyId=`).
    pub id: crate::ids::AccessKeyId,
    /// Owner.
    pub user_id: UserId,
    /// The shared secret.
    pub secret: String,
    /// Inactive keys are refused.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_splits_into_name_and_username() {
        assert_eq!(display_parts("Ivy(ivy)"), ("Ivy", "ivy"));
        // A name with parentheses of its own: the username is the last pair's.
        assert_eq!(display_parts("Bob (ops)(bob)"), ("Bob (ops)", "bob"));
        assert_eq!(display_parts("system"), ("system", "system"));
        assert_eq!(display_parts("odd(x"), ("odd(x", "odd(x"));
    }

    #[test]
    fn emails_are_checked_like_django_in_short() {
        assert!(valid_email("alice@example.com"));
        assert!(valid_email("root@localhost"));
        assert!(!valid_email("alice"));
        assert!(!valid_email("alice@"));
        assert!(!valid_email("a b@example.com"));
        assert!(!valid_email("alice@example."));
    }

    #[test]
    fn usernames_are_1_to_128_characters_without_spaces_or_controls() {
        assert!(valid_username("alice"));
        assert!(valid_username(&"é".repeat(128)));
        assert!(!valid_username(""));
        assert!(!valid_username(&"a".repeat(129)));
        assert!(!valid_username("a b"));
        assert!(!valid_username("a\u{7}b"));
    }
}
