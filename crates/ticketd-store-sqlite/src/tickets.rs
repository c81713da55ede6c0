//! Ticket writes (one transition per savepoint) and list queries driven by the right index.

use crate::conn::db_err;
use crate::rows::{self, TICKET_COLUMNS, json_text, ts};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use ticketd_core::StoreError;
use ticketd_core::parsed_tickets::ParsedTickets;
use ticketd_core::serial::format_serial;
use ticketd_core::store::{
    Inserted, ListMark, SortKey, TextColumn, TicketOrder, TicketPage, TicketQuery, Visibility,
    folds_beyond_ascii, like_pattern,
};
use ticketd_core::ticket::{Grant, Ticket, TicketWrite};
use uuid::Uuid;

fn blob(id: Uuid) -> SqlValue {
    SqlValue::Blob(id.as_bytes().to_vec())
}

/// The ticket columns that some index of `tickets` holds (or filters on, for the partial
/// indexes' `deleted = 0`), as stored and as about to be written.
struct Indexed {
    title: String,
    flow_id: Option<Uuid>,
    state: String,
    archived: bool,
    deleted: bool,
}

/// The `UPDATE` for a transition, setting the indexed columns only where they change.
///
/// SQLite rewrites the entry of every index that mentions a column the `SET` clause names,
/// even when the value stays the same; naming all of them rewrote nine index entries for
/// every decision, where a level's approval changes no indexed column and a final decision
/// only `state`. Parameters keep their numbers in every variant (17 values are bound).
fn update_sql(before: &Indexed, after: &Indexed) -> String {
    let mut sql = String::from(
        "UPDATE tickets SET approval_step = ?4, round = ?5, steps = ?6, cc_users = ?7, payload = ?8, \
         comment = ?9, confirmed = ?11, version = ?13, updated_at = ?14, finished_at = ?17",
    );
    for (changed, set) in [
        (before.title != after.title, ", title = ?1"),
        (before.flow_id != after.flow_id, ", flow_id = ?2"),
        (before.state != after.state, ", state = ?3"),
        (before.archived != after.archived, ", archived = ?10"),
        (before.deleted != after.deleted, ", deleted = ?12"),
    ] {
        if changed {
            sql.push_str(set);
        }
    }
    sql.push_str(" WHERE id = ?15 AND version = ?16");
    sql
}

/// A ticket's JSON columns as text, made by the caller before its write is queued: the writer
/// thread, which every write waits for in turn, then only binds them.
pub(crate) struct TicketTexts {
    steps: String,
    cc_users: String,
    payload: String,
}

impl TicketTexts {
    pub(crate) fn of(ticket: &Ticket) -> Self {
        Self {
            steps: json_text(&*ticket.steps),
            cc_users: json_text(&ticket.cc_users),
            payload: json_text(&*ticket.payload),
        }
    }
}

/// Takes the next serial number of `day` (the writer's transaction holds the only write lock,
/// so the counter cannot move between the statements).
///
/// An `UPDATE` and a `SELECT` rather than one upsert with `RETURNING`: SQLite runs a statement
/// with `RETURNING` to its end into a temporary table before handing out the row, which made
/// the upsert 6.9% of the writer's samples under openings (`perf`, bench `open` at 20k).
fn take_serial(conn: &Connection, day: &str) -> Result<i64, StoreError> {
    let raised = conn
        .prepare_cached("UPDATE serial_counters SET last_value = last_value + 1 WHERE day = ?1")
        .and_then(|mut s| s.execute([day]))
        .map_err(db_err)?;
    if raised == 0 {
        conn.prepare_cached("INSERT INTO serial_counters (day, last_value) VALUES (?1, 1)")
            .and_then(|mut s| s.execute([day]))
            .map_err(db_err)?;
        return Ok(1);
    }
    conn.prepare_cached("SELECT last_value FROM serial_counters WHERE day = ?1")
        .and_then(|mut s| s.query_row([day], |r| r.get(0)))
        .map_err(db_err)
}

pub(crate) fn write_ticket(
    conn: &Connection,
    write: &TicketWrite,
    texts: &TicketTexts,
) -> Result<Ticket, StoreError> {
    let mut ticket = write.ticket.clone();
    match write.expected_version {
        None => {
            let day = write.serial_day.clone().unwrap_or_default();
            let counter = take_serial(conn, &day)?;
            ticket.serial = format_serial(&day, u64::try_from(counter).unwrap_or(0));
            conn.prepare_cached(
                "INSERT INTO tickets (id, serial, org_id, kind, title, applicant_id, applicant_display, flow_id, \
                 state, approval_step, round, steps, cc_users, payload, comment, scope, archived, confirmed, \
                 deleted, version, created_at, updated_at, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    ticket.id.0,
                    ticket.serial,
                    ticket.org_id.0,
                    ticket.kind,
                    ticket.title,
                    ticket.applicant_id.map(|u| u.0),
                    ticket.applicant_display,
                    ticket.flow_id.map(|f| f.0),
                    ticket.state.as_str(),
                    ticket.approval_step,
                    ticket.round,
                    texts.steps,
                    texts.cc_users,
                    texts.payload,
                    ticket.comment,
                    ticket.scope,
                    ticket.archived,
                    ticket.confirmed,
                    ticket.deleted,
                    ticket.version,
                    ts(ticket.created_at),
                    ts(ticket.updated_at),
                    ticket.finished_at.map(ts),
                ])
            })
            .map_err(db_err)?;
        }
        Some(expected) => {
            let stored = conn
                .prepare_cached(
                    "SELECT serial, version, title, flow_id, state, archived, deleted \
                     FROM tickets WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([ticket.id.0], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            Indexed {
                                title: r.get(2)?,
                                flow_id: r.get(3)?,
                                state: r.get(4)?,
                                archived: r.get(5)?,
                                deleted: r.get(6)?,
                            },
                        ))
                    })
                    .optional()
                })
                .map_err(db_err)?;
            let Some((serial, version, before)) = stored else {
                return Err(StoreError::NotFound);
            };
            if version != expected {
                return Err(StoreError::VersionConflict);
            }
            let after = Indexed {
                title: ticket.title.clone(),
                flow_id: ticket.flow_id.map(|f| f.0),
                state: ticket.state.as_str().to_owned(),
                archived: ticket.archived,
                deleted: ticket.deleted,
            };
            conn.prepare_cached(&update_sql(&before, &after))
                .and_then(|mut s| {
                    s.execute(params![
                        ticket.title,
                        ticket.flow_id.map(|f| f.0),
                        ticket.state.as_str(),
                        ticket.approval_step,
                        ticket.round,
                        texts.steps,
                        texts.cc_users,
                        texts.payload,
                        ticket.comment,
                        ticket.archived,
                        ticket.confirmed,
                        ticket.deleted,
                        ticket.version,
                        ts(ticket.updated_at),
                        ticket.id.0,
                        expected,
                        ticket.finished_at.map(ts),
                    ])
                })
                .map_err(db_err)?;
            ticket.serial = serial;
            for (writes, delete) in [
                (
                    write.writes_assignees(),
                    "DELETE FROM ticket_assignees WHERE ticket_id = ?1",
                ),
                (
                    write.writes_viewers(),
                    "DELETE FROM ticket_viewers WHERE ticket_id = ?1",
                ),
            ] {
                if writes {
                    conn.prepare_cached(delete)
                        .and_then(|mut s| s.execute([ticket.id.0]))
                        .map_err(db_err)?;
                }
            }
        }
    }
    let created = ts(ticket.created_at);
    {
        let mut insert = conn
            .prepare_cached(
                // A plain insert (`assignee_index` has one row per key): on a table with a
                // foreign key `OR REPLACE` makes each insert a statement that may delete, which
                // SQLite runs with a statement journal (each page it changes copied first).
                "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, created_at, \
                 state, kind, archived, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(db_err)?;
        for row in write.assignee_rows() {
            insert
                .execute(params![
                    ticket.id.0,
                    row.user_id.0,
                    row.level,
                    row.current,
                    row.awaiting,
                    created,
                    ticket.state.as_str(),
                    ticket.kind,
                    ticket.archived,
                    ticket.deleted
                ])
                .map_err(db_err)?;
        }
        let mut viewer = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ticket_viewers (ticket_id, user_id, created_at, state, kind, archived, deleted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_err)?;
        for user in write.viewer_rows() {
            viewer
                .execute(params![
                    ticket.id.0,
                    user.0,
                    created,
                    ticket.state.as_str(),
                    ticket.kind,
                    ticket.archived,
                    ticket.deleted
                ])
                .map_err(db_err)?;
        }
    }
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO ticket_history (id, ticket_id, round, level, action, actor_id, actor_display, \
                 from_state, to_state, reason, self_approved, created_at, ended_round_steps) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(db_err)?;
        for h in &write.history {
            insert
                .execute(params![
                    h.id,
                    h.ticket_id.0,
                    h.round,
                    h.level,
                    h.action.as_str(),
                    h.actor_id.map(|u| u.0),
                    h.actor_display,
                    h.from_state.as_str(),
                    h.to_state.as_str(),
                    h.reason,
                    h.self_approved,
                    ts(h.created_at),
                    h.ended_round_steps.as_deref().map(json_text),
                ])
                .map_err(db_err)?;
        }
    }
    for comment in &write.comments {
        insert_comment(conn, comment)?;
    }
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO outbox_events (id, kind, ticket_id, org_id, payload, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db_err)?;
        for e in &write.events {
            insert
                .execute(params![
                    e.id,
                    e.kind,
                    e.ticket_id.0,
                    e.org_id.0,
                    json_text(&e.payload),
                    ts(e.created_at)
                ])
                .map_err(db_err)?;
        }
    }
    if let Some(grant) = &write.grant {
        insert_grant(conn, grant)?;
    }
    Ok(ticket)
}

pub(crate) fn insert_comment(
    conn: &Connection,
    c: &ticketd_core::ticket::Comment,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO ticket_comments (id, ticket_id, user_id, user_display, body, kind, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.id,
            c.ticket_id.0,
            c.user_id.map(|u| u.0),
            c.user_display,
            c.body,
            c.kind.as_str(),
            c.state,
            ts(c.created_at)
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

fn insert_grant(conn: &Connection, grant: &Grant) -> Result<(), StoreError> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM grants WHERE id = ?1)")
        .and_then(|mut s| s.query_row([grant.id], |r| r.get(0)))
        .map_err(db_err)?;
    if exists {
        // A grant is created once per ticket; a repeated final approval cannot happen, but
        // keeping this idempotent costs nothing.
        return Ok(());
    }
    // The one writer commits this: a removal committed before it is seen here, and one after
    // it takes them out of the grant (see `Grant::members`).
    let mut holds_a_role = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2)",
        )
        .map_err(db_err)?;
    for member in &grant.members {
        let still: bool = holds_a_role
            .query_row(params![grant.org_id.0, member.0], |r| r.get(0))
            .map_err(db_err)?;
        if !still {
            return Err(grant.member_left(*member));
        }
    }
    let mut name = None;
    for candidate in &grant.name_candidates {
        let taken: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM grants WHERE org_id = ?1 AND kind = ?2 AND name = ?3)",
            )
            .and_then(|mut s| {
                s.query_row(params![grant.org_id.0, grant.kind, candidate], |r| {
                    r.get(0)
                })
            })
            .map_err(db_err)?;
        if !taken {
            name = Some(candidate.clone());
            break;
        }
    }
    // The core's last candidate holds the grant's id: taken only by a name given by hand.
    let Some(name) = name else {
        return Err(StoreError::Conflict {
            constraint: "grants_org_kind_name".into(),
        });
    };
    conn.prepare_cached(
        "INSERT INTO grants (id, ticket_id, org_id, kind, name, users, payload, valid_from, valid_until, \
         created_by, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            grant.id,
            grant.ticket_id.0,
            grant.org_id.0,
            grant.kind,
            name,
            json_text(&grant.users),
            json_text(&grant.payload),
            grant.valid_from.map(ts),
            grant.valid_until.map(ts),
            grant.created_by,
            grant.comment,
            ts(grant.created_at),
        ])
    })
    .map_err(db_err)?;
    let mut insert = conn
        .prepare_cached("INSERT OR IGNORE INTO grant_users (grant_id, user_id) VALUES (?1, ?2)")
        .map_err(db_err)?;
    for user in &grant.users {
        insert.execute(params![grant.id, user.0]).map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn get_ticket(
    conn: &Connection,
    id: Uuid,
    parsed: &ParsedTickets,
) -> Result<Option<Ticket>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = ?1"
    ))
    .and_then(|mut s| {
        s.query_row([id], |row| rows::ticket(row, parsed))
            .optional()
    })
    .map_err(db_err)
}

fn in_list(
    column: &str,
    values: impl IntoIterator<Item = SqlValue>,
    params: &mut Vec<SqlValue>,
) -> String {
    let mut marks = Vec::new();
    for v in values {
        params.push(v);
        marks.push("?");
    }
    if marks.is_empty() {
        return "0".into();
    }
    format!("{column} IN ({})", marks.join(", "))
}

/// The SQL function every connection has for lowercasing text as Rust does, every letter
/// (SQLite's own `lower` and `LIKE` fold ASCII letters only).
pub(crate) const LOWER_FUNCTION: &str = "ticketd_lower";

/// `column LIKE pattern`, case-insensitive for every letter: a pattern without letters of
/// other cases beyond ASCII's (`folds_beyond_ascii`) uses SQLite's `LIKE` as it is (which folds
/// ASCII), any other compares the column lowercased by [`LOWER_FUNCTION`] with the pattern
/// lowercased, as PostgreSQL's `ILIKE` does.
pub(crate) fn like_test(column: &str, pattern: &str, params: &mut Vec<SqlValue>) -> String {
    folded_test(column, "LIKE ? ESCAPE '\\'", "", pattern, params)
}

/// `column = text`, case-insensitive for every letter (see [`like_test`]).
fn equal_test(column: &str, text: &str, params: &mut Vec<SqlValue>) -> String {
    folded_test(column, "= ?", " COLLATE NOCASE", text, params)
}

/// `column <test> text`: as it is, with `ascii_collation` (SQLite's own folding), for a text
/// without letters of other cases beyond ASCII's; on both sides lowercased otherwise.
fn folded_test(
    column: &str,
    test: &str,
    ascii_collation: &str,
    text: &str,
    params: &mut Vec<SqlValue>,
) -> String {
    if folds_beyond_ascii(text) {
        params.push(SqlValue::Text(text.to_lowercase()));
        format!("{LOWER_FUNCTION}({column}) {test}")
    } else {
        params.push(SqlValue::Text(text.to_owned()));
        format!("{column} {test}{ascii_collation}")
    }
}

/// `value LIKE` any of `patterns`, case-insensitive for every letter as [`like_test`] is, with
/// the patterns in one JSON array parameter: any number of them is one expression (SQLite
/// refuses an expression tree deeper than 1000, and an OR per pattern nests).
fn like_any_test(value: &str, patterns: Vec<String>, params: &mut Vec<SqlValue>) -> String {
    let (value, patterns) = if patterns.iter().any(|p| folds_beyond_ascii(p)) {
        (
            format!("{LOWER_FUNCTION}({value})"),
            patterns.iter().map(|p| p.to_lowercase()).collect(),
        )
    } else {
        (value.to_owned(), patterns)
    };
    params.push(SqlValue::Text(
        serde_json::Value::from(patterns).to_string(),
    ));
    format!("EXISTS (SELECT 1 FROM json_each(?) p WHERE {value} LIKE p.value ESCAPE '\\')")
}

/// One column's test for a search term: `LIKE` the pattern on the row (`values` `None`), or
/// membership in the values decided before the query (see `TicketQuery::term_test`); none when
/// no value contains the term.
fn term_column_test(
    column: &str,
    values: Option<Vec<SqlValue>>,
    pattern: &str,
    params: &mut Vec<SqlValue>,
) -> Option<String> {
    match values {
        None => Some(like_test(column, pattern, params)),
        Some(values) if values.is_empty() => None,
        Some(values) => Some(in_list(column, values, params)),
    }
}

/// The SQL of a list query: the page select, the count, and their parameters (the count uses
/// the first `count_params`).
struct ListSql {
    select: String,
    count: String,
    params: Vec<SqlValue>,
    count_params: usize,
}

/// The page select and count of `q`; with `inserted` (rowids after, up to), only the count of the
/// matching tickets in that rowid range, read from the ticket table by rowid: the few tickets
/// inserted since a count was taken, whichever index the full list would follow.
fn list_sql(q: &TicketQuery, inserted: Option<(i64, i64)>) -> ListSql {
    let mut params: Vec<SqlValue> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    // Pick the table that drives the scan so that the ORDER BY follows an index whose leading
    // column is the most selective filter; the tie-break is that table's own key, which every
    // index carries, so no sort step is needed.
    let (from, order_column, tie_break) = if let Some((after, upto)) = inserted {
        params.push(SqlValue::Integer(after));
        params.push(SqlValue::Integer(upto));
        conditions.push("t.rowid > ? AND t.rowid <= ?".into());
        // The same step condition the full list is driven by (awaiting first, as below).
        let step = match (q.awaiting, q.current_assignee) {
            (Some(user), _) => Some((user, "awaiting")),
            (None, Some(user)) => Some((user, "current")),
            (None, None) => None,
        };
        if let Some((user, flag)) = step {
            params.push(blob(user.0));
            // `+` keeps `user_id` from choosing the index: `ticket_assignees_current` starts with
            // (user_id, current), as many equalities as the primary key's (ticket_id, user_id),
            // and SQLite took it, walking the user's current steps for each new ticket (2–25 ms
            // per count at 200k tickets) instead of the ticket's few rows.
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM ticket_assignees sa WHERE sa.ticket_id = t.id AND +sa.user_id = ? AND sa.{flag} = 1)"
            ));
        }
        // NOT INDEXED: the rowid range is the plan, never an index the filters would suggest.
        ("tickets t NOT INDEXED", "t.created_at", "t.id")
    } else if let Some(user) = q.awaiting {
        params.push(blob(user.0));
        conditions.push("a.user_id = ? AND a.awaiting = 1".into());
        (
            "ticket_assignees a JOIN tickets t ON t.id = a.ticket_id",
            "a.created_at",
            "a.ticket_id",
        )
    } else if let Some(user) = q.current_assignee {
        params.push(blob(user.0));
        conditions.push("a.user_id = ? AND a.current = 1".into());
        (
            "ticket_assignees a JOIN tickets t ON t.id = a.ticket_id",
            "a.created_at",
            "a.ticket_id",
        )
    } else if let Visibility::Related { user, orgs } = &q.visibility
        && orgs.is_empty()
    {
        params.push(blob(user.0));
        conditions.push("v.user_id = ?".into());
        (
            "ticket_viewers v JOIN tickets t ON t.id = v.ticket_id",
            "v.created_at",
            "v.ticket_id",
        )
    } else if let Some(applicant) = q.applicant {
        params.push(blob(applicant.0));
        conditions.push("t.applicant_id = ?".into());
        ("tickets t", "t.created_at", "t.id")
    } else {
        ("tickets t", "t.created_at", "t.id")
    };
    // An assignee is always a viewer of the ticket, so listing one's own current steps needs no
    // visibility check; skipping it saves a lookup per candidate row (it dominated counts).
    let own_steps = matches!(&q.visibility, Visibility::Related { user, .. }
        if q.awaiting == Some(*user) || q.current_assignee == Some(*user));
    if let Visibility::Related { user, orgs } = &q.visibility
        && !from.starts_with("ticket_viewers")
        && !own_steps
    {
        params.push(blob(user.0));
        let mut visible =
            "EXISTS (SELECT 1 FROM ticket_viewers vv WHERE vv.ticket_id = t.id AND vv.user_id = ?)"
                .to_owned();
        if !orgs.is_empty() {
            visible = format!(
                "({visible} OR {})",
                in_list("t.org_id", orgs.iter().map(|o| blob(o.0)), &mut params)
            );
        }
        conditions.push(visible);
    }
    // The index tables carry the ticket's state, type and marks: filtering on them there keeps
    // counts of "my steps" and "my tickets" inside those tables.
    let listing = from
        .split_whitespace()
        .nth(1)
        .filter(|alias| *alias == "a" || *alias == "v")
        .unwrap_or("t");
    if let Some(orgs) = &q.org_ids {
        conditions.push(in_list(
            "t.org_id",
            orgs.iter().map(|o| blob(o.0)),
            &mut params,
        ));
    }
    if !q.states.is_empty() {
        conditions.push(in_list(
            &format!("{listing}.state"),
            q.states.iter().map(|s| SqlValue::Text(s.as_str().into())),
            &mut params,
        ));
    }
    if !q.kinds.is_empty() {
        conditions.push(in_list(
            &format!("{listing}.kind"),
            q.kinds.iter().map(|k| SqlValue::Text(k.clone())),
            &mut params,
        ));
    }
    if let Some(applicant) = q.applicant
        && !conditions.iter().any(|c| c == "t.applicant_id = ?")
    {
        params.push(blob(applicant.0));
        conditions.push("t.applicant_id = ?".into());
    }
    if let Some(ids) = &q.ids {
        conditions.push(in_list("t.id", ids.iter().map(|i| blob(i.0)), &mut params));
    }
    if let Some(serial) = &q.serial {
        conditions.push(equal_test("t.serial", serial, &mut params));
    }
    if let Some(title) = &q.title {
        conditions.push(equal_test("t.title", title, &mut params));
    }
    for filter in &q.text_filters {
        let column = match filter.column {
            TextColumn::Title => "t.title",
            TextColumn::Serial => "t.serial",
        };
        let any = if filter.prefix {
            // Case-sensitive, as Django's `startswith`: the column's first characters.
            params.push(SqlValue::Text(
                serde_json::Value::from(filter.any_of.clone()).to_string(),
            ));
            format!(
                "EXISTS (SELECT 1 FROM json_each(?) p WHERE substr({column}, 1, length(p.value)) = p.value)"
            )
        } else {
            let patterns = filter
                .any_of
                .iter()
                .map(|t| like_pattern(t, false))
                .collect();
            like_any_test(column, patterns, &mut params)
        };
        conditions.push(if filter.negated {
            format!("NOT {any}")
        } else {
            any
        });
    }
    if !q.exclude_ids.is_empty() {
        let list = in_list("t.id", q.exclude_ids.iter().map(|i| blob(i.0)), &mut params);
        conditions.push(format!("NOT ({list})"));
    }
    if let Some(text) = &q.applicant_text {
        conditions.push(like_test(
            "t.applicant_display",
            &like_pattern(text, false),
            &mut params,
        ));
    }
    for group in &q.content_tests {
        let tests: Vec<String> = group
            .iter()
            .map(|test| {
                let patterns = test.any_of.iter().map(|t| like_pattern(t, false)).collect();
                let value = match test.field {
                    // A field's key is a dialect's constant, never a client's text.
                    Some(field) => format!("json_extract(t.payload, '$.{field}')"),
                    None => "t.payload".to_owned(),
                };
                like_any_test(&value, patterns, &mut params)
            })
            .collect();
        conditions.push(if tests.is_empty() {
            "0".to_owned()
        } else {
            format!("({})", tests.join(" OR "))
        });
    }
    for batch in &q.search {
        let mut alternatives = Vec::new();
        for alternative in batch {
            let mut terms = Vec::new();
            for term in alternative {
                let test = q.term_test(term);
                let pattern = like_pattern(term, false);
                let kinds = test
                    .kinds
                    .map(|k| k.into_iter().map(SqlValue::Text).collect());
                let states = test.states.map(|s| {
                    s.into_iter()
                        .map(|state| SqlValue::Text(state.as_str().into()))
                        .collect()
                });
                let tests: Vec<String> =
                    [("t.title", None), ("t.kind", kinds), ("t.state", states)]
                        .into_iter()
                        .filter_map(|(column, values)| {
                            term_column_test(column, values, &pattern, &mut params)
                        })
                        .collect();
                terms.push(format!("({})", tests.join(" OR ")));
            }
            if !terms.is_empty() {
                alternatives.push(format!("({})", terms.join(" AND ")));
            }
        }
        if !alternatives.is_empty() {
            conditions.push(format!("({})", alternatives.join(" OR ")));
        }
    }
    if let Some(scope) = &q.scope {
        params.push(SqlValue::Text(scope.clone()));
        conditions.push("t.scope = ?".into());
    }
    if let Some(from_time) = q.created_from {
        params.push(SqlValue::Integer(ts(from_time)));
        conditions.push(format!("{order_column} >= ?"));
    }
    if let Some(to_time) = q.created_to {
        params.push(SqlValue::Integer(ts(to_time)));
        conditions.push(format!("{order_column} < ?"));
    }
    if let Some(archived) = q.archived {
        conditions.push(format!("{listing}.archived = {}", i32::from(archived)));
    }
    if !q.include_deleted {
        conditions.push(format!("{listing}.deleted = 0"));
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
            let direction = if descending { "DESC" } else { "ASC" };
            let column = match key {
                // Every letter's case ignored, as PostgreSQL's `lower(…)` does; the sort is a
                // temporary B-tree either way (no index serves these orders).
                SortKey::Title => format!("{LOWER_FUNCTION}(t.title)"),
                // By day, then counter: a counter past 9,999 is one digit wider.
                SortKey::Serial => {
                    format!(
                        "substr(t.serial, 1, 8) {direction}, length(t.serial) {direction}, t.serial"
                    )
                }
                SortKey::Kind => "t.kind".to_owned(),
                SortKey::State => "t.state".to_owned(),
                SortKey::Status => ticketd_core::store::STATUS_SQL.clone(),
                SortKey::Applicant => format!("{LOWER_FUNCTION}(t.applicant_display)"),
                SortKey::UpdatedAt => "t.updated_at".to_owned(),
                // Finished tickets first, whichever the direction: the others have no end yet.
                SortKey::FinishedAt => {
                    format!("{end} IS NULL, {end}", end = *ticketd_core::store::END_SQL)
                }
            };
            format!("{column} {direction}, {order_column} DESC, {tie_break} DESC")
        }
    };
    // Without conditions on the ticket row itself, count the driving index table alone.
    let count_from = if listing != "t" && !conditions.iter().any(|c| c.contains("t.")) {
        from.split(" JOIN ").next().unwrap_or(from)
    } else {
        from
    };
    let count = format!("SELECT COUNT(*) FROM {count_from}{where_clause}");
    let count_params = params.len();
    // The page starts after a remembered row: a row-value range on the index's order columns,
    // which SQLite seeks to instead of walking the rows before it. The count ignores it.
    let mut select_where = where_clause;
    if let Some((after, newest_first)) = q.seek() {
        let direction = if newest_first { "<" } else { ">" };
        params.push(SqlValue::Integer(ts(after.created_at)));
        params.push(blob(after.id.0));
        let seek = format!("({order_column}, {tie_break}) {direction} (?, ?)");
        select_where = if select_where.is_empty() {
            format!(" WHERE {seek}")
        } else {
            format!("{select_where} AND {seek}")
        };
    }
    ListSql {
        select: format!(
            "SELECT {TICKET_COLUMNS} FROM {from}{select_where} ORDER BY {order} LIMIT {} OFFSET {}",
            q.limit,
            i64::try_from(q.offset).unwrap_or(i64::MAX)
        ),
        count,
        params,
        count_params,
    }
}

/// More tickets than this inserted since a count was taken, and counting them one by one from
/// the ticket table costs about what a fresh count through the list's index does.
const MAX_INSERTED_RECOUNT: i64 = 20_000;

/// Where the reader's snapshot stands (see [`ListMark`]); read inside the transaction that
/// also counts, so mark and count describe the same data.
fn list_mark(conn: &Connection) -> Result<ListMark, StoreError> {
    conn.prepare_cached(
        "SELECT (SELECT changes FROM change_counter WHERE id = 1), \
         (SELECT COALESCE(MAX(rowid), 0) FROM tickets)",
    )
    .and_then(|mut s| {
        s.query_row([], |r| {
            Ok(ListMark {
                changes: r.get(0)?,
                last_insert: r.get(1)?,
                // One writer: every ticket past the newest rowid is new.
                unsettled: 0,
            })
        })
    })
    .map_err(db_err)
}

fn count(conn: &Connection, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(params_from_iter(params.iter()), |r| r.get(0)))
        .map_err(db_err)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// A page of tickets and, when asked, the count of all matches with the mark it was taken at
/// (count, mark and page in one read transaction); every page says the mark it was read at, so
/// the caller may place its rows after later insertions (in creation-time order) and tell
/// whether a count read before still holds for it.
pub(crate) fn list_tickets(
    conn: &Connection,
    q: &TicketQuery,
    parsed: &ParsedTickets,
) -> Result<TicketPage, StoreError> {
    let ListSql {
        select,
        count: count_sql,
        params,
        count_params,
    } = list_sql(q, None);
    // Count, mark and page in one snapshot; dropped without commit on an error, which only ends
    // it. Every page carries its mark: the caller tells by it whether a count read before it
    // still holds for it.
    let read = conn.unchecked_transaction().map_err(db_err)?;
    let mark = list_mark(conn)?;
    let total = if q.with_total {
        Some(count(conn, &count_sql, &params[..count_params])?)
    } else {
        None
    };
    let items = conn
        .prepare_cached(&select)
        .and_then(|mut s| {
            s.query_map(params_from_iter(params.iter()), |row| {
                rows::ticket(row, parsed)
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db_err)?;
    read.commit().map_err(db_err)?;
    Ok(TicketPage {
        total,
        items: std::sync::Arc::new(items),
        mark: Some(mark).filter(|_| q.with_total),
        snapshot: Some(mark),
    })
}

/// The matches of `q` among the tickets inserted after `since`, if only insertions were
/// committed since (see `Store::count_inserted_since`), with the creation time of the oldest
/// ticket inserted since.
pub(crate) fn count_inserted_since(
    conn: &Connection,
    q: &TicketQuery,
    since: ListMark,
) -> Result<Option<Inserted>, StoreError> {
    let read = conn.unchecked_transaction().map_err(db_err)?;
    let now = list_mark(conn)?;
    if now.changes != since.changes
        || now.last_insert < since.last_insert
        || now.last_insert - since.last_insert > MAX_INSERTED_RECOUNT
    {
        return Ok(None);
    }
    let (count, created_from) = if now.last_insert == since.last_insert {
        (0, Some(chrono::DateTime::<chrono::Utc>::MAX_UTC))
    } else {
        let ListSql {
            count: sql,
            params,
            count_params,
            ..
        } = list_sql(q, Some((since.last_insert, now.last_insert)));
        let oldest: Option<i64> = conn
            .prepare_cached("SELECT MIN(created_at) FROM tickets WHERE rowid > ?1 AND rowid <= ?2")
            .and_then(|mut s| s.query_row([since.last_insert, now.last_insert], |r| r.get(0)))
            .map_err(db_err)?;
        (
            count(conn, &sql, &params[..count_params])?,
            oldest.map(rows::from_ts),
        )
    };
    read.commit().map_err(db_err)?;
    Ok(Some(Inserted {
        count,
        mark: now,
        created_from,
    }))
}

/// `EXPLAIN QUERY PLAN` of a list query's page select, its count, and the count of its matches
/// among newly inserted tickets, one line per plan step.
pub(crate) fn query_plan(conn: &Connection, q: &TicketQuery) -> Result<Vec<String>, StoreError> {
    let ListSql {
        select,
        count,
        params,
        count_params,
    } = list_sql(q, None);
    let inserted = list_sql(q, Some((0, 0)));
    let mut lines = Vec::new();
    for (sql, params) in [
        (select, &params[..]),
        (count, &params[..count_params]),
        (inserted.count, &inserted.params[..inserted.count_params]),
    ] {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .map_err(db_err)?;
        let details = stmt
            .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db_err)?;
        lines.extend(details);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::{Indexed, update_sql};
    use rusqlite::Connection;

    /// Index entries an `UPDATE` of one ticket deletes (each is reinserted), by its program.
    fn index_rewrites(conn: &Connection, sql: &str) -> usize {
        let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let ops: Vec<String> = explain
            .query_map(
                rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, 17)),
                |r| r.get(1),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        ops.iter().filter(|op| op.as_str() == "IdxDelete").count()
    }

    /// Entries of each index of `table`, as `ANALYZE` counts them (the first number of its
    /// `sqlite_stat1` row).
    fn index_entries(conn: &Connection, table: &str) -> std::collections::HashMap<String, u64> {
        conn.execute_batch(&format!("ANALYZE {table}")).unwrap();
        let mut stat = conn
            .prepare("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?1")
            .unwrap();
        stat.query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .unwrap()
        .map(|row| {
            let (index, stat) = row.unwrap();
            let entries = stat.split(' ').next().unwrap().parse().unwrap();
            (index, entries)
        })
        .collect()
    }

    #[test]
    fn the_current_steps_index_holds_no_other_level() {
        let conn = Connection::open_in_memory().unwrap();
        crate::conn::migrate(&conn).unwrap();
        // A two-level ticket at its first level: the first level's row is current, the second's
        // is not; the next decision turns both around. (Without their ticket: the test looks
        // at the index alone.)
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, \
             created_at, state, kind, archived, deleted) VALUES \
             (x'01', x'0a', 1, 1, 1, 0, 'pending', 'apply_asset', 0, 0), \
             (x'01', x'0b', 2, 0, 0, 0, 'pending', 'apply_asset', 0, 0)",
        )
        .unwrap();
        let entries = index_entries(&conn, "ticket_assignees");
        assert_eq!(
            entries.get("ticket_assignees_current"),
            Some(&1),
            "{entries:?}"
        );
        assert_eq!(
            entries.get("ticket_assignees_awaiting"),
            Some(&1),
            "{entries:?}"
        );
    }

    fn indexed(state: &str, title: &str) -> Indexed {
        Indexed {
            title: title.into(),
            flow_id: None,
            state: state.into(),
            archived: false,
            deleted: false,
        }
    }

    #[test]
    fn a_decision_rewrites_only_the_index_entries_of_the_columns_it_changes() {
        let conn = Connection::open_in_memory().unwrap();
        crate::conn::migrate(&conn).unwrap();
        let pending = indexed("pending", "t");
        // A level approved, the ticket still pending: no indexed column changes.
        assert_eq!(
            index_rewrites(&conn, &update_sql(&pending, &indexed("pending", "t"))),
            0
        );
        // The final decision changes the state: the two indexes that hold it.
        assert_eq!(
            index_rewrites(&conn, &update_sql(&pending, &indexed("approved", "t"))),
            2
        );
        // A deletion leaves every partial index (`WHERE deleted = 0`).
        let mut deleted = indexed("pending", "t");
        deleted.deleted = true;
        let all = index_rewrites(&conn, &update_sql(&pending, &deleted));
        assert!(all >= 7, "{all}");
        let mut renamed = indexed("pending", "u");
        renamed.flow_id = Some(uuid::Uuid::nil());
        renamed.archived = true;
        let sql = update_sql(&pending, &renamed);
        for set in ["title = ?1", "flow_id = ?2", "archived = ?10"] {
            assert!(sql.contains(set), "{sql}");
        }
        assert!(!sql.contains("state ="), "{sql}");
    }
}
