//! Ticket routes: lists, details, open, approve, reject, close, bulk, comments, super-tickets, audits.

pub(crate) mod filters;
mod input;
pub(crate) mod render;

use crate::choices::{self, Lang};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{Caller, CallerInOrg, JsonBody};
use crate::format::Zone;
use crate::listing::{
    Page, Query, TICKET_FIELD_SIZES, page_body, paginated, select_fields, select_row_fields,
};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use axum::{Extension, Json, Router};
use input::Errors;
use render::{Context, TicketView};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use ticketd_core::catalog::CatalogQuery;
use ticketd_core::engine::{FlowChoice, NewTicket, TicketCommand, any_level};
use ticketd_core::identity::ROOT_ORG;
use ticketd_core::selector::Selector;
use ticketd_core::ticket::{KIND_APPLY_ASSET, Ticket, TicketState};
use ticketd_core::{Actor, ConflictKind, DomainError, FlowId, TicketId, UserId};
use ticketd_http::rendered::RenderForm;
use ticketd_http::{AppState, now};

/// The ticket type a typed route serves.
#[derive(Clone, Copy, Debug)]
struct Kind(&'static str);

/// Typed route prefixes and their ticket types.
const TYPED: [(&str, &str); 4] = [
    ("apply-asset-tickets", "apply_asset"),
    ("apply-login-tickets", "login_confirm"),
    ("apply-login-asset-tickets", "login_asset_confirm"),
    ("apply-command-tickets", "command_confirm"),
];

fn with_kind(route: MethodRouter<AppState>, kind: &'static str) -> MethodRouter<AppState> {
    route.layer(Extension(Kind(kind)))
}

pub(crate) fn router() -> Router<AppState> {
    let base = "/api/v1/tickets";
    let mut router = Router::new()
        .route(
            &format!("{base}/tickets/"),
            get(list_tickets).fallback(not_allowed),
        )
        .route(
            &format!("{base}/tickets/open/"),
            MethodRouter::new().fallback(not_allowed),
        )
        .route(
            &format!("{base}/tickets/bulk/"),
            MethodRouter::new().fallback(not_allowed),
        )
        .route(
            &format!("{base}/tickets/{{id}}/"),
            get(ticket_detail).fallback(not_allowed),
        )
        .route(
            &format!("{base}/tickets/{{id}}/approve/"),
            MethodRouter::new().fallback(not_allowed),
        )
        .route(&format!("{base}/tickets/{{id}}/reject/"), put(reject))
        .route(&format!("{base}/tickets/{{id}}/close/"), put(close))
        .route(&format!("{base}/tickets/{{id}}/session/"), get(no_session))
        .route(
            &format!("{base}/comments/"),
            get(list_comments).post(add_comment),
        )
        .route(&format!("{base}/comments/{{id}}/"), get(comment_detail))
        .route(
            &format!("{base}/super-tickets/{{id}}/status/"),
            get(super_status).delete(super_close),
        )
        .route(&format!("{base}/apply-assets/"), get(apply_assets))
        .route(
            &format!("{base}/apply-assets/suggestions/"),
            get(asset_suggestions),
        )
        .route(
            &format!("{base}/apply-assets/{{id}}/"),
            get(apply_asset_detail),
        )
        .route(&format!("{base}/apply-nodes/"), get(apply_nodes))
        .route(
            &format!("{base}/apply-nodes/suggestions/"),
            get(node_suggestions),
        )
        .route(
            &format!("{base}/apply-nodes/{{id}}/"),
            get(apply_node_detail),
        )
        .route("/api/v1/audits/tickets/", get(audit_list))
        .route("/api/v1/audits/tickets/{id}/", get(audit_detail));
    for (prefix, kind) in TYPED {
        router = router
            .route(
                &format!("{base}/{prefix}/"),
                with_kind(get(list_typed).fallback(not_allowed), kind),
            )
            .route(
                &format!("{base}/{prefix}/open/"),
                with_kind(post(open_typed), kind),
            )
            .route(
                &format!("{base}/{prefix}/bulk/"),
                with_kind(put(bulk), kind),
            )
            .route(
                &format!("{base}/{prefix}/{{id}}/"),
                with_kind(get(typed_detail).fallback(not_allowed), kind),
            )
            .route(
                &format!("{base}/{prefix}/{{id}}/approve/"),
                with_kind(put(approve).patch(approve), kind),
            )
            .route(
                &format!("{base}/{prefix}/{{id}}/reject/"),
                with_kind(put(reject), kind),
            )
            .route(
                &format!("{base}/{prefix}/{{id}}/close/"),
                with_kind(put(close), kind),
            );
    }
    router
}

/// DRF's answer for methods a route does not support: the routes' fallback, so the 405's `Allow`
/// header (which axum adds to a fallback's answer) lists only the methods that work.
async fn not_allowed(parts: Parts) -> ApiError {
    let action = match parts.method.as_str() {
        "POST" => "create",
        "PUT" | "PATCH" => "update",
        "DELETE" => "destroy",
        other => other,
    };
    ApiError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{action}\" not allowed."),
        "method_not_allowed",
    )
}

async fn no_session() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Maps "no such ticket" to JumpServer's model name for the route.
fn model(kind: Option<Kind>) -> &'static str {
    match kind.map(|k| k.0) {
        Some("apply_asset") => "ApplyAssetTicket",
        Some("login_confirm") => "ApplyLoginTicket",
        Some("login_asset_confirm") => "ApplyLoginAssetTicket",
        Some("command_confirm") => "ApplyCommandTicket",
        _ => "Ticket",
    }
}

fn domain(error: DomainError, kind: Option<Kind>) -> ApiError {
    match error {
        DomainError::NotFound { kind: "ticket", .. } => ApiError::not_found(model(kind)),
        other => other.into(),
    }
}

/// A ticket the caller may read, of the route's type.
async fn load(
    state: &AppState,
    actor: &Actor,
    raw: &str,
    kind: Option<Kind>,
) -> Result<Ticket, ApiError> {
    let id = TicketId::parse(raw).ok_or_else(|| ApiError::not_found(model(kind)))?;
    let ticket = state
        .engine
        .get_ticket(actor, id)
        .await
        .map_err(|e| domain(e, kind))?;
    // Archived tickets are hidden from the lists only (core-model.md): their readers still
    // open them, as the comments and the other dialects do.
    if kind.is_some_and(|k| k.0 != ticket.kind) || ticket.state == TicketState::Draft {
        return Err(ApiError::not_found(model(kind)));
    }
    Ok(ticket)
}

async fn render_one(
    state: &AppState,
    actor: &Actor,
    ticket: &Ticket,
    lang: Lang,
    zone: chrono_tz::Tz,
    typed: bool,
) -> Result<Value, ApiError> {
    let ctx = Context::load(state, actor, std::slice::from_ref(ticket), lang, zone).await?;
    Ok(render::ticket(ticket, &ctx, typed))
}

/// A ticket's detail answer, serialized straight to bytes unless `?fields=` trims it.
async fn detail(
    state: &AppState,
    actor: &Actor,
    ticket: &Ticket,
    query: &Query,
    lang: Lang,
    zone: chrono_tz::Tz,
    typed: bool,
) -> Result<Response, ApiError> {
    if query.selects_fields() {
        let rendered = render_one(state, actor, ticket, lang, zone, typed).await?;
        return Ok(Json(select_fields(query, Some(&TICKET_FIELD_SIZES), rendered)).into_response());
    }
    let rendered = rendered_tickets(
        state,
        actor,
        std::slice::from_ref(ticket),
        lang,
        zone,
        typed,
    )
    .await?;
    let [json] = rendered.as_slice() else {
        return Err(ApiError::Internal("one ticket rendered as many".into()));
    };
    let json: &RawValue = json;
    Ok(ticketd_http::json::sized_response(&json, json.get().len()))
}

/// `tickets` in JumpServer's serializer shape, each rendered straight to JSON or as an earlier
/// answer rendered it (`RenderedTickets`).
async fn rendered_tickets(
    state: &AppState,
    actor: &Actor,
    tickets: &[Ticket],
    lang: Lang,
    zone: chrono_tz::Tz,
    typed: bool,
) -> Result<Vec<ticketd_http::rendered::RenderedJson>, ApiError> {
    let form = RenderForm {
        view: if typed {
            "jumpserver.typed"
        } else {
            "jumpserver.ticket"
        },
        lang: lang.code(),
        zone,
    };
    state
        .rendered
        .page(
            state.engine.store().local_reference_version(),
            actor.id(),
            form,
            tickets,
            async |missing| {
                Context::load(state, actor, missing.iter().copied(), lang, zone)
                    .await
                    .map_err(ApiError::from)
            },
            |ctx, ticket| {
                serde_json::value::to_raw_value(&TicketView { ticket, ctx, typed })
                    .map_err(|e| ApiError::Internal(format!("rendering a ticket: {e}")))
            },
        )
        .await
}

/// Which tickets a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Tickets the caller is related to; `assignees__id=<me>` narrows to "my current steps".
    Mine,
    /// Every ticket of the current organization (the audit console).
    Audit,
}

#[allow(clippy::too_many_arguments, reason = "one extractor per request part")]
async fn list(
    state: &AppState,
    actor: &Actor,
    audited_org: Option<&ticketd_core::identity::Org>,
    query: &Query,
    uri: &Uri,
    headers: &axum::http::HeaderMap,
    lang: Lang,
    zone: chrono_tz::Tz,
    kind: Option<Kind>,
    scope: Scope,
) -> Result<Response, ApiError> {
    let page = Page::from_query(query, state.settings.max_page_size);
    let Some(mut q) = filters::ticket_query(state, actor, query, kind.map(|k| k.0), now()).await?
    else {
        return Ok(Json(paginated(uri, headers, page, 0, Vec::new())).into_response());
    };
    q.limit = page.fetch();
    q.offset = page.offset;
    q.with_total = page.limit.is_some();
    let result = match (scope, audited_org) {
        (Scope::Audit, Some(org)) => {
            if !actor.may_read_org(org.id) {
                return Err(DomainError::Forbidden {
                    action: "audit tickets".into(),
                }
                .into());
            }
            // The organization's tickets, narrowed by the filters' organizations (`org_id`,
            // `org_name`, …) rather than replacing them, as django-filter narrows JumpServer's
            // organization-scoped list.
            if org.id != ROOT_ORG {
                q.org_ids = match q.org_ids.take() {
                    Some(filtered) => Some(filtered.into_iter().filter(|o| *o == org.id).collect()),
                    None => Some(vec![org.id]),
                };
            }
            state.engine.list_tickets(actor, q).await?
        }
        _ => state.engine.list_related_tickets(actor, q).await?,
    };
    let total = result.total.unwrap_or(result.items.len() as u64);
    let typed = kind.is_some();
    if query.selects_fields() {
        let ctx = Context::load(state, actor, result.items.iter(), lang, zone).await?;
        let rows = result
            .items
            .iter()
            .map(|t| render::ticket(t, &ctx, typed))
            .collect();
        let rows = select_row_fields(query, Some(&TICKET_FIELD_SIZES), rows);
        return Ok(Json(paginated(uri, headers, page, total, rows)).into_response());
    }
    let rows = rendered_tickets(state, actor, &result.items, lang, zone, typed).await?;
    let rows: Vec<&RawValue> = rows.iter().map(|json| &***json).collect();
    let size_hint = 512 + rows.iter().map(|json| json.get().len()).sum::<usize>();
    Ok(ticketd_http::json::sized_response(
        &page_body(uri, headers, page, total, rows),
        size_hint,
    ))
}

#[allow(
    clippy::too_many_arguments,
    reason = "axum handler: one extractor per request part"
)]
async fn list_tickets(
    State(state): State<AppState>,
    Caller(actor): Caller,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    list(
        &state,
        &actor,
        None,
        &query,
        &uri,
        &headers,
        lang,
        zone,
        None,
        Scope::Mine,
    )
    .await
}

#[allow(
    clippy::too_many_arguments,
    reason = "axum handler: one extractor per request part"
)]
async fn list_typed(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    Caller(actor): Caller,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    list(
        &state,
        &actor,
        None,
        &query,
        &uri,
        &headers,
        lang,
        zone,
        Some(kind),
        Scope::Mine,
    )
    .await
}

#[allow(
    clippy::too_many_arguments,
    reason = "axum handler: one extractor per request part"
)]
async fn audit_list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    list(
        &state,
        &caller.actor,
        Some(&caller.org),
        &query,
        &uri,
        &headers,
        lang,
        zone,
        None,
        Scope::Audit,
    )
    .await
}

async fn ticket_detail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    query: Query,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    let ticket = load(&state, &actor, &id, None).await?;
    detail(&state, &actor, &ticket, &query, lang, zone, false).await
}

async fn audit_detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(id): Path<String>,
    query: Query,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    let ticket = load(&state, &caller.actor, &id, None).await?;
    // The audit list's scope: the request's organization (every one from the global one). A
    // system role read another organization's ticket here (until 2026-12-07), which its list
    // there did not show.
    let in_scope = caller.org.id == ROOT_ORG || caller.org.id == ticket.org_id;
    if !in_scope || !caller.actor.may_read_org(ticket.org_id) {
        return Err(ApiError::not_found("Ticket"));
    }
    detail(&state, &caller.actor, &ticket, &query, lang, zone, false).await
}

async fn typed_detail(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    query: Query,
    lang: Lang,
    Zone(zone): Zone,
) -> Result<Response, ApiError> {
    let ticket = load(&state, &actor, &id, Some(kind)).await?;
    detail(&state, &actor, &ticket, &query, lang, zone, true).await
}

/// `POST <typed>/open/` → 201 with the typed serializer.
async fn open_typed(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let actor = &caller.actor;
    let request = if kind.0 == KIND_APPLY_ASSET {
        let open = input::open_asset(&state, actor, &body, zone).await?;
        NewTicket {
            id: open.id.map(TicketId),
            org_id: open.org.id,
            kind: KIND_APPLY_ASSET.into(),
            title: open.title,
            payload: open.content,
            comment: open.comment,
            scope: String::new(),
            flow: open
                .flow_id
                .map_or(FlowChoice::Auto, |f| FlowChoice::Id(FlowId(f))),
            submit: true,
            // Honoured for whoever may open tickets for others (JumpServer's
            // `tickets.add_superticket`), and ignored, not refused, for anyone else.
            applicant: open
                .applicant
                .filter(|_| actor.may_open_for_others())
                .map(UserId),
            cc_users: Vec::new(),
        }
    } else {
        system_ticket(&state, actor, kind, &body, zone).await?
    };
    // Another API's flow (a TopHC process, a ZStack collection) is none of JumpServer's, which
    // `flows/` neither shows nor offers: not one a ticket opened here may name either.
    if let FlowChoice::Id(id) = &request.flow
        && let Ok(flow) = state.engine.get_flow(actor, *id).await
        && !crate::flows::managed_here(&flow)
    {
        return Err(ApiError::Fields(vec![(
            "flow_id".into(),
            "The selected ticket flow is not available".into(),
        )]));
    }
    let ticket = state
        .engine
        .open_ticket(actor, request, now())
        .await
        .map_err(|e| open_error(e, kind))?;
    // Straight to bytes, as a detail answer is: a `Value` first would build every field as a
    // map entry and then serialize it again (a quarter of the workers' time per opening).
    let ctx = Context::load(&state, actor, std::slice::from_ref(&ticket), lang, zone).await?;
    let view = TicketView {
        ticket: &ticket,
        ctx: &ctx,
        typed: true,
    };
    let answer = ticketd_http::json::sized_response(&view, OPENED_TICKET_SIZE_HINT);
    Ok((StatusCode::CREATED, answer).into_response())
}

/// Bytes reserved for an opened ticket's answer: an `apply_asset` ticket with a two-level flow
/// renders to about 1.5 KB.
const OPENED_TICKET_SIZE_HINT: usize = 2_048;

fn open_error(error: DomainError, kind: Kind) -> ApiError {
    match error {
        DomainError::Forbidden { ref action } if action.contains("organization") => {
            ApiError::field("org_id", "You are not a member of this organization.")
        }
        DomainError::Validation(fields)
            if fields
                .iter()
                .any(|f| f.field == "flow" && f.code == "not_found") =>
        {
            ApiError::field(
                "non_field_errors",
                format!("The ticket flow `{}` does not exist", kind.0),
            )
        }
        other => domain(other, Some(kind)),
    }
}

/// Login, login-asset and command tickets are opened by other systems: system administrators
/// (or their API clients) name the applicant and the reviewers, or a flow.
async fn system_ticket(
    state: &AppState,
    actor: &Actor,
    kind: Kind,
    body: &Value,
    zone: chrono_tz::Tz,
) -> Result<NewTicket, ApiError> {
    // These types are opened by other systems (ACLs, components); only system administrators
    // and their API clients open them here.
    if !actor.is_system_admin() {
        return Err(DomainError::Forbidden {
            action: format!("open {} tickets", kind.0),
        }
        .into());
    }
    let object = crate::format::object_body(body)?;
    let mut errors = Errors::default();
    let title = input::opt_string(object, "title", &mut errors).filter(|t| !t.is_empty());
    if title.is_none() && !object.contains_key("title") {
        errors.add("title", "This field is required.");
    }
    let org = if object.contains_key("org_id") {
        input::org_field(state, actor, object, &mut errors)
            .await
            .map(|o| o.id)
    } else {
        Some(ROOT_ORG)
    };
    let applicant = input::uuid_field(object, "applicant", &mut errors);
    let flow_id = input::uuid_field(object, "flow_id", &mut errors);
    let assignees = match object.get("assignees") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => match crate::format::parse_id_list(value) {
            Ok(ids) => ids,
            Err(message) => {
                errors.add("assignees", message);
                Vec::new()
            }
        },
    };
    if assignees.is_empty() && flow_id.is_none() {
        errors.add("assignees", "Give the reviewers (assignees) or a flow_id.");
    }
    // A reviewer's id that names no user is refused, as DRF refuses a primary key that names
    // nothing (it was dropped, and the ticket opened with fewer reviewers, or none).
    for &id in &assignees {
        match state.engine.get_user(actor, UserId(id)).await {
            Ok(_) => {}
            Err(DomainError::NotFound { .. }) => {
                errors.add("assignees", crate::format::invalid_pk(id));
                break;
            }
            Err(other) => return Err(other.into()),
        }
    }
    let content = input::system_content(kind.0, object, zone, &mut errors);
    let comment = input::opt_string(object, "comment", &mut errors).unwrap_or_default();
    errors.finish()?;
    let flow = match flow_id {
        Some(flow) => FlowChoice::Id(FlowId(flow)),
        None => FlowChoice::Explicit(vec![any_level(Selector::Ids {
            ids: assignees.into_iter().map(UserId).collect(),
        })]),
    };
    Ok(NewTicket {
        id: None,
        org_id: org.unwrap_or(ROOT_ORG),
        kind: kind.0.into(),
        title: title.unwrap_or_default(),
        payload: content,
        comment,
        scope: String::new(),
        flow,
        submit: true,
        applicant: applicant.map(UserId),
        cc_users: Vec::new(),
    })
}

/// Acting on a ticket the caller may read but is not an assignee of answers 403; JumpServer
/// answers 409 when the caller is an assignee of another step.
fn act_error(error: DomainError, kind: Option<Kind>) -> ApiError {
    domain(error, kind)
}

async fn act(
    state: &AppState,
    actor: &Actor,
    id: &str,
    kind: Option<Kind>,
    command: TicketCommand,
) -> Result<Json<Value>, ApiError> {
    let ticket = load(state, actor, id, kind).await?;
    state
        .engine
        .act_on(actor, ticket, command, now())
        .await
        .map_err(|e| act_error(e, kind))?;
    Ok(Json(json!("ok")))
}

/// `PUT|PATCH <typed>/{id}/approve/`: apply_asset approvers may edit the content (§4.4).
async fn approve(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    Zone(zone): Zone,
    lang: Lang,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let ticket = load(&state, &actor, &id, Some(kind)).await?;
    let (payload, changes) = if kind.0 == KIND_APPLY_ASSET {
        if ticket.state.is_finished() {
            return Err(DomainError::InvalidTransition {
                action: "approve",
                state: "closed",
                conflict: ConflictKind::AlreadyProcessed,
            }
            .into());
        }
        match input::approve_edits(&state, &actor, &ticket, &body, zone).await? {
            Some(edited) => {
                let changes =
                    render::edit_table(&state, &actor, &ticket, &edited, lang, zone).await?;
                (Some(edited), changes)
            }
            None => (None, None),
        }
    } else {
        (None, None)
    };
    let reason = body
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    state
        .engine
        .act_on(
            &actor,
            ticket,
            TicketCommand::Approve {
                reason,
                payload,
                changes,
            },
            now(),
        )
        .await
        .map_err(|e| act_error(e, Some(kind)))?;
    Ok(Json(json!("ok")))
}

async fn reject(
    State(state): State<AppState>,
    kind: Option<Extension<Kind>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(
        &state,
        &actor,
        &id,
        kind.map(|k| k.0),
        TicketCommand::Reject {
            reason: String::new(),
        },
    )
    .await
}

async fn close(
    State(state): State<AppState>,
    kind: Option<Extension<Kind>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(
        &state,
        &actor,
        &id,
        kind.map(|k| k.0),
        TicketCommand::Close {
            reason: String::new(),
        },
    )
    .await
}

/// `PUT <typed>/bulk/?action=approve|reject` with `{"tickets": [ids]}` (§4.6).
async fn bulk(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    Caller(actor): Caller,
    query: Query,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, Response> {
    let error = |message: String| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
    };
    let approve = match query.get("action") {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return Err(error(
                "The parameter 'action' must be [approve,reject]".into(),
            ));
        }
    };
    let ids = body.get("tickets").map(crate::format::parse_id_list);
    let ids = match ids {
        Some(Ok(ids)) => ids,
        Some(Err(message)) => return Err(error(format!("tickets: {message}"))),
        None => return Err(error("tickets: This field is required.".into())),
    };
    for id in ids {
        let Ok(ticket) = state.engine.get_ticket(&actor, TicketId(id)).await else {
            continue;
        };
        if ticket.kind != kind.0 || ticket.state != TicketState::Pending {
            continue;
        }
        let command = if approve {
            TicketCommand::Approve {
                reason: String::new(),
                payload: None,
                changes: None,
            }
        } else {
            TicketCommand::Reject {
                reason: String::new(),
            }
        };
        let (title, applicant) = (ticket.title.clone(), ticket.applicant_display.clone());
        match state.engine.act_on(&actor, ticket, command, now()).await {
            Ok(_) => {}
            // Decided by another since it was read: as a ticket that was not pending, skipped.
            Err(DomainError::InvalidTransition {
                conflict: ConflictKind::AlreadyProcessed,
                ..
            }) => {}
            Err(
                busy @ DomainError::InvalidTransition {
                    conflict: ConflictKind::Busy,
                    ..
                },
            ) => return Err(ApiError::from(busy).into_response()),
            Err(DomainError::Forbidden { .. } | DomainError::InvalidTransition { .. }) => {
                return Err(error(format!(
                    "User does not have permission: {title}({applicant})"
                )));
            }
            Err(DomainError::Validation(fields)) => {
                let messages: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                return Err(error(format!("{title}: {}", messages.join("; "))));
            }
            Err(other) => return Err(ApiError::from(other).into_response()),
        }
    }
    Ok(Json(json!("ok")))
}

fn comment_json(comment: &ticketd_core::ticket::Comment, zone: chrono_tz::Tz) -> Value {
    let time = crate::format::datetime(comment.created_at, zone);
    json!({
        "id": comment.id.to_string(),
        "body": comment.body,
        "user_display": comment.user_display,
        "date_created": time,
        "date_updated": time,
        "ticket": comment.ticket_id.to_string(),
        "user": comment.user_id.map(|u| u.to_string()),
    })
}

/// The ticket `ticket_id` names, if the caller may read it as JumpServer shows tickets: a draft
/// (a TopHC concept, 404 in the ticket routes) has no comments here either.
async fn comment_ticket(
    state: &AppState,
    actor: &Actor,
    query: &Query,
) -> Result<TicketId, ApiError> {
    let raw = query.get("ticket_id").unwrap_or_default();
    let Some(id) = TicketId::parse(raw) else {
        return Err(comment_error(DomainError::ticket_not_found(raw), query));
    };
    match state.engine.get_ticket(actor, id).await {
        Ok(ticket) if ticket.state == TicketState::Draft => {
            Err(comment_error(DomainError::ticket_not_found(raw), query))
        }
        Ok(_) => Ok(id),
        Err(error) => Err(comment_error(error, query)),
    }
}

fn comment_error(error: DomainError, query: &Query) -> ApiError {
    match error {
        DomainError::NotFound { .. } => ApiError::detail(
            StatusCode::BAD_REQUEST,
            format!(
                "Not found Ticket object about `id={}`",
                query.get("ticket_id").unwrap_or_default()
            ),
            "error",
        ),
        other => other.into(),
    }
}

async fn list_comments(
    State(state): State<AppState>,
    Caller(actor): Caller,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
    Zone(zone): Zone,
) -> Result<Json<Value>, ApiError> {
    let ticket = comment_ticket(&state, &actor, &query).await?;
    let comments = state
        .engine
        .comments(&actor, ticket)
        .await
        .map_err(|e| comment_error(e, &query))?;
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = comments.len() as u64;
    let rows: Vec<Value> = comments
        .iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.fetch() as usize)
        .map(|c| comment_json(c, zone))
        .collect();
    Ok(Json(paginated(&uri, &headers, page, total, rows)))
}

async fn add_comment(
    State(state): State<AppState>,
    Caller(actor): Caller,
    query: Query,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let ticket = comment_ticket(&state, &actor, &query).await?;
    let object = crate::format::object_body(&body)?;
    let mut errors = Errors::default();
    let text = input::opt_string(object, "body", &mut errors);
    if text.is_none() && !object.contains_key("body") {
        errors.add("body", "This field is required.");
    }
    errors.finish()?;
    let comment = state
        .engine
        .add_comment(&actor, ticket, &text.unwrap_or_default(), now())
        .await
        .map_err(|e| comment_error(e, &query))?;
    Ok((StatusCode::CREATED, Json(comment_json(&comment, zone))).into_response())
}

async fn comment_detail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    query: Query,
    Zone(zone): Zone,
) -> Result<Json<Value>, ApiError> {
    let ticket = comment_ticket(&state, &actor, &query).await?;
    let comments = state
        .engine
        .comments(&actor, ticket)
        .await
        .map_err(|e| comment_error(e, &query))?;
    comments
        .iter()
        .find(|c| c.id.to_string() == id.trim())
        .map(|c| Json(comment_json(c, zone)))
        .ok_or_else(|| ApiError::not_found("Comment"))
}

async fn super_status(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let ticket = load(&state, &actor, &id, None).await?;
    Ok(Json(json!({
        "id": ticket.id.to_string(),
        "status": choices::ticket_status(ticket.state, lang),
        "state": choices::ticket_state(ticket.state, lang),
        "processor": render::current_processor(&ticket),
    })))
}

async fn super_close(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ticket = load(&state, &actor, &id, None).await?;
    state
        .engine
        .act_on(
            &actor,
            ticket,
            TicketCommand::SuperClose {
                reason: String::new(),
            },
            now(),
        )
        .await
        .map_err(|e| domain(e, None))?;
    Ok(StatusCode::NO_CONTENT)
}

fn asset_json(asset: &ticketd_core::catalog::Asset, org_name: &str) -> Value {
    json!({
        "id": asset.id.to_string(),
        "name": asset.name,
        "address": asset.address,
        "platform": {"name": asset.platform},
        "org_id": asset.org_id.to_string(),
        "org_name": org_name,
        "is_active": asset.is_active,
        "comment": asset.comment,
    })
}

fn node_json(node: &ticketd_core::catalog::Node) -> Value {
    json!({
        "id": node.id.to_string(),
        "name": node.name,
        "value": node.name,
        "full_value": node.full_value,
        "org_id": node.org_id.to_string(),
    })
}

async fn catalog_list(
    state: &AppState,
    caller: &CallerInOrg,
    query: &Query,
    request: (&Uri, &axum::http::HeaderMap),
    nodes: bool,
    suggestions: bool,
) -> Result<Value, ApiError> {
    let page = Page::from_query(query, state.settings.max_page_size);
    let mut catalog = CatalogQuery {
        org_ids: (caller.org.id != ROOT_ORG).then(|| vec![caller.org.id]),
        search: query.text("search").or_else(|| query.text("name")),
        ids: None,
        limit: if suggestions { 10 } else { page.fetch() },
        offset: if suggestions { 0 } else { page.offset },
    };
    if let Some(id) = query.text("id") {
        catalog.ids = Some(
            uuid::Uuid::parse_str(&id)
                .map(|u| vec![u])
                .unwrap_or_default(),
        );
    }
    let (total, rows) = if nodes {
        let (total, found) = state.engine.nodes(&caller.actor, catalog).await?;
        (total, found.iter().map(node_json).collect::<Vec<_>>())
    } else {
        let (total, found) = state.engine.assets(&caller.actor, catalog).await?;
        // From the global organization the list holds every organization's assets.
        let orgs = state.engine.orgs(&caller.actor).await?;
        (
            total,
            found
                .iter()
                .map(|a| asset_json(a, &crate::admin::org_label_of(&orgs, a.org_id)))
                .collect::<Vec<_>>(),
        )
    };
    if suggestions {
        return Ok(Value::Array(rows));
    }
    Ok(paginated(request.0, request.1, page, total, rows))
}

async fn apply_assets(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        catalog_list(&state, &caller, &query, (&uri, &headers), false, false).await?,
    ))
}

async fn asset_suggestions(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        catalog_list(&state, &caller, &query, (&uri, &headers), false, true).await?,
    ))
}

async fn apply_nodes(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        catalog_list(&state, &caller, &query, (&uri, &headers), true, false).await?,
    ))
}

async fn node_suggestions(
    State(state): State<AppState>,
    caller: CallerInOrg,
    query: Query,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        catalog_list(&state, &caller, &query, (&uri, &headers), true, true).await?,
    ))
}

/// An asset the request's organization holds, as its list shows it (an asset of another
/// organization the caller belongs to was found here, named after the request's).
async fn apply_asset_detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let asset = crate::admin::assets::find(&state, &caller, &id).await?;
    let orgs = state.engine.orgs(&caller.actor).await?;
    Ok(Json(asset_json(
        &asset,
        &crate::admin::org_label_of(&orgs, asset.org_id),
    )))
}

/// A node the request's organization holds, as its list shows it.
async fn apply_node_detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let node = crate::admin::nodes::find(&state, &caller, &id).await?;
    Ok(Json(node_json(&node)))
}
