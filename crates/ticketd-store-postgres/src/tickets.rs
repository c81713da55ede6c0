//! Ticket writes (one transaction per transition) and list queries driven by the right index.

use crate::conn::{Db, db_err};
use crate::rows::{self, TICKET_COLUMNS};
use deadpool_postgres::Transaction;
use futures_util::future::{join_all, try_join, try_join_all};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use ticketd_core::StoreError;
use ticketd_core::serial::format_serial;
use ticketd_core::store::{SortKey, TicketOrder, TicketPage, TicketQuery, Visibility};
use ticketd_core::ticket::{Comment, Event, Grant, Ticket, TicketWrite};
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

const INSERT_TICKET: &str = "INSERT INTO tickets (id, serial, org_id, kind, title, applicant_id, \
    applicant_display, flow_id, state, approval_step, round, steps, cc_users, payload, comment, scope, \
    archived, confirmed, deleted, version, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
    $21, $22)";

const UPDATE_TICKET: &str = "UPDATE tickets SET title = $1, flow_id = $2, state = $3, \
    approval_step = $4, round = $5, steps = $6, cc_users = $7, payload = $8, comment = $9, \
    archived = $10, confirmed = $11, deleted = $12, version = $13, updated_at = $14 \
    WHERE id = $15 AND version = $16 RETURNING serial";

const INSERT_COMMENT: &str = "INSERT INTO ticket_comments (id, ticket_id, user_id, user_display, \
    body, kind, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const INSERT_GRANT: &str = "INSERT INTO grants (id, ticket_id, org_id, kind, name, users, payload, \
    valid_from, valid_until, created_by, comment, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id";

// The index rows carry the ticket's listing columns ($7 state, $8 kind, $9 archived,
// $10 deleted): counts of one's steps and tickets then never visit a ticket row.
const INSERT_ASSIGNEES: &str = "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, \
    awaiting, created_at, state, kind, archived, deleted) \
    SELECT $1::uuid, x.user_id, x.level, x.current, x.awaiting, $6::timestamptz, \
    $7::text, $8::text, $9::boolean, $10::boolean \
    FROM unnest($2::uuid[], $3::bigint[], $4::boolean[], $5::boolean[]) \
    AS x (user_id, level, current, awaiting)";

const INSERT_VIEWERS: &str = "INSERT INTO ticket_viewers (ticket_id, user_id, created_at, \
    state, kind, archived, deleted) \
    SELECT $1::uuid, u, $3::timestamptz, $4::text, $5::text, $6::boolean, $7::boolean \
    FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING";

const INSERT_HISTORY: &str = "INSERT INTO ticket_history (id, ticket_id, round, level, action, \
    actor_id, actor_display, from_state, to_state, reason, self_approved, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const INSERT_EVENT: &str = "INSERT INTO outbox_events (id, kind, ticket_id, org_id, payload, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6)";

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

/// Applies one transition in its own transaction; nothing is written when it fails.
pub(crate) async fn write_ticket(db: &Db, write: &TicketWrite) -> Result<Ticket, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(db_err)?;
    // On an error the transaction is dropped, which rolls it back before the connection is
    // handed out again.
    let ticket = write_in(&tx, write, &write.events)
        .await
        .map_err(WriteFailure::into_error)?;
    tx.commit().await.map_err(db_err)?;
    Ok(ticket)
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
    /// No connection could be had (nothing was sent), or the commit itself failed (whether it
    /// took effect is unknown): every write is answered with this, and none is retried.
    Failed(String),
}

/// Applies `writes` in one transaction with one commit; their order must be the lock order
/// (ticket rows by id, then serial counters; the outbox lock is taken once, last).
pub(crate) async fn write_group(db: &Db, writes: &[TicketWrite]) -> GroupOutcome {
    let mut client = match db.client().await {
        Ok(client) => client,
        // Retrying each write alone would wait for a connection once per write.
        Err(e) => return GroupOutcome::Failed(failure_text(e)),
    };
    let Ok(tx) = client.transaction().await else {
        return GroupOutcome::RolledBack;
    };
    // The writes run concurrently on the one connection: tokio-postgres pipelines their
    // statements, so the group costs about the round trips of one write. PostgreSQL runs
    // statements in the order they arrive, and each write's first statement (the row lock of
    // an update, the serial counter of an opening) is sent when its future is first polled,
    // in the group's order, which keeps the lock order. Correctness does not rest on it: a
    // deadlock with another process is broken by PostgreSQL, which aborts one transaction,
    // and that group's writes then run alone. A write refused by its version check has
    // written nothing; any statement PostgreSQL refuses aborts the transaction, and the
    // group is rolled back.
    let written = join_all(writes.iter().map(|write| write_in(&tx, write, &[]))).await;
    let mut outcomes = Vec::with_capacity(writes.len());
    for outcome in written {
        match outcome {
            Ok(ticket) => outcomes.push(Ok(ticket)),
            Err(WriteFailure::Refused(e)) => outcomes.push(Err(e)),
            // Dropping the transaction rolls it back.
            Err(WriteFailure::Aborted(_)) => return GroupOutcome::RolledBack,
        }
    }
    let events: Vec<&Event> = writes
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .flat_map(|(write, _)| &write.events)
        .collect();
    if !events.is_empty() {
        let Ok(prepared) = Prepared::new(&tx, false).await else {
            return GroupOutcome::RolledBack;
        };
        let mut batch = Batch::new(&tx);
        push_events(&mut batch, &prepared, events);
        if batch.run().await.is_err() {
            return GroupOutcome::RolledBack;
        }
    }
    match tx.commit().await {
        Ok(()) => GroupOutcome::Committed(outcomes),
        Err(e) => GroupOutcome::Failed(failure_text(db_err(e))),
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

/// The statements a write sends, prepared (or found in the connection's cache) up front.
struct Prepared {
    insert_ticket: Option<Statement>,
    delete_assignees: Option<Statement>,
    delete_viewers: Option<Statement>,
    insert_assignees: Statement,
    insert_viewers: Statement,
    insert_history: Statement,
    insert_comment: Statement,
    lock_outbox: Statement,
    insert_event: Statement,
}

impl Prepared {
    async fn new(tx: &Transaction<'_>, inserting: bool) -> Result<Self, StoreError> {
        let prepare = async |sql: &str| tx.prepare_cached(sql).await.map_err(db_err);
        let (insert_ticket, delete_assignees, delete_viewers) = if inserting {
            (Some(prepare(INSERT_TICKET).await?), None, None)
        } else {
            (
                None,
                Some(prepare("DELETE FROM ticket_assignees WHERE ticket_id = $1").await?),
                Some(prepare("DELETE FROM ticket_viewers WHERE ticket_id = $1").await?),
            )
        };
        Ok(Self {
            insert_ticket,
            delete_assignees,
            delete_viewers,
            insert_assignees: prepare(INSERT_ASSIGNEES).await?,
            insert_viewers: prepare(INSERT_VIEWERS).await?,
            insert_history: prepare(INSERT_HISTORY).await?,
            insert_comment: prepare(INSERT_COMMENT).await?,
            lock_outbox: prepare("SELECT pg_advisory_xact_lock($1)").await?,
            insert_event: prepare(INSERT_EVENT).await?,
        })
    }
}

/// Writes one transition inside `tx`, with `events` sent in its last round trip (a group
/// passes none and appends every write's events once, after all its writes).
async fn write_in(
    tx: &Transaction<'_>,
    write: &TicketWrite,
    events: &[Event],
) -> Result<Ticket, WriteFailure> {
    let aborted = WriteFailure::Aborted;
    let mut ticket = write.ticket.clone();
    let prepared = Prepared::new(tx, write.expected_version.is_none())
        .await
        .map_err(aborted)?;
    match write.expected_version {
        None => {
            let day = write.serial_day.clone().unwrap_or_default();
            // The counter row stays locked until the commit, so concurrent inserts of one day
            // queue here and a rolled-back insert gives its number back: no gaps, no duplicates.
            let statement = tx
                .prepare_cached(
                    "INSERT INTO serial_counters (day, last_value) VALUES ($1, 1) \
                     ON CONFLICT (day) DO UPDATE SET last_value = serial_counters.last_value + 1 \
                     RETURNING last_value",
                )
                .await
                .map_err(|e| aborted(db_err(e)))?;
            let counter: i64 = tx
                .query_one(&statement, &[&day])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|e| aborted(db_err(e)))?;
            ticket.serial = format_serial(&day, u64::try_from(counter).unwrap_or(0));
        }
        Some(expected) => {
            // Under READ COMMITTED a concurrent writer's row lock makes this wait; the WHERE is
            // then re-checked against the committed row, so a stale version matches nothing.
            let statement = tx
                .prepare_cached(UPDATE_TICKET)
                .await
                .map_err(|e| aborted(db_err(e)))?;
            let updated = tx
                .query_opt(
                    &statement,
                    &[
                        &ticket.title,
                        &ticket.flow_id.map(|f| f.0),
                        &ticket.state.as_str(),
                        &i64::from(ticket.approval_step),
                        &i64::from(ticket.round),
                        &Json(&ticket.steps),
                        &Json(&ticket.cc_users),
                        &Json(&ticket.payload),
                        &ticket.comment,
                        &ticket.archived,
                        &ticket.confirmed,
                        &ticket.deleted,
                        &ticket.version,
                        &ticket.updated_at,
                        &ticket.id.0,
                        &expected,
                    ],
                )
                .await
                .map_err(|e| aborted(db_err(e)))?;
            let Some(updated) = updated else {
                let exists: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM tickets WHERE id = $1)",
                        &[&ticket.id.0],
                    )
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| aborted(db_err(e)))?;
                // Nothing was written: the transaction can carry on with other writes.
                return Err(WriteFailure::Refused(if exists {
                    StoreError::VersionConflict
                } else {
                    StoreError::NotFound
                }));
            };
            ticket.serial = updated.try_get("serial").map_err(|e| aborted(db_err(e)))?;
        }
    }
    let t = &ticket;
    let mut batch = Batch::new(tx);
    if let Some(statement) = &prepared.insert_ticket {
        batch.push(
            statement,
            values![
                t.id.0,
                &t.serial,
                t.org_id.0,
                &t.kind,
                &t.title,
                t.applicant_id.map(|u| u.0),
                &t.applicant_display,
                t.flow_id.map(|f| f.0),
                t.state.as_str(),
                i64::from(t.approval_step),
                i64::from(t.round),
                Json(&t.steps),
                Json(&t.cc_users),
                Json(&t.payload),
                &t.comment,
                &t.scope,
                t.archived,
                t.confirmed,
                t.deleted,
                t.version,
                t.created_at,
                t.updated_at,
            ],
        );
    }
    if let Some(statement) = &prepared.delete_assignees {
        batch.push(statement, values![t.id.0]);
    }
    if let Some(statement) = &prepared.delete_viewers {
        batch.push(statement, values![t.id.0]);
    }
    push_indexes(&mut batch, &prepared, t);
    for h in &write.history {
        batch.push(
            &prepared.insert_history,
            values![
                h.id,
                h.ticket_id.0,
                i64::from(h.round),
                i64::from(h.level),
                h.action.as_str(),
                h.actor_id.map(|u| u.0),
                &h.actor_display,
                h.from_state.as_str(),
                h.to_state.as_str(),
                &h.reason,
                h.self_approved,
                h.created_at,
            ],
        );
    }
    for comment in &write.comments {
        batch.push(&prepared.insert_comment, comment_values(comment));
    }
    match &write.grant {
        None => {
            push_events(&mut batch, &prepared, events);
            batch.run().await.map_err(aborted)?;
        }
        Some(grant) => {
            batch.run().await.map_err(aborted)?;
            // The grant's name search reads answers, so it runs between two batches, and
            // before the outbox lock, which must be the last lock a writer takes.
            insert_grant(tx, grant).await.map_err(aborted)?;
            let mut batch = Batch::new(tx);
            push_events(&mut batch, &prepared, events);
            batch.run().await.map_err(aborted)?;
        }
    }
    Ok(ticket)
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
    for e in events {
        batch.push(
            &prepared.insert_event,
            values![
                e.id,
                &e.kind,
                e.ticket_id.0,
                e.org_id.0,
                Json(&e.payload),
                e.created_at,
            ],
        );
    }
}

/// Rewrites the assignee and viewer indexes of a ticket (emptied first for an update).
fn push_indexes<'a>(batch: &mut Batch<'a>, prepared: &'a Prepared, ticket: &'a Ticket) {
    // One row per (user, level), the last one winning, as SQLite's `INSERT OR REPLACE` does;
    // one multi-row insert may not touch the same key twice.
    let mut position: HashMap<(UserId, u32), usize> = HashMap::new();
    let mut index = Vec::new();
    for row in ticket.assignee_index() {
        match position.get(&(row.user_id, row.level)) {
            Some(&at) => index[at] = row,
            None => {
                position.insert((row.user_id, row.level), index.len());
                index.push(row);
            }
        }
    }
    if !index.is_empty() {
        let users: Vec<Uuid> = index.iter().map(|r| r.user_id.0).collect();
        let levels: Vec<i64> = index.iter().map(|r| i64::from(r.level)).collect();
        let current: Vec<bool> = index.iter().map(|r| r.current).collect();
        let awaiting: Vec<bool> = index.iter().map(|r| r.awaiting).collect();
        batch.push(
            &prepared.insert_assignees,
            values![
                ticket.id.0,
                users,
                levels,
                current,
                awaiting,
                ticket.created_at,
                ticket.state.as_str(),
                &ticket.kind,
                ticket.archived,
                ticket.deleted
            ],
        );
    }
    let viewers: Vec<Uuid> = ticket.participants().into_iter().map(|u| u.0).collect();
    if !viewers.is_empty() {
        batch.push(
            &prepared.insert_viewers,
            values![
                ticket.id.0,
                viewers,
                ticket.created_at,
                ticket.state.as_str(),
                &ticket.kind,
                ticket.archived,
                ticket.deleted
            ],
        );
    }
}

fn comment_values(comment: &Comment) -> Values<'_> {
    values![
        comment.id,
        comment.ticket_id.0,
        comment.user_id.map(|u| u.0),
        &comment.user_display,
        &comment.body,
        comment.kind.as_str(),
        &comment.state,
        comment.created_at,
    ]
}

/// Appends one comment outside any transition.
pub(crate) async fn insert_comment(db: &Db, comment: &Comment) -> Result<(), StoreError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(INSERT_COMMENT)
        .await
        .map_err(db_err)?;
    client
        .execute_raw(&statement, comment_values(comment))
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

async fn insert_grant(tx: &Transaction<'_>, grant: &Grant) -> Result<(), StoreError> {
    if grant_exists(tx, grant.id).await? {
        // A grant is created once per ticket; a repeated final approval cannot happen, but
        // keeping this idempotent costs nothing.
        return Ok(());
    }
    let statement = tx.prepare_cached(INSERT_GRANT).await.map_err(db_err)?;
    let users = Json(&grant.users);
    let payload = Json(&grant.payload);
    let fallback = format!("{} {}", grant.name, grant.id.simple());
    let names = grant
        .name_candidates
        .iter()
        .map(String::as_str)
        .chain([fallback.as_str()]);
    for name in names {
        // `ON CONFLICT DO NOTHING` waits for a concurrent transaction inserting the same name
        // and skips the name once that one commits, so racing grants each get a free name
        // instead of one failing on the unique index.
        let inserted = tx
            .query_opt(
                &statement,
                &[
                    &grant.id,
                    &grant.ticket_id.0,
                    &grant.org_id.0,
                    &grant.kind,
                    &name,
                    &users,
                    &payload,
                    &grant.valid_from,
                    &grant.valid_until,
                    &grant.created_by,
                    &grant.comment,
                    &grant.created_at,
                ],
            )
            .await
            .map_err(db_err)?;
        if inserted.is_some() {
            let user_ids: Vec<Uuid> = grant.users.iter().map(|u| u.0).collect();
            let statement = tx
                .prepare_cached(
                    "INSERT INTO grant_users (grant_id, user_id) \
                     SELECT $1::uuid, u FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db_err)?;
            tx.execute(&statement, &[&grant.id, &user_ids])
                .await
                .map_err(db_err)?;
            return Ok(());
        }
        if grant_exists(tx, grant.id).await? {
            // The same grant was committed concurrently: nothing more to do.
            return Ok(());
        }
    }
    Err(StoreError::Conflict {
        constraint: "grants_org_kind_name_key".into(),
    })
}

pub(crate) async fn get_ticket(db: &Db, id: TicketId) -> Result<Option<Ticket>, StoreError> {
    db.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(rows::ticket)
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

    /// The first `count` parameters in the form `query_typed` takes.
    fn typed(&self, count: usize) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.0
            .iter()
            .take(count)
            .map(|(value, ty)| (value.as_ref() as &(dyn ToSql + Sync), ty.clone()))
            .collect()
    }
}

/// `%text%` with LIKE's wildcards and the escape character escaped.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The SQL of a list query: the page select, the count, and their parameters (the count uses
/// the first `count_params`; the select adds limit and offset).
struct ListSql {
    select: String,
    count: String,
    params: Params,
    count_params: usize,
}

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
    if let Some(text) = &q.title_contains {
        conditions.push(format!(
            "t.title ILIKE {} ESCAPE '\\'",
            p.text(escape_like(text))
        ));
    }
    if !q.exclude_ids.is_empty() {
        let excluded = p.uuids(q.exclude_ids.iter().map(|i| i.0));
        conditions.push(format!("NOT (t.id = ANY({excluded}))"));
    }
    if let Some(text) = &q.applicant_text {
        conditions.push(format!(
            "t.applicant_display ILIKE {} ESCAPE '\\'",
            p.text(escape_like(text))
        ));
    }
    if !q.payload_contains_any.is_empty() {
        // One array parameter however many texts (a filter may name a thousand assets);
        // backslash is LIKE's default escape character, which `escape_like` uses.
        let patterns: Vec<String> = q
            .payload_contains_any
            .iter()
            .map(|t| escape_like(t))
            .collect();
        conditions.push(format!(
            "t.payload::text ILIKE ANY ({})",
            p.bind(patterns, Type::TEXT_ARRAY)
        ));
    }
    for batch in &q.search {
        let mut alternatives = Vec::new();
        for alternative in batch {
            let terms: Vec<String> = alternative
                .iter()
                .map(|term| {
                    let pattern = p.text(escape_like(term));
                    format!(
                        "(t.title ILIKE {pattern} ESCAPE '\\' OR t.kind ILIKE {pattern} ESCAPE '\\' \
                         OR t.state ILIKE {pattern} ESCAPE '\\')"
                    )
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
            let column = match key {
                SortKey::Title => "lower(t.title) COLLATE \"C\"",
                SortKey::Serial => "t.serial COLLATE \"C\"",
                SortKey::Kind => "t.kind COLLATE \"C\"",
                SortKey::State => "t.state COLLATE \"C\"",
                SortKey::Applicant => "lower(t.applicant_display) COLLATE \"C\"",
                SortKey::UpdatedAt => "t.updated_at",
            };
            let direction = if descending { "DESC" } else { "ASC" };
            format!("{column} {direction}, {order_column} DESC, {tie_break} DESC")
        }
    };
    let count_params = p.0.len();
    // Without conditions on the ticket row itself, count the driving index table alone.
    let count_from = if listing != "t" && !conditions.iter().any(|c| c.contains("t.")) {
        from.split(" JOIN ").next().unwrap_or(from)
    } else {
        from
    };
    let count = format!("SELECT COUNT(*) FROM {count_from}{where_clause}");
    let limit = p.bind(i64::from(q.limit), Type::INT8);
    let offset = p.bind(i64::try_from(q.offset).unwrap_or(i64::MAX), Type::INT8);
    let select = format!(
        "SELECT {TICKET_COLUMNS} FROM {from}{where_clause} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    ListSql {
        select,
        count,
        params: p,
        count_params,
    }
}

pub(crate) async fn list_tickets(db: &Db, q: &TicketQuery) -> Result<TicketPage, StoreError> {
    let ListSql {
        select,
        count,
        params,
        count_params,
    } = list_sql(q);
    let client = db.client().await?;
    let select_params = params.typed(usize::MAX);
    let page = client.query_typed(&select, &select_params);
    let (total, rows) = if q.with_total {
        let count_params = params.typed(count_params);
        // Both queries are sent before either answer is awaited: one round trip.
        let (total, rows) = try_join(client.query_typed_one(&count, &count_params), page)
            .await
            .map_err(db_err)?;
        let total: i64 = total.try_get(0).map_err(db_err)?;
        (Some(u64::try_from(total).unwrap_or(0)), rows)
    } else {
        (None, page.await.map_err(db_err)?)
    };
    let items = rows::all(&rows, rows::ticket)?;
    Ok(TicketPage {
        total,
        items,
        mark: None,
    })
}

/// `EXPLAIN` of a list query's page select, then of its count, one line per plan line.
pub(crate) async fn query_plan(db: &Db, q: &TicketQuery) -> Result<Vec<String>, StoreError> {
    let ListSql {
        select,
        count,
        params,
        count_params,
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
