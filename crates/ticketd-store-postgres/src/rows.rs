//! Conversions between PostgreSQL rows and core types.

use crate::conn::{db_err, other};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use ticketd_core::StoreError;
use ticketd_core::catalog::{Asset, Node};
use ticketd_core::flow::Flow;
use ticketd_core::identity::{AccessKey, Org, SystemRole, User};
use ticketd_core::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, TicketId, UserId};
use ticketd_core::parsed_tickets::{ParsedContent, ParsedTickets};
use ticketd_core::ticket::{Grant, Ticket, TicketState};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json};
use uuid::Uuid;

/// A stored value the core has no variant for (a hand-edited row, or a newer schema).
#[derive(Debug)]
pub(crate) struct UnknownValue {
    pub(crate) column: &'static str,
    pub(crate) value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown stored value {:?} in column {}",
            self.value, self.column
        )
    }
}

impl std::error::Error for UnknownValue {}

pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> Result<T, StoreError> {
    row.try_get(column).map_err(db_err)
}

/// A `jsonb` column decoded straight into `T`.
pub(crate) fn json<T: DeserializeOwned>(row: &Row, column: &str) -> Result<T, StoreError> {
    let Json(value) = row.try_get::<_, Json<T>>(column).map_err(db_err)?;
    Ok(value)
}

/// A `bigint` column holding a core `u32` (levels, rounds).
pub(crate) fn unsigned(row: &Row, column: &str) -> Result<u32, StoreError> {
    let value: i64 = get(row, column)?;
    u32::try_from(value).map_err(other)
}

pub(crate) fn ticket_state(column: &'static str, text: &str) -> Result<TicketState, StoreError> {
    TicketState::parse(text).ok_or_else(|| {
        other(UnknownValue {
            column,
            value: text.to_owned(),
        })
    })
}

pub(crate) const USER_COLUMNS: &str =
    "id, username, name, email, system_role, is_active, created_at, updated_at";

pub(crate) fn user(row: &Row) -> Result<User, StoreError> {
    let role: String = get(row, "system_role")?;
    Ok(User {
        id: UserId(get(row, "id")?),
        username: get(row, "username")?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        system_role: SystemRole::parse(&role).ok_or_else(|| {
            other(UnknownValue {
                column: "system_role",
                value: role.clone(),
            })
        })?,
        is_active: get(row, "is_active")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

// Column lists are spelled out rather than `*`: a cached prepared statement fails with "cached
// plan must not change result type" once another process's migration adds a column.

pub(crate) const ORG_COLUMNS: &str = "id, name, builtin, comment, created_at";

pub(crate) fn org(row: &Row) -> Result<Org, StoreError> {
    Ok(Org {
        id: OrgId(get(row, "id")?),
        name: get(row, "name")?,
        builtin: get(row, "builtin")?,
        comment: get(row, "comment")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) const FLOW_COLUMNS: &str = "id, org_id, name, description, kinds, is_default, enabled, \
    levels, cc_users, attributes, created_by, version, created_at, updated_at";

pub(crate) fn flow(row: &Row) -> Result<Flow, StoreError> {
    Ok(Flow {
        id: FlowId(get(row, "id")?),
        org_id: OrgId(get(row, "org_id")?),
        name: get(row, "name")?,
        description: get(row, "description")?,
        kinds: json(row, "kinds")?,
        is_default: get(row, "is_default")?,
        enabled: get(row, "enabled")?,
        levels: json(row, "levels")?,
        cc_users: json(row, "cc_users")?,
        attributes: json(row, "attributes")?,
        created_by: get(row, "created_by")?,
        version: get(row, "version")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) const TICKET_COLUMNS: &str = "t.id, t.serial, t.org_id, t.kind, t.title, t.applicant_id, \
    t.applicant_display, t.flow_id, t.state, t.approval_step, t.round, t.steps, t.cc_users, t.payload, \
    t.comment, t.scope, t.archived, t.confirmed, t.deleted, t.version, t.created_at, t.updated_at, \
    t.finished_at";

/// A ticket from a row of `TICKET_COLUMNS`; the JSON columns are parsed only when `parsed` does
/// not hold them for the row's ticket and version.
pub(crate) fn ticket(row: &Row, parsed: &ParsedTickets) -> Result<Ticket, StoreError> {
    let state: String = get(row, "state")?;
    let id = TicketId(get(row, "id")?);
    let version = get(row, "version")?;
    let ParsedContent {
        steps,
        cc_users,
        payload,
    } = parsed.content(id, version, || {
        Ok::<_, StoreError>(ParsedContent {
            steps: Arc::new(json(row, "steps")?),
            cc_users: json(row, "cc_users")?,
            payload: Arc::new(json(row, "payload")?),
        })
    })?;
    let state = ticket_state("state", &state)?;
    let updated_at = get(row, "updated_at")?;
    Ok(Ticket {
        id,
        serial: get(row, "serial")?,
        org_id: OrgId(get(row, "org_id")?),
        kind: get(row, "kind")?,
        title: get(row, "title")?,
        applicant_id: get::<Option<Uuid>>(row, "applicant_id")?.map(UserId),
        applicant_display: get(row, "applicant_display")?,
        flow_id: get::<Option<Uuid>>(row, "flow_id")?.map(FlowId),
        state,
        approval_step: unsigned(row, "approval_step")?,
        round: unsigned(row, "round")?,
        steps,
        cc_users,
        payload,
        comment: get(row, "comment")?,
        scope: get(row, "scope")?,
        archived: get(row, "archived")?,
        confirmed: get(row, "confirmed")?,
        deleted: get(row, "deleted")?,
        version,
        created_at: get(row, "created_at")?,
        updated_at,
        finished_at: ticketd_core::ticket::end_as_stored(
            get(row, "finished_at")?,
            state,
            updated_at,
        ),
    })
}

pub(crate) const GRANT_COLUMNS: &str = "g.id, g.ticket_id, g.org_id, g.kind, g.name, g.users, \
    g.payload, g.valid_from, g.valid_until, g.created_by, g.comment, g.created_at";

pub(crate) fn grant(row: &Row) -> Result<Grant, StoreError> {
    let name: String = get(row, "name")?;
    Ok(Grant {
        id: get(row, "id")?,
        ticket_id: TicketId(get(row, "ticket_id")?),
        org_id: OrgId(get(row, "org_id")?),
        kind: get(row, "kind")?,
        name_candidates: vec![name.clone()],
        name,
        users: json(row, "users")?,
        members: Vec::new(),
        payload: json(row, "payload")?,
        valid_from: get(row, "valid_from")?,
        valid_until: get(row, "valid_until")?,
        created_by: get(row, "created_by")?,
        comment: get(row, "comment")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn access_key(row: &Row) -> Result<AccessKey, StoreError> {
    Ok(AccessKey {
        id: AccessKeyId(get(row, "id")?),
        user_id: UserId(get(row, "user_id")?),
        secret: get(row, "secret")?,
        is_active: get(row, "is_active")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) const ASSET_COLUMNS: &str = "id, org_id, name, address, platform, is_active, node_ids, \
    comment, created_at, updated_at";

pub(crate) fn asset(row: &Row) -> Result<Asset, StoreError> {
    Ok(Asset {
        id: AssetId(get(row, "id")?),
        org_id: OrgId(get(row, "org_id")?),
        name: get(row, "name")?,
        address: get(row, "address")?,
        platform: get(row, "platform")?,
        is_active: get(row, "is_active")?,
        node_ids: json(row, "node_ids")?,
        comment: get(row, "comment")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) const NODE_COLUMNS: &str = "id, org_id, name, parent_id, full_value, created_at";

pub(crate) fn node(row: &Row) -> Result<Node, StoreError> {
    Ok(Node {
        id: NodeId(get(row, "id")?),
        org_id: OrgId(get(row, "org_id")?),
        name: get(row, "name")?,
        parent_id: get::<Option<Uuid>>(row, "parent_id")?.map(NodeId),
        full_value: get(row, "full_value")?,
        created_at: get(row, "created_at")?,
    })
}

/// Applies `map` to every row.
pub(crate) fn all<T>(
    rows: &[Row],
    map: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(map).collect()
}
