//! `/api/v1/authentication/access-keys/`: the caller's access keys; a secret is shown only once,
//! and a key is disabled and enabled again with `PUT`/`PATCH` of its `is_active`.

use super::{
    Checks, core_error, list_answer, method_not_allowed, object_body, page_items, path_id,
};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{Caller, JsonBody};
use crate::format::{Zone, datetime};
use crate::listing::{Page, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use chrono_tz::Tz;
use serde_json::{Value, json};
use ticketd_core::AccessKeyId;
use ticketd_core::identity::AccessKey;
use ticketd_http::{AppState, now};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/authentication/access-keys/",
            get(list).post(create).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/authentication/access-keys/{id}/",
            get(detail)
                .put(change)
                .patch(change)
                .delete(destroy)
                .fallback(method_not_allowed),
        )
}

/// A key without its secret: only the answer to the create ever carries that.
fn key_json(key: &AccessKey, zone: Tz) -> Value {
    json!({
        "id": key.id.to_string(),
        "is_active": key.is_active,
        "ip_group": ["*"],
        "date_created": datetime(key.created_at, zone),
        "date_last_used": null,
    })
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let keys = state.engine.access_keys(&actor, actor.id()).await?;
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = keys.len();
    let rows = page_items(keys, page)
        .iter()
        .map(|k| key_json(k, zone))
        .collect();
    Ok(list_answer(&parts, &query, page, total, rows))
}

/// Creates a key for the caller. JumpServer first asks for a recent password confirmation
/// (412); ticketd's callers are already authenticated with their own credentials, so it does not.
async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_ip_group(&body)?;
    let key = state.engine.create_access_key(actor.id(), now()).await?;
    let mut value = key_json(&key, zone);
    if let Value::Object(object) = &mut value {
        object.insert("secret".into(), Value::String(key.secret.clone()));
    }
    Ok((StatusCode::CREATED, Json(value)))
}

/// ticketd keeps no address restriction on a key: a key asked for with one is refused, not made
/// (or changed) without it (a caller would believe the key usable from those addresses only).
fn check_ip_group(body: &Value) -> Result<(), ApiError> {
    match body.get("ip_group") {
        None | Some(Value::Null) => Ok(()),
        // JumpServer reads an empty group as no address at all: only ["*"] is any address.
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(|i| i == "*") => Ok(()),
        Some(_) => Err(ApiError::field(
            "ip_group",
            "ticketd does not restrict access keys by address: only [\"*\"] (any address) is accepted",
        )),
    }
}

/// `PUT`/`PATCH {id}/`: `is_active` disables or enables the key (the other fields are
/// read-only, as in JumpServer's serializer; `ip_group` as at its creation).
async fn change(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let key = find(&state, &actor, &raw).await?;
    object_body(&body)?;
    check_ip_group(&body)?;
    let mut checks = Checks::default();
    let active = checks.optional_bool(&body, "is_active");
    checks.finish()?;
    let Some(active) = active else {
        return Ok(Json(key_json(&key, zone)));
    };
    let key = state
        .engine
        .set_access_key_active(&actor, key.id, active)
        .await
        .map_err(core_error("AccessKey"))?;
    Ok(Json(key_json(&key, zone)))
}

async fn find(
    state: &AppState,
    actor: &ticketd_core::Actor,
    raw: &str,
) -> Result<AccessKey, ApiError> {
    let id = AccessKeyId(path_id(raw, "AccessKey")?);
    state
        .engine
        .access_keys(actor, actor.id())
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found("AccessKey"))
}

async fn detail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Zone(zone): Zone,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = find(&state, &actor, &raw).await?;
    Ok(Json(key_json(&key, zone)))
}

async fn destroy(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = AccessKeyId(path_id(&raw, "AccessKey")?);
    state
        .engine
        .delete_access_key(&actor, id)
        .await
        .map_err(core_error("AccessKey"))?;
    Ok(StatusCode::NO_CONTENT)
}
