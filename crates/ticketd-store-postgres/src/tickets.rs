//! Ticket writes (alone, or grouped in one shared transaction) and list queries driven by the right index.

use crate::conn::{Db, db_err};
use crate::rows::{self, TICKET_COLUMNS};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Transaction};
use futures_util::TryStreamExt;
use futures_util::future::{join_all, try_join_all, try_join4};
use serde_json::Value;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use ticketd_core::StoreError;
use ticketd_core::parsed_tickets::ParsedTickets;
use ticketd_core::serial::format_serial;
use ticketd_core::store::{
    Inserted, ListMark, SortKey, TextColumn, TicketOrder, TicketPage, TicketQuery, Visibility,
    like_pattern,
};
use ticketd_core::ticket::{Comment, Event, Grant, HistoryEntry, Ticket, TicketWrite};
use ticketd_core::{TicketId, UserId};
use tokio_postgres::Statement;
use tokio_postgres::types::{Json, ToSql, Type};
use uuid::Uuid;

/// Key of the transaction-scoped advisory lock held while appending to the outbox
/// ("ticketd" + 2).
///
/// Identity values are handed out when a row is inserted, not when it commits, so without the
/// lock a writer could commit `seq` 7 after a reader has already moved past 8; with it, outbox
/// rows commit in `seq` order. It is taken last and held only until the commit.
const OUTBOX_LOCK: i64 = 0x7469_636b_6574_6402;

// Openings, index rows and history are inserted from column arrays: one statement for any
// number of rows, so a group of openings costs the same statements as one.
const INSERT_TICKETS: &str = "INSERT INTO tickets (id, serial, org_id, kind, title, applicant_id, \
    applicant_display, flow_id, state, approval_step, round, steps, cc_users, payload, comment, scope, \
    archived, confirmed, deleted, version, created_at, updated_at, finished_at) \
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], \
    $7::text[], $8::uuid[], $9::text[], $10::bigint[], $11::bigint[], $12::jsonb[], $13::jsonb[], \
    $14::jsonb[], $15::text[], $16::text[], $17::boolean[], $18::boolean[], $19::boolean[], \
    $20::bigint[], $21::timestamptz[], $22::timestamptz[], $23::timestamptz[])";

/// Takes `$2` serial numbers of day `$1` at once and returns the last one.
const TAKE_SERIALS: &str = "INSERT INTO serial_counters (day, last_value) VALUES ($1, $2) \
    ON CONFLICT (day) DO UPDATE SET last_value = serial_counters.last_value + EXCLUDED.last_value \
    RETURNING last_value";

/// Updates each ticket of the arrays whose stored version is still its `expected` (`$16`), in
/// one statement for a group's updates; returns the updated ones' ids and serials. Under READ
/// COMMITTED a concurrent writer's row lock makes it wait; the join's condition is then
/// re-checked against the committed row, so a stale version matches nothing.
const UPDATE_TICKETS: &str = "UPDATE tickets AS t SET title = u.title, flow_id = u.flow_id, \
    state = u.state, approval_step = u.approval_step, round = u.round, steps = u.steps, \
    cc_users = u.cc_users, payload = u.payload, comment = u.comment, archived = u.archived, \
    confirmed = u.confirmed, deleted = u.deleted, version = u.version, updated_at = u.updated_at, \
    finished_at = u.finished_at \
    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[], \
    $7::jsonb[], $8::jsonb[], $9::jsonb[], $10::text[], $11::boolean[], $12::boolean[], \
    $13::boolean[], $14::bigint[], $15::timestamptz[], $16::bigint[], $17::timestamptz[]) \
    AS u (id, title, flow_id, state, approval_step, round, steps, cc_users, payload, comment, \
    archived, confirmed, deleted, version, updated_at, expected, finished_at) \
    WHERE t.id = u.id AND t.version = u.expected RETURNING t.id, t.serial";

// In array order, like the history, so a ticket's comments keep their order in `seq`.
const INSERT_COMMENTS: &str = "INSERT INTO ticket_comments (id, ticket_id, user_id, user_display, \
    body, kind, state, created_at) \
    SELECT id, ticket_id, user_id, user_display, body, kind, state, created_at \
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::timestamptz[]) \
    WITH ORDINALITY AS c (id, ticket_id, user_id, user_display, body, kind, state, created_at, ord) \
    ORDER BY ord";

// A grant and its user rows in one statement: the user rows are written only when the grant
// row was (the name free, the id new).
const INSERT_GRANT: &str = "WITH granted AS (INSERT INTO grants (id, ticket_id, org_id, kind, \
    name, users, payload, valid_from, valid_until, created_by, comment, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id), \
    users AS (INSERT INTO grant_users (grant_id, user_id) \
    SELECT granted.id, u FROM granted, unnest($13::uuid[]) AS u ON CONFLICT DO NOTHING) \
    SELECT id FROM granted";

// The index rows carry the ticket's listing columns (state, kind, archived, deleted): counts
// of one's steps and tickets then never visit a ticket row.
const INSERT_ASSIGNEES: &str = "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, \
    awaiting, created_at, state, kind, archived, deleted) \
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::boolean[], $5::boolean[], \
    $6::timestamptz[], $7::text[], $8::text[], $9::boolean[], $10::boolean[])";

const INSERT_VIEWERS: &str = "INSERT INTO ticket_viewers (ticket_id, user_id, created_at, \
    state, kind, archived, deleted) \
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], \
    $6::boolean[], $7::boolean[]) ON CONFLICT DO NOTHING";

// In array order, so a ticket's entries keep their order in `seq`.
const INSERT_HISTORY: &str = "INSERT INTO ticket_history (id, ticket_id, round, level, action, \
    actor_id, actor_display, from_state, to_state, reason, self_approved, created_at, \
    ended_round_steps) \
    SELECT id, ticket_id, round, level, action, actor_id, actor_display, from_state, to_state, \
    reason, self_approved, created_at, ended_round_steps \
    FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::text[], $6::uuid[], \
    $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::timestamptz[], \
    $13::jsonb[]) \
    WITH ORDINALITY AS h (id, ticket_id, round, level, action, actor_id, actor_display, \
    from_state, to_state, reason, self_approved, created_at, ended_round_steps, ord) ORDER BY ord";

// In array order: events are delivered in `seq` order.
// The role rows of the (organization, user) pairs given, locked against their deletion.
const LOCK_ROLES: &str = "SELECT m.org_id, m.user_id FROM org_members m \
    JOIN unnest($1::uuid[], $2::uuid[]) AS wanted (org_id, user_id) \
      ON m.org_id = wanted.org_id AND m.user_id = wanted.user_id \
    ORDER BY m.org_id, m.user_id, m.role_id FOR KEY SHARE OF m";

const INSERT_EVENTS: &str = "INSERT INTO outbox_events (id, kind, ticket_id, org_id, payload, \
    created_at) \
    SELECT id, kind, ticket_id, org_id, payload, created_at \
    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[], $6::timestamptz[]) \
    WITH ORDINALITY AS e (id, kind, ticket_id, org_id, payload, created_at, ord) ORDER BY ord";

/// Parameters owned by (or borrowing for `'a`) one pipelined statement.
type Values<'a> = Vec<Box<dyn ToSql + Sync + Send + 'a>>;

macro_rules! values {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as Box<dyn ToSql + Sync + Send + '_>),*]
    };
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// Statements sent together. tokio-postgres pipelines requests that are in flight at once, so
/// a batch costs one round trip while the server still runs the statements in order; this
/// keeps the time a writer holds the serial-counter or ticket row lock short.
struct Batch<'a> {
    tx: &'a Transaction<'a>,
    pending: Vec<Pending<'a>>,
}

impl<'a> Batch<'a> {
    fn new(tx: &'a Transaction<'a>) -> Self {
        Self {
            tx,
            pending: Vec::new(),
        }
    }

    fn push(&mut self, statement: &'a Statement, values: Values<'a>) {
        self.pending
            .push(Box::pin(self.tx.execute_raw(statement, values)));
    }

    /// Sends every statement, then waits for all answers. Answers arrive in order, so the
    /// first error reported is the statement that failed, not one refused after it because
    /// the transaction was already aborted.
    async fn run(self) -> Result<(), StoreError> {
        try_join_all(self.pending).await.map_err(db_err)?;
        Ok(())
    }
}

/// How long a write's transaction may take, from its first statement to its commit's answer,
/// before its connection is taken for stalled: beyond `lock_timeout` (5 s) and any write's own
/// work. Such a connection is never handed out again (PostgreSQL ends its session with
/// `idle_in_transaction_session_timeout`), and a commit it had sent is read back ([`settle`]):
/// a peer that kept the connection open but stopped answering held every later write of the
/// process (its groups go one after another) for as long as it stayed silent.
const WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// The error of a write whose connection stalled.
fn stalled(client: Object) -> String {
    drop(Object::take(client));
    format!(
        "the database did not answer within {} s",
        WRITE_DEADLINE.as_secs()
    )
}

/// Whether a write's caller still waits for it (for a group: the write at that index), asked
/// right before its commit is sent: one that gave up (its request answered 503 "try again"
/// after the timeout) is rolled back, so a retry does not make it twice (a write held by
/// another session's lock committed once the lock went, until 2026-12-07). A caller that gives
/// up after the question may still see its write made.
pub(crate) type Wanted<'a> = &'a (dyn Fn() -> bool + Sync);

/// [`Wanted`] for each write of a group, by its index.
pub(crate) type WantedInGroup<'a> = &'a (dyn Fn(usize) -> bool + Sync);

/// Applies one transition in its own transaction; nothing is written when it fails, or when
/// its caller no longer waits at the commit (`wanted`).
pub(crate) async fn write_ticket(
    db: &Db,
    write: &TicketWrite,
    wanted: Wanted<'_>,
) -> Result<Ticket, StoreError> {
    let mut client = db.client().await?;
    let mut sent = None;
    let written = tokio::time::timeout(
        WRITE_DEADLINE,
        write_ticket_on(&mut client, write, wanted, &mut sent),
    )
    .await;
    let (ticket, error) = match written {
        Ok(Ok(ticket)) => return Ok(ticket),
        Ok(Err(Uncommitted::Refused(error))) => return Err(error),
        Ok(Err(Uncommitted::Unknown(error))) => match sent {
            Some(ticket) => (ticket, error),
            None => return Err(StoreError::Unavailable(error)),
        },
        Err(_elapsed) => {
            let error = stalled(client);
            match sent {
                Some(ticket) => (ticket, error),
                None => return Err(StoreError::Unavailable(error)),
            }
        }
    };
    let settled = settle(db, std::slice::from_ref(write), vec![Ok(ticket)], &error).await;
    settled
        .into_iter()
        .next()
        .unwrap_or(Err(StoreError::Unavailable(error)))
}

/// Why a single write did not commit.
enum Uncommitted {
    /// It was refused or rolled back: nothing was written.
    Refused(StoreError),
    /// The connection failed once its commit may have been sent.
    Unknown(String),
}

/// [`write_ticket`]'s transaction on `client`; `sent` holds the written ticket from the moment
/// its commit is sent.
async fn write_ticket_on(
    client: &mut Object,
    write: &TicketWrite,
    wanted: Wanted<'_>,
    sent: &mut Option<Ticket>,
) -> Result<Ticket, Uncommitted> {
    let refused = |error: StoreError| Uncommitted::Refused(error);
    let tx = client.transaction().await.map_err(|e| refused(db_err(e)))?;
    // On an error the transaction is dropped, which rolls it back before the connection is
    // handed out again.
    let prepared = Prepared::new(&tx).await.map_err(refused)?;
    // Before the ticket's row is locked, as in a group; a member gone refuses it unwritten.
    let grants: Vec<&Grant> = write.grant.iter().collect();
    let held = lock_members_roles(&tx, &prepared, &grants)
        .await
        .map_err(refused)?;
    check_members(&tx, &prepared, &grants, held)
        .await
        .map_err(refused)?;
    let ticket = write_in(&tx, &prepared, write, &write.events)
        .await
        .map_err(|failure| refused(failure.into_error()))?;
    if !wanted() {
        return Err(refused(StoreError::Unavailable(GAVE_UP.into())));
    }
    *sent = Some(ticket);
    let committed = tx.commit().await;
    match committed {
        Ok(()) => sent.take().ok_or_else(|| {
            Uncommitted::Refused(StoreError::Unavailable(
                "the written ticket was lost".into(),
            ))
        }),
        Err(e) if e.as_db_error().is_some() => {
            *sent = None;
            Err(refused(db_err(e)))
        }
        Err(e) => Err(Uncommitted::Unknown(db_err(e).to_string())),
    }
}

/// A row a write adds that exists once, and only once, its commit took effect: its first
/// history entry or outbox event (new ids), or, for an opening with neither, its ticket.
enum CommitMark {
    History(Uuid),
    Event(Uuid),
    Ticket(Uuid),
}

impl CommitMark {
    fn of(write: &TicketWrite) -> Option<Self> {
        if let Some(entry) = write.history.first() {
            Some(Self::History(entry.id))
        } else if let Some(event) = write.events.first() {
            Some(Self::Event(event.id))
        } else if write.expected_version.is_none() {
            Some(Self::Ticket(write.ticket.id.0))
        } else {
            None
        }
    }

    fn id(&self) -> Uuid {
        match self {
            Self::History(id) | Self::Event(id) | Self::Ticket(id) => *id,
        }
    }
}

/// The marks of `marks` that are stored, read on a connection of the pool.
async fn stored_marks(db: &Db, marks: &[&CommitMark]) -> Result<Vec<Uuid>, StoreError> {
    let ids = |pick: fn(&CommitMark) -> Option<Uuid>| -> Vec<Uuid> {
        marks.iter().filter_map(|mark| pick(mark)).collect()
    };
    let history = ids(|m| matches!(m, CommitMark::History(_)).then(|| m.id()));
    let events = ids(|m| matches!(m, CommitMark::Event(_)).then(|| m.id()));
    let tickets = ids(|m| matches!(m, CommitMark::Ticket(_)).then(|| m.id()));
    let rows = db
        .query(
            "SELECT id FROM ticket_history WHERE id = ANY($1) \
             UNION ALL SELECT id FROM outbox_events WHERE id = ANY($2) \
             UNION ALL SELECT id FROM tickets WHERE id = ANY($3)",
            &[&history, &events, &tickets],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<_, Uuid>(0).map_err(db_err))
        .collect()
}

/// How long the server gets to finish a commit whose answer was lost before it is asked again.
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Settles writes whose commit was sent but whose answer was lost (the connection failed
/// after `COMMIT` went out): whether each took effect is read on another connection, by the
/// rows it adds ([`CommitMark`]), once more after [`SETTLE_PAUSE`] for those not found (the
/// server may still be finishing it). A write found committed gets its ticket (`outcomes`,
/// computed in the transaction), so a client does not retry what was done: an opening made
/// twice, a decision answered "changed meanwhile" to its own approver. One found not committed,
/// or that cannot be told, is `Unavailable` with `error`; a write refused alone keeps its
/// refusal.
pub(crate) async fn settle(
    db: &Db,
    writes: &[TicketWrite],
    outcomes: Vec<Result<Ticket, StoreError>>,
    error: &str,
) -> Vec<Result<Ticket, StoreError>> {
    let marks: Vec<Option<CommitMark>> = writes
        .iter()
        .zip(&outcomes)
        .map(|(write, outcome)| outcome.as_ref().ok().and_then(|_| CommitMark::of(write)))
        .collect();
    let wanted: Vec<&CommitMark> = marks.iter().flatten().collect();
    let mut found = Vec::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(SETTLE_PAUSE).await;
        }
        match stored_marks(db, &wanted).await {
            Ok(ids) => found = ids,
            Err(read) => {
                tracing::warn!(error = %read, "could not read whether a commit took effect")
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    let settled: Vec<Result<Ticket, StoreError>> = outcomes
        .into_iter()
        .zip(&marks)
        .map(|(outcome, mark)| match (outcome, mark) {
            (Ok(ticket), Some(mark)) if found.contains(&mark.id()) => Ok(ticket),
            (Ok(_), _) => Err(StoreError::Unavailable(error.to_owned())),
            (refused, _) => refused,
        })
        .collect();
    let committed = settled.iter().filter(|outcome| outcome.is_ok()).count();
    tracing::warn!(
        %error,
        writes = writes.len(),
        committed,
        "the connection failed after a commit was sent; read back what it had written"
    );
    settled
}

/// How one write of a shared transaction failed.
enum WriteFailure {
    /// Refused before it wrote anything (a stale version, an unknown ticket): the transaction
    /// goes on for the other writes.
    Refused(StoreError),
    /// Failed after writing, or PostgreSQL refused a statement: the transaction is lost.
    Aborted(StoreError),
}

impl WriteFailure {
    fn into_error(self) -> StoreError {
        match self {
            Self::Refused(e) | Self::Aborted(e) => e,
        }
    }
}

/// What became of a group of writes sent in one transaction.
pub(crate) enum GroupOutcome {
    /// Committed: each write's ticket, or why that write alone was refused.
    Committed(Vec<Result<Ticket, StoreError>>),
    /// Rolled back before the commit was sent, nothing written: each write may be retried alone.
    RolledBack,
    /// Rolled back before the commit was sent because a caller stopped waiting: the writes
    /// whose callers still wait may be written again, together, without the others.
    Abandoned,
    /// No connection could be had (nothing was sent), or PostgreSQL refused the commit
    /// (nothing was written): every write is answered with this, and none is retried.
    Failed(String),
    /// The commit was sent and its answer lost (the connection failed): whether it took effect
    /// is read back ([`settle`]); each write's outcome if it did.
    Uncertain {
        /// What each write's outcome is if the commit took effect.
        outcomes: Vec<Result<Ticket, StoreError>>,
        /// Why the answer was lost.
        error: String,
    },
}

/// Why a write whose caller gave up was rolled back (nobody reads it).
const GAVE_UP: &str = "its caller stopped waiting before the commit";

/// Applies `writes` in one transaction with one commit; their order must be the lock order
/// (ticket rows by id, then serial counters; the outbox lock is taken once, last). If a caller
/// no longer waits at the commit (`wanted`), it is rolled back (`Abandoned`).
pub(crate) async fn write_group(
    db: &Db,
    writes: &[TicketWrite],
    wanted: WantedInGroup<'_>,
) -> GroupOutcome {
    let mut client = match db.client().await {
        Ok(client) => client,
        // Retrying each write alone would wait for a connection once per write.
        Err(e) => return GroupOutcome::Failed(failure_text(e)),
    };
    let mut sent = None;
    let written = tokio::time::timeout(
        WRITE_DEADLINE,
        write_group_on(&mut client, writes, wanted, &mut sent),
    )
    .await;
    match written {
        Ok(outcome) => outcome,
        Err(_elapsed) => {
            let error = stalled(client);
            match sent {
                Some(outcomes) => GroupOutcome::Uncertain { outcomes, error },
                None => GroupOutcome::Failed(error),
            }
        }
    }
}

/// [`write_group`]'s transaction on `client`; `sent` holds the writes' outcomes from the moment
/// its commit is sent.
async fn write_group_on(
    client: &mut Object,
    writes: &[TicketWrite],
    wanted: WantedInGroup<'_>,
    sent: &mut Option<Vec<Result<Ticket, StoreError>>>,
) -> GroupOutcome {
    let Ok(tx) = client.transaction().await else {
        return GroupOutcome::RolledBack;
    };
    // Updates go first, as one versioned UPDATE of all their ticket rows, then their other
    // rows with one statement per table (`write_updates`), and all openings go together: one
    // serial-counter statement per day, then one insert per table. PostgreSQL runs statements
    // in the order they arrive; the UPDATE (the rows' locks, taken in the group's order with
    // the nested loop PostgreSQL plans for it over a large table) is sent when the updates'
    // future is first polled, and the openings' counter statements after it, which keeps the
    // lock order. Correctness does not rest on it: a deadlock with another process is broken by
    // PostgreSQL, which aborts one transaction, and that group's writes then run alone. A write
    // refused by its version check has written nothing; any statement PostgreSQL refuses aborts
    // the transaction, and the group is rolled back.
    let Ok(prepared) = Prepared::new(&tx).await else {
        return GroupOutcome::RolledBack;
    };
    let (openings, updates): (Vec<&TicketWrite>, Vec<&TicketWrite>) =
        writes.iter().partition(|w| w.expected_version.is_none());
    // Polled first, so sent (and run) before the ticket rows are locked.
    let grants: Vec<&Grant> = writes.iter().filter_map(|w| w.grant.as_ref()).collect();
    let roles = lock_members_roles(&tx, &prepared, &grants);
    let updated = write_updates(&tx, &prepared, &updates);
    let opened = async {
        if openings.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = Batch::new(&tx);
        let tickets = push_openings(&tx, &prepared, &mut batch, &openings).await?;
        batch.run().await?;
        let grants: Vec<&Grant> = openings.iter().filter_map(|w| w.grant.as_ref()).collect();
        insert_grants(&tx, &grants).await?;
        Ok::<_, StoreError>(tickets)
    };
    let (roles, updated, opened) = futures_util::future::join3(roles, updated, opened).await;
    let (Ok(roles), Ok(opened), Ok(updated)) = (roles, opened, updated) else {
        // Dropping the transaction rolls it back.
        return GroupOutcome::RolledBack;
    };
    // The partition kept each side in the group's order: walking the group takes the next
    // answer of its side.
    let (mut opened, mut updated) = (opened.into_iter(), updated.into_iter());
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        let outcome = if write.expected_version.is_none() {
            opened.next().map(Ok)
        } else {
            updated.next()
        };
        let Some(outcome) = outcome else {
            return GroupOutcome::RolledBack;
        };
        outcomes.push(outcome);
    }
    // A grant written whose member left meanwhile: the group goes back, and each write alone
    // is refused or written.
    let landed: Vec<&Grant> = writes
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .filter_map(|(write, _)| write.grant.as_ref())
        .collect();
    if check_members(&tx, &prepared, &landed, roles).await.is_err() {
        return GroupOutcome::RolledBack;
    }
    let events: Vec<&Event> = writes
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .flat_map(|(write, _)| &write.events)
        .collect();
    if !events.is_empty() {
        let mut batch = Batch::new(&tx);
        push_events(&mut batch, &prepared, events);
        if batch.run().await.is_err() {
            return GroupOutcome::RolledBack;
        }
    }
    // Only the writes that would land: one refused alone (a stale version) wrote nothing.
    if !(0..writes.len())
        .filter(|&index| outcomes.get(index).is_some_and(Result::is_ok))
        .all(wanted)
    {
        return GroupOutcome::Abandoned;
    }
    *sent = Some(outcomes);
    let committed = tx.commit().await;
    let Some(outcomes) = sent.take() else {
        return GroupOutcome::Failed("the group's outcomes were lost".into());
    };
    match committed {
        Ok(()) => GroupOutcome::Committed(outcomes),
        Err(e) if e.as_db_error().is_some() => GroupOutcome::Failed(failure_text(db_err(e))),
        Err(e) => GroupOutcome::Uncertain {
            outcomes,
            error: failure_text(db_err(e)),
        },
    }
}

/// What every caller of a failed group is told (as `StoreError::Unavailable`).
fn failure_text(error: StoreError) -> String {
    match error {
        StoreError::Unavailable(text) => text,
        other => {
            std::error::Error::source(&other).map_or_else(|| other.to_string(), ToString::to_string)
        }
    }
}

/// The statements ticket writes send, prepared (or found in the connection's cache) once per
/// transaction.
struct Prepared {
    insert_tickets: Statement,
    delete_assignees: Statement,
    delete_viewers: Statement,
    insert_assignees: Statement,
    insert_viewers: Statement,
    insert_history: Statement,
    insert_comments: Statement,
    lock_outbox: Statement,
    insert_events: Statement,
    lock_roles: Statement,
}

impl Prepared {
    async fn new(tx: &Transaction<'_>) -> Result<Self, StoreError> {
        let prepare = async |sql: &str| tx.prepare_cached(sql).await.map_err(db_err);
        Ok(Self {
            insert_tickets: prepare(INSERT_TICKETS).await?,
            delete_assignees: prepare("DELETE FROM ticket_assignees WHERE ticket_id = ANY($1)")
                .await?,
            delete_viewers: prepare("DELETE FROM ticket_viewers WHERE ticket_id = ANY($1)").await?,
            insert_assignees: prepare(INSERT_ASSIGNEES).await?,
            insert_viewers: prepare(INSERT_VIEWERS).await?,
            insert_history: prepare(INSERT_HISTORY).await?,
            insert_comments: prepare(INSERT_COMMENTS).await?,
            lock_outbox: prepare("SELECT pg_advisory_xact_lock($1)").await?,
            insert_events: prepare(INSERT_EVENTS).await?,
            lock_roles: prepare(LOCK_ROLES).await?,
        })
    }
}

/// A group's updates inside `tx`: one versioned `UPDATE` of all their ticket rows, then the
/// index rows, history and comments of every update that passed its version check with one
/// statement per table, then their grants. Each update is answered alone: `Ok(Err(_))` for one
/// refused by its version check (nothing of it was written); `Err(_)` when PostgreSQL refused a
/// statement, which loses the transaction.
///
/// A ticket updated twice in one group (the second write made from the first's result) has
/// its writes run one after another instead, since one multi-row insert may not write the
/// same index row twice.
async fn write_updates(
    tx: &Transaction<'_>,
    prepared: &Prepared,
    updates: &[&TicketWrite],
) -> Result<Vec<Result<Ticket, StoreError>>, StoreError> {
    // A refused write is answered alone; an aborted one loses the transaction.
    let answer = |result: Result<Ticket, WriteFailure>| match result {
        Ok(ticket) => Ok(Ok(ticket)),
        Err(WriteFailure::Refused(e)) => Ok(Err(e)),
        Err(WriteFailure::Aborted(e)) => Err(e),
    };
    let ids: std::collections::HashSet<Uuid> = updates.iter().map(|w| w.ticket.id.0).collect();
    if ids.len() < updates.len() {
        let written = join_all(
            updates
                .iter()
                .map(|write| write_in(tx, prepared, write, &[])),
        );
        return written.await.into_iter().map(answer).collect();
    }
    let rows: Vec<(&Ticket, i64)> = updates
        .iter()
        .map(|write| (&write.ticket, write.expected_version.unwrap_or_default()))
        .collect();
    let outcomes = update_rows(tx, &rows).await?;
    let landed: Vec<(&Ticket, &TicketWrite)> = outcomes
        .iter()
        .zip(updates)
        .filter_map(|(outcome, write)| Some((outcome.as_ref().ok()?, *write)))
        .collect();
    let mut batch = Batch::new(tx);
    push_rows(&mut batch, prepared, &landed);
    batch.run().await?;
    // The grant's name search reads answers, so grants run after the batch, and before the
    // outbox lock, which must be the last lock a writer takes.
    let grants: Vec<&Grant> = landed
        .iter()
        .filter_map(|(_, w)| w.grant.as_ref())
        .collect();
    insert_grants(tx, &grants).await?;
    Ok(outcomes)
}

/// Adds to `batch` what updates of distinct tickets write besides the ticket rows: the
/// deletes of the index rows they write again (one statement per table), then the inserts of
/// those rows, their history entries and comments.
fn push_rows<'a>(
    batch: &mut Batch<'a>,
    prepared: &'a Prepared,
    updates: &[(&Ticket, &TicketWrite)],
) {
    let rewritten = |writes: fn(&TicketWrite) -> bool| -> Vec<Uuid> {
        updates
            .iter()
            .filter(|(_, write)| writes(write))
            .map(|(ticket, _)| ticket.id.0)
            .collect()
    };
    let assignees = rewritten(TicketWrite::writes_assignees);
    if !assignees.is_empty() {
        batch.push(&prepared.delete_assignees, values![assignees]);
    }
    let viewers = rewritten(TicketWrite::writes_viewers);
    if !viewers.is_empty() {
        batch.push(&prepared.delete_viewers, values![viewers]);
    }
    let mut rows = Rows::default();
    for (ticket, write) in updates {
        rows.add(ticket, write);
    }
    rows.push(batch, prepared);
}

/// Writes one transition inside `tx`, with `events` sent in its last round trip (a group
/// passes none and appends every write's events once, after all its writes).
async fn write_in<'a>(
    tx: &'a Transaction<'a>,
    prepared: &'a Prepared,
    write: &'a TicketWrite,
    events: &'a [Event],
) -> Result<Ticket, WriteFailure> {
    let aborted = WriteFailure::Aborted;
    // The grant's members' roles are locked and checked by the caller, before any ticket row
    // (`write_ticket_on`, `write_group_on`): here, a write of a ticket a group writes twice
    // would wait for them, and the group's other statements overtake it.
    let mut batch = Batch::new(tx);
    let ticket = match write.expected_version {
        None => push_openings(tx, prepared, &mut batch, &[write])
            .await
            .map_err(aborted)?
            .pop()
            .ok_or_else(|| aborted(StoreError::NotFound))?,
        Some(expected) => {
            let ticket = update_rows(tx, &[(&write.ticket, expected)])
                .await
                .map_err(aborted)?
                .pop()
                .ok_or_else(|| aborted(StoreError::NotFound))?
                .map_err(WriteFailure::Refused)?;
            push_rows(&mut batch, prepared, &[(&ticket, write)]);
            ticket
        }
    };
    match &write.grant {
        None => {
            push_events(&mut batch, prepared, events);
            batch.run().await.map_err(aborted)?;
        }
        Some(grant) => {
            batch.run().await.map_err(aborted)?;
            // The grant's name search reads answers, so it runs between two batches, and
            // before the outbox lock, which must be the last lock a writer takes.
            insert_grants(tx, &[grant]).await.map_err(aborted)?;
            let mut batch = Batch::new(tx);
            push_events(&mut batch, prepared, events);
            batch.run().await.map_err(aborted)?;
        }
    }
    Ok(ticket)
}

/// Updates the ticket rows whose stored version is still the one given with them, with one
/// statement; answers each in order with the ticket and its stored serial, or why it alone was
/// refused (nothing of it written). `Err` when PostgreSQL refused a statement.
async fn update_rows(
    tx: &Transaction<'_>,
    updates: &[(&Ticket, i64)],
) -> Result<Vec<Result<Ticket, StoreError>>, StoreError> {
    // Even an `UPDATE` of no row fires the tickets' statement trigger, which notes a list
    // change (migration 0009): sent for a group of openings, it made every remembered count
    // count afresh (contract check `openings_committed_together_keep_counts_countable`).
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let statement = tx.prepare_cached(UPDATE_TICKETS).await.map_err(db_err)?;
    let tickets = || updates.iter().map(|(ticket, _)| *ticket);
    let column = |f: &dyn Fn(&Ticket) -> String| tickets().map(f).collect::<Vec<String>>();
    let parameters = values![
        tickets().map(|t| t.id.0).collect::<Vec<Uuid>>(),
        column(&|t| t.title.clone()),
        tickets()
            .map(|t| t.flow_id.map(|f| f.0))
            .collect::<Vec<Option<Uuid>>>(),
        column(&|t| t.state.as_str().to_owned()),
        tickets()
            .map(|t| i64::from(t.approval_step))
            .collect::<Vec<i64>>(),
        tickets().map(|t| i64::from(t.round)).collect::<Vec<i64>>(),
        tickets().map(|t| Json(&*t.steps)).collect::<Vec<_>>(),
        tickets().map(|t| Json(&t.cc_users)).collect::<Vec<_>>(),
        tickets().map(|t| Json(&*t.payload)).collect::<Vec<_>>(),
        column(&|t| t.comment.clone()),
        tickets().map(|t| t.archived).collect::<Vec<bool>>(),
        tickets().map(|t| t.confirmed).collect::<Vec<bool>>(),
        tickets().map(|t| t.deleted).collect::<Vec<bool>>(),
        tickets().map(|t| t.version).collect::<Vec<i64>>(),
        tickets()
            .map(|t| t.updated_at)
            .collect::<Vec<DateTime<Utc>>>(),
        updates
            .iter()
            .map(|(_, expected)| *expected)
            .collect::<Vec<i64>>(),
        tickets()
            .map(|t| t.finished_at)
            .collect::<Vec<Option<DateTime<Utc>>>>(),
    ];
    let rows: Vec<tokio_postgres::Row> = tx
        .query_raw(&statement, parameters)
        .await
        .map_err(db_err)?
        .try_collect()
        .await
        .map_err(db_err)?;
    let mut serials = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("id").map_err(db_err)?;
        let serial: String = row.try_get("serial").map_err(db_err)?;
        serials.insert(id, serial);
    }
    // Only a refused update needs to know whether its ticket exists.
    let refused: Vec<Uuid> = tickets()
        .map(|t| t.id.0)
        .filter(|id| !serials.contains_key(id))
        .collect();
    let existing: std::collections::HashSet<Uuid> = if refused.is_empty() {
        std::collections::HashSet::new()
    } else {
        tx.query("SELECT id FROM tickets WHERE id = ANY($1)", &[&refused])
            .await
            .map_err(db_err)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(db_err)?
    };
    Ok(tickets()
        .map(|ticket| match serials.get(&ticket.id.0) {
            Some(serial) => {
                let mut ticket = ticket.clone();
                ticket.serial = serial.clone();
                Ok(ticket)
            }
            None if existing.contains(&ticket.id.0) => Err(StoreError::VersionConflict),
            None => Err(StoreError::NotFound),
        })
        .collect())
}

/// Takes serial numbers for new tickets, then adds their inserts (tickets, index rows,
/// history, comments) to `batch`: a fixed number of statements however many they are.
/// Returns the tickets with their serials, in the order of `writes`.
///
/// Each day's counter row is raised once by the number of its new tickets and stays locked
/// until the commit; if anything fails the transaction rolls back and gives the numbers back,
/// so serials stay gap-free.
async fn push_openings<'a>(
    tx: &Transaction<'_>,
    prepared: &'a Prepared,
    batch: &mut Batch<'a>,
    writes: &[&'a TicketWrite],
) -> Result<Vec<Ticket>, StoreError> {
    let mut days: Vec<(&str, i64)> = Vec::new();
    for write in writes {
        let day = write.serial_day.as_deref().unwrap_or_default();
        match days.iter_mut().find(|(d, _)| *d == day) {
            Some((_, count)) => *count += 1,
            None => days.push((day, 1)),
        }
    }
    let take = tx.prepare_cached(TAKE_SERIALS).await.map_err(db_err)?;
    let params: Vec<[&(dyn ToSql + Sync); 2]> = days
        .iter()
        .map(|(day, count)| [day as &(dyn ToSql + Sync), count as &(dyn ToSql + Sync)])
        .collect();
    let lasts = try_join_all(params.iter().map(|p| tx.query_one(&take, p)))
        .await
        .map_err(db_err)?;
    // Each day's count becomes the first number it took.
    for ((_, count), row) in days.iter_mut().zip(&lasts) {
        let last: i64 = row.try_get(0).map_err(db_err)?;
        *count = last - *count + 1;
    }
    let mut tickets = Vec::with_capacity(writes.len());
    let mut rows = Rows::default();
    for write in writes {
        let day = write.serial_day.as_deref().unwrap_or_default();
        let mut ticket = write.ticket.clone();
        if let Some((_, number)) = days.iter_mut().find(|(d, _)| *d == day) {
            ticket.serial = format_serial(day, u64::try_from(*number).unwrap_or(0));
            *number += 1;
        }
        rows.add(&ticket, write);
        tickets.push(ticket);
    }
    batch.push(&prepared.insert_tickets, ticket_columns(&tickets));
    rows.push(batch, prepared);
    Ok(tickets)
}

/// The parameters of [`INSERT_TICKETS`] for `tickets`.
fn ticket_columns(tickets: &[Ticket]) -> Values<'static> {
    let column = |f: &dyn Fn(&Ticket) -> String| tickets.iter().map(f).collect::<Vec<String>>();
    values![
        tickets.iter().map(|t| t.id.0).collect::<Vec<Uuid>>(),
        column(&|t| t.serial.clone()),
        tickets.iter().map(|t| t.org_id.0).collect::<Vec<Uuid>>(),
        column(&|t| t.kind.clone()),
        column(&|t| t.title.clone()),
        tickets
            .iter()
            .map(|t| t.applicant_id.map(|u| u.0))
            .collect::<Vec<Option<Uuid>>>(),
        column(&|t| t.applicant_display.clone()),
        tickets
            .iter()
            .map(|t| t.flow_id.map(|f| f.0))
            .collect::<Vec<Option<Uuid>>>(),
        column(&|t| t.state.as_str().to_owned()),
        tickets
            .iter()
            .map(|t| i64::from(t.approval_step))
            .collect::<Vec<i64>>(),
        tickets
            .iter()
            .map(|t| i64::from(t.round))
            .collect::<Vec<i64>>(),
        tickets
            .iter()
            .map(|t| Json(Vec::clone(&t.steps)))
            .collect::<Vec<_>>(),
        tickets
            .iter()
            .map(|t| Json(t.cc_users.clone()))
            .collect::<Vec<_>>(),
        tickets
            .iter()
            .map(|t| Json(Value::clone(&t.payload)))
            .collect::<Vec<_>>(),
        column(&|t| t.comment.clone()),
        column(&|t| t.scope.clone()),
        tickets.iter().map(|t| t.archived).collect::<Vec<bool>>(),
        tickets.iter().map(|t| t.confirmed).collect::<Vec<bool>>(),
        tickets.iter().map(|t| t.deleted).collect::<Vec<bool>>(),
        tickets.iter().map(|t| t.version).collect::<Vec<i64>>(),
        tickets.iter().map(|t| t.created_at).collect::<Vec<_>>(),
        tickets.iter().map(|t| t.updated_at).collect::<Vec<_>>(),
        tickets.iter().map(|t| t.finished_at).collect::<Vec<_>>(),
    ]
}

fn push_events<'a>(
    batch: &mut Batch<'a>,
    prepared: &'a Prepared,
    events: impl IntoIterator<Item = &'a Event>,
) {
    let mut events = events.into_iter().peekable();
    if events.peek().is_none() {
        return;
    }
    batch.push(&prepared.lock_outbox, values![OUTBOX_LOCK]);
    let events: Vec<&Event> = events.collect();
    batch.push(
        &prepared.insert_events,
        values![
            events.iter().map(|e| e.id).collect::<Vec<Uuid>>(),
            events
                .iter()
                .map(|e| e.kind.clone())
                .collect::<Vec<String>>(),
            events.iter().map(|e| e.ticket_id.0).collect::<Vec<Uuid>>(),
            events.iter().map(|e| e.org_id.0).collect::<Vec<Uuid>>(),
            events.iter().map(|e| Json(&e.payload)).collect::<Vec<_>>(),
            events
                .iter()
                .map(|e| e.created_at)
                .collect::<Vec<DateTime<Utc>>>(),
        ],
    );
}

/// Column arrays of the assignee index, viewer index and history rows of some writes, and
/// their comments.
#[derive(Default)]
struct Rows {
    assignee_ticket: Vec<Uuid>,
    assignee_user: Vec<Uuid>,
    assignee_level: Vec<i64>,
    assignee_current: Vec<bool>,
    assignee_awaiting: Vec<bool>,
    assignee_created: Vec<DateTime<Utc>>,
    assignee_listing: Listing,
    viewer_ticket: Vec<Uuid>,
    viewer_user: Vec<Uuid>,
    viewer_created: Vec<DateTime<Utc>>,
    viewer_listing: Listing,
    history: Vec<HistoryEntry>,
    comments: Vec<Comment>,
}

/// The ticket's listing columns, copied into its index rows.
#[derive(Default)]
struct Listing {
    state: Vec<String>,
    kind: Vec<String>,
    archived: Vec<bool>,
    deleted: Vec<bool>,
}

impl Listing {
    fn add(&mut self, ticket: &Ticket) {
        self.state.push(ticket.state.as_str().to_owned());
        self.kind.push(ticket.kind.clone());
        self.archived.push(ticket.archived);
        self.deleted.push(ticket.deleted);
    }
}

impl Rows {
    /// Adds the index rows `write` writes for `ticket` (an update's changed ones, see
    /// `TicketWrite::assignee_rows`) and its history entries and comments.
    fn add(&mut self, ticket: &Ticket, write: &TicketWrite) {
        // One row per (user, level): one multi-row insert may not touch the same key twice.
        for row in write.assignee_rows() {
            self.assignee_ticket.push(ticket.id.0);
            self.assignee_user.push(row.user_id.0);
            self.assignee_level.push(i64::from(row.level));
            self.assignee_current.push(row.current);
            self.assignee_awaiting.push(row.awaiting);
            self.assignee_created.push(ticket.created_at);
            self.assignee_listing.add(ticket);
        }
        for user in write.viewer_rows() {
            self.viewer_ticket.push(ticket.id.0);
            self.viewer_user.push(user.0);
            self.viewer_created.push(ticket.created_at);
            self.viewer_listing.add(ticket);
        }
        self.history.extend(write.history.iter().cloned());
        self.comments.extend(write.comments.iter().cloned());
    }

    /// Adds the inserts of these rows to `batch` (one statement per table that has rows, and
    /// one per comment).
    fn push<'a>(self, batch: &mut Batch<'a>, prepared: &'a Prepared) {
        if !self.assignee_ticket.is_empty() {
            let listing = self.assignee_listing;
            batch.push(
                &prepared.insert_assignees,
                values![
                    self.assignee_ticket,
                    self.assignee_user,
                    self.assignee_level,
                    self.assignee_current,
                    self.assignee_awaiting,
                    self.assignee_created,
                    listing.state,
                    listing.kind,
                    listing.archived,
                    listing.deleted
                ],
            );
        }
        if !self.viewer_ticket.is_empty() {
            let listing = self.viewer_listing;
            batch.push(
                &prepared.insert_viewers,
                values![
                    self.viewer_ticket,
                    self.viewer_user,
                    self.viewer_created,
                    listing.state,
                    listing.kind,
                    listing.archived,
                    listing.deleted
                ],
            );
        }
        if !self.history.is_empty() {
            let h = &self.history;
            let column = |f: &dyn Fn(&HistoryEntry) -> String| h.iter().map(f).collect::<Vec<_>>();
            batch.push(
                &prepared.insert_history,
                values![
                    h.iter().map(|e| e.id).collect::<Vec<Uuid>>(),
                    h.iter().map(|e| e.ticket_id.0).collect::<Vec<Uuid>>(),
                    h.iter().map(|e| i64::from(e.round)).collect::<Vec<i64>>(),
                    h.iter().map(|e| i64::from(e.level)).collect::<Vec<i64>>(),
                    column(&|e| e.action.as_str().to_owned()),
                    h.iter()
                        .map(|e| e.actor_id.map(|u| u.0))
                        .collect::<Vec<Option<Uuid>>>(),
                    column(&|e| e.actor_display.clone()),
                    column(&|e| e.from_state.as_str().to_owned()),
                    column(&|e| e.to_state.as_str().to_owned()),
                    column(&|e| e.reason.clone()),
                    h.iter().map(|e| e.self_approved).collect::<Vec<bool>>(),
                    h.iter()
                        .map(|e| e.created_at)
                        .collect::<Vec<DateTime<Utc>>>(),
                    h.iter()
                        .map(|e| e.ended_round_steps.as_deref().cloned().map(Json))
                        .collect::<Vec<_>>(),
                ],
            );
        }
        if !self.comments.is_empty() {
            batch.push(&prepared.insert_comments, comment_columns(&self.comments));
        }
    }
}

/// The parameters of [`INSERT_COMMENTS`] for `comments`, owned, so a batch can hold them.
fn comment_columns(comments: &[Comment]) -> Values<'static> {
    let column = |f: &dyn Fn(&Comment) -> String| comments.iter().map(f).collect::<Vec<_>>();
    values![
        comments.iter().map(|c| c.id).collect::<Vec<Uuid>>(),
        comments
            .iter()
            .map(|c| c.ticket_id.0)
            .collect::<Vec<Uuid>>(),
        comments
            .iter()
            .map(|c| c.user_id.map(|u| u.0))
            .collect::<Vec<Option<Uuid>>>(),
        column(&|c| c.user_display.clone()),
        column(&|c| c.body.clone()),
        column(&|c| c.kind.as_str().to_owned()),
        comments
            .iter()
            .map(|c| c.state.clone())
            .collect::<Vec<Option<String>>>(),
        comments.iter().map(|c| c.created_at).collect::<Vec<_>>(),
    ]
}

/// Appends one comment outside any transition.
pub(crate) async fn insert_comment(db: &Db, comment: &Comment) -> Result<(), StoreError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(INSERT_COMMENTS)
        .await
        .map_err(db_err)?;
    client
        .execute_raw(&statement, comment_columns(std::slice::from_ref(comment)))
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn grant_exists(tx: &Transaction<'_>, id: Uuid) -> Result<bool, StoreError> {
    tx.query_one("SELECT EXISTS (SELECT 1 FROM grants WHERE id = $1)", &[&id])
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)
}

/// Tries to insert `grant` under `name`, with its user rows in the same statement; whether
/// it was inserted. `ON CONFLICT DO NOTHING` waits for a concurrent transaction inserting the
/// same name and skips the name once that one commits, so racing grants each get a free name
/// instead of one failing on the unique index; a grant whose id is already stored is skipped
/// the same way.
async fn try_grant_name(
    tx: &Transaction<'_>,
    statement: &Statement,
    grant: &Grant,
    name: &str,
) -> Result<bool, StoreError> {
    let user_ids: Vec<Uuid> = grant.users.iter().map(|u| u.0).collect();
    let inserted = tx
        .query_opt(
            statement,
            &[
                &grant.id,
                &grant.ticket_id.0,
                &grant.org_id.0,
                &grant.kind,
                &name,
                &Json(&grant.users),
                &Json(&grant.payload),
                &grant.valid_from,
                &grant.valid_until,
                &grant.created_by,
                &grant.comment,
                &grant.created_at,
                &user_ids,
            ],
        )
        .await
        .map_err(db_err)?;
    Ok(inserted.is_some())
}

/// The roles held by the users of `grants` who hold them as members ([`Grant::members`]), as
/// (organization, user) pairs, each role row locked (`FOR KEY SHARE`) until the commit: a
/// removal that deleted one first is waited for, and its row is not found; one after waits
/// for this commit, and then finds the grant to take its user out of. Sent before the ticket
/// rows are locked, in the order every writer of roles takes its locks (a user's deletion
/// deletes their roles, then clears the applicant of their tickets: the other way round, an
/// approval holding its ticket and waiting for the applicant's roles deadlocked with it).
async fn lock_members_roles(
    tx: &Transaction<'_>,
    prepared: &Prepared,
    grants: &[&Grant],
) -> Result<HashSet<(Uuid, Uuid)>, StoreError> {
    let (orgs, users): (Vec<Uuid>, Vec<Uuid>) = grants
        .iter()
        .flat_map(|grant| grant.members.iter().map(|m| (grant.org_id.0, m.0)))
        .unzip();
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = tx
        .query(&prepared.lock_roles, &[&orgs, &users])
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(db_err)?,
                row.try_get(1).map_err(db_err)?,
            ))
        })
        .collect()
}

/// Refuses the first of `grants` one of whose members holds no role in its organization among
/// `held` ([`lock_members_roles`]), read again once: a role change that deleted a user's roles
/// and inserted others was waited for, but its new rows are newer than the statement that
/// waited, and a statement of its own sees them.
async fn check_members(
    tx: &Transaction<'_>,
    prepared: &Prepared,
    grants: &[&Grant],
    mut held: HashSet<(Uuid, Uuid)>,
) -> Result<(), StoreError> {
    let missing = |held: &HashSet<(Uuid, Uuid)>| -> Vec<(&Grant, UserId)> {
        grants
            .iter()
            .flat_map(|grant| grant.members.iter().map(move |m| (*grant, *m)))
            .filter(|(grant, member)| !held.contains(&(grant.org_id.0, member.0)))
            .collect()
    };
    if missing(&held).is_empty() {
        return Ok(());
    }
    held.extend(lock_members_roles(tx, prepared, grants).await?);
    match missing(&held).first() {
        None => Ok(()),
        Some((grant, gone)) => Err(grant.member_left(*gone)),
    }
}

/// Inserts `grants`, each under the first of its names that is free. Every grant's first
/// name is tried at once (one pipelined round trip for a group's grants, each grant one
/// statement); only a grant whose name was taken tries its other names, in turn.
async fn insert_grants(tx: &Transaction<'_>, grants: &[&Grant]) -> Result<(), StoreError> {
    if grants.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare_cached(INSERT_GRANT).await.map_err(db_err)?;
    // Every answer is looked at before any other name is tried: after a refused statement
    // the ones behind it fail too, and the first error is the one that says why.
    let first_tries = join_all(grants.iter().map(|grant| {
        let statement = &statement;
        async move {
            match grant.name_candidates.first() {
                Some(name) => try_grant_name(tx, statement, grant, name).await,
                None => Ok(false),
            }
        }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<bool>, _>>()?;
    'grants: for (grant, inserted) in grants.iter().zip(first_tries) {
        if inserted {
            continue;
        }
        for name in grant.name_candidates.iter().skip(1) {
            // The same grant committed concurrently (or written already) needs nothing more.
            if grant_exists(tx, grant.id).await?
                || try_grant_name(tx, &statement, grant, name).await?
            {
                continue 'grants;
            }
        }
        if !grant_exists(tx, grant.id).await? {
            return Err(StoreError::Conflict {
                constraint: "grants_org_kind_name_key".into(),
            });
        }
    }
    Ok(())
}

pub(crate) async fn get_ticket(
    db: &Db,
    id: TicketId,
    parsed: &ParsedTickets,
) -> Result<Option<Ticket>, StoreError> {
    db.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(|row| rows::ticket(row, parsed))
    .transpose()
}

/// Positional parameters of a query built at run time, with their types: a typed query is
/// parsed, bound and run in one round trip, without a separate prepare.
#[derive(Default)]
struct Params(Vec<(Box<dyn ToSql + Sync + Send>, Type)>);

impl Params {
    /// Adds a value of PostgreSQL type `ty` and returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static, ty: Type) -> String {
        self.0.push((Box::new(value), ty));
        format!("${}", self.0.len())
    }

    fn uuid(&mut self, value: Uuid) -> String {
        self.bind(value, Type::UUID)
    }

    fn uuids(&mut self, values: impl IntoIterator<Item = Uuid>) -> String {
        self.bind(values.into_iter().collect::<Vec<Uuid>>(), Type::UUID_ARRAY)
    }

    fn text(&mut self, value: String) -> String {
        self.bind(value, Type::TEXT)
    }

    /// The first `count` parameters with their types (for [`prepared`], and `EXPLAIN`).
    fn typed(&self, count: usize) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.0
            .iter()
            .take(count)
            .map(|(value, ty)| (value.as_ref() as &(dyn ToSql + Sync), ty.clone()))
            .collect()
    }
}

/// One column's test for a search term: `ILIKE` the bound pattern on the row (`values` `None`),
/// or membership in the values decided before the query (see `TicketQuery::term_test`); none
/// when no value contains the term.
fn term_column_test(
    p: &mut Params,
    column: &str,
    values: Option<Vec<String>>,
    pattern: &str,
) -> Option<String> {
    match values {
        None => Some(format!("{column} ILIKE {pattern} ESCAPE '\\'")),
        Some(values) if values.is_empty() => None,
        Some(values) => Some(format!(
            "{column} = ANY({})",
            p.bind(values, Type::TEXT_ARRAY)
        )),
    }
}

/// The SQL of a list query: the page select, the count, and their parameters (the count uses
/// the first `count_params`; the select adds limit and offset).
struct ListSql {
    select: String,
    /// The select after its columns (`FROM` to `OFFSET`), for a select with more columns.
    page: String,
    count: String,
    params: Params,
    count_params: usize,
    /// The driving tables and the filter (`AND`ed, empty for none), for the count of new
    /// tickets alone.
    from: &'static str,
    conditions: String,
}

impl ListSql {
    /// The count of the matches among the tickets inserted by transactions numbered `horizon`
    /// (a placeholder) or later: a range of `tickets_inserted_xid`, whichever index the list
    /// itself follows (the placeholder is bound to a value, so the planner sees how few tickets
    /// lie past it).
    fn inserted_count(&self, horizon: &str) -> String {
        let from = self.from;
        let conditions = &self.conditions;
        let and = if conditions.is_empty() { "" } else { " AND " };
        format!("SELECT COUNT(*) FROM {from} WHERE t.inserted_xid >= {horizon}{and}{conditions}")
    }
}

/// A transaction number below which every transaction had ended when this process last looked
/// (`pg_snapshot_xmin` of a snapshot it read): any later snapshot's horizon is at or above it, so
/// a count's mark may start there (see `ListMark`).
#[derive(Debug, Default)]
pub(crate) struct Horizon(AtomicI64);

impl Horizon {
    /// The highest horizon seen.
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    /// Takes note of a snapshot's horizon.
    pub(crate) fn observe(&self, xmin: i64) {
        self.0.fetch_max(xmin, Ordering::AcqRel);
    }
}

/// The data's horizon as the current statement sees it.
pub(crate) const SNAPSHOT_HORIZON: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// The commits so far that changed rows a list count reads (migration 0009).
const LIST_CHANGES: &str = "(SELECT changes FROM list_changes WHERE id = 1)";

/// More transactions than this since a mark, and its range of new tickets may hold about as
/// many rows as a fresh count reads: count afresh.
const MAX_MARK_AGE: i64 = 20_000;

fn list_sql(q: &TicketQuery) -> ListSql {
    let mut p = Params::default();
    let mut conditions: Vec<String> = Vec::new();
    // The same driving tables as the SQLite backend: the most selective index leads, and the
    // ORDER BY follows that table's own columns so an index scan returns rows in order.
    let (from, order_column, tie_break) = if let Some(user) = q.awaiting {
        conditions.push(format!("a.user_id = {} AND a.awaiting", p.uuid(user.0)));
        (
            "ticket_assignees a JOIN tickets t ON t.id = a.ticket_id",
            "a.created_at",
            "a.ticket_id",
        )
    } else if let Some(user) = q.current_assignee {
        conditions.push(format!("a.user_id = {} AND a.current", p.uuid(user.0)));
        (
            "ticket_assignees a JOIN tickets t ON t.id = a.ticket_id",
            "a.created_at",
            "a.ticket_id",
        )
    } else if let Visibility::Related { user, orgs } = &q.visibility
        && orgs.is_empty()
    {
        conditions.push(format!("v.user_id = {}", p.uuid(user.0)));
        (
            "ticket_viewers v JOIN tickets t ON t.id = v.ticket_id",
            "v.created_at",
            "v.ticket_id",
        )
    } else {
        // SQLite breaks ties by rowid (insertion order); the time-ordered UUIDv7 id is the
        // closest PostgreSQL has.
        ("tickets t", "t.created_at", "t.id")
    };
    // An assignee is always a viewer of the ticket, so listing one's own current steps needs no
    // visibility check (as in the SQLite backend).
    let own_steps = matches!(&q.visibility, Visibility::Related { user, .. }
        if q.awaiting == Some(*user) || q.current_assignee == Some(*user));
    if let Visibility::Related { user, orgs } = &q.visibility
        && !from.starts_with("ticket_viewers")
        && !own_steps
    {
        let mut visible = format!(
            "EXISTS (SELECT 1 FROM ticket_viewers vv WHERE vv.ticket_id = t.id AND vv.user_id = {})",
            p.uuid(user.0)
        );
        if !orgs.is_empty() {
            let orgs = p.uuids(orgs.iter().map(|o| o.0));
            visible = format!("({visible} OR t.org_id = ANY({orgs}))");
        }
        conditions.push(visible);
    }
    // One value is written as `=`, not `= ANY(array)`: only an equality lets the planner read a
    // `(column, created_at, id)` index in order and stop after the page (with `ANY` it reads
    // every match and sorts them).
    if let Some(orgs) = &q.org_ids {
        match orgs.as_slice() {
            [one] => conditions.push(format!("t.org_id = {}", p.uuid(one.0))),
            _ => {
                let orgs = p.uuids(orgs.iter().map(|o| o.0));
                conditions.push(format!("t.org_id = ANY({orgs})"));
            }
        }
    }
    // The assignee and viewer tables carry the ticket's state, type and marks (migration
    // 0007): filtering on them there keeps counts of one's steps and tickets inside their index.
    let listing = from
        .split_whitespace()
        .nth(1)
        .filter(|alias| *alias == "a" || *alias == "v")
        .unwrap_or("t");
    match q.states.as_slice() {
        [] => {}
        [one] => conditions.push(format!(
            "{listing}.state = {}",
            p.text(one.as_str().to_owned())
        )),
        many => {
            let states: Vec<String> = many.iter().map(|s| s.as_str().to_owned()).collect();
            conditions.push(format!(
                "{listing}.state = ANY({})",
                p.bind(states, Type::TEXT_ARRAY)
            ));
        }
    }
    match q.kinds.as_slice() {
        [] => {}
        [one] => conditions.push(format!("{listing}.kind = {}", p.text(one.clone()))),
        many => conditions.push(format!(
            "{listing}.kind = ANY({})",
            p.bind(many.to_vec(), Type::TEXT_ARRAY)
        )),
    }
    if let Some(applicant) = q.applicant {
        conditions.push(format!("t.applicant_id = {}", p.uuid(applicant.0)));
    }
    if let Some(only) = &q.ids {
        let only = p.uuids(only.iter().map(|i| i.0));
        conditions.push(format!("t.id = ANY({only})"));
    }
    if let Some(serial) = &q.serial {
        // SQLite compares serials case-insensitively; they are digits only, so plain equality
        // is the same and keeps the unique index usable.
        conditions.push(format!("t.serial = {}", p.text(serial.clone())));
    }
    if let Some(title) = &q.title {
        conditions.push(format!("lower(t.title) = lower({})", p.text(title.clone())));
    }
    for filter in &q.text_filters {
        let column = match filter.column {
            TextColumn::Title => "t.title",
            TextColumn::Serial => "t.serial",
        };
        // `startswith` is case-sensitive, as Django's: `LIKE`, not `ILIKE`.
        let operator = if filter.prefix { "LIKE" } else { "ILIKE" };
        let patterns: Vec<String> = filter
            .any_of
            .iter()
            .map(|text| like_pattern(text, filter.prefix))
            .collect();
        let any = format!(
            "{column} {operator} ANY ({})",
            p.bind(patterns, Type::TEXT_ARRAY)
        );
        conditions.push(if filter.negated {
            format!("NOT ({any})")
        } else {
            any
        });
    }
    if !q.exclude_ids.is_empty() {
        let excluded = p.uuids(q.exclude_ids.iter().map(|i| i.0));
        conditions.push(format!("NOT (t.id = ANY({excluded}))"));
    }
    if let Some(text) = &q.applicant_text {
        conditions.push(format!(
            "t.applicant_display ILIKE {} ESCAPE '\\'",
            p.text(like_pattern(text, false))
        ));
    }
    for group in &q.content_tests {
        // One array parameter per test however many texts (a relevant-asset filter may name a
        // thousand assets); backslash is LIKE's default escape character, which
        // `like_pattern` uses.
        let tests: Vec<String> = group
            .iter()
            .map(|test| {
                let patterns: Vec<String> =
                    test.any_of.iter().map(|t| like_pattern(t, false)).collect();
                let value = match test.field {
                    // A field's key is a dialect's constant, never a client's text.
                    Some(field) => format!("t.payload ->> '{field}'"),
                    None => "t.payload::text".to_owned(),
                };
                format!("{value} ILIKE ANY ({})", p.bind(patterns, Type::TEXT_ARRAY))
            })
            .collect();
        conditions.push(if tests.is_empty() {
            "false".to_owned()
        } else {
            format!("({})", tests.join(" OR "))
        });
    }
    for batch in &q.search {
        let mut alternatives = Vec::new();
        for alternative in batch {
            let terms: Vec<String> = alternative
                .iter()
                .map(|term| {
                    let test = q.term_test(term);
                    let pattern = p.text(like_pattern(term, false));
                    let states = test
                        .states
                        .map(|s| s.iter().map(|state| state.as_str().to_owned()).collect());
                    let tests: Vec<String> = [
                        ("t.title", None),
                        ("t.kind", test.kinds),
                        ("t.state", states),
                    ]
                    .into_iter()
                    .filter_map(|(column, values)| {
                        term_column_test(&mut p, column, values, &pattern)
                    })
                    .collect();
                    format!("({})", tests.join(" OR "))
                })
                .collect();
            if !terms.is_empty() {
                alternatives.push(format!("({})", terms.join(" AND ")));
            }
        }
        if !alternatives.is_empty() {
            conditions.push(format!("({})", alternatives.join(" OR ")));
        }
    }
    if let Some(scope) = &q.scope {
        conditions.push(format!("t.scope = {}", p.text(scope.clone())));
    }
    if let Some(from_time) = q.created_from {
        conditions.push(format!(
            "{order_column} >= {}",
            p.bind(from_time, Type::TIMESTAMPTZ)
        ));
    }
    if let Some(to_time) = q.created_to {
        conditions.push(format!(
            "{order_column} < {}",
            p.bind(to_time, Type::TIMESTAMPTZ)
        ));
    }
    match q.archived {
        Some(true) => conditions.push(format!("{listing}.archived")),
        Some(false) => conditions.push(format!("NOT {listing}.archived")),
        None => {}
    }
    if !q.include_deleted {
        // Matches the `WHERE NOT deleted` predicate of the partial list indexes.
        conditions.push(format!("NOT {listing}.deleted"));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let order = match q.order {
        TicketOrder::CreatedDesc => format!("{order_column} DESC, {tie_break} DESC"),
        TicketOrder::CreatedAsc => format!("{order_column} ASC, {tie_break} ASC"),
        TicketOrder::By { key, descending } => {
            // `COLLATE "C"` orders bytewise like SQLite's BINARY, whatever the database's
            // locale; `lower(…)` stands for SQLite's NOCASE.
            let direction = if descending { "DESC" } else { "ASC" };
            let column = match key {
                SortKey::Title => "lower(t.title) COLLATE \"C\"".to_owned(),
                // By day, then counter: a counter past 9,999 is one digit wider.
                SortKey::Serial => format!(
                    "substr(t.serial, 1, 8) COLLATE \"C\" {direction}, length(t.serial) {direction}, \
                     t.serial COLLATE \"C\""
                ),
                SortKey::Kind => "t.kind COLLATE \"C\"".to_owned(),
                SortKey::State => "t.state COLLATE \"C\"".to_owned(),
                SortKey::Status => ticketd_core::store::STATUS_SQL.clone(),
                SortKey::Applicant => "lower(t.applicant_display) COLLATE \"C\"".to_owned(),
                SortKey::UpdatedAt => "t.updated_at".to_owned(),
                // Finished tickets first, whichever the direction: the others have no end yet.
                SortKey::FinishedAt => {
                    format!("{end} IS NULL, {end}", end = *ticketd_core::store::END_SQL)
                }
            };
            format!("{column} {direction}, {order_column} DESC, {tie_break} DESC")
        }
    };
    let count_params = p.0.len();
    let all_conditions = conditions.join(" AND ");
    // Without conditions on the ticket row itself, count the driving index table alone.
    let count_from = if listing != "t" && !conditions.iter().any(|c| c.contains("t.")) {
        from.split(" JOIN ").next().unwrap_or(from)
    } else {
        from
    };
    let count = format!("SELECT COUNT(*) FROM {count_from}{where_clause}");
    // The page starts after a remembered row: a row-value range on the index's order columns,
    // which the index scan starts from instead of walking the rows before it. The count
    // ignores it.
    let mut select_where = where_clause;
    if let Some((after, newest_first)) = q.seek() {
        let direction = if newest_first { "<" } else { ">" };
        let seek = format!(
            "({order_column}, {tie_break}) {direction} ({}, {})",
            p.bind(after.created_at, Type::TIMESTAMPTZ),
            p.uuid(after.id.0)
        );
        select_where = if select_where.is_empty() {
            format!(" WHERE {seek}")
        } else {
            format!("{select_where} AND {seek}")
        };
    }
    let limit = p.bind(i64::from(q.limit), Type::INT8);
    let offset = p.bind(i64::try_from(q.offset).unwrap_or(i64::MAX), Type::INT8);
    let page = format!(" FROM {from}{select_where} ORDER BY {order} LIMIT {limit} OFFSET {offset}");
    ListSql {
        select: format!("SELECT {TICKET_COLUMNS}{page}"),
        page,
        count,
        params: p,
        count_params,
        from,
        conditions: all_conditions,
    }
}

/// Prepared statements a connection keeps (list statements and the store's fixed ones) before
/// its cache starts over.
const MAX_PREPARED_STATEMENTS: usize = 512;

/// `sql`, a list statement built at run time, prepared on `client` once per text and parameter
/// types. Sent unprepared, each was parsed and planned on every request: for the approver list's
/// page, planning took longer than running it (`pgbench` on the page at 200k tickets: 3,650
/// statements/s sent as text, 8,300/s prepared). A client can ask for many shapes (each set of
/// filters is one), so a connection's statements start over past a bound.
async fn prepared(
    client: &Object,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Statement, StoreError> {
    if client.statement_cache.size() > MAX_PREPARED_STATEMENTS {
        client.statement_cache.clear();
    }
    let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
    client
        .prepare_typed_cached(sql, &types)
        .await
        .map_err(db_err)
}

/// The values of `params`, to run the statement [`prepared`] made of them.
fn values<'a>(params: &[(&'a (dyn ToSql + Sync), Type)]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

pub(crate) async fn list_tickets(
    db: &Db,
    q: &TicketQuery,
    parsed: &ParsedTickets,
    horizon: &Horizon,
) -> Result<TicketPage, StoreError> {
    let sql = list_sql(q);
    let client = db.client().await?;
    let start = horizon.get();
    let (total, mark, snapshot, rows) = if q.with_total {
        // The count and its mark in one statement, beside the page in one read-only repeatable
        // read transaction, so both see one snapshot and the mark is the page's too (as two
        // statements on their own, an opening committed between them was in the page and not
        // in its count). All four are sent in the first poll, before any answer is awaited:
        // one round trip. A statement PostgreSQL refuses leaves the transaction to the
        // `COMMIT`, which ends it; a request refused before it was sent would leave it open on
        // a pooled connection, so any failure ends it here too.
        let count_and_mark = format!(
            "SELECT ({count}) AS total, {LIST_CHANGES} AS changes, {SNAPSHOT_HORIZON} AS horizon, \
             ({inserted}) AS unsettled",
            count = sql.count,
            inserted = sql.inserted_count(&format!("${}", sql.count_params + 1)),
        );
        let mut count_params = sql.params.typed(sql.count_params);
        count_params.push((&start, Type::INT8));
        let counting = prepared(&client, &count_and_mark, &count_params).await?;
        let count_values = values(&count_params);
        let select_params = sql.params.typed(usize::MAX);
        let select = prepared(&client, &sql.select, &select_params).await?;
        let select_values = values(&select_params);
        let read = try_join4(
            client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
            client.query_one(&counting, &count_values),
            client.query(&select, &select_values),
            client.batch_execute("COMMIT"),
        )
        .await;
        let (_, counted, rows, _) = match read {
            Ok(read) => read,
            Err(error) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(db_err(error));
            }
        };
        let total: i64 = counted.try_get("total").map_err(db_err)?;
        let unsettled: i64 = counted.try_get("unsettled").map_err(db_err)?;
        horizon.observe(counted.try_get("horizon").map_err(db_err)?);
        let mark = ListMark {
            changes: counted.try_get("changes").map_err(db_err)?,
            last_insert: start,
            unsettled: u64::try_from(unsettled).unwrap_or(0),
        };
        let total = u64::try_from(total).unwrap_or(0);
        (Some(total), Some(mark), Some(mark), rows)
    } else {
        // A page in creation-time order carries its mark, computed by the same statement, so in
        // the page's snapshot: the caller may then place its rows after later insertions, and
        // tell whether a count read before still holds for it. In other orders the mark is
        // left out (its count of recent matches has no bound while a long transaction holds
        // the horizon back); the caller asks the data version instead.
        let placed = q.order.by_creation_time();
        let mut select_params = sql.params.typed(usize::MAX);
        let select_sql = if placed {
            let marked = format!(
                "SELECT {TICKET_COLUMNS}, {LIST_CHANGES} AS mark_changes, \
                 {SNAPSHOT_HORIZON} AS mark_horizon, ({inserted}) AS mark_unsettled{page}",
                inserted = sql.inserted_count(&format!("${}", select_params.len() + 1)),
                page = sql.page,
            );
            select_params.push((&start, Type::INT8));
            marked
        } else {
            sql.select.clone()
        };
        let select = prepared(&client, &select_sql, &select_params).await?;
        let rows = client
            .query(&select, &values(&select_params))
            .await
            .map_err(db_err)?;
        let snapshot = match rows.first() {
            Some(row) if placed => {
                horizon.observe(row.try_get("mark_horizon").map_err(db_err)?);
                let unsettled: i64 = row.try_get("mark_unsettled").map_err(db_err)?;
                Some(ListMark {
                    changes: row.try_get("mark_changes").map_err(db_err)?,
                    last_insert: start,
                    unsettled: u64::try_from(unsettled).unwrap_or(0),
                })
            }
            _ => None,
        };
        (None, None, snapshot, rows)
    };
    let items = rows::all(&rows, |row| rows::ticket(row, parsed))?;
    Ok(TicketPage {
        total,
        items: std::sync::Arc::new(items),
        mark,
        snapshot,
    })
}

/// The matches of `q` among the tickets inserted since `since` was taken, if no commit since
/// changed a row that lists count (see `Store::count_inserted_since`): the range from the mark's
/// horizon counted again, less what the mark had counted of it, in one statement with the
/// change counter and the range from a newer horizon, which becomes the new mark.
pub(crate) async fn count_inserted_since(
    db: &Db,
    q: &TicketQuery,
    since: ListMark,
    horizon: &Horizon,
) -> Result<Option<Inserted>, StoreError> {
    let start = horizon.get().max(since.last_insert);
    if start - since.last_insert > MAX_MARK_AGE {
        return Ok(None);
    }
    let sql = list_sql(q);
    let n = sql.count_params;
    let unchanged = format!("{LIST_CHANGES} = ${}", n + 3);
    let statement = format!(
        "SELECT {LIST_CHANGES} AS changes, {SNAPSHOT_HORIZON} AS horizon, \
         CASE WHEN {unchanged} THEN ({since_mark}) END AS since_mark, \
         CASE WHEN {unchanged} THEN ({since_start}) END AS since_start, \
         (SELECT MIN(created_at) FROM tickets WHERE inserted_xid >= ${n1}) AS created_from",
        n1 = n + 1,
        since_mark = sql.inserted_count(&format!("${}", n + 1)),
        since_start = sql.inserted_count(&format!("${}", n + 2)),
    );
    let mut params = sql.params.typed(n);
    params.push((&since.last_insert, Type::INT8));
    params.push((&start, Type::INT8));
    params.push((&since.changes, Type::INT8));
    let client = db.client().await?;
    let counting = prepared(&client, &statement, &params).await?;
    let row = client
        .query_one(&counting, &values(&params))
        .await
        .map_err(db_err)?;
    horizon.observe(row.try_get("horizon").map_err(db_err)?);
    let changes: i64 = row.try_get("changes").map_err(db_err)?;
    let since_mark: Option<i64> = row.try_get("since_mark").map_err(db_err)?;
    let since_start: Option<i64> = row.try_get("since_start").map_err(db_err)?;
    // The oldest creation time in the mark's range, which may also hold tickets the mark had
    // seen: no ticket inserted since was created before it.
    let created_from: Option<DateTime<Utc>> = row.try_get("created_from").map_err(db_err)?;
    let (Some(since_mark), Some(since_start)) = (since_mark, since_start) else {
        return Ok(None);
    };
    // The mark's own matches in its range were committed, and nothing but insertions came
    // since, so they are all counted again; fewer would mean the premise broke: count afresh.
    let Some(added) = u64::try_from(since_mark)
        .ok()
        .and_then(|now| now.checked_sub(since.unsettled))
    else {
        return Ok(None);
    };
    Ok(Some(Inserted {
        count: added,
        mark: ListMark {
            changes,
            last_insert: start,
            unsettled: u64::try_from(since_start).unwrap_or(0),
        },
        created_from: Some(created_from.unwrap_or(DateTime::<Utc>::MAX_UTC)),
    }))
}

/// `EXPLAIN` of a list query's page select, then of its count, one line per plan line.
pub(crate) async fn query_plan(db: &Db, q: &TicketQuery) -> Result<Vec<String>, StoreError> {
    let ListSql {
        select,
        count,
        params,
        count_params,
        ..
    } = list_sql(q);
    let client = db.client().await?;
    let mut lines = Vec::new();
    for (sql, n_params) in [(select, usize::MAX), (count, count_params)] {
        let rows = client
            .query_typed(&format!("EXPLAIN {sql}"), &params.typed(n_params))
            .await
            .map_err(db_err)?;
        for row in rows {
            lines.push(row.try_get::<_, String>(0).map_err(db_err)?);
        }
    }
    Ok(lines)
}

/// `EXPLAIN` of the count of a list's matches among the tickets inserted from `horizon` on.
pub(crate) async fn inserted_count_plan(
    db: &Db,
    q: &TicketQuery,
    horizon: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = list_sql(q);
    let statement = format!(
        "EXPLAIN {}",
        sql.inserted_count(&format!("${}", sql.count_params + 1))
    );
    let mut params = sql.params.typed(sql.count_params);
    params.push((&horizon, Type::INT8));
    let client = db.client().await?;
    let rows = client
        .query_typed(&statement, &params)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(db_err))
        .collect()
}
