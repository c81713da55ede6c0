//! Connection machinery: options, the deadpool pool, driver-error mapping and migrations.

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use std::fmt;
use std::time::Duration;
use ticketd_core::StoreError;
use ticketd_core::migrations::{Migration, migrations_to_apply};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// How to connect to a PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A `postgres://user:password@host:port/database?…` URL, or a libpq `key=value` string.
    pub url: String,
    /// The most pooled connections.
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection before `StoreError::Unavailable`.
    pub acquire_timeout: Duration,
    /// `application_name` shown in `pg_stat_activity`, unless the URL sets one.
    pub application_name: String,
    /// The longest a statement runs (`statement_timeout`) before PostgreSQL cancels it, unless
    /// the URL sets one; `None` (or beyond PostgreSQL's limit, about 24 days): no limit. A
    /// server sets its request timeout: a request answered 503 when it ran out left its
    /// statement running on, and a few costly text searches kept the database's cores busy
    /// long after.
    pub statement_timeout: Option<Duration>,
}

impl PostgresOptions {
    /// Options for `url` with the defaults: 10 connections, 5 s to connect, 3 s to wait for a
    /// free connection.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(3),
            application_name: "ticketd".into(),
            statement_timeout: None,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact_password(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("application_name", &self.application_name)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// The URL with its passwords (in the user info, in a `password` query parameter, or in the
/// `key=value` form) replaced, for logs, errors and `Debug`. It masks rather than parses, so
/// most malformed URLs (a mistyped scheme, an unencoded `@` or `?` in the password) leak nothing
/// either: everything from the user's `:` to the last `@` is masked, then every `password`
/// value. A mistyped scheme with an unencoded `/` in the password is beyond it.
pub fn redact_password(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some(at) = text.rfind('@') {
        // The user info starts after `://`, or, in a mistyped URL without it, after the last
        // `/` before the `@`.
        let user_start = url.find("://").map_or_else(
            || text[..at].rfind('/').map_or(0, |slash| slash + 1),
            |separator| separator + 3,
        );
        if user_start <= at
            && let Some(colon) = text[user_start..at].find(':')
        {
            text.replace_range(user_start + colon + 1..at, "***");
        }
    }
    mask_password_values(&text)
}

/// `text` with the value of every `password` key (`password=v` in a query or a `key=value`
/// string, spaces around `=` and a quoted value included) replaced by `***`.
fn mask_password_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let key_start = from + found;
        let mut cursor = key_start + "password".len();
        from = cursor;
        let at_word_start = key_start == 0
            || matches!(
                lower.as_bytes()[key_start - 1],
                b'?' | b'&' | b' ' | b'\t' | b'\n'
            );
        let rest = &text[cursor..];
        let spaces = rest.len() - rest.trim_start().len();
        if !at_word_start || !rest.trim_start().starts_with('=') {
            continue;
        }
        cursor += spaces + 1;
        cursor += text[cursor..].len() - text[cursor..].trim_start().len();
        let value_end = if text[cursor..].starts_with('\'') {
            // A quoted value ends at the next quote not escaped by a backslash.
            let mut end = text.len();
            let mut escaped = false;
            for (i, c) in text[cursor + 1..].char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = cursor + 1 + i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            end
        } else {
            text[cursor..]
                .find(['&', ' ', '\t', '\n'])
                .map_or(text.len(), |end| cursor + end)
        };
        out.push_str(&text[copied..cursor]);
        out.push_str("***");
        copied = value_end;
        from = value_end.max(from);
    }
    out.push_str(&text[copied..]);
    out
}

/// Renders an error with its whole source chain (for `StoreError::Unavailable`, which keeps text).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // tokio-postgres already appends its cause to its own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        // Class 08: connection exception; class 53: insufficient resources (too many
        // connections, out of memory, disk full); 57P01–57P03: the server is shutting down or
        // starting up; 55P03: a lock not obtained within `lock_timeout` (held by a stalled
        // session); 25P03: the session ended by `idle_in_transaction_session_timeout`; 57014:
        // a statement cancelled by `statement_timeout`.
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                code,
                "57P01" | "57P02" | "57P03" | "55P03" | "25P03" | "57014"
            );
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Maps a driver error onto the store's error vocabulary.
pub(crate) fn db_err(error: tokio_postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict {
                constraint: db.constraint().unwrap_or("unique").to_owned(),
            };
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return StoreError::Reference {
                constraint: db.constraint().unwrap_or("foreign key").to_owned(),
            };
        }
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            // `VersionConflict` carries no source: record the cause here, once. Callers that
            // act on a version (tickets, flows) reload and retry; others report the conflict.
            tracing::debug!(error = %error, "postgres aborted a transaction; reported as a version conflict");
            return StoreError::VersionConflict;
        }
    }
    if is_unavailable(&error) {
        return StoreError::Unavailable(chain(&error));
    }
    StoreError::Other(Box::new(error))
}

/// Maps a pool error: waiting too long for a connection means the store is unavailable.
pub(crate) fn pool_err(error: PoolError) -> StoreError {
    match error {
        // A new connection PostgreSQL refused for now (the database not accepting connections,
        // 55000; dropped, 3D000; too many clients; starting or stopping) is an outage, told to
        // clients as busy (503), not as a defect (500, until 2026-12-07); a refused login or a
        // bad setting stays a failure.
        PoolError::Backend(error)
            if is_unavailable(&error)
                || matches!(error.code().map(SqlState::code), Some("55000" | "3D000")) =>
        {
            StoreError::Unavailable(format!(
                "could not connect to PostgreSQL: {}",
                chain(&error)
            ))
        }
        PoolError::Backend(error) => db_err(error),
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "no database connection available in time ({kind:?} timed out)"
        )),
        PoolError::Closed => StoreError::Unavailable("the connection pool is closed".into()),
        other => StoreError::Other(Box::new(other)),
    }
}

/// A boxed error for values PostgreSQL handed back that the core cannot represent.
pub(crate) fn other(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(error))
}

/// The pool plus helpers for one-statement operations (each its own implicit transaction).
#[derive(Clone)]
pub(crate) struct Db {
    pool: Pool,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Db")
            .field("max_size", &status.max_size)
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

/// Settings of every session the pool opens (the `options` startup parameter).
///
/// - `random_page_cost`: see [`session_config`].
/// - `lock_timeout`: a write waits at most 5 s for a row another session holds (the day's
///   serial counter, a ticket), then fails as the store's `Unavailable` and commits nothing.
///   Without it, a process stalled inside a transaction (a lost network, a paused VM) made every
///   other process's openings and decisions wait, answer 503 at the request timeout, and commit
///   minutes later, once the lock was gone.
/// - `idle_in_transaction_session_timeout`: such a stalled session is ended by PostgreSQL after
///   10 s, which releases its locks and rolls back what it had not committed (ticketd sends a
///   transaction's statements without pausing between them).
const SESSION_OPTIONS: &str = "-c random_page_cost=1.1 -c lock_timeout=5s \
    -c idle_in_transaction_session_timeout=10s";

/// TCP keepalive probes and the TCP user timeout: a connection whose peer went silent (a lost
/// network, a dead host) fails within about half a minute, and the pool replaces it, instead of
/// holding every request sent on it until the operating system gives up (hours).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// tokio-postgres's own keepalive idle time, which a URL leaving `keepalives_idle` unset keeps.
const DRIVER_KEEPALIVE_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// The `options` startup parameter: ticketd's settings, then the URL's own, which PostgreSQL
/// applies later, so a setting the URL gives wins.
fn session_options(given: Option<&str>, statement_timeout: Option<Duration>) -> String {
    let mut ours = SESSION_OPTIONS.to_owned();
    let millis = statement_timeout.and_then(|limit| i32::try_from(limit.as_millis()).ok());
    if let Some(millis) = millis.filter(|millis| *millis > 0) {
        ours.push_str(&format!(" -c statement_timeout={millis}"));
    }
    match given {
        Some(given) if !given.trim().is_empty() => format!("{ours} {given}"),
        _ => ours,
    }
}

/// The settings of every connection ticketd opens to `options.url`: the URL's, with ticketd's
/// session options and application name where the URL sets none.
pub(crate) fn session_config(
    options: &PostgresOptions,
) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = options.url.parse().map_err(db_err)?;
    // PostgreSQL would take the user's name for the database (`postgres://postgres@h/` is the
    // maintenance database `postgres`), which ticketd would then migrate and serve: a URL
    // naming no database is refused, as a mistyped SQLite directory is (until 2026-12-07 it was
    // served).
    if config
        .get_dbname()
        .is_none_or(|name| name.trim().is_empty())
    {
        return Err(StoreError::Other(
            "the URL names no database: add it, as in postgres://user@host:5432/ticketd".into(),
        ));
    }
    config.connect_timeout(options.connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name(&options.application_name);
    }
    // The planner's default random_page_cost (4, for spinning disks) makes a table of a few
    // hundred rows cheaper to scan whole than through its index: the token lookup every
    // request makes then read every token, user and membership row (109 us of PostgreSQL's
    // execution per request, against 29-46 us through the indexes). ticketd's hot tables
    // stay in memory; the URL's own `options` come after this one and win.
    let session = session_options(config.get_options(), options.statement_timeout);
    config.options(session);
    // What the URL sets (`keepalives_idle`, `tcp_user_timeout`, …) wins here too.
    if config.get_keepalives_idle() == DRIVER_KEEPALIVE_IDLE {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    Ok(config)
}

impl Db {
    /// Builds the pool; no connection is opened yet.
    pub(crate) fn new(options: &PostgresOptions) -> Result<Self, StoreError> {
        let manager = Manager::from_config(
            session_config(options)?,
            NoTls,
            ManagerConfig {
                // A closed connection is noticed without a round trip; a half-open one fails
                // its first query once and is then dropped by the pool.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(other)?;
        Ok(Self { pool })
    }

    /// A pooled connection, or `Unavailable` once `acquire_timeout` has passed.
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db_err)?;
        client.query(&statement, params).await.map_err(db_err)
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db_err)?;
        client.query_opt(&statement, params).await.map_err(db_err)
    }

    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db_err)?;
        client.execute(&statement, params).await.map_err(db_err)
    }

    /// Like [`Db::execute`], but zero rows changed is `NotFound`.
    pub(crate) async fn execute_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), StoreError> {
        match self.execute(sql, params).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }
}

/// The migrations, named like the SQLite backend's.
const MIGRATIONS: &[Migration] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "catalog", include_str!("../migrations/0002_catalog.sql")),
    (
        3,
        "directory",
        include_str!("../migrations/0003_directory.sql"),
    ),
    (4, "listing", include_str!("../migrations/0004_listing.sql")),
    (
        5,
        "generation",
        include_str!("../migrations/0005_generation.sql"),
    ),
    (
        6,
        "ordered_indexes",
        include_str!("../migrations/0006_ordered_indexes.sql"),
    ),
    (
        7,
        "listing_columns",
        include_str!("../migrations/0007_listing_columns.sql"),
    ),
    (
        8,
        "change_counter",
        include_str!("../migrations/0008_change_counter.sql"),
    ),
    (
        9,
        "list_marks",
        include_str!("../migrations/0009_list_marks.sql"),
    ),
    (
        10,
        "audit_org",
        include_str!("../migrations/0010_audit_org.sql"),
    ),
    (
        11,
        "current_steps_only",
        include_str!("../migrations/0011_current_steps_only.sql"),
    ),
    (
        12,
        "ticket_rows_unchecked",
        include_str!("../migrations/0012_ticket_rows_unchecked.sql"),
    ),
    (
        13,
        "identity_notify",
        include_str!("../migrations/0013_identity_notify.sql"),
    ),
    (
        14,
        "row_triggers",
        include_str!("../migrations/0014_row_triggers.sql"),
    ),
    (
        15,
        "org_comment",
        include_str!("../migrations/0015_org_comment.sql"),
    ),
    (
        16,
        "no_global_members",
        include_str!("../migrations/0016_no_global_members.sql"),
    ),
    (
        17,
        "finished_at",
        include_str!("../migrations/0017_finished_at.sql"),
    ),
    (
        18,
        "ended_round_steps",
        include_str!("../migrations/0018_ended_round_steps.sql"),
    ),
];

/// Key of the transaction-scoped advisory lock that serializes migrations ("ticketd" + 1).
/// Advisory locks are per database, so stores on other databases never wait on each other.
const MIGRATION_LOCK: i64 = 0x7469_636b_6574_6401;

/// Applies the missing migrations in one transaction; returns how many ran.
///
/// The advisory lock is taken before anything else, so processes starting together queue up:
/// the first migrates, the others then find every version recorded and apply nothing.
pub(crate) async fn migrate(client: &mut Object) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    // Processes starting together wait for the one migrating, however long it takes, and a
    // migration's DDL waits for the tables it changes: no `lock_timeout` here, and a long
    // migration runs to its end, whatever the server's request timeout (`SET LOCAL` ends with
    // the transaction).
    tx.batch_execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")
        .await
        .map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    // `SET LOCAL`: PostgreSQL's notice that the table already exists, which every start after
    // the first would get (and tokio-postgres logs at INFO), is not sent; it ends with the
    // transaction.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning; \
         CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(db_err)?;
    let recorded: Vec<(i64, String)> = tx
        .query("SELECT version, name FROM schema_migrations", &[])
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(db_err)?;
    let mut applied = 0;
    for (version, name, sql) in migrations_to_apply(MIGRATIONS, &recorded)? {
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db_err)?;
        tracing::info!(version, name, "applied postgres migration");
        applied += 1;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::{SESSION_OPTIONS, redact_password, session_config, session_options};
    use std::time::Duration;

    #[test]
    fn a_url_naming_no_database_is_refused() {
        for url in [
            "postgres://u@h:5432/",
            "postgres://u@h:5432",
            "postgresql://u@h",
            "postgres://u@h/?dbname=",
        ] {
            let refusal = session_config(&super::PostgresOptions::new(url))
                .err()
                .unwrap_or_else(|| panic!("{url} was accepted"));
            let cause = std::error::Error::source(&refusal).map(ToString::to_string);
            assert!(
                cause.is_some_and(|c| c.contains("names no database")),
                "{url}: {refusal:?}"
            );
        }
        for url in ["postgres://u@h:5432/db", "postgres://u@h/?dbname=db"] {
            assert!(
                session_config(&super::PostgresOptions::new(url)).is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn every_password_a_url_may_carry_is_redacted() {
        for (url, redacted) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u:pa@ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u:pa?ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u:pa/ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "postgres://127.0.0.1:5432/db?user=postgres&password=S3cret&sslmode=disable",
                "postgres://127.0.0.1:5432/db?user=postgres&password=***&sslmode=disable",
            ),
            (
                "postgres://u:a@h/db?PASSWORD=secret",
                "postgres://u:***@h/db?PASSWORD=***",
            ),
            ("postgres:/u:secret@h/db", "postgres:/u:***@h/db"),
            ("postgres//u:secret@h/db", "postgres//u:***@h/db"),
            (
                "host=h user=u password=secret",
                "host=h user=u password=***",
            ),
            (
                "host=h password = secret user=u",
                "host=h password = *** user=u",
            ),
            (
                "host=h password='a secret' user=u",
                "host=h password=*** user=u",
            ),
            ("host=h password='it\\'s secret'", "host=h password=***"),
            ("passwords.db", "passwords.db"),
            ("sqlite:me@x://y", "sqlite:me@x://y"),
        ] {
            let masked = redact_password(url);
            assert_eq!(masked, redacted, "{url}");
            assert!(!masked.contains("ecret"), "{url}");
        }
    }

    #[test]
    fn the_url_s_own_session_options_come_after_ticketd_s_and_win() {
        assert_eq!(session_options(None, None), SESSION_OPTIONS);
        assert_eq!(session_options(Some("  "), None), SESSION_OPTIONS);
        let given: tokio_postgres::Config =
            "postgres://u@h/db?options=-c%20random_page_cost%3D4%20-c%20work_mem%3D8MB"
                .parse()
                .unwrap();
        assert_eq!(
            session_options(given.get_options(), None),
            format!("{SESSION_OPTIONS} -c random_page_cost=4 -c work_mem=8MB")
        );
        let limited: tokio_postgres::Config =
            "postgres://u@h/db?options=-c%20statement_timeout%3D0"
                .parse()
                .unwrap();
        assert_eq!(
            session_options(limited.get_options(), Some(Duration::from_secs(30))),
            format!("{SESSION_OPTIONS} -c statement_timeout=30000 -c statement_timeout=0")
        );
        // Beyond PostgreSQL's limit (2^31 - 1 ms), or none: no limit.
        for unlimited in [Some(Duration::from_secs(100 * 365 * 86_400)), None] {
            assert_eq!(session_options(None, unlimited), SESSION_OPTIONS);
        }
    }
}
