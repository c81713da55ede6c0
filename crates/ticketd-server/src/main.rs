//! The `ticketd` command: serve, migrate, default-config, healthcheck, and user/token/key admin.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole, TokenKind};
use ticketd_server::config::{Config, DEFAULT_CONFIG_TOML, Overrides};

/// ticketd: one ticket-approval engine speaking the JumpServer, TopHC, ZStack and DataArts APIs.
#[derive(Debug, Parser)]
#[command(name = "ticketd", version, about)]
struct Cli {
    /// TOML configuration file (also TICKETD_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://ticketd.db (default), sqlite:///abs/path.db (also TICKETD_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server (migrations run first).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (also TICKETD_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a commented configuration file with every default.
    DefaultConfig,
    /// Check that a running server answers GET /healthz (exit 0 when healthy).
    Healthcheck {
        /// Address of the server (default: the configured listen address).
        #[arg(long, value_name = "ADDR")]
        addr: Option<String>,
    },
    /// Preload a store, start a server on it and measure the HTTP scenarios with the built-in
    /// settings (see BENCHMARKS.md): --config is refused, and the server takes no TICKETD_*
    /// variable (the database is --database-url or TICKETD_DATABASE_URL).
    Bench(BenchArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage access keys for HTTP Signature authentication.
    #[command(subcommand, name = "access-key")]
    AccessKey(AccessKeyCommand),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Tickets to preload through the store.
    #[arg(long, default_value_t = 100_000)]
    tickets: usize,
    /// Concurrent HTTP connections per scenario.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Scenarios to run (comma-separated: open, approve, awaiting-me, filtered, detail, mixed); all by default.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (member of Default unless --org is given).
    Create(UserCreate),
}

#[derive(Debug, Args)]
struct UserCreate {
    /// Login name.
    #[arg(long)]
    username: String,
    /// Display name (defaults to the username).
    #[arg(long)]
    name: Option<String>,
    /// E-mail address.
    #[arg(long, default_value = "")]
    email: String,
    /// System role: admin, auditor or user.
    #[arg(long, default_value = "user")]
    role: String,
    /// Read the password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
    /// Organization (id or name) to join as member; repeatable. Append `:admin` to join as org
    /// admin (refused as ambiguous where both `X` and `X:admin` name organizations: use ids).
    #[arg(long = "org", value_name = "ORG[:admin]")]
    orgs: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it once.
    Create {
        /// The user.
        #[arg(long)]
        username: String,
        /// Lifetime in hours, at most 876600 (100 years); default: no expiry.
        #[arg(long, allow_negative_numbers = true)]
        ttl_hours: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum AccessKeyCommand {
    /// Create an access key for a user and print its id and secret once.
    Create {
        /// The user.
        #[arg(long)]
        username: String,
    },
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("TICKETD_"))
        .collect()
}

fn load_config(cli: &Cli, listen: Option<String>) -> anyhow::Result<Config> {
    let env = environment();
    let file = cli
        .config
        .clone()
        .or_else(|| env.get("TICKETD_CONFIG").map(PathBuf::from));
    let (config, warnings) = Config::load(
        file.as_deref(),
        &env,
        &Overrides {
            listen,
            database_url: cli.database_url.clone(),
        },
    )?;
    init_logging(&config.log);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

fn init_logging(filter: &str) {
    use tracing_subscriber::util::SubscriberInitExt;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A second initialisation (never in practice) is harmless; ignore its error.
    let _ = log_subscriber(filter, ansi).try_init();
}

/// The logger: `filter` (the `log` setting), but never below `info` for the PostgreSQL client,
/// whatever the setting asks: at `debug` it logs every statement's parameters, which hold
/// access-key secrets, password verifiers and token digests (SECURITY.md: secrets are never
/// logged).
fn log_subscriber(filter: &str, ansi: bool) -> impl tracing::Subscriber + Send + Sync {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The setting's own ceiling for everything else: a cap of TRACE would lift the level up to
    // which events (and the `log` records of the PostgreSQL client) are built before filtering.
    let ceiling = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let no_statement_parameters = tracing_subscriber::filter::Targets::new()
        .with_default(ceiling)
        .with_target("tokio_postgres", LevelFilter::INFO.min(ceiling));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .finish()
        .with(no_statement_parameters)
}

/// mimalloc instead of the system allocator: rendering a page of tickets allocates thousands of
/// small JSON values, and glibc's per-thread arenas spent a quarter of the CPU there and grew the
/// resident set (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Standard error may be closed or full (`eprintln!` panicked there, exit 101):
            // the exit status still tells.
            let _unreported = writeln!(std::io::stderr(), "ticketd: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Fails unless `path` can be written, leaving it as it was: a published bench run takes most
/// of an hour, and its report must not be lost to a mistyped directory at the end.
fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    if !existed {
        // Written at the end of the run; a run that fails leaves nothing behind.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::DefaultConfig => print_out("the configuration", DEFAULT_CONFIG_TOML),
        Command::Serve { listen } => serve(&cli, listen.clone()).await,
        Command::Migrate => {
            let config = load_config(&cli, None)?;
            let (store, migrated) = ticketd_server::open_store(&config).await?;
            close_store(store.as_ref()).await;
            print_out(
                "the outcome",
                &format!(
                    "{migrated} migration(s) applied to {}\n",
                    ticketd_server::redact(&config.database_url)
                ),
            )
        }
        Command::Healthcheck { addr } => {
            let config = load_config(&cli, None)?;
            healthcheck(addr.as_deref().unwrap_or(&config.listen))
        }
        Command::User(UserCommand::Create(args)) => create_user(&cli, args).await,
        Command::Bench(args) => {
            init_logging("warn");
            // Its numbers are ticketd's with the built-in settings (BENCHMARKS.md): a file that
            // would be ignored is refused, as the deployment's TICKETD_* variables are kept from
            // the run's server.
            if cli.config.is_some() {
                bail!(
                    "bench measures ticketd with its built-in settings and reads no configuration \
                     file: leave out --config (the database is --database-url or \
                     TICKETD_DATABASE_URL)"
                );
            }
            let database_url = cli
                .database_url
                .clone()
                .or_else(|| std::env::var("TICKETD_DATABASE_URL").ok());
            let options = ticketd_server::bench::BenchOptions {
                database_url,
                tickets: args.tickets,
                connections: args.connections,
                duration: std::time::Duration::from_secs(args.seconds),
                scenarios: args.scenarios.clone(),
                server_binary: std::env::current_exe()
                    .context("could not find the ticketd binary")?,
            };
            let interrupted = ticketd_server::shutdown_signal();
            if let Some(path) = &args.json {
                check_writable(path)?;
            }
            // Interrupted, the run is dropped: that stops its server and removes its scratch
            // files (a 1M-ticket SQLite file is about 4.5 GB), which dying of the signal left.
            let report = tokio::select! {
                report = ticketd_server::bench::run(options) => report?,
                () = interrupted => {
                    // Now, not when the runtime ends: it would first wait for a measurement
                    // running on a thread of its own (the raw commit loop, for the scenario's
                    // whole length).
                    let _unreported = writeln!(
                        std::io::stderr(),
                        "ticketd: interrupted; the run's server was stopped and its scratch files removed"
                    );
                    std::process::exit(1);
                }
            };
            print_out("the report", &ticketd_server::bench::table(&report))?;
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("could not write {}", path.display()))?;
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            username,
            ttl_hours,
        }) => {
            let engine = one_off_engine(&cli).await?;
            // Hours past chrono's range are longer than any lifetime the engine takes: it says so.
            let ttl =
                ttl_hours.map(|h| chrono::Duration::try_hours(h).unwrap_or(chrono::Duration::MAX));
            let token = closing(&engine, async {
                let user = active_user(&engine, username).await?;
                Ok(engine
                    .issue_token(user, TokenKind::Api, ttl, ticketd_http::now())
                    .await?)
            })
            .await?;
            print_out(
                "the token (it was created, and cannot be shown again)",
                &format!("{token}\n"),
            )
        }
        Command::AccessKey(AccessKeyCommand::Create { username }) => {
            let engine = one_off_engine(&cli).await?;
            let key = closing(&engine, async {
                let user = active_user(&engine, username).await?;
                Ok(engine.create_access_key(user, ticketd_http::now()).await?)
            })
            .await?;
            print_out(
                "the access key (it was created, and its secret cannot be shown again)",
                &format!("id: {}\nsecret: {}\n", key.id, key.secret),
            )
        }
    }
}

async fn serve(cli: &Cli, listen: Option<String>) -> anyhow::Result<()> {
    let config = load_config(cli, listen)?;
    let started = std::time::Instant::now();
    // Bound first: a port in use is refused before the database is touched (created, migrated,
    // given an admin whose generated password the failed start would have printed for nothing).
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("could not bind {}", config.listen))?;
    let (store, migrated) = ticketd_server::open_serving_store(&config).await?;
    let engine = ticketd_server::engine(&config, std::sync::Arc::clone(&store))?;
    // A start refused here has written (a new file's migrations): its log is copied too.
    closing_on_error(&engine, bootstrap(&config, &engine)).await?;
    let state = ticketd_server::app_state(&config, engine)?;
    let connections = ticketd_server::ConnectionSettings::from_config(&config);
    tracing::info!(
        listen = %listener.local_addr().map_or_else(|_| config.listen.clone(), |a| a.to_string()),
        database = %ticketd_server::redact(&config.database_url),
        migrations = migrated,
        ready_ms = started.elapsed().as_millis() as u64,
        "ticketd is ready"
    );
    ticketd_server::serve_with_listener(
        listener,
        ticketd_server::router(state),
        connections,
        ticketd_server::shutdown_signal(),
        // Polled once the first signal came: it listens from then on.
        async { ticketd_server::shutdown_signal().await },
    )
    .await?;
    let stopping = std::time::Instant::now();
    match store.shutdown().await {
        // Only SQLite has work to do: it copies its write-ahead log into the database file.
        Ok(()) if config.database_url.starts_with("postgres") => {
            tracing::info!("store closed")
        }
        Ok(()) => tracing::info!(
            took_ms = stopping.elapsed().as_millis() as u64,
            "store closed: every commit is in the database file"
        ),
        // Nothing is lost: the next start reads what is left of the log.
        Err(error) => tracing::warn!(%error, "store not closed cleanly"),
    }
    Ok(())
}

/// Creates the built-ins and the admin user. Whichever command creates admin (`serve`, or a
/// one-off command on a new database) prints its generated password, once, to the terminal only,
/// never to the log; a later `serve` finds admin there and has nothing to print.
async fn bootstrap(config: &Config, engine: &ticketd_core::Engine) -> anyhow::Result<()> {
    let outcome = ticketd_server::bootstrap(config, engine).await?;
    if let Some(password) = outcome.generated_password {
        let told = writeln!(
            std::io::stderr(),
            "created user admin with the generated password: {password}\n\
             set TICKETD_ADMIN_PASSWORD to choose it instead"
        );
        // Unprinted, the password is known to nobody: a start with TICKETD_ADMIN_PASSWORD
        // sets one (as it does on any start).
        told.context(
            "could not print admin's generated password to standard error; start with \
             TICKETD_ADMIN_PASSWORD set to give admin a password",
        )?;
    }
    Ok(())
}

/// Prints `text` to standard output, or fails with what `it` is (a full disk, a closed pipe:
/// `println!` panicked there, after a credential was already stored).
fn print_out(it: &str, text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .with_context(|| format!("could not print {it} to standard output"))
}

/// A one-off command's engine, on its store, migrated and bootstrapped.
async fn one_off_engine(cli: &Cli) -> anyhow::Result<ticketd_core::Engine> {
    let config = load_config(cli, None)?;
    let (store, _) = ticketd_server::open_store(&config).await?;
    let engine = ticketd_server::engine(&config, store)?;
    closing(&engine, bootstrap(&config, &engine)).await?;
    Ok(engine)
}

/// Runs a one-off command's `work`, then closes its store ([`close_store`]) whatever the
/// outcome: a command refused after it wrote (the bootstrap of a new file) left it all in
/// SQLite's log.
async fn closing<T>(
    engine: &ticketd_core::Engine,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let outcome = work.await;
    close_store(engine.store().as_ref()).await;
    outcome
}

/// Runs `work`, closing the store ([`close_store`]) only if it fails: a start refused after
/// it wrote left a new file's migrations all in SQLite's log.
async fn closing_on_error<T>(
    engine: &ticketd_core::Engine,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let outcome = work.await;
    if outcome.is_err() {
        close_store(engine.store().as_ref()).await;
    }
    outcome
}

/// The active user named `username`.
async fn active_user(
    engine: &ticketd_core::Engine,
    username: &str,
) -> anyhow::Result<ticketd_core::UserId> {
    let Some(user) = engine.store().find_user_by_username(username).await? else {
        bail!("no user named {username:?}");
    };
    // Its credentials would be refused at every request (401).
    if !user.is_active {
        bail!("user {username:?} is deactivated: activate it first");
    }
    Ok(user.id)
}

async fn create_user(cli: &Cli, args: &UserCreate) -> anyhow::Result<()> {
    let engine = one_off_engine(cli).await?;
    let user = closing(&engine, new_user(&engine, args)).await?;
    print_out("the user's id", &format!("{}\n", user.id))
}

async fn new_user(
    engine: &ticketd_core::Engine,
    args: &UserCreate,
) -> anyhow::Result<ticketd_core::identity::User> {
    let role = SystemRole::parse(&args.role)
        .with_context(|| format!("unknown role {:?} (admin, auditor, user)", args.role))?;
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read the password from standard input")?;
        Some(password_line(&text).to_owned())
    } else {
        None
    };
    let mut orgs = Vec::new();
    for spec in &args.orgs {
        orgs.push(membership(engine, spec).await?);
    }
    if orgs.is_empty() {
        orgs.push((DEFAULT_ORG, ROLE_ORG_USER));
    }
    let user = engine
        .create_user(
            None,
            ticketd_core::engine::NewUserInput {
                username: args.username.clone(),
                name: args.name.clone().unwrap_or_default(),
                email: args.email.clone(),
                system_role: role,
                password,
                orgs,
            },
            ticketd_http::now(),
        )
        .await?;
    Ok(user)
}

/// The membership `--org ORG[:admin]` asks for. Names may hold a colon, so where `X:admin` names
/// an organization as well as the admin role of `X`, it is refused as ambiguous (until
/// 2026-12-08 it made the user an admin of `X` without a word).
async fn membership(
    engine: &ticketd_core::Engine,
    spec: &str,
) -> anyhow::Result<(ticketd_core::OrgId, ticketd_core::RoleId)> {
    let whole = org_named(engine, spec).await?;
    let admin_of = match spec.strip_suffix(":admin") {
        Some(name) => org_named(engine, name).await?.map(|org| (org, name)),
        None => None,
    };
    match (whole, admin_of) {
        (Some(whole), Some((admin_of, _))) => bail!(
            "--org {spec:?} is ambiguous: it names the organization {:?} and the admin role of \
             {:?}; name the organization by its id instead ({}, or {}:admin)",
            whole.name,
            admin_of.name,
            whole.id,
            admin_of.id
        ),
        (Some(org), None) => Ok((org.id, ROLE_ORG_USER)),
        (None, Some((org, _))) => Ok((org.id, ROLE_ORG_ADMIN)),
        (None, None) => match spec.rsplit_once(':') {
            Some(("", "admin")) => {
                bail!("`:admin` must follow an organization, as in \"ops:admin\"")
            }
            Some((org, "admin")) => bail!("no organization {org:?} (nor one named {spec:?})"),
            // An unknown suffix is read as part of the name.
            Some((org, suffix)) => bail!(
                "no organization {spec:?} (only `:admin` may follow an organization, as in \
                 \"{org}:admin\"; `{suffix}` is not it)"
            ),
            None => bail!("no organization {spec:?}"),
        },
    }
}

/// The organization `name` gives: an id, a built-in alias (`DEFAULT`, …) or a name.
async fn org_named(
    engine: &ticketd_core::Engine,
    name: &str,
) -> anyhow::Result<Option<ticketd_core::identity::Org>> {
    Ok(
        match ticketd_core::OrgId::parse(name)
            .or_else(|| ticketd_core::identity::Org::builtin_alias(name))
        {
            Some(id) => engine.store().get_org(id).await?,
            None => engine.store().find_org_by_name(name).await?,
        },
    )
}

/// Closes a one-off command's store: SQLite copies its log into the database file (unless a
/// server serves the file, which does it), so a copy of the file alone holds what the command
/// wrote, as after a clean stop of `serve`. An error loses nothing: the log stays for the
/// next start.
async fn close_store(store: &dyn ticketd_core::store::Store) {
    if let Err(error) = store.shutdown().await {
        tracing::warn!(%error, "store not closed cleanly");
    }
}

fn healthcheck(addr: &str) -> anyhow::Result<()> {
    // One limit for the whole check: a peer answering a byte at a time, or an address that
    // does not answer the connection, gives up after it as a silent one does.
    let deadline = std::time::Instant::now() + HEALTHCHECK_LIMIT;
    let left = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|left| !left.is_zero())
    };
    let too_slow = || anyhow::anyhow!("unhealthy: {addr} did not answer GET /healthz within 5 s");
    let targets = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .with_context(|| format!("could not connect to {addr}"))?;
    let mut connected = None;
    let mut refusal = None;
    for target in targets {
        let limit = left().ok_or_else(too_slow)?;
        match std::net::TcpStream::connect_timeout(&target, limit) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            // The next address gets what time is left (none after a timeout: too slow).
            Err(error) => refusal = Some(error),
        }
    }
    let mut stream = match (connected, refusal) {
        (Some(stream), _) => stream,
        (None, Some(error)) if error.kind() == std::io::ErrorKind::TimedOut => {
            return Err(too_slow());
        }
        (None, Some(error)) => {
            return Err(error).with_context(|| format!("could not connect to {addr}"));
        }
        (None, None) => bail!("could not connect to {addr}: it names no address"),
    };
    stream.set_write_timeout(Some(left().ok_or_else(too_slow)?))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => too_slow(),
        _ => anyhow::Error::new(error).context(format!("could not send to {addr}")),
    })?;
    // Only the status line is needed (a line longer than any status line is no HTTP answer).
    let mut response = Vec::new();
    let mut chunk = [0_u8; 512];
    while !response.contains(&b'\n') && response.len() < 8192 {
        stream.set_read_timeout(Some(left().ok_or_else(too_slow)?))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => response.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(too_slow());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("could not read the answer of {addr}"));
            }
        }
    }
    let response = String::from_utf8_lossy(&response);
    let status = response.lines().next().unwrap_or_default();
    if is_ok_status(status) {
        print_out("the outcome", "healthy\n")?;
        Ok(())
    } else {
        bail!("unhealthy: {status}")
    }
}

/// Whether an HTTP status line says 200: the code is its second word (`HTTP/1.1 200 OK`); a 200
/// elsewhere in the reason phrase (`HTTP/1.1 503 nope 200 `) passed until 2026-12-07.
fn is_ok_status(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next().is_some_and(|v| v.starts_with("HTTP/")) && words.next() == Some("200")
}

/// The password `--password-stdin` reads: the first line, without its line ending (`\n`,
/// `\r\n`, or a `\r` alone, which was kept until 2026-12-07, so the password typed never
/// matched).
fn password_line(text: &str) -> &str {
    text.split(['\n', '\r']).next().unwrap_or_default()
}

/// How long `ticketd healthcheck` waits in all for the answer's status line.
const HEALTHCHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::{is_ok_status, log_subscriber, password_line};
    use tracing::Level;

    #[test]
    fn a_status_line_is_ok_by_its_code_only() {
        assert!(is_ok_status("HTTP/1.1 200 OK"));
        assert!(is_ok_status("HTTP/1.0 200"));
        for line in [
            "HTTP/1.1 503 nope 200 ",
            "HTTP/1.1 2000 OK",
            "200 OK",
            "",
            "XHTTP 200",
        ] {
            assert!(!is_ok_status(line), "{line:?}");
        }
    }

    #[test]
    fn a_password_from_standard_input_is_its_first_line_without_the_ending() {
        for text in [
            "pw-1",
            "pw-1\n",
            "pw-1\r\n",
            "pw-1\r",
            "pw-1\nsecond line\n",
            "pw-1\rsecond line\r",
        ] {
            assert_eq!(password_line(text), "pw-1", "{text:?}");
        }
        assert_eq!(
            password_line(" pw 1 \n"),
            " pw 1 ",
            "blanks are the password's"
        );
    }

    #[test]
    fn the_postgresql_client_never_logs_below_info_whatever_the_setting() {
        for setting in [
            "trace",
            "debug",
            "info,tokio_postgres=trace",
            "tokio_postgres=debug",
        ] {
            tracing::subscriber::with_default(log_subscriber(setting, false), || {
                assert!(
                    !tracing::enabled!(target: "tokio_postgres::query", Level::DEBUG),
                    "{setting}"
                );
                assert!(
                    tracing::enabled!(target: "tokio_postgres::connection", Level::INFO),
                    "{setting}"
                );
            });
        }
        tracing::subscriber::with_default(log_subscriber("debug", false), || {
            assert!(tracing::enabled!(target: "ticketd_server", Level::DEBUG));
        });
        // The cap lifts nothing: what the setting leaves out stays out, PostgreSQL's client's
        // warnings included.
        tracing::subscriber::with_default(log_subscriber("warn", false), || {
            assert!(!tracing::enabled!(target: "ticketd_server", Level::INFO));
            assert!(!tracing::enabled!(target: "tokio_postgres::connection", Level::INFO));
            assert!(tracing::enabled!(target: "tokio_postgres::connection", Level::WARN));
            assert_eq!(
                tracing::level_filters::LevelFilter::current(),
                tracing::level_filters::LevelFilter::WARN
            );
        });
    }
}
