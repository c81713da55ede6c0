//! ticketd's domain core: tickets, flows, the approval state machine, who may do what, and the `Store` trait.
//!
//! Nothing here performs IO or reads the clock: the current time and random bytes are passed in,
//! and persistence goes through [`store::Store`], so every rule can be tested in isolation and is
//! shared by every API dialect.
#![warn(missing_docs)]

pub mod actor;
pub mod cache;
pub mod catalog;
mod counts;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod flights;
pub mod flow;
pub mod identity;
pub mod ids;
pub mod machine;
pub mod migrations;
pub mod parsed_tickets;
pub mod payload;
mod positions;
pub mod recent;
pub mod selector;
pub mod serial;
pub mod store;
mod stored_time;
pub mod ticket;
mod token_memory;

pub use actor::{Actor, AdminAction};
pub use engine::{Engine, EngineSettings};
pub use error::{ConflictKind, DomainError, FieldError, StoreError};
pub use ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId};
