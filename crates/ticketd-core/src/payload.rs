//! Typed ticket payloads with business rules of their own: JumpServer asset applications.

use crate::error::FieldError;
use crate::ticket::{Grant, Ticket};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Action bits of an asset permission (JumpServer `ActionChoices`).
pub const ACTIONS: [(&str, u32); 7] = [
    ("connect", 1),
    ("upload", 2),
    ("download", 4),
    ("copy", 8),
    ("paste", 16),
    ("delete", 32),
    ("share", 64),
];

/// Every action bit.
pub const ALL_ACTIONS: u32 = 127;

/// The years (UTC) a date a client gives may fall in: those of Python's `datetime`, so of
/// Django and JumpServer. Every store holds them; PostgreSQL's timestamps cannot hold a year
/// before 4713 BC, which chrono's parsers read (a grant expiring in year -4000 failed there).
pub const DATE_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether `time` lies in [`DATE_YEARS`] and is no leap second: chrono reads a second `60`
/// as one, which Python, JSON's readers and PostgreSQL cannot hold, so it was shown as `59` by
/// one dialect, `60` by another, and granted as the next minute (a permission starting as it
/// expired; until 2026-12-07).
pub fn date_in_range(time: DateTime<Utc>) -> bool {
    use chrono::Timelike;
    DATE_YEARS.contains(&time.year()) && time.nanosecond() < 1_000_000_000
}

/// Whether `millis`, epoch milliseconds, is a moment after 1970 in [`DATE_YEARS`]: what a
/// DataArts `expire_time` may be. Beyond chrono's range a grant would have had no expiry.
pub fn expiry_millis_valid(millis: i64) -> bool {
    millis > 0 && DateTime::<Utc>::from_timestamp_millis(millis).is_some_and(date_in_range)
}

/// Checks the content of a `data_permission` ticket, at its opening, edits and final approval:
/// its `expire_time` is absent, null, or a moment [`expiry_millis_valid`] allows that is still
/// ahead of `now` ([`check_expiry_ahead`]).
pub fn validate_table_permission(
    content: &Value,
    now: DateTime<Utc>,
) -> Result<(), Vec<FieldError>> {
    match content.get("expire_time") {
        None | Some(Value::Null) => Ok(()),
        Some(expiry) => match expiry.as_i64().filter(|ms| expiry_millis_valid(*ms)) {
            Some(ms) => check_expiry_ahead(ms, now),
            None => Err(vec![FieldError::new(
                "expire_time",
                "invalid",
                "must be epoch milliseconds of a moment from 1970 to the year 9999",
            )]),
        },
    }
}

/// Refuses a table permission's expiry (epoch milliseconds) that is not ahead of `now`: an
/// expired permission grants nothing, so neither an application nor an approval may make one.
pub fn check_expiry_ahead(ms: i64, now: DateTime<Utc>) -> Result<(), Vec<FieldError>> {
    if ms <= now.timestamp_millis() {
        return Err(vec![FieldError::new(
            "expire_time",
            "expired",
            "must be in the future: a permission that has expired grants nothing",
        )]);
    }
    Ok(())
}

/// The content of an `apply_asset` ticket, as the core stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAsset {
    /// Requested assets.
    #[serde(default)]
    pub assets: Vec<Uuid>,
    /// Requested nodes.
    #[serde(default)]
    pub nodes: Vec<Uuid>,
    /// Account names and aliases (`@ALL`, `@INPUT`, …), verbatim.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Action bitmask.
    #[serde(default = "default_actions")]
    pub actions: u32,
    /// Permission start.
    #[serde(deserialize_with = "crate::stored_time::deserialize")]
    pub date_start: DateTime<Utc>,
    /// Permission end (strictly after the start).
    #[serde(deserialize_with = "crate::stored_time::deserialize")]
    pub date_expired: DateTime<Utc>,
    /// Name of the permission the final approval creates.
    #[serde(default)]
    pub permission_name: String,
}

fn default_actions() -> u32 {
    1
}

impl ApplyAsset {
    /// Reads the payload of a ticket (in place: every rendered page reads each ticket's).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        Self::deserialize(value).map_err(|e| {
            vec![FieldError::new(
                "payload",
                "invalid",
                format!("invalid apply_asset content: {e}"),
            )]
        })
    }

    /// Reads the payload of a ticket if it is an asset application's, without describing why
    /// not (rendering asks this of every ticket on a page, most of them of other types).
    pub fn read(value: &Value) -> Option<Self> {
        Self::deserialize(value).ok()
    }

    /// The stored form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Rules every apply_asset content obeys, at open and at approval.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for (field, date) in [
            ("date_start", self.date_start),
            ("date_expired", self.date_expired),
        ] {
            if !date_in_range(date) {
                errors.push(FieldError::new(
                    field,
                    "invalid",
                    "the date must lie between the years 1 and 9999",
                ));
            }
        }
        if self.date_expired.timestamp() <= self.date_start.timestamp() {
            errors.push(FieldError::new(
                "date_expired",
                "invalid",
                "the expiration date should be greater than the start date",
            ));
        }
        if self.actions & !ALL_ACTIONS != 0 {
            errors.push(FieldError::new("actions", "invalid", "unknown action bits"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Extra rules of the final approval: something to grant, and accounts to grant it with.
    pub fn validate_final(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.accounts.is_empty() {
            errors.push(FieldError::new(
                "accounts",
                "required",
                "this field is required",
            ));
        }
        if self.assets.is_empty() && self.nodes.is_empty() {
            errors.extend(no_asset_or_node());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The refusal of an asset application that names no asset and no node (none left, at the
/// approval), on both fields, as JumpServer words it.
pub(crate) fn no_asset_or_node() -> Vec<FieldError> {
    ["nodes", "assets"]
        .into_iter()
        .map(|field| FieldError::new(field, "required", "select at least one asset or node"))
        .collect()
}

/// The default permission name: `Created by ticket (<title>-<suffix>)`, at most 128 characters.
///
/// The suffix is taken from the random tail of the ticket id (JumpServer takes the first four
/// characters, which are equal for tickets opened close together when ids are time-ordered).
pub fn permission_name(title: &str, ticket_id: Uuid, suffix_len: usize) -> String {
    let hex = ticket_id.simple().to_string();
    let suffix = &hex[hex.len().saturating_sub(suffix_len.clamp(4, 32))..];
    let name = format!("Created by ticket ({title}-{suffix})");
    shorten(&name, 128)
}

/// A name no other grant holds: `name` cut to leave room for a space and the grant's id, within
/// `max` characters.
pub fn name_with_id(name: &str, id: Uuid, max: usize) -> String {
    let id = id.simple().to_string();
    let head: String = name
        .chars()
        .take(max.saturating_sub(id.len() + 1))
        .collect();
    format!("{head} {id}")
}

fn shorten(name: &str, max: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= max {
        return name.to_owned();
    }
    let head: String = chars[..max - 7].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// The asset permission a final approval of an apply_asset ticket creates (its id is the ticket's).
pub fn asset_permission_grant(
    ticket: &Ticket,
    content: &ApplyAsset,
    processors: &[String],
    now: DateTime<Utc>,
) -> Grant {
    let id = ticket.id.uuid();
    let mut candidates = Vec::new();
    if !content.permission_name.is_empty() {
        candidates.push(content.permission_name.clone());
    }
    for len in [4, 8, 12, 32] {
        let name = permission_name(&ticket.title, id, len);
        if !candidates.contains(&name) {
            candidates.push(name);
        }
    }
    // A long title is shortened to its head and the id's last four characters, so the names
    // above may all be one; the last holds the whole id, within the same 128 characters.
    candidates.push(name_with_id(
        &permission_name(&ticket.title, id, 4),
        id,
        128,
    ));
    Grant {
        id,
        ticket_id: ticket.id,
        org_id: ticket.org_id,
        kind: "asset_permission".into(),
        name: candidates.first().cloned().unwrap_or_default(),
        name_candidates: candidates,
        users: ticket.applicant_id.into_iter().collect(),
        members: Vec::new(),
        payload: json!({
            "assets": content.assets,
            "nodes": content.nodes,
            "accounts": content.accounts,
            "actions": content.actions,
            "protocols": ["all"],
        }),
        valid_from: Some(content.date_start),
        valid_until: Some(content.date_expired),
        created_by: format!("ApplyAssetTicket:{id}"),
        comment: format!(
            "Created by the ticket ticket title: {} ticket applicant: {} ticket processor: {} ticket ID: {}",
            ticket.title,
            ticket.applicant_display,
            processors.join(","),
            id
        ),
        created_at: now,
    }
}

/// The ticket type of DataArts table-permission applications; approval creates a table permission.
pub const KIND_DATA_PERMISSION: &str = "data_permission";

/// The ticketd users among a table-permission application's proposers: those of type `USER`
/// whose id is a user id.
pub fn proposer_users(payload: &Value) -> Vec<crate::ids::UserId> {
    let Some(proposers) = payload.get("proposers").and_then(Value::as_array) else {
        return Vec::new();
    };
    // A group's id names no ticketd user; taking it as one could grant whoever has it.
    proposers
        .iter()
        .filter(|proposer| {
            proposer
                .get("type")
                .is_none_or(|kind| kind.is_null() || kind == "USER")
        })
        .filter_map(|proposer| {
            proposer
                .get("id")
                .and_then(Value::as_str)
                .and_then(crate::ids::UserId::parse)
        })
        .collect()
}

/// The table permission a final approval of a `data_permission` ticket creates.
///
/// The content is kept as the dialect stored it (the data source's type, instance and cluster,
/// `proposers`, `permissions`, `expire_time` in epoch milliseconds); the grant is valid from
/// the approval until `expire_time`, if any. Its users are the applicant and every proposer of
/// type `USER` whose id is a ticketd user id.
pub fn table_permission_grant(ticket: &Ticket, now: DateTime<Utc>) -> Grant {
    let mut users: Vec<crate::ids::UserId> = ticket.applicant_id.into_iter().collect();
    for id in proposer_users(&ticket.payload) {
        if !users.contains(&id) {
            users.push(id);
        }
    }
    let expires = ticket
        .payload
        .get("expire_time")
        .and_then(Value::as_i64)
        .filter(|ms| *ms > 0)
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    let id = ticket.id.uuid();
    // Where the tables are: two grants of one table name on two instances differ by these.
    let field = |name: &str| ticket.payload.get(name).cloned().unwrap_or(Value::Null);
    Grant {
        id,
        ticket_id: ticket.id,
        org_id: ticket.org_id,
        kind: "table_permission".into(),
        name: format!("{}-{}", ticket.title, ticket.serial),
        name_candidates: vec![
            format!("{}-{}", ticket.title, ticket.serial),
            format!("{}-{}", ticket.title, id.simple()),
            name_with_id(&ticket.title, id, usize::MAX),
        ],
        users,
        members: Vec::new(),
        payload: json!({
            "datasource_type": field("datasource_type"),
            "instance_id": field("instance_id"),
            "cluster_id": field("cluster_id"),
            "permissions": ticket.payload.get("permissions").cloned().unwrap_or(Value::Array(Vec::new())),
            "proposers": ticket.payload.get("proposers").cloned().unwrap_or(Value::Array(Vec::new())),
            "actions": ["SELECT"],
        }),
        valid_from: Some(now),
        valid_until: expires,
        created_by: format!("DataPermissionTicket:{id}"),
        comment: format!("Created by the approval of {}", ticket.serial),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_permission_must_expire_after_now() {
        let now = DateTime::<Utc>::from_timestamp_millis(10_000).unwrap();
        let at = |ms: i64| serde_json::json!({ "expire_time": ms });
        assert!(validate_table_permission(&at(10_001), now).is_ok());
        assert!(validate_table_permission(&serde_json::json!({}), now).is_ok());
        for expired in [10_000, 1] {
            let refused = validate_table_permission(&at(expired), now).unwrap_err();
            assert_eq!(refused[0].code, "expired", "{expired}");
        }
        let refused = validate_table_permission(&at(-1), now).unwrap_err();
        assert_eq!(refused[0].code, "invalid");
    }

    #[test]
    fn every_permission_name_fits_128_characters_and_the_last_holds_the_id() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let long = "T".repeat(300);
        let names: Vec<String> = [4, 8, 12, 32]
            .iter()
            .map(|len| permission_name(&long, id, *len))
            .chain([name_with_id(&permission_name(&long, id, 4), id, 128)])
            .collect();
        for name in &names {
            assert!(name.chars().count() <= 128, "{name}");
        }
        let last = names.last().unwrap();
        assert!(
            last.ends_with(" 0123456789abcdef0123456789abcdef"),
            "{last}"
        );
        assert_eq!(last.chars().count(), 128);
        assert_eq!(
            name_with_id("short", id, 128),
            "short 0123456789abcdef0123456789abcdef"
        );
    }
}
