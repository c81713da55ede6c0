//! Domain errors: what can go wrong in a use case, independent of any wire format.

use serde::Serialize;
use std::fmt;

/// A problem with one input field; `field` uses the dialect-neutral core name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name, e.g. `title` or `levels[1].selector`.
    pub field: String,
    /// A stable machine-readable code, e.g. `required`, `invalid`, `too_long`.
    pub code: &'static str,
    /// A human-readable message, lowercase and without trailing period.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Why an action conflicts with the ticket's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// The ticket is finished (approved, rejected or closed); nothing more can be decided.
    AlreadyProcessed,
    /// The ticket moved on since the caller looked at it (another step is current, or the caller
    /// already decided this step).
    StateChanged,
    /// The action does not apply to the ticket's state (e.g. confirming a pending ticket).
    NotAllowedInState,
    /// Concurrent writers kept winning; the caller may retry.
    Busy,
}

/// Errors raised by the storage backend, free of any driver type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// The row changed since it was read (optimistic concurrency).
    #[error("version conflict")]
    VersionConflict,
    /// A unique constraint was violated.
    #[error("unique constraint {constraint} violated")]
    Conflict {
        /// The constraint or column set that was violated.
        constraint: String,
    },
    /// A foreign key refused the write: it refers to a row a concurrent request deleted (an
    /// opening in an organization deleted meanwhile), or deletes a row still referred to.
    #[error("reference {constraint} broken")]
    Reference {
        /// The foreign key.
        constraint: String,
    },
    /// The store is overloaded or shutting down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the source is logged once at the edge.
    #[error("store failure")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A rule the write carried ([`crate::store::FlowRule`]) refused it, for the rule's reason.
    #[error("{0}")]
    Refused(Box<DomainError>),
}

/// What a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The entity does not exist or is not visible to the caller.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Entity kind, e.g. `ticket`.
        kind: &'static str,
        /// The id as given.
        id: String,
    },
    /// The credentials are missing, wrong, expired or belong to an inactive user.
    #[error("authentication failed")]
    Unauthenticated,
    /// The caller is known but may not do this.
    #[error("not allowed to {action}")]
    Forbidden {
        /// What was attempted.
        action: String,
    },
    /// The ticket's state does not allow the action.
    #[error("cannot {action} a ticket that is {state}")]
    InvalidTransition {
        /// The attempted action.
        action: &'static str,
        /// The ticket's state when the action was checked.
        state: &'static str,
        /// Which kind of conflict it is.
        conflict: ConflictKind,
    },
    /// The input is invalid.
    #[error("invalid input: {}", format_fields(.0))]
    Validation(Vec<FieldError>),
    /// A uniqueness rule was violated (a name already taken, for example).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DomainError {
    /// A write a rule refused fails with the rule's own error; one whose reference a
    /// concurrent deletion broke is a conflict (it answered 500); any other is the store's.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Refused(refusal) => *refusal,
            StoreError::Reference { .. } => Self::Conflict(
                "the request refers to something another request deleted meanwhile, or deletes something still in use".into(),
            ),
            // A use case that retries on a version reloads before this; one that does not (a
            // PostgreSQL deadlock between concurrent writes, reported as a conflict) may be
            // tried again by the caller (it answered 500).
            StoreError::VersionConflict => Self::busy("write"),
            other => Self::Store(other),
        }
    }
}

fn format_fields(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    parts.join("; ")
}

impl DomainError {
    /// Concurrent writers kept winning while the use case `action` tried to write; the caller
    /// may retry.
    pub fn busy(action: &'static str) -> Self {
        Self::InvalidTransition {
            action,
            state: "busy",
            conflict: ConflictKind::Busy,
        }
    }

    /// A single-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// A not-found error for a ticket.
    pub fn ticket_not_found(id: impl fmt::Display) -> Self {
        Self::NotFound {
            kind: "ticket",
            id: id.to_string(),
        }
    }
}
