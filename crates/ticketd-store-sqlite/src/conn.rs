//! Connection machinery: one writer thread that group-commits queued writes, and pooled readers.
//!
//! Every write is a closure run inside its own savepoint of a shared transaction; the writer
//! takes every job queued at the moment, runs them, commits once (one fsync for the batch), and
//! only then answers each caller. A failing job rolls back to its savepoint without touching the
//! others, so batching changes neither atomicity nor the per-ticket version checks. A batch with
//! any job other than inserting new tickets also increases `change_counter` before it commits.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ticketd_core::StoreError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// The most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long a read may run on the thread of the task that asked for it before SQLite interrupts
/// it and it runs again on the blocking pool. Most reads (a page, a ticket, a token) take tens
/// of microseconds, and sending each to the blocking pool and back cost about a tenth of a list
/// request's CPU in wake-ups and thread switches; a read that takes longer (a first count over
/// a large table) wastes at most this much before it moves, and keeps an async worker no longer.
const INLINE_READ_BUDGET: Duration = Duration::from_micros(250);

/// SQLite virtual machine instructions between two looks at a read's deadline.
const BUDGET_CHECK_EVERY_OPS: i32 = 1_000;

/// How durable a commit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss (the default).
    Full,
    /// `synchronous=NORMAL`: survives a process crash, may lose the last commits on power loss.
    Normal,
}

/// How to open a SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The database file.
    pub path: PathBuf,
    /// Reader connections.
    pub readers: usize,
    /// Commit durability.
    pub durability: Durability,
    /// How long a writer waits for another process's lock.
    pub busy_timeout_ms: u32,
    /// How long a request waits for a free reader connection or a place in the writer's queue
    /// before the store answers `Unavailable` (a 503), instead of queueing without bound.
    pub acquire_timeout: Duration,
}

impl SqliteOptions {
    /// Options for `path` with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            durability: Durability::Full,
            busy_timeout_ms: 5_000,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A queued write, and whether it may change data that already exists (every write but the
/// insertion of a new ticket with its own rows).
struct Job {
    run: Box<dyn FnOnce(&Connection) -> Completion + Send>,
    changes_existing: bool,
}

pub(crate) struct Pool {
    acquire_timeout: Duration,
    /// Increased by the writer after every commit: anything derived from the data at one epoch
    /// (a list count) is exact while the epoch stays the same.
    write_epoch: Arc<AtomicU64>,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Reader>>,
    reader_permits: Arc<Semaphore>,
}

/// A read-only connection and the deadline its progress handler enforces.
struct Reader {
    conn: Connection,
    budget: Arc<ReadBudget>,
}

/// The deadline of the read under way on one reader connection, checked by SQLite's progress
/// handler: a read on an async worker's thread gets one; a read on the blocking pool has none.
struct ReadBudget {
    origin: Instant,
    /// Nanoseconds after `origin`; 0: no deadline.
    deadline: AtomicU64,
    /// Set by the handler when it interrupted a statement.
    exceeded: AtomicBool,
}

impl ReadBudget {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            deadline: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        }
    }

    fn nanos_since_origin(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn start(&self, allowance: Duration) {
        self.exceeded.store(false, Ordering::Relaxed);
        let allowance = u64::try_from(allowance.as_nanos()).unwrap_or(u64::MAX);
        let deadline = self.nanos_since_origin().saturating_add(allowance).max(1);
        self.deadline.store(deadline, Ordering::Relaxed);
    }

    /// Ends the deadline; whether the read ran past it (and so was cut short).
    fn finish(&self) -> bool {
        self.deadline.store(0, Ordering::Relaxed);
        self.exceeded.swap(false, Ordering::Relaxed)
    }

    /// The progress handler's test: `true` interrupts the statement.
    fn past_deadline(&self) -> bool {
        let deadline = self.deadline.load(Ordering::Relaxed);
        if deadline != 0 && self.nanos_since_origin() > deadline {
            self.exceeded.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

fn open_reader(options: &SqliteOptions) -> Result<Reader, StoreError> {
    let mut conn = open_connection(options, true)?;
    let budget = Arc::new(ReadBudget::new());
    let watched = Arc::clone(&budget);
    conn.progress_handler(
        BUDGET_CHECK_EVERY_OPS,
        Some(move || watched.past_deadline()),
    )
    .map_err(db_err)?;
    Ok(Reader { conn, budget })
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

pub(crate) fn db_err(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(code, message)
            if code.code == rusqlite::ErrorCode::ConstraintViolation
                && message.as_deref().is_some_and(|m| m.contains("UNIQUE")) =>
        {
            StoreError::Conflict {
                constraint: message.clone().unwrap_or_default(),
            }
        }
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

fn open_connection(options: &SqliteOptions, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(&options.path, flags).map_err(db_err)?;
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.busy_timeout(std::time::Duration::from_millis(u64::from(
        options.busy_timeout_ms,
    )))
    .map_err(db_err)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16000; \
         PRAGMA temp_store=MEMORY;"
    ))
    .map_err(db_err)?;
    // The query planner stability guarantee: without it, a statement whose LIKE pattern is a
    // bound parameter is compiled again on every execution (SQLite may pick a plan by the
    // pattern), which was an eighth of a search's time. Every plan here is chosen by indexes.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

const MIGRATIONS: &[(i64, &str, &str)] = &[
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
];

/// Applies missing migrations; returns how many ran.
pub(crate) fn migrate(conn: &Connection) -> Result<usize, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .map_err(db_err)?;
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        let done: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        let result = if done {
            Ok(())
        } else {
            conn.execute_batch(sql)
                .and_then(|()| {
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                        (version, name),
                    )
                    .map(|_| ())
                })
                .map_err(db_err)
        };
        match result {
            Ok(()) => {
                conn.execute_batch("COMMIT").map_err(db_err)?;
                if !done {
                    applied += 1;
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(applied)
}

impl Pool {
    pub(crate) fn open(options: &SqliteOptions) -> Result<(Arc<Self>, usize), StoreError> {
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Other(Box::new(e)))?;
        }
        let writer_conn = open_connection(options, false)?;
        let migrated = migrate(&writer_conn)?;
        let readers = (0..options.readers.max(1))
            .map(|_| open_reader(options))
            .collect::<Result<Vec<_>, _>>()?;
        let (sender, receiver) = mpsc::channel::<Job>(4096);
        let write_epoch = Arc::new(AtomicU64::new(0));
        let epoch = Arc::clone(&write_epoch);
        std::thread::Builder::new()
            .name("ticketd-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, receiver, &epoch))
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let n_readers = readers.len();
        Ok((
            Arc::new(Self {
                acquire_timeout: options.acquire_timeout,
                write_epoch,
                writer: sender,
                readers: Mutex::new(readers),
                reader_permits: Arc::new(Semaphore::new(n_readers)),
            }),
            migrated,
        ))
    }

    /// The number of commits so far (see `write_epoch`).
    pub(crate) fn write_epoch(&self) -> u64 {
        self.write_epoch.load(Ordering::Acquire)
    }

    /// Runs `job` in the writer's next transaction; answers after the commit.
    pub(crate) async fn write<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.queue(job, true).await
    }

    /// Like [`Pool::write`], for a job that only inserts a new ticket and rows of its own (its
    /// steps' index rows, history, comments, outbox event, the day's serial counter): such
    /// commits leave `change_counter` alone, so counts taken before stay exact up to the new
    /// tickets.
    pub(crate) async fn insert_ticket<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.queue(job, false).await
    }

    async fn queue<R, F>(&self, job: F, changes_existing: bool) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<R, StoreError>>();
        let run = Box::new(move |conn: &Connection| {
            let result = match conn.execute_batch("SAVEPOINT job") {
                Err(e) => Err(db_err(e)),
                Ok(()) => {
                    let result = job(conn);
                    let end = if result.is_ok() {
                        "RELEASE job"
                    } else {
                        "ROLLBACK TO job; RELEASE job"
                    };
                    match conn.execute_batch(end) {
                        Ok(()) => result,
                        Err(e) => Err(db_err(e)),
                    }
                }
            };
            Box::new(move |commit: Result<(), String>| {
                let answer = match commit {
                    Ok(()) => result,
                    Err(message) => Err(StoreError::Unavailable(message)),
                };
                // The caller may have gone away (request cancelled); nothing to do then.
                let _ = reply.send(answer);
            }) as Completion
        });
        let job = Job {
            run,
            changes_existing,
        };
        match tokio::time::timeout(self.acquire_timeout, self.writer.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("writer stopped".into())),
            Err(_elapsed) => {
                return Err(StoreError::Unavailable(format!(
                    "the writer's queue stayed full for {:?}",
                    self.acquire_timeout
                )));
            }
        }
        answer
            .await
            .map_err(|_closed| StoreError::Unavailable("writer stopped".into()))?
    }

    /// Runs `job` on a reader connection: first on the calling thread, if a connection is free
    /// at once, within [`INLINE_READ_BUDGET`]; a job that runs past it is interrupted and runs
    /// again, from the start, on the blocking pool (so it must not depend on running once).
    pub(crate) async fn read<R, F>(self: &Arc<Self>, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        if let Ok(permit) = Arc::clone(&self.reader_permits).try_acquire_owned()
            && let Some(answer) = self.read_here(permit, &job).transpose()
        {
            return answer;
        }
        self.read_on_pool(job).await
    }

    /// `job` on the calling thread within [`INLINE_READ_BUDGET`]; `Ok(None)`: it ran past it and
    /// was interrupted, and nothing of it is kept.
    fn read_here<R, F>(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        job: &F,
    ) -> Result<Option<R>, StoreError>
    where
        F: Fn(&Connection) -> Result<R, StoreError>,
    {
        self.lease(permit)?.with_reader(|reader| {
            reader.budget.start(INLINE_READ_BUDGET);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&reader.conn)));
            if reader.budget.finish() {
                // An interrupted statement may leave a read transaction the job had opened.
                if !reader.conn.is_autocommit() {
                    let _ = reader.conn.execute_batch("ROLLBACK");
                }
                return Ok(None);
            }
            result
                .unwrap_or_else(|_panicked| {
                    Err(StoreError::Other("a read panicked (see the log)".into()))
                })
                .map(Some)
        })
    }

    /// Runs `job` on a reader connection in the blocking pool, without a deadline.
    pub(crate) async fn read_on_pool<R, F>(self: &Arc<Self>, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let acquire = Arc::clone(&self.reader_permits).acquire_owned();
        let permit = match tokio::time::timeout(self.acquire_timeout, acquire).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("readers closed".into())),
            Err(_elapsed) => {
                return Err(StoreError::Unavailable(format!(
                    "no reader connection was free within {:?}",
                    self.acquire_timeout
                )));
            }
        };
        let pool = Arc::clone(self);
        // The permit travels with the connection: if the request is cancelled (a client gone, a
        // request timeout) the blocking job still runs to its end, and the permit must not be
        // freed for another caller before the connection is back in the pool.
        tokio::task::spawn_blocking(move || {
            pool.lease(permit)?.with_reader(|reader| job(&reader.conn))
        })
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?
    }

    /// A reader connection taken from the pool with the `permit` that allowed it.
    fn lease(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Result<Lease, StoreError> {
        Ok(Lease {
            reader: Some(self.take_reader()?),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    fn take_reader(&self) -> Result<Reader, StoreError> {
        let mut readers = self
            .readers
            .lock()
            .map_err(|_poisoned| StoreError::Unavailable("reader pool poisoned".into()))?;
        readers
            .pop()
            .ok_or_else(|| StoreError::Unavailable("no reader available".into()))
    }

    fn return_reader(&self, reader: Reader) {
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(reader);
        }
    }
}

/// A reader connection on loan, returned to the pool when dropped (a panicking job included),
/// together with the permit that allowed it.
struct Lease {
    pool: Arc<Pool>,
    reader: Option<Reader>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn with_reader<R>(
        &self,
        job: impl FnOnce(&Reader) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &self.reader {
            Some(reader) => job(reader),
            None => Err(StoreError::Unavailable("no reader available".into())),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            self.pool.return_reader(reader);
        }
    }
}

fn writer_loop(conn: Connection, mut receiver: mpsc::Receiver<Job>, epoch: &AtomicU64) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            for job in batch.drain(..) {
                // Run nothing: answer every caller that the store is unavailable.
                drop(job);
                tracing::warn!(error = %message, "sqlite writer could not begin a transaction");
            }
            continue;
        }
        let changes_existing = batch.iter().any(|job| job.changes_existing);
        let completions: Vec<Completion> = batch.drain(..).map(|job| (job.run)(&conn)).collect();
        let counted = if changes_existing {
            conn.execute_batch("UPDATE change_counter SET changes = changes + 1 WHERE id = 1")
        } else {
            Ok(())
        };
        let commit = counted
            .and_then(|()| conn.execute_batch("COMMIT"))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            });
        match &commit {
            // Before anyone hears of the commit, so no reader can pair new data with an old epoch.
            Ok(()) => {
                epoch.fetch_add(1, Ordering::Release);
            }
            Err(message) => tracing::error!(error = %message, "sqlite commit failed"),
        }
        for complete in completions {
            complete(commit.clone());
        }
    }
}

/// Parses `sqlite://relative.db`, `sqlite:///absolute.db`, `sqlite:relative.db` or a bare path.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
        return None;
    }
    Some(Path::new(rest).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts a read that holds a reader connection until the returned sender is used; returns
    /// once the read runs.
    async fn hold_a_reader(
        pool: &Arc<Pool>,
    ) -> (
        tokio::task::JoinHandle<Result<(), StoreError>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, is_running) = oneshot::channel::<()>();
        let pool = Arc::clone(pool);
        let holder = tokio::spawn(async move {
            pool.read_on_pool(move |_conn| {
                let _ = started.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
        });
        is_running.await.unwrap();
        (holder, release)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_reader_pool_answers_unavailable_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            readers: 1,
            acquire_timeout: Duration::from_millis(100),
            ..SqliteOptions::new(dir.path().join("busy.db"))
        };
        let (pool, _) = Pool::open(&options).unwrap();
        let (holder, held) = hold_a_reader(&pool).await;
        let asked = std::time::Instant::now();
        let refused = pool.read(|_conn| Ok(())).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(asked.elapsed() < Duration::from_secs(2));
        held.send(()).unwrap();
        holder.await.unwrap().unwrap();
        pool.read(|_conn| Ok(())).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_read_keeps_its_connection_until_the_job_ends() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            readers: 1,
            acquire_timeout: Duration::from_secs(10),
            ..SqliteOptions::new(dir.path().join("cancel.db"))
        };
        let (pool, _) = Pool::open(&options).unwrap();
        let (cancelled, release) = hold_a_reader(&pool).await;
        // The caller goes away (a client disconnecting, a request timeout); its job runs on.
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        let next = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.read(|_conn| Ok(42)).await })
        };
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        assert_eq!(next.await.unwrap().unwrap(), 42);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_read_gives_its_connection_back() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            readers: 1,
            ..SqliteOptions::new(dir.path().join("panic.db"))
        };
        let (pool, _) = Pool::open(&options).unwrap();
        let failed = pool
            .read(|_conn| -> Result<(), StoreError> { panic!("a bug in a row mapper") })
            .await;
        assert!(failed.is_err());
        assert_eq!(pool.read(|_conn| Ok(7)).await.unwrap(), 7);
    }

    /// Counts to `n` in SQLite: a statement that runs for a while without touching a table.
    fn count_to(conn: &Connection, n: i64) -> Result<i64, StoreError> {
        conn.query_row(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) \
             SELECT count(*) FROM c",
            [n],
            |r| r.get(0),
        )
        .map_err(db_err)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_quick_read_runs_once_on_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = Pool::open(&SqliteOptions::new(dir.path().join("quick.db"))).unwrap();
        let caller = std::thread::current().id();
        let runs = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&runs);
        let (answer, thread) = pool
            .read(move |conn| {
                counted.fetch_add(1, Ordering::Relaxed);
                Ok((count_to(conn, 10)?, std::thread::current().id()))
            })
            .await
            .unwrap();
        assert_eq!(answer, 10);
        assert_eq!(thread, caller);
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_long_read_is_interrupted_and_runs_again_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            readers: 1,
            ..SqliteOptions::new(dir.path().join("long.db"))
        };
        let (pool, _) = Pool::open(&options).unwrap();
        let caller = std::thread::current().id();
        let threads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&threads);
        let answer = pool
            .read(move |conn| {
                seen.lock().unwrap().push(std::thread::current().id());
                // Inside a read transaction, which an interrupted statement must not leave open.
                let read = conn.unchecked_transaction().map_err(db_err)?;
                let n = count_to(conn, 3_000_000)?;
                read.commit().map_err(db_err)?;
                Ok(n)
            })
            .await
            .unwrap();
        assert_eq!(answer, 3_000_000);
        let threads = threads.lock().unwrap().clone();
        assert_eq!(threads.len(), 2, "{threads:?}");
        assert_eq!(threads[0], caller);
        assert_ne!(threads[1], caller);
        // The one connection is back, out of any transaction, and has no deadline left.
        let after = pool
            .read(|conn| Ok((conn.is_autocommit(), count_to(conn, 3_000_000)?)))
            .await;
        assert!(matches!(after, Ok((true, 3_000_000))), "{after:?}");
        let on_pool = pool
            .read_on_pool(|conn| count_to(conn, 3_000_000))
            .await
            .unwrap();
        assert_eq!(on_pool, 3_000_000);
    }
}
