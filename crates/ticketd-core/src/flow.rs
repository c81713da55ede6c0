//! Approval flows: ordered levels, each with an approver selector and a decision mode.

use crate::error::FieldError;
use crate::ids::{FlowId, OrgId, UserId};
use crate::selector::Selector;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most levels a flow may have.
pub const MAX_LEVELS: usize = 20;

/// How the assignees of one level reach a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LevelMode {
    /// 或签: the first assignee to act decides the level.
    Any,
    /// 会签: every assignee must approve; any rejection rejects.
    All,
    /// `n` approvals close the level; it is rejected once `n` can no longer be reached.
    Threshold {
        /// Approvals needed (at least 1; capped at the number of assignees when steps are built).
        n: u32,
    },
}

impl LevelMode {
    /// The stable name: `any`, `all` or `threshold`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
            Self::Threshold { .. } => "threshold",
        }
    }
}

/// One level of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Who may decide.
    pub selector: Selector,
    /// How they decide.
    pub mode: LevelMode,
    /// A label (ZStack flow name, TopHC role name); may be empty.
    #[serde(default)]
    pub name: String,
    /// Dialect-owned extras of this level (e.g. ZStack `approverTitle`), stored as given.
    #[serde(default)]
    pub attributes: Value,
}

/// A flow: the template a ticket's steps are built from when it is submitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Its id.
    pub id: FlowId,
    /// Owning organization; ROOT means a global flow.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Ticket types it serves; empty means any.
    pub kinds: Vec<String>,
    /// Chosen when a ticket names no flow and several serve its type.
    pub is_default: bool,
    /// Disabled flows cannot be chosen for new tickets.
    pub enabled: bool,
    /// The ordered levels (level 1 first).
    pub levels: Vec<Level>,
    /// Users copied on every ticket of this flow.
    pub cc_users: Vec<UserId>,
    /// Dialect-owned extras (e.g. TopHC process fields), stored as given.
    pub attributes: Value,
    /// Who created it (display text).
    pub created_by: String,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Flow {
    /// Where the flow's selectors are evaluated for a ticket of (or a reader in) `org`: in the
    /// flow's organization, except that a global flow speaks of that organization ("org admins
    /// approve" means its admins).
    pub fn resolution_org(&self, org: OrgId) -> OrgId {
        if self.org_id == crate::identity::ROOT_ORG {
            org
        } else {
            self.org_id
        }
    }

    /// The API that manages this flow (`attributes.dialect`: a TopHC process, a ZStack flow
    /// collection), if one marked it; JumpServer's flows and the core's carry no mark.
    pub fn dialect(&self) -> Option<&str> {
        self.attributes.get("dialect").and_then(Value::as_str)
    }

    /// The attribute by which an API has the core reject a pending ticket of this flow that one
    /// of its remaining levels can no longer be decided on, its value the reason recorded.
    pub const REJECT_STRANDED: &'static str = "reject_stranded";

    /// Why a pending ticket of this flow is rejected once one of its remaining levels has no
    /// approver left (an approver left the organization, was deleted or deactivated), where the
    /// flow's API asks for it ([`Flow::REJECT_STRANDED`]: ZStack rejects such a ticket); other
    /// flows' tickets stay pending, to be closed by their applicant.
    pub fn stranded_reason(&self) -> Option<&str> {
        self.attributes
            .get(Self::REJECT_STRANDED)
            .and_then(Value::as_str)
    }

    /// Whether this flow serves tickets of `kind`.
    pub fn serves(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }

    /// Whether this flow may route a ticket of `kind`: it serves the kind, and a kind opened
    /// through its own API only ([`crate::ticket::has_its_own_api`]: an asset permission, a table
    /// permission) only by a flow that names it, never by a catch-all (a TopHC process, a ZStack
    /// collection without types), whose approvers that API's rules never chose.
    pub fn routes(&self, kind: &str) -> bool {
        self.serves(kind)
            && (!crate::ticket::has_its_own_api(kind) || self.kinds.iter().any(|k| k == kind))
    }

    /// Whether `other` has this flow's name (ignoring case and surrounding spaces) and a ticket
    /// type in common with it (a flow without types takes every type).
    pub fn same_name_and_type(&self, other: &Flow) -> bool {
        self.name.trim().to_lowercase() == other.name.trim().to_lowercase()
            && (self.kinds.is_empty()
                || other.kinds.is_empty()
                || other.kinds.iter().any(|k| self.kinds.contains(k)))
    }

    /// Checks the parts of a flow a user supplies.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new(
                "name",
                "required",
                "name must not be blank",
            ));
        } else if self.name.chars().count() > 128 {
            errors.push(FieldError::new(
                "name",
                "too_long",
                "name is longer than 128 characters",
            ));
        }
        if self.levels.is_empty() {
            errors.push(FieldError::new(
                "levels",
                "required",
                "a flow needs at least one level",
            ));
        }
        if self.levels.len() > MAX_LEVELS {
            errors.push(FieldError::new(
                "levels",
                "too_long",
                format!("a flow has at most {MAX_LEVELS} levels"),
            ));
        }
        for (i, level) in self.levels.iter().enumerate() {
            errors.extend(level.selector.validate(&format!("levels[{i}].selector")));
            if let LevelMode::Threshold { n: 0 } = level.mode {
                errors.push(FieldError::new(
                    format!("levels[{i}].mode"),
                    "invalid",
                    "threshold must be at least 1",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
