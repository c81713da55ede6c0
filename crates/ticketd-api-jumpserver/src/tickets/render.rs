//! Ticket serializers: the base `TicketSerializer` and the typed ones, in JumpServer's field order.

use crate::choices::{self, Lang};
use crate::format::datetime;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::identity::User;
use ticketd_core::payload::ApplyAsset;
use ticketd_core::ticket::{StepState, Ticket};
use ticketd_core::{Actor, DomainError, FlowId, OrgId, UserId};
use ticketd_http::AppState;
use uuid::Uuid;

/// Everything a page of tickets needs for display, loaded once per request (no N+1 queries).
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub(crate) lang: Option<Lang>,
    pub(crate) zone: Option<Tz>,
    orgs: HashMap<OrgId, String>,
    flows: HashMap<FlowId, String>,
    assets: HashMap<Uuid, Asset>,
    nodes: HashMap<Uuid, Node>,
    users: HashMap<UserId, User>,
}

/// User ids a ticket's typed content refers to.
fn payload_users(ticket: &Ticket) -> Vec<UserId> {
    ["apply_run_user", "apply_login_user"]
        .iter()
        .filter_map(|key| {
            ticket
                .payload
                .get(*key)
                .and_then(Value::as_str)
                .and_then(UserId::parse)
        })
        .collect()
}

impl Context {
    /// Loads the orgs, flows, catalog entries and users that `tickets` mention.
    pub(crate) async fn load(
        state: &AppState,
        actor: &Actor,
        tickets: &[Ticket],
        lang: Lang,
        zone: Tz,
    ) -> Result<Context, DomainError> {
        let mut asset_ids = Vec::new();
        let mut node_ids = Vec::new();
        let mut user_ids = Vec::new();
        let mut flow_ids = Vec::new();
        for ticket in tickets {
            if let Ok(content) = ApplyAsset::from_value(&ticket.payload) {
                asset_ids.extend(content.assets);
                node_ids.extend(content.nodes);
            }
            if let Some(asset) = ticket
                .payload
                .get("apply_login_asset")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                asset_ids.push(asset);
            }
            user_ids.extend(ticket.cc_users.iter().copied());
            user_ids.extend(payload_users(ticket));
            flow_ids.extend(ticket.flow_id);
        }
        for list in [&mut asset_ids, &mut node_ids] {
            list.sort_unstable();
            list.dedup();
        }
        user_ids.sort_unstable();
        user_ids.dedup();
        flow_ids.sort_unstable();
        flow_ids.dedup();
        let (assets, nodes, users) = state
            .engine
            .ticket_references(asset_ids, node_ids, user_ids)
            .await?;
        let orgs = state
            .engine
            .store()
            .list_orgs()
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let mut flows = HashMap::new();
        for id in flow_ids {
            if let Ok(flow) = state.engine.get_flow(actor, id).await {
                flows.insert(id, flow.name);
            }
        }
        Ok(Context {
            lang: Some(lang),
            zone: Some(zone),
            orgs,
            flows,
            assets: assets.into_iter().map(|a| (a.id.uuid(), a)).collect(),
            nodes: nodes.into_iter().map(|n| (n.id.uuid(), n)).collect(),
            users: users.into_iter().map(|u| (u.id, u)).collect(),
        })
    }

    fn lang(&self) -> Lang {
        self.lang.unwrap_or(Lang::En)
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        datetime(t, self.zone.unwrap_or(chrono_tz::UTC))
    }

    /// The organization's display name.
    pub(crate) fn org_name(&self, org: OrgId) -> String {
        self.orgs.get(&org).cloned().unwrap_or_default()
    }

    fn user_ref(&self, id: Option<UserId>) -> Value {
        match id.and_then(|id| self.users.get(&id)) {
            Some(user) => json!({"id": user.id.to_string(), "name": user.name}),
            None => Value::Null,
        }
    }
}

/// `str()` of a Python UTC datetime, which JumpServer uses for `process_map[].approval_date`.
fn python_utc(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

/// `process_map`: one entry per step of the current round.
pub(crate) fn process_map(ticket: &Ticket) -> Value {
    Value::Array(
        ticket
            .steps
            .iter()
            .map(|step| {
                let (processor, processor_display) = match step.state {
                    StepState::Closed => (
                        ticket.applicant_id.map(|u| u.to_string()).unwrap_or_default(),
                        ticket.applicant_display.clone(),
                    ),
                    _ => step
                        .processor()
                        .map(|a| (a.user_id.to_string(), a.display.clone()))
                        .unwrap_or_default(),
                };
                json!({
                    "state": choices::step_state_value(step.state),
                    "assignees": step.assignees.iter().map(|a| a.user_id.to_string()).collect::<Vec<_>>(),
                    "processor": processor,
                    "approval_level": step.level,
                    "assignees_display": step.assignees.iter().map(|a| a.display.clone()).collect::<Vec<_>>(),
                    "approval_date": python_utc(step.updated_at),
                    "processor_display": processor_display,
                })
            })
            .collect(),
    )
}

/// The processor of the current step (`""` while undecided), for the super-ticket status.
pub(crate) fn current_processor(ticket: &Ticket) -> String {
    match ticket.current_step() {
        Some(step) if step.state == StepState::Closed => ticket.applicant_display.clone(),
        Some(step) => step
            .processor()
            .map(|a| a.display.clone())
            .unwrap_or_default(),
        None => String::new(),
    }
}

fn apply_asset_content(ticket: &Ticket) -> Option<ApplyAsset> {
    ApplyAsset::from_value(&ticket.payload).ok()
}

fn rel_snapshot(ticket: &Ticket, ctx: &Context) -> Value {
    let mut snapshot = Map::new();
    snapshot.insert(
        "applicant".into(),
        Value::String(ticket.applicant_display.clone()),
    );
    if !ticket.cc_users.is_empty() {
        let cc: Vec<String> = ticket
            .cc_users
            .iter()
            .filter_map(|u| ctx.users.get(u))
            .map(User::display)
            .collect();
        snapshot.insert("cc_users".into(), json!(cc));
    }
    if let Some(content) = apply_asset_content(ticket) {
        let nodes: Vec<String> = content
            .nodes
            .iter()
            .filter_map(|n| ctx.nodes.get(n))
            .map(|n| n.full_value.clone())
            .collect();
        let assets: Vec<String> = content
            .assets
            .iter()
            .filter_map(|a| ctx.assets.get(a))
            .map(Asset::display)
            .collect();
        snapshot.insert("apply_nodes".into(), json!(nodes));
        snapshot.insert("apply_assets".into(), json!(assets));
    }
    Value::Object(snapshot)
}

/// Renders a ticket; `typed` selects the typed serializer (applicant as a string and the
/// type's own fields) instead of the base one (applicant as an object).
pub(crate) fn ticket(ticket: &Ticket, ctx: &Context, typed: bool) -> Value {
    let lang = ctx.lang();
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("id", json!(ticket.id.to_string()));
    put("title", json!(ticket.title));
    put("org_id", json!(ticket.org_id.to_string()));
    put(
        "flow",
        ticket.flow_id.map_or(Value::Null, |id| json!({"id": id.to_string(), "name": ctx.flows.get(&id).cloned().unwrap_or_default()})),
    );
    put(
        "cc_users",
        Value::Array(
            ticket
                .cc_users
                .iter()
                .filter_map(|u| ctx.users.get(u))
                .map(|u| json!({"id": u.id.to_string(), "name": u.name, "username": u.username}))
                .collect(),
        ),
    );
    if typed {
        put("type", choices::ticket_type(&ticket.kind, lang));
        typed_fields(ticket, ctx, &mut put);
    }
    put("serial_num", json!(ticket.serial));
    put("process_map", process_map(ticket));
    put("approval_step", choices::level(ticket.approval_step, lang));
    if !typed {
        put("type", choices::ticket_type(&ticket.kind, lang));
    }
    put("state", choices::ticket_state(ticket.state, lang));
    put(
        "applicant",
        if typed {
            json!(ticket.applicant_display)
        } else {
            let name = ticket
                .applicant_display
                .rsplit_once('(')
                .map_or(ticket.applicant_display.as_str(), |(n, _)| n);
            json!({"id": ticket.applicant_id.map(|u| u.to_string()), "name": name})
        },
    );
    put("status", choices::ticket_status(ticket.state, lang));
    put("org_name", json!(ctx.org_name(ticket.org_id)));
    put("rel_snapshot", rel_snapshot(ticket, ctx));
    if typed && let Some(content) = apply_asset_content(ticket) {
        put("apply_permission_name", json!(content.permission_name));
        put("apply_date_start", json!(ctx.time(content.date_start)));
        put("apply_date_expired", json!(ctx.time(content.date_expired)));
    }
    put("date_created", json!(ctx.time(ticket.created_at)));
    put("date_updated", json!(ctx.time(ticket.updated_at)));
    put("comment", json!(ticket.comment));
    Value::Object(out)
}

fn typed_fields(ticket: &Ticket, ctx: &Context, put: &mut dyn FnMut(&str, Value)) {
    let lang = ctx.lang();
    let text = |key: &str| {
        ticket
            .payload
            .get(key)
            .cloned()
            .unwrap_or(Value::String(String::new()))
    };
    match ticket.kind.as_str() {
        "apply_asset" => {
            let content = apply_asset_content(ticket);
            let refs = |ids: &[Uuid], name: &dyn Fn(&Uuid) -> Option<String>| {
                Value::Array(ids.iter().map(|id| json!({"id": id.to_string(), "name": name(id).unwrap_or_default()})).collect())
            };
            let (nodes, assets, accounts, actions) = match &content {
                Some(c) => (
                    refs(&c.nodes, &|id| ctx.nodes.get(id).map(|n| n.name.clone())),
                    refs(&c.assets, &|id| ctx.assets.get(id).map(|a| a.name.clone())),
                    json!(c.accounts),
                    choices::actions(c.actions, lang),
                ),
                None => (json!([]), json!([]), json!([]), json!([])),
            };
            put("apply_nodes", nodes);
            put("apply_assets", assets);
            put("apply_accounts", accounts);
            put("apply_actions", actions);
        }
        "login_confirm" => {
            put(
                "apply_login_ip",
                ticket
                    .payload
                    .get("apply_login_ip")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            put(
                "apply_login_city",
                ticket
                    .payload
                    .get("apply_login_city")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            let when = ticket
                .payload
                .get("apply_login_datetime")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map_or(Value::Null, |t| json!(ctx.time(t.with_timezone(&Utc))));
            put("apply_login_datetime", when);
        }
        "login_asset_confirm" => {
            put(
                "apply_login_user",
                ctx.user_ref(
                    ticket
                        .payload
                        .get("apply_login_user")
                        .and_then(Value::as_str)
                        .and_then(UserId::parse),
                ),
            );
            let asset = ticket
                .payload
                .get("apply_login_asset")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .and_then(|id| ctx.assets.get(&id))
                .map_or(
                    Value::Null,
                    |a| json!({"id": a.id.to_string(), "name": a.name}),
                );
            put("apply_login_asset", asset);
            put("apply_login_account", text("apply_login_account"));
        }
        "command_confirm" => {
            put(
                "apply_run_user",
                ctx.user_ref(
                    ticket
                        .payload
                        .get("apply_run_user")
                        .and_then(Value::as_str)
                        .and_then(UserId::parse),
                ),
            );
            put("apply_run_asset", text("apply_run_asset"));
            put("apply_run_command", text("apply_run_command"));
            put("apply_run_account", text("apply_run_account"));
            put(
                "apply_from_session",
                ticket
                    .payload
                    .get("apply_from_session")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            put(
                "apply_from_cmd_filter_acl",
                ticket
                    .payload
                    .get("apply_from_cmd_filter_acl")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
        _ => {}
    }
}
