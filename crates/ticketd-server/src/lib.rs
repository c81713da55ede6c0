//! The ticketd server: opens the store, builds the engine and the dialect routers, and serves them.

pub mod bench;
pub mod config;

use anyhow::{Context, bail};
use axum::Router;
use config::Config;
use std::future::Future;
use std::sync::Arc;
use ticketd_core::engine::{BootstrapOptions, BootstrapOutcome, Engine, EngineSettings, Entropy};
use ticketd_core::store::Store;
use ticketd_http::{AppState, HttpSettings};
use ticketd_store_postgres::{PostgresOptions, PostgresStore};
use ticketd_store_sqlite::{Durability, SqliteOptions, SqliteStore};
use tokio::net::TcpListener;

/// Random bytes from the operating system.
#[derive(Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // The OS random source does not fail on supported platforms; if it ever did, serving
        // with predictable ids or secrets would be worse than stopping.
        #[allow(
            clippy::expect_used,
            reason = "documented startup invariant: the OS RNG works"
        )]
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }

    /// Ids take their bytes from a per-thread buffer refilled by one system call for about 50
    /// ids: a `getrandom` call per id (four ids per transition) was about 2% of the tokio
    /// workers' samples under openings.
    fn fill_id(&self, buf: &mut [u8]) {
        ID_RANDOMNESS.with_borrow_mut(|drawn| drawn.take_into(buf, |refill| self.fill(refill)));
    }
}

/// Bytes drawn from the OS ahead of the ids that will use them; each byte is handed out once.
struct DrawnAhead {
    bytes: [u8; 512],
    used: usize,
}

impl DrawnAhead {
    fn take_into(&mut self, buf: &mut [u8], refill: impl Fn(&mut [u8])) {
        if buf.len() > self.bytes.len() {
            refill(buf);
            return;
        }
        if self.bytes.len() - self.used < buf.len() {
            refill(&mut self.bytes);
            self.used = 0;
        }
        let end = self.used + buf.len();
        buf.copy_from_slice(&self.bytes[self.used..end]);
        self.used = end;
    }
}

thread_local! {
    // Starts used up, so the first id of a thread draws the buffer.
    static ID_RANDOMNESS: std::cell::RefCell<DrawnAhead> = const {
        std::cell::RefCell::new(DrawnAhead { bytes: [0; 512], used: 512 })
    };
}

/// Opens the store named by the configuration's URL scheme (`sqlite://…` or a bare path,
/// `postgres://…`) for a one-off command, migrating it; returns it with the number of
/// migrations applied.
pub async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn Store>, usize)> {
    open_store_as(config, false).await
}

/// Opens the store as [`open_store`] does, to serve it: a SQLite file is then refused while
/// another process serves it (`SqliteOptions::serving`).
pub async fn open_serving_store(config: &Config) -> anyhow::Result<(Arc<dyn Store>, usize)> {
    open_store_as(config, true).await
}

async fn open_store_as(config: &Config, serving: bool) -> anyhow::Result<(Arc<dyn Store>, usize)> {
    let url = config.database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut options = PostgresOptions::new(url);
        options.pool_size = config.database_pool_size;
        options.acquire_timeout =
            std::time::Duration::from_millis(config.database_acquire_timeout_ms);
        // A statement outliving its request's 503 kept the database busy for nobody.
        options.statement_timeout =
            Some(std::time::Duration::from_secs(config.request_timeout_secs));
        let (store, migrated) = PostgresStore::connect(&options)
            .await
            .with_context(|| format!("could not open PostgreSQL database {}", redact(url)))?;
        return Ok((cached(Arc::new(store)), migrated));
    }
    check_sqlite_url(url)?;
    let path = ticketd_store_sqlite::path_from_url(url).map_err(|why| anyhow::anyhow!(why))?;
    let options = sqlite_options(config, path.clone(), serving);
    let (store, migrated) = SqliteStore::open(&options)
        .with_context(|| format!("could not open SQLite database {}", path.display()))?;
    Ok((cached(Arc::new(store)), migrated))
}

/// Refuses a database URL that is neither PostgreSQL's nor a SQLite file's (`sqlite://…`,
/// `sqlite:…` or a bare path): a mistyped PostgreSQL URL (`postgres:/h/db`, `postgres//h/db`, a
/// `key=value` connection string) or another scheme (`file:x.db`) would otherwise be served as a
/// new, empty SQLite file of that name, with a new admin. The refusal does not repeat the URL,
/// which may hold a password in a form no redaction recognises.
fn check_sqlite_url(url: &str) -> anyhow::Result<()> {
    const LIBPQ_KEYS: [&str; 9] = [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "sslmode",
        "options",
        "application_name",
    ];
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    let lower = url.to_ascii_lowercase();
    let mistyped_postgres = ["postgres:", "postgresql:", "postgres//", "postgresql//"]
        .iter()
        .any(|prefix| lower.starts_with(prefix));
    // `scheme:` before any `/`, the scheme letters only: what a URL starts with, never a file's
    // path as one writes it (`ticketd-2026-01-01T10:00.db` has digits before its colon).
    let first_segment = url.split('/').next().unwrap_or_default();
    let other_scheme = first_segment.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphabetic() || "+.-".contains(c))
    });
    if url.contains("://") || mistyped_postgres || other_scheme {
        bail!(
            "database_url: unknown scheme (expected sqlite://path, sqlite:path, a file's path, \
             or postgres://…)"
        );
    }
    // Any `=` in a bare path: libpq's `key=value` form (spaces around `=` allowed, and keywords
    // beyond these), which no file's name needs.
    let connection_string = url.contains('=')
        || url
            .split_whitespace()
            .any(|part| LIBPQ_KEYS.contains(&part.to_ascii_lowercase().as_str()));
    if connection_string {
        bail!(
            "database_url: a key=value connection string; write it as postgres://user:password@host:port/database"
        );
    }
    Ok(())
}

/// How a SQLite store at `path` is opened under `config`.
fn sqlite_options(config: &Config, path: std::path::PathBuf, serving: bool) -> SqliteOptions {
    let mut options = SqliteOptions::new(path);
    options.serving = serving;
    options.readers = config.sqlite_readers;
    options.acquire_timeout = std::time::Duration::from_millis(config.database_acquire_timeout_ms);
    options.durability = if config.durability == "normal" {
        Durability::Normal
    } else {
        Durability::Full
    };
    // Pages of 4 KiB: 256 log frames to the MiB.
    options.checkpoint_after_frames = config.sqlite_log_mb.saturating_mul(256);
    options
}

/// The store as the server uses it: the directory kept in memory, checked against the store's
/// directory generation on every authenticated request (see `ticketd_core::cache`).
fn cached(store: Arc<dyn Store>) -> Arc<dyn Store> {
    Arc::new(ticketd_core::cache::CachedStore::new(store))
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    ticketd_store_postgres::redact_password(url)
}

/// The engine over `store` with the configured settings.
pub fn engine(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Engine> {
    Ok(Engine::new(
        store,
        Arc::new(OsEntropy),
        EngineSettings {
            time_zone: config.zone()?,
            session_ttl: chrono::Duration::seconds(config.session_ttl_secs),
        },
    ))
}

/// Creates the built-ins and the admin user, applying `TICKETD_ADMIN_PASSWORD`/`TICKETD_ADMIN_TOKEN`.
pub async fn bootstrap(config: &Config, engine: &Engine) -> anyhow::Result<BootstrapOutcome> {
    let options = BootstrapOptions {
        admin_password: config.admin_password.as_ref().map(|s| s.0.clone()),
        admin_token: config.admin_token.as_ref().map(|s| s.0.clone()),
    };
    let outcome = engine
        .bootstrap(options, ticketd_http::now())
        .await
        .context("could not create the built-in organizations and admin")?;
    ticketd_api_tophc::install_default_process(engine)
        .await
        .context("could not install TopHC's default process")?;
    Ok(outcome)
}

/// The shared state of every route.
pub fn app_state(config: &Config, engine: Engine) -> anyhow::Result<AppState> {
    Ok(AppState {
        engine,
        settings: Arc::new(HttpSettings {
            time_zone: config.zone()?,
            body_limit: config.body_limit_bytes,
            json_max_depth: config.json_max_depth,
            max_page_size: config.max_page_size,
            signature_max_skew: chrono::Duration::seconds(config.signature_max_skew_secs),
            request_timeout: std::time::Duration::from_secs(config.request_timeout_secs),
            header_limit: config.header_limit_bytes,
        }),
        limits: Arc::new(ticketd_http::limits::Limits::new(
            config.rate_limit_per_minute,
            config.login_rate_limit_per_minute,
        )),
        rendered: Arc::default(),
    })
}

/// Every route of every dialect, plus `/healthz`.
pub fn router(state: AppState) -> Router {
    ticketd_http::health_router(&state)
        .merge(ticketd_api_tophc::router(&state))
        .merge(ticketd_api_zstack::router(&state))
        .merge(ticketd_api_dataarts::router(&state))
        // JumpServer's router carries the catch-all JSON 404 and 405 fallbacks: merge it last.
        .merge(ticketd_api_jumpserver::router(&state))
        .with_state(state)
        .layer(axum::middleware::from_fn(close_after_an_unread_body))
        // A failed answer is logged where it is made, with its cause and level (an internal
        // error, the store unavailable, a timeout). tower-http's own line only repeated it, as
        // an ERROR even for a client's mistake that ZStack answers 503 by convention.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %loggable_path(request.uri().path()),
                    )
                })
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
}

/// Marks the answer to a request whose body the server did not read to its end (an answer
/// made before it, such as a refused credential or the rate limit's 429) with
/// `Connection: close`: hyper then closes the connection, and a client told so opens a new one
/// for its next request, where without the header it sent that request on the closed
/// connection and failed (`requests` saw a dropped connection about once in 3,000 requests
/// under the rate limit, until 2026-12-07).
async fn close_after_an_unread_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use std::sync::atomic::{AtomicBool, Ordering};
    let announced = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !announced {
        return next.run(request).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(ReadToItsEnd {
        inner: body,
        ended: Arc::clone(&ended),
    });
    let mut response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    if !ended.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that notes when it was read to its end.
struct ReadToItsEnd {
    inner: axum::body::Body,
    ended: Arc<std::sync::atomic::AtomicBool>,
}

impl hyper::body::Body for ReadToItsEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request's path as the request log shows it: without its query, and with the segment after
/// `sessions` masked (ZStack's session routes carry the session, a credential of every dialect,
/// in the path; tower-http's own span logged the whole URI at the debug level).
fn loggable_path(path: &str) -> String {
    let mut masked = Vec::new();
    let mut after_sessions = false;
    for segment in path.split('/') {
        if segment.is_empty() {
            masked.push(segment);
            continue;
        }
        masked.push(if after_sessions { "***" } else { segment });
        // However the client spells it: a route that does not match is logged too.
        after_sessions =
            ticketd_http::query::percent_decode_path(segment).eq_ignore_ascii_case("sessions");
    }
    masked.join("/")
}

/// Limits of the connection layer, below the routers.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionSettings {
    /// A connection that takes longer to send a request head, or idles longer between
    /// requests, is closed.
    pub idle_timeout: std::time::Duration,
    /// Largest request head (request line and headers); larger ones get 431.
    pub header_limit: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: std::time::Duration,
}

impl ConnectionSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            idle_timeout: std::time::Duration::from_secs(config.idle_timeout_secs),
            header_limit: config.header_limit_bytes,
            drain_timeout: std::time::Duration::from_secs(config.request_timeout_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests
/// (for at most `settings.drain_timeout`, or until `stop_now` completes: a second signal, since
/// a client that stalls mid-body would otherwise hold the stop for the whole timeout).
///
/// HTTP/1.1 connections are served by hyper directly (not `axum::serve`) so that the head size
/// limit and the header-read/idle timeout apply: a client that trickles its headers or holds an
/// idle connection open is disconnected instead of holding resources.
pub async fn serve_with_listener(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop_now: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.idle_timeout)
        // The routes refuse a head over the limit in their dialect's format (431); hyper's own
        // refusal, an empty 431, only bounds the buffer of a head far beyond it.
        .max_header_size(settings.header_limit.saturating_mul(4))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: keep serving the
                    // connections we have, and back off briefly so the loop does not spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON answers: send them at once instead of waiting for Nagle's algorithm.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut request = request.map(axum::body::Body::new);
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        drained = tokio::time::timeout(settings.drain_timeout, graceful.shutdown()) => {
            if drained.is_err() {
                tracing::warn!("shutdown: some requests were still running and were cut off");
            }
        }
        () = stop_now => {
            tracing::warn!("shutdown: asked again, so the requests still running were cut off");
        }
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM. Listens from the call on, not from the first poll: a signal
/// that arrives in between still counts instead of killing the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| {
            let stream = signal(kind);
            async move {
                match stream {
                    Ok(mut stream) => {
                        stream.recv().await;
                    }
                    Err(error) => {
                        tracing::error!(%error, signal = name, "could not listen for the signal");
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        (
            listen(SignalKind::interrupt(), "SIGINT"),
            listen(SignalKind::terminate(), "SIGTERM"),
        )
    };
    #[cfg(not(unix))]
    let (interrupt, terminate) = (
        async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "could not listen for SIGINT");
                std::future::pending::<()>().await;
            }
        },
        std::future::pending::<()>(),
    );
    async move {
        tokio::select! {
            () = interrupt => {},
            () = terminate => {},
        }
        tracing::info!("shutting down");
    }
}

#[cfg(test)]
mod url_tests {
    use super::{check_sqlite_url, loggable_path};

    #[test]
    fn the_request_log_masks_sessions_in_paths() {
        assert_eq!(
            loggable_path("/zstack/v1/accounts/sessions/0123abcd/valid"),
            "/zstack/v1/accounts/sessions/***/valid"
        );
        assert_eq!(
            loggable_path("/zstack/v1/accounts/sessions/0123abcd"),
            "/zstack/v1/accounts/sessions/***"
        );
        assert_eq!(
            loggable_path("/api/v1/tickets/tickets/"),
            "/api/v1/tickets/tickets/"
        );
        for spelled in [
            "/zstack/v1/accounts/sessions//tok/valid",
            "/zstack/v1/accounts/%73essions/tok",
            "/zstack/v1/accounts/Sessions/tok",
        ] {
            assert!(!loggable_path(spelled).contains("tok"), "{spelled}");
        }
        assert_eq!(loggable_path("/a/%zz/%4"), "/a/%zz/%4");
    }

    #[test]
    fn only_sqlite_files_and_postgresql_urls_are_databases() {
        for accepted in [
            "sqlite://ticketd.db",
            "sqlite:///var/lib/t.db",
            "sqlite:data/t.db?mode=rwc",
            "ticketd.db",
            "/var/lib/ticketd/t.db",
            "./data/t.db",
            "data/my db.sqlite",
            "postgres.db",
            "postgres-mirror.sqlite",
            "postgres/ticketd.db",
            "ticketd-2026-01-01T10:00.db",
        ] {
            assert!(check_sqlite_url(accepted).is_ok(), "{accepted}");
        }
        for refused in [
            "postgres:/postgres:S3cret@127.0.0.1:5432/db",
            "postgres//postgres:S3cret@127.0.0.1:5432/db",
            "PostgreSQL:/h/db",
            "mysql://h/db",
            "file:x4.db",
            "host=127.0.0.1 user=postgres password=S3cret dbname=db",
            "dbname=ticketd",
            "host = db dbname = ticketd",
            "service=prod connect_timeout=5",
        ] {
            let error = check_sqlite_url(refused).unwrap_err().to_string();
            assert!(!error.contains("S3cret"), "{error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, OsEntropy, sqlite_options};
    use std::collections::HashSet;
    use ticketd_core::engine::Entropy;

    /// `sqlite_log_mb` sets the checkpointer's threshold, and its default is the store's own.
    #[test]
    fn the_sqlite_log_size_is_the_checkpointer_s_threshold_in_pages() {
        let default = sqlite_options(&Config::default(), "a.db".into(), true);
        let store_default = ticketd_store_sqlite::SqliteOptions::new("a.db");
        assert_eq!(default.checkpoint_after_frames, 131_072);
        assert_eq!(
            default.checkpoint_after_frames,
            store_default.checkpoint_after_frames
        );
        let small = Config {
            sqlite_log_mb: 4,
            ..Config::default()
        };
        assert_eq!(
            sqlite_options(&small, "a.db".into(), true).checkpoint_after_frames,
            1_024
        );
    }

    /// Ids drawn ahead come out different every time, across many refills of the buffer, and
    /// from threads of their own.
    #[test]
    fn ids_drawn_ahead_are_never_handed_out_twice() {
        let draw = || {
            (0..5_000)
                .map(|_| {
                    let mut id = [0u8; 10];
                    OsEntropy.fill_id(&mut id);
                    id
                })
                .collect::<Vec<_>>()
        };
        let other_thread = std::thread::spawn(draw);
        let mut seen: HashSet<[u8; 10]> = draw().into_iter().collect();
        assert_eq!(seen.len(), 5_000);
        seen.extend(other_thread.join().unwrap());
        assert_eq!(seen.len(), 10_000);
        assert!(!seen.contains(&[0u8; 10]));
    }

    /// A request longer than the buffer is filled straight from the OS.
    #[test]
    fn a_long_request_is_filled_in_full() {
        let mut long = [0u8; 2_048];
        OsEntropy.fill_id(&mut long);
        assert!(long[1_536..].iter().any(|b| *b != 0));
    }
}
