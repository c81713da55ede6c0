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
use ticketd_core::identity::{Org, ROOT_ORG, User};
use ticketd_core::selector::{LegacyStrategy, Selector};
use ticketd_core::{Actor, DomainError, Engine, FlowId, OrgId, UserId};

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

/// The users each level of `flow` would be assigned at an opening in `org`, by the core's own
/// resolution (the organization's active members and every active system administrator); none
/// for a level of named users, which [`View::rule`] lists as named.
async fn level_approvers(
    engine: &Engine,
    flow: &Flow,
    org: OrgId,
) -> Result<Vec<Vec<UserId>>, DomainError> {
    let mut levels = Vec::with_capacity(flow.levels.len());
    for level in &flow.levels {
        levels.push(match &level.selector {
            Selector::Ids { .. } => Vec::new(),
            selector => engine
                .eligible_approvers(org, selector)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect(),
        });
    }
    Ok(levels)
}

/// What rendering needs beyond the flows: languages, users, directories, org names.
pub(super) struct View {
    pub(super) lang: Lang,
    pub(super) zone: Tz,
    users: HashMap<UserId, User>,
    /// Each flow's approvers by level ([`level_approvers`]).
    approvers: HashMap<FlowId, Vec<Vec<UserId>>>,
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
        let mut approvers = HashMap::new();
        let mut org_names = HashMap::from([
            (current.id, crate::admin::org_label(current)),
            (ROOT_ORG, "GLOBAL".to_owned()),
        ]);
        let mut orgs_loaded = false;
        for flow in flows {
            if let Entry::Vacant(slot) = approvers.entry(flow.id) {
                let org = flow.resolution_org(current.id);
                slot.insert(level_approvers(engine, flow, org).await?);
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
            approvers,
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
        let (users, assignees): (Value, Vec<&User>) = match selector {
            // The users a rule names, as JumpServer lists a custom rule's (deleted or invisible
            // ones left out, as it re-renders id lists), whether or not an opening would still
            // assign them (it assigns active members and system administrators): so a rule
            // read back and sent again is the same rule in both forms.
            Selector::Ids { ids } => {
                let present: Vec<&User> = ids.iter().filter_map(|id| self.users.get(id)).collect();
                let ids: Vec<String> = present.iter().map(|u| u.id.to_string()).collect();
                (json!({"type": "ids", "ids": ids}), present)
            }
            // Whom an opening would assign, by the core's resolution, for a global flow in the
            // organization it is read from (until 2026-12-07 the dialect's own approximation,
            // which resolved a global flow's organization roles nowhere and left out system
            // administrators who were no members).
            other => (
                serde_json::to_value(other).unwrap_or(Value::Null),
                self.approvers
                    .get(&flow.id)
                    .and_then(|levels| levels.get(position))
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter_map(|id| self.users.get(id))
                    .collect(),
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
