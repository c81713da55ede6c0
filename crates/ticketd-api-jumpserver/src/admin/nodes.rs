//! `/api/v1/assets/nodes/`: the asset tree in JumpServer's node serializer shape.

use super::{
    Checks, contains_ci, core_error, in_scope, list_answer, method_not_allowed, object_body,
    org_label_of, owning_org, page_items, path_id, scope_of,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{CallerInOrg, JsonBody};
use crate::format::{Zone, datetime};
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono_tz::Tz;
use serde_json::{Value, json};
use ticketd_core::AdminAction;
use ticketd_core::NodeId;
use ticketd_core::catalog::{CatalogQuery, Node};
use ticketd_core::identity::Org;
use ticketd_http::{AppState, now};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/assets/nodes/",
            get(list).post(create).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/assets/nodes/{id}/",
            get(detail)
                .put(rename)
                .patch(rename)
                .delete(destroy)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v1/assets/nodes/{id}/children/",
            get(children)
                .post(create_child)
                .fallback(method_not_allowed),
        )
}

/// A node; ticketd has no materialised keys (`1:2:3`), so `key` is the node's id.
fn node_json(node: &Node, orgs: &[Org], zone: Tz) -> Value {
    json!({
        "id": node.id.to_string(),
        "key": node.id.to_string(),
        "value": node.name,
        "name": node.name,
        "full_value": node.full_value,
        "parent": node.parent_id.map(|p| p.to_string()),
        "org_id": node.org_id.to_string(),
        "org_name": org_label_of(orgs, node.org_id),
        "date_created": datetime(node.created_at, zone),
    })
}

async fn render(
    state: &AppState,
    caller: &CallerInOrg,
    nodes: &[Node],
    zone: Tz,
) -> Result<Vec<Value>, ApiError> {
    let orgs = state.engine.orgs(&caller.actor).await?;
    Ok(nodes.iter().map(|n| node_json(n, &orgs, zone)).collect())
}

/// Every node of the request's scope (all organizations from the global one).
async fn nodes_in_scope(state: &AppState, caller: &CallerInOrg) -> Result<Vec<Node>, ApiError> {
    let query = CatalogQuery {
        org_ids: scope_of(&caller.org),
        ..CatalogQuery::default()
    };
    Ok(state.engine.nodes(&caller.actor, query).await?.1)
}

async fn list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let id = query.text("id").or_else(|| query.text("key"));
    let value = query.text("value").or_else(|| query.text("name"));
    let full_value = query.text("full_value");
    let search = query.text("search");
    let nodes: Vec<Node> = nodes_in_scope(&state, &caller)
        .await?
        .into_iter()
        .filter(|n| id.as_ref().is_none_or(|i| n.id.to_string() == *i))
        .filter(|n| value.as_ref().is_none_or(|v| n.name == *v))
        .filter(|n| full_value.as_ref().is_none_or(|f| n.full_value == *f))
        .filter(|n| {
            search
                .as_ref()
                .is_none_or(|s| contains_ci(&n.full_value, s))
        })
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = nodes.len();
    let rows = render(&state, &caller, &page_items(nodes, page), zone).await?;
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// A node visible from the request's organization.
pub(crate) async fn find(
    state: &AppState,
    caller: &CallerInOrg,
    raw: &str,
) -> Result<Node, ApiError> {
    let id = path_id(raw, "Node")?;
    let query = CatalogQuery {
        ids: Some(vec![id]),
        ..CatalogQuery::default()
    };
    match state.engine.nodes(&caller.actor, query).await?.1.pop() {
        Some(node) if in_scope(&caller.org, node.org_id) => Ok(node),
        _ => Err(ApiError::not_found("Node")),
    }
}

async fn detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let node = find(&state, &caller, &raw).await?;
    let mut rows = render(&state, &caller, &[node], zone).await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

async fn children(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let parent = find(&state, &caller, &raw).await?;
    let nodes: Vec<Node> = nodes_in_scope(&state, &caller)
        .await?
        .into_iter()
        .filter(|n| n.parent_id == Some(parent.id))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = nodes.len();
    let rows = render(&state, &caller, &page_items(nodes, page), zone).await?;
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// Creates the nodes of a path such as `/Default/Prod/DB` that do not exist yet; returns the last.
async fn create_path(
    state: &AppState,
    caller: &CallerInOrg,
    org: ticketd_core::OrgId,
    full_value: &str,
) -> Result<Node, ApiError> {
    let query = CatalogQuery {
        org_ids: Some(vec![org]),
        ..CatalogQuery::default()
    };
    let segments: Vec<&str> = full_value
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // Every segment is checked before any is created, so a refused path writes nothing.
    let mut checked = String::new();
    for segment in &segments {
        checked =
            ticketd_core::engine::check_node_name(&checked, segment).map_err(core_error("Node"))?;
    }
    let existing = state.engine.nodes(&caller.actor, query).await?.1;
    let mut current: Option<Node> = None;
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(segment);
        current = Some(match existing.iter().find(|n| n.full_value == path) {
            Some(node) => node.clone(),
            None => state
                .engine
                .create_node(
                    &caller.actor,
                    org,
                    segment,
                    current.as_ref().map(|n| n.id),
                    now(),
                )
                .await
                .map_err(core_error("Node"))?,
        });
    }
    current.ok_or_else(|| ApiError::field("full_value", "This field may not be blank."))
}

/// `POST` with `value` creates a top-level node (or a child of `parent`/`parent_id`); with
/// `full_value` it creates every missing node of the path.
async fn create(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.actor.may(AdminAction::ManageNodes(caller.org.id))?;
    object_body(&body)?;
    let mut checks = Checks::default();
    let full_value = checks
        .optional_text(&body, "full_value")
        .filter(|f| !f.is_empty());
    let value = if full_value.is_some() {
        None
    } else {
        checks.required_text(&body, "value")
    };
    let parent_field = if body.get("parent_id").is_some() {
        "parent_id"
    } else {
        "parent"
    };
    let parent = match body.get(parent_field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(_) => checks.required_id(&body, parent_field),
    };
    checks.finish()?;
    let org = owning_org(&caller.org)?;
    let node = match (full_value, value) {
        (Some(full_value), _) => create_path(&state, &caller, org, &full_value).await?,
        (None, value) => state
            .engine
            .create_node(
                &caller.actor,
                org,
                &value.unwrap_or_default(),
                parent.map(NodeId),
                now(),
            )
            .await
            .map_err(core_error("Node"))?,
    };
    let mut rows = render(&state, &caller, &[node], zone).await?;
    Ok((StatusCode::CREATED, Json(rows.pop().unwrap_or(Value::Null))))
}

/// `POST {id}/children/` with `value`: a child of that node, in the node's organization.
async fn create_child(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let parent = find(&state, &caller, &raw).await?;
    caller.actor.may(AdminAction::ManageNodes(parent.org_id))?;
    object_body(&body)?;
    let mut checks = Checks::default();
    let value = checks.required_text(&body, "value");
    checks.finish()?;
    let node = state
        .engine
        .create_node(
            &caller.actor,
            parent.org_id,
            &value.unwrap_or_default(),
            Some(parent.id),
            now(),
        )
        .await
        .map_err(core_error("Node"))?;
    let mut rows = render(&state, &caller, &[node], zone).await?;
    Ok((StatusCode::CREATED, Json(rows.pop().unwrap_or(Value::Null))))
}

/// `PUT {id}/` renames the node (`value` required), `PATCH {id}/` when `value` is given; its
/// descendants' paths follow.
async fn rename(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    method: Method,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let required = method == Method::PUT;
    let node = find(&state, &caller, &raw).await?;
    caller.actor.may(AdminAction::ManageNodes(node.org_id))?;
    object_body(&body)?;
    let mut checks = Checks::default();
    let value = if required || body.get("value").is_some() {
        checks.required_text(&body, "value")
    } else {
        None
    };
    checks.finish()?;
    let node = match value {
        Some(value) => state
            .engine
            .rename_node(&caller.actor, node.id, &value)
            .await
            .map_err(core_error("Node"))?,
        None => node,
    };
    let mut rows = render(&state, &caller, &[node], zone).await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

async fn destroy(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let node = find(&state, &caller, &raw).await?;
    state
        .engine
        .delete_node(&caller.actor, node.id)
        .await
        .map_err(core_error("Node"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ticketd_core::identity::DEFAULT_ORG;
    use uuid::Uuid;

    #[test]
    fn nodes_render_with_value_full_value_and_parent() {
        let node = Node {
            id: NodeId(Uuid::from_u128(2)),
            org_id: DEFAULT_ORG,
            name: "Prod".into(),
            parent_id: Some(NodeId(Uuid::from_u128(1))),
            full_value: "/Default/Prod".into(),
            created_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        };
        let value = node_json(&node, &[], chrono_tz::UTC);
        assert_eq!(value["value"], "Prod");
        assert_eq!(value["full_value"], "/Default/Prod");
        assert_eq!(value["parent"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(value["date_created"], "2026/01/02 03:04:05 +0000");
    }
}
