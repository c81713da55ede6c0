//! Tickets: create, change status, update requests, delete, archive, and the ticket, history,
//! archive and ticket-type queries with their inventories.

use crate::api::{Ctx, one};
use crate::collections;
use crate::error::{SYS_INVALID_ARGUMENT, ZsError};
use crate::query::{Inventory, QuerySpec, answer, render_dates};
use crate::types::{self, KIND_UNTYPED, TicketType};
use crate::wire::{Params, hex, parse_uuid, text_or_null};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use ticketd_core::engine::{FLOW_DISABLED, FlowChoice, LEFT_ORG_ACTION, NewTicket, TicketCommand};
use ticketd_core::identity::{Org, ROOT_ORG};
use ticketd_core::machine::TicketEdit;
use ticketd_core::store::{TicketOrder, TicketQuery, Visibility};
use ticketd_core::ticket::{HistoryAction, HistoryEntry, Ticket, TicketState, steps_of_round};
use ticketd_core::{ConflictKind, DomainError, OrgId, TicketId, UserId};
use uuid::Uuid;

/// The partition key of tickets filed through this dialect: ZStack queries show only these.
pub(crate) const SCOPE: &str = "zstack";

/// How many tickets one store read loads while a query collects its candidates.
const LOAD_PAGE: u32 = 500;

const TICKET_FIELDS: &[&str] = &[
    "uuid",
    "name",
    "description",
    "status",
    "request",
    "accountSystemType",
    "ticketTypeUuid",
    "accountSystemContext",
    "currentFlowUuid",
    "flowCollectionUuid",
    "createDate",
    "lastOpDate",
];

/// `TicketInventory`.
pub(crate) const TICKET: Inventory = Inventory {
    name: "TicketInventory",
    fields: TICKET_FIELDS,
    nested: &[],
};

/// `ArchiveTicketInventory` (no ticket type).
const ARCHIVE_TICKET: Inventory = Inventory {
    name: "ArchiveTicketInventory",
    fields: &[
        "uuid",
        "name",
        "description",
        "status",
        "request",
        "accountSystemType",
        "accountSystemContext",
        "currentFlowUuid",
        "flowCollectionUuid",
        "createDate",
        "lastOpDate",
    ],
    nested: &[],
};

const HISTORY: Inventory = Inventory {
    name: "TicketStatusHistoryInventory",
    fields: &[
        "uuid",
        "sequence",
        "ticketUuid",
        "fromStatus",
        "toStatus",
        "comment",
        "operationContextType",
        "operationContext",
        "operatorType",
        "operatorUuid",
        "flowName",
        "createDate",
        "lastOpDate",
    ],
    nested: &[],
};

const ARCHIVE_HISTORY: Inventory = Inventory {
    name: "ArchiveTicketStatusHistoryInventory",
    fields: &[
        "uuid",
        "sequence",
        "ticketUuid",
        "historyUuid",
        "fromStatus",
        "toStatus",
        "comment",
        "accountUuid",
        "operationContextType",
        "operationContext",
        "operatorType",
        "operatorUuid",
        "flowName",
        "createDate",
        "lastOpDate",
    ],
    nested: &[],
};

/// The ZStack status of a core state at a level: pending past the first flow is
/// `IntermediateApproved`; a draft (never made here) shows as `Cancelled`, the other state in
/// which its content may change.
pub(crate) fn status(state: TicketState, level: u32) -> &'static str {
    match state {
        TicketState::Pending if level > 1 => "IntermediateApproved",
        TicketState::Pending => "Pending",
        TicketState::Approved => "FinalApproved",
        TicketState::Rejected => "Rejected",
        TicketState::Closed | TicketState::Draft => "Cancelled",
    }
}

fn ticket_status(ticket: &Ticket) -> &'static str {
    status(ticket.state, ticket.approval_step)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The flow uuid a step was built from (kept in its attributes).
fn step_flow_uuid(ticket: &Ticket, level: u32) -> Value {
    ticket
        .steps
        .iter()
        .find(|s| s.level == level)
        .and_then(|s| s.attributes.get("uuid"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `TicketInventory` (`archive`: `ArchiveTicketInventory`), dates as epoch milliseconds.
fn inventory(ticket: &Ticket, archive: bool) -> Map<String, Value> {
    let payload = &ticket.payload;
    let mut map = object(json!({
        "uuid": hex(ticket.id.uuid()),
        "name": ticket.title,
        "description": text_or_null(&ticket.comment),
        "status": ticket_status(ticket),
        "request": payload.get("requests").cloned().unwrap_or_else(|| json!([])),
        "accountSystemType": payload.get("accountSystemType").cloned().unwrap_or_else(|| json!("iam2")),
        "ticketTypeUuid": payload.get("ticketTypeUuid").cloned().unwrap_or(Value::Null),
        "accountSystemContext": {
            "projectUuid": hex(ticket.org_id.uuid()),
            "virtualIDUuid": ticket.applicant_id.map(|u| hex(u.uuid())),
        },
        "currentFlowUuid": step_flow_uuid(ticket, ticket.approval_step),
        "flowCollectionUuid": ticket.flow_id.map(|f| hex(f.uuid())),
        "createDate": ticket.created_at.timestamp_millis(),
        "lastOpDate": ticket.updated_at.timestamp_millis(),
    }));
    if archive {
        map.remove("ticketTypeUuid");
    }
    map
}

fn rendered(ctx: &Ctx<'_>, ticket: &Ticket, archive: bool) -> Map<String, Value> {
    let mut map = inventory(ticket, archive);
    render_dates(&mut map, &[], ctx.zone());
    one(map)
}

/// The project a call names: an existing organization other than the global one, which the
/// caller may enter.
pub(crate) async fn project(ctx: &Ctx<'_>, uuid: Uuid) -> Result<Org, ZsError> {
    let missing = || ZsError::not_found(format!("can not find IAM2ProjectVO[uuid:{}]", hex(uuid)));
    if uuid == ROOT_ORG.uuid() {
        return Err(missing());
    }
    match ctx
        .engine()
        .resolve_org(&ctx.actor, &OrgId(uuid).to_string())
        .await
    {
        Ok(org) if org.id.uuid() == uuid => Ok(org),
        Ok(_) | Err(DomainError::NotFound { .. }) => Err(missing()),
        Err(DomainError::Forbidden { .. }) => Err(not_a_member(ctx, uuid)),
        Err(other) => Err(other.into()),
    }
}

fn not_a_member(ctx: &Ctx<'_>, project: Uuid) -> ZsError {
    ZsError::denied(format!(
        "the virtual ID[uuid:{}] is not a member of project[uuid:{}]",
        hex(ctx.actor.id().uuid()),
        hex(project)
    ))
}

/// A ZStack API message class: a qualified Java name whose class is `API…Msg`.
fn is_api_class(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    let identifier = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    parts.len() >= 2
        && parts.iter().all(identifier)
        && parts.last().is_some_and(|class| {
            class.len() > 6 && class.starts_with("API") && class.ends_with("Msg")
        })
}

/// Checks and normalises `requests`: each a `TicketRequest` with an API message class, an
/// object body, a name (the class's short name by default) and how many times to run it (1).
fn requests(params: &Params<'_>) -> Result<Vec<Value>, ZsError> {
    let items = match params.raw("requests") {
        None => return Err(params.missing("requests")),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ZsError::argerr(
                "field[requests] can not be empty, a ticket needs at least one request",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ZsError::argerr(
                "field[requests] must be a list of requests",
            ));
        }
    };
    let mut normalized = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(request) = item else {
            return Err(ZsError::argerr(format!(
                "invalid request {item}, a request is an object with apiName and apiBody"
            )));
        };
        let api_name = request
            .get("apiName")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if !is_api_class(api_name) {
            return Err(ZsError::argerr(format!(
                "invalid request. no API[{api_name}] found"
            )));
        }
        let body = match request.get("apiBody") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(body)) => Value::Object(body.clone()),
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(body) if ticketd_http::json::holds_nul(&body) => {
                    return Err(ticketd_http::json::JsonBodyError::NulCharacter.into());
                }
                Ok(Value::Object(body)) => {
                    ticketd_http::json::check_integers(text).map_err(|refusal| {
                        ZsError::argerr(format!(
                            "invalid request, cannot create API[{api_name}] from apiBody: {refusal}"
                        ))
                    })?;
                    Value::Object(body)
                }
                _ => {
                    return Err(ZsError::argerr(format!(
                        "invalid request, cannot create API[{api_name}] from apiBody, it is not a JSON object"
                    )));
                }
            },
            Some(_) => {
                return Err(ZsError::argerr(format!(
                    "invalid request, cannot create API[{api_name}] from apiBody, it is not a JSON object"
                )));
            }
        };
        let short_name = api_name.rsplit('.').next().unwrap_or(api_name);
        let name = match request.get("requestName") {
            None | Some(Value::Null) => short_name.to_owned(),
            Some(Value::String(name)) if name.chars().count() <= 255 => name.clone(),
            Some(_) => {
                return Err(ZsError::argerr(
                    "requestName of a request must be a string of at most 255 characters",
                ));
            }
        };
        let times = match request.get("executeTimes") {
            None | Some(Value::Null) => 1,
            Some(value) => value
                .as_i64()
                .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| {
                    ZsError::argerr(format!(
                        "invalid executeTimes[{value}] of request[{name}], it must be a positive integer"
                    ))
                })?,
        };
        normalized.push(json!({
            "requestName": name,
            "apiName": api_name,
            "executeTimes": times,
            "apiBody": body,
        }));
    }
    Ok(normalized)
}

fn api_names(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| r.get("apiName").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// `CreateTicket`: files the ticket in the project of `accountSystemContext` through the
/// collection it names, else the one of the ticket's type, else the project's default.
pub(crate) async fn create(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let name = params.req_str("name", 255)?;
    let description = params.opt_str("description", 2048)?.unwrap_or_default();
    let account_type = params.req_str("accountSystemType", 255)?;
    if account_type != "iam2" {
        return Err(ZsError::argerr(format!(
            "no accountSystemType[{account_type}] defined in system"
        )));
    }
    let context = match params.raw("accountSystemContext") {
        None => return Err(params.missing("accountSystemContext")),
        Some(Value::Object(context)) => context,
        Some(_) => {
            return Err(ZsError::argerr(
                "field[accountSystemContext] must be an object with projectUuid and virtualIDUuid",
            ));
        }
    };
    let context_uuid = |key: &str| -> Result<Option<Uuid>, ZsError> {
        match context.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_str().and_then(parse_uuid).map(Some).ok_or_else(|| {
                ZsError::argerr(format!(
                    "invalid value[{value}] of accountSystemContext.{key}, it is not a valid uuid"
                ))
            }),
        }
    };
    let project_uuid = context_uuid("projectUuid")?.ok_or_else(|| {
        ZsError::argerr("accountSystemContext.projectUuid is mandatory for an iam2 ticket")
    })?;
    let virtual_id = context_uuid("virtualIDUuid")?;
    let requests = requests(params)?;
    let ticket_type = types::matching(&api_names(&requests));
    // Without a resourceUuid the ticket takes the job's id, so a create sent again with the
    // same X-Job-UUID (a client's retry) finds its ticket there and is refused, not run twice.
    let resource = params.opt_uuid("resourceUuid")?;
    let job = ctx.job.filter(|_| resource.is_none());
    let id = resource.or(job);
    let tags = params.opt_uuid_list("tagUuids")?.unwrap_or_default();
    let wanted = params.opt_uuid("flowCollectionUuid")?;
    let org = project(ctx, project_uuid).await?;
    let collection = collections::resolve_for_ticket(ctx, &org, ticket_type, wanted).await?;
    let applicant = virtual_id.unwrap_or_else(|| ctx.actor.id().uuid());
    let payload = json!({
        "requests": requests,
        "accountSystemType": "iam2",
        "accountSystemContext": {"projectUuid": hex(org.id.uuid()), "virtualIDUuid": hex(applicant)},
        "ticketTypeUuid": ticket_type.map(|t| t.uuid),
        "tagUuids": tags.iter().map(|t| hex(*t)).collect::<Vec<_>>(),
    });
    let input = NewTicket {
        id: id.map(TicketId),
        org_id: org.id,
        kind: ticket_type.map_or(KIND_UNTYPED, |t| t.name).to_owned(),
        title: name,
        payload,
        comment: description,
        scope: SCOPE.to_owned(),
        flow: FlowChoice::Id(collection.id),
        submit: true,
        applicant: virtual_id.map(UserId),
        cc_users: Vec::new(),
    };
    let ticket = ctx
        .engine()
        .open_ticket(&ctx.actor, input, ctx.now)
        .await
        .map_err(|error| match error {
            DomainError::Forbidden { action } => ZsError::denied(format!(
                "the virtual ID[uuid:{}] may not {action}",
                hex(ctx.actor.id().uuid())
            )),
            DomainError::Validation(fields)
                if job.is_some() && fields.first().is_some_and(|f| f.field == "id") =>
            {
                ZsError::rest(
                    StatusCode::BAD_REQUEST,
                    SYS_INVALID_ARGUMENT,
                    format!(
                        "duplicate job[uuid:{}]: a ticket was created by this X-Job-UUID",
                        job.map_or_else(String::new, hex)
                    ),
                )
            }
            other => other.into(),
        })?;
    Ok(rendered(ctx, &ticket, false))
}

/// A ZStack ticket the caller may read.
async fn load(ctx: &Ctx<'_>, uuid: Uuid) -> Result<Ticket, ZsError> {
    match ctx.engine().get_ticket(&ctx.actor, TicketId(uuid)).await {
        Ok(ticket) if ticket.scope == SCOPE => Ok(ticket),
        Ok(_) | Err(DomainError::NotFound { .. }) => Err(ZsError::not_found(format!(
            "unable to find ticket[uuid:{}]",
            hex(uuid)
        ))),
        Err(other) => Err(other.into()),
    }
}

/// The core's state name in ZStack terms, for tickets that moved since they were loaded.
fn status_named(state: &str, loaded: &Ticket) -> &'static str {
    if state == loaded.state.as_str() {
        return ticket_status(loaded);
    }
    TicketState::parse(state).map_or("Pending", |s| status(s, 1))
}

/// Words a refused transition the way ZStack does.
fn transition_error(
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    operation: &str,
    error: DomainError,
) -> ZsError {
    let deciding = operation == "approve" || operation == "reject";
    let approver = || {
        ticket
            .current_step()
            .and_then(|s| s.assignees.first())
            .map_or_else(String::new, |a| hex(a.user_id.uuid()))
    };
    match error {
        DomainError::Validation(fields)
            if fields.first().is_some_and(|f| f.code == FLOW_DISABLED) =>
        {
            // The words of a new ticket's refusal (collections.rs).
            ZsError::operr(format!(
                "ticket flow collection[uuid:{}] is disable, can not be used",
                ticket.flow_id.map(|f| hex(f.uuid())).unwrap_or_default()
            ))
        }
        DomainError::InvalidTransition {
            conflict: ConflictKind::StateChanged,
            ..
        } if deciding && ticket.state == TicketState::Pending => ZsError::denied(format!(
            "operation denied. the operator needs to be done by account/virtual ID[uuid:{}]",
            approver()
        )),
        // Moved to the archive queries: no status of the ticket queries says it.
        DomainError::InvalidTransition {
            state: "archived", ..
        } => ZsError::operr(format!(
            "operation denied. the ticket[uuid:{}] is archived, cannot do the operation[{operation}]",
            hex(ticket.id.uuid())
        )),
        DomainError::InvalidTransition {
            conflict, state, ..
        } if conflict != ConflictKind::Busy => {
            let current = status_named(state, ticket);
            if operation == "update" {
                ZsError::operr(format!(
                    "the ticket[uuid:{}] can only be updated after being cancelled, current status is {current}",
                    hex(ticket.id.uuid())
                ))
            } else {
                ZsError::operr(format!(
                    "operation denied. the ticket is in status of {current}, cannot do the operation[{operation}]"
                ))
            }
        }
        DomainError::Forbidden { .. } if deciding => ZsError::denied(format!(
            "operation denied. the operator needs to be done by account/virtual ID[uuid:{}]",
            approver()
        )),
        // The owner, once they have left the project (the core's rule: they reopen and update
        // nothing there, as they create nothing there).
        DomainError::Forbidden { action } if action == LEFT_ORG_ACTION => {
            not_a_member(ctx, ticket.org_id.uuid())
        }
        DomainError::Forbidden { .. } => ZsError::denied(format!(
            "the virtual ID[uuid:{}] is not the owner of the ticket[uuid:{}, name:{}]",
            hex(ctx.actor.id().uuid()),
            hex(ticket.id.uuid()),
            ticket.title
        )),
        DomainError::NotFound { .. } => ZsError::not_found(format!(
            "unable to find ticket[uuid:{}]",
            hex(ticket.id.uuid())
        )),
        other => other.into(),
    }
}

async fn act(
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    command: TicketCommand,
    operation: &str,
) -> Result<Ticket, ZsError> {
    ctx.engine()
        .act_on(&ctx.actor, ticket.clone(), command, ctx.now)
        .await
        .map_err(|error| transition_error(ctx, ticket, operation, error))
}

/// `ChangeTicketStatus`: `open` (only drafts, which ZStack never makes), `approve` and
/// `reject` (the current flow's approver), `cancel` and `reopen` (the owner).
pub(crate) async fn change_status(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let event = params.req_str("statusEvent", 32)?;
    let comment = params.opt_str("comment", 65535)?.unwrap_or_default();
    let event = event.trim().to_ascii_lowercase();
    let command = match event.as_str() {
        "open" => TicketCommand::Submit,
        "approve" => TicketCommand::Approve {
            reason: comment,
            payload: None,
            changes: None,
        },
        "reject" => TicketCommand::Reject { reason: comment },
        "cancel" => TicketCommand::Withdraw { reason: comment },
        "reopen" => TicketCommand::Resubmit { reason: comment },
        other => {
            return Err(ZsError::argerr(format!(
                "invalid statusEvent[{other}], valid values are [open, approve, cancel, reject, reopen]"
            )));
        }
    };
    let ticket = load(ctx, uuid).await?;
    let changed = act(ctx, &ticket, command, &event).await?;
    Ok(rendered(ctx, &changed, false))
}

/// `UpdateTicketRequest`: replaces the requests (and description) of a cancelled ticket.
pub(crate) async fn update_request(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let requests = requests(params)?;
    let description = params.opt_str("description", 2048)?;
    let ticket = load(ctx, uuid).await?;
    let new_type = types::matching(&api_names(&requests)).map(|t| t.uuid);
    let old_type = ticket.payload.get("ticketTypeUuid").and_then(Value::as_str);
    if new_type != old_type {
        return Err(ZsError::argerr(format!(
            "the new requests do not match the ticket type[uuid:{}] of ticket[uuid:{}]",
            old_type.unwrap_or("null"),
            hex(uuid)
        )));
    }
    let mut payload = match &*ticket.payload {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    payload.insert("requests".into(), Value::Array(requests));
    let edit = TicketEdit {
        payload: Some(Value::Object(payload)),
        comment: description,
        ..TicketEdit::default()
    };
    let changed = act(ctx, &ticket, TicketCommand::Edit(edit), "update").await?;
    Ok(rendered(ctx, &changed, false))
}

/// `DeleteTicket`: a finished ticket disappears (its history is kept by the core).
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    params.delete_mode()?;
    let ticket = load(ctx, uuid).await?;
    act(ctx, &ticket, TicketCommand::Delete, "delete").await?;
    Ok(Map::new())
}

/// `ArchiveTicket`: a finished ticket moves to the archive queries.
pub(crate) async fn archive(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let ticket = load(ctx, uuid).await?;
    let archived = act(ctx, &ticket, TicketCommand::Archive, "archive").await?;
    Ok(rendered(ctx, &archived, true))
}

fn parsed_ids(values: Option<Vec<String>>) -> Option<Vec<Uuid>> {
    values.map(|values| values.iter().filter_map(|v| parse_uuid(v)).collect())
}

/// The ZStack tickets the caller may read, archived or not, oldest first; `ids` and
/// `projects` narrow the load when a query pins them.
async fn visible(
    ctx: &Ctx<'_>,
    archived: bool,
    ids: Option<Vec<Uuid>>,
    projects: Option<Vec<Uuid>>,
) -> Result<Vec<Ticket>, ZsError> {
    if ids.as_ref().is_some_and(Vec::is_empty) || projects.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let mut query = TicketQuery::new(Visibility::All);
    query.scope = Some(SCOPE.to_owned());
    query.archived = Some(archived);
    query.order = TicketOrder::CreatedAsc;
    query.ids = ids.map(|ids| ids.into_iter().map(TicketId).collect());
    query.org_ids = projects.map(|orgs| orgs.into_iter().map(OrgId).collect());
    query.limit = LOAD_PAGE;
    let mut tickets = Vec::new();
    loop {
        query.offset = tickets.len() as u64;
        let page = ctx.engine().list_tickets(&ctx.actor, query.clone()).await?;
        let full = page.items.len() >= LOAD_PAGE as usize;
        tickets.extend(std::sync::Arc::unwrap_or_clone(page.items));
        if !full {
            return Ok(tickets);
        }
    }
}

/// `QueryTicket` / `QueryArchiveTicket`.
pub(crate) async fn query(
    ctx: &Ctx<'_>,
    spec: &QuerySpec,
    archived: bool,
) -> Result<Map<String, Value>, ZsError> {
    let tickets = visible(
        ctx,
        archived,
        parsed_ids(spec.required_values("uuid")),
        parsed_ids(spec.required_values("accountSystemContext.projectUuid")),
    )
    .await?;
    let rows = tickets.iter().map(|t| inventory(t, archived)).collect();
    let shape = if archived { &ARCHIVE_TICKET } else { &TICKET };
    answer(spec, shape, rows, ctx.zone(), ctx.max_page())
}

/// The name of the flow at `level` in `round` (the levels it was decided at, also after the
/// collection changed and the ticket was reopened).
fn step_name(ticket: &Ticket, entries: &[HistoryEntry], round: u32, level: u32) -> Value {
    steps_of_round(ticket, entries, round)
        .iter()
        .find(|s| s.level == level)
        .map_or(Value::Null, |s| Value::String(s.name.clone()))
}

fn operation_context_type(action: HistoryAction) -> &'static str {
    match action {
        HistoryAction::Edit => "RequestUpdated",
        HistoryAction::Archive => "Archived",
        HistoryAction::Delete => "Deleted",
        _ => "StatusChanged",
    }
}

/// `TicketStatusHistoryInventory` rows of one ticket (`archive`: the archive variant).
///
/// Statuses are derived from the core states and the level acted on; `operationContext` stays
/// null because ticketd does not execute the requests and so has no results to report. A
/// TopHC confirmation or save (of a ticket another dialect also reads) is no event of ZStack's:
/// it is not listed (a confirmation showed as a change from `FinalApproved` to itself, at the
/// first flow).
fn history_rows(
    ticket: &Ticket,
    entries: &[HistoryEntry],
    archive: bool,
) -> Vec<Map<String, Value>> {
    entries
        .iter()
        .filter(|entry| !matches!(entry.action, HistoryAction::Confirm | HistoryAction::Save))
        .enumerate()
        .map(|(i, entry)| {
            let level = entry.level.max(1);
            let from = if entry.from_state == TicketState::Draft
                && matches!(entry.action, HistoryAction::Submit)
            {
                Value::Null
            } else {
                Value::from(status(entry.from_state, level))
            };
            let to = match (entry.to_state, entry.action) {
                (TicketState::Pending, HistoryAction::Approve) => {
                    status(TicketState::Pending, level.saturating_add(1))
                }
                (state, _) => status(state, 1),
            };
            let flow_name = match entry.action {
                HistoryAction::Archive | HistoryAction::Delete | HistoryAction::Edit => Value::Null,
                _ => step_name(ticket, entries, entry.round, level),
            };
            let id = hex(entry.id);
            let mut row = object(json!({
                "uuid": id,
                "sequence": i + 1,
                "ticketUuid": hex(ticket.id.uuid()),
                "fromStatus": from,
                "toStatus": to,
                "comment": text_or_null(&entry.reason),
                "operationContextType": operation_context_type(entry.action),
                "operationContext": null,
                "operatorType": "IAM2VirtualIDVO",
                "operatorUuid": entry.actor_id.map(|u| hex(u.uuid())),
                "flowName": flow_name,
                "createDate": entry.created_at.timestamp_millis(),
                "lastOpDate": entry.created_at.timestamp_millis(),
            }));
            if archive {
                row.insert("historyUuid".into(), Value::String(id));
                row.insert(
                    "accountUuid".into(),
                    ticket
                        .applicant_id
                        .map_or(Value::Null, |u| Value::String(hex(u.uuid()))),
                );
            }
            row
        })
        .collect()
}

/// `QueryTicketHistory` / `QueryArchiveTicketHistory`: the history rows of every ticket the
/// caller may read (narrowed by `ticketUuid` conditions).
pub(crate) async fn query_history(
    ctx: &Ctx<'_>,
    spec: &QuerySpec,
    archived: bool,
) -> Result<Map<String, Value>, ZsError> {
    let tickets = visible(
        ctx,
        archived,
        parsed_ids(spec.required_values("ticketUuid")),
        None,
    )
    .await?;
    let mut rows = Vec::new();
    for ticket in &tickets {
        let entries = match ctx.engine().history(&ctx.actor, ticket.id).await {
            Ok(entries) => entries,
            // Deleted (or moved out of sight) since the list was read: no longer listed, as if
            // the query had come a moment later; the rest of the answer stands.
            Err(DomainError::NotFound { .. }) => continue,
            Err(other) => return Err(other.into()),
        };
        rows.extend(history_rows(ticket, &entries, archived));
    }
    let shape = if archived { &ARCHIVE_HISTORY } else { &HISTORY };
    answer(spec, shape, rows, ctx.zone(), ctx.max_page())
}

/// `QueryTicketType`: the built-in catalogue.
pub(crate) fn query_types(ctx: &Ctx<'_>, spec: &QuerySpec) -> Result<Map<String, Value>, ZsError> {
    answer(
        spec,
        &types::INVENTORY,
        types::inventories(),
        ctx.zone(),
        ctx.max_page(),
    )
}

/// The ticket type of a collection's ticket-type id, or the error ZStack gives.
pub(crate) fn known_type(uuid: Uuid) -> Result<&'static TicketType, ZsError> {
    types::by_uuid(&hex(uuid)).ok_or_else(|| {
        ZsError::argerr(format!(
            "not matched ticket type found, no ticket type[uuid:{}]",
            hex(uuid)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_states_map_onto_zstack_statuses() {
        assert_eq!(status(TicketState::Pending, 1), "Pending");
        assert_eq!(status(TicketState::Pending, 2), "IntermediateApproved");
        assert_eq!(status(TicketState::Approved, 2), "FinalApproved");
        assert_eq!(status(TicketState::Rejected, 1), "Rejected");
        assert_eq!(status(TicketState::Closed, 3), "Cancelled");
    }

    #[test]
    fn request_api_names_must_be_api_message_classes() {
        assert!(is_api_class("org.zstack.header.vm.APICreateVmInstanceMsg"));
        assert!(!is_api_class("APICreateVmInstanceMsg"));
        assert!(!is_api_class("org.zstack.header.vm.CreateVmInstance"));
        assert!(!is_api_class("org..APIMsg"));
        assert!(!is_api_class("org.zstack.header.vm.API Msg"));
    }
}
