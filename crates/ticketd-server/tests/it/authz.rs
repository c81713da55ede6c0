//! The authorization matrix: every route of every dialect called as nine actors, against core-model.md's policy.
//!
//! Routes are not listed here: JumpServer's come from its served OpenAPI document, TopHC's and
//! DataArts' from their crates' `ROUTES`, ZStack's from `rest_operations()` and
//! `message_classes()`. Each dialect module classifies them by rules into an [`Access`] class,
//! and a route no rule matches fails the test. Every cell gets its own fixture (a fresh ticket
//! in the state the route acts on, a throwaway object for destructive admin routes), so the
//! cells of all routes run concurrently.

mod dataarts;
mod jms;
mod tophc;
mod zstack;

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::credentials::PasswordForm;
use ticketd_core::engine::{FlowChoice, FlowInput, NewTicket, NewUserInput, TicketCommand};
use ticketd_core::flow::Level;
use ticketd_core::identity::{
    AccessKey, Org, ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole, TokenKind,
};
use ticketd_core::selector::Selector;
use ticketd_core::ticket::TicketState;
use ticketd_core::{Actor, AssetId, FlowId, TicketId};

// ------------------------------------------------------------------ actors

/// The nine actors of every cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Who {
    /// No credentials at all.
    NoCredentials,
    /// A well-formed but unknown token in the dialect's scheme.
    BadToken,
    /// A real access key id with a wrong signature.
    BadSignature,
    /// A correctly signed request whose date is an hour off, or an expired login session.
    Stale,
    /// An org admin of Beta, not a member of Alpha.
    OtherOrg,
    /// A plain member of Alpha with no relation to the ticket.
    Unrelated,
    /// Who opened the ticket.
    Applicant,
    /// The assignee of level 2 while the ticket waits at level 1.
    OtherStepAssignee,
    /// The actor the route is meant for.
    Right,
}

impl Who {
    const ALL: [Who; 9] = [
        Who::NoCredentials,
        Who::BadToken,
        Who::BadSignature,
        Who::Stale,
        Who::OtherOrg,
        Who::Unrelated,
        Who::Applicant,
        Who::OtherStepAssignee,
        Who::Right,
    ];

    fn is_unauthenticated(self) -> bool {
        matches!(
            self,
            Who::NoCredentials | Who::BadToken | Who::BadSignature | Who::Stale
        )
    }

    /// The user behind the cell: the route's right actor for the unauthenticated cells (whose
    /// key signs them and whose request they send).
    fn role(self, right: Role) -> Role {
        match self {
            Who::OtherOrg => Role::OtherOrg,
            Who::Unrelated => Role::Unrelated,
            Who::Applicant => Role::Applicant,
            Who::OtherStepAssignee => Role::Approver2,
            _ => right,
        }
    }
}

/// The users of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// A system administrator (the bootstrap `admin`).
    Admin,
    /// Member of Alpha; opens every fixture ticket.
    Applicant,
    /// Member of Alpha; the level-1 assignee of every fixture ticket.
    Approver1,
    /// Member of Alpha; the level-2 assignee of every fixture ticket.
    Approver2,
    /// Member of Alpha, related to nothing.
    Unrelated,
    /// Org admin of Beta, not a member of Alpha.
    OtherOrg,
}

impl Role {
    const ALL: [Role; 6] = [
        Role::Admin,
        Role::Applicant,
        Role::Approver1,
        Role::Approver2,
        Role::Unrelated,
        Role::OtherOrg,
    ];

    fn username(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Applicant => APPLICANT_MARK,
            Role::Approver1 => "approver-one",
            Role::Approver2 => "approver-two",
            Role::Unrelated => "bystander",
            Role::OtherOrg => "beta-boss",
        }
    }

    /// The API token `spawn_app` and [`World`] install (the admin's is the quickstart's).
    pub(crate) fn token(self) -> &'static str {
        match self {
            Role::Admin => ADMIN_TOKEN,
            other => other.username(),
        }
    }

    pub(crate) fn password(self) -> String {
        match self {
            Role::Admin => "admin-password".into(),
            other => format!("{}-password", other.username()),
        }
    }

    /// May read the fixture tickets (applicant, an assignee, a system admin).
    fn reads_tickets(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Applicant | Role::Approver1 | Role::Approver2
        )
    }

    /// May enter Alpha (a member, or a system admin).
    fn enters_alpha(self) -> bool {
        self != Role::OtherOrg
    }
}

// ------------------------------------------------------------------ policy

/// Who may call a route, from core-model.md's "who may do what".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Login, and ending or checking a session by its id: the credentials are in the request
    /// itself, so every cell succeeds.
    Public,
    /// Any authenticated user, for data about themselves or public catalogues.
    Authenticated,
    /// Any authenticated user; readers of the fixture ticket see it, others get it hidden (or,
    /// where the dialect scopes the list to an organization, are refused).
    TicketList,
    /// Readers of the ticket: applicant, any assignee, org admins/auditors, system admins.
    TicketRead,
    /// An asset permission: its users, org admins/auditors of its org, system admins/auditors.
    GrantRead,
    /// Readers of every ticket of the organization: org admins/auditors, system admins/auditors.
    OrgAudit,
    /// An undecided assignee of the current step, with no admin bypass.
    Decide,
    /// The applicant only (withdraw, resubmit, confirm, edit, submit a draft).
    Applicant,
    /// The applicant or an assignee of the current step (JumpServer's close).
    ApplicantOrCurrent,
    /// The applicant for their own finished ticket, or a manager of its organization (archive, delete).
    ApplicantOrManager,
    /// Comment: the applicant, any assignee, or a manager of the organization.
    Related,
    /// System administrators.
    SysAdmin,
    /// Members of Alpha (reading org-scoped data, opening tickets there).
    Member,
    /// Managers of Alpha: its org admins and the system admins.
    Manager,
    /// The owner of the object (approver-one's access key; the right actor owns it).
    Owner,
}

impl Access {
    fn allows(self, role: Role, right: Role) -> bool {
        match self {
            Access::Public | Access::Authenticated | Access::TicketList => true,
            Access::TicketRead => role.reads_tickets(),
            Access::OrgAudit | Access::SysAdmin | Access::Manager => role == Role::Admin,
            Access::Decide => role == Role::Approver1,
            Access::Applicant => role == Role::Applicant,
            Access::GrantRead => matches!(role, Role::Applicant | Role::Admin),
            Access::ApplicantOrCurrent => matches!(role, Role::Applicant | Role::Approver1),
            Access::ApplicantOrManager => matches!(role, Role::Applicant | Role::Admin),
            Access::Related => role.reads_tickets(),
            Access::Member => role.enters_alpha(),
            Access::Owner => role == right,
        }
    }
}

/// What a call does to its fixture ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing to check (reads, or objects other than the ticket).
    None,
    /// An allowed call changes the ticket (its version moves, or it is gone); a refused one
    /// leaves it exactly as it was.
    Ticket,
}

/// The ticket stage a route acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Saved, never submitted.
    Draft,
    /// Waiting at level 1.
    Pending,
    /// Rejected at level 1.
    Rejected,
    /// Withdrawn by the applicant (core `closed`).
    Withdrawn,
    /// Approved at every level.
    Approved,
    /// Approved, then archived by the applicant.
    Archived,
}

/// Which dialect shape a fixture ticket has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// JumpServer `apply_asset`, `login_confirm`, `login_asset_confirm`, `command_confirm`.
    Jms(&'static str),
    /// A TopHC ticket through Alpha's two-level process.
    Tophc,
    /// A ZStack ticket through Alpha's collection.
    Zstack,
    /// A DataArts application, routed to approver-one then approver-two.
    Dataarts,
}

/// A fresh ticket made for one cell.
#[derive(Clone, Debug)]
pub(crate) struct TicketFx {
    pub(crate) id: TicketId,
    pub(crate) title: String,
    pub(crate) serial: String,
    pub(crate) version: i64,
    /// The id of its first comment (the state comment of opening), if any.
    pub(crate) comment: String,
    /// The id of its first history entry.
    pub(crate) history: String,
}

impl TicketFx {
    pub(crate) fn hyphenated(&self) -> String {
        self.id.to_string()
    }

    pub(crate) fn hex(&self) -> String {
        self.id.uuid().simple().to_string()
    }
}

/// What a cell's fixture made.
#[derive(Clone, Debug, Default)]
pub(crate) struct Made {
    /// The fixture ticket.
    pub(crate) ticket: Option<TicketFx>,
    /// The id of a throwaway object (an org, user, asset, key, session, …).
    pub(crate) id: String,
    /// Anything else the request needs.
    pub(crate) extra: Value,
}

impl Made {
    /// The fixture ticket's id, hyphenated.
    pub(crate) fn ticket_id(&self) -> String {
        self.ticket
            .as_ref()
            .map(TicketFx::hyphenated)
            .unwrap_or_default()
    }

    /// The fixture ticket's id as 32 hex (ZStack's form).
    pub(crate) fn ticket_hex(&self) -> String {
        self.ticket.as_ref().map(TicketFx::hex).unwrap_or_default()
    }
}

pub(crate) type Fut = Pin<Box<dyn Future<Output = Made> + Send>>;
pub(crate) type FixtureFn = Arc<dyn Fn(Arc<World>, Role) -> Fut + Send + Sync>;
pub(crate) type RequestFn = Arc<dyn Fn(&World, &Made, Role) -> Req + Send + Sync>;

/// A request of a cell, before credentials.
#[derive(Clone, Debug, Default)]
pub(crate) struct Req {
    pub(crate) method: &'static str,
    /// Path and query.
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// A token the authenticated cells present instead of their user's API token.
    pub(crate) token: Option<String>,
}

impl Req {
    pub(crate) fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            ..Self::default()
        }
    }

    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Everything the caller sends, for "did the caller already know this" checks.
    fn text(&self) -> String {
        let mut text = self.path.clone();
        if let Some(body) = &self.body {
            text.push_str(&body.to_string());
        }
        for (_, value) in &self.headers {
            text.push_str(value);
        }
        text.to_lowercase()
    }
}

/// The wire dialect a route speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    Jms,
    Tophc,
    /// ZStack's REST paths (`OAuth` sessions).
    Zstack,
    /// ZStack's message API (the session inside the message).
    ZstackMessage,
    Dataarts,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Jms => "jumpserver",
            Dialect::Tophc => "tophc",
            Dialect::Zstack => "zstack-rest",
            Dialect::ZstackMessage => "zstack-message",
            Dialect::Dataarts => "dataarts",
        }
    }
}

/// One route of the matrix.
pub(crate) struct Route {
    pub(crate) dialect: Dialect,
    /// `METHOD path` (plus the action or message class where one path serves several).
    pub(crate) name: String,
    pub(crate) access: Access,
    /// The actor the route is meant for.
    pub(crate) right: Role,
    pub(crate) fixture: FixtureFn,
    pub(crate) request: RequestFn,
    pub(crate) effect: Effect,
    /// Each item of the answer is one decision (TopHC and DataArts batch calls).
    pub(crate) batch: bool,
    /// A refusal may be a success that does nothing and shows nothing: a query that finds
    /// nothing visible (ZStack), a bulk call that skips tickets the caller may not see
    /// (JumpServer §4.6). The effect and the leak checks still apply.
    pub(crate) quiet_denial: bool,
    /// JumpServer answers this route's refusals with 400 (comments: "Not found Ticket object",
    /// §4.7; opening in a foreign org: an `org_id` field error, §4.3; bulk: `{"error"}`, §4.6).
    pub(crate) refuses_with_400: bool,
}

impl Route {
    pub(crate) fn new(
        dialect: Dialect,
        name: impl Into<String>,
        access: Access,
        right: Role,
        fixture: FixtureFn,
        request: RequestFn,
    ) -> Self {
        Self {
            dialect,
            name: name.into(),
            access,
            right,
            fixture,
            request,
            effect: Effect::None,
            batch: false,
            quiet_denial: false,
            refuses_with_400: false,
        }
    }

    pub(crate) fn changes_ticket(mut self) -> Self {
        self.effect = Effect::Ticket;
        self
    }

    pub(crate) fn batch(mut self) -> Self {
        self.batch = true;
        self
    }

    pub(crate) fn quiet_denial(mut self) -> Self {
        self.quiet_denial = true;
        self
    }

    pub(crate) fn refuses_with_400(mut self) -> Self {
        self.refuses_with_400 = true;
        self
    }
}

/// Builds a [`FixtureFn`] from an async closure.
pub(crate) fn fixture<F, R>(f: F) -> FixtureFn
where
    F: Fn(Arc<World>, Role) -> R + Send + Sync + 'static,
    R: Future<Output = Made> + Send + 'static,
{
    Arc::new(move |w, role| Box::pin(f(w, role)))
}

/// No fixture.
pub(crate) fn nothing() -> FixtureFn {
    fixture(|_, _| async { Made::default() })
}

/// A fresh ticket of `shape` at `stage`.
pub(crate) fn ticket(shape: Shape, stage: Stage) -> FixtureFn {
    fixture(move |w, _| async move {
        Made {
            ticket: Some(w.ticket(shape, stage).await),
            ..Made::default()
        }
    })
}

pub(crate) fn request<F>(f: F) -> RequestFn
where
    F: Fn(&World, &Made, Role) -> Req + Send + Sync + 'static,
{
    Arc::new(f)
}

// ------------------------------------------------------------------ the world

/// Distinctive strings, so that "the body does not contain it" means something.
const ALPHA_NAME: &str = "Alpha Zanzibar Labs";
/// In Alpha's name and in the name of every object made in Alpha.
const ALPHA_MARK: &str = "zanzibar";
const BETA_NAME: &str = "Beta Wombat Works";
const APPLICANT_NAME: &str = "Ophelia Quillfeather";
/// In the applicant's name and username.
const APPLICANT_MARK: &str = "quillfeather";
/// Every fixture ticket's title contains this word (and nothing else does).
pub(crate) const TITLE_MARK: &str = "Marmalade";
/// The DataArts project every DataArts call names.
pub(crate) const PROJECT: &str = "5e1f0c3a9b2d4e6f8a7b6c5d4e3f2a1b";

/// Alpha (applicant, approvers, a bystander), Beta (its admin), the flows that route every
/// fixture ticket to approver-one then approver-two, a catalog, a grant, and credentials.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) alpha: Org,
    pub(crate) beta: Org,
    users: HashMap<Role, Actor>,
    keys: HashMap<Role, AccessKey>,
    /// Login sessions that expired an hour ago.
    expired: HashMap<Role, String>,
    /// Alpha's two-level flow for the four JumpServer ticket types.
    pub(crate) jms_flow: FlowId,
    /// Alpha's two-level TopHC process.
    pub(crate) tophc_process: FlowId,
    /// Alpha's ZStack collection: approver-one, approver-two, then the system admin (ZStack
    /// wants an admin last).
    pub(crate) zstack_collection: Value,
    /// Kind, scope and payload of a ticket opened through each dialect's own open route.
    templates: HashMap<Shape, (String, String, Value, String)>,
    pub(crate) asset: Asset,
    pub(crate) node: Node,
    /// An approved apply_asset ticket of the applicant; its asset permission has its id.
    pub(crate) grant: TicketFx,
    counter: AtomicU64,
}

impl World {
    pub(crate) fn user(&self, role: Role) -> &Actor {
        &self.users[&role]
    }

    pub(crate) fn key(&self, role: Role) -> &AccessKey {
        &self.keys[&role]
    }

    /// A number no other caller gets, for unique names.
    pub(crate) fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn alpha_id(&self) -> String {
        self.alpha.id.to_string()
    }

    pub(crate) fn alpha_hex(&self) -> String {
        self.alpha.id.uuid().simple().to_string()
    }

    pub(crate) fn user_id(&self, role: Role) -> String {
        self.user(role).id().to_string()
    }

    pub(crate) fn user_hex(&self, role: Role) -> String {
        self.user(role).id().uuid().simple().to_string()
    }

    pub(crate) async fn actor(&self, role: Role) -> Actor {
        self.app.engine.actor(self.user(role).id()).await.unwrap()
    }

    /// A fresh login session of `role` (for logout and session checks).
    pub(crate) async fn session(&self, role: Role) -> String {
        let (_, token, _) = self
            .app
            .engine
            .login(
                role.username(),
                PasswordForm::Plain,
                &role.password(),
                ticketd_http::now(),
            )
            .await
            .unwrap();
        token
    }

    /// A fresh access key of `role`.
    pub(crate) async fn new_key(&self, role: Role) -> AccessKey {
        self.app
            .engine
            .create_access_key(self.user(role).id(), ticketd_http::now())
            .await
            .unwrap()
    }

    /// A fresh ticket of `shape` at `stage`, opened by the applicant, routed to approver-one
    /// then approver-two, with a distinctive title.
    pub(crate) async fn ticket(&self, shape: Shape, stage: Stage) -> TicketFx {
        let engine = &self.app.engine;
        let now = ticketd_http::now();
        let n = self.next();
        let title = format!("{TITLE_MARK} {shape:?} {n}").replace(['(', ')', '"'], "");
        let (kind, scope, payload, template_title) = self.templates[&shape].clone();
        // The template's title may be in its content (TopHC keeps the whole body).
        let payload: Value = if template_title.is_empty() {
            payload
        } else {
            serde_json::from_str(&payload.to_string().replace(&template_title, &title)).unwrap()
        };
        let applicant = self.actor(Role::Applicant).await;
        let (opener, flow, on_behalf) = match shape {
            Shape::Jms(_) => (applicant.clone(), FlowChoice::Id(self.jms_flow), None),
            Shape::Tophc => (applicant.clone(), FlowChoice::Id(self.tophc_process), None),
            Shape::Zstack => (
                applicant.clone(),
                FlowChoice::Id(
                    FlowId::parse(self.zstack_collection["uuid"].as_str().unwrap()).unwrap(),
                ),
                None,
            ),
            // DataArts' own route makes one-level tickets; two levels give approver-two a step.
            Shape::Dataarts => (
                self.actor(Role::Admin).await,
                FlowChoice::Explicit(vec![
                    level(self.user(Role::Approver1)),
                    level(self.user(Role::Approver2)),
                ]),
                Some(applicant.id()),
            ),
        };
        let opened = engine
            .open_ticket(
                &opener,
                NewTicket {
                    id: None,
                    org_id: self.alpha.id,
                    kind,
                    title: title.clone(),
                    payload,
                    comment: String::new(),
                    scope,
                    flow,
                    submit: stage != Stage::Draft,
                    applicant: on_behalf,
                    cc_users: Vec::new(),
                },
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("open a {shape:?} fixture: {e}"));
        let id = opened.id;
        let act = |role: Role, command: TicketCommand| async move {
            let actor = self.actor(role).await;
            engine
                .act(&actor, id, command, ticketd_http::now())
                .await
                .unwrap_or_else(|e| panic!("{role:?} on a {shape:?} fixture: {e}"))
        };
        let mut ticket = opened;
        match stage {
            Stage::Draft | Stage::Pending => {}
            Stage::Rejected => {
                ticket = act(
                    Role::Approver1,
                    TicketCommand::Reject {
                        reason: String::new(),
                    },
                )
                .await;
            }
            Stage::Withdrawn => {
                ticket = act(
                    Role::Applicant,
                    TicketCommand::Withdraw {
                        reason: String::new(),
                    },
                )
                .await;
            }
            Stage::Approved | Stage::Archived => {
                while ticket.state == TicketState::Pending {
                    let assignee = ticket.current_step().unwrap().assignees[0].user_id;
                    let role = Role::ALL
                        .into_iter()
                        .find(|r| self.user(*r).id() == assignee)
                        .unwrap();
                    ticket = act(
                        role,
                        TicketCommand::Approve {
                            reason: String::new(),
                            payload: None,
                            changes: None,
                        },
                    )
                    .await;
                }
                assert_eq!(ticket.state, TicketState::Approved);
                if stage == Stage::Archived {
                    ticket = act(Role::Applicant, TicketCommand::Archive).await;
                }
            }
        }
        let admin = self.actor(Role::Admin).await;
        let comment = engine
            .comments(&admin, id)
            .await
            .unwrap()
            .first()
            .map(|c| c.id.to_string())
            .unwrap_or_default();
        let history = engine.history(&admin, id).await.unwrap()[0].id.to_string();
        TicketFx {
            id,
            title,
            serial: ticket.serial.clone(),
            version: ticket.version,
            comment,
            history,
        }
    }
}

fn level(user: &Actor) -> Level {
    ticketd_core::engine::any_level(Selector::Ids {
        ids: vec![user.id()],
    })
}

async fn create_user(
    app: &TestApp,
    role: Role,
    name: &str,
    orgs: Vec<(ticketd_core::OrgId, ticketd_core::RoleId)>,
) -> Actor {
    let now = ticketd_http::now();
    let user = app
        .engine
        .create_user(
            None,
            NewUserInput {
                username: role.username().into(),
                name: name.into(),
                email: format!("{}@example.com", role.username()),
                system_role: SystemRole::User,
                password: Some(role.password()),
                orgs,
            },
            now,
        )
        .await
        .unwrap();
    app.engine
        .install_token(user.id, role.token(), TokenKind::Api, None, now)
        .await
        .unwrap();
    app.engine.actor(user.id).await.unwrap()
}

/// Sends `req` as `role` with a valid API token and answers the status and parsed body.
async fn setup_call(w: &World, dialect: Dialect, role: Role, req: Req) -> (u16, Value) {
    let answer = send(w, dialect, Who::Right, role, &req).await;
    (answer.status, answer.json)
}

async fn world() -> Arc<World> {
    // Every actor tries every login route as the applicant, more than the 60 logins a minute
    // one account name may make, so on a fast machine the last ones were throttled; the login
    // limit has tests of its own (`limits.rs`).
    let app = spawn_app_with(&[("TICKETD_LOGIN_RATE_LIMIT_PER_MINUTE", "0")]).await;
    let now = ticketd_http::now();
    let engine = app.engine.clone();
    let alpha = engine.create_org(None, ALPHA_NAME, now).await.unwrap();
    let beta = engine.create_org(None, BETA_NAME, now).await.unwrap();
    let mut users = HashMap::new();
    users.insert(Role::Admin, app.admin().await);
    let member = |org: &Org| vec![(org.id, ROLE_ORG_USER)];
    for (role, name) in [
        (Role::Applicant, APPLICANT_NAME),
        (Role::Approver1, "Approver One"),
        (Role::Approver2, "Approver Two"),
        (Role::Unrelated, "Bystander"),
    ] {
        users.insert(role, create_user(&app, role, name, member(&alpha)).await);
    }
    users.insert(
        Role::OtherOrg,
        create_user(
            &app,
            Role::OtherOrg,
            "Beta Boss",
            vec![(beta.id, ROLE_ORG_ADMIN)],
        )
        .await,
    );
    let mut keys = HashMap::new();
    let mut expired = HashMap::new();
    // A login that happened longer ago than the session lifetime plus an hour.
    let long_ago = now - engine.settings().session_ttl - chrono::Duration::hours(1);
    for role in Role::ALL {
        let key = engine
            .create_access_key(users[&role].id(), now)
            .await
            .unwrap();
        keys.insert(role, key);
        let (_, session, expires) = engine
            .login(
                role.username(),
                PasswordForm::Plain,
                &role.password(),
                long_ago,
            )
            .await
            .unwrap();
        assert!(expires < now);
        expired.insert(role, session);
    }
    let admin = users[&Role::Admin].clone();
    let levels = vec![
        level(&users[&Role::Approver1]),
        level(&users[&Role::Approver2]),
    ];
    let flow = |name: &str, kinds: Vec<String>, attributes: Value| FlowInput {
        org_id: alpha.id,
        name: name.into(),
        description: String::new(),
        kinds,
        is_default: false,
        enabled: true,
        levels: levels.clone(),
        cc_users: Vec::new(),
        attributes,
    };
    let jms_flow = engine
        .create_flow(
            &admin,
            flow(
                "Zanzibar two levels",
                jms::KINDS.iter().map(|k| (*k).to_owned()).collect(),
                Value::Null,
            ),
            now,
        )
        .await
        .unwrap()
        .id;
    // A TopHC process whose levels name the two approvers (processes made through TopHC name
    // roles, which would make every member of Alpha an approver).
    let tophc_process = engine
        .create_flow(
            &admin,
            flow(
                "Zanzibar two-level process",
                Vec::new(),
                json!({"dialect": "tophc"}),
            ),
            now,
        )
        .await
        .unwrap()
        .id;
    let asset = Asset {
        id: AssetId(uuid::Uuid::now_v7()),
        org_id: alpha.id,
        name: "zanzibar-db01".into(),
        address: "10.9.8.7".into(),
        platform: "Linux".into(),
        is_active: true,
        node_ids: vec![],
        comment: String::new(),
        created_at: now,
        updated_at: now,
    };
    engine.create_asset(&admin, asset.clone()).await.unwrap();
    let node = engine
        .create_node(&admin, alpha.id, "zanzibar-prod", None, now)
        .await
        .unwrap();
    let mut w = World {
        app,
        alpha,
        beta,
        users,
        keys,
        expired,
        jms_flow,
        tophc_process,
        zstack_collection: Value::Null,
        templates: HashMap::new(),
        asset,
        node,
        grant: TicketFx {
            id: TicketId(uuid::Uuid::nil()),
            title: String::new(),
            serial: String::new(),
            version: 0,
            comment: String::new(),
            history: String::new(),
        },
        counter: AtomicU64::new(1),
    };
    w.zstack_collection = zstack::alpha_collection(&w).await;
    // One ticket through each dialect's own open route: the fixtures copy its kind, scope and
    // payload, so every dialect renders them as its own.
    let templates = [
        (Shape::Jms("apply_asset"), jms::template(&w).await),
        (Shape::Tophc, tophc::template(&w).await),
        (Shape::Zstack, zstack::template(&w).await),
        (Shape::Dataarts, dataarts::template(&w).await),
    ];
    for (shape, id) in templates {
        let stored = engine.store().get_ticket(id).await.unwrap().unwrap();
        w.templates.insert(
            shape,
            (
                stored.kind,
                stored.scope,
                serde_json::Value::clone(&stored.payload),
                stored.title,
            ),
        );
    }
    // The other JumpServer types are opened by other systems with an empty content.
    for kind in jms::KINDS.iter().skip(1) {
        w.templates.insert(
            Shape::Jms(kind),
            ((*kind).to_owned(), String::new(), json!({}), String::new()),
        );
    }
    w.grant = w.ticket(Shape::Jms("apply_asset"), Stage::Approved).await;
    Arc::new(w)
}

// ------------------------------------------------------------------ sending

/// An answer: status, raw text, and the body parsed (`Null` when not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) text: String,
    pub(crate) json: Value,
}

fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A JumpServer-style `Signature` header for `req` with `secret`, dated `date`.
fn jms_signature(key_id: &str, secret: &str, req: &Req, date: &str) -> String {
    let signature =
        crate::auth::rust_signature(secret, &req.method.to_lowercase(), &req.path, date);
    format!(
        r#"Signature keyId="{key_id}",algorithm="hmac-sha256",headers="(request-target) accept date",signature="{signature}""#
    )
}

/// A token nobody holds, in the shape of the real ones.
fn unknown_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Sends `req` as the cell `who` (whose user is `role`) in `dialect`'s authentication scheme.
pub(crate) async fn send(w: &World, dialect: Dialect, who: Who, role: Role, req: &Req) -> Answer {
    let now = ticketd_http::now();
    let key = w.key(role);
    let key_id = key.id.to_string();
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut body = req.body.clone();
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    // The session of a ZStack message goes inside it.
    let mut zs_session = |session: Option<String>| {
        if let (Some(session), Some(Value::Object(message))) = (session, body.as_mut())
            && let Some(Value::Object(params)) = message.values_mut().next()
        {
            params.insert("session".into(), json!({"uuid": session}));
        }
    };
    let auth = |value: String| ("Authorization".to_owned(), value);
    match (dialect, who) {
        (_, Who::NoCredentials) => {}
        (Dialect::Jms, Who::BadToken) => headers.push(auth(format!("Token {}", unknown_token()))),
        (Dialect::Tophc, Who::BadToken) => {
            headers.push(auth(format!("Bearer {}", unknown_token())))
        }
        (Dialect::Zstack, Who::BadToken) => {
            headers.push(auth(format!("OAuth {}", unknown_token())))
        }
        (Dialect::ZstackMessage, Who::BadToken) => zs_session(Some(unknown_token())),
        (Dialect::Dataarts, Who::BadToken) => {
            headers.push(("X-Auth-Token".into(), unknown_token()));
        }
        (
            Dialect::Jms | Dialect::Tophc | Dialect::Zstack | Dialect::ZstackMessage,
            Who::BadSignature,
        ) => {
            // TopHC and ZStack have no signatures of their own: a JumpServer one must not pass.
            let date = http_date(now);
            headers.push(("Accept".into(), "application/json".into()));
            headers.push(("Date".into(), date.clone()));
            headers.push(auth(jms_signature(&key_id, "not-the-secret", req, &date)));
        }
        (Dialect::Jms, Who::Stale) => {
            let date = http_date(now - chrono::Duration::hours(1));
            headers.push(("Accept".into(), "application/json".into()));
            headers.push(("Date".into(), date.clone()));
            headers.push(auth(jms_signature(&key_id, &key.secret, req, &date)));
        }
        (Dialect::Tophc, Who::Stale) => headers.push(auth(format!("Bearer {}", w.expired[&role]))),
        (Dialect::Zstack, Who::Stale) => headers.push(auth(format!("OAuth {}", w.expired[&role]))),
        (Dialect::ZstackMessage, Who::Stale) => zs_session(Some(w.expired[&role].clone())),
        (Dialect::Dataarts, Who::BadSignature | Who::Stale) => {
            let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
            let text = body.as_ref().map(Value::to_string).unwrap_or_default();
            let workspace = req
                .headers
                .iter()
                .find(|(n, _)| *n == "workspace")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let mut call = crate::dataarts::SignedCall::new(
                &w.app,
                req.method,
                path.to_owned(),
                query,
                &workspace,
                &text,
            );
            let secret = if who == Who::Stale {
                call.date = (now - chrono::Duration::hours(1))
                    .format("%Y%m%dT%H%M%SZ")
                    .to_string();
                key.secret.clone()
            } else {
                "not-the-secret".to_owned()
            };
            headers.push(auth(call.authorization(&key_id, &secret)));
            headers.push(("X-Sdk-Date".into(), call.date.clone()));
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        (dialect, _) => {
            let token = req.token.clone().unwrap_or_else(|| role.token().to_owned());
            match dialect {
                Dialect::Jms => headers.push(auth(format!("Token {token}"))),
                Dialect::Tophc => headers.push(auth(format!("Bearer {token}"))),
                Dialect::Zstack => headers.push(auth(format!("OAuth {token}"))),
                Dialect::ZstackMessage => zs_session(Some(token)),
                Dialect::Dataarts => headers.push(("X-Auth-Token".into(), token)),
            }
        }
    }
    let has_content_type = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let mut request = w.app.client.request(method, w.app.url(&req.path));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        if !has_content_type {
            request = request.header("Content-Type", "application/json");
        }
        // Exactly the bytes a DataArts signature covered.
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

// ------------------------------------------------------------------ judging

/// What an answer means, in the dialect's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The dialect's "not authenticated".
    Unauthenticated,
    /// Success (every item, for a batch).
    Success,
    /// A refusal: forbidden, not found, not a member.
    Denied,
    /// A query for one object that found nothing (ZStack answers what the caller may not see
    /// with an empty result).
    Empty,
    /// "The ticket's state does not allow it" (JumpServer's 409 family).
    Conflict,
    /// Anything else (a validation error, a server error, a mixed batch).
    Other,
}

fn outcome(route: &Route, answer: &Answer) -> Outcome {
    match route.dialect {
        Dialect::Jms => jms::outcome(route, answer),
        Dialect::Tophc => tophc::outcome(route, answer),
        Dialect::Zstack | Dialect::ZstackMessage => zstack::outcome(route, answer),
        Dialect::Dataarts => dataarts::outcome(route, answer),
    }
}

/// What a cell expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Unauthenticated,
    Allowed,
    Denied,
    /// Allowed to list, but the ticket must not be in the list.
    Hidden,
}

fn expect(route: &Route, who: Who) -> Expect {
    let role = who.role(route.right);
    if who.is_unauthenticated() && route.access != Access::Public {
        Expect::Unauthenticated
    } else if route.access == Access::TicketList && !role.reads_tickets() {
        Expect::Hidden
    } else if route.access.allows(role, route.right) {
        Expect::Allowed
    } else {
        Expect::Denied
    }
}

/// The strings `role` must not find in the answer to `req`: the ticket's data for non-readers,
/// Alpha's name and the applicant's name for outsiders, minus what the caller sent.
fn protected(route: &Route, who: Who, made: &Made, req: &Req) -> Vec<String> {
    let role = who.role(route.right);
    let outsider = who.is_unauthenticated() || role == Role::OtherOrg;
    let mut strings = Vec::new();
    if route.access == Access::Public {
        // A login names its user: the caller is that user.
        return strings;
    }
    let reads = !who.is_unauthenticated() && role.reads_tickets();
    if !reads {
        strings.push(TITLE_MARK.to_lowercase());
        if let Some(t) = &made.ticket {
            strings.extend([
                t.title.to_lowercase(),
                t.serial.clone(),
                t.hyphenated(),
                t.hex(),
            ]);
        }
        if made.ticket.is_some() || route.access == Access::TicketList {
            strings.push(APPLICANT_MARK.into());
        }
    }
    if outsider {
        strings.extend([ALPHA_MARK.into(), APPLICANT_MARK.into()]);
    }
    let sent = req.text();
    if let Some(t) = &made.ticket
        && (sent.contains(&t.hyphenated()) || sent.contains(&t.hex()))
    {
        // The caller named the ticket: either form of its id is theirs.
        strings.retain(|s| *s != t.hyphenated() && *s != t.hex());
    }
    strings.retain(|s| !s.is_empty() && !sent.contains(s.as_str()));
    strings
}

/// Runs one cell; `Err` says what was wrong.
async fn cell(w: Arc<World>, route: Arc<Route>, who: Who) -> Result<(), String> {
    let role = who.role(route.right);
    let made = (route.fixture)(w.clone(), role).await;
    let req = (route.request)(&w, &made, role);
    let answer = send(&w, route.dialect, who, role, &req).await;
    let got = outcome(&route, &answer);
    let want = expect(&route, who);
    let excerpt = || {
        let text: String = answer.text.chars().take(400).collect();
        format!("{} {} → {} {text}", req.method, req.path, answer.status)
    };
    let ok = match want {
        Expect::Unauthenticated => got == Outcome::Unauthenticated,
        Expect::Allowed => got == Outcome::Success,
        Expect::Hidden => matches!(got, Outcome::Success | Outcome::Empty | Outcome::Denied),
        Expect::Denied => {
            got == Outcome::Denied
                || (got == Outcome::Conflict
                    && who == Who::OtherStepAssignee
                    && route.access == Access::Decide)
                || (matches!(got, Outcome::Success | Outcome::Empty) && route.quiet_denial)
        }
    };
    if !ok {
        return Err(format!("expected {want:?}, got {got:?}: {}", excerpt()));
    }
    // A stale signature is refused for its date, not for a signing mistake of this test.
    let for_the_date = match route.dialect {
        Dialect::Jms => answer.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Date")),
        Dialect::Dataarts => answer.json["error_code"] == "APIGW.0307",
        _ => true,
    };
    if who == Who::Stale && want == Expect::Unauthenticated && !for_the_date {
        return Err(format!(
            "a stale request refused for another reason: {}",
            excerpt()
        ));
    }
    if answer.status >= 500 && route.dialect != Dialect::Zstack {
        return Err(format!("a server error: {}", excerpt()));
    }
    let body = answer.text.to_lowercase();
    let leaked: Vec<String> = protected(&route, who, &made, &req)
        .into_iter()
        .filter(|s| body.contains(s.as_str()))
        .collect();
    if !leaked.is_empty() {
        return Err(format!("the answer shows {leaked:?}: {}", excerpt()));
    }
    if let Some(t) = &made.ticket {
        let after = w
            .app
            .engine
            .store()
            .get_ticket(t.id)
            .await
            .unwrap()
            .unwrap();
        let changed = after.version != t.version;
        if route.effect == Effect::Ticket && want == Expect::Allowed && !changed {
            return Err(format!("the ticket did not change: {}", excerpt()));
        }
        if want != Expect::Allowed && changed {
            return Err(format!(
                "a refused call changed the ticket (now {:?}, version {}): {}",
                after.state,
                after.version,
                excerpt()
            ));
        }
        // Whoever may read the ticket is shown it (the right actor in a list, everyone
        // allowed in a read), so the hidden cells above mean something.
        let shown = body.contains(&t.hyphenated()) || body.contains(&t.hex());
        let must_show = route.access == Access::TicketRead
            || (route.access == Access::TicketList && who == Who::Right);
        if want == Expect::Allowed && must_show && !shown {
            return Err(format!(
                "an allowed reader is not shown the ticket: {}",
                excerpt()
            ));
        }
    }
    Ok(())
}

/// Runs every cell of `routes`, a bounded number at a time; returns the failures.
async fn run(w: &Arc<World>, routes: Vec<Route>) -> Vec<String> {
    let permits = Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = HashMap::new();
    for route in routes {
        assert!(
            route.access.allows(route.right, route.right),
            "{}: the right actor {:?} is not allowed by {:?}",
            route.name,
            route.right,
            route.access
        );
        let route = Arc::new(route);
        for who in Who::ALL {
            let (w, route, permits) = (w.clone(), route.clone(), permits.clone());
            let name = format!("{} {} [{who:?}]", route.dialect.name(), route.name);
            let task = tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.unwrap();
                cell(w, route, who).await
            });
            names.insert(task.id(), name);
        }
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((id, Err(failure))) => failures.push(format!("{}: {failure}", names[&id])),
            Err(panicked) => {
                failures.push(format!("{}: panicked: {panicked}", names[&panicked.id()]))
            }
        }
    }
    failures.sort();
    failures
}

#[tokio::test]
async fn every_route_of_every_dialect_answers_each_actor_as_the_policy_says() {
    let started = Instant::now();
    let w = world().await;
    let setup = started.elapsed();
    let doc = jms::document(&w).await;
    let dialects: Vec<(&str, Vec<Route>)> = vec![
        ("jumpserver", jms::routes(&doc)),
        ("tophc", tophc::routes()),
        ("zstack", zstack::routes()),
        ("dataarts", dataarts::routes()),
    ];
    let mut failures = Vec::new();
    let mut total_routes = 0;
    let mut lines = Vec::new();
    for (name, routes) in dialects {
        let count = routes.len();
        total_routes += count;
        lines.push(format!(
            "{name}: {count} routes × {} actors = {} cells",
            Who::ALL.len(),
            count * Who::ALL.len()
        ));
        failures.extend(run(&w, routes).await);
    }
    for line in &lines {
        eprintln!("authz matrix {line}");
    }
    eprintln!(
        "authz matrix total: {total_routes} routes × {} actors = {} cells, {} failing, setup {:.1?}, all {:.1?}",
        Who::ALL.len(),
        total_routes * Who::ALL.len(),
        failures.len(),
        setup,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} cells disagree with the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ catalogues

/// Every path literal of a `.route(` call in a crate's source, with the prefixes it is nested
/// under (`.nest("…"` literals and a `const PREFIX`), skipping catch-all routes.
fn source_routes(krate: &str) -> (Vec<String>, Vec<String>) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let mut literals = Vec::new();
    let mut prefixes = vec![String::new()];
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices(".nest(\"") {
            let literal: String = text[i + 7..].chars().take_while(|c| *c != '"').collect();
            prefixes.push(literal);
        }
        for (i, _) in text.match_indices("const PREFIX: &str = \"") {
            let start = i + "const PREFIX: &str = \"".len();
            prefixes.push(text[start..].chars().take_while(|c| *c != '"').collect());
        }
        for (i, _) in text.match_indices(".route(") {
            let call: String = text[i..].chars().take(200).collect();
            let Some(open) = call.find('"') else {
                continue;
            };
            // A catch-all (a `{*rest}` path, or every method answered by one of the dialects'
            // 404 handlers), or a route whose first argument is not a literal (`PREFIX`).
            let first_arg = &call[7..open];
            let arguments = call[7..].split(".route(").next().unwrap_or_default();
            let catch_all = arguments.contains("{*rest}")
                || [
                    "any(error::no_such_api)",
                    "any(error::route_not_found)",
                    "any(rest::no_route)",
                ]
                .iter()
                .any(|handler| arguments.contains(handler));
            if catch_all || first_arg.contains(',') || first_arg.trim() == "PREFIX" {
                continue;
            }
            let literal: String = call[open + 1..].chars().take_while(|c| *c != '"').collect();
            literals.push(literal);
        }
    }
    (literals, prefixes)
}

/// Fails when a `.route(` path of `krate` is not one of `catalogue`'s paths.
fn assert_routes_catalogued(krate: &str, catalogue: &[String]) {
    let (literals, prefixes) = source_routes(krate);
    assert!(!literals.is_empty(), "no routes found in {krate}");
    let missing: Vec<&String> = literals
        .iter()
        .filter(|l| {
            !prefixes
                .iter()
                .any(|p| catalogue.contains(&format!("{p}{l}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "routes of {krate} missing from its catalogue (and so from the authorization matrix): {missing:?}"
    );
}

#[test]
fn every_route_path_in_the_tophc_dataarts_and_zstack_sources_is_in_their_catalogues() {
    let tophc: Vec<String> = ticketd_api_tophc::ROUTES
        .iter()
        .map(|(_, p)| (*p).to_owned())
        .collect();
    assert_routes_catalogued("ticketd-api-tophc", &tophc);
    let dataarts: Vec<String> = ticketd_api_dataarts::ROUTES
        .iter()
        .map(|(_, p, _)| (*p).to_owned())
        .collect();
    assert_routes_catalogued("ticketd-api-dataarts", &dataarts);
    let mut zstack: Vec<String> = ticketd_api_zstack::rest_operations()
        .into_iter()
        .map(|o| o.path)
        .collect();
    zstack.extend(ticketd_api_zstack::MESSAGE_API_PATHS.map(str::to_owned));
    assert_routes_catalogued("ticketd-api-zstack", &zstack);
}

/// For every catalogued path, a method the catalogue does not list gets the dialect's "no such
/// route" answer, so a method added to a path without a catalogue entry fails here.
#[tokio::test]
async fn methods_missing_from_the_catalogues_are_not_routed() {
    let app = spawn_app().await;
    let mut paths: HashMap<(String, &str), Vec<&str>> = HashMap::new();
    for (method, path) in ticketd_api_tophc::ROUTES {
        paths
            .entry(((*path).to_owned(), "tophc"))
            .or_default()
            .push(method);
    }
    for (method, path, _) in ticketd_api_dataarts::ROUTES {
        paths
            .entry((path.replace("{project_id}", PROJECT), "dataarts"))
            .or_default()
            .push(method);
    }
    for op in ticketd_api_zstack::rest_operations() {
        paths
            .entry((op.path.clone(), "zstack"))
            .or_default()
            .push(op.method);
    }
    let (_, doc) = app
        .call("GET", "/api/v1/docs/openapi.json", ADMIN_TOKEN, None)
        .await;
    let documented: Vec<(String, Vec<String>)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, ops)| {
            (
                path.clone(),
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| m.to_uppercase())
                    .collect(),
            )
        })
        .collect();
    for (path, methods) in &documented {
        let entry = paths.entry((path.clone(), "jumpserver")).or_default();
        for method in methods {
            entry.push(match method.as_str() {
                "GET" => "GET",
                "POST" => "POST",
                "PUT" => "PUT",
                "PATCH" => "PATCH",
                _ => "DELETE",
            });
        }
    }
    let mut routed = Vec::new();
    for ((path, dialect), methods) in &paths {
        let concrete = path
            .replace("{uuid}", "0a0b0c0d0e0f40718293a4b5c6d7e8f9")
            .replace("{id}", "0a0b0c0d-0e0f-4071-8293-a4b5c6d7e8f9");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if methods.contains(&method) {
                continue;
            }
            let (status, body) = app
                .call_with(method, &concrete, ADMIN_TOKEN, Some(json!({})), &[])
                .await;
            let not_routed = match *dialect {
                "tophc" => status == 404 && body["scode"] == 10004,
                "dataarts" => status == 404 && body["error_code"] == "APIGW.0101",
                "jumpserver" => {
                    (status == 405 && body["code"] == "method_not_allowed")
                        || (status == 404 && body["code"] == "not_found")
                }
                _ => status == 405 && body["error"]["code"] == "SYS.1014",
            };
            if !not_routed {
                routed.push(format!("{method} {path} → {status} {body}"));
            }
        }
    }
    assert!(
        routed.is_empty(),
        "methods served but not catalogued: {routed:#?}"
    );
}
