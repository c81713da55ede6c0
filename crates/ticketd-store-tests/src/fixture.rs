//! Test fixtures: deterministic entropy, a fixed clock, and a small seeded directory.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use ticketd_core::Actor;
use ticketd_core::engine::{
    BootstrapOptions, Engine, EngineSettings, Entropy, FlowChoice, FlowInput, NewTicket,
    NewUserInput,
};
use ticketd_core::flow::{Flow, Level, LevelMode};
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole};
use ticketd_core::ids::OrgId;
use ticketd_core::selector::Selector;
use ticketd_core::store::{GrantQuery, Store};
use ticketd_core::ticket::{Grant, KIND_APPLY_ASSET, Ticket};

/// Deterministic, never-repeating bytes (SplitMix64 over a counter).
#[derive(Debug, Default)]
pub struct CounterEntropy(AtomicU64);

impl Entropy for CounterEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The fixed "now" of the suite.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 21, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// An engine over `store` with the suite's settings (UTC serial days).
pub fn engine(store: Arc<dyn Store>) -> Engine {
    Engine::new(
        store,
        Arc::new(CounterEntropy::default()),
        EngineSettings::default(),
    )
}

/// A seeded world: admin, applicant alice, approvers bob and carol, org admin olga, outsider mallory.
#[derive(Debug)]
pub struct World {
    /// The engine.
    pub engine: Engine,
    /// System administrator.
    pub admin: Actor,
    /// An applicant in Default.
    pub alice: Actor,
    /// An approver in Default.
    pub bob: Actor,
    /// Another approver in Default.
    pub carol: Actor,
    /// Org admin of Default.
    pub olga: Actor,
    /// A member of another organization only.
    pub mallory: Actor,
    /// The other organization.
    pub other_org: OrgId,
}

impl World {
    /// Seeds the world.
    pub async fn new(store: Arc<dyn Store>) -> World {
        let engine = engine(store);
        engine
            .bootstrap(
                BootstrapOptions {
                    admin_password: Some("admin-pass".into()),
                    admin_token: None,
                },
                t0(),
            )
            .await
            .unwrap();
        let admin_user = engine
            .store()
            .find_user_by_username("admin")
            .await
            .unwrap()
            .unwrap();
        let admin = engine.actor(admin_user.id).await.unwrap();
        let other_org = engine
            .create_org(Some(&admin), "Other", t0())
            .await
            .unwrap()
            .id;
        // The host every asset application of `new_ticket` names (the core refuses an asset
        // that is not in the ticket's organization).
        engine
            .create_asset(
                &admin,
                ticketd_core::catalog::Asset {
                    id: ticketd_core::AssetId(APPLIED_ASSET),
                    org_id: DEFAULT_ORG,
                    name: "applied".into(),
                    address: "10.0.0.1".into(),
                    platform: "Linux".into(),
                    is_active: true,
                    node_ids: Vec::new(),
                    comment: String::new(),
                    created_at: t0(),
                    updated_at: t0(),
                },
            )
            .await
            .unwrap();
        let make = async |name: &str, orgs: Vec<(OrgId, ticketd_core::RoleId)>| {
            let user = engine
                .create_user(
                    Some(&admin),
                    NewUserInput {
                        username: name.into(),
                        name: capitalize(name),
                        email: format!("{name}@example.com"),
                        system_role: SystemRole::User,
                        password: Some(format!("{name}-pass")),
                        orgs,
                    },
                    t0(),
                )
                .await
                .unwrap();
            engine.actor(user.id).await.unwrap()
        };
        let alice = make("alice", vec![(DEFAULT_ORG, ROLE_ORG_USER)]).await;
        let bob = make("bob", vec![(DEFAULT_ORG, ROLE_ORG_USER)]).await;
        let carol = make("carol", vec![(DEFAULT_ORG, ROLE_ORG_USER)]).await;
        let olga = make("olga", vec![(DEFAULT_ORG, ROLE_ORG_ADMIN)]).await;
        let mallory = make("mallory", vec![(other_org, ROLE_ORG_USER)]).await;
        World {
            engine,
            admin,
            alice,
            bob,
            carol,
            olga,
            mallory,
            other_org,
        }
    }

    /// Creates a two-level flow in Default for `kind`: Bob decides level 1, Carol level 2.
    pub async fn bob_then_carol(&self, kind: &str) -> Flow {
        let levels = vec![
            (vec![&self.bob], LevelMode::Any),
            (vec![&self.carol], LevelMode::Any),
        ];
        self.flow(kind, levels).await
    }

    /// Creates a flow in Default for `kind` with the given levels (user lists + modes).
    pub async fn flow(&self, kind: &str, levels: Vec<(Vec<&Actor>, LevelMode)>) -> Flow {
        let levels = levels
            .into_iter()
            .map(|(users, mode)| Level {
                selector: Selector::Ids {
                    ids: users.iter().map(|a| a.id()).collect(),
                },
                mode,
                name: String::new(),
                attributes: serde_json::Value::Null,
            })
            .collect();
        self.engine
            .create_flow(
                &self.admin,
                FlowInput {
                    org_id: DEFAULT_ORG,
                    name: format!("flow-{kind}"),
                    description: String::new(),
                    kinds: vec![kind.into()],
                    is_default: false,
                    enabled: true,
                    levels,
                    cc_users: Vec::new(),
                    attributes: serde_json::Value::Null,
                },
                t0(),
            )
            .await
            .unwrap()
    }

    /// A new user, a plain member of Default, named `username`.
    pub async fn new_member(&self, username: &str) -> Actor {
        let user = self
            .engine
            .create_user(
                None,
                NewUserInput {
                    username: username.into(),
                    name: String::new(),
                    email: String::new(),
                    system_role: SystemRole::User,
                    password: None,
                    orgs: vec![(DEFAULT_ORG, ROLE_ORG_USER)],
                },
                t0(),
            )
            .await
            .unwrap();
        self.engine.actor(user.id).await.unwrap()
    }

    /// Opens a ticket of `kind` as `who` at `at`.
    pub async fn open(&self, who: &Actor, kind: &str, title: &str, at: DateTime<Utc>) -> Ticket {
        self.engine
            .open_ticket(who, new_ticket(kind, title), at)
            .await
            .unwrap()
    }
}

/// The grants a ticket created.
pub async fn grants_of(store: &Arc<dyn Store>, ticket: ticketd_core::TicketId) -> Vec<Grant> {
    store
        .list_grants(GrantQuery {
            ticket: Some(ticket),
            ..GrantQuery::default()
        })
        .await
        .unwrap()
}

/// The asset in Default that [`new_ticket`]'s asset applications name.
pub const APPLIED_ASSET: uuid::Uuid =
    uuid::Uuid::from_u128(0x8e5b_1c4e_2f0a_4c7e_9d59_0a3c_4b1f_6d11);

/// A submitted ticket request in Default with automatic flow choice.
pub fn new_ticket(kind: &str, title: &str) -> NewTicket {
    let payload = if kind == KIND_APPLY_ASSET {
        json!({
            "assets": [APPLIED_ASSET],
            "nodes": [],
            "accounts": ["@ALL"],
            "actions": 127,
            "date_start": "2026-08-21T02:00:00Z",
            "date_expired": "2026-08-28T02:00:00Z"
        })
    } else {
        json!({"reason": "test"})
    };
    NewTicket {
        id: None,
        org_id: DEFAULT_ORG,
        kind: kind.into(),
        title: title.into(),
        payload,
        comment: String::new(),
        scope: String::new(),
        flow: FlowChoice::Auto,
        submit: true,
        applicant: None,
        cc_users: Vec::new(),
    }
}

/// `t0()` plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// Tickets for a check of end times stored before migration 17, in a seeded world over `store`: one
/// rejected at `at(1)` and confirmed at `at(2)` (its last change later than its end), and one
/// still waiting. Returns (rejected, waiting).
pub async fn an_ended_and_a_waiting_ticket(store: Arc<dyn Store>) -> (Ticket, Ticket) {
    let w = World::new(store).await;
    w.flow("general", vec![(vec![&w.bob], LevelMode::Any)])
        .await;
    let ended = w.open(&w.alice, "general", "ended", t0()).await;
    let reject = ticketd_core::engine::TicketCommand::Reject {
        reason: "no".into(),
    };
    w.engine.act(&w.bob, ended.id, reject, at(1)).await.unwrap();
    let confirm = ticketd_core::engine::TicketCommand::Confirm;
    let ended = w
        .engine
        .act(&w.alice, ended.id, confirm, at(2))
        .await
        .unwrap();
    let waiting = w.open(&w.alice, "general", "waiting", at(3)).await;
    (ended, waiting)
}

fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
