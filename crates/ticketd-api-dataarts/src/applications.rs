//! The application APIs: ListSecurityTableApprovers, ApplySecurityTableAuthority, UnpublishSecurityApplication.
//!
//! Who approves: the users holding an approver role in the workspace, which ticketd defines as
//! its organization administrators plus the system administrators (DataArts' workspace admins
//! and security managers). The applicant picks one of them; the core checks the choice and
//! routes the ticket to that one approver.

use crate::approvals::dataarts_ticket;
use crate::error::ApiError;
use crate::render;
use crate::request::{Call, resolve_workspace};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use ticketd_core::engine::{FlowChoice, NewTicket, TicketCommand};
use ticketd_core::identity::{DEFAULT_ORG, Org, User};
use ticketd_core::machine::MAX_TITLE_CHARS;
use ticketd_core::payload::KIND_DATA_PERMISSION;
use ticketd_core::selector::{LegacyStrategy, Selector};
use ticketd_core::{Actor, OrgId, UserId};
use ticketd_http::AppState;

/// Where the DataArts console shows the approval (ApplyTableAuthorityVO's documented example).
const PERMISSION_CENTER_URL: &str = "/dls/#/permissionList/permissionCenter";

/// The users who may approve in a workspace: its administrators and the system administrators.
pub(crate) fn approver_pool() -> Selector {
    LegacyStrategy::SuperOrgAdmin.to_selector(Vec::new())
}

/// `ListTableApproversRequestBody`, validated.
#[derive(Debug, PartialEq)]
struct TableInfo {
    instance_id: Option<String>,
    datasource_type: String,
    cluster_id: Option<String>,
    schema_name: Option<String>,
    database_name: String,
    table_name: String,
    expire_time: Option<i64>,
}

fn optional_text(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ApiError::invalid(format!("{field} must be a string"))),
    }
}

fn required_text(object: &Map<String, Value>, field: &str, path: &str) -> Result<String, ApiError> {
    optional_text(object, field)?.ok_or_else(|| ApiError::invalid(format!("{path} is required")))
}

/// A table description (whether `expire_time` is still ahead is the core's rule, checked when
/// the application is opened and again when it is granted).
fn table_info(value: Option<&Value>, path: &str) -> Result<TableInfo, ApiError> {
    let Some(Value::Object(object)) = value else {
        return Err(ApiError::invalid(format!("{path} must be an object")));
    };
    let datasource_type = required_text(
        object,
        "datasource_type",
        &format!("{path}.datasource_type"),
    )?
    .to_ascii_uppercase();
    if !["HIVE", "DLI", "DWS"].contains(&datasource_type.as_str()) {
        return Err(ApiError::invalid(format!(
            "{path}.datasource_type must be hive, dli or dws"
        )));
    }
    let schema_name = optional_text(object, "schema_name")?;
    if datasource_type == "DWS" && schema_name.is_none() {
        return Err(ApiError::invalid(format!(
            "{path}.schema_name is required for dws"
        )));
    }
    let expire_time = match object.get("expire_time") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .filter(|ms| ticketd_core::payload::expiry_millis_valid(*ms))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{path}.expire_time must be epoch milliseconds from 1970 to the year 9999"
                    ))
                })?,
        ),
    };
    let cluster_id = optional_text(object, "cluster_id")?;
    // The SDK's documentation: "dli传DLI", for DLI the cluster is always `DLI`.
    if datasource_type == "DLI" && cluster_id.as_deref().is_some_and(|c| c != "DLI") {
        return Err(ApiError::invalid(format!(
            "{path}.cluster_id must be DLI for a dli table"
        )));
    }
    Ok(TableInfo {
        instance_id: optional_text(object, "instance_id")?,
        datasource_type,
        cluster_id,
        schema_name,
        database_name: required_text(object, "database_name", &format!("{path}.database_name"))?,
        table_name: required_text(object, "table_name", &format!("{path}.table_name"))?,
        expire_time,
    })
}

fn body_object(call: &Call, state: &AppState) -> Result<Map<String, Value>, ApiError> {
    match call.json(state)? {
        Value::Object(object) => Ok(object),
        _ => Err(ApiError::invalid("the body must be a JSON object")),
    }
}

async fn eligible(state: &AppState, workspace: &Org) -> Result<Vec<User>, ApiError> {
    Ok(state
        .engine
        .eligible_approvers(workspace.id, &approver_pool())
        .await?)
}

/// The workspace of an application call: the `workspace` header when sent (these two APIs do
/// not document it, and the SDK's requests have no field for it), else `fallback` (the chosen
/// approver's `workspace_id`), else Default where the caller may enter it, else the caller's
/// one workspace.
async fn application_workspace(
    state: &AppState,
    call: &Call,
    fallback: Option<&str>,
) -> Result<Org, ApiError> {
    if let Some(raw) = call.workspace.as_deref().or(fallback) {
        return resolve_workspace(state, &call.actor, raw).await;
    }
    let actor = &call.actor;
    if actor.may_enter_org(DEFAULT_ORG) {
        return resolve_workspace(state, actor, "").await;
    }
    let mut workspaces: Vec<OrgId> = actor.memberships.iter().map(|m| m.org_id).collect();
    workspaces.sort_unstable();
    workspaces.dedup();
    match workspaces.as_slice() {
        [only] => resolve_workspace(state, actor, &only.to_string()).await,
        [] => Err(ApiError::no_workspace()),
        _ => Err(ApiError::invalid(
            "the workspace header is required: you are a member of several workspaces",
        )),
    }
}

/// `POST /v1/{project_id}/security/permission-application/table/approvers`.
pub(crate) async fn approvers(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    let body = Value::Object(body_object(&call, &state)?);
    let info = table_info(Some(&body), "body")?;
    // The core's rule for an application's expiry, so the list is not offered for one that
    // could never be granted.
    if let Some(ms) = info.expire_time {
        ticketd_core::payload::check_expiry_ahead(ms, ticketd_http::now())
            .map_err(|fields| ApiError::from(ticketd_core::DomainError::Validation(fields)))?;
    }
    let workspace = application_workspace(&state, &call, None).await?;
    let approvers: Vec<Value> = state
        .engine
        .approvers_to_choose(call.actor.id(), workspace.id, &approver_pool())
        .await?
        .iter()
        .map(|user| render::table_approver(user, &workspace))
        .collect();
    // ticketd keeps no per-table review policies: approvers come from workspace roles.
    Ok(Json(
        json!({"approvers": approvers, "has_table_rule": false}),
    ))
}

/// The proposers of an application (the applicant without any); a user group may not apply
/// for a DLI table (the user guide: "DLI permissions can be applied for users, not user
/// groups").
fn proposers(
    value: Option<&Value>,
    actor: &Actor,
    info: &TableInfo,
) -> Result<Vec<Value>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ApiError::invalid("proposers must be a list")),
    };
    if items.is_empty() {
        // Nobody named: the applicant applies for themselves.
        return Ok(vec![json!({
            "id": actor.id().to_string(),
            "name": actor.user.username,
            "type": "USER",
        })]);
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(ApiError::invalid(format!(
                "proposers[{i}] must be an object"
            )));
        };
        let id = required_text(object, "id", &format!("proposers[{i}].id"))?;
        let name = optional_text(object, "name")?.unwrap_or_default();
        let kind = match object.get("type") {
            None | Some(Value::Null) => "USER",
            Some(value) => match value.as_i64() {
                Some(0) => "USER",
                Some(1) if info.datasource_type == "DLI" => {
                    return Err(ApiError::invalid(format!(
                        "proposers[{i}]: a dli table is applied for by users, not user groups"
                    )));
                }
                Some(1) => "USER_GROUP",
                _ => {
                    return Err(ApiError::invalid(format!(
                        "proposers[{i}].type must be 0 (user) or 1 (user group)"
                    )));
                }
            },
        };
        out.push(json!({"id": id, "name": name, "type": kind}));
    }
    Ok(out)
}

/// Proposers who are ticketd users, as stored: their id in its usual spelling and their
/// username, whatever the client sent (its name was kept, another user's shown beside the one
/// granted, and one user could be named twice in two spellings of the id); a user named twice
/// is kept once.
async fn named_proposers(state: &AppState, proposers: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    let user_id = |proposer: &Value| {
        (proposer["type"] == "USER")
            .then(|| proposer["id"].as_str().and_then(UserId::parse))
            .flatten()
    };
    let ids: Vec<UserId> = proposers.iter().filter_map(user_id).collect();
    let (_, _, users) = state
        .engine
        .ticket_references(Vec::new(), Vec::new(), ids)
        .await?;
    let mut seen = Vec::new();
    let mut named = Vec::with_capacity(proposers.len());
    for mut proposer in proposers {
        if let Some(user) = user_id(&proposer).and_then(|id| users.iter().find(|u| u.id == id)) {
            if seen.contains(&user.id) {
                continue;
            }
            seen.push(user.id);
            proposer["id"] = Value::String(user.id.to_string());
            proposer["name"] = Value::String(user.username.clone());
        }
        named.push(proposer);
    }
    Ok(named)
}

fn title(info: &TableInfo) -> String {
    let table = [
        Some(info.database_name.as_str()),
        info.schema_name.as_deref(),
        Some(info.table_name.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(".");
    format!("SELECT on {} {table}", info.datasource_type)
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// `POST /v1/{project_id}/security/permission-application/table`: returns `application_id`.
pub(crate) async fn apply(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(&call, &state)?;
    let Some(Value::Object(approver)) = body.get("approver") else {
        return Err(ApiError::invalid(
            "approver is required: one of ListSecurityTableApprovers' approvers",
        ));
    };
    let approver_id = required_text(approver, "id", "approver.id")?;
    let approver_id = UserId::parse(&approver_id)
        .ok_or_else(|| ApiError::invalid("approver.id is not one of the workspace's approvers"))?;
    let now = ticketd_http::now();
    let info = table_info(body.get("table_info"), "table_info")?;
    let proposers = named_proposers(
        &state,
        proposers(body.get("proposers"), &call.actor, &info)?,
    )
    .await?;
    let reason = optional_text(&body, "reason")?.unwrap_or_default();
    let fallback = optional_text(approver, "workspace_id")?;
    let workspace = application_workspace(&state, &call, fallback.as_deref()).await?;
    // Rendered as `current_node_*`; whether the choice is allowed is the core's decision.
    let chosen = eligible(&state, &workspace)
        .await?
        .into_iter()
        .find(|user| user.id == approver_id);
    let permission_set_id = optional_text(approver, "permission_set_id")?;
    let payload = json!({
        "approval_type": render::APPROVAL_TYPE,
        "instance_id": info.instance_id,
        "datasource_type": info.datasource_type,
        "cluster_id": info.cluster_id,
        "cluster_name": null,
        "expire_time": info.expire_time,
        "permissions": [{
            "database_name": info.database_name,
            "schema_name": info.schema_name,
            "table_name": info.table_name,
            "column_name": null,
            "permission_action": ["SELECT"],
            "permission_set_id": permission_set_id,
            "secrecy_level_id": null,
        }],
        "proposers": proposers,
        "approver": {
            "id": approver_id.to_string(),
            "name": chosen.as_ref().map(|u| u.username.clone()),
            "type": 0,
            "permission_set_id": permission_set_id,
            "workspace_id": workspace.id.to_string(),
            "table_approver_type": chosen.as_ref().map(render::approver_type),
        },
    });
    let ticket = state
        .engine
        .open_ticket(
            &call.actor,
            NewTicket {
                id: None,
                org_id: workspace.id,
                kind: KIND_DATA_PERMISSION.to_owned(),
                title: title(&info),
                payload,
                comment: reason,
                scope: call.project_id.clone(),
                flow: FlowChoice::Chosen {
                    pool: approver_pool(),
                    approver: approver_id,
                },
                submit: true,
                applicant: None,
                cc_users: Vec::new(),
            },
            now,
        )
        .await?;
    Ok(Json(json!({
        "describe": "DataArts Security - permission approval",
        "permission_center_url": PERMISSION_CENTER_URL,
        "workspace_id": workspace.id.to_string(),
        "application_id": ticket.id.to_string(),
    })))
}

/// `PUT /v1/{project_id}/security/permission-application/applications/{id}`: the applicant
/// withdraws a waiting application, which becomes `REVOKE`.
pub(crate) async fn unpublish(
    State(state): State<AppState>,
    call: Call,
) -> Result<Json<Value>, ApiError> {
    let workspace = call.workspace(&state).await?;
    let raw_id = call.id.clone().unwrap_or_default();
    let id = dataarts_ticket(
        &state.engine,
        &call.actor,
        &workspace,
        &call.project_id,
        &raw_id,
    )
    .await?;
    state
        .engine
        .act(
            &call.actor,
            id,
            TicketCommand::Withdraw {
                reason: String::new(),
            },
            ticketd_http::now(),
        )
        .await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_info_is_validated_per_datasource() {
        let ok = table_info(
            Some(&json!({"datasource_type": "dli", "cluster_id": "DLI", "database_name": "db", "table_name": "t", "expire_time": 1_001})),
            "table_info",
        )
        .unwrap();
        assert_eq!(ok.datasource_type, "DLI");
        assert_eq!(ok.expire_time, Some(1_001));
        for bad in [
            json!({"datasource_type": "dli", "cluster_id": "c1", "database_name": "db", "table_name": "t"}),
            json!({"datasource_type": "mysql", "database_name": "db", "table_name": "t"}),
            json!({"datasource_type": "dws", "database_name": "db", "table_name": "t"}),
            json!({"datasource_type": "hive", "table_name": "t"}),
            json!({"datasource_type": "hive", "database_name": "db", "table_name": 5}),
            json!({"datasource_type": "hive", "database_name": "db", "table_name": "t", "expire_time": "soon"}),
            json!([]),
        ] {
            assert!(table_info(Some(&bad), "table_info").is_err(), "{bad}");
        }
    }
}
