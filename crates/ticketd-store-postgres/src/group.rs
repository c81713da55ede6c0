//! Group commit for ticket writes: concurrent transitions share one transaction and one commit.
//!
//! Every ticket write takes a lock held until its commit (the day's serial counter for an
//! opening, the outbox lock for any write with events), so one transaction per write lets only
//! one write per commit through. Here the writes queued while a group commits wait for it,
//! then go together: one transaction, one commit (one WAL flush), one pass through those locks.
//! Each write still succeeds or fails on its own: a stale version refuses only that write
//! (nothing of it was written), and if PostgreSQL refuses any statement, the group is rolled
//! back and its writes are run again one transaction each, so each caller gets its own answer.

use crate::conn::Db;
use crate::tickets::{self, GroupOutcome};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use ticketd_core::StoreError;
use ticketd_core::ticket::{Ticket, TicketWrite};
use tokio::sync::oneshot;

/// Most writes one transaction carries. PostgreSQL keeps a group's row locks until its commit,
/// and a bounded group keeps the first caller's wait bounded.
const MAX_GROUP: usize = 64;

type Answer = oneshot::Sender<Result<Ticket, StoreError>>;

/// The writes waiting for the next group, and whether a task is committing groups.
#[derive(Debug, Default)]
pub(crate) struct GroupWriter {
    state: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(TicketWrite, Answer)>,
    draining: bool,
}

impl GroupWriter {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `write` and waits for the group that carries it to commit.
    ///
    /// The groups are committed by a spawned task, not by a caller, so a caller that gives up
    /// waiting (a closed connection, a timeout) cannot cut short a transaction that also
    /// carries other callers' writes. A write whose caller gave up while it waited in the queue
    /// is dropped, and a group one of whose callers no longer waits at its commit is rolled
    /// back and written again without it (`tickets::Wanted`); a write whose caller gives up
    /// after its commit was sent may still land.
    pub(crate) async fn write(
        self: &Arc<Self>,
        db: &Db,
        write: TicketWrite,
    ) -> Result<Ticket, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push((write, answer));
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            let writer = Arc::clone(self);
            let db = db.clone();
            tokio::spawn(async move { writer.drain(&db).await });
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the ticket writer stopped before answering".into(),
            ))
        })
    }

    /// Commits groups until the queue is empty.
    async fn drain(&self, db: &Db) {
        let mut stopped = Stopped {
            writer: self,
            finished: false,
        };
        loop {
            let group = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.draining = false;
                    stopped.finished = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_GROUP);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            // A caller that gave up waiting (its request timed out, its client left) was told
            // the write failed: it is not written afterwards.
            let group: Vec<_> = group
                .into_iter()
                .filter(|(_, answer)| !answer.is_closed())
                .collect();
            if group.is_empty() {
                continue;
            }
            commit(db, group).await;
        }
    }
}

/// If the draining task ends early (a panic, a runtime shutting down), the writes it had not
/// taken are answered with an error (their senders drop) and the next write starts a new task.
struct Stopped<'a> {
    writer: &'a GroupWriter,
    finished: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.writer.lock();
            queue.waiting.clear();
            queue.draining = false;
        }
    }
}

/// Orders a group the way every writer takes its locks, so that two processes committing
/// groups at once cannot deadlock: the role rows of the grants' members first (sent before
/// anything else by [`tickets::write_group`]), updated ticket rows by id, then openings (serial
/// counters), and the outbox lock last (taken once by [`tickets::write_group`]). The sort is stable, so
/// two writes of one ticket keep their arrival order.
fn lock_order(group: &mut [(TicketWrite, Answer)]) {
    group.sort_by_key(|(write, _)| match write.expected_version {
        Some(_) => (0, write.ticket.id.0),
        None => (1, uuid::Uuid::nil()),
    });
}

async fn commit(db: &Db, mut group: Vec<(TicketWrite, Answer)>) {
    lock_order(&mut group);
    while group.len() > 1 {
        let (writes, answers): (Vec<TicketWrite>, Vec<Answer>) = group.into_iter().unzip();
        let waiting = |index: usize| answers.get(index).is_some_and(|answer| !answer.is_closed());
        match tickets::write_group(db, &writes, &waiting).await {
            GroupOutcome::Committed(outcomes) => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    // A caller that stopped waiting has nobody to tell.
                    let _ = answer.send(outcome);
                }
                return;
            }
            GroupOutcome::Uncertain { outcomes, error } => {
                let settled = tickets::settle(db, &writes, outcomes, &error).await;
                for (answer, outcome) in answers.into_iter().zip(settled) {
                    let _ = answer.send(outcome);
                }
                return;
            }
            GroupOutcome::Failed(message) => {
                // Each caller's answer logs the cause once, as the store unavailable (a
                // warning); an error here too logged one outage twice, once as a failure.
                tracing::debug!(error = %message, writes = writes.len(), "postgres group write failed");
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Unavailable(message.clone())));
                }
                return;
            }
            GroupOutcome::Abandoned => {
                // A caller gave up while the group waited (another session's lock): it was
                // told the write failed, so the others go again without it (they were all
                // committed with it, until 2026-12-07).
                group = writes
                    .into_iter()
                    .zip(answers)
                    .filter(|(_, answer)| !answer.is_closed())
                    .collect();
            }
            GroupOutcome::RolledBack => {
                tracing::debug!(
                    writes = writes.len(),
                    "postgres group rolled back; writing each alone"
                );
                return write_each_alone(db, writes.into_iter().zip(answers)).await;
            }
        }
    }
    write_each_alone(db, group).await;
}

/// Writes each of `writes` in a transaction of its own (none whose caller stopped waiting).
async fn write_each_alone(db: &Db, writes: impl IntoIterator<Item = (TicketWrite, Answer)>) {
    for (write, answer) in writes {
        let waiting = || !answer.is_closed();
        let written = tickets::write_ticket(db, &write, &waiting).await;
        let _ = answer.send(written);
    }
}

#[cfg(test)]
mod tests {
    use super::GroupWriter;
    use crate::conn::{Db, PostgresOptions};
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use ticketd_core::StoreError;
    use ticketd_core::ids::{OrgId, TicketId};
    use ticketd_core::ticket::{Ticket, TicketState, TicketWrite};
    use uuid::Uuid;

    fn opening(title: &str) -> TicketWrite {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        let ticket = Ticket {
            id: TicketId(Uuid::now_v7()),
            serial: String::new(),
            org_id: OrgId(Uuid::nil()),
            kind: "general".into(),
            title: title.into(),
            applicant_id: None,
            applicant_display: String::new(),
            flow_id: None,
            state: TicketState::Pending,
            approval_step: 1,
            round: 1,
            steps: Default::default(),
            cc_users: Vec::new(),
            payload: serde_json::Value::Null.into(),
            comment: String::new(),
            scope: String::new(),
            archived: false,
            confirmed: false,
            deleted: false,
            version: 1,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        TicketWrite {
            serial_day: Some("20261203".into()),
            ..TicketWrite::new(ticket, None)
        }
    }

    /// A group that cannot get a connection answers all its writes with one failure instead of
    /// retrying each write alone (each retry would wait for a connection again).
    #[tokio::test]
    async fn a_group_without_a_connection_answers_every_write_after_one_attempt() {
        // A server that accepts connections and never answers the startup message.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        let mut options = PostgresOptions::new(format!("postgres://ticketd@127.0.0.1:{port}/x"));
        options.connect_timeout = Duration::from_millis(200);
        options.acquire_timeout = Duration::from_millis(200);
        let db = Db::new(&options).unwrap();
        let writer = Arc::new(GroupWriter::default());
        // Polled together on this single-threaded runtime, the three writes queue before the
        // committing task first runs, so they form one group.
        let results = futures_util::future::join_all(
            ["a", "b", "c"].map(|title| writer.write(&db, opening(title))),
        )
        .await;
        for result in &results {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection attempt");
    }
}
