//! The approval APIs: ListSecurityApprovals, Accept/DeclineSecurityApplication and the batch calls.

use crate::error::ApiError;
use crate::render::{self, UserIndex};
use crate::request::{Call, resolve_workspace};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ticketd_core::engine::TicketCommand;
use ticketd_core::identity::Org;
use ticketd_core::payload::KIND_DATA_PERMISSION;
use ticketd_core::store::{SortKey, TicketOrder, TicketQuery};
use ticketd_core::ticket::{Ticket, TicketState};
use ticketd_core::{Actor, Engine, TicketId};
use ticketd_http::AppState;
use ticketd_http::query::saturating_unsigned;

/// Page size when `limit` is absent.
const DEFAULT_LIMIT: u32 = 10;

/// The parsed query of ListSecurityApprovals.
#[derive(Debug, PartialEq)]
struct ListParams {
    limit: u32,
    offset: u64,
    proposer_name: Option<String>,
    approval_id: Option<String>,
    workspace_id: Option<String>,
    states: Vec<TicketState>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    descending: bool,
    by_end_time: bool,
}

fn epoch_millis(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| ApiError::invalid(format!("{name} must be epoch milliseconds")))
}

fn parse_list(query: &[(String, String)], max_limit: u32) -> Result<ListParams, ApiError> {
    let mut params = ListParams {
        limit: DEFAULT_LIMIT.min(max_limit),
        offset: 0,
        proposer_name: None,
        approval_id: None,
        workspace_id: None,
        states: Vec::new(),
        start: None,
        end: None,
        descending: true,
        by_end_time: false,
    };
    for (name, value) in query {
        let value = value.trim();
        // An empty value is how many clients send "not set".
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "limit" => {
                // Any positive integer is clamped to the page limit, however many digits it has
                // (one beyond 32 bits was refused where 5,000 was clamped).
                let limit = saturating_unsigned(value)
                    .filter(|limit| *limit > 0)
                    .ok_or_else(|| ApiError::invalid("limit must be a positive integer"))?;
                params.limit = u32::try_from(limit).map_or(max_limit, |limit| limit.min(max_limit));
            }
            "offset" => {
                // One past every ticket gives an empty page however many digits it has, as
                // one within 64 bits did (a larger one was refused, in the parser's words).
                params.offset = saturating_unsigned(value)
                    .ok_or_else(|| ApiError::invalid("offset must be an integer >= 0"))?;
            }
            "proposer_name" => params.proposer_name = Some(value.to_owned()),
            "approval_id" => params.approval_id = Some(value.to_owned()),
            "workspace_id" => params.workspace_id = Some(value.to_owned()),
            // Repeated (`status_list=0&status_list=2`, as the SDKs send it) or comma-separated.
            "status_list" => {
                for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let state = render::parse_status(item).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "status_list: unknown status {item:?} (0 WAITING_APPROVE, 1 APPROVED, 2 REJECT, 3 REVOKE)"
                        ))
                    })?;
                    if !params.states.contains(&state) {
                        params.states.push(state);
                    }
                }
            }
            "application_start_time" => params.start = Some(epoch_millis(name, value)?),
            "application_end_time" => params.end = Some(epoch_millis(name, value)?),
            "order_by_desc" => {
                params.descending = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::invalid("order_by_desc must be true or false")),
                };
            }
            "order_by" => {
                params.by_end_time = match value.to_ascii_uppercase().as_str() {
                    "START_TIME" => false,
                    "END_TIME" => true,
                    _ => {
                        return Err(ApiError::invalid("order_by must be START_TIME or END_TIME"));
                    }
                };
            }
            _ => {}
        }
    }
    Ok(params)
}

/// Looks up the users a page mentions in one call.
async fn user_index(engine: &Engine, tickets: &[Ticket]) -> Result<UserIndex, ApiError> {
    let ids = render::mentioned_users(tickets);
    let (_, _, users) = engine
        .ticket_references(Vec::new(), Vec::new(), ids)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}

/// `GET /v1/{project_id}/security/openapi/permission-approve/approvals`.
pub(crate) async fn list(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    let params = parse_list(&call.query, state.settings.max_page_size)?;
    let workspace = call.workspace(&state).await?;
    let empty = || Json(json!({"approvals": [], "total": 0}));
    if let Some(raw) = &params.workspace_id {
        // `workspace_id` narrows within the header's workspace: another one matches nothing.
        let same = match resolve_workspace(&state, &call.actor, raw).await {
            Ok(org) => org.id == workspace.id,
            Err(ApiError::Wire { .. }) => false,
            Err(internal) => return Err(internal),
        };
        if !same {
            return Ok(empty());
        }
    }
    let mut query = TicketQuery::new(Engine::visibility(&call.actor));
    query.org_ids = Some(vec![workspace.id]);
    query.kinds = vec![KIND_DATA_PERMISSION.to_owned()];
    query.scope = Some(call.project_id.clone());
    query.states = if params.states.is_empty() {
        render::listed_states()
    } else {
        params.states.clone()
    };
    if let Some(raw) = &params.approval_id {
        match TicketId::parse(raw) {
            Some(id) => query.ids = Some(vec![id]),
            None => return Ok(empty()),
        }
    }
    query.applicant_text = params.proposer_name.clone();
    query.created_from = params.start;
    // `application_end_time` is inclusive; the core's bound is exclusive. An end at the last
    // instant chrono holds has no instant after it, and bounds nothing.
    query.created_to = params
        .end
        .and_then(|end| end.checked_add_signed(Duration::milliseconds(1)));
    query.order = match (params.by_end_time, params.descending) {
        (false, true) => TicketOrder::CreatedDesc,
        (false, false) => TicketOrder::CreatedAsc,
        // When it ended (decided or withdrawn); waiting applications, with no end yet, last.
        (true, descending) => TicketOrder::By {
            key: SortKey::FinishedAt,
            descending,
        },
    };
    query.limit = params.limit;
    query.offset = params.offset;
    query.with_total = true;
    let page = state.engine.list_tickets(&call.actor, query).await?;
    let users = user_index(&state.engine, &page.items).await?;
    let approvals: Vec<Value> = page
        .items
        .iter()
        .map(|ticket| render::approval(ticket, &workspace, &users))
        .collect();
    Ok(Json(json!({
        "approvals": approvals,
        "total": page.total.unwrap_or(0),
    })))
}

/// A DataArts ticket of `workspace` and `project_id` the actor may read; anything else is
/// "not found" (another workspace's or project's tickets are not this call's to see).
pub(crate) async fn dataarts_ticket(
    engine: &Engine,
    actor: &Actor,
    workspace: &Org,
    project_id: &str,
    raw_id: &str,
) -> Result<TicketId, ApiError> {
    let id = TicketId::parse(raw_id).ok_or_else(|| ApiError::ticket_not_found(raw_id))?;
    let ticket = engine.get_ticket(actor, id).await?;
    if ticket.org_id != workspace.id
        || ticket.scope != project_id
        || ticket.kind != KIND_DATA_PERMISSION
    {
        return Err(ApiError::ticket_not_found(raw_id));
    }
    Ok(id)
}

/// Approve or reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    fn command(self, reason: String) -> TicketCommand {
        match self {
            Self::Approve => TicketCommand::Approve {
                reason,
                payload: None,
                changes: None,
            },
            Self::Reject => TicketCommand::Reject { reason },
        }
    }
}

async fn decide_one(
    state: &AppState,
    call: &Call,
    workspace: &Org,
    raw_id: &str,
    verdict: Verdict,
    reason: &str,
) -> Result<(), ApiError> {
    let id = dataarts_ticket(
        &state.engine,
        &call.actor,
        workspace,
        &call.project_id,
        raw_id,
    )
    .await?;
    state
        .engine
        .act(
            &call.actor,
            id,
            verdict.command(reason.to_owned()),
            ticketd_http::now(),
        )
        .await?;
    Ok(())
}

/// `{"reason": "…"}`, required and non-blank.
fn required_reason(body: &Value) -> Result<String, ApiError> {
    match body.get("reason") {
        Some(Value::String(reason)) if !reason.trim().is_empty() => Ok(reason.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid("reason may not be blank")),
        None | Some(Value::Null) => Err(ApiError::invalid("reason is required")),
        Some(_) => Err(ApiError::invalid("reason must be a string")),
    }
}

async fn decide(state: AppState, call: Call, verdict: Verdict) -> Result<StatusCode, ApiError> {
    let body = call.json(&state)?;
    if !body.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    let reason = required_reason(&body)?;
    let workspace = call.workspace(&state).await?;
    let raw_id = call.id.clone().unwrap_or_default();
    decide_one(&state, &call, &workspace, &raw_id, verdict, &reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/{project_id}/security/permission-approve/approve/{id}`: 204.
pub(crate) async fn accept(
    State(state): State<AppState>,
    call: Call,
) -> Result<StatusCode, ApiError> {
    decide(state, call, Verdict::Approve).await
}

/// `POST /v1/{project_id}/security/permission-approve/reject/{id}`: 204.
pub(crate) async fn decline(
    State(state): State<AppState>,
    call: Call,
) -> Result<StatusCode, ApiError> {
    decide(state, call, Verdict::Reject).await
}

async fn batch(state: AppState, call: Call, verdict: Verdict) -> Result<Json<Value>, ApiError> {
    let body = call.json(&state)?;
    let body = match body {
        Value::Null => json!({}),
        Value::Object(_) => body,
        _ => return Err(ApiError::invalid("the body must be a JSON object")),
    };
    let reason = match body.get("reason") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(reason)) => reason.clone(),
        Some(_) => return Err(ApiError::invalid("reason must be a string")),
    };
    let ids: Vec<String> = match body.get("ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(id) => Ok(id.clone()),
                _ => Err(ApiError::invalid("ids must be a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("ids must be a list of strings")),
    };
    let max = usize::try_from(state.settings.max_page_size).unwrap_or(usize::MAX);
    if ids.len() > max {
        return Err(ApiError::invalid(format!(
            "at most {max} ids may be decided in one call"
        )));
    }
    let workspace = call.workspace(&state).await?;
    let mut results = Vec::with_capacity(ids.len());
    // Each id is decided on its own: one failure neither stops nor undoes the others.
    for id in &ids {
        let outcome = decide_one(&state, &call, &workspace, id, verdict, &reason).await;
        results.push(match outcome {
            Ok(()) => json!({"id": id, "status": "SUCCESS", "message": "success"}),
            Err(error) => {
                if let ApiError::Internal(cause) = &error {
                    tracing::error!(%cause, ticket = %id, "internal error in a batch decision");
                }
                json!({"id": id, "status": "FAIL", "message": error.summary()})
            }
        });
    }
    Ok(Json(Value::Array(results)))
}

/// `POST /v1/{project_id}/security/openapi/permission-approve/batch-approve`.
pub(crate) async fn batch_approve(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    batch(state, call, Verdict::Approve).await
}

/// `POST /v1/{project_id}/security/openapi/permission-approve/batch-reject`.
pub(crate) async fn batch_reject(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    batch(state, call, Verdict::Reject).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_parameter_of_the_seed_is_understood() {
        let params = parse_list(
            &pairs(&[
                ("limit", "5"),
                ("offset", "10"),
                ("proposer_name", "alice"),
                ("approval_id", "x"),
                ("workspace_id", "w"),
                ("status_list", "0"),
                ("status_list", "REJECT,3"),
                ("application_start_time", "1700000000000"),
                ("application_end_time", "1800000000000"),
                ("order_by_desc", "false"),
                ("order_by", "END_TIME"),
            ]),
            1000,
        )
        .unwrap();
        assert_eq!(params.limit, 5);
        assert_eq!(params.offset, 10);
        assert_eq!(params.proposer_name.as_deref(), Some("alice"));
        assert_eq!(
            params.states,
            vec![
                TicketState::Pending,
                TicketState::Rejected,
                TicketState::Closed
            ]
        );
        assert_eq!(
            params.start.map(|t| t.timestamp_millis()),
            Some(1_700_000_000_000)
        );
        assert!(!params.descending);
        assert!(params.by_end_time);
    }

    #[test]
    fn bad_parameters_are_refused_and_limits_are_clamped() {
        for (name, value) in [
            ("limit", "0"),
            ("limit", "-1"),
            ("offset", "-1"),
            ("status_list", "7"),
            ("application_start_time", "yesterday"),
            ("application_end_time", "-5"),
            ("order_by_desc", "maybe"),
            ("order_by", "NAME"),
        ] {
            assert!(
                parse_list(&pairs(&[(name, value)]), 1000).is_err(),
                "{name}={value}"
            );
        }
        for huge in ["5000", "99999999999", "123456789012345678901234567890"] {
            assert_eq!(
                parse_list(&pairs(&[("limit", huge)]), 1000).unwrap().limit,
                1000,
                "{huge}"
            );
        }
        assert!(parse_list(&pairs(&[("limit", "000")]), 1000).is_err());
        assert!(parse_list(&pairs(&[("limit", "+")]), 1000).is_err());
        assert_eq!(
            parse_list(&pairs(&[("limit", "+5")]), 1000).unwrap().limit,
            5
        );
        assert_eq!(parse_list(&[], 1000).unwrap().limit, DEFAULT_LIMIT);
    }
}
