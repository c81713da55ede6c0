//! Tickets already rendered for an answer (a list page, a detail), kept by everything their JSON
//! depends on.
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::cell::RefCell;
    use ticketd_core::ticket::TicketState;
    use ticketd_core::{OrgId, TicketId};

    fn ticket(n: u128, version: i64) -> Ticket {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Ticket {
            id: TicketId(uuid::Uuid::from_u128(n)),
            serial: format!("{n}"),
            org_id: OrgId(uuid::Uuid::nil()),
            kind: "apply_asset".into(),
            title: format!("t{n}"),
            applicant_id: None,
            applicant_display: String::new(),
            flow_id: None,
            state: TicketState::Pending,
            approval_step: 1,
            round: 1,
            steps: Arc::default(),
            cc_users: Vec::new(),
            payload: Arc::default(),
            comment: String::new(),
            scope: String::new(),
            archived: false,
            confirmed: false,
            deleted: false,
            version,
            created_at: at,
            updated_at: at,
            finished_at: None,
        }
    }

    const FORM: RenderForm = RenderForm {
        view: "test",
        lang: "en",
        zone: chrono_tz::UTC,
    };

    /// Renders `tickets` through `memory` with `marker` in each JSON text; answers the texts and
    /// the titles of the tickets rendered now (in the order `render` saw them).
    async fn page(
        memory: &RenderedTickets,
        references: Option<u64>,
        viewer: u128,
        form: RenderForm,
        tickets: &[Ticket],
        marker: &str,
    ) -> (Vec<String>, Vec<String>) {
        let rendered_now = RefCell::new(Vec::new());
        let prepared = RefCell::new(Vec::new());
        let page = memory
            .page(
                references,
                UserId(uuid::Uuid::from_u128(viewer)),
                form,
                tickets,
                async |missing| {
                    prepared
                        .borrow_mut()
                        .extend(missing.iter().map(|t| t.title.clone()));
                    Ok::<_, ()>(marker.to_owned())
                },
                |marker, ticket| {
                    rendered_now.borrow_mut().push(ticket.title.clone());
                    Ok(
                        serde_json::value::to_raw_value(&format!("{}:{marker}", ticket.title))
                            .unwrap(),
                    )
                },
            )
            .await
            .unwrap();
        assert_eq!(
            *prepared.borrow(),
            *rendered_now.borrow(),
            "prepared for what it renders"
        );
        let texts = page.iter().map(|json| json.get().to_owned()).collect();
        (texts, rendered_now.into_inner())
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| format!("\"{s}\"")).collect()
    }

    #[tokio::test]
    async fn a_page_reuses_renderings_of_the_same_ticket_version_viewer_and_form_in_order() {
        let memory = RenderedTickets::default();
        let tickets = [ticket(1, 1), ticket(2, 1), ticket(3, 1)];
        // Kept from the second rendering on.
        for marker in ["a", "b"] {
            let (got, rendered) = page(&memory, Some(7), 1, FORM, &tickets, marker).await;
            assert_eq!(
                got,
                texts(&[
                    &format!("t1:{marker}"),
                    &format!("t2:{marker}"),
                    &format!("t3:{marker}")
                ])
            );
            assert_eq!(rendered.len(), 3);
        }
        let (got, rendered) = page(&memory, Some(7), 1, FORM, &tickets, "c").await;
        assert_eq!(got, texts(&["t1:b", "t2:b", "t3:b"]));
        assert!(rendered.is_empty());
        // A new version of the middle ticket is rendered alone, in its place.
        let changed = [ticket(1, 1), ticket(2, 2), ticket(3, 1)];
        let (got, rendered) = page(&memory, Some(7), 1, FORM, &changed, "d").await;
        assert_eq!(got, texts(&["t1:b", "t2:d", "t3:b"]));
        assert_eq!(rendered, vec!["t2".to_owned()]);
        // Another reference version, viewer or form renders again.
        for (references, viewer, form) in [
            (Some(8), 1, FORM),
            (Some(7), 2, FORM),
            (Some(7), 1, RenderForm { lang: "zh", ..FORM }),
            (
                Some(7),
                1,
                RenderForm {
                    zone: chrono_tz::Asia::Shanghai,
                    ..FORM
                },
            ),
            (
                Some(7),
                1,
                RenderForm {
                    view: "other",
                    ..FORM
                },
            ),
        ] {
            let (_, rendered) = page(&memory, references, viewer, form, &tickets, "e").await;
            assert_eq!(rendered.len(), 3, "{references:?} {viewer} {form:?}");
        }
    }

    #[tokio::test]
    async fn a_store_without_a_reference_version_renders_every_time() {
        let memory = RenderedTickets::default();
        let tickets = [ticket(1, 1)];
        for marker in ["a", "b", "c"] {
            let (got, rendered) = page(&memory, None, 1, FORM, &tickets, marker).await;
            assert_eq!(got, texts(&[&format!("t1:{marker}")]));
            assert_eq!(rendered.len(), 1);
        }
    }
}
