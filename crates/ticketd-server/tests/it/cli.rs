//! The `ticketd` command line: help, default-config, migrate, user/token/key creation, serve and shutdown.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ticketd(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketd"));
    command
        .current_dir(dir)
        .env_remove("TICKETD_ADMIN_TOKEN")
        .env_remove("TICKETD_ADMIN_PASSWORD")
        .env_remove("TICKETD_DATABASE_URL");
    command
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Sends SIGTERM to `child`, as a service manager stopping it would.
fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs a command that must fail with a message, not a panic; answers its standard error.
fn run_refused(command: &mut Command) -> String {
    refused_output(command).0
}

/// As [`run_refused`], answering its standard output too.
fn refused_output(command: &mut Command) -> (String, Vec<u8>) {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{command:?} succeeded");
    assert!(!stderr.contains("panicked"), "{command:?}: {stderr}");
    (stderr, output.stdout)
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["default-config", "--help"],
        vec!["healthcheck", "--help"],
        vec!["user", "create", "--help"],
        vec!["token", "create", "--help"],
        vec!["access-key", "create", "--help"],
    ] {
        let out = run_ok(ticketd(dir.path()).args(&args));
        assert!(out.contains("Usage"), "{args:?}");
    }
}

#[test]
fn default_config_is_commented_toml() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(ticketd(dir.path()).arg("default-config"));
    assert!(out.contains("# ticketd configuration."));
    assert!(
        out.parse::<toml::Table>()
            .unwrap()
            .contains_key("database_url")
    );
}

#[test]
fn migrate_then_create_user_token_and_access_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_ok(ticketd(dir.path()).arg("migrate"));
    assert!(
        first.contains("migration(s) applied") && !first.starts_with('0'),
        "{first}"
    );
    assert!(
        dir.path().join("ticketd.db").exists(),
        "the default database is ticketd.db in the working directory"
    );
    assert!(run_ok(ticketd(dir.path()).arg("migrate")).starts_with("0 migration(s) applied"));
    let mut create = ticketd(dir.path());
    create
        .args([
            "user",
            "create",
            "--username",
            "bob",
            "--name",
            "Bob",
            "--password-stdin",
            "--org",
            "Default:admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = create.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bob-password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = run_ok(ticketd(dir.path()).args(["token", "create", "--username", "bob"]));
    assert_eq!(token.trim().len(), 40);
    let key = run_ok(ticketd(dir.path()).args(["access-key", "create", "--username", "bob"]));
    assert!(key.starts_with("id: ") && key.contains("\nsecret: "));
    // Each command copied its log into the file, as a clean stop of `serve` does: a copy of
    // the file alone holds what they wrote (it held nothing, the tables included, while all
    // of it was in `ticketd.db-wal`).
    assert_no_log_left(dir.path());
    let missing = ticketd(dir.path())
        .args(["token", "create", "--username", "nobody"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user named"));
    let bad_scheme = ticketd(dir.path())
        .args(["migrate", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert!(!bad_scheme.status.success());
    assert!(String::from_utf8_lossy(&bad_scheme.stderr).contains("unknown scheme"));
}

/// Stops a server with SIGTERM; it must exit 0. Answers what it wrote to its standard error.
fn stop_gracefully(child: &mut std::process::Child) -> String {
    terminate(child);
    stop_output(child)
}

/// A served `ticketd serve`, killed when dropped if it still runs: a test that fails before it
/// stops the server leaves none behind.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

/// Starts `ticketd serve` on a free port in `dir` with the extra environment `env`, its
/// standard error piped; answers it once healthy, with its address.
fn serving(dir: &std::path::Path, env: &[(&str, &str)]) -> (Served, String) {
    let addr = format!("127.0.0.1:{}", crate::multiprocess::free_port());
    let child = Served(
        ticketd(dir)
            .args(["serve", "--listen", &addr])
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(
        healthy_within_20_s(dir, &addr),
        "server did not become healthy"
    );
    (child, addr)
}

/// Whether `ticketd healthcheck` passes against `addr` within 20 seconds.
fn healthy_within_20_s(dir: &std::path::Path, addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let check = ticketd(dir)
            .args(["healthcheck", "--addr", addr])
            .output()
            .unwrap();
        if check.status.success() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// On PostgreSQL a SIGTERM stops the server cleanly too, and its last line does not speak of
/// SQLite's database file (it did until 2026-12-06).
#[tokio::test]
async fn a_server_on_postgres_stops_cleanly_on_sigterm() {
    let Some(database) = crate::pg::TestDatabase::create_if_configured().await else {
        return;
    };
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", crate::multiprocess::free_port());
        // Migrated before, as at every start after the first.
        run_ok(ticketd(dir.path()).args(["migrate", "--database-url", &url]));
        let mut child = ticketd(dir.path())
            .args(["serve", "--listen", &addr, "--database-url", &url])
            .env("TICKETD_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(healthy_within_20_s(dir.path(), &addr), "not healthy");
        let stderr = stop_gracefully(&mut child);
        assert!(stderr.contains("store closed"), "{stderr}");
        assert!(!stderr.contains("database file"), "{stderr}");
        assert!(!stderr.contains("ERROR"), "{stderr}");
        assert!(
            !stderr.contains("already exists"),
            "PostgreSQL's notice: {stderr}"
        );
    })
    .await
    .unwrap();
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serving(dir.path(), &[("TICKETD_ADMIN_TOKEN", "cli-test-token")]);
    // One process serves a SQLite file (its caches know only its own writes): a second server
    // is refused with the reason, while one-off commands still run beside the first.
    let other_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut second = ticketd(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{other_port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second server started on the file the first one serves");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let refusal = second.wait_with_output().unwrap();
    let second_stderr = String::from_utf8_lossy(&refusal.stderr);
    assert!(!refusal.status.success());
    assert!(
        second_stderr.contains("another ticketd process is serving"),
        "{second_stderr}"
    );
    run_ok(ticketd(dir.path()).args(["user", "create", "--username", "beside"]));
    // A client's mistake that ZStack answers 503 (its convention for every refusal) is not
    // logged as an error of the server.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(
            b"GET /zstack/v1/tickets HTTP/1.1\r\nHost: t\r\nAuthorization: OAuth wrong\r\n\
              Connection: close\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let stderr = stop_gracefully(&mut child);
    assert!(stderr.contains("shutting down"));
    assert!(
        !stderr.contains("cli-test-token"),
        "secrets are never logged"
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
    // The stop copied the write-ahead log into the file: the user the one-off command wrote
    // beside the server (which its own log held until then) is in a copy of the file alone.
    assert!(stderr.contains("store closed"), "{stderr}");
    let log = dir.path().join("ticketd.db-wal");
    assert_eq!(std::fs::metadata(&log).map_or(0, |m| m.len()), 0);
    let copy = dir.path().join("backup.db");
    std::fs::copy(dir.path().join("ticketd.db"), &copy).unwrap();
    let found: i64 = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM users WHERE username = 'beside'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(found, 1);
}

/// The whole answer to `GET path` on `addr`, with `headers` (each ending in `\r\n`).
fn raw_get(addr: &str, path: &str, headers: &str) -> String {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n"),
    )
}

/// Sends `request` as written to `addr` and answers all it gets back.
fn raw_request(addr: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The status of `GET path` on `addr` with `Authorization: Token <token>`.
fn status_with_token(addr: &str, path: &str, token: &str) -> u16 {
    let answer = raw_get(addr, path, &format!("Authorization: Token {token}\r\n"));
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

/// A one-off command beside a SQLite server that revokes admin's token (a new
/// `TICKETD_ADMIN_TOKEN`): the server stops accepting the token within moments. Until
/// 2026-12-07 it kept accepting it, as it had it in memory, until its own next write of users
/// or tokens (the store's test `a_serving_store_sees_the_commits_of_commands_beside_it`).
#[test]
fn a_server_sees_what_a_command_beside_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serving(dir.path(), &[("TICKETD_ADMIN_TOKEN", "first-token")]);
    let profile = "/api/v1/users/profile/";
    assert_eq!(status_with_token(&addr, profile, "first-token"), 200);
    run_ok(
        ticketd(dir.path())
            .args([
                "user",
                "create",
                "--username",
                "lead",
                "--org",
                "Default:admin",
            ])
            .env("TICKETD_ADMIN_TOKEN", "second-token"),
    );
    let lead = run_ok(ticketd(dir.path()).args(["token", "create", "--username", "lead"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_with_token(&addr, profile, "first-token") != 401 {
        assert!(Instant::now() < deadline, "the revoked token still works");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_with_token(&addr, profile, "second-token"), 200);
    // The command's administrator: a token lookup of the server's (read again, as every one is
    // once the server has seen the command's commit) reads the directory afresh.
    assert_eq!(status_with_token(&addr, profile, lead.trim()), 200);
    stop_gracefully(&mut child);
}

#[tokio::test]
async fn migrate_works_on_postgres_too() {
    let Some(database) = crate::pg::TestDatabase::create_if_configured().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = database.url.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let first = run_ok(ticketd(dir.path()).args(["migrate", "--database-url", &url]));
        let second = run_ok(ticketd(dir.path()).args(["migrate", "--database-url", &url]));
        (first, second)
    })
    .await
    .unwrap();
    assert!(
        !runs.0.starts_with('0') && runs.0.contains("migration(s) applied"),
        "{}",
        runs.0
    );
    assert!(runs.1.starts_with("0 migration(s) applied"), "{}", runs.1);
}

/// Runs `ticketd bench` on 200 tickets for a second per scenario with `extra` arguments, checks
/// that every scenario ran without errors and measured the server's CPU (and the database's
/// where `database_cpu`), and that the run left no scratch files.
fn bench_tiny(extra: &[&str], database_cpu: bool) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let temp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bench",
        "--tickets",
        "200",
        "--connections",
        "2",
        "--seconds",
        "1",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run_ok(ticketd(dir.path()).env("TMPDIR", temp.path()).args(&args));
    assert!(out.contains("| scenario | req/s |"), "{out}");
    assert_eq!(
        out.contains("| database CPU µs/req |"),
        database_cpu,
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "healthz",
            "open",
            "approve",
            "awaiting-me",
            "filtered",
            "detail",
            "mixed"
        ]
    );
    for scenario in report["scenarios"].as_array().unwrap() {
        assert_eq!(scenario["errors"], 0, "{scenario}");
        assert!(scenario["requests"].as_u64().unwrap() > 0, "{scenario}");
        // A second of requests costs the server (and the database) far more than /proc's 10 ms
        // resolution.
        let cpu = scenario["server_cpu_us_per_request"].as_f64().unwrap();
        assert!(cpu > 0.0 && cpu.is_finite(), "{scenario}");
        let database = &scenario["database_cpu_us_per_request"];
        if database_cpu {
            let cpu = database.as_f64().unwrap();
            assert!(cpu > 0.0 && cpu.is_finite(), "{scenario}");
        } else {
            assert!(database.is_null(), "{scenario}");
        }
    }
    assert!(report["raw_commit_per_second"].as_f64().unwrap() > 0.0);
    // 8,000 pending tickets per second of `approve`, besides the 200 asked for.
    assert_eq!(report["tickets"], 200);
    assert_eq!(report["approve_pool_tickets"], 8_000);
    assert!(out.contains("| tickets 200 + approve pool 8000 |"), "{out}");
    assert!(report["peak_rss_mib"].as_f64().unwrap() > 0.0);
    let left: Vec<_> = std::fs::read_dir(temp.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the bench left its scratch files: {left:?}"
    );
}

/// An organization with a suffix other than `:admin` is refused with the suffix named, and an
/// e-mail address that is not one is refused as the JumpServer API refuses it.
#[test]
fn user_create_refuses_a_wrong_organization_suffix_and_a_bad_email() {
    let dir = tempfile::tempdir().unwrap();
    let create_zed = |org: &str| {
        let mut command = ticketd(dir.path());
        command.args(["user", "create", "--username", "zed", "--org", org]);
        command
    };
    let stderr = run_refused(&mut create_zed("Default:owner"));
    assert!(
        stderr.contains("no organization \"Default:owner\"")
            && stderr.contains("as in \"Default:admin\"; `owner` is not it"),
        "{stderr}"
    );
    run_ok(&mut create_zed("Default:admin"));
    let stderr = run_refused(ticketd(dir.path()).args([
        "user",
        "create",
        "--username",
        "ann",
        "--email",
        "not-an-address",
    ]));
    assert!(
        stderr.contains("email: Enter a valid email address."),
        "{stderr}"
    );
    // Nobody joins the global or system organization (the API never made such a member; the
    // CLI did, who then entered ROOT as a plain user), and nothing is written: the name is free.
    for org in ["ROOT", "SYSTEM", "00000000-0000-0000-0000-000000000000"] {
        let stderr = run_refused(ticketd(dir.path()).args([
            "user",
            "create",
            "--username",
            "yan",
            "--org",
            org,
        ]));
        assert!(stderr.contains("have no members"), "{org}: {stderr}");
    }
    run_ok(ticketd(dir.path()).args(["user", "create", "--username", "yan"]));
}

/// `--org X:admin` where an organization is named `X:admin` as well as `X` is refused as
/// ambiguous (it made the user an admin of `X` without a word), and names the organization
/// `X:admin` where no `X` exists (it was refused); ids say which is meant.
#[test]
fn user_create_refuses_an_organization_suffix_that_is_also_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serving(dir.path(), &[("TICKETD_ADMIN_TOKEN", "t")]);
    let create_org = |name: &str| {
        let body = format!("{{\"name\":\"{name}\"}}");
        let answer = raw_request(
            &addr,
            &format!(
                "POST /api/v1/orgs/orgs/ HTTP/1.1\r\nHost: t\r\nAuthorization: Token t\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        let json: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        json["id"].as_str().unwrap().to_owned()
    };
    let plain = create_org("ns");
    let colon = create_org("ns:admin");
    let solo = create_org("solo:admin");
    // The roles `username` holds in organization `org`, once the server has seen the command
    // (it looks every 50 ms).
    let roles_in = |org: &str, username: &str| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let users = loop {
            let answer = raw_get(
                &addr,
                &format!("/api/v1/users/users/?username={username}"),
                &format!("Authorization: Token t\r\nX-JMS-ORG: {org}\r\n"),
            );
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            let body = answer.split("\r\n\r\n").nth(1).unwrap();
            let users: serde_json::Value = serde_json::from_str(body).unwrap();
            if users.as_array().is_some_and(|u| !u.is_empty()) {
                break users;
            }
            assert!(Instant::now() < deadline, "{username} not listed in {org}");
            std::thread::sleep(Duration::from_millis(50));
        };
        users[0]["org_roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|role| role["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let admin_role = ticketd_core::identity::ROLE_ORG_ADMIN.0.to_string();
    let user_role = ticketd_core::identity::ROLE_ORG_USER.0.to_string();
    let create = |username: &str, org: &str| {
        let mut command = ticketd(dir.path());
        command.args(["user", "create", "--username", username, "--org", org]);
        command
    };
    let stderr = run_refused(&mut create("amb", "ns:admin"));
    assert!(
        stderr.contains("\"ns:admin\" is ambiguous")
            && stderr.contains(&format!("({colon}, or {plain}:admin)")),
        "{stderr}"
    );
    run_ok(&mut create("amb", &format!("{plain}:admin")));
    assert_eq!(roles_in(&plain, "amb"), [admin_role]);
    run_ok(&mut create("solo", "solo:admin"));
    assert_eq!(roles_in(&solo, "solo"), [user_role]);
    let stderr = run_refused(&mut create("none", ":admin"));
    assert!(
        stderr.contains("`:admin` must follow an organization"),
        "{stderr}"
    );
    let stderr = run_refused(&mut create("none", "nowhere:admin"));
    assert!(
        stderr.contains("no organization \"nowhere\" (nor one named \"nowhere:admin\")"),
        "{stderr}"
    );
    stop_gracefully(&mut child);
}

/// A password holding a null character is refused, as through the API: JumpServer's login,
/// which sends the password itself, cannot carry one (the CLI created such users).
#[test]
fn user_create_refuses_a_password_with_a_null_character() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = ticketd(dir.path());
    create
        .args(["user", "create", "--username", "nul", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = create.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"nul\0inside-1!\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("password must not hold a null character"),
        "{stderr}"
    );
    // Nothing was written: the name is free.
    run_ok(ticketd(dir.path()).args(["user", "create", "--username", "nul"]));
}

/// A one-off command that fails after the store was written (here bootstrapped) copies its log
/// into the file too: it was left all in the log.
#[test]
fn a_failed_command_leaves_no_log_behind() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_refused(ticketd(dir.path()).args(["token", "create", "--username", "nobody"]));
    assert!(stderr.contains("no user named"), "{stderr}");
    assert_no_log_left(dir.path());
}

/// A `serve` refused after it opened a new file (a bootstrap refusing its admin token) leaves
/// no log behind either: the migrations were all in it.
#[test]
fn a_refused_start_leaves_no_log_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = ticketd(dir.path());
    serve
        .env("TICKETD_ADMIN_TOKEN", "a b")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let stderr = run_refused(&mut serve);
    assert!(stderr.contains("no spaces"), "{stderr}");
    assert_no_log_left(dir.path());
}

/// A start refusing its admin token writes nothing first: admin, created with a generated
/// password the failed start never printed, was left for the next start, which printed none.
#[test]
fn a_refused_admin_token_leaves_the_first_start_to_come() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_refused(ticketd(dir.path()).env("TICKETD_ADMIN_TOKEN", "a b").args([
        "user",
        "create",
        "--username",
        "bob",
    ]));
    assert!(stderr.contains("no spaces"), "{stderr}");
    assert_prints_admin_password(ticketd(dir.path()).args(["user", "create", "--username", "bob"]));
}

/// Asserts that `dir`'s default database has no write-ahead log left with anything in it: the
/// file alone holds every commit.
fn assert_no_log_left(dir: &std::path::Path) {
    let left = std::fs::metadata(dir.join("ticketd.db-wal")).map_or(0, |m| m.len());
    assert_eq!(left, 0, "{left} bytes of log left");
}

/// Runs `command`, which must succeed and print admin's generated password.
fn assert_prints_admin_password(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("created user admin with the generated password"),
        "{stderr}"
    );
}

/// A token lifetime beyond a century, or not positive, is refused with the engine's reason (a
/// lifetime of 99,999,999,999 hours panicked).
#[test]
fn token_create_refuses_a_lifetime_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(ticketd(dir.path()).args(["user", "create", "--username", "bob"]));
    for hours in ["0", "-3", "876601", "99999999999", "-99999999999"] {
        let stderr = run_refused(ticketd(dir.path()).args([
            "token",
            "create",
            "--username",
            "bob",
            "--ttl-hours",
            hours,
        ]));
        assert!(
            stderr.contains("ttl: a token's lifetime must be more than 0 and at most 100 years"),
            "{hours}: {stderr}"
        );
    }
    let longest = run_ok(ticketd(dir.path()).args([
        "token",
        "create",
        "--username",
        "bob",
        "--ttl-hours",
        "876600",
    ]));
    assert_eq!(longest.trim().len(), 40);
}

/// A bench run that would be over in seconds: ten tickets, one scenario of a second.
const TINY_RUN: [&str; 6] = ["--tickets", "10", "--seconds", "1", "--scenarios", "detail"];

/// Options that would measure nothing, or something else than asked, or whose report could
/// not be written, fail before any preload.
#[test]
fn bench_refuses_an_unknown_scenario_and_an_empty_dataset_for_detail() {
    let dir = tempfile::tempdir().unwrap();
    let unwritable_report = [
        &["--json", "/nonexistent-ticketd-dir/bench.json"][..],
        &TINY_RUN,
    ]
    .concat();
    for (args, reason) in [
        (
            &["--scenarios", "open,detial"][..],
            "unknown scenario `detial`: the scenarios are open, approve",
        ),
        (
            &["--tickets", "0", "--scenarios", "detail"],
            "--tickets must be at least 1",
        ),
        (&["--connections", "0"], "--connections must be at least 1"),
        (&["--seconds", "0"], "--seconds must be at least 1"),
        (
            &["--seconds", "18446744073709551615"],
            "--seconds must be at most 86400",
        ),
        (
            &["--tickets", "18446744073709551615"],
            "--tickets must be at most 100000000",
        ),
        (
            &unwritable_report[..],
            "could not write /nonexistent-ticketd-dir/bench.json",
        ),
    ] {
        let (stderr, stdout) = refused_output(ticketd(dir.path()).arg("bench").args(args));
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} measured something");
    }
}

/// A database that holds users already (one in use, or an earlier run's) is refused before
/// anything is written to it.
#[test]
fn bench_refuses_a_database_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("in-use.db").display());
    run_ok(ticketd(dir.path()).args([
        "--database-url",
        &url,
        "user",
        "create",
        "--username",
        "alice",
    ]));
    let db = rusqlite::Connection::open(dir.path().join("in-use.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let before = (count("users"), count("tickets"));
    let stderr = run_refused(
        ticketd(dir.path())
            .args(["--database-url", &url, "bench"])
            .args(TINY_RUN),
    );
    assert!(
        stderr.contains(&format!("already holds {} user(s)", before.0))
            && stderr.contains("give it an empty one"),
        "{stderr}"
    );
    assert_eq!((count("users"), count("tickets")), before);
}

/// More connections than the open-file limit allows are refused before the preload, with the
/// limit named (they used to fail one by one as the scenario's errors).
#[test]
fn bench_refuses_more_connections_than_open_files_allow() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_refused(Command::new("sh").current_dir(dir.path()).args([
        "-c",
        &format!(
            "ulimit -n 256 && exec {} bench --connections 300",
            env!("CARGO_BIN_EXE_ticketd")
        ),
    ]));
    assert!(
        stderr.contains(
            "--connections 300 needs about 364 open files, and this process may open 256"
        ),
        "{stderr}"
    );
}

/// A server that cannot start (here a `TICKETD_*` setting it inherits and refuses) ends the run
/// at once with the server's own message, instead of a minute's wait for its health.
#[tokio::test]
async fn bench_stops_when_its_server_cannot_start() {
    // A server that exits at once (the run's own server ignores the settings that could make
    // it fail, so a binary that is no server stands for one).
    let temp = tempfile::tempdir().unwrap();
    let options = ticketd_server::bench::BenchOptions {
        database_url: Some(format!(
            "sqlite://{}",
            temp.path().join("bench.db").display()
        )),
        tickets: 10,
        connections: 1,
        duration: Duration::from_secs(1),
        scenarios: vec!["detail".into()],
        server_binary: "/bin/false".into(),
    };
    let error = ticketd_server::bench::run(options).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("the server exited"),
        "{error:#}"
    );
}

/// The report's path is checked without touching it: a refused run neither creates the file
/// nor changes the one already there.
#[test]
fn bench_leaves_the_report_file_as_it_was_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = dir.path().join("earlier.json");
    std::fs::write(&earlier, "{\"earlier\": true}").unwrap();
    let missing = dir.path().join("missing.json");
    for path in [&earlier, &missing] {
        run_refused(ticketd(dir.path()).args([
            "bench",
            "--scenarios",
            "detial",
            "--json",
            path.to_str().unwrap(),
        ]));
    }
    assert_eq!(
        std::fs::read_to_string(&earlier).unwrap(),
        "{\"earlier\": true}"
    );
    assert!(!missing.exists(), "a refused run created its report file");
}

/// Interrupted (SIGTERM here; a terminal's Ctrl-C sends SIGINT, handled alike), the bench stops
/// its server and removes its scratch files, whether in the preload or in a scenario, at once:
/// dying of the signal left a 1M run's 4.5 GB behind, and its server running, and a run
/// measuring on a thread of its own stopped only when the scenario ended.
#[test]
fn an_interrupted_bench_stops_its_server_and_removes_its_scratch_files() {
    // The first file of each phase: the preloaded store, the raw commit loop's (on a thread of
    // its own), then the server's lock on the store.
    for phase in ["bench.db", "raw-commit.db", "bench.db-serve.lock"] {
        let dir = tempfile::tempdir().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let child = ticketd(dir.path())
            .env("TMPDIR", temp.path())
            .args(["bench", "--tickets", "2000", "--seconds", "12"])
            .args(["--scenarios", "detail"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let scratch = loop {
            let found = std::fs::read_dir(temp.path())
                .unwrap()
                .flatten()
                .map(|entry| entry.path())
                .find(|path| path.join(phase).exists());
            if let Some(scratch) = found {
                break scratch;
            }
            assert!(
                Instant::now() < deadline,
                "no {phase} in the scratch directory"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // A quarter of a second later, the measurements (the raw commit loop among them, on a
        // thread of its own) are under way.
        std::thread::sleep(Duration::from_millis(250));
        terminate(&child);
        let asked = Instant::now();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            asked.elapsed() < Duration::from_secs(6),
            "{phase}: stopped {:?} after the signal (each measurement lasts 12 s)",
            asked.elapsed()
        );
        assert!(!output.status.success(), "{phase}: {stderr}");
        assert!(stderr.contains("interrupted"), "{phase}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(temp.path()).unwrap().collect();
        assert!(left.is_empty(), "{phase}: scratch files left: {left:?}");
        let scratch = scratch.to_str().unwrap();
        for process in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(scratch),
                "{phase}: a process still runs on the run's files: {:?}",
                process.path()
            );
        }
    }
}

#[test]
fn bench_runs_every_scenario_on_a_tiny_dataset() {
    bench_tiny(&[], false);
}

/// A run without `approve` preloads no pool for it: the store holds the tickets asked for.
#[test]
fn a_bench_without_approve_preloads_no_approve_pool() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let temp = tempfile::tempdir().unwrap();
    // The run's server takes the built-in settings, whatever the environment's TICKETD_*
    // variables say (these two failed the run after its preload).
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "deployment-token").unwrap();
    let out = run_ok(
        ticketd(dir.path())
            .env("TMPDIR", temp.path())
            .env("TICKETD_ADMIN_TOKEN_FILE", &token_file)
            .env("TICKETD_REQUEST_TIMEOUT_SECS", "0")
            .arg("bench")
            .args(TINY_RUN)
            .args(["--json", json.to_str().unwrap()]),
    );
    assert!(out.contains("| tickets 10 + approve pool 0 |"), "{out}");
    // A configuration file it would not read is refused before anything runs.
    let refused = run_refused(
        ticketd(dir.path())
            .env("TMPDIR", temp.path())
            .args(["bench", "--config", "bench.toml"])
            .args(TINY_RUN),
    );
    assert!(refused.contains("reads no configuration file"), "{refused}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["approve_pool_tickets"], 0, "{report}");
    let detail = &report["scenarios"][1];
    assert_eq!(detail["name"], "detail", "{report}");
    assert_eq!(detail["errors"], 0, "{report}");
    assert!(detail["requests"].as_u64().unwrap() > 0, "{report}");
}

/// On a PostgreSQL server of this machine the bench also measures the database's processes.
#[tokio::test]
async fn bench_runs_every_scenario_on_postgres_and_measures_its_cpu() {
    let Some(database) = crate::pg::TestDatabase::create_if_configured().await else {
        return;
    };
    let url = database.url.clone();
    // The machine's PostgreSQL is on a loopback address in every run of this suite.
    assert!(
        url.contains("127.0.0.1") || url.contains("localhost"),
        "{url}"
    );
    tokio::task::spawn_blocking(move || bench_tiny(&["--database-url", &url], true))
        .await
        .unwrap();
}

/// A one-off command that creates admin on a new database prints admin's generated password,
/// as `serve` would have (a later `serve` finds admin and prints none, so it was never shown).
#[test]
fn the_first_command_on_a_new_database_prints_admin_s_password() {
    let dir = tempfile::tempdir().unwrap();
    assert_prints_admin_password(ticketd(dir.path()).args(["user", "create", "--username", "x1"]));
    let again = ticketd(dir.path())
        .args(["user", "create", "--username", "x2"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stderr).contains("generated password"));
}

/// Output that cannot be written (a full disk) is a clear failure, not a panic.
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(ticketd(dir.path()).arg("migrate"));
    for args in [
        vec!["token", "create", "--username", "admin"],
        vec!["access-key", "create", "--username", "admin"],
        vec!["default-config"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let stderr = run_refused(ticketd(dir.path()).args(&args).stdout(full));
        assert!(stderr.contains("could not print"), "{args:?}: {stderr}");
    }
}

/// A standard error that cannot be written is a failure too (exit 1), not a panic (101): on a
/// new database, the command that cannot print admin's generated password says it failed, and
/// a later start with TICKETD_ADMIN_PASSWORD gives admin one.
#[test]
fn a_full_standard_error_is_a_failure_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for args in [
        vec!["token", "create", "--username", "admin"],
        vec!["token", "create", "--username", "nobody"],
    ] {
        let output = ticketd(dir.path())
            .args(&args)
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let token = run_ok(
        ticketd(dir.path())
            .args(["token", "create", "--username", "admin"])
            .env("TICKETD_ADMIN_PASSWORD", "Chosen-admin-1"),
    );
    assert!(!token.trim().is_empty());
}

/// `healthcheck` gives up after 5 s in all, also against a peer that answers a byte at a time
/// (each read waited 5 s: it never gave up).
#[test]
fn healthcheck_gives_up_on_a_trickling_peer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _request = stream.read(&mut [0_u8; 1024]);
        for _ in 0..30 {
            if stream.write_all(b"H").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let stderr = run_refused(ticketd(dir.path()).args(["healthcheck", "--addr", &addr]));
    let took = started.elapsed();
    assert!(stderr.contains("within 5 s"), "{stderr}");
    assert!(took < Duration::from_secs(12), "gave up after {took:?}");
    peer.join().unwrap();
}

/// A client stalled mid-body holds the stop for the request timeout; a second signal cuts it
/// short, and the store still closes cleanly.
#[test]
fn a_second_signal_stops_a_drain_held_by_a_stalled_client() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serving(dir.path(), &[("TICKETD_REQUEST_TIMEOUT_SECS", "120")]);
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(
            b"POST /api/v1/authentication/auth/ HTTP/1.1\r\nHost: t\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"user",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    terminate(&child);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal waits for the request"
    );
    let asked = Instant::now();
    terminate(&child);
    let deadline = asked + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a second signal did not stop it");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = stop_output(&mut child);
    assert!(stderr.contains("asked again"), "{stderr}");
    assert!(stderr.contains("store closed"), "{stderr}");
    drop(stalled);
}

/// The exit of a stopped `child` (it must be a success) and its standard error.
fn stop_output(child: &mut std::process::Child) -> String {
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// Refusals that must come before the database is touched or credentials are made.
#[test]
fn a_port_in_use_a_directory_and_a_deactivated_user_are_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let stderr = run_refused(ticketd(dir.path()).args(["serve", "--listen", &addr]));
    assert!(stderr.contains("could not bind"), "{stderr}");
    assert!(
        !dir.path().join("ticketd.db").exists() && !stderr.contains("generated password"),
        "a refused start touched the database: {stderr}"
    );
    drop(taken);
    std::fs::create_dir(dir.path().join("folder.db")).unwrap();
    let stderr = run_refused(
        ticketd(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database-url", "sqlite://folder.db"])
            .env("TICKETD_LOG", "off"),
    );
    assert!(stderr.contains("not a file"), "{stderr}");
    run_ok(ticketd(dir.path()).args(["user", "create", "--username", "gone"]));
    let conn = rusqlite::Connection::open(dir.path().join("ticketd.db")).unwrap();
    conn.execute("UPDATE users SET is_active = 0 WHERE username = 'gone'", [])
        .unwrap();
    drop(conn);
    for command in ["token", "access-key"] {
        let stderr =
            run_refused(ticketd(dir.path()).args([command, "create", "--username", "gone"]));
        assert!(stderr.contains("deactivated"), "{command}: {stderr}");
    }
}

/// Even at the debug level the request log holds no session or query string: ZStack's session
/// routes carry the session, which every dialect accepts as a token, in the path.
#[test]
fn the_debug_log_shows_no_session_from_a_path_or_query() {
    let dir = tempfile::tempdir().unwrap();
    let token = "cli-debug-token-0123456789";
    let (mut child, addr) = serving(
        dir.path(),
        &[("TICKETD_ADMIN_TOKEN", token), ("TICKETD_LOG", "debug")],
    );
    for path in [
        format!("/zstack/v1/accounts/sessions/{token}/valid"),
        format!("/api/v1/tickets/tickets/?token={token}"),
    ] {
        raw_get(&addr, &path, "");
    }
    let stderr = stop_gracefully(&mut child);
    assert!(
        stderr.contains("sessions/***"),
        "the request was logged: {stderr}"
    );
    assert!(!stderr.contains(token), "{stderr}");
}
