//! `/api/v1/assets/assets/` and `/api/v1/assets/hosts/`: the asset catalog in JumpServer's shapes.

use super::{
    Checks, core_error, in_scope, list_answer, method_not_allowed, object_body, org_label_of,
    owning_org, page_items, path_id, query_bool, scope_of,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{CallerInOrg, JsonBody};
use crate::format::{Zone, datetime, json_type};
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::HashSet;
use ticketd_core::AdminAction;
use ticketd_core::catalog::{Asset, AssetChange, CatalogQuery, Node};
use ticketd_core::identity::Org;
use ticketd_core::{AssetId, DomainError, NodeId};
use ticketd_http::{AppState, now};
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    let mut router = Router::new();
    // `hosts/` is the typed endpoint clients create servers through; ticketd's catalog has one
    // kind of asset, so both prefixes serve the same objects.
    for prefix in ["/api/v1/assets/assets/", "/api/v1/assets/hosts/"] {
        router = router
            .route(prefix, get(list).post(create).fallback(method_not_allowed))
            .route(
                &format!("{prefix}{{id}}/"),
                get(detail)
                    .put(update)
                    .patch(update)
                    .delete(destroy)
                    .fallback(method_not_allowed),
            );
    }
    router
}

/// Built-in JumpServer platforms that clients name by number.
const PLATFORM_IDS: [(u64, &str); 2] = [(1, "Linux"), (5, "Windows")];

/// The platform a new asset gets when the request names none.
const DEFAULT_PLATFORM: &str = "Linux";

/// Reads `platform` as a name, a built-in number, or an object with `pk`, `id` or `name`.
fn parse_platform(value: &Value) -> Result<String, String> {
    let by_number = |n: u64| {
        PLATFORM_IDS
            .iter()
            .find(|(id, _)| *id == n)
            .map(|(_, name)| (*name).to_owned())
            .ok_or_else(|| crate::format::invalid_pk(n))
    };
    match value {
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Err("This field may not be blank.".into());
            }
            if let Ok(n) = text.parse::<u64>() {
                return by_number(n);
            }
            Ok(PLATFORM_IDS
                .iter()
                .find(|(_, name)| name.eq_ignore_ascii_case(text))
                .map_or_else(|| text.to_owned(), |(_, name)| (*name).to_owned()))
        }
        Value::Number(n) => n
            .as_u64()
            .map_or_else(|| Err(crate::format::invalid_pk(n)), by_number),
        Value::Object(object) => object
            .get("pk")
            .or_else(|| object.get("id"))
            .or_else(|| object.get("name"))
            .map_or_else(|| Err("This field is required.".into()), parse_platform),
        other => Err(format!(
            "Incorrect type. Expected pk value, received {}.",
            json_type(other)
        )),
    }
}

fn platform_json(name: &str) -> Value {
    let id = PLATFORM_IDS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or_else(|| Value::String(name.to_owned()), |(id, _)| json!(id));
    json!({"id": id, "name": name})
}

fn asset_json(asset: &Asset, nodes: &[Node], orgs: &[Org], zone: Tz) -> Value {
    let own_nodes: Vec<&Node> = asset
        .node_ids
        .iter()
        .filter_map(|id| nodes.iter().find(|n| n.id == *id))
        .collect();
    json!({
        "id": asset.id.to_string(),
        "name": asset.name,
        "address": asset.address,
        "platform": platform_json(&asset.platform),
        "category": {"value": "host", "label": "Host"},
        "type": {"value": asset.platform.to_lowercase(), "label": asset.platform},
        "nodes": own_nodes.iter().map(|n| json!({"id": n.id.to_string(), "name": n.name})).collect::<Vec<_>>(),
        "nodes_display": own_nodes.iter().map(|n| n.full_value.clone()).collect::<Vec<_>>(),
        "protocols": [],
        "labels": [],
        "domain": null,
        "is_active": asset.is_active,
        "org_id": asset.org_id.to_string(),
        "org_name": org_label_of(orgs, asset.org_id),
        "comment": asset.comment,
        "created_by": "",
        "date_created": datetime(asset.created_at, zone),
        "date_updated": datetime(asset.updated_at, zone),
    })
}

/// Renders assets with one load of the nodes they sit in and of the organizations.
async fn render(
    state: &AppState,
    caller: &CallerInOrg,
    assets: &[Asset],
    zone: Tz,
) -> Result<Vec<Value>, ApiError> {
    let mut node_ids: Vec<Uuid> = assets
        .iter()
        .flat_map(|a| a.node_ids.iter().map(|n| n.uuid()))
        .collect();
    node_ids.sort_unstable();
    node_ids.dedup();
    let nodes = if node_ids.is_empty() {
        Vec::new()
    } else {
        let query = CatalogQuery {
            ids: Some(node_ids),
            ..CatalogQuery::default()
        };
        state.engine.nodes(&caller.actor, query).await?.1
    };
    let orgs = state.engine.orgs(&caller.actor).await?;
    Ok(assets
        .iter()
        .map(|a| asset_json(a, &nodes, &orgs, zone))
        .collect())
}

/// The node `raw` and every node below it, as the `node_id` filter includes descendants.
async fn subtree(
    state: &AppState,
    caller: &CallerInOrg,
    raw: &str,
) -> Result<HashSet<NodeId>, ApiError> {
    let Ok(id) = Uuid::parse_str(raw.trim()) else {
        return Ok(HashSet::new());
    };
    let query = CatalogQuery {
        ids: Some(vec![id]),
        org_ids: scope_of(&caller.org),
        ..CatalogQuery::default()
    };
    let Some(root) = state.engine.nodes(&caller.actor, query).await?.1.pop() else {
        return Ok(HashSet::new());
    };
    let query = CatalogQuery {
        org_ids: Some(vec![root.org_id]),
        search: Some(root.full_value.clone()),
        ..CatalogQuery::default()
    };
    let below = format!("{}/", root.full_value);
    Ok(state
        .engine
        .nodes(&caller.actor, query)
        .await?
        .1
        .into_iter()
        .filter(|n| n.full_value == root.full_value || n.full_value.starts_with(&below))
        .map(|n| n.id)
        .collect())
}

async fn list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let page = Page::from_query(&query, state.settings.max_page_size);
    let name = query.text("name");
    let address = query.text("address");
    let platform = query.text("platform");
    let is_active = query_bool(&query, "is_active");
    let node = query.text("node_id").or_else(|| query.text("node"));
    let ids = match query.text("id") {
        Some(raw) => match Uuid::parse_str(&raw) {
            Ok(id) => Some(vec![id]),
            // No asset has an id that is not a UUID.
            Err(_not_a_uuid) => return Ok(list_answer(&parts, &query, page, 0, Vec::new())),
        },
        None => None,
    };
    let mut catalog = CatalogQuery {
        org_ids: scope_of(&caller.org),
        search: query.text("search"),
        ids,
        limit: page.fetch(),
        offset: page.offset,
    };
    let filtered_here = name.is_some()
        || address.is_some()
        || platform.is_some()
        || is_active.is_some()
        || node.is_some();
    let (total, assets) = if filtered_here {
        // Filters the catalog query cannot express: read every candidate, then page here.
        catalog.limit = 0;
        catalog.offset = 0;
        let nodes = match &node {
            Some(raw) => Some(subtree(&state, &caller, raw).await?),
            None => None,
        };
        let (_, candidates) = state.engine.assets(&caller.actor, catalog).await?;
        let matching: Vec<Asset> = candidates
            .into_iter()
            .filter(|a| name.as_ref().is_none_or(|n| a.name == *n))
            .filter(|a| address.as_ref().is_none_or(|x| a.address == *x))
            .filter(|a| {
                platform
                    .as_ref()
                    .is_none_or(|p| parse_platform(&json!(p)).is_ok_and(|p| p == a.platform))
            })
            .filter(|a| is_active.is_none_or(|active| a.is_active == active))
            .filter(|a| {
                nodes
                    .as_ref()
                    .is_none_or(|set| a.node_ids.iter().any(|n| set.contains(n)))
            })
            .collect();
        (matching.len(), page_items(matching, page))
    } else {
        let (total, assets) = state.engine.assets(&caller.actor, catalog).await?;
        (usize::try_from(total).unwrap_or(usize::MAX), assets)
    };
    let rows = render(&state, &caller, &assets, zone).await?;
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// An asset visible from the request's organization.
pub(crate) async fn find(
    state: &AppState,
    caller: &CallerInOrg,
    raw: &str,
) -> Result<Asset, ApiError> {
    let id = AssetId(path_id(raw, "Asset")?);
    let asset = state
        .engine
        .get_asset(&caller.actor, id)
        .await
        .map_err(core_error("Asset"))?;
    if !in_scope(&caller.org, asset.org_id) {
        return Err(ApiError::not_found("Asset"));
    }
    Ok(asset)
}

async fn detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let asset = find(&state, &caller, &raw).await?;
    let mut rows = render(&state, &caller, &[asset], zone).await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

/// The fields of an asset body; `None` means "not given".
struct AssetFields {
    id: Option<Uuid>,
    name: Option<String>,
    address: Option<String>,
    platform: Option<String>,
    nodes: Option<Vec<NodeId>>,
    is_active: Option<bool>,
    comment: Option<String>,
}

/// Reads an asset body; with `required`, `name` and `address` must be present (POST and PUT).
fn read_asset_fields(body: &Value, required: bool) -> Result<AssetFields, ApiError> {
    object_body(body)?;
    let mut checks = Checks::default();
    let id = match body.get("id") {
        None | Some(Value::Null) => None,
        Some(_) => checks.required_id(body, "id"),
    };
    let name = checks.text(body, "name", required);
    let address = checks.text(body, "address", required);
    let platform = match body.get("platform") {
        None | Some(Value::Null) => None,
        Some(value) => match parse_platform(value) {
            Ok(platform) => Some(platform),
            Err(message) => {
                checks.push("platform", message);
                None
            }
        },
    };
    let nodes = checks
        .optional_ids(body, "nodes")
        .map(|ids| ids.into_iter().map(NodeId).collect());
    let is_active = checks.optional_bool(body, "is_active");
    let comment = checks.optional_text(body, "comment");
    checks.finish()?;
    Ok(AssetFields {
        id,
        name,
        address,
        platform,
        nodes,
        is_active,
        comment,
    })
}

/// A taken name or id is a field error on `name` or `id`, as Django's unique check reports it.
fn name_taken(error: DomainError) -> ApiError {
    match error {
        DomainError::Conflict(_) => ApiError::field("name", "Asset with this name already exists."),
        DomainError::Validation(fields)
            if fields
                .first()
                .is_some_and(|f| f.field == "id" && f.code == "unique") =>
        {
            ApiError::field("id", "Asset with this id already exists.")
        }
        other => core_error("Asset")(other),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    query: Query,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.actor.may(AdminAction::ManageAssets(caller.org.id))?;
    let fields = read_asset_fields(&body, true)?;
    let org_id = owning_org(&caller.org)?;
    // JumpServer's clients also name the platform in the query string of a create.
    let platform = match fields.platform {
        Some(platform) => platform,
        None => match query.text("platform") {
            Some(raw) => parse_platform(&json!(raw)).map_err(|m| ApiError::field("platform", m))?,
            None => DEFAULT_PLATFORM.to_owned(),
        },
    };
    let now = now();
    let asset = Asset {
        id: AssetId(fields.id.unwrap_or_else(|| state.engine.new_id(now))),
        org_id,
        name: fields.name.unwrap_or_default(),
        address: fields.address.unwrap_or_default(),
        platform,
        is_active: fields.is_active.unwrap_or(true),
        node_ids: fields.nodes.unwrap_or_default(),
        comment: fields.comment.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    let asset = state
        .engine
        .create_asset(&caller.actor, asset)
        .await
        .map_err(name_taken)?;
    let mut rows = render(&state, &caller, &[asset], zone).await?;
    Ok((StatusCode::CREATED, Json(rows.pop().unwrap_or(Value::Null))))
}

async fn update(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    method: Method,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    // `PUT` sends every required field, `PATCH` only what changes.
    let partial = method == Method::PATCH;
    let stored = find(&state, &caller, &raw).await?;
    caller.actor.may(AdminAction::ManageAssets(stored.org_id))?;
    let fields = read_asset_fields(&body, !partial)?;
    // Only the fields sent: one not sent cannot undo a concurrent change of it.
    let change = AssetChange {
        org_id: None,
        name: fields.name,
        address: fields.address,
        platform: fields.platform,
        is_active: fields.is_active,
        node_ids: fields.nodes,
        comment: fields.comment,
    };
    let asset = state
        .engine
        .update_asset(&caller.actor, stored.id, change, now())
        .await
        .map_err(name_taken)?;
    let mut rows = render(&state, &caller, &[asset], zone).await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

async fn destroy(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let asset = find(&state, &caller, &raw).await?;
    state
        .engine
        .delete_asset(&caller.actor, asset.id)
        .await
        .map_err(core_error("Asset"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_read_by_name_number_or_object() {
        assert_eq!(parse_platform(&json!("linux")), Ok("Linux".into()));
        assert_eq!(parse_platform(&json!(5)), Ok("Windows".into()));
        assert_eq!(parse_platform(&json!("1")), Ok("Linux".into()));
        assert_eq!(parse_platform(&json!({"pk": 1})), Ok("Linux".into()));
        assert_eq!(parse_platform(&json!("AIX")), Ok("AIX".into()));
        assert!(parse_platform(&json!(99)).is_err());
        assert!(parse_platform(&json!([1])).is_err());
        assert!(parse_platform(&json!("")).is_err());
    }

    #[test]
    fn platforms_render_with_their_number_when_built_in() {
        assert_eq!(platform_json("Linux"), json!({"id": 1, "name": "Linux"}));
        assert_eq!(platform_json("AIX"), json!({"id": "AIX", "name": "AIX"}));
    }
}
