//! Ticket types: ZStack's built-in catalogue, how a ticket's requests pick its type, and the
//! ticketd ticket kind each type is stored as.

use crate::query::Inventory;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The kind of ZStack tickets whose requests match no ticket type.
pub(crate) const KIND_UNTYPED: &str = "zstack";

/// A built-in ticket type.
#[derive(Debug)]
pub(crate) struct TicketType {
    /// Its fixed id, as ZStack ships it.
    pub(crate) uuid: &'static str,
    /// Its name, also the ticketd ticket kind of tickets of this type.
    pub(crate) name: &'static str,
    /// Free text.
    pub(crate) description: &'static str,
    /// The API messages a ticket of this type may carry.
    pub(crate) requests: &'static [&'static str],
    /// Only administrators may file it.
    pub(crate) admin_only: bool,
}

/// Every ticket type (ZStack publishes one; there is no API to add more).
pub(crate) const TYPES: [TicketType; 1] = [TicketType {
    uuid: "3b933e9aaf2d49b9a3dcf0c92867790f",
    name: "CREATE_VM_INSTANCE_TICKET_TYPE",
    description: "ticket type for creating vm instance",
    requests: &["org.zstack.header.vm.APICreateVmInstanceMsg"],
    admin_only: false,
}];

/// The queryable fields of `TicketTypeInventory`.
pub(crate) const INVENTORY: Inventory = Inventory {
    name: "TicketTypeInventory",
    fields: &[
        "uuid",
        "name",
        "description",
        "type",
        "requests",
        "adminOnly",
        "createDate",
        "lastOpDate",
    ],
    nested: &[],
};

/// The type with this id.
pub(crate) fn by_uuid(uuid: &str) -> Option<&'static TicketType> {
    TYPES.iter().find(|t| t.uuid == uuid)
}

/// The type of a ticket: the first type that lists every API the ticket requests.
pub(crate) fn matching(api_names: &[String]) -> Option<&'static TicketType> {
    TYPES.iter().find(|t| {
        !api_names.is_empty()
            && api_names
                .iter()
                .all(|api| t.requests.contains(&api.as_str()))
    })
}

/// Every ticketd kind a ZStack ticket can have: what a collection serving "any type" serves.
pub(crate) fn all_kinds() -> Vec<String> {
    std::iter::once(KIND_UNTYPED)
        .chain(TYPES.iter().map(|t| t.name))
        .map(str::to_owned)
        .collect()
}

/// When the built-in types were "created" (they ship with the server).
fn shipped() -> i64 {
    DateTime::<Utc>::from_timestamp(1_546_300_800, 0).map_or(0, |t| t.timestamp_millis())
}

/// `TicketTypeInventory` rows (dates as epoch milliseconds, rendered by the query).
pub(crate) fn inventories() -> Vec<Map<String, Value>> {
    TYPES
        .iter()
        .filter_map(|t| {
            let row = json!({
                "uuid": t.uuid,
                "name": t.name,
                "description": t.description,
                "type": "IAM2",
                "requests": t.requests.join(","),
                "adminOnly": t.admin_only,
                "createDate": shipped(),
                "lastOpDate": shipped(),
            });
            match row {
                Value::Object(map) => Some(map),
                _ => None,
            }
        })
        .collect()
}
