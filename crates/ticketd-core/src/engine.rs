//! Use cases: the operations every dialect calls, each checking permissions and applying rules.

use crate::actor::{Actor, AdminAction};
use crate::catalog::{Asset, AssetChange, CatalogQuery, Node};
use crate::credentials::{self, PasswordForm};
use crate::error::{ConflictKind, DomainError, StoreError};
use crate::flow::{Flow, Level, LevelMode};
use crate::identity::{
    AccessKey, DEFAULT_ORG, DirectoryEntry, MAX_TOKEN_LIFETIME_SECS, Membership, NewUser, Org,
    ROLE_ORG_USER, ROOT_ORG, Role, RoleScope, SystemRole, TokenKind, TokenRecord, User, UserChange,
};
use crate::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId, new_v7};
use crate::machine::{self, Action, Ctx, OpenSpec, TicketEdit};
use crate::selector::Selector;
use crate::serial::serial_day;
use crate::store::{
    FlowRule, FlowWrite, GrantQuery, OrgChange, Store, TicketPage, TicketQuery, Visibility,
};
use crate::ticket::{
    Comment, CommentKind, Decision, Grant, HistoryEntry, Step, Ticket, TicketState, TicketWrite,
};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// How many times a transition is re-decided after losing an optimistic-concurrency race.
const MAX_ATTEMPTS: usize = 16;

/// The longest path a node may have (`/a/b/c`: its ancestors' names and its own). The path is
/// unique per organization, so it is indexed; at 4 bytes a character this keeps an index entry
/// under PostgreSQL's limit (2,704 bytes), which a deep tree of long names passed (a 500).
pub const MAX_NODE_PATH_CHARS: usize = 512;

/// How often a node's write is computed again when its path changed meanwhile (a parent
/// renamed) before the request is answered "busy".
const NODE_PATH_ATTEMPTS: usize = 8;

/// The path a node named `name` has under `prefix` (its parent's path; empty for a root node),
/// or why it cannot have it: a name is 1 to 128 characters without '/', a path at most
/// [`MAX_NODE_PATH_CHARS`]. Callers creating several nodes of a path check them all first.
pub fn check_node_name(prefix: &str, name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.contains('/') || name.chars().count() > 128 {
        return Err(DomainError::invalid(
            "value",
            "invalid",
            "a node name is 1 to 128 characters without '/'",
        ));
    }
    let path = format!("{prefix}/{name}");
    if path.chars().count() > MAX_NODE_PATH_CHARS {
        return Err(DomainError::invalid(
            "value",
            "invalid",
            format!(
                "a node's path (its ancestors' names and its own) is at most \
                 {MAX_NODE_PATH_CHARS} characters"
            ),
        ));
    }
    Ok(path)
}

/// `value` trimmed, as stored, if `accept` takes it; else a validation error on `field`.
fn checked(
    value: &str,
    accept: impl Fn(&str) -> bool,
    field: &str,
    message: &str,
) -> Result<String, DomainError> {
    let value = value.trim();
    if accept(value) {
        Ok(value.to_owned())
    } else {
        Err(DomainError::invalid(field, "invalid", message))
    }
}

/// A user's name as stored, or why it cannot name an account.
fn checked_username(username: &str) -> Result<String, DomainError> {
    let message = "username must be 1 to 128 characters without spaces";
    checked(
        username,
        crate::identity::valid_username,
        "username",
        message,
    )
}

/// A user's e-mail address as stored (empty when there is none), or why it is refused.
fn checked_email(email: &str) -> Result<String, DomainError> {
    let accept = |email: &str| email.is_empty() || crate::identity::valid_email(email);
    checked(email, accept, "email", "Enter a valid email address.")
}

/// A source of random bytes (the OS in production, a seeded counter in tests).
pub trait Entropy: Send + Sync + std::fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// Fills `buf` with the random part of a new id: ids are public, so a source may hand out
    /// bytes it drew ahead of time, which secrets ([`Entropy::fill`]) must not be.
    fn fill_id(&self, buf: &mut [u8]) {
        self.fill(buf);
    }
}

/// Settings the use cases depend on.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Time zone of serial-number days.
    pub time_zone: Tz,
    /// Lifetime of login sessions.
    pub session_ttl: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::UTC,
            session_ttl: Duration::hours(24),
        }
    }
}

/// Options of the first start.
#[derive(Clone, Debug, Default)]
pub struct BootstrapOptions {
    /// Becomes admin's password when set.
    pub admin_password: Option<String>,
    /// Becomes an API token of admin's when set.
    pub admin_token: Option<String>,
}

/// What the first start did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// True when the admin user was created now.
    pub admin_created: bool,
    /// A generated password, to print once.
    pub generated_password: Option<String>,
}

/// A new user's fields.
#[derive(Clone, Debug)]
pub struct NewUserInput {
    /// Unique login name.
    pub username: String,
    /// Display name (defaults to the username).
    pub name: String,
    /// E-mail.
    pub email: String,
    /// System role.
    pub system_role: SystemRole,
    /// Password, if any.
    pub password: Option<String>,
    /// Memberships to create; empty means "member of Default".
    pub orgs: Vec<(OrgId, RoleId)>,
}

/// How a new ticket finds its flow.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowChoice {
    /// The only (or the default) enabled flow of the organization serving the ticket's type.
    Auto,
    /// A named flow, which must be one of those available.
    Id(FlowId),
    /// Explicit levels (tickets opened by other systems); system administrators only.
    Explicit(Vec<Level>),
    /// One level decided by an approver the applicant chose, who must be among the users
    /// `pool` matches in the ticket's organization (DataArts: "pick an approver from the list").
    Chosen {
        /// Who may be chosen.
        pool: Selector,
        /// The chosen approver.
        approver: UserId,
    },
}

/// A new ticket's fields.
#[derive(Clone, Debug)]
pub struct NewTicket {
    /// Client-chosen id, if any.
    pub id: Option<TicketId>,
    /// Organization.
    pub org_id: OrgId,
    /// Type.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Content.
    pub payload: Value,
    /// Comment or reason.
    pub comment: String,
    /// Dialect partition key.
    pub scope: String,
    /// Where the steps come from.
    pub flow: FlowChoice,
    /// Submit now (`true`) or save a draft.
    pub submit: bool,
    /// Open on behalf of another user (system administrators only).
    pub applicant: Option<UserId>,
    /// Extra CC users.
    pub cc_users: Vec<UserId>,
}

/// A command on an existing ticket, as dialects issue it.
#[derive(Clone, Debug, PartialEq)]
pub enum TicketCommand {
    /// Submit a draft.
    Submit,
    /// Submit a rejected or closed ticket again.
    Resubmit {
        /// Comment, kept in the history.
        reason: String,
    },
    /// Approve the current step.
    Approve {
        /// Comment.
        reason: String,
        /// Replacement content.
        payload: Option<Value>,
        /// What the replacement changed, as the dialect shows it; added to the approval's
        /// comment.
        changes: Option<String>,
    },
    /// Reject the current step.
    Reject {
        /// Why.
        reason: String,
    },
    /// Close (applicant or current assignee).
    Close {
        /// Why.
        reason: String,
    },
    /// Withdraw (applicant).
    Withdraw {
        /// Why.
        reason: String,
    },
    /// Close as system administrator.
    SuperClose {
        /// Why.
        reason: String,
    },
    /// Archive.
    Archive,
    /// Confirm.
    Confirm,
    /// Mark deleted.
    Delete,
    /// Edit a draft or closed ticket.
    Edit(TicketEdit),
}

/// One flow of a batch that [`Engine::write_flows`] writes together.
#[derive(Clone)]
pub enum FlowPlan<'a> {
    /// A new flow.
    Create(FlowInput),
    /// A new flow with the id the client chose (a ZStack `resourceUuid`); an id taken is the
    /// store's conflict.
    CreateAs(FlowId, FlowInput),
    /// `change` applied to the stored flow `id`.
    Update {
        /// The flow changed.
        id: FlowId,
        /// The change, applied to the flow as stored (again after a version conflict).
        change: &'a (dyn Fn(&mut Flow) + Send + Sync),
    },
    /// `change` applied to flow `id` only as it was at `version`, for a change computed from
    /// that copy (a ZStack chain with a flow added): if it has changed since, the batch fails
    /// with [`FLOW_CHANGED`], and the caller reads it again and plans again. (Applied to a
    /// newer copy, such a change undid the other's: concurrent additions were all answered
    /// and most were lost.)
    UpdateAt {
        /// The flow changed.
        id: FlowId,
        /// Its version the change was computed from.
        version: i64,
        /// The change.
        change: &'a (dyn Fn(&mut Flow) + Send + Sync),
    },
}

/// The refusal of a [`FlowPlan::UpdateAt`] whose flow changed since the version it names.
pub const FLOW_CHANGED: DomainError = DomainError::InvalidTransition {
    action: "update flow",
    state: "changed",
    conflict: ConflictKind::StateChanged,
};

/// A flow's user-supplied fields.
#[derive(Clone, Debug)]
pub struct FlowInput {
    /// Owning organization.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Ticket types served.
    pub kinds: Vec<String>,
    /// Default among several.
    pub is_default: bool,
    /// Enabled.
    pub enabled: bool,
    /// Levels.
    pub levels: Vec<Level>,
    /// CC users.
    pub cc_users: Vec<UserId>,
    /// Dialect extras.
    pub attributes: Value,
}

/// The approval engine: use cases over a [`Store`].
#[derive(Debug, Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    entropy: Arc<dyn Entropy>,
    settings: EngineSettings,
}

impl Engine {
    /// Builds an engine.
    pub fn new(store: Arc<dyn Store>, entropy: Arc<dyn Entropy>, settings: EngineSettings) -> Self {
        Self {
            store,
            entropy,
            settings,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// A fresh time-ordered id.
    pub fn new_id(&self, now: DateTime<Utc>) -> Uuid {
        let mut random = [0u8; 10];
        self.entropy.fill_id(&mut random);
        new_v7(u64::try_from(now.timestamp_millis()).unwrap_or(0), random)
    }

    /// `n` random bytes as lowercase hex.
    pub fn random_hex(&self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        self.entropy.fill(&mut bytes);
        credentials::secret_from_bytes(&bytes)
    }

    /// The stored forms of a password; an empty one, which anybody can send, is refused.
    fn hash_password(
        &self,
        password: &str,
    ) -> Result<crate::identity::PasswordHashes, DomainError> {
        // Blank as JumpServer counts it (DRF trims a field first): spaces alone were taken
        // as admin's password at start, one JumpServer's login then refused as blank.
        if password.trim().is_empty() {
            return Err(DomainError::invalid(
                "password",
                "invalid",
                "password must not be empty or blank",
            ));
        }
        // JumpServer's login, which sends the password itself, cannot carry one (every API
        // refuses a null character in its input), and no API sets one.
        if password.contains('\0') {
            return Err(DomainError::invalid(
                "password",
                "invalid",
                "password must not hold a null character",
            ));
        }
        let mut salts = [0u8; 48];
        self.entropy.fill(&mut salts);
        credentials::hash_password(password, salts)
            .map_err(|e| DomainError::Store(StoreError::Other(Box::new(e))))
    }

    // ------------------------------------------------------------------ identity

    /// Creates the built-in organizations and roles and the `admin` user if missing; applies
    /// the admin password or token given in the options.
    pub async fn bootstrap(
        &self,
        options: BootstrapOptions,
        now: DateTime<Utc>,
    ) -> Result<BootstrapOutcome, DomainError> {
        // Before anything is written: a value refused after admin was created left an admin
        // whose generated password was never printed (the start failed before it).
        if let Some(token) = &options.admin_token {
            chosen_token_digest(token)?;
        }
        self.store
            .ensure_builtins(Org::builtins(now).to_vec(), Role::builtins())
            .await?;
        let mut outcome = BootstrapOutcome::default();
        let admin = match self.store.find_user_by_username("admin").await? {
            Some(admin) => {
                if let Some(password) = &options.admin_password {
                    self.apply_admin_password(admin.id, password).await?;
                } else if self
                    .store
                    .password_hashes(admin.id)
                    .await?
                    .is_some_and(|h| credentials::verify_password(&h, PasswordForm::Plain, ""))
                {
                    // Set by an earlier start with an empty TICKETD_ADMIN_PASSWORD, before such
                    // a password was refused: anybody could log in as admin with it.
                    return Err(DomainError::invalid(
                        "admin_password",
                        "invalid",
                        "admin's password is empty (set by an earlier empty \
                         TICKETD_ADMIN_PASSWORD): start once with TICKETD_ADMIN_PASSWORD set to \
                         a new one",
                    ));
                }
                admin
            }
            None => {
                let password = match &options.admin_password {
                    Some(p) => p.clone(),
                    None => {
                        let generated = self.random_hex(12);
                        outcome.generated_password = Some(generated.clone());
                        generated
                    }
                };
                // Its placeholder address, unless a user has it (an admin renamed since, whose
                // address would refuse the new one and so every start).
                let email = if self.email_is_free(ADMIN_EMAIL).await? {
                    ADMIN_EMAIL.to_owned()
                } else {
                    String::new()
                };
                let input = NewUserInput {
                    username: "admin".into(),
                    name: "Administrator".into(),
                    email,
                    system_role: SystemRole::Admin,
                    password: Some(password),
                    orgs: vec![(DEFAULT_ORG, crate::identity::ROLE_ORG_ADMIN)],
                };
                match self.create_user(None, input, now).await {
                    Ok(admin) => {
                        outcome.admin_created = true;
                        admin
                    }
                    // Another process sharing the database created it first: use theirs, with
                    // this start's password if it has one (which was dropped).
                    Err(DomainError::Conflict(_)) => {
                        outcome.generated_password = None;
                        let theirs = self
                            .store
                            .find_user_by_username("admin")
                            .await?
                            .ok_or_else(|| {
                                DomainError::Conflict("admin user vanished during start".into())
                            })?;
                        if let Some(password) = &options.admin_password {
                            self.apply_admin_password(theirs.id, password).await?;
                        }
                        theirs
                    }
                    Err(other) => return Err(other),
                }
            }
        };
        if outcome.admin_created {
            self.create_default_flow(now).await?;
        }
        if let Some(token) = &options.admin_token {
            self.install_operator_token(admin.id, token, now).await?;
        }
        Ok(outcome)
    }

    /// The global `apply_asset` flow a fresh installation starts with (as JumpServer does): one
    /// level decided by any system administrator.
    async fn create_default_flow(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        let selector = crate::selector::LegacyStrategy::SuperAdmin.to_selector(Vec::new());
        let flow = Flow {
            id: FlowId(self.new_id(now)),
            org_id: ROOT_ORG,
            name: "Default".into(),
            description: String::new(),
            kinds: vec![crate::ticket::KIND_APPLY_ASSET.into()],
            is_default: true,
            enabled: true,
            levels: vec![any_level(selector)],
            cc_users: Vec::new(),
            attributes: Value::Null,
            created_by: "System".into(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        // Made once: admin made again (the first renamed since) finds it there, and a second
        // one refused as a duplicate name stopped every start.
        let globals = self.store.list_flows(vec![ROOT_ORG]).await?;
        if globals.iter().any(|f| f.same_name_and_type(&flow)) {
            return Ok(());
        }
        self.store.create_flow(flow, None).await?;
        Ok(())
    }

    /// Loads the actor for a user id (memberships included); inactive users are refused.
    pub async fn actor(&self, user_id: UserId) -> Result<Actor, DomainError> {
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        if !user.is_active {
            return Err(DomainError::Unauthenticated);
        }
        let memberships = self.store.memberships_of(user_id).await?;
        Ok(Actor { user, memberships })
    }

    /// Creates an organization (system administrators; `None` means a trusted local caller).
    pub async fn create_org(
        &self,
        actor: Option<&Actor>,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, DomainError> {
        self.create_org_with_comment(actor, name, "", now).await
    }

    /// [`Engine::create_org`] with a comment.
    pub async fn create_org_with_comment(
        &self,
        actor: Option<&Actor>,
        name: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, DomainError> {
        if let Some(actor) = actor {
            actor.may(AdminAction::CreateOrg)?;
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(DomainError::invalid(
                "name",
                "invalid",
                "name must be 1 to 128 characters",
            ));
        }
        if Org::builtin_alias(name).is_some() || self.store.find_org_by_name(name).await?.is_some()
        {
            return Err(DomainError::Conflict(format!(
                "organization {name:?} already exists"
            )));
        }
        let org = Org {
            id: OrgId(self.new_id(now)),
            name: name.into(),
            builtin: false,
            comment: comment.into(),
            created_at: now,
        };
        self.store
            .create_org(org.clone())
            .await
            .map_err(|e| unique_to_conflict(e, "organization name"))?;
        Ok(org)
    }

    /// Resolves an organization from an id, a name or `DEFAULT`/`ROOT`/`SYSTEM`; empty means
    /// Default. Refuses organizations the actor may not enter.
    pub async fn resolve_org(&self, actor: &Actor, raw: &str) -> Result<Org, DomainError> {
        let raw = raw.trim();
        let id = if raw.is_empty() {
            Some(DEFAULT_ORG)
        } else {
            Org::builtin_alias(raw).or_else(|| OrgId::parse(raw))
        };
        let org = match id {
            Some(id) => self.store.get_org(id).await?,
            None => self.store.find_org_by_name(raw).await?,
        };
        let org = match org {
            Some(org) => org,
            None => match id {
                None => {
                    return Err(DomainError::NotFound {
                        kind: "organization",
                        id: raw.into(),
                    });
                }
                Some(_) => match self.store.find_org_by_name(raw).await? {
                    Some(org) => org,
                    None => {
                        return Err(DomainError::NotFound {
                            kind: "organization",
                            id: raw.into(),
                        });
                    }
                },
            },
        };
        if !actor.may_enter_org(org.id) {
            // Name the organization as the caller did: its name is not theirs to learn.
            let named = if raw.is_empty() {
                org.id.to_string()
            } else {
                raw.to_owned()
            };
            return Err(DomainError::Forbidden {
                action: format!("enter organization {named}"),
            });
        }
        Ok(org)
    }

    /// Creates a user (system administrators; `None` means a trusted local caller such as the CLI).
    pub async fn create_user(
        &self,
        actor: Option<&Actor>,
        input: NewUserInput,
        now: DateTime<Utc>,
    ) -> Result<User, DomainError> {
        if let Some(actor) = actor {
            actor.may(AdminAction::CreateUser)?;
        }
        let username = checked_username(&input.username)?;
        let email = checked_email(&input.email)?;
        // Before the user is written: a refusal after it would leave a user without the
        // memberships asked for.
        self.check_memberships(&input.orgs).await?;
        // The name first: a process racing another to create admin is told of the conflict,
        // which bootstrap takes for the other's admin, not of the address.
        if self.store.find_user_by_username(&username).await?.is_some() {
            return Err(DomainError::Conflict(format!(
                "user {username:?} already exists"
            )));
        }
        let password = match &input.password {
            Some(p) => Some(self.hash_password(p)?),
            None => None,
        };
        let user = User {
            id: UserId(self.new_id(now)),
            name: if input.name.trim().is_empty() {
                username.clone()
            } else {
                input.name.trim().into()
            },
            username,
            email,
            system_role: input.system_role,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        let memberships = if input.orgs.is_empty() {
            vec![(DEFAULT_ORG, ROLE_ORG_USER)]
        } else {
            input.orgs
        };
        self.store
            .create_user(NewUser {
                user: user.clone(),
                password,
                memberships,
            })
            .await
            .map_err(user_write_error)?;
        Ok(user)
    }

    /// Whether no user has `email` ([`crate::identity::email_holder`]), for a choice made
    /// before a write; the write itself is refused by the store if one takes it meanwhile.
    async fn email_is_free(&self, email: &str) -> Result<bool, DomainError> {
        let users = self.store.list_users().await?;
        let holder = crate::identity::email_holder(
            users.iter().map(|u| (u.id, u.email.as_str())),
            email,
            None,
        );
        Ok(holder.is_none())
    }

    /// Sets a user's password (trusted callers, or a system administrator), ending the user's
    /// sessions. Not the user
    /// themselves without the current password: a stolen token would take the account for
    /// good. (No dialect offers a change of one's own password with the current one yet.)
    pub async fn set_password(
        &self,
        actor: Option<&Actor>,
        user_id: UserId,
        password: &str,
    ) -> Result<(), DomainError> {
        if let Some(actor) = actor {
            actor.may(AdminAction::SetPassword)?;
        }
        let hashes = self.hash_password(password)?;
        self.replace_password(user_id, hashes).await
    }

    /// Stores a user's new password verifiers and ends the user's sessions: a reset is how an
    /// administrator takes an account back, so the sessions logged in with the old password
    /// end (API tokens, issued on purpose, stay).
    async fn replace_password(
        &self,
        user_id: UserId,
        hashes: crate::identity::PasswordHashes,
    ) -> Result<(), DomainError> {
        self.store
            .set_password_hashes(user_id, hashes)
            .await
            .map_err(deleted_meanwhile("user", user_id))?;
        self.store
            .delete_tokens_of_kind(user_id, TokenKind::Session)
            .await?;
        Ok(())
    }

    /// Makes `password` (`TICKETD_ADMIN_PASSWORD`) admin's at a start. A new one is a reset,
    /// ending admin's sessions (a changed setting left them working for a day); the one admin
    /// already has changes nothing, so a restart with the same setting logs nobody out.
    async fn apply_admin_password(&self, admin: UserId, password: &str) -> Result<(), DomainError> {
        // A blank one is never admin's: `set_password` refuses it.
        if !password.trim().is_empty() {
            let stored = self.store.password_hashes(admin).await?;
            if stored
                .is_some_and(|h| credentials::verify_password(&h, PasswordForm::Plain, password))
            {
                return Ok(());
            }
        }
        self.set_password(None, admin, password).await
    }

    /// Refuses memberships (organization, role) that cannot be: an organization nobody joins
    /// or none at all, or a role that is no organization role. The roles are read once, and
    /// each organization once however many roles name it.
    async fn check_memberships(&self, memberships: &[(OrgId, RoleId)]) -> Result<(), DomainError> {
        if memberships.is_empty() {
            return Ok(());
        }
        let roles = self.store.list_roles().await?;
        let mut orgs_seen: Vec<OrgId> = Vec::new();
        for &(org_id, role_id) in memberships {
            if !orgs_seen.contains(&org_id) {
                check_joinable(org_id)?;
                if self.store.get_org(org_id).await?.is_none() {
                    return Err(DomainError::NotFound {
                        kind: "organization",
                        id: org_id.to_string(),
                    });
                }
                orgs_seen.push(org_id);
            }
            if !roles
                .iter()
                .any(|r| r.id == role_id && r.scope == RoleScope::Org)
            {
                return Err(DomainError::invalid(
                    "role",
                    "invalid",
                    "not an organization role",
                ));
            }
        }
        Ok(())
    }

    /// Adds `user` to `org` with `role` (org managers; `None` means a trusted local caller).
    pub async fn add_member(
        &self,
        actor: Option<&Actor>,
        org_id: OrgId,
        user_id: UserId,
        role_id: RoleId,
    ) -> Result<(), DomainError> {
        if let Some(actor) = actor {
            actor.may(AdminAction::ManageMembers(org_id))?;
        }
        self.check_memberships(&[(org_id, role_id)]).await?;
        if self.store.get_user(user_id).await?.is_none() {
            return Err(DomainError::NotFound {
                kind: "user",
                id: user_id.to_string(),
            });
        }
        self.store
            .add_membership(Membership {
                org_id,
                user_id,
                role_id,
            })
            .await?;
        Ok(())
    }

    /// Password login in one of the dialect forms; returns the actor and a new session token.
    pub async fn login(
        &self,
        username: &str,
        form: PasswordForm,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<(Actor, String, DateTime<Utc>), DomainError> {
        let user = self.store.find_user_by_username(username).await?;
        let hashes = match &user {
            Some(user) => self.store.password_hashes(user.id).await?,
            None => None,
        };
        // An unknown account costs a verification too, so the time answers nothing.
        let verified = match &hashes {
            Some(hashes) => credentials::verify_password(hashes, form, presented),
            None => {
                credentials::verify_password(credentials::decoy_hashes(), form, presented);
                false
            }
        };
        let Some(user) = user.filter(|u| u.is_active && verified) else {
            return Err(DomainError::Unauthenticated);
        };
        let expires = now + self.settings.session_ttl;
        let token = self.random_hex(20);
        self.install_token(user.id, &token, TokenKind::Session, Some(expires), now)
            .await?;
        Ok((self.actor(user.id).await?, token, expires))
    }

    /// Ends a login session. An API token presented instead stays valid, as no logout ends
    /// one: a ZStack or TopHC client set up with a token logs out as it exits, and revoked it
    /// for every dialect (the ZStack route is the session's id alone, as in ZStack).
    pub async fn logout(&self, token: &str) -> Result<(), DomainError> {
        let digest = credentials::token_digest(token);
        let found = self.store.find_token(digest).await?;
        if found.is_some_and(|record| record.kind == TokenKind::Session) {
            self.store.delete_token(digest).await?;
        }
        Ok(())
    }

    /// Issues a new random token for `user`; the token text is returned once.
    pub async fn issue_token(
        &self,
        user: UserId,
        kind: TokenKind,
        ttl: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<String, DomainError> {
        let expires_at = match ttl {
            None => None,
            Some(ttl) => Some(
                now.checked_add_signed(ttl)
                    .filter(|_| {
                        ttl > Duration::zero() && ttl <= Duration::seconds(MAX_TOKEN_LIFETIME_SECS)
                    })
                    .ok_or_else(|| {
                        DomainError::invalid(
                            "ttl",
                            "invalid",
                            "a token's lifetime must be more than 0 and at most 100 years",
                        )
                    })?,
            ),
        };
        let token = self.random_hex(20);
        self.install_token(user, &token, kind, expires_at, now)
            .await?;
        Ok(token)
    }

    /// Stores a caller-chosen token for `user` (idempotent for the same user).
    pub async fn install_token(
        &self,
        user: UserId,
        token: &str,
        kind: TokenKind,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let digest = chosen_token_digest(token)?;
        if let Some(existing) = self.store.find_token(digest).await? {
            if existing.user_id == user {
                return Ok(());
            }
            return Err(DomainError::Conflict("token already in use".into()));
        }
        let created = self
            .store
            .create_token(TokenRecord {
                token_hash: digest,
                user_id: user,
                kind,
                expires_at,
                created_at: now,
            })
            .await;
        match created {
            Ok(()) => Ok(()),
            // Installed concurrently (several processes starting with the same admin token).
            Err(StoreError::Conflict { .. })
                if self
                    .store
                    .find_token(digest)
                    .await?
                    .is_some_and(|t| t.user_id == user) =>
            {
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => {
                Err(DomainError::Conflict("token already in use".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Makes `token` the operator's token of `user` (`TICKETD_ADMIN_TOKEN`): the one it
    /// replaces, set by an earlier start with another value, is revoked in the same write, so
    /// rotating the variable retires a leaked token. The same value again changes nothing.
    pub async fn install_operator_token(
        &self,
        user: UserId,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let record = TokenRecord {
            token_hash: chosen_token_digest(token)?,
            user_id: user,
            kind: TokenKind::Operator,
            expires_at: None,
            created_at: now,
        };
        match self.store.replace_tokens_of_kind(record).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => {
                Err(DomainError::Conflict("token already in use".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The actor a token belongs to; expired tokens and inactive users are refused.
    pub async fn authenticate_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Actor, DomainError> {
        let found = self
            .store
            .token_actor(credentials::token_digest(token))
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        if found.record.expires_at.is_some_and(|e| e <= now) || !found.user.is_active {
            return Err(DomainError::Unauthenticated);
        }
        Ok(Actor {
            user: found.user,
            memberships: found.memberships,
        })
    }

    /// Creates an access key for `user`; the secret is returned here and never again.
    pub async fn create_access_key(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<AccessKey, DomainError> {
        if self.store.get_user(user).await?.is_none() {
            return Err(DomainError::NotFound {
                kind: "user",
                id: user.to_string(),
            });
        }
        let key = AccessKey {
            id: AccessKeyId(self.new_id(now)),
            user_id: user,
            secret: Uuid::from_bytes({
                let mut b = [0u8; 16];
                self.entropy.fill(&mut b);
                b
            })
            .to_string(),
            is_active: true,
            created_at: now,
        };
        self.store.create_access_key(key.clone()).await?;
        Ok(key)
    }

    /// An active access key and its active owner, for signature verification.
    pub async fn access_key(&self, id: AccessKeyId) -> Result<(AccessKey, Actor), DomainError> {
        let key = self
            .store
            .get_access_key(id)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        if !key.is_active {
            return Err(DomainError::Unauthenticated);
        }
        let actor = self.actor(key.user_id).await?;
        Ok((key, actor))
    }

    /// Changes the profile fields `change` gives of user `id` (system administrators, or the
    /// user for name and e-mail), and only those, so concurrent changes of different fields
    /// both stay; answers the user as stored after. A deactivation rejects the pending tickets
    /// it stranded where their flow asks for it ([`Flow::stranded_reason`]). The last active
    /// system administrator is never demoted nor deactivated ([`crate::identity::LAST_ADMIN`],
    /// checked by the store in the write's transaction).
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        mut change: UserChange,
        now: DateTime<Utc>,
    ) -> Result<User, DomainError> {
        let not_found = || DomainError::NotFound {
            kind: "user",
            id: id.to_string(),
        };
        let stored = self.store.get_user(id).await?.ok_or_else(not_found)?;
        change = change.without_unchanged(&stored);
        if change.is_empty() {
            // Nothing to write, so nothing to be allowed but reading the user: an organization
            // admin changing a member's roles sends the unchanged profile fields along.
            return self.get_user(actor, id).await;
        }
        let own_profile_only = actor.id() == id
            && change.username.is_none()
            && change.system_role.is_none()
            && change.is_active.is_none();
        if !actor.is_system_admin() && !own_profile_only {
            return Err(DomainError::Forbidden {
                action: "update user".into(),
            });
        }
        if actor.id() == id && change.is_active == Some(false) {
            return Err(DomainError::invalid(
                "is_active",
                "invalid",
                "you cannot deactivate yourself",
            ));
        }
        // Like deactivating oneself: the last system administrator would leave nobody to
        // administer the service (nor any approver of the default flow's "super admin" level).
        if actor.id() == id && change.system_role.is_some() {
            return Err(DomainError::invalid(
                "system_roles",
                "invalid",
                "you cannot change your own system role",
            ));
        }
        // Only what changes is checked: a name or address stored before a rule tightened still
        // lets the rest of the user be edited.
        if let Some(username) = &mut change.username {
            *username = checked_username(username)?;
            if *username == stored.username {
                change.username = None;
            }
        }
        if let Some(email) = &mut change.email {
            // Its holder is checked by the store, in the write's own transaction.
            *email = checked_email(email)?;
            if *email == stored.email {
                change.email = None;
            }
        }
        self.store
            .change_user(id, change.clone(), now)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => deleted_meanwhile("user", id)(error),
                other => user_write_error(other),
            })?;
        let deactivated = stored.is_active && change.is_active == Some(false);
        if deactivated {
            // Its sessions end: a reactivation must not bring back a stolen one.
            self.store
                .delete_tokens_of_kind(id, TokenKind::Session)
                .await?;
        }
        let demoted = stored.system_role == SystemRole::Admin
            && change
                .system_role
                .is_some_and(|role| role != SystemRole::Admin);
        if deactivated || demoted {
            self.reject_stranded(actor, id, now).await;
        }
        // As stored now, with what concurrent changes of other fields made.
        self.store.get_user(id).await?.ok_or_else(not_found)
    }

    /// Users the actor may list: everyone for system admins and auditors, else the members of
    /// the organizations the actor belongs to; `org` narrows to one organization's members.
    pub async fn users(&self, actor: &Actor, org: Option<OrgId>) -> Result<Vec<User>, DomainError> {
        let everyone = actor.is_system_admin() || actor.is_system_auditor();
        let orgs: Vec<OrgId> = match org {
            Some(org) if org == ROOT_ORG && everyone => return Ok(self.store.list_users().await?),
            Some(org) if actor.may_enter_org(org) => vec![org],
            Some(_) => {
                return Err(DomainError::Forbidden {
                    action: "list users".into(),
                });
            }
            None if everyone => return Ok(self.store.list_users().await?),
            None => actor.memberships.iter().map(|m| m.org_id).collect(),
        };
        let members: std::collections::HashSet<UserId> = self
            .store
            .memberships_in(orgs)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| members.contains(&u.id))
            .collect())
    }

    /// One user the actor may see (themselves, members of shared organizations, or anyone for
    /// system admins and auditors).
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<User, DomainError> {
        self.get_user_in(actor, None, id).await
    }

    /// One user the actor may see, as [`Engine::users`] lists them for `org` (`None`: every
    /// organization the actor shares with them), or the actor themselves; anyone else is not
    /// found, so an organization's view shows no member of another one.
    pub async fn get_user_in(
        &self,
        actor: &Actor,
        org: Option<OrgId>,
        id: UserId,
    ) -> Result<User, DomainError> {
        if id == actor.id() {
            return Ok(actor.user.clone());
        }
        let visible = self
            .users(actor, org)
            .await?
            .into_iter()
            .find(|u| u.id == id);
        visible.ok_or_else(|| DomainError::NotFound {
            kind: "user",
            id: id.to_string(),
        })
    }

    /// Memberships of an organization the actor may enter.
    pub async fn members(&self, actor: &Actor, org: OrgId) -> Result<Vec<Membership>, DomainError> {
        if !actor.may_enter_org(org) {
            return Err(DomainError::Forbidden {
                action: "list members".into(),
            });
        }
        Ok(self.store.memberships_in(vec![org]).await?)
    }

    /// Organizations the actor may enter (all of them for system admins and auditors).
    pub async fn orgs(&self, actor: &Actor) -> Result<Vec<Org>, DomainError> {
        let orgs = self.store.list_orgs().await?;
        Ok(orgs
            .into_iter()
            .filter(|o| actor.may_enter_org(o.id))
            .collect())
    }

    /// Access keys of a user (their own, or any for system administrators); secrets included,
    /// so dialects must not render them.
    pub async fn access_keys(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<Vec<AccessKey>, DomainError> {
        if user != actor.id() && !actor.is_system_admin() {
            return Err(DomainError::Forbidden {
                action: "list access keys".into(),
            });
        }
        Ok(self.store.access_keys_of(user).await?)
    }

    /// Gives `user`, a member of `org`, exactly `roles` there (org managers): the others they
    /// hold there are taken away, and with none left they leave it. A user who is no member,
    /// also one removed by a concurrent request, is not found (the replacement put them back).
    /// Pending tickets stranded by the change are rejected once it is made, where their flow
    /// asks for it ([`Flow::stranded_reason`]), not while the roles are being replaced.
    pub async fn set_member_roles(
        &self,
        actor: &Actor,
        org: OrgId,
        user: UserId,
        roles: &[RoleId],
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        actor.may(AdminAction::ManageMembers(org))?;
        let memberships: Vec<(OrgId, RoleId)> = roles.iter().map(|role| (org, *role)).collect();
        self.check_memberships(&memberships).await?;
        if self.store.get_user(user).await?.is_none() {
            return Err(DomainError::NotFound {
                kind: "user",
                id: user.to_string(),
            });
        }
        // In one transaction: between a removal and the roles added again, a stranded-ticket
        // sweep of a concurrent change saw the user gone (and a failure left them so).
        self.store
            .replace_member_roles(org, user, roles.to_vec())
            .await
            .map_err(deleted_meanwhile("user", user))?;
        // With a role left the user stays a member, as eligible as before (the role does not
        // matter to who may decide a level already built).
        if roles.is_empty() {
            self.reject_stranded(actor, user, now).await;
        }
        Ok(())
    }

    /// Takes one role of `user` in `org` away (org managers), keeping their others there: one
    /// row, so removals of two roles at once both stay (as the replacement of the rest, each
    /// undid the other's). With no role left they have left the organization, and the pending
    /// tickets this stranded are rejected where their flow asks for it.
    pub async fn remove_member_role(
        &self,
        actor: &Actor,
        org: OrgId,
        user: UserId,
        role: RoleId,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        actor.may(AdminAction::ManageMembers(org))?;
        self.store
            .remove_member_role(org, user, role)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => DomainError::NotFound {
                    kind: "role binding",
                    id: format!("{user} in {org}"),
                },
                other => other.into(),
            })?;
        let still_member = self
            .store
            .memberships_of(user)
            .await?
            .iter()
            .any(|m| m.org_id == org);
        if !still_member {
            self.reject_stranded(actor, user, now).await;
        }
        Ok(())
    }

    /// Deletes a user (system administrators; never yourself), then rejects the pending
    /// tickets this stranded where their flow asks for it ([`Flow::stranded_reason`]).
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        actor.may(AdminAction::DeleteUser)?;
        if actor.id() == id {
            return Err(DomainError::invalid(
                "id",
                "invalid",
                "you cannot delete yourself",
            ));
        }
        let mut attempts = 0;
        loop {
            match self.store.delete_user(id).await {
                Ok(()) => break,
                // PostgreSQL aborted it as a deadlock with a concurrent change of the user's
                // rows (its memberships), which answered 500 and kept the user.
                Err(StoreError::VersionConflict) if attempts + 1 < MAX_ATTEMPTS => attempts += 1,
                Err(StoreError::VersionConflict) => return Err(DomainError::busy("delete user")),
                Err(other) => return Err(deleted_meanwhile("user", id)(other)),
            }
        }
        self.reject_stranded(actor, id, now).await;
        Ok(())
    }

    /// Rejects, recorded as `by`'s, each pending ticket that `user` (who has just left an
    /// organization, been deleted, deactivated or demoted from system administrator) is an
    /// approver of, whose flow asks for it ([`Flow::stranded_reason`]: ZStack's), and one of
    /// whose remaining levels nobody may decide any more. It runs after the change that
    /// stranded them, not in its transaction, and answers nothing of its own: the change is
    /// made, and a ticket it could not reject (the store failing meanwhile) stays pending, as
    /// tickets of every other flow do, for its applicant to close.
    async fn reject_stranded(&self, by: &Actor, user: UserId, now: DateTime<Utc>) {
        // Only the flows that ask for it are looked at, and only their organizations' tickets:
        // a system administrator is an approver of every default-flow ticket.
        let Ok(flows) = self.flows_of_every_org().await else {
            return;
        };
        let reasons: HashMap<FlowId, String> = flows
            .iter()
            .filter_map(|f| f.stranded_reason().map(|reason| (f.id, reason.to_owned())))
            .collect();
        if reasons.is_empty() {
            return;
        }
        let mut orgs: Vec<OrgId> = flows
            .iter()
            .filter(|f| reasons.contains_key(&f.id))
            .map(|f| f.org_id)
            .collect();
        orgs.sort_unstable();
        orgs.dedup();
        const PAGE: u32 = 500;
        let mut query = TicketQuery {
            states: vec![TicketState::Pending],
            org_ids: Some(orgs),
            limit: PAGE,
            ..TicketQuery::new(Visibility::Related {
                user,
                orgs: Vec::new(),
            })
        };
        // Every candidate first: the rejections below take tickets out of the query's rows.
        let mut candidates = Vec::new();
        loop {
            let Ok(page) = self.store.list_tickets(query.clone()).await else {
                break;
            };
            candidates.extend(
                page.items
                    .iter()
                    .filter(|t| {
                        t.steps.iter().any(|step| {
                            step.level >= t.approval_step
                                && step.assignees.iter().any(|a| a.user_id == user)
                        })
                    })
                    .filter_map(|t| Some((t.id, reasons.get(&t.flow_id?)?.clone()))),
            );
            if page.items.len() < PAGE as usize {
                break;
            }
            query.offset += u64::from(PAGE);
        }
        for (id, reason) in candidates {
            // Each on its own: one that fails leaves the others to be rejected.
            let _pending_still = self.reject_if_stranded(by, id, reason, now).await;
        }
    }

    /// A new round of a flow that rejects its stranded tickets (`reason`, ZStack's), once
    /// written, rejected if an approver left while it was resolved and written: the change's own
    /// look for the tickets it stranded ([`Engine::reject_stranded`]) runs once the change has
    /// committed, and passed by a round committed after it. So the round looks again, on the
    /// directory read afresh: a change committed before this look is seen here, and the look of
    /// one committed after it finds the round. Until 2026-12-08 a ticket opened in the moment
    /// of a removal stayed pending, and nobody could decide it. A failed look leaves the ticket
    /// as written, as a failed look of the change's does.
    async fn stranded_once_written(
        &self,
        by: &Actor,
        written: Ticket,
        reason: String,
        now: DateTime<Utc>,
    ) -> Ticket {
        if written.state != TicketState::Pending || self.store.directory_generation().await.is_err()
        {
            return written;
        }
        match self.reject_if_stranded(by, written.id, reason, now).await {
            Ok(Some(rejected)) => rejected,
            _ => written,
        }
    }

    /// Rejects ticket `id` with `reason` if it is pending and one of its remaining levels has
    /// no approver left, again on the stored ticket after a concurrent change; answers the
    /// rejected ticket, or `None` where it rejected nothing.
    async fn reject_if_stranded(
        &self,
        by: &Actor,
        id: TicketId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Option<Ticket>, DomainError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(ticket) = self.store.get_ticket(id).await? else {
                return Ok(None);
            };
            let remaining: Vec<Step> = ticket
                .steps
                .iter()
                .filter(|step| step.level >= ticket.approval_step)
                .cloned()
                .collect();
            if ticket.state != TicketState::Pending
                || self.undecidable_level(&remaining).await?.is_none()
            {
                return Ok(None);
            }
            let write = {
                let mut new_id = || self.new_id(now);
                machine::apply(
                    &ticket,
                    by,
                    Action::RejectStranded {
                        reason: reason.clone(),
                    },
                    &mut Ctx {
                        now,
                        new_id: &mut new_id,
                    },
                )?
            };
            match self.store.write_ticket(write).await {
                Ok(rejected) => return Ok(Some(rejected)),
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::busy("reject a stranded ticket"))
    }

    /// Renames an organization (system administrators; built-ins keep their names).
    pub async fn rename_org(
        &self,
        actor: &Actor,
        id: OrgId,
        name: &str,
    ) -> Result<Org, DomainError> {
        self.change_org(actor, id, Some(name), None).await
    }

    /// Changes the fields of an organization that are given, its `name` as
    /// [`Engine::rename_org`] does and its `comment`, and answers it as stored after. Only the
    /// given fields are written, so a change of the comment cannot undo a concurrent rename.
    pub async fn change_org(
        &self,
        actor: &Actor,
        id: OrgId,
        name: Option<&str>,
        comment: Option<&str>,
    ) -> Result<Org, DomainError> {
        actor.may(AdminAction::ChangeOrg)?;
        let missing = || DomainError::NotFound {
            kind: "organization",
            id: id.to_string(),
        };
        let org = self.store.get_org(id).await?.ok_or_else(missing)?;
        let name = name.map(str::trim);
        if let Some(name) = name {
            if org.builtin && org.name != name {
                return Err(DomainError::invalid(
                    "name",
                    "invalid",
                    "built-in organizations cannot be renamed",
                ));
            }
            if name.is_empty() || name.chars().count() > 128 {
                return Err(DomainError::invalid(
                    "name",
                    "invalid",
                    "name must be 1 to 128 characters",
                ));
            }
        }
        let change = OrgChange {
            name: name.map(str::to_owned),
            comment: comment.map(str::to_owned),
        };
        self.store
            .update_org(id, change)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => missing(),
                other => unique_to_conflict(other, "organization name"),
            })?;
        self.store.get_org(id).await?.ok_or_else(missing)
    }

    /// Deletes an organization that nothing refers to (system administrators; not built-ins).
    pub async fn delete_org(&self, actor: &Actor, id: OrgId) -> Result<(), DomainError> {
        actor.may(AdminAction::DeleteOrg)?;
        let org = self
            .store
            .get_org(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                kind: "organization",
                id: id.to_string(),
            })?;
        if org.builtin {
            return Err(DomainError::invalid(
                "id",
                "invalid",
                "built-in organizations cannot be deleted",
            ));
        }
        self.store.delete_org(id).await.map_err(|e| match e {
            StoreError::Conflict { .. } => {
                DomainError::Conflict("the organization still has tickets, flows or assets".into())
            }
            other => deleted_meanwhile("organization", id)(other),
        })
    }

    /// Removes a user from an organization (org managers), and so from its grants
    /// ([`Store::replace_member_roles`]), then rejects the pending tickets this stranded where
    /// their flow asks for it ([`Flow::stranded_reason`]).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        org: OrgId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        actor.may(AdminAction::ManageMembers(org))?;
        self.store.remove_member(org, user).await?;
        self.reject_stranded(actor, user, now).await;
        Ok(())
    }

    /// Deletes an access key (its owner or a system administrator).
    pub async fn delete_access_key(
        &self,
        actor: &Actor,
        id: AccessKeyId,
    ) -> Result<(), DomainError> {
        self.own_access_key(actor, id).await?;
        self.store
            .delete_access_key(id)
            .await
            .map_err(|e| access_key_gone(e, id))
    }

    /// Enables or disables an access key (its owner or a system administrator): a disabled key
    /// authenticates nothing until enabled again. Answers the key as stored after.
    pub async fn set_access_key_active(
        &self,
        actor: &Actor,
        id: AccessKeyId,
        active: bool,
    ) -> Result<AccessKey, DomainError> {
        let mut key = self.own_access_key(actor, id).await?;
        self.store
            .set_access_key_active(id, active)
            .await
            .map_err(|e| access_key_gone(e, id))?;
        key.is_active = active;
        Ok(key)
    }

    /// An access key the actor may change: their own, or any for a system administrator;
    /// another's is not found.
    async fn own_access_key(
        &self,
        actor: &Actor,
        id: AccessKeyId,
    ) -> Result<AccessKey, DomainError> {
        match self.store.get_access_key(id).await? {
            Some(key) if key.user_id == actor.id() || actor.is_system_admin() => Ok(key),
            _ => Err(access_key_gone(StoreError::NotFound, id)),
        }
    }

    // ------------------------------------------------------------------ catalog

    fn readable_catalog_orgs(actor: &Actor, wanted: Option<Vec<OrgId>>) -> Option<Vec<OrgId>> {
        if actor.is_system_admin() || actor.is_system_auditor() {
            return wanted;
        }
        let mine: Vec<OrgId> = actor.memberships.iter().map(|m| m.org_id).collect();
        Some(match wanted {
            Some(wanted) => wanted.into_iter().filter(|o| mine.contains(o)).collect(),
            None => mine,
        })
    }

    /// Creates an asset in an organization the actor manages (an id already taken is refused on
    /// `id`; two creations with one client-chosen id do not both succeed). Its nodes must exist
    /// in its organization.
    pub async fn create_asset(
        &self,
        actor: &Actor,
        mut asset: Asset,
    ) -> Result<Asset, DomainError> {
        actor.may(AdminAction::ManageAssets(asset.org_id))?;
        if self.find_asset(asset.id).await?.is_some() {
            return Err(asset_id_taken());
        }
        self.check_asset(&mut asset, None).await?;
        match self.store.put_asset(asset.clone()).await {
            Ok(()) => Ok(asset),
            Err(StoreError::Conflict { constraint })
                if constraint == crate::catalog::ASSET_ID_TAKEN =>
            {
                Err(asset_id_taken())
            }
            Err(other) => Err(unique_to_conflict(other, "asset name")),
        }
    }

    /// Changes the fields `change` gives of asset `id`, in an organization the actor manages
    /// (also the one it moves to), and only those: concurrent changes of different fields both
    /// stay, and a change racing the asset's deletion is `NotFound` (an upsert brought it back).
    /// Answers the asset as stored after.
    ///
    /// The nodes it is in must exist in its organization; of the ones the stored asset was in,
    /// those deleted since are dropped (a node's deletion takes it off its assets, as
    /// JumpServer's), so a change that sends the asset's nodes back as read still succeeds.
    pub async fn update_asset(
        &self,
        actor: &Actor,
        id: AssetId,
        mut change: AssetChange,
        now: DateTime<Utc>,
    ) -> Result<Asset, DomainError> {
        let gone = || deleted_meanwhile("asset", id)(StoreError::NotFound);
        let existing = self.find_asset(id).await?.ok_or_else(gone)?;
        actor.may(AdminAction::ManageAssets(existing.org_id))?;
        let mut wanted = change.applied_to(&existing);
        actor.may(AdminAction::ManageAssets(wanted.org_id))?;
        let nodes_as_sent = wanted.node_ids.clone();
        self.check_asset(&mut wanted, Some(&existing)).await?;
        // The nodes as checked (deleted ones dropped, each once), where that changed them.
        if wanted.node_ids != nodes_as_sent {
            change.node_ids = Some(wanted.node_ids);
        }
        self.store
            .update_asset(id, change, now)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => gone(),
                other => unique_to_conflict(other, "asset name"),
            })?;
        self.find_asset(id).await?.ok_or_else(gone)
    }

    /// Checks an asset about to be written (`existing`: as stored before a change): its name
    /// and address, and its nodes, which must be its organization's; deleted nodes the stored
    /// asset was in are dropped, and each node is kept once, as JumpServer's relation holds it.
    async fn check_asset(
        &self,
        asset: &mut Asset,
        existing: Option<&Asset>,
    ) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if asset.name.trim().is_empty() || asset.name.chars().count() > 128 {
            errors.push(crate::FieldError::new(
                "name",
                "invalid",
                "name must be 1 to 128 characters",
            ));
        }
        if asset.address.trim().is_empty() || asset.address.chars().count() > 767 {
            errors.push(crate::FieldError::new(
                "address",
                "invalid",
                "address must be 1 to 767 characters",
            ));
        }
        if !asset.node_ids.is_empty() {
            let query = CatalogQuery {
                ids: Some(asset.node_ids.iter().map(|n| n.uuid()).collect()),
                ..CatalogQuery::default()
            };
            let (_, found) = self.store.list_nodes(query).await?;
            let org = asset.org_id;
            let exists = |id: &NodeId| found.iter().any(|n| n.id == *id && n.org_id == org);
            let deleted = |id: &NodeId| {
                existing.is_some_and(|e| e.node_ids.contains(id))
                    && !found.iter().any(|n| n.id == *id)
            };
            if asset.node_ids.iter().any(|id| !exists(id) && !deleted(id)) {
                errors.push(crate::FieldError::new(
                    "nodes",
                    "invalid",
                    "unknown node in this organization",
                ));
            }
            let mut kept = std::collections::HashSet::new();
            asset.node_ids.retain(|id| exists(id) && kept.insert(*id));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    async fn find_asset(&self, id: AssetId) -> Result<Option<Asset>, DomainError> {
        let query = CatalogQuery {
            ids: Some(vec![id.uuid()]),
            ..CatalogQuery::default()
        };
        Ok(self.store.list_assets(query).await?.1.into_iter().next())
    }

    /// The node `id` (in `org` only, when given).
    async fn find_node(&self, id: NodeId, org: Option<OrgId>) -> Result<Option<Node>, DomainError> {
        let query = CatalogQuery {
            org_ids: org.map(|org| vec![org]),
            ids: Some(vec![id.uuid()]),
            ..CatalogQuery::default()
        };
        Ok(self.store.list_nodes(query).await?.1.into_iter().next())
    }

    /// One asset the actor may see.
    pub async fn get_asset(&self, actor: &Actor, id: AssetId) -> Result<Asset, DomainError> {
        match self.find_asset(id).await? {
            Some(asset) if actor.may_enter_org(asset.org_id) => Ok(asset),
            _ => Err(DomainError::NotFound {
                kind: "asset",
                id: id.to_string(),
            }),
        }
    }

    /// Deletes an asset in an organization the actor manages.
    pub async fn delete_asset(&self, actor: &Actor, id: AssetId) -> Result<(), DomainError> {
        let asset = self.get_asset(actor, id).await?;
        actor.may(AdminAction::ManageAssets(asset.org_id))?;
        self.store
            .delete_asset(id)
            .await
            .map_err(deleted_meanwhile("asset", id))
    }

    /// Assets the actor may see (members see their organizations' assets).
    pub async fn assets(
        &self,
        actor: &Actor,
        mut query: CatalogQuery,
    ) -> Result<(u64, Vec<Asset>), DomainError> {
        query.check_size()?;
        query.org_ids = Self::readable_catalog_orgs(actor, query.org_ids.take());
        Ok(self.store.list_assets(query).await?)
    }

    /// Creates a node under `parent` (or a root node) in an organization the actor manages.
    pub async fn create_node(
        &self,
        actor: &Actor,
        org_id: OrgId,
        name: &str,
        parent: Option<NodeId>,
        now: DateTime<Utc>,
    ) -> Result<Node, DomainError> {
        actor.may(AdminAction::ManageNodes(org_id))?;
        // The name alone first, so a bad name is the answer whatever the parent.
        check_node_name("", name)?;
        let id = NodeId(self.new_id(now));
        // The store writes the node only under its parent's path as read here: a parent renamed
        // meanwhile is read again.
        for _ in 0..NODE_PATH_ATTEMPTS {
            let prefix = match parent {
                Some(parent_id) => {
                    let parent = self.find_node(parent_id, Some(org_id)).await?;
                    parent.map(|p| p.full_value).ok_or_else(|| {
                        DomainError::invalid(
                            "parent",
                            "invalid",
                            "unknown parent node in this organization",
                        )
                    })?
                }
                None => String::new(),
            };
            let full_value = check_node_name(&prefix, name)?;
            let node = Node {
                id,
                org_id,
                name: name.trim().into(),
                parent_id: parent,
                full_value,
                created_at: now,
            };
            match self.store.put_node(node.clone()).await {
                Ok(()) => return Ok(node),
                // Read the generation again, so the parent is not read from a cache that has
                // not seen the rename (another process's).
                Err(StoreError::VersionConflict) => self.store.directory_generation().await?,
                Err(other) => return Err(unique_to_conflict(other, "node")),
            };
        }
        Err(DomainError::busy("create node"))
    }

    /// Renames a node (its organization's managers); its descendants' paths follow. A name
    /// taken beside it is a conflict, and the longest descendant's path must stay within the
    /// limit.
    pub async fn rename_node(
        &self,
        actor: &Actor,
        id: NodeId,
        name: &str,
    ) -> Result<Node, DomainError> {
        check_node_name("", name)?;
        let name = name.trim();
        // The store renames the node only at the path read here: one whose path changed
        // meanwhile (a parent renamed, another rename of it) is read again and renamed there.
        for _ in 0..NODE_PATH_ATTEMPTS {
            let node = self
                .find_node(id, None)
                .await?
                .ok_or_else(|| DomainError::NotFound {
                    kind: "node",
                    id: id.to_string(),
                })?;
            actor.may(AdminAction::ManageNodes(node.org_id))?;
            let parent_path = node
                .full_value
                .rsplit_once('/')
                .map_or("", |(parent, _)| parent);
            let new_path = check_node_name(parent_path, name)?;
            if new_path == node.full_value {
                return Ok(node);
            }
            // A descendant's path gives up its old prefix (shorter than it) for the new one.
            let under = format!("{}/", node.full_value);
            let (old_len, new_len) = (node.full_value.chars().count(), new_path.chars().count());
            let in_org = CatalogQuery {
                org_ids: Some(vec![node.org_id]),
                ..CatalogQuery::default()
            };
            let (_, all) = self.store.list_nodes(in_org).await?;
            let too_long = all
                .iter()
                .filter(|n| n.full_value.starts_with(&under))
                .any(|n| n.full_value.chars().count() - old_len + new_len > MAX_NODE_PATH_CHARS);
            if too_long {
                return Err(DomainError::invalid(
                    "value",
                    "invalid",
                    format!(
                        "a node's path (its ancestors' names and its own) is at most \
                         {MAX_NODE_PATH_CHARS} characters, and one below this node would be longer"
                    ),
                ));
            }
            let renamed = self
                .store
                .rename_node(
                    id,
                    name.to_owned(),
                    node.full_value.clone(),
                    new_path.clone(),
                )
                .await;
            match renamed {
                Ok(()) => {
                    return Ok(Node {
                        name: name.to_owned(),
                        full_value: new_path,
                        ..node
                    });
                }
                // Gone, or at another path now: the next round tells which.
                Err(StoreError::NotFound) => self.store.directory_generation().await?,
                Err(other) => return Err(unique_to_conflict(other, "node")),
            };
        }
        Err(DomainError::busy("rename node"))
    }

    /// Nodes the actor may see.
    pub async fn nodes(
        &self,
        actor: &Actor,
        mut query: CatalogQuery,
    ) -> Result<(u64, Vec<Node>), DomainError> {
        query.check_size()?;
        query.org_ids = Self::readable_catalog_orgs(actor, query.org_ids.take());
        Ok(self.store.list_nodes(query).await?)
    }

    /// Deletes a node in an organization the actor manages.
    pub async fn delete_node(&self, actor: &Actor, id: NodeId) -> Result<(), DomainError> {
        match self.find_node(id, None).await? {
            Some(node) => {
                actor.may(AdminAction::ManageNodes(node.org_id))?;
                self.store
                    .delete_node(id)
                    .await
                    .map_err(deleted_meanwhile("node", id))
            }
            None => Err(DomainError::NotFound {
                kind: "node",
                id: id.to_string(),
            }),
        }
    }

    // ------------------------------------------------------------------ flows

    /// Creates a flow in an organization the actor manages.
    pub async fn create_flow(
        &self,
        actor: &Actor,
        input: FlowInput,
        now: DateTime<Utc>,
    ) -> Result<Flow, DomainError> {
        let mut written = self
            .write_flows(actor, &[FlowPlan::Create(input)], None, now)
            .await?;
        written
            .pop()
            .ok_or_else(|| DomainError::busy("create flow"))
    }

    /// Replaces a flow's fields with `change` applied to the stored flow; tickets already
    /// submitted keep their steps.
    pub async fn update_flow(
        &self,
        actor: &Actor,
        id: FlowId,
        change: &(dyn Fn(&mut Flow) + Send + Sync),
        now: DateTime<Utc>,
    ) -> Result<Flow, DomainError> {
        self.update_flow_with(actor, id, change, None, now).await
    }

    /// [`Engine::update_flow`] with a dialect's `rule` against the other flows of its
    /// organization (ZStack: a ticket type belongs to one collection), checked with the core's
    /// own in the write's transaction.
    pub async fn update_flow_with(
        &self,
        actor: &Actor,
        id: FlowId,
        change: &(dyn Fn(&mut Flow) + Send + Sync),
        rule: Option<FlowRule>,
        now: DateTime<Utc>,
    ) -> Result<Flow, DomainError> {
        let mut written = self
            .write_flows(actor, &[FlowPlan::Update { id, change }], rule, now)
            .await?;
        written
            .pop()
            .ok_or_else(|| DomainError::busy("update flow"))
    }

    /// Writes flows together, all or none (a bulk update): each plan is checked as its own
    /// use case would check it, then the store writes them in one transaction, and a version
    /// conflict runs the whole batch again on the stored flows. Answers the flows written, in
    /// the plans' order.
    pub async fn write_flows(
        &self,
        actor: &Actor,
        plans: &[FlowPlan<'_>],
        rule: Option<FlowRule>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Flow>, DomainError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut writes = Vec::with_capacity(plans.len());
            for plan in plans {
                writes.push(self.planned_flow(actor, plan, now).await?);
            }
            let flows = writes.iter().map(|w| w.flow().clone()).collect();
            match self.store.write_flows(writes, rule.clone()).await {
                Ok(()) => return Ok(flows),
                Err(StoreError::VersionConflict) => continue,
                // The only unique key of a flow the rules do not check: a client-chosen id
                // (`FlowPlan::CreateAs`) another write took meanwhile.
                Err(e) => return Err(unique_to_conflict(e, "a flow with this id")),
            }
        }
        Err(DomainError::busy("write flows"))
    }

    /// The write one plan makes, checked: who may manage the flow's organization (before and
    /// after an update's change), the flow's own validity, and the users it copies.
    async fn planned_flow(
        &self,
        actor: &Actor,
        plan: &FlowPlan<'_>,
        now: DateTime<Utc>,
    ) -> Result<FlowWrite, DomainError> {
        let mut copied_before = Vec::new();
        let write = match plan {
            FlowPlan::Create(input) | FlowPlan::CreateAs(_, input) => {
                actor.may(AdminAction::ManageFlows(input.org_id))?;
                let id = match plan {
                    FlowPlan::CreateAs(id, _) => *id,
                    _ => FlowId(self.new_id(now)),
                };
                let input = input.clone();
                FlowWrite::Create(Flow {
                    id,
                    org_id: input.org_id,
                    name: input.name,
                    description: input.description,
                    kinds: input.kinds,
                    is_default: input.is_default,
                    enabled: input.enabled,
                    levels: input.levels,
                    cc_users: input.cc_users,
                    attributes: input.attributes,
                    created_by: actor.user.name.clone(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                })
            }
            FlowPlan::Update { id, change } | FlowPlan::UpdateAt { id, change, .. } => {
                let stored = self.get_flow(actor, *id).await?;
                actor.may(AdminAction::ManageFlows(stored.org_id))?;
                if let FlowPlan::UpdateAt { version, .. } = plan
                    && *version != stored.version
                {
                    return Err(FLOW_CHANGED);
                }
                copied_before.clone_from(&stored.cc_users);
                let mut flow = stored.clone();
                change(&mut flow);
                flow.id = stored.id;
                flow.created_at = stored.created_at;
                flow.version = stored.version + 1;
                flow.updated_at = now;
                actor.may(AdminAction::ManageFlows(flow.org_id))?;
                FlowWrite::Update {
                    flow,
                    expected_version: stored.version,
                }
            }
        };
        write.flow().validate().map_err(DomainError::Validation)?;
        // Copies go to users who may read the organization's tickets; only the ones a write
        // adds are checked, so a flow whose copied user left since can still be edited.
        let flow = write.flow();
        for &user in flow.cc_users.iter().filter(|u| !copied_before.contains(u)) {
            if !self.may_be_copied(user, flow.org_id).await? {
                return Err(DomainError::invalid(
                    "cc_users",
                    "invalid",
                    format!(
                        "the user {user} may not be copied: no active member of the flow's \
                         organization"
                    ),
                ));
            }
        }
        Ok(write)
    }

    /// Those of `users` who may be copied on tickets of `org`, in their order: active, and
    /// members of it (anyone active for the global organization).
    pub async fn copyable_in(
        &self,
        org: OrgId,
        users: &[UserId],
    ) -> Result<Vec<UserId>, DomainError> {
        let mut copyable = Vec::with_capacity(users.len());
        for &user in users {
            if self.may_be_copied(user, org).await? {
                copyable.push(user);
            }
        }
        Ok(copyable)
    }

    /// Whether `user` may be copied on tickets of `org`: active, and a member of it (anyone
    /// active for the global organization, whose flows serve every organization; the copy is
    /// checked again in the ticket's organization at the opening).
    async fn may_be_copied(&self, user: UserId, org: OrgId) -> Result<bool, DomainError> {
        Ok(self
            .active_actor(user)
            .await?
            .is_some_and(|copied| org == ROOT_ORG || copied.may_enter_org(org)))
    }

    /// A flow visible to the actor (members of its organization; global flows for everyone).
    pub async fn get_flow(&self, actor: &Actor, id: FlowId) -> Result<Flow, DomainError> {
        let flow = self.store.get_flow(id).await?;
        match flow {
            Some(flow) if flow.org_id == ROOT_ORG || actor.may_enter_org(flow.org_id) => Ok(flow),
            _ => Err(DomainError::NotFound {
                kind: "flow",
                id: id.to_string(),
            }),
        }
    }

    /// Flows of an organization plus the global flows it does not override by name.
    pub async fn list_flows(&self, actor: &Actor, org: OrgId) -> Result<Vec<Flow>, DomainError> {
        if !actor.may_enter_org(org) {
            return Err(DomainError::Forbidden {
                action: "list flows".into(),
            });
        }
        let flows = self.store.list_flows(org_and_global(org)).await?;
        Ok(effective_flows(&flows, org).cloned().collect())
    }

    /// Every organization's flows and the global ones, overrides included: what the global
    /// organization sees (JumpServer's root org lists every org's flows). For those who may
    /// enter it, system administrators and auditors.
    pub async fn list_flows_everywhere(&self, actor: &Actor) -> Result<Vec<Flow>, DomainError> {
        if !actor.may_enter_org(ROOT_ORG) {
            return Err(DomainError::Forbidden {
                action: "list flows".into(),
            });
        }
        Ok(self.flows_of_every_org().await?)
    }

    /// Every flow in the store, for checks that span organizations (a ZStack flow uuid must be
    /// no other flow's); no caller is checked, so answer nothing of it to a caller as it is.
    pub async fn flows_of_every_org(&self) -> Result<Vec<Flow>, StoreError> {
        let mut orgs: Vec<OrgId> = self.store.list_orgs().await?.iter().map(|o| o.id).collect();
        if !orgs.contains(&ROOT_ORG) {
            orgs.push(ROOT_ORG);
        }
        Ok(self.store.list_flows(orgs).await?.to_vec())
    }

    /// Deletes a flow.
    pub async fn delete_flow(&self, actor: &Actor, id: FlowId) -> Result<(), DomainError> {
        let flow = self.get_flow(actor, id).await?;
        actor.may(AdminAction::ManageFlows(flow.org_id))?;
        self.store
            .delete_flow(id)
            .await
            .map_err(deleted_meanwhile("flow", id))
    }

    /// The flow a new ticket of `kind` in `org` would use.
    pub async fn choose_flow(
        &self,
        org: OrgId,
        kind: &str,
        choice: Option<FlowId>,
    ) -> Result<Flow, DomainError> {
        let flows = self.store.list_flows(org_and_global(org)).await?;
        let candidates: Vec<&Flow> = effective_flows(&flows, org)
            .filter(|f| f.enabled && f.routes(kind))
            .collect();
        if let Some(id) = choice {
            return candidates
                .into_iter()
                .find(|f| f.id == id)
                .cloned()
                .ok_or_else(|| {
                    DomainError::invalid(
                        "flow_id",
                        "invalid",
                        "the selected ticket flow is not available",
                    )
                });
        }
        // Flows that name the ticket's type come before catch-all ones (a catch-all is a
        // fallback, e.g. a TopHC process serving every type), then an organization's own flows
        // before global ones.
        let candidates: Vec<&Flow> = if candidates.iter().any(|f| f.kinds.iter().any(|k| k == kind))
        {
            candidates
                .into_iter()
                .filter(|f| f.kinds.iter().any(|k| k == kind))
                .collect()
        } else {
            candidates
        };
        let candidates: Vec<&Flow> = if candidates.iter().any(|f| f.org_id == org) {
            candidates.into_iter().filter(|f| f.org_id == org).collect()
        } else {
            candidates
        };
        match candidates.as_slice() {
            [] => Err(DomainError::invalid(
                "flow",
                "not_found",
                format!("the ticket flow `{kind}` does not exist"),
            )),
            [only] => Ok((*only).clone()),
            _ => {
                let defaults: Vec<&Flow> =
                    candidates.into_iter().filter(|f| f.is_default).collect();
                match defaults.as_slice() {
                    [default] => Ok((*default).clone()),
                    _ => Err(DomainError::invalid(
                        "flow_id",
                        "required",
                        "please select a ticket flow",
                    )),
                }
            }
        }
    }

    /// The users `selectors` are evaluated against in `org`, and the org roles they hold in
    /// the other organizations role pairs name (`(org, user) -> roles`).
    async fn approver_candidates(
        &self,
        org: OrgId,
        selectors: &[&Selector],
    ) -> Result<
        (
            Arc<Vec<DirectoryEntry>>,
            HashMap<(OrgId, UserId), Vec<RoleId>>,
        ),
        DomainError,
    > {
        let foreign: Vec<OrgId> = selectors.iter().flat_map(|s| s.foreign_orgs()).collect();
        let mut roles_by_member: HashMap<(OrgId, UserId), Vec<RoleId>> = HashMap::new();
        if !foreign.is_empty() {
            for m in self.store.memberships_in(foreign).await? {
                roles_by_member
                    .entry((m.org_id, m.user_id))
                    .or_default()
                    .push(m.role_id);
            }
        }
        // Role pairs may name users of other organizations: read every user instead.
        let role_pairs = selectors
            .iter()
            .any(|s| matches!(s, Selector::RolePairs { .. }));
        let directory_org = if role_pairs { ROOT_ORG } else { org };
        Ok((
            self.store.org_directory(directory_org).await?,
            roles_by_member,
        ))
    }

    async fn steps_for(
        &self,
        flow_org: OrgId,
        levels: &[Level],
        applicant: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Step>, DomainError> {
        let selectors: Vec<&Selector> = levels.iter().map(|l| &l.selector).collect();
        let (directory, roles_by_member) = self.approver_candidates(flow_org, &selectors).await?;
        let lookup = |org: OrgId, user: UserId| {
            roles_by_member
                .get(&(org, user))
                .cloned()
                .unwrap_or_default()
        };
        Ok(machine::build_steps(
            flow_org, levels, &directory, applicant, &lookup, now,
        ))
    }

    // ------------------------------------------------------------------ tickets

    /// Opens (or saves as a draft) a ticket.
    pub async fn open_ticket(
        &self,
        actor: &Actor,
        input: NewTicket,
        now: DateTime<Utc>,
    ) -> Result<Ticket, DomainError> {
        if !actor.may_enter_org(input.org_id) {
            return Err(DomainError::Forbidden {
                action: "open a ticket in this organization".into(),
            });
        }
        let applicant = match input.applicant {
            Some(id) if id != actor.id() => {
                if !actor.may_open_for_others() {
                    return Err(DomainError::Forbidden {
                        action: "open a ticket for another user".into(),
                    });
                }
                let unknown = || DomainError::invalid("applicant", "invalid", "unknown applicant");
                let user = self.store.get_user(id).await?.ok_or_else(unknown)?;
                // The applicant owns and acts on the ticket: one who may not enter its
                // organization would act inside it.
                let member = self
                    .active_actor(id)
                    .await?
                    .is_some_and(|applicant| applicant.may_enter_org(input.org_id));
                if input.org_id != ROOT_ORG && !member {
                    return Err(DomainError::invalid(
                        "applicant",
                        "invalid",
                        "the applicant is no active member of the ticket's organization",
                    ));
                }
                user
            }
            _ => actor.user.clone(),
        };
        // Whether the levels come from a flow another API manages (see `check_decidable`).
        let mut decidable_only = false;
        let mut stranded_reason = None;
        let (flow_id, levels, flow_org, mut cc_users) = match &input.flow {
            FlowChoice::Explicit(levels) => {
                if !actor.is_system_admin() {
                    return Err(DomainError::Forbidden {
                        action: "route a ticket explicitly".into(),
                    });
                }
                for (i, level) in levels.iter().enumerate() {
                    let errors = level.selector.validate(&format!("levels[{i}].selector"));
                    if !errors.is_empty() {
                        return Err(DomainError::Validation(errors));
                    }
                }
                (None, levels.clone(), input.org_id, Vec::new())
            }
            FlowChoice::Chosen { pool, approver } => {
                if *approver == applicant.id {
                    return Err(DomainError::invalid(
                        "approver",
                        "invalid",
                        "an applicant cannot choose themselves as approver",
                    ));
                }
                let errors = pool.validate("approver_pool");
                if !errors.is_empty() {
                    return Err(DomainError::Validation(errors));
                }
                let eligible = self.eligible_approvers(input.org_id, pool).await?;
                if !eligible.iter().any(|u| u.id == *approver) {
                    return Err(DomainError::invalid(
                        "approver",
                        "invalid",
                        "the chosen approver may not approve in this organization",
                    ));
                }
                let level = any_level(Selector::Ids {
                    ids: vec![*approver],
                });
                (None, vec![level], input.org_id, Vec::new())
            }
            choice => {
                let wanted = match choice {
                    FlowChoice::Id(id) => Some(*id),
                    _ => None,
                };
                if input.submit || wanted.is_some() {
                    let flow = self.choose_flow(input.org_id, &input.kind, wanted).await?;
                    decidable_only = flow.dialect().is_some();
                    stranded_reason = flow.stranded_reason().map(str::to_owned);
                    (
                        Some(flow.id),
                        flow.levels.clone(),
                        flow.resolution_org(input.org_id),
                        flow.cc_users.clone(),
                    )
                } else {
                    (None, Vec::new(), input.org_id, Vec::new())
                }
            }
        };
        for user in &input.cc_users {
            if !cc_users.contains(user) {
                cc_users.push(*user);
            }
        }
        // A copy lets its user read the ticket: only users of the ticket's organization get
        // one (a global flow names users of every organization, and a copied user may have
        // left since), as only its members are resolved as approvers.
        let cc_users = self.copyable_in(input.org_id, &cc_users).await?;
        let steps = if input.submit {
            if levels.is_empty() {
                return Err(DomainError::invalid(
                    "flow",
                    "required",
                    "the ticket has no approval levels",
                ));
            }
            let mut steps = self
                .steps_for(flow_org, &levels, Some(applicant.id), now)
                .await?;
            if decidable_only {
                self.check_decidable(&steps).await?;
            }
            if let FlowChoice::Explicit(levels) = &input.flow {
                named_reviewers_resolved(levels, &steps, applicant.id)?;
            }
            // A chosen approver eligible through role pairs is a member of their organizations.
            if let FlowChoice::Chosen { pool, .. } = &input.flow {
                let pairs = pool.foreign_orgs();
                if !pairs.is_empty() {
                    for step in &mut steps {
                        step.orgs.clone_from(&pairs);
                    }
                }
            }
            Some(steps)
        } else {
            None
        };
        let id = input.id.unwrap_or_else(|| TicketId(self.new_id(now)));
        let id_taken =
            || DomainError::invalid("id", "unique", "a ticket with this id already exists");
        let chosen_id = input.id.is_some();
        if chosen_id && self.store.get_ticket(id).await?.is_some() {
            return Err(id_taken());
        }
        let spec = OpenSpec {
            id,
            org_id: input.org_id,
            kind: input.kind,
            title: input.title,
            applicant_id: applicant.id,
            applicant_display: applicant.display(),
            flow_id,
            steps,
            cc_users,
            payload: input.payload,
            comment: input.comment,
            scope: input.scope,
            serial_day: serial_day(now, self.settings.time_zone),
        };
        let mut write = {
            let mut new_id = || self.new_id(now);
            machine::open(
                spec,
                &mut Ctx {
                    now,
                    new_id: &mut new_id,
                },
            )?
        };
        self.check_applied_catalog(None, &write).await?;
        self.check_grantees(None, &mut write).await?;
        // An opening with the same chosen id committed since the check above: the same answer.
        let stored = self.store.write_ticket(write).await.map_err(|e| match e {
            StoreError::Conflict { .. } if chosen_id => id_taken(),
            other => unique_to_conflict(other, "ticket id"),
        })?;
        Ok(match stranded_reason {
            Some(reason) if input.submit => {
                self.stranded_once_written(actor, stored, reason, now).await
            }
            _ => stored,
        })
    }

    /// The rule for a new round routed by a flow another API manages (a TopHC process, a ZStack
    /// chain), or reopened with the assignees it had: every level has an assignee who may still
    /// decide it (active, and a member of an organization the level was resolved from, see
    /// `machine::still_eligible`). No administrator decides in an assignee's place, so a level
    /// nobody can decide left the ticket pending until its applicant withdrew it. A JumpServer
    /// opening keeps JumpServer's documented behaviour: such a level is opened, and the ticket
    /// can then only be closed.
    async fn check_decidable(&self, steps: &[Step]) -> Result<(), DomainError> {
        match self.undecidable_level(steps).await? {
            None => Ok(()),
            Some(level) => Err(DomainError::invalid(
                "flow",
                "no_approver",
                format!(
                    "level {level} of the approval flow has no approver: nobody could decide the \
                     ticket"
                ),
            )),
        }
    }

    /// The first of `steps` that nobody may decide any more: none of its assignees who have
    /// yet to decide is an active account still in the step's organizations.
    async fn undecidable_level(&self, steps: &[Step]) -> Result<Option<u32>, DomainError> {
        for step in steps {
            let mut decidable = false;
            for assignee in step
                .assignees
                .iter()
                .filter(|a| a.decision == Decision::Pending)
            {
                let actor = self.active_actor(assignee.user_id).await?;
                if actor.is_some_and(|actor| machine::still_eligible(step, &actor)) {
                    decidable = true;
                    break;
                }
            }
            if !decidable {
                return Ok(Some(step.level));
            }
        }
        Ok(None)
    }

    /// The actor of `user` ([`Engine::actor`]), or `None` for an unknown or inactive account.
    async fn active_actor(&self, user: UserId) -> Result<Option<Actor>, DomainError> {
        match self.actor(user).await {
            Ok(actor) => Ok(Some(actor)),
            Err(DomainError::Unauthenticated) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The core's rule for the users a grant is given to, so it gives nothing to a user of
    /// another organization: every proposer a table permission's write adds (`before`: the
    /// content it replaces) may enter the ticket's organization; and when the write grants,
    /// every user of the grant (the applicant, a table permission's proposers), checked at the
    /// opening, still may, and is active: one removed, deactivated or deleted since is refused,
    /// and the approver may reject instead; so is a grant whose applicant's account was deleted.
    /// The grant's users who may enter only as members become its [`Grant::members`], whose
    /// roles the store checks again as it commits.
    async fn check_grantees(
        &self,
        before: Option<&Ticket>,
        write: &mut TicketWrite,
    ) -> Result<(), DomainError> {
        let ticket = &write.ticket;
        let users = match &write.grant {
            // The grant is the applicant's (with a table permission's proposers beside them):
            // once their account is deleted, it would go to the others alone, or to nobody.
            Some(_) if ticket.applicant_id.is_none() => {
                return Err(DomainError::invalid(
                    "applicant",
                    "invalid",
                    "the applicant's account was deleted: the application can only be rejected",
                ));
            }
            Some(grant) => grant.users.clone(),
            None if ticket.kind == crate::payload::KIND_DATA_PERMISSION
                && content_changed(before, ticket) =>
            {
                let had = before
                    .map(|b| crate::payload::proposer_users(&b.payload))
                    .unwrap_or_default();
                crate::payload::proposer_users(&ticket.payload)
                    .into_iter()
                    .filter(|id| !had.contains(id) && ticket.applicant_id != Some(*id))
                    .collect()
            }
            None => return Ok(()),
        };
        let mut members = Vec::new();
        for id in users {
            let Some(user) = self
                .active_actor(id)
                .await?
                .filter(|user| user.may_enter_org(ticket.org_id))
            else {
                return Err(crate::ticket::grantee_left(
                    ticket.applicant_id == Some(id),
                    id,
                ));
            };
            if !user.is_system_admin() && !user.is_system_auditor() {
                members.push(id);
            }
        }
        if let Some(grant) = write.grant.as_mut() {
            grant.members = members;
        }
        Ok(())
    }

    /// The core's rule for an asset application's content: every asset and node it names
    /// belongs to the ticket's organization, so its grant gives nothing of another one. Checked
    /// for the ids a write adds (`before`: the content it replaces, `None` at the opening),
    /// which must exist there; and, when the write grants, for every id that still exists (an
    /// asset moved to another organization since). (JumpServer's dialect drops other
    /// organizations' ids before, as JumpServer does; another dialect's are refused here.)
    async fn check_applied_catalog(
        &self,
        before: Option<&Ticket>,
        write: &TicketWrite,
    ) -> Result<(), DomainError> {
        let ticket = &write.ticket;
        if ticket.kind != crate::ticket::KIND_APPLY_ASSET {
            return Ok(());
        }
        let changed = content_changed(before, ticket);
        let granting = write.grant.is_some();
        if !changed && !granting {
            return Ok(());
        }
        let Some(content) = crate::payload::ApplyAsset::read(&ticket.payload) else {
            return Ok(());
        };
        let stored = before.and_then(|b| crate::payload::ApplyAsset::read(&b.payload));
        let added = |now: &[Uuid], was: Option<&[Uuid]>| -> Vec<Uuid> {
            now.iter()
                .filter(|id| changed && was.is_none_or(|was| !was.contains(id)))
                .copied()
                .collect()
        };
        let added_assets = added(&content.assets, stored.as_ref().map(|s| &s.assets[..]));
        let added_nodes = added(&content.nodes, stored.as_ref().map(|s| &s.nodes[..]));
        let (wanted_assets, wanted_nodes) = if granting {
            (content.assets.clone(), content.nodes.clone())
        } else {
            (added_assets.clone(), added_nodes.clone())
        };
        if wanted_assets.is_empty() && wanted_nodes.is_empty() {
            return Ok(());
        }
        let (assets, nodes, _) = self
            .ticket_references(wanted_assets, wanted_nodes, Vec::new())
            .await?;
        let assets: Vec<(Uuid, OrgId)> = assets.iter().map(|a| (a.id.uuid(), a.org_id)).collect();
        let nodes: Vec<(Uuid, OrgId)> = nodes.iter().map(|n| (n.id.uuid(), n.org_id)).collect();
        for (field, added, found) in [
            ("assets", &added_assets, &assets),
            ("nodes", &added_nodes, &nodes),
        ] {
            let org_of = |id: &Uuid| found.iter().find(|(f, _)| f == id).map(|(_, org)| *org);
            let refused = found
                .iter()
                .find(|(_, org)| *org != ticket.org_id)
                .map(|(id, _)| *id)
                .or_else(|| added.iter().find(|id| org_of(id).is_none()).copied());
            if let Some(id) = refused {
                return Err(DomainError::invalid(
                    field,
                    "does_not_exist",
                    format!(
                        "invalid pk \"{id}\" - object does not exist in the ticket's organization"
                    ),
                ));
            }
        }
        if granting && assets.is_empty() && nodes.is_empty() {
            // Every asset and node it named was deleted since: the permission would give
            // nothing (JumpServer, whose relations go with the objects, asks for one).
            return Err(DomainError::Validation(crate::payload::no_asset_or_node()));
        }
        Ok(())
    }

    /// The active users `selector` matches in `org` (members plus system administrators), by
    /// username: the approvers an applicant may choose from.
    pub async fn eligible_approvers(
        &self,
        org: OrgId,
        selector: &Selector,
    ) -> Result<Vec<User>, DomainError> {
        let (directory, roles_by_member) = self.approver_candidates(org, &[selector]).await?;
        let lookup =
            |o: OrgId, u: UserId| roles_by_member.get(&(o, u)).cloned().unwrap_or_default();
        let mut users: Vec<User> = directory
            .iter()
            .filter(|e| selector.matches(e, &lookup))
            .map(|e| e.user.clone())
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    /// The approvers `applicant` may choose from ([`Engine::eligible_approvers`]), without
    /// themselves: an applicant choosing themselves is refused, so a list offering them offered
    /// a choice it would refuse.
    pub async fn approvers_to_choose(
        &self,
        applicant: UserId,
        org: OrgId,
        selector: &Selector,
    ) -> Result<Vec<User>, DomainError> {
        let mut users = self.eligible_approvers(org, selector).await?;
        users.retain(|user| user.id != applicant);
        Ok(users)
    }

    /// Whether the actor may read the ticket.
    pub fn may_read(actor: &Actor, ticket: &Ticket) -> bool {
        ticket.applicant_id == Some(actor.id())
            || ticket.is_assignee(actor.id())
            || ticket.cc_users.contains(&actor.id())
            || actor.may_read_org(ticket.org_id)
    }

    /// A ticket the actor may read (deleted tickets are not found).
    pub async fn get_ticket(&self, actor: &Actor, id: TicketId) -> Result<Ticket, DomainError> {
        Self::readable(actor, id, self.store.get_ticket(id).await?)
    }

    /// `ticket` if `actor` may read it; a deleted or hidden ticket is not found.
    fn readable(
        actor: &Actor,
        id: TicketId,
        ticket: Option<Ticket>,
    ) -> Result<Ticket, DomainError> {
        match ticket {
            Some(t) if !t.deleted && Self::may_read(actor, &t) => Ok(t),
            _ => Err(DomainError::ticket_not_found(id)),
        }
    }

    /// Applies a command; on a lost race the ticket is reloaded and the command re-decided, so
    /// of two approvers acting at once exactly one wins and the other gets the conflict.
    pub async fn act(
        &self,
        actor: &Actor,
        id: TicketId,
        command: TicketCommand,
        now: DateTime<Utc>,
    ) -> Result<Ticket, DomainError> {
        let ticket = self.get_ticket(actor, id).await?;
        self.act_on(actor, ticket, command, now).await
    }

    /// Like [`Engine::act`], for a caller that has just read the ticket (to check its type or
    /// its content): the first attempt decides on that copy instead of reading it again. The
    /// write is guarded by the copy's version, so a copy that is no longer current loses like a
    /// concurrent decision does, and the ticket is read again; an applicant's edit that changes
    /// nothing writes nothing and answers the ticket it was decided on (the request is done as
    /// of that read). A ticket the actor may not read is not found, as in [`Engine::get_ticket`].
    pub async fn act_on(
        &self,
        actor: &Actor,
        ticket: Ticket,
        command: TicketCommand,
        now: DateTime<Utc>,
    ) -> Result<Ticket, DomainError> {
        let id = ticket.id;
        let mut read = Some(Self::readable(actor, id, Some(ticket))?);
        for _ in 0..MAX_ATTEMPTS {
            let ticket = match read.take() {
                Some(ticket) => ticket,
                None => self.get_ticket(actor, id).await?,
            };
            let starts_or_changes = matches!(
                command,
                TicketCommand::Submit | TicketCommand::Resubmit { .. } | TicketCommand::Edit(_)
            );
            if starts_or_changes
                && ticket.applicant_id == Some(actor.id())
                && ticket.org_id != ROOT_ORG
                && !actor.may_enter_org(ticket.org_id)
            {
                // As at an opening, and before the new round's levels are resolved: an applicant
                // who has left the organization still reads, withdraws and deletes their tickets
                // there, but puts none before its approvers again, nor changes one. The global
                // organization is nobody's to leave: a system administrator opens tickets there
                // for users who may not enter it, and they stay theirs.
                return Err(DomainError::Forbidden {
                    action: LEFT_ORG_ACTION.into(),
                });
            }
            // Whether the new round's levels come from a flow another API manages, and whether
            // that flow is disabled; checked once the machine has accepted the action (a state
            // or an actor refused says so first).
            let mut decidable_only = false;
            let mut flow_disabled = false;
            let mut stranded_reason = None;
            let action = match &command {
                TicketCommand::Submit => {
                    let round = self.rebuild_steps(&ticket, now).await?;
                    decidable_only = round.strict;
                    flow_disabled = round.flow_disabled;
                    stranded_reason = round.stranded_reason;
                    Action::Submit {
                        steps: round.steps,
                        reason: String::new(),
                    }
                }
                TicketCommand::Resubmit { reason } => {
                    let round = self.rebuild_steps(&ticket, now).await?;
                    decidable_only = round.strict;
                    flow_disabled = round.flow_disabled;
                    stranded_reason = round.stranded_reason;
                    let steps = round.steps;
                    Action::Resubmit {
                        steps,
                        reason: reason.clone(),
                    }
                }
                TicketCommand::Approve {
                    reason,
                    payload,
                    changes,
                } => Action::Approve {
                    reason: reason.clone(),
                    payload: payload.clone(),
                    changes: changes.clone(),
                },
                TicketCommand::Reject { reason } => Action::Reject {
                    reason: reason.clone(),
                },
                TicketCommand::Close { reason } => Action::Close {
                    reason: reason.clone(),
                },
                TicketCommand::Withdraw { reason } => Action::Withdraw {
                    reason: reason.clone(),
                },
                TicketCommand::SuperClose { reason } => Action::SuperClose {
                    reason: reason.clone(),
                },
                TicketCommand::Archive => Action::Archive,
                TicketCommand::Confirm => Action::Confirm,
                TicketCommand::Delete => Action::Delete,
                TicketCommand::Edit(edit) => Action::Edit(edit.clone()),
            };
            let mut write: TicketWrite = {
                let mut new_id = || self.new_id(now);
                machine::apply(
                    &ticket,
                    actor,
                    action,
                    &mut Ctx {
                        now,
                        new_id: &mut new_id,
                    },
                )?
            };
            if matches!(command, TicketCommand::Edit(_)) && write.ticket.same_application(&ticket) {
                // An edit that changes nothing is no change: no history entry, event or new
                // version (a form saved again as it was wrote an edit each time).
                return Ok(ticket);
            }
            if flow_disabled {
                // As at an opening: a disabled flow (a ZStack collection) takes no new round.
                return Err(DomainError::invalid(
                    "flow",
                    FLOW_DISABLED,
                    "the ticket's flow is disabled",
                ));
            }
            if decidable_only {
                self.check_decidable(&write.ticket.steps).await?;
            }
            self.check_applied_catalog(Some(&ticket), &write).await?;
            self.check_grantees(Some(&ticket), &mut write).await?;
            // The one name a decision's write can find taken is its grant's: every candidate,
            // the last holding the grant's id, named by hand on another permission.
            let grant_name = write.grant.as_ref().map(|grant| grant.name.clone());
            match self.store.write_ticket(write).await {
                Ok(stored) => {
                    return Ok(match stranded_reason {
                        Some(reason) => {
                            self.stranded_once_written(actor, stored, reason, now).await
                        }
                        None => stored,
                    });
                }
                Err(StoreError::VersionConflict) => continue,
                Err(StoreError::Conflict { .. }) if grant_name.is_some() => {
                    return Err(DomainError::Conflict(format!(
                        "Permission named `{}` already exists",
                        grant_name.unwrap_or_default()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::busy("act on ticket"))
    }

    /// The steps of a new round, and what is checked of them once the machine accepts it.
    async fn rebuild_steps(
        &self,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<NewRound, DomainError> {
        if ticket.state != crate::ticket::TicketState::Draft
            && ticket.flow_id.is_none()
            && !ticket.steps.is_empty()
        {
            // Explicitly routed tickets keep their assignees for the new round.
            let levels: Vec<Level> = ticket
                .steps
                .iter()
                .map(|s| Level {
                    selector: Selector::Ids {
                        ids: s.assignees.iter().map(|a| a.user_id).collect(),
                    },
                    mode: s.mode,
                    name: s.name.clone(),
                    attributes: s.attributes.clone(),
                })
                .collect();
            let mut steps = self
                .steps_for(ROOT_ORG, &levels, ticket.applicant_id, now)
                .await?;
            // ...and the organizations they were resolved from, so one who left them since
            // does not decide the new round either.
            for (step, old) in steps.iter_mut().zip(ticket.steps.iter()) {
                step.orgs.clone_from(&old.orgs);
            }
            // A new round is no JumpServer opening (JumpServer reopens nothing): one whose chosen
            // approver has left is refused like another API's.
            return Ok(NewRound {
                steps,
                strict: true,
                flow_disabled: false,
                stranded_reason: None,
            });
        }
        let flow = match ticket.flow_id {
            Some(id) => self.store.get_flow(id).await?.ok_or_else(|| {
                DomainError::invalid("flow", "not_found", "the ticket's flow no longer exists")
            })?,
            None => self.choose_flow(ticket.org_id, &ticket.kind, None).await?,
        };
        if !flow.routes(&ticket.kind) {
            return Err(DomainError::invalid(
                "flow",
                "invalid",
                "the ticket's flow does not route tickets of its type",
            ));
        }
        let steps = self
            .steps_for(
                flow.resolution_org(ticket.org_id),
                &flow.levels,
                ticket.applicant_id,
                now,
            )
            .await?;
        Ok(NewRound {
            steps,
            strict: flow.dialect().is_some(),
            flow_disabled: !flow.enabled,
            stranded_reason: flow.stranded_reason().map(str::to_owned),
        })
    }

    /// Lists tickets visible to the actor; `query.visibility` is overwritten from the actor.
    pub async fn list_tickets(
        &self,
        actor: &Actor,
        mut query: TicketQuery,
    ) -> Result<TicketPage, DomainError> {
        query.check_size()?;
        query.visibility = Self::visibility(actor);
        Ok(self.store.list_tickets(query).await?)
    }

    /// Lists only tickets the actor is related to (applicant, assignee, CC), whatever their
    /// roles: the "my tickets" view (JumpServer's `/tickets/`).
    pub async fn list_related_tickets(
        &self,
        actor: &Actor,
        mut query: TicketQuery,
    ) -> Result<TicketPage, DomainError> {
        query.check_size()?;
        query.visibility = Visibility::Related {
            user: actor.id(),
            orgs: Vec::new(),
        };
        Ok(self.store.list_tickets(query).await?)
    }

    /// Display data for rendering tickets the caller has already been allowed to read: the
    /// assets and nodes their contents name, and the users they mention.
    pub async fn ticket_references(
        &self,
        asset_ids: Vec<Uuid>,
        node_ids: Vec<Uuid>,
        user_ids: Vec<UserId>,
    ) -> Result<(Vec<Asset>, Vec<Node>, Vec<User>), DomainError> {
        let assets = if asset_ids.is_empty() {
            Vec::new()
        } else {
            self.store
                .list_assets(CatalogQuery {
                    ids: Some(asset_ids),
                    ..CatalogQuery::default()
                })
                .await?
                .1
        };
        let nodes = if node_ids.is_empty() {
            Vec::new()
        } else {
            self.store
                .list_nodes(CatalogQuery {
                    ids: Some(node_ids),
                    ..CatalogQuery::default()
                })
                .await?
                .1
        };
        let users = if user_ids.is_empty() {
            Vec::new()
        } else {
            self.store.users_by_ids(user_ids).await?
        };
        Ok((assets, nodes, users))
    }

    /// Which tickets the actor sees.
    pub fn visibility(actor: &Actor) -> Visibility {
        if actor.is_system_admin() || actor.is_system_auditor() {
            Visibility::All
        } else {
            Visibility::Related {
                user: actor.id(),
                orgs: actor.readable_orgs(),
            }
        }
    }

    /// Adds a comment: the applicant, an assignee or an org manager may write.
    pub async fn add_comment(
        &self,
        actor: &Actor,
        id: TicketId,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Comment, DomainError> {
        let ticket = self.get_ticket(actor, id).await?;
        let may_write = ticket.applicant_id == Some(actor.id())
            || ticket.is_assignee(actor.id())
            || actor.may_manage_org(ticket.org_id);
        if !may_write {
            return Err(DomainError::Forbidden {
                action: "comment".into(),
            });
        }
        if body.trim().is_empty() {
            return Err(DomainError::invalid(
                "body",
                "required",
                "this field may not be blank",
            ));
        }
        let comment = Comment {
            id: self.new_id(now),
            ticket_id: id,
            user_id: Some(actor.id()),
            user_display: actor.display(),
            body: body.into(),
            kind: CommentKind::Common,
            state: None,
            created_at: now,
        };
        self.store.add_comment(comment.clone()).await?;
        Ok(comment)
    }

    /// Comments of a ticket the actor may read.
    pub async fn comments(&self, actor: &Actor, id: TicketId) -> Result<Vec<Comment>, DomainError> {
        self.get_ticket(actor, id).await?;
        Ok(self.store.ticket_comments(id).await?)
    }

    /// History of a ticket the actor may read.
    pub async fn history(
        &self,
        actor: &Actor,
        id: TicketId,
    ) -> Result<Vec<HistoryEntry>, DomainError> {
        self.get_ticket(actor, id).await?;
        Ok(self.store.ticket_history(id).await?)
    }

    /// Grants the actor may see: all for system admins and auditors, their organizations' for
    /// org admins and auditors, otherwise their own.
    pub async fn grants(
        &self,
        actor: &Actor,
        mut query: GrantQuery,
    ) -> Result<Vec<Grant>, DomainError> {
        if !(actor.is_system_admin() || actor.is_system_auditor()) {
            let orgs = actor.readable_orgs();
            if orgs.is_empty() {
                query.user = Some(actor.id());
            } else {
                let wanted = query.org_ids.take().unwrap_or_else(|| orgs.clone());
                query.org_ids = Some(wanted.into_iter().filter(|o| orgs.contains(o)).collect());
            }
        }
        Ok(self.store.list_grants(query).await?)
    }

    /// One grant the actor may see.
    pub async fn get_grant(&self, actor: &Actor, id: Uuid) -> Result<Grant, DomainError> {
        let grant = self.store.get_grant(id).await?;
        match grant {
            Some(g) if actor.may_read_org(g.org_id) || g.users.contains(&actor.id()) => Ok(g),
            _ => Err(DomainError::NotFound {
                kind: "grant",
                id: id.to_string(),
            }),
        }
    }
}

/// The address admin is created with.
const ADMIN_EMAIL: &str = "admin@example.com";

/// The steps of a ticket's new round ([`Engine::rebuild_steps`]).
struct NewRound {
    steps: Vec<Step>,
    /// They come from a flow another API manages: each level must have an approver who may
    /// still decide it.
    strict: bool,
    /// The flow they come from is disabled: no new round starts on it.
    flow_disabled: bool,
    /// The flow they come from rejects its stranded tickets ([`Flow::stranded_reason`]).
    stranded_reason: Option<String>,
}

/// Explicit levels name their reviewers: each one named (but the applicant, whom a level leaves
/// out where it names others) is among its step's assignees. One who may not review there (no
/// member of the ticket's organization, deactivated) is refused rather than left out: until
/// 2026-12-08 the ticket opened with fewer reviewers, or none, and could then only be closed.
fn named_reviewers_resolved(
    levels: &[Level],
    steps: &[Step],
    applicant: UserId,
) -> Result<(), DomainError> {
    for (level, step) in levels.iter().zip(steps) {
        let Selector::Ids { ids } = &level.selector else {
            continue;
        };
        if let Some(missing) = ids
            .iter()
            .find(|&&id| id != applicant && !step.assignees.iter().any(|a| a.user_id == id))
        {
            return Err(DomainError::invalid(
                "assignees",
                "invalid",
                format!("the reviewer {missing} is no active member of the ticket's organization"),
            ));
        }
    }
    Ok(())
}

/// The code of the refusal to start a new round of a ticket whose flow is disabled.
pub const FLOW_DISABLED: &str = "disabled";

/// The action of the refusal ([`DomainError::Forbidden`]) to submit, resubmit or change a
/// ticket by its applicant, who has left the ticket's organization since the opening.
pub const LEFT_ORG_ACTION: &str = "submit or change a ticket in this organization";

/// Refuses the organizations nobody is a member of: the global one is everyone's through their
/// system role, the system one JumpServer's own (a member of ROOT, which only the CLI could
/// make, entered it as a plain user and read its lists).
fn check_joinable(org: OrgId) -> Result<(), DomainError> {
    if org == ROOT_ORG || org == crate::identity::SYSTEM_ORG {
        return Err(DomainError::invalid(
            "org",
            "invalid",
            "the global and system organizations have no members: name another one",
        ));
    }
    Ok(())
}

/// The organizations whose flows apply to `org`: its own and the global ones (once for ROOT).
fn org_and_global(org: OrgId) -> Vec<OrgId> {
    if org == ROOT_ORG {
        vec![ROOT_ORG]
    } else {
        vec![org, ROOT_ORG]
    }
}

/// Org flows plus global flows, but for a global JumpServer flow that the organization has
/// overridden with one of its own of the same name and type (JumpServer's org-level copy). Other APIs
/// override nothing: a TopHC tenant process named like a global one is another process, and
/// hides none.
fn effective_flows(flows: &[Flow], org: OrgId) -> impl Iterator<Item = &Flow> {
    let overriding: Vec<&Flow> = flows
        .iter()
        .filter(|f| f.org_id == org && org != ROOT_ORG && f.dialect().is_none())
        .collect();
    flows.iter().filter(move |f| {
        f.org_id == org
            || (f.org_id == ROOT_ORG
                && !(f.dialect().is_none()
                    && overriding.iter().any(|own| own.same_name_and_type(f))))
    })
}

/// Whether `ticket` holds other content than `before` (none: an opening). Content is shared
/// (`Arc`) between a ticket and the write that leaves it unchanged.
fn content_changed(before: Option<&Ticket>, ticket: &Ticket) -> bool {
    before.is_none_or(|b| !Arc::ptr_eq(&b.payload, &ticket.payload))
}

/// The digest of a caller-chosen token. Operators may choose short tokens for local scripts
/// (`TICKETD_ADMIN_TOKEN=t`); only what cannot travel in an `Authorization` header is refused.
fn chosen_token_digest(token: &str) -> Result<[u8; 32], DomainError> {
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DomainError::invalid(
            "token",
            "invalid",
            "a token must be non-empty and contain no spaces",
        ));
    }
    Ok(credentials::token_digest(token))
}

/// An access key's write that found no key: not found, as for a key of another user.
fn access_key_gone(error: StoreError, id: AccessKeyId) -> DomainError {
    match error {
        StoreError::NotFound => DomainError::NotFound {
            kind: "access key",
            id: id.to_string(),
        },
        other => other.into(),
    }
}

/// Maps a store's `NotFound` for the `kind` row `id` a use case has just read to the use
/// case's own: another request deleted it meanwhile, which answered 500 to all but one of
/// several concurrent deletions.
fn deleted_meanwhile(
    kind: &'static str,
    id: impl std::fmt::Display,
) -> impl FnOnce(StoreError) -> DomainError {
    move |error| match error {
        StoreError::NotFound => DomainError::NotFound {
            kind,
            id: id.to_string(),
        },
        other => other.into(),
    }
}

/// A store's refusal of a user's write: another's e-mail address in JumpServer's words (it
/// keeps addresses unique), a username taken as a conflict.
fn user_write_error(error: StoreError) -> DomainError {
    match error {
        StoreError::Conflict { constraint } if constraint == crate::identity::EMAIL_TAKEN => {
            DomainError::invalid("email", "unique", "User with this Email already exists.")
        }
        other => unique_to_conflict(other, "username"),
    }
}

/// The refusal of a new asset whose client-chosen id another asset holds.
fn asset_id_taken() -> DomainError {
    DomainError::invalid("id", "unique", "an asset with this id already exists")
}

fn unique_to_conflict(error: StoreError, what: &str) -> DomainError {
    match error {
        StoreError::Conflict { .. } => DomainError::Conflict(format!("{what} already exists")),
        other => other.into(),
    }
}

/// A level from a selector with the `any` mode, the most common case.
pub fn any_level(selector: Selector) -> Level {
    Level {
        selector,
        mode: LevelMode::Any,
        name: String::new(),
        attributes: Value::Null,
    }
}
