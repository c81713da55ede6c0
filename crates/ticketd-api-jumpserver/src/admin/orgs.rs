//! `/api/v1/orgs/orgs/`: organizations in JumpServer's organization serializer shape.

use super::{
    Checks, contains_ci, core_error, list_answer, method_not_allowed, object_body, page_items,
    path_id,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{Caller, JsonBody};
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
use ticketd_core::identity::{DEFAULT_ORG, Org, ROOT_ORG, SYSTEM_ORG};
use ticketd_core::{DomainError, OrgId};
use ticketd_http::{AppState, now};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/orgs/orgs/",
            get(list).post(create).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/orgs/orgs/{id}/",
            get(detail)
                .put(update)
                .patch(update)
                .delete(destroy)
                .fallback(method_not_allowed),
        )
}

fn org_json(org: &Org, zone: Tz) -> Value {
    json!({
        "id": org.id.to_string(),
        "name": org.name,
        "comment": org.comment,
        "internal": org.builtin,
        "is_default": org.id == DEFAULT_ORG,
        "is_root": org.id == ROOT_ORG,
        "is_system": org.id == SYSTEM_ORG,
        "created_by": if org.builtin { "System" } else { "" },
        "date_created": datetime(org.created_at, zone),
    })
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let name = query.text("name");
    let search = query.text("search");
    let id = query.text("id");
    // JumpServer's global and system organizations are not rows one picks from the list.
    let orgs: Vec<Org> = state
        .engine
        .orgs(&actor)
        .await?
        .into_iter()
        .filter(|o| o.id != ROOT_ORG && o.id != SYSTEM_ORG)
        .filter(|o| name.as_ref().is_none_or(|n| o.name == *n))
        .filter(|o| id.as_ref().is_none_or(|i| o.id.to_string() == *i))
        .filter(|o| search.as_ref().is_none_or(|s| contains_ci(&o.name, s)))
        .collect();
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = orgs.len();
    let rows = page_items(orgs, page)
        .iter()
        .map(|o| org_json(o, zone))
        .collect();
    Ok(list_answer(&parts, &query, page, total, rows))
}

async fn find(state: &AppState, actor: &ticketd_core::Actor, raw: &str) -> Result<Org, ApiError> {
    let id = OrgId(path_id(raw, "Organization")?);
    state
        .engine
        .orgs(actor)
        .await?
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(|| ApiError::not_found("Organization"))
}

async fn detail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = find(&state, &actor, &raw).await?;
    Ok(Json(org_json(&org, zone)))
}

/// A taken name is a field error on `name`, as Django's unique check reports it.
fn name_taken(error: DomainError) -> ApiError {
    match error {
        DomainError::Conflict(_) => {
            ApiError::field("name", "Organization with this name already exists.")
        }
        other => core_error("Organization")(other),
    }
}

/// Reads `name` (required unless `partial`) and `comment` (optional; absent keeps it).
fn read_fields(body: &Value, partial: bool) -> Result<(Option<String>, Option<String>), ApiError> {
    object_body(body)?;
    let mut checks = Checks::default();
    let name = checks.text(body, "name", !partial);
    let comment = checks.optional_text(body, "comment");
    checks.finish()?;
    Ok((name, comment))
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    actor.may(AdminAction::CreateOrg)?;
    let (name, comment) = read_fields(&body, false)?;
    let org = state
        .engine
        .create_org_with_comment(
            Some(&actor),
            &name.unwrap_or_default(),
            &comment.unwrap_or_default(),
            now(),
        )
        .await
        .map_err(name_taken)?;
    Ok((StatusCode::CREATED, Json(org_json(&org, zone))))
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    method: Method,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    // `PUT` sends every required field, `PATCH` only what changes.
    let partial = method == Method::PATCH;
    let org = find(&state, &actor, &raw).await?;
    actor.may(AdminAction::ChangeOrg)?;
    let (name, comment) = read_fields(&body, partial)?;
    // Only the fields given are written, so a concurrent change of the others stays.
    let org = state
        .engine
        .change_org(&actor, org.id, name.as_deref(), comment.as_deref())
        .await
        .map_err(name_taken)?;
    Ok(Json(org_json(&org, zone)))
}

async fn destroy(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let org = find(&state, &actor, &raw).await?;
    state
        .engine
        .delete_org(&actor, org.id)
        .await
        .map_err(core_error("Organization"))?;
    Ok(StatusCode::NO_CONTENT)
}
