//! Request bodies of open and approve, validated into core values with DRF-style field errors.

use crate::error::ApiError;
use crate::format::{json_type, object_body, parse_actions, parse_datetime, parse_id_list};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use ticketd_core::identity::Org;
use ticketd_core::payload::ApplyAsset;
use ticketd_core::{Actor, OrgId};
use ticketd_http::AppState;
use uuid::Uuid;

/// Collected field errors, rendered as one DRF map.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<(String, String)>);

impl Errors {
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self.0))
        }
    }
}

const DATETIME_HELP: &str = "Datetime has wrong format. Use one of these formats instead: \
    YYYY/MM/DD hh:mm:ss +HHMM, YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// `text` without its leading and trailing whitespace as Python's `str.strip()` sees it, which
/// DRF's `CharField` trims by default: Unicode's `White_Space` and the four information
/// separators (U+001C to U+001F), which Python counts as whitespace too.
fn drf_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// An optional string field (`null` counts as absent), trimmed as DRF trims ([`drf_trim`]).
pub(crate) fn opt_string(
    body: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut Errors,
) -> Option<String> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(drf_trim(s).to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.add(field, "Not a valid string.");
            None
        }
    }
}

/// A required datetime field.
pub(crate) fn datetime_field(
    body: &serde_json::Map<String, Value>,
    field: &str,
    zone: Tz,
    errors: &mut Errors,
) -> Option<DateTime<Utc>> {
    match body.get(field) {
        None | Some(Value::Null) => {
            errors.add(field, "This field is required.");
            None
        }
        Some(Value::String(s)) => {
            let parsed = parse_datetime(s, zone);
            if parsed.is_none() {
                errors.add(field, DATETIME_HELP);
            }
            parsed
        }
        Some(_) => {
            errors.add(field, DATETIME_HELP);
            None
        }
    }
}

/// Resolves `org_id` (an id or a name) to an existing organization.
pub(crate) async fn org_field(
    state: &AppState,
    actor: &Actor,
    body: &serde_json::Map<String, Value>,
    errors: &mut Errors,
) -> Option<Org> {
    let raw = match body.get("org_id") {
        None | Some(Value::Null) => {
            errors.add("org_id", "This field is required.");
            return None;
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => {
            errors.add("org_id", "Not a valid string.");
            return None;
        }
    };
    if raw.chars().count() > 36 {
        errors.add(
            "org_id",
            "Ensure this field has no more than 36 characters.",
        );
        return None;
    }
    match state.engine.resolve_org(actor, &raw).await {
        Ok(org) if !raw.is_empty() => Some(org),
        _ => {
            errors.add("org_id", format!("The organization `{raw}` does not exist"));
            None
        }
    }
}

/// Assets (or nodes) named by a list field, checked to exist; ids of other organizations are
/// dropped silently, as JumpServer does.
async fn catalog_ids(
    state: &AppState,
    body: &serde_json::Map<String, Value>,
    field: &str,
    org: Option<OrgId>,
    nodes: bool,
    errors: &mut Errors,
) -> Option<Vec<Uuid>> {
    let value = body.get(field)?;
    if value.is_null() {
        return Some(Vec::new());
    }
    let ids = match parse_id_list(value) {
        Ok(ids) => ids,
        Err(message) => {
            errors.add(field, message);
            return None;
        }
    };
    if ids.is_empty() {
        return Some(ids);
    }
    let (asset_ids, node_ids) = if nodes {
        (Vec::new(), ids.clone())
    } else {
        (ids.clone(), Vec::new())
    };
    let Ok((assets, found_nodes, _)) = state
        .engine
        .ticket_references(asset_ids, node_ids, Vec::new())
        .await
    else {
        errors.add(field, "Could not be checked right now, please try again.");
        return None;
    };
    let found: Vec<(Uuid, OrgId)> = if nodes {
        found_nodes
            .into_iter()
            .map(|n| (n.id.uuid(), n.org_id))
            .collect()
    } else {
        assets
            .into_iter()
            .map(|a| (a.id.uuid(), a.org_id))
            .collect()
    };
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(f, _)| f == *id)) {
        errors.add(field, crate::format::invalid_pk(missing));
        return None;
    }
    let mut kept: Vec<Uuid> = ids
        .into_iter()
        .filter(|id| {
            found
                .iter()
                .any(|(f, o)| f == id && org.is_none_or(|org| *o == org))
        })
        .collect();
    kept.dedup();
    Some(kept)
}

/// `apply_accounts`: a list of strings.
fn accounts(body: &serde_json::Map<String, Value>, errors: &mut Errors) -> Option<Vec<String>> {
    match body.get("apply_accounts")? {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => {
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            if texts.is_none() {
                errors.add("apply_accounts", "Not a valid string.");
            }
            texts
        }
        _ => {
            errors.add(
                "apply_accounts",
                "Expected a list of items but got type \"".to_owned()
                    + json_type(&body["apply_accounts"])
                    + "\".",
            );
            None
        }
    }
}

fn actions(body: &serde_json::Map<String, Value>, errors: &mut Errors) -> Option<u32> {
    let value = body.get("apply_actions")?;
    match parse_actions(value) {
        Ok(mask) => Some(mask),
        Err(message) => {
            errors.add("apply_actions", message);
            None
        }
    }
}

/// The open request of an apply_asset ticket, validated.
#[derive(Debug)]
pub(crate) struct OpenAsset {
    pub(crate) title: String,
    pub(crate) org: Org,
    pub(crate) content: Value,
    pub(crate) comment: String,
    pub(crate) flow_id: Option<Uuid>,
    pub(crate) applicant: Option<Uuid>,
    pub(crate) id: Option<Uuid>,
}

/// Reads an optional UUID field.
pub(crate) fn uuid_field(
    body: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut Errors,
) -> Option<Uuid> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => match Uuid::parse_str(s.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add(field, format!("“{s}” is not a valid UUID."));
                None
            }
        },
        Some(_) => {
            errors.add(field, "Must be a valid UUID.");
            None
        }
    }
}

/// Validates `POST apply-asset-tickets/open/` (§4.3).
pub(crate) async fn open_asset(
    state: &AppState,
    actor: &Actor,
    body: &Value,
    zone: Tz,
) -> Result<OpenAsset, ApiError> {
    let body = object_body(body)?;
    let mut errors = Errors::default();
    let title = match body.get("title") {
        None | Some(Value::Null) => {
            errors.add("title", "This field is required.");
            None
        }
        Some(Value::String(s)) if drf_trim(s).is_empty() => {
            errors.add("title", "This field may not be blank.");
            None
        }
        Some(Value::String(s)) if drf_trim(s).chars().count() > 256 => {
            errors.add(
                "title",
                "Ensure this field has no more than 256 characters.",
            );
            None
        }
        Some(Value::String(s)) => Some(drf_trim(s).to_owned()),
        Some(_) => {
            errors.add("title", "Not a valid string.");
            None
        }
    };
    let org = org_field(state, actor, body, &mut errors).await;
    let start = datetime_field(body, "apply_date_start", zone, &mut errors);
    let expired = datetime_field(body, "apply_date_expired", zone, &mut errors);
    let org_id = org.as_ref().map(|o| o.id);
    let assets = catalog_ids(state, body, "apply_assets", org_id, false, &mut errors)
        .await
        .unwrap_or_default();
    let nodes = catalog_ids(state, body, "apply_nodes", org_id, true, &mut errors)
        .await
        .unwrap_or_default();
    let accounts = accounts(body, &mut errors).unwrap_or_default();
    let actions = if body.contains_key("apply_actions") {
        actions(body, &mut errors).unwrap_or(0)
    } else {
        1
    };
    let comment = opt_string(body, "comment", &mut errors).unwrap_or_default();
    let flow_id = uuid_field(body, "flow_id", &mut errors);
    let applicant = uuid_field(body, "applicant", &mut errors);
    let id = uuid_field(body, "id", &mut errors);
    if let (Some(start), Some(expired)) = (start, expired)
        && expired.timestamp() <= start.timestamp()
    {
        errors.add(
            "apply_date_expired",
            "The expiration date should be greater than the start date",
        );
    }
    errors.finish()?;
    let (Some(title), Some(org), Some(start), Some(expired)) = (title, org, start, expired) else {
        return Err(ApiError::field("non_field_errors", "Invalid data."));
    };
    let content = ApplyAsset {
        assets,
        nodes,
        accounts,
        actions,
        date_start: start,
        date_expired: expired,
        permission_name: String::new(),
    };
    Ok(OpenAsset {
        title,
        org,
        content: content.to_value(),
        comment,
        flow_id,
        applicant,
        id,
    })
}

/// Applies an approver's edits (§4.4) to the stored content; `None` when the body has none.
pub(crate) async fn approve_edits(
    state: &AppState,
    actor: &Actor,
    ticket: &ticketd_core::ticket::Ticket,
    body: &Value,
    zone: Tz,
) -> Result<Option<Value>, ApiError> {
    let current = &*ticket.payload;
    let body = match body {
        Value::Null => return Ok(None),
        other => object_body(other)?,
    };
    if body.is_empty() {
        return Ok(None);
    }
    let mut content = ApplyAsset::from_value(current).map_err(|errors| {
        ApiError::Internal(format!("stored apply_asset content is invalid: {errors:?}"))
    })?;
    let mut errors = Errors::default();
    // Ids of other organizations than the ticket's are dropped, as at the opening (an `org_id`
    // in the body is checked, and changes nothing: a ticket keeps its organization).
    if body.contains_key("org_id") {
        org_field(state, actor, body, &mut errors).await;
    }
    let org = Some(ticket.org_id);
    if body.contains_key("apply_date_start") || body.contains_key("apply_date_expired") {
        // A date left out keeps the ticket's, so an approver shortens the expiry alone (both
        // were asked for together); one sent as `null` is still refused.
        let mut date = |field: &str, stored: DateTime<Utc>| {
            if body.contains_key(field) {
                datetime_field(body, field, zone, &mut errors)
            } else {
                Some(stored)
            }
        };
        let start = date("apply_date_start", content.date_start);
        let expired = date("apply_date_expired", content.date_expired);
        if let (Some(start), Some(expired)) = (start, expired) {
            if expired.timestamp() <= start.timestamp() {
                errors.add(
                    "apply_date_expired",
                    "The expiration date should be greater than the start date",
                );
            }
            content.date_start = start;
            content.date_expired = expired;
        }
    }
    if let Some(assets) = catalog_ids(state, body, "apply_assets", org, false, &mut errors).await {
        content.assets = assets;
    }
    if let Some(nodes) = catalog_ids(state, body, "apply_nodes", org, true, &mut errors).await {
        content.nodes = nodes;
    }
    if let Some(accounts) = accounts(body, &mut errors) {
        content.accounts = accounts;
    }
    if let Some(actions) = actions(body, &mut errors) {
        content.actions = actions;
    }
    errors.finish()?;
    Ok(Some(content.to_value()))
}

/// Validates the open request of a system-opened type (login, login-asset, command confirm):
/// explicit reviewers and the type's own fields.
pub(crate) fn system_content(
    kind: &str,
    body: &serde_json::Map<String, Value>,
    zone: Tz,
    errors: &mut Errors,
) -> Value {
    let mut content = serde_json::Map::new();
    let text = |content: &mut serde_json::Map<String, Value>,
                field: &str,
                max: usize,
                errors: &mut Errors| {
        if let Some(value) = opt_string(body, field, errors) {
            let value: String = value.chars().take(max).collect();
            content.insert(field.to_owned(), json!(value));
        }
    };
    match kind {
        "login_confirm" => {
            text(&mut content, "apply_login_ip", 64, errors);
            text(&mut content, "apply_login_city", 64, errors);
            if let Some(raw) = opt_string(body, "apply_login_datetime", errors) {
                match parse_datetime(&raw, zone) {
                    Some(t) => {
                        content.insert("apply_login_datetime".into(), json!(t.to_rfc3339()));
                    }
                    None => errors.add("apply_login_datetime", DATETIME_HELP),
                }
            }
        }
        "login_asset_confirm" => {
            for field in ["apply_login_user", "apply_login_asset"] {
                if let Some(id) = uuid_field(body, field, errors) {
                    content.insert(field.into(), json!(id.to_string()));
                }
            }
            text(&mut content, "apply_login_account", 128, errors);
        }
        "command_confirm" => {
            if let Some(id) = uuid_field(body, "apply_run_user", errors) {
                content.insert("apply_run_user".into(), json!(id.to_string()));
            }
            text(&mut content, "apply_run_asset", 128, errors);
            text(&mut content, "apply_run_command", 4090, errors);
            text(&mut content, "apply_run_account", 128, errors);
            for field in ["apply_from_session", "apply_from_cmd_filter_acl"] {
                if let Some(id) = uuid_field(body, field, errors) {
                    content.insert(field.into(), json!({"id": id.to_string(), "name": ""}));
                }
            }
        }
        _ => {}
    }
    Value::Object(content)
}
