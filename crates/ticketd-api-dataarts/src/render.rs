//! Wire shapes out: statuses both ways, `PermissionApprovalOpenapiDTO` with its `detail`, `TableApprover`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use ticketd_core::UserId;
use ticketd_core::identity::{Org, SystemRole, User};
use ticketd_core::ticket::{Ticket, TicketState};

/// `approval_type` of every ticket this dialect serves.
pub(crate) const APPROVAL_TYPE: &str = "DATA_PERMISSION";

/// The DataArts statuses with their `status_list` integers (core-model.md's decision).
const STATUSES: [(i64, &str, TicketState); 4] = [
    (0, "WAITING_APPROVE", TicketState::Pending),
    (1, "APPROVED", TicketState::Approved),
    (2, "REJECT", TicketState::Rejected),
    (3, "REVOKE", TicketState::Closed),
];

/// Every state a DataArts ticket can be listed in (drafts have no DataArts status).
pub(crate) fn listed_states() -> Vec<TicketState> {
    STATUSES.iter().map(|(_, _, state)| *state).collect()
}

/// Parses one `status_list` item: `0`..`3` or a status name (any case).
pub(crate) fn parse_status(text: &str) -> Option<TicketState> {
    let text = text.trim();
    STATUSES
        .iter()
        .find(|(number, name, _)| {
            text.parse::<i64>().ok() == Some(*number) || name.eq_ignore_ascii_case(text)
        })
        .map(|(_, _, state)| *state)
}

/// The DataArts status of a core state (`None` for drafts).
pub(crate) fn status(state: TicketState) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(_, _, s)| *s == state)
        .map(|(_, name, _)| *name)
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The username of a user the ticket keeps only as `Name(username)` (their account deleted):
/// DataArts names users by username everywhere.
fn username_of(display: &str) -> String {
    ticketd_core::identity::display_parts(display).1.to_owned()
}

fn text(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => Value::Null,
    }
}

/// Users the page mentions (applicants and approvers), looked up once per page.
pub(crate) type UserIndex = HashMap<UserId, User>;

/// The users a page of tickets needs: applicants and the assignees of the current steps.
pub(crate) fn mentioned_users(tickets: &[Ticket]) -> Vec<UserId> {
    let mut ids: Vec<UserId> = Vec::new();
    for ticket in tickets {
        ids.extend(ticket.applicant_id);
        if let Some(step) = ticket.current_step() {
            ids.extend(step.assignees.iter().map(|a| a.user_id));
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// A `PermissionApprovalOpenapiDTO`: every documented field, `null` when ticketd has no value.
pub(crate) fn approval(ticket: &Ticket, workspace: &Org, users: &UserIndex) -> Value {
    let payload = &ticket.payload;
    let step = ticket.current_step();
    // One level, decided by the applicant's chosen approver: its (first) assignee is the node.
    let approver = step.and_then(|s| s.assignees.first());
    let approver_name = approver.map(|a| {
        users
            .get(&a.user_id)
            .map_or_else(|| username_of(&a.display), |u| u.username.clone())
    });
    let decider = step.and_then(|s| s.processor());
    // The list's END_TIME order sorts by the same stored time.
    let end_time = ticket.finished_at.filter(|_| ticket.state.is_finished());
    // The deciding approver's reason: the rejection reason, or the approval comment.
    let reason = decider.map(|a| a.reason.clone());
    let proposer_name = ticket
        .applicant_id
        .and_then(|id| users.get(&id))
        .map_or_else(
            || username_of(&ticket.applicant_display),
            |u| u.username.clone(),
        );
    let expire_time = payload.get("expire_time").and_then(Value::as_i64);
    json!({
        "approval_dispatch_error_msg": null,
        "approval_dispatch_status": null,
        "approval_type": APPROVAL_TYPE,
        "approve_reason": ticket.comment,
        "current_node_id": approver.map(|a| a.user_id.to_string()),
        "current_node_name": approver_name,
        "current_node_type": payload
            .pointer("/approver/table_approver_type")
            .cloned()
            .filter(Value::is_string)
            .unwrap_or(Value::Null),
        "detail": {
            "cluster_id": text(payload.get("cluster_id")),
            "cluster_name": text(payload.get("cluster_name")),
            "datasource_type": text(payload.get("datasource_type")),
            "expire_time": expire_time,
            "permissions": payload.get("permissions").cloned().unwrap_or(json!([])),
            "proposers": payload.get("proposers").cloned().unwrap_or(json!([])),
        },
        "end_time": end_time.map(millis),
        "expire_time": expire_time,
        "id": ticket.id.to_string(),
        "instance_id": text(payload.get("instance_id")),
        "permission_set_id": text(payload.pointer("/approver/permission_set_id")),
        "project_id": ticket.scope,
        "proposer_id": ticket.applicant_id.map(|id| id.to_string()),
        "proposer_name": proposer_name,
        "proposer_workspace_id": workspace.id.to_string(),
        "reason": reason,
        "start_time": millis(ticket.created_at),
        "status": status(ticket.state),
        "workspace_id": workspace.id.to_string(),
        "workspace_name": workspace.name,
    })
}

/// The `table_approver_type` of an approver: system administrators are DataArts' security
/// managers, workspace administrators its workspace permission-set managers.
pub(crate) fn approver_type(user: &User) -> &'static str {
    if user.system_role == SystemRole::Admin {
        "SECURITY_MANAGER"
    } else {
        "WORKSPACE_PERMISSION_SET_MANAGER"
    }
}

/// A `TableApprover` (type 0: a user).
pub(crate) fn table_approver(user: &User, workspace: &Org) -> Value {
    json!({
        "id": user.id.to_string(),
        "name": user.username,
        "permission_set_id": null,
        "type": 0,
        "workspace_id": workspace.id.to_string(),
        "table_approver_type": approver_type(user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_both_ways_by_number_and_by_name() {
        for (number, name, state) in STATUSES {
            assert_eq!(parse_status(&number.to_string()), Some(state));
            assert_eq!(parse_status(name), Some(state));
            assert_eq!(parse_status(&name.to_lowercase()), Some(state));
            assert_eq!(status(state), Some(name));
        }
        assert_eq!(parse_status("4"), None);
        assert_eq!(parse_status("PENDING"), None);
        assert_eq!(status(TicketState::Draft), None);
    }
}
