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
use crate::ticket::Step;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

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

/// Parsed content of the tickets read more than once lately.
///
/// Two generations approximate "recently used": a hit in the older one moves the entry to the
/// current one, and when the current one is full it becomes the older one. A ticket is kept
/// only when it is parsed a second time while its first parse is remembered, so a scan through
/// many tickets read once each (a deep page, a report) neither copies them nor pushes out the
/// tickets that lists show again and again.
#[derive(Debug, Default)]
pub struct ParsedTickets {
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Key, ParsedContent>,
    previous: HashMap<Key, ParsedContent>,
    seen: HashSet<Key>,
    seen_previous: HashSet<Key>,
}

impl ParsedTickets {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The content of `ticket` at `version`: kept from an earlier parse, or parsed now.
    pub fn content<E>(
        &self,
        ticket: TicketId,
        version: i64,
        parse: impl FnOnce() -> Result<ParsedContent, E>,
    ) -> Result<ParsedContent, E> {
        let key = (ticket, version);
        if let Some(kept) = self.lock().get(&key) {
            return Ok(kept);
        }
        let parsed = parse()?;
        let mut generations = self.lock();
        if generations.parsed_before(key) {
            generations.keep(key, parsed.clone());
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Generations {
    /// A copy of the kept content (two reference counts and the CC list).
    fn get(&mut self, key: &Key) -> Option<ParsedContent> {
        if let Some(kept) = self.current.get(key) {
            return Some(kept.clone());
        }
        let kept = self.previous.remove(key)?;
        self.keep(*key, kept.clone());
        Some(kept)
    }

    fn keep(&mut self, key: Key, content: ParsedContent) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, content);
    }

    /// Whether `key` was parsed before (remembering this parse otherwise).
    fn parsed_before(&mut self, key: Key) -> bool {
        if self.seen.contains(&key) || self.seen_previous.contains(&key) {
            return true;
        }
        if self.seen.len() >= 4 * GENERATION {
            self.seen_previous = std::mem::take(&mut self.seen);
        }
        self.seen.insert(key);
        false
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

    #[test]
    fn the_memory_stays_bounded_and_keeps_what_is_read_again() {
        let memory = ParsedTickets::new();
        let hot = 1_000_000;
        read(&memory, hot, 1, "hot");
        read(&memory, hot, 1, "hot");
        for n in 0..(3 * GENERATION as u128) {
            read(&memory, n, 1, "cold");
            read(&memory, n, 1, "cold");
            if n % 1_000 == 0 {
                assert_eq!(read(&memory, hot, 1, "x"), (Value::from("hot"), false));
            }
        }
        let generations = memory.lock();
        assert!(generations.current.len() + generations.previous.len() <= 2 * GENERATION);
        assert!(generations.seen.len() + generations.seen_previous.len() <= 8 * GENERATION);
    }
}
