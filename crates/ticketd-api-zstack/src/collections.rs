//! Flow collections and their flows: a collection is a ticketd flow of the project whose levels
//! are the ZStack flows in chain order, each decided by one approver.

use crate::api::{Ctx, one};
use crate::error::ZsError;
use crate::query::{Inventory, QuerySpec, answer, render_dates};
use crate::tickets::{known_type, project};
use crate::types::{self, TicketType};
use crate::wire::{Params, hex, parse_uuid, text_or_null};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use ticketd_core::engine::{FlowInput, FlowPlan, any_level};
use ticketd_core::flow::{Flow, Level};
use ticketd_core::identity::{Org, ROOT_ORG};
use ticketd_core::selector::{LegacyStrategy, Selector};
use ticketd_core::store::FlowRule;
use ticketd_core::{ConflictKind, DomainError, FlowId, OrgId, StoreError, UserId};
use uuid::Uuid;

/// The mark in `Flow.attributes` that makes a ticketd flow a ZStack flow collection.
const DIALECT: &str = "zstack";

/// The `flowContextType` of IAM2 flows (the context names the approving virtual ID).
const FLOW_CONTEXT_TYPE: &str = "IAM2";

/// `IAM2TicketFlowCollectionInventory`.
const COLLECTION: Inventory = Inventory {
    name: "IAM2TicketFlowCollectionInventory",
    fields: &[
        "uuid",
        "name",
        "description",
        "state",
        "status",
        "createDate",
        "lastOpDate",
        "isDefault",
        "flows",
        "ticketTypeUuids",
        "projectUuid",
    ],
    nested: &["flows"],
};

/// `IAM2TicketFlowInventory`.
const FLOW: Inventory = Inventory {
    name: "IAM2TicketFlowInventory",
    fields: &[
        "uuid",
        "name",
        "description",
        "parentFlowUuid",
        "flowContext",
        "flowContextType",
        "createDate",
        "lastOpDate",
        "collectionUuid",
        "approverUuid",
        "valid",
    ],
    nested: &[],
};

/// One ZStack flow: a level of the collection, with its id and extras in the level attributes.
#[derive(Clone, Debug, PartialEq)]
struct FlowDef {
    uuid: Uuid,
    name: String,
    description: String,
    approver: UserId,
    title: Option<String>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
}

impl FlowDef {
    fn level(&self) -> Level {
        let mut level = any_level(Selector::Ids {
            ids: vec![self.approver],
        });
        level.name = self.name.clone();
        level.attributes = json!({
            "uuid": hex(self.uuid),
            "description": self.description,
            "approverTitle": self.title,
            "createDate": self.created.to_rfc3339(),
            "lastOpDate": self.updated.to_rfc3339(),
        });
        level
    }
}

fn is_collection(flow: &Flow) -> bool {
    flow.dialect() == Some(DIALECT)
}

fn attribute_date(level: &Level, key: &str, fallback: DateTime<Utc>) -> DateTime<Utc> {
    level
        .attributes
        .get(key)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(fallback, |t| t.with_timezone(&Utc))
}

/// The flows of a collection, in chain order.
fn defs(collection: &Flow) -> Vec<FlowDef> {
    collection
        .levels
        .iter()
        .filter_map(|level| {
            let Selector::Ids { ids } = &level.selector else {
                return None;
            };
            let approver = *ids.first()?;
            let uuid = level
                .attributes
                .get("uuid")
                .and_then(Value::as_str)
                .and_then(parse_uuid)?;
            Some(FlowDef {
                uuid,
                name: level.name.clone(),
                description: level
                    .attributes
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                approver,
                title: level
                    .attributes
                    .get("approverTitle")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                created: attribute_date(level, "createDate", collection.created_at),
                updated: attribute_date(level, "lastOpDate", collection.updated_at),
            })
        })
        .collect()
}

fn type_uuids(collection: &Flow) -> Vec<String> {
    collection
        .attributes
        .get("ticketTypeUuids")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// ZStack's words when a pending ticket's approver has left the project or been deleted.
const STRANDED_REASON: &str = "approver is removed from project or deleted, flow collection changed to invalid, reject this ticket";

fn attributes(type_uuids: &[String]) -> Value {
    let mut attributes =
        json!({"dialect": DIALECT, "accountSystemType": "iam2", "ticketTypeUuids": type_uuids});
    attributes[Flow::REJECT_STRANDED] = json!(STRANDED_REASON);
    attributes
}

/// The ticketd kinds a collection serves: its types, or every ZStack kind when it names none
/// (never "any kind", so a collection does not capture other dialects' tickets).
fn kinds(type_uuids: &[String]) -> Vec<String> {
    if type_uuids.is_empty() {
        return types::all_kinds();
    }
    type_uuids
        .iter()
        .filter_map(|u| types::by_uuid(u))
        .map(|t| t.name.to_owned())
        .collect()
}

/// Who may approve in a project: its active members and every system administrator; and who of
/// them is an administrator (system admin or project admin), as the last flow requires.
#[derive(Debug, Default)]
struct Directory {
    eligible: HashSet<UserId>,
    admins: HashSet<UserId>,
}

async fn directory(ctx: &Ctx<'_>, org: OrgId) -> Result<Directory, ZsError> {
    let engine = ctx.engine();
    let eligible = engine.eligible_approvers(org, &Selector::All).await?;
    let admin_selector = LegacyStrategy::SuperOrgAdmin.to_selector(Vec::new());
    let admins = engine.eligible_approvers(org, &admin_selector).await?;
    Ok(Directory {
        eligible: eligible.into_iter().map(|u| u.id).collect(),
        admins: admins.into_iter().map(|u| u.id).collect(),
    })
}

/// Directories of several projects, each loaded once.
#[derive(Debug, Default)]
struct Directories(HashMap<OrgId, Directory>);

impl Directories {
    async fn of(&mut self, ctx: &Ctx<'_>, org: OrgId) -> Result<&Directory, ZsError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.0.entry(org) {
            slot.insert(directory(ctx, org).await?);
        }
        Ok(self.0.entry(org).or_default())
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `IAM2TicketFlowInventory` rows of a collection (dates as epoch milliseconds).
fn flow_rows(collection: &Flow, directory: &Directory) -> Vec<Map<String, Value>> {
    let mut parent: Option<String> = None;
    defs(collection)
        .into_iter()
        .map(|def| {
            let uuid = hex(def.uuid);
            let approver = hex(def.approver.uuid());
            let context = json!({"approverUuid": approver, "approverTitle": def.title}).to_string();
            let row = object(json!({
                "uuid": uuid,
                "name": def.name,
                "description": text_or_null(&def.description),
                "parentFlowUuid": parent,
                "flowContext": context,
                "flowContextType": FLOW_CONTEXT_TYPE,
                "createDate": def.created.timestamp_millis(),
                "lastOpDate": def.updated.timestamp_millis(),
                "collectionUuid": hex(collection.id.uuid()),
                "approverUuid": approver,
                "valid": directory.eligible.contains(&def.approver),
            }));
            parent = Some(uuid);
            row
        })
        .collect()
}

/// `IAM2TicketFlowCollectionInventory` (dates as epoch milliseconds). It is `Invalid` while
/// one of its approvers can no longer approve in the project (left it, deleted, deactivated).
fn collection_row(collection: &Flow, directory: &Directory) -> Map<String, Value> {
    let flows = flow_rows(collection, directory);
    let valid = flows
        .iter()
        .all(|f| f.get("valid").and_then(Value::as_bool) == Some(true));
    object(json!({
        "uuid": hex(collection.id.uuid()),
        "name": collection.name,
        "description": text_or_null(&collection.description),
        "state": if collection.enabled { "Enabled" } else { "Disabled" },
        "status": if valid { "Valid" } else { "Invalid" },
        "createDate": collection.created_at.timestamp_millis(),
        "lastOpDate": collection.updated_at.timestamp_millis(),
        "isDefault": collection.is_default,
        "flows": flows,
        "ticketTypeUuids": type_uuids(collection),
        "projectUuid": hex(collection.org_id.uuid()),
    }))
}

async fn rendered(ctx: &Ctx<'_>, collection: &Flow) -> Result<Map<String, Value>, ZsError> {
    let directory = directory(ctx, collection.org_id).await?;
    let mut row = collection_row(collection, &directory);
    render_dates(&mut row, COLLECTION.nested, ctx.zone());
    Ok(one(row))
}

fn collection_missing(uuid: Uuid) -> ZsError {
    ZsError::not_found(format!(
        "unable to find ticket flow collection[uuid:{}]",
        hex(uuid)
    ))
}

/// A collection the caller may see.
async fn load(ctx: &Ctx<'_>, uuid: Uuid) -> Result<Flow, ZsError> {
    match ctx.engine().get_flow(&ctx.actor, FlowId(uuid)).await {
        Ok(flow) if is_collection(&flow) => Ok(flow),
        Ok(_) | Err(DomainError::NotFound { .. }) => Err(collection_missing(uuid)),
        Err(other) => Err(other.into()),
    }
}

fn require_manager(ctx: &Ctx<'_>, org: OrgId) -> Result<(), ZsError> {
    if ctx.actor.may_manage_org(org) {
        Ok(())
    } else {
        Err(ZsError::denied(format!(
            "permission denied, only an admin of project[uuid:{}] may manage its ticket flow collections",
            hex(org.uuid())
        )))
    }
}

/// The collections of `orgs` (every project the caller may enter when `None`).
async fn collections_in(ctx: &Ctx<'_>, orgs: Option<Vec<OrgId>>) -> Result<Vec<Flow>, ZsError> {
    let orgs = match orgs {
        Some(orgs) => orgs,
        None => ctx
            .engine()
            .orgs(&ctx.actor)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect(),
    };
    let mut found = Vec::new();
    for org in orgs {
        if org == ROOT_ORG {
            continue;
        }
        match ctx.engine().list_flows(&ctx.actor, org).await {
            Ok(flows) => found.extend(
                flows
                    .into_iter()
                    .filter(|f| f.org_id == org && is_collection(f)),
            ),
            Err(DomainError::Forbidden { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(found)
}

/// What a `flows` entry of a create or update says; a bare string is a flow's name.
#[derive(Clone, Debug, Default)]
struct FlowPatch {
    name: Option<String>,
    approver: Option<Uuid>,
    title: Option<String>,
    description: Option<String>,
}

fn patch_text(
    entry: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, ZsError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text.clone())),
        Some(Value::String(_)) => Err(ZsError::argerr(format!(
            "{key} of a flow exceeds max length of string, expected was <= {max}"
        ))),
        Some(other) => Err(ZsError::argerr(format!(
            "{key} of a flow must be a string, not {other}"
        ))),
    }
}

fn patches(params: &Params<'_>) -> Result<Option<Vec<FlowPatch>>, ZsError> {
    let items = match params.raw("flows") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ZsError::argerr("field[flows] must be a list of flows")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let patch = match item {
            Value::String(name) if name.chars().count() <= 255 => FlowPatch {
                name: Some(name.clone()),
                ..FlowPatch::default()
            },
            Value::Object(entry) => {
                let approver = match patch_text(entry, "approverUuid", 64)? {
                    None => None,
                    Some(text) => Some(parse_uuid(&text).ok_or_else(|| {
                        ZsError::argerr(format!(
                            "invalid approverUuid[{text}], it is not a valid uuid"
                        ))
                    })?),
                };
                FlowPatch {
                    name: patch_text(entry, "name", 255)?,
                    approver,
                    title: patch_text(entry, "approverTitle", 255)?,
                    description: patch_text(entry, "description", 2048)?,
                }
            }
            other => {
                return Err(ZsError::argerr(format!(
                    "invalid flow {other}, a flow is an object with name and approverUuid"
                )));
            }
        };
        out.push(patch);
    }
    Ok(Some(out))
}

/// Turns the `flows` of a create or update into the new chain. Entries take the place of the
/// existing flow at the same position: what they leave out (even the approver) is kept, and so
/// is that flow's uuid; entries past the existing chain are new flows and must name both.
fn merge(
    ctx: &Ctx<'_>,
    patches: Vec<FlowPatch>,
    existing: &[FlowDef],
) -> Result<Vec<FlowDef>, ZsError> {
    let mut chain = Vec::with_capacity(patches.len());
    for (i, patch) in patches.into_iter().enumerate() {
        let def = match existing.get(i) {
            Some(old) => {
                let mut def = old.clone();
                if let Some(name) = patch.name {
                    def.name = name;
                }
                if let Some(approver) = patch.approver {
                    def.approver = UserId(approver);
                }
                if patch.title.is_some() {
                    def.title = patch.title;
                }
                if let Some(description) = patch.description {
                    def.description = description;
                }
                if def != *old {
                    def.updated = ctx.now;
                }
                def
            }
            None => new_def(ctx, patch, None)?,
        };
        chain.push(def);
    }
    Ok(chain)
}

fn new_def(ctx: &Ctx<'_>, patch: FlowPatch, uuid: Option<Uuid>) -> Result<FlowDef, ZsError> {
    let name = patch
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ZsError::argerr("name is needed when create a flow"))?;
    let approver = patch
        .approver
        .ok_or_else(|| ZsError::argerr("approverUuid cannot be null"))?;
    Ok(FlowDef {
        uuid: uuid.unwrap_or_else(|| ctx.engine().new_id(ctx.now)),
        name,
        description: patch.description.unwrap_or_default(),
        approver: UserId(approver),
        title: patch.title,
        created: ctx.now,
        updated: ctx.now,
    })
}

/// The chain rules: at least one flow, named; every approver a virtual ID of the project; the
/// last approver an admin (system admin or project admin).
async fn check_chain(ctx: &Ctx<'_>, org: OrgId, chain: &[FlowDef]) -> Result<(), ZsError> {
    let Some(last) = chain.last() else {
        return Err(ZsError::argerr(
            "at least one flow is needed for create flow collection",
        ));
    };
    if chain.iter().any(|d| d.name.trim().is_empty()) {
        return Err(ZsError::argerr("name cannot be null"));
    }
    let directory = directory(ctx, org).await?;
    for def in chain {
        if directory.eligible.contains(&def.approver) {
            continue;
        }
        return Err(
            match ctx.engine().get_user(&ctx.actor, def.approver).await {
                Err(DomainError::NotFound { .. }) => ZsError::argerr(format!(
                    "can not find IAM2VirtualIDVO[uuid:{}]",
                    hex(def.approver.uuid())
                )),
                Err(other) => other.into(),
                Ok(_) => ZsError::argerr(format!(
                    "virtual id[uuid:{}] not belong to project[uuid:{}]",
                    hex(def.approver.uuid()),
                    hex(org.uuid())
                )),
            },
        );
    }
    if !directory.admins.contains(&last.approver) {
        return Err(ZsError::argerr(
            "admin or iam2 operation is required as approver of the last flow",
        ));
    }
    Ok(())
}

fn levels(chain: &[FlowDef]) -> Vec<Level> {
    chain.iter().map(FlowDef::level).collect()
}

/// One ticket type matches at most one collection of a project: a rule the store checks in the
/// write's transaction, so two collections cannot claim a type at once. Only the types `wanted`
/// are checked, so a project that broke the rule before it was kept can still be edited.
fn types_free(wanted: Vec<String>) -> Option<FlowRule> {
    if wanted.is_empty() {
        return None;
    }
    Some(Arc::new(move |_collection: &Flow, others: &[Flow]| {
        for other in others {
            if let Some(taken) = type_uuids(other).iter().find(|t| wanted.contains(t)) {
                return Err(DomainError::Conflict(format!(
                    "ticket type[uuid:{taken}] already matches flow collection[uuid:{}], one ticket type can only have one matches flow collection",
                    hex(other.id.uuid())
                )));
            }
        }
        Ok(())
    }))
}

/// Plannings of one collection write before it gives up: each new one follows a default
/// collection written by another request meanwhile.
const DEFAULT_ATTEMPTS: usize = 8;

/// Writes the collection `plan` creates or changes, keeping one default collection per project:
/// when the collection ends up the default (`default`, or its stored mark when `None`), the same
/// batch clears the mark of the project's other defaults, and a rule checked in the write's
/// transaction, beside `types`, refuses the batch if a default was written since they were
/// read, which then plans it again. (Cleared after the write, two concurrent defaults could
/// clear each other's mark and leave none.)
async fn write_collection(
    ctx: &Ctx<'_>,
    org: OrgId,
    plan: FlowPlan<'_>,
    default: Option<bool>,
    types: Option<FlowRule>,
) -> Result<Flow, ZsError> {
    let target = match &plan {
        FlowPlan::Update { id, .. } | FlowPlan::UpdateAt { id, .. } => Some(*id),
        FlowPlan::Create(_) | FlowPlan::CreateAs(..) => None,
    };
    let clear_mark: &(dyn Fn(&mut Flow) + Send + Sync) = &|f| f.is_default = false;
    for _ in 0..DEFAULT_ATTEMPTS {
        let collections = collections_in(ctx, Some(vec![org])).await?;
        if let Some(target) = target
            && !collections.iter().any(|c| c.id == target)
        {
            return Err(collection_missing(target.uuid()));
        }
        let stored_mark = collections
            .iter()
            .any(|c| Some(c.id) == target && c.is_default);
        let clearing: Vec<FlowId> = if default.unwrap_or(stored_mark) {
            collections
                .iter()
                .filter(|c| c.is_default && Some(c.id) != target)
                .map(|c| c.id)
                .collect()
        } else {
            Vec::new()
        };
        let mut plans: Vec<FlowPlan<'_>> = clearing
            .iter()
            .map(|&id| FlowPlan::Update {
                id,
                change: clear_mark,
            })
            .collect();
        plans.push(plan.clone());
        let raced = Arc::new(AtomicBool::new(false));
        let clears_others = !clearing.is_empty();
        let rule = one_default(clearing, types.clone(), Arc::clone(&raced));
        match ctx
            .engine()
            .write_flows(&ctx.actor, &plans, Some(rule), ctx.now)
            .await
        {
            // The batch's last write is the collection's.
            Ok(mut written) => return written.pop().ok_or_else(|| busy().into()),
            Err(_) if raced.load(Ordering::Relaxed) => continue,
            // A collection whose mark the batch cleared was deleted meanwhile (the collection
            // written, if it was that, is found missing above).
            Err(DomainError::NotFound { .. } | DomainError::Store(StoreError::NotFound))
                if clears_others =>
            {
                continue;
            }
            Err(DomainError::InvalidTransition {
                conflict: ConflictKind::StateChanged,
                ..
            }) => return Err(busy().into()),
            Err(error) => return Err(error.into()),
        }
    }
    Err(busy().into())
}

fn busy() -> DomainError {
    DomainError::busy("write flow collection")
}

/// The rule of [`write_collection`]'s batch: the collections whose mark it clears pass; the
/// written one keeps `types`, and if it is the default no other collection of the project may
/// be (`raced` tells the caller that this refused it).
fn one_default(clearing: Vec<FlowId>, types: Option<FlowRule>, raced: Arc<AtomicBool>) -> FlowRule {
    Arc::new(move |collection: &Flow, others: &[Flow]| {
        if clearing.contains(&collection.id) {
            return Ok(());
        }
        if let Some(types) = &types {
            types(collection, others)?;
        }
        if let Some(other) = others
            .iter()
            .find(|o| collection.is_default && o.is_default && is_collection(o))
        {
            raced.store(true, Ordering::Relaxed);
            return Err(DomainError::Conflict(format!(
                "flow collection[uuid:{}] became the default of the project meanwhile",
                hex(other.id.uuid())
            )));
        }
        Ok(())
    })
}

fn checked_types(params: &Params<'_>, name: &str) -> Result<Option<Vec<String>>, ZsError> {
    let Some(ids) = params.opt_uuid_list(name)? else {
        return Ok(None);
    };
    let mut uuids = Vec::with_capacity(ids.len());
    for id in ids {
        uuids.push(known_type(id)?.uuid.to_owned());
    }
    Ok(Some(uuids))
}

/// `CreateIAM2TickFlowCollection`.
pub(crate) async fn create(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let project_uuid = params.req_uuid("projectUuid")?;
    let name = params.req_str("name", 255)?;
    let description = params.opt_str("description", 2048)?.unwrap_or_default();
    let is_default = params.opt_bool("isDefault")?.unwrap_or(false);
    let type_uuids = checked_types(params, "ticketTypeUuids")?.unwrap_or_default();
    let patches = patches(params)?.unwrap_or_default();
    let resource = params.opt_uuid("resourceUuid")?;
    let org = project(ctx, project_uuid).await?;
    require_manager(ctx, org.id)?;
    if let Some(wanted) = resource {
        uuid_free(ctx, wanted).await?;
    }
    let chain = patches
        .into_iter()
        .map(|p| new_def(ctx, p, None))
        .collect::<Result<Vec<_>, _>>()?;
    check_chain(ctx, org.id, &chain).await?;
    let rule = types_free(type_uuids.clone());
    let input = FlowInput {
        org_id: org.id,
        name,
        description,
        kinds: kinds(&type_uuids),
        is_default,
        enabled: true,
        levels: levels(&chain),
        cc_users: Vec::new(),
        attributes: attributes(&type_uuids),
    };
    let plan = match resource {
        Some(id) => FlowPlan::CreateAs(FlowId(id), input),
        None => FlowPlan::Create(input),
    };
    let collection = write_collection(ctx, org.id, plan, Some(is_default), rule).await?;
    rendered(ctx, &collection).await
}

/// `UpdateIAM2TicketFlowCollection` (the seed): name, description, default mark and, when
/// given, the chain of flows.
pub(crate) async fn update(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let name = params.opt_str("name", 255)?;
    let description = params.opt_str("description", 2048)?;
    let is_default = params.opt_bool("isDefault")?;
    let patches = patches(params)?;
    let collection = load(ctx, uuid).await?;
    require_manager(ctx, collection.org_id)?;
    let new_levels = match patches {
        Some(patches) => {
            let chain = merge(ctx, patches, &defs(&collection))?;
            check_chain(ctx, collection.org_id, &chain).await?;
            Some(levels(&chain))
        }
        None => None,
    };
    let chain_changes = new_levels.is_some();
    let change = move |f: &mut Flow| {
        if let Some(name) = &name {
            f.name.clone_from(name);
        }
        if let Some(description) = &description {
            f.description.clone_from(description);
        }
        if let Some(is_default) = is_default {
            f.is_default = is_default;
        }
        if let Some(levels) = &new_levels {
            f.levels.clone_from(levels);
        }
    };
    // New flows are computed from the chain as read: written over another copy they would
    // undo a concurrent change of it (an added flow), so that is refused as busy.
    let plan = if chain_changes {
        FlowPlan::UpdateAt {
            id: collection.id,
            version: collection.version,
            change: &change,
        }
    } else {
        FlowPlan::Update {
            id: collection.id,
            change: &change,
        }
    };
    let updated = write_collection(ctx, collection.org_id, plan, is_default, None).await?;
    rendered(ctx, &updated).await
}

/// `ChangeTicketFlowCollectionState`: `enable` / `disable`.
pub(crate) async fn change_state(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let event = params.req_str("stateEvent", 32)?;
    let enabled = match event.trim().to_ascii_lowercase().as_str() {
        "enable" => true,
        "disable" => false,
        _ => {
            return Err(ZsError::argerr(format!(
                "invalid stateEvent[{event}], valid values are [enable, disable]"
            )));
        }
    };
    let collection = load(ctx, uuid).await?;
    require_manager(ctx, collection.org_id)?;
    let updated = ctx
        .engine()
        .update_flow(
            &ctx.actor,
            collection.id,
            &move |f| f.enabled = enabled,
            ctx.now,
        )
        .await?;
    rendered(ctx, &updated).await
}

/// `DeleteTicketFlowCollection`: open tickets keep the steps they were opened with.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    params.delete_mode()?;
    let collection = load(ctx, uuid).await?;
    require_manager(ctx, collection.org_id)?;
    ctx.engine().delete_flow(&ctx.actor, collection.id).await?;
    Ok(Map::new())
}

/// Sets a collection's types to `wanted`, of which `added` must be free in its project.
async fn set_types(
    ctx: &Ctx<'_>,
    collection: &Flow,
    wanted: Vec<String>,
    added: Vec<String>,
) -> Result<Map<String, Value>, ZsError> {
    let new_kinds = kinds(&wanted);
    let new_attributes = attributes(&wanted);
    let change = move |f: &mut Flow| {
        f.kinds.clone_from(&new_kinds);
        f.attributes = new_attributes.clone();
    };
    // `wanted` comes from the types as read: written over a newer copy, it would undo a
    // concurrent addition or removal, so that is refused as busy.
    let updated = write_over(ctx, collection, &change, types_free(added))
        .await?
        .ok_or_else(busy)?;
    rendered(ctx, &updated).await
}

fn required_types(params: &Params<'_>) -> Result<Vec<String>, ZsError> {
    match checked_types(params, "ticketTypeUuids")? {
        Some(types) if !types.is_empty() => Ok(types),
        Some(_) => Err(ZsError::argerr("field[ticketTypeUuids] can not be empty")),
        None => Err(params.missing("ticketTypeUuids")),
    }
}

/// `AddTicketTypesToTicketFlowCollection`.
pub(crate) async fn add_types(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("ticketFlowCollectionUuid")?;
    let added = required_types(params)?;
    let collection = load(ctx, uuid).await?;
    require_manager(ctx, collection.org_id)?;
    let mut wanted = type_uuids(&collection);
    for t in &added {
        if !wanted.contains(t) {
            wanted.push(t.clone());
        }
    }
    set_types(ctx, &collection, wanted, added).await
}

/// `RemoveTicketTypesFromTicketFlowCollection`.
pub(crate) async fn remove_types(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("ticketFlowCollectionUuid")?;
    let removed = required_types(params)?;
    let collection = load(ctx, uuid).await?;
    require_manager(ctx, collection.org_id)?;
    let wanted: Vec<String> = type_uuids(&collection)
        .into_iter()
        .filter(|t| !removed.contains(t))
        .collect();
    set_types(ctx, &collection, wanted, Vec::new()).await
}

/// Writes the chain `edit` makes of collection `uuid`'s flows, and answers the flow it names
/// (`None`: nothing). The chain is computed from the collection as read and written only over
/// that version ([`FlowPlan::UpdateAt`]); if another request changed it meanwhile, it is read
/// and edited again (written over the newer copy, concurrent additions were each answered and
/// most were lost).
async fn write_chain(
    ctx: &Ctx<'_>,
    uuid: Uuid,
    edit: impl Fn(&Flow) -> Result<(Vec<FlowDef>, Option<Uuid>), ZsError>,
) -> Result<Map<String, Value>, ZsError> {
    for _ in 0..DEFAULT_ATTEMPTS {
        let collection = load(ctx, uuid).await?;
        require_manager(ctx, collection.org_id)?;
        let (chain, focus) = edit(&collection)?;
        check_chain(ctx, collection.org_id, &chain).await?;
        let new_levels = levels(&chain);
        let change = move |f: &mut Flow| f.levels.clone_from(&new_levels);
        let Some(updated) = write_over(ctx, &collection, &change, None).await? else {
            continue;
        };
        let Some(focus) = focus else {
            return Ok(Map::new());
        };
        let directory = directory(ctx, updated.org_id).await?;
        let focus = hex(focus);
        let row = flow_rows(&updated, &directory)
            .into_iter()
            .find(|r| r.get("uuid").and_then(Value::as_str) == Some(focus.as_str()));
        return match row {
            Some(mut row) => {
                render_dates(&mut row, &[], ctx.zone());
                Ok(one(row))
            }
            None => Err(ZsError::internal("a flow just written is missing")),
        };
    }
    Err(busy().into())
}

/// Writes `change` over `collection` as read ([`FlowPlan::UpdateAt`]), with `rule`; `None`
/// when another request changed it since, for the caller to read it again or give up.
async fn write_over(
    ctx: &Ctx<'_>,
    collection: &Flow,
    change: &(dyn Fn(&mut Flow) + Send + Sync),
    rule: Option<FlowRule>,
) -> Result<Option<Flow>, ZsError> {
    let plan = FlowPlan::UpdateAt {
        id: collection.id,
        version: collection.version,
        change,
    };
    match ctx
        .engine()
        .write_flows(&ctx.actor, &[plan], rule, ctx.now)
        .await
    {
        Ok(mut written) => Ok(Some(written.pop().ok_or_else(busy)?)),
        Err(DomainError::InvalidTransition {
            conflict: ConflictKind::StateChanged,
            ..
        }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// `AddIAM2TicketFlow`: after `parentFlowUuid` in the chain, else at its end.
pub(crate) async fn add_flow(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let collection_uuid = params.req_uuid("collectionUuid")?;
    let name = params.req_str("name", 255)?;
    let approver = params.req_uuid("approverUuid")?;
    let title = params.opt_str("approverTitle", 255)?;
    let description = params.opt_str("description", 2048)?;
    let parent = params.opt_uuid("parentFlowUuid")?;
    let resource = params.opt_uuid("resourceUuid")?;
    let collection = load(ctx, collection_uuid).await?;
    require_manager(ctx, collection.org_id)?;
    if let Some(wanted) = resource {
        uuid_free(ctx, wanted).await?;
    }
    let def = new_def(
        ctx,
        FlowPatch {
            name: Some(name),
            approver: Some(approver),
            title,
            description,
        },
        resource,
    )?;
    write_chain(ctx, collection_uuid, |collection| {
        let mut chain = defs(collection);
        // Checked again on the chain as read again: additions racing with one client-chosen
        // uuid each found it free before, and all were kept.
        if chain.iter().any(|d| d.uuid == def.uuid) {
            return Err(ZsError::argerr(format!(
                "a flow with uuid[{}] already exists",
                hex(def.uuid)
            )));
        }
        let position = match parent {
            None => chain.len(),
            Some(parent) => {
                chain.iter().position(|d| d.uuid == parent).ok_or_else(|| {
                    ZsError::argerr(format!(
                        "parent flow[uuid:{}] is not in flow collection[uuid:{}]",
                        hex(parent),
                        hex(collection_uuid)
                    ))
                })? + 1
            }
        };
        chain.insert(position.min(chain.len()), def.clone());
        Ok((chain, Some(def.uuid)))
    })
    .await
}

/// A `resourceUuid` names one resource, as in ZStack: the one a flow or a collection is given
/// must be no flow's, collection's or other API's flow's in any project, the caller's or
/// another's (flows are found by it alone; collections share their ids with every flow).
async fn uuid_free(ctx: &Ctx<'_>, uuid: Uuid) -> Result<(), ZsError> {
    let flows = ctx
        .engine()
        .flows_of_every_org()
        .await
        .map_err(DomainError::from)?;
    let taken = flows.iter().any(|flow| {
        flow.id.uuid() == uuid || (is_collection(flow) && defs(flow).iter().any(|d| d.uuid == uuid))
    });
    if taken {
        return Err(ZsError::argerr(format!(
            "a flow with uuid[{}] already exists",
            hex(uuid)
        )));
    }
    Ok(())
}

/// The collection holding flow `uuid` and the flow's position in it.
async fn find_flow(ctx: &Ctx<'_>, uuid: Uuid) -> Result<(Flow, usize), ZsError> {
    for collection in collections_in(ctx, None).await? {
        if let Some(i) = defs(&collection).iter().position(|d| d.uuid == uuid) {
            return Ok((collection, i));
        }
    }
    Err(ZsError::not_found(format!(
        "unable to find ticket flow[uuid:{}]",
        hex(uuid)
    )))
}

/// `UpdateIAM2TicketFlow`.
pub(crate) async fn update_flow(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    let patch = FlowPatch {
        name: params.opt_str("name", 255)?,
        approver: params.opt_uuid("approverUuid")?,
        title: params.opt_str("approverTitle", 255)?,
        description: params.opt_str("description", 2048)?,
    };
    let (collection, _) = find_flow(ctx, uuid).await?;
    write_chain(ctx, collection.id.uuid(), |collection| {
        let chain = defs(collection);
        let position = flow_position(collection, &chain, uuid)?;
        let mut patches: Vec<FlowPatch> = chain.iter().map(|_| FlowPatch::default()).collect();
        if let Some(slot) = patches.get_mut(position) {
            *slot = patch.clone();
        }
        Ok((merge(ctx, patches, &chain)?, Some(uuid)))
    })
    .await
}

/// Where flow `uuid` is in `chain`, the flows of `collection` as read again: a flow deleted
/// meanwhile is not found.
fn flow_position(collection: &Flow, chain: &[FlowDef], uuid: Uuid) -> Result<usize, ZsError> {
    chain.iter().position(|d| d.uuid == uuid).ok_or_else(|| {
        ZsError::not_found(format!(
            "unable to find ticket flow[uuid:{}] in flow collection[uuid:{}]",
            hex(uuid),
            hex(collection.id.uuid())
        ))
    })
}

/// `DeleteIAM2TicketFlow`: the chain closes over the gap.
pub(crate) async fn delete_flow(
    ctx: &Ctx<'_>,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let uuid = params.req_uuid("uuid")?;
    params.delete_mode()?;
    let (collection, _) = find_flow(ctx, uuid).await?;
    write_chain(ctx, collection.id.uuid(), |collection| {
        let mut chain = defs(collection);
        let position = flow_position(collection, &chain, uuid)?;
        chain.remove(position);
        Ok((chain, None))
    })
    .await
}

fn project_filter(spec: &QuerySpec, field: &str) -> Option<Vec<OrgId>> {
    spec.required_values(field).map(|values| {
        values
            .iter()
            .filter_map(|v| parse_uuid(v))
            .map(OrgId)
            .collect()
    })
}

/// The collections a query may match, narrowed by `uuid` or `projectUuid` conditions.
async fn candidates(
    ctx: &Ctx<'_>,
    spec: &QuerySpec,
    uuid_field: &str,
) -> Result<Vec<Flow>, ZsError> {
    if let Some(ids) = spec.required_values(uuid_field) {
        let mut found = Vec::new();
        for id in ids.iter().filter_map(|v| parse_uuid(v)) {
            match load(ctx, id).await {
                Ok(collection) => found.push(collection),
                Err(error) if error.code == crate::error::SYS_NOT_FOUND => {}
                Err(other) => return Err(other),
            }
        }
        return Ok(found);
    }
    collections_in(ctx, project_filter(spec, "projectUuid")).await
}

/// `QueryTicketFlowCollection`.
pub(crate) async fn query(ctx: &Ctx<'_>, spec: &QuerySpec) -> Result<Map<String, Value>, ZsError> {
    let collections = candidates(ctx, spec, "uuid").await?;
    let mut directories = Directories::default();
    let mut rows = Vec::with_capacity(collections.len());
    for collection in &collections {
        let directory = directories.of(ctx, collection.org_id).await?;
        rows.push(collection_row(collection, directory));
    }
    answer(spec, &COLLECTION, rows, ctx.zone(), ctx.max_page())
}

/// `QueryTicketFlow`.
pub(crate) async fn query_flows(
    ctx: &Ctx<'_>,
    spec: &QuerySpec,
) -> Result<Map<String, Value>, ZsError> {
    let collections = candidates(ctx, spec, "collectionUuid").await?;
    let mut directories = Directories::default();
    let mut rows = Vec::new();
    for collection in &collections {
        let directory = directories.of(ctx, collection.org_id).await?;
        rows.extend(flow_rows(collection, directory));
    }
    answer(spec, &FLOW, rows, ctx.zone(), ctx.max_page())
}

/// The collection a new ticket goes through: the one named (which must belong to the project
/// and serve the ticket's type), else the one of the ticket's type, else the project's default;
/// it must be enabled and valid.
pub(crate) async fn resolve_for_ticket(
    ctx: &Ctx<'_>,
    org: &Org,
    ticket_type: Option<&TicketType>,
    wanted: Option<Uuid>,
) -> Result<Flow, ZsError> {
    let kind = ticket_type.map_or(types::KIND_UNTYPED, |t| t.name);
    let chosen = match wanted {
        Some(uuid) => {
            let collection = load(ctx, uuid).await?;
            if collection.org_id != org.id {
                return Err(ZsError::argerr(format!(
                    "flow collection[uuid:{}] it not belong the project[uuid:{}]",
                    hex(uuid),
                    hex(org.id.uuid())
                )));
            }
            if !collection.serves(kind) {
                return Err(ZsError::argerr(format!(
                    "Ticket flow collection[uuid:{}] not matches ticket type[uuid:{}]",
                    hex(uuid),
                    ticket_type.map_or("null", |t| t.uuid)
                )));
            }
            collection
        }
        None => {
            let mut all = collections_in(ctx, Some(vec![org.id])).await?;
            // Several defaults can only come from data written before the one-default rule was
            // kept in the write's transaction: the latest one wins.
            all.sort_by_key(|c| std::cmp::Reverse(c.updated_at));
            let by_type = ticket_type.and_then(|t| {
                all.iter()
                    .position(|c| type_uuids(c).iter().any(|u| u == t.uuid))
            });
            let default = all.iter().position(|c| c.is_default && c.serves(kind));
            match by_type.or(default) {
                Some(i) if i < all.len() => all.swap_remove(i),
                _ => {
                    return Err(ZsError::argerr(
                        "no matched ticket flow collection or no default ticket flow collection found, you must specify the flowCollectionUuid or create a default ticket flow collection in system",
                    ));
                }
            }
        }
    };
    let uuid = hex(chosen.id.uuid());
    if !chosen.enabled {
        return Err(ZsError::operr(format!(
            "ticket flow collection[uuid:{uuid}] is disable, can not be used"
        )));
    }
    let directory = directory(ctx, org.id).await?;
    if !defs(&chosen)
        .iter()
        .all(|d| directory.eligible.contains(&d.approver))
    {
        return Err(ZsError::operr(format!(
            "ticket flow collection[uuid:{uuid}] is invalid, contact admin to correct it"
        )));
    }
    Ok(chosen)
}
