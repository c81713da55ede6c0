//! Connection machinery: one writer thread that group-commits queued writes, and pooled readers.
//!
//! Every write is a closure run inside a shared transaction; the writer takes every job queued at
//! the moment, runs them, commits once (one fsync for the batch), and only then answers each
//! caller. A failing job fails alone, so batching changes neither atomicity nor the per-ticket
//! version checks: a job that may run only once runs in a savepoint of its own, and a batch of
//! jobs that may run again (ticket writes) runs without savepoints and, if one fails, is rolled
//! back and run again with one savepoint each. A batch in which a job other than inserting new
//! tickets changed rows also increases `change_counter` before it commits.
//! A third thread copies the write-ahead log back into the database file (checkpoints), so the
//! writer does not. With full durability a fourth makes the log durable: the writer commits
//! without waiting for the disk (`synchronous=NORMAL`) and goes on to its next batch while the
//! syncer thread fsyncs the log once for every batch committed meanwhile, and only then answers
//! their callers.

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ticketd_core::StoreError;
use ticketd_core::migrations::{Migration, migrations_to_apply};
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

/// WAL frames (pages) after a commit at which the checkpointer thread is asked to copy the log
/// back into the database file. SQLite's own default, 1,000 frames checkpointed by the writer in
/// its commit, meant a checkpoint every 60-odd ticket openings (each writes about 15 pages):
/// the writer spent a fifth of its time copying pages it would rewrite a moment later. With a
/// longer log each page is copied once for many commits, and on another thread. 32,768 frames
/// (a log of about 130 MB) against 8,192: a quarter of the checkpoints, each page rewritten in
/// between copied once, and a quarter of the writer's final copies, which carry the database
/// file's fsync; bench `open` and `approve` rose by about a fifth. 65,536 against 32,768: the
/// checkpointer writes a quarter fewer bytes per decision to a disk the log's fsyncs share, and
/// `approve` rose by 9% (BENCHMARKS.md), at the price of a longer p99.9 (the final copy's fsync
/// has more to flush). 131,072 against 65,536 (a log of about 540 MB; it peaked near 680 MB
/// with the frames added while the checkpointer copies): the hot index pages of decisions spread
/// over many users are copied half as often, and bench `approve` at 300k rose by 15% (means of
/// five alternating runs, 6,255 against 5,442 req/s) with `open` and the lists within the
/// spread; 262,144 gained nothing more for `approve` (BENCHMARKS.md). The price is disk space
/// for the log and its reading after a crash (see ARCHITECTURE.md).
const CHECKPOINT_AFTER_FRAMES: u32 = 131_072;

/// The page cache of the writer's (and the checkpointer's) connection, in KiB.
const WRITER_CACHE_KIB: u32 = 16_000;

/// The page cache of each reader connection, in KiB. A reader keeps its cache only while
/// nothing is committed (SQLite drops a WAL reader's whole cache when its next read transaction
/// sees a new commit), so under writes a larger one holds nothing longer, and between commits
/// the core's page memory answers repeated lists first. 8,000 against 16,000 KiB: bench at 20k,
/// server peak RSS 207.3 -> 181.3 MiB with the list scenarios within the spread (BENCHMARKS.md).
const READER_CACHE_KIB: u32 = 8_000;

/// How far (as a multiple of the checkpointer's threshold) the log may grow before the writer
/// checkpoints in its own commit, as SQLite does by default: a bound on the log if the
/// checkpointer falls behind (about 2 GiB). The checkpointer's passes run while the writer
/// goes on adding frames (about 80,000 a second under decisions), so the margin above the
/// threshold must outlast a checkpoint of the whole log.
const WRITER_CHECKPOINT_FACTOR: u32 = 4;

/// How durable a commit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// A commit is answered only after the write-ahead log's fsync, so it survives power loss
    /// (the default): the writer's connection runs `synchronous=NORMAL` and the syncer thread
    /// makes the fsync that `FULL` would make in the commit.
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
    /// WAL frames at which the checkpointer thread copies the log into the database; the
    /// writer itself does at four times this.
    pub checkpoint_after_frames: u32,
    /// Whether this store serves the file, which only one process may do: its caches know
    /// without a read only what its own writer wrote (the identity version, list counts). The
    /// store then holds the file's serving lock (`<file>-serve.lock`) while it lives, and
    /// refuses to open while another process holds it, and watches the file for the commits of
    /// one-off commands, which leave it unset (its writer looks before each batch, and every
    /// 50 ms while idle).
    pub serving: bool,
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
            checkpoint_after_frames: CHECKPOINT_AFTER_FRAMES,
            serving: false,
        }
    }
}

/// The device and inode of the file `path` names, if any.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The write-ahead log's path: beside the real file, as SQLite follows a symbolic link to the
/// database and keeps the log there.
fn log_path_of(path: &Path) -> PathBuf {
    let mut log = real_path(path).into_os_string();
    log.push("-wal");
    PathBuf::from(log)
}

/// Whether `path` still names the file opened (`opened`: its device and inode then).
fn names_opened_file(path: &Path, opened: Option<(u64, u64)>) -> bool {
    opened.is_some() && file_identity(path) == opened
}

/// Copies the whole log into the database file and empties it (a `TRUNCATE` checkpoint) on
/// `conn`, waiting up to `busy_timeout` for a checkpoint already running (SQLite answers at
/// once, without its busy handler, while another runs: the checkpointer thread's passes under
/// load, or another process's), for readers and the writer.
fn checkpoint_whole_log(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        let (busy, frames, copied): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(db_err)?;
        if busy == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let progress = if frames < 0 {
                "another checkpoint was still running".to_owned()
            } else {
                format!("{copied} of its {frames} pages copied")
            };
            return Err(StoreError::Unavailable(format!(
                "the write-ahead log was not emptied: a reader, the writer or another \
                 checkpoint held it past the busy timeout ({progress})"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The database file and its write-ahead log as a serving store opened them, to tell whether
/// their paths still name them. SQLite keeps writing to the files it opened: after the file was
/// deleted (or moved, or replaced) its commits go where no start finds them, and after the log
/// was deleted they go to a log no other connection sees, which the stop's checkpoint (on a new
/// connection) did not find, so every acknowledged write since the last checkpoint was lost
/// (until 2026-12-07, with `/healthz` answering ok all along).
struct ServedFiles {
    path: PathBuf,
    file: Option<(u64, u64)>,
    /// Taken when first seen: SQLite makes the log with the first connection in WAL mode.
    log: std::sync::OnceLock<(u64, u64)>,
    /// What the writer's last look found (`None`: both in place), which `/healthz` reads: two
    /// `stat` calls of its own cost a third of a health check's time.
    found: Mutex<Option<String>>,
    /// Whether the writer copied the file served beside it, and the deleted log's commits
    /// into the file: each once.
    rescued: AtomicBool,
    log_saved: AtomicBool,
    /// When a rescue was last tried.
    last_rescue: Mutex<Option<Instant>>,
    /// The writer connection's busy timeout, set back after a rescue's short tries.
    busy_timeout: Duration,
}

impl ServedFiles {
    fn new(path: &Path, file: Option<(u64, u64)>, busy_timeout: Duration) -> Self {
        let served = Self {
            path: path.to_owned(),
            file,
            log: std::sync::OnceLock::new(),
            found: Mutex::new(None),
            rescued: AtomicBool::new(false),
            log_saved: AtomicBool::new(false),
            last_rescue: Mutex::new(None),
            busy_timeout,
        };
        served.log_problem();
        served
    }

    /// What the writer's last look found.
    fn found(&self) -> Option<String> {
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_found(&self, found: Option<String>) {
        *self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = found;
    }

    fn log_path(&self) -> PathBuf {
        log_path_of(&self.path)
    }

    /// The writer's look (at most every `FILES_LOOK_EVERY` while it writes, and at every
    /// `Look`): what it finds is published before anything else (`/healthz` reads it), then,
    /// tried at most once a second until each succeeds, a lost file is copied beside its path
    /// and a deleted log's commits copied into the file; once both are back, a later loss is
    /// rescued again.
    fn look(&self, conn: &Connection) -> Option<String> {
        let (file_problem, log_problem) = (self.file_problem(), self.log_problem());
        let found = file_problem.clone().or_else(|| log_problem.clone());
        let was = self.found();
        self.set_found(found.clone());
        match (&found, &was) {
            (None, Some(_)) => {
                // Moved back: the file holds every commit, and a copy made meanwhile lacks the
                // writes from now on (one who then followed the copy's advice lost them). A later
                // loss is rescued again.
                self.rescued.store(false, Ordering::Relaxed);
                self.log_saved.store(false, Ordering::Relaxed);
                tracing::warn!(
                    path = %self.path.display(),
                    "the database file and its log are back at their paths: writes resume; a \
                     `.rescued-…` copy made meanwhile is out of date from now on, delete it"
                );
            }
            (Some(problem), None) => {
                tracing::error!(problem = %problem, "the sqlite files served were changed under the server");
            }
            _ => {}
        }
        if found.is_some() && self.rescue_due() {
            if file_problem.is_some()
                && !self.rescued.load(Ordering::Relaxed)
                && rescue_a_lost_file(conn, self)
            {
                self.rescued.store(true, Ordering::Relaxed);
            }
            if log_problem.is_some() && !self.log_saved.load(Ordering::Relaxed) {
                // A short try, at most once a second: the writer answers the writes queued
                // meanwhile (refused) between tries.
                let saved = conn
                    .busy_timeout(RESCUE_TRY)
                    .map_err(db_err)
                    .and_then(|()| checkpoint_whole_log(conn, RESCUE_TRY));
                let _ = conn.busy_timeout(self.busy_timeout);
                match saved {
                    Ok(()) => {
                        self.log_saved.store(true, Ordering::Relaxed);
                        tracing::warn!(
                            "the deleted log's commits were copied into the database file"
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the deleted log's commits could not be copied into the database file yet; trying again");
                    }
                }
            }
        }
        found
    }

    /// Whether a rescue may be tried now: at most once a second.
    fn rescue_due(&self) -> bool {
        let mut last = self
            .last_rescue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Why the path no longer names the file served, if it does not.
    fn file_problem(&self) -> Option<String> {
        (!names_opened_file(&self.path, self.file)).then(|| {
            format!(
                "{} no longer names the database file served (it was deleted, moved or \
                 replaced): writes are refused, as they would not reach a file at that path; \
                 if it was moved, move it back; the server copies every commit of the file it \
                 serves beside it (`.rescued-…`) when it sees this",
                self.path.display()
            )
        })
    }

    /// Why the log's path no longer names the log served, if it does not.
    fn log_problem(&self) -> Option<String> {
        let now = file_identity(&self.log_path());
        match (self.log.get(), now) {
            (None, Some(seen)) => {
                let _ = self.log.set(seen);
                None
            }
            (Some(seen), now) if now != Some(*seen) => Some(format!(
                "{} no longer names the write-ahead log served (it was deleted or replaced): \
                 writes are refused, as their commits would be lost with it; restart ticketd \
                 to serve again",
                self.log_path().display()
            )),
            _ => None,
        }
    }
}

/// Refuses a `path` that is no file, or a file with more than one name. The serving lock and
/// SQLite's own log are named by the path: through a second name of the file (a hard link) a
/// process would write a log of its own beside the one the server writes, which neither sees,
/// and SQLite documents that this corrupts the file (a one-off command through such a name
/// lost the server's acknowledged writes once the second log was replayed). So no store opens
/// one, serving or not.
fn check_one_name(path: &Path) -> Result<(), StoreError> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !metadata.is_file() {
        return Err(StoreError::Unavailable(format!(
            "{} is not a file: name the database file, or a new one",
            path.display()
        )));
    }
    let links = std::os::unix::fs::MetadataExt::nlink(&metadata);
    if links > 1 {
        return Err(StoreError::Unavailable(format!(
            "{} has {links} hard links: SQLite names its log by the path, so a process \
             opening another name of the file would not see this one's log; use a file with \
             one name (copy it, or remove the other links)",
            path.display()
        )));
    }
    Ok(())
}

/// Refuses a missing database file whose write-ahead log is there and not empty: the log holds
/// the last commits of a file moved or deleted while it was served, and SQLite, creating a new
/// file, would start the log over and lose them (a file deleted while served was started again
/// as a new, empty service, its log of every acknowledged write overwritten).
fn check_log_has_its_file(path: &Path) -> Result<(), StoreError> {
    let real = real_path(path);
    if real.exists() {
        return Ok(());
    }
    // A server that saw its file deleted copied it beside it: a new file here would start an
    // empty service beside that copy (even with the log emptied meanwhile).
    if let (Some(dir), Some(name)) = (real.parent(), real.file_name()) {
        let mut prefix = name.to_owned();
        prefix.push(".rescued-");
        // The newest, by its seconds.
        let rescued = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let seconds = name
                    .as_encoded_bytes()
                    .strip_prefix(prefix.as_encoded_bytes())
                    .and_then(|rest| std::str::from_utf8(rest).ok())
                    .and_then(|rest| rest.parse::<u64>().ok())?;
                Some((seconds, entry))
            })
            .max_by_key(|(seconds, _)| *seconds)
            .map(|(_, entry)| entry);
        if let Some(copy) = rescued {
            return Err(StoreError::Unavailable(format!(
                "{} does not exist, but {} does: a server copied its database file there when \
                 it found the file gone (deleted or moved); unless the file came back after \
                 that (the server's log then said the copy was out of date), move the copy to \
                 that path and {} (if there) away; else, or to start a new database, move the \
                 copy away",
                path.display(),
                copy.path().display(),
                log_path_of(path).display()
            )));
        }
    }
    let log = log_path_of(path);
    match std::fs::metadata(&log) {
        Ok(metadata) if metadata.len() > 0 => Err(StoreError::Unavailable(format!(
            "{} does not exist, but its write-ahead log {} does ({} bytes): it holds the last \
             commits of a database file moved or deleted while it was served; put the file \
             back beside it, or move the log away and then either move the copy a server makes \
             of a file deleted under it ({}.rescued-…) to that path, or start a new database",
            path.display(),
            log.display(),
            metadata.len(),
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The database file's real path and its serving lock's: a symbolic link to the file takes the
/// same lock, also one to a file not made yet (SQLite creates it through the link).
fn serve_lock_path(path: &Path) -> (PathBuf, PathBuf) {
    let real = real_path(path);
    let mut lock_path = real.as_os_str().to_owned();
    lock_path.push("-serve.lock");
    (real, PathBuf::from(lock_path))
}

/// `path` with every symbolic link resolved; for a file not made yet, the path it will be made
/// at (its directory's real path, after the links that lead to it).
fn real_path(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut current = path.to_owned();
    // As the kernel does, give up on a chain longer than 40 links (a loop).
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&current) else {
            break;
        };
        current = match current.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    let dir = current
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (std::fs::canonicalize(dir), current.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => current,
    }
}

/// Whether a process serves the file `path` now (holds its serving lock).
fn served_elsewhere(path: &Path) -> bool {
    let (_, lock_path) = serve_lock_path(path);
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(lock_path) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Takes the lock that marks `path` as served by this process; it holds while the returned
/// file stays open, and the kernel drops it when the process ends, however it ends.
fn claim_serving(path: &Path) -> Result<std::fs::File, StoreError> {
    let (path, lock_path) = serve_lock_path(path);
    let path = path.as_path();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Other(Box::new(e)))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "another ticketd process is serving {}: one process serves a SQLite file (its \
             caches know only its own writes); stop that one, or serve from several processes \
             over PostgreSQL",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Other(Box::new(e))),
    }
}

/// What a queued write may change, which decides the counters its commit moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteScope {
    /// Inserts a new ticket and rows of its own only (steps' index rows, history, comments,
    /// outbox event, the day's serial counter): counts taken before stay exact up to it.
    NewTicket,
    /// Changes tickets and their own rows (and grants), nothing a token lookup reads.
    Tickets,
    /// Anything, tokens, users, memberships and the directory included.
    Anything,
}

/// A queued write and what it may change.
struct Job {
    run: Box<dyn WriteJob>,
    scope: WriteScope,
    /// Whether its last run succeeded and changed rows: a refused write (a user to delete that
    /// does not exist) changes nothing, and its commit moves no counter.
    changed: bool,
}

impl Job {
    fn new(run: Box<dyn WriteJob>, scope: WriteScope) -> Self {
        Self {
            run,
            scope,
            changed: false,
        }
    }

    /// Runs the job (see [`WriteJob::run`]) and notes whether it changed rows; answers whether
    /// it succeeded.
    fn execute(&mut self, conn: &Connection, own_savepoint: bool) -> bool {
        // Rows changed by triggers count too; a run undone by its savepoint counts as none.
        let before = conn.total_changes();
        let succeeded = self.run.run(conn, own_savepoint);
        self.changed = succeeded && conn.total_changes() != before;
        succeeded
    }
}

/// A queued write as the writer runs it.
trait WriteJob: Send {
    /// Runs the job in the writer's transaction, in a savepoint of its own if `own_savepoint`
    /// (so that a failure undoes its writes only); answers whether it succeeded. A job that may
    /// not run again always takes a savepoint.
    fn run(&mut self, conn: &Connection, own_savepoint: bool) -> bool;
    /// Whether the job may run again after its transaction was rolled back.
    fn may_run_again(&self) -> bool;
    /// Whether its caller stopped waiting (a request timed out and was answered that the write
    /// failed): such a job is not run.
    fn abandoned(&self) -> bool;
    /// Answers the caller: the job's result if the transaction committed, else the error.
    fn answer(self: Box<Self>, commit: Result<(), String>);
}

/// A job's last result and the caller waiting for it.
struct Reply<R> {
    result: Option<Result<R, StoreError>>,
    sender: oneshot::Sender<Result<R, StoreError>>,
}

impl<R> Reply<R> {
    fn new(sender: oneshot::Sender<Result<R, StoreError>>) -> Self {
        Self {
            result: None,
            sender,
        }
    }

    /// Keeps a run's result (a later run replaces it); answers whether it succeeded.
    fn keep(&mut self, result: Result<R, StoreError>) -> bool {
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    /// Answers the caller: the kept result if the transaction committed, else the error.
    fn send(self, commit: Result<(), String>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Unavailable("the write did not run".into())),
            (Err(message), _) => Err(StoreError::Unavailable(message)),
        };
        // The caller may have gone away (request cancelled); nothing to do then.
        let _ = self.sender.send(answer);
    }
}

/// A job that runs at most once (its closure may consume what it captured).
struct OnceJob<R, F> {
    job: Option<F>,
    reply: Reply<R>,
}

impl<R, F> WriteJob for OnceJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection, _own_savepoint: bool) -> bool {
        match self.job.take() {
            Some(job) => self.reply.keep(in_savepoint(conn, job)),
            None => self.reply.result.as_ref().is_some_and(Result::is_ok),
        }
    }

    fn abandoned(&self) -> bool {
        self.reply.sender.is_closed()
    }

    fn may_run_again(&self) -> bool {
        false
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        self.reply.send(commit);
    }
}

/// A job that may run again: its closure only borrows what it captured.
struct RepeatableJob<R, F> {
    job: F,
    reply: Reply<R>,
}

impl<R, F> WriteJob for RepeatableJob<R, F>
where
    R: Send + 'static,
    F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection, own_savepoint: bool) -> bool {
        let result = if own_savepoint {
            in_savepoint(conn, &self.job)
        } else {
            (self.job)(conn)
        };
        self.reply.keep(result)
    }

    fn abandoned(&self) -> bool {
        self.reply.sender.is_closed()
    }

    fn may_run_again(&self) -> bool {
        true
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        self.reply.send(commit);
    }
}

/// Runs one statement without parameters, prepared once per connection: the writer runs its
/// `BEGIN`, `COMMIT` and savepoint statements for every batch, and `execute_batch` parsed them
/// again each time.
fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `job` in a savepoint, rolled back if the job fails.
fn in_savepoint<R>(
    conn: &Connection,
    job: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    execute_cached(conn, "SAVEPOINT job").map_err(db_err)?;
    let result = job(conn);
    if result.is_err() {
        execute_cached(conn, "ROLLBACK TO job").map_err(db_err)?;
    }
    execute_cached(conn, "RELEASE job").map_err(db_err)?;
    result
}

/// Commit counters the writer increases before it answers anyone.
#[derive(Default)]
struct Epochs {
    /// Every commit: anything derived from the data at one epoch (a list count) is exact while
    /// the epoch stays the same.
    data: AtomicU64,
    /// Every commit with a write of [`WriteScope::Anything`]: a token lookup (token, owner,
    /// memberships, directory generation) is exact while this stays the same.
    identity: AtomicU64,
}

impl Epochs {
    /// Another process committed to the file: everything kept by either epoch is read again.
    fn external_commit(&self) {
        self.data.fetch_add(1, Ordering::Release);
        self.identity.fetch_add(1, Ordering::Release);
    }
}

/// How often a serving store looks for commits another process made to its file while its own
/// writer is idle; while it writes, the writer looks before each batch.
///
/// One-off commands run beside the server (`user create`, `token create`, `access-key create`,
/// and the admin password or token a start applies through one of them) commit on connections
/// of their own, which the writer's epochs never counted: until 2026-12-07 the server kept
/// serving a token such a command revoked, admin's ended sessions, and a directory without the
/// organization administrator it added, until its own next write of users or tokens.
pub(crate) const EXTERNAL_COMMITS_POLL: Duration = Duration::from_millis(50);

/// The connection's `PRAGMA data_version`, which changes when another connection (another
/// process's included) commits to the file, and not with the connection's own commits.
fn data_version(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .ok()
}

/// A look for other processes' commits, queued like a write so that the writer looks with its
/// own connection, whose version its own commits leave unchanged (a connection of the watch's
/// own saw every commit of the writer too, and could not tell them apart). Never run: the writer
/// drops it as it drops a write whose caller gave up, after its look before every batch.
struct Look;

impl WriteJob for Look {
    fn run(&mut self, _conn: &Connection, _own_savepoint: bool) -> bool {
        true
    }

    fn may_run_again(&self) -> bool {
        true
    }

    fn abandoned(&self) -> bool {
        true
    }

    fn answer(self: Box<Self>, _commit: Result<(), String>) {}
}

/// Starts the thread that asks the writer to look for other processes' commits every
/// [`EXTERNAL_COMMITS_POLL`]; it ends with the store (once the writer's queue is closed).
fn watch_external_commits(writer: &mpsc::Sender<Job>) -> Result<(), StoreError> {
    let writer = writer.downgrade();
    std::thread::Builder::new()
        .name("ticketd-sqlite-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EXTERNAL_COMMITS_POLL);
                let Some(writer) = writer.upgrade() else {
                    return;
                };
                // A full queue is a busy writer, which looks before each batch anyway.
                let _ = writer.try_send(Job::new(Box::new(Look), WriteScope::Tickets));
            }
        })
        .map_err(|e| StoreError::Other(Box::new(e)))?;
    Ok(())
}

/// Makes every commit so far durable: an fsync of the write-ahead log (a stand-in in tests).
type LogSync = Box<dyn FnMut() -> std::io::Result<()> + Send>;

pub(crate) struct Pool {
    epochs: Arc<Epochs>,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Reader>>,
    reader_permits: Arc<Semaphore>,
    /// Held open for its lock while this store serves the file (`SqliteOptions::serving`).
    _serving_lock: Option<std::fs::File>,
    /// The device and inode of the file opened, to tell at shutdown whether its path still
    /// names it.
    opened_file: Option<(u64, u64)>,
    /// The files a serving store watches (`None` for a one-off command's).
    served: Option<Arc<ServedFiles>>,
    /// Set once an fsync of the log failed (see `LogSyncer`).
    log_sync_failed: Option<Arc<std::sync::OnceLock<String>>>,
    /// What the store was opened with: the acquire timeout of every request, and the settings
    /// of the connection that empties the log at shutdown.
    options: SqliteOptions,
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

/// The answer of a statement that changes the one row its key names, from the rows it changed:
/// none is `NotFound`.
pub(crate) fn one_row(changed: usize) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
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
        rusqlite::Error::SqliteFailure(code, message)
            if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::Reference {
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
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=ON; PRAGMA cache_size=-{cache_kib}; \
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
    register_lower(&conn)?;
    Ok(conn)
}

/// Registers [`crate::tickets::LOWER_FUNCTION`]: text lowercased letter by letter as Rust
/// does (Unicode's mapping), NULL and other values as NULL.
fn register_lower(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function(
        crate::tickets::LOWER_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).to_lowercase()),
                _ => None,
            })
        },
    )
    .map_err(db_err)
}

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

/// Applies missing migrations; returns how many ran.
pub(crate) fn migrate(conn: &Connection) -> Result<usize, StoreError> {
    // Another application's database (a mistyped path): ticketd's tables would be created
    // among its own, or the first migration fail half-way on a name both use, leaving
    // `schema_migrations` behind (until 2026-12-07). Nothing is written to it.
    let foreign: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' \
             ESCAPE '!' AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = \
             'schema_migrations') ORDER BY name LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(db_err)?;
    if let Some(table) = foreign {
        return Err(StoreError::Other(
            format!(
                "the file holds tables of another application (`{table}`, and no ticketd \
                 schema): name ticketd's own file, or a new one"
            )
            .into(),
        ));
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .map_err(db_err)?;
    let recorded = conn
        .prepare("SELECT version, name FROM schema_migrations")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<(i64, String)>, _>>()
        })
        .map_err(db_err)?;
    let mut applied = 0;
    for (version, name, sql) in migrations_to_apply(MIGRATIONS, &recorded)? {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        // Asked again under the write lock: a one-off command starting beside the server may
        // have applied it since the recorded rows were read.
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
        Self::open_with_log_sync(options, None)
    }

    /// Like [`Pool::open`]; with full durability, `log_sync` (if given) stands in for the fsync
    /// of the write-ahead log.
    fn open_with_log_sync(
        options: &SqliteOptions,
        log_sync: Option<LogSync>,
    ) -> Result<(Arc<Self>, usize), StoreError> {
        // The file is created when missing, its directory not: a mistyped directory would
        // start an empty service (with a new admin) instead of the one meant.
        if let Some(parent) = options
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
        {
            return Err(StoreError::Unavailable(format!(
                "directory {} does not exist: create it first, or name another",
                parent.display()
            )));
        }
        check_one_name(&options.path)?;
        check_log_has_its_file(&options.path)?;
        let serving_lock = if options.serving {
            Some(claim_serving(&options.path)?)
        } else {
            None
        };
        let mut writer_conn = open_connection(options, false)?;
        let opened_file = file_identity(&options.path);
        let migrated = migrate(&writer_conn)?;
        let syncer = match options.durability {
            Durability::Normal => None,
            Durability::Full => {
                // In WAL mode `NORMAL` skips only the log's fsync at each commit (checkpoints
                // still sync the log before copying it and the database file after); the
                // syncer thread makes that fsync before any caller hears of the commit.
                writer_conn
                    .pragma_update(None, "synchronous", "NORMAL")
                    .map_err(db_err)?;
                let sync = match log_sync {
                    Some(sync) => sync,
                    None => fsync_of_log(&options.path)?,
                };
                Some(LogSyncer::start(sync)?)
            }
        };
        let log_sync_failed = syncer.as_ref().map(|syncer| Arc::clone(&syncer.failed));
        let checkpointer = Checkpointer::start(options)?;
        // Replaces SQLite's automatic checkpoint (the same hook) on the writer's connection.
        writer_conn
            .wal_hook(Some(
                move |wal: &mut rusqlite::hooks::Wal, frames: c_int| {
                    checkpointer.after_commit(wal, frames);
                    // An error here would make the COMMIT that has already happened fail.
                    Ok(())
                },
            ))
            .map_err(db_err)?;
        let readers = (0..options.readers.max(1))
            .map(|_| open_reader(options))
            .collect::<Result<Vec<_>, _>>()?;
        let (sender, receiver) = mpsc::channel::<Job>(4096);
        let epochs = Arc::new(Epochs::default());
        let counters = Arc::clone(&epochs);
        let watching = options.serving;
        let busy_timeout = Duration::from_millis(options.busy_timeout_ms.into());
        let served =
            watching.then(|| Arc::new(ServedFiles::new(&options.path, opened_file, busy_timeout)));
        let files = served.clone();
        std::thread::Builder::new()
            .name("ticketd-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, receiver, &counters, syncer, files))
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        if watching {
            watch_external_commits(&sender)?;
        }
        let n_readers = readers.len();
        Ok((
            Arc::new(Self {
                epochs,
                writer: sender,
                readers: Mutex::new(readers),
                reader_permits: Arc::new(Semaphore::new(n_readers)),
                _serving_lock: serving_lock,
                opened_file,
                served,
                log_sync_failed,
                options: options.clone(),
            }),
            migrated,
        ))
    }

    /// Why this store cannot take writes, if it cannot: an fsync of the log failed, or (serving)
    /// the database file or its log is no longer at its path. `/healthz` asks it.
    pub(crate) fn unwritable(&self) -> Option<String> {
        self.log_sync_failed
            .as_ref()
            .and_then(|failed| failed.get().cloned())
            .or_else(|| self.served.as_deref()?.found())
    }

    /// Copies the whole write-ahead log into the database file and empties it (a `TRUNCATE`
    /// checkpoint, on a connection of its own that waits up to the busy timeout for the
    /// writer's last commit, for readers on older snapshots and for a checkpoint running, such
    /// as the checkpointer thread's passes). Until then the log may hold up to
    /// `checkpoint_after_frames` pages (and those written while they are copied), which a copy
    /// of the database file alone would lack, and a start reads it whole (half a second for a
    /// log of the default 131,072 pages on a cold cache). `Unavailable` if the log could not be
    /// emptied; it is kept, and nothing is lost.
    ///
    /// A path that no longer names the file opened (moved or replaced while served) is not
    /// opened: SQLite names the log by the path, so a connection there would take the log for
    /// the other file's (an empty one it created, which lost every commit). The log stays where
    /// it is (SQLite's own closing checkpoint skips a moved file too): the commits are in the
    /// file once it is moved back beside it.
    ///
    /// A store opened for a one-off command leaves the log alone while another process serves
    /// the file: that one copies it, and a copy now would hold its writes back.
    pub(crate) async fn empty_the_log(&self) -> Result<(), StoreError> {
        let options = self.options.clone();
        let opened = self.opened_file;
        tokio::task::spawn_blocking(move || {
            if !names_opened_file(&options.path, opened) {
                return Err(StoreError::Unavailable(format!(
                    "{} no longer names the database file served (it was deleted, moved or \
                     replaced meanwhile), so its log was not emptied through that path; move the \
                     file back before the next start if {} is still there (a deleted one \
                     was copied beside it, `.rescued-…`, when the server saw it gone)",
                    options.path.display(),
                    log_path_of(&options.path).display()
                )));
            }
            // A one-off command beside a server leaves the log to it: emptying it would hold the
            // server's writes back while the copy runs.
            if !options.serving && served_elsewhere(&options.path) {
                return Ok(());
            }
            let conn = open_connection(&options, false)?;
            checkpoint_whole_log(&conn, Duration::from_millis(options.busy_timeout_ms.into()))
        })
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?
    }

    /// The number of commits so far (see [`Epochs::data`]).
    pub(crate) fn write_epoch(&self) -> u64 {
        self.epochs.data.load(Ordering::Acquire)
    }

    /// The number of commits so far that may have changed what a token lookup reads (see
    /// [`Epochs::identity`]).
    pub(crate) fn identity_epoch(&self) -> u64 {
        self.epochs.identity.load(Ordering::Acquire)
    }

    /// Runs `job` in the writer's next transaction; answers after the commit.
    pub(crate) async fn write<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(OnceJob {
            job: Some(job),
            reply: Reply::new(reply),
        });
        self.queue(run, WriteScope::Anything, answer).await
    }

    /// Like [`Pool::write`], for a job that writes tickets and their own rows only, nothing a
    /// token lookup reads (tokens, users, memberships, the directory): token lookups kept in
    /// memory stay exact across its commit. The job may run more than once (see the module's
    /// doc); only its last run's writes are committed.
    pub(crate) async fn write_tickets<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.queue_repeatable(job, WriteScope::Tickets).await
    }

    /// Like [`Pool::write`], for a job that only inserts a new ticket and rows of its own (its
    /// steps' index rows, history, comments, outbox event, the day's serial counter): such
    /// commits leave `change_counter` alone, so counts taken before stay exact up to the new
    /// tickets. The job may run more than once, as for [`Pool::write_tickets`].
    pub(crate) async fn insert_ticket<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.queue_repeatable(job, WriteScope::NewTicket).await
    }

    async fn queue_repeatable<R, F>(&self, job: F, scope: WriteScope) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(RepeatableJob {
            job,
            reply: Reply::new(reply),
        });
        self.queue(run, scope, answer).await
    }

    async fn queue<R>(
        &self,
        run: Box<dyn WriteJob>,
        scope: WriteScope,
        answer: oneshot::Receiver<Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        let job = Job::new(run, scope);
        match tokio::time::timeout(self.options.acquire_timeout, self.writer.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("writer stopped".into())),
            Err(_elapsed) => {
                return Err(StoreError::Unavailable(format!(
                    "the writer's queue stayed full for {:?}",
                    self.options.acquire_timeout
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
        let permit = match tokio::time::timeout(self.options.acquire_timeout, acquire).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("readers closed".into())),
            Err(_elapsed) => {
                return Err(StoreError::Unavailable(format!(
                    "no reader connection was free within {:?}",
                    self.options.acquire_timeout
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

fn writer_loop(
    conn: Connection,
    mut receiver: mpsc::Receiver<Job>,
    epochs: &Epochs,
    syncer: Option<LogSyncer>,
    served: Option<Arc<ServedFiles>>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut version_seen = served.is_some().then(|| data_version(&conn));
    let mut unserved: Option<String> = None;
    let mut looked = Instant::now();
    while let Some(first) = receiver.blocking_recv() {
        if let Some(seen) = &mut version_seen {
            // Another process's commits (see `EXTERNAL_COMMITS_POLL`), looked for before every
            // batch and at every `Look`: the writer's own commits leave its connection's version
            // as it was. A failed look is no change.
            if let Some(version) = data_version(&conn)
                && Some(version) != *seen
            {
                *seen = Some(version);
                epochs.external_commit();
            }
        }
        // A serving store looks at its files (two `stat` calls) at most every
        // `FILES_LOOK_EVERY` while it writes, and at every `Look` (50 ms) while idle. A write
        // in between still lands: in the log the rescue below copies.
        if let Some(files) = served.as_deref()
            && (first.run.abandoned() || looked.elapsed() >= FILES_LOOK_EVERY)
        {
            looked = Instant::now();
            unserved = files.look(&conn);
        }
        if first.run.abandoned() {
            continue;
        }
        batch.push(first);
        take_queued(&mut receiver, &mut batch);
        if let Some(problem) = &unserved {
            answer_all(batch.drain(..), &Err(problem.clone()));
            continue;
        }
        if let Some(failure) = syncer.as_ref().and_then(LogSyncer::failure) {
            answer_all(batch.drain(..), &Err(failure));
            continue;
        }
        // A job that panics (a defect) fails its whole batch, rolled back below, and the
        // writer goes on: were the thread to unwind, every later write would fail until a
        // restart while reads and `/healthz` kept answering.
        let batch_run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_and_commit(&conn, &mut receiver, &mut batch, syncer.as_ref())
        }));
        let commit = batch_run
            .unwrap_or_else(|_panicked| Err("a write panicked (see the log)".to_owned()))
            .inspect_err(|_| {
                // Outside a transaction (BEGIN failed) this fails too, harmlessly.
                let _ = conn.execute_batch("ROLLBACK");
            });
        let commit = match commit {
            Ok(false) => continue,
            Ok(true) => Ok(()),
            Err(message) => Err(message),
        };
        match &commit {
            // Before anyone hears of the commit, so no reader can pair new data with an old epoch.
            Ok(()) => {
                epochs.data.fetch_add(1, Ordering::Release);
                if batch
                    .iter()
                    .any(|job| job.changed && job.scope == WriteScope::Anything)
                {
                    epochs.identity.fetch_add(1, Ordering::Release);
                }
            }
            Err(message) => tracing::error!(error = %message, "sqlite commit failed"),
        }
        match (&commit, &syncer) {
            (Ok(()), Some(syncer)) => syncer.answer_when_durable(std::mem::take(&mut batch)),
            _ => answer_all(batch.drain(..), &commit),
        }
    }
}

/// Writes every commit so far into a new file beside the path, from the writer's connection,
/// which still holds the file served open: a file deleted while served is gone, with every
/// commit, once the process ends (its log alone cannot be replayed onto anything).
fn rescue_a_lost_file(conn: &Connection, files: &ServedFiles) -> bool {
    // Beside the real file, where a start looks for it (through a link, beside the link it
    // was not found).
    let mut rescue = real_path(&files.path).into_os_string();
    rescue.push(format!(
        ".rescued-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    ));
    let rescue = PathBuf::from(rescue);
    match conn.execute("VACUUM INTO ?1", [rescue.to_string_lossy()]) {
        Ok(_) => {
            tracing::warn!(
                copy = %rescue.display(),
                "every commit of the database file served is in this copy: if the file was \
                 moved, move it back instead; if it was deleted, stop ticketd, move the old log \
                 (-wal) and -shm away, and move the copy to the database file's path"
            );
            true
        }
        Err(error) => {
            tracing::error!(%error, copy = %rescue.display(), "the database file served could not be copied; trying again");
            false
        }
    }
}

/// How long one try to save a deleted log's commits may wait for a checkpoint or a reader.
const RESCUE_TRY: Duration = Duration::from_millis(100);

/// How often at most a serving store's writer looks at its file and log while it writes.
const FILES_LOOK_EVERY: Duration = Duration::from_millis(10);

/// Runs `batch` in one transaction (and the jobs taken in while the last log fsync runs) and
/// commits it, moving the change counter if a job changed rows a count may hold; answers
/// whether it committed (not when every caller stopped waiting before it began).
fn run_and_commit(
    conn: &Connection,
    receiver: &mut mpsc::Receiver<Job>,
    batch: &mut Vec<Job>,
    syncer: Option<&LogSyncer>,
) -> Result<bool, String> {
    execute_cached(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    // `BEGIN IMMEDIATE` waits up to the busy timeout for another process's write lock (a
    // one-off command, an operator's `sqlite3`): a caller that gave up meanwhile was answered
    // 503 "try again", and its write made afterwards was made twice once it did (until
    // 2026-12-07). One that gives up while its job runs may still see it made.
    batch.retain(|job| !job.run.abandoned());
    if batch.is_empty() {
        // Nothing to commit: an empty commit would move the epochs (dropping every kept
        // count) and ask the syncer for an fsync.
        return execute_cached(conn, "ROLLBACK")
            .map(|()| false)
            .map_err(|e| e.to_string());
    }
    run_batch(conn, batch, 0)?;
    if let Some(syncer) = syncer {
        hold_while_syncing(conn, receiver, batch, syncer)?;
    }
    let count_change = batch
        .iter()
        .any(|job| job.changed && job.scope != WriteScope::NewTicket);
    if count_change {
        execute_cached(
            conn,
            "UPDATE change_counter SET changes = changes + 1 WHERE id = 1",
        )
        .map_err(|e| e.to_string())?;
    }
    execute_cached(conn, "COMMIT")
        .map(|()| true)
        .map_err(|e| e.to_string())
}

/// Moves the jobs queued now into `batch`, up to [`MAX_BATCH`].
fn take_queued(receiver: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            // Its caller was told the write failed: it is not made afterwards.
            Ok(job) if job.run.abandoned() => {}
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// How long the writer sleeps between two looks at its queue and the syncer while it holds a
/// transaction open.
const HOLD_POLL: Duration = Duration::from_micros(50);

/// Keeps the transaction open while the syncer is still making earlier commits durable, running
/// the jobs that arrive meanwhile in it.
///
/// A commit made while an fsync runs is answered only after the next fsync, which cannot start
/// before the running one ends; committing then instead loses no time for its callers, and every
/// write that arrives meanwhile shares the commit. Each commit writes again the last pages of
/// about twenty B-trees that every opening touches (the ticket table and its indexes, the
/// history, the outbox, the counters), so committing each small batch as it came wrote about 80
/// KB of log per opening; one commit per fsync shares those pages among all the writes the fsync
/// covers.
fn hold_while_syncing(
    conn: &Connection,
    receiver: &mut mpsc::Receiver<Job>,
    batch: &mut Vec<Job>,
    syncer: &LogSyncer,
) -> Result<(), String> {
    while syncer.is_busy() && batch.len() < MAX_BATCH {
        let ran = batch.len();
        take_queued(receiver, batch);
        if batch.len() == ran {
            std::thread::sleep(HOLD_POLL);
        } else {
            run_batch(conn, batch, ran)?;
        }
    }
    Ok(())
}

/// Answers each job's caller with the outcome of its transaction (see [`WriteJob::answer`]).
fn answer_all(jobs: impl IntoIterator<Item = Job>, outcome: &Result<(), String>) {
    for job in jobs {
        job.run.answer(outcome.clone());
    }
}

/// Committed batches waiting for the log's fsync the syncer thread makes before it answers them.
///
/// The writer goes on to its next batch meanwhile, so the disk's wait and the writer's work
/// overlap, and one fsync covers every batch committed while the previous one ran. Readers see
/// a commit a moment before it is durable (as soon as it is made, as with `synchronous=NORMAL`);
/// no write is acknowledged before it is, and a later write is never durable without the earlier
/// ones (the log is appended in commit order and each fsync covers all of it).
struct LogSyncer {
    committed: std::sync::mpsc::SyncSender<Vec<Job>>,
    /// Committed batches handed over whose fsync has not ended.
    unsynced: Arc<AtomicUsize>,
    /// Set for good once an fsync failed: the kernel may have dropped the pages it could not
    /// write, so a later fsync's success would prove nothing, and no write commits any more.
    failed: Arc<std::sync::OnceLock<String>>,
}

/// Committed batches that may wait for the syncer before the writer itself waits.
const MAX_BATCHES_AWAITING_SYNC: usize = 64;

impl LogSyncer {
    fn start(mut sync: LogSync) -> Result<Self, StoreError> {
        let (committed, batches) =
            std::sync::mpsc::sync_channel::<Vec<Job>>(MAX_BATCHES_AWAITING_SYNC);
        let failed = Arc::new(std::sync::OnceLock::<String>::new());
        let failure = Arc::clone(&failed);
        let unsynced = Arc::new(AtomicUsize::new(0));
        let synced = Arc::clone(&unsynced);
        std::thread::Builder::new()
            .name("ticketd-log-sync".into())
            .spawn(move || {
                while let Ok(first) = batches.recv() {
                    let waiting: Vec<Vec<Job>> =
                        std::iter::once(first).chain(batches.try_iter()).collect();
                    // After a failure no fsync can vouch for these batches either.
                    let durable = match failure.get() {
                        Some(failed) => Err(failed.clone()),
                        None => sync().map_err(|e| {
                            let message = format!(
                                "the database could not make its commits durable (fsync of the \
                                 write-ahead log failed: {e}); no write is taken until ticketd \
                                 restarts"
                            );
                            tracing::error!(error = %e, "fsync of the sqlite write-ahead log failed");
                            failure.get_or_init(|| message).clone()
                        }),
                    };
                    // Before the answers: the writer, holding its next commit until now, commits
                    // while they go out.
                    synced.fetch_sub(waiting.len(), Ordering::Release);
                    answer_all(waiting.into_iter().flatten(), &durable);
                }
            })
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        Ok(Self {
            committed,
            unsynced,
            failed,
        })
    }

    /// Whether an fsync is running or committed batches wait for one.
    fn is_busy(&self) -> bool {
        self.unsynced.load(Ordering::Acquire) > 0
    }

    /// Why writes are refused, once an fsync failed.
    fn failure(&self) -> Option<String> {
        self.failed.get().cloned()
    }

    /// Hands a committed batch to the syncer thread, which answers its callers after the fsync.
    fn answer_when_durable(&self, batch: Vec<Job>) {
        self.unsynced.fetch_add(1, Ordering::Release);
        if let Err(std::sync::mpsc::SendError(batch)) = self.committed.send(batch) {
            self.unsynced.fetch_sub(1, Ordering::Release);
            answer_all(batch, &Err("the write-ahead log's syncer stopped".into()));
        }
    }
}

/// The fsync of the write-ahead log of the database at `path`, on a handle of its own.
fn fsync_of_log(path: &Path) -> Result<LogSync, StoreError> {
    let io_err = |e: std::io::Error| StoreError::Other(Box::new(e));
    // Beside the real file (opened through a link, the log was looked for beside the link, and
    // every command failed).
    let log_path = log_path_of(path);
    // The writer has opened the log (the migrations' transactions), so the file exists unless
    // the database has no log file (`:memory:`, where WAL cannot be used).
    let log = std::fs::File::open(&log_path).map_err(|e| {
        io_err(std::io::Error::new(
            e.kind(),
            format!(
                "the write-ahead log {} could not be opened ({e}): the database must be a file",
                Path::new(&log_path).display()
            ),
        ))
    })?;
    // SQLite syncs a new log's directory entry with the log's first fsync, which its commits no
    // longer make; the log stays (and keeps its entry) while any connection is open.
    let dir = log_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err)?;
    Ok(Box::new(move || log.sync_data()))
}

/// Runs a batch's jobs in the open transaction. Savepoints cost: a page that an earlier job of
/// the batch changed is copied into the statement journal before a later job changes it (a
/// sixth of the writer's time under openings, most pages of an opening being shared with
/// others). So a batch of jobs that may run again runs without them, and only if one of its
/// jobs fails is the transaction rolled back and begun again, and every job run again in a
/// savepoint of its own, so that the failing ones fail alone.
///
/// The jobs before `from` have run already in this transaction (a transaction held open while
/// the syncer works takes jobs as they come): if all of the transaction's jobs may run again,
/// a failure among the new ones runs every job again in its own savepoint; otherwise the new
/// ones run in savepoints of their own, so an earlier job that may not run again is kept.
fn run_batch(conn: &Connection, batch: &mut [Job], from: usize) -> Result<(), String> {
    let repeatable = batch.iter().all(|job| job.run.may_run_again());
    if repeatable && batch[from..].iter_mut().all(|job| job.execute(conn, false)) {
        return Ok(());
    }
    let rerun_from = if repeatable {
        conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE")
            .map_err(|e| e.to_string())?;
        0
    } else {
        from
    };
    for job in batch[rerun_from..].iter_mut() {
        job.execute(conn, true);
    }
    Ok(())
}

/// Where a checkpoint stands between the writer and the checkpointer thread.
const CHECKPOINT_IDLE: u8 = 0;
const CHECKPOINT_RUNNING: u8 = 1;
const CHECKPOINT_CAUGHT_UP: u8 = 2;

/// A pass of the checkpointer that finds fewer new frames than this is its last: the writer
/// copies what is left in its next commit, a short pause.
const CHECKPOINT_SMALL_PASS_FRAMES: c_int = 512;

/// The most passes the checkpointer makes for one request from the writer.
const CHECKPOINT_MAX_PASSES: usize = 4;

/// The writer's side of the checkpointer thread, called after each commit with the log's length.
///
/// The thread copies the log back into the database file without blocking the writer or any
/// reader (`PASSIVE`), in passes until few frames are new; the writer then copies the rest in
/// its next commit. That last step matters: SQLite starts the log over (instead of appending)
/// only when a write transaction begins with every frame copied, which under a steady stream of
/// commits a thread of its own never sees. If the log still grows to
/// [`WRITER_CHECKPOINT_FACTOR`] times the threshold, the writer checkpoints itself, as SQLite
/// does by default.
struct Checkpointer {
    state: Arc<std::sync::atomic::AtomicU8>,
    wake: std::sync::mpsc::SyncSender<()>,
    threshold: c_int,
    last_resort: c_int,
}

impl Checkpointer {
    /// Starts the thread, on a connection of its own; it ends when the returned value is dropped
    /// (with the writer's connection, which holds it).
    fn start(options: &SqliteOptions) -> Result<Self, StoreError> {
        let conn = open_connection(options, false)?;
        let state = Arc::new(std::sync::atomic::AtomicU8::new(CHECKPOINT_IDLE));
        let (wake, wakes) = std::sync::mpsc::sync_channel::<()>(1);
        let shared = Arc::clone(&state);
        std::thread::Builder::new()
            .name("ticketd-checkpoint".into())
            .spawn(move || {
                while wakes.recv().is_ok() {
                    checkpoint_in_passes(&conn);
                    shared.store(CHECKPOINT_CAUGHT_UP, Ordering::Release);
                }
            })
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let frames = |n: u32| c_int::try_from(n).unwrap_or(c_int::MAX);
        Ok(Self {
            state,
            wake,
            threshold: frames(options.checkpoint_after_frames),
            last_resort: frames(
                options
                    .checkpoint_after_frames
                    .saturating_mul(WRITER_CHECKPOINT_FACTOR),
            ),
        })
    }

    fn after_commit(&self, wal: &mut rusqlite::hooks::Wal, frames: c_int) {
        let state = self.state.load(Ordering::Acquire);
        match after_commit_step(state, frames, self.threshold, self.last_resort) {
            AfterCommit::Nothing => {}
            AfterCommit::WakeCheckpointer => {
                self.state.store(CHECKPOINT_RUNNING, Ordering::Release);
                if self.wake.try_send(()).is_err() {
                    self.state.store(CHECKPOINT_IDLE, Ordering::Release);
                }
            }
            AfterCommit::CheckpointHere => {
                if let Err(e) = wal.checkpoint() {
                    tracing::warn!(error = %e, frames, "sqlite writer's checkpoint failed");
                }
                if state == CHECKPOINT_CAUGHT_UP {
                    self.state.store(CHECKPOINT_IDLE, Ordering::Release);
                }
            }
        }
    }
}

/// What the writer does about the log after a commit.
#[derive(Debug, PartialEq, Eq)]
enum AfterCommit {
    Nothing,
    WakeCheckpointer,
    CheckpointHere,
}

/// The writer's checkpoint policy, given where the checkpointer stands and the log's length.
fn after_commit_step(
    state: u8,
    frames: c_int,
    threshold: c_int,
    last_resort: c_int,
) -> AfterCommit {
    if frames >= last_resort || state == CHECKPOINT_CAUGHT_UP {
        AfterCommit::CheckpointHere
    } else if state == CHECKPOINT_IDLE && frames >= threshold {
        AfterCommit::WakeCheckpointer
    } else {
        AfterCommit::Nothing
    }
}

/// Passive checkpoints until one finds few new frames (or after a few passes).
fn checkpoint_in_passes(conn: &Connection) {
    let mut copied_up_to: c_int = 0;
    for _ in 0..CHECKPOINT_MAX_PASSES {
        let pass = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            row.get::<_, c_int>(1)
        });
        match pass {
            Ok(log) if log - copied_up_to >= CHECKPOINT_SMALL_PASS_FRAMES => copied_up_to = log,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite checkpoint failed");
                return;
            }
        }
    }
}

/// Parses `sqlite://relative.db`, `sqlite:///absolute.db`, `sqlite:relative.db` or a bare path;
/// in a URL, `%XX` escapes are decoded, a `#` is refused, and the only query understood is `mode=rwc` (create the
/// file when missing, which ticketd always does). Why not, otherwise: a URL naming no file, a
/// query asking for something else (`mode=ro` was ignored and the file migrated), or a path
/// starting with `~/`, which no shell expanded (a directory named `~` was made).
pub fn path_from_url(url: &str) -> Result<PathBuf, String> {
    let in_url = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    if in_url.is_none() && url.contains("://") {
        return Err(format!("{url:?} is no SQLite URL"));
    }
    let rest = in_url.unwrap_or(url);
    let (path, query) = match (in_url.is_some(), rest.split_once('?')) {
        (true, Some((path, query))) => (path, Some(query)),
        _ => (rest, None),
    };
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if pair != "mode=rwc" {
                return Err(format!(
                    "the database URL's {pair:?} is not understood: ticketd opens its file to \
                     read and write, creating it when missing (mode=rwc), and takes no other \
                     parameter"
                ));
            }
        }
    }
    if in_url.is_some() && path.contains('#') {
        return Err(format!(
            "{url:?} holds a # (a URL's fragment, which names no file): write a # in a file's \
             name as %23"
        ));
    }
    let path = if in_url.is_some() {
        percent_decoded(path)?
    } else {
        path.to_owned()
    };
    if path.is_empty() {
        return Err(format!("{url:?} names no file"));
    }
    if path == "~" || path.starts_with("~/") {
        return Err(format!(
            "{path:?} starts with ~, which is expanded by a shell, not here: give the home \
             directory's path"
        ));
    }
    Ok(PathBuf::from(path))
}

/// `text` with its `%XX` escapes decoded; the result must be UTF-8.
fn percent_decoded(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            // Two hex digits: `from_str_radix` alone also takes a sign (`%+5`).
            let hex = text
                .get(at + 1..at + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{text:?} has a % that starts no %XX escape"))?;
            out.push(hex);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    let decoded =
        String::from_utf8(out).map_err(|_not_utf8| format!("{text:?} decodes to no UTF-8 path"))?;
    // A control character (`%0a`) would name a file no one can type or list.
    if decoded.chars().any(char::is_control) {
        return Err(format!("{text:?} decodes to a control character"));
    }
    Ok(decoded)
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
    async fn readers_keep_a_smaller_page_cache_than_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = Pool::open(&SqliteOptions::new(dir.path().join("cache.db"))).unwrap();
        let cache_kib = |conn: &Connection| {
            conn.query_row("PRAGMA cache_size", [], |row| row.get::<_, i64>(0))
                .map_err(db_err)
        };
        let reader = pool.read(move |conn| cache_kib(conn)).await.unwrap();
        let writer = pool.write(move |conn| cache_kib(conn)).await.unwrap();
        assert_eq!(reader, -i64::from(READER_CACHE_KIB));
        assert_eq!(writer, -i64::from(WRITER_CACHE_KIB));
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

    #[tokio::test]
    async fn a_panicking_write_fails_its_batch_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = Pool::open(&SqliteOptions::new(dir.path().join("panic.db"))).unwrap();
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE marks (mark INTEGER)")
                .map_err(db_err)
        })
        .await
        .unwrap();
        let failed = pool
            .write(|conn| -> Result<(), StoreError> {
                conn.execute_batch("INSERT INTO marks VALUES (1)")
                    .map_err(db_err)?;
                panic!("a bug in a write")
            })
            .await;
        assert!(failed.is_err());
        pool.write(|conn| {
            conn.execute_batch("INSERT INTO marks VALUES (2)")
                .map_err(db_err)
        })
        .await
        .unwrap();
        let marks = pool
            .read(|conn| {
                conn.query_row("SELECT group_concat(mark) FROM marks", [], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(db_err)
            })
            .await
            .unwrap();
        assert_eq!(marks, "2", "the panicked write's insert was committed");
    }

    #[test]
    fn the_writer_wakes_the_checkpointer_once_and_copies_only_the_rest_itself() {
        let step = |state, frames| after_commit_step(state, frames, 100, 800);
        assert_eq!(step(CHECKPOINT_IDLE, 99), AfterCommit::Nothing);
        assert_eq!(step(CHECKPOINT_IDLE, 100), AfterCommit::WakeCheckpointer);
        // While the thread copies, commits go on without waking it again or copying.
        assert_eq!(step(CHECKPOINT_RUNNING, 500), AfterCommit::Nothing);
        // Once it has caught up, the writer copies the few frames since, so its next
        // transaction can start the log over.
        assert_eq!(step(CHECKPOINT_CAUGHT_UP, 40), AfterCommit::CheckpointHere);
        assert_eq!(step(CHECKPOINT_CAUGHT_UP, 600), AfterCommit::CheckpointHere);
        // A checkpointer far behind: the writer bounds the log itself, as SQLite does.
        assert_eq!(step(CHECKPOINT_RUNNING, 800), AfterCommit::CheckpointHere);
        assert_eq!(step(CHECKPOINT_IDLE, 900), AfterCommit::CheckpointHere);
    }

    /// The log's length and how much of it is copied into the database, read without copying.
    fn log_status(path: &Path) -> (i64, i64) {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(NOOP)", [], |row| {
            Ok((row.get(1)?, row.get(2)?))
        })
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_past_the_threshold_is_copied_back_by_the_checkpointer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.db");
        let options = SqliteOptions {
            checkpoint_after_frames: 64,
            ..SqliteOptions::new(&path)
        };
        let (pool, _) = Pool::open(&options).unwrap();
        // About 100 pages in one commit: past the threshold, short of the writer's own
        // checkpoint (8 times it) and of SQLite's default (1,000 pages), which this replaces.
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE filler (body BLOB)")
                .map_err(db_err)?;
            for _ in 0..100 {
                conn.execute("INSERT INTO filler VALUES (zeroblob(4000))", [])
                    .map_err(db_err)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let waited = Instant::now();
        loop {
            let (log, copied) = log_status(&path);
            assert!((100..512).contains(&log), "{log} frames in the log");
            if copied == log {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "{copied} of {log} frames copied"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A write that changes no row (a refused one, or a delete that finds nothing) moves neither
    /// `change_counter` nor the identity version; one that changes a row moves both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_writes_that_change_rows_move_the_counters() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, _) = Pool::open(&SqliteOptions::new(dir.path().join("counters.db"))).unwrap();
        spawn_create_rows(&pool).await.unwrap().unwrap();
        let counters = || async {
            let changes = pool
                .read(|conn| {
                    conn.query_row("SELECT changes FROM change_counter", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map_err(db_err)
                })
                .await
                .unwrap();
            (changes, pool.identity_epoch())
        };
        let before = counters().await;
        let refused = pool
            .write(|conn| {
                conn.execute("INSERT INTO rows (id) VALUES (1)", [])
                    .map_err(db_err)?;
                Err::<(), _>(StoreError::NotFound)
            })
            .await;
        assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
        let found_nothing = pool
            .write(|conn| {
                conn.execute("DELETE FROM rows WHERE id = 7", [])
                    .map_err(db_err)
            })
            .await;
        assert_eq!(found_nothing.unwrap(), 0);
        let untouched = pool
            .write_tickets(|conn| {
                conn.execute("UPDATE rows SET id = 9 WHERE id = 8", [])
                    .map_err(db_err)
            })
            .await;
        assert_eq!(untouched.unwrap(), 0);
        assert_eq!(counters().await, before);
        assert_eq!(rows_in(&pool).await, 0);
        spawn_insert(&pool, 3, false).await.unwrap().unwrap();
        let after = counters().await;
        assert_eq!(after.0, before.0 + 1);
        assert!(after.1 > before.1, "{after:?} {before:?}");
        spawn_insert(&pool, 4, true).await.unwrap().unwrap();
        let (changes, identity) = counters().await;
        assert_eq!(changes, after.0 + 1);
        assert_eq!(
            identity, after.1,
            "a ticket write leaves the identity version alone"
        );
    }

    /// The ids in the test table `rows`.
    async fn ids_in(pool: &Arc<Pool>) -> Vec<i64> {
        pool.read(|conn| {
            let mut statement = conn.prepare("SELECT id FROM rows").map_err(db_err)?;
            let rows = statement.query_map([], |row| row.get(0)).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queued_write_whose_caller_gave_up_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abandoned.db");
        let (pool, _) = Pool::open(&SqliteOptions::new(&path)).unwrap();
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY)")
                .map_err(db_err)
        })
        .await
        .unwrap();
        let (started, is_running) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.write(move |_conn| {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                    Ok(())
                })
                .await
            })
        };
        is_running.recv().unwrap();
        // Queued behind the held writer, each caller gives up (a request timed out).
        for (id, repeatable) in [(1, false), (2, true)] {
            let insert = move |conn: &Connection| {
                conn.execute("INSERT INTO rows (id) VALUES (?1)", [id])
                    .map(|_| ())
                    .map_err(db_err)
            };
            let gave_up = if repeatable {
                tokio::time::timeout(Duration::from_millis(50), pool.write_tickets(insert)).await
            } else {
                tokio::time::timeout(Duration::from_millis(50), pool.write(insert)).await
            };
            assert!(gave_up.is_err());
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        pool.write(|conn| {
            conn.execute("INSERT INTO rows (id) VALUES (3)", [])
                .map(|_| ())
                .map_err(db_err)
        })
        .await
        .unwrap();
        assert_eq!(ids_in(&pool).await, vec![3]);

        // Taken from the queue, then held at `BEGIN IMMEDIATE` by another connection's write
        // lock until its caller gave up: not made either.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let insert = |conn: &Connection| {
            conn.execute("INSERT INTO rows (id) VALUES (4)", [])
                .map(|_| ())
                .map_err(db_err)
        };
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), pool.write_tickets(insert)).await;
        assert!(gave_up.is_err());
        other.execute_batch("COMMIT").unwrap();
        pool.write(|_conn| Ok(())).await.unwrap();
        assert_eq!(ids_in(&pool).await, vec![3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_ticket_write_is_rolled_back_alone_and_the_others_commit_once() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.db");
        let (pool, _) = Pool::open(&SqliteOptions::new(&path)).unwrap();
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY)")
                .map_err(db_err)
        })
        .await
        .unwrap();
        // Queues jobs, in order, that insert a row each and fail after inserting when `fails`,
        // while a job holds the writer, so that they go together in one batch once released.
        let queue_batch = |rows: Vec<(i64, bool)>| {
            let pool = Arc::clone(&pool);
            async move {
                let (started, is_running) = std::sync::mpsc::channel::<()>();
                let (release, released) = std::sync::mpsc::channel::<()>();
                let holder = {
                    let pool = Arc::clone(&pool);
                    tokio::spawn(async move {
                        pool.write(move |_conn| {
                            started.send(()).unwrap();
                            released.recv().unwrap();
                            Ok(())
                        })
                        .await
                    })
                };
                is_running.recv().unwrap();
                let mut jobs = Vec::new();
                for (id, fails) in rows {
                    let runs = Arc::new(AtomicUsize::new(0));
                    let counted = Arc::clone(&runs);
                    let queued_before = pool.writer.capacity();
                    let answer = {
                        let pool = Arc::clone(&pool);
                        tokio::spawn(async move {
                            pool.write_tickets(move |conn| {
                                counted.fetch_add(1, Ordering::Relaxed);
                                conn.execute("INSERT INTO rows (id) VALUES (?1)", [id])
                                    .map_err(db_err)?;
                                if fails {
                                    return Err(StoreError::VersionConflict);
                                }
                                Ok(id)
                            })
                            .await
                        })
                    };
                    let waited = Instant::now();
                    while pool.writer.capacity() == queued_before {
                        assert!(waited.elapsed() < Duration::from_secs(10), "never queued");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    jobs.push((runs, fails, answer));
                }
                release.send(()).unwrap();
                holder.await.unwrap().unwrap();
                jobs
            }
        };
        let rows_now = |pool: Arc<Pool>| async move {
            pool.read(|conn| {
                let mut statement = conn
                    .prepare("SELECT id FROM rows ORDER BY id")
                    .map_err(db_err)?;
                let ids = statement
                    .query_map([], |row| row.get::<_, i64>(0))
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(db_err)?;
                Ok(ids)
            })
            .await
            .unwrap()
        };
        for (rows, expected_runs, expected_rows) in [
            // All succeed: each runs once, without savepoints.
            (
                vec![(1, false), (2, false), (3, false)],
                vec![1, 1, 1],
                vec![1, 2, 3],
            ),
            // The second fails after writing: the batch is rolled back and run again, each job
            // in a savepoint (the third had not run yet), and only the failing one's row is gone.
            (
                vec![(4, false), (5, true), (6, false)],
                vec![2, 2, 1],
                vec![1, 2, 3, 4, 6],
            ),
        ] {
            let mut runs = Vec::new();
            for (ran, fails, answer) in queue_batch(rows).await {
                let answer = answer.await.unwrap();
                assert_eq!(answer.is_err(), fails, "{answer:?}");
                runs.push(ran.load(Ordering::Relaxed));
            }
            assert_eq!(runs, expected_runs);
            assert_eq!(rows_now(Arc::clone(&pool)).await, expected_rows);
        }
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

    /// A pool whose log "fsync" takes its outcome from the returned sender, one per call, and
    /// counts its calls.
    fn pool_with_held_sync(
        path: &Path,
    ) -> (
        Arc<Pool>,
        std::sync::mpsc::Sender<std::io::Result<()>>,
        Arc<AtomicU64>,
    ) {
        let (outcomes, next_outcome) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let calls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let sync: LogSync = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            next_outcome
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("test ended")))
        });
        let (pool, _) = Pool::open_with_log_sync(&SqliteOptions::new(path), Some(sync)).unwrap();
        (pool, outcomes, calls)
    }

    async fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let waited = Instant::now();
        while !condition() {
            assert!(waited.elapsed() < Duration::from_secs(10), "never: {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn rows_in(pool: &Arc<Pool>) -> i64 {
        pool.read(|conn| {
            conn.query_row("SELECT count(*) FROM rows", [], |r| r.get(0))
                .map_err(db_err)
        })
        .await
        .unwrap()
    }

    /// Inserts `id` into the test table `rows` as a ticket write (`runs_again`: a closure that
    /// may run again) or as a write that runs once.
    fn spawn_insert(
        pool: &Arc<Pool>,
        id: i64,
        runs_again: bool,
    ) -> tokio::task::JoinHandle<Result<usize, StoreError>> {
        let pool = Arc::clone(pool);
        let insert = move |conn: &Connection| {
            conn.execute("INSERT INTO rows (id) VALUES (?1)", [id])
                .map_err(db_err)
        };
        tokio::spawn(async move {
            if runs_again {
                pool.write_tickets(insert).await
            } else {
                pool.write(insert).await
            }
        })
    }

    /// Creates the test table `rows` (a write that runs once).
    fn spawn_create_rows(pool: &Arc<Pool>) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let pool = Arc::clone(pool);
        tokio::spawn(async move {
            pool.write(|conn| {
                conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY)")
                    .map_err(db_err)
            })
            .await
        })
    }

    /// Writes that join a transaction held open during a sync still fail alone: a failing
    /// write after others that may run again has them all run again in savepoints, and after
    /// one that may not (it ran in a savepoint of its own) it fails in its own savepoint.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_failing_in_a_held_transaction_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, outcomes, syncs) = pool_with_held_sync(&dir.path().join("held.db"));
        let insert = |id: i64| spawn_insert(&pool, id, true);
        let create = spawn_create_rows(&pool);
        wait_until("the first sync", || syncs.load(Ordering::SeqCst) == 1).await;
        outcomes.send(Ok(())).unwrap();
        create.await.unwrap().unwrap();

        for (held_sync, runs_again) in [(2u64, true), (4, false)] {
            let base = i64::try_from(held_sync).unwrap() * 100;
            let opening = insert(base);
            wait_until("a held sync", || syncs.load(Ordering::SeqCst) == held_sync).await;
            let base = base + 10;
            let earlier = spawn_insert(&pool, base, runs_again);
            // Let the earlier write run in the held transaction before the failing one comes.
            tokio::time::sleep(Duration::from_millis(30)).await;
            let duplicate = insert(base);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let after = insert(base + 1);
            tokio::time::sleep(Duration::from_millis(30)).await;
            outcomes.send(Ok(())).unwrap();
            opening.await.unwrap().unwrap();
            wait_until("the sync of the held commit", || {
                syncs.load(Ordering::SeqCst) == held_sync + 1
            })
            .await;
            outcomes.send(Ok(())).unwrap();
            assert_eq!(
                earlier.await.unwrap().unwrap(),
                1,
                "runs again: {runs_again}"
            );
            assert!(
                duplicate.await.unwrap().is_err(),
                "runs again: {runs_again}"
            );
            assert_eq!(after.await.unwrap().unwrap(), 1, "runs again: {runs_again}");
        }
        let ids: Vec<i64> = pool
            .read(|conn| {
                conn.prepare("SELECT id FROM rows ORDER BY id")
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                    .map_err(db_err)
            })
            .await
            .unwrap();
        assert_eq!(ids, vec![200, 210, 211, 400, 410, 411]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_are_answered_after_the_log_sync_and_those_arriving_meanwhile_share_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, outcomes, syncs) = pool_with_held_sync(&dir.path().join("sync.db"));
        let insert = |id: i64| spawn_insert(&pool, id, true);
        let create = spawn_create_rows(&pool);
        wait_until("the first sync", || syncs.load(Ordering::SeqCst) == 1).await;
        // Committed (readers see it) but not answered while its sync is held.
        assert_eq!(rows_in(&pool).await, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!create.is_finished(), "answered before the log was synced");
        outcomes.send(Ok(())).unwrap();
        create.await.unwrap().unwrap();

        // A write while the syncer is idle is committed at once; two more queued one after
        // another while its sync is held run in a transaction the writer keeps open until that
        // sync ends (their own sync could not start earlier), then share one commit and one
        // sync, and are answered only once it succeeds.
        let first = insert(1);
        wait_until("the second sync", || syncs.load(Ordering::SeqCst) == 2).await;
        assert_eq!(rows_in(&pool).await, 1);
        let commits_before = pool.write_epoch();
        let later: Vec<_> = (2..=3).map(insert).collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            rows_in(&pool).await,
            1,
            "committed while a sync was running"
        );
        assert!(!first.is_finished() && later.iter().all(|w| !w.is_finished()));
        outcomes.send(Ok(())).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        wait_until("the third sync", || syncs.load(Ordering::SeqCst) == 3).await;
        assert_eq!(rows_in(&pool).await, 3);
        assert_eq!(
            pool.write_epoch(),
            commits_before + 1,
            "one commit for both"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            later.iter().all(|w| !w.is_finished()),
            "answered before their sync"
        );
        outcomes.send(Ok(())).unwrap();
        for write in later {
            assert_eq!(write.await.unwrap().unwrap(), 1);
        }
        assert_eq!(syncs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_database_without_a_log_file_is_refused_with_the_reason() {
        let error = Pool::open(&SqliteOptions::new(":memory:"))
            .expect_err("an in-memory database has no log to sync");
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert!(
            message.contains("write-ahead log ") && message.contains(":memory:-wal"),
            "{message}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_log_sync_fails_its_writes_and_every_later_write() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, outcomes, syncs) = pool_with_held_sync(&dir.path().join("failed.db"));
        assert_eq!(pool.unwritable(), None);
        outcomes.send(Ok(())).unwrap();
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY)")
                .map_err(db_err)
        })
        .await
        .unwrap();
        outcomes
            .send(Err(std::io::Error::other("the disk went away")))
            .unwrap();
        let failed = pool
            .write_tickets(|conn| {
                conn.execute("INSERT INTO rows (id) VALUES (1)", [])
                    .map_err(db_err)
            })
            .await;
        match failed {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("the disk went away"), "{message}");
            }
            other => panic!("expected a sync failure, got {other:?}"),
        }
        let ran = Arc::new(AtomicBool::new(false));
        let marked = Arc::clone(&ran);
        let refused = pool
            .write(move |_conn| {
                marked.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(
            !ran.load(Ordering::SeqCst),
            "a write ran after a failed sync"
        );
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
        // `/healthz` says so (it answered ok while every write failed until a restart).
        let unwritable = pool.unwritable().unwrap_or_default();
        assert!(unwritable.contains("the disk went away"), "{unwritable}");
    }
}
