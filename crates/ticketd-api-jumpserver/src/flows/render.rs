//! Flow output in JumpServer's shapes, with rules in both the v4 and the legacy form.

use super::input::CUSTOM_STRATEGY;
use crate::choices::{Choice, Lang, level, strategy, ticket_type};
use crate::format::datetime;
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use ticketd_core::flow::Flow;
use ticketd_core::identity::{DirectoryEntry, Org, ROOT_ORG, SystemRole, User};
use ticketd_core::selector::{LegacyStrategy, Selector};
use ticketd_core::{Actor, DomainError, Engine, OrgId, RoleId, UserId};

/// The type a flow is shown with: its first served type; a flow serving every type (possible
/// through other dialects) reads as `general`, JumpServer's default.
pub(super) fn flow_type(flow: &Flow) -> &str {
    flow.kinds.first().map_or("general", String::as_str)
}

/// The users a request may see, by id.
pub(super) async fn known_users(
    engine: &Engine,
    actor: &Actor,
) -> Result<HashMap<UserId, User>, DomainError> {
    Ok(engine
        .users(actor, None)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect())
}

/// The users of `org` with their org roles, as approver resolution sees them, through the
/// engine's own listings (so a caller never learns of users they may not see).
///
/// For the root organization this is every active user without org roles, which is how the
/// core resolves the levels of global flows.
pub(super) async fn directory(
    engine: &Engine,
    actor: &Actor,
    org: OrgId,
) -> Result<Vec<DirectoryEntry>, DomainError> {
    let users = match engine.users(actor, Some(org)).await {
        Ok(users) => users,
        // Org admins may not list the root organization: show them the users they can see.
        Err(DomainError::Forbidden { .. }) if org == ROOT_ORG => engine.users(actor, None).await?,
        Err(DomainError::Forbidden { .. }) => Vec::new(),
        Err(other) => return Err(other),
    };
    let mut roles: HashMap<UserId, Vec<RoleId>> = HashMap::new();
    if org != ROOT_ORG {
        match engine.members(actor, org).await {
            Ok(members) => {
                for m in members {
                    roles.entry(m.user_id).or_default().push(m.role_id);
                }
            }
            Err(DomainError::Forbidden { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(users
        .into_iter()
        .filter(|u| u.is_active)
        .map(|user| DirectoryEntry {
            org_roles: roles.remove(&user.id).unwrap_or_default(),
            user,
        })
        .collect())
}

/// The users of a directory a selector matches, sorted by username.
pub(super) fn resolve<'a>(selector: &Selector, directory: &'a [DirectoryEntry]) -> Vec<&'a User> {
    // Role pairs name other organizations' memberships, which a JumpServer flow never uses;
    // without them such a rule matches only on its system-admin pairs.
    let no_pairs = |_: OrgId, _: UserId| Vec::new();
    let mut users: Vec<&User> = directory
        .iter()
        .filter(|e| selector.matches(e, &no_pairs))
        .map(|e| &e.user)
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    users.dedup_by_key(|u| u.id);
    users
}

/// What rendering needs beyond the flows: languages, users, directories, org names.
pub(super) struct View {
    pub(super) lang: Lang,
    pub(super) zone: Tz,
    users: HashMap<UserId, User>,
    directories: HashMap<OrgId, Vec<DirectoryEntry>>,
    org_names: HashMap<OrgId, String>,
}

impl View {
    /// Loads what rendering `flows` needs.
    pub(super) async fn load(
        engine: &Engine,
        actor: &Actor,
        current: &Org,
        lang: Lang,
        zone: Tz,
        flows: &[Flow],
    ) -> Result<View, DomainError> {
        let users = known_users(engine, actor).await?;
        let mut directories = HashMap::new();
        let mut org_names = HashMap::from([
            (current.id, crate::admin::org_label(current)),
            (ROOT_ORG, "GLOBAL".to_owned()),
        ]);
        let mut orgs_loaded = false;
        for flow in flows {
            if let Entry::Vacant(slot) = directories.entry(flow.org_id) {
                slot.insert(directory(engine, actor, flow.org_id).await?);
            }
            if !org_names.contains_key(&flow.org_id) && !orgs_loaded {
                orgs_loaded = true;
                for org in engine.orgs(actor).await? {
                    let label = crate::admin::org_label(&org);
                    org_names.entry(org.id).or_insert(label);
                }
            }
        }
        Ok(View {
            lang,
            zone,
            users,
            directories,
            org_names,
        })
    }

    /// `[{"id","name","username"}]` of the users the caller may see.
    fn user_list(&self, ids: &[UserId]) -> Value {
        Value::Array(
            ids.iter()
                .filter_map(|id| self.users.get(id))
                .map(|u| json!({"id": u.id.to_string(), "name": u.name, "username": u.username}))
                .collect(),
        )
    }

    /// One rule in both forms: v4 `users`, and legacy `strategy`/`assignees`.
    fn rule(&self, flow: &Flow, position: usize, selector: &Selector) -> Value {
        let directory = self
            .directories
            .get(&flow.org_id)
            .map_or(&[][..], Vec::as_slice);
        let (users, assignees): (Value, Vec<&User>) = match selector {
            // Deleted (or invisible) users are left out, as JumpServer re-renders id lists.
            Selector::Ids { ids } => {
                let present: Vec<&User> = ids.iter().filter_map(|id| self.users.get(id)).collect();
                let ids: Vec<String> = present.iter().map(|u| u.id.to_string()).collect();
                // The approvers are whom an opening would assign: the rule's users still active
                // and in the organization, or system administrators, who may enter any
                // (`Store::org_directory`); one who left stays in the rule, to approve again if
                // invited back, but no longer reads as an approver.
                let assigned = present
                    .into_iter()
                    .filter(|u| {
                        u.is_active
                            && (u.system_role == SystemRole::Admin
                                || directory.iter().any(|e| e.user.id == u.id))
                    })
                    .collect();
                (json!({"type": "ids", "ids": ids}), assigned)
            }
            other => (
                serde_json::to_value(other).unwrap_or(Value::Null),
                resolve(other, directory),
            ),
        };
        let name = LegacyStrategy::from_selector(selector).map_or(CUSTOM_STRATEGY, |s| s.as_str());
        json!({
            "level": position + 1,
            "users": users,
            "strategy": strategy(name, self.lang),
            "assignees": assignees.iter().map(|u| u.id.to_string()).collect::<Vec<_>>(),
            "assignees_display": assignees.iter().map(|u| u.display()).collect::<Vec<_>>(),
        })
    }

    /// A flow as `flows/` renders it.
    pub(super) fn flow(&self, flow: &Flow) -> Value {
        let rules: Vec<Value> = flow
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| self.rule(flow, i, &l.selector))
            .collect();
        let org_name = self
            .org_names
            .get(&flow.org_id)
            .cloned()
            .unwrap_or_else(|| flow.org_id.to_string());
        json!({
            "id": flow.id.to_string(),
            "name": flow.name,
            "type": ticket_type(flow_type(flow), self.lang),
            "approval_level": self.approval_level(flow),
            "org_id": flow.org_id.to_string(),
            "org_name": org_name,
            "rules": rules,
            "cc_users": self.user_list(&flow.cc_users),
            "created_by": flow.created_by,
            "date_created": datetime(flow.created_at, self.zone),
            "date_updated": datetime(flow.updated_at, self.zone),
        })
    }

    fn approval_level(&self, flow: &Flow) -> Choice<u32, Cow<'static, str>> {
        level(
            u32::try_from(flow.levels.len()).unwrap_or(u32::MAX),
            self.lang,
        )
    }

    /// A flow as `flows/options/` renders it.
    pub(super) fn option(&self, flow: &Flow) -> Value {
        json!({
            "id": flow.id.to_string(),
            "name": flow.name,
            "type": ticket_type(flow_type(flow), self.lang),
            "approval_level": self.approval_level(flow),
            "cc_users": self.user_list(&flow.cc_users),
        })
    }

    /// The CC users of a flow, as `flows/cc-users/` renders them.
    pub(super) fn cc_users(&self, flow: &Flow) -> Value {
        self.user_list(&flow.cc_users)
    }
}
