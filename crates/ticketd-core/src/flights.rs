//! One computation at a time per key: callers that ask for the same key while it runs wait for
//! its answer instead of repeating it (a list's first count over a large table, say).
//!
//! Runtime-free (the core has no async runtime): a waiting caller is woken through its task's
//! `Waker`. The leader's guard lands the flight when it is dropped, with or without an answer, so
//! a leader that fails or is cancelled never leaves anyone waiting: they get `None` and may lead
//! a flight of their own.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The computations running, by key.
#[derive(Debug)]
pub struct Flights<K, V> {
    running: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

#[derive(Debug)]
struct Flight<V> {
    state: Mutex<FlightState<V>>,
}

#[derive(Debug)]
struct FlightState<V> {
    landed: bool,
    answer: Option<V>,
    waiting: Vec<Waker>,
}

/// What a caller does for a key: compute it, or wait for the computation already running.
#[derive(Debug)]
pub enum Turn<'a, K: Hash + Eq, V: Clone> {
    /// Compute, then [`Lead::land`] the answer.
    Lead(Lead<'a, K, V>),
    /// Await the running computation's answer (`None` if it ended without one).
    Wait(Landing<V>),
}

/// The guard of the caller computing a key.
#[derive(Debug)]
pub struct Lead<'a, K: Hash + Eq, V> {
    flights: &'a Flights<K, V>,
    key: K,
    flight: Arc<Flight<V>>,
}

/// The answer of a running computation, once it ends.
#[derive(Debug)]
pub struct Landing<V> {
    flight: Arc<Flight<V>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves the state whole: after a panic elsewhere it is still valid.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            running: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    /// Leads the computation of `key` if none is running, else waits for the running one.
    pub fn turn(&self, key: K) -> Turn<'_, K, V> {
        let mut running = lock(&self.running);
        if let Some(flight) = running.get(&key) {
            return Turn::Wait(Landing {
                flight: Arc::clone(flight),
            });
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(FlightState {
                landed: false,
                answer: None,
                waiting: Vec::new(),
            }),
        });
        running.insert(key.clone(), Arc::clone(&flight));
        Turn::Lead(Lead {
            flights: self,
            key,
            flight,
        })
    }
}

impl<K: Hash + Eq, V> Lead<'_, K, V> {
    /// Hands `answer` to every caller waiting for it.
    pub fn land(self, answer: V) {
        lock(&self.flight.state).answer = Some(answer);
    }
}

impl<K: Hash + Eq, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        // While this guard lives its key names its flight: no one else removes or replaces it.
        lock(&self.flights.running).remove(&self.key);
        let waiting = {
            let mut state = lock(&self.flight.state);
            state.landed = true;
            std::mem::take(&mut state.waiting)
        };
        for waker in waiting {
            waker.wake();
        }
    }
}

impl<V: Clone> Future for Landing<V> {
    type Output = Option<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        let mut state = lock(&self.flight.state);
        if state.landed {
            return Poll::Ready(state.answer.clone());
        }
        if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead<'a>(turn: Turn<'a, u32, u64>) -> Lead<'a, u32, u64> {
        match turn {
            Turn::Lead(lead) => lead,
            Turn::Wait(_) => panic!("expected to lead"),
        }
    }

    fn landing(turn: Turn<'_, u32, u64>) -> Landing<u64> {
        match turn {
            Turn::Wait(landing) => landing,
            Turn::Lead(_) => panic!("expected to wait"),
        }
    }

    #[tokio::test]
    async fn callers_during_a_flight_get_its_answer_and_later_ones_lead_again() {
        let flights = Flights::default();
        let first = lead(flights.turn(1));
        let other_key = lead(flights.turn(2));
        let waiters: Vec<_> = (0..3).map(|_| landing(flights.turn(1))).collect();
        let waiting = tokio::spawn(async move {
            let mut answers = Vec::new();
            for waiter in waiters {
                answers.push(waiter.await);
            }
            answers
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        first.land(42);
        assert_eq!(waiting.await.unwrap(), vec![Some(42); 3]);
        lead(flights.turn(1)).land(43);
        drop(other_key);
        lead(flights.turn(2));
    }

    #[tokio::test]
    async fn a_leader_that_ends_without_an_answer_releases_its_waiters() {
        let flights = Flights::default();
        let first = lead(flights.turn(7));
        let waiter = landing(flights.turn(7));
        let waiting = tokio::spawn(waiter);
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(waiting.await.unwrap(), None);
        lead(flights.turn(7));
    }
}
