//! `/v1/ticket/*` ticket routes: save, submit, list, inspect and the batch actions.
//!
//! A ticket's `ticketInfo` body is stored as the ticket's payload as sent, but `ticket_uuid`; its
//! `ticket_name`, `type`, `reason` and `process_uuid` also become the ticket's title, type,
//! comment and flow. The ticket belongs to the tenant the body names (`tenant_uuid` or
//! `tenant`), else to the applicant's own tenant.
//!
//! Decisions the documents leave open (see core-model.md): `overruled/submit` restarts the chain
//! at level 1 (from rejected, and from withdrawn, as the core allows); `withdraw` works while
//! pending; `archive` only finished tickets; `confirm` by the applicant; `submit` always creates
//! a ticket (a `ticket_uuid` in its body becomes the new ticket's id), while `save` with a
//! `ticket_uuid` modifies that saved (or withdrawn) ticket, unless another API partitions it
//! or made it (a ZStack ticket, a DataArts application, a JumpServer login or command
//! confirmation: 26007, their content is theirs to edit).

use crate::batch::Batch;
use crate::error::{ApiError, Reply, Scode};
use crate::extract::{Caller, Input};
use crate::processes;
use crate::render::{self, Context, STATE_KEYWORDS, STATE_LABELS, TYPE_NAMES};
use crate::tenant;
use axum::extract::State;
use serde_json::{Value, json};
use ticketd_core::engine::{FlowChoice, NewTicket, TicketCommand};
use ticketd_core::machine::TicketEdit;
use ticketd_core::store::{SearchedState, TicketOrder, TicketQuery, Visibility};
use ticketd_core::ticket::{Ticket, TicketState};
use ticketd_core::{Actor, ConflictKind, DomainError, TicketId};
use ticketd_http::{AppState, now};

fn ids(ticket: &Ticket) -> Value {
    json!({"ticket_uuid": ticket.id.to_string(), "ticket_name": ticket.title})
}

/// The ticket `type`, required.
fn kind(input: &Input) -> Result<String, ApiError> {
    input
        .opt("type")?
        .ok_or_else(|| ApiError::invalid("type: this field is required"))
}

fn parse_ticket_id(raw: &str) -> Result<TicketId, ApiError> {
    TicketId::parse(raw).ok_or_else(|| ApiError::parse(format!("{raw:?} is not a ticket uuid")))
}

/// Creates a ticket from a ticketInfo body: saved (`submit: false`) or submitted.
async fn open(
    state: &AppState,
    actor: &Actor,
    input: &Input,
    submit: bool,
    id: Option<TicketId>,
) -> Result<Ticket, ApiError> {
    let kind = kind(input)?;
    // A ticketInfo body would make one past its own API's rules.
    if ticketd_core::ticket::has_its_own_api(&kind) {
        return Err(ApiError::invalid(format!(
            "type: a {kind} ticket is opened through its own API"
        )));
    }
    let raw_tenant = named_tenant(input)?;
    let (org, _) = tenant::resolve(state, actor, raw_tenant.as_deref()).await?;
    let process = processes::process_id(input.opt("process_uuid")?.as_deref())?;
    processes::load(state, actor, process).await?;
    let ticket = state
        .engine
        .open_ticket(
            actor,
            NewTicket {
                id,
                org_id: org,
                kind,
                title: input.text("ticket_name")?.unwrap_or_default(),
                payload: content(input),
                comment: input.text("reason")?.unwrap_or_default(),
                scope: String::new(),
                flow: FlowChoice::Id(process),
                submit,
                applicant: None,
                cc_users: Vec::new(),
            },
            now(),
        )
        .await?;
    Ok(ticket)
}

/// The tenant a ticketInfo body names (`tenant_uuid`, or `tenant`), if any.
fn named_tenant(input: &Input) -> Result<Option<String>, ApiError> {
    match input.opt("tenant_uuid")? {
        Some(t) => Ok(Some(t)),
        None => input.opt("tenant"),
    }
}

/// A ticketInfo body as a ticket's content: without `ticket_uuid`, which names the ticket (its
/// id) rather than being part of what is applied for, so a form saved again as it was changes
/// nothing (the first save sent no `ticket_uuid`, the next ones do).
fn content(input: &Input) -> Value {
    let mut body = input.body.clone();
    body.remove("ticket_uuid");
    Value::Object(body)
}

/// Changes a saved ticket to the ticketInfo body (which replaces the stored one).
async fn modify(
    state: &AppState,
    actor: &Actor,
    input: &Input,
    id: TicketId,
) -> Result<Ticket, ApiError> {
    let current = state.engine.get_ticket(actor, id).await?;
    // A ticket another API partitions (a ZStack ticket, a DataArts application), or one of
    // JumpServer's confirmations (made by JumpServer for a login or a command), holds content of
    // that API's form, which a ticketInfo body would replace unchecked.
    if !current.scope.is_empty() || ticketd_core::ticket::has_its_own_api(&current.kind) {
        return Err(ApiError::invalid(
            "ticket_uuid: a ticket opened through another API keeps its content: edit it there",
        ));
    }
    if let Some(kind) = input.opt("type")?
        && kind != current.kind
    {
        return Err(ApiError::invalid("type: a saved ticket keeps its type"));
    }
    // Named as a submit names it: a tenant the caller may not enter is refused alike, and
    // another one is not silently dropped.
    let raw_tenant = named_tenant(input)?;
    if raw_tenant.is_some() {
        let (org, _) = tenant::resolve(state, actor, raw_tenant.as_deref()).await?;
        if org != current.org_id {
            return Err(ApiError::invalid(
                "tenant_uuid: a saved ticket keeps its tenant",
            ));
        }
    }
    let flow_id = match input.opt("process_uuid")? {
        Some(raw) => {
            let process = processes::process_id(Some(&raw))?;
            processes::load(state, actor, process).await?;
            // The core's edit does not check the process serves the ticket's tenant: ask the
            // same question submitting would.
            state
                .engine
                .choose_flow(current.org_id, &current.kind, Some(process))
                .await?;
            Some(process)
        }
        None => None,
    };
    let edit = TicketEdit {
        title: input.text("ticket_name")?,
        payload: Some(content(input)),
        comment: input.text("reason")?,
        flow_id,
    };
    Ok(state
        .engine
        .act(actor, id, TicketCommand::Edit(edit), now())
        .await?)
}

/// `POST /v1/ticket/save`: save a new ticket, or modify the saved one `ticket_uuid` names.
pub(crate) async fn save(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let ticket = match input.opt("ticket_uuid")? {
        Some(raw) => modify(&state, &actor, &input, parse_ticket_id(&raw)?).await?,
        None => open(&state, &actor, &input, false, None).await?,
    };
    Ok(Reply(ids(&ticket)))
}

/// `POST /v1/ticket/submit`: create and submit a ticket.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let id = match input.opt("ticket_uuid")? {
        Some(raw) => Some(parse_ticket_id(&raw)?),
        None => None,
    };
    let ticket = open(&state, &actor, &input, true, id).await?;
    Ok(Reply(ids(&ticket)))
}

/// `GET /v1/ticket/list`.
///
/// `filter_ticket_owner_flag`: 1 = awaiting my decision, 2 = my applications, absent or 0 =
/// every ticket I may see. `page_num` is 0-based; `page_size` defaults to (and is capped at) the
/// server's page limit. `filter_complex` keywords must all match: a state name (已保存, 待审批,
/// 已通过, 已驳回, 已撤回, 已归档) filters by state, a documented type name by type, any other
/// keyword must appear in the name, type or state. `tenant`/`tenant_uuid`, when given, must be a
/// tenant the caller belongs to (TopHC's permission check); it does not narrow the list, so an
/// approver sees the tickets of other tenants awaiting them. Newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let mut query = TicketQuery::new(Visibility::All);
    match input.uint("filter_ticket_owner_flag")? {
        None | Some(0) => {}
        Some(1) => query.awaiting = Some(actor.id()),
        Some(2) => query.applicant = Some(actor.id()),
        Some(other) => {
            return Err(ApiError::parse(format!(
                "filter_ticket_owner_flag must be 1 or 2, not {other}"
            )));
        }
    }
    for name in ["tenant_uuid", "tenant"] {
        if let Some(raw) = input.opt(name)? {
            tenant::resolve(&state, &actor, Some(&raw)).await?;
        }
    }
    // A ticket shows one state name, so state keywords that name two match nothing; they
    // were a union, and 已归档 with another depended on their order.
    let mut shown: Option<Option<TicketState>> = None;
    let mut contradictory = false;
    if let Some(keywords) = input.opt("filter_complex")? {
        for keyword in keywords.split_whitespace() {
            if let Some((_, state_filter)) = STATE_KEYWORDS.iter().find(|(k, _)| *k == keyword) {
                match shown {
                    Some(named) if named != *state_filter => contradictory = true,
                    _ => shown = Some(*state_filter),
                }
            } else if let Some((code, _)) = TYPE_NAMES.iter().find(|(_, l)| *l == keyword) {
                query.kinds.push((*code).to_owned());
            } else {
                query.search.push(vec![vec![keyword.to_owned()]]);
            }
        }
    }
    match shown {
        Some(Some(state)) => {
            query.states = vec![state];
            query.archived = Some(false);
        }
        Some(None) => query.archived = Some(true),
        None => {}
    }
    // Free words test the state's name as TopHC shows it.
    query.searched_state = SearchedState::Labels(STATE_LABELS);
    let max = state.settings.max_page_size.max(1);
    let size = match input.uint("page_size")? {
        None | Some(0) => max,
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX).min(max),
    };
    let page = input.uint("page_num")?.unwrap_or(0);
    query.limit = size;
    query.offset = page.saturating_mul(u64::from(size));
    query.with_total = true;
    query.order = TicketOrder::CreatedDesc;
    if contradictory {
        return Ok(Reply(json!({"total_count": 0, "list": []})));
    }
    let result = state.engine.list_tickets(&actor, query).await?;
    let ctx = Context::load(&state, &actor, &result.items, Vec::new()).await?;
    let rows: Vec<Value> = result
        .items
        .iter()
        .map(|t| render::ticket(t, &ctx, false, Vec::new()))
        .collect();
    let total = result.total.unwrap_or(rows.len() as u64);
    Ok(Reply(json!({"total_count": total, "list": rows})))
}

/// `GET /v1/ticket/inspect`: `ticket_uuid` from the query string or the body (also written
/// alone, `{ "<uuid>" }`).
pub(crate) async fn inspect(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let raw = match input.opt("ticket_uuid")? {
        Some(raw) => raw,
        None => input
            .bare_member(&["ticket_uuid"])
            .ok_or_else(|| ApiError::parse("ticket_uuid is required"))?,
    };
    let id = parse_ticket_id(&raw)?;
    let ticket = state.engine.get_ticket(&actor, id).await?;
    let history = state.engine.history(&actor, id).await?;
    let actors = history.iter().filter_map(|h| h.actor_id).collect();
    let ctx = Context::load(&state, &actor, std::slice::from_ref(&ticket), actors).await?;
    let earlier = render::earlier_processers(&ticket, &history, &ctx);
    Ok(Reply(render::ticket(&ticket, &ctx, true, earlier)))
}

/// What a batch call does to each ticket.
#[derive(Debug, Clone)]
enum Op {
    Submit,
    Resubmit,
    Archive,
    Reject {
        reason: String,
    },
    Approve {
        reason: String,
        config: Option<Value>,
    },
    Withdraw {
        reason: String,
    },
    Confirm,
    Delete,
}

impl Op {
    fn deciding(&self) -> bool {
        matches!(self, Self::Approve { .. } | Self::Reject { .. })
    }
}

/// Applies `op` to one ticket; each is one core transition, so an item is applied whole or not
/// at all.
async fn apply(state: &AppState, actor: &Actor, id: TicketId, op: &Op) -> Result<Ticket, ApiError> {
    let command = match op {
        Op::Submit => TicketCommand::Submit,
        Op::Resubmit => TicketCommand::Resubmit {
            reason: String::new(),
        },
        Op::Archive => TicketCommand::Archive,
        Op::Confirm => TicketCommand::Confirm,
        Op::Delete => TicketCommand::Delete,
        Op::Reject { reason } => TicketCommand::Reject {
            reason: reason.clone(),
        },
        Op::Withdraw { reason } => TicketCommand::Withdraw {
            reason: reason.clone(),
        },
        Op::Approve { reason, config } => {
            // The approver's `config` (placement for the platform that provisions) is kept on
            // the ticket under `config`, next to the detail objects.
            let payload = match config {
                Some(config) => {
                    let current = state.engine.get_ticket(actor, id).await?;
                    let mut payload = match std::sync::Arc::unwrap_or_clone(current.payload) {
                        Value::Object(map) => map,
                        Value::Null => serde_json::Map::new(),
                        other => {
                            let mut map = serde_json::Map::new();
                            map.insert("ticket_info".into(), other);
                            map
                        }
                    };
                    payload.insert("config".into(), config.clone());
                    Some(Value::Object(payload))
                }
                None => None,
            };
            TicketCommand::Approve {
                reason: reason.clone(),
                payload,
                changes: None,
            }
        }
    };
    match state.engine.act(actor, id, command, now()).await {
        Ok(ticket) => Ok(ticket),
        Err(
            error @ DomainError::InvalidTransition {
                conflict: ConflictKind::StateChanged,
                ..
            },
        ) if op.deciding() => {
            // The core says "the ticket moved on" both to an assignee of a later step and to one
            // whose step was decided (by them, or by another approver first): tell the first
            // they are not this step's approver, the others that the ticket changed.
            let ticket = state.engine.get_ticket(actor, id).await?;
            if ticket.state == ticketd_core::ticket::TicketState::Pending
                && ticket.awaits_a_later_step(actor.id())
            {
                Err(ApiError::new(
                    Scode::NotApprover,
                    "you are not an approver of the ticket's current step",
                ))
            } else {
                Err(error.into())
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Runs `op` over `list`, item by item.
async fn run_batch(
    state: &AppState,
    actor: &Actor,
    input: &Input,
    op: Op,
) -> Result<Reply, ApiError> {
    let Some(items) = input.list("list")? else {
        return Err(ApiError::parse("list is required"));
    };
    let mut batch = Batch::default();
    for item in &items {
        let raw = match item {
            Value::String(s) => s.trim().to_owned(),
            Value::Object(map) => map
                .get("ticket_uuid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            other => other.to_string(),
        };
        let echo = |name: &str| json!({"ticket_uuid": raw, "ticket_name": name});
        let id = match parse_ticket_id(&raw) {
            Ok(id) => id,
            Err(error) => {
                batch.fail(&error, echo(""));
                continue;
            }
        };
        match apply(state, actor, id, &op).await {
            Ok(ticket) => batch.ok(ids(&ticket)),
            Err(error) => {
                // Name the ticket when the caller may see it; an unknown one stays unnamed.
                let name = match error.scode {
                    Scode::TicketNotFound | Scode::Internal => String::new(),
                    _ => state
                        .engine
                        .get_ticket(actor, id)
                        .await
                        .map(|t| t.title)
                        .unwrap_or_default(),
                };
                batch.fail(&error, echo(&name));
            }
        }
    }
    Ok(batch.reply())
}

fn reason(input: &Input) -> Result<String, ApiError> {
    Ok(input.text("reason")?.unwrap_or_default())
}

/// `POST /v1/ticket/saved/submit`.
pub(crate) async fn saved_submit(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    run_batch(&state, &actor, &input, Op::Submit).await
}

/// `POST /v1/ticket/overruled/submit`: a new round from level 1.
pub(crate) async fn overruled_submit(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    run_batch(&state, &actor, &input, Op::Resubmit).await
}

/// `POST /v1/ticket/archive`.
pub(crate) async fn archive(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    run_batch(&state, &actor, &input, Op::Archive).await
}

/// `GET` or `POST /v1/ticket/overrule`: reject with `reason`.
pub(crate) async fn overrule(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let op = Op::Reject {
        reason: reason(&input)?,
    };
    run_batch(&state, &actor, &input, op).await
}

/// `POST /v1/ticket/pass`: approve, with an optional `reason` and `config`.
pub(crate) async fn pass(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let op = Op::Approve {
        reason: reason(&input)?,
        config: input.value("config").cloned(),
    };
    run_batch(&state, &actor, &input, op).await
}

/// `POST /v1/ticket/withdraw`.
pub(crate) async fn withdraw(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let op = Op::Withdraw {
        reason: reason(&input)?,
    };
    run_batch(&state, &actor, &input, op).await
}

/// `POST /v1/ticket/confirm`.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    run_batch(&state, &actor, &input, Op::Confirm).await
}

/// `POST /v1/ticket/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    run_batch(&state, &actor, &input, Op::Delete).await
}
