//! Where a list's pages ended, remembered while the store's data version stands, or, where the
//! store says where each page was read, across commits that only inserted newer tickets.
//!
//! A page at `offset` N makes the database walk every earlier match and drop it: with a search
//! term tested on each candidate, page 50 of a list costs fifty pages' work. A page's last row is
//! a position in the list's creation-time order, so the next page can start right after it
//! ([`TicketQuery::after`]) and skip only what lies between. The data version changes with every
//! commit, and positions are kept per version: a write that moves a ticket into or out of a list
//! never leaves an old position in use. Openings alone only add rows, and where the store tells
//! which tickets came since a page was read ([`crate::store::Inserted`]) and they are all newer
//! than every remembered row, each row's place is still known: newest first, it moved down by
//! the number of new matches; oldest first, it stayed. A page just above a remembered end is
//! then found by walking back from the end rather than forward from an earlier one.

use crate::counts::ListFilter;
use crate::store::{Inserted, ListMark, PagePosition, TicketOrder, TicketQuery};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Mutex;

/// Lists remembered; beyond this many, the memory starts over (the lists people page through
/// at one data version are few).
const MAX_LISTS: usize = 1024;

/// Page ends remembered per list; a list paged further keeps its first ones.
const MAX_ENDS: usize = 256;

/// Rows a walk back from a later end must save over a walk forward from an earlier one: it
/// takes a read of its own before the page's.
const MIN_ROWS_SAVED_BY_WALKING_BACK: u64 = 32;

/// The page ends of one list: the offset of the row that follows each end, and the position of
/// the row that ends there, as they stood at `version` and, where the store says, at `mark`.
#[derive(Debug)]
struct Ends {
    version: u64,
    mark: Option<ListMark>,
    ends: BTreeMap<u64, PagePosition>,
}

/// Page ends by list filter and order.
#[derive(Debug, Default)]
pub(crate) struct PositionMemory {
    lists: Mutex<HashMap<ListFilter, Ends>>,
}

/// How a page is read, from what the memory holds.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one lives per list request, on its stack; boxing would allocate"
)]
pub(crate) enum Start {
    /// Read `query`; with `reads_row_before`, it also reads the row before the page (one more
    /// row, first), whose position then marks where this page starts, so that the next request
    /// for the same page seeks straight to it.
    Forward {
        query: TicketQuery,
        reads_row_before: bool,
    },
    /// First read the row before the page with `back` (the list in the other direction from a
    /// later end, one row), then the page: `page` started after that row. Where that row was
    /// not read at the ends' mark, `forward` instead, from an earlier end (its `after`) or from
    /// the list's start.
    Back {
        back: TicketQuery,
        page: TicketQuery,
        forward: TicketQuery,
        reads_row_before: bool,
    },
}

/// A [`Start`], and where the ends it starts from stood: a page read elsewhere in the store's
/// history (another snapshot) must not leave its ends.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    pub(crate) start: Start,
    /// `Some(mark)` when the page starts from ends remembered at `mark` (`None`: by a store
    /// that says no mark).
    pub(crate) from_ends: Option<Option<ListMark>>,
}

impl Plan {
    /// Whether a page read at `snapshot` may leave its ends: it started from none, or from ends
    /// that describe the same snapshot.
    pub(crate) fn may_remember(&self, snapshot: Option<ListMark>) -> bool {
        self.from_ends.is_none_or(|mark| mark == snapshot)
    }
}

/// Whether pages of `query` can start from a remembered position: ordered by creation time
/// (the order the position describes) and not already starting from one.
pub(crate) fn seekable(query: &TicketQuery) -> bool {
    query.order.by_creation_time() && query.after.is_none()
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
    /// How to read `query`'s page from the nearest remembered ends of its list at `version`: after
    /// the nearest end at or before its offset, or back from the nearest one after it when that
    /// walk is much shorter.
    pub(crate) fn start(&self, key: &ListFilter, version: u64, query: TicketQuery) -> Plan {
        let offset = query.offset;
        let known = self.lists.lock().ok().and_then(|lists| {
            let list = lists.get(key).filter(|list| list.version == version)?;
            let below = list.ends.range(..=offset).next_back();
            let above = list.ends.range((Excluded(offset), Unbounded)).next();
            Some((
                list.mark,
                below.map(|(end, position)| (*end, *position)),
                above.map(|(end, position)| (*end, *position)),
            ))
        });
        let Some((mark, below, above)) = known else {
            let (query, reads_row_before) = forward(query, 0, None);
            return Plan {
                start: Start::Forward {
                    query,
                    reads_row_before,
                },
                from_ends: None,
            };
        };
        let (end, after) = below.map_or((0, None), |(end, position)| (end, Some(position)));
        if let Some((later, position)) = above {
            // The row before the page, at `offset - 1`, lies `later - offset` rows before the row
            // that ends at `later` (at `later - 1`).
            let back = later - offset;
            if offset > 0
                && query.limit > 0
                && back + MIN_ROWS_SAVED_BY_WALKING_BACK <= offset - end
            {
                let (forward, reads_row_before) = forward(query.clone(), end, after);
                let reverse = if query.order == TicketOrder::CreatedAsc {
                    TicketOrder::CreatedDesc
                } else {
                    TicketOrder::CreatedAsc
                };
                return Plan {
                    start: Start::Back {
                        back: TicketQuery {
                            order: reverse,
                            after: Some(position),
                            offset: back - 1,
                            limit: 1,
                            with_total: false,
                            ..query.clone()
                        },
                        page: TicketQuery {
                            offset: 0,
                            ..query.clone()
                        },
                        forward,
                        reads_row_before,
                    },
                    from_ends: Some(mark),
                };
            }
        }
        let (query, reads_row_before) = forward(query, end, after);
        Plan {
            from_ends: after.map(|_| mark),
            start: Start::Forward {
                query,
                reads_row_before,
            },
        }
    }

    /// The mark a list's ends were remembered at, when they belong to another version than
    /// `version` and the store gave one: bringing them to `version` takes the tickets inserted
    /// since ([`PositionMemory::carry`]).
    pub(crate) fn mark_to_carry(&self, key: &ListFilter, version: u64) -> Option<ListMark> {
        let lists = self.lists.lock().ok()?;
        let list = lists.get(key)?;
        (list.version != version && !list.ends.is_empty())
            .then_some(list.mark)
            .flatten()
    }

    /// Brings the ends of `key`, remembered at `since`, to `version`, after `inserted` (counted
    /// from `since`): where every ticket inserted since is newer than every end, newest first each
    /// end moves down by the new matches, oldest first it stays. Otherwise they are dropped.
    pub(crate) fn carry(
        &self,
        key: &ListFilter,
        version: u64,
        since: ListMark,
        inserted: &Inserted,
        newest_first: bool,
    ) {
        let Ok(mut lists) = self.lists.lock() else {
            return;
        };
        let Some(list) = lists.get_mut(key) else {
            return;
        };
        if list.version == version || list.mark != Some(since) {
            return;
        }
        let newest_end = list.ends.values().map(|p| p.created_at).max();
        let all_newer = match (inserted.created_from, newest_end) {
            (Some(from), Some(newest)) => from > newest,
            _ => false,
        };
        if !all_newer {
            list.ends.clear();
            return;
        }
        if newest_first && inserted.count > 0 {
            list.ends = std::mem::take(&mut list.ends)
                .into_iter()
                .map(|(end, position)| (end.saturating_add(inserted.count), position))
                .collect();
        }
        list.version = version;
        list.mark = Some(inserted.mark);
    }

    /// Drops the ends of `key`, which cannot be carried to a later version (the store would not
    /// count what came since their mark): a page read since then leaves its own.
    pub(crate) fn forget(&self, key: &ListFilter) {
        if let Ok(mut lists) = self.lists.lock()
            && let Some(list) = lists.get_mut(key)
        {
            list.ends.clear();
        }
    }

    /// Remembers that the row at `end - 1` of the list `key` stands at `position`, as read at
    /// `version` (read before the page's query ran, so a write that commits meanwhile moves the
    /// version past it) and, where the store says, at `mark`.
    pub(crate) fn remember(
        &self,
        key: &ListFilter,
        (version, mark): (u64, Option<ListMark>),
        end: u64,
        position: PagePosition,
    ) {
        let Ok(mut lists) = self.lists.lock() else {
            return;
        };
        if let Some(list) = lists.get_mut(key) {
            // Ends that describe another snapshot with the same changes (only insertions between
            // the two) stay: they are carried to later versions, while this page's one or two
            // ends would replace all of them.
            let carried_instead = matches!(
                (list.mark, mark),
                (Some(kept), Some(read)) if kept != read && kept.changes == read.changes
            );
            if carried_instead && !list.ends.is_empty() {
                return;
            }
            // Versions are only equal or not (PostgreSQL's is a hash of its snapshot): the latest
            // page read decides. A page read at an older version replaces newer ends only until
            // the next page at the current version, and its own are never asked for again.
            if list.version != version || list.mark != mark {
                list.version = version;
                list.mark = mark;
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
                mark,
                ends: BTreeMap::from([(end, position)]),
            },
        );
    }
}

/// The page of `query` read after the end `end` (at `after`), skipping the rows between: with
/// one row more, first, where any are skipped, to remember where the page starts (the `bool`).
fn forward(query: TicketQuery, end: u64, after: Option<PagePosition>) -> (TicketQuery, bool) {
    let skipped = query.offset - end;
    let after = after.or(query.after);
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

    /// The query and `reads_row_before` of a forward start (a walk back fails the test).
    fn forward_of(plan: Plan) -> (TicketQuery, bool) {
        match plan.start {
            Start::Forward {
                query,
                reads_row_before,
            } => (query, reads_row_before),
            Start::Back { .. } => panic!("walks back: {plan:?}"),
        }
    }

    /// Where a forward page of the list "list" at `offset` starts.
    fn after_of(memory: &PositionMemory, version: u64, offset: u64) -> Option<PagePosition> {
        forward_of(memory.start(&named("list"), version, page(offset)))
            .0
            .after
    }

    fn mark(changes: i64, last_insert: i64) -> ListMark {
        ListMark {
            changes,
            last_insert,
            unsettled: 0,
        }
    }

    fn inserted(count: u64, at: ListMark, created_from: i64) -> Inserted {
        Inserted {
            count,
            mark: at,
            created_from: DateTime::<Utc>::from_timestamp(created_from, 0),
        }
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
        memory.remember(&named("list"), (7, None), 20, position(20));
        memory.remember(&named("list"), (7, None), 40, position(40));
        let (start, before) = forward_of(memory.start(&named("list"), 7, page(40)));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(40)), 0, 20, false)
        );
        // Between ends, the page also reads the row before it, to remember where it starts.
        let (start, before) = forward_of(memory.start(&named("list"), 7, page(55)));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(40)), 14, 21, true)
        );
        let (start, before) = forward_of(memory.start(&named("list"), 7, page(39)));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (Some(position(20)), 18, 21, true)
        );
        // Before the first end, and for another list, nothing is known but the page can still
        // read the row before it.
        let (start, before) = forward_of(memory.start(&named("list"), 7, page(10)));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (None, 9, 21, true)
        );
        let (start, before) = forward_of(memory.start(&named("other"), 7, page(40)));
        assert_eq!(
            (start.after, start.offset, start.limit, before),
            (None, 39, 21, true)
        );
        // The first page has no row before it, and a page without a limit no page after it.
        assert_eq!(
            forward_of(memory.start(&named("list"), 7, page(0))),
            (page(0), false)
        );
        let unlimited = TicketQuery {
            limit: 0,
            ..page(10)
        };
        assert_eq!(
            forward_of(memory.start(&named("other"), 7, unlimited.clone())),
            (unlimited, false)
        );
    }

    #[test]
    fn ends_belong_to_one_data_version() {
        let memory = PositionMemory::default();
        let after = |version, offset| after_of(&memory, version, offset);
        memory.remember(&named("list"), (7, None), 20, position(20));
        assert_eq!(after(7, 20), Some(position(20)));
        assert_eq!(after(8, 20), None);
        // Another version replaces the list's ends, whichever way it goes.
        memory.remember(&named("list"), (8, None), 40, position(41));
        assert_eq!(after(8, 20), None);
        assert_eq!(after(8, 40), Some(position(41)));
        memory.remember(&named("list"), (7, None), 20, position(20));
        assert_eq!(after(8, 40), None);
        assert_eq!(after(7, 40), Some(position(20)));
    }

    #[test]
    fn a_page_just_above_an_end_walks_back_to_the_row_before_it() {
        let memory = PositionMemory::default();
        memory.remember(&named("list"), (7, Some(mark(0, 9))), 20, position(20));
        memory.remember(&named("list"), (7, Some(mark(0, 9))), 1020, position(1020));
        let plan = memory.start(&named("list"), 7, page(1000));
        assert_eq!(plan.from_ends, Some(Some(mark(0, 9))));
        let Start::Back {
            back, page: rest, ..
        } = plan.start
        else {
            panic!("walks forward: {plan:?}");
        };
        // The row that ends at 1020 is row 1019; the row before the page, row 999, is the 20th
        // row before it, oldest first.
        assert_eq!(
            (
                back.order,
                back.after,
                back.offset,
                back.limit,
                back.with_total
            ),
            (TicketOrder::CreatedAsc, Some(position(1020)), 19, 1, false)
        );
        assert_eq!((rest.offset, rest.limit, rest.after), (0, 20, None));
        // Where that row comes from another snapshot, the page is read forward from the earlier
        // end instead, with the row before it.
        let Start::Back {
            forward,
            reads_row_before,
            ..
        } = memory.start(&named("list"), 7, page(1000)).start
        else {
            panic!("walks forward");
        };
        assert_eq!(
            (forward.after, forward.offset, forward.limit),
            (Some(position(20)), 979, 21)
        );
        assert!(reads_row_before);
        // Oldest first, the walk back is newest first.
        let oldest_first = TicketQuery {
            order: TicketOrder::CreatedAsc,
            ..page(1000)
        };
        let key = list_key(&named("list"), TicketOrder::CreatedAsc);
        memory.remember(&key, (7, None), 1001, position(5));
        let plan = memory.start(&key, 7, oldest_first);
        let Start::Back { back, .. } = plan.start else {
            panic!("walks forward: {plan:?}");
        };
        assert_eq!(
            (back.order, back.offset, plan.from_ends),
            (TicketOrder::CreatedDesc, 0, Some(None))
        );
        // Walking back must save more than a read costs; page 0 has no row before it.
        memory.remember(&named("list"), (7, Some(mark(0, 9))), 990, position(990));
        let (start, _) = forward_of(memory.start(&named("list"), 7, page(1000)));
        assert_eq!((start.after, start.offset), (Some(position(990)), 9));
        let (start, _) = forward_of(memory.start(&named("list"), 7, page(0)));
        assert_eq!((start.after, start.offset), (None, 0));
    }

    #[test]
    fn ends_carried_past_newer_insertions_move_down_newest_first_and_stay_oldest_first() {
        let memory = PositionMemory::default();
        let oldest = list_key(&named("list"), TicketOrder::CreatedAsc);
        for key in [&named("list"), &oldest] {
            memory.remember(key, (7, Some(mark(3, 100))), 20, position(20));
            memory.remember(key, (7, Some(mark(3, 100))), 40, position(40));
        }
        assert_eq!(memory.mark_to_carry(&named("list"), 7), None);
        assert_eq!(memory.mark_to_carry(&named("list"), 8), Some(mark(3, 100)));
        // Five tickets came, all created after the newest end; two match.
        let came = inserted(2, mark(3, 105), 41);
        memory.carry(&named("list"), 8, mark(3, 100), &came, true);
        memory.carry(&oldest, 8, mark(3, 100), &came, false);
        let (start, _) = forward_of(memory.start(&named("list"), 8, page(42)));
        assert_eq!((start.after, start.offset), (Some(position(40)), 0));
        let (start, _) = forward_of(memory.start(&named("list"), 8, page(22)));
        assert_eq!((start.after, start.offset), (Some(position(20)), 0));
        let oldest_first = |offset| TicketQuery {
            order: TicketOrder::CreatedAsc,
            ..page(offset)
        };
        let (start, _) = forward_of(memory.start(&oldest, 8, oldest_first(40)));
        assert_eq!((start.after, start.offset), (Some(position(40)), 0));
        // Carried, the ends describe the new mark; a page read there may add to them.
        assert_eq!(memory.mark_to_carry(&named("list"), 8), None);
        assert_eq!(memory.mark_to_carry(&named("list"), 9), Some(mark(3, 105)));
        // Ends are carried only from the mark they were remembered at.
        memory.carry(
            &named("list"),
            9,
            mark(3, 100),
            &inserted(1, mark(3, 106), 50),
            true,
        );
        assert_eq!(memory.mark_to_carry(&named("list"), 9), Some(mark(3, 105)));
    }

    #[test]
    fn an_insertion_older_than_an_end_drops_the_ends() {
        let memory = PositionMemory::default();
        let unknown = Inserted {
            created_from: None,
            ..inserted(0, mark(3, 101), 0)
        };
        for (came, why) in [
            (inserted(1, mark(3, 101), 40), "as old as the newest end"),
            (
                inserted(0, mark(3, 101), 30),
                "older, even matching nothing",
            ),
            (unknown, "the store does not say"),
        ] {
            memory.remember(&named("list"), (7, Some(mark(3, 100))), 20, position(20));
            memory.remember(&named("list"), (7, Some(mark(3, 100))), 40, position(40));
            memory.carry(&named("list"), 8, mark(3, 100), &came, true);
            let (start, _) = forward_of(memory.start(&named("list"), 8, page(42)));
            assert_eq!(start.after, None, "{why}");
            assert_eq!(memory.mark_to_carry(&named("list"), 8), None, "{why}");
        }
    }

    #[test]
    fn ends_that_can_be_carried_are_kept_over_a_page_read_at_another_snapshot() {
        let memory = PositionMemory::default();
        let after = |version, offset| after_of(&memory, version, offset);
        memory.remember(
            &named("list"),
            (7, Some(mark(3, 100))),
            1000,
            position(1000),
        );
        // Read after more insertions (or before them): the ends at the first mark stay.
        memory.remember(&named("list"), (7, Some(mark(3, 104))), 20, position(20));
        memory.remember(&named("list"), (8, Some(mark(3, 99))), 40, position(40));
        assert_eq!(after(7, 1000), Some(position(1000)));
        assert_eq!(after(7, 20), None);
        assert_eq!(memory.mark_to_carry(&named("list"), 8), Some(mark(3, 100)));
        // Ends the store would not carry (too many insertions since) are forgotten, and the
        // next page's replace them.
        memory.forget(&named("list"));
        memory.remember(&named("list"), (8, Some(mark(3, 30_000))), 40, position(41));
        assert_eq!(after(8, 40), Some(position(41)));
        // After another change they could not be carried: the page read since replaces them.
        memory.remember(&named("list"), (9, Some(mark(4, 104))), 20, position(21));
        assert_eq!(after(9, 20), Some(position(21)));
        assert_eq!(after(9, 1000), Some(position(21)));
        assert_eq!(memory.mark_to_carry(&named("list"), 10), Some(mark(4, 104)));
    }

    #[test]
    fn a_page_leaves_its_ends_only_where_it_was_read_at_the_ends_mark() {
        let fresh = Plan {
            start: Start::Forward {
                query: page(0),
                reads_row_before: false,
            },
            from_ends: None,
        };
        assert!(fresh.may_remember(Some(mark(1, 2))));
        assert!(fresh.may_remember(None));
        let carried = Plan {
            from_ends: Some(Some(mark(1, 2))),
            ..fresh.clone()
        };
        assert!(carried.may_remember(Some(mark(1, 2))));
        assert!(!carried.may_remember(Some(mark(1, 3))));
        assert!(!carried.may_remember(None));
        let unmarked = Plan {
            from_ends: Some(None),
            ..fresh
        };
        assert!(unmarked.may_remember(None));
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
                (1, None),
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
            memory.remember(&named(&format!("list {n}")), (1, None), 20, position(1));
        }
        let lists = memory.lists.lock().map(|l| l.len()).ok();
        assert!(lists.is_some_and(|n| n <= MAX_LISTS));
    }
}
