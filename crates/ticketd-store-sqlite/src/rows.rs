//! Conversions between SQLite rows and core types.

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::flow::Flow;
use ticketd_core::identity::{Membership, Org, SystemRole, User};
use ticketd_core::ids::{AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId};
use ticketd_core::parsed_tickets::{ParsedContent, ParsedTickets};
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

pub(crate) fn json_col<T: DeserializeOwned, I: rusqlite::RowIndex>(
    row: &Row<'_>,
    column: I,
) -> rusqlite::Result<T> {
    // Parsed from the row's own buffer: no copy of the text first.
    let text = row.get_ref(column)?.as_str()?;
    serde_json::from_str(text).map_err(|e| conversion(0, e))
}

/// [`json_col`] of a column that may be null.
pub(crate) fn json_col_opt<T: DeserializeOwned, I: rusqlite::RowIndex>(
    row: &Row<'_>,
    column: I,
) -> rusqlite::Result<Option<T>> {
    row.get_ref(column)?
        .as_str_or_null()?
        .map(|text| serde_json::from_str(text).map_err(|e| conversion(0, e)))
        .transpose()
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
        comment: row.get("comment")?,
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
    t.comment, t.scope, t.archived, t.confirmed, t.deleted, t.version, t.created_at, t.updated_at, \
    t.finished_at";

/// A ticket from a row of [`TICKET_COLUMNS`], by position: lists read thousands of these, and
/// looking columns up by name was a measurable share of a list's time. The JSON columns are
/// parsed only when `parsed` does not hold them for the row's ticket and version.
pub(crate) fn ticket(row: &Row<'_>, parsed: &ParsedTickets) -> rusqlite::Result<Ticket> {
    let state = row.get_ref(8)?.as_str()?;
    let id = TicketId(row.get(0)?);
    let version = row.get(19)?;
    let ParsedContent {
        steps,
        cc_users,
        payload,
    } = parsed.content(id, version, || {
        Ok::<_, rusqlite::Error>(ParsedContent {
            steps: Arc::new(json_col(row, 11)?),
            cc_users: json_col(row, 12)?,
            payload: Arc::new(json_col(row, 13)?),
        })
    })?;
    let state = TicketState::parse(state)
        .ok_or_else(|| conversion(8, thiserror_free::UnknownValue(state.to_owned())))?;
    let updated_at = from_ts(row.get(21)?);
    Ok(Ticket {
        id,
        serial: row.get(1)?,
        org_id: OrgId(row.get(2)?),
        kind: row.get(3)?,
        title: row.get(4)?,
        applicant_id: row.get::<_, Option<Uuid>>(5)?.map(UserId),
        applicant_display: row.get(6)?,
        flow_id: row.get::<_, Option<Uuid>>(7)?.map(FlowId),
        state,
        approval_step: row.get(9)?,
        round: row.get(10)?,
        steps,
        cc_users,
        payload,
        comment: row.get(14)?,
        scope: row.get(15)?,
        archived: row.get(16)?,
        confirmed: row.get(17)?,
        deleted: row.get(18)?,
        version,
        created_at: from_ts(row.get(20)?),
        updated_at,
        finished_at: ticketd_core::ticket::end_as_stored(
            row.get::<_, Option<i64>>(22)?.map(from_ts),
            state,
            updated_at,
        ),
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
        members: Vec::new(),
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
