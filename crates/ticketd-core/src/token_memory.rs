//! Token lookups remembered while the store's local identity version is unchanged.
//!
//! Every authenticated request reads its token, owner and memberships: on SQLite a read of
//! three tables, a tenth of a list request's CPU. A store whose every commit goes through this
//! process knows without a read a version that moves with every commit that may change what a
//! lookup reads ([`Store::local_identity_version`]; SQLite: every commit but those of ticket
//! writes and comments); while that version is the one a lookup was read at, the lookup is
//! still what a fresh read would give: revoking a token, deactivating a user or changing a
//! membership is such a commit, and the next request reads afresh. PostgreSQL's processes
//! learn of each other's such commits by notification, so there a lookup may still be served
//! in the moment between another process's commit and its notification's arrival.
//!
//! [`Store::local_identity_version`]: crate::store::Store::local_identity_version

use crate::store::TokenActor;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Lookups kept at one version; beyond this many the map starts over (a bound, not an eviction
/// policy: only tokens that exist are kept, so guessing cannot fill it).
const MAX_TOKENS: usize = 16_384;

/// The lookups read at `version`; those of older versions are dropped when a newer one is kept.
#[derive(Default)]
pub(crate) struct TokenMemory {
    kept: Mutex<(u64, HashMap<[u8; 32], TokenActor>)>,
}

impl TokenMemory {
    /// The lookup of `digest` if it was read at `version`.
    pub(crate) fn get(&self, digest: &[u8; 32], version: u64) -> Option<TokenActor> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.0 != version {
            return None;
        }
        kept.1.get(digest).cloned()
    }

    /// Keeps a lookup of an existing token; `version` must have been read before the lookup
    /// ran, so a commit meanwhile moves the version past it. A lookup read at an older version
    /// than the kept ones is not kept.
    pub(crate) fn put(&self, digest: [u8; 32], version: u64, found: TokenActor) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if version < kept.0 {
            return;
        }
        if version > kept.0 || kept.1.len() >= MAX_TOKENS {
            kept.1.clear();
            kept.0 = version;
        }
        kept.1.insert(digest, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{SystemRole, TokenKind, TokenRecord, User};
    use crate::ids::UserId;

    fn found(name: &str) -> TokenActor {
        let at = chrono::DateTime::UNIX_EPOCH;
        let user_id = UserId(uuid::Uuid::from_u128(1));
        TokenActor {
            record: TokenRecord {
                token_hash: [1; 32],
                user_id,
                kind: TokenKind::Api,
                expires_at: None,
                created_at: at,
            },
            user: User {
                id: user_id,
                username: name.into(),
                name: name.into(),
                email: String::new(),
                system_role: SystemRole::User,
                is_active: true,
                created_at: at,
                updated_at: at,
            },
            memberships: Vec::new(),
            directory_generation: Some(1),
        }
    }

    #[test]
    fn a_lookup_is_answered_only_at_the_version_it_was_read_at() {
        let memory = TokenMemory::default();
        memory.put([1; 32], 5, found("five"));
        assert_eq!(memory.get(&[1; 32], 5), Some(found("five")));
        assert_eq!(memory.get(&[2; 32], 5), None);
        assert_eq!(memory.get(&[1; 32], 6), None);
        // A slow lookup read before a commit does not replace what was read after it.
        memory.put([1; 32], 6, found("six"));
        memory.put([1; 32], 5, found("stale"));
        assert_eq!(memory.get(&[1; 32], 6), Some(found("six")));
        assert_eq!(memory.get(&[1; 32], 5), None);
    }
}
