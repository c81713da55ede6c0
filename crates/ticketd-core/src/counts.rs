//! Exact list counts, remembered until the store's data version moves on.
//!
//! A list answers with the number of all its matches (DRF's `count`), and counting a filter that
//! a million tickets satisfy walks every matching index entry, a search term tested on each: tens
//! to hundreds of milliseconds, for every page of the same list. [`Store::data_version`] changes
//! with every commit (SQLite: the writer's commit counter; PostgreSQL: a hash of the current
//! snapshot), so a count computed at one version stays exact while the version does.
//!
//! A store that keeps [`ListMark`]s also says where a count was taken; after commits that only
//! inserted new tickets, the count then grows by the matching new tickets alone
//! ([`Store::count_inserted_since`]), which is a short read instead of a full count.
//!
//! [`Store::data_version`]: crate::store::Store::data_version
//! [`Store::count_inserted_since`]: crate::store::Store::count_inserted_since

use crate::store::{ListMark, TicketOrder, TicketQuery};
use std::collections::HashMap;
use std::sync::Mutex;

/// Remembered counts; beyond this many, the map starts over (distinct filters are few in
/// practice: the lists people page through).
const MAX_COUNTS: usize = 4096;

/// One remembered count and where it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Remembered {
    /// The store's data version read before the count (`None`: the store keeps none).
    pub(crate) version: Option<u64>,
    /// The store's mark of the read that counted (`None`: the store keeps none).
    pub(crate) mark: Option<ListMark>,
    /// All matches.
    pub(crate) count: u64,
}

/// Counts by list filter, each with where it was computed.
#[derive(Debug, Default)]
pub(crate) struct CountMemory {
    counts: Mutex<HashMap<ListFilter, Remembered>>,
}

/// The part of a query that decides its count (not the page, not the order): the query with its
/// page and order set to fixed values, compared and hashed field by field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ListFilter(TicketQuery);

/// The part of `query` that decides its count.
pub(crate) fn count_key(query: &TicketQuery) -> ListFilter {
    ListFilter(TicketQuery {
        limit: 0,
        offset: 0,
        after: None,
        order: TicketOrder::CreatedDesc,
        with_total: true,
        ..query.clone()
    })
}

impl ListFilter {
    /// The same filter read in `order`: what decides which rows come in which order (see
    /// `positions::list_key`).
    pub(crate) fn ordered(&self, order: TicketOrder) -> Self {
        Self(TicketQuery {
            order,
            ..self.0.clone()
        })
    }
}

impl CountMemory {
    /// What is remembered of `key`, wherever it was taken.
    pub(crate) fn get(&self, key: &ListFilter) -> Option<Remembered> {
        self.counts.lock().ok()?.get(key).copied()
    }

    /// Remembers a count for `key`; its `version` must have been read before the count's query
    /// ran, so a write that commits meanwhile moves the version past it. Nothing is kept when
    /// neither a version nor a mark says where the count belongs.
    pub(crate) fn put(&self, key: ListFilter, remembered: Remembered) {
        if remembered.version.is_none() && remembered.mark.is_none() {
            return;
        }
        if let Ok(mut counts) = self.counts.lock() {
            if counts.len() >= MAX_COUNTS {
                counts.clear();
            }
            counts.insert(key, remembered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Visibility;

    #[test]
    fn counts_are_kept_per_filter_and_epoch_whatever_the_page() {
        let cache = CountMemory::default();
        let page = |offset| TicketQuery {
            offset,
            search: vec![vec![vec!["db".into()]]],
            ..TicketQuery::new(Visibility::All)
        };
        assert_eq!(count_key(&page(0)), count_key(&page(200)));
        let other = TicketQuery {
            search: vec![vec![vec!["web".into()]]],
            ..page(0)
        };
        assert_ne!(count_key(&page(0)), count_key(&other));
        let at = |version| Remembered {
            version: Some(version),
            mark: None,
            count: 42,
        };
        cache.put(count_key(&page(0)), at(7));
        assert_eq!(cache.get(&count_key(&page(20))), Some(at(7)));
        assert_eq!(cache.get(&count_key(&other)), None);
        cache.put(count_key(&page(0)), at(8));
        assert_eq!(cache.get(&count_key(&page(20))), Some(at(8)));
        // A count that says nowhere where it was taken could never be trusted again.
        cache.put(
            count_key(&other),
            Remembered {
                version: None,
                mark: None,
                count: 1,
            },
        );
        assert_eq!(cache.get(&count_key(&other)), None);
    }
}
