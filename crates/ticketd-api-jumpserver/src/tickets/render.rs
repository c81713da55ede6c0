//! Ticket serializers: the base `TicketSerializer` and the typed ones, in JumpServer's field order.

use crate::choices::{self, Lang};
use crate::format::{IdText, datetime, push_date_time, push_digits};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use std::collections::HashMap;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::identity::User;
use ticketd_core::payload::ApplyAsset;
use ticketd_core::ticket::{Assignee, StepState, Ticket};
use ticketd_core::{Actor, DomainError, FlowId, OrgId, TicketId, UserId};
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
    /// Each ticket's asset application content, read once for the page.
    contents: HashMap<TicketId, ApplyAsset>,
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
    pub(crate) async fn load<'t>(
        state: &AppState,
        actor: &Actor,
        tickets: impl IntoIterator<Item = &'t Ticket>,
        lang: Lang,
        zone: Tz,
    ) -> Result<Context, DomainError> {
        let mut asset_ids = Vec::new();
        let mut node_ids = Vec::new();
        let mut user_ids = Vec::new();
        let mut flow_ids = Vec::new();
        let mut contents = HashMap::new();
        for ticket in tickets {
            if let Some(content) = ApplyAsset::read(&ticket.payload) {
                asset_ids.extend(content.assets.iter().copied());
                node_ids.extend(content.nodes.iter().copied());
                contents.insert(ticket.id, content);
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
            .map(|o| (o.id, crate::admin::org_label(&o)))
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
            contents,
        })
    }

    /// `ticket`'s asset application content, read by [`Context::load`] (every rendered ticket
    /// was loaded with its page, as its users, assets and flow were).
    fn content(&self, ticket: &Ticket) -> Option<&ApplyAsset> {
        self.contents.get(&ticket.id)
    }

    fn lang(&self) -> Lang {
        self.lang.unwrap_or(Lang::En)
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        datetime(t, self.zone.unwrap_or(chrono_tz::UTC))
    }

    /// The full paths of an asset application's nodes, as `rel_snapshot` shows them.
    fn node_paths<'c>(&'c self, content: &ApplyAsset) -> Vec<&'c str> {
        content
            .nodes
            .iter()
            .filter_map(|n| self.nodes.get(n))
            .map(|n| n.full_value.as_str())
            .collect()
    }

    /// An asset application's assets as `name(address)`, as `rel_snapshot` shows them.
    fn asset_names(&self, content: &ApplyAsset) -> Vec<String> {
        content
            .assets
            .iter()
            .filter_map(|a| self.assets.get(a))
            .map(Asset::display)
            .collect()
    }

    /// The organization's display name.
    fn org_name(&self, org: OrgId) -> &str {
        self.orgs.get(&org).map_or("", String::as_str)
    }
}

/// `str()` of a Python UTC datetime, which JumpServer uses for `process_map[].approval_date`
/// (written out by hand, like [`datetime`]: a page renders one per step).
pub(crate) fn python_utc(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let micros = t.timestamp_subsec_micros();
    let mut out = String::with_capacity(32);
    if !push_date_time(&mut out, &t, '-') {
        out = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    }
    if micros != 0 {
        out.push('.');
        push_digits(&mut out, micros, 6);
    }
    out.push_str("+00:00");
    out
}

/// One `process_map` entry: a step of the current round.
struct ProcessStep<'a> {
    ticket: &'a Ticket,
    step: &'a ticketd_core::ticket::Step,
}

impl Serialize for ProcessStep<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self { ticket, step } = self;
        let (processor, processor_display) = match step.state {
            StepState::Closed => (
                ticket
                    .applicant_id
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                ticket.applicant_display.as_str(),
            ),
            _ => step
                .processor()
                .map(|a| (a.user_id.to_string(), a.display.as_str()))
                .unwrap_or_default(),
        };
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("state", choices::step_state_value(step.state))?;
        map.serialize_entry(
            "assignees",
            &Each(&step.assignees, |a: &Assignee| a.user_id.to_string()),
        )?;
        map.serialize_entry("processor", &processor)?;
        map.serialize_entry("approval_level", &step.level)?;
        map.serialize_entry(
            "assignees_display",
            &Each(&step.assignees, |a: &Assignee| a.display.clone()),
        )?;
        map.serialize_entry("approval_date", &python_utc(step.updated_at))?;
        map.serialize_entry("processor_display", processor_display)?;
        map.end()
    }
}

/// A sequence serialized item by item through `F`, without collecting it first.
struct Each<'a, T, F>(&'a [T], F);

impl<T, F, V> Serialize for Each<'_, T, F>
where
    F: Fn(&T) -> V,
    V: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(&self.1))
    }
}

/// `process_map`: one entry per step of the current round.
struct ProcessMap<'a>(&'a Ticket);

impl Serialize for ProcessMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ticket = self.0;
        serializer.collect_seq(ticket.steps.iter().map(|step| ProcessStep { ticket, step }))
    }
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

/// JumpServer's record of an approver's edit of an asset application (§4.4), for the
/// approval's comment: a markdown table of each field whose shown value `after` changes, before
/// and after; `None` when nothing shown changes. JumpServer's table covers the display
/// snapshot's fields (nodes, assets); the accounts, actions and dates an approver may change as
/// well are listed too, so that the applicant and auditors see every edit.
pub(crate) async fn edit_table(
    state: &AppState,
    actor: &Actor,
    before: &Ticket,
    after: &Value,
    lang: Lang,
    zone: Tz,
) -> Result<Option<String>, DomainError> {
    let (Some(old), Some(new)) = (ApplyAsset::read(&before.payload), ApplyAsset::read(after))
    else {
        return Ok(None);
    };
    let edited = Ticket {
        payload: std::sync::Arc::new(after.clone()),
        ..before.clone()
    };
    let ctx = Context::load(state, actor, [before, &edited], lang, zone).await?;
    let shown = |c: &ApplyAsset| -> [String; 6] {
        let nodes = ctx.node_paths(c);
        let assets = ctx.asset_names(c);
        let actions: Vec<&str> = choices::actions(c.actions, lang)
            .iter()
            .map(|a| a.label)
            .collect();
        [
            nodes.join(", "),
            assets.join(", "),
            c.accounts.join(", "),
            actions.join(", "),
            ctx.time(c.date_start),
            ctx.time(c.date_expired),
        ]
    };
    let labels = [
        lang.pick("Node", "节点"),
        lang.pick("Asset", "资产"),
        lang.pick("Apply accounts", "申请账号"),
        lang.pick("Actions", "动作"),
        lang.pick("Date start", "开始日期"),
        lang.pick("Date expired", "失效日期"),
    ];
    let rows: Vec<String> = labels
        .iter()
        .zip(shown(&old).iter().zip(shown(&new).iter()))
        .filter(|(_, (was, is))| was != is)
        .map(|(label, (was, is))| format!("| {label} | {} | {} |", table_cell(was), table_cell(is)))
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let header = format!(
        "| {} | {} | {} |\n| --- | --- | --- |",
        lang.pick("Change field", "变更字段"),
        lang.pick("Before change", "变更前"),
        lang.pick("After change", "变更后"),
    );
    Ok(Some(format!("{header}\n{}", rows.join("\n"))))
}

/// A value as a markdown table cell: its pipes escaped and its line breaks made spaces.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// `rel_snapshot`: display names of what the ticket refers to.
struct RelSnapshot<'a> {
    ticket: &'a Ticket,
    ctx: &'a Context,
    content: Option<&'a ApplyAsset>,
}

impl Serialize for RelSnapshot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self {
            ticket,
            ctx,
            content,
        } = self;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("applicant", &ticket.applicant_display)?;
        if !ticket.cc_users.is_empty() {
            let cc: Vec<String> = ticket
                .cc_users
                .iter()
                .filter_map(|u| ctx.users.get(u))
                .map(User::display)
                .collect();
            map.serialize_entry("cc_users", &cc)?;
        }
        if let Some(content) = content {
            map.serialize_entry("apply_nodes", &ctx.node_paths(content))?;
            map.serialize_entry("apply_assets", &ctx.asset_names(content))?;
        }
        map.end()
    }
}

/// `{"id", "name"}` of a referenced object.
#[derive(Serialize)]
struct Ref<'a> {
    id: IdText,
    name: &'a str,
}

/// A user as `cc_users` lists them.
#[derive(Serialize)]
struct CcUser<'a> {
    id: IdText,
    name: &'a str,
    username: &'a str,
}

/// The base serializer's applicant.
#[derive(Serialize)]
struct Applicant<'a> {
    id: Option<IdText>,
    name: &'a str,
}

/// A ticket as JumpServer's serializers render it: the base `TicketSerializer`, or with `typed`
/// the typed one (applicant as a string and the type's own fields), in their field order.
/// Serialized straight to JSON text (which `ticketd_http::rendered::RenderedTickets` keeps for
/// later answers); [`ticket`] makes a `Value` of it where one is needed (`?fields=`).
pub(crate) struct TicketView<'a> {
    pub(crate) ticket: &'a Ticket,
    pub(crate) ctx: &'a Context,
    pub(crate) typed: bool,
}

impl Serialize for TicketView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Self { ticket, ctx, typed } = *self;
        let lang = ctx.lang();
        let content = ctx.content(ticket);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &IdText(ticket.id.0))?;
        map.serialize_entry("title", &ticket.title)?;
        map.serialize_entry("org_id", &IdText(ticket.org_id.0))?;
        map.serialize_entry(
            "flow",
            &ticket.flow_id.map(|id| Ref {
                id: IdText(id.0),
                name: ctx.flows.get(&id).map_or("", String::as_str),
            }),
        )?;
        let cc_users: Vec<CcUser<'_>> = ticket
            .cc_users
            .iter()
            .filter_map(|u| ctx.users.get(u))
            .map(|u| CcUser {
                id: IdText(u.id.0),
                name: &u.name,
                username: &u.username,
            })
            .collect();
        map.serialize_entry("cc_users", &cc_users)?;
        if typed {
            map.serialize_entry("type", &choices::ticket_type(&ticket.kind, lang))?;
            typed_fields::<S>(ticket, ctx, content, &mut map)?;
        }
        map.serialize_entry("serial_num", &ticket.serial)?;
        map.serialize_entry("process_map", &ProcessMap(ticket))?;
        map.serialize_entry("approval_step", &choices::level(ticket.approval_step, lang))?;
        if !typed {
            map.serialize_entry("type", &choices::ticket_type(&ticket.kind, lang))?;
        }
        map.serialize_entry("state", &choices::ticket_state(ticket.state, lang))?;
        if typed {
            map.serialize_entry("applicant", &ticket.applicant_display)?;
        } else {
            let (name, _username) =
                ticketd_core::identity::display_parts(&ticket.applicant_display);
            let applicant = Applicant {
                id: ticket.applicant_id.map(|u| IdText(u.0)),
                name,
            };
            map.serialize_entry("applicant", &applicant)?;
        }
        map.serialize_entry("status", &choices::ticket_status(ticket.state, lang))?;
        map.serialize_entry("org_name", ctx.org_name(ticket.org_id))?;
        let snapshot = RelSnapshot {
            ticket,
            ctx,
            content,
        };
        map.serialize_entry("rel_snapshot", &snapshot)?;
        if typed && let Some(content) = content {
            map.serialize_entry("apply_permission_name", &content.permission_name)?;
            map.serialize_entry("apply_date_start", &ctx.time(content.date_start))?;
            map.serialize_entry("apply_date_expired", &ctx.time(content.date_expired))?;
        }
        map.serialize_entry("date_created", &ctx.time(ticket.created_at))?;
        map.serialize_entry("date_updated", &ctx.time(ticket.updated_at))?;
        map.serialize_entry("comment", &ticket.comment)?;
        map.end()
    }
}

/// Renders a ticket as a `Value` (see [`TicketView`]).
pub(crate) fn ticket(ticket: &Ticket, ctx: &Context, typed: bool) -> Value {
    serde_json::to_value(TicketView { ticket, ctx, typed }).unwrap_or(Value::Null)
}

fn typed_fields<S: Serializer>(
    ticket: &Ticket,
    ctx: &Context,
    content: Option<&ApplyAsset>,
    map: &mut S::SerializeMap,
) -> Result<(), S::Error> {
    let lang = ctx.lang();
    let field = |key: &str| ticket.payload.get(key);
    // A user id in the content, shown as `{"id", "name"}` (null when unknown).
    let user_ref = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .and_then(UserId::parse)
            .and_then(|id| ctx.users.get(&id))
            .map(|u| Ref {
                id: IdText(u.id.0),
                name: &u.name,
            })
    };
    match ticket.kind.as_str() {
        "apply_asset" => match content {
            Some(c) => {
                let nodes = refs(&c.nodes, |id| ctx.nodes.get(id).map(|n| n.name.as_str()));
                let assets = refs(&c.assets, |id| ctx.assets.get(id).map(|a| a.name.as_str()));
                map.serialize_entry("apply_nodes", &nodes)?;
                map.serialize_entry("apply_assets", &assets)?;
                map.serialize_entry("apply_accounts", &c.accounts)?;
                map.serialize_entry("apply_actions", &choices::actions(c.actions, lang))?;
            }
            None => {
                let empty: [(); 0] = [];
                for key in [
                    "apply_nodes",
                    "apply_assets",
                    "apply_accounts",
                    "apply_actions",
                ] {
                    map.serialize_entry(key, &empty)?;
                }
            }
        },
        "login_confirm" => {
            map.serialize_entry("apply_login_ip", &field("apply_login_ip"))?;
            map.serialize_entry("apply_login_city", &field("apply_login_city"))?;
            let when = field("apply_login_datetime")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| ctx.time(t.with_timezone(&Utc)));
            map.serialize_entry("apply_login_datetime", &when)?;
        }
        "login_asset_confirm" => {
            map.serialize_entry("apply_login_user", &user_ref(field("apply_login_user")))?;
            let asset = field("apply_login_asset")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .and_then(|id| ctx.assets.get(&id))
                .map(|a| Ref {
                    id: IdText(a.id.uuid()),
                    name: &a.name,
                });
            map.serialize_entry("apply_login_asset", &asset)?;
            map.serialize_entry(
                "apply_login_account",
                &or_empty(field("apply_login_account")),
            )?;
        }
        "command_confirm" => {
            map.serialize_entry("apply_run_user", &user_ref(field("apply_run_user")))?;
            for key in ["apply_run_asset", "apply_run_command", "apply_run_account"] {
                map.serialize_entry(key, &or_empty(field(key)))?;
            }
            map.serialize_entry("apply_from_session", &field("apply_from_session"))?;
            map.serialize_entry(
                "apply_from_cmd_filter_acl",
                &field("apply_from_cmd_filter_acl"),
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// `{"id", "name"}` of each id whose object still exists (`name` finds it): a deleted asset or
/// node leaves the application, as JumpServer's relation rows go with it (it was listed with an
/// empty name).
fn refs<'a>(ids: &[Uuid], name: impl Fn(&Uuid) -> Option<&'a str>) -> Vec<Ref<'a>> {
    ids.iter()
        .filter_map(|id| {
            name(id).map(|name| Ref {
                id: IdText(*id),
                name,
            })
        })
        .collect()
}

/// A content field as stored, or `""` when absent (JumpServer's char fields).
fn or_empty(value: Option<&Value>) -> &Value {
    static EMPTY: Value = Value::String(String::new());
    value.unwrap_or(&EMPTY)
}
