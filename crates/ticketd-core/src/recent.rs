//! A bounded memory of values used more than once lately, for work that is costly to redo.
//!
//! Two generations approximate "recently used": a hit in the older one moves the entry to the
//! current one, and when the current one is full it becomes the older one. A value is kept only
//! when it is offered a second time while its first offer is remembered, so a scan through many
//! keys used once each (a deep page, a report) neither copies them nor pushes out the keys that
//! are asked for again and again. Keys must name their value exactly (a ticket and its version,
//! say): nothing here expires an entry whose source changed.

use foldhash::fast::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Values kept by key, at most twice `generation` of them.
#[derive(Debug)]
pub struct Recent<K, V> {
    inner: Mutex<Generations<K, V>>,
}

// foldhash rather than SipHash: a list page looks up 40 keys (its tickets' parsed content and
// renderings): `perf` of `awaiting-me` put 4.5% of the server in these lookups with SipHash and
// 3.3% with foldhash. foldhash is seeded per map, and a memory holds a few thousand keys.
#[derive(Debug)]
struct Generations<K, V> {
    generation: usize,
    current: HashMap<K, V, RandomState>,
    previous: HashMap<K, V, RandomState>,
    seen: HashSet<K, RandomState>,
    seen_previous: HashSet<K, RandomState>,
}

impl<K: Hash + Eq + Clone, V: Clone> Recent<K, V> {
    /// An empty memory keeping at most `2 × generation` values (and remembering at most
    /// `8 × generation` keys offered once).
    pub fn new(generation: usize) -> Self {
        Recent {
            inner: Mutex::new(Generations {
                generation: generation.max(1),
                current: HashMap::default(),
                previous: HashMap::default(),
                seen: HashSet::default(),
                seen_previous: HashSet::default(),
            }),
        }
    }

    /// A copy of the value kept for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock().get(key)
    }

    /// Offers the value just made for `key`: kept if `key` was offered before.
    pub fn offer(&self, key: K, value: V) {
        let mut generations = self.lock();
        if generations.offered_before(&key) {
            generations.keep(key, value);
        }
    }

    /// The value kept for `key`, or the one `make` answers now (offered as by [`Recent::offer`]).
    pub fn get_or_make<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(kept) = self.get(&key) {
            return Ok(kept);
        }
        let made = make()?;
        self.offer(key, made.clone());
        Ok(made)
    }

    fn lock(&self) -> MutexGuard<'_, Generations<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many values and once-offered keys are held (for tests of the bounds).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let generations = self.lock();
        (
            generations.current.len() + generations.previous.len(),
            generations.seen.len() + generations.seen_previous.len(),
        )
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Generations<K, V> {
    fn get(&mut self, key: &K) -> Option<V> {
        if let Some(kept) = self.current.get(key) {
            return Some(kept.clone());
        }
        let kept = self.previous.remove(key)?;
        self.keep(key.clone(), kept.clone());
        Some(kept)
    }

    fn keep(&mut self, key: K, value: V) {
        if self.current.len() >= self.generation {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Whether `key` was offered before (remembering this offer otherwise).
    fn offered_before(&mut self, key: &K) -> bool {
        if self.seen.contains(key) || self.seen_previous.contains(key) {
            return true;
        }
        if self.seen.len() >= 4 * self.generation {
            self.seen_previous = std::mem::take(&mut self.seen);
        }
        self.seen.insert(key.clone());
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Reads `key` through `memory`; answers the value and whether `make` ran.
    fn read(
        memory: &Recent<u64, &'static str>,
        key: u64,
        made: &'static str,
    ) -> (&'static str, bool) {
        let ran = Cell::new(false);
        let got = memory
            .get_or_make(key, || {
                ran.set(true);
                Ok::<_, ()>(made)
            })
            .unwrap();
        (got, ran.get())
    }

    #[test]
    fn a_value_made_twice_is_kept_from_then_on() {
        let memory = Recent::new(16);
        assert_eq!(read(&memory, 1, "a"), ("a", true));
        assert_eq!(read(&memory, 1, "a"), ("a", true));
        assert_eq!(read(&memory, 1, "ignored"), ("a", false));
        assert_eq!(read(&memory, 2, "b"), ("b", true));
        assert_eq!(memory.get(&2), None);
        memory.offer(2, "b");
        assert_eq!(memory.get(&2), Some("b"));
    }

    #[test]
    fn a_failed_make_keeps_nothing() {
        let memory: Recent<u64, &str> = Recent::new(16);
        for _ in 0..3 {
            assert_eq!(memory.get_or_make(1, || Err("bad")), Err("bad"));
        }
        assert_eq!(read(&memory, 1, "a"), ("a", true));
    }

    #[test]
    fn the_memory_stays_bounded_and_keeps_what_is_read_again() {
        let generation = 64;
        let memory = Recent::new(generation);
        let hot = 1_000_000;
        read(&memory, hot, "hot");
        read(&memory, hot, "hot");
        for n in 0..(30 * generation as u64) {
            read(&memory, n, "cold");
            read(&memory, n, "cold");
            if n % 10 == 0 {
                assert_eq!(read(&memory, hot, "x"), ("hot", false));
            }
        }
        let (kept, seen) = memory.sizes();
        assert!(kept <= 2 * generation, "{kept}");
        assert!(seen <= 8 * generation, "{seen}");
    }
}
