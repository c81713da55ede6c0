//! A ticket's parsed JSON content (steps, CC list, payload), kept by ticket and version.
//!
//! The stores keep these three columns as JSON text, and parsing them was the largest share of a
//! list page's CPU (`perf` of `awaiting-me` at 200,000 tickets: 29% turning rows into tickets,
//! half of it these columns, more than rendering the page). They are written only by a ticket
//! write, which stores a new version under the version check of `Store::write_ticket` (one
//! write per version gets through), so what was parsed for a (ticket, version) is what any later
//! read of that pair parses. A write by another process (PostgreSQL) is a new version, so a new
//! key. The scalar columns are still read from every row: one of them, the applicant, can change
//! without a new version (`ON DELETE SET NULL` when the account is deleted).

use crate::ids::{TicketId, UserId};
use crate::recent::Recent;
use crate::ticket::Step;
use serde_json::Value;
use std::sync::Arc;

/// Entries per generation: at most twice this many are kept (about 2 KB each for an
/// `apply_asset` ticket with two levels, so under 20 MB).
const GENERATION: usize = 4_096;

/// The three parsed columns of one ticket row.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedContent {
    /// The current round's steps (shared like the payload; the state machine copies them on
    /// write).
    pub steps: Arc<Vec<Step>>,
    /// Users copied on the ticket.
    pub cc_users: Vec<UserId>,
    /// Type-specific content (shared: a payload is an `indexmap` of strings, and copying it for
    /// every read was most of what keeping it saved).
    pub payload: Arc<Value>,
}

type Key = (TicketId, i64);

/// Parsed content of the tickets read more than once lately (see [`Recent`]: a ticket is kept
/// only when it is parsed a second time while its first parse is remembered).
#[derive(Debug)]
pub struct ParsedTickets {
    memory: Recent<Key, ParsedContent>,
}

impl Default for ParsedTickets {
    fn default() -> Self {
        Self::new()
    }
}

impl ParsedTickets {
    /// An empty memory.
    pub fn new() -> Self {
        ParsedTickets {
            memory: Recent::new(GENERATION),
        }
    }

    /// The content of `ticket` at `version`: kept from an earlier parse, or parsed now.
    pub fn content<E>(
        &self,
        ticket: TicketId,
        version: i64,
        parse: impl FnOnce() -> Result<ParsedContent, E>,
    ) -> Result<ParsedContent, E> {
        self.memory.get_or_make((ticket, version), parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn content(marker: &str) -> ParsedContent {
        ParsedContent {
            steps: Arc::default(),
            cc_users: Vec::new(),
            payload: Arc::new(Value::String(marker.into())),
        }
    }

    fn id(n: u128) -> TicketId {
        TicketId(uuid::Uuid::from_u128(n))
    }

    /// Reads `ticket` at `version` through `memory`; answers the content and whether it was parsed.
    fn read(memory: &ParsedTickets, ticket: u128, version: i64, marker: &str) -> (Value, bool) {
        let parsed = Cell::new(false);
        let got = memory
            .content(id(ticket), version, || {
                parsed.set(true);
                Ok::<_, ()>(content(marker))
            })
            .unwrap();
        (Value::clone(&got.payload), parsed.get())
    }

    #[test]
    fn a_ticket_parsed_twice_is_kept_and_a_new_version_is_parsed_again() {
        let memory = ParsedTickets::new();
        assert_eq!(read(&memory, 1, 1, "a"), (Value::from("a"), true));
        assert_eq!(read(&memory, 1, 1, "a"), (Value::from("a"), true));
        // Kept from the second parse on: the stored text is not looked at.
        assert_eq!(read(&memory, 1, 1, "ignored"), (Value::from("a"), false));
        // Another version of the same ticket is another key.
        assert_eq!(read(&memory, 1, 2, "b"), (Value::from("b"), true));
        assert_eq!(read(&memory, 2, 1, "c"), (Value::from("c"), true));
    }

    #[test]
    fn a_failed_parse_keeps_nothing() {
        let memory = ParsedTickets::new();
        for _ in 0..3 {
            let failed = memory.content(id(1), 1, || Err::<ParsedContent, _>("bad json"));
            assert_eq!(failed, Err("bad json"));
        }
        assert_eq!(read(&memory, 1, 1, "a"), (Value::from("a"), true));
    }
}
