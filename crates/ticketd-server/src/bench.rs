//! `ticketd bench`: preloads a store, starts `ticketd serve` on it, drives HTTP scenarios over
//! loopback, and reports throughput and latency against ceilings measured in the same run.

use anyhow::{Context, bail};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use ticketd_core::engine::{Engine, NewUserInput};
use ticketd_core::flow::LevelMode;
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_USER, SystemRole, TokenKind, User};
use ticketd_core::machine::{self, Action, Ctx, OpenSpec};
use ticketd_core::store::Store;
use ticketd_core::ticket::{Assignee, Decision, Step, StepState, StepStatus, TicketWrite};
use ticketd_core::{Actor, TicketId};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Store URL; `None` means a fresh SQLite file in a temporary directory.
    pub database_url: Option<String>,
    /// Tickets to preload.
    pub tickets: usize,
    /// Concurrent connections per scenario.
    pub connections: usize,
    /// Duration of each scenario.
    pub duration: Duration,
    /// Scenarios to run (empty: all).
    pub scenarios: Vec<String>,
    /// The `ticketd` binary to start as the server.
    pub server_binary: PathBuf,
}

impl BenchOptions {
    /// Whether the scenario `name` is to run.
    fn wants(&self, name: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == name)
    }
}

/// One scenario's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Requests completed.
    pub requests: u64,
    /// Requests that did not get the expected status.
    pub errors: u64,
    /// Seconds the scenario ran: its configured time, or less where its work ran out.
    pub seconds: f64,
    /// Requests per second that got the expected status: errors are not counted, or a server
    /// answering quick refusals (or a client finding no server) would look fast.
    pub throughput: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile, milliseconds.
    pub p999_ms: f64,
    /// The ceiling it is compared with.
    pub ceiling: String,
    /// Throughput divided by that ceiling.
    pub ratio: f64,
    /// The server process's CPU time (user and system, all its threads) over the scenario, per
    /// request, microseconds: unlike the ratio, it does not move with the disk's speed. `None`
    /// where `/proc` does not tell it.
    pub server_cpu_us_per_request: Option<f64>,
    /// On PostgreSQL running on this machine, the CPU time of its processes (every process
    /// named `postgres`, so other work of the same server counts too) over the scenario, per
    /// request, microseconds; `None` on SQLite, for a database elsewhere, or where `/proc`
    /// does not tell it.
    pub database_cpu_us_per_request: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Backend (`sqlite` or `postgres`).
    pub backend: String,
    /// Tickets preloaded.
    pub tickets: usize,
    /// Pending tickets preloaded besides them for the `approve` scenario (0 when it does not
    /// run).
    pub approve_pool_tickets: usize,
    /// Preload rate, tickets per second (the approve pool's included).
    pub preload_per_second: f64,
    /// From starting the server process to its first healthy answer, milliseconds.
    pub ready_ms: u128,
    /// Connections per scenario.
    pub connections: usize,
    /// Seconds per scenario.
    pub duration_seconds: f64,
    /// Raw single-row durable commits per second on the same store settings.
    pub raw_commit_per_second: f64,
    /// `GET /healthz` per second over the same HTTP stack.
    pub healthz_per_second: f64,
    /// Per-scenario results.
    pub scenarios: Vec<ScenarioResult>,
    /// The server's peak resident set size, MiB.
    pub peak_rss_mib: f64,
}

const ADMIN_TOKEN: &str = "bench-admin-token";
const APPLICANTS: usize = 200;
const APPROVERS: usize = 20;
const WORDS: [&str; 8] = [
    "db", "web", "cache", "queue", "report", "backup", "vpn", "gpu",
];

/// Deterministic pseudo-random numbers (SplitMix64): reproducible datasets without a dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// Users and tickets the scenarios act on.
#[derive(Debug)]
struct Dataset {
    applicants: Vec<(Actor, String)>,
    me: (Actor, String),
    level1: (Actor, String),
    level2: (Actor, String),
    approve_pool: Vec<TicketId>,
    detail_ids: Vec<TicketId>,
    asset: uuid::Uuid,
}

async fn make_user(
    engine: &Engine,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(Actor, String)> {
    let user = engine
        .create_user(
            None,
            NewUserInput {
                username: name.into(),
                name: name.into(),
                email: format!("{name}@bench.invalid"),
                system_role: SystemRole::User,
                password: None,
                orgs: vec![(DEFAULT_ORG, ROLE_ORG_USER)],
            },
            now,
        )
        .await?;
    let token = format!("token-{name}");
    engine
        .install_token(user.id, &token, TokenKind::Api, None, now)
        .await?;
    Ok((engine.actor(user.id).await?, token))
}

fn step(level: u32, user: &User, now: DateTime<Utc>) -> Step {
    Step {
        level,
        mode: LevelMode::Any,
        name: String::new(),
        attributes: Value::Null,
        state: StepState::Pending,
        status: StepStatus::Pending,
        assignees: vec![Assignee {
            user_id: user.id,
            display: user.display(),
            decision: Decision::Pending,
            decided_at: None,
            reason: String::new(),
        }],
        applicant_included: false,
        orgs: Vec::new(),
        updated_at: now,
    }
}

/// Builds one ticket's write: opened, then moved to `outcome` by its assignees.
#[allow(
    clippy::too_many_arguments,
    reason = "one generated ticket's every varying field"
)]
fn ticket_write(
    engine: &Engine,
    applicant: &Actor,
    approvers: (&Actor, &Actor),
    kind: &str,
    title: String,
    asset: uuid::Uuid,
    created: DateTime<Utc>,
    outcome: u32,
) -> anyhow::Result<TicketWrite> {
    let payload = if kind == "apply_asset" {
        json!({"assets": [asset], "nodes": [], "accounts": ["root"], "actions": 1,
               "date_start": created.to_rfc3339(), "date_expired": (created + ChronoDuration::days(7)).to_rfc3339()})
    } else {
        json!({"apply_run_command": format!("ls /srv/{title}")})
    };
    let mut new_id = || engine.new_id(created);
    let mut ctx = Ctx {
        now: created,
        new_id: &mut new_id,
    };
    let spec = OpenSpec {
        id: TicketId(engine.new_id(created)),
        org_id: DEFAULT_ORG,
        kind: kind.into(),
        title,
        applicant_id: applicant.id(),
        applicant_display: applicant.display(),
        flow_id: None,
        steps: Some(vec![
            step(1, &approvers.0.user, created),
            step(2, &approvers.1.user, created),
        ]),
        cc_users: Vec::new(),
        payload,
        comment: String::new(),
        scope: String::new(),
        serial_day: ticketd_core::serial::serial_day(created, chrono_tz::UTC),
    };
    let mut write = machine::open(spec, &mut ctx)?;
    let mut apply =
        |write: &mut TicketWrite, actor: &Actor, action: Action| -> anyhow::Result<()> {
            let next = machine::apply(&write.ticket, actor, action, &mut ctx)?;
            write.ticket = next.ticket;
            write.history.extend(next.history);
            write.comments.extend(next.comments);
            write.events.extend(next.events);
            if next.grant.is_some() {
                write.grant = next.grant;
            }
            Ok(())
        };
    let approve = || Action::Approve {
        reason: String::new(),
        payload: None,
        changes: None,
    };
    match outcome {
        // 0..3: pending (at level 1 or 2), 3..7: approved, 7..8 rejected, 8..10 closed.
        0 | 1 => {}
        2 => apply(&mut write, approvers.0, approve())?,
        3..=6 => {
            apply(&mut write, approvers.0, approve())?;
            apply(&mut write, approvers.1, approve())?;
        }
        7 => apply(
            &mut write,
            approvers.0,
            Action::Reject {
                reason: "no".into(),
            },
        )?,
        _ => apply(
            &mut write,
            applicant,
            Action::Close {
                reason: String::new(),
            },
        )?,
    }
    Ok(write)
}

/// Creates the users, an asset and `tickets` tickets (plus a pool for the approve scenario)
/// directly through the store, many writes in flight so the store can batch them.
async fn preload(engine: &Engine, tickets: usize, approve_pool: usize) -> anyhow::Result<Dataset> {
    let now = ticketd_http::now();
    let admin = engine
        .store()
        .find_user_by_username("admin")
        .await?
        .context("admin exists after bootstrap")?;
    let admin = engine.actor(admin.id).await?;
    let asset = ticketd_core::catalog::Asset {
        id: ticketd_core::AssetId(engine.new_id(now)),
        org_id: DEFAULT_ORG,
        name: "db-bench".into(),
        address: "10.0.0.1".into(),
        platform: "Linux".into(),
        is_active: true,
        node_ids: Vec::new(),
        comment: String::new(),
        created_at: now,
        updated_at: now,
    };
    engine.create_asset(&admin, asset.clone()).await?;
    let mut applicants = Vec::new();
    for i in 0..APPLICANTS {
        applicants.push(make_user(engine, &format!("applicant{i:03}"), now).await?);
    }
    let mut approvers = Vec::new();
    for i in 0..APPROVERS {
        approvers.push(make_user(engine, &format!("approver{i:02}"), now).await?);
    }
    let level1 = make_user(engine, "bench-level1", now).await?;
    let level2 = make_user(engine, "bench-level2", now).await?;
    // A flow so that HTTP opens find one: bench-level1 then bench-level2.
    let levels = [&level1.0, &level2.0]
        .iter()
        .map(|a| {
            ticketd_core::engine::any_level(ticketd_core::selector::Selector::Ids {
                ids: vec![a.id()],
            })
        })
        .collect();
    engine
        .create_flow(
            &admin,
            ticketd_core::engine::FlowInput {
                org_id: DEFAULT_ORG,
                name: "bench".into(),
                description: String::new(),
                kinds: vec!["apply_asset".into()],
                is_default: true,
                enabled: true,
                levels,
                cc_users: Vec::new(),
                attributes: Value::Null,
            },
            now,
        )
        .await?;
    let engine = Arc::new(engine.clone());
    let applicants = Arc::new(applicants);
    let approvers = Arc::new(approvers);
    let next = Arc::new(AtomicUsize::new(0));
    let total = tickets + approve_pool;
    let mut workers = Vec::new();
    for worker in 0..64u64 {
        let (engine, applicants, approvers, next) = (
            engine.clone(),
            applicants.clone(),
            approvers.clone(),
            next.clone(),
        );
        let (level1, level2) = (level1.0.clone(), level2.0.clone());
        let asset = asset.id.uuid();
        workers.push(tokio::spawn(async move {
            let mut rng = Rng(worker.wrapping_mul(7919).wrapping_add(1));
            let mut pool = Vec::new();
            let mut details = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let applicant = &applicants[rng.below(applicants.len())].0;
                let pooled = i >= tickets;
                let (first, second) = if pooled {
                    (&level1, &level2)
                } else {
                    (
                        &approvers[rng.below(approvers.len())].0,
                        &approvers[rng.below(approvers.len())].0,
                    )
                };
                let kind = match rng.below(10) {
                    0 => "login_confirm",
                    1 => "command_confirm",
                    2 => "general",
                    _ => "apply_asset",
                };
                let kind = if pooled { "apply_asset" } else { kind };
                // Tickets arrive in time order, as in production: the i-th of `total` lies that
                // far into the past year, so ids, times and serials grow and indexes are appended.
                let span = 365 * 86_400_i64;
                let position = i64::try_from(i).unwrap_or(0);
                let offset = span - span * position / i64::try_from(total.max(1)).unwrap_or(1);
                let created = ticketd_http::now() - ChronoDuration::seconds(offset);
                let title = format!(
                    "{} access {} #{i}",
                    WORDS[rng.below(WORDS.len())],
                    WORDS[rng.below(WORDS.len())]
                );
                let outcome = if pooled {
                    0
                } else {
                    u32::try_from(rng.below(10)).unwrap_or(0)
                };
                let write = ticket_write(
                    &engine,
                    applicant,
                    (first, second),
                    kind,
                    title,
                    asset,
                    created,
                    outcome,
                )?;
                let stored = engine.store().write_ticket(write).await?;
                if pooled {
                    pool.push(stored.id);
                } else if details.len() < 200 {
                    details.push(stored.id);
                }
            }
            anyhow::Ok((pool, details))
        }));
    }
    let mut pool = Vec::new();
    let mut details = Vec::new();
    for worker in workers {
        let (p, d) = worker.await??;
        pool.extend(p);
        details.extend(d);
    }
    let me = approvers[0].clone();
    Ok(Dataset {
        applicants: applicants.to_vec(),
        me,
        level1,
        level2,
        approve_pool: pool,
        detail_ids: details,
        asset: asset.id.uuid(),
    })
}

struct Server {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the process may already be gone.
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

impl Server {
    /// CPU seconds the server process has used so far, all its threads included.
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        cpu_seconds_from_stat(&stat)
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

/// The unit of the CPU times in `/proc/<pid>/stat` (`USER_HZ`): 100 on every architecture Linux
/// runs this on (x86-64, aarch64), whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// User plus system CPU seconds from the text of `/proc/<pid>/stat`, which counts every thread
/// of the process, ended ones included. The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so the fields are counted from the last `)`.
fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    // The state (field 3) comes first; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

/// CPU seconds used so far by each process of this machine whose command name is `command`,
/// read from `proc_root` (`/proc`), by process id.
fn cpu_seconds_by_process(proc_root: &Path, command: &str) -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return HashMap::new();
    };
    let wanted = format!("({command})");
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            // A process may end between the listing and the read.
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let name = stat.get(stat.find('(')?..=stat.rfind(')')?)?;
            if name != wanted {
                return None;
            }
            Some((pid, cpu_seconds_from_stat(&stat)?))
        })
        .collect()
}

/// The CPU seconds used between two readings of [`cpu_seconds_by_process`]: a process that
/// started in between counts from its start; one that ended in between is lost (the pool's
/// connections live through the run, so few do).
fn cpu_used_between(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, now)| (now - before.get(pid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
}

/// Whether a PostgreSQL URL (or `key=value` string) names a server on this machine: a
/// loopback host or a Unix socket (no host, or a path). Every host of a multi-host URL must be.
fn database_on_this_machine(url: &str) -> bool {
    let local = |host: &str| {
        let host = host.trim();
        host.is_empty()
            || host.starts_with('/')
            || host.eq_ignore_ascii_case("localhost")
            || host == "::1"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    let without_port = |host: &str| -> String {
        if host.starts_with('[') {
            host.split_inclusive(']').next().unwrap_or(host).to_owned()
        } else {
            host.split(':').next().unwrap_or(host).to_owned()
        }
    };
    if let Some((_, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // A `host` parameter overrides the authority's hosts (a socket directory, usually).
        let parameter = rest[end..]
            .split(['?', '&'])
            .find_map(|pair| pair.strip_prefix("host="));
        return match parameter {
            Some(host) => host.split(',').all(local),
            None => hosts.split(',').all(|host| local(&without_port(host))),
        };
    }
    url.split_whitespace()
        .find_map(|pair| pair.strip_prefix("host="))
        .is_none_or(|hosts| hosts.split(',').all(local))
}

/// Runs a scenario and measures the server's CPU over it, and the database's where
/// `database_processes` names its processes' command.
async fn drive_measured(
    server: &Server,
    database_processes: Option<&str>,
    name: &str,
    connections: usize,
    duration: Duration,
    plan: Plan,
) -> anyhow::Result<(Measured, Cpu)> {
    let proc_root = Path::new("/proc");
    let database_before = database_processes.map(|c| cpu_seconds_by_process(proc_root, c));
    let before = server.cpu_seconds();
    let measured = drive(server.addr, name, connections, duration, plan).await?;
    let server_used = before
        .zip(server.cpu_seconds())
        .map(|(before, after)| after - before);
    // No such process before the scenario: the database is not where the URL seemed to say.
    let database_used = database_processes
        .zip(database_before.filter(|before| !before.is_empty()))
        .map(|(command, before)| {
            cpu_used_between(&before, &cpu_seconds_by_process(proc_root, command))
        });
    Ok((
        measured,
        Cpu {
            server: server_used,
            database: database_used,
        },
    ))
}

async fn start_server(binary: &PathBuf, database_url: &str) -> anyhow::Result<(Server, u128)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let mut command = Command::new(binary);
    // The built-in settings, whatever the deployment's environment says (a configuration file,
    // an admin token file beside the token set here): a setting the run does not expect failed
    // it only after the preload.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TICKETD_") {
            command.env_remove(name);
        }
    }
    let child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .env("TICKETD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TICKETD_LOG", "warn")
        // The benchmark drives thousands of requests per second as a few users: measuring the
        // service, not the per-user rate limit.
        .env("TICKETD_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    let mut server = Server {
        child,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let mut connection = Connection::new(server.addr);
    let health = Request::healthz();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(true) = connection.send(&health).await {
            return Ok((server, started.elapsed().as_millis()));
        }
        // A server that cannot start (a `TICKETD_*` setting it refuses, its port taken) says
        // why on the standard error it shares with the bench; waiting out the minute would not.
        if let Some(status) = server.child.try_wait()? {
            bail!("the server exited ({status}) before it answered /healthz: its message is above");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("the server did not become healthy within 60 s")
}

/// One request a scenario sends.
struct Request {
    method: Method,
    path: String,
    token: String,
    body: Option<Value>,
    expect: u16,
}

impl Request {
    /// `GET /healthz`, unauthenticated: the readiness poll and the HTTP ceiling's scenario.
    fn healthz() -> Self {
        Self {
            method: Method::GET,
            path: "/healthz".into(),
            token: String::new(),
            body: None,
            expect: 200,
        }
    }
}

/// One keep-alive HTTP/1.1 connection of the load generator, on hyper's client connection.
///
/// The load generator shares the machine's two cores with the server: a pooled general-purpose
/// client (`reqwest`, before) spent 34–42 µs of them per request and this one 24–28 (`wrk`
/// about 22), which matters most to the `/healthz` ceiling (BENCHMARKS.md, the fix rows).
struct Connection {
    addr: std::net::SocketAddr,
    host: HeaderValue,
    /// `None` before the first request and after a failed one (the next request reconnects).
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new(addr: std::net::SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("127.0.0.1"));
        Self {
            addr,
            host,
            sender: None,
        }
    }

    /// Sends `request`, reads the whole answer, and tells whether its status was the expected
    /// one; a transport error drops the connection, so the next request opens a new one.
    async fn send(&mut self, request: &Request) -> anyhow::Result<bool> {
        let outcome = self.exchange(request).await;
        if outcome.is_err() {
            self.sender = None;
        }
        Ok(outcome? == request.expect)
    }

    async fn exchange(&mut self, request: &Request) -> anyhow::Result<u16> {
        let sender = match &mut self.sender {
            Some(sender) => sender,
            None => {
                let stream = tokio::net::TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    // Ends when the sender is dropped or the server closes; an error here
                    // shows as the next request's.
                    let _closed = connection.await;
                });
                self.sender.insert(sender)
            }
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.clone())
            .uri(request.path.as_str())
            .header(HOST, self.host.clone());
        if !request.token.is_empty() {
            builder = builder.header(AUTHORIZATION, format!("Token {}", request.token));
        }
        let body = match &request.body {
            Some(body) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(body)?)
            }
            None => Bytes::new(),
        };
        sender.ready().await?;
        let response = sender.send_request(builder.body(Full::new(body))?).await?;
        let status = response.status();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame?;
        }
        Ok(status.as_u16())
    }
}

type Plan = Arc<dyn Fn(usize, &mut Rng) -> Vec<Request> + Send + Sync>;

/// What a scenario's clients measured: latencies (µs), requests, errors, seconds it ran.
type Measured = (Histogram<u64>, u64, u64, f64);

/// CPU seconds used over a scenario, where they could be read.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    /// The server process, all its threads.
    server: Option<f64>,
    /// The database's processes on this machine (PostgreSQL).
    database: Option<f64>,
}

async fn drive(
    addr: std::net::SocketAddr,
    name: &str,
    connections: usize,
    duration: Duration,
    plan: Plan,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let counter = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (plan, counter) = (plan.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::new(addr);
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut rng = Rng(u64::try_from(worker).unwrap_or(0) * 104_729 + 17);
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let requests = plan(n, &mut rng);
                if requests.is_empty() {
                    // The scenario's work is used up (the approve pool): the worker stops, so the
                    // scenario's time ends with its last answer instead of the deadline.
                    break;
                }
                for request in requests {
                    let sent = Instant::now();
                    let ok = connection.send(&request).await.unwrap_or(false);
                    histogram.record(
                        u64::try_from(sent.elapsed().as_micros())
                            .unwrap_or(u64::MAX)
                            .max(1),
                    )?;
                    done += 1;
                    errors += u64::from(!ok);
                }
            }
            anyhow::Ok((histogram, done, errors))
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut done, mut errors) = (0, 0);
    for worker in workers {
        let (h, d, e) = worker.await??;
        histogram.add(h)?;
        done += d;
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        scenario = name,
        requests = done,
        errors,
        "scenario finished"
    );
    Ok((histogram, done, errors, seconds))
}

fn result(
    name: &str,
    ((histogram, done, errors, seconds), cpu): (Measured, Cpu),
    ceiling: (&str, f64),
) -> ScenarioResult {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let per_request = |seconds: Option<f64>| {
        seconds
            .filter(|_| done > 0)
            .map(|cpu| cpu * 1e6 / done as f64)
    };
    let throughput = done.saturating_sub(errors) as f64 / seconds.max(1e-9);
    ScenarioResult {
        name: name.into(),
        requests: done,
        errors,
        seconds,
        throughput,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        ceiling: ceiling.0.into(),
        ratio: throughput / ceiling.1.max(1e-9),
        server_cpu_us_per_request: per_request(cpu.server),
        database_cpu_us_per_request: per_request(cpu.database),
    }
}

/// An `open` body; its title is drawn like the preloaded ones, so the tickets the scenario adds
/// are as likely to match a search as the rest (titles no search matches would pile up at the
/// head of every list and make later searches skip them all).
fn open_body(asset: uuid::Uuid, n: usize) -> Value {
    let title = format!(
        "{} access {} open {n}",
        WORDS[n % WORDS.len()],
        WORDS[(n / WORDS.len()) % WORDS.len()]
    );
    json!({"title": title, "org_id": "Default", "apply_assets": [asset],
           "apply_accounts": ["root"], "apply_actions": ["connect"],
           "apply_date_start": "2026-01-01 00:00:00", "apply_date_expired": "2027-01-01 00:00:00"})
}

/// The scenarios `run` measures after `healthz`, in the order it runs them.
pub const SCENARIOS: [&str; 6] = [
    "open",
    "approve",
    "awaiting-me",
    "filtered",
    "detail",
    "mixed",
];

/// Most tickets a run preloads.
const MAX_TICKETS: usize = 100_000_000;

/// Longest a scenario runs.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Files the bench or its server keeps open besides its connections: the store's files, the
/// listener, the runtime's own, with room to spare.
const OPEN_FILES_BESIDE_CONNECTIONS: usize = 64;

/// The soft limit on open files in `/proc/self/limits`' text; `None` when unlimited or absent.
fn open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Refuses options that would measure nothing or something else than asked: a misspelt scenario
/// would be skipped without a word, `detail` (alone or in `mixed`) picks preloaded tickets, and
/// past the machine's open files or the arithmetic's range a run measures errors or panics.
fn check_options(options: &BenchOptions) -> anyhow::Result<()> {
    if let Some(unknown) = options
        .scenarios
        .iter()
        .find(|name| !SCENARIOS.contains(&name.as_str()))
    {
        bail!(
            "unknown scenario `{unknown}`: the scenarios are {}",
            SCENARIOS.join(", ")
        );
    }
    if options.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if options.duration < Duration::from_secs(1) {
        bail!("--seconds must be at least 1");
    }
    // Past these the run would end in an arithmetic overflow, not in a measurement.
    if options.tickets > MAX_TICKETS {
        bail!("--tickets must be at most {MAX_TICKETS} (a SQLite file of about 450 GB)");
    }
    if options.duration > MAX_DURATION {
        bail!(
            "--seconds must be at most {} (a day per scenario)",
            MAX_DURATION.as_secs()
        );
    }
    // Each connection is a socket in the bench and another in the server, which both start
    // with this process's limit; beyond it connections fail as errors of the scenario.
    if let Some(limit) =
        open_files_limit(&std::fs::read_to_string("/proc/self/limits").unwrap_or_default())
    {
        let needed = options
            .connections
            .saturating_add(OPEN_FILES_BESIDE_CONNECTIONS);
        if needed > limit {
            bail!(
                "--connections {} needs about {needed} open files, and this process may open {limit} \
                 (`ulimit -n`)",
                options.connections
            );
        }
    }
    if options.tickets == 0 && (options.wants("detail") || options.wants("mixed")) {
        bail!("`detail` and `mixed` show preloaded tickets: --tickets must be at least 1 for them");
    }
    Ok(())
}

/// Runs the whole benchmark and returns its report.
pub async fn run(options: BenchOptions) -> anyhow::Result<BenchReport> {
    check_options(&options)?;
    let scratch = Scratch::create()?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", scratch.join("bench.db").display()));
    let backend = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let mut config = crate::config::Config {
        database_url: url.clone(),
        ..crate::config::Config::default()
    };
    config.admin_token = Some(crate::config::Secret(ADMIN_TOKEN.into()));
    let (store, _) = crate::open_store(&config).await?;
    // The preload adds hundreds of users and the tickets asked for: never to a database in
    // use, and a store already filled would measure another size than the one asked.
    let users = store.list_users().await?.len();
    if users > 0 {
        bail!(
            "{} already holds {users} user(s): the bench fills the database it measures with \
             generated users and tickets, so give it an empty one",
            crate::redact(&url)
        );
    }
    let engine = crate::engine(&config, store.clone())?;
    crate::bootstrap(&config, &engine).await?;
    // Only a run that decides needs the pool; others would preload (and settle) tickets they
    // never touch, and measure a larger store than `--tickets` asked.
    let pool_size = if options.wants("approve") {
        approve_pool_size(options.duration)
    } else {
        0
    };
    tracing::info!(tickets = options.tickets, pool = pool_size, "preloading");
    let started = Instant::now();
    let data = preload(&engine, options.tickets, pool_size).await?;
    let preload_per_second = (options.tickets + pool_size) as f64 / started.elapsed().as_secs_f64();
    let settling = Instant::now();
    settle(backend, &url, store.as_ref()).await?;
    tracing::info!(
        took_ms = settling.elapsed().as_millis(),
        "preloaded data settled on disk"
    );
    let raw_commit_per_second = raw_commit_rate(
        backend,
        &url,
        &scratch,
        options.connections,
        options.duration,
    )
    .await?;
    drop(engine);
    drop(store);
    let (server, ready_ms) = start_server(&options.server_binary, &url).await?;
    let (c, d) = (options.connections, options.duration);
    // PostgreSQL's backends are processes named `postgres`.
    let database_processes =
        (backend == "postgres" && database_on_this_machine(&url)).then_some("postgres");
    let healthz: Plan = Arc::new(|_, _| vec![Request::healthz()]);
    let health = drive_measured(&server, database_processes, "healthz", c, d, healthz).await?;
    let healthz_per_second = health.0.1 as f64 / health.0.3;
    let mut scenarios = vec![result("healthz", health, ("healthz", healthz_per_second))];
    let data = Arc::new(data);
    let open: Plan = {
        let data = data.clone();
        Arc::new(move |n, rng| {
            let (_, token) = &data.applicants[rng.below(data.applicants.len())];
            vec![Request {
                method: Method::POST,
                path: "/api/v1/tickets/apply-asset-tickets/open/".into(),
                token: token.clone(),
                body: Some(open_body(data.asset, n)),
                expect: 201,
            }]
        })
    };
    let approve: Plan = {
        let data = data.clone();
        Arc::new(move |n, _| {
            let Some(id) = data.approve_pool.get(n) else {
                return Vec::new();
            };
            let path = format!("/api/v1/tickets/apply-asset-tickets/{id}/approve/");
            vec![
                Request {
                    method: Method::PUT,
                    path: path.clone(),
                    token: data.level1.1.clone(),
                    body: Some(json!({})),
                    expect: 200,
                },
                Request {
                    method: Method::PUT,
                    path,
                    token: data.level2.1.clone(),
                    body: Some(json!({})),
                    expect: 200,
                },
            ]
        })
    };
    let awaiting: Plan = {
        let data = data.clone();
        Arc::new(move |_, _| {
            let me = &data.me;
            vec![Request {
                method: Method::GET,
                path: format!(
                    "/api/v1/tickets/tickets/?assignees__id={}&limit=20",
                    me.0.id()
                ),
                token: me.1.clone(),
                body: None,
                expect: 200,
            }]
        })
    };
    let filtered: Plan = Arc::new(|_, rng| {
        let offset = [0, 20, 200, 1000][rng.below(4)];
        let word = WORDS[rng.below(WORDS.len())];
        vec![Request {
            method: Method::GET,
            path: format!(
                "/api/v1/audits/tickets/?oid=ROOT&state=pending&type=apply_asset&search={word}&limit=20&offset={offset}"
            ),
            token: ADMIN_TOKEN.into(),
            body: None,
            expect: 200,
        }]
    });
    let detail: Plan = {
        let data = data.clone();
        Arc::new(move |_, rng| {
            let id = data.detail_ids[rng.below(data.detail_ids.len())];
            vec![Request {
                method: Method::GET,
                path: format!("/api/v1/audits/tickets/{id}/?oid=ROOT"),
                token: ADMIN_TOKEN.into(),
                body: None,
                expect: 200,
            }]
        })
    };
    let mixed: Plan = {
        let (open, awaiting, filtered, detail) = (
            open.clone(),
            awaiting.clone(),
            filtered.clone(),
            detail.clone(),
        );
        Arc::new(move |n, rng| match rng.below(10) {
            0..=2 => open(n, rng),
            3..=4 => awaiting(n, rng),
            5..=6 => filtered(n, rng),
            _ => detail(n, rng),
        })
    };
    let commit_ceiling = ("raw durable commit", raw_commit_per_second);
    let http_ceiling = ("healthz", healthz_per_second);
    let plans = [
        (open, commit_ceiling),
        (approve, commit_ceiling),
        (awaiting, http_ceiling),
        (filtered, http_ceiling),
        (detail, http_ceiling),
        (mixed, http_ceiling),
    ];
    for (name, (plan, ceiling)) in SCENARIOS.into_iter().zip(plans) {
        if options.wants(name) {
            let measured = drive_measured(&server, database_processes, name, c, d, plan).await?;
            scenarios.push(result(name, measured, ceiling));
        }
    }
    let peak_rss_mib = server.peak_rss_mib();
    drop(server);
    Ok(BenchReport {
        backend: backend.into(),
        tickets: options.tickets,
        approve_pool_tickets: data.approve_pool.len(),
        preload_per_second,
        ready_ms,
        connections: c,
        duration_seconds: d.as_secs_f64(),
        raw_commit_per_second,
        healthz_per_second,
        scenarios,
        peak_rss_mib,
    })
}

/// The run's scratch directory (the SQLite file and the raw-commit file), removed with
/// everything in it when the run ends, however it ends: a 1M-ticket file is 4–5 GB.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> anyhow::Result<Self> {
        Self::create_in(&std::env::temp_dir())
    }

    /// A new directory in `parent`, never one an earlier run left (killed, it could not remove
    /// its own: its SQLite file would be preloaded again), and never `parent` itself: a
    /// mistyped `TMPDIR` is refused instead of made.
    fn create_in(parent: &std::path::Path) -> anyhow::Result<Self> {
        let mut attempt = 0u32;
        loop {
            let dir = parent.join(format!("ticketd-bench-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(error)
                    if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 =>
                {
                    attempt += 1;
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("could not create {}", dir.display()));
                }
            }
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(%error, dir = %self.0.display(), "could not remove the bench's scratch directory");
        }
    }
}

/// Tickets preloaded for the approve scenario: each takes two decisions, and a pool that runs
/// out ends the scenario early. Sized for 16,000 decisions a second over the whole scenario,
/// well above the rates measured on this machine (2,000 tickets per connection, whatever the
/// scenario's length, ran out within 15 s at 4,300 decisions a second).
fn approve_pool_size(duration: Duration) -> usize {
    const TICKETS_PER_SECOND: f64 = 8_000.0;
    let tickets = duration.as_secs_f64().max(1.0) * TICKETS_PER_SECOND;
    (tickets as usize).min(1_000_000)
}

/// The raw durable single-row commit rate of the same backend and settings.
async fn raw_commit_rate(
    backend: &str,
    url: &str,
    scratch: &std::path::Path,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    if backend == "postgres" {
        return Ok(ticketd_store_postgres::raw_insert_rate(url, connections, duration).await?);
    }
    let path = scratch.join("raw-commit.db");
    let rate =
        tokio::task::spawn_blocking(move || ticketd_store_sqlite::raw_commit_rate(&path, duration))
            .await??;
    Ok(rate)
}

/// Leaves the preloaded store as a long-running deployment's would be before anything is
/// measured, so that no ceiling or scenario shares the disk with the preload's write-back.
/// SQLite: the write-ahead log copied into the database file, the file synced and the log
/// emptied (`Store::shutdown`; the server then starts on a file alone, as the 1-s target has
/// it). PostgreSQL: statistics, a visibility map and a checkpoint
/// ([`ticketd_store_postgres::settle_after_load`]).
async fn settle(backend: &str, url: &str, store: &dyn Store) -> anyhow::Result<()> {
    store.shutdown().await?;
    if backend == "postgres" {
        ticketd_store_postgres::settle_after_load(url).await?;
    }
    Ok(())
}

/// Renders the report as the table BENCHMARKS.md shows.
pub fn table(report: &BenchReport) -> String {
    // The database's column only where some scenario measured it (PostgreSQL on this machine).
    let with_database = report
        .scenarios
        .iter()
        .any(|s| s.database_cpu_us_per_request.is_some());
    let (database_head, database_rule) = if with_database {
        (" database CPU µs/req |", "---|")
    } else {
        ("", "")
    };
    let micros = |us: Option<f64>| us.map_or_else(|| "–".to_owned(), |us| format!("{us:.0}"));
    let mut out = format!(
        "backend {} | tickets {} + approve pool {} | preload {:.0}/s | ready {} ms | connections {} | {:.0} s per scenario\n\
         ceilings: raw durable commit {:.0}/s, healthz {:.0}/s | server peak RSS {:.1} MiB\n\n\
         | scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | ratio to ceiling | server CPU µs/req |{database_head}\n\
         |---|---|---|---|---|---|---|---|{database_rule}\n",
        report.backend,
        report.tickets,
        report.approve_pool_tickets,
        report.preload_per_second,
        report.ready_ms,
        report.connections,
        report.duration_seconds,
        report.raw_commit_per_second,
        report.healthz_per_second,
        report.peak_rss_mib
    );
    for s in &report.scenarios {
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.2} × {} | {} |{}\n",
            s.name,
            s.throughput,
            s.p50_ms,
            s.p99_ms,
            s.p999_ms,
            s.errors,
            s.ratio,
            s.ceiling,
            micros(s.server_cpu_us_per_request),
            if with_database {
                format!(" {} |", micros(s.database_cpu_us_per_request))
            } else {
                String::new()
            }
        ));
    }
    for s in &report.scenarios {
        if s.seconds < report.duration_seconds * 0.95 {
            out.push_str(&format!(
                "\n{}: its work ran out after {:.1} s; its rate is over that time\n",
                s.name, s.seconds
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A server that answers each connection's first request with `status` and closes it,
    /// handing each request's head to the test.
    fn closing_server(
        statuses: Vec<u16>,
    ) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (heads, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for status in statuses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                head.push_str(&String::from_utf8(body).unwrap());
                heads.send(head).unwrap();
                write!(
                    &stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                )
                .unwrap();
            }
        });
        (addr, received)
    }

    #[tokio::test]
    async fn a_connection_sends_the_request_and_reconnects_after_the_server_closes_it() {
        let (addr, heads) = closing_server(vec![201, 200]);
        let mut connection = Connection::new(addr);
        let open = Request {
            method: Method::POST,
            path: "/api/v1/tickets/apply-asset-tickets/open/".into(),
            token: "token-a".into(),
            body: Some(json!({"title": "t"})),
            expect: 201,
        };
        assert!(connection.send(&open).await.unwrap());
        let head = heads.recv().unwrap();
        assert!(
            head.starts_with("POST /api/v1/tickets/apply-asset-tickets/open/ HTTP/1.1\r\n"),
            "{head}"
        );
        let head = head.to_ascii_lowercase();
        assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        assert!(head.contains("authorization: token token-a\r\n"), "{head}");
        assert!(
            head.contains("content-type: application/json\r\n"),
            "{head}"
        );
        assert!(head.ends_with("{\"title\":\"t\"}"), "{head}");

        // The server closed that connection: the next request fails, and the one after it
        // goes out on a new connection (whose status is not the expected one).
        let health = Request {
            expect: 204,
            ..Request::healthz()
        };
        assert!(connection.send(&health).await.is_err());
        assert!(!connection.send(&health).await.unwrap());
        let head = heads.recv().unwrap();
        assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }

    /// A server that answers every request of every connection with 200 and keeps the
    /// connection open, counting the requests it answered.
    fn keep_alive_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = answered.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (stream, counter) = (stream.unwrap(), counter.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            counter.fetch_add(1, Ordering::SeqCst);
                            write!(&stream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .unwrap();
                        }
                    }
                });
            }
        });
        (addr, answered)
    }

    #[tokio::test]
    async fn a_scenario_whose_work_runs_out_ends_with_its_last_answer() {
        let (addr, answered) = keep_alive_server();
        let plan: Plan = Arc::new(|n, _| {
            if n < 40 {
                vec![Request::healthz()]
            } else {
                Vec::new()
            }
        });
        let time = Duration::from_secs(60);
        let measured = drive(addr, "pool", 4, time, plan).await.unwrap();
        let cpu = Cpu {
            server: Some(0.004),
            database: None,
        };
        let pool = result("pool", (measured, cpu), ("healthz", 1.0));
        assert_eq!((pool.requests, pool.errors), (40, 0));
        // 4 ms of the server's CPU over 40 requests.
        assert!(
            (pool.server_cpu_us_per_request.unwrap() - 100.0).abs() < 1e-9,
            "{:?}",
            pool.server_cpu_us_per_request
        );
        assert_eq!(answered.load(Ordering::SeqCst), 40);
        // The workers stopped when the plan had nothing left, not at the deadline, and the rate
        // is over the time the scenario ran.
        assert!(pool.seconds < 30.0, "{}", pool.seconds);
        assert!((pool.throughput - 40.0 / pool.seconds).abs() < 1e-6);

        let report = BenchReport {
            backend: "sqlite".into(),
            tickets: 0,
            approve_pool_tickets: 0,
            preload_per_second: 0.0,
            ready_ms: 0,
            connections: 4,
            duration_seconds: time.as_secs_f64(),
            raw_commit_per_second: 1.0,
            healthz_per_second: 1.0,
            scenarios: vec![pool],
            peak_rss_mib: 0.0,
        };
        let rendered = table(&report);
        assert!(
            rendered.contains("\npool: its work ran out after "),
            "{rendered}"
        );
        assert!(rendered.contains(" | 100 |\n"), "{rendered}");
    }

    #[test]
    fn a_scratch_directory_is_new_and_its_parent_must_exist() {
        let parent = tempfile::tempdir().unwrap();
        let left = parent
            .path()
            .join(format!("ticketd-bench-{}-0", std::process::id()));
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join("bench.db"), "an earlier run's").unwrap();
        let scratch = Scratch::create_in(parent.path()).unwrap();
        assert_ne!(*scratch, left);
        assert_eq!(std::fs::read_dir(&*scratch).unwrap().count(), 0);
        drop(scratch);
        assert!(
            left.join("bench.db").exists(),
            "the earlier directory was touched"
        );
        let missing = parent.path().join("mistyped");
        let refused = Scratch::create_in(&missing).err().unwrap();
        assert!(
            refused.to_string().contains("could not create"),
            "{refused:#}"
        );
        assert!(!missing.exists());
    }

    #[test]
    fn the_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             96367                96367                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        assert_eq!(
            open_files_limit(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
        assert_eq!(open_files_limit(""), None);
    }

    #[test]
    fn a_scenario_s_rate_and_ratio_count_only_the_answers_it_expected() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        histogram.record(1_000).unwrap();
        let cpu = Cpu {
            server: Some(0.01),
            database: None,
        };
        // 100 requests in 2 s, 40 of them refused: 30 answers a second, half of a 60/s ceiling.
        let refused = result("open", ((histogram, 100, 40, 2.0), cpu), ("raw", 60.0));
        assert_eq!((refused.requests, refused.errors), (100, 40));
        assert!(
            (refused.throughput - 30.0).abs() < 1e-9,
            "{}",
            refused.throughput
        );
        assert!((refused.ratio - 0.5).abs() < 1e-9, "{}", refused.ratio);
        // The CPU is spent on every request, refused or not.
        assert!((refused.server_cpu_us_per_request.unwrap() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_cpu_times_are_read_after_the_command_name_whatever_it_holds() {
        // Fields 14 and 15 (utime, stime) are 250 and 50 ticks: 3 s at 100 ticks a second.
        let stat = "4242 (ticketd (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    9 0 1000 2000000 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_from_stat("4242 (cut short) S 1"), None);
        assert_eq!(cpu_seconds_from_stat("no name at all"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_seconds_from_stat(&own).is_some(), "{own}");
    }

    #[test]
    fn the_database_s_cpu_is_summed_over_its_processes_by_process_id() {
        let proc_root = tempfile::tempdir().unwrap();
        let stat = |pid: u32, name: &str, ticks: u64| {
            let dir = proc_root.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let line = format!("{pid} ({name}) S 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0");
            std::fs::write(dir.join("stat"), line).unwrap();
        };
        stat(10, "postgres", 100);
        stat(11, "postgres", 50);
        stat(12, "ticketd", 900);
        stat(13, "postgres: x", 900);
        std::fs::create_dir_all(proc_root.path().join("self")).unwrap();
        let before = cpu_seconds_by_process(proc_root.path(), "postgres");
        assert_eq!(before, HashMap::from([(10, 1.0), (11, 0.5)]));

        // Process 10 used 2 s more, 11 ended, 14 started and used 0.25 s.
        stat(10, "postgres", 300);
        std::fs::remove_dir_all(proc_root.path().join("11")).unwrap();
        stat(14, "postgres", 25);
        let after = cpu_seconds_by_process(proc_root.path(), "postgres");
        assert_eq!(cpu_used_between(&before, &after), 2.25);
        // A process id taken again by a younger process never counts as negative time.
        let reused = HashMap::from([(10, 0.5)]);
        assert_eq!(cpu_used_between(&before, &reused), 0.0);
        assert!(cpu_seconds_by_process(&proc_root.path().join("missing"), "postgres").is_empty());
    }

    #[test]
    fn only_a_database_on_a_loopback_address_or_a_socket_counts_as_on_this_machine() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/bench",
            "postgresql://u:p@localhost/bench",
            "postgres://[::1]:5432/bench",
            "postgres:///bench",
            "postgres://u@%2Frun%2Fpostgresql/bench?host=/run/postgresql",
            "postgres://a@127.0.0.1:5432,localhost:5433/bench",
            "host=127.0.0.1 user=postgres dbname=bench",
            "user=postgres dbname=bench",
            "host=/var/run/postgresql dbname=bench",
        ] {
            assert!(database_on_this_machine(url), "{url}");
        }
        for url in [
            "postgres://postgres@db.internal:5432/bench",
            "postgres://u:p@10.0.0.5/bench",
            "postgres://a@127.0.0.1:5432,db.internal:5432/bench",
            "postgres://u@localhost/bench?host=db.internal",
            "host=db.internal user=postgres",
        ] {
            assert!(!database_on_this_machine(url), "{url}");
        }
    }

    #[test]
    fn the_table_has_a_database_column_only_where_a_scenario_measured_it() {
        let scenario = |database| ScenarioResult {
            name: "open".into(),
            requests: 10,
            errors: 0,
            seconds: 1.0,
            throughput: 10.0,
            p50_ms: 1.0,
            p99_ms: 1.0,
            p999_ms: 1.0,
            ceiling: "raw durable commit".into(),
            ratio: 0.5,
            server_cpu_us_per_request: Some(100.0),
            database_cpu_us_per_request: database,
        };
        let report = |database| BenchReport {
            backend: "postgres".into(),
            tickets: 10,
            approve_pool_tickets: 0,
            preload_per_second: 1.0,
            ready_ms: 1,
            connections: 1,
            duration_seconds: 1.0,
            raw_commit_per_second: 20.0,
            healthz_per_second: 1.0,
            scenarios: vec![scenario(database)],
            peak_rss_mib: 1.0,
        };
        let measured = table(&report(Some(450.4)));
        let header = "| server CPU µs/req | database CPU µs/req |\n";
        assert!(measured.contains(header), "{measured}");
        assert!(
            measured.contains(&format!("\n{}\n", "|---".repeat(9) + "|")),
            "{measured}"
        );
        assert!(
            measured.contains(" × raw durable commit | 100 | 450 |\n"),
            "{measured}"
        );
        let elsewhere = table(&report(None));
        assert!(!elsewhere.contains("database CPU"), "{elsewhere}");
        assert!(
            elsewhere.contains(" × raw durable commit | 100 |\n"),
            "{elsewhere}"
        );
    }

    fn options(
        tickets: usize,
        connections: usize,
        seconds: u64,
        scenarios: &[&str],
    ) -> BenchOptions {
        BenchOptions {
            database_url: None,
            tickets,
            connections,
            duration: Duration::from_secs(seconds),
            scenarios: scenarios.iter().map(|s| (*s).to_owned()).collect(),
            server_binary: PathBuf::from("ticketd"),
        }
    }

    #[test]
    fn options_that_would_measure_nothing_or_panic_are_refused_with_the_reason() {
        let refused = |o: BenchOptions| check_options(&o).unwrap_err().to_string();
        let unknown = refused(options(10, 16, 10, &["open", "aprove"]));
        assert!(
            unknown.contains("unknown scenario `aprove`")
                && unknown.contains("open, approve, awaiting-me, filtered, detail, mixed"),
            "{unknown}"
        );
        assert!(refused(options(10, 0, 10, &[])).contains("--connections must be at least 1"));
        assert!(refused(options(10, 16, 0, &[])).contains("--seconds must be at least 1"));
        for scenarios in [&[][..], &["detail"], &["open", "mixed"]] {
            let empty = refused(options(0, 16, 10, scenarios));
            assert!(
                empty.contains("--tickets must be at least 1"),
                "{scenarios:?}: {empty}"
            );
        }
        for (tickets, scenarios) in [
            (0, &["open", "approve", "awaiting-me", "filtered"][..]),
            (1, &[]),
            (1, &SCENARIOS[..]),
        ] {
            assert!(
                check_options(&options(tickets, 1, 1, scenarios)).is_ok(),
                "{scenarios:?}"
            );
        }
    }

    #[test]
    fn the_approve_pool_lasts_its_scenario_at_16_000_decisions_a_second() {
        for seconds in [1, 5, 10, 15, 60] {
            let pool = approve_pool_size(Duration::from_secs(seconds));
            let decisions = 2 * u64::try_from(pool).unwrap();
            assert!(decisions >= 16_000 * seconds, "{seconds} s: {pool} tickets");
        }
    }

    /// The scenarios start on a settled file: the preload's log is in the database file, which
    /// is synced, and the server has no log to read at its start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_preloaded_sqlite_file_is_settled_before_anything_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bench.db");
        let url = format!("sqlite://{}", file.display());
        let config = crate::config::Config {
            database_url: url.clone(),
            ..crate::config::Config::default()
        };
        let (store, _) = crate::open_store(&config).await.unwrap();
        let engine = crate::engine(&config, store.clone()).unwrap();
        crate::bootstrap(&config, &engine).await.unwrap();
        let data = preload(&engine, 30, 10).await.unwrap();
        let log = dir.path().join("bench.db-wal");
        let log_bytes = || std::fs::metadata(&log).unwrap().len();
        assert!(log_bytes() > 0, "the preload left nothing in the log");
        settle("sqlite", &url, store.as_ref()).await.unwrap();
        assert_eq!(log_bytes(), 0);
        // The database file alone now holds the preload.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&file, &copy).unwrap();
        let tickets: i64 = rusqlite::Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM tickets", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tickets, 40);
        assert_eq!(data.approve_pool.len(), 10);
    }
}
