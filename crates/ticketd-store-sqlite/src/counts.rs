//! Exact list counts, remembered until the next committed write.
//!
//! A list answers with the number of all its matches (DRF's `count`), and counting a filter that
//! a million tickets satisfy walks every matching index entry, a search term tested on each: tens
//! of milliseconds, for every page of the same list. The writer thread is the only writer of the
//! file (see `conn.rs`) and increases the write epoch after each commit, so a count computed at
//! an epoch stays exact until that epoch moves on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ticketd_core::store::{TicketOrder, TicketQuery};

/// Remembered counts; beyond this many, the map starts over (distinct filters are few in
/// practice: the lists people page through).
const MAX_COUNTS: usize = 4096;

/// Counts by list filter, each with the write epoch it was computed at.
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    counts: Mutex<HashMap<String, (u64, u64)>>,
    /// One lock per filter being counted: concurrent requests for a list nobody has counted yet
    /// wait for the first one's count instead of all counting at once (on a cold start, sixteen
    /// clients paging one search would otherwise hold every reader for seconds).
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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

impl CountCache {
    /// The count of `key` if it was computed at `epoch`.
    pub(crate) fn get(&self, key: &str, epoch: u64) -> Option<u64> {
        let counts = self.counts.lock().ok()?;
        counts
            .get(key)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, count)| *count)
    }

    /// The lock under which `key` is counted.
    pub(crate) fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if flights.len() >= MAX_COUNTS {
            flights.clear();
        }
        Arc::clone(flights.entry(key.to_owned()).or_default())
    }

    /// Remembers `count` for `key`, computed at `epoch` (read before the count's query ran, so a
    /// write that commits meanwhile moves the epoch past it).
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
    use ticketd_core::store::Visibility;

    #[test]
    fn counts_are_kept_per_filter_and_epoch_whatever_the_page() {
        let cache = CountCache::default();
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
