//! `/v1/ticket/process/*`: TopHC approval processes, each a flow with one role-pair level per `approval_list` entry.
//!
//! A process is a flow whose `attributes` carry `"dialect": "tophc"` and the process's display
//! fields (creator); each level is `Selector::RolePairs` with one `(tenant, role)` pair, mode
//! `any`, and keeps the entry's ids and names in its own `attributes` so they render as given.
//! Flows of other dialects are not processes: these routes answer 26005 for them.
//!
//! The default process `system` (默认审批流程) is a global flow with a fixed id, installed on
//! first use: level 1 is the tenant administrators of the ticket's tenant (system administrators
//! too, so a tenant without an administrator cannot leave a ticket with nobody to decide it),
//! level 2 the system administrators.

use crate::batch::Batch;
use crate::error::{ApiError, Reply, Scode};
use crate::extract::{Caller, Input};
use crate::tenant::{self, SYSTEM};
use axum::extract::State;
use serde_json::{Map, Value, json};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use ticketd_core::AdminAction;
use ticketd_core::engine::FlowInput;
use ticketd_core::flow::{Flow, Level, LevelMode};
use ticketd_core::identity::{ROLE_SYSTEM_ADMIN, ROOT_ORG, SYSTEM_ORG};
use ticketd_core::selector::{LegacyStrategy, RolePair, Selector};
use ticketd_core::store::{TicketOrder, TicketQuery, Visibility};
use ticketd_core::ticket::TicketState;
use ticketd_core::{Actor, DomainError, FlowId, OrgId};
use ticketd_http::{AppState, now};
use uuid::Uuid;

/// The fixed id of the default process, so every process sharing a database installs the same one.
pub(crate) const DEFAULT_PROCESS: FlowId =
    FlowId(Uuid::from_u128(0x746f7068_6300_4000_8000_000000000001));

const DEFAULT_NAME: &str = "默认审批流程";
const DIALECT: &str = "tophc";
/// Marks the default process's first level: its tenant is the ticket's.
const TICKET_TENANT_ADMIN: &str = "tenant_admin_of_ticket";

/// Whether a flow is a TopHC process.
pub(crate) fn is_process(flow: &Flow) -> bool {
    flow.dialect() == Some(DIALECT)
}

/// The wire id of a process.
pub(crate) fn process_uuid(id: FlowId) -> String {
    if id == DEFAULT_PROCESS {
        SYSTEM.to_owned()
    } else {
        id.to_string()
    }
}

fn default_process() -> Flow {
    let at = now();
    Flow {
        id: DEFAULT_PROCESS,
        org_id: ROOT_ORG,
        name: DEFAULT_NAME.into(),
        description: DEFAULT_NAME.into(),
        kinds: Vec::new(),
        is_default: false,
        enabled: true,
        levels: vec![
            Level {
                selector: LegacyStrategy::SuperOrgAdmin.to_selector(Vec::new()),
                mode: LevelMode::Any,
                name: "租户管理员".into(),
                attributes: json!({TICKET_TENANT_ADMIN: true, "role_name": "租户管理员", "process_name": DEFAULT_NAME}),
            },
            Level {
                selector: LegacyStrategy::SuperAdmin.to_selector(Vec::new()),
                mode: LevelMode::Any,
                name: "超级管理员".into(),
                attributes: json!({"tenant_uuid": SYSTEM, "tenant_name": SYSTEM, "role_uuid": SYSTEM, "role_name": "超级管理员", "process_name": DEFAULT_NAME}),
            },
        ],
        cc_users: Vec::new(),
        attributes: json!({
            "dialect": DIALECT,
            "default": true,
            "creator_uuid": SYSTEM,
            "creator_name": "admin",
            "creator_role": "超级管理员",
            "creator_tenant_uuid": SYSTEM,
            "creator_tenant_name": SYSTEM,
        }),
        created_by: "System".into(),
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// Installs the default process if it is missing; the server calls it at start, so no request
/// ever writes it (a refused request must store nothing).
///
/// The core has no use case for a built-in flow of a dialect (its bootstrap only creates
/// JumpServer's), so it is written through the store with a fixed id: processes starting
/// together collide on the id and keep the one stored.
pub async fn install_default_process(engine: &ticketd_core::Engine) -> Result<(), DomainError> {
    let store = engine.store();
    let stored = |found: Result<Option<Flow>, ticketd_core::StoreError>| {
        found.map(|f| f.is_some()).map_err(DomainError::from)
    };
    if stored(store.get_flow(DEFAULT_PROCESS).await)? {
        return Ok(());
    }
    match store.create_flow(default_process(), None).await {
        Ok(()) => Ok(()),
        Err(error) if stored(store.get_flow(DEFAULT_PROCESS).await)? => {
            tracing::debug!(%error, "default process installed concurrently");
            Ok(())
        }
        Err(error) => Err(DomainError::from(error)),
    }
}

/// The flow a `process_uuid` names (`system` or nothing: the default process).
pub(crate) fn process_id(raw: Option<&str>) -> Result<FlowId, ApiError> {
    match raw {
        None => Ok(DEFAULT_PROCESS),
        Some(text) if text.eq_ignore_ascii_case(SYSTEM) => Ok(DEFAULT_PROCESS),
        Some(text) => FlowId::parse(text).ok_or_else(|| {
            ApiError::new(Scode::ProcessNotFound, format!("process {text} not found"))
        }),
    }
}

/// A process the caller may see.
pub(crate) async fn load(state: &AppState, actor: &Actor, id: FlowId) -> Result<Flow, ApiError> {
    let not_found = || {
        ApiError::new(
            Scode::ProcessNotFound,
            format!("process {} not found", process_uuid(id)),
        )
    };
    match state.engine.get_flow(actor, id).await {
        Ok(flow) if is_process(&flow) => Ok(flow),
        Ok(_) | Err(DomainError::NotFound { .. }) => Err(not_found()),
        Err(other) => Err(other.into()),
    }
}

/// The tenant, role and names of one level: `(tenant_uuid, tenant_name, role_uuid, role_name)`.
///
/// `ticket_tenant` stands in for the tenant of the default process's first level (and of levels
/// of flows that are not processes).
pub(crate) fn level_owner(
    attributes: &Value,
    fallback_name: &str,
    ticket_tenant: (&str, &str),
) -> (String, String, String, String) {
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if attributes.get(TICKET_TENANT_ADMIN).and_then(Value::as_bool) == Some(true) {
        return (
            ticket_tenant.0.to_owned(),
            ticket_tenant.1.to_owned(),
            ticket_tenant.0.to_owned(),
            text("role_name"),
        );
    }
    if attributes.get("role_uuid").is_none() {
        return (
            ticket_tenant.0.to_owned(),
            ticket_tenant.1.to_owned(),
            String::new(),
            fallback_name.to_owned(),
        );
    }
    (
        text("tenant_uuid"),
        text("tenant_name"),
        text("role_uuid"),
        text("role_name"),
    )
}

/// Renders a process; `context` is the tenant the default process's first level is shown for.
fn render(flow: &Flow, tenant_name: &str, context: (&str, &str), in_use: Option<bool>) -> Value {
    let attr = |key: &str| flow.attributes.get(key).cloned().unwrap_or(json!(""));
    let steps: Vec<Value> = flow
        .levels
        .iter()
        .map(|level| {
            let (tenant_uuid, tenant_name, role_uuid, role_name) =
                level_owner(&level.attributes, &level.name, context);
            json!({
                "tenant_uuid": tenant_uuid,
                "tenant_name": tenant_name,
                "role_uuid": role_uuid,
                "role_name": role_name,
            })
        })
        .collect();
    let mut out = json!({
        "process_uuid": process_uuid(flow.id),
        "process_name": flow.name,
        "tenant_uuid": tenant::tenant_uuid(flow.org_id),
        "tenant_name": tenant_name,
        "description": flow.description,
        "create_time": flow.created_at.timestamp(),
        "creator_uuid": attr("creator_uuid"),
        "creator_name": attr("creator_name"),
        "creator_role": attr("creator_role"),
        "creator_tenant_uuid": attr("creator_tenant_uuid"),
        "creator_tenant_name": attr("creator_tenant_name"),
        "process_list": steps,
    });
    if let (Some(in_use), Some(map)) = (in_use, out.as_object_mut()) {
        map.insert("is_in_using".into(), Value::Bool(in_use));
    }
    out
}

/// Flows that a saved or pending ticket the caller can see uses, among the tickets of `orgs`
/// (`None`: every organization).
///
/// Whoever may change a process sees every ticket that can use it (system administrators see
/// all; a tenant administrator sees their tenant, the only one whose tickets use its processes),
/// so the refusal to change a process in use is exact for them. The core has no flow filter on
/// ticket lists, hence the scan over open tickets.
async fn flows_in_use(
    state: &AppState,
    actor: &Actor,
    orgs: Option<Vec<OrgId>>,
) -> Result<HashSet<FlowId>, ApiError> {
    const PAGE: u32 = 500;
    let mut query = TicketQuery::new(Visibility::All);
    query.states = vec![TicketState::Draft, TicketState::Pending];
    query.org_ids = orgs;
    query.order = TicketOrder::CreatedAsc;
    query.limit = PAGE;
    let mut used = HashSet::new();
    loop {
        let page = state.engine.list_tickets(actor, query.clone()).await?;
        used.extend(page.items.iter().filter_map(|t| t.flow_id));
        if page.items.len() < PAGE as usize {
            return Ok(used);
        }
        query.offset += u64::from(PAGE);
    }
}

async fn in_use(state: &AppState, actor: &Actor, flow: &Flow) -> Result<bool, ApiError> {
    let orgs = (flow.org_id != ROOT_ORG).then(|| vec![flow.org_id]);
    Ok(flows_in_use(state, actor, orgs).await?.contains(&flow.id))
}

/// The organization a process belongs to: `system` is the global scope.
async fn process_tenant(
    state: &AppState,
    actor: &Actor,
    raw: Option<&str>,
) -> Result<(OrgId, String), ApiError> {
    match raw {
        Some(text) if text.eq_ignore_ascii_case(SYSTEM) => Ok((ROOT_ORG, SYSTEM.to_owned())),
        other => tenant::resolve(state, actor, other).await,
    }
}

fn entry_text(entry: &Map<String, Value>, key: &str, at: usize) -> Result<String, ApiError> {
    match entry.get(key) {
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Null) | None => Ok(String::new()),
        Some(_) => Err(ApiError::parse(format!(
            "approval_list[{at}].{key} must be a string"
        ))),
    }
}

/// The levels of an `approval_list`, in order.
async fn levels(
    state: &AppState,
    actor: &Actor,
    list: &[Value],
    process_org: OrgId,
    process_name: &str,
) -> Result<Vec<Level>, ApiError> {
    let mut levels = Vec::with_capacity(list.len());
    for (at, entry) in list.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(ApiError::parse(format!(
                "approval_list[{at}] must be an object"
            )));
        };
        let raw_tenant = entry_text(entry, "tenant_uuid", at)?;
        let raw_role = entry_text(entry, "role_uuid", at)?;
        let given_tenant_name = entry_text(entry, "tenant_name", at)?;
        let given_role_name = entry_text(entry, "role_name", at)?;
        if raw_role.is_empty() {
            return Err(ApiError::invalid(format!(
                "approval_list[{at}].role_uuid is required"
            )));
        }
        // The super-admin role is held system-wide: its tenant is not looked up, so a tenant
        // administrator may end a chain with it without being a member of the system tenant.
        let super_admin = tenant::role(&raw_role, "", SYSTEM_ORG).ok() == Some(ROLE_SYSTEM_ADMIN);
        let (org, tenant_name) = if super_admin {
            (SYSTEM_ORG, SYSTEM.to_owned())
        } else if raw_tenant.is_empty() {
            if process_org == ROOT_ORG {
                return Err(ApiError::invalid(format!(
                    "approval_list[{at}].tenant_uuid is required in a process of the system tenant"
                )));
            }
            let name = tenant::tenant_name_of(state, actor, process_org).await;
            (process_org, name)
        } else {
            tenant::resolve(state, actor, Some(&raw_tenant)).await?
        };
        let role = tenant::role(&raw_role, &raw_tenant, org)?;
        let role_name = if given_role_name.is_empty() {
            tenant::role_label(role).to_owned()
        } else {
            given_role_name
        };
        levels.push(Level {
            selector: Selector::RolePairs {
                pairs: vec![RolePair { org_id: org, role_id: role }],
            },
            mode: LevelMode::Any,
            name: role_name.clone(),
            attributes: json!({
                "tenant_uuid": tenant::tenant_uuid(org),
                "tenant_name": if given_tenant_name.is_empty() { tenant_name } else { given_tenant_name },
                "role_uuid": raw_role,
                "role_name": role_name,
                "process_name": process_name,
            }),
        });
    }
    Ok(levels)
}

fn approval_list(input: &Input) -> Result<Option<Vec<Value>>, ApiError> {
    input.list("approval_list")
}

/// `POST /v1/ticket/process/create`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let raw_tenant = match input.opt("tenant_uuid")? {
        Some(t) => Some(t),
        None => input.opt("tenant")?,
    };
    let (org, org_name) = process_tenant(&state, &actor, raw_tenant.as_deref()).await?;
    let name = input.text("process_name")?.unwrap_or_default();
    let description = input.text("description")?.unwrap_or_default();
    let list = approval_list(&input)?.unwrap_or_default();
    let levels = levels(&state, &actor, &list, org, &name).await?;
    let (creator_tenant, creator_tenant_name) = if actor.is_system_admin() {
        (SYSTEM.to_owned(), SYSTEM.to_owned())
    } else {
        (tenant::tenant_uuid(org), org_name)
    };
    let attributes = json!({
        "dialect": DIALECT,
        "creator_uuid": actor.id().to_string(),
        "creator_name": actor.user.username,
        "creator_role": tenant::user_label(actor.is_system_admin(), &actor.org_roles(org)),
        "creator_tenant_uuid": creator_tenant,
        "creator_tenant_name": creator_tenant_name,
    });
    let flow = state
        .engine
        .create_flow(
            &actor,
            FlowInput {
                org_id: org,
                name,
                description,
                kinds: Vec::new(),
                is_default: false,
                enabled: true,
                levels,
                cc_users: Vec::new(),
                attributes,
            },
            now(),
        )
        .await?;
    Ok(Reply(json!({
        "process_uuid": process_uuid(flow.id),
        "process_name": flow.name,
    })))
}

/// `POST /v1/ticket/process/update`: name, description and `approval_list`, each optional.
pub(crate) async fn update(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let Some(raw_id) = input.opt("process_uuid")? else {
        return Err(ApiError::parse("process_uuid is required"));
    };
    let id = process_id(Some(&raw_id))?;
    let flow = load(&state, &actor, id).await?;
    check_changeable(&state, &actor, &flow, &raw_id, "changed").await?;
    let name = input.text("process_name")?;
    let description = input.text("description")?;
    let new_levels = match approval_list(&input)? {
        Some(list) => {
            let label = name.as_deref().unwrap_or(&flow.name);
            Some(levels(&state, &actor, &list, flow.org_id, label).await?)
        }
        None => None,
    };
    let change = move |f: &mut Flow| {
        if let Some(name) = &name {
            f.name.clone_from(name);
        }
        if let Some(description) = &description {
            f.description.clone_from(description);
        }
        if let Some(levels) = &new_levels {
            f.levels.clone_from(levels);
        }
        let label = f.name.clone();
        for level in &mut f.levels {
            if let Some(attributes) = level.attributes.as_object_mut() {
                attributes.insert("process_name".into(), Value::String(label.clone()));
            }
        }
    };
    let updated = state.engine.update_flow(&actor, id, &change, now()).await?;
    Ok(Reply(json!({
        "process_uuid": process_uuid(updated.id),
        "process_name": updated.name,
    })))
}

/// `POST /v1/ticket/process/delete`: `{list:[{process_uuid}…]}` (plain ids are accepted too).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let Some(items) = input.list("list")? else {
        return Err(ApiError::parse("list is required"));
    };
    let mut batch = Batch::default();
    for item in &items {
        let raw = match item {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Object(map) => map
                .get("process_uuid")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_owned()),
            _ => None,
        };
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            batch.fail(
                &ApiError::parse("each item needs a process_uuid"),
                json!({"process_uuid": "", "process_name": ""}),
            );
            continue;
        };
        match delete_one(&state, &actor, &raw).await {
            Ok(name) => batch.ok(json!({"process_uuid": raw, "process_name": name})),
            Err((error, name)) => {
                batch.fail(&error, json!({"process_uuid": raw, "process_name": name}));
            }
        }
    }
    Ok(batch.reply())
}

/// Refuses to change (or delete) `flow`, named `raw` in the request, unless the caller may
/// manage its processes, it is not the default process, and no saved or pending ticket uses
/// it; in that order, so a refusal of the caller says so whatever the process (an update
/// answered "in use" before, to callers who may not change it). The default process's first
/// level, the ticket tenant's administrators, is a mark no `approval_list` can give back, so
/// an update made it another process until the database was replaced.
async fn check_changeable(
    state: &AppState,
    actor: &Actor,
    flow: &Flow,
    raw: &str,
    verb: &str,
) -> Result<(), ApiError> {
    actor.may(AdminAction::ManageFlows(flow.org_id))?;
    if flow.id == DEFAULT_PROCESS {
        return Err(ApiError::invalid(format!(
            "the default process cannot be {verb}"
        )));
    }
    if in_use(state, actor, flow).await? {
        return Err(ApiError::new(
            Scode::ProcessInUse,
            format!("process {raw} is used by a saved or pending ticket"),
        ));
    }
    Ok(())
}

/// Deletes one process; the error carries the process name when it is known.
async fn delete_one(
    state: &AppState,
    actor: &Actor,
    raw: &str,
) -> Result<String, (ApiError, String)> {
    let unnamed = |error: ApiError| (error, String::new());
    let id = process_id(Some(raw)).map_err(unnamed)?;
    let flow = load(state, actor, id).await.map_err(unnamed)?;
    let named = |error: ApiError| (error, flow.name.clone());
    check_changeable(state, actor, &flow, raw, "deleted")
        .await
        .map_err(named)?;
    state
        .engine
        .delete_flow(actor, id)
        .await
        .map_err(|e| named(e.into()))?;
    Ok(flow.name.clone())
}

/// The tenant a process is shown for: the one the call names, else the caller's own.
async fn context_tenant(
    state: &AppState,
    actor: &Actor,
    input: &Input,
) -> Result<(OrgId, String), ApiError> {
    match input.opt("tenant_uuid")? {
        Some(raw) if raw.eq_ignore_ascii_case(SYSTEM) => Ok((SYSTEM_ORG, SYSTEM.to_owned())),
        Some(raw) => tenant::resolve(state, actor, Some(&raw)).await,
        None => tenant::resolve(state, actor, None).await,
    }
}

/// `GET /v1/ticket/process/inspect`.
pub(crate) async fn inspect(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let raw = match input.opt("process_uuid")? {
        Some(raw) => raw,
        None => input
            .bare_member(&["process_uuid", "tenant_uuid"])
            .ok_or_else(|| ApiError::parse("process_uuid is required"))?,
    };
    let id = process_id(Some(&raw))?;
    let flow = load(&state, &actor, id).await?;
    let (context, context_name) = context_tenant(&state, &actor, &input).await?;
    let tenant_name = tenant::tenant_name_of(&state, &actor, flow.org_id).await;
    let context_uuid = tenant::tenant_uuid(context);
    Ok(Reply(render(
        &flow,
        &tenant_name,
        (&context_uuid, &context_name),
        None,
    )))
}

/// `GET /v1/ticket/process/list`: the processes of a tenant plus the global ones, oldest first;
/// `system` lists the global processes.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller { actor, .. }: Caller,
    input: Input,
) -> Result<Reply, ApiError> {
    let raw = input.opt("tenant_uuid")?;
    let (org, org_name) = process_tenant(&state, &actor, raw.as_deref()).await?;
    let mut seen = HashSet::new();
    // `Engine::list_flows` for ROOT asks the store for ROOT twice (its own org plus the global
    // ones), which returns each global flow twice: keep the first of each.
    let flows: Vec<Flow> = state
        .engine
        .list_flows(&actor, org)
        .await?
        .into_iter()
        .filter(|f| is_process(f) && seen.insert(f.id))
        .collect();
    let (context, context_name) = if org == ROOT_ORG {
        (SYSTEM_ORG, SYSTEM.to_owned())
    } else {
        (org, org_name.clone())
    };
    let scope = (org != ROOT_ORG).then(|| vec![org]);
    // Global processes serve every tenant: look at every open ticket when one is listed.
    let scope = if flows.iter().any(|f| f.org_id == ROOT_ORG) {
        None
    } else {
        scope
    };
    let used = flows_in_use(&state, &actor, scope).await?;
    let mut names: HashMap<OrgId, String> = HashMap::new();
    names.insert(org, org_name);
    let context_uuid = tenant::tenant_uuid(context);
    let mut rows = Vec::with_capacity(flows.len());
    for flow in &flows {
        if let Entry::Vacant(slot) = names.entry(flow.org_id) {
            slot.insert(tenant::tenant_name_of(&state, &actor, flow.org_id).await);
        }
        let tenant_name = names.get(&flow.org_id).map_or("", String::as_str);
        rows.push(render(
            flow,
            if flow.org_id == ROOT_ORG {
                SYSTEM
            } else {
                tenant_name
            },
            (&context_uuid, &context_name),
            Some(used.contains(&flow.id)),
        ));
    }
    Ok(Reply(json!({"total_count": rows.len(), "list": rows})))
}
