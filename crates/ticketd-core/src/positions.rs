//! Where a list's pages ended, remembered while the store's data version stands.
//!
//! A page at `offset` N makes the database walk every earlier match and drop it: with a search
//! term tested on each candidate, page 50 of a list costs fifty pages' work. A page's last row is
//! a position in the list's creation-time order, so while nothing is committed the next page can
//! start right after it ([`TicketQuery::after`]) and skip only what lies between. The data
//! version changes with every commit, and positions are kept per version: a write that moves a
//! ticket into or out of a list (or adds one) never leaves an old position in use.

use crate::counts::ListFilter;
use crate::store::{PagePosition, TicketOrder, TicketQuery};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Lists remembered; beyond this many, the memory starts over (the lists people page through
/// at one data version are few).
const MAX_LISTS: usize = 1024;

/// Page ends remembered per list; a list paged further keeps its first ones.
const MAX_ENDS: usize = 256;

/// The page ends of one list at one data version: the offset of the row that follows each end,
/// and the position of the row that ends there.
#[derive(Debug)]
struct Ends {
    version: u64,
    ends: BTreeMap<u64, PagePosition>,
}

/// Page ends by list filter and order.
#[derive(Debug, Default)]
pub(crate) struct PositionMemory {
    lists: Mutex<HashMap<ListFilter, Ends>>,
}

/// Whether pages of `query` can start from a remembered position: ordered by creation time
/// (the order the position describes) and not already starting from one.
pub(crate) fn seekable(query: &TicketQuery) -> bool {
    matches!(
        query.order,
        TicketOrder::CreatedDesc | TicketOrder::CreatedAsc
    ) && query.after.is_none()
}

/// The part of a query that decides which rows come in which order (not the page): the count's
/// key (see [`crate::counts::count_key`]) and the direction.
pub(crate) fn list_key(count_key: &ListFilter, order: TicketOrder) -> ListFilter {
    count_key.ordered(if order == TicketOrder::CreatedAsc {
        TicketOrder::CreatedAsc
    } else {
        TicketOrder::CreatedDesc
    })
}

impl PositionMemory {
    /// `query` made to start from the nearest remembered end at or before its offset, if any
    /// was remembered for this list at `version`; and whether it was also made to read the row
    /// before the page (one more row, first), whose position then marks where this page starts,
    /// so that the next request for the same page seeks straight to it.
    pub(crate) fn start(
        &self,
        key: &ListFilter,
        version: u64,
        query: TicketQuery,
    ) -> (TicketQuery, bool) {
        let nearest = self.lists.lock().ok().and_then(|lists| {
            let list = lists.get(key).filter(|list| list.version == version)?;
            list.ends
                .range(..=query.offset)
                .next_back()
                .map(|(end, position)| (*end, *position))
        });
        let (end, after) = match nearest {
            Some((end, position)) => (end, Some(position)),
            None => (0, query.after),
        };
        let skipped = query.offset - end;
        // `limit` 0 reads to the end: the row before would be the only extra, but no page follows.
        match query.limit.checked_add(1) {
            Some(limit) if skipped > 0 && query.limit > 0 => (
                TicketQuery {
                    offset: skipped - 1,
                    limit,
                    after,
                    ..query
                },
                true,
            ),
            _ => (
                TicketQuery {
                    offset: skipped,
                    after,
                    ..query
                },
                false,
            ),
        }
    }

    /// Remembers that the row at `end - 1` of the list `key` stands at `position`; `version`
    /// must have been read before the page's query ran, so a write that commits meanwhile moves
    /// the version past it.
    pub(crate) fn remember(
        &self,
        key: &ListFilter,
        version: u64,
        end: u64,
        position: PagePosition,
    ) {
        let Ok(mut lists) = self.lists.lock() else {
            return;
        };
        if let Some(list) = lists.get_mut(key) {
            // Versions are only equal or not (PostgreSQL's is a hash of its snapshot): the latest
            // page read decides. A page read at an older version replaces newer ends only until
            // the next page at the current version, and its own are never asked for again.
            if list.version != version {
                list.version = version;
                list.ends.clear();
            }
            if list.ends.len() < MAX_ENDS {
                list.ends.insert(end, position);
            }
            return;
        }
        if lists.len() >= MAX_LISTS {
            lists.clear();
        }
        lists.insert(
            key.clone(),
            Ends {
                version,
                ends: BTreeMap::from([(end, position)]),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TicketId;
    use crate::store::Visibility;
    use chrono::{DateTime, Utc};

    fn position(n: i64) -> PagePosition {
        PagePosition {
            created_at: DateTime::<Utc>::from_timestamp(n, 0).unwrap_or_default(),
            id: TicketId(uuid::Uuid::from_u128(u128::try_from(n).unwrap_or(0))),
        }
    }

    /// A list of its own for each name (a title filter).
    fn named(name: &str) -> ListFilter {
        crate::counts::count_key(&TicketQuery {
            title: Some(name.into()),
            ..TicketQuery::new(Visibility::All)
        })
    }

    fn page(offset: u64) -> TicketQuery {
        TicketQuery {
            offset,
            ..TicketQuery::new(Visibility::All)
        }
    }

    #[test]
    fn a_page_starts_after_the_nearest_end_at_or_before_its_offset() {
        let memory = PositionMemory::default();
        memory.remember(&named("list"), 7, 20, position(20));
        memory.remember(&named("list"), 7, 40, position(40));
        let (start, before) = memory.start(&named("list"), 7, page(40));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(40)), 0, 20, false)
        );
        // Between ends, the page also reads the row before it, to remember where it starts.
        let (start, before) = memory.start(&named("list"), 7, page(55));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(40)), 14, 21, true)
        );
        let (start, before) = memory.start(&named("list"), 7, page(39));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(20)), 18, 21, true)
        );
        // Before the first end, and for another list, nothing is known but the page can still
        // read the row before it.
        let (start, before) = memory.start(&named("list"), 7, page(10));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (None, 9, 21, true)
        );
        let (start, before) = memory.start(&named("other"), 7, page(40));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (None, 39, 21, true)
        );
        // The first page has no row before it, and a page without a limit no page after it.
        assert_eq!(memory.start(&named("list"), 7, page(0)), (page(0), false));
        let unlimited = TicketQuery {
            limit: 0,
            ..page(10)
        };
        assert_eq!(
            memory.start(&named("other"), 7, unlimited.clone()),
            (unlimited, false)
        );
    }

    #[test]
    fn ends_belong_to_one_data_version() {
        let memory = PositionMemory::default();
        let after = |version, offset| memory.start(&named("list"), version, page(offset)).0.after;
        memory.remember(&named("list"), 7, 20, position(20));
        assert_eq!(after(7, 20), Some(position(20)));
        assert_eq!(after(8, 20), None);
        // Another version replaces the list's ends, whichever way it goes.
        memory.remember(&named("list"), 8, 40, position(41));
        assert_eq!(after(8, 20), None);
        assert_eq!(after(8, 40), Some(position(41)));
        memory.remember(&named("list"), 7, 20, position(20));
        assert_eq!(after(8, 40), None);
        assert_eq!(after(7, 40), Some(position(20)));
    }

    #[test]
    fn only_creation_time_orders_seek_and_the_direction_is_part_of_the_key() {
        let mut query = page(20);
        assert!(seekable(&query));
        query.order = TicketOrder::By {
            key: crate::store::SortKey::Title,
            descending: false,
        };
        assert!(!seekable(&query));
        query.order = TicketOrder::CreatedAsc;
        query.after = Some(position(1));
        assert!(!seekable(&query));
        assert_ne!(
            list_key(&named("k"), TicketOrder::CreatedAsc),
            list_key(&named("k"), TicketOrder::CreatedDesc)
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let memory = PositionMemory::default();
        for end in 1..=(MAX_ENDS as u64 + 10) {
            memory.remember(
                &named("list"),
                1,
                end,
                position(i64::try_from(end).unwrap_or(0)),
            );
        }
        let kept = memory
            .lists
            .lock()
            .map(|l| l[&named("list")].ends.len())
            .ok();
        assert_eq!(kept, Some(MAX_ENDS));
        for n in 0..=MAX_LISTS {
            memory.remember(&named(&format!("list {n}")), 1, 20, position(1));
        }
        let lists = memory.lists.lock().map(|l| l.len()).ok();
        assert!(lists.is_some_and(|n| n <= MAX_LISTS));
    }
}
