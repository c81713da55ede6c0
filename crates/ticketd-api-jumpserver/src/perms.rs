//! Asset permissions created by approved tickets: `/api/v1/perms/asset-permissions/`.

use crate::admin::{
    contains_ci, in_scope, list_answer, method_not_allowed, org_label_of, page_items, path_id,
    query_bool, scope_of,
};
use crate::choices::{Lang, actions};
use crate::error::ApiError;
use crate::extract::CallerInOrg;
use crate::extract::Path;
use crate::format::{Zone, datetime};
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use ticketd_core::catalog::{Asset, CatalogQuery, Node};
use ticketd_core::identity::{Org, User};
use ticketd_core::store::GrantQuery;
use ticketd_core::ticket::Grant;
use ticketd_http::{AppState, now};
use uuid::Uuid;

/// The grant kind JumpServer calls an asset permission.
const KIND: &str = "asset_permission";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/perms/asset-permissions/",
            get(list).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/perms/asset-permissions/{id}/",
            get(detail).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/perms/asset-permissions/{id}/users/all/",
            get(granted_users).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/perms/asset-permissions/{id}/assets/all/",
            get(granted_assets).fallback(method_not_allowed),
        )
}

/// The content of an asset-permission grant, read leniently: a grant renders even if a field
/// is missing from an older payload.
struct Content {
    assets: Vec<Uuid>,
    nodes: Vec<Uuid>,
    accounts: Vec<Value>,
    protocols: Vec<Value>,
    actions: u32,
}

impl Content {
    fn of(grant: &Grant) -> Self {
        let ids = |key: &str| -> Vec<Uuid> {
            grant.payload[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .filter_map(|s| Uuid::parse_str(s).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let list = |key: &str| grant.payload[key].as_array().cloned().unwrap_or_default();
        let protocols = list("protocols");
        Self {
            assets: ids("assets"),
            nodes: ids("nodes"),
            accounts: list("accounts"),
            protocols: if protocols.is_empty() {
                vec![json!("all")]
            } else {
                protocols
            },
            actions: grant.payload["actions"]
                .as_u64()
                .and_then(|bits| u32::try_from(bits).ok())
                .unwrap_or(0),
        }
    }
}

/// Everything the grants of one page name, each loaded with one query.
struct Names {
    users: Vec<User>,
    assets: Vec<Asset>,
    nodes: Vec<Node>,
    orgs: Vec<Org>,
}

impl Names {
    async fn load(
        state: &AppState,
        caller: &CallerInOrg,
        grants: &[Grant],
    ) -> Result<Self, ApiError> {
        let engine = &state.engine;
        let contents: Vec<Content> = grants.iter().map(Content::of).collect();
        let mut asset_ids: Vec<Uuid> = contents.iter().flat_map(|c| c.assets.clone()).collect();
        let mut node_ids: Vec<Uuid> = contents.iter().flat_map(|c| c.nodes.clone()).collect();
        asset_ids.sort_unstable();
        asset_ids.dedup();
        node_ids.sort_unstable();
        node_ids.dedup();
        let by_ids = |ids: Vec<Uuid>| CatalogQuery {
            ids: Some(ids),
            ..CatalogQuery::default()
        };
        let assets = if asset_ids.is_empty() {
            Vec::new()
        } else {
            engine.assets(&caller.actor, by_ids(asset_ids)).await?.1
        };
        let nodes = if node_ids.is_empty() {
            Vec::new()
        } else {
            engine.nodes(&caller.actor, by_ids(node_ids)).await?.1
        };
        let users = if grants.iter().all(|g| g.users.is_empty()) {
            Vec::new()
        } else {
            engine.users(&caller.actor, None).await?
        };
        let orgs = engine.orgs(&caller.actor).await?;
        Ok(Self {
            users,
            assets,
            nodes,
            orgs,
        })
    }
}

/// `is_valid`: active (grants always are) and inside the validity window.
fn is_valid(grant: &Grant, at: DateTime<Utc>) -> bool {
    grant.is_valid_at(at)
}

fn is_expired(grant: &Grant, at: DateTime<Utc>) -> bool {
    grant.valid_until.is_some_and(|until| until <= at)
}

/// A grant exactly as JumpServer renders an asset permission, in its field order. Objects
/// that no longer exist or that the caller cannot see are left out, as JumpServer drops deleted
/// members of a permission.
fn permission_json(grant: &Grant, names: &Names, lang: Lang, zone: Tz, at: DateTime<Utc>) -> Value {
    let content = Content::of(grant);
    let users: Vec<Value> = grant
        .users
        .iter()
        .filter_map(|id| names.users.iter().find(|u| u.id == *id))
        .map(|u| json!({"id": u.id.to_string(), "name": u.name}))
        .collect();
    let assets: Vec<Value> = content
        .assets
        .iter()
        .filter_map(|id| names.assets.iter().find(|a| a.id.uuid() == *id))
        .map(|a| json!({"id": a.id.to_string(), "name": a.name}))
        .collect();
    let nodes: Vec<Value> = content
        .nodes
        .iter()
        .filter_map(|id| names.nodes.iter().find(|n| n.id.uuid() == *id))
        .map(|n| json!({"id": n.id.to_string(), "name": n.name}))
        .collect();
    let date = |t: Option<DateTime<Utc>>| t.map(|t| datetime(t, zone));
    let (users_amount, assets_amount, nodes_amount) = (users.len(), assets.len(), nodes.len());
    json!({
        "id": grant.id.to_string(),
        "name": grant.name,
        "users": users,
        "user_groups": [],
        "assets": assets,
        "nodes": nodes,
        "labels": [],
        "users_amount": users_amount,
        "user_groups_amount": 0,
        "assets_amount": assets_amount,
        "nodes_amount": nodes_amount,
        "accounts": content.accounts,
        "protocols": content.protocols,
        "actions": actions(content.actions, lang),
        "org_id": grant.org_id.to_string(),
        "org_name": org_label_of(&names.orgs, grant.org_id),
        "is_active": true,
        "is_expired": is_expired(grant, at),
        "is_valid": is_valid(grant, at),
        "from_ticket": true,
        "date_created": datetime(grant.created_at, zone),
        "date_start": date(grant.valid_from),
        "date_expired": date(grant.valid_until),
        "created_by": grant.created_by,
        "comment": grant.comment,
    })
}

/// The list filters: JumpServer's names (`user_id`, `asset_id`, `node_id`, …) and the short
/// ones (`user`, `asset`, `node`).
struct Filters {
    id: Option<String>,
    name: Option<String>,
    search: Option<String>,
    user: Option<String>,
    username: Option<String>,
    asset: Option<String>,
    node: Option<String>,
    is_valid: Option<bool>,
}

impl Filters {
    fn from_query(query: &Query) -> Self {
        let either = |a: &str, b: &str| query.text(a).or_else(|| query.text(b));
        Self {
            id: query.text("id"),
            name: query.text("name"),
            search: query.text("search"),
            user: either("user", "user_id"),
            username: query.text("username"),
            asset: either("asset", "asset_id"),
            node: either("node", "node_id"),
            is_valid: query_bool(query, "is_valid"),
        }
    }

    /// Whether a filter value is this id (a value that is no UUID matches nothing).
    fn is_id(wanted: &str, id: Uuid) -> bool {
        Uuid::parse_str(wanted.trim()).is_ok_and(|w| w == id)
    }

    fn matches(&self, grant: &Grant, users: &[User], at: DateTime<Utc>) -> bool {
        let content = Content::of(grant);
        self.id.as_ref().is_none_or(|i| Self::is_id(i, grant.id))
            && self.name.as_ref().is_none_or(|n| grant.name == *n)
            && self
                .search
                .as_ref()
                .is_none_or(|s| contains_ci(&grant.name, s))
            && self
                .user
                .as_ref()
                .is_none_or(|u| grant.users.iter().any(|id| Self::is_id(u, id.uuid())))
            && self.username.as_ref().is_none_or(|name| {
                users
                    .iter()
                    .any(|u| u.username == *name && grant.users.contains(&u.id))
            })
            && self
                .asset
                .as_ref()
                .is_none_or(|a| content.assets.iter().any(|id| Self::is_id(a, *id)))
            && self
                .node
                .as_ref()
                .is_none_or(|n| content.nodes.iter().any(|id| Self::is_id(n, *id)))
            && self.is_valid.is_none_or(|v| is_valid(grant, at) == v)
    }
}

async fn list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    lang: Lang,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let filters = Filters::from_query(&query);
    let grant_query = GrantQuery {
        org_ids: scope_of(&caller.org),
        user: filters
            .user
            .as_deref()
            .and_then(ticketd_core::UserId::parse),
        kind: Some(KIND.into()),
        ..GrantQuery::default()
    };
    // The store filters by organization, user and kind; the other filters (and so the count)
    // are applied here over that set.
    let grants = state.engine.grants(&caller.actor, grant_query).await?;
    let users = if filters.username.is_some() {
        state.engine.users(&caller.actor, None).await?
    } else {
        Vec::new()
    };
    let at = now();
    let matching: Vec<Grant> = grants
        .into_iter()
        .filter(|g| g.kind == KIND && filters.matches(g, &users, at))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = matching.len();
    let grants = page_items(matching, page);
    let names = Names::load(&state, &caller, &grants).await?;
    let rows = grants
        .iter()
        .map(|g| permission_json(g, &names, lang, zone, at))
        .collect();
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// An asset permission visible from the request's organization.
async fn find(state: &AppState, caller: &CallerInOrg, raw: &str) -> Result<Grant, ApiError> {
    let id = path_id(raw, "AssetPermission")?;
    match state.engine.get_grant(&caller.actor, id).await {
        Ok(grant) if grant.kind == KIND && in_scope(&caller.org, grant.org_id) => Ok(grant),
        Ok(_) | Err(ticketd_core::DomainError::NotFound { .. }) => {
            Err(ApiError::not_found("AssetPermission"))
        }
        Err(other) => Err(other.into()),
    }
}

async fn detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Zone(zone): Zone,
    lang: Lang,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let grant = find(&state, &caller, &raw).await?;
    let grants = [grant];
    let names = Names::load(&state, &caller, &grants).await?;
    Ok(Json(permission_json(&grants[0], &names, lang, zone, now())))
}

/// `{id}/users/all/`: the permission's users as `{user, user_display}` rows.
async fn granted_users(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let grant = find(&state, &caller, &raw).await?;
    let grants = [grant];
    let names = Names::load(&state, &caller, &grants).await?;
    let rows: Vec<Value> = grants[0]
        .users
        .iter()
        .filter_map(|id| names.users.iter().find(|u| u.id == *id))
        .map(|u| json!({"id": u.id.to_string(), "user": u.id.to_string(), "user_display": u.display()}))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = rows.len();
    Ok(list_answer(
        &parts,
        &query,
        page,
        total,
        page_items(rows, page),
    ))
}

/// `{id}/assets/all/`: the permission's assets as `{asset, asset_display}` rows.
async fn granted_assets(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(raw): Path<String>,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let grant = find(&state, &caller, &raw).await?;
    let grants = [grant];
    let names = Names::load(&state, &caller, &grants).await?;
    let rows: Vec<Value> = Content::of(&grants[0])
        .assets
        .iter()
        .filter_map(|id| names.assets.iter().find(|a| a.id.uuid() == *id))
        .map(|a| json!({"id": a.id.to_string(), "asset": a.id.to_string(), "asset_display": a.display()}))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = rows.len();
    Ok(list_answer(
        &parts,
        &query,
        page,
        total,
        page_items(rows, page),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ticketd_core::identity::{DEFAULT_ORG, SystemRole};
    use ticketd_core::{AssetId, TicketId, UserId};

    fn grant(from: DateTime<Utc>, until: DateTime<Utc>) -> Grant {
        let id = Uuid::from_u128(9);
        Grant {
            id,
            ticket_id: TicketId(id),
            org_id: DEFAULT_ORG,
            kind: KIND.into(),
            name_candidates: Vec::new(),
            name: "Created by ticket (t-0009)".into(),
            users: vec![UserId(Uuid::from_u128(1))],
            members: Vec::new(),
            payload: json!({"assets": [Uuid::from_u128(2)], "nodes": [], "accounts": ["@ALL"], "actions": 3, "protocols": ["all"]}),
            valid_from: Some(from),
            valid_until: Some(until),
            created_by: format!("ApplyAssetTicket:{id}"),
            comment: "c".into(),
            created_at: from,
        }
    }

    #[test]
    fn permissions_render_in_jumpservers_field_order_and_validity() {
        let t = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
        let g = grant(t(1), t(8));
        let names = Names {
            users: vec![User {
                id: UserId(Uuid::from_u128(1)),
                username: "alice".into(),
                name: "Alice".into(),
                email: String::new(),
                system_role: SystemRole::User,
                is_active: true,
                created_at: t(1),
                updated_at: t(1),
            }],
            assets: vec![Asset {
                id: AssetId(Uuid::from_u128(2)),
                org_id: DEFAULT_ORG,
                name: "db-1".into(),
                address: "10.0.0.1".into(),
                platform: "Linux".into(),
                is_active: true,
                node_ids: Vec::new(),
                comment: String::new(),
                created_at: t(1),
                updated_at: t(1),
            }],
            nodes: Vec::new(),
            orgs: Vec::new(),
        };
        let inside = permission_json(&g, &names, Lang::En, chrono_tz::UTC, t(2));
        let keys: Vec<&String> = inside.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..8],
            [
                "id",
                "name",
                "users",
                "user_groups",
                "assets",
                "nodes",
                "labels",
                "users_amount"
            ]
        );
        assert_eq!(
            inside["users"],
            json!([{"id": "00000000-0000-0000-0000-000000000001", "name": "Alice"}])
        );
        assert_eq!(inside["assets"][0]["name"], "db-1");
        assert_eq!(inside["actions"][1]["value"], "upload");
        assert_eq!(
            (inside["is_valid"].clone(), inside["is_expired"].clone()),
            (json!(true), json!(false))
        );
        let after = permission_json(&g, &names, Lang::En, chrono_tz::UTC, t(9));
        assert_eq!(
            (after["is_valid"].clone(), after["is_expired"].clone()),
            (json!(false), json!(true))
        );
        let before = permission_json(
            &g,
            &names,
            Lang::En,
            chrono_tz::UTC,
            t(1) - chrono::Duration::hours(1),
        );
        assert_eq!(
            (before["is_valid"].clone(), before["is_expired"].clone()),
            (json!(false), json!(false))
        );
    }
}
