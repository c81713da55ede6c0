//! Exact list counts, remembered until the store's data version moves on.
//!
//! A list answers with the number of all its matches (DRF's `count`), and counting a filter that
//! a million tickets satisfy walks every matching index entry, a search term tested on each: tens
//! to hundreds of milliseconds, for every page of the same list. [`Store::data_version`] changes
//! with every commit (SQLite: the writer's commit counter; PostgreSQL: the WAL position), so a
//! count computed at one version stays exact while the version does.
//!
//! [`Store::data_version`]: crate::store::Store::data_version

use crate::store::{TicketOrder, TicketQuery};
use std::collections::HashMap;
use std::sync::Mutex;

/// Remembered counts; beyond this many, the map starts over (distinct filters are few in
/// practice: the lists people page through).
const MAX_COUNTS: usize = 4096;

/// Counts by list filter, each with the data version it was computed at.
#[derive(Debug, Default)]
pub(crate) struct CountMemory {
    counts: Mutex<HashMap<String, (u64, u64)>>,
}

/// The part of a query that decides its count (not the page, not the order).
pub(crate) fn count_key(query: &TicketQuery) -> String {
    let filter = TicketQuery {
        limit: 0,
        offset: 0,
        order: TicketOrder::CreatedDesc,
        with_total: true,
        ..query.clone()
    };
    format!("{filter:?}")
}

impl CountMemory {
    /// The count of `key` if it was computed at data version `epoch`.
    pub(crate) fn get(&self, key: &str, epoch: u64) -> Option<u64> {
        let counts = self.counts.lock().ok()?;
        counts
            .get(key)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, count)| *count)
    }

    /// Remembers `count` for `key`, computed at data version `epoch` (read before the count's
    /// query ran, so a write that commits meanwhile moves the version past it).
    pub(crate) fn put(&self, key: String, epoch: u64, count: u64) {
        if let Ok(mut counts) = self.counts.lock() {
            if counts.len() >= MAX_COUNTS {
                counts.clear();
            }
            counts.insert(key, (epoch, count));
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
        cache.put(count_key(&page(0)), 7, 42);
        assert_eq!(cache.get(&count_key(&page(20)), 7), Some(42));
        assert_eq!(cache.get(&count_key(&page(20)), 8), None);
        assert_eq!(cache.get(&count_key(&other), 7), None);
    }
}
