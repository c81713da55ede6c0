//! TopHC's Ticket shape: Chinese states, applicant and handler fields, and `processers[]` from steps and history.
//!
//! - `ticket_state`: 已保存 (draft), 待审批 (pending at any level), 已通过, 已驳回, 已撤回 (closed
//!   or withdrawn), and 已归档 for any archived ticket.
//! - `ticket_is_over`: the ticket went through its whole chain (approved).
//! - `is_confirm`: 已确认 once the applicant confirmed, else 未确认.
//! - `user_*`: whom the ticket waits for: the current step's role while pending (as TopHC shows
//!   `超级管理员` / `system`), else the applicant (who confirms, resubmits or archives).
//! - `processers[]`: one entry per step reached in the current round (decided steps with who,
//!   `通过`/`驳回`, when and why; the current step with empty processer fields); `inspect`
//!   puts the decisions of earlier rounds, from the history, before them.
//! - `detail_uuid` is the ticket's own id: ticketd keeps the detail objects on the ticket.
//! - The detail objects (`compute`, `storage`, `network`, `container`, `common`/`Common`, the
//!   approver's `config`, anything else sent) come back from `inspect` as they were stored.

use crate::error::ApiError;
use crate::processes::{self, level_owner};
use crate::tenant::{self, SYSTEM};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use ticketd_core::flow::Flow;
use ticketd_core::identity::{SYSTEM_ORG, User};
use ticketd_core::ticket::{
    HistoryAction, HistoryEntry, Step, StepState, Ticket, TicketState, steps_of_round,
};
use ticketd_core::{Actor, FlowId, OrgId, RoleId, UserId};
use ticketd_http::AppState;

/// TopHC's name of each state (an archived ticket shows 已归档 instead).
pub(crate) const STATE_LABELS: &[(TicketState, &str)] = &[
    (TicketState::Draft, "已保存"),
    (TicketState::Pending, "待审批"),
    (TicketState::Approved, "已通过"),
    (TicketState::Rejected, "已驳回"),
    (TicketState::Closed, "已撤回"),
];

/// TopHC's name of a ticket's state.
pub(crate) fn state_label(ticket: &Ticket) -> &'static str {
    if ticket.archived {
        return "已归档";
    }
    STATE_LABELS
        .iter()
        .find(|(state, _)| *state == ticket.state)
        .map_or("", |(_, label)| label)
}

/// `filter_complex` keywords that name a state instead of text: (label, state; `None` = archived).
pub(crate) const STATE_KEYWORDS: &[(&str, Option<TicketState>)] = &[
    ("已保存", Some(TicketState::Draft)),
    ("待审批", Some(TicketState::Pending)),
    ("已提交", Some(TicketState::Pending)),
    ("已通过", Some(TicketState::Approved)),
    ("已驳回", Some(TicketState::Rejected)),
    ("已撤回", Some(TicketState::Closed)),
    ("已归档", None),
];

/// Ticket types whose display name TopHC documents: (`type`, `ticket_type`).
pub(crate) const TYPE_NAMES: &[(&str, &str)] = &[("FEEDBACK", "问题反馈")];

fn type_label(kind: &str) -> String {
    TYPE_NAMES
        .iter()
        .find(|(code, _)| *code == kind)
        .map_or_else(|| kind.to_owned(), |(_, label)| (*label).to_owned())
}

/// What rendering a page of tickets needs, loaded in a few calls for the whole page.
#[derive(Debug, Default)]
pub(crate) struct Context {
    users: HashMap<UserId, User>,
    tenants: HashMap<OrgId, String>,
    flows: HashMap<FlowId, Flow>,
    roles: HashMap<(OrgId, UserId), Vec<RoleId>>,
}

impl Context {
    /// Loads users (applicants, deciders, `extra`), tenant names, processes and the applicants'
    /// roles for `tickets`, as far as the caller may see them.
    pub(crate) async fn load(
        state: &AppState,
        actor: &Actor,
        tickets: &[Ticket],
        extra: Vec<UserId>,
    ) -> Result<Self, ApiError> {
        let mut user_ids: Vec<UserId> = extra;
        for ticket in tickets {
            user_ids.extend(ticket.applicant_id);
            for step in ticket.steps.iter() {
                user_ids.extend(step.assignees.iter().map(|a| a.user_id));
            }
        }
        user_ids.sort();
        user_ids.dedup();
        let (_, _, users) = state
            .engine
            .ticket_references(Vec::new(), Vec::new(), user_ids)
            .await?;
        let mut ctx = Self {
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            ..Self::default()
        };
        for org in state.engine.orgs(actor).await? {
            ctx.tenants.insert(org.id, org.name);
        }
        ctx.tenants.insert(SYSTEM_ORG, SYSTEM.to_owned());
        let mut flow_ids: Vec<FlowId> = tickets.iter().filter_map(|t| t.flow_id).collect();
        flow_ids.sort();
        flow_ids.dedup();
        for id in flow_ids {
            // Only processes the caller may see; the steps keep the name otherwise.
            if let Ok(flow) = state.engine.get_flow(actor, id).await {
                ctx.flows.insert(id, flow);
            }
        }
        let mut orgs: Vec<OrgId> = tickets.iter().map(|t| t.org_id).collect();
        orgs.sort();
        orgs.dedup();
        for org in orgs.into_iter().filter(|o| actor.may_enter_org(*o)) {
            for m in state.engine.members(actor, org).await? {
                ctx.roles
                    .entry((org, m.user_id))
                    .or_default()
                    .push(m.role_id);
            }
        }
        Ok(ctx)
    }

    fn username(&self, id: Option<UserId>, fallback: &str) -> String {
        id.and_then(|id| self.users.get(&id))
            .map_or_else(|| fallback.to_owned(), |u| u.username.clone())
    }

    fn tenant_name(&self, org: OrgId) -> String {
        self.tenants.get(&org).cloned().unwrap_or_default()
    }
}

/// `(tenant_uuid, tenant_name, role_uuid, role_name)` of a step of `ticket`.
fn step_owner(ticket: &Ticket, step: &Step, ctx: &Context) -> (String, String, String, String) {
    let tenant_uuid = tenant::tenant_uuid(ticket.org_id);
    let tenant_name = ctx.tenant_name(ticket.org_id);
    level_owner(&step.attributes, &step.name, (&tenant_uuid, &tenant_name))
}

fn processer(
    owner: &(String, String, String, String),
    who: Option<(String, String)>,
    action: &str,
    time: i64,
    reason: &str,
) -> Value {
    let (uuid, name) = who.unwrap_or_default();
    json!({
        "processer_tenant_uuid": owner.0,
        "processer_tenant_name": owner.1,
        "owner_uuid": owner.2,
        "owner_name": owner.3,
        "processer_uuid": uuid,
        "processer_name": name,
        "processer_role": "",
        "processer_action": action,
        "processer_approval_time": time,
        "reason": reason,
    })
}

fn decision_label(action: HistoryAction) -> &'static str {
    match action {
        HistoryAction::Approve => "通过",
        HistoryAction::Reject => "驳回",
        _ => "",
    }
}

/// The steps reached in the current round.
fn current_processers(ticket: &Ticket, ctx: &Context) -> Vec<Value> {
    if ticket.state == TicketState::Draft {
        return Vec::new();
    }
    let mut steps: Vec<&Step> = ticket
        .steps
        .iter()
        .filter(|s| s.level <= ticket.approval_step)
        .collect();
    steps.sort_by_key(|s| s.level);
    steps
        .into_iter()
        .map(|step| {
            let owner = step_owner(ticket, step, ctx);
            let action = match step.state {
                StepState::Approved => "通过",
                StepState::Rejected => "驳回",
                _ => "",
            };
            match step.processor() {
                Some(decider) => processer(
                    &owner,
                    Some((
                        decider.user_id.to_string(),
                        ctx.username(Some(decider.user_id), &decider.display),
                    )),
                    action,
                    decider.decided_at.map_or(0, |t| t.timestamp()),
                    &decider.reason,
                ),
                None => processer(&owner, None, action, 0, ""),
            }
        })
        .collect()
}

/// Decisions of the rounds before the current one, oldest first.
pub(crate) fn earlier_processers(
    ticket: &Ticket,
    history: &[HistoryEntry],
    ctx: &Context,
) -> Vec<Value> {
    history
        .iter()
        .filter(|h| h.round < ticket.round)
        .filter(|h| matches!(h.action, HistoryAction::Approve | HistoryAction::Reject))
        .map(|h| {
            let owner = steps_of_round(ticket, history, h.round)
                .iter()
                .find(|s| s.level == h.level)
                .map_or_else(
                    || {
                        (
                            tenant::tenant_uuid(ticket.org_id),
                            ctx.tenant_name(ticket.org_id),
                            String::new(),
                            String::new(),
                        )
                    },
                    |step| step_owner(ticket, step, ctx),
                );
            processer(
                &owner,
                Some((
                    h.actor_id.map(|id| id.to_string()).unwrap_or_default(),
                    ctx.username(h.actor_id, &h.actor_display),
                )),
                decision_label(h.action),
                h.created_at.timestamp(),
                &h.reason,
            )
        })
        .collect()
}

/// Payload members that are ticketInfo's own fields, rendered from the ticket instead.
const TICKET_INFO_FIELDS: &[&str] = &["type", "tenant", "tenant_uuid"];

/// A ticket in TopHC's shape; `detail` adds the stored detail objects (inspect), and `earlier`
/// the decisions of earlier rounds.
pub(crate) fn ticket(ticket: &Ticket, ctx: &Context, detail: bool, earlier: Vec<Value>) -> Value {
    let tenant_uuid = tenant::tenant_uuid(ticket.org_id);
    let tenant_name = ctx.tenant_name(ticket.org_id);
    let applicant = ticket.applicant_id.and_then(|id| ctx.users.get(&id));
    let applicant_roles = ticket
        .applicant_id
        .and_then(|id| ctx.roles.get(&(ticket.org_id, id)))
        .cloned()
        .unwrap_or_default();
    let applicant_role = tenant::user_label(
        applicant.is_some_and(|u| u.system_role == ticketd_core::identity::SystemRole::Admin),
        &applicant_roles,
    );
    let applicant_name = ctx.username(ticket.applicant_id, &ticket.applicant_display);
    let applicant_uuid = ticket
        .applicant_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let payload_text = |key: &str| {
        ticket
            .payload
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (process_uuid, process_name) = match ticket.flow_id {
        Some(id) => {
            let name = ctx.flows.get(&id).map(|f| f.name.clone()).or_else(|| {
                ticket.steps.iter().find_map(|s| {
                    s.attributes
                        .get("process_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            });
            (processes::process_uuid(id), name.unwrap_or_default())
        }
        None => (String::new(), String::new()),
    };
    let (user_name, user_uuid, user_tenant_uuid) = match ticket.current_step() {
        Some(step) if ticket.state == TicketState::Pending => {
            let owner = step_owner(ticket, step, ctx);
            match step.assignees.first() {
                // A step no TopHC role owns (another dialect's: chosen users, a ZStack flow):
                // one of the users who may decide it, as the field's definition says.
                Some(assignee) if owner.2.is_empty() => (
                    ctx.username(Some(assignee.user_id), &assignee.display),
                    assignee.user_id.to_string(),
                    owner.0,
                ),
                _ => (owner.3, owner.2, owner.0),
            }
        }
        _ => (
            applicant_name.clone(),
            applicant_uuid.clone(),
            tenant_uuid.clone(),
        ),
    };
    let mut processers = earlier;
    processers.extend(current_processers(ticket, ctx));
    let mut out = json!({
        "ticket_uuid": ticket.id.to_string(),
        "ticket_name": ticket.title,
        "ticket_type": type_label(&ticket.kind),
        "type": ticket.kind,
        "ticket_state": state_label(ticket),
        "ticket_is_over": ticket.state == TicketState::Approved,
        "is_confirm": if ticket.confirmed { "已确认" } else { "未确认" },
        "ticket_create_time": ticket.created_at.timestamp(),
        "applyer_name": applicant_name,
        "applyer_uuid": applicant_uuid,
        "applyer_role": applicant_role,
        "applyer_tenant_uuid": tenant_uuid,
        "applyer_tenant_name": tenant_name,
        "cluster_uuid": payload_text("cluster_uuid"),
        "zone": payload_text("zone"),
        "namespace_uuid": payload_text("namespace_uuid"),
        "reason": ticket.comment,
        "user_name": user_name,
        "user_uuid": user_uuid,
        "user_tenant_uuid": user_tenant_uuid,
        "detail_uuid": ticket.id.to_string(),
        "process_uuid": process_uuid,
        "process_name": process_name,
        "processers": processers,
    });
    if detail && let (Some(out), Some(payload)) = (out.as_object_mut(), ticket.payload.as_object())
    {
        add_details(out, payload);
    }
    out
}

fn add_details(out: &mut Map<String, Value>, payload: &Map<String, Value>) {
    for (key, value) in payload {
        if !out.contains_key(key) && !TICKET_INFO_FIELDS.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
}
