//! Tickets already rendered for a list answer, kept by everything their JSON depends on.
//!
//! Rendering a page of 20 tickets (display names looked up, dates formatted in the caller's zone,
//! every string escaped) was a quarter of a list request's CPU, and lists show the same tickets
//! again and again (an approver's queue, the first pages of a search). A rendered ticket is kept
//! under its ticket version (a ticket write stores a new one), the store's reference version (what
//! it names besides itself: users, organizations, flows, catalog entries; see
//! `Store::local_reference_version`), the viewer (what a viewer may see of a flow depends on their
//! memberships) and the form (dialect view, language, zone). A store that knows no reference
//! version without a read (PostgreSQL) renders every time.

use chrono_tz::Tz;
use serde_json::value::RawValue;
use std::sync::Arc;
use ticketd_core::recent::Recent;
use ticketd_core::ticket::Ticket;
use ticketd_core::{TicketId, UserId};

/// Rendered tickets per generation: at most twice this many are kept (about 1.2 KB each for a
/// JumpServer `apply_asset` ticket, so under 10 MB).
const GENERATION: usize = 4_096;

/// One rendered ticket's JSON, shared by the answers that include it.
pub type RenderedJson = Arc<Box<RawValue>>;

/// The form of a rendering, fixed by the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RenderForm {
    /// The dialect's serializer (for example `"jumpserver.typed"`).
    pub view: &'static str,
    /// The answer's language code.
    pub lang: &'static str,
    /// The zone datetimes are written in.
    pub zone: Tz,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RenderKey {
    ticket: TicketId,
    version: i64,
    references: u64,
    viewer: UserId,
    form: RenderForm,
}

/// The rendered tickets of one process (see the module documentation).
#[derive(Debug)]
pub struct RenderedTickets {
    memory: Recent<RenderKey, RenderedJson>,
}

impl Default for RenderedTickets {
    fn default() -> Self {
        RenderedTickets {
            memory: Recent::new(GENERATION),
        }
    }
}

impl RenderedTickets {
    /// `tickets` rendered in `form` for `viewer`, in order: those kept from earlier answers as
    /// they were, the others by `render`, after `prepare` has loaded what the missing ones need
    /// (given only those). `references` is the store's reference version; `None` keeps nothing.
    pub async fn page<C, E>(
        &self,
        references: Option<u64>,
        viewer: UserId,
        form: RenderForm,
        tickets: &[Ticket],
        prepare: impl AsyncFnOnce(&[&Ticket]) -> Result<C, E>,
        render: impl Fn(&C, &Ticket) -> Result<Box<RawValue>, E>,
    ) -> Result<Vec<RenderedJson>, E> {
        let key = |ticket: &Ticket| {
            references.map(|references| RenderKey {
                ticket: ticket.id,
                version: ticket.version,
                references,
                viewer,
                form,
            })
        };
        let kept: Vec<Option<RenderedJson>> = tickets
            .iter()
            .map(|ticket| key(ticket).and_then(|key| self.memory.get(&key)))
            .collect();
        let missing: Vec<&Ticket> = tickets
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| kept.is_none())
            .map(|(ticket, _)| ticket)
            .collect();
        if missing.is_empty() {
            return Ok(kept.into_iter().flatten().collect());
        }
        let context = prepare(&missing).await?;
        tickets
            .iter()
            .zip(kept)
            .map(|(ticket, kept)| match kept {
                Some(json) => Ok(json),
                None => {
                    let json = Arc::new(render(&context, ticket)?);
                    if let Some(key) = key(ticket) {
                        self.memory.offer(key, json.clone());
                    }
                    Ok(json)
                }
            })
            .collect()
    }
}
