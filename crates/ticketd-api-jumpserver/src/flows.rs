//! Ticket flows: `/api/v1/tickets/flows/` with legacy and v4 rule forms.

// Decisions where JumpServer is silent or worse (see also `input` and `render`):
// - `PATCH|PUT flows/` with one object updates "the flow of that `type` in the current org":
//   the org's own flow, else an org-level override of the global flow (as JumpServer does for
//   global flows updated from another org), else a new flow (201) named after the type label.
//   Several candidates are told apart by `name`, else refused. A list is a bulk update by `id`,
//   validated as a whole first, then applied item by item (not atomic across items).
// - `POST flows/` accepts any JumpServer ticket type in `type` (default `apply_asset`).
// - Levels keep their stored mode (any/all/threshold set by other dialects) when a JumpServer
//   client replaces their selectors; new levels are `any` (或签), JumpServer's only mode.
// - Writes ask the core whether the caller manages the target org before validating the
//   body, so a non-admin gets 403 for any well-formed JSON they send.
// - Flows another dialect manages (a TopHC process, a ZStack flow collection: `dialect` in
//   their attributes) are not JumpServer ticket flows: they are not listed, read, offered or
//   written here (404), as ZStack's API shows only its collections. Written here, they escaped
//   their own API's rules (a ZStack chain whose last approver is no admin).

mod input;
mod render;

use crate::choices::{Lang, TICKET_TYPES};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{Caller, CallerInOrg, JsonBody};
use crate::format::Zone;
use crate::format::expected_dict;
use crate::listing::{Page, Query, paginated, select_fields, select_row_fields};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use input::{Errors, FlowBody, Need, REQUIRED, capitalize, check_level_count};
use render::{View, flow_type, known_users};
use serde_json::{Value, json};
use std::collections::HashMap;
use ticketd_core::engine::{FlowInput, FlowPlan, any_level};
use ticketd_core::flow::{Flow, Level};
use ticketd_core::identity::{Org, ROOT_ORG, User};
use ticketd_core::selector::Selector;
use ticketd_core::{Actor, DomainError, FlowId, OrgId, UserId};
use ticketd_http::{AppState, now};

const LIST: &str = "/api/v1/tickets/flows/";
const DETAIL: &str = "/api/v1/tickets/flows/{id}/";

/// JumpServer's duplicate-name message (§4.8), without DRF's trailing period.
const NAME_TAKEN: &str = "A ticket flow with the same name and type already exists";
/// JumpServer's message for a rule that resolves to nobody in the org.
const NO_MATCH: &str = "No approvers matched. Please update the approval rule";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            LIST,
            get(list)
                .post(create)
                .put(put_many)
                .patch(patch_many)
                .fallback(not_allowed),
        )
        .route(
            "/api/v1/tickets/flows/options/",
            get(options).fallback(not_allowed),
        )
        .route(
            "/api/v1/tickets/flows/cc-users/",
            get(cc_users).fallback(not_allowed),
        )
        .route(
            DETAIL,
            get(detail)
                .put(put_one)
                .patch(patch_one)
                .fallback(not_allowed),
        )
}

/// An error of the flow routes: JumpServer's usual shapes, or a nested DRF map (per-rule dicts
/// and bulk lists, which `ApiError::Fields` cannot express).
#[derive(Debug)]
enum FlowError {
    Api(ApiError),
    Fields(Value),
}

impl From<ApiError> for FlowError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<DomainError> for FlowError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation(fields) => {
                let mut errors = Errors::default();
                for field in fields {
                    let (name, message) = match field.field.as_str() {
                        "name" if field.code == "unique" => ("name", NAME_TAKEN.to_owned()),
                        f if f.starts_with("levels") => ("rules", capitalize(&field.message)),
                        "kinds" => ("type", capitalize(&field.message)),
                        f => (
                            f.split(['.', '[']).next().unwrap_or(f),
                            capitalize(&field.message),
                        ),
                    };
                    errors.add(name, message);
                }
                Self::Fields(errors.into_value())
            }
            other => Self::Api(other.into()),
        }
    }
}

impl From<Errors> for FlowError {
    fn from(errors: Errors) -> Self {
        Self::Fields(errors.into_value())
    }
}

impl IntoResponse for FlowError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::Fields(map) => (StatusCode::BAD_REQUEST, Json(map)).into_response(),
        }
    }
}

fn not_found() -> FlowError {
    ApiError::not_found("TicketFlow").into()
}

fn forbidden() -> FlowError {
    DomainError::Forbidden {
        action: "manage flows".into(),
    }
    .into()
}

/// Flows cannot be deleted through JumpServer's API; other unrouted methods answer the same way.
async fn not_allowed(_caller: Caller, method: Method) -> ApiError {
    ApiError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
        "method_not_allowed",
    )
}

/// Asks the core whether the caller manages `org`, before any body is examined.
fn ensure_manage(actor: &Actor, org: OrgId) -> Result<(), FlowError> {
    actor
        .may(ticketd_core::AdminAction::ManageFlows(org))
        .map_err(|_refused| forbidden())
}

/// Whether `flow` is a JumpServer ticket flow: one no other dialect marks as its own.
pub(crate) fn managed_here(flow: &Flow) -> bool {
    flow.dialect().is_none_or(|dialect| dialect == "jumpserver")
}

/// The JumpServer ticket flows ([`managed_here`]) the current org sees.
async fn org_flows(state: &AppState, actor: &Actor, org: OrgId) -> Result<Vec<Flow>, FlowError> {
    let mut flows = state.engine.list_flows(actor, org).await?;
    flows.retain(managed_here);
    Ok(flows)
}

/// A flow by path id, as the current org sees it: its own flows and the global ones (every
/// flow from the root org), JumpServer's only ([`managed_here`]). Anything else, including a
/// malformed id, is 404.
async fn visible_flow(
    state: &AppState,
    caller: &CallerInOrg,
    raw: &str,
) -> Result<Flow, FlowError> {
    let id = FlowId::parse(raw).ok_or_else(not_found)?;
    let flow = state.engine.get_flow(&caller.actor, id).await?;
    let org = caller.org.id;
    if managed_here(&flow) && (org == ROOT_ORG || flow.org_id == org || flow.org_id == ROOT_ORG) {
        Ok(flow)
    } else {
        Err(not_found())
    }
}

async fn view(
    state: &AppState,
    caller: &CallerInOrg,
    lang: Lang,
    zone: chrono_tz::Tz,
    flows: &[Flow],
) -> Result<View, FlowError> {
    Ok(View::load(&state.engine, &caller.actor, &caller.org, lang, zone, flows).await?)
}

// ------------------------------------------------------------------ reads

/// `search`: `,` separates batches (all must match), `|` alternatives, spaces terms; a term
/// matches when `id`, `name` or `type` contains it (as the ticket lists' search, §5).
fn search_matches(flow: &Flow, text: &str) -> bool {
    let fields = [
        flow.id.to_string(),
        flow.name.to_lowercase(),
        flow_type(flow).to_owned(),
    ];
    text.split(',').all(|batch| {
        let batch = batch.trim();
        batch.is_empty()
            || batch.split('|').any(|alternative| {
                alternative.split_whitespace().all(|term| {
                    let term = term.to_lowercase();
                    fields.iter().any(|f| f.contains(&term))
                })
            })
    })
}

fn matches_filters(flow: &Flow, query: &Query) -> bool {
    query
        .text("id")
        .is_none_or(|id| flow.id.to_string() == id.to_lowercase())
        && query.text("name").is_none_or(|name| flow.name == name)
        && query
            .text("type")
            .is_none_or(|kind| flow_type(flow) == kind)
        && query
            .text("search")
            .or_else(|| query.text("q"))
            .is_none_or(|text| search_matches(flow, &text))
}

fn sort_flows(flows: &mut [Flow]) {
    flows.sort_by(|a, b| {
        (a.name.to_lowercase(), a.created_at, a.id).cmp(&(
            b.name.to_lowercase(),
            b.created_at,
            b.id,
        ))
    });
}

/// `GET flows/`: the current org's flows and the global flows it does not override.
async fn list(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    query: Query,
    parts: Parts,
) -> Result<Json<Value>, FlowError> {
    caller.may_view_directory("flows")?;
    // The root org lists every org's flows, as JumpServer's unfiltered manager there.
    let mut flows = if caller.org.id == ROOT_ORG {
        let mut everywhere = state.engine.list_flows_everywhere(&caller.actor).await?;
        everywhere.retain(managed_here);
        everywhere
    } else {
        org_flows(&state, &caller.actor, caller.org.id).await?
    };
    flows.retain(|f| matches_filters(f, &query));
    sort_flows(&mut flows);
    let page = Page::from_query(&query, state.settings.max_page_size);
    let total = u64::try_from(flows.len()).unwrap_or(u64::MAX);
    let window: Vec<Flow> = flows
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.fetch()).unwrap_or(usize::MAX))
        .collect();
    let view = view(&state, &caller, lang, zone, &window).await?;
    let rows = select_row_fields(&query, None, window.iter().map(|f| view.flow(f)).collect());
    Ok(Json(paginated(
        &parts.uri,
        &parts.headers,
        page,
        total,
        rows,
    )))
}

/// `GET flows/{id}/`.
async fn detail(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    query: Query,
    Path(id): Path<String>,
) -> Result<Json<Value>, FlowError> {
    caller.may_view_directory("flows")?;
    let flow = visible_flow(&state, &caller, &id).await?;
    let view = view(&state, &caller, lang, zone, std::slice::from_ref(&flow)).await?;
    Ok(Json(select_fields(&query, None, view.flow(&flow))))
}

/// The enabled flows of `type` a ticket of `org_id` may choose, or `None` when a parameter is
/// missing. Like JumpServer, an org the caller does not belong to (or a bad id) is 403.
async fn selectable(
    state: &AppState,
    actor: &Actor,
    query: &Query,
) -> Result<Option<(Org, Vec<Flow>)>, FlowError> {
    let (Some(kind), Some(raw_org)) = (query.text("type"), query.text("org_id")) else {
        return Ok(None);
    };
    let org = match state.engine.resolve_org(actor, &raw_org).await {
        Ok(org) => org,
        Err(DomainError::NotFound { .. } | DomainError::Forbidden { .. }) => {
            return Err(DomainError::Forbidden {
                action: "read flows of this organization".into(),
            }
            .into());
        }
        Err(other) => return Err(other.into()),
    };
    let mut flows = org_flows(state, actor, org.id).await?;
    flows.retain(|f| f.enabled && f.serves(&kind));
    flows.sort_by(|a, b| (&a.name, a.created_at).cmp(&(&b.name, b.created_at)));
    Ok(Some((org, flows)))
}

/// `GET flows/options/?type=&org_id=`: flows selectable when opening a ticket.
async fn options(
    State(state): State<AppState>,
    Caller(actor): Caller,
    lang: Lang,
    Zone(zone): Zone,
    query: Query,
) -> Result<Json<Value>, FlowError> {
    let Some((org, flows)) = selectable(&state, &actor, &query).await? else {
        return Ok(Json(json!([])));
    };
    let view = View::load(&state.engine, &actor, &org, lang, zone, &[]).await?;
    Ok(Json(Value::Array(
        flows.iter().map(|f| view.option(f)).collect(),
    )))
}

/// `GET flows/cc-users/?type=&org_id=[&flow_id=]`: the CC users of the selected (or only) flow.
async fn cc_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    lang: Lang,
    Zone(zone): Zone,
    query: Query,
) -> Result<Json<Value>, FlowError> {
    let Some((org, mut flows)) = selectable(&state, &actor, &query).await? else {
        return Ok(Json(json!([])));
    };
    let flow = match query.text("flow_id") {
        Some(raw) => {
            let wanted = FlowId::parse(&raw);
            flows.into_iter().find(|f| Some(f.id) == wanted)
        }
        None if flows.len() == 1 => flows.pop(),
        None => None,
    };
    let Some(flow) = flow else {
        return Ok(Json(json!([])));
    };
    let view = View::load(&state.engine, &actor, &org, lang, zone, &[]).await?;
    Ok(Json(view.cc_users(&flow)))
}

// ------------------------------------------------------------------ writes

/// Where a write lands.
#[derive(Debug)]
enum Target {
    /// Change this flow in place.
    Update(Flow),
    /// Create an org-level copy of a global flow (JumpServer's override on update).
    Override { global: Flow, org: OrgId },
    /// Create a flow: the org has none of this type.
    Create { org: OrgId, kind: String },
}

impl Target {
    fn org(&self) -> OrgId {
        match self {
            Self::Update(flow) => flow.org_id,
            Self::Override { org, .. } | Self::Create { org, .. } => *org,
        }
    }

    /// The current number of levels, against which `approval_level` or `rules` given alone
    /// are checked.
    /// The selectors of the levels the flow has now (none for a flow to be created).
    fn stored_selectors(&self) -> Vec<Selector> {
        match self {
            Self::Update(flow) | Self::Override { global: flow, .. } => {
                flow.levels.iter().map(|l| l.selector.clone()).collect()
            }
            Self::Create { .. } => Vec::new(),
        }
    }

    fn stored_levels(&self) -> Option<usize> {
        match self {
            Self::Update(flow) | Self::Override { global: flow, .. } => Some(flow.levels.len()),
            Self::Create { .. } => None,
        }
    }
}

/// What a write request shares: the caller, the org, and the users it may name.
struct Write<'a> {
    state: &'a AppState,
    caller: &'a CallerInOrg,
    users: HashMap<UserId, User>,
}

impl Write<'_> {
    fn parse(&self, body: &Value, need: Need) -> Result<FlowBody, Errors> {
        input::parse_flow(body, need, &|id| self.users.contains_key(&id))
    }

    /// The target of an update by id; a global flow updated from another org becomes (or
    /// updates) that org's override, found by name and type as the core's flow list matches
    /// them ([`Flow::same_name_and_type`]: the org's flow of another type with that name is
    /// another flow, and stays as it is).
    async fn target_by_id(&self, raw: &str) -> Result<Target, FlowError> {
        let flow = visible_flow(self.state, self.caller, raw).await?;
        let org = self.caller.org.id;
        if flow.org_id != ROOT_ORG || org == ROOT_ORG {
            return Ok(Target::Update(flow));
        }
        let existing = org_flows(self.state, &self.caller.actor, org)
            .await?
            .into_iter()
            .find(|f| f.org_id == org && f.same_name_and_type(&flow));
        Ok(match existing {
            Some(own) => Target::Update(own),
            None => self.overriding(flow, org).await?,
        })
    }

    /// An override of `global` in `org`: it copies those of the global flow's users who may be
    /// copied there (a global flow copies users of every organization, which the core refuses
    /// in an organization's flow, and which the client did not send).
    async fn overriding(&self, mut global: Flow, org: OrgId) -> Result<Target, FlowError> {
        global.cc_users = self.state.engine.copyable_in(org, &global.cc_users).await?;
        Ok(Target::Override { global, org })
    }

    /// The target of an update by type: the org's own flow of that type, else the global one
    /// (overridden), else a new flow. Several candidates are told apart by `name`.
    async fn target_by_type(&self, kind: &str, name: Option<&str>) -> Result<Target, FlowError> {
        let org = self.caller.org.id;
        let (own, global): (Vec<Flow>, Vec<Flow>) = org_flows(self.state, &self.caller.actor, org)
            .await?
            .into_iter()
            .filter(|f| f.kinds.iter().any(|k| k == kind))
            .partition(|f| f.org_id == org);
        let pick = |mut candidates: Vec<Flow>| -> Result<Option<Flow>, FlowError> {
            if candidates.len() <= 1 {
                return Ok(candidates.pop());
            }
            let wanted = name.map(str::to_lowercase);
            candidates
                .into_iter()
                .find(|f| Some(f.name.to_lowercase()) == wanted)
                .map(Some)
                .ok_or_else(|| {
                    let mut errors = Errors::default();
                    errors.add(
                        "non_field_errors",
                        "Several ticket flows of this type exist: update one by its id or name",
                    );
                    errors.into()
                })
        };
        if let Some(flow) = pick(own)? {
            return Ok(Target::Update(flow));
        }
        if let Some(global) = pick(global)? {
            return self.overriding(global, org).await;
        }
        Ok(Target::Create {
            org,
            kind: kind.to_owned(),
        })
    }

    /// Cross-field and directory checks of a parsed body for `target`. The outer error is a
    /// failure of the request; the inner one is this body's DRF map.
    async fn check(
        &self,
        target: &Target,
        body: FlowBody,
        need: Need,
    ) -> Result<Result<FlowBody, Errors>, FlowError> {
        let mut errors = Errors::default();
        if need.name && body.name.is_none() {
            errors.add("name", REQUIRED);
        }
        let creating = matches!(target, Target::Create { .. });
        if (need.rules || creating) && body.rules.is_none() {
            errors.add("rules", REQUIRED);
        }
        check_level_count(&body, target.stored_levels(), &mut errors);
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let mut body = body;
        if let Err(per_rule) = body.settle_rules(&target.stored_selectors()) {
            errors.set("rules", per_rule);
            return Ok(Err(errors));
        }
        if let Some(rules) = &body.rules {
            // Asked of the core's resolution itself (the organization's members and every
            // system administrator), so a rule it accepts here is one it resolves at opening.
            let mut per_rule = Vec::with_capacity(rules.len());
            for rule in rules {
                let matched = self
                    .state
                    .engine
                    .eligible_approvers(target.org(), rule)
                    .await?;
                per_rule.push(if matched.is_empty() {
                    json!({"users": [NO_MATCH]})
                } else {
                    json!({})
                });
            }
            if per_rule.iter().any(|r| r != &json!({})) {
                errors.set("rules", Value::Array(per_rule));
                return Ok(Err(errors));
            }
        }
        Ok(Ok(body))
    }

    /// Applies a checked body; answers the flow and whether it was created from nothing.
    async fn apply(&self, target: Target, body: FlowBody) -> Result<(Flow, bool), FlowError> {
        let created = matches!(target, Target::Create { .. });
        let flows = self.apply_all(vec![(target, body)]).await?;
        // One plan gives one flow.
        let flow = flows.into_iter().next().ok_or_else(|| {
            FlowError::from(DomainError::Conflict("the flow was not written".into()))
        })?;
        Ok((flow, created))
    }

    /// Applies checked bodies together, all or none (one transaction, as DRF's bulk update
    /// runs in one); answers the flows in order.
    async fn apply_all(&self, items: Vec<(Target, FlowBody)>) -> Result<Vec<Flow>, FlowError> {
        let planned: Vec<Planned> = items
            .into_iter()
            .map(|(target, body)| planned(target, body))
            .collect();
        let plans: Vec<FlowPlan<'_>> = planned
            .iter()
            .map(|p| match p {
                Planned::Update(id, change) => FlowPlan::Update {
                    id: *id,
                    change: change.as_ref(),
                },
                Planned::Create(input) => FlowPlan::Create(input.clone()),
            })
            .collect();
        Ok(self
            .state
            .engine
            .write_flows(&self.caller.actor, &plans, None, now())
            .await?)
    }

    async fn render(
        &self,
        lang: Lang,
        zone: chrono_tz::Tz,
        flows: &[Flow],
    ) -> Result<Vec<Value>, FlowError> {
        let view = view(self.state, self.caller, lang, zone, flows).await?;
        Ok(flows.iter().map(|f| view.flow(f)).collect())
    }
}

/// The English label of a ticket type: the name of a flow created without one.
fn type_label(kind: &str) -> String {
    TICKET_TYPES
        .iter()
        .find(|(v, _, _)| *v == kind)
        .map_or(kind, |(_, en, _)| en)
        .to_owned()
}

/// New selectors by position; a level that already existed keeps its mode, name and extras.
fn merge_levels(stored: &[Level], rules: &[Selector]) -> Vec<Level> {
    rules
        .iter()
        .enumerate()
        .map(|(i, selector)| match stored.get(i) {
            Some(level) => Level {
                selector: selector.clone(),
                ..level.clone()
            },
            None => any_level(selector.clone()),
        })
        .collect()
}

/// A checked body as the core writes it: a change of a stored flow, or a new flow.
enum Planned {
    Update(FlowId, Box<dyn Fn(&mut Flow) + Send + Sync>),
    Create(FlowInput),
}

fn planned(target: Target, body: FlowBody) -> Planned {
    match target {
        Target::Update(flow) => Planned::Update(
            flow.id,
            Box::new(move |stored: &mut Flow| apply_changes(stored, &body)),
        ),
        Target::Override { global, org } => {
            let levels = match &body.rules {
                Some(rules) => merge_levels(&global.levels, rules),
                None => global.levels,
            };
            Planned::Create(FlowInput {
                org_id: org,
                // The override keeps the global flow's name: that is what hides the global
                // flow from this org's list.
                name: body.name.unwrap_or(global.name),
                description: global.description,
                kinds: global.kinds,
                is_default: global.is_default,
                enabled: global.enabled,
                levels,
                cc_users: body.cc_users.unwrap_or(global.cc_users),
                attributes: global.attributes,
            })
        }
        Target::Create { org, kind } => {
            let name = body.name.unwrap_or_else(|| type_label(&kind));
            Planned::Create(FlowInput {
                org_id: org,
                name,
                description: String::new(),
                kinds: vec![kind],
                is_default: false,
                enabled: true,
                levels: body
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .map(any_level)
                    .collect(),
                cc_users: body.cc_users.unwrap_or_default(),
                attributes: Value::Null,
            })
        }
    }
}

/// The update itself; `type` is read-only and never changed.
fn apply_changes(flow: &mut Flow, body: &FlowBody) {
    if let Some(name) = &body.name {
        flow.name.clone_from(name);
    }
    if let Some(users) = &body.cc_users {
        flow.cc_users.clone_from(users);
    }
    if let Some(rules) = &body.rules {
        flow.levels = merge_levels(&flow.levels, rules);
    }
}

async fn write<'a>(state: &'a AppState, caller: &'a CallerInOrg) -> Result<Write<'a>, FlowError> {
    let users = known_users(&state.engine, &caller.actor).await?;
    Ok(Write {
        state,
        caller,
        users,
    })
}

/// `POST flows/` → 201.
async fn create(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), FlowError> {
    ensure_manage(&caller.actor, caller.org.id)?;
    let write = write(&state, &caller).await?;
    let need = Need {
        name: true,
        rules: true,
    };
    let body = write.parse(&body, need)?;
    let target = Target::Create {
        org: caller.org.id,
        kind: body
            .kind
            .clone()
            .unwrap_or_else(|| "apply_asset".to_owned()),
    };
    let body = write.check(&target, body, need).await??;
    let (flow, _) = write.apply(target, body).await?;
    let mut rows = write
        .render(lang, zone, std::slice::from_ref(&flow))
        .await?;
    Ok((StatusCode::CREATED, Json(rows.pop().unwrap_or(Value::Null))))
}

/// `PUT|PATCH flows/{id}/`.
async fn update_one(
    state: AppState,
    caller: CallerInOrg,
    lang: Lang,
    zone: chrono_tz::Tz,
    id: String,
    body: Value,
    full: bool,
) -> Result<Json<Value>, FlowError> {
    let write = write(&state, &caller).await?;
    let target = write.target_by_id(&id).await?;
    ensure_manage(&caller.actor, target.org())?;
    let need = Need {
        name: full,
        rules: full,
    };
    let parsed = write.parse(&body, need)?;
    let parsed = write.check(&target, parsed, need).await??;
    let (flow, _) = write.apply(target, parsed).await?;
    let mut rows = write
        .render(lang, zone, std::slice::from_ref(&flow))
        .await?;
    Ok(Json(rows.pop().unwrap_or(Value::Null)))
}

async fn put_one(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, FlowError> {
    update_one(state, caller, lang, zone, id, body, true).await
}

async fn patch_one(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, FlowError> {
    update_one(state, caller, lang, zone, id, body, false).await
}

/// `PUT|PATCH flows/`: one object updates the flow of its `type`; a list updates by `id`.
async fn update_many(
    state: AppState,
    caller: CallerInOrg,
    lang: Lang,
    zone: chrono_tz::Tz,
    body: Value,
    full: bool,
) -> Result<Response, FlowError> {
    match body {
        Value::Array(items) => update_list(state, caller, lang, zone, items, full).await,
        Value::Object(_) | Value::Null => {
            update_by_type(state, caller, lang, zone, body, full).await
        }
        other => {
            let mut errors = Errors::default();
            errors.add("non_field_errors", expected_dict(&other));
            Err(errors.into())
        }
    }
}

async fn update_by_type(
    state: AppState,
    caller: CallerInOrg,
    lang: Lang,
    zone: chrono_tz::Tz,
    body: Value,
    full: bool,
) -> Result<Response, FlowError> {
    // The target is always in the current org: refuse non-managers before reading further.
    ensure_manage(&caller.actor, caller.org.id)?;
    let write = write(&state, &caller).await?;
    let loose = Need {
        name: false,
        rules: false,
    };
    let parsed = write.parse(&body, loose)?;
    let Some(kind) = parsed.kind.clone() else {
        let mut errors = Errors::default();
        errors.add("type", REQUIRED);
        return Err(errors.into());
    };
    let target = write.target_by_type(&kind, parsed.name.as_deref()).await?;
    let need = Need {
        name: false,
        rules: full,
    };
    let parsed = write.check(&target, parsed, need).await??;
    let (flow, created) = write.apply(target, parsed).await?;
    let mut rows = write
        .render(lang, zone, std::slice::from_ref(&flow))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(rows.pop().unwrap_or(Value::Null))).into_response())
}

/// Bulk update: every item is checked before any is applied; errors come back as one dict
/// per item, as DRF's bulk serializers answer.
async fn update_list(
    state: AppState,
    caller: CallerInOrg,
    lang: Lang,
    zone: chrono_tz::Tz,
    items: Vec<Value>,
    full: bool,
) -> Result<Response, FlowError> {
    if items.is_empty() {
        let mut errors = Errors::default();
        errors.add("non_field_errors", "This list may not be empty.");
        return Err(errors.into());
    }
    let write = write(&state, &caller).await?;
    let need = Need {
        name: full,
        rules: full,
    };
    let mut planned = Vec::with_capacity(items.len());
    let mut reports = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    let mut failed = false;
    for item in &items {
        if !item.is_object() {
            failed = true;
            let mut errors = Errors::default();
            errors.add("non_field_errors", expected_dict(item));
            reports.push(errors.into_value());
            continue;
        }
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            failed = true;
            let mut errors = Errors::default();
            errors.add("id", REQUIRED);
            reports.push(errors.into_value());
            continue;
        };
        let target = write.target_by_id(id).await?;
        ensure_manage(&caller.actor, target.org())?;
        // Two items of one flow would be two writes of one version in one transaction: the
        // second could never land. (A global flow and its override are one flow here.)
        let flow_id = match &target {
            Target::Update(flow) | Target::Override { global: flow, .. } => Some(flow.id),
            Target::Create { .. } => None,
        };
        if flow_id.is_some_and(|flow_id| !seen.insert(flow_id)) {
            failed = true;
            let mut errors = Errors::default();
            errors.add("id", "This flow is named more than once in the list.");
            reports.push(errors.into_value());
            continue;
        }
        let checked = match write.parse(item, need) {
            Ok(parsed) => write.check(&target, parsed, need).await?,
            Err(errors) => Err(errors),
        };
        match checked {
            Ok(parsed) => {
                planned.push((target, parsed));
                reports.push(json!({}));
            }
            Err(errors) => {
                failed = true;
                reports.push(errors.into_value());
            }
        }
    }
    if failed {
        return Err(FlowError::Fields(Value::Array(reports)));
    }
    let flows = write.apply_all(planned).await?;
    let rows = write.render(lang, zone, &flows).await?;
    Ok(Json(Value::Array(rows)).into_response())
}

async fn put_many(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<Response, FlowError> {
    update_many(state, caller, lang, zone, body, true).await
}

async fn patch_many(
    State(state): State<AppState>,
    caller: CallerInOrg,
    lang: Lang,
    Zone(zone): Zone,
    JsonBody(body): JsonBody,
) -> Result<Response, FlowError> {
    update_many(state, caller, lang, zone, body, false).await
}
