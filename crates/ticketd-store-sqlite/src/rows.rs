//! Conversions between SQLite rows and core types.

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::flow::Flow;
use ticketd_core::identity::{Membership, Org, SystemRole, User};
use ticketd_core::ids::{AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId};
use ticketd_core::ticket::{Grant, Ticket, TicketState};
use uuid::Uuid;

pub(crate) fn ts(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn from_ts(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn conversion(
    index: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
}

pub(crate) fn json_col<T: DeserializeOwned>(row: &Row<'_>, name: &str) -> rusqlite::Result<T> {
    let text: String = row.get(name)?;
    serde_json::from_str(&text).map_err(|e| conversion(0, e))
}

pub(crate) mod thiserror_free {
    //! An error for unknown enum values read from the database.
    #[derive(Debug)]
    pub(crate) struct UnknownValue(pub(crate) String);
    impl std::fmt::Display for UnknownValue {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "unknown stored value {:?}", self.0)
        }
    }
    impl std::error::Error for UnknownValue {}
}

pub(crate) const USER_COLUMNS: &str =
    "id, username, name, email, system_role, is_active, created_at, updated_at";

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get("system_role")?;
    Ok(User {
        id: UserId(row.get("id")?),
        username: row.get("username")?,
        name: row.get("name")?,
        email: row.get("email")?,
        system_role: SystemRole::parse(&role)
            .ok_or_else(|| conversion(4, thiserror_free::UnknownValue(role.clone())))?,
        is_active: row.get("is_active")?,
        created_at: from_ts(row.get("created_at")?),
        updated_at: from_ts(row.get("updated_at")?),
    })
}

pub(crate) fn org(row: &Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org {
        id: OrgId(row.get("id")?),
        name: row.get("name")?,
        builtin: row.get("builtin")?,
        created_at: from_ts(row.get("created_at")?),
    })
}

pub(crate) fn flow(row: &Row<'_>) -> rusqlite::Result<Flow> {
    Ok(Flow {
        id: FlowId(row.get("id")?),
        org_id: OrgId(row.get("org_id")?),
        name: row.get("name")?,
        description: row.get("description")?,
        kinds: json_col(row, "kinds")?,
        is_default: row.get("is_default")?,
        enabled: row.get("enabled")?,
        levels: json_col(row, "levels")?,
        cc_users: json_col(row, "cc_users")?,
        attributes: json_col(row, "attributes")?,
        created_by: row.get("created_by")?,
        version: row.get("version")?,
        created_at: from_ts(row.get("created_at")?),
        updated_at: from_ts(row.get("updated_at")?),
    })
}

pub(crate) const TICKET_COLUMNS: &str = "t.id, t.serial, t.org_id, t.kind, t.title, t.applicant_id, \
    t.applicant_display, t.flow_id, t.state, t.approval_step, t.round, t.steps, t.cc_users, t.payload, \
    t.comment, t.scope, t.archived, t.confirmed, t.deleted, t.version, t.created_at, t.updated_at";

pub(crate) fn ticket(row: &Row<'_>) -> rusqlite::Result<Ticket> {
    let state: String = row.get("state")?;
    Ok(Ticket {
        id: TicketId(row.get("id")?),
        serial: row.get("serial")?,
        org_id: OrgId(row.get("org_id")?),
        kind: row.get("kind")?,
        title: row.get("title")?,
        applicant_id: row.get::<_, Option<Uuid>>("applicant_id")?.map(UserId),
        applicant_display: row.get("applicant_display")?,
        flow_id: row.get::<_, Option<Uuid>>("flow_id")?.map(FlowId),
        state: TicketState::parse(&state)
            .ok_or_else(|| conversion(8, thiserror_free::UnknownValue(state.clone())))?,
        approval_step: row.get("approval_step")?,
        round: row.get("round")?,
        steps: json_col(row, "steps")?,
        cc_users: json_col(row, "cc_users")?,
        payload: json_col(row, "payload")?,
        comment: row.get("comment")?,
        scope: row.get("scope")?,
        archived: row.get("archived")?,
        confirmed: row.get("confirmed")?,
        deleted: row.get("deleted")?,
        version: row.get("version")?,
        created_at: from_ts(row.get("created_at")?),
        updated_at: from_ts(row.get("updated_at")?),
    })
}

pub(crate) fn grant(row: &Row<'_>) -> rusqlite::Result<Grant> {
    let name: String = row.get("name")?;
    Ok(Grant {
        id: row.get("id")?,
        ticket_id: TicketId(row.get("ticket_id")?),
        org_id: OrgId(row.get("org_id")?),
        kind: row.get("kind")?,
        name_candidates: vec![name.clone()],
        name,
        users: json_col(row, "users")?,
        payload: json_col(row, "payload")?,
        valid_from: row.get::<_, Option<i64>>("valid_from")?.map(from_ts),
        valid_until: row.get::<_, Option<i64>>("valid_until")?.map(from_ts),
        created_by: row.get("created_by")?,
        comment: row.get("comment")?,
        created_at: from_ts(row.get("created_at")?),
    })
}

pub(crate) fn asset(row: &Row<'_>) -> rusqlite::Result<Asset> {
    Ok(Asset {
        id: AssetId(row.get("id")?),
        org_id: OrgId(row.get("org_id")?),
        name: row.get("name")?,
        address: row.get("address")?,
        platform: row.get("platform")?,
        is_active: row.get("is_active")?,
        node_ids: json_col(row, "node_ids")?,
        comment: row.get("comment")?,
        created_at: from_ts(row.get("created_at")?),
        updated_at: from_ts(row.get("updated_at")?),
    })
}

pub(crate) fn node(row: &Row<'_>) -> rusqlite::Result<Node> {
    Ok(Node {
        id: NodeId(row.get("id")?),
        org_id: OrgId(row.get("org_id")?),
        name: row.get("name")?,
        parent_id: row.get::<_, Option<Uuid>>("parent_id")?.map(NodeId),
        full_value: row.get("full_value")?,
        created_at: from_ts(row.get("created_at")?),
    })
}

pub(crate) fn membership(row: &Row<'_>) -> rusqlite::Result<Membership> {
    Ok(Membership {
        org_id: OrgId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        role_id: RoleId(row.get(2)?),
    })
}
