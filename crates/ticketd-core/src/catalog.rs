//! The catalog tickets refer to: assets and the node tree, per organization.

use crate::ids::{AssetId, NodeId, OrgId};
use chrono::{DateTime, Utc};

/// A server, database or device one may apply for access to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    /// Its id.
    pub id: AssetId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// Platform, e.g. `Linux`.
    pub platform: String,
    /// Inactive assets are kept but not offered.
    pub is_active: bool,
    /// Nodes it belongs to.
    pub node_ids: Vec<NodeId>,
    /// Free text.
    pub comment: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Asset {
    /// `"name(address)"`, JumpServer's display form.
    pub fn display(&self) -> String {
        format!("{}({})", self.name, self.address)
    }
}

/// The `constraint` of a store's `Conflict` when a new asset's id is another asset's, told apart
/// from a taken name by the store (its insert of a taken id writes nothing; a read after the
/// refusal could still miss the other creation's commit, and the databases may report either
/// index first when both are taken).
pub const ASSET_ID_TAKEN: &str = "assets.id";

/// The fields a change of an asset gives; the others stay as stored, so concurrent changes of
/// different fields both stay (a change written with the rest of the row it had read undid a
/// deactivation, or a rename, made meanwhile).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetChange {
    /// Moved to this organization.
    pub org_id: Option<OrgId>,
    /// A new name.
    pub name: Option<String>,
    /// A new address.
    pub address: Option<String>,
    /// A new platform.
    pub platform: Option<String>,
    /// Activated or deactivated.
    pub is_active: Option<bool>,
    /// The nodes it is in, all of them.
    pub node_ids: Option<Vec<NodeId>>,
    /// A new comment.
    pub comment: Option<String>,
}

impl AssetChange {
    /// Every field of `asset`.
    pub fn all_of(asset: &Asset) -> Self {
        Self {
            org_id: Some(asset.org_id),
            name: Some(asset.name.clone()),
            address: Some(asset.address.clone()),
            platform: Some(asset.platform.clone()),
            is_active: Some(asset.is_active),
            node_ids: Some(asset.node_ids.clone()),
            comment: Some(asset.comment.clone()),
        }
    }

    /// `stored` with the change applied.
    pub fn applied_to(&self, stored: &Asset) -> Asset {
        let or =
            |given: &Option<String>, kept: &String| given.clone().unwrap_or_else(|| kept.clone());
        Asset {
            org_id: self.org_id.unwrap_or(stored.org_id),
            name: or(&self.name, &stored.name),
            address: or(&self.address, &stored.address),
            platform: or(&self.platform, &stored.platform),
            is_active: self.is_active.unwrap_or(stored.is_active),
            node_ids: self
                .node_ids
                .clone()
                .unwrap_or_else(|| stored.node_ids.clone()),
            comment: or(&self.comment, &stored.comment),
            ..stored.clone()
        }
    }
}

/// A node of an organization's asset tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Its own name (`value`).
    pub name: String,
    /// Parent node; `None` for a root.
    pub parent_id: Option<NodeId>,
    /// The full path, e.g. `/Default/Prod`.
    pub full_value: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Filters of asset and node lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogQuery {
    /// Only these organizations (`None`: any).
    pub org_ids: Option<Vec<OrgId>>,
    /// Name (or address, or full path) contains, case-insensitive.
    pub search: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<uuid::Uuid>>,
    /// Page size (0: no limit).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

impl CatalogQuery {
    /// Refuses a search text longer than [`crate::store::MAX_SEARCHED_CHARS`].
    pub fn check_size(&self) -> Result<(), crate::DomainError> {
        match &self.search {
            Some(text) => crate::store::check_searched_text("search", text),
            None => Ok(()),
        }
    }
}
