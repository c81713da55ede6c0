//! Typed identifiers: every entity id is a UUID wrapped in its own type so they cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The inner UUID.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
            /// Parses the hyphenated or simple (32 hex) form.
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::parse_str(text.trim()).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(
    /// An organization (JumpServer org, TopHC tenant, ZStack project, DataArts workspace).
    OrgId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A system or organization role.
    RoleId
);
id_type!(
    /// An approval flow.
    FlowId
);
id_type!(
    /// A ticket.
    TicketId
);
id_type!(
    /// An access key used for HTTP Signature authentication.
    AccessKeyId
);
id_type!(
    /// A catalog asset.
    AssetId
);
id_type!(
    /// A node of the asset tree.
    NodeId
);

/// Builds a built-in id of the form `00000000-0000-0000-0000-0000000000NN`.
pub const fn builtin_uuid(n: u8) -> Uuid {
    Uuid::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n])
}

/// Creates a new time-ordered id from the current time and 10 random bytes supplied by the caller.
///
/// UUIDv7 keeps primary-key indexes append-only.
pub fn new_v7(unix_millis: u64, random: [u8; 10]) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid()
}
