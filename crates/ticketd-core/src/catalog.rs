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
